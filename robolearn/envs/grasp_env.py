"""GraspEnv: a gymnasium env of an arm grasping procedural objects from a tray (Levine 2016 style).

Action: Box(-1, 1, (4,)) = (dx, dy, dz, dyaw), scaled by `task.dv` metres and `task.da`
radians, moving the end-effector target within the workspace. With `task.height_hack`
the gripper descends by dv every step whatever dz says (KukaDiverseObjectEnv).
Once the end effector is at or below `task.grasp_height` (or at the last step, with
`task.grasp_at_last_step`) the env grasps: close the fingers, lift, and the episode
terminates; it is a success if an object ends above `task.success_height`.

The task (default: GraspTask of the config) lays out the scene, judges success and declares the features;
the observation space is its `features().observation`: Dict(rgb (H,W,3) uint8, [depth (H,W) float32 metres],
[segmentation (H,W) uint8: 0 where no object is seen, i + 1 where the tray's object i is], state (7,) float32 =
end-effector target xyz, sin/cos yaw, gripper opening, fraction of steps used; robolearn.envs.grasp).
info of step(): is_success, grasp_attempted, gripper_pose = [x, y, z, yaw] of the end-effector
target after the action (before any lift): at the last step, the pose p_T of the grasp;
lifted_object_ids: the procedural ids of the objects lifted above the success height.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from robolearn.envs import grasp
from robolearn.envs.config import EnvConfig, make_config
from robolearn.envs.task import GraspTask, Task
from robolearn.sim.camera import CameraPose, sample_pose
from robolearn.sim.world import World


class GraspEnv(gym.Env[dict[str, np.ndarray], np.ndarray]):
    metadata = {"render_modes": ["rgb_array"], "render_fps": 4}

    def __init__(self, config: EnvConfig | dict[str, Any] | None = None, *, preset: str | None = None,
                 render_mode: str | None = None, task: Task | None = None, **overrides: Any) -> None:  # fmt: skip
        self.config = (
            config
            if isinstance(config, EnvConfig) and not (preset or overrides)
            else make_config(preset, config, **overrides)
        )
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(f"render_mode {render_mode!r} is not supported; allowed: {self.metadata['render_modes']}")
        self.render_mode = render_mode
        if task is not None and task.config != self.config:
            raise ValueError("the task was built for another env config than this env's")
        self.task: Task = task if task is not None else GraspTask(self.config)
        self.observation_space = self.task.features().observation_space()
        self.action_space = spaces.Box(-1.0, 1.0, (grasp.ACTION_DIM,), np.float32)

        self.world = World(arm=self.config.arm, physics=self.config.physics, renderer=self.config.renderer,
                           ik="damped" if self.config.task.control == "original" else "null_space")  # fmt: skip
        self.t = 0
        self.attempted = False
        self._pose: CameraPose = sample_pose(self.config.camera, None)
        self._last_obs: dict[str, np.ndarray] | None = None
        self.layout_rng_state: dict[str, Any] | None = None  # np_random's state when this episode's layout began

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        super().reset(seed=seed)
        self._begin(self.np_random)
        self._pose = sample_pose(self.config.camera, self.np_random)
        obs = self._observe()
        return obs, {"object_ids": list(self.world.object_ids)}

    def _begin(self, rng: np.random.Generator) -> None:
        """Rebuild the world and lay the objects out with `rng`: an episode's physics starts here."""
        self.world.reset()
        self.layout_rng_state = rng.bit_generator.state  # the layout is a function of this state
        self.task.layout(self.world, rng)
        self.t, self.attempted = 0, False

    def replay_start(self, layout_rng_state: dict[str, Any]) -> None:
        """Start again the episode whose `layout_rng_state` this is (another env's, of the same config), without
        observing: the same scene, and the same physics from there for the same actions (`advance`)."""
        rng = np.random.Generator(getattr(np.random, layout_rng_state["bit_generator"])())
        rng.bit_generator.state = layout_rng_state
        self._begin(rng)

    def step(self, action: np.ndarray) -> tuple[dict[str, np.ndarray], float, bool, bool, dict[str, Any]]:
        if self.attempted:
            raise RuntimeError("step() after the episode terminated; call reset()")
        tc, world = self.config.task, self.world
        pose = self.advance(action)
        obs = self._observe()
        lifted = self.task.lifted(world) if self.attempted else []
        success = bool(lifted)
        reward = self.task.reward(world, attempted=self.attempted)
        truncated = not self.attempted and self.t >= tc.max_steps
        info = {"is_success": success, "grasp_attempted": self.attempted, "gripper_pose": pose,
                "lifted_object_ids": lifted}  # fmt: skip
        return obs, reward, self.attempted, truncated, info

    def advance(self, action: np.ndarray) -> list[float]:
        """The physics of step(): move by `action`, grasp when the gripper is low enough (or at the last step,
        with `task.grasp_at_last_step`). Returns the gripper pose [x, y, z, yaw] this action commanded."""
        tc, world, arm = self.config.task, self.world, self.world.arm
        a = np.asarray(action, dtype=np.float64).reshape(grasp.ACTION_DIM)
        if not np.isfinite(a).all():
            raise ValueError(f"action {a.tolist()}: not finite (each of dx, dy, dz, dyaw must be a number in [-1, 1])")
        a = np.clip(a, -1.0, 1.0)
        dz = -tc.dv if tc.height_hack else tc.dv * a[2]
        target = np.clip(arm.target + np.array([tc.dv * a[0], tc.dv * a[1], dz]), tc.workspace_low, tc.workspace_high)
        arm.move(target, arm.yaw + tc.da * a[3])
        substeps = self.config.physics.action_substeps
        if tc.control == "original":
            arm.grip(1.0)
            if self.t + 1 >= tc.max_steps:
                substeps = 1  # its termination check, inside the substep loop, is already true
        world.move_arm(substeps)
        self.t += 1
        pose = [*arm.target.tolist(), arm.yaw]  # where this action put the gripper; the grasp closes here
        if arm.ee_position()[2] <= tc.grasp_height or (tc.grasp_at_last_step and self.t >= tc.max_steps):
            self._grasp()
            self.attempted = True
        return pose

    def _grasp(self) -> None:
        """Close the fingers over 100 substeps and hold, then raise the target `lift_per_substep` a substep.

        robolearn's control solves IK once for the close phase and steps the fingers' opening 1 - (i + 1) / 100;
        the original's (`task.control`) re-solves IK and commands the fingers every substep, their angle falling
        0.003 rad a substep from 0.3 (KukaDiverseObjectEnv). With `physics.early_exit` the grasp stops early: the
        close phase once arm and fingers are still; the lift once its outcome is decided (`_lift_decided`), since an
        object only rises if the gripper holds it. (Clear matters: a gripper jammed against the tray floor often
        closes on an object only as it starts to rise.) early_exit 'lift' keeps only the lift's exit.
        """
        world, arm, ph = self.world, self.world.arm, self.config.physics
        original = self.config.task.control == "original"
        every = ph.early_exit is True  # every exit; "lift": the lift's alone
        pos, yaw = arm.target.copy(), arm.yaw
        angle = getattr(arm, "OPEN_ANGLE", 0.0)  # the original's finger angle, decremented as it does

        def fingers(i: int) -> None:
            nonlocal angle
            if original:
                arm.finger_angle(angle)
                angle = max(angle - arm.OPEN_ANGLE / 100.0, 0.0)
            elif i >= 0:
                arm.grip(max(0.0, 1.0 - (i + 1) / 100))
            elif not every:
                arm.grip(0.0)

        if not original:
            arm.move(pos, yaw)
        for i in range(ph.grasp_close_substeps):
            if original or not every:
                arm.move(pos, yaw)  # KukaDiverseObjectEnv re-solves IK for the unchanged target every substep
            fingers(i)
            world.step()
            if every and i >= 100 and i % 10 == 0 and arm.still():
                break
        for i in range(ph.grasp_lift_substeps):
            if ph.early_exit and i % 10 == 0 and self._lift_decided():
                break
            pos[2] += ph.lift_per_substep
            arm.move(pos, yaw)
            fingers(-1)
            world.step()

    def _lift_decided(self) -> bool:
        """The lift can no longer lift anything: the gripper holds nothing, is clear of every object, and no object
        is above the success height (one there and not held is falling: it must not be judged mid-air)."""
        world, top = self.world, self.config.task.success_height
        return (not world.held_objects() and world.gripper_clear_of_objects()
                and all(pos[2] <= top for pos, _ in world.object_poses()))  # fmt: skip

    def _observe(self) -> dict[str, np.ndarray]:
        images = self.world.render(self.config.camera, self._pose)
        arm = self.world.arm
        state = grasp.state_vector(arm.target, arm.yaw, arm.gripper, self.t / self.config.task.max_steps)
        obs = {"rgb": images["rgb"]}
        if "depth" in images:
            obs["depth"] = images["depth"]
        if "segmentation" in images:  # pybullet body ids -> 0 (not an object) or 1 + the object's index
            uids = np.asarray(self.world.objects, dtype=np.int64)
            lut = np.zeros(int(uids.max(initial=0)) + 2, np.uint8)
            lut[uids] = np.arange(1, len(uids) + 1)
            seg = images["segmentation"]
            obs["segmentation"] = np.where(seg >= 0, lut[np.clip(seg, 0, len(lut) - 1)], 0).astype(np.uint8)
        obs["state"] = state
        self._last_obs = obs
        return obs

    def render(self) -> np.ndarray | None:
        if self.render_mode == "rgb_array":
            return (
                self._last_obs["rgb"]
                if self._last_obs is not None
                else self.world.render(self.config.camera, self._pose)["rgb"]
            )
        return None

    def close(self) -> None:
        if getattr(self, "world", None) is not None:
            self.world.close()
            self.world = None  # type: ignore[assignment]
