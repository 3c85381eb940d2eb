"""Training batches from (sharded) episode stores: labelled frames (I_t, v_t, success).

Reading one random frame from a compressed store costs a whole chunk's decompression, so the
streaming loader reads whole chunks (a *unit*: the frames of one rgb chunk) in a shuffled order and
mixes them in a shuffle buffer of `buffer_frames` frames; worker processes each stream their share
of the units. When the selected frames fit in `memory_limit_mb` they are read once into memory
instead and shuffled by permutation.

The batch sequence is a function of (seed, number of streams, process rank and count) alone, and
`batches(start_step)` starts it at any step without reading the skipped epochs, so a resumed
training run sees exactly the batches an uninterrupted one would. Augmentation that is cheap on
uint8 (a random shift: pad by edge replication, crop back) happens here; colour jitter is applied
to float images on the training device (`color_jitter`), the last moment.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

from robolearn.config import ConfigError
from robolearn.data.store import EpisodeStore, StoreError
from robolearn.sim.objects import TEST_IDS

NEEDED_FRAMES = ("rgb", "motor_command")
NEEDED_VALUES = ("success",)
UNIT_FRAMES = 32  # frames per read at least (whole chunks); see Selection.units


@dataclass(frozen=True)
class Selection:
    """Episodes of one store chosen for a split; `success` per episode (E,), `chosen` (E,) bool; `frames`:
    per-frame arrays (the store's N frames) read in place of, or beside, the store's frame keys."""

    source: str
    ends: np.ndarray
    success: np.ndarray
    chosen: np.ndarray
    chunk: int
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

    def labels(self, start: int, end: int) -> tuple[np.ndarray, np.ndarray]:
        """For frames start..end-1: (chosen mask, success label)."""
        episode = np.searchsorted(self.ends, np.arange(start, end), side="right")
        return self.chosen[episode], self.success[episode].astype(np.float32)


def check_store(store: EpisodeStore, image_size: int | None = None, extra: tuple[str, ...] = ()) -> None:
    """Refuse, in one line, a store that lacks what grasp training reads or holds images of another size."""
    missing = [f"data/{k}" for k in (*NEEDED_FRAMES, *extra) if k not in store.frame_features]
    missing += [f"meta/{k}" for k in NEEDED_VALUES if k not in store.episode_features]
    if missing:
        raise StoreError(f"{store.source}: grasp training needs {', '.join(missing)}, which this store does not have")
    shape = store.frame_features["rgb"].shape
    if image_size is not None and shape != (image_size, image_size, 3):
        raise StoreError(f"{store.source}: rgb frames are {shape[0]}x{shape[1]}, the model takes "
                         f"{image_size}x{image_size} (set model.image_size or use another store)")  # fmt: skip
    for key in ("motor_command", *extra):
        bad = non_finite_episodes(store, key)
        if bad:
            raise StoreError(f"{store.source}: data/{key} is not finite in {len(bad)} episode(s), the first "
                             f"episode {bad[0]}; a NaN there crashes training (`robolearn info DATASET --check` lists them)")  # fmt: skip


def non_finite_episodes(store: EpisodeStore, key: str) -> list[int]:
    """Indices of the episodes with a NaN or infinite value in float frame feature `key`."""
    values = np.asarray(store.group[f"data/{key}"][: store.n_frames])
    bad_frames = ~np.isfinite(values.reshape(len(values), -1)).all(axis=1)
    if not bad_frames.any():
        return []
    return sorted(set(np.searchsorted(store.episode_ends, np.flatnonzero(bad_frames), side="right").tolist()))


def _mix(a: np.ndarray, b: int) -> np.ndarray:
    """A 64-bit hash (splitmix64) of each value of `a` with salt `b`: uniform in [0, 1)."""
    with np.errstate(over="ignore"):
        z = a.astype(np.uint64) + np.uint64(b) * np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        z = z ^ (z >> np.uint64(31))
    return (z >> np.uint64(11)).astype(np.float64) / float(1 << 53)


def select(stores: Sequence[EpisodeStore], *, holdout: float, split_seed: int, part: str) -> list[Selection]:
    """Choose episodes for `part`: 'train' (not held out, and no test-set object), 'holdout' (held
    out by a hash of the episode seed, a fraction `holdout`), or 'all'."""
    out = []
    test = np.asarray(sorted(TEST_IDS))
    for store in stores:
        n = store.n_episodes
        if part == "all":
            chosen = np.ones(n, bool)
        else:
            seeds = store.values("seed") if "seed" in store.episode_features else np.arange(n)
            held = _mix(np.asarray(seeds), split_seed) < holdout
            chosen = held if part == "holdout" else ~held
            if part == "train" and "object_ids" in store.episode_features:
                chosen &= ~np.isin(store.values("object_ids"), test).any(axis=1)
        rgb = store.group["data/rgb"]
        out.append(Selection(store.source, store.episode_ends, store.values("success"), chosen, rgb.chunks[0]))
    return out


def shift_offsets(rng: np.random.Generator, n: int, pad: int) -> np.ndarray:
    """(2, n) random (dy, dx) crop offsets for `random_shift`."""
    return rng.integers(0, 2 * pad + 1, size=(2, n))


def random_shift(rgb: torch.Tensor, pad: int, shift: torch.Tensor) -> torch.Tensor:
    """(B,H,W,C) images, each padded by `pad` (edge pixels repeated) and cropped back at its (dy, dx) in
    `shift` (B,2), in [0, 2 pad]. Done by the trainer on its device: at 472 px, the two copies of the
    batch that padding and cropping take on the CPU cost a loader worker more than reading it."""
    if pad <= 0:
        return rgb
    b, h, w = rgb.shape[:3]
    shift = shift.to(rgb.device, torch.long) - pad
    rows = (torch.arange(h, device=rgb.device) + shift[:, :1]).clamp_(0, h - 1)  # (B,H)
    cols = (torch.arange(w, device=rgb.device) + shift[:, 1:]).clamp_(0, w - 1)  # (B,W)
    return rgb[torch.arange(b, device=rgb.device)[:, None, None], rows[:, :, None], cols[:, None, :]]


def color_jitter(rgb: torch.Tensor, strength: float, generator: torch.Generator) -> torch.Tensor:
    """(B,H,W,3) uint8 -> float in [0,1] with random brightness, contrast and per-channel gain."""
    x = rgb.float() / 255
    if strength <= 0:
        return x
    b = x.shape[0]

    def u(*shape):
        return (torch.rand(*shape, generator=generator) * 2 - 1).to(x.device) * strength

    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    x = (x - mean) * (1 + u(b, 1, 1, 1)) + mean + u(b, 1, 1, 1)
    return (x * (1 + u(b, 1, 1, 3))).clamp(0, 1)


def mirror_plane(camera: Sequence[float], setting: str = "mirroring") -> tuple[np.ndarray, float]:
    """The vertical plane n . p + d = 0 (n a horizontal unit normal) that the camera of world-to-clip matrix
    `camera` (16 numbers, row-major) looks along: the points it draws on the image's middle column. Mirroring
    the world in it flips the image left to right. Refuses a rolled camera, whose plane is not vertical, with a
    ConfigError naming `setting`."""
    row = np.asarray(camera, np.float64).reshape(4, 4)[0]  # clip x = row . [p, 1]: zero on the plane
    norm = float(np.linalg.norm(row[:3]))
    if norm == 0 or abs(row[2]) > 1e-6 * norm:
        raise ConfigError(f"{setting} needs a camera whose image rows are level (roll 0); this one's are not")
    return row[:3] / norm, float(row[3] / norm)


def mirror(inputs: dict[str, torch.Tensor], camera: Sequence[float], flip: torch.Tensor) -> dict[str, torch.Tensor]:
    """The frames where `flip` (B,) is true as they would be in the world mirrored in the camera's vertical
    plane (`mirror_plane`): images, depth and segmentation masks flipped left to right, the gripper's position
    and the command's displacement reflected, their yaw angles reflected (a yaw y becomes 2a + pi - y, a the
    normal's angle; a change of yaw changes sign). The grasp's outcome is the same in the mirror world, for a
    gripper and physics that are mirror-symmetric; the objects are their mirror images."""
    n_np, d = mirror_plane(camera)
    a = math.atan2(n_np[1], n_np[0])
    c2, s2 = math.cos(2 * a + math.pi), math.sin(2 * a + math.pi)
    out = dict(inputs)
    for key, x in inputs.items():
        if key not in ("rgb", "depth", "segmentation", "motor_command", "state"):
            continue
        f = flip.to(x.device).view(-1, *[1] * (x.dim() - 1))
        if key in ("rgb", "depth", "segmentation"):
            out[key] = torch.where(f, x.flip(2), x)
            continue
        v = x.float()
        n = torch.tensor(n_np, dtype=torch.float32, device=x.device)
        if key == "motor_command":  # a displacement and a change of yaw
            moved = torch.cat([v[:, :3] - 2 * (v[:, :3] @ n)[:, None] * n, -v[:, 3:4], v[:, 4:5]], dim=1)
        else:  # a position, and sin, cos of a yaw y -> of 2a + pi - y; the rest is not geometry
            sin, cos = v[:, 3:4], v[:, 4:5]
            moved = torch.cat([v[:, :3] - 2 * (v[:, :3] @ n + d)[:, None] * n, s2 * cos - c2 * sin,
                               c2 * cos + s2 * sin, v[:, 5:]], dim=1)  # fmt: skip
        out[key] = torch.where(f, moved, v).to(x.dtype)
    return out


class _Reader:
    """Opens stores lazily (once per process) and reads a unit's chosen frames."""

    def __init__(self, selections: Sequence[Selection], extra: tuple[str, ...] = ()) -> None:
        self.selections, self.extra = selections, extra
        self.arrays: dict[int, dict] = {}  # opening an array reads its metadata: once per store and key

    def read(self, k: int, start: int, end: int) -> dict[str, np.ndarray]:
        if k not in self.arrays:
            g = EpisodeStore.open(self.selections[k].source).group
            self.arrays[k] = {key: g[f"data/{key}"] for key in (*NEEDED_FRAMES, *self.extra)}
        selection = self.selections[k]
        mask, success = selection.labels(start, end)
        out = {key: a[start:end][mask] for key, a in self.arrays[k].items() if key not in selection.frames}
        out.update({key: a[start:end][mask] for key, a in selection.frames.items()})
        out["success"] = success[mask]
        return out


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
        m = len(new["success"])
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
        self.reader = _Reader(loader.selections, loader.extra)

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

    def __init__(self, selections: Sequence[Selection], *, batch_size: int, buffer_frames: int = 4096,
                 workers: int = 2, seed: int = 0, pad: int = 4, rank: int = 0, world: int = 1,
                 in_memory: bool = False, extra: tuple[str, ...] = ()) -> None:  # fmt: skip
        self.selections, self.extra = list(selections), tuple(extra)
        self.batch_size, self.buffer = batch_size, max(buffer_frames, batch_size)
        self.seed, self.pad, self.rank, self.world = seed, pad, rank, world
        self.units = [(k, a, b) for k, s in enumerate(self.selections) for a, b in s.units()]
        self.sizes = {u: int(self.selections[u[0]].labels(u[1], u[2])[0].sum()) for u in self.units}
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
        reader = _Reader(self.selections, self.extra)
        mine = self.units[self.rank :: self.world]
        parts = [reader.read(*u) for u in mine]
        return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}

    def batches(self, start_step: int = 0) -> Iterator[dict[str, torch.Tensor]]:
        """Batches (rgb (B,H,W,3) uint8, motor_command (B,5), success (B,), with pad > 0 shift (B,2) for
        `random_shift`) from global step `start_step` on."""
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
        n = len(self.memory["success"])
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
                extra: tuple[str, ...] = ()) -> Iterator[dict[str, torch.Tensor]]:  # fmt: skip
    """Every selected frame once, in store order, in batches (validation): chunk by chunk. `extra`:
    frame keys read besides rgb and motor_command."""
    reader = _Reader(selections, extra)
    held: dict[str, np.ndarray] | None = None
    for k, s in enumerate(selections):
        for a, b in s.units():
            new = reader.read(k, a, b)
            held = new if held is None else {key: np.concatenate([held[key], new[key]]) for key in new}
            while len(held["success"]) >= batch_size:
                yield {key: torch.from_numpy(v[:batch_size]) for key, v in held.items()}
                held = {key: v[batch_size:] for key, v in held.items()}
    if held is not None and len(held["success"]):
        yield {key: torch.from_numpy(np.ascontiguousarray(v)) for key, v in held.items()}
