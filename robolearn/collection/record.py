"""Recording one episode as store frames and values: a grasp with Levine's motor-command labels, or a motion.

Frame t holds the observation the policy acted on, its action, and the motor command
v_t = p_T - p_t: the move from the gripper pose at t to the pose p_T where the episode grasped,
as (dx, dy, dz, sin dyaw, cos dyaw) (Levine et al. 2016; robolearn.envs.grasp). The episode's values:
success, seed, object ids, steps. What a store of such episodes holds is the task's `features()`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from robolearn.envs.grasp import motor_commands
from robolearn.envs.grasp_env import GraspEnv
from robolearn.envs.motion_env import MotionEnv
from robolearn.policies.base import Policy, start_episode


def record_episode(env: GraspEnv | MotionEnv, policy: Policy, seed: int, policy_seed: int | None = None
                   ) -> tuple[dict[str, np.ndarray], dict[str, Any]]:  # fmt: skip
    """Run one episode of `policy` from env `seed` (the policy's randomness from `policy_seed`, by
    default the same); its frames and values for `EpisodeStore.add_episode`."""
    if isinstance(env, MotionEnv):
        return record_motion(env, policy, seed, policy_seed)
    obs, info = start_episode(env, policy, seed, policy_seed)
    arm = env.world.arm
    keep = [k for k in ("rgb", "depth", "segmentation") if k in obs]
    frames: dict[str, list] = {k: [] for k in [*keep, "state", "action"]}
    poses = []
    done, step_info = False, {}
    while not done:
        action = np.asarray(policy.act(obs), dtype=np.float32)
        for k in keep:
            frames[k].append(obs[k])
        frames["state"].append(obs["state"])
        frames["action"].append(action)
        poses.append([*arm.target.tolist(), arm.yaw])
        obs, _, terminated, truncated, step_info = env.step(action)
        done = terminated or truncated
    out = {k: np.stack(v) for k, v in frames.items()}
    if "depth" in out:
        out["depth"] = out["depth"].astype(np.float16)
    out["motor_command"] = motor_commands(np.asarray(poses), np.asarray(step_info["gripper_pose"]))
    values = {
        "success": bool(step_info["is_success"]),
        "seed": int(seed),
        "steps": len(poses),
        "object_ids": np.asarray(info["object_ids"], dtype=np.int32),
    }
    return out, values


def record_motion(env: MotionEnv, policy: Policy, seed: int, policy_seed: int | None = None
                  ) -> tuple[dict[str, np.ndarray], dict[str, Any]]:  # fmt: skip
    """One motion episode: every observation with the labels of its moment and the action taken from it (the last
    frame's action is zeros: the episode ends there)."""
    obs, info = start_episode(env, policy, seed, policy_seed)
    frames: dict[str, list] = {k: [] for k in env.task.features().frames}
    done = False
    while True:
        action = np.zeros(5, np.float32) if done else np.asarray(policy.act(obs), dtype=np.float32)
        for k, v in {**obs, **info["labels"], "action": action}.items():
            frames[k].append(v)
        if done:
            break
        obs, _, terminated, truncated, info = env.step(action)
        done = terminated or truncated
    return {k: np.stack(v) for k, v in frames.items()}, {**env.values(), "seed": int(seed)}
