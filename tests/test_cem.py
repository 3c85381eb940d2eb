import numpy as np
import pytest

from robolearn.envs import load_env_config
from robolearn.envs.grasp import steps_to_grasp
from robolearn.policies.cem import CEMConfig, CEMServo


def obs_at(pos=(0.57, 0.02, 0.30), yaw=0.0, used=0.0, size=16):
    state = np.array([*pos, np.sin(yaw), np.cos(yaw), 1.0, used], np.float32)
    return {"rgb": np.zeros((size, size, 3), np.uint8), "state": state}


class Peak:
    """A stub scorer: P(success) peaks at command `best` (dx, dy, dz, dyaw); counts its calls."""

    def __init__(self, best, height=0.95, floor=0.0, width=0.03):
        self.best, self.height, self.floor, self.width = np.asarray(best, float), height, floor, width
        self.calls = 0

    def __call__(self, obs, commands):
        self.calls += 1
        v = np.concatenate([commands[:, :3], np.arctan2(commands[:, 3:4], commands[:, 4:5])], axis=1)
        d2 = (((v - self.best) / np.array([1, 1, 1, 10])) ** 2).sum(axis=1)
        return self.floor + (self.height - self.floor) * np.exp(-d2 / (2 * self.width**2))


@pytest.fixture
def kuka():
    return load_env_config("robolearn/GraspKuka-v0")


def test_cem_finds_the_best_command_within_reach(kuka):
    servo = CEMServo(Peak([0.04, -0.03, -0.1, 0.3]), kuka, CEMConfig(close_ratio=1.0, raise_ratio=0.0), seed=0)
    pos = np.array([0.57, 0.02, 0.30])
    v, p = servo.search(obs_at(), *servo._bounds(pos, 8))
    assert p > 0.8
    np.testing.assert_allclose(v[:3], [0.04, -0.03, -0.1], atol=0.02)


def test_servo_closes_when_not_moving_scores_nearly_as_well(kuka):
    scorer = Peak([0.0, 0.0, 0.0, 0.0], height=0.9, floor=0.85)  # staying put is (almost) as good as anything
    servo = CEMServo(scorer, kuka, seed=0)
    action = servo.act(obs_at())
    assert servo.last["decision"] == "close"
    np.testing.assert_array_equal(action, [0, 0, -1, 0])  # straight down: the env grasps at the grasp height


def test_servo_raises_when_not_moving_scores_below_half_the_best(kuka):
    scorer = Peak([0.1, 0.0, 0.0, 0.0], height=0.9, floor=0.05)
    servo = CEMServo(scorer, kuka, seed=0)
    action = servo.act(obs_at())
    assert servo.last["decision"] == "raise"
    assert action[2] == 1.0 and action[0] > 0.5  # up, and across toward the best grasp


def test_servo_moves_without_raising_between_the_two_thresholds(kuka):
    scorer = Peak([0.05, 0.0, 0.0, 0.0], height=0.9, floor=0.6)  # staying scores 2/3 of the best
    servo = CEMServo(scorer, kuka, seed=0)
    action = servo.act(obs_at())
    assert servo.last["decision"] == "move" and action[2] < 1.0 and action[0] > 0.5


def test_thresholds_are_configurable(kuka):
    scorer = Peak([0.05, 0.0, 0.0, 0.0], height=0.9, floor=0.6)
    servo = CEMServo(scorer, kuka, CEMConfig(close_ratio=0.5), seed=0)
    servo.act(obs_at())
    assert servo.last["decision"] == "close"


def test_open_loop_plans_once_from_the_first_image(kuka):
    scorer = Peak([0.06, 0.0, -0.2, 0.0])
    servo = CEMServo(scorer, kuka, open_loop=True, seed=0)
    servo.reset()
    servo.act(obs_at())
    calls = scorer.calls
    assert calls == servo.cem.iterations
    servo.act(obs_at(pos=(0.6, 0.02, 0.27), used=1 / 8))
    assert scorer.calls == calls  # later steps follow the plan without looking


def test_committed_servo_stops_re_planning_for_the_last_actions_and_goes_to_its_last_plan():
    diverse = load_env_config("robolearn/KukaDiverse-v0")
    tc = diverse.task
    scorer = Peak([0.03, -0.02, 0.0, 0.2])  # dz is fixed by the height hack; the peak is in x, y and yaw
    servo = CEMServo(scorer, diverse, CEMConfig(commit_steps=2), seed=0)
    servo.reset()
    z = 0.5 - 4 * tc.dv  # 3 actions before the grasp: it searches
    servo.act(obs_at(pos=(0.55, 0.0, z), used=4 / 8))
    assert servo.last["decision"] == "move" and scorer.calls > 0
    calls, plan = scorer.calls, servo.plan.copy()
    np.testing.assert_allclose(plan[:2], [0.58, -0.02], atol=0.01)
    # 2 actions before the grasp, the gripper 1 cm short of the plan in x and 0.1 rad in yaw: it goes there blind
    action = servo.act(obs_at(pos=(plan[0] - 0.01, plan[1], z - tc.dv), yaw=plan[3] - 0.1, used=5 / 8))
    assert scorer.calls == calls and servo.last["decision"] == "commit"
    np.testing.assert_allclose(action[[0, 1, 3]], [0.01 / tc.dv, 0.0, 0.1 / tc.da], atol=1e-5)
    servo.reset()  # a new episode searches again, even close to the grasp
    servo.act(obs_at(pos=(0.55, 0.0, 0.5 - 6 * tc.dv), used=6 / 8))
    assert scorer.calls > calls


def test_height_hack_fixes_the_height_of_every_sample(kuka):
    diverse = load_env_config("robolearn/KukaDiverse-v0")
    servo = CEMServo(Peak([0, 0, 0, 0]), diverse, seed=0)
    lo, hi = servo._bounds(np.array([0.55, 0.0, 0.3]), 3)
    assert lo[2] == hi[2] == pytest.approx(-3 * diverse.task.dv)


def test_full_speed_descent_searches_at_the_grasp_height_and_heads_down_at_full_speed():
    """descend = "full_speed" (GraspPanda-v0): every command ends at the grasp height, the gripper goes down a whole
    step an action, and neither "close" nor "raise" overrides the move, even where staying scores 1/20 of the best."""
    panda = load_env_config("robolearn/GraspPanda-v0")
    tc = panda.task
    pos = np.array([0.55, 0.0, 0.25])
    scorer = Peak([0.05, 0.0, tc.grasp_height - pos[2], 0.0], height=0.9, floor=0.04)  # a grasp down on the tray
    servo = CEMServo(scorer, panda, CEMConfig(descend="full_speed"), seed=0)
    lo, hi = servo._bounds(pos, 8)
    assert lo[2] == hi[2] == pytest.approx(tc.grasp_height - pos[2])
    lo, hi = servo._bounds(pos, 2)  # too high to get there: as far down as two actions reach
    assert lo[2] == hi[2] == pytest.approx(-2 * tc.dv)
    action = servo.act(obs_at(pos=tuple(pos)))
    assert servo.last["p_stay"] < servo.cem.raise_ratio * servo.last["p_best"]  # the planned servo would raise
    assert servo.last["decision"] == "move" and action[2] == -1.0 and action[0] > 0.5
    planned = CEMServo(scorer, panda, CEMConfig(descend="planned"), seed=0)
    planned.act(obs_at(pos=tuple(pos)))
    assert planned.last["decision"] == "raise"


def test_with_the_height_hack_the_servo_keeps_moving_toward_the_best_command():
    """Where the env grasps at a fixed height, "close" would only stop the corrections: the servo moves instead,
    even when staying put scores 97% of the best command."""
    diverse = load_env_config("robolearn/KukaDiverse-v0")
    scorer = Peak([0.05, 0.0, -0.3, 0.0], height=0.98, floor=0.95, width=0.05)
    servo = CEMServo(scorer, diverse, seed=0)
    action = servo.act(obs_at(pos=(0.55, 0.0, 0.3)))
    assert servo.last["p_stay"] >= servo.cem.close_ratio * servo.last["p_best"]  # the old rule would have closed
    assert servo.last["decision"] == "move" and action[0] > 0.5


def test_with_the_height_hack_the_servo_searches_where_the_env_will_close_the_grasp():
    """The grasp closes at the first target height at or below the grasp height (KukaDiverse: after 7 actions,
    at 0.08 m), not `dv` times the steps to max_steps below (0.02 m): the spatial scorer reads commands out
    where they land in the image, and 6 cm of height moves that point 4.2 cm across the tray."""
    from robolearn.envs import make_env

    env = make_env("robolearn/KukaDiverse-v0")
    servo = CEMServo(Peak([0, 0, 0, 0]), env.config, seed=0)
    obs, _ = env.reset(seed=0)
    planned = []  # at each step: (the actions the servo expects before the grasp, the height it searches at)
    terminated = False
    while not terminated:
        pos, _, steps_left = servo._pose(obs)
        planned.append((steps_left, pos[2] + servo._bounds(pos, steps_left)[0][2]))
        obs, _, terminated, truncated, info = env.step(np.zeros(4, np.float32))
        assert not truncated
    env.close()
    steps, z = len(planned), info["gripper_pose"][2]
    assert steps < env.config.task.max_steps  # the grasp closes before the last step
    assert [left for left, _ in planned] == list(range(steps, 0, -1))
    for _, height in planned:
        assert height == pytest.approx(z, abs=1e-6)


def test_planned_commands_end_where_the_servo_planned_the_grasp(tmp_path):
    """data.commands = planned: in an episode whose grasp closed an action late (after the 8th action, at 0.02 m,
    the gripper having moved on), the first 7 frames' commands end at the pose after the 7th action, where the
    servo planned the grasp, at the height it searches from each frame; the last frame's, and an on-time
    episode's, are the recorded ones."""
    from robolearn.data.grasp import planned_commands
    from robolearn.data.store import EpisodeStore, Feature
    from robolearn.envs.grasp import motor_commands

    diverse = load_env_config("robolearn/KukaDiverse-v0")
    servo = CEMServo(Peak([0, 0, 0, 0]), diverse, seed=0)
    store = EpisodeStore.create(tmp_path / "s.zarr", frame_features={"state": Feature((7,), "float32"),
                                "motor_command": Feature((5,), "float32")}, episode_features={})  # fmt: skip
    poses = np.array([[0.57 + 0.005 * t, 0.02, 0.5 - 0.06 * t, 0.1 * t] for t in range(8)])
    final = np.array([0.6, 0.0, 0.02, 0.3])  # after the 8th action, 4 cm on
    for steps, end in ((7, poses[7]), (8, final)):  # on time: the grasp closed at the pose after 7 actions
        states = np.stack([obs_at(pose[:3], pose[3], used=t / 8)["state"] for t, pose in enumerate(poses[:steps])])
        store.add_episode({"state": states, "motor_command": motor_commands(poses[:steps], end)}, {})
    recorded = store.group["data/motor_command"][:]
    planned = planned_commands(store, diverse.task)
    np.testing.assert_allclose(planned[:7], recorded[:7], atol=1e-6)  # on time: as recorded
    late, late_recorded = planned[7:], recorded[7:]
    np.testing.assert_allclose(late[:7], motor_commands(poses[:7], poses[7]), atol=1e-6)
    np.testing.assert_allclose(late[7], late_recorded[7], atol=1e-6)
    for t, command in enumerate(late):
        pos, _, left = servo._pose(obs_at(poses[t, :3], poses[t, 3], used=t / 8))
        assert command[2] == pytest.approx(servo._bounds(pos, left)[0][2], abs=1e-6)
    # A collector killed mid-episode leaves frames past the last commit (a resumed campaign writes new shards and
    # leaves them there): they are no episode, and the commands are those of the committed frames alone.
    import zarr

    g = zarr.open_group(str(tmp_path / "s.zarr"), mode="r+")
    for key, width in (("state", 7), ("motor_command", 5)):
        g[f"data/{key}"].resize((len(recorded) + 3, width))
    np.testing.assert_array_equal(planned_commands(EpisodeStore.open(tmp_path / "s.zarr"), diverse.task), planned)


def test_planned_commands_need_one_descent_under_the_height_hack():
    from robolearn.config import ConfigError
    from robolearn.train.grasp import dataset_task

    def manifest(**task):
        return {"env_config": {"task": {**load_env_config("robolearn/KukaDiverse-v0").task.model_dump(), **task}}}

    assert dataset_task({"a": manifest(), "b": manifest(success_height=0.3)}).grasp_height == 0.1
    for manifests, words in (({"a": None}, "campaign.json"), ({"a": manifest(height_hack=False)}, "height hack"),
                             ({"a": manifest(), "b": manifest(dv=0.05)}, "another descent")):  # fmt: skip
        with pytest.raises(ConfigError, match=words):
            dataset_task(manifests)


def test_steps_to_grasp_counts_the_descent_to_the_grasp_height():
    assert steps_to_grasp(0.5, 0.1, 0.06) == 7  # 0.44, 0.38, ..., 0.08
    assert steps_to_grasp(0.14, 0.1, 0.06) == 1
    assert steps_to_grasp(0.16, 0.1, 0.06) == 1  # lands on 0.1 itself
    assert steps_to_grasp(0.08, 0.1, 0.06) == 1  # the arm lagged: the next action grasps


def test_the_shipped_servo_policies_load():
    from pathlib import Path

    from robolearn.policies.registry import policy_config

    root = Path(__file__).resolve().parents[1] / "policies"
    kuka = policy_config(str(root / "cem.toml")).cem
    assert (kuka.descend, kuka.commit_steps) == ("planned", 0)
    panda = policy_config(str(root / "cem_panda.toml")).cem
    assert (panda.descend, panda.commit_steps) == ("full_speed", 3)


def test_mirror_averaged_scores_are_the_same_for_a_scene_and_its_mirror_image():
    """The mean over a scene and its mirror image is the same number seen from either side: it holds only if
    the image flip, the pose's reflection and the commands' agree, and mirroring twice is the identity."""
    import torch

    from robolearn.envs.grasp import mirror
    from robolearn.models import GraspCNN, GraspCNNConfig
    from robolearn.policies.cem import model_scorer
    from robolearn.sim.camera import fixed_clip_matrix

    env = load_env_config("robolearn/KukaDiverse-v0")
    camera = tuple(fixed_clip_matrix(env.camera).ravel())
    torch.manual_seed(0)
    model = GraspCNN(GraspCNNConfig.for_size(48, state_input=True, readout="spatial", readout_height=-0.17,
                                             camera=camera, channels=8, fc=16))  # fmt: skip
    rng = np.random.default_rng(0)
    obs = {"rgb": rng.integers(0, 256, (48, 48, 3), dtype=np.uint8), "state": obs_at((0.58, 0.03, 0.3), 0.7)["state"]}
    v = np.concatenate([rng.uniform(-0.06, 0.06, (32, 3)), rng.uniform(-0.3, 0.3, (32, 1))], axis=1)
    commands = np.concatenate([v[:, :3], np.sin(v[:, 3:]), np.cos(v[:, 3:])], axis=1).astype(np.float32)
    m = mirror({"rgb": torch.from_numpy(obs["rgb"])[None], "state": torch.from_numpy(obs["state"])[None],
                "motor_command": torch.from_numpy(commands)}, camera, torch.ones(1, dtype=torch.bool))  # fmt: skip
    seen = {"rgb": m["rgb"][0].numpy(), "state": m["state"][0].numpy()}
    averaged, plain = model_scorer(model, mirror_camera=camera), model_scorer(model)
    a, b = averaged(obs, commands), averaged(seen, m["motor_command"].numpy())
    np.testing.assert_allclose(a, b, atol=1e-5)
    assert np.abs(plain(obs, commands) - plain(seen, m["motor_command"].numpy())).max() > 1e-3  # not trivially so


def test_model_scorer_keeps_one_image_features_and_scores_each_image_as_the_model_does():
    """The scorer reuses the latest image's feature map across CEM's batches: alternating two images (and a
    changed state on the same image) must still give each its own scores, those of the model's forward pass."""
    import torch

    from robolearn.models import GraspCNN, GraspCNNConfig
    from robolearn.policies.cem import model_scorer

    torch.manual_seed(0)
    model = GraspCNN(GraspCNNConfig.for_size(48, state_input=True, channels=8, fc=16)).eval()
    rng = np.random.default_rng(1)
    images = [rng.integers(0, 256, (48, 48, 3), dtype=np.uint8) for _ in range(2)]
    states = [obs_at((0.58, 0.03, 0.3), 0.7)["state"], obs_at((0.52, -0.05, 0.2), 0.4)["state"]]
    commands = rng.uniform(-0.5, 0.5, (16, 5)).astype(np.float32)
    score = model_scorer(model)
    for img, st in [(0, 0), (1, 0), (1, 0), (0, 0), (0, 1)]:
        got = score({"rgb": images[img], "state": states[st]}, commands)
        with torch.no_grad():
            logits, _ = model({"rgb": torch.from_numpy(np.repeat(images[img][None], 16, 0)),
                               "motor_command": torch.from_numpy(commands),
                               "state": torch.from_numpy(np.repeat(states[st][None], 16, 0))})  # fmt: skip
        np.testing.assert_allclose(got, torch.sigmoid(logits).numpy(), atol=1e-5)


def test_the_shipped_demo_model_is_the_servo_it_was_measured_as():
    """policies/kuka_diverse_demo (what `make demo` shows): its measured figure, and the servo it names acts in the
    env it was measured on."""
    import json
    from pathlib import Path

    from robolearn.envs import make_env
    from robolearn.policies.registry import PolicyConfig, make_policy

    shipped = Path(__file__).resolve().parents[1] / "policies" / "kuka_diverse_demo"
    measured = json.loads((shipped / "measured.json").read_text())
    lo, hi = measured["success_ci95"]
    assert measured["episodes"] >= 500 and lo <= measured["success"] <= hi
    assert (shipped / "model.safetensors").stat().st_size < 5 * 2**20  # a few MB at most
    env = make_env(measured["env"], objects={"split": "test"})
    try:
        policy = make_policy(PolicyConfig.model_validate({**measured["policy"], "checkpoint": str(shipped)}), env)
        obs, _ = env.reset(seed=1_500_000)
        policy.reset()
        action = policy.act(obs)
        assert action.shape == env.action_space.shape and env.action_space.contains(action.astype(np.float32))
    finally:
        env.close()
