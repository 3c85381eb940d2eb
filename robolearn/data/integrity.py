"""Every chunk accounted for: which chunks of a store are lost (missing) or damaged (cannot be decoded), and which
episodes they hold.

zarr reads a missing chunk as its fill value (zeros, or -1 for episode_ends) without a word, so a lost rgb chunk
reads as black frames and a lost success chunk as failures. Stores written by this version write every chunk
(robolearn.data.store.WRITE_EVERY_CHUNK), so a chunk that is not there was lost. Stores written before did not write
chunks equal to the fill value; for those a missing chunk is reported as lost too (an all-zero chunk of real data is
rare: a whole chunk of failures, or of black frames).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import zarr

from robolearn.data.info import join, location, shard_paths
from robolearn.data.store import ENDS, StoreError, episodes_holding, valid_prefix


@dataclass(frozen=True)
class ChunkProblem:
    """A lost or damaged chunk of array `key` of the store at `store`: rows `rows` (frames for data/, episodes for
    meta/) and the store's episodes `episodes` (first, last) whose frames or values it held."""

    store: str
    key: str
    chunk: int
    rows: tuple[int, int]
    episodes: tuple[int, int]
    kind: str  # "missing" | "damaged"

    def line(self) -> str:
        what = "frames" if self.key.startswith("data/") else "entries"
        return (f"{self.store}: {self.key} chunk {self.chunk} ({what} {self.rows[0]}-{self.rows[1] - 1}) is "
                f"{self.kind}: episodes {self.episodes[0]}-{self.episodes[1]}")  # fmt: skip


def _present(source: str, key: str) -> set[int]:
    """Indices along time of the chunks of array `key` that exist (zarr v3's default chunk keys: <key>/c/<i>/...)."""
    fs, root = location(source)
    folder = join(root, f"{key}/c").rstrip("/")
    if not fs.exists(folder):
        return set()
    out = set()
    for p in fs.find(folder):  # files only: an empty folder left by a deleted chunk file is no chunk
        first = p[len(folder) :].strip("/").split("/")[0]
        if first.isdigit():
            out.add(int(first))
    return out


def _arrays(group: zarr.Group) -> list[str]:
    meta = group.attrs["robolearn"]
    return [*(f"data/{k}" for k in meta["frame_features"]), *(f"meta/{k}" for k in meta["episode_features"]), ENDS]


def chunk_problems(source: str, *, read: bool = False) -> list[ChunkProblem]:
    """The lost chunks of the store at `source` and, with `read`, the damaged ones (every present chunk decoded)."""
    group = zarr.open_group(source, mode="r")
    ends_arr = group[ENDS]
    n_entries, per = ends_arr.shape[0], ends_arr.chunks[0]
    problems: list[ChunkProblem] = []

    def check(key: str, rows_total: int, episodes_of) -> None:
        arr = group[key]
        c = arr.chunks[0]
        present = _present(source, key)
        for i in range(math.ceil(rows_total / c)):
            r0, r1 = i * c, min((i + 1) * c, rows_total)
            kind = None
            if i not in present:
                kind = "missing"
            elif read:
                try:
                    arr[r0:r1]
                except Exception:  # noqa: BLE001 - any decode error: the chunk is damaged
                    kind = "damaged"
            if kind:
                problems.append(ChunkProblem(source, key, i, (r0, r1), episodes_of(r0, r1), kind))

    # episode_ends first: the commit records. The last entry may be a commit that never happened (a kill between
    # growing the array and writing the entry); its chunk is then legitimately absent when it holds that entry alone.
    present = _present(source, ENDS)
    last = math.ceil(n_entries / per) - 1
    committed = n_entries - 1 if (n_entries % per == 1 and last not in present) else n_entries
    check(ENDS, committed, lambda r0, r1: (r0, r1 - 1))
    lost_from = min((p.rows[0] for p in problems), default=committed)  # entries after a lost one are unknown
    try:
        ends = np.asarray(ends_arr[:lost_from], np.int64)
    except Exception:  # noqa: BLE001 - reported above when read; the episodes' frames are then unknown too
        ends = np.zeros(0, np.int64)
    ends = ends[: valid_prefix(ends)]
    frames = int(ends[-1]) if len(ends) else 0
    for key in _arrays(group)[:-1]:
        if key.startswith("data/"):
            rows = group[key].shape[0] if len(ends) < committed else frames  # past a lost commit record: all
            check(key, min(rows, group[key].shape[0]), lambda r0, r1: episodes_holding(ends, r0, r1))
        else:
            check(key, min(committed, group[key].shape[0]), lambda r0, r1: (r0, r1 - 1))
    return problems


def lost_shards(url: str) -> list[str]:
    """Shard folders of a dataset that hold chunks but no readable zarr.json: their metadata is lost."""
    fs, _ = location(url)
    out = []
    for shard in shard_paths(url):
        _, path = location(shard)
        if not fs.exists(join(path, "zarr.json")) and fs.find(path):
            out.append(shard)
    return out


def verify(url: str | Path, stores: list) -> None:
    """Refuse, in one line, a dataset with a lost shard or a lost chunk (found by listing, without reading)."""
    lost = lost_shards(str(url))
    if lost:
        raise StoreError(f"{lost[0]}: holds chunks but no zarr.json (its metadata is lost); `robolearn info {url} "
                         "--repair` collects its episodes again")  # fmt: skip
    for store in stores:
        problems = chunk_problems(store.source)
        if problems:
            more = f" ({len(problems)} lost chunks in this store)" if len(problems) > 1 else ""
            raise StoreError(f"{problems[0].line()}{more}; `robolearn info {url} --check` lists every one, "
                             "`--repair` collects those episodes again")  # fmt: skip
