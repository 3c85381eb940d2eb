"""Benchmark TCN training on this machine's CPU; writes a section of docs/BENCHMARKS.md.

On a synthetic multi-view store (a square moving across V = 4 cameras, robolearn.data.synthetic), `robolearn train`'s
TCN loop with the CPU network at 64 px and 128 px: training images per second (anchors and positives, each embedded
once; validation and checkpoints apart), and the share of each step spent assembling its batch from memory (the
loader must keep up: at least 3x a step's consumption, i.e. a share under 25%).

    python scripts/bench_tcn.py [--steps 30]
"""

from __future__ import annotations

import argparse
import platform
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))

from benchdoc import publish  # noqa: E402

from robolearn.data.synthetic import write_moving_shape_store  # noqa: E402
from robolearn.train.tcn import TCNTrainConfig, train  # noqa: E402


def measure(tmp: Path, size: int, steps: int) -> dict:
    store = tmp / f"mv{size}.zarr"
    write_moving_shape_store(store, episodes=40, frames=16, views=4, size=size)
    cfg = TCNTrainConfig(preset="cpu", model={"image_size": size}, steps=steps, eval_every=steps,
                         checkpoint_every=steps, out=str(tmp / f"run{size}"),
                         data={"stores": [str(store)], "episodes": 4, "window": 8})  # fmt: skip
    summary = train(cfg, progress=False)
    return {"size": size, "images_per_s": summary["images_per_s"], "batch_fraction": summary["batch_fraction"]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=30, help="training steps per measurement")
    ap.add_argument("--no-write", action="store_true", help="print the section without writing docs/BENCHMARKS.md")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench_tcn_") as tmp:
        rows = [measure(Path(tmp), size, args.steps) for size in (64, 128)]
    cmd = " ".join(["python scripts/bench_tcn.py", *sys.argv[1:]])
    lines = [
        f"## TCN training on CPU (`make bench` → `{cmd}`, {time.strftime('%Y-%m-%d')})",
        "",
        f"{platform.machine()}, {torch.get_num_threads()} torch threads, torch {torch.__version__}. The CPU network "
        f"(`preset = \"cpu\"`), n-pairs loss, batches of 4 episodes x 8 moments (64 images: anchors and positives), "
        f"{args.steps} steps, a synthetic 4-view store read into memory.",
        "",
        "| image size | training images/s | batch assembly, share of a step | loader / step consumption |",
        "|---|---|---|---|",
    ]  # fmt: skip
    for r in rows:
        ratio = (1 - r["batch_fraction"]) / r["batch_fraction"] if r["batch_fraction"] else float("inf")
        lines.append(f"| {r['size']} px | {r['images_per_s']:.0f} | {100 * r['batch_fraction']:.1f}% | "
                     f"{ratio:.0f}x |")  # fmt: skip
    lines += ["", "A step's batch is gathered by index from the episodes in memory (`robolearn/data/tcn.py`); the "
              "network's forward and backward passes take the rest of the step.", ""]  # fmt: skip
    publish("\n".join(lines), write=not args.no_write)


if __name__ == "__main__":
    main()
