"""Branches: more grasp outcomes for the images a dataset already holds.

An episode of a collected dataset is played again in the simulator: the env restarts from the
episode's seed and replays its recorded actions up to a step t (the physics is deterministic, so this
is the state whose image the dataset holds at t; each replay is checked against the recorded gripper
pose). From there a branch steers the gripper straight toward another aim and grasps. It is stored as
an episode made of the source's frames 0..t (images, masks, states) labelled with the branch's outcome
and motor commands to the branch's own final pose (Levine's v_s = p'_T - p_s). Several branches from
one step give an image several grasps that differ only in where they went: labels that say which
grasp holds, where one episode gives one. Each branch is a simulated grasp attempt and counts as one.

Aims: `near_source` of the branches go to the source episode's final pose moved by a random offset
(`aim_std` metres in x and y, `yaw_std` radians), the rest to a random object's grasp point (from the
simulator, as the oracle's) moved by the same kind of offset.
"""

from __future__ import annotations

import json
import math
import multiprocessing as mp
import os
import time
from typing import Any

import numpy as np
from pydantic import Field

from robolearn.config import Config, ConfigError
from robolearn.data.info import campaign_manifest, join, location, open_dataset, shard_paths
from robolearn.data.store import EpisodeStore, StoreError
from robolearn.envs.grasp import command_ends, motor_commands, pose_of
from robolearn.features import Feature

IMAGE_KEYS = ("rgb", "depth", "segmentation")


class BranchConfig(Config):
    """What `robolearn branch` plays: see the module docstring."""

    source: str = Field(description="the collected dataset whose episodes are branched")
    store: str = Field(description="the new dataset of branch episodes")
    episodes: int | None = Field(None, ge=1, description="source episodes to branch (a random subset); all if None")
    branches: int = Field(3, ge=1, le=64, description="branches from one step of each source episode")
    near_source: float = Field(0.67, ge=0, le=1, description="fraction of branches aimed near the source's grasp")
    aim_std: float = Field(0.02, ge=0, description="std of the aim's offset in x and y (m)")
    yaw_std: float = Field(0.4, ge=0, description="std of the aim's offset in yaw (rad)")
    workers: int = Field(2, ge=1, le=256)
    seed: int = Field(0, ge=0)


def final_pose(states: np.ndarray, motor_commands: np.ndarray) -> np.ndarray:
    """The pose p_T [x, y, z, yaw] where a recorded episode grasped: p_t + v_t at its last frame."""
    return command_ends(states[-1], motor_commands[-1])


def play_branch(env, seed: int, actions: np.ndarray, t: int, aim: Any) -> tuple[bool, list[float], np.ndarray] | None:
    """Replay `actions[:t]` of the episode of env `seed`, then steer toward `aim` until the grasp.

    `aim(env)` -> (xy, wrist yaw), called once at step t. Returns (success, final pose [x, y, z, yaw], the
    branch's first action), or None when the replay does not reach step t (the source grasped earlier)."""
    from robolearn.envs.task import steer

    env.replay_seed(seed)
    for a in actions[:t]:
        env.advance(a)
        if env.attempted:
            return None
    xy, yaw = aim(env)
    first, pose = None, None
    while not env.attempted and env.t < env.config.task.max_steps:
        a = steer(env, xy, yaw)
        first = a if first is None else first
        pose = env.advance(a)
    return bool(env.attempted and env.task.success(env.world)), pose, first


def branch_episode(env, episode: dict[str, np.ndarray], seed: int, rng: np.random.Generator, cfg: BranchConfig
                   ) -> list[tuple[dict[str, np.ndarray], dict[str, Any]]]:  # fmt: skip
    """The branches of one source episode (frames as the store holds them, values incl. `success`), from one
    step chosen at random; none when the replay does not reproduce the recorded poses."""
    from robolearn.envs.task import grasp_frame

    states = np.asarray(episode["state"])
    poses = pose_of(states.astype(np.float64))
    final = final_pose(states, episode["motor_command"])
    t = int(rng.integers(len(states)))
    prefix = {k: np.asarray(episode[k][: t + 1]) for k in (*IMAGE_KEYS, "state") if k in episode}
    out = []
    for b in range(cfg.branches):
        near = rng.random() < cfg.near_source
        offset = rng.normal(0.0, [cfg.aim_std, cfg.aim_std, cfg.yaw_std])
        choice = int(rng.integers(1 << 30))

        def aim(env, near=near, offset=offset, choice=choice):
            arm = env.world.arm
            if not np.allclose([*arm.target, math.sin(arm.yaw), math.cos(arm.yaw)], states[t][:5], atol=1e-4):
                raise ReplayMismatch
            if near:
                return final[:2] + offset[:2], final[3] + offset[2]
            centre, axis, _, _ = grasp_frame(env.world, choice % len(env.world.objects))
            return centre + offset[:2], arm.yaw_for_axis(axis) + offset[2]

        try:
            played = play_branch(env, seed, episode["action"], t, aim)
        except ReplayMismatch:
            return []
        if played is None:
            return []
        success, pose, first = played
        frames = dict(prefix)
        frames["action"] = np.concatenate([episode["action"][:t], first[None]]).astype(np.float32)
        frames["motor_command"] = motor_commands(poses[: t + 1], np.asarray(pose))
        out.append((frames, {"success": success, "branch": b, "step": t}))
    return out


class ReplayMismatch(Exception):
    """A replayed episode did not reach the gripper pose its store recorded."""


def plan(cfg: BranchConfig, stores: list[EpisodeStore]) -> list[tuple[int, int]]:
    """(source shard, episode) pairs of the source `stores` to branch, in a random order fixed by the seed."""
    pairs = [(s, k) for s, store in enumerate(stores) for k in range(store.n_episodes)]
    order = np.random.default_rng(cfg.seed).permutation(len(pairs))
    return [pairs[i] for i in order[: cfg.episodes]]


def prepare(cfg: BranchConfig, stores: list[EpisodeStore]) -> dict[str, Any]:
    """Check the source (its `stores`) and target; write the new dataset's campaign.json (the source's env); its
    manifest."""
    manifest = campaign_manifest(cfg.source)
    if manifest is None:
        raise ConfigError(f"{cfg.source}: not a collected dataset (no campaign.json); branching replays "
                          "its episodes in the env that collected them")  # fmt: skip
    need = [k for k in ("state", "action", "motor_command") if k not in stores[0].frame_features]
    need += [k for k in ("seed",) if k not in stores[0].episode_features]
    if need:
        raise StoreError(f"{cfg.source}: branching needs {', '.join(need)}, which this dataset does not have")
    fs, root = location(cfg.store)
    if fs.exists(root) and (not fs.isdir(root) or fs.ls(root)):
        raise ConfigError(f"--store {cfg.store}: already exists; choose another")
    out = {"campaign": manifest["campaign"], "env_config": manifest["env_config"], "branch": cfg.model_dump()}
    fs.makedirs(root, exist_ok=True)
    fs.pipe_file(join(root, "campaign.json"), json.dumps(out, indent=2).encode())
    return out


def _worker(cfg_json: str, env_config: dict, shard: str, jobs: list[tuple[int, int, int]], queue) -> None:
    from robolearn.envs.config import EnvConfig
    from robolearn.envs.grasp_env import GraspEnv

    cfg = BranchConfig.model_validate_json(cfg_json)
    env = GraspEnv(EnvConfig.model_validate({**env_config, "renderer": "tiny"}))  # it never renders
    sources = open_dataset(cfg.source)
    frame_f = dict(sources[0].frame_features)
    value_f = {k: v for k, v in sources[0].episode_features.items() if k != "index"}
    value_f |= {k: Feature((), "int64") for k in ("index", "source_shard", "source_episode", "branch", "step")}
    store = EpisodeStore.create(shard, frame_features=frame_f, episode_features=value_f)
    parent = os.getppid()
    try:
        for i, s, k in jobs:
            if os.getppid() != parent:
                return
            src = sources[s]
            episode = src.episode(k)
            seed = int(episode["seed"])
            rng = np.random.default_rng([cfg.seed, i])
            made = branch_episode(env, episode, seed, rng, cfg)
            for frames, extra in made:
                values = {key: episode[key] for key in value_f if key in episode and key != "index"}
                values |= {**extra, "steps": len(frames["state"]), "index": i, "source_shard": s, "source_episode": k}
                store.add_episode(frames, values)
            queue.put((len(made), sum(e["success"] for _, e in made)))
    finally:
        env.close()


def run(cfg: BranchConfig, *, progress: bool = True) -> dict[str, Any]:
    """Branch the planned source episodes on `cfg.workers` processes; a JSON-able summary."""
    from tqdm import tqdm

    stores = open_dataset(cfg.source)
    manifest = prepare(cfg, stores)
    todo = [(i, s, k) for i, (s, k) in enumerate(plan(cfg, stores))]
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    chunks = [todo[w :: cfg.workers] for w in range(cfg.workers)]
    procs = [ctx.Process(target=_worker, args=(cfg.model_dump_json(), manifest["env_config"],
                                               join(cfg.store, f"shard-{w:03d}.zarr"), chunk, queue))
             for w, chunk in enumerate(chunks) if chunk]  # fmt: skip
    t0 = time.perf_counter()
    for proc in procs:
        proc.start()
    done = made = successes = skipped = 0
    with tqdm(total=len(todo), desc="branch", unit="ep", disable=not progress, dynamic_ncols=True) as bar:
        while done < len(todo):
            try:
                n, ok = queue.get(timeout=5)
            except Exception:  # noqa: BLE001 - the queue's Empty: are the workers alive?
                if all(not p.is_alive() for p in procs):
                    break
                continue
            done, made, successes, skipped = done + 1, made + n, successes + ok, skipped + (n == 0)
            bar.update(1)
            bar.set_postfix(branches=made, success=f"{successes / max(made, 1):.2f}")
    for proc in procs:
        proc.join()
    seconds = time.perf_counter() - t0
    summary = {"store": cfg.store, "source_episodes": done, "requested": len(todo), "branches": made,
               "success_rate": successes / made if made else None, "skipped_episodes": skipped,
               "branches_per_hour": 3600 * made / seconds if seconds else None, "seconds": seconds,
               "worker_failures": sum(p.exitcode != 0 for p in procs), "shards": shard_paths(cfg.store)}  # fmt: skip
    fs, root = location(cfg.store)
    fs.pipe_file(join(root, "summary.json"), json.dumps(summary, indent=2).encode())
    return summary
