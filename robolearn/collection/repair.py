"""Repairing a dataset: each episode is a function of its campaign's seed and its index, so lost or damaged chunks
are restored by collecting the episodes they held again and writing those rows back, bit for bit.

A shard whose metadata (zarr.json) is lost is moved aside (shard-<k>.zarr.lost) and its episodes, now missing from
the dataset, are collected again into a new shard, as `collect --resume` would. Before anything is written, the
collected-again episodes are compared with what is still readable of them: a collection that does not reproduce
here (another simulator build, a changed policy) is refused rather than mixed in.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import zarr

from robolearn.collection.campaign import CampaignConfig, episode_seeds, prepare, run_local
from robolearn.collection.record import record_episode
from robolearn.config import ConfigError
from robolearn.data.info import campaign_manifest, location, shard_paths
from robolearn.data.integrity import ChunkProblem, chunk_problems, lost_shards
from robolearn.data.store import ENDS, WRITE_EVERY_CHUNK, StoreError, episodes_holding
from robolearn.envs import build_env
from robolearn.policies.registry import make_policy


def repair(url: str) -> list[str]:
    """Restore every lost or damaged chunk and lost shard of the dataset at `url`; a line per thing done."""
    manifest = campaign_manifest(url)
    if manifest is None:
        raise ConfigError(f"{url}: no campaign.json, so its episodes cannot be collected again")
    cfg = CampaignConfig.model_validate({**manifest["campaign"], "store": str(url)})  # where it is now
    env_config = manifest["env_config"]
    done: list[str] = []
    fs, _ = location(url)
    for shard in lost_shards(url):
        _, path = location(shard)
        fs.mv(path, path + ".lost", recursive=True)
        done.append(f"{shard}: metadata lost; moved aside to {shard}.lost")
    env = policy = None
    for shard in shard_paths(url):
        problems = chunk_problems(shard, read=True)
        if not problems:
            continue
        if env is None:
            env = build_env(env_config)
            policy = make_policy(cfg.policy, env)
        done += _repair_shard(shard, problems, cfg, env, policy)
    if env is not None:
        env.close()
    todo = prepare(cfg, env_config, resume=True)
    if todo:
        summary = run_local(cfg.model_copy(update={"workers": min(cfg.workers, len(todo))}), env_config, todo,
                            progress=False)  # fmt: skip
        done.append(f"{url}: collected again the {summary['collected']} episodes of the lost shard(s)")
    return done


def _repair_shard(shard: str, problems: list[ChunkProblem], cfg: CampaignConfig, env, policy) -> list[str]:
    group = zarr.open_group(shard, mode="r+")
    if any(p.key == "meta/index" for p in problems):
        raise StoreError(f"{shard}: meta/index is lost, so which episodes the shard held is not known; move the "
                         "shard aside and run `robolearn collect CAMPAIGN --resume`")  # fmt: skip
    ends_lost = [p for p in problems if p.key == ENDS]
    n = group[ENDS].shape[0]
    first_unknown = min((p.rows[0] for p in ends_lost), default=n)
    affected = set()
    for p in problems:
        last = n - 1 if p.key == ENDS else p.episodes[1]
        affected.update(range(p.episodes[0], last + 1))
    index = group["meta/index"][:n]
    episodes: dict[int, tuple[dict[str, np.ndarray], dict[str, Any]]] = {}
    for k in sorted(affected):
        frames, values = record_episode(env, policy, *episode_seeds(cfg, int(index[k])))
        episodes[k] = (frames, {**values, "index": int(index[k])})
    # where each episode's frames lie: the known commit records, then the collected-again lengths
    ends = np.asarray(group[ENDS][:first_unknown], np.int64)
    for k in range(first_unknown, n):
        ends = np.append(ends, (ends[-1] if len(ends) else 0) + len(next(iter(episodes[k][0].values()))))
    _check_reproduced(group, shard, problems, episodes, ends)
    with zarr.config.set(WRITE_EVERY_CHUNK):
        for p in problems:
            r0, r1 = p.rows
            if p.key == ENDS:
                group[ENDS][r0:r1] = ends[r0:r1]
            elif p.key.startswith("meta/"):
                name = p.key.split("/", 1)[1]
                group[p.key][r0:r1] = np.stack([np.asarray(episodes[k][1][name]) for k in range(r0, r1)])
            else:
                group[p.key][r0:r1] = _rows(p.key.split("/", 1)[1], r0, r1, episodes, ends)
    left = chunk_problems(shard, read=True)
    if left:
        raise StoreError(f"repair left a problem: {left[0].line()}")
    return [f"{p.line()}: restored from {len(episodes)} episode(s) collected again" for p in problems]


def _rows(key: str, r0: int, r1: int, episodes: dict, ends: np.ndarray) -> np.ndarray:
    """Frames r0..r1-1 of `key`, from the collected-again episodes that hold them."""
    parts = []
    first, last = episodes_holding(ends, r0, r1)
    for k in range(first, last + 1):
        start = int(ends[k - 1]) if k else 0
        frames = episodes[k][0][key]
        parts.append(frames[max(r0, start) - start : min(r1, int(ends[k])) - start])
    return np.concatenate(parts)


def _check_reproduced(group: zarr.Group, shard: str, problems: list[ChunkProblem], episodes: dict,
                      ends: np.ndarray) -> None:  # fmt: skip
    """The collected-again episodes must equal what is still readable of them (the rows outside the damage)."""
    damaged = {(p.key, r) for p in problems for r in range(*p.rows)}
    for k, (frames, values) in episodes.items():
        start, stop = (int(ends[k - 1]) if k else 0), int(ends[k])
        for key, v in frames.items():
            keep = [r for r in range(start, stop) if (f"data/{key}", r) not in damaged]
            if keep and not np.array_equal(group[f"data/{key}"][keep[0] : keep[-1] + 1][[r - keep[0] for r in keep]],
                                           np.asarray(v)[[r - start for r in keep]]):  # fmt: skip
                raise StoreError(f"{shard}: episode {k} collected again differs from its stored data/{key}: this "
                                 "machine does not reproduce the collection; nothing was written")  # fmt: skip
        for key, v in values.items():
            if (f"meta/{key}", k) not in damaged and not np.array_equal(group[f"meta/{key}"][k], np.asarray(v)):
                raise StoreError(f"{shard}: episode {k} collected again has another {key}; nothing was written")
