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

from benchdoc import publish  # noqa: E402

from robolearn.collection.campaign import CampaignConfig, _worker  # noqa: E402
from robolearn.envs import load_env_config  # noqa: E402


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
    args = ap.parse_args()
    cfg = CampaignConfig(env="robolearn/GraspKuka-v0", policy="random", down_bias=1.0, episodes=args.episodes,
                         workers=1, seed=3)  # fmt: skip
    env_config = load_env_config(cfg.env, objects={"split": cfg.objects}).model_dump(mode="json")
    tmp = Path(tempfile.mkdtemp(prefix="bench_memory_"))
    sampler = Sampler(args.every, args.episodes)
    try:
        _worker(cfg.model_dump_json(), env_config, str(tmp / "shard-000.zarr"), list(range(args.episodes)), sampler)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    seconds = time.perf_counter() - sampler.t0
    samples = sampler.samples
    # Warm-up: the first sample after episode 0 holds the loaded meshes and textures; growth is measured after it.
    first = samples[1][1] if len(samples) > 1 else samples[0][1]
    last = samples[-1][1]
    half = samples[len(samples) // 2][1]
    slope = (last - first) / max(samples[-1][0] - samples[1][0], 1) * 1000 if len(samples) > 2 else 0.0
    cmd = " ".join(["python scripts/bench_worker_memory.py", *sys.argv[1:]])
    if not args.no_write:
        (ROOT / "docs" / "bench_worker_memory.json").write_text(
            json.dumps({"command": cmd, "episodes": args.episodes, "samples": samples}, indent=1) + "\n"
        )
    text = "\n".join([
        "## Collection worker memory (`python scripts/bench_worker_memory.py`)",
        "",
        f"Measured {time.strftime('%Y-%m-%d')} on {platform.machine()}, 2 cores; command: `{cmd}`. The collector's "
        "worker function in one process: GraspKuka-v0 64x64 RGB, random policy (down_bias 1.0), one shard store; "
        f"RSS from /proc/self/status every {args.every} episodes (all samples in docs/bench_worker_memory.json).",
        "",
        "| episodes | RSS MiB |",
        "|---|---|",
        *(f"| {n} | {r:.1f} |" for n, r in samples[:: max(1, len(samples) // 10)]),
        *([f"| {samples[-1][0]} | {samples[-1][1]:.1f} |"] if (len(samples) - 1) % max(1, len(samples) // 10) else []),
        "",
        f"RSS after {samples[1][0] if len(samples) > 1 else 0} episodes {first:.1f} MiB, halfway {half:.1f} MiB, "
        f"after {samples[-1][0]} episodes {last:.1f} MiB: growth {last - first:+.1f} MiB "
        f"({slope:+.2f} MiB per 1,000 episodes, least-squares free: last minus first). "
        f"{args.episodes} episodes in {seconds / 60:.1f} min.",
        "",
    ])  # fmt: skip
    publish(text, write=not args.no_write)


if __name__ == "__main__":
    main()
