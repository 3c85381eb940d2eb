"""Recording one episode as store frames and values, with Levine's motor-command labels.

Frame t holds the observation the policy acted on, its action, and the motor command
v_t = p_T - p_t: the move from the gripper pose at t to the pose p_T where the episode grasped,
as (dx, dy, dz, sin dyaw, cos dyaw) (Levine et al. 2016). The episode's values: success, seed,
object ids, steps.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from robolearn.data.store import Feature
from robolearn.envs.config import EnvConfig
from robolearn.envs.grasp_env import STATE_DIM, GraspEnv
from robolearn.policies.base import Policy, start_episode

MOTOR_DIM = 5


def features(config: EnvConfig) -> tuple[dict[str, Feature], dict[str, Feature]]:
    """The store schema (frame features, episode features) of episodes of an env with `config`.

    The one place that says what a collected episode holds: the writer, and later loaders and
    model input checks, read it from the store's attributes.
    """
    cam = config.camera
    frames = {"rgb": Feature((cam.height, cam.width, 3), "uint8")}
    if cam.depth:
        frames["depth"] = Feature((cam.height, cam.width), "float16")
    if cam.segmentation:
        frames["segmentation"] = Feature((cam.height, cam.width), "uint8")
    frames |= {
        "state": Feature((STATE_DIM,), "float32"),
        "action": Feature((4,), "float32"),
        "motor_command": Feature((MOTOR_DIM,), "float32"),
    }
    values = {
        "success": Feature((), "bool"),
        "seed": Feature((), "int64"),
        "steps": Feature((), "int32"),
        "object_ids": Feature((config.objects.count,), "int32"),
    }
    return frames, values


def motor_commands(poses: np.ndarray, final: np.ndarray) -> np.ndarray:
    """(T, 5) v_t = p_T - p_t for poses (T, 4) of [x, y, z, yaw] and the final pose (4,), or each frame's (T, 4)."""
    d = np.asarray(final) - poses
    return np.concatenate([d[:, :3], np.sin(d[:, 3:4]), np.cos(d[:, 3:4])], axis=1).astype(np.float32)


def pose_of(state: np.ndarray) -> np.ndarray:
    """[x, y, z, yaw] of the gripper target recorded in observation states (..., 7)."""
    return np.concatenate([state[..., :3], np.arctan2(state[..., 3:4], state[..., 4:5])], axis=-1)


def command_ends(states: np.ndarray, motor_commands: np.ndarray) -> np.ndarray:
    """(..., 4) the pose [x, y, z, yaw] each frame's motor command (..., 5) points at: p_t + v_t."""
    v = np.asarray(motor_commands, np.float64)
    turn = np.arctan2(v[..., 3:4], v[..., 4:5])
    return pose_of(np.asarray(states, np.float64)) + np.concatenate([v[..., :3], turn], axis=-1)


def record_episode(env: GraspEnv, policy: Policy, seed: int, policy_seed: int | None = None
                   ) -> tuple[dict[str, np.ndarray], dict[str, Any]]:  # fmt: skip
    """Run one episode of `policy` from env `seed` (the policy's randomness from `policy_seed`, by
    default the same); its frames and values for `EpisodeStore.add_episode`."""
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


def yaw_of(motor_command: np.ndarray) -> float:
    """The rotation a motor command asks for, from its (sin, cos) pair."""
    return math.atan2(float(motor_command[3]), float(motor_command[4]))
