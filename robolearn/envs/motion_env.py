"""MotionEnv: an arm moved through its grasp point at a steady frame rate, seen by a rig of cameras.

Action: Box(-1, 1, (5,)) = (dx, dy, dz, dyaw, gripper): the grasp point moves by `speed / fps` metres per unit
(kept in the workspace), the fingers' closing axis turns by `turn / fps` radians per unit, and the gripper's
opening target is (gripper + 1) / 2. A step lasts 1 / fps seconds of simulated time. An episode lasts
`config.frames` observations; it truncates after the last. The task (robolearn.envs.motion) lays out objects and
plans a motion at reset; its oracle plays the plan.

Observation: rgb (views, H, W, 3) uint8, state (7,) float32 = the commanded grasp point, sin/cos of its yaw, the
gripper opening, the fraction of the episode gone. info["labels"] of reset and step: what the store keeps beside
each frame (robolearn.envs.motion.MotionTask.features).
"""

from __future__ import annotations

import math
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from robolearn.envs.motion import MOTIONS, MotionConfig, MotionTask, make_motion_config
from robolearn.sim.camera import Rig
from robolearn.sim.world import World

START = (0.55, 0.0, 0.25)  # where the grasp point starts, either arm
SETTLE_SUBSTEPS = 240  # substeps for the arm to get there from its home pose, before the objects drop


class MotionEnv(gym.Env[dict[str, np.ndarray], np.ndarray]):
    metadata = {"render_modes": ["rgb_array"], "render_fps": 8}

    def __init__(self, config: MotionConfig | dict[str, Any] | None = None, *, preset: str | None = None,
                 render_mode: str | None = None, **overrides: Any) -> None:  # fmt: skip
        self.config = (
            config
            if isinstance(config, MotionConfig) and not (preset or overrides)
            else make_motion_config(preset, config, **overrides)
        )
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(f"render_mode {render_mode!r} is not supported; allowed: {self.metadata['render_modes']}")
        self.render_mode = render_mode
        self.metadata = {**self.metadata, "render_fps": self.config.fps}
        self.task = MotionTask(self.config)
        self.observation_space = self.task.features().observation_space()
        self.action_space = spaces.Box(-1.0, 1.0, (5,), np.float32)
        self.world = World(arm=self.config.arm, physics=self.config.physics, renderer=self.config.renderer)
        self.t = 0
        self.rig: Rig | None = None
        self._last_obs: dict[str, np.ndarray] | None = None
        # None: every view is rendered. A wrapper that shows one camera (robolearn.train.imitation) sets the views
        # it needs; obs["rgb"] then holds those, in that order, and no longer fits observation_space.
        self.render_views: list[int] | None = None

    # the grasp point's commanded pose, in the world: what the plan and the actions speak of
    def _tip_target(self) -> np.ndarray:
        arm = self.world.arm
        return arm.target - np.array([0.0, 0.0, arm.tip_offset])

    def _axis_yaw(self) -> float:
        return self.world.arm.yaw_for_axis(self.world.arm.yaw)  # the map is its own inverse (a sign or nothing)

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None
              ) -> tuple[dict[str, np.ndarray], dict[str, Any]]:  # fmt: skip
        super().reset(seed=seed)
        self.world.reset()
        arm = self.world.arm
        arm.joint_speed = self.config.joint_speed  # the arm is built anew with each world
        # Either arm starts with its grasp point at START, fingers along x, open: the same first frame of a path.
        arm.command(np.asarray(START) + [0.0, 0.0, arm.tip_offset], arm.yaw_for_axis(0.0), 1.0)
        self.world.step(SETTLE_SUBSTEPS)
        self.task.layout(self.world, self.np_random)
        self.plan = self.task.plan
        self.rig = Rig(self.config.rig, self.np_random)
        self._camera = self.rig.camera()
        self.t = 0
        obs = self._observe()
        return obs, {"object_ids": list(self.world.object_ids), "motion": self.plan.motion, "labels": self.labels()}

    def action_toward(self, point: np.ndarray) -> np.ndarray:
        """The action that takes the grasp point to `point` ([x, y, z, axis yaw, gripper]) in one step, clipped."""
        cfg = self.config
        d = (np.asarray(point[:3]) - self._tip_target()) * cfg.fps / cfg.speed
        dyaw = (point[3] - self._axis_yaw() + math.pi / 2) % math.pi - math.pi / 2  # either way round
        a = np.array([*d, dyaw * cfg.fps / cfg.turn, 2.0 * point[4] - 1.0])
        return np.clip(a, -1.0, 1.0).astype(np.float32)

    def step(self, action: np.ndarray) -> tuple[dict[str, np.ndarray], float, bool, bool, dict[str, Any]]:
        if self.rig is None:
            raise RuntimeError("step() before reset()")
        if self.t >= self.config.frames - 1:
            raise RuntimeError("step() after the episode ended; call reset()")
        cfg, arm = self.config, self.world.arm
        a = np.asarray(action, dtype=np.float64).reshape(5)
        if not np.isfinite(a).all():
            raise ValueError(f"action {a.tolist()}: not finite (dx, dy, dz, dyaw, gripper must be numbers in [-1, 1])")
        a = np.clip(a, -1.0, 1.0)
        tip = np.clip(self._tip_target() + a[:3] * cfg.speed / cfg.fps, cfg.workspace_low, cfg.workspace_high)
        axis = self._axis_yaw() + a[3] * cfg.turn / cfg.fps
        arm.move(tip + np.array([0.0, 0.0, arm.tip_offset]), arm.yaw_for_axis(axis))
        arm.grip((a[4] + 1.0) / 2.0)
        self.world.move_arm(cfg.substeps)
        self.t += 1
        obs = self._observe()
        truncated = self.t >= cfg.frames - 1
        success = bool(truncated and self.task.success(self.world))
        info = {"labels": self.labels(), "is_success": success, "motion": self.plan.motion}
        return obs, self.task.reward(self.world, attempted=truncated), False, truncated, info

    def labels(self) -> dict[str, np.ndarray]:
        """The moment's labels that a store keeps and training never reads (MotionTask.features)."""
        world = self.world
        eye, look_at = self.rig.eyes(self.t / self.config.fps)
        objects = [np.concatenate(pose) for pose in world.object_poses()]
        return {
            "joints": world.arm.joint_positions()[list(world.arm.arm_joints)],
            "tip": world.arm.tip_pose(),
            "gripper": np.float32(world.arm.gripper),
            "objects": np.asarray(objects, np.float32),
            "phase": np.int8(self.plan.phase[self.t]),
            "cameras": np.concatenate([eye, look_at], 1).astype(np.float32),
        }

    def values(self) -> dict[str, Any]:
        """The episode's values once it ended (MotionTask.features)."""
        return {"success": bool(self.task.success(self.world)), "motion": MOTIONS.index(self.plan.motion),
                "object_ids": np.asarray(self.world.object_ids, np.int32)}  # fmt: skip

    def _observe(self) -> dict[str, np.ndarray]:
        arm = self.world.arm
        poses = self.rig.poses(self.t / self.config.fps)
        if self.render_views is not None:
            poses = [poses[v] for v in self.render_views]
        rgb = np.stack([self.world.render(self._camera, pose)["rgb"] for pose in poses])
        yaw = self._axis_yaw()
        state = np.array([*self._tip_target(), math.sin(yaw), math.cos(yaw), arm.gripper,
                          self.t / (self.config.frames - 1)], np.float32)  # fmt: skip
        self._last_obs = {"rgb": rgb, "state": state}
        return self._last_obs

    def render(self) -> np.ndarray | None:
        """The views side by side."""
        if self.render_mode == "rgb_array" and self._last_obs is not None:
            return np.concatenate(list(self._last_obs["rgb"]), axis=1)
        return None

    def close(self) -> None:
        if getattr(self, "world", None) is not None:
            self.world.close()
            self.world = None  # type: ignore[assignment]
