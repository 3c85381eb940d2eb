"""stable-baselines3 agents as robolearn models: built from a small config and an env's spaces, saved as robolearn
checkpoints (config.json + safetensors, no pickle), rebuilt the same way for evaluation or a resume.

SB3's own `.zip` files hold pickled Python objects (`model.save`); loading one runs whatever code it names, so
robolearn reads one only when told to (`load_agent(..., allow_pickle=True)`).

    agent = build_agent(SB3Config(algo="ppo"), observation_space, action_space, env=vec_env)  # to train
    save_agent(path, agent, config, step=..., extra=...)                                       # a checkpoint
    agent, meta = load_agent(path, observation_space, action_space)                            # to act or resume
    action, _ = agent.predict(obs, deterministic=True)
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

import gymnasium as gym
import torch
from pydantic import Field
from torch import nn

from robolearn.compat import quiet_gym
from robolearn.config import CheckpointError, Config, ConfigError
from robolearn.models import checkpoint

quiet_gym()  # before stable-baselines3, which imports it where installed

MODEL_NAME = "SB3"


class SB3Config(Config):
    """The agent: an SB3 algorithm and its keyword arguments (SB3's own names and defaults)."""

    algo: Literal["ppo", "sac"] = Field("ppo", description="ppo (on-policy) | sac (off-policy, continuous actions)")
    kwargs: dict[str, Any] = Field(default_factory=dict, description="the algorithm's keyword arguments, as SB3 names "
                                   "them (n_steps, batch_size, learning_rate, buffer_size, ...)")  # fmt: skip
    policy_kwargs: dict[str, Any] = Field(default_factory=dict, description="the policy's (net_arch, ...)")


def algorithm(name: str):
    from stable_baselines3 import PPO, SAC

    return {"ppo": PPO, "sac": SAC}[name]


def policy_name(observation_space: gym.Space) -> str:
    """SB3's policy for these observations: Dict (image + state) -> MultiInputPolicy, an image -> CnnPolicy, else
    MlpPolicy."""
    from stable_baselines3.common.preprocessing import is_image_space

    if isinstance(observation_space, gym.spaces.Dict):
        return "MultiInputPolicy"
    return "CnnPolicy" if is_image_space(observation_space) else "MlpPolicy"


def describe(space: gym.Space) -> dict[str, Any]:
    """A space as JSON (what a checkpoint records, to refuse an env whose spaces differ)."""
    if isinstance(space, gym.spaces.Dict):
        return {"dict": {k: describe(s) for k, s in space.spaces.items()}}
    if isinstance(space, gym.spaces.Box):
        return {"box": list(space.shape), "dtype": str(space.dtype)}
    if isinstance(space, gym.spaces.Discrete):
        return {"discrete": int(space.n)}
    raise CheckpointError(f"observation or action space {space} is not supported (Box, Discrete, Dict of those)")


class _SpacesEnv(gym.Env):
    """An env that has spaces and nothing else: SB3 builds an agent around an env."""

    def __init__(self, observation_space: gym.Space, action_space: gym.Space) -> None:
        self.observation_space, self.action_space = observation_space, action_space

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        return self.observation_space.sample(), {}

    def step(self, action):
        return self.observation_space.sample(), 0.0, True, False, {}


def build_agent(cfg: SB3Config, observation_space: gym.Space, action_space: gym.Space, *, env=None, seed: int = 0,
                device: str = "cpu"):  # fmt: skip
    """The SB3 algorithm `cfg` names, for these spaces, around `env` (a VecEnv to train in; None: a stand-in to act
    or evaluate)."""
    from stable_baselines3.common.preprocessing import is_image_space
    from stable_baselines3.common.vec_env import DummyVecEnv

    spaces = observation_space.spaces.items() if isinstance(observation_space, gym.spaces.Dict) else [
        ("observation", observation_space)]  # fmt: skip
    for key, space in spaces:
        if is_image_space(space) and min(space.shape[:2]) < 36 and "features_extractor_class" not in cfg.policy_kwargs:
            raise ConfigError(f"{key}: {space.shape[0]}x{space.shape[1]} images; SB3's CNN (NatureCNN) takes 36x36 "
                              "or larger: render larger images or give agent.policy_kwargs a features extractor")  # fmt: skip
    env = env if env is not None else DummyVecEnv([lambda: _SpacesEnv(observation_space, action_space)])
    try:
        return algorithm(cfg.algo)(policy_name(observation_space), env, seed=seed, device=device, verbose=0,
                                   policy_kwargs=cfg.policy_kwargs or None, **cfg.kwargs)  # fmt: skip
    except (TypeError, AssertionError, ValueError) as exc:  # SB3 checks its arguments with these
        raise CheckpointError(f"{cfg.algo}: {str(exc).splitlines()[0]}") from None


class AgentWeights(nn.Module):
    """What a checkpoint keeps of an agent: its policy (actor, critics, targets) and, for SAC with a learned entropy
    coefficient, that coefficient's log."""

    def __init__(self, agent) -> None:
        super().__init__()
        self.policy = agent.policy
        log_ent = getattr(agent, "log_ent_coef", None)
        if log_ent is not None:
            self.register_buffer("log_ent_coef", log_ent.data)  # the agent's own tensor: loading fills it in place


def optimizers(agent) -> dict[str, torch.optim.Optimizer]:
    """The agent's optimizers by name (PPO: one; SAC: actor, critic and the entropy coefficient's)."""
    if hasattr(agent, "actor") and hasattr(agent, "critic"):
        found = {"actor": agent.actor.optimizer, "critic": agent.critic.optimizer}
        if getattr(agent, "ent_coef_optimizer", None) is not None:
            found["ent_coef"] = agent.ent_coef_optimizer
        return found
    return {"policy": agent.policy.optimizer}


def save_agent(path: Path, agent, cfg: SB3Config, *, step: int, observation_space: gym.Space,
               action_space: gym.Space, extra: dict[str, Any] | None = None) -> Path:  # fmt: skip
    """A robolearn checkpoint of `agent` at `path`: its weights and (for a resume) its optimizers' state."""
    spaces = {"observation_space": describe(observation_space), "action_space": describe(action_space)}
    return checkpoint.save(path, model=AgentWeights(agent), model_name=MODEL_NAME, model_config=cfg.model_dump(),
                           step=step, optimizers=optimizers(agent),
                           extra={**spaces, **(extra or {})})  # fmt: skip


def load_agent(path: str | Path, observation_space: gym.Space, action_space: gym.Space, *, device: str = "cpu",
               allow_pickle: bool = False):  # fmt: skip
    """The agent at `path` (a robolearn checkpoint directory, or with `allow_pickle` an SB3 .zip) for these spaces,
    refused in one line (CheckpointError) where it was trained on others; (agent, config.json or {})."""
    path = Path(path)
    if path.suffix == ".zip":
        if not allow_pickle:
            raise CheckpointError(f"{path}: an SB3 .zip holds pickled Python objects, and loading one runs the code it "
                                  "names; pass --allow-pickle (a policy TOML: allow_pickle = true) if you trust it")  # fmt: skip
        return _load_zip(path, observation_space, action_space, device), {}
    meta = checkpoint.read_config(path)
    if meta["model"] != MODEL_NAME:
        raise CheckpointError(f"{path}: holds a {meta['model']} model, not an SB3 agent")
    for key, space in (("observation_space", observation_space), ("action_space", action_space)):
        if meta.get(key) != describe(space):
            raise CheckpointError(f"{path}: trained with {key.replace('_', ' ')} {json.dumps(meta.get(key))}, this "
                                  f"env has {json.dumps(describe(space))}")  # fmt: skip
    cfg = SB3Config.model_validate(meta["config"])
    agent = build_agent(cfg, observation_space, action_space, device=device)
    checkpoint.load_weights(AgentWeights(agent), path)
    return agent, meta


def load_optimizers(agent, path: Path) -> None:
    """The optimizers' state of the checkpoint at `path` into `agent` (a resume)."""
    for name, opt in optimizers(agent).items():
        checkpoint.load_optimizer(opt, path, name=name)


def _load_zip(path: Path, observation_space: gym.Space, action_space: gym.Space, device: str):
    from stable_baselines3.common.save_util import load_from_zip_file

    try:
        data, _, _ = load_from_zip_file(path, device=device)  # unpickles: the caller allowed it
    except (ValueError, KeyError, OSError) as exc:
        raise CheckpointError(f"{path}: not an SB3 model file ({str(exc).splitlines()[0][:120]})") from None
    policy_class = (data or {}).get("policy_class")
    cls = next((algorithm(n) for n in ("ppo", "sac") if policy_class in algorithm(n).policy_aliases.values()), None)
    if cls is None:
        raise CheckpointError(f"{path}: an SB3 model of a policy class robolearn does not run ({policy_class})")
    try:
        agent = cls.load(path, device=device)
    except (ValueError, KeyError, RuntimeError) as exc:
        raise CheckpointError(f"{path}: cannot be loaded ({str(exc).splitlines()[0][:160]})") from None
    for what, theirs, ours in (("observation", agent.observation_space, _as_agent_sees(observation_space)),
                               ("action", agent.action_space, action_space)):  # fmt: skip
        if describe(theirs) != describe(ours):
            raise CheckpointError(f"{path}: trained with {what} space {json.dumps(describe(theirs))}, this env has "
                                  f"{json.dumps(describe(ours))}")  # fmt: skip
    return agent


def _as_agent_sees(space: gym.Space) -> gym.Space:
    """An env's observation space as an SB3 agent records it: images channel-first (VecTransposeImage)."""
    from stable_baselines3.common.preprocessing import is_image_space
    from stable_baselines3.common.vec_env import VecTransposeImage

    if isinstance(space, gym.spaces.Dict):
        return gym.spaces.Dict({k: _as_agent_sees(s) for k, s in space.spaces.items()})
    return VecTransposeImage.transpose_space(space) if is_image_space(space) else space
