"""A time-indexed learner for imitation from one video: `robolearn train` of a TOML with `kind = "sequence"`.

Sermanet et al. (2017) learned their imitations with time-varying controllers (PILQR) from one start state. The
simplest member of that family is a Gaussian over the whole action sequence of the demonstration's scene (which
ImitationEnv replays every episode, deterministically), refined by the cross-entropy method: each iteration plays
`samples` sequences and refits each moment's mean and spread to its `elites` best samples, ranked by the reward
from that moment on (PI2's cost-to-go: an action changes only what comes after it), optionally discounted
(`discount`: a gripper command acts for a step or two, and the plain sum buries it under every later moment's
noise). The learner sees nothing but the reward, as an RL agent does; what it plays is the mean sequence.

Why not PPO or SAC: in 10,000 env steps from the true-pose reward, PPO left the path 16.3 cm off the
demonstration's and SAC 7.5 cm, at an eighth of this learner's steps per second; this learner 4.2 cm (standing
still: 25.6; docs/results/imitation_sequence_2026-12-07).

The run folder is an RL run's (metrics.jsonl, summary.json, TensorBoard, checkpoints/ holding the sequence's mean
and spread as safetensors); a resume continues bit for bit, since each iteration's noise is drawn from
(seed, iteration).

    kind = "sequence"
    steps = 20000
    [learner]
    samples = 16
    [imitation]
    demo = "out/tcn_experiment/data/kuka_test"
    reward = "tcn"
    checkpoint = "out/tcn_experiment/runs/tcn-s0/checkpoints/step-0002000"
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from pydantic import Field, model_validator
from torch import nn

from robolearn.config import Config
from robolearn.models import checkpoint
from robolearn.train import run
from robolearn.train.imitation import ImitationConfig, ImitationEnv
from robolearn.train.rl import evaluate

MODEL_NAME = "ActionSequence"


class SequenceConfig(Config):
    """The learner: a Gaussian over the action sequence, refined by CEM with per-moment elites."""

    samples: int = Field(16, ge=2, description="sequences played each iteration")
    elites: int = Field(4, ge=1, description="the best of them each moment's mean and spread are refitted to")
    init_std: float = Field(0.5, gt=0, description="the spread the first iteration draws with (actions in [-1, 1])")
    min_std: float = Field(0.05, ge=0, description="the spread never falls below this, so the search goes on")
    discount: float = Field(1.0, gt=0, le=1, description="a moment's elites are ranked by its reward to go, each "
                            "later step's weighted by this per step (1: the plain sum)")  # fmt: skip

    @model_validator(mode="after")
    def _check(self) -> SequenceConfig:
        if self.elites >= self.samples:
            raise ValueError(f"elites ({self.elites}) must be fewer than samples ({self.samples})")
        return self


class SequenceTrainConfig(Config):
    """`kind = "sequence"` TOMLs (module docstring)."""

    kind: Literal["sequence"] = Field("sequence", description="which training loop reads this file")
    imitation: ImitationConfig = Field(description="the demonstration, the cameras and the reward")
    learner: SequenceConfig = Field(default_factory=SequenceConfig)
    steps: int = Field(20_000, ge=1, description="env steps to learn for (an iteration plays samples x horizon)")
    eval_every: int = Field(2_000, ge=1, description="env steps between plays of the mean sequence")
    checkpoint_every: int = Field(2_000, ge=1, description="env steps between checkpoints")
    seed: int = Field(0, ge=0)
    out: str = "out/sequence"


RESUME_KEYS = ("imitation", "learner", "seed")


class ActionSequence(nn.Module):
    """What a checkpoint keeps: each moment's mean action and spread, (horizon, action dims) each."""

    def __init__(self, horizon: int, dims: int, std: float = 1.0) -> None:
        super().__init__()
        self.register_buffer("mean", torch.zeros(horizon, dims, dtype=torch.float64))
        self.register_buffer("std", torch.full((horizon, dims), float(std), dtype=torch.float64))


def play(env: ImitationEnv, actions: np.ndarray) -> tuple[np.ndarray, dict[str, Any]]:
    """Rewards at each step of playing `actions` from the scene's start, and the last step's info."""
    env.reset()
    rewards, info = [], {}
    for a in actions:
        _, r, terminated, truncated, info = env.step(a.astype(np.float32))
        rewards.append(r)
        if terminated or truncated:
            break
    return np.asarray(rewards, np.float64), info


def reward_to_go(rewards: np.ndarray, discount: float = 1.0) -> np.ndarray:
    """(samples, horizon) rewards -> each moment's reward from it on, step k after it weighted by discount ** k
    (at 1, bit for bit the plain sum, as np.cumsum from the end gives it)."""
    to_go = np.array(rewards, np.float64)
    for t in range(to_go.shape[1] - 2, -1, -1):
        to_go[:, t] += discount * to_go[:, t + 1]
    return to_go


def iterate(env: ImitationEnv, seq: ActionSequence, cfg: SequenceConfig, rng: np.random.Generator) -> None:
    """One CEM iteration: play `cfg.samples` draws, refit each moment to its elites by the reward from it on."""
    mean, std = seq.mean.numpy(), seq.std.numpy()
    draws = np.clip(mean + std * rng.standard_normal((cfg.samples, *mean.shape)), -1.0, 1.0)
    rewards = np.stack([play(env, d)[0] for d in draws])  # (samples, horizon)
    to_go = reward_to_go(rewards, cfg.discount)
    best = np.argsort(to_go, axis=0, kind="stable")[-cfg.elites :]  # (elites, horizon)
    elite = np.take_along_axis(draws, best[:, :, None], axis=0)
    seq.mean.copy_(torch.from_numpy(elite.mean(0)))
    seq.std.copy_(torch.from_numpy(np.maximum(elite.std(0), cfg.min_std)))


class SequenceAgent:
    """The mean sequence as an agent that `robolearn.train.rl.evaluate` (and the imitation video) plays: the action
    of the moment the observation's state names (its last entry, the fraction of the episode gone)."""

    def __init__(self, seq: ActionSequence) -> None:
        self.actions = seq.mean.numpy().astype(np.float32)

    def predict(self, obs: dict[str, np.ndarray], deterministic: bool = True) -> tuple[np.ndarray, None]:
        t = int(round(float(obs["state"][-1]) * len(self.actions)))
        return self.actions[min(t, len(self.actions) - 1)], None


def load_sequence(path) -> ActionSequence:
    meta = checkpoint.read_config(path)
    if meta["model"] != MODEL_NAME:
        raise checkpoint.CheckpointError(f"{path}: holds a {meta['model']} model, not an {MODEL_NAME}")
    seq = ActionSequence(*meta["shape"])
    checkpoint.load_weights(seq, Path(path))
    return seq


def train(cfg: SequenceTrainConfig, *, resume: bool = False, source: str = "config", progress: bool = True
          ) -> dict[str, Any]:  # fmt: skip
    """Refine the sequence as `cfg` says; the summary, also in `<out>/summary.json`."""
    out, prior = run.run_folder(cfg.out, resume=resume)
    env = ImitationEnv(cfg.imitation)
    try:
        horizon, dims = env.env.config.frames - 1, env.action_space.shape[0]
        seq = ActionSequence(horizon, dims, cfg.learner.init_std)
        per_iteration = cfg.learner.samples * horizon
        start = run.resume_from(prior, seq, model_name=MODEL_NAME, train_cls=SequenceTrainConfig,
                                run_meta={"train": cfg.model_dump()}, train_keys=RESUME_KEYS, meta_keys=())  # fmt: skip
        log = run.Log(out, config=cfg.model_dump(), start=start, steps=cfg.steps, progress=progress, desc="sequence")
        best = run.Best(out / "best", "success", resume=resume)
        extra = {"train": cfg.model_dump(), "shape": [horizon, dims]}
        report: dict[str, Any] = {}

        def save(step: int) -> None:
            checkpoint.save(checkpoint.step_dir(out / "checkpoints", step), model=seq, model_name=MODEL_NAME,
                            model_config=cfg.learner.model_dump(), step=step, extra=extra)  # fmt: skip

        def evaluate_now(step: int) -> None:
            nonlocal report
            report = evaluate(SequenceAgent(seq), env, 1)  # the scene is deterministic: one play says it all
            log.scalars(step, "eval", {k: v for k, v in report.items() if k != "episodes"})
            log.metrics(step, report)
            best.offer(report, model=seq, model_name=MODEL_NAME, config=cfg.learner.model_dump(), step=step,
                       extra=extra)  # fmt: skip
            log.bar.set_postfix({k: f"{report[k]:.3f}" for k in ("return", "pose_error_cm") if k in report})

        step, t0, evaluated = start, time.perf_counter(), None
        while step < cfg.steps:  # whole iterations: the last may pass `steps`
            iterate(env, seq, cfg.learner, np.random.default_rng([cfg.seed, step // per_iteration]))
            before, step = step, step + per_iteration
            log.bar.update(min(step, cfg.steps) - log.bar.n)
            if step // cfg.eval_every > before // cfg.eval_every:
                evaluate_now(step)
                evaluated = step
            if step // cfg.checkpoint_every > before // cfg.checkpoint_every:
                save(step)
        seconds = time.perf_counter() - t0
        if not checkpoint.step_dir(out / "checkpoints", step).exists():
            save(step)
        if evaluated != step:
            evaluate_now(step)
        summary = {"out": str(out), "checkpoint": str(checkpoint.step_dir(out / "checkpoints", step)),
                   "best_checkpoint": str(best.path) if best.value is not None else None, "best_success": best.value,
                   "steps": step, "resumed_from": start, "algo": "sequence",
                   "env_steps_per_s": (step - start) / seconds if step > start and seconds > 0 else None,
                   "val": report, "main_process": True}  # fmt: skip
        log.close(summary)
        return summary
    finally:
        env.close()
