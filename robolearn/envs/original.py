"""pybullet_envs' own KukaDiverseObjectEnv (the benchmark's code, shipped in the pybullet wheel) behind a gymnasium
adapter that speaks as robolearn/KukaDiverse-v1: the same observation (rgb and the gripper's state), action, info
and seeding, so any robolearn policy runs inside the original and a figure can be quoted on the benchmark itself.

It needs the `original` extra (`pip install -e '.[original]'`: gym 0.23.1). The original imports
`pkg_resources.parse_version`, which setuptools no longer ships; where it is missing, a module holding just that
function (packaging's `parse`) stands in.

The original drives pybullet's module-level default client (id 0) and draws from the global `random` and
`np.random`: it must be the first pybullet connection of its process, and one env a process. Seeding: `reset(seed)`
draws one number from the episode's generator, as KukaDiverse-v1 does, and seeds both global generators with it.
"""

from __future__ import annotations

import random
import sys
import time
import types
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import pybullet as p
from gymnasium import spaces

from robolearn.config import ConfigError
from robolearn.envs import ORIGINAL_PRESET, grasp
from robolearn.envs.config import EnvConfig, make_config
from robolearn.envs.task import GraspTask

EXTRA = "the original env needs the 'original' extra: pip install -e '.[original]' (gym 0.23.1)"


def original_class() -> type:
    """KukaDiverseObjectEnv, imported quietly (it prints its folder, gym a notice); a ConfigError naming the extra
    where gym is missing."""
    from robolearn.compat import quiet_gym, silenced

    if not quiet_gym():
        raise ConfigError(EXTRA)
    with silenced():
        if "pkg_resources" not in sys.modules:
            try:
                import pkg_resources  # noqa: F401
            except ImportError:
                from packaging.version import parse

                sys.modules["pkg_resources"] = types.SimpleNamespace(parse_version=parse)  # type: ignore[assignment]
        from pybullet_envs.bullet.kuka_diverse_object_gym_env import KukaDiverseObjectEnv
    return KukaDiverseObjectEnv


class _Timers:
    """What evaluation reads from an env's world: time spent in physics and rendering, substeps run."""

    def __init__(self) -> None:
        self.timers: dict[str, float] = defaultdict(float)
        self.substeps = 0


class OriginalKukaDiverse(gym.Env[dict[str, np.ndarray], np.ndarray]):
    """KukaDiverseObjectEnv as robolearn/KukaDiverse-v1 is seen: observation Dict(rgb (48,48,3), state (7,)), action
    Box(-1, 1, (4,)) of which dz is unused (its height hack), info is_success, grasp_attempted, gripper_pose,
    lifted_object_ids. `objects` is the split ("train" or "test")."""

    metadata = {"render_modes": ["rgb_array"], "render_fps": 4}

    def __init__(self, objects: str = "test", render_mode: str | None = None) -> None:
        if objects not in ("train", "test"):
            raise ConfigError(f"objects '{objects}': the original env has the train and test splits only")
        cls = original_class()
        self.config: EnvConfig = make_config(ORIGINAL_PRESET, objects={"split": objects})
        self.observation_space = GraspTask(self.config).features().observation_space()
        self.action_space = spaces.Box(-1.0, 1.0, (grasp.ACTION_DIM,), np.float32)
        self.render_mode = render_mode
        self.env = cls(isTest=objects == "test")
        if self.env.cid != 0:
            p.disconnect(self.env.cid)
            raise ConfigError("the original env must be the first pybullet connection of its process (it drives "
                              "pybullet's default client); build it before any robolearn env, one a process")  # fmt: skip
        self.world = _Timers()
        self.object_ids: list[int] = []
        self.t = 0
        self._obs: dict[str, np.ndarray] | None = None
        self._pose: list[float] | None = None
        draw, observe = self.env._get_random_object, self.env._get_observation

        def drawn(num_objects: int, test: bool) -> list[str]:  # which objects it draws: its file names are the ids
            files = draw(num_objects, test)
            self.object_ids = [int(Path(f).stem) for f in files]
            return files

        def timed() -> np.ndarray:
            t = time.perf_counter()
            out = observe()
            self.world.timers["render"] += time.perf_counter() - t
            return out

        self.env._get_random_object, self.env._get_observation = drawn, timed

    def _run(self, job: Callable[[], Any], substeps: int) -> Any:
        """`job()`, its time less rendering's counted as physics, with the substeps its schedule runs."""
        render, t = self.world.timers["render"], time.perf_counter()
        out = job()
        self.world.timers["physics"] += time.perf_counter() - t - (self.world.timers["render"] - render)
        self.world.substeps += substeps
        return out

    def _observation(self, rgb: np.ndarray) -> dict[str, np.ndarray]:
        kuka, closed = self.env._kuka, self.env._attempted_grasp  # its fingers: open until the grasp closes them
        state = grasp.state_vector(kuka.endEffectorPos, kuka.endEffectorAngle, 0.0 if closed else 1.0,
                                   self.t / self.config.task.max_steps)  # fmt: skip
        self._obs = {"rgb": np.ascontiguousarray(rgb, dtype=np.uint8), "state": state}
        return self._obs

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None
              ) -> tuple[dict[str, np.ndarray], dict[str, Any]]:  # fmt: skip
        super().reset(seed=seed)
        legacy = int(self.np_random.integers(2**32))  # as KukaDiverse-v1's layout draws it
        random.seed(legacy)
        np.random.seed(legacy)
        rgb = self._run(self.env.reset, 1 + self.config.physics.settle_substeps * self.config.objects.count)
        kuka, apply = self.env._kuka, self.env._kuka.applyAction

        def applied(command: list[float]) -> None:  # the pose an action commands, before any grasp's lift
            apply(command)
            if self._pose is None:
                self._pose = [float(v) for v in (*kuka.endEffectorPos, kuka.endEffectorAngle)]

        kuka.applyAction = applied
        self.t = 0
        return self._observation(rgb), {"object_ids": list(self.object_ids)}

    def step(self, action: np.ndarray) -> tuple[dict[str, np.ndarray], float, bool, bool, dict[str, Any]]:
        a = np.asarray(action, dtype=np.float64).reshape(grasp.ACTION_DIM)
        if not np.isfinite(a).all():
            raise ValueError(f"action {a.tolist()}: not finite (each of dx, dy, dz, dyaw must be a number in [-1, 1])")
        a = np.clip(a, -1.0, 1.0)
        ph, tc = self.config.physics, self.config.task
        self._pose = None
        substeps = 1 if self.t + 1 >= tc.max_steps else ph.action_substeps
        its = np.array([a[0], a[1], a[3]])  # (dx, dy, da): its height hack moves z
        rgb, reward, done, _ = self._run(lambda: self.env.step(its), substeps)
        attempted = bool(self.env._attempted_grasp)
        self.world.substeps += (ph.grasp_close_substeps + ph.grasp_lift_substeps) * attempted
        self.t += 1
        lifted = [oid for oid, (pos, _) in zip(self.object_ids, self.object_poses()) if pos[2] > tc.success_height]
        info = {"is_success": bool(reward), "grasp_attempted": attempted, "gripper_pose": self._pose,
                "lifted_object_ids": lifted}  # fmt: skip
        return self._observation(rgb), float(reward), attempted, bool(done) and not attempted, info

    def render(self) -> np.ndarray | None:
        return self._obs["rgb"] if self.render_mode == "rgb_array" and self._obs is not None else None

    def object_poses(self) -> list[tuple[tuple[float, ...], tuple[float, ...]]]:
        """Each object's base position and orientation, as robolearn's World.object_poses gives them."""
        return [p.getBasePositionAndOrientation(uid, physicsClientId=0) for uid in self.env._objectUids]

    def close(self) -> None:
        """Disconnect the original's client (its own __del__ does, once nothing holds it), so another can connect."""
        env, self.env = getattr(self, "env", None), None
        if env is not None:  # drop what this adapter hung on it, which refers back to the adapter
            for name in ("_get_random_object", "_get_observation"):
                env.__dict__.pop(name, None)
            if getattr(env, "_kuka", None) is not None:
                env._kuka.__dict__.pop("applyAction", None)
