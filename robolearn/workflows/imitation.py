"""Imitation from one video, every reward side by side, in one command: `robolearn reproduce-imitation`.

On the datasets and TCNs of a `robolearn reproduce-tcn` folder: for each seed s, the demonstration is held-out
KUKA episode s seen from camera 0; a learner acts in its scene, seen from camera 1, once per reward. The learner is
`sequence` (robolearn.train.sequence: the action sequence refined by CEM, time-indexed as the paper's controllers
were; the default) or `ppo` (stable-baselines3, from the camera's image and the arm's state):

    true_pose     minus the distance to the demonstration's grasp point at the same time (the simulator's state):
                  the pose task's upper bound
    true_state    the same, plus the wrist's yaw, the gripper's opening and every object's place at that time:
                  the object task's upper bound
    sparse        at the end, 1 for each task that succeeded (pose, objects): the usual RL baseline
    tcn           the multi-view TCN, the paper's time-indexed form;  tcn_goal: the distance to the last frame
    single_view   the single-view TCN;  untrained: the same network untrained;  pixels: raw 16x16 pixels
    panda_tcn     the Panda learning from the KUKA's video, the TCN trained on the KUKA alone
    panda_tcn_both  the same, the TCN trained on both arms
    still         (no learning) zero actions in the demonstration's scene: the reference the errors are read against

Each run ends with its agent's deterministic episode, judged with the simulator's state: the pose task (the grasp
point's last position within 3 cm of the demonstration's; the mean distance between the paths) and the object task
(every object within 5 cm of where the demonstration left it). results.md has success with 95% intervals over the
seeds, the errors, the issue's bars, the learning curves (learning_curves.png) and a video of the demonstration
beside the TCN-rewarded imitation. A rerun continues where it stopped; `--scale` multiplies the step budget.

    robolearn reproduce-imitation --tcn-experiment out/tcn_experiment --scale 0.02 --seeds 1   # a smoke run
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import Field

from robolearn.config import Config, ConfigError
from robolearn.workflows.reproduce import Clock, finished_checkpoint, run_parallel

# reward name -> (ImitationConfig.reward, form, the TCN run of reproduce-tcn it reads, the learner's arm)
REWARDS = {
    "true_pose": ("true_pose", "time", None, None),
    "true_state": ("true_state", "time", None, None),
    "sparse": ("sparse", "time", None, None),
    "tcn": ("tcn", "time", "tcn", None),
    "tcn_goal": ("tcn", "goal", "tcn", None),
    "single_view": ("tcn", "time", "single_view", None),
    "untrained": ("untrained", "time", "tcn", None),
    "pixels": ("pixels", "time", None, None),
    "panda_tcn": ("tcn", "time", "tcn", "panda"),
    "panda_tcn_both": ("tcn", "time", "tcn_both_arms", "panda"),
}
PPO = {"n_steps": 248, "batch_size": 62, "n_epochs": 4, "learning_rate": 3e-4, "gamma": 0.99, "ent_coef": 0.0}


class ImitationExperimentConfig(Config):
    """`robolearn reproduce-imitation --help`."""

    tcn_experiment: str = Field("out/tcn_experiment", description="a reproduce-tcn folder: its data/ and runs/")
    rewards: list[str] = Field(list(REWARDS), description="the rewards to compare: " + ", ".join(REWARDS))
    learner: Literal["sequence", "ppo"] = Field("sequence", description="sequence: the action sequence refined by "
                                                "CEM (time-indexed) | ppo: stable-baselines3 from pixels and state")  # fmt: skip
    seeds: int = Field(3, ge=1, le=20, description="seeds; seed s imitates held-out episode s")
    steps: int = Field(20000, ge=1, description="env steps of each run (before scale)")
    scale: float = Field(1.0, gt=0, description="multiplies the step budget")
    workers: int = Field(2, ge=1, description="runs at a time, one process each")
    out: str = Field("out/imitation", description="output folder; a rerun continues there")


def run_configs(cfg: ImitationExperimentConfig) -> dict[tuple[str, int], Any]:
    from robolearn.train.imitation import ImitationConfig
    from robolearn.train.rl import RLTrainConfig
    from robolearn.train.sequence import SequenceTrainConfig

    src, steps = Path(cfg.tcn_experiment), max(int(cfg.steps * cfg.scale), 8)
    demo = src / "data" / "kuka_test"
    if not demo.is_dir():
        raise ConfigError(f"--tcn-experiment {src}: no data/kuka_test; run `robolearn reproduce-tcn --out {src}` first")
    runs = {}
    for name in cfg.rewards:
        if name not in REWARDS:
            raise ConfigError(f"--rewards: '{name}' is not one of {', '.join(REWARDS)}")
        reward, form, tcn, arm = REWARDS[name]
        for seed in range(cfg.seeds):
            checkpoint = None
            if tcn is not None:
                folder = src / "runs" / f"{tcn}-s{seed % _tcn_seeds(src, tcn)}"
                checkpoint = finished_checkpoint(folder, 1)
                if checkpoint is None:
                    raise ConfigError(f"--tcn-experiment {src}: no finished run {folder.name}")
                if not (Path(checkpoint) / "config.json").exists():
                    raise ConfigError(f"--tcn-experiment {src}: {folder.name} has no checkpoint "
                                      f"{Path(checkpoint).name}")  # fmt: skip
            imitation = ImitationConfig(demo=str(demo), episode=seed, demo_view=0, agent_view=1, arm=arm,
                                        reward=reward, form=form, checkpoint=checkpoint)  # fmt: skip
            every, run_out = max(steps // 4, 1), str(Path(cfg.out) / "runs" / f"{name}-s{seed}")
            if cfg.learner == "sequence":
                runs[(name, seed)] = SequenceTrainConfig(imitation=imitation, steps=steps, seed=seed, eval_every=every,
                                                         checkpoint_every=every, out=run_out)  # fmt: skip
            else:
                runs[(name, seed)] = RLTrainConfig(
                    imitation=imitation, agent={"algo": "ppo", "kwargs": PPO}, steps=steps, n_envs=1, seed=seed,
                    eval_every=every, eval_episodes=1, checkpoint_every=every, out=run_out)  # fmt: skip
    return runs


def _tcn_seeds(src: Path, tcn: str) -> int:
    return max(1, len(list((src / "runs").glob(f"{tcn}-s*"))))


def finished(rcfg) -> bool:
    path = Path(rcfg.out) / "summary.json"
    return path.exists() and json.loads(path.read_text())["steps"] >= rcfg.steps


def outcome(rcfg) -> dict[str, Any]:
    """The run's last evaluation, and its pose error at half the budget."""
    rows = [json.loads(x) for x in (Path(rcfg.out) / "metrics.jsonl").read_text().splitlines()]
    last = rows[-1]
    half = min(rows, key=lambda r: abs(r["step"] - rcfg.steps / 2))
    return {"pose_error_cm": last["pose_error_cm"], "final_error_cm": last["final_error_cm"],
            "pose_success": bool(last["pose_success"]), "objects_success": bool(last["objects_success"]),
            "half_pose_success": bool(half["pose_success"]), "half_objects_success": bool(half["objects_success"]),
            "curve": [(r["step"], r["pose_error_cm"]) for r in rows]}  # fmt: skip


def standing_still(runs: dict) -> dict[tuple[str, int], dict[str, Any]]:
    """The reference the errors are read against: each demonstration's scene played with zero actions."""
    from robolearn.train.imitation import ImitationEnv
    from robolearn.train.sequence import play

    got = {}
    for (_, seed), rcfg in runs.items():
        if ("still", seed) in got:
            continue
        env = ImitationEnv(rcfg.imitation.model_copy(update={"reward": "true_pose", "checkpoint": None, "arm": None}))
        _, info = play(env, np.zeros((env.env.config.frames - 1, *env.action_space.shape)))
        env.close()
        got[("still", seed)] = {"pose_error_cm": info["pose_error_cm"], "final_error_cm": info["final_error_cm"],
                                "pose_success": bool(info["pose_success"]),
                                "objects_success": bool(info["objects_success"]),
                                "half_pose_success": bool(info["pose_success"]),
                                "half_objects_success": bool(info["objects_success"]), "curve": []}  # fmt: skip
    return got


def summarize(outcomes: dict) -> dict[str, dict[str, Any]]:
    from robolearn.evaluation.rollout import wilson_interval

    table = {}
    for name in dict.fromkeys(n for n, _ in outcomes):
        got = [o for k, o in outcomes.items() if k[0] == name]
        n = len(got)
        row = {"runs": n}
        for key in ("pose_success", "objects_success"):
            k = sum(g[key] for g in got)
            row[key] = k / n
            row[key + "_ci95"] = list(wilson_interval(k, n))
        err = np.array([g["pose_error_cm"] for g in got])
        row["pose_error_cm"] = float(err.mean())
        row["pose_error_cm_sd"] = float(err.std(ddof=1)) if n > 1 else None
        for key in ("half_pose_success", "half_objects_success"):
            row[key] = float(np.mean([g[key] for g in got]))
        table[name] = row
    return table


def judge(table: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """The issue's bars, where the table holds what they compare."""
    bars = []

    def bar(text, value, bound, holds, note=""):
        bars.append({"bar": text, "value": value, "bound": bound, "holds": bool(holds), "note": note})

    tcn = table.get("tcn")
    for task, bound in (("pose", "true_pose"), ("objects", "true_state")):
        if tcn and bound in table:
            v, b = tcn[f"{task}_success"], 0.8 * table[bound][f"{task}_success"]
            note = f"the {bound} reward itself never succeeded: no working bound" if b == 0 else ""
            bar(f"TCN reward's {task} success >= 0.8x the {bound} reward's", v, b, v >= b and v > 0, note)
        if tcn and "untrained" in table:
            v, b = tcn[f"{task}_success"], 2 * table["untrained"][f"{task}_success"]
            bar(f"TCN reward's {task} success >= 2x the untrained network's", v, b, v >= b and v > 0)
        if tcn and "sparse" in table:
            v, b = tcn[f"half_{task}_success"], table["sparse"][f"{task}_success"]
            bar(f"TCN reward's {task} success at half the budget beats sparse success at the whole", v, b, v > b)
    for name in ("panda_tcn", "panda_tcn_both"):
        if tcn and name in table:
            v, b = table[name]["pose_success"], 0.5 * tcn["pose_success"]
            bar(f"across arms ({name}) >= 0.5x the same arm's pose success", v, b, v >= b and v > 0)
    return bars


def results_markdown(table: dict, bars: list, seeds: int, steps: int, minutes: float) -> str:
    lines = [f"# Imitation from one video: {seeds} seed(s), {steps} env steps a run, {minutes:.0f} minutes", "",
             "| reward | pose success [95% CI] | mean path error (cm) | objects success [95% CI] |",
             "|---|---|---|---|"]  # fmt: skip
    for name, r in table.items():
        lo, hi = r["pose_success_ci95"]
        olo, ohi = r["objects_success_ci95"]
        sd = f" ± {r['pose_error_cm_sd']:.1f}" if r["pose_error_cm_sd"] is not None else ""
        lines.append(f"| {name} | {r['pose_success']:.2f} [{lo:.2f}–{hi:.2f}] | {r['pose_error_cm']:.1f}{sd} | "
                     f"{r['objects_success']:.2f} [{olo:.2f}–{ohi:.2f}] |")  # fmt: skip
    lines += ["", "| bar | value | bound | holds | |", "|---|---|---|---|---|"]
    lines += [f"| {b['bar']} | {b['value']:.2f} | {b['bound']:.2f} | {'yes' if b['holds'] else 'no'} | "
              f"{b['note']} |" for b in bars]  # fmt: skip
    return "\n".join(lines) + "\n"


def plot_curves(runs: dict, outcomes: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.6), dpi=120)
    for name in dict.fromkeys(n for n, _ in runs):
        curves = [outcomes[k]["curve"] for k in runs if k[0] == name]
        steps = [s for s, _ in curves[0]]
        mean = [np.mean([c[i][1] for c in curves if i < len(c)]) for i in range(len(steps))]
        ax.plot(steps, mean, marker="o", ms=3, label=name)
    ax.set_xlabel("env steps")
    ax.set_ylabel("mean path error (cm), held-out demo")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def imitation_video(rcfg, path: Path) -> None:
    """The demonstration (its camera) beside the learner's final attempt (its own camera), frame by frame."""
    from robolearn.evaluation.media import write_mp4
    from robolearn.models.checkpoint import latest
    from robolearn.models.sb3 import load_agent
    from robolearn.train.imitation import ImitationEnv

    env = ImitationEnv(rcfg.imitation)
    try:
        last = latest(Path(rcfg.out) / "checkpoints")
        if rcfg.kind == "sequence":
            from robolearn.train.sequence import SequenceAgent, load_sequence

            agent = SequenceAgent(load_sequence(last))
        else:
            agent, _ = load_agent(last, env.observation_space, env.action_space)
        obs, _ = env.reset()
        frames, done = [obs["rgb"]], False
        while not done:
            obs, _, terminated, truncated, _ = env.step(agent.predict(obs, deterministic=True)[0])
            frames.append(obs["rgb"])
            done = terminated or truncated
        demo = env.demo.frames
        n = min(len(frames), len(demo))
        write_mp4(path, [np.concatenate([demo[i], frames[i]], axis=1) for i in range(n)], fps=4)
    finally:
        env.close()


def run(cfg: ImitationExperimentConfig) -> dict[str, Any]:
    out = Path(cfg.out)
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out {out}: is a file; give a folder")
    runs = run_configs(cfg)
    out.mkdir(parents=True, exist_ok=True)
    clock = Clock(out / "timing.json")
    with clock.part("train"):
        run_parallel(list(runs.values()), cfg.workers, finished)
    outcomes = {**standing_still(runs), **{k: outcome(r) for k, r in runs.items()}}
    table = summarize(outcomes)
    bars = judge(table)
    plot_curves(runs, outcomes, out / "learning_curves.png")
    if ("tcn", 0) in runs:
        imitation_video(runs[("tcn", 0)], out / "demo_beside_tcn_imitation.mp4")
    timing = clock.close()
    minutes = timing["total_s"] / 60
    steps = next(iter(runs.values())).steps
    results = {"config": cfg.model_dump(), "table": table, "bars": bars, "minutes": minutes,
               "runs": {f"{n}-s{s}": {k: v for k, v in o.items() if k != "curve"} for (n, s), o in outcomes.items()}}  # fmt: skip
    (out / "results.json").write_text(json.dumps(results, indent=2))
    text = results_markdown(table, bars, cfg.seeds, steps, minutes)
    (out / "results.md").write_text(text)
    print(text)
    print(f"took {minutes:.1f} minutes")
    return results

