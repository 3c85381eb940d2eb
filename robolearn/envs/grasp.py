"""Grasp geometry, in one place: the state layout, Levine's motor command, the planned descent, the mirror world.

Pure numpy (and torch for the mirror, which works on training batches). Every layer that reads or writes grasp
labels imports it: the env (state), collection (labels), data (planned commands), train (mirror), policies (CEM).

State (`STATE_DIM` = 7 floats): the end-effector target x, y, z, sin yaw, cos yaw, the gripper opening and the
fraction of the episode's steps used. A model given the pose reads its first `POSE_DIM` = 5.

Motor command v_t (`MOTOR_DIM` = 5): the move from the gripper pose p_t = [x, y, z, yaw] to the pose where the
grasp closes, (dx, dy, dz, sin dyaw, cos dyaw) (Levine et al. 2016).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from robolearn.config import ConfigError
from robolearn.features import Feature

STATE_DIM = 7
POSE_DIM = 5  # x, y, z, sin yaw, cos yaw: the part of the state a model reads as the gripper's pose
ACTION_DIM = 4  # dx, dy, dz, dyaw, each in [-1, 1]
MOTOR_DIM = 5

# The frames' grasp keys besides the images, as stored: GraspTask.features() declares them, loaders check them.
LABEL_FEATURES = {
    "state": Feature((STATE_DIM,), "float32"),
    "action": Feature((ACTION_DIM,), "float32"),
    "motor_command": Feature((MOTOR_DIM,), "float32"),
}


def state_vector(target: Sequence[float], yaw: float, gripper: float, fraction: float) -> np.ndarray:
    """The observation's state (7,) float32."""
    return np.array([*target, math.sin(yaw), math.cos(yaw), gripper, fraction], dtype=np.float32)


def motor_command(v: np.ndarray) -> np.ndarray:
    """(N,4) moves (dx, dy, dz, dyaw) -> (N,5) motor commands (dx, dy, dz, sin dyaw, cos dyaw): the one encoding."""
    return np.concatenate([v[:, :3], np.sin(v[:, 3:4]), np.cos(v[:, 3:4])], axis=1).astype(np.float32)


def motor_commands(poses: np.ndarray, final: np.ndarray) -> np.ndarray:
    """(T, 5) v_t = p_T - p_t for poses (T, 4) of [x, y, z, yaw] and the final pose (4,), or each frame's (T, 4)."""
    return motor_command(np.asarray(final) - poses)


def pose_of(state: np.ndarray) -> np.ndarray:
    """[x, y, z, yaw] of the gripper target recorded in observation states (..., 7)."""
    return np.concatenate([state[..., :3], np.arctan2(state[..., 3:4], state[..., 4:5])], axis=-1)


def command_ends(states: np.ndarray, motor_commands: np.ndarray) -> np.ndarray:
    """(..., 4) the pose [x, y, z, yaw] each frame's motor command (..., 5) points at: p_t + v_t."""
    v = np.asarray(motor_commands, np.float64)
    turn = np.arctan2(v[..., 3:4], v[..., 4:5])
    return pose_of(np.asarray(states, np.float64)) + np.concatenate([v[..., :3], turn], axis=-1)


def yaw_of(motor_command: np.ndarray) -> float:
    """The rotation a motor command asks for, from its (sin, cos) pair."""
    return math.atan2(float(motor_command[3]), float(motor_command[4]))


# -- the descent -----------------------------------------------------------------------------------------------
def steps_to_grasp(z, grasp_height: float, dv: float):
    """Under the height hack: the actions after which the grasp closes, for a gripper target at height `z`.

    The target descends `dv` an action and the env grasps once the end effector is at or below
    `grasp_height`, so the grasp closes at the first target height at or below it (KukaDiverse: from 0.5 m,
    after 7 actions, at 0.08 m), or one action later where the arm lags its target. Searching commands
    that end `dv` times the steps to `max_steps` below instead (0.02 m) read the spatial scorer out 3 px,
    4.2 cm on the tray, from where the gripper would close (docs/RESULTS.md). `z` a number or an array."""
    return np.maximum(np.ceil((np.asarray(z) - grasp_height) / dv - 1e-6), 1).astype(np.int64)


def actions_left(state: np.ndarray, task) -> np.ndarray:
    """The actions the servo expects before the grasp, for gripper states (..., 7) in an env of TaskConfig `task`:
    the steps the episode has left, and under the height hack no more than `steps_to_grasp` from the target's
    height (at least 1)."""
    state = np.asarray(state, np.float64)
    left = np.maximum(np.round((1 - state[..., 6]) * task.max_steps), 1)
    if task.height_hack:
        left = np.minimum(left, steps_to_grasp(state[..., 2], task.grasp_height, task.dv))
    return left.astype(np.int64)


def planned_drop(z, actions, task):
    """Under the height hack, the height change (m) of the commands the servo searches from a gripper target at
    height `z` with `actions` left before the grasp (`actions_left`): the env's descent, as far as the workspace's
    floor. Numbers or arrays."""
    z = np.asarray(z, np.float64)
    return np.maximum(task.workspace_low[2], z - task.dv * np.asarray(actions)) - z


def planned_commands(state: np.ndarray, recorded: np.ndarray, ends: np.ndarray, task) -> np.ndarray:
    """Each frame's motor command (N, 5) to the pose the gripper had at the step the servo plans the grasp for from
    that frame (`actions_left`), for episodes of frames `state` (N, 7) and `recorded` motor commands (N, 5) that end
    at `ends` (E,). Where the episode ends before that step (the grasp closed on time), the
    recorded final pose at the planned height."""
    state = np.asarray(state, np.float64)
    lengths = np.diff(ends, prepend=0)
    first = np.repeat(ends - lengths, lengths)
    t = np.arange(len(state)) - first
    left = actions_left(state, task)
    pose = pose_of(state)
    end = command_ends(state, recorded)  # the recorded final poses
    end[:, 2] = pose[:, 2] + planned_drop(pose[:, 2], left, task)
    reached = t + left < np.repeat(lengths, lengths)  # the episode went on past the planned step: a late grasp
    end[reached] = pose[(first + t + left)[reached]]
    return motor_commands(pose, end)


# -- the mirror world ------------------------------------------------------------------------------------------
def mirror_plane(camera: Sequence[float], setting: str = "mirroring") -> tuple[np.ndarray, float]:
    """The vertical plane n . p + d = 0 (n a horizontal unit normal) that the camera of world-to-clip matrix
    `camera` (16 numbers, row-major) looks along: the points it draws on the image's middle column. Mirroring
    the world in it flips the image left to right. Refuses a rolled camera, whose plane is not vertical, with a
    ConfigError naming `setting`."""
    row = np.asarray(camera, np.float64).reshape(4, 4)[0]  # clip x = row . [p, 1]: zero on the plane
    norm = float(np.linalg.norm(row[:3]))
    if norm == 0 or abs(row[2]) > 1e-6 * norm:
        raise ConfigError(f"{setting} needs a camera whose image rows are level (roll 0); this one's are not")
    return row[:3] / norm, float(row[3] / norm)


def mirror(inputs: dict, camera: Sequence[float], flip):
    """The frames (torch tensors) where `flip` (B,) is true as they would be in the world mirrored in the camera's
    vertical plane (`mirror_plane`): images, depth and segmentation masks flipped left to right, the gripper's
    position and the command's displacement reflected, their yaw angles reflected (a yaw y becomes 2a + pi - y, a
    the normal's angle; a change of yaw changes sign). The grasp's outcome is the same in the mirror world, for a
    gripper and physics that are mirror-symmetric; the objects are their mirror images."""
    import torch

    n_np, d = mirror_plane(camera)
    a = math.atan2(n_np[1], n_np[0])
    c2, s2 = math.cos(2 * a + math.pi), math.sin(2 * a + math.pi)
    out = dict(inputs)
    for key, x in inputs.items():
        if key not in ("rgb", "depth", "segmentation", "motor_command", "state"):
            continue
        f = flip.to(x.device).view(-1, *[1] * (x.dim() - 1))
        if key in ("rgb", "depth", "segmentation"):
            out[key] = torch.where(f, x.flip(2), x)
            continue
        v = x.float()
        n = torch.tensor(n_np, dtype=torch.float32, device=x.device)
        if key == "motor_command":  # a displacement and a change of yaw
            moved = torch.cat([v[:, :3] - 2 * (v[:, :3] @ n)[:, None] * n, -v[:, 3:4], v[:, 4:5]], dim=1)
        else:  # a position, and sin, cos of a yaw y -> of 2a + pi - y; the rest is not geometry
            sin, cos = v[:, 3:4], v[:, 4:5]
            moved = torch.cat([v[:, :3] - 2 * (v[:, :3] @ n + d)[:, None] * n, s2 * cos - c2 * sin,
                               c2 * cos + s2 * sin, v[:, 5:]], dim=1)  # fmt: skip
        out[key] = torch.where(f, moved, v).to(x.dtype)
    return out
