"""The episode store: zarr v3, time-first (like diffusion_policy's ReplayBuffer), crash-safe.

    store.zarr/
      zarr.json            attrs: robolearn.schema_version, robolearn.version, features, user attrs
      data/<key>           (N, ...) every frame of every episode, concatenated
      meta/episode_ends    (E,) int64 cumulative end index: the commit point
      meta/<key>           (E, ...) one value per episode

Commit protocol of `add_episode`: frames are appended to every data/<key>, then the episode's
values to every meta/<key>, and last `meta/episode_ends` grows by one entry holding the new end.
Each zarr write replaces a whole file atomically (local and object stores alike), and a new
episode_ends entry reads as -1 until its value lands, so a reader trusts exactly the leading
run of increasing entries. A writer that reopens a store cuts everything past the last commit.
A process killed at any moment loses at most the episode it was writing.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import zarr

import robolearn
from robolearn.features import Feature

SCHEMA_VERSION = 1
ENDS = "meta/episode_ends"
# Every chunk is written, even one equal to the fill value (zarr leaves those out by default), so that a chunk that
# is not there was lost: robolearn.data.integrity tells lost chunks from legitimately empty ones by this alone.
WRITE_EVERY_CHUNK = {"array.write_empty_chunks": True}


class StoreError(ValueError):
    """A store that cannot be used as asked, described in one line."""


class IncompleteStoreError(StoreError):
    """A zarr group without robolearn attributes: foreign, or a creation cut short (so it holds no episodes)."""


def _chunk_len(feature: Feature, target_bytes: int = 1 << 20) -> int:
    """Frames per chunk: whole frames along time, about `target_bytes` uncompressed."""
    item = int(np.prod(feature.shape, dtype=np.int64)) * np.dtype(feature.dtype).itemsize
    return int(max(1, min(4096, target_bytes // max(item, 1))))


def episodes_holding(ends: np.ndarray, start: int, stop: int) -> tuple[int, int]:
    """The first and last episodes (ending at `ends`, cumulative) that hold frames `start`..`stop - 1`."""
    return int(np.searchsorted(ends, start, side="right")), int(np.searchsorted(ends, stop - 1, side="right"))


def valid_prefix(ends: np.ndarray) -> int:
    """Number of leading entries that are committed: positive and strictly increasing."""
    n, prev = 0, 0
    for e in ends:
        if e <= prev:
            break
        n, prev = n + 1, int(e)
    return n


class EpisodeStore:
    """Episodes of frames in one zarr group. Open with `create` or `open`; write with `add_episode`."""

    def __init__(self, group: zarr.Group, *, writable: bool, source: str) -> None:
        self.group = group
        self.writable = writable
        self.source = source
        attrs = group.attrs.get("robolearn", {})
        self.frame_features = {k: Feature.from_json(v) for k, v in attrs["frame_features"].items()}
        self.episode_features = {k: Feature.from_json(v) for k, v in attrs["episode_features"].items()}
        ends = group[ENDS][:]
        self._n = valid_prefix(ends)
        self._ends = ends[: self._n].astype(np.int64)

    # -- opening --------------------------------------------------------------------------
    @classmethod
    def create(cls, path: str | Path, *, frame_features: Mapping[str, Feature],
               episode_features: Mapping[str, Feature], attrs: Mapping[str, Any] | None = None,
               storage_options: dict | None = None, chunk_bytes: int = 1 << 20) -> EpisodeStore:  # fmt: skip
        """A new, empty store at `path` (a local path or an fsspec URL); refuses to overwrite one. Frame
        arrays are chunked in whole frames, about `chunk_bytes` uncompressed per chunk."""
        source = str(path)
        _check_target(source, must_exist=False)
        group = zarr.open_group(source, mode="w-", storage_options=storage_options)
        with zarr.config.set(WRITE_EVERY_CHUNK):
            cls._create_arrays(group, frame_features, episode_features, chunk_bytes)
        if attrs:
            group.attrs["user"] = dict(attrs)
        # Written last: a store whose creation was cut short has no robolearn attributes, and no episodes.
        group.attrs["robolearn"] = {
            "schema_version": SCHEMA_VERSION,
            "version": robolearn.__version__,
            "frame_features": {k: f.to_json() for k, f in frame_features.items()},
            "episode_features": {k: f.to_json() for k, f in episode_features.items()},
            "every_chunk_written": True,
        }
        return cls(group, writable=True, source=source)

    @staticmethod
    def _create_arrays(group: zarr.Group, frame_features: Mapping[str, Feature],
                       episode_features: Mapping[str, Feature], chunk_bytes: int) -> None:  # fmt: skip
        for key, f in frame_features.items():
            group.create_array(f"data/{key}", shape=(0, *f.shape), chunks=(_chunk_len(f, chunk_bytes), *f.shape),
                               dtype=f.dtype)  # fmt: skip
        for key, f in episode_features.items():
            group.create_array(f"meta/{key}", shape=(0, *f.shape), chunks=(1024, *f.shape), dtype=f.dtype)
        group.create_array(ENDS, shape=(0,), chunks=(1024,), dtype="int64", fill_value=-1)

    @classmethod
    def open(cls, path: str | Path, mode: str = "r", *, storage_options: dict | None = None) -> EpisodeStore:
        """Open an existing store to read ('r') or to append ('a'); appending cuts what lies past the last commit."""
        if mode not in ("r", "a"):
            raise ValueError(f"mode must be 'r' or 'a', got {mode!r}")
        source = str(path)
        _check_target(source, must_exist=True)
        try:
            group = zarr.open_group(source, mode="r" if mode == "r" else "r+", storage_options=storage_options)
        except zarr.errors.GroupNotFoundError:  # the folder is there, its zarr.json not (yet): a shard being created
            if "://" not in source and any(Path(source).glob("shard-*.zarr")):
                raise StoreError(f"{source}: a dataset of shard stores, not one store; read it with "
                                 "robolearn.data.open_dataset") from None  # fmt: skip
            raise IncompleteStoreError(f"{source}: not a zarr store, or one being created (no zarr.json)") from None
        except FileNotFoundError as exc:
            raise StoreError(f"{source}: not a zarr store ({type(exc).__name__})") from None
        meta = group.attrs.get("robolearn")
        if not isinstance(meta, dict) or "schema_version" not in meta:
            raise IncompleteStoreError(f"{source}: not a robolearn store, or one whose creation was cut short "
                                       "(no robolearn attributes in zarr.json)")  # fmt: skip
        if meta["schema_version"] != SCHEMA_VERSION:
            raise StoreError(f"{source}: store schema version {meta['schema_version']}, this robolearn reads version "
                             f"{SCHEMA_VERSION}")  # fmt: skip
        store = cls(group, writable=mode == "a", source=source)
        store._check_invariant()
        if mode == "a":
            store._cut_uncommitted()
        return store

    def _check_invariant(self) -> None:
        end = int(self._ends[-1]) if self._n else 0
        for key in self.frame_features:
            if self.group[f"data/{key}"].shape[0] < end:
                raise StoreError(f"{self.source}: data/{key} holds {self.group[f'data/{key}'].shape[0]} frames but "
                                 f"committed episodes end at frame {end}")  # fmt: skip
        for key in self.episode_features:
            if self.group[f"meta/{key}"].shape[0] < self._n:
                raise StoreError(f"{self.source}: meta/{key} holds fewer than the {self._n} committed episodes")

    def _cut_uncommitted(self) -> None:
        with zarr.config.set(WRITE_EVERY_CHUNK):
            self._cut()

    def _cut(self) -> None:
        end = int(self._ends[-1]) if self._n else 0
        for key, f in self.frame_features.items():
            arr = self.group[f"data/{key}"]
            if arr.shape[0] != end:
                arr.resize((end, *f.shape))
        for key, f in self.episode_features.items():
            arr = self.group[f"meta/{key}"]
            if arr.shape[0] != self._n:
                arr.resize((self._n, *f.shape))
        if self.group[ENDS].shape[0] != self._n:
            self.group[ENDS].resize((self._n,))

    # -- writing --------------------------------------------------------------------------
    def add_episode(self, frames: Mapping[str, np.ndarray], values: Mapping[str, Any]) -> int:
        """Append one episode (frames[key]: (T, *shape) for every frame key; one value per episode key); its index."""
        if not self.writable:
            raise StoreError(f"{self.source}: opened read-only")
        self._validate(frames, values)
        with zarr.config.set(WRITE_EVERY_CHUNK):
            return self._append(frames, values)

    def _append(self, frames: Mapping[str, np.ndarray], values: Mapping[str, Any]) -> int:
        t = len(next(iter(frames.values())))
        start = int(self._ends[-1]) if self._n else 0
        for key, f in self.frame_features.items():
            arr = self.group[f"data/{key}"]
            arr.resize((start + t, *f.shape))
            arr[start : start + t] = np.asarray(frames[key], dtype=f.dtype)
        for key, f in self.episode_features.items():
            arr = self.group[f"meta/{key}"]
            arr.resize((self._n + 1, *f.shape))
            arr[self._n] = np.asarray(values[key], dtype=f.dtype)
        ends = self.group[ENDS]
        ends.resize((self._n + 1,))
        ends[self._n] = start + t  # the commit
        self._ends = np.append(self._ends, start + t)
        self._n += 1
        return self._n - 1

    def _validate(self, frames: Mapping[str, np.ndarray], values: Mapping[str, Any]) -> None:
        missing = set(self.frame_features) - set(frames)
        extra = set(frames) - set(self.frame_features)
        if missing or extra:
            raise StoreError(f"{self.source}: episode frames must have keys {sorted(self.frame_features)}; "
                             f"missing {sorted(missing)}, unknown {sorted(extra)}")  # fmt: skip
        lengths = {key: len(v) for key, v in frames.items()}
        if len(set(lengths.values())) != 1 or 0 in lengths.values():
            raise StoreError(f"{self.source}: every frame key needs the same, non-zero number of frames; got {lengths}")
        for key, f in self.frame_features.items():
            shape = tuple(np.shape(frames[key])[1:])
            if shape != f.shape:
                raise StoreError(
                    f"{self.source}: frames '{key}' have shape {shape} per frame, the store holds {f.shape}"
                )
        missing = set(self.episode_features) - set(values)
        if missing:
            raise StoreError(f"{self.source}: episode values missing {sorted(missing)}")
        for key, f in self.episode_features.items():
            if tuple(np.shape(values[key])) != f.shape:
                raise StoreError(
                    f"{self.source}: value '{key}' has shape {np.shape(values[key])}, the store holds {f.shape}"
                )

    # -- reading --------------------------------------------------------------------------
    @property
    def n_episodes(self) -> int:
        return self._n

    @property
    def n_frames(self) -> int:
        return int(self._ends[-1]) if self._n else 0

    @property
    def episode_ends(self) -> np.ndarray:
        return self._ends.copy()

    def episode_slice(self, k: int) -> slice:
        if not 0 <= k < self._n:
            raise IndexError(f"episode {k} out of range: the store has {self._n} committed episodes")
        return slice(int(self._ends[k - 1]) if k else 0, int(self._ends[k]))

    def episode(self, k: int) -> dict[str, Any]:
        """Frames and values of committed episode `k`."""
        sl = self.episode_slice(k)
        out: dict[str, Any] = {key: self.read(f"data/{key}", sl.start, sl.stop) for key in self.frame_features}
        out.update({key: self.read(f"meta/{key}", k, k + 1)[0] for key in self.episode_features})
        return out

    def values(self, key: str) -> np.ndarray:
        """Per-episode `key` for every committed episode."""
        return self.read(f"meta/{key}", 0, self._n)

    def frames(self, key: str, stop: int | None = None) -> np.ndarray:
        """Frame feature `key` for every committed frame (the first `stop` of them): never the frames a writer killed
        mid-episode left past the last commit."""
        n = self.n_frames
        return self.read(f"data/{key}", 0, n if stop is None else min(stop, n))

    def read(self, key: str, start: int, stop: int) -> np.ndarray:
        """Rows `start`..`stop` of array `key` ('data/<frame key>': frames; 'meta/<key>': episodes); a chunk that
        cannot be decoded is a StoreError naming the store, the array and the episodes."""
        try:
            return self.group[key][start:stop]
        except Exception as exc:  # noqa: BLE001 - codecs raise many kinds; each means a damaged chunk here
            raise self.damaged(key, start, stop, exc) from None

    def damaged(self, key: str, start: int, stop: int, exc: BaseException) -> StoreError:
        """The one-line error for rows `start`..`stop` of array `key` that could not be decoded."""
        rows = "frames" if key.startswith("data/") else "episodes"
        first, last = episodes_holding(self._ends, start, stop) if key.startswith("data/") else (start, stop - 1)
        return StoreError(f"{self.source}: {key} {rows} {start}-{stop - 1} (episodes {first}-{last}) cannot be read "
                          f"({type(exc).__name__}): a damaged chunk; `robolearn info DATASET --check` names every "
                          "one, `--repair` collects those episodes again")  # fmt: skip

    @property
    def attrs(self) -> dict[str, Any]:
        return dict(self.group.attrs.get("user", {}))


def _check_target(source: str, *, must_exist: bool) -> None:
    if "://" in source:
        return  # object storage: zarr/fsspec report problems themselves
    path = Path(source)
    if path.exists() and not path.is_dir():
        raise StoreError(f"{source}: is a file, not a store directory")
    if must_exist and not path.exists():
        raise StoreError(f"{source}: no such store")
    if not must_exist and path.exists() and any(path.iterdir()):
        raise StoreError(f"{source}: already exists and is not empty; open it with mode 'a' to append")
    parent = path.parent if str(path.parent) else Path(".")
    if not must_exist and not parent.exists():
        raise StoreError(f"{source}: parent directory {parent} does not exist")
