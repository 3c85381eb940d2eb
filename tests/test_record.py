import numpy as np

from robolearn.collection.record import record_episode
from robolearn.data import EpisodeStore
from robolearn.envs.grasp import motor_commands, yaw_of
from robolearn.envs.grasp_env import GraspEnv
from robolearn.policies.registry import make_policy


def test_motor_command_is_final_pose_minus_pose():
    poses = np.array([[0.5, 0.0, 0.4, 0.0], [0.55, 0.02, 0.3, 0.3]])
    final = np.array([0.6, 0.05, 0.1, 0.5])
    v = motor_commands(poses, final)
    np.testing.assert_allclose(v[:, :3], final[None, :3] - poses[:, :3], atol=1e-6)
    assert abs(yaw_of(v[0]) - 0.5) < 1e-6 and abs(yaw_of(v[1]) - 0.2) < 1e-6
    np.testing.assert_allclose(v[:, 3] ** 2 + v[:, 4] ** 2, 1.0, atol=1e-6)


def test_recorded_episode_fits_the_schema_and_round_trips_through_a_store(tmp_path):
    env = GraspEnv(preset="kuka", camera={"depth": True})
    try:
        schema = env.task.features()
        frame_f, value_f = schema.frames, schema.values
        store = EpisodeStore.create(tmp_path / "s.zarr", frame_features=frame_f, episode_features=value_f)
        policy = make_policy("oracle", env)
        frames, values = record_episode(env, policy, seed=7)
        store.add_episode(frames, values)
        again = record_episode(env, policy, seed=7)  # the same seed records the same episode
    finally:
        env.close()
    t = values["steps"]
    # one declaration: the env's observation space is the schema's, and the stored frames are its keys
    assert set(env.observation_space.spaces) == set(schema.observation) == {"rgb", "depth", "state"}
    assert set(frames) == set(frame_f) and schema.frames["depth"].dtype == "float16"
    assert frames["rgb"].shape == (t, 64, 64, 3) and frames["depth"].dtype == np.float16
    assert frames["motor_command"].shape == (t, 5) and frames["action"].shape == (t, 4)
    # p_t + v_t is the same final pose for every t
    np.testing.assert_allclose(frames["state"][:, :3] + frames["motor_command"][:, :3],
                               np.repeat((frames["state"][:1, :3] + frames["motor_command"][:1, :3]), t, 0), atol=1e-5)  # fmt: skip
    for k in frames:
        np.testing.assert_array_equal(frames[k], again[0][k])
    got = EpisodeStore.open(tmp_path / "s.zarr").episode(0)
    np.testing.assert_array_equal(got["rgb"], frames["rgb"])
    assert bool(got["success"]) == values["success"] and int(got["seed"]) == 7
    assert len(got["object_ids"]) == 5 and all(i % 10 != 0 for i in got["object_ids"])  # GraspKuka: train split
