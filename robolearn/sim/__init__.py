"""The pybullet world: one DIRECT client per instance, arms, objects, tray, cameras."""
