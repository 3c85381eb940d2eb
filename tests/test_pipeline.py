"""The whole loop on a tiny budget: collect -> train -> evaluate the CEM servo back in simulation."""

import json
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

TINY_ENV = 'arm = "kuka"\n[camera]\nwidth = 16\nheight = 16\n'


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[1]
    tmp = tmp_path_factory.mktemp("pipeline")
    env = tmp / "tiny.toml"
    env.write_text(TINY_ENV)
    campaign = tmp / "campaign.toml"
    campaign.write_text(f'env = "{env}"\nepisodes = 8\nworkers = 2\nstore = "{tmp / "data"}"\n'
                        '[policy]\nname = "oracle"\nepsilon = 0.5\ndown_bias = 0.5\n')  # fmt: skip
    train = tmp / "train.toml"
    train.write_text("steps = 6\neval_every = 6\ncheckpoint_every = 6\n[data]\nbatch_size = 16\nworkers = 0\n")

    def cli(*args):
        result = subprocess.run([sys.executable, "-m", "robolearn.cli", *map(str, args)], cwd=root,
                                capture_output=True, text=True, timeout=600)  # fmt: skip
        assert result.returncode == 0, result.stderr[-2000:]
        return result

    cli("collect", campaign)
    cli("train", train, "--store", tmp / "data", "--out", tmp / "run")
    return {"tmp": tmp, "env": env, "checkpoint": tmp / "run" / "checkpoints" / "step-0000006"}


def test_collect_train_eval_side_by_side(trained, run_cli):
    out = trained["tmp"] / "eval"
    result = run_cli("eval", "--env", str(trained["env"]), "--policy", "random", "--policy", "cem", "--policy",
                     "open_loop", "--checkpoint", str(trained["checkpoint"]), "-n", "2", "--out", str(out),
                     "--videos", "1")  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    report = json.loads((out / "report.json").read_text())
    assert list(report["policies"]) == ["random", "cem", "open_loop"]
    for r in report["policies"].values():
        assert r["episodes"] == 2 and 0 <= r["success_ci95"][0] <= r["success_rate"] <= r["success_ci95"][1] <= 1
        assert sum(o["episodes"] for o in r["per_object"].values()) == 2 * 5  # 5 objects per tray
        assert [e["seed"] for e in r["per_episode"]] == [1_000_000, 1_000_001]
    assert report["policies"]["cem"]["policy"]["checkpoint"] == str(trained["checkpoint"])
    assert "| cem |" in (out / "comparison.md").read_text()
    assert (out / "success.png").stat().st_size > 1000
    assert (out / "cem_episode0.mp4").stat().st_size > 0


def test_checkpoint_option_overrides_a_policy_toml(trained, run_cli):
    """policies/cem.toml names a checkpoint this test never made; --checkpoint replaces it."""
    out = trained["tmp"] / "eval_toml.json"
    result = run_cli("eval", "--env", str(trained["env"]), "--policy", str(ROOT / "policies" / "cem.toml"),
                     "--policy", "random", "--checkpoint", str(trained["checkpoint"]), "-n", "1", "--json", str(out))  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    report = json.loads(out.read_text())
    assert report["policies"]["cem"]["policy"]["checkpoint"] == str(trained["checkpoint"])
    assert report["policies"]["random"]["policy"]["checkpoint"] is None


def test_collect_with_the_cem_servo_from_a_checkpoint(trained, run_cli):
    tmp = trained["tmp"]
    campaign = tmp / "cem_campaign.toml"
    campaign.write_text(f'env = "{trained["env"]}"\nepisodes = 2\nworkers = 1\nstore = "{tmp / "cem_data"}"\n'
                        f'[policy]\nname = "cem"\ncheckpoint = "{trained["checkpoint"]}"\nepsilon = 0.2\n')  # fmt: skip
    result = run_cli("collect", str(campaign))
    assert result.returncode == 0, result.stderr[-2000:]
    assert json.loads((tmp / "cem_data" / "summary.json").read_text())["collected"] == 2
    # the servo can score in the mirror world too while it collects; that needs a fixed camera
    mirrored = tmp / "cem_mirror.toml"
    mirrored.write_text(campaign.read_text().replace("cem_data", "cem_mirror_data") + "mirror_average = true\n")
    result = run_cli("collect", str(mirrored))
    assert result.returncode == 0, result.stderr[-2000:]
    assert json.loads((tmp / "cem_mirror_data" / "summary.json").read_text())["collected"] == 2
    shaky = tmp / "shaky.toml"
    shaky.write_text(TINY_ENV + "randomize = 0.5\n")
    bad = tmp / "cem_mirror_shaky.toml"
    bad.write_text(mirrored.read_text().replace(str(trained["env"]), str(shaky)).replace("cem_mirror_data", "shaky"))
    one_line(run_cli("collect", str(bad)), "mirror_average needs a fixed camera")
    assert not (tmp / "shaky").exists()  # refused before the dataset directory was made
    missing = tmp / "cem_missing.toml"
    missing.write_text(campaign.read_text().replace(str(trained["checkpoint"]), str(tmp / "nowhere")))
    one_line(run_cli("collect", str(missing)), "does not exist")
    # an ensemble servo collects too (the mean of its models' scores); a resume must keep the same models
    together = tmp / "cem_ensemble.toml"
    together.write_text(campaign.read_text().replace("cem_data", "cem_ensemble_data")
                        + f'ensemble = ["{trained["checkpoint"]}"]\n')  # fmt: skip
    result = run_cli("collect", str(together))
    assert result.returncode == 0, result.stderr[-2000:]
    alone = tmp / "cem_ensemble_alone.toml"
    alone.write_text(campaign.read_text().replace("cem_data", "cem_ensemble_data"))
    one_line(run_cli("collect", str(alone), "--resume", "--episodes", "3"), "--resume with a different ensemble")
    lost = tmp / "cem_ensemble_lost.toml"
    lost.write_text(together.read_text().replace("cem_ensemble_data", "lost").replace(
        f'ensemble = ["{trained["checkpoint"]}"]', f'ensemble = ["{tmp / "nowhere"}"]'))  # fmt: skip
    one_line(run_cli("collect", str(lost)), "does not exist")
    # a store written before campaigns had an [policy] table (flat policy keys, no ensemble) resumes as one without
    manifest = tmp / "cem_data" / "campaign.json"
    old = json.loads(manifest.read_text())
    policy = old["campaign"].pop("policy")
    old["campaign"] |= {"policy": "cem", "checkpoint": policy["checkpoint"], "epsilon": policy["epsilon"]}
    manifest.write_text(json.dumps(old))
    result = run_cli("collect", str(campaign), "--resume", "--episodes", "3")
    assert result.returncode == 0, result.stderr[-2000:]
    assert json.loads((tmp / "cem_data" / "summary.json").read_text())["collected"] == 1
    old["campaign"]["checkpoint"] = str(tmp / "elsewhere")  # and one that another checkpoint collected is refused
    manifest.write_text(json.dumps(old))
    one_line(run_cli("collect", str(campaign), "--resume", "--episodes", "4"), "--resume with a different checkpoint")


def one_line(result, fragment):
    assert result.returncode == 2, (result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr and fragment in lines[0], result.stderr


def test_eval_bad_input(trained, run_cli):
    ck = str(trained["checkpoint"])
    one_line(run_cli("eval", "--env", "robolearn/GraspKuka-v0", "--policy", "cem", "--checkpoint", ck, "-n", "1"),
             "the model takes 16x16 images, the env renders 64x64")  # fmt: skip
    one_line(run_cli("eval", "--env", "robolearn/Nope-v0", "-n", "1"), "Nope-v0")
    one_line(run_cli("eval", "--env", str(trained["env"]), "--policy", "cem", "-n", "0"), "--episodes: got 0")
    one_line(run_cli("eval", "--env", str(trained["env"]), "--policy", "cem", "-n", "1"), "needs a checkpoint")
    one_line(run_cli("eval", "--env", str(trained["env"]), "--seed", str(2**31), "-n", "1"), "evaluation seeds lie in")


def test_spatial_readout_trains_on_a_collected_dataset_and_checks_the_camera(trained, run_cli):
    """The spatial model takes its camera from the dataset's campaign.json; the servo refuses an env whose
    camera differs, and training refuses a store that does not say which camera rendered it."""
    tmp = trained["tmp"]
    config = tmp / "spatial.toml"
    config.write_text('steps = 4\neval_every = 4\ncheckpoint_every = 4\n[model]\nstate_input = true\n'
                      'readout = "spatial"\n[data]\nbatch_size = 16\nworkers = 0\npad = 0\n')  # fmt: skip
    result = run_cli("train", str(config), "--store", str(tmp / "data"), "--out", str(tmp / "spatial"))
    assert result.returncode == 0, result.stderr[-2000:]
    ck = tmp / "spatial" / "checkpoints" / "step-0000004"
    saved = json.loads((ck / "config.json").read_text())["config"]
    assert saved["readout"] == "spatial" and len(saved["camera"]) == 16
    ok = run_cli("eval", "--env", str(trained["env"]), "--policy", "cem", "--checkpoint", str(ck), "-n", "1")
    assert ok.returncode == 0, ok.stderr[-2000:]
    moved = tmp / "moved_camera.toml"
    moved.write_text(TINY_ENV + "yaw = 200.0\n")
    one_line(run_cli("eval", "--env", str(moved), "--policy", "cem", "--checkpoint", str(ck), "-n", "1"),
             "this env's camera differs")  # fmt: skip
    # EGL shades the same scene differently (docs/BENCHMARKS.md): a servo over tiny-rendered data refuses it
    from robolearn.envs import load_env_config
    from robolearn.models.checkpoint import CheckpointError
    from robolearn.policies.cem import load_servo

    egl = tmp / "egl.toml"
    egl.write_text('renderer = "egl"\n' + TINY_ENV)
    assert json.loads((ck / "config.json").read_text())["renderers"] == ["tiny"]
    with pytest.raises(CheckpointError, match='drawn by the tiny renderer, this env draws with egl.*renderer = "tiny"'):
        load_servo(ck, load_env_config(str(egl)))
    shard = next((tmp / "data").glob("shard-*.zarr"))
    lone = tmp / "lone" / shard.name  # a store outside its dataset folder: no campaign.json anywhere
    lone.parent.mkdir()
    shutil.copytree(shard, lone)
    one_line(run_cli("train", str(config), "--store", str(lone), "--out", str(tmp / "spatial2")),
             "has no campaign.json")  # fmt: skip
    shifted = tmp / "spatial_pad.toml"
    shifted.write_text(config.read_text().replace("pad = 0", "pad = 4"))
    one_line(run_cli("train", str(shifted), "--store", str(tmp / "data"), "--out", str(tmp / "spatial3")),
             "set data.pad = 0")  # fmt: skip
    # an ensemble: the servo scores with the mean probability of its models (here Levine's and the spatial one)
    import numpy as np

    from robolearn.envs import make_env

    env = make_env(str(trained["env"]), objects={"split": "test"})
    obs, _ = env.reset(seed=1_000_000)
    commands = np.random.default_rng(0).normal(0.0, 0.05, (16, 5)).astype(np.float32)
    singles = [load_servo(c, env.config).scorer(obs, commands) for c in (trained["checkpoint"], ck)]
    both = load_servo(trained["checkpoint"], env.config, ensemble=[ck]).scorer(obs, commands)
    env.close()
    assert not np.allclose(singles[0], singles[1])
    np.testing.assert_allclose(both, (singles[0] + singles[1]) / 2, rtol=1e-5)
    ensemble = tmp / "ensemble.toml"
    ensemble.write_text(f'name = "cem"\ncheckpoint = "{ck}"\nensemble = ["{tmp / "nowhere"}"]\n')
    one_line(run_cli("eval", "--env", str(trained["env"]), "--policy", str(ensemble), "-n", "1"),
             f"checkpoint {tmp / 'nowhere'} does not exist")  # fmt: skip


def collect_and_train(tmp, run_cli, name: str, camera: str, model: str, data: str = "", *train_args: str):
    """Collect 4 mix episodes of the tiny env with `camera` lines added to its [camera], and train the spatial
    readout 2 steps on them with `model` and `data` lines added; returns (env TOML, config TOML, checkpoint)."""
    env = tmp / f"tiny_{name}.toml"
    env.write_text(TINY_ENV + camera)
    campaign = tmp / f"{name}_campaign.toml"
    campaign.write_text(f'env = "{env}"\nepisodes = 4\nworkers = 1\nstore = "{tmp / f"{name}_data"}"\n'
                        '[policy]\nname = "oracle"\nepsilon = 0.5\ndown_bias = 0.5\n')  # fmt: skip
    assert run_cli("collect", str(campaign)).returncode == 0
    config = tmp / f"{name}.toml"
    config.write_text('steps = 2\neval_every = 2\ncheckpoint_every = 2\n[model]\nstate_input = true\n'
                      f'readout = "spatial"\n{model}[data]\nbatch_size = 8\nworkers = 0\npad = 0\nholdout = 0\n{data}')  # fmt: skip
    result = run_cli("train", str(config), "--store", str(tmp / f"{name}_data"), "--out", str(tmp / f"{name}_run"),
                     *train_args)  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    return env, config, tmp / f"{name}_run" / "checkpoints" / "step-0000002"


def test_depth_model_collects_trains_and_servos_on_rgbd_and_refuses_an_env_without_depth(trained, run_cli):
    tmp = trained["tmp"]
    env, config, ck = collect_and_train(tmp, run_cli, "depth", "depth = true\n", "depth_input = true\n")
    saved = json.loads((ck / "config.json").read_text())["config"]
    assert saved["depth_input"] and 0.5 < saved["depth_center"] < 5 and saved["depth_scale"] > 0
    ok = run_cli("eval", "--env", str(env), "--policy", "cem", "--checkpoint", str(ck), "-n", "1")
    assert ok.returncode == 0, ok.stderr[-2000:]
    one_line(run_cli("eval", "--env", str(trained["env"]), "--policy", "cem", "--checkpoint", str(ck), "-n", "1"),
             "this env renders none; set [camera] depth = true")  # fmt: skip
    one_line(run_cli("train", str(config), "--store", str(tmp / "data"), "--out", str(tmp / "depth_run2")),
             "has no depth images")  # fmt: skip


def test_eval_writes_its_report_even_when_stdout_is_closed(trained):
    """`robolearn eval ... | head -c 0`: the pipe is gone before the first line; the JSON report still lands."""
    import subprocess
    import sys

    out = trained["tmp"] / "piped.json"
    cmd = (f"{sys.executable} -m robolearn.cli eval --env {trained['env']} --policy random -n 2 --json {out} "
           "2>/dev/null | head -c 0")  # fmt: skip
    subprocess.run(["bash", "-c", cmd], cwd=ROOT, timeout=600)
    assert json.loads(out.read_text())["episodes"] == 2


def test_segmentation_aux_loss_collects_masks_trains_and_servos_and_refuses_a_store_without_masks(trained, run_cli):
    tmp = trained["tmp"]
    # validation needs no masks: the tiny store of the module's fixture has none
    _, config, ck = collect_and_train(tmp, run_cli, "seg", "segmentation = true\n", "aux_segmentation = 1.0\n",
                                      "mirror = true\n", "--val-store", str(tmp / "data"))  # fmt: skip
    assert json.loads((ck / "config.json").read_text())["config"]["aux_segmentation"] == 1.0
    # a servo over a model trained in the mirror world scores in both worlds unless told otherwise
    from robolearn.policies.cem import trained_with_mirror

    assert trained_with_mirror(ck) and not trained_with_mirror(trained["checkpoint"])
    # the servo needs no masks: it scores on an env that renders none
    ok = run_cli("eval", "--env", str(trained["env"]), "--policy", "cem", "--checkpoint", str(ck), "-n", "1")
    assert ok.returncode == 0, ok.stderr[-2000:]
    one_line(run_cli("train", str(config), "--store", str(tmp / "data"), "--out", str(tmp / "seg_run2")),
             "has no segmentation masks; collect with [camera] segmentation = true")  # fmt: skip


@pytest.mark.expensive  # 90 s of both cores; make test-all runs it
def test_reproduce_runs_its_recipe_end_to_end(tmp_path):
    """robolearn reproduce on a tiny scale: oracle-mix round with masks, two servo rounds of two models
    each (round 1's pair collects round 2), the learning curve, and one eval run of random, open loop, the
    two-model servo and the oracle."""
    import subprocess
    import sys

    env = tmp_path / "diverse16.toml"  # KukaDiverse-v0 (height hack, planned commands) with 16 px images
    env.write_text((ROOT / "envs" / "kuka_diverse.toml").read_text().replace("width = 48", "width = 16")
                   .replace("height = 48", "height = 16"))  # fmt: skip
    out = tmp_path / "run"
    command = [sys.executable, "-m", "robolearn.cli", "reproduce", "--env", str(env), "--scale", "0.003",
               "--rounds", "2", "--ensemble", "2", "--eval-episodes", "4", "--out", str(out)]  # fmt: skip
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["grasp_attempts"] == 48 + 24 + 24
    assert [(p["round"], p["attempts"], p["models"]) for p in summary["learning_curve"]] == [
        (0, 48, 1), (1, 72, 1), (1, 72, 2), (2, 96, 1), (2, 96, 2)]  # fmt: skip
    rounds = [json.loads((out / "data" / f"round-{r}" / "campaign.json").read_text())["campaign"] for r in (1, 2)]
    policies = [r["policy"] for r in rounds]
    assert (policies[0]["checkpoint"], policies[0]["ensemble"]) == (summary["learning_curve"][0]["checkpoints"][0], [])
    assert [policies[1]["checkpoint"], *policies[1]["ensemble"]] == summary["learning_curve"][2]["checkpoints"]
    assert policies[1]["epsilon"] == 0.1 and policies[1]["cem"]["commit_steps"] == 4
    assert list(summary["final_eval"]["policies"]) == ["random", "open_loop", "cem", "oracle"]
    from robolearn.policies.registry import policy_config

    final = policy_config(str(out / "servo.toml"))  # the last round's servo, to evaluate anywhere
    assert [final.checkpoint, *final.ensemble] == [str(Path(c).resolve()) for c in summary["learning_curve"][-1]["checkpoints"]]
    assert final.name == "cem" and final.cem.commit_steps == 4 and final.epsilon == 0
    assert (out / "learning_curve.png").stat().st_size > 0 and (out / "eval" / "comparison.md").exists()
    trained = json.loads((out / "cnn" / "round-2-member-1" / "train_config.json").read_text())
    assert trained["seed"] == 1 and trained["data"]["commands"] == "planned" and trained["data"]["mirror"]
    assert json.loads((out / "data" / "round-0" / "campaign.json").read_text())["env_config"]["camera"]["segmentation"]
    assert "reproduce: 96 grasp attempts" in result.stdout
    timing = json.loads((out / "timing.json").read_text())
    assert {"collect round 2", "train round 2", "evaluate round 2, 2 model(s)", "evaluate the comparison"} <= set(
        timing["parts_s"]
    ) and timing["total_s"] >= sum(timing["parts_s"].values())

    # A rerun of the finished run measures nothing again: same points, same report; its time adds to the first's.
    report = (out / "eval" / "report.json").stat().st_mtime_ns
    again = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr[-3000:]
    assert json.loads((out / "summary.json").read_text())["learning_curve"] == summary["learning_curve"]
    assert (out / "eval" / "report.json").stat().st_mtime_ns == report
    rerun = json.loads((out / "timing.json").read_text())
    assert rerun["invocations"] == 2 and rerun["total_s"] > timing["total_s"]
    assert "over 2 invocations" in again.stdout


def test_the_reproduce_clock_keeps_its_count_while_a_part_runs(tmp_path):
    """timing.json is rewritten while a part runs, so a killed run keeps most of its time; a rerun adds to it."""
    import time

    from robolearn.workflows import reproduce as module

    path = tmp_path / "timing.json"
    clock = module.Clock(path, every=0.05)
    with clock.part("collect round 0"):
        time.sleep(0.4)
        during = json.loads(path.read_text())  # what a kill at this moment would leave
    assert 0.2 < during["parts_s"]["collect round 0"] <= 0.4 + 0.1 and during["invocations"] == 1
    done = clock.close()
    assert done == json.loads(path.read_text()) and done["parts_s"]["collect round 0"] >= 0.4
    second = module.Clock(path, every=0.05)
    with second.part("collect round 0"):
        time.sleep(0.1)
    after = second.close()
    assert after["invocations"] == 2 and after["parts_s"]["collect round 0"] >= done["parts_s"]["collect round 0"] + 0.1
    assert after["total_s"] >= done["total_s"] + 0.1
