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


def dataset_stores(url: str | Path, *, verify: bool = True) -> list[EpisodeStore]:
    """The stores of a dataset directory (its complete shards), or the one store at `url`. With `verify`, a dataset
    with a lost chunk or shard is refused in one line (robolearn.data.integrity), rather than read as zeros."""
    fs, path = location(url)
    if not fs.exists(path):
        raise StoreError(f"{url}: no such dataset or store")
    if fs.isfile(path):
        raise StoreError(f"{url}: is a file, not a dataset directory or store")
    shards = shard_paths(url)
    stores = open_shards(shards) if shards else [EpisodeStore.open(url)]
    if verify:
        from robolearn.data.integrity import verify as refuse_lost_chunks

        refuse_lost_chunks(url, stores)
    return stores


def non_finite_episodes(store: EpisodeStore, key: str) -> list[int]:
    """Indices of the episodes with a NaN or infinite value in float frame feature `key`."""
    values = np.asarray(store.frames(key))
    bad_frames = ~np.isfinite(values.reshape(len(values), -1)).all(axis=1)
    if not bad_frames.any():
        return []
    return sorted(set(np.searchsorted(store.episode_ends, np.flatnonzero(bad_frames), side="right").tolist()))


def _disk_bytes(url: str) -> int:
    fs, path = location(url)
    return int(fs.du(path, total=True)) if fs.exists(path) else 0


def summarize(path: str | Path) -> dict[str, Any]:
    """Episodes, frames, success rate, shards, bytes on disk and the frame data's compression ratio."""
    stores = dataset_stores(path, verify=False)
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
    """Every chunk of every shard decoded: one line per lost shard, lost or damaged chunk (naming the shard, the
    array and the episodes) and per episode holding a NaN or infinite float. Each chunk is decoded once, by reading
    the episodes; a store where a read fails is then searched chunk by chunk for every damaged one."""
    from robolearn.data.integrity import chunk_problems, lost_shards

    problems = [f"{shard}: holds chunks but no zarr.json (its metadata is lost)" for shard in lost_shards(str(path))]
    for store in dataset_stores(path, verify=False):
        damaged = chunk_problems(store.source)  # lost chunks, found by listing
        not_finite = []
        for k in range(store.n_episodes):
            if any(p.episodes[0] <= k <= p.episodes[1] for p in damaged):
                continue
            try:
                episode = store.episode(k)
            except StoreError:  # a chunk that cannot be decoded: name every one of this store's
                damaged = chunk_problems(store.source, read=True)
                continue
            bad = [key for key, v in episode.items()
                   if np.asarray(v).dtype.kind == "f" and not np.isfinite(np.asarray(v, np.float64)).all()]  # fmt: skip
            if bad:
                not_finite.append(f"{store.source}: episode {k} has NaN or infinite values in {', '.join(bad)}")
        problems += [p.line() for p in damaged] + not_finite
    return problems
