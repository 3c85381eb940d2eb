"""Policies by name, for evaluation and collection: one visible registry.

    random     uniform actions, dz shifted down by `down_bias`
    oracle     the task's scripted grasp with privileged state; with `rehearse`, it first plays its grasp
               of each object in a copy of the episode's simulation and goes for one that works
    probe      the oracle's grasp of a random object, aimed off by a random offset (a data collector)
    cem        the closed-loop CEM servo over a GraspCNN `checkpoint`
    open_loop  one CEM plan from the first image, then executed blind (a baseline)

Any of them explores with `epsilon`: each step's action is replaced by a (down-biased) random one
with that probability. A policy TOML (policies/cem.toml) holds a `PolicyConfig`.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import Field

from robolearn.config import Config, ConfigError, load_toml
from robolearn.envs.task import ProbePolicy
from robolearn.policies.base import Policy, RandomPolicy
from robolearn.policies.cem import CEMConfig


class PolicyConfig(Config):
    name: Literal["random", "oracle", "probe", "cem", "open_loop", "sb3"] = "oracle"
    checkpoint: str | None = Field(None, description="cem / open_loop: a GraspCNN checkpoint directory; sb3: an RL "
                                   "agent's (robolearn train of an rl TOML)")  # fmt: skip
    allow_pickle: bool = Field(False, description="sb3: the checkpoint may be an SB3 .zip, whose pickled objects run "
                               "code when loaded; only for files you trust")  # fmt: skip
    ensemble: list[str] = Field(
        [], description="cem / open_loop: more checkpoints; the servo scores with the mean of their and checkpoint's"
    )
    mirror_average: bool | None = Field(
        None,
        description="cem / open_loop: score each command as the mean of its score and its score in the mirror "
        "world (image flipped, pose reflected); unset: as the checkpoint was trained (with data.mirror or not)",
    )
    cem: CEMConfig = Field(default_factory=CEMConfig)
    epsilon: float = Field(0.0, ge=0, le=1, description="probability of a random action at each step")
    down_bias: float = Field(0.0, ge=0, le=2, description="random actions: dz shifted toward descending")
    rehearse: bool = Field(
        True,
        description="oracle: rehearse the grasp of each object in a copy of the episode "
        "(only with epsilon = 0: random actions would make the rehearsal a different episode)",
    )
    aim_std: float = Field(0.03, ge=0, description="probe: std of the aim's offset in x and y (m)")
    yaw_std: float = Field(0.6, ge=0, description="probe: std of the aim's offset in yaw (rad)")
    device: str = Field("cpu", description="where a model scores: cpu | cuda")


class EpsilonMix:
    """`base`, with each action replaced by `random`'s with probability epsilon."""

    def __init__(self, base: Policy, random: RandomPolicy, epsilon: float) -> None:
        self.base, self.random, self.epsilon = base, random, epsilon
        self.rng = np.random.default_rng(0)

    def reset(self) -> None:
        self.base.reset()
        self.random.rng = np.random.default_rng(self.rng.integers(1 << 63))

    def act(self, obs):
        a = self.base.act(obs)  # keep the base policy's state current either way
        return self.random.act(obs) if self.rng.random() < self.epsilon else a


def _servo(cfg: PolicyConfig, env, open_loop: bool) -> Policy:
    from robolearn.policies.cem import load_servo

    if not cfg.checkpoint:
        raise ConfigError(f"policy '{cfg.name}' needs a checkpoint (set `checkpoint` or pass --checkpoint)")
    for checkpoint in (cfg.checkpoint, *cfg.ensemble):
        if not Path(checkpoint).exists():
            raise ConfigError(f"policy '{cfg.name}': checkpoint {checkpoint} does not exist")
    return load_servo(cfg.checkpoint, env.config, cfg.cem, open_loop=open_loop, device=cfg.device,
                      ensemble=cfg.ensemble, mirror_average=cfg.mirror_average)  # fmt: skip


def _sb3(cfg: PolicyConfig, env) -> Policy:
    from robolearn.policies.sb3 import SB3Policy

    if not cfg.checkpoint:
        raise ConfigError("policy 'sb3' needs a checkpoint (set `checkpoint` or pass --checkpoint)")
    if not Path(cfg.checkpoint).exists():
        raise ConfigError(f"policy 'sb3': checkpoint {cfg.checkpoint} does not exist")
    return SB3Policy(cfg.checkpoint, env, device=cfg.device, allow_pickle=cfg.allow_pickle)


BUILDERS: dict[str, Callable[[PolicyConfig, object], Policy]] = {
    "random": lambda cfg, env: RandomPolicy(action_dim=env.action_space.shape[0], down_bias=cfg.down_bias),
    "oracle": lambda cfg, env: env.task.oracle(env, rehearse=cfg.rehearse and cfg.epsilon == 0),
    "probe": lambda cfg, env: ProbePolicy(env, aim_std=cfg.aim_std, yaw_std=cfg.yaw_std),
    "cem": lambda cfg, env: _servo(cfg, env, open_loop=False),
    "open_loop": lambda cfg, env: _servo(cfg, env, open_loop=True),
    "sb3": _sb3,
}


PRIVILEGED = ("oracle", "probe")  # read the simulator's state: robolearn's envs only


def make_policy(cfg: PolicyConfig | str, env, **overrides) -> Policy:
    """The policy `cfg` (a PolicyConfig, a name or a policy TOML) acting in `env`."""
    cfg = cfg if isinstance(cfg, PolicyConfig) else policy_config(cfg, **overrides)
    if cfg.name in PRIVILEGED and not hasattr(env, "task"):
        raise ConfigError(f"policy '{cfg.name}' reads robolearn's simulator state, which this env does not expose; "
                          "robolearn/KukaDiverse-v1 plays the original episode for episode")  # fmt: skip
    policy = BUILDERS[cfg.name](cfg, env)
    if cfg.epsilon > 0 and cfg.name != "random":
        policy = EpsilonMix(
            policy, RandomPolicy(action_dim=env.action_space.shape[0], down_bias=cfg.down_bias), cfg.epsilon
        )
    return policy


def policy_toml(cfg: PolicyConfig, header: str = "") -> str:
    """`cfg` as a policy TOML that `policy_config` reads back to the same config: the fields that differ from
    their defaults, `# header` lines first."""
    import json

    def value(v) -> str:  # JSON's strings, numbers, booleans and lists of them are TOML's too
        return json.dumps(v, ensure_ascii=False)

    data = cfg.model_dump(mode="json", exclude_defaults=True)
    lines = [f"# {line}".rstrip() for line in header.splitlines()]
    lines += [f"{k} = {value(v)}" for k, v in data.items() if not isinstance(v, dict)]
    for k, v in data.items():
        if isinstance(v, dict):
            lines += ["", f"[{k}]", *(f"{kk} = {value(vv)}" for kk, vv in v.items())]
    return "\n".join(lines) + "\n"


def policy_config(spec: str, **overrides) -> PolicyConfig:
    """A policy name (random, oracle, probe, cem, open_loop) or a policy TOML file, with `overrides` applied."""
    overrides = {k: v for k, v in overrides.items() if v is not None}
    if spec in BUILDERS:
        return PolicyConfig(name=spec, **overrides)
    if spec.endswith(".toml") or Path(spec).exists():
        return load_toml(spec, PolicyConfig, overrides=overrides)
    raise ConfigError(f"unknown policy '{spec}': allowed: {', '.join(BUILDERS)}, or a policy TOML file")
