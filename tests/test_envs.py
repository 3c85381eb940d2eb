import warnings

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env as gym_check_env
from stable_baselines3.common.env_checker import check_env as sb3_check_env

import robolearn  # noqa: F401  (registers the ids)
from robolearn.envs import ENV_IDS
from robolearn.envs.grasp import STATE_DIM
from robolearn.envs.grasp_env import GraspEnv

IDS = sorted(ENV_IDS)


@pytest.fixture(scope="module", params=IDS)
def env(request):
    e = gym.make(request.param)
    yield e
    e.close()


def test_gymnasium_env_checker_passes(env):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a checker warning is a failure here
        gym_check_env(env.unwrapped, skip_render_check=True)


def test_stable_baselines3_env_checker_passes(env):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        sb3_check_env(env.unwrapped, warn=True)


def test_spaces_and_observation(env):
    obs, info = env.reset(seed=0)
    space = env.observation_space
    assert space.contains(obs)
    assert obs["rgb"].dtype == np.uint8 and obs["rgb"].shape[2] == 3 and obs["state"].shape == (STATE_DIM,)
    assert env.action_space.shape == (4,)
    assert len(info["object_ids"]) == env.unwrapped.config.objects.count
    assert obs["rgb"].std() > 5  # a real picture, not a blank frame


def _rollout(e, seed, actions):
    obs, info = e.reset(seed=seed)
    frames, rewards = [obs], []
    for a in actions:
        obs, r, term, trunc, _ = e.step(a)
        frames.append(obs)
        rewards.append(r)
        if term or trunc:
            break
    return info, frames, rewards


@pytest.mark.parametrize("env_id", IDS)
def test_same_seed_same_rollout_whatever_ran_before(env_id):
    actions = np.random.default_rng(7).uniform(-1, 1, (8, 4)).astype(np.float32)
    a, b = gym.make(env_id).unwrapped, gym.make(env_id).unwrapped
    try:
        _rollout(b, 123, actions[::-1])  # b has history; a is fresh
        ra, rb = _rollout(a, 5, actions), _rollout(b, 5, actions)
        assert ra[0] == rb[0] and ra[2] == rb[2] and len(ra[1]) == len(rb[1])
        for fa, fb in zip(ra[1], rb[1]):
            np.testing.assert_array_equal(fa["rgb"], fb["rgb"])
            np.testing.assert_array_equal(fa["state"], fb["state"])
        different = _rollout(a, 6, actions)
        assert different[0] != ra[0] or not np.array_equal(different[1][0]["rgb"], ra[1][0]["rgb"])
    finally:
        a.close()
        b.close()


def test_depth_and_overrides():
    e = gym.make("robolearn/GraspKuka-v0", camera={"width": 32, "height": 24, "depth": True}).unwrapped
    try:
        obs, _ = e.reset(seed=1)
        assert obs["rgb"].shape == (24, 32, 3) and obs["depth"].shape == (24, 32)
        assert obs["depth"].dtype == np.float32 and 0.3 < float(obs["depth"].min()) < float(obs["depth"].max()) < 10
    finally:
        e.close()


def test_segmentation_observation_labels_each_object_by_its_index():
    """obs["segmentation"]: 0 where no object is seen, i + 1 on the pixels where pybullet draws object i; drawing it
    changes neither the image nor the physics."""
    plain = gym.make("robolearn/KukaDiverse-v0").unwrapped
    e = gym.make("robolearn/KukaDiverse-v0", camera={"segmentation": True}).unwrapped
    try:
        assert e.observation_space["segmentation"] == gym.spaces.Box(0, 5, (48, 48), np.uint8)
        obs, _ = e.reset(seed=3)
        assert obs["segmentation"].dtype == np.uint8 and e.observation_space.contains(obs)
        raw = e.world.render(e.config.camera, e._pose)["segmentation"]  # pybullet body ids, -1 for none
        for i, uid in enumerate(e.world.objects):
            assert np.array_equal(obs["segmentation"] == i + 1, raw == uid)
        assert len(np.unique(obs["segmentation"])) >= 4  # most of the 5 objects are in view
        assert not np.isin(raw[obs["segmentation"] == 0], e.world.objects).any()
        action = np.array([0.3, -0.2, 0.0, 0.5], np.float32)
        ref, _ = plain.reset(seed=3)
        for _ in range(3):
            obs, *_ = e.step(action)
            ref, *_ = plain.step(action)
        assert np.array_equal(obs["rgb"], ref["rgb"]) and np.array_equal(obs["state"], ref["state"])
    finally:
        e.close()
        plain.close()


def test_episode_ends_in_at_most_max_steps_and_reward_matches_success():
    e = GraspEnv(preset="kuka")
    try:
        e.reset(seed=3)
        for t in range(1, 100):
            _, r, term, trunc, info = e.step(e.action_space.sample())
            if term or trunc:
                break
        assert t <= e.config.task.max_steps
        assert term and info["grasp_attempted"]  # GraspKuka grasps at the last step at the latest
        assert r == float(info["is_success"])
        with pytest.raises(RuntimeError):
            e.step(np.zeros(4, np.float32))
    finally:
        e.close()


def test_two_envs_in_one_process_use_separate_clients():
    a, b = GraspEnv(preset="kuka_diverse"), GraspEnv(preset="panda")
    try:
        assert a.world.client != b.world.client
        a.reset(seed=0)
        b.reset(seed=0)
        a.close()
        b.step(np.zeros(4, np.float32))  # still alive after the other env closed
    finally:
        b.close()


def test_a_non_finite_action_is_refused_before_it_moves_the_arm():
    """A NaN action (object 168's NaN grasp point once made one) would set the arm's target to NaN."""
    e = GraspEnv(preset="kuka")
    try:
        e.reset(seed=3)
        target = e.world.arm.target.copy()
        with pytest.raises(ValueError, match="not finite"):
            e.step(np.array([np.nan, 0, 0, 0], np.float32))
        np.testing.assert_array_equal(e.world.arm.target, target)
        assert e.t == 0
    finally:
        e.close()


def test_the_env_takes_a_task_whose_features_are_its_observation_space():
    from robolearn.envs.config import make_config
    from robolearn.envs.task import GraspTask, Task

    config = make_config("kuka", camera={"width": 16, "height": 16, "segmentation": True})

    class Penalized(GraspTask):  # a task of one's own: the env asks it for the reward
        def reward(self, world, *, attempted):
            return -1.0

    task = Penalized(config)
    assert isinstance(task, Task)
    env = GraspEnv(config, task=task)
    try:
        assert env.task is task
        schema = task.features()
        assert env.observation_space == schema.observation_space()
        assert set(schema.observation) == {"rgb", "segmentation", "state"} and "motor_command" in schema.frames
        obs, _ = env.reset(seed=0)
        assert obs in env.observation_space
        _, reward, *_ = env.step(np.zeros(4, np.float32))
        assert reward == -1.0
    finally:
        env.close()
    with pytest.raises(ValueError, match="another env config"):
        GraspEnv(config, task=GraspTask(make_config("panda")))


def test_check_env_command_runs_both_checkers_and_refuses_a_bad_env(tmp_path, run_cli):
    ok = run_cli("check-env", "robolearn/GraspKuka-v0", "--steps", "3")
    assert ok.returncode == 0, ok.stderr[-2000:]
    assert "gymnasium env checker: passed" in ok.stdout and "stable-baselines3 env checker: passed" in ok.stdout
    bad = tmp_path / "bad.toml"
    bad.write_text('arm = "kuka"\n[camera]\nwidth = 3\n')
    result = run_cli("check-env", str(bad))
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2 and len(lines) == 1 and "camera.width" in lines[0], result.stderr
