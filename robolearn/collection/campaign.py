"""Collection campaigns: run a policy in an env for N episodes on a process pool, into shard stores.

A dataset is a directory (a local path or an fsspec URL such as s3://bucket/grasps): `campaign.json`
(the campaign and the full env config) and one shard store per worker, `shard-<k>.zarr`; no two
processes ever write one store. Episode i of a
campaign uses a seed derived from (campaign seed, i) alone, and each shard records the episode
indices it committed, so a resumed campaign collects exactly the missing indices: the union of
shards ends with episodes 0..N-1, once each, the same as an uninterrupted run.
"""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import sys
import time
from typing import Any, Literal

import numpy as np
from pydantic import Field

from robolearn.config import Config, ConfigError
from robolearn.data.info import join, location, open_shards, shard_paths
from robolearn.data.store import EpisodeStore, Feature, StoreError
from robolearn.envs import ORIGINAL_ID, current_env_config
from robolearn.policies.registry import PolicyConfig, make_policy


class CampaignConfig(Config):
    """What to collect: `collection/*.toml`."""

    env: str = Field("robolearn/GraspKuka-v0", description="registered env id or env TOML file")
    objects: Literal["train", "test", "all"] = "train"
    policy: PolicyConfig = Field(
        default_factory=lambda: PolicyConfig(name="random", down_bias=0.5),
        description="the [policy] table: a PolicyConfig, as in a policy TOML (name, epsilon, down_bias, checkpoint, "
        "ensemble, cem, ...)",
    )
    episodes: int = Field(100, ge=1)
    repeats: int = Field(
        1, ge=1, le=64,
        description="episodes per scene: each scene is played this many times in a row, the policy's "
        "randomness differing, so one image's grasps differ only by where they went",
    )  # fmt: skip
    workers: int = Field(2, ge=1, le=256)
    seed: int = Field(0, ge=0)
    store: str = "out/dataset"


# Collection seeds have bit 31 set; evaluation seeds stay below 2**31, so no evaluation episode is
# ever a collected one.
COLLECTION_SEED_BIT = 1 << 31
EVAL_SEED_LIMIT = COLLECTION_SEED_BIT


def episode_seed(campaign_seed: int, index: int) -> int:
    """The env seed of episode `index`: a function of the campaign seed and the index alone, >= 2**31."""
    seed = int(np.random.SeedSequence([campaign_seed, index]).generate_state(1, dtype=np.uint32)[0])
    return seed | COLLECTION_SEED_BIT


def episode_seeds(cfg: CampaignConfig, index: int) -> tuple[int, int]:
    """(env seed, policy seed) of episode `index`: the env's is its scene's (`repeats` episodes in a row
    share one), the policy's its own."""
    return episode_seed(cfg.seed, index // cfg.repeats), episode_seed(cfg.seed, index)


def check_policy(cfg: CampaignConfig, env_config: dict) -> None:
    """Build a servo campaign's policy once before any worker starts, so that a checkpoint that is missing or
    does not fit the env is refused in one line (ConfigError, CheckpointError) rather than in every worker."""
    if cfg.policy.name not in ("cem", "open_loop"):
        return
    from robolearn.envs.config import EnvConfig
    from robolearn.envs.grasp_env import GraspEnv

    env = GraspEnv(EnvConfig.model_validate(env_config))
    try:
        make_policy(cfg.policy, env)
    finally:
        env.close()


def committed_indices(root: str) -> list[int]:
    """Episode indices committed in any shard of the dataset at `root` (a path or URL)."""
    return [int(i) for store in open_shards(shard_paths(root)) for i in store.values("index")]


def prepare(cfg: CampaignConfig, env_config: dict[str, Any], *, resume: bool) -> list[int]:
    """Check the dataset directory (a local path or an fsspec URL) against the campaign; the episode
    indices still to collect."""
    if cfg.env == ORIGINAL_ID:
        raise ConfigError(f"env {ORIGINAL_ID}: the original runs in evaluation only; collect in "
                          "robolearn/KukaDiverse-v1, which plays it episode for episode")  # fmt: skip
    fs, root = location(cfg.store)
    manifest = {"campaign": cfg.model_dump(), "env_config": env_config}
    if fs.isfile(root):
        raise ConfigError(f"store {cfg.store}: is a file, not a dataset directory")
    if fs.isdir(root) and fs.ls(root):
        if not resume:
            raise ConfigError(
                f"store {cfg.store}: already holds a dataset; pass --resume to continue it or choose another --store"
            )
        if not fs.isfile(join(root, "campaign.json")):
            raise ConfigError(f"store {cfg.store}: not a robolearn dataset (no campaign.json)")
        old = json.loads(fs.cat_file(join(root, "campaign.json")))
        diff = _first_difference(current_env_config(old["env_config"]), current_env_config(env_config))
        if diff:
            raise ConfigError(f"store {cfg.store}: --resume with a different env config: {diff}")
        before, now = _resume_keys(old["campaign"]), _resume_keys(manifest["campaign"])
        for key, value in now.items():
            if before[key] != value:
                raise ConfigError(f"store {cfg.store}: --resume with a different {key}: {before[key]!r} before, "
                                  f"{value!r} now")  # fmt: skip
        done = committed_indices(cfg.store)
        if len(done) != len(set(done)):
            raise StoreError(f"store {cfg.store}: an episode index is committed twice")
    else:
        try:
            fs.makedirs(root, exist_ok=True)
            fs.pipe_file(join(root, "campaign.json"), json.dumps(manifest, indent=2).encode())
        except OSError as exc:
            raise ConfigError(f"store {cfg.store}: cannot write there ({exc.strerror or exc})") from None
        done = []
    return sorted(set(range(cfg.episodes)) - set(done))


def _resume_keys(campaign: dict[str, Any]) -> dict[str, Any]:
    """What a resumed campaign must keep: its seeds, objects, repeats, and which policy (and models) collects.
    Reads campaign.json of this version and of the earlier one, whose policy fields were flat."""
    policy = campaign["policy"]
    if isinstance(policy, str):  # before the [policy] table: policy = "mix" was the oracle with epsilon
        policy = {"name": "oracle" if policy == "mix" else policy, "checkpoint": campaign.get("checkpoint"),
                  "ensemble": campaign.get("ensemble", [])}  # fmt: skip
    return {
        "seed": campaign["seed"],
        "objects": campaign["objects"],
        "repeats": campaign.get("repeats", 1),
        "policy": policy["name"],
        "checkpoint": policy.get("checkpoint"),
        "ensemble": policy.get("ensemble", []),
    }


def _first_difference(a: Any, b: Any, path: str = "") -> str | None:
    if isinstance(a, dict) and isinstance(b, dict):
        for key in sorted(set(a) | set(b)):
            d = _first_difference(a.get(key), b.get(key), f"{path}.{key}" if path else key)
            if d:
                return d
        return None
    return None if a == b else f"{path}: {a!r} before, {b!r} now"


def _worker(cfg_json: str, env_config: dict, shard: str, indices: list[int], queue) -> None:
    from robolearn.collection.record import record_episode
    from robolearn.envs import build_env
    from robolearn.signals import workers_ignore_sigint

    workers_ignore_sigint()
    cfg = CampaignConfig.model_validate_json(cfg_json)
    env = build_env(env_config)
    policy = make_policy(cfg.policy, env)
    if "torch" in sys.modules:  # a model scores actions: one thread per worker process, as in evaluation;
        import torch  # torch's default (a thread per core) in each worker halved the servo's collection speed

        torch.set_num_threads(1)
    schema = env.task.features()
    frame_f, value_f = schema.frames, {**schema.values, "index": Feature((), "int64")}
    fs, path = location(shard)
    store = (EpisodeStore.open(shard, "a") if fs.exists(path)
             else EpisodeStore.create(shard, frame_features=frame_f, episode_features=value_f))  # fmt: skip
    parent = os.getppid()
    try:
        for i in indices:
            if os.getppid() != parent:  # the collector is gone (killed): stop rather than write on unseen
                return
            t = time.perf_counter()
            frames, values = record_episode(env, policy, *episode_seeds(cfg, i))
            t_env = time.perf_counter() - t
            store.add_episode(frames, {**values, "index": i})
            queue.put((i, values["success"], t_env, time.perf_counter() - t - t_env))
    finally:
        env.close()


def _jobs(cfg: CampaignConfig, todo: list[int]) -> list[tuple[str, list[int]]]:
    """(shard path, episode indices) per worker; new shards never reuse an existing shard's name."""
    existing = len(shard_paths(cfg.store))
    chunks = [todo[w :: cfg.workers] for w in range(cfg.workers)]
    return [(join(cfg.store, f"shard-{existing + w:03d}.zarr"), chunk) for w, chunk in enumerate(chunks) if chunk]


def _follow(queue, total: int, finished, t0: float, cfg: CampaignConfig, progress: bool) -> dict[str, Any]:
    """Show progress from the workers' (index, success, env s, store s) reports until all are in or
    every worker has stopped; the campaign summary."""
    from tqdm import tqdm

    successes = env_s = store_s = 0.0
    done = 0
    with tqdm(total=total, desc="collect", unit="ep", disable=not progress, dynamic_ncols=True) as bar:
        while done < total:
            try:
                _, success, te, ts = queue.get(timeout=5)
            except Exception:  # noqa: BLE001 - the queue's Empty (multiprocessing or ray): are workers alive?
                if finished():
                    break
                continue
            done, successes, env_s, store_s = done + 1, successes + success, env_s + te, store_s + ts
            bar.update(1)
            bar.set_postfix(success=f"{successes / done:.2f}")
    seconds = time.perf_counter() - t0
    return {
        "store": cfg.store,
        "collected": done,
        "requested": total,
        "success_rate": successes / done if done else None,
        "episodes_per_hour": 3600 * done / seconds if seconds else None,
        "store_time_fraction": store_s / env_s if env_s else None,
        "seconds": seconds,
    }


def run_local(cfg: CampaignConfig, env_config: dict, todo: list[int], *, progress: bool = True) -> dict[str, Any]:
    """Collect episodes `todo` on `cfg.workers` local processes; a JSON-able summary."""
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    procs = [ctx.Process(target=_worker, args=(cfg.model_dump_json(), env_config, shard, chunk, queue))
             for shard, chunk in _jobs(cfg, todo)]  # fmt: skip
    t0 = time.perf_counter()
    try:
        for proc in procs:
            proc.start()
        summary = _follow(queue, len(todo), lambda: all(not p.is_alive() for p in procs), t0, cfg, progress)
    except BaseException:  # interrupted: stop the workers; each loses at most the episode it was writing
        for proc in procs:
            if proc.pid is not None and proc.is_alive():
                proc.terminate()
        for proc in procs:
            if proc.pid is not None:
                proc.join()
        raise
    for proc in procs:
        proc.join()
    return {**summary, "backend": "local", "worker_failures": sum(p.exitcode != 0 for p in procs)}


def run_ray(cfg: CampaignConfig, env_config: dict, todo: list[int], *, address: str | None = None,
            progress: bool = True) -> dict[str, Any]:  # fmt: skip
    """Collect episodes `todo` as `cfg.workers` Ray tasks (a local cluster, or the one at `address`).

    Each task writes its own shard at the dataset path, so on a cluster of several machines that
    path must be shared by all of them.
    """
    try:
        import ray
        from ray.util.queue import Queue
    except ImportError:
        raise ConfigError("--backend ray needs Ray: pip install 'robolearn[ray]'") from None
    if not ray.is_initialized():
        kwargs = {"address": address} if address else {"num_cpus": cfg.workers}
        ray.init(**kwargs, include_dashboard=False, log_to_driver=False, configure_logging=False)
    task = ray.remote(num_cpus=1)(_worker)
    queue = Queue()
    t0 = time.perf_counter()
    refs = [task.remote(cfg.model_dump_json(), env_config, shard, chunk, queue) for shard, chunk in _jobs(cfg, todo)]
    summary = _follow(
        queue, len(todo), lambda: not ray.wait(refs, num_returns=len(refs), timeout=0)[1], t0, cfg, progress
    )
    failures = 0
    for ref in refs:
        try:
            ray.get(ref)
        except Exception:  # noqa: BLE001 - a failed task: reported in the summary; --resume recollects
            failures += 1
    return {**summary, "backend": "ray", "worker_failures": failures}
