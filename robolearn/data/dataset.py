"""A dataset as one object: every committed episode of every shard, for a user's own code.

    from robolearn.data import open_dataset

    ds = open_dataset("out/kuka_random")          # a dataset directory, one store, or an fsspec URL
    len(ds), ds.frame_features, ds.episode_features
    episode = ds[12]                               # frames (T, ...) and values of episode 12, over all shards
    for episode in ds: ...
    frames = ds.frames(keys=("rgb", "motor_command"), values=("success",))
    torch.utils.data.DataLoader(frames, batch_size=64)   # a map-style dataset of frames (numpy, collated to tensors)

`frames()` reads one frame at a time, which costs its chunk's decompression; it keeps the chunk it read last, so
reading in order is fast and shuffled reading is not. For shuffled training at scale, robolearn's loaders read whole
chunks (robolearn.data.stream).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from robolearn.data.info import dataset_stores
from robolearn.data.store import EpisodeStore, StoreError


class Dataset:
    """The committed episodes of a dataset's shards, numbered 0..len-1 shard after shard."""

    def __init__(self, stores: Sequence[EpisodeStore], source: str) -> None:
        if not stores:
            raise StoreError(f"{source}: holds no complete shard")
        self.stores, self.source = list(stores), source
        self.frame_features = dict(self.stores[0].frame_features)
        self.episode_features = dict(self.stores[0].episode_features)
        for s in self.stores[1:]:
            if s.frame_features != self.frame_features:
                raise StoreError(f"{s.source}: its frames hold other keys or shapes than {self.stores[0].source}'s")
        self.offsets = np.cumsum([0] + [s.n_episodes for s in self.stores])

    def __len__(self) -> int:
        return int(self.offsets[-1])

    @property
    def n_frames(self) -> int:
        return sum(s.n_frames for s in self.stores)

    def locate(self, k: int) -> tuple[EpisodeStore, int]:
        """(shard store, episode within it) of episode `k` of the dataset."""
        if not -len(self) <= k < len(self):
            raise IndexError(f"episode {k} out of range: {self.source} has {len(self)} episodes")
        k %= len(self)
        shard = int(np.searchsorted(self.offsets, k, side="right")) - 1
        return self.stores[shard], k - int(self.offsets[shard])

    def __getitem__(self, k: int) -> dict[str, Any]:
        store, j = self.locate(k)
        return store.episode(j)

    def __iter__(self) -> Iterator[dict[str, Any]]:
        for store in self.stores:
            for j in range(store.n_episodes):
                yield store.episode(j)

    def frames(self, keys: Sequence[str] | None = None, values: Sequence[str] = ()) -> FrameDataset:
        """A map-style dataset of every frame, for torch's DataLoader: each item a dict of the frame's `keys`
        (default: every frame key) and its episode's `values`, numpy arrays (the DataLoader collates them)."""
        keys = list(self.frame_features) if keys is None else list(keys)
        for key in keys:
            if key not in self.frame_features:
                raise StoreError(f"{self.source}: no frame key '{key}'; it has {', '.join(self.frame_features)}")
        for key in values:
            if key not in self.episode_features:
                raise StoreError(f"{self.source}: no episode value '{key}'; it has {', '.join(self.episode_features)}")
        return FrameDataset(self, keys, list(values))


class FrameDataset:
    """Frame i of a Dataset (its frames numbered shard after shard), read with the chunk it lies in kept."""

    def __init__(self, dataset: Dataset, keys: list[str], values: list[str]) -> None:
        self.dataset, self.keys, self.values = dataset, keys, values
        self.starts = np.cumsum([0] + [s.n_frames for s in dataset.stores])
        self.cache: dict[str, tuple[int, int, int, np.ndarray]] = {}  # key -> (shard, chunk start, end, data)
        self.episode_values: dict[int, dict[str, np.ndarray]] = {}  # shard -> its episodes' values

    def __len__(self) -> int:
        return int(self.starts[-1])

    def _read(self, shard: int, key: str, i: int) -> np.ndarray:
        store = self.dataset.stores[shard]
        hit = self.cache.get(key)
        if hit is None or hit[0] != shard or not hit[1] <= i < hit[2]:
            array = store.group[f"data/{key}"]
            size = array.chunks[0]
            start = i - i % size
            end = min(start + size, store.n_frames)
            hit = (shard, start, end, store.read(f"data/{key}", start, end))
            self.cache[key] = hit
        return hit[3][i - hit[1]]

    def __getitem__(self, i: int) -> dict[str, np.ndarray]:
        if not 0 <= i < len(self):
            raise IndexError(f"frame {i} out of range: {self.dataset.source} has {len(self)} frames")
        shard = int(np.searchsorted(self.starts, i, side="right")) - 1
        j = i - int(self.starts[shard])
        store = self.dataset.stores[shard]
        item = {key: np.array(self._read(shard, key, j)) for key in self.keys}
        if self.values:
            if shard not in self.episode_values:
                self.episode_values[shard] = {key: store.values(key) for key in self.values}
            episode = int(np.searchsorted(store.episode_ends, j, side="right"))
            item |= {key: np.asarray(v[episode]) for key, v in self.episode_values[shard].items()}
        return item


def open_dataset(url: str | Path) -> Dataset:
    """The dataset at `url` (a directory of shard stores, one store, or an fsspec URL of either) as one Dataset."""
    return Dataset(dataset_stores(url), str(url))
