"""Digests of a `robolearn reproduce` (or scripts/reproduce_grasping.py) run folder: proof that a refactor
changed no result.

    python research/reproduce_digest.py out/reproduce_tiny

Prints one sha256 over every trained model's tensors (each checkpoint's model.safetensors, by name, in
sorted order) and one over every per-episode outcome (each collected episode's index, seed and success;
each evaluated episode's policy, seed and success), then the parts. Two runs of the same recipe at the same
scale, before and after a change, must print the same two digests.
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import numpy as np
from safetensors.numpy import load_file


def weights_digest(root: Path) -> tuple[str, int]:
    h, n = hashlib.sha256(), 0
    for f in sorted(root.glob("cnn/**/model.safetensors")):
        tensors = load_file(f)
        h.update(str(f.relative_to(root)).encode())
        for name in sorted(tensors):
            h.update(name.encode())
            h.update(np.ascontiguousarray(tensors[name]).tobytes())
        n += 1
    return h.hexdigest(), n


def outcomes_digest(root: Path) -> tuple[str, int]:
    import zarr

    h, n = hashlib.sha256(), 0
    for shard in sorted(root.glob("data/*/shard-*.zarr")):
        g = zarr.open_group(str(shard), mode="r")
        ends = g["meta/episode_ends"][:]
        k = int((ends > 0).sum())
        rows = sorted(zip(g["meta/index"][:k].tolist(), g["meta/seed"][:k].tolist(), g["meta/success"][:k].tolist()))
        h.update(f"{shard.parent.name}:{rows}".encode())
        n += k
    report = root / "eval" / "report.json"
    if report.exists():
        for name, r in json.loads(report.read_text())["policies"].items():
            rows = [(e["seed"], e["success"]) for e in r["per_episode"]]
            h.update(f"{name}:{rows}".encode())
            n += len(rows)
    curve = root / "learning_curve.json"
    if curve.exists():
        h.update(str([(p["round"], p["models"], p["success"]) for p in json.loads(curve.read_text())]).encode())
    return h.hexdigest(), n


def main() -> None:
    root = Path(sys.argv[1])
    w, models = weights_digest(root)
    o, episodes = outcomes_digest(root)
    print(f"weights  {w}  ({models} model files)")
    print(f"outcomes {o}  ({episodes} episodes)")


if __name__ == "__main__":
    main()
