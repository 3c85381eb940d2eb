"""Running a Policy in an env for some episodes, and the success rate with its confidence interval."""

from __future__ import annotations

import math
import multiprocessing as mp
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from tqdm import tqdm

from robolearn.envs.grasp_env import GraspEnv
from robolearn.policies.base import Policy, start_episode


def wilson_interval(successes: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """The Wilson score interval of a binomial proportion (95% for z=1.96)."""
    if n == 0:
        return (0.0, 1.0)
    phat = successes / n
    denom = 1 + z * z / n
    centre = (phat + z * z / (2 * n)) / denom
    half = z * math.sqrt(phat * (1 - phat) / n + z * z / (4 * n * n)) / denom
    # at 0 or n successes one end is phat itself; rounding can put it a hair on the wrong side
    return (min(phat, max(0.0, centre - half)), max(phat, min(1.0, centre + half)))


@dataclass
class Episode:
    seed: int
    success: bool
    steps: int
    object_ids: list[int]
    lifted_object_ids: list[int]
    seconds: float


@dataclass
class RolloutReport:
    episodes: list[Episode]
    seconds: float
    physics_s: float
    render_s: float
    substeps: int
    frames: list[np.ndarray] = field(default_factory=list, repr=False)
    cpu_s: float | None = None  # several processes: their time summed (`seconds` is then the wall clock)

    @property
    def n(self) -> int:
        return len(self.episodes)

    @property
    def successes(self) -> int:
        return sum(e.success for e in self.episodes)

    @classmethod
    def merge(cls, parts: list[RolloutReport], seconds: float) -> RolloutReport:
        """One report of `parts` (chunks of episodes, in order), `seconds` of wall clock in all; the busy time
        (cpu_s) is the parts' own time summed."""
        return cls([e for p in parts for e in p.episodes], seconds, sum(p.physics_s for p in parts),
                   sum(p.render_s for p in parts), sum(p.substeps for p in parts), [x for p in parts for x in p.frames],
                   cpu_s=sum(p.seconds if p.cpu_s is None else p.cpu_s for p in parts))  # fmt: skip

    def recorded(self) -> list[tuple[int, list[np.ndarray]]]:
        """(seed, frames) of each episode whose frames the report keeps: the first observation and one per step."""
        out, frames = [], self.frames
        for ep in self.episodes:
            if not frames:
                break
            n = ep.steps + 1
            out.append((ep.seed, frames[:n]))
            frames = frames[n:]
        return out

    def per_object(self) -> dict[int, dict[str, int]]:
        """For each object id: episodes it was in the tray, and episodes it was the one lifted."""
        out: dict[int, dict[str, int]] = {}
        for e in self.episodes:
            for oid in set(e.object_ids):
                out.setdefault(int(oid), {"episodes": 0, "lifted": 0})["episodes"] += 1
            for oid in set(e.lifted_object_ids):
                out.setdefault(int(oid), {"episodes": 0, "lifted": 0})["lifted"] += 1
        return dict(sorted(out.items()))

    def summary(self) -> dict:
        n = max(self.n, 1)
        lo, hi = wilson_interval(self.successes, self.n)
        busy = self.seconds if self.cpu_s is None else self.cpu_s
        return {
            "episodes": self.n,
            "success_rate": self.successes / n,
            "success_ci95": [lo, hi],
            "episodes_per_s": self.n / self.seconds if self.seconds else None,
            "ms_per_episode": {  # one process's time per episode, however many ran
                "total": 1000 * busy / n,
                "physics": 1000 * self.physics_s / n,
                "rendering": 1000 * self.render_s / n,
                "python": 1000 * (busy - self.physics_s - self.render_s) / n,
            },
            "substeps_per_episode": self.substeps / n,
            "per_object": self.per_object(),
            "per_episode": [asdict(e) for e in self.episodes],
        }


def rollout(env: GraspEnv, policy: Policy, seeds: Iterable[int], *, record_first: int = 0,
            progress: bool = False, desc: str = "episodes") -> RolloutReport:  # fmt: skip
    """Run one episode per seed; keep the rgb frames of the first `record_first` episodes."""
    seeds = list(seeds)
    world = env.world
    world.timers.clear()
    sub0 = world.substeps
    episodes, frames = [], []
    t0 = time.perf_counter()
    bar = tqdm(seeds, desc=desc, unit="ep", disable=not progress, dynamic_ncols=True)
    for i, seed in enumerate(bar):
        te = time.perf_counter()
        obs, info = start_episode(env, policy, seed)
        if i < record_first:
            frames.append(obs["rgb"])
        done, steps = False, 0
        while not done:
            obs, _, terminated, truncated, step_info = env.step(policy.act(obs))
            done, steps = terminated or truncated, steps + 1
            if i < record_first:
                frames.append(obs["rgb"])
        episodes.append(Episode(seed, bool(step_info["is_success"]), steps, info["object_ids"],
                                step_info["lifted_object_ids"], time.perf_counter() - te))  # fmt: skip
        bar.set_postfix(success=f"{sum(e.success for e in episodes) / len(episodes):.2f}")
    return RolloutReport(episodes, time.perf_counter() - t0, world.timers["physics"], world.timers["render"],
                         world.substeps - sub0, frames)  # fmt: skip


_WORKER: dict[str, Any] = {}


def _start_worker(env_spec: str, objects: str, policy_json: str) -> None:
    import torch

    from robolearn.signals import workers_ignore_sigint

    workers_ignore_sigint()

    from robolearn.envs import make_env
    from robolearn.policies.registry import PolicyConfig, make_policy

    torch.set_num_threads(1)  # one process per core
    env = make_env(env_spec, objects={"split": objects})
    _WORKER.update(env=env, policy=make_policy(PolicyConfig.model_validate_json(policy_json), env))


def _run_seeds(seeds: list[int], record_first: int) -> RolloutReport:
    return rollout(_WORKER["env"], _WORKER["policy"], seeds, record_first=record_first)


def rollout_parallel(env_spec: str, objects: str, policy_cfg, seeds: Iterable[int], *, workers: int,
                     record_first: int = 0, progress: bool = False, desc: str = "episodes", chunk: int = 10,
                     on_part: Callable[[RolloutReport], None] | None = None) -> RolloutReport:  # fmt: skip
    """`rollout` on `workers` processes, each with its own env and policy (built from `env_spec`, an id or
    env TOML, and `policy_cfg`, a PolicyConfig), over chunks of `chunk` seeds; the report is the one a
    single process would give (an episode is a function of its seed), with the wall clock as `seconds`.
    `on_part` sees each chunk's report, in this process, as it ends."""
    seeds = list(seeds)
    chunk = max(1, min(chunk, -(-len(seeds) // workers)))  # every worker gets some
    chunks = [seeds[i : i + chunk] for i in range(0, len(seeds), chunk)]
    t0 = time.perf_counter()
    bar = tqdm(total=len(seeds), desc=desc, unit="ep", disable=not progress, dynamic_ncols=True)
    done = successes = 0
    with ProcessPoolExecutor(workers, mp_context=mp.get_context("spawn"), initializer=_start_worker,
                             initargs=(env_spec, objects, policy_cfg.model_dump_json())) as pool:  # fmt: skip
        futures = [pool.submit(_run_seeds, c, min(len(c), max(0, record_first - k * chunk)))
                   for k, c in enumerate(chunks)]  # fmt: skip
        seen = set()
        try:
            for f in as_completed(futures):
                part = f.result()
                seen.add(f)
                if on_part is not None:
                    on_part(part)
                done, successes = done + part.n, successes + part.successes
                bar.update(part.n)
                bar.set_postfix(success=f"{successes / done:.2f}")
        except BaseException:  # interrupted: drop the chunks not started; the workers end the ones they play
            pool.shutdown(wait=True, cancel_futures=True)
            if on_part is not None:  # and those are kept
                for f in futures:
                    if f not in seen and f.done() and not f.cancelled() and f.exception() is None:
                        on_part(f.result())
            raise
        parts = [f.result() for f in futures]
    bar.close()
    return RolloutReport.merge(parts, time.perf_counter() - t0)
