"""Policies: the protocol, random, the scripted oracle (see robolearn.envs.task)."""

from robolearn.policies.base import Policy, RandomPolicy

__all__ = ["Policy", "RandomPolicy"]
