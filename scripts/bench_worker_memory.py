"""Benchmark a collection worker's memory: its resident set size (RSS) over many episodes.

Runs the collector's own worker function (`robolearn.collection.campaign._worker`) in this process,
one shard store, GraspKuka-v0 64x64 RGB, random policy with down_bias 1.0, and samples RSS from
/proc/self/status as episodes are committed. Writes a section of docs/BENCHMARKS.md and the
samples to docs/bench_worker_memory.json.

    python scripts/bench_worker_memory.py [--episodes 5000] [--every 100]
"""

from __future__ import annotations

import argparse
import json
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

import numpy as np  # noqa: E402
from benchdoc import publish  # noqa: E402

from robolearn.collection.campaign import CampaignConfig, _worker  # noqa: E402
from robolearn.envs import load_env_config  # noqa: E402

RECORD = ROOT / "docs" / "bench_worker_memory.json"


def rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


class Sampler:
    """Stands in for the worker's progress queue: records RSS every `every` committed episodes."""

    def __init__(self, every: int, total: int) -> None:
        self.every, self.total, self.done = every, total, 0
        self.samples: list[tuple[int, float]] = [(0, rss_mib())]
        self.t0 = time.perf_counter()

    def put(self, item) -> None:
        self.done += 1
        if self.done % self.every == 0:
            self.samples.append((self.done, rss_mib()))
            rate = self.done / (time.perf_counter() - self.t0)
            print(f"  {self.done}/{self.total} episodes, RSS {self.samples[-1][1]:.1f} MiB, {rate:.2f} eps/s",
                  flush=True)  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--episodes", type=int, default=5000)
    ap.add_argument("--every", type=int, default=100, help="sample RSS every this many episodes")
    ap.add_argument("--no-write", action="store_true")
    ap.add_argument("--report-only", action="store_true", help="rewrite the section from the last run's samples")
    args = ap.parse_args()
    if args.report_only:
        publish(report(json.loads(RECORD.read_text())), write=not args.no_write)
        return
    cfg = CampaignConfig(env="robolearn/GraspKuka-v0", policy={"name": "random", "down_bias": 1.0}, episodes=args.episodes,
                         workers=1, seed=3)  # fmt: skip
    env_config = load_env_config(cfg.env, objects={"split": cfg.objects}).model_dump(mode="json")
    tmp = Path(tempfile.mkdtemp(prefix="bench_memory_"))
    sampler = Sampler(args.every, args.episodes)
    try:
        _worker(cfg.model_dump_json(), env_config, str(tmp / "shard-000.zarr"), list(range(args.episodes)), sampler)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    seconds = time.perf_counter() - sampler.t0
    cmd = " ".join(["python scripts/bench_worker_memory.py", *sys.argv[1:]])
    record = {"command": cmd, "episodes": args.episodes, "every": args.every, "minutes": seconds / 60,
              "date": time.strftime("%Y-%m-%d"), "samples": sampler.samples}  # fmt: skip
    if not args.no_write:
        RECORD.write_text(json.dumps(record, indent=1) + "\n")
    publish(report(record), write=not args.no_write)


def report(record: dict) -> str:
    """The BENCHMARKS.md section for a run's samples: a warm-up, then the plateau and its slope."""
    samples = record["samples"]
    n_last, last = samples[-1]
    # Warm-up: pybullet caches each object's mesh the first time it is loaded (flat with a fixed seed,
    # where the same objects come back); growth is judged after the first tenth of the run.
    warm = next((i for i, (n, _) in enumerate(samples) if n >= n_last // 10), 0)
    n_warm, at_warm = samples[warm]
    later = samples[warm:]
    slope = float(np.polyfit([n for n, _ in later], [r for _, r in later], 1)[0]) * 1000 if len(later) > 2 else 0.0
    step = max(1, len(samples) // 10)
    rows = samples[::step] + ([samples[-1]] if (len(samples) - 1) % step else [])
    return "\n".join([
        "## Collection worker memory (`python scripts/bench_worker_memory.py`)",
        "",
        f"Measured {record.get('date', '?')} on {platform.machine()}, 2 cores; command: `{record['command']}`. The "
        "collector's worker function in one process: GraspKuka-v0 64x64 RGB, random policy (down_bias 1.0), one "
        f"shard store; RSS from /proc/self/status every {record.get('every', '?')} episodes (all samples in "
        "docs/bench_worker_memory.json).",
        "",
        "| episodes | RSS MiB |",
        "|---|---|",
        *(f"| {n} | {r:.1f} |" for n, r in rows),
        "",
        f"Warm-up to {n_warm} episodes: {samples[0][1]:.0f} → {at_warm:.1f} MiB (pybullet caches each training "
        f"object's mesh once; with a fixed seed RSS is flat). After it: {at_warm:.1f} → {last:.1f} MiB over "
        f"{n_last - n_warm} episodes, a least-squares slope of {slope:+.2f} MiB per 1,000 episodes. "
        f"{record['episodes']} episodes in {record.get('minutes', float('nan')):.1f} min.",
        "",
    ])  # fmt: skip


if __name__ == "__main__":
    main()
