"""A resumable stream of shuffled training batches over selected episodes of (sharded) episode stores.

Reading one random frame from a compressed store costs a whole chunk's decompression, so the
streaming loader reads whole chunks (a *unit*: the frames of one rgb chunk) in a shuffled order and
mixes them in a shuffle buffer of `buffer_frames` frames; worker processes each stream their share
of the units. When the selected frames fit in `memory_limit_mb` they are read once into memory
instead and shuffled by permutation.

The batch sequence is a function of (seed, number of streams, process rank and count) alone, and
`batches(start_step)` starts it at any step without reading the skipped epochs, so a resumed
training run sees exactly the batches an uninterrupted one would.

Nothing here knows a task: a `Selection` says which episodes of a store, which per-episode labels each of their
frames carries, and which per-frame arrays replace or join the store's. Task samplers make selections (grasp
frames: robolearn.data.grasp).
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

from robolearn.data.augment import shift_offsets
from robolearn.data.store import EpisodeStore, StoreError

UNIT_FRAMES = 32  # frames per read at least (whole chunks); see Selection.units


@dataclass(frozen=True)
class Selection:
    """Episodes of one store chosen for a split: `chosen` (E,) bool; `labels`: per-episode arrays (E,) that every
    frame of the episode carries (a grasp's success); `frames`: per-frame arrays (the store's N frames) read in
    place of, or beside, the store's frame keys. `chunk`: frames per chunk of the store's images."""

    source: str
    ends: np.ndarray
    chosen: np.ndarray
    chunk: int
    labels: dict[str, np.ndarray] = field(default_factory=dict)
    frames: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def n_frames(self) -> int:
        starts = np.concatenate([[0], self.ends[:-1]])
        return int(np.sum((self.ends - starts)[self.chosen]))

    def units(self) -> list[tuple[int, int]]:
        """(start, end) frame ranges read at once that hold a chosen frame: whole rgb chunks, as many as
        make UNIT_FRAMES frames (large frames are chunked one or two to a chunk, and a read per chunk
        costs more in per-call overhead than in decompression)."""
        if not self.chosen.any():
            return []
        n = int(self.ends[-1])
        step = self.chunk * max(1, -(-UNIT_FRAMES // self.chunk))
        out = []
        for start in range(0, n, step):
            end = min(start + step, n)
            first, last = np.searchsorted(self.ends, [start, end - 1], side="right")
            if self.chosen[first : last + 1].any():
                out.append((start, end))
        return out

    def frame_labels(self, start: int, end: int) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """For frames start..end-1: (chosen mask, each label of the frame's episode)."""
        episode = np.searchsorted(self.ends, np.arange(start, end), side="right")
        return self.chosen[episode], {k: v[episode] for k, v in self.labels.items()}


class _Reader:
    """Opens stores lazily (once per process) and reads a unit's chosen frames: frame `keys`, then the selection's
    own frame arrays, then its labels."""

    def __init__(self, selections: Sequence[Selection], keys: tuple[str, ...]) -> None:
        self.selections, self.keys = selections, keys
        self.arrays: dict[int, dict] = {}  # opening an array reads its metadata: once per store and key
        self.stores: dict[int, EpisodeStore] = {}

    def read(self, k: int, start: int, end: int) -> dict[str, np.ndarray]:
        if k not in self.arrays:
            self.stores[k] = EpisodeStore.open(self.selections[k].source)
            self.arrays[k] = {key: self.stores[k].group[f"data/{key}"] for key in self.keys}
        selection = self.selections[k]
        mask, labels = selection.frame_labels(start, end)
        out = {}
        for key, a in self.arrays[k].items():
            if key not in selection.frames:
                try:
                    out[key] = a[start:end][mask]
                except Exception as exc:  # noqa: BLE001 - a chunk that cannot be decoded
                    raise self.stores[k].damaged(f"data/{key}", start, end, exc) from None
        out.update({key: a[start:end][mask] for key, a in selection.frames.items()})
        out.update({key: v[mask] for key, v in labels.items()})
        return out


def _count(batch: dict[str, np.ndarray]) -> int:
    return len(next(iter(batch.values())))


def _mix(a: np.ndarray, b: int) -> np.ndarray:
    """A 64-bit hash (splitmix64) of each value of `a` with salt `b`: uniform in [0, 1)."""
    with np.errstate(over="ignore"):
        z = a.astype(np.uint64) + np.uint64(b) * np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        z = z ^ (z >> np.uint64(31))
    return (z >> np.uint64(11)).astype(np.float64) / float(1 << 53)


def held_out(store: EpisodeStore, fraction: float, split_seed: int) -> np.ndarray:
    """(E,) bool: the episodes held out of training, a `fraction` of them chosen by a hash of each episode's seed
    (its index where the store has no seeds), so a split depends on the episodes alone, not on their order."""
    seeds = store.values("seed") if "seed" in store.episode_features else np.arange(store.n_episodes)
    return _mix(np.asarray(seeds), split_seed) < fraction


def _emit_counts(sizes: Sequence[int], buffer: int, batch: int) -> list[int]:
    """Batches emitted after each unit of `sizes` frames by the shuffle buffer (see `_Stream`), and
    at the end of the epoch. Depends on counts only, so skipping an epoch needs no reading."""
    counts, held = [], 0
    for n in sizes:
        held += n
        k = (held - buffer // 2) // batch if held >= buffer else 0
        counts.append(k)
        held -= k * batch
    counts.append(held // batch)
    return counts


class _Buffer:
    """Frames held for shuffling, in preallocated arrays (no copy of the whole buffer per unit read)."""

    def __init__(self, capacity: int) -> None:
        self.capacity, self.n, self.arrays = capacity, 0, None

    def add(self, new: dict[str, np.ndarray]) -> None:
        m = _count(new)
        if self.arrays is None:
            self.arrays = {k: np.empty((self.capacity, *v.shape[1:]), v.dtype) for k, v in new.items()}
        if self.n + m > self.capacity:  # a unit larger than expected: grow
            self.capacity = 2 * (self.n + m)
            self.arrays = {k: np.concatenate([v[: self.n], np.empty((self.capacity - self.n, *v.shape[1:]), v.dtype)])
                           for k, v in self.arrays.items()}  # fmt: skip
        for k, v in new.items():
            self.arrays[k][self.n : self.n + m] = v
        self.n += m

    def take(self, perm: np.ndarray, count: int) -> dict[str, np.ndarray]:
        """The frames perm[:count] out; the frames kept beyond the first n - count slots fill the holes
        they leave (at most `count` frames move, not the whole buffer: at 472 px a frame is 668 kB)."""
        taken = perm[:count]
        out = {k: v[taken] for k, v in self.arrays.items()}
        keep = self.n - count
        holes = np.sort(taken[taken < keep])
        tail = np.ones(count, bool)
        tail[taken[taken >= keep] - keep] = False
        movers = keep + np.flatnonzero(tail)  # kept frames in the last `count` slots, as many as holes
        for v in self.arrays.values():
            v[holes] = v[movers]
        self.n = keep
        return out


class _Stream:
    """One stream's infinite sequence of batches: epochs of its share of units, in a shuffled order,
    through a shuffle buffer that holds `buffer` frames and emits random batches once full."""

    def __init__(self, loader: StreamingLoader, stream: int) -> None:
        self.loader, self.stream = loader, stream
        self.reader = _Reader(loader.selections, loader.keys)

    def units(self, epoch: int) -> list[tuple[int, int, int]]:
        ld = self.loader
        order = np.random.default_rng([ld.seed, epoch]).permutation(len(ld.units))
        share = order[ld.rank :: ld.world][self.stream :: ld.streams]
        return [ld.units[i] for i in share]

    def batches(self, skip: int) -> Iterator[dict[str, np.ndarray]]:
        ld = self.loader
        bs = ld.batch_size
        epoch = 0
        buf = _Buffer(ld.buffer + max(ld.sizes.values()) + bs)
        while True:
            units = self.units(epoch)
            counts = _emit_counts([ld.sizes[u] for u in units], ld.buffer, bs)
            if skip >= sum(counts):  # skip a whole epoch without reading it
                skip, epoch = skip - sum(counts), epoch + 1
                continue
            rng = np.random.default_rng([ld.seed, epoch, ld.rank, self.stream, 1])
            buf.n = 0
            for part, k in zip([*units, None], counts):
                if part is not None:
                    buf.add(self.reader.read(*part))
                if k == 0:
                    continue
                out = buf.take(rng.permutation(buf.n), k * bs)
                for j in range(k):
                    offsets = shift_offsets(rng, bs, ld.pad)  # drawn even when skipped: the RNG stays in step
                    if skip:
                        skip -= 1
                        continue
                    batch = {key: v[j * bs : (j + 1) * bs] for key, v in out.items()}
                    if ld.pad:
                        batch["shift"] = offsets.T
                    yield batch
            epoch += 1


class _StreamDataset(torch.utils.data.IterableDataset):
    def __init__(self, loader: StreamingLoader, start_step: int) -> None:
        self.loader, self.start_step = loader, start_step

    def __iter__(self):
        info = torch.utils.data.get_worker_info()
        stream = info.id if info else 0
        s = self.loader.streams
        skip = max(0, math.ceil((self.start_step - stream) / s))  # global batch g comes from stream g % s
        for batch in _Stream(self.loader, stream).batches(skip):
            yield {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in batch.items()}


class StreamingLoader:
    """An infinite, resumable stream of shuffled training batches over the selected episodes.

    `workers` processes (0: read in this process) each stream their share of the rgb chunks; fewer
    (`self.workers`) where the data cannot give each of them a batch in every epoch. Batch g comes
    from stream g % streams. `rank`/`world` shard the units between data-parallel
    processes. In memory mode (`in_memory=True`) the frames are read once and batches are
    permutations of them.
    """

    def __init__(self, selections: Sequence[Selection], *, keys: Sequence[str], batch_size: int,
                 buffer_frames: int = 4096, workers: int = 2, seed: int = 0, pad: int = 4, rank: int = 0,
                 world: int = 1, in_memory: bool = False) -> None:  # fmt: skip
        self.selections, self.keys = list(selections), tuple(keys)
        self.batch_size, self.buffer = batch_size, max(buffer_frames, batch_size)
        self.seed, self.pad, self.rank, self.world = seed, pad, rank, world
        self.units = [(k, a, b) for k, s in enumerate(self.selections) for a, b in s.units()]
        self.sizes = {u: int(self.selections[u[0]].frame_labels(u[1], u[2])[0].sum()) for u in self.units}
        self.n_frames = sum(self.sizes.values())
        self.streams = self._streams(max(workers, 1))
        self.workers = min(workers, self.streams)
        self.memory = self._load_all() if in_memory else None

    def _streams(self, wanted: int) -> int:
        """The most streams (<= wanted) of which each gets at least one batch in every epoch. A stream's
        share is at least (units // world) // streams units, of whatever sizes the epoch's order gives it."""
        smallest = np.cumsum(sorted(self.sizes.values()))
        for streams in range(wanted, 0, -1):
            m = len(self.units) // self.world // streams
            if m and smallest[m - 1] >= self.batch_size:
                return streams
        raise StoreError(
            f"the selected episodes hold {self.n_frames} frames in {len(self.units)} reads, too few for "
            f"one batch of {self.batch_size} per process in every epoch ({self.world} processes)"
        )

    def _load_all(self) -> dict[str, np.ndarray]:
        reader = _Reader(self.selections, self.keys)
        mine = self.units[self.rank :: self.world]
        parts = [reader.read(*u) for u in mine]
        return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}

    def batches(self, start_step: int = 0) -> Iterator[dict[str, torch.Tensor]]:
        """Batches (each of `keys` and of the selections' frame arrays and labels, (B, ...); with pad > 0, shift
        (B,2) for `random_shift`) from global step `start_step` on."""
        if self.memory is not None:
            yield from self._memory_batches(start_step)
            return
        ds = _StreamDataset(self, start_step)
        if self.workers == 0:
            yield from ds
            return
        yield from torch.utils.data.DataLoader(ds, batch_size=None, num_workers=self.workers, prefetch_factor=4,
                                               multiprocessing_context="spawn", persistent_workers=False)  # fmt: skip

    def _memory_batches(self, start_step: int) -> Iterator[dict[str, torch.Tensor]]:
        n = _count(self.memory)
        per_epoch = n // self.batch_size
        epoch, first = divmod(start_step, per_epoch)
        while True:
            rng = np.random.default_rng([self.seed, epoch, self.rank, 2])
            perm = rng.permutation(n)
            offsets = shift_offsets(rng, per_epoch * self.batch_size, self.pad)
            for j in range(first, per_epoch):
                sl = slice(j * self.batch_size, (j + 1) * self.batch_size)
                batch = {k: v[perm[sl]] for k, v in self.memory.items()}
                if self.pad:
                    batch["shift"] = offsets[:, sl].T
                yield {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in batch.items()}
            epoch, first = epoch + 1, 0


def iterate_all(selections: Sequence[Selection], batch_size: int,
                keys: Sequence[str]) -> Iterator[dict[str, torch.Tensor]]:  # fmt: skip
    """Every selected frame once, in store order, in batches (validation): chunk by chunk."""
    reader = _Reader(selections, tuple(keys))
    held: dict[str, np.ndarray] | None = None
    for k, s in enumerate(selections):
        for a, b in s.units():
            new = reader.read(k, a, b)
            held = new if held is None else {key: np.concatenate([held[key], new[key]]) for key in new}
            while _count(held) >= batch_size:
                yield {key: torch.from_numpy(v[:batch_size]) for key, v in held.items()}
                held = {key: v[batch_size:] for key, v in held.items()}
    if held is not None and _count(held):
        yield {key: torch.from_numpy(np.ascontiguousarray(v)) for key, v in held.items()}
