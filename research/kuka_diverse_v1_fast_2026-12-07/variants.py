"""Physics variants of KukaDiverseFast-v1 against KukaDiverse-v1 under the same random actions (issue 43, part 3).

Each variant is v1's config with some settings changed. Outcomes: `robolearn eval` of random actions on
held-out seeds 1,000,000 on, one resumable folder per variant under --out; the share of seeds whose outcome equals
v1's (from scripts/bench_kuka_diverse_v1.py's exact-random folder) and the paired difference. Speed: the variants
and v1 take turns episode by episode on one core (so a busy machine slows them alike), ms per episode.

    python research/kuka_diverse_v1_fast_2026-12-07/variants.py --seeds 1000 --out out/bench_v1/seeds-1000
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from robolearn.config import deep_merge  # noqa: E402
from robolearn.envs.config import make_config  # noqa: E402
from robolearn.evaluation.report import paired_difference  # noqa: E402
from robolearn.sim.world import PhysicsConfig  # noqa: E402

VARIANTS = {  # name: overrides of v1's config
    "all shortcuts": {"physics": PhysicsConfig().model_dump()},  # robolearn's defaults, v0's physics
    "early exits + sleeping": {"physics": {"early_exit": True, "sleeping": True}},
    "maximal static bodies": {"physics": {"scene": "robolearn"}},
    "free-space stride 2": {"physics": {"free_space_stride": 2}},
    "lift exit only": {"physics": {"early_exit": "lift"}},
    # not a shortcut: a control that changes nothing physical, to see how far apart chaos alone puts two runs
    "objects dropped 1 um higher": {"objects": {"drop_height": 0.150001}},
    "solver residual 1e-4": {"physics": {"solver_residual": 1e-4}},
}
SEED0 = 1_000_000


def config(overrides: dict) -> dict:
    return make_config("kuka_diverse_v1", deep_merge(overrides, {"objects": {"split": "test"}})).model_dump(mode="json")


def to_toml(cfg: dict) -> str:
    """An env config (nested dicts of numbers, strings, booleans and lists) as TOML; None values left out."""

    def value(v):
        return json.dumps(v).lower() if isinstance(v, bool) else json.dumps(v)

    top = [f"{k} = {value(v)}" for k, v in cfg.items() if not isinstance(v, dict) and v is not None]
    for k, v in cfg.items():
        if isinstance(v, dict):
            top += [f"\n[{k}]", *(f"{kk} = {value(vv)}" for kk, vv in v.items() if vv is not None)]
    return "\n".join(top) + "\n"


def outcomes(name: str, overrides: dict, seeds: int, out: Path) -> list[dict]:
    slug = name.replace(" ", "_").replace("+", "and").replace("(", "").replace(")", "")
    folder = out / "variants" / f"{slug}-{seeds}"
    if not (folder / "report.json").exists():
        folder.mkdir(parents=True, exist_ok=True)
        toml = folder / "env.toml"
        toml.write_text(to_toml(config(overrides)))
        cmd = [sys.executable, "-m", "robolearn.cli", "eval", "--env", str(toml), "--policy", "random", "-n", str(seeds),
               "--seed", str(SEED0), "--workers", "1", "--out", str(folder / "eval")]  # fmt: skip
        if (folder / "eval" / "episodes.jsonl").exists():
            cmd.append("--resume")
        subprocess.run(cmd, cwd=ROOT, check=True)
        (folder / "report.json").write_text((folder / "eval" / "report.json").read_text())
    return json.loads((folder / "report.json").read_text())["per_episode"]


def timing(episodes: int, names: list[str] | None = None) -> dict[str, float]:
    """ms per episode of v1 and each variant, taking turns episode by episode, random actions, test objects."""
    from robolearn.envs.grasp_env import GraspEnv

    envs = {"v1": GraspEnv(config({}))}
    envs |= {name: GraspEnv(config(overrides)) for name, overrides in VARIANTS.items() if not names or name in names}
    spent = dict.fromkeys(envs, 0.0)
    for seed in range(SEED0, SEED0 + episodes):
        for name, env in envs.items():
            actions = np.random.default_rng(seed)
            t = time.perf_counter()
            env.reset(seed=seed)
            done = False
            while not done:
                _, _, term, trunc, _ = env.step(actions.uniform(-1, 1, 4))
                done = term or trunc
            spent[name] += time.perf_counter() - t
    return {name: 1000 * s / episodes for name, s in spent.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, default=1000)
    ap.add_argument("--out", type=Path, default=ROOT / "out" / "bench_v1" / "seeds-1000")
    ap.add_argument("--timing-episodes", type=int, default=20)
    ap.add_argument("--only", nargs="*", help="these variants (names as in VARIANTS)")
    args = ap.parse_args()
    exact = json.loads((args.out / "exact-random" / "report.json").read_text())["per_episode"][: args.seeds]
    if args.seeds == 0:  # timing alone
        exact = []
    rows = {}
    for name, overrides in VARIANTS.items():
        if not exact or args.only and name not in args.only:
            continue
        eps = outcomes(name, overrides, args.seeds, args.out)
        same = sum(a["success"] == b["success"] for a, b in zip(exact, eps)) / len(eps)
        d, lo, hi = paired_difference(eps, exact)
        rows[name] = {"agree": same, "success": sum(e["success"] for e in eps) / len(eps), "difference": [d, lo, hi]}
        print(f"{name:32s} agree {same:.3f} success {rows[name]['success']:.3f} (v1 "
              f"{sum(e['success'] for e in exact) / len(exact):.3f}) diff {d:+.3f} [{lo:+.3f}, {hi:+.3f}]", flush=True)  # fmt: skip
    if args.timing_episodes:
        ms = timing(args.timing_episodes, args.only)
        for name, v in ms.items():
            print(f"{name:32s} {v:6.0f} ms/episode  {ms['v1'] / v:.2f}x v1", flush=True)
        rows["timing_ms"] = ms
    (args.out / "variants.json").write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
