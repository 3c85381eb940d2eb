"""stable-baselines3 agents: robolearn checkpoints without pickle, training that learns, resume, the agent as a Policy
in `robolearn eval`, and one line for bad input."""

import json
from pathlib import Path

import numpy as np
import pytest

from robolearn.config import CheckpointError
from robolearn.envs import make_env
from robolearn.models.sb3 import SB3Config, build_agent, load_agent, save_agent

CARTPOLE = """kind = "rl"
env = "CartPole-v1"
steps = {steps}
n_envs = 1
eval_every = 1024
eval_episodes = 5
checkpoint_every = 1024
[agent]
algo = "ppo"
[agent.kwargs]
n_steps = 256
batch_size = 64
"""


@pytest.fixture(scope="module")
def kuka_agent(tmp_path_factory):
    """A PPO and a SAC agent for KukaDiverse-v0's spaces (image + state), saved untrained."""
    env = make_env("robolearn/KukaDiverse-v0")
    out = {}
    for algo, kwargs in (("ppo", {"n_steps": 16, "batch_size": 16}), ("sac", {"buffer_size": 100})):
        cfg = SB3Config(algo=algo, kwargs=kwargs, policy_kwargs={"net_arch": [16]})
        agent = build_agent(cfg, env.observation_space, env.action_space, seed=3)
        path = save_agent(tmp_path_factory.mktemp(algo) / "ck", agent, cfg, step=0,
                          observation_space=env.observation_space, action_space=env.action_space)  # fmt: skip
        out[algo] = (agent, path)
    yield env, out
    env.close()


def test_a_checkpoint_holds_no_pickle_and_rebuilds_the_same_agent(kuka_agent):
    env, agents = kuka_agent
    obs, _ = env.reset(seed=5)
    for algo, (agent, path) in agents.items():
        files = sorted(p.name for p in path.iterdir())
        assert all(f.endswith((".json", ".safetensors")) for f in files), files
        loaded, meta = load_agent(path, env.observation_space, env.action_space)
        assert meta["model"] == "SB3" and meta["config"]["algo"] == algo
        for key, value in agent.policy.state_dict().items():
            assert np.array_equal(loaded.policy.state_dict()[key].numpy(), value.numpy()), key
        assert np.array_equal(agent.predict(obs, deterministic=True)[0], loaded.predict(obs, deterministic=True)[0])
    assert {"optimizer-actor.safetensors", "optimizer-critic.safetensors"} <= {p.name for p in agents["sac"][1].iterdir()}


def test_an_agent_is_refused_by_an_env_of_other_spaces_and_a_zip_needs_the_flag(kuka_agent, tmp_path):
    env, agents = kuka_agent
    other = make_env("robolearn/GraspKuka-v0")  # 64x64 images
    try:
        with pytest.raises(CheckpointError, match="trained with observation space"):
            load_agent(agents["ppo"][1], other.observation_space, other.action_space)
    finally:
        other.close()
    agent = agents["ppo"][0]
    agent.save(tmp_path / "agent.zip")  # SB3's own format: pickled objects
    with pytest.raises(CheckpointError, match="pickled Python objects.*--allow-pickle"):
        load_agent(tmp_path / "agent.zip", env.observation_space, env.action_space)
    loaded, _ = load_agent(tmp_path / "agent.zip", env.observation_space, env.action_space, allow_pickle=True)
    obs, _ = env.reset(seed=1)
    assert np.array_equal(agent.predict(obs, deterministic=True)[0], loaded.predict(obs, deterministic=True)[0])


def test_eval_runs_an_agent_beside_other_policies_and_refuses_bad_input_in_one_line(kuka_agent, tmp_path, run_cli):
    _, agents = kuka_agent
    ck = str(agents["ppo"][1])
    out = tmp_path / "report.json"
    done = run_cli("eval", "--policy", "sb3", "--checkpoint", ck, "--policy", "random", "-n", "2", "--json", str(out))
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads(out.read_text())
    assert list(report["policies"]) == ["sb3", "random"] and report["policies"]["sb3"]["episodes"] == 2
    for args, needle in ((["--env", "robolearn/GraspKuka-v0"], "trained with observation space"),
                         ([], "needs a checkpoint")):  # fmt: skip
        bad = run_cli("eval", *args, "--policy", "sb3", *(["--checkpoint", ck] if args else []), "-n", "1")
        lines = [line for line in bad.stderr.splitlines() if line.strip()]
        assert bad.returncode == 2 and len(lines) == 1 and needle in lines[0], bad.stderr[-2000:]
    agents["ppo"][0].save(tmp_path / "agent.zip")
    zipped = run_cli("eval", "--policy", "sb3", "--checkpoint", str(tmp_path / "agent.zip"), "-n", "1")
    assert zipped.returncode == 2 and "--allow-pickle" in zipped.stderr.strip().splitlines()[-1]
    toml = tmp_path / "bad.toml"
    toml.write_text('kind = "rl"\n[agent]\nalgo = "dqn"\n')
    bad = run_cli("train", str(toml), "--out", str(tmp_path / "run"))
    assert bad.returncode == 2 and "agent.algo" in bad.stderr and bad.stderr.strip().count("\n") == 0, bad.stderr


def test_ppo_learns_cartpole_and_resumes(tmp_path, run_cli):
    toml = tmp_path / "cartpole.toml"
    toml.write_text(CARTPOLE.format(steps=3072))
    run = tmp_path / "run"
    first = run_cli("train", str(toml), "--out", str(run), "--steps", "2048")
    assert first.returncode == 0, first.stderr[-2000:]
    more = run_cli("train", str(toml), "--out", str(run), "--resume")
    assert more.returncode == 0, more.stderr[-2000:]
    evals = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [e["step"] for e in evals] == [1024, 2048, 3072]  # the resumed run went on from 2048
    # random actions keep the pole up about 20 steps; 3,000 steps of PPO learn to keep it up far longer
    assert evals[-1]["return"] > 100, evals
    summary = json.loads((run / "summary.json").read_text())
    assert summary["resumed_from"] == 2048 and Path(summary["best_checkpoint"]).is_dir()


@pytest.mark.parametrize("name", ["ppo_grasp.toml", "sac_grasp.toml", "imitate_tcn.toml"])
def test_shipped_rl_configs_validate(name):
    from robolearn.config import load_toml
    from robolearn.train import training_loop

    path = Path(__file__).resolve().parents[1] / "policies" / name
    kind, config_cls, _ = training_loop(path)
    cfg = load_toml(path, config_cls)
    assert kind == "rl" and cfg.steps > 0 and cfg.agent.algo in ("ppo", "sac")
