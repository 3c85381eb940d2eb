"""What a dataset holds: `robolearn info`. A dataset is a directory of shard stores or one store,
on a local path or at any fsspec URL (s3://bucket/dataset, ...)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import fsspec
import numpy as np

from robolearn.data.store import EpisodeStore, IncompleteStoreError, StoreError


def location(url: str | Path) -> tuple[fsspec.AbstractFileSystem, str]:
    """The filesystem holding `url` and the path on it (credentials and endpoints from the environment)."""
    return fsspec.core.url_to_fs(str(url))


def join(url: str | Path, name: str) -> str:
    return f"{str(url).rstrip('/')}/{name}"


def shard_paths(root: str | Path) -> list[str]:
    """The shard stores of a dataset directory, complete or not, as paths or URLs like `root`."""
    fs, path = location(root)
    return [join(root, Path(p).name) for p in sorted(fs.glob(join(path, "shard-*.zarr")))]


def campaign_manifest(url: str | Path) -> dict[str, Any] | None:
    """The campaign.json of the dataset at `url` (or of the dataset a shard store belongs to); None if none."""
    import json

    fs, path = location(url)
    for where in (path, path.rstrip("/").rsplit("/", 1)[0]):
        if fs.isfile(join(where, "campaign.json")):
            return json.loads(fs.cat_file(join(where, "campaign.json")))
    return None


def open_shards(paths: list[str]) -> list[EpisodeStore]:
    """Open each store for reading, passing over one whose creation was cut short (it holds no episode)."""
    stores = []
    for path in paths:
        try:
            stores.append(EpisodeStore.open(path))
        except IncompleteStoreError:
            continue
    return stores


def dataset_stores(url: str | Path) -> list[EpisodeStore]:
    """The stores of a dataset directory (its complete shards), or the one store at `url`."""
    fs, path = location(url)
    if not fs.exists(path):
        raise StoreError(f"{url}: no such dataset or store")
    if fs.isfile(path):
        raise StoreError(f"{url}: is a file, not a dataset directory or store")
    shards = shard_paths(url)
    return open_shards(shards) if shards else [EpisodeStore.open(url)]


def non_finite_episodes(store: EpisodeStore, key: str) -> list[int]:
    """Indices of the episodes with a NaN or infinite value in float frame feature `key`."""
    values = np.asarray(store.group[f"data/{key}"][: store.n_frames])
    bad_frames = ~np.isfinite(values.reshape(len(values), -1)).all(axis=1)
    if not bad_frames.any():
        return []
    return sorted(set(np.searchsorted(store.episode_ends, np.flatnonzero(bad_frames), side="right").tolist()))


def _disk_bytes(url: str) -> int:
    fs, path = location(url)
    return int(fs.du(path, total=True)) if fs.exists(path) else 0


def summarize(path: str | Path) -> dict[str, Any]:
    """Episodes, frames, success rate, shards, bytes on disk and the frame data's compression ratio."""
    stores = dataset_stores(path)
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
            disk += _disk_bytes(join(store.source, f"data/{key}"))
        total += _disk_bytes(store.source)
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
    """Read every committed episode of every shard; one line for each episode that cannot be read or
    holds a NaN or infinite float."""
    problems = []
    for store in dataset_stores(path):
        for k in range(store.n_episodes):
            try:
                episode = store.episode(k)
            except Exception as exc:  # noqa: BLE001 - any decode or I/O error marks the episode broken
                problems.append(f"{store.source}: episode {k} unreadable ({type(exc).__name__}: {str(exc)[:120]})")
                continue
            bad = [key for key, v in episode.items()
                   if np.asarray(v).dtype.kind == "f" and not np.isfinite(np.asarray(v, np.float64)).all()]  # fmt: skip
            if bad:
                problems.append(f"{store.source}: episode {k} has NaN or infinite values in {', '.join(bad)}")
    return problems
