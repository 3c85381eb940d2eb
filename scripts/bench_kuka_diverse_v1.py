"""KukaDiverse-v1 against the original, and its fast mode against it; writes a docs/BENCHMARKS.md section.

Speed, one core, one after another in one run: pybullet_envs' KukaDiverseObjectEnv (in a process of its own: it
drives pybullet's default client), KukaDiverse-v1 (the exact replica), KukaDiverseFast-v1 (v1 with robolearn's
physics shortcuts) and KukaDiverse-v0, random actions on the same seeds; ms per episode in physics, rendering and
Python, and substeps.

Agreement: `robolearn eval` of random actions, the plain oracle (no rehearsal) and the shipped demo model's CEM servo
on held-out seeds 1,000,000 and on, in v1 and in the fast mode, each in its own resumable folder under --out (rerun
the same command to continue an interrupted run). Random actions are a function of the seed, so both envs get the
same actions: where their outcomes differ, the physics did. For every policy: the share of seeds with the same
outcome, both success rates and the paired difference with its 95% interval. The fast mode passes where random
actions agree on >= 97% of seeds and every paired interval holds 0.

    python scripts/bench_kuka_diverse_v1.py                      # 1,000 seeds (hours on 2 cores; resumable)
    python scripts/bench_kuka_diverse_v1.py --seeds 20 --speed-episodes 3 --no-write   # quick look
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import platform
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

from benchdoc import publish  # noqa: E402

from robolearn.evaluation.report import paired_difference  # noqa: E402
from robolearn.evaluation.rollout import wilson_interval  # noqa: E402

ORIGINAL = "pybullet_envs/KukaDiverseObjectEnv"
EXACT, FAST = "robolearn/KukaDiverse-v1", "robolearn/KukaDiverseFast-v1"
STUDY = ROOT / "docs" / "results" / "kuka_diverse_v1_fast_2026-12-07"
POLICIES = {"random": "random", "oracle plain": str(STUDY / "oracle_plain.toml"), "servo": str(STUDY / "servo.toml")}
SEED0 = 1_000_000


def _speed(spec: str, episodes: int, queue) -> None:
    from robolearn.envs import make_env
    from robolearn.evaluation.rollout import rollout
    from robolearn.policies.base import RandomPolicy

    env = make_env(spec, objects={"split": "test"})
    report = rollout(env, RandomPolicy(), range(SEED0, SEED0 + episodes))
    queue.put({"episodes_per_s": report.n / report.seconds, "success": report.successes / report.n,
               **{f"ms_{k}": v for k, v in report.summary()["ms_per_episode"].items()},
               "substeps": report.substeps / report.n})  # fmt: skip
    env.close()


def speed(episodes: int) -> dict[str, dict]:
    """Each env in a fresh process of its own (the original needs one), one after another."""
    out, ctx = {}, mp.get_context("spawn")
    for spec in (ORIGINAL, EXACT, FAST, "robolearn/KukaDiverse-v0"):
        queue = ctx.Queue()
        proc = ctx.Process(target=_speed, args=(spec, episodes, queue))
        proc.start()
        out[spec] = queue.get()
        proc.join()
        print(f"  {spec:36s} {out[spec]['episodes_per_s']:.2f} episodes/s", flush=True)
    return out


def evaluate(spec: str, policy: str, seeds: int, workers: int, folder: Path) -> list[dict]:
    """`robolearn eval` of one policy in one env, resumed where its folder holds part of it; its episodes."""
    if not (folder / "report.json").exists():
        cmd = [sys.executable, "-m", "robolearn.cli", "eval", "--env", spec, "--policy", policy, "-n", str(seeds),
               "--seed", str(SEED0), "--workers", str(workers), "--out", str(folder)]  # fmt: skip
        if (folder / "episodes.jsonl").exists():
            cmd.append("--resume")
        subprocess.run(cmd, cwd=ROOT, check=True)
    report = json.loads((folder / "report.json").read_text())
    return report["per_episode"]  # one policy: its summary is the report's top level


def agreement(seeds: int, workers: int, out: Path) -> dict[str, dict]:
    rows = {}
    for name, policy in POLICIES.items():
        slug = name.replace(" ", "_")
        exact = evaluate(EXACT, policy, seeds, workers, out / f"exact-{slug}")
        fast = evaluate(FAST, policy, seeds, workers, out / f"fast-{slug}")
        same = sum(a["success"] == b["success"] for a, b in zip(exact, fast))
        d, lo, hi = paired_difference(fast, exact)
        rates = {}
        for label, eps in (("exact", exact), ("fast", fast)):
            k = sum(e["success"] for e in eps)
            rates[label] = {"success": k / len(eps), "ci95": wilson_interval(k, len(eps))}
        rows[name] = {"n": len(exact), "agree": same / len(exact), **rates, "difference": [d, lo, hi]}
        print(f"  {name:14s} agree {same / len(exact):.3f}  exact {rates['exact']['success']:.3f}  "
              f"fast {rates['fast']['success']:.3f}  fast - exact {d:+.3f} [{lo:+.3f}, {hi:+.3f}]", flush=True)  # fmt: skip
    return rows


def markdown(res: dict) -> str:
    lines = [
        "## KukaDiverse-v1: the original, the replica and the fast mode (`make bench` → scripts/bench_kuka_diverse_v1.py)",
        "",
        f"Measured {res['date']} on {res['machine']}; command: `{res['command']}`.",
        "",
        f"### Speed: random actions, test objects, one core ({res['speed_episodes']} episodes each, one after another)",
        "",
        "| env | episodes/s | × original | ms/episode | physics | rendering | python | substeps/episode |",
        "|---|---|---|---|---|---|---|---|",
    ]
    base = res["speed"][ORIGINAL]["episodes_per_s"]
    for spec, r in res["speed"].items():
        lines.append(f"| {spec} | {r['episodes_per_s']:.2f} | {r['episodes_per_s'] / base:.2f} | {r['ms_total']:.0f} | "
                     f"{r['ms_physics']:.0f} | {r['ms_rendering']:.0f} | {r['ms_python']:.0f} | {r['substeps']:.0f} |")  # fmt: skip
    lines += ["", "The original's physics column holds its Python too: its loop cannot be timed inside.", "",
              f"### The fast mode against v1: held-out seeds {SEED0:,} on, the same seeds in both", ""]
    if "agreement" not in res:
        lines.append("Not measured in this run (`--speed-only`): docs/results/kuka_diverse_v1_fast_2026-12-07.")
        return "\n".join(lines) + "\n"
    lines += [
              "| policy | episodes | same outcome | v1 | fast mode | fast − v1, paired (95% CI) |",
              "|---|---|---|---|---|---|"]  # fmt: skip
    for name, r in res["agreement"].items():
        d, lo, hi = r["difference"]
        lines.append(f"| {name} | {r['n']} | {r['agree']:.1%} | {r['exact']['success']:.3f} | {r['fast']['success']:.3f} "
                     f"| {d:+.3f} ({lo:+.3f} to {hi:+.3f}) |")  # fmt: skip
    ok = res["agreement"]["random"]["agree"] >= 0.97 and all(
        r["difference"][1] <= 0 <= r["difference"][2] for r in res["agreement"].values()
    )
    lines += ["", f"Bar: random actions (the same in both) agree on ≥ 97% of seeds, and every paired interval holds 0: "
              f"**{'met' if ok else 'not met'}**."]  # fmt: skip
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, default=1000, help="held-out seeds per policy and env")
    ap.add_argument("--speed-episodes", type=int, default=20, help="episodes per speed figure")
    ap.add_argument("--workers", type=int, default=2, help="processes for the agreement runs")
    ap.add_argument("--out", type=Path, default=ROOT / "out" / "bench_v1", help="the agreement runs' eval folders")
    ap.add_argument("--skip-speed", action="store_true", help="the agreement runs alone")
    ap.add_argument("--speed-only", action="store_true", help="the speed table alone")
    ap.add_argument("--no-write", action="store_true", help="print only; leave docs/BENCHMARKS.md alone")
    args = ap.parse_args()
    res = {"date": time.strftime("%Y-%m-%d"), "machine": f"{platform.machine()}, {__import__('os').cpu_count()} cores",
           "command": " ".join(["python scripts/bench_kuka_diverse_v1.py", *sys.argv[1:]]),
           "speed_episodes": args.speed_episodes}  # fmt: skip
    out = args.out / f"seeds-{args.seeds}"
    out.mkdir(parents=True, exist_ok=True)
    if not args.speed_only:
        print("agreement (v1 and the fast mode, the same seeds):", flush=True)
        res["agreement"] = agreement(args.seeds, args.workers, out)
    if args.skip_speed:
        return
    print("speed (one core):", flush=True)
    res["speed"] = speed(args.speed_episodes)
    (out / ("speed.json" if args.speed_only else "results.json")).write_text(json.dumps(res, indent=2))
    publish(markdown(res), write=not args.no_write)


if __name__ == "__main__":
    main()
