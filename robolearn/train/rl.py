"""Reinforcement learning with stable-baselines3 on any robolearn env (or any gymnasium id): `robolearn train
policies/ppo_grasp.toml`.

The agent (PPO or SAC, `robolearn.models.sb3`) learns in `n_envs` envs on worker processes (SB3's SubprocVecEnv;
robolearn envs on the `objects` split, training objects by default). Every `eval_every` env steps it plays
`eval_episodes` episodes with its deterministic actions on held-out scenes (the test objects of a robolearn env,
seeds 1,000,000 and on, as `robolearn eval` uses), and writes return and success to metrics.jsonl and TensorBoard;
best/ keeps the agent with the highest success rate (return where the env has no success). Checkpoints are
robolearn's own (config.json + safetensors, no pickle), every `checkpoint_every` env steps.

A resume (`--resume`) continues from the latest checkpoint: the weights, the optimizers' state and the step count.
It is not bit-exact: the envs start new episodes, and SAC's replay buffer starts empty (it would be GBs of images).
"""

from __future__ import annotations

import functools
import time
from typing import Any, Literal

import numpy as np
from pydantic import Field

from robolearn.config import Config, ConfigError
from robolearn.models import checkpoint
from robolearn.models.sb3 import AgentWeights, SB3Config, build_agent, describe, load_optimizers, save_agent
from robolearn.train import run
from robolearn.train.imitation import ImitationConfig, ImitationEnv

EVAL_SEED = 1_000_000  # the held-out scenes: robolearn eval's seeds


class RLTrainConfig(Config):
    """`policies/ppo_grasp.toml`, `policies/sac_grasp.toml`."""

    kind: Literal["rl"] = Field("rl", description="which training loop reads this file")
    env: str = Field("robolearn/KukaDiverse-v0", description="a robolearn env id or env TOML, or a gymnasium id")
    objects: Literal["train", "test", "all"] = Field("train", description="robolearn envs: the objects it learns on "
                                                     "(evaluation always uses the held-out test objects)")  # fmt: skip
    agent: SB3Config = Field(default_factory=SB3Config)
    imitation: ImitationConfig | None = Field(None, description="imitation from one video: the env is the "
                                              "demonstration's scene, the reward its TCN distance (`env` unused)")  # fmt: skip
    steps: int = Field(100_000, ge=1, description="env steps to learn for, over all envs")
    n_envs: int = Field(2, ge=1, le=256, description="envs, each on its own process (1: in this process)")
    eval_every: int = Field(10_000, ge=1, description="env steps between evaluations")
    eval_episodes: int = Field(20, ge=1, description="held-out episodes an evaluation plays")
    checkpoint_every: int = Field(10_000, ge=1, description="env steps between checkpoints")
    seed: int = Field(0, ge=0)
    device: Literal["auto", "cpu", "cuda"] = Field("auto", description="where the networks run (auto: CUDA if any)")
    threads: int = Field(0, ge=0, description="torch threads of the learner (0: as robolearn.train.run.set_threads)")
    out: str = "out/rl"


RESUME_KEYS = ("env", "objects", "agent", "imitation", "n_envs", "seed")


def robolearn_env(spec: str) -> bool:
    """Whether `spec` names a robolearn env (an id or env TOML), which has object splits and reports success."""
    return spec.startswith("robolearn/") or spec.endswith(".toml")


def make_env(spec: str, objects: str, imitation: ImitationConfig | None = None):
    """A robolearn env (id or TOML) on the `objects` split, or a gymnasium id's env; with `imitation`, the
    demonstration's scene (ImitationEnv)."""
    import gymnasium as gym

    from robolearn.envs import make_env as make_robolearn

    if imitation is not None:
        env = ImitationEnv(imitation)
    elif robolearn_env(spec):
        env = make_robolearn(spec, objects={"split": objects})
    else:
        try:
            env = gym.make(spec)
        except gym.error.Error as exc:
            raise ConfigError(f"env '{spec}': {str(exc).splitlines()[0]}") from None
    return env


def _env_process(cfg_json: str):
    import torch

    torch.set_num_threads(1)
    cfg = RLTrainConfig.model_validate_json(cfg_json)
    return make_env(cfg.env, cfg.objects, imitation=cfg.imitation)


def vec_env(cfg: RLTrainConfig):
    from stable_baselines3.common.vec_env import DummyVecEnv, SubprocVecEnv, VecMonitor

    fns = [functools.partial(_env_process, cfg.model_dump_json()) for _ in range(cfg.n_envs)]
    venv = SubprocVecEnv(fns, start_method="spawn") if cfg.n_envs > 1 else DummyVecEnv(fns)
    return VecMonitor(venv)


def evaluate(agent, env, episodes: int) -> dict[str, Any]:
    """`episodes` episodes of `agent`'s deterministic actions on seeds EVAL_SEED, EVAL_SEED + 1, ...: mean return,
    success rate (where the env reports is_success), mean length, and the means of imitation's judgements (errors in
    cm, each task's success)."""
    returns, successes, lengths, extra = [], [], [], {}
    for i in range(episodes):
        obs, _ = env.reset(seed=EVAL_SEED + i)
        done, total, n, info = False, 0.0, 0, {}
        while not done:
            action, _ = agent.predict(obs, deterministic=True)
            obs, reward, terminated, truncated, info = env.step(action)
            total, n, done = total + float(reward), n + 1, terminated or truncated
        returns.append(total)
        lengths.append(n)
        if "is_success" in info:
            successes.append(bool(info["is_success"]))
        for key in ("pose_error_cm", "final_error_cm", "object_error_cm", "pose_success", "objects_success"):
            if key in info:
                extra.setdefault(key, []).append(float(info[key]))
    return {"return": float(np.mean(returns)), "success": float(np.mean(successes)) if successes else None,
            "length": float(np.mean(lengths)), "episodes": episodes,
            **{k: float(np.mean(v)) for k, v in extra.items()}}  # fmt: skip


def train(cfg: RLTrainConfig, *, resume: bool = False, source: str = "config", progress: bool = True
          ) -> dict[str, Any]:  # fmt: skip
    """Run RL training as `cfg` says; returns the summary also written to `<out>/summary.json`."""
    from stable_baselines3.common.callbacks import BaseCallback
    from stable_baselines3.common.logger import configure

    out, prior = run.run_folder(cfg.out, resume=resume)
    threads = run.set_threads(cfg.threads, prior)
    eval_env = make_env(cfg.env, "test", imitation=cfg.imitation)
    venv = vec_env(cfg)
    try:
        device = "cuda" if cfg.device == "auto" and _cuda() else ("cpu" if cfg.device == "auto" else cfg.device)
        agent = build_agent(cfg.agent, venv.observation_space, venv.action_space, env=venv, seed=cfg.seed,
                            device=device)  # fmt: skip
        spaces = {"observation_space": venv.observation_space, "action_space": venv.action_space}
        start = run.resume_from(prior, AgentWeights(agent), model_name="SB3", train_cls=RLTrainConfig,
                                run_meta={"train": cfg.model_dump()}, train_keys=RESUME_KEYS, meta_keys=())  # fmt: skip
        if prior is not None:
            load_optimizers(agent, prior)
            agent.num_timesteps = start
        agent.set_logger(configure(str(out / "tb" / "sb3"), ["tensorboard"]))
        log = run.Log(out, config=cfg.model_dump(), start=start, steps=cfg.steps, progress=progress, desc="rl")
        best = run.Best(out / "best", "success" if robolearn_env(cfg.env) or cfg.imitation else "return",
                        resume=resume)
        state = {"report": {}, "next_eval": _next(start, cfg.eval_every), "next_ck": _next(start, cfg.checkpoint_every)}

        def save(step: int) -> None:
            save_agent(checkpoint.step_dir(out / "checkpoints", step), agent, cfg.agent, step=step,
                       extra={"train": cfg.model_dump(), "threads": threads}, **spaces)  # fmt: skip

        def evaluate_now(step: int) -> None:
            report = evaluate(agent, eval_env, cfg.eval_episodes)
            state["report"] = report
            log.scalars(step, "eval", {k: v for k, v in report.items() if k != "episodes"})
            log.metrics(step, report)
            best.offer(report, model=AgentWeights(agent), model_name="SB3", config=cfg.agent.model_dump(), step=step,
                       extra={"train": cfg.model_dump(), **{k: describe(v) for k, v in spaces.items()}})  # fmt: skip
            log.bar.set_postfix({k: f"{v:.3f}" for k, v in report.items() if k in ("return", "success") and v
                                     is not None})  # fmt: skip

        class Hooks(BaseCallback):
            def _on_step(self) -> bool:
                step = self.num_timesteps
                log.bar.update(step - log.bar.n)
                if step >= state["next_eval"]:
                    evaluate_now(step)
                    state["next_eval"] = _next(step, cfg.eval_every)
                if step >= state["next_ck"]:
                    save(step)
                    state["next_ck"] = _next(step, cfg.checkpoint_every)
                return True

        t0 = time.perf_counter()
        if start < cfg.steps:
            agent.learn(total_timesteps=cfg.steps - start, callback=Hooks(), reset_num_timesteps=prior is None,
                        progress_bar=False)  # fmt: skip
        seconds = time.perf_counter() - t0
        end = max(agent.num_timesteps, start)
        if not checkpoint.step_dir(out / "checkpoints", end).exists():
            save(end)
        if not state["report"] or state["next_eval"] <= end:
            evaluate_now(end)
        summary = {
            "out": str(out), "checkpoint": str(checkpoint.step_dir(out / "checkpoints", end)),
            "best_checkpoint": str(best.path) if best.value is not None else None, "best_" + best.metric: best.value,
            "steps": end, "resumed_from": start, "device": device, "threads": threads, "algo": cfg.agent.algo,
            "env_steps_per_s": (end - start) / seconds if end > start and seconds > 0 else None,
            "val": state["report"], "main_process": True,
        }  # fmt: skip
        log.close(summary)
        return summary
    finally:
        venv.close()
        eval_env.close()


def _next(step: int, every: int) -> int:
    return (step // every + 1) * every


def _cuda() -> bool:
    import torch

    return torch.cuda.is_available()
