"""From nothing to a grasp-success table and a learning curve, in one command (Levine 2016, QT-Opt style).

    round 0: collect with the scripted oracle mixed with random actions (epsilon) on training objects
             -> train the grasp CNN -> evaluate the CEM servo on held-out objects
    round r: collect with the current CEM servo (epsilon exploration) -> add to the data -> retrain
             (warm start from the last checkpoint) -> evaluate
    end:     one `robolearn eval` run of random, open-loop, CEM servo and oracle side by side

Writes into --out: data/round-<r>/ (datasets), cnn/round-<r>/ (training runs), eval/ (the final
comparison: report.json, comparison.md, success.png), learning_curve.png/.json, summary.json;
prints the time it took. `--scale` multiplies every episode and step count.

    python scripts/reproduce_grasping.py --scale 0.1            # minutes: a smoke run
    python scripts/reproduce_grasping.py --scale 1 --rounds 3   # hours on 2 cores
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from robolearn.collection.campaign import CampaignConfig, prepare, run_local  # noqa: E402
from robolearn.config import load_toml  # noqa: E402
from robolearn.envs import load_env_config  # noqa: E402
from robolearn.evaluation.rollout import rollout_parallel, wilson_interval  # noqa: E402
from robolearn.policies.registry import PolicyConfig  # noqa: E402
from robolearn.train.grasp import TrainConfig, train  # noqa: E402


def servo_settings(args) -> dict:
    """The [cem] settings this run's servo uses, from the command line."""
    return {"descend": args.descend, "commit_steps": args.commit_steps}


def collect(args, r: int, policy: str, episodes: int, checkpoint: str | None) -> dict:
    cfg = CampaignConfig(env=args.env, objects="train", policy=policy, epsilon=args.epsilon if r == 0 else
                         args.explore, down_bias=0.5, checkpoint=checkpoint, episodes=episodes, workers=args.workers,
                         seed=100 + r, store=str(args.out / "data" / f"round-{r}"), cem=servo_settings(args))  # fmt: skip
    env_config = load_env_config(cfg.env, objects={"split": cfg.objects}).model_dump(mode="json")
    todo = prepare(cfg, env_config, resume=True)  # a rerun continues where it stopped
    summary = run_local(cfg, env_config, todo) if todo else {"collected": 0, "success_rate": None}
    print(f"round {r}: collected {summary['collected']} episodes ({policy}), success {summary['success_rate']}")
    return {"store": cfg.store, **summary}


# The grasp CNN: its [model] section and random-shift setting come from the shipped training TOML.
# levine: Levine et al.'s network (the command merged midway); spatial: the map read out where the
# command lands (robolearn/models/grasp_cnn.py).
MODELS = {"levine": ROOT / "policies" / "grasp_cnn.toml", "spatial": ROOT / "policies" / "grasp_cnn_spatial.toml"}


def fit(args, r: int, stores: list[str], steps: int, init: str | None) -> str:
    out = args.out / "cnn" / f"round-{r}"
    final = out / "checkpoints" / f"step-{steps:07d}"
    if final.exists():  # a rerun: this round is trained
        return str(out / "best") if (out / "best").exists() else str(final)
    shipped = load_toml(MODELS[args.model], TrainConfig)
    cfg = TrainConfig(steps=steps, eval_every=max(steps // 4, 1), checkpoint_every=max(steps // 4, 1), out=str(out),
                      init_from=init, model=shipped.model,
                      data={"stores": stores, "holdout": 0.05, "workers": 2, "pad": shipped.data.pad},
                      optim={"lr": 1e-3 if init is None else 3e-4, "warmup_steps": 100 if init is None else 20})  # fmt: skip
    summary = train(cfg, resume=True)
    val = summary["val"]
    print(f"round {r}: grasp CNN {steps} steps, validation AUC {val['auc']}, accuracy {val['accuracy']}; "
          f"best validation AUC {summary['best_val_auc']} (early stopping: that model is used)")  # fmt: skip
    return summary["best_checkpoint"] or summary["checkpoint"]


def evaluate_cem(args, checkpoint: str) -> dict:
    seeds = range(1_000_000, 1_000_000 + args.eval_episodes)
    policy = PolicyConfig(name="cem", checkpoint=checkpoint, cem=servo_settings(args))
    report = rollout_parallel(args.env, "test", policy, seeds,
                              workers=args.workers, progress=True, desc="eval cem")  # fmt: skip
    return {"success": report.successes / report.n, "ci95": list(wilson_interval(report.successes, report.n)),
            "episodes": report.n}  # fmt: skip


def plot_curve(points: list[dict], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    x = [p["attempts"] for p in points]
    y = [p["success"] for p in points]
    lo = [p["success"] - p["ci95"][0] for p in points]
    hi = [p["ci95"][1] - p["success"] for p in points]
    fig, ax = plt.subplots(figsize=(5, 3.2), dpi=120)
    ax.errorbar(x, y, yerr=[lo, hi], marker="o", capsize=4)
    ax.set_xlabel("grasp attempts collected")
    ax.set_ylabel("CEM servo success, test objects")
    ax.set_ylim(0, 1)
    ax.set_title(title, fontsize=9)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--env", default="robolearn/KukaDiverse-v0", help="registered env id or env TOML")
    ap.add_argument(
        "--model",
        choices=sorted(MODELS),
        default="spatial",
        help="grasp CNN: spatial (read out where the command lands; default) or levine (Levine 2016)",
    )
    ap.add_argument("--scale", type=float, default=1.0, help="multiplies every episode and step count")
    ap.add_argument("--rounds", type=int, default=2, help="self-improvement rounds after round 0")
    ap.add_argument("--workers", type=int, default=2, help="collection and evaluation processes")
    ap.add_argument("--epsilon", type=float, default=0.5, help="round 0: oracle actions replaced by random ones")
    ap.add_argument("--explore", type=float, default=0.1,
                    help="rounds >= 1: CEM actions replaced by random ones (0.1: the rounds in docs/RESULTS.md that "
                    "lifted the servo used it)")  # fmt: skip
    ap.add_argument("--descend", choices=["planned", "full_speed"], default="planned",
                    help="the servo's descent without the height hack: planned (Levine) or full_speed (down to the "
                    "grasp height at once; use it on GraspPanda-v0, see policies/cem_panda.toml)")  # fmt: skip
    ap.add_argument("--commit-steps", type=int, default=0, metavar="K",
                    help="the servo stops re-planning for the last K actions before the grasp and goes to its last "
                    "plan (0: re-plan at every step; see policies/cem_panda.toml)")  # fmt: skip
    ap.add_argument("--eval-episodes", type=int, default=200)
    ap.add_argument("--out", type=Path, default=Path("out/reproduce"), help="output folder; a rerun continues there")
    args = ap.parse_args()
    for flag, value, least in (("--scale", args.scale, 1e-9), ("--rounds", args.rounds, 0), ("--workers", args.workers, 1),
                               ("--commit-steps", args.commit_steps, 0), ("--eval-episodes", args.eval_episodes, 1)):  # fmt: skip
        if value < least:
            ap.error(f"{flag} {value}: must be {'above 0' if flag == '--scale' else f'at least {least}'}")
    t0 = time.perf_counter()
    args.out.mkdir(parents=True, exist_ok=True)
    n0, n, steps0, steps = (int(v * args.scale) for v in (3000, 2000, 3000, 1500))

    stores, attempts, curve = [], 0, []
    checkpoint = None
    for r in range(args.rounds + 1):
        data = collect(args, r, "mix" if r == 0 else "cem", n0 if r == 0 else n, checkpoint)
        stores.append(data["store"])
        attempts += n0 if r == 0 else n
        checkpoint = fit(args, r, stores, steps0 if r == 0 else steps, checkpoint)
        point = {"round": r, "attempts": attempts, "checkpoint": checkpoint, **evaluate_cem(args, checkpoint),
                 "minutes": (time.perf_counter() - t0) / 60}  # fmt: skip
        curve.append(point)
        print(f"round {r}: {attempts} attempts -> CEM servo success {point['success']:.3f} "
              f"[{point['ci95'][0]:.3f}-{point['ci95'][1]:.3f}] on held-out objects", flush=True)  # fmt: skip
        (args.out / "learning_curve.json").write_text(json.dumps(curve, indent=2))
        plot_curve(curve, args.out / "learning_curve.png", f"{args.env}: self-improving collection")

    servos = []  # the servo and its open-loop baseline, with this run's descent
    for name in ("open_loop", "cem"):
        path = args.out / f"{name}.toml"
        # json.dumps: a TOML basic string, with any quote or backslash in the path escaped
        cem = "".join(f"{key} = {json.dumps(value)}\n" for key, value in servo_settings(args).items())
        path.write_text(f'name = "{name}"\ncheckpoint = {json.dumps(checkpoint)}\n\n[cem]\n{cem}')
        servos += ["--policy", str(path.resolve())]
    cmd = [sys.executable, "-m", "robolearn.cli", "eval", "--env", args.env, "-n", str(args.eval_episodes),
           "--policy", "random", *servos, "--policy", "oracle",
           "--checkpoint", checkpoint, "--out", str(args.out / "eval"), "--videos", "2", "--workers", str(args.workers)]  # fmt: skip
    subprocess.run(cmd, cwd=ROOT, check=True)
    minutes = (time.perf_counter() - t0) / 60
    summary = {"env": args.env, "model": args.model, "scale": args.scale, "rounds": args.rounds, "grasp_attempts": attempts,
               "learning_curve": curve, "final_eval": json.loads((args.out / "eval" / "report.json").read_text()),
               "minutes": minutes, "eval_command": " ".join(cmd[1:])}  # fmt: skip
    (args.out / "summary.json").write_text(json.dumps(summary, indent=2))
    print((args.out / "eval" / "comparison.md").read_text())
    print(f"reproduce_grasping: {attempts} grasp attempts, {minutes:.1f} minutes on this machine; {args.out}")


if __name__ == "__main__":
    main()
