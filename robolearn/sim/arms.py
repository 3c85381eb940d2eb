"""Arms under Cartesian end-effector control (IK) with an open/close gripper.

`Arm.command(pos, yaw, gripper)` sets motor targets for the end effector at
`pos` with the gripper pointing down, rotated `yaw` about the vertical, and a
gripper opening in [0 (closed), 1 (open)]. Stepping the simulation moves it.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Literal

import numpy as np
import pybullet as p
import pybullet_data

ArmName = Literal["kuka", "panda"]
IKName = Literal["null_space", "damped"]
DATA = Path(pybullet_data.getDataPath())


class Arm(ABC):
    """One arm in one pybullet client."""

    ee_link: int  # link whose position is the end-effector position
    arm_joints: tuple[int, ...]  # joints driven by IK
    gripper_links: frozenset[int]  # links that may touch a grasped object
    wrist_links: tuple[int, ...]  # the links that reach into the tray (free-space test)
    home_ee: tuple[float, float, float]
    finger_gap: float  # metres between the open fingers' inner faces
    tip_offset: float  # metres from the grasp point between the fingertips up to the end-effector link (gripper down)
    joint_speed: float  # the arm joints' speed limit (rad/s) under IK position control

    def __init__(self, *, client: int, ik: IKName = "null_space") -> None:
        self.client = client
        self.ik = ik
        self.uid = self._load()
        self.num_joints = p.getNumJoints(self.uid, physicsClientId=client)
        self.target = np.asarray(self.home_ee, dtype=np.float64)
        self.yaw = 0.0
        self.gripper = 1.0

    @abstractmethod
    def _load(self) -> int: ...

    @abstractmethod
    def reset(self) -> None:
        """Put the joints at the home pose instantly, gripper open; targets at the home end-effector pose."""

    @abstractmethod
    def move(self, pos: np.ndarray, yaw: float) -> None:
        """Set the arm's motor targets (IK) for end-effector position `pos` and gripper rotation `yaw`."""

    @abstractmethod
    def grip(self, gripper: float) -> None:
        """Set the finger motor targets for an opening in [0 (closed), 1 (open)]."""

    def _solve(self, pos: list[float], orn: tuple[float, ...]) -> tuple[float, ...]:
        """Joint targets for the end effector at `pos` with orientation `orn`: `ik` null_space (limits and rest
        poses, what robolearn's arms use) or damped (joint damping 1e-5 alone, what pybullet_envs' kuka.Kuka
        calls: it sets useNullSpace = 21 and then tests == 1)."""
        if self.ik == "damped":
            return p.calculateInverseKinematics(self.uid, self.ee_link, pos, orn, jointDamping=[1e-5] * self.num_joints,
                                                physicsClientId=self.client)  # fmt: skip
        return p.calculateInverseKinematics(self.uid, self.ee_link, pos, orn, self.LOWER, self.UPPER, self.RANGES,
                                            self.REST, physicsClientId=self.client)  # fmt: skip

    def command(self, pos: np.ndarray, yaw: float, gripper: float) -> None:
        self.move(pos, yaw)
        self.grip(gripper)

    def ee_position(self) -> np.ndarray:
        """World position of the end-effector link's centre of mass (what KukaDiverseObjectEnv tests)."""
        return np.asarray(p.getLinkState(self.uid, self.ee_link, physicsClientId=self.client)[0])

    def yaw_for_axis(self, axis_yaw: float) -> float:
        """The commanded yaw that makes the fingers close along world direction `axis_yaw` (mod pi)."""
        return axis_yaw

    def still(self, tol: float = 1e-2) -> bool:
        """True when no joint of the arm or gripper moves faster than `tol` rad/s (or m/s)."""
        states = p.getJointStates(self.uid, list(range(self.num_joints)), physicsClientId=self.client)
        return all(abs(s[1]) < tol for s in states)

    def tip_pose(self) -> np.ndarray:
        """[x, y, z, qx, qy, qz, qw]: the grasp point between the fingertips and the end-effector link's
        orientation, in the world (the same point on either arm, so one Cartesian path serves both)."""
        pos, orn = p.getLinkState(self.uid, self.ee_link, physicsClientId=self.client)[:2]
        rot = np.asarray(p.getMatrixFromQuaternion(orn)).reshape(3, 3)
        return np.concatenate([np.asarray(pos) + rot @ self._tip_in_link(), orn]).astype(np.float32)

    def _tip_in_link(self) -> np.ndarray:
        return np.zeros(3)

    def joint_positions(self) -> np.ndarray:
        states = p.getJointStates(self.uid, list(range(self.num_joints)), physicsClientId=self.client)
        return np.asarray([s[0] for s in states], dtype=np.float32)


class KukaArm(Arm):
    """KUKA iiwa with its two-finger gripper (pybullet_data kuka_iiwa/kuka_with_gripper2.sdf).

    Joint targets, gains, forces and null-space limits are those of pybullet_envs' kuka.Kuka,
    so that grasps behave as in KukaDiverseObjectEnv.
    """

    ee_link = 6
    arm_joints = tuple(range(7))
    gripper_links = frozenset(range(7, 14))
    wrist_links = tuple(range(5, 14))
    home_ee = (0.537, 0.0, 0.5)
    finger_gap = 0.10
    tip_offset = 0.22  # measured: the fingertip links' centres are 0.22 m below link 6's with the gripper down
    joint_speed = 0.35
    HOME_JOINTS = (0.006418, 0.413184, -0.011401, -1.589317, 0.005379, 1.137684, -0.006539, 0.000048,
                   -0.299912, 0.0, -0.000043, 0.299960, 0.0, -0.000200)  # fmt: skip
    LOWER = (-0.967, -2, -2.96, 0.19, -2.96, -2.09, -3.05)
    UPPER = (0.967, 2, 2.96, 2.29, 2.96, 2.09, 3.05)
    RANGES = (5.8, 4, 5.8, 4, 5.8, 4, 6)
    REST = (0, 0, 0, 0.5 * math.pi, 0, -math.pi * 0.5 * 0.66, 0)
    DOWN = tuple(p.getQuaternionFromEuler([0, -math.pi, 0]))
    OPEN_ANGLE = 0.3

    def _tip_in_link(self) -> np.ndarray:
        return np.array([0.0, 0.0, self.tip_offset])  # link 6's z axis points down the gripper

    def yaw_for_axis(self, axis_yaw: float) -> float:
        # The wrist turns the other way from the commanded yaw (measured from the fingertip positions;
        # the oracle grasps 75% of 40 test layouts with this, 57% with the axis a quarter turn off).
        return -axis_yaw

    def _load(self) -> int:
        uid = p.loadSDF(str(DATA / "kuka_iiwa" / "kuka_with_gripper2.sdf"), physicsClientId=self.client)[0]
        p.resetBasePositionAndOrientation(uid, [-0.1, 0.0, 0.07], [0, 0, 0, 1], physicsClientId=self.client)
        return uid

    def reset(self) -> None:
        for j, q in enumerate(self.HOME_JOINTS):
            p.resetJointState(self.uid, j, q, physicsClientId=self.client)
            p.setJointMotorControl2(self.uid, j, p.POSITION_CONTROL, targetPosition=q, force=200.0,
                                    physicsClientId=self.client)  # fmt: skip
        self.target = np.asarray(self.home_ee, dtype=np.float64)
        self.yaw, self.gripper = 0.0, 1.0

    def move(self, pos: np.ndarray, yaw: float) -> None:
        c = self.client
        self.target, self.yaw = np.asarray(pos, dtype=np.float64), float(yaw)
        q = self._solve(self.target.tolist(), self.DOWN)
        for j in self.arm_joints:
            p.setJointMotorControl2(self.uid, j, p.POSITION_CONTROL, targetPosition=q[j], targetVelocity=0,
                                    force=200.0, maxVelocity=self.joint_speed, positionGain=0.3, velocityGain=1,
                                    physicsClientId=c)  # fmt: skip
        p.setJointMotorControl2(
            self.uid, 7, p.POSITION_CONTROL, targetPosition=self.yaw, force=200.0, physicsClientId=c
        )

    def grip(self, gripper: float) -> None:
        self.finger_angle(self.OPEN_ANGLE * float(gripper))
        self.gripper = float(gripper)  # as given, not as the angle divides back

    def finger_angle(self, angle: float) -> None:
        """Finger motor targets for an opening of `angle` radians (0.3 open), at pybullet_envs' forces."""
        c = self.client
        self.gripper = angle / self.OPEN_ANGLE
        p.setJointMotorControl2(self.uid, 8, p.POSITION_CONTROL, targetPosition=-angle, force=2.0, physicsClientId=c)
        p.setJointMotorControl2(self.uid, 11, p.POSITION_CONTROL, targetPosition=angle, force=2.5, physicsClientId=c)
        p.setJointMotorControl2(self.uid, 10, p.POSITION_CONTROL, targetPosition=0, force=2.0, physicsClientId=c)
        p.setJointMotorControl2(self.uid, 13, p.POSITION_CONTROL, targetPosition=0, force=2.0, physicsClientId=c)


class PandaArm(Arm):
    """Franka Panda with its parallel gripper (pybullet_data franka_panda/panda.urdf).

    The end effector is the grasp target between the fingertips (link 11).
    """

    ee_link = 11
    arm_joints = tuple(range(7))
    gripper_links = frozenset({8, 9, 10, 11})
    wrist_links = tuple(range(5, 12))
    home_ee = (0.55, 0.0, 0.25)
    finger_gap = 0.08
    tip_offset = 0.0
    joint_speed = 1.0
    BASE = (0.0, 0.0, -0.19)
    HOME_JOINTS = (0.0, 0.1, 0.0, -1.9, 0.0, 2.0, 0.785)
    LOWER = (-2.9671, -1.8326, -2.9671, -3.1416, -2.9671, -0.0873, -2.9671)
    UPPER = (2.9671, 1.8326, 2.9671, 0.0, 2.9671, 3.8223, 2.9671)
    RANGES = tuple(u - lo for lo, u in zip(LOWER, UPPER))
    REST = HOME_JOINTS
    FINGER_OPEN = 0.04

    def _load(self) -> int:
        return p.loadURDF(str(DATA / "franka_panda" / "panda.urdf"), self.BASE, useFixedBase=True, physicsClientId=self.client)  # fmt: skip

    def reset(self) -> None:
        for j, q in enumerate(self.HOME_JOINTS):
            p.resetJointState(self.uid, j, q, physicsClientId=self.client)
        for j in (9, 10):
            p.resetJointState(self.uid, j, self.FINGER_OPEN, physicsClientId=self.client)
        self.command(np.asarray(self.home_ee), 0.0, 1.0)
        # Start exactly at the home end-effector pose.
        q = p.calculateInverseKinematics(self.uid, self.ee_link, list(self.home_ee), self._down(0.0), self.LOWER,
                                         self.UPPER, self.RANGES, self.REST, maxNumIterations=100,
                                         physicsClientId=self.client)  # fmt: skip
        for j in self.arm_joints:
            p.resetJointState(self.uid, j, q[j], physicsClientId=self.client)

    @staticmethod
    def _down(yaw: float) -> tuple[float, ...]:
        return tuple(p.getQuaternionFromEuler([math.pi, 0.0, yaw - math.pi / 2]))

    def move(self, pos: np.ndarray, yaw: float) -> None:
        c = self.client
        self.target, self.yaw = np.asarray(pos, dtype=np.float64), float(yaw)
        q = self._solve(self.target.tolist(), self._down(self.yaw))
        for j in self.arm_joints:
            p.setJointMotorControl2(self.uid, j, p.POSITION_CONTROL, targetPosition=q[j], targetVelocity=0,
                                    force=200.0, maxVelocity=self.joint_speed, positionGain=0.3, velocityGain=1,
                                    physicsClientId=c)  # fmt: skip

    def grip(self, gripper: float) -> None:
        c = self.client
        self.gripper = float(gripper)
        width = self.FINGER_OPEN * self.gripper
        for j in (9, 10):
            p.setJointMotorControl2(
                self.uid, j, p.POSITION_CONTROL, targetPosition=width, force=20.0, physicsClientId=c
            )


ARMS: dict[str, type[Arm]] = {"kuka": KukaArm, "panda": PandaArm}
