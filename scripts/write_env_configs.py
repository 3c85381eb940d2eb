"""Write envs/<preset>.toml from the presets in robolearn/envs/config.py (run after changing a preset).

The TOML files are what users copy and edit; tests check that each still equals its preset.
"""

from __future__ import annotations

from pathlib import Path

from robolearn.envs.config import make_config
from robolearn.envs.motion import make_motion_config

HEADERS = {
    "kuka": "robolearn/GraspKuka-v0: KUKA iiwa grasping procedural objects from a tray, 64x64 RGB, 8 steps.\n"
    "The gripper moves freely (no height hack) and grasps at the last step if it has not grasped before.",
    "panda": "robolearn/GraspPanda-v0: Franka Panda grasping procedural objects from a tray, 64x64 RGB, 8 steps.\n"
    "The end effector is the point between the fingertips, so its heights differ from the KUKA's wrist.",
    "kuka_diverse": "robolearn/KukaDiverse-v0: the task of pybullet_envs' KukaDiverseObjectEnv (48x48 RGB, 8 steps,\n"
    "dv 0.06, height hack, 5 objects, success when an object's base ends above 0.2 m), to compare with published results.",
    "motion_kuka": "robolearn/MotionKuka-v0: the KUKA moving through grasps, reaches and pushes, 8 frames a second,\n"
    "seen by 4 cameras (64x64 RGB each) drawn around the workspace per episode, swaying like hand-held ones.",
    "motion_panda": "robolearn/MotionPanda-v0: the Panda playing the same motions as MotionKuka-v0 (the same path of the\n"
    "grasp point for the same seed), seen by the same rig of 4 cameras.",
}
FOOTER = (
    "Copy and edit; `robolearn eval --env THIS_FILE` validates it on load (unknown keys are errors).\n"
    "Every key is listed; robolearn/envs/config.py and robolearn/sim/ say what each means."
)


def _value(v: object) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        return f'"{v}"'
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_value(x) for x in v) + "]"
    return repr(v)


def to_toml(data: dict, header: str) -> str:
    lines = [f"# {line}" for line in (header + "\n" + FOOTER).splitlines()] + [""]
    lines += [f"{k} = {_value(v)}" for k, v in data.items() if not isinstance(v, dict)]
    for k, v in data.items():
        if isinstance(v, dict):
            lines += ["", f"[{k}]"] + [f"{kk} = {_value(vv)}" for kk, vv in v.items()]
    return "\n".join(lines) + "\n"


def main() -> None:
    root = Path(__file__).resolve().parents[1] / "envs"
    for preset, header in HEADERS.items():
        build = make_motion_config if preset.startswith("motion_") else make_config
        data = build(preset).model_dump(mode="json", exclude_none=True)
        (root / f"{preset}.toml").write_text(to_toml(data, header))
        print(f"wrote {root / f'{preset}.toml'}")


if __name__ == "__main__":
    main()
