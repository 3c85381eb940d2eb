"""What a dataset holds: `robolearn info`. A dataset is a directory of shard stores or one store."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from robolearn.data.store import EpisodeStore, IncompleteStoreError, StoreError


def shard_paths(root: str | Path) -> list[Path]:
    """The shard stores' paths of a dataset directory, complete or not."""
    return sorted(Path(root).glob("shard-*.zarr"))


def open_shards(paths: list[Path]) -> list[EpisodeStore]:
    """Open each store for reading, passing over one whose creation was cut short (it holds no episode)."""
    stores = []
    for path in paths:
        try:
            stores.append(EpisodeStore.open(path))
        except IncompleteStoreError:
            continue
    return stores


def open_dataset(path: str | Path) -> list[EpisodeStore]:
    """The stores of a dataset directory (its complete shards), or the one store at `path`."""
    path = Path(path)
    if not path.exists():
        raise StoreError(f"{path}: no such dataset or store")
    if path.is_file():
        raise StoreError(f"{path}: is a file, not a dataset directory or store")
    shards = shard_paths(path)
    return open_shards(shards) if shards else [EpisodeStore.open(path)]


def _disk_bytes(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def summarize(path: str | Path) -> dict[str, Any]:
    """Episodes, frames, success rate, shards, bytes on disk and the frame data's compression ratio."""
    stores = open_dataset(path)
    episodes = frames = 0
    successes = 0.0
    raw = disk = total = 0
    for store in stores:
        episodes += store.n_episodes
        frames += store.n_frames
        if "success" in store.episode_features and store.n_episodes:
            successes += float(np.sum(store.values("success")))
        for key, f in store.frame_features.items():
            raw += store.n_frames * int(np.prod(f.shape, dtype=np.int64)) * np.dtype(f.dtype).itemsize
            disk += _disk_bytes(Path(store.source) / "data" / key)
        total += _disk_bytes(Path(store.source))
    return {
        "path": str(path),
        "shards": len(stores),
        "episodes": episodes,
        "frames": frames,
        "success_rate": successes / episodes if episodes else None,
        "bytes_on_disk": total,
        "bytes_per_frame": total / frames if frames else None,
        "compression_ratio": raw / disk if disk else None,
    }


def check(path: str | Path) -> list[str]:
    """Read every committed episode of every shard; one line for each episode that cannot be read."""
    problems = []
    for store in open_dataset(path):
        for k in range(store.n_episodes):
            try:
                store.episode(k)
            except Exception as exc:  # noqa: BLE001 - any decode or I/O error marks the episode broken
                problems.append(f"{store.source}: episode {k} unreadable ({type(exc).__name__}: {str(exc)[:120]})")
    return problems
