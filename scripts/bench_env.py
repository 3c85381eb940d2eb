"""Benchmark the grasping envs: speed on one core, success rates, rendering; writes docs/BENCHMARKS.md.

Speed: KukaDiverse-v0 with random actions, run one after another in this process, with robolearn's
default physics and with the faithful schedule (every substep of KukaDiverseObjectEnv), side by side
in one run (pybullet_envs' own env: scripts/bench_kuka_diverse_v1.py).
Success: random and oracle policies on test objects with both physics settings, over --episodes
episodes each (spread over --workers processes; these runs are not timed). The oracle is run with
its rehearsal (the default) and without ("oracle plain": the scripted grasp of the best-ranked
object alone, whose success is what the physics comparison needs: rehearsal hides a harder grasp).

    python scripts/bench_env.py                      # full run (~15 min on 2 cores)
    python scripts/bench_env.py --episodes 20 --speed-episodes 5 --no-write   # quick look
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

from benchdoc import replace_section  # noqa: E402

from robolearn.envs.grasp_env import GraspEnv  # noqa: E402
from robolearn.evaluation.rollout import rollout, wilson_interval  # noqa: E402
from robolearn.policies.registry import PolicyConfig, make_policy  # noqa: E402
from robolearn.sim.world import PhysicsConfig  # noqa: E402

FAITHFUL = PhysicsConfig.faithful().model_dump()
RELAXED = {"solver_residual": 1e-4}  # not a default: the solver may stop before pybullet's 1e-7 tolerance
SEED0 = 10_000


def _run(args: tuple) -> dict:
    preset, physics, policy, seeds = args
    env = GraspEnv(preset=preset, objects={"split": "test"}, physics=physics or {})
    try:
        name, _, plain = policy.partition(" ")  # "oracle plain": without rehearsal
        report = rollout(env, make_policy(PolicyConfig(name=name, rehearse=not plain), env), seeds)
    finally:
        env.close()
    s = report.summary()
    return {"successes": report.successes, "n": report.n, "seconds": report.seconds, "ms": s["ms_per_episode"],
            "substeps": s["substeps_per_episode"]}  # fmt: skip


def success_rates(configs: list[tuple[str, str, dict | None, str]], episodes: int, workers: int) -> list[dict]:
    jobs, owners = [], []
    chunk = max(1, episodes // (workers * 2))
    for k, (_, preset, physics, policy) in enumerate(configs):
        for start in range(0, episodes, chunk):
            seeds = list(range(SEED0 + start, SEED0 + min(start + chunk, episodes)))
            jobs.append((preset, physics, policy, seeds))
            owners.append(k)
    with ProcessPoolExecutor(workers) as pool:
        parts = list(pool.map(_run, jobs))
    out = []
    for k, (label, preset, physics, policy) in enumerate(configs):
        mine = [p for p, o in zip(parts, owners) if o == k]
        succ, n = sum(p["successes"] for p in mine), sum(p["n"] for p in mine)
        lo, hi = wilson_interval(succ, n)
        out.append({"label": label, "env": preset, "policy": policy, "n": n, "success": succ / n, "ci95": [lo, hi]})
        print(f"  {label:44s} {succ / n:.3f} [{lo:.3f}, {hi:.3f}] n={n}", flush=True)
    return out


def speed(episodes: int) -> dict:
    out = {}
    variants = (
        ("robolearn (default physics)", None),
        ("robolearn (faithful schedule)", FAITHFUL),
        ("robolearn (default, solver tolerance 1e-4)", RELAXED),
    )
    for label, physics in variants:
        r = _run(("kuka_diverse", physics, "random", list(range(SEED0, SEED0 + episodes))))
        out[label] = {"episodes_per_s": r["n"] / r["seconds"], **{f"ms_{k}": v for k, v in r["ms"].items()},
                      "substeps": r["substeps"]}  # fmt: skip
        print(f"  {label:32s} {out[label]['episodes_per_s']:.2f} episodes/s  {r['ms']}", flush=True)
    return out


def render_speed(frames: int = 30, renderer: str = "tiny") -> dict:
    """Frames/s of the KukaDiverse-v0 scene at each size."""
    out = {}
    env = GraspEnv(preset="kuka_diverse", renderer=renderer)
    env.reset(seed=0)
    for size in (48, 64, 128, 472):
        cfg = env.config.camera.model_copy(update={"width": size, "height": size})
        from robolearn.sim.camera import sample_pose

        pose = sample_pose(cfg, None)
        env.world.render(cfg, pose)
        t = time.perf_counter()
        for _ in range(frames):
            env.world.render(cfg, pose)
        out[size] = frames / (time.perf_counter() - t)
        print(f"  {size}x{size}: {out[size]:.1f} frames/s", flush=True)
    env.close()
    return out


def write_markdown(res: dict, path: Path) -> None:
    sp = res["speed"]
    lines = [
        "## Grasping envs (`make bench` → scripts/bench_env.py)",
        "",
        f"Measured {res['date']} on {res['machine']}; command: `{res['command']}`.",
        "",
        f"### Speed: KukaDiverse-v0, random actions, test objects, one core ({res['speed_episodes']} episodes each, one after another)",
        "",
        "| simulator | episodes/s | ms/episode | physics | rendering | python | substeps/episode |",
        "|---|---|---|---|---|---|---|",
    ]
    for label, r in sp.items():
        lines.append(f"| {label} | {r['episodes_per_s']:.2f} | {r['ms_total']:.0f} | {r['ms_physics']:.0f} | "
                     f"{r['ms_rendering']:.0f} | {r['ms_python']:.0f} | {r['substeps']:.0f} |")  # fmt: skip
    lines += ["", "Target: ≥ 8 episodes/s. pybullet_envs' own env beside KukaDiverse-v1: scripts/bench_kuka_diverse_v1.py.",
              "",
              f"### Success on test objects ({res['episodes']} episodes each, 95% Wilson interval)", "",
              "| env | policy | physics | success | 95% CI |", "|---|---|---|---|---|"]  # fmt: skip
    for r in res["success"]:
        lines.append(f"| {r['env']} | {r['policy']} | {r['label'].split('/')[-1]} | {r['success']:.3f} | "
                     f"{r['ci95'][0]:.3f}–{r['ci95'][1]:.3f} |")  # fmt: skip
    lines += [
        "",
        "### TinyRenderer, KukaDiverse-v0 scene (arm, tray, 5 objects)",
        "",
        "| size | frames/s |",
        "|---|---|",
    ]
    lines += [f"| {k}x{k} | {v:.1f} |" for k, v in res["render"].items()]
    replace_section(path, lines[0], "\n".join(lines) + "\n")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--episodes", type=int, default=200, help="episodes per success-rate figure")
    ap.add_argument("--speed-episodes", type=int, default=30, help="episodes per speed figure")
    ap.add_argument("--workers", type=int, default=2, help="processes for the success-rate runs")
    ap.add_argument("--no-write", action="store_true", help="print only; leave docs/BENCHMARKS.md alone")
    args = ap.parse_args()
    res = {"date": time.strftime("%Y-%m-%d"), "machine": f"{platform.machine()}, {__import__('os').cpu_count()} cores",
           "command": " ".join(["python scripts/bench_env.py", *sys.argv[1:]]), "episodes": args.episodes,
           "speed_episodes": args.speed_episodes}  # fmt: skip
    print("speed (one core):", flush=True)
    res["speed"] = speed(args.speed_episodes)
    print("rendering:", flush=True)
    res["render"] = render_speed()
    print("success on test objects:", flush=True)
    configs = [
        ("KukaDiverse-v0 random/default", "kuka_diverse", None, "random"),
        ("KukaDiverse-v0 random/faithful", "kuka_diverse", FAITHFUL, "random"),
        ("KukaDiverse-v0 random/tolerance 1e-4", "kuka_diverse", RELAXED, "random"),
        ("KukaDiverse-v0 oracle/default", "kuka_diverse", None, "oracle"),
        ("KukaDiverse-v0 oracle/faithful", "kuka_diverse", FAITHFUL, "oracle"),
        ("GraspKuka-v0 oracle/default", "kuka", None, "oracle"),
        ("GraspPanda-v0 oracle/default", "panda", None, "oracle"),
        ("KukaDiverse-v0 oracle plain/default", "kuka_diverse", None, "oracle plain"),
        ("KukaDiverse-v0 oracle plain/faithful", "kuka_diverse", FAITHFUL, "oracle plain"),
        ("GraspKuka-v0 oracle plain/default", "kuka", None, "oracle plain"),
        ("GraspPanda-v0 oracle plain/default", "panda", None, "oracle plain"),
        ("GraspKuka-v0 random/default", "kuka", None, "random"),
        ("GraspPanda-v0 random/default", "panda", None, "random"),
    ]
    res["success"] = success_rates(configs, args.episodes, args.workers)
    (ROOT / "docs").mkdir(exist_ok=True)
    if not args.no_write:
        (ROOT / "docs" / "bench_env.json").write_text(json.dumps(res, indent=2))
        write_markdown(res, ROOT / "docs" / "BENCHMARKS.md")
        print("wrote docs/BENCHMARKS.md and docs/bench_env.json")


if __name__ == "__main__":
    main()
