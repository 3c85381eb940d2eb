"""From nothing to a grasp-success table and a learning curve, in one command (Levine 2016, QT-Opt style).

    round 0: collect with the scripted oracle mixed with random actions (epsilon) on training objects
             -> train the grasp CNN -> evaluate the CEM servo over it on held-out objects
    round r: collect with the previous round's CEM servo (epsilon exploration) -> add to the data -> train
             --ensemble models on all of it from scratch (seeds 0, 1, ..., two at a time) -> evaluate the first
             alone, and the servo over their mean score, which searches --samples commands an iteration and
             collects round r + 1
    end:     one `robolearn eval` run of random, open-loop, the last round's CEM servo and oracle side by side

The defaults are the recipe of the KukaDiverse-v0 figures in docs/RESULTS.md (2026-12-06, session 27): 16,000
oracle-mix attempts with segmentation masks, a round of 8,000 grasps of round 0's model, a round of 8,000 of the
six-model servo trained on those 24,000, six models of policies/grasp_cnn_recipe.toml (auxiliary mask loss, mirror
world, planned commands; 5,000 steps) on all 32,000, 256 CEM samples with 16 elites, no re-planning for the last 4
actions (--commit-steps): 91.7% of 2,000 held-out scenes there. At --scale 1, timed from an empty folder on this
2-core machine: 4.8 hours (collection 177 min, training 86, evaluation 26; the servo 91.4% of 500 held-out scenes;
docs/results/kuka_diverse_reproduce_2026-12-06).

Writes into --out: data/round-<r>/ (datasets), cnn/round-<r>/ and cnn/round-<r>-member-<k>/ (training runs), eval/ (the
final comparison: report.json, comparison.md, success.png), learning_curve.png/.json, summary.json, timing.json;
prints the time it took. `--scale` multiplies every episode and step count. A rerun continues where it stopped, and
the time it prints adds up every invocation's (timing.json has each part's minutes).

    python scripts/reproduce_grasping.py --scale 0.02 --ensemble 2 --eval-episodes 20   # minutes: a smoke run
    python scripts/reproduce_grasping.py                                                 # hours on 2 cores
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from robolearn.collection.campaign import CampaignConfig, prepare, run_local  # noqa: E402
from robolearn.config import ConfigError, load_toml  # noqa: E402
from robolearn.data.store import StoreError  # noqa: E402
from robolearn.envs import load_env_config  # noqa: E402
from robolearn.evaluation.rollout import rollout_parallel, wilson_interval  # noqa: E402
from robolearn.policies.registry import PolicyConfig  # noqa: E402
from robolearn.train import CheckpointError  # noqa: E402
from robolearn.train.grasp import TrainConfig, train  # noqa: E402

# The grasp CNN's training TOML. recipe: the KukaDiverse-v0 figures' (spatial readout, aux mask loss, mirror world,
# planned commands); spatial: the spatial readout alone; levine: Levine et al.'s network (the command merged midway).
MODELS = {"recipe": ROOT / "policies" / "grasp_cnn_recipe.toml", "spatial": ROOT / "policies" / "grasp_cnn_spatial.toml",
          "levine": ROOT / "policies" / "grasp_cnn.toml"}  # fmt: skip


class Clock:
    """The minutes each part of the run took, summed over the invocations that worked on it (a rerun continues where
    the last stopped), in timing.json. It is rewritten every `every` seconds, so a killed run loses at most that
    much of its count; `total` is the invocations' whole time, start-up and the work between parts included."""

    def __init__(self, path: Path, every: float = 30.0):
        self.path, self.every, self.start, self.part_start = path, every, time.perf_counter(), None
        saved = json.loads(path.read_text()) if path.exists() else {}
        self.saved_total, self.parts = saved.get("total_s", 0.0), saved.get("parts_s", {})
        self.invocations = saved.get("invocations", 0) + 1
        self.lock, self.name, self.stopped = threading.RLock(), None, threading.Event()
        self.keeper = threading.Thread(target=self._keep, daemon=True)
        self.keeper.start()

    def snapshot(self) -> dict:
        with self.lock:
            now, parts = time.perf_counter(), dict(self.parts)
            if self.name is not None:
                parts[self.name] = parts.get(self.name, 0.0) + now - self.part_start
            return {"total_s": self.saved_total + now - self.start, "parts_s": parts, "invocations": self.invocations}

    def save(self) -> dict:
        with self.lock:  # held across snapshot and write: the keeper and the main thread take turns, later last
            snap = self.snapshot()
            tmp = self.path.with_suffix(".tmp")
            tmp.write_text(json.dumps(snap, indent=2))
            tmp.replace(self.path)
            return snap

    def _keep(self) -> None:
        while not self.stopped.wait(self.every):
            self.save()

    def close(self) -> dict:
        self.stopped.set()
        self.keeper.join()  # its last write lands before this one
        return self.save()

    @contextmanager
    def part(self, name: str):
        with self.lock:
            self.name, self.part_start = name, time.perf_counter()
        try:
            yield
        finally:
            with self.lock:
                self.parts[name] = self.parts.get(name, 0.0) + time.perf_counter() - self.part_start
                self.name = None
            self.save()


def recipe(args) -> TrainConfig:
    """The shipped training TOML, its steps scaled; planned commands only where the env has the height hack."""
    cfg = load_toml(MODELS[args.model], TrainConfig)
    commands = cfg.data.commands if load_env_config(args.env).task.height_hack else "recorded"
    return cfg.model_copy(update={"steps": max(int(cfg.steps * args.scale), 1),
                                  "data": cfg.data.model_copy(update={"commands": commands})})  # fmt: skip


def servo(args, checkpoints: list[str], name: str = "cem") -> PolicyConfig:
    """The servo over `checkpoints` (their mean score), with this run's search and descent."""
    return PolicyConfig(name=name, checkpoint=checkpoints[0], ensemble=checkpoints[1:],
                        mirror_average=args.train.data.mirror,
                        cem={"samples": args.samples, "elites": args.elites, "descend": args.descend,
                             "commit_steps": args.commit_steps})  # fmt: skip


def collect(args, r: int, episodes: int, checkpoints: list[str]) -> str:
    """Round `r`'s episodes: the oracle mix (round 0), else the servo over `checkpoints` (the previous round's)."""
    policy = servo(args, checkpoints) if checkpoints else None
    cfg = CampaignConfig(env=args.env, objects="train", policy="mix" if r == 0 else "cem",
                         epsilon=args.epsilon if r == 0 else args.explore, down_bias=0.5,
                         checkpoint=checkpoints[0] if checkpoints else None, ensemble=checkpoints[1:],
                         mirror_average=bool(policy and policy.mirror_average), cem=policy.cem if policy else {},
                         episodes=episodes, workers=args.workers, seed=100 + r, store=str(args.out / "data" / f"round-{r}"))  # fmt: skip
    masks = {"camera": {"segmentation": True}} if args.train.model.get("aux_segmentation", 0) > 0 else {}
    env_config = load_env_config(cfg.env, objects={"split": cfg.objects}, **masks).model_dump(mode="json")
    todo = prepare(cfg, env_config, resume=True)  # a rerun continues where it stopped
    summary = run_local(cfg, env_config, todo) if todo else {"collected": 0, "success_rate": None}
    print(f"round {r}: collected {summary['collected']} episodes ({cfg.policy}), success {summary['success_rate']}")
    return cfg.store


def member(args, stores: list[str], name: str, seed: int) -> TrainConfig:
    return args.train.model_copy(update={"seed": seed, "out": str(args.out / "cnn" / name),
                                         "data": args.train.data.model_copy(update={"stores": stores})})  # fmt: skip


def trained(cfg: TrainConfig) -> str | None:
    """The checkpoint the servo uses of a finished run (its best by validation AUC, else its last), from the summary
    `train` writes when the run ends; None before then."""
    path = Path(cfg.out) / "summary.json"
    if not path.exists():
        return None
    summary = json.loads(path.read_text())
    return (summary["best_checkpoint"] or summary["checkpoint"]) if summary["steps"] == cfg.steps else None


def fit(cfg: TrainConfig) -> str:
    if not trained(cfg):
        summary = train(cfg, resume=True)
        print(f"{Path(cfg.out).name}: grasp CNN {cfg.steps} steps, best validation AUC {summary['best_val_auc']} "
              f"(early stopping: that model is used)")  # fmt: skip
    return trained(cfg)


def _fit_alone(cfg_json: str) -> None:
    import torch

    os.environ["OMP_NUM_THREADS"] = "1"  # for the run's loader processes, started from here
    torch.set_num_threads(1)
    train(TrainConfig.model_validate_json(cfg_json), resume=True, progress=False)


def fit_parallel(cfgs: list[TrainConfig], parallel: int) -> list[str]:
    """Train `cfgs` `parallel` at a time, one thread each (two runs on two cores beat one run on both)."""
    todo = [c for c in cfgs if not trained(c)]
    ctx = mp.get_context("spawn")
    for i in range(0, len(todo), parallel):
        procs = [ctx.Process(target=_fit_alone, args=(c.model_dump_json(),)) for c in todo[i : i + parallel]]
        print(f"training {', '.join(Path(c.out).name for c in todo[i : i + parallel])} ({cfgs[0].steps} steps each)",
              flush=True)  # fmt: skip
        for p in procs:
            p.start()
        for p in procs:
            p.join()
    missing = [c.out for c in cfgs if not trained(c)]
    if missing:
        raise SystemExit(f"reproduce_grasping: training failed for {', '.join(missing)} (a rerun continues them)")
    return [trained(c) for c in cfgs]


def evaluate(args, checkpoints: list[str]) -> dict:
    seeds = range(1_000_000, 1_000_000 + args.eval_episodes)
    report = rollout_parallel(args.env, "test", servo(args, checkpoints), seeds,
                              workers=args.workers, progress=True, desc="eval cem")  # fmt: skip
    return {"success": report.successes / report.n, "ci95": list(wilson_interval(report.successes, report.n)),
            "episodes": report.n}  # fmt: skip


def plot_curve(points: list[dict], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 3.2), dpi=120)
    for together in (False, True):  # the rounds' single models as a line, an ensemble as a point of its own
        pts = [p for p in points if (p["models"] > 1) == together]
        if pts:
            ax.errorbar([p["attempts"] for p in pts], [p["success"] for p in pts], capsize=4,
                        yerr=[[p["success"] - p["ci95"][0] for p in pts], [p["ci95"][1] - p["success"] for p in pts]],
                        marker="s" if together else "o", linestyle="none" if together else "-",
                        label=f"{pts[0]['models']} models together" if together else "one model")  # fmt: skip
    ax.set_xticks(sorted({p["attempts"] for p in points}))  # the rounds, not a crowd of 5-digit ticks
    ax.set_xlabel("grasp attempts collected")
    ax.set_ylabel("CEM servo success, test objects")
    ax.set_ylim(0, 1)
    ax.set_title(title, fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def point(args, r: int, attempts: int, checkpoints: list[str], done: list[dict], clock: Clock) -> dict:
    """A learning curve point: round `r`'s servo over `checkpoints` on the held-out objects. A rerun keeps a point
    in `done` (the curve so far) measured with the same servo on the same seeds."""
    policy, seeds = servo(args, checkpoints).model_dump(mode="json"), [1_000_000, args.eval_episodes]
    p = next((q for q in done if q.get("servo") == policy and q.get("eval_seeds") == seeds), None)
    if p is None:
        with clock.part(f"evaluate round {r}, {len(checkpoints)} model(s)"):
            p = {"round": r, "attempts": attempts, "models": len(checkpoints), "checkpoints": checkpoints,
                 **evaluate(args, checkpoints), "servo": policy, "eval_seeds": seeds}  # fmt: skip
        p["minutes"] = clock.snapshot()["total_s"] / 60  # the run's time so far
    models = "1 model" if len(checkpoints) == 1 else f"{len(checkpoints)} models together"
    print(f"round {r}: {attempts} attempts, {models} -> CEM servo success {p['success']:.3f} "
          f"[{p['ci95'][0]:.3f}-{p['ci95'][1]:.3f}] on held-out objects", flush=True)  # fmt: skip
    return p


def policy_toml(path: Path, cfg: PolicyConfig) -> str:
    """Write `cfg` as a policy TOML (json.dumps gives TOML strings, numbers, booleans and lists)."""
    top = {k: v for k, v in cfg.model_dump(include={"name", "checkpoint", "ensemble", "mirror_average"}).items()}
    lines = [f"{k} = {json.dumps(v)}" for k, v in top.items()]
    lines += ["", "[cem]", *(f"{k} = {json.dumps(v)}" for k, v in cfg.cem.model_dump(exclude_defaults=True).items())]
    path.write_text("\n".join(lines) + "\n")
    return str(path.resolve())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--env", default="robolearn/KukaDiverse-v0", help="registered env id or env TOML")
    ap.add_argument("--model", choices=sorted(MODELS), default="recipe",
                    help="the grasp CNN's training TOML: recipe (policies/grasp_cnn_recipe.toml; default), spatial "
                    "(policies/grasp_cnn_spatial.toml) or levine (Levine 2016, policies/grasp_cnn.toml)")  # fmt: skip
    ap.add_argument("--scale", type=float, default=1.0, help="multiplies every episode and step count")
    ap.add_argument("--first", type=int, default=16000, help="round 0's oracle-mix episodes (before --scale)")
    ap.add_argument("--per-round", type=int, default=8000, help="each later round's servo episodes (before --scale)")
    ap.add_argument("--rounds", type=int, default=2, help="self-improvement rounds after round 0")
    ap.add_argument(
        "--ensemble", type=int, default=6, help="models each servo after round 0 averages (1: the round's model alone)"
    )
    ap.add_argument("--samples", type=int, default=256, help="CEM samples an iteration (Levine: 64)")
    ap.add_argument("--elites", type=int, default=16, help="CEM elites an iteration (Levine: 6)")
    ap.add_argument("--workers", type=int, default=2, help="collection, evaluation and training processes")
    ap.add_argument("--epsilon", type=float, default=0.5, help="round 0: oracle actions replaced by random ones")
    ap.add_argument("--explore", type=float, default=0.1, help="rounds >= 1: CEM actions replaced by random ones")
    ap.add_argument("--descend", choices=["planned", "full_speed"], default="planned",
                    help="the servo's descent without the height hack: planned (Levine) or full_speed (down to the "
                    "grasp height at once; use it on GraspPanda-v0, see policies/cem_panda.toml)")  # fmt: skip
    ap.add_argument("--commit-steps", type=int, default=4, metavar="K",
                    help="the servo stops re-planning for the last K actions before the grasp and goes to its last "
                    "plan (0: re-plan at every step, Levine). 4: +2.5 points for the six-model servo on KukaDiverse-v0 "
                    "(docs/RESULTS.md, 2026-12-06); 3 on GraspPanda-v0 (policies/cem_panda.toml)")  # fmt: skip
    ap.add_argument("--eval-episodes", type=int, default=500, help="held-out scenes of each evaluation")
    ap.add_argument("--out", type=Path, default=Path("out/reproduce"), help="output folder; a rerun continues there")
    args = ap.parse_args()
    for flag, value, least in (("--scale", args.scale, 1e-9), ("--rounds", args.rounds, 0), ("--workers", args.workers, 1),
                               ("--ensemble", args.ensemble, 1), ("--commit-steps", args.commit_steps, 0),
                               ("--eval-episodes", args.eval_episodes, 1), ("--first", args.first, 1),
                               ("--per-round", args.per_round, 1), ("--elites", args.elites, 1)):  # fmt: skip
        if value < least:
            ap.error(f"{flag} {value}: must be {'above 0' if flag == '--scale' else f'at least {least}'}")
    if args.samples < args.elites:
        ap.error(f"--samples {args.samples}: must be at least --elites ({args.elites})")
    args.out.mkdir(parents=True, exist_ok=True)
    clock = Clock(args.out / "timing.json")
    args.train = recipe(args)
    first, per_round = max(int(args.first * args.scale), 1), max(int(args.per_round * args.scale), 1)
    curve_path = args.out / "learning_curve.json"
    done = json.loads(curve_path.read_text()) if curve_path.exists() else []

    def keep(curve: list[dict]) -> None:  # the curve so far, and the points of an earlier invocation not reached yet
        curve_path.write_text(json.dumps(curve + [q for q in done if q not in curve], indent=2))

    stores, attempts, curve, checkpoints = [], 0, [], []
    for r in range(args.rounds + 1):
        with clock.part(f"collect round {r}"):
            stores.append(collect(args, r, first if r == 0 else per_round, checkpoints))
        attempts += first if r == 0 else per_round
        together = args.ensemble if r > 0 or args.rounds == 0 else 1  # round 0's model alone collects round 1
        cfgs = [member(args, list(stores), f"round-{r}-member-{k}" if k else f"round-{r}", args.train.seed + k)
                for k in range(together)]  # fmt: skip
        with clock.part(f"train round {r}"):
            checkpoints = fit_parallel(cfgs, min(args.workers, os.cpu_count() or 1)) if together > 1 else [fit(cfgs[0])]
        for models in sorted({1, together}):  # the first model alone, then all of them together
            curve.append(point(args, r, attempts, checkpoints[:models], done, clock))
            keep(curve)
    curve_path.write_text(json.dumps(curve, indent=2))
    plot_curve(curve, args.out / "learning_curve.png", f"{args.env}: self-improving collection")

    servos = []  # the servo and its open-loop baseline: the same models, search and descent
    for name in ("open_loop", "cem"):
        servos += ["--policy", policy_toml(args.out / f"{name}.toml", servo(args, checkpoints, name))]
    cmd = [sys.executable, "-m", "robolearn.cli", "eval", "--env", args.env, "-n", str(args.eval_episodes),
           "--policy", "random", *servos, "--policy", "oracle",
           "--out", str(args.out / "eval"), "--videos", "2", "--workers", str(args.workers)]  # fmt: skip
    summary_path, eval_command = args.out / "summary.json", " ".join(cmd[1:])
    finished = summary_path.exists() and json.loads(summary_path.read_text())["eval_command"] == eval_command
    if not finished:  # a rerun of a finished run does not evaluate again
        with clock.part("evaluate the comparison"):
            subprocess.run(cmd, cwd=ROOT, check=True)
    timing = clock.close()
    by_kind = {}  # collect / train / evaluate
    for part, seconds in timing["parts_s"].items():
        by_kind[part.split()[0]] = by_kind.get(part.split()[0], 0.0) + seconds / 60
    minutes = timing["total_s"] / 60
    summary = {"env": args.env, "model": args.model, "scale": args.scale, "rounds": args.rounds, "grasp_attempts": attempts,
               "ensemble": len(checkpoints), "samples": args.samples, "elites": args.elites, "learning_curve": curve,
               "final_eval": json.loads((args.out / "eval" / "report.json").read_text()), "minutes": minutes,
               "minutes_by_kind": by_kind, "invocations": timing["invocations"], "eval_command": eval_command}  # fmt: skip
    summary_path.write_text(json.dumps(summary, indent=2))
    over = f" over {timing['invocations']} invocations" if timing["invocations"] > 1 else ""
    parts = ", ".join(f"{kind} {m:.1f}" for kind, m in by_kind.items()) + " min"
    print(
        f"reproduce_grasping: {attempts} grasp attempts, {minutes:.1f} minutes on this machine{over} ({parts}); "
        f"{args.out}"
    )


if __name__ == "__main__":
    try:
        main()
    except (ConfigError, StoreError, CheckpointError) as exc:  # bad input: one line
        print(f"reproduce_grasping: {exc}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        print("reproduce_grasping: interrupted; the same command continues where it stopped", file=sys.stderr)
        sys.exit(130)
