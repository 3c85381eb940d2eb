import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from safetensors.torch import load_file

from robolearn.data.store import EpisodeStore, Feature
from robolearn.data.synthetic import write_blob_store
from robolearn.models.checkpoint import load_model

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def blob_store(tmp_path_factory):
    path = tmp_path_factory.mktemp("data") / "blob.zarr"
    write_blob_store(path, episodes=400, size=32, frames=4, seed=0)
    return path


def write_config(tmp_path: Path, store: Path, **top) -> Path:
    """A training TOML: small model, the given store, `top` overriding top-level keys and sections."""
    cfg = {"steps": 40, "eval_every": 20, "checkpoint_every": 10, "log_every": 10}
    sections = {"model": {"channels": 16, "fc": 32}, "data": {"stores": [str(store)], "batch_size": 32}, "optim": {}}
    for key, value in top.items():
        if key in sections:
            sections[key].update(value)
        else:
            cfg[key] = value
    lines = [f"{k} = {json.dumps(v)}" for k, v in cfg.items()]
    for name, section in sections.items():
        lines += [f"[{name}]", *(f"{k} = {json.dumps(v)}" for k, v in section.items())]
    path = tmp_path / "train.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_grasp_cnn_learns_a_task_that_needs_image_and_command(tmp_path, blob_store, run_cli):
    """Success depends on where the command lands relative to the object in the image: only a model that
    combines both scores above chance on held-out episodes."""
    config = write_config(tmp_path, blob_store, steps=300, eval_every=100, checkpoint_every=300,
                          optim={"warmup_steps": 20}, data={"holdout": 0.2})  # fmt: skip
    result = run_cli("train", str(config), "--out", str(tmp_path / "run"), timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["val"]["frames"] > 200 and summary["in_memory"]
    assert summary["val"]["auc"] > 0.8, summary["val"]
    assert summary["best_val_auc"] >= summary["val"]["auc"]
    best, meta = load_model(summary["best_checkpoint"], expect="GraspCNN")  # the early-stopping pick loads too
    assert meta["val"]["auc"] == summary["best_val_auc"]
    assert (tmp_path / "run" / "checkpoints" / "step-0000300" / "model.safetensors").is_file()
    assert list((tmp_path / "run" / "tb").glob("events.out.tfevents.*"))


def test_depth_input_tells_the_object_from_a_flat_decoy_the_image_alone_cannot(tmp_path, run_cli):
    """Two identical squares, only one standing out in depth: with the depth channel the model learns which one
    the grasp must land on; without it, trained the same way, it cannot."""
    store = tmp_path / "decoy.zarr"
    write_blob_store(store, episodes=400, size=32, frames=4, seed=1, depth=True)
    auc = {}
    for depth in (False, True):
        (tmp_path / str(depth)).mkdir()
        config = write_config(tmp_path / str(depth), store, steps=200, eval_every=100, checkpoint_every=200,
                              optim={"warmup_steps": 20}, data={"holdout": 0.2}, model={"depth_input": depth})  # fmt: skip
        result = run_cli("train", str(config), "--out", str(tmp_path / f"run{depth}"), timeout=600)
        assert result.returncode == 0, result.stderr[-2000:]
        auc[depth] = json.loads((tmp_path / f"run{depth}" / "summary.json").read_text())["best_val_auc"]
    assert auc[True] > 0.8 and auc[True] > auc[False] + 0.1, auc
    model, _ = load_model(tmp_path / "runTrue" / "best", expect="GraspCNN")
    assert abs(model.config.depth_center - 1.8) < 0.02 and 0.005 < model.config.depth_scale < 0.1  # from the data


def final_weights(run: Path, steps: int) -> dict:
    return load_file(run / "checkpoints" / f"step-{steps:07d}" / "model.safetensors")


def test_seed_option_trains_another_ensemble_member_on_the_same_holdout(tmp_path, blob_store, run_cli):
    config = write_config(tmp_path, blob_store, steps=10, eval_every=10, checkpoint_every=10)
    for name, extra in (("a", []), ("b", ["--seed", "1"])):
        result = run_cli("train", str(config), "--out", str(tmp_path / name), *extra, timeout=600)
        assert result.returncode == 0, result.stderr[-2000:]
    cfg = {n: json.loads((tmp_path / n / "train_config.json").read_text()) for n in "ab"}
    assert (cfg["a"]["seed"], cfg["b"]["seed"]) == (0, 1)
    assert cfg["a"]["data"]["split_seed"] == cfg["b"]["data"]["split_seed"]
    a, b = final_weights(tmp_path / "a", 10), final_weights(tmp_path / "b", 10)
    assert any((a[k] != b[k]).any() for k in a), "another seed gave the same weights"


def test_resume_after_a_kill_reaches_the_same_step_and_weights(tmp_path, blob_store, run_cli):
    # 120 steps, killed once step 10 is saved: on an H100, 20 steps passed between two polls of the folder.
    # deterministic: exact on CUDA too (no effect on CPU, where the kernels are deterministic anyway)
    # threads: the default follows the machine's load, and results differ in the last bits between thread counts
    config = write_config(tmp_path, blob_store, steps=120, eval_every=60, deterministic=True, threads=1,
                          data={"in_memory": "no", "workers": 1, "buffer_frames": 256})  # fmt: skip
    ref = run_cli("train", str(config), "--out", str(tmp_path / "ref"), timeout=600)
    assert ref.returncode == 0, ref.stderr[-2000:]

    run = tmp_path / "run"
    proc = subprocess.Popen([sys.executable, "-m", "robolearn.cli", "train", str(config), "--out", str(run)],
                            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)  # fmt: skip
    deadline = time.time() + 300
    while not (run / "checkpoints" / "step-0000010").exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.01)
    os.killpg(proc.pid, signal.SIGKILL)  # the trainer and its loader worker, mid-run
    proc.wait()
    done = sorted(p.name for p in (run / "checkpoints").iterdir() if not p.name.endswith(".tmp"))
    assert done and done[-1] < "step-0000120", f"the kill came too late to test anything: {done}"
    again = run_cli("train", str(config), "--out", str(run), "--resume", timeout=600)
    assert again.returncode == 0, again.stderr[-2000:]
    summary = json.loads((run / "summary.json").read_text())
    assert summary["steps"] == 120 and 10 <= summary["resumed_from"] < 120
    a, b = final_weights(tmp_path / "ref", 120), final_weights(run, 120)
    assert a.keys() == b.keys()
    for key in a:
        assert (a[key] == b[key]).all(), f"{key} differs from the uninterrupted run"


def test_two_process_data_parallel_run_on_cpu_completes(tmp_path, blob_store):
    # device = "cpu": on a machine with one GPU, two processes would otherwise both take cuda:0 (seen on an H100)
    config = write_config(tmp_path, blob_store, steps=6, eval_every=6, checkpoint_every=6, device="cpu",
                          data={"workers": 0, "in_memory": "no"})  # fmt: skip
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"]
    result = subprocess.run([*torchrun, "-m", "robolearn.cli", "train", str(config), "--out", str(tmp_path / "ddp")],
                            cwd=ROOT, capture_output=True, text=True, timeout=600)  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    summary = json.loads((tmp_path / "ddp" / "summary.json").read_text())
    assert summary["processes"] == 2 and summary["steps"] == 6
    assert result.stdout.count('"checkpoint"') == 1  # only the main process reports


def one_line_error(result, *fragments):
    assert result.returncode == 2, (result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    for f in fragments:
        assert f in lines[0], lines[0]


def test_bad_training_input_is_one_line_with_exit_code_2(tmp_path, blob_store, run_cli):
    bare = tmp_path / "bare.zarr"
    EpisodeStore.create(bare, frame_features={"rgb": Feature((32, 32, 3), "uint8")},
                        episode_features={"success": Feature((), "bool")})  # fmt: skip
    config = write_config(tmp_path, blob_store, steps=4, checkpoint_every=2)
    one_line_error(run_cli("train", str(config), "--store", str(bare), "--out", str(tmp_path / "a")),
                   "bare.zarr", "needs data/motor_command")  # fmt: skip

    sized = tmp_path / "sized"
    sized.mkdir()
    sized_config = write_config(sized, blob_store, model={"image_size": 64})
    one_line_error(run_cli("train", str(sized_config), "--out", str(tmp_path / "b")), "rgb frames are 32x32",
                   "takes 64x64")  # fmt: skip

    run = tmp_path / "run"
    assert run_cli("train", str(config), "--out", str(run)).returncode == 0
    one_line_error(run_cli("train", str(config), "--out", str(run)), "already holds a run", "--resume")
    last = run / "checkpoints" / "step-0000004"
    meta = json.loads((last / "config.json").read_text())
    (last / "config.json").write_text(json.dumps({**meta, "model": "TCN"}))
    one_line_error(run_cli("train", str(config), "--out", str(run), "--resume", "--steps", "6"),
                   "holds a TCN model")  # fmt: skip
    (last / "config.json").write_text(json.dumps(meta))
    weights = (last / "model.safetensors").read_bytes()
    (last / "model.safetensors").write_bytes(weights[:100])
    one_line_error(run_cli("train", str(config), "--out", str(run), "--resume", "--steps", "6"),
                   "model.safetensors: cannot be read")  # fmt: skip
    (last / "model.safetensors").write_bytes(weights)
    one_line_error(run_cli("train", str(config), "--out", str(run), "--resume", "--batch-size", "8"),
                   "'data' differs")  # fmt: skip
    older = json.loads(json.dumps(meta))  # a checkpoint from before data.commands existed resumes as its default
    del older["train"]["data"]["commands"]
    (last / "config.json").write_text(json.dumps(older))
    assert run_cli("train", str(config), "--out", str(run), "--resume", "--steps", "6").returncode == 0
    one_line_error(run_cli("train", str(config), "--store", str(tmp_path / "nothing"), "--out", str(tmp_path / "c")),
                   "no such dataset")  # fmt: skip

    from robolearn.sim.camera import CameraConfig, fixed_clip_matrix

    mirrored = tmp_path / "mirrored"
    mirrored.mkdir()
    one_line_error(run_cli("train", str(write_config(mirrored, blob_store, data={"mirror": True})), "--out",
                           str(tmp_path / "d")), "blob.zarr", "data.mirror need the camera", "campaign.json")  # fmt: skip
    level, rolled = (tuple(fixed_clip_matrix(CameraConfig(roll=r)).ravel()) for r in (0.0, 10.0))
    one_line_error(run_cli("train", str(write_config(mirrored, blob_store, data={"mirror": True},
                                                     model={"camera": level})), "--out", str(tmp_path / "d")),
                   "data.mirror with data.pad = 4")  # fmt: skip
    one_line_error(run_cli("train", str(write_config(mirrored, blob_store, data={"mirror": True, "pad": 0},
                                                     model={"camera": rolled})), "--out", str(tmp_path / "d")),
                   "data.mirror", "roll 0")  # fmt: skip
    one_line_error(run_cli("train", str(write_config(mirrored, blob_store, data={"commands": "planned"})), "--out",
                           str(tmp_path / "e")), "blob.zarr", "commands = planned", "campaign.json")  # fmt: skip


def test_more_processes_than_gpus_on_a_machine_is_refused(tmp_path, blob_store, monkeypatch):
    # torchrun --nproc_per_node 2 on a one-GPU machine: each process would be handed a CUDA device
    import torch

    from robolearn.config import ConfigError, load_toml
    from robolearn.train.grasp import TrainConfig, train

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "2")
    cfg = load_toml(write_config(tmp_path, blob_store, steps=2, out=str(tmp_path / "run")), TrainConfig)
    with pytest.raises(ConfigError, match='2 processes on this machine but 1 CUDA device.*device = "cpu"'):
        train(cfg, progress=False)
    assert not (tmp_path / "run").exists()


def test_warm_start_begins_from_the_given_weights(tmp_path, blob_store, run_cli):
    config = write_config(tmp_path, blob_store, steps=2, eval_every=2, checkpoint_every=2)
    assert run_cli("train", str(config), "--out", str(tmp_path / "first")).returncode == 0
    start = tmp_path / "first" / "checkpoints" / "step-0000002"
    tiny_lr = write_config(tmp_path, blob_store, steps=1, eval_every=1, checkpoint_every=1,
                           optim={"lr": 1e-12, "warmup_steps": 0})  # fmt: skip
    result = run_cli("train", str(tiny_lr), "--out", str(tmp_path / "warm"), "--init-from", str(start))
    assert result.returncode == 0, result.stderr[-2000:]
    a, b = final_weights(tmp_path / "first", 2), final_weights(tmp_path / "warm", 1)
    for key in a:
        if "running" in key or "num_batches" in key:
            continue  # BatchNorm statistics move with the data, not the learning rate
        assert (a[key] - b[key]).abs().max() < 1e-6, key
    other = write_config(tmp_path, blob_store, steps=1, model={"channels": 8})
    one_line_error(run_cli("train", str(other), "--out", str(tmp_path / "x"), "--init-from", str(start)),
                   "warm start needs the same architecture")  # fmt: skip


@pytest.mark.parametrize("name", ["grasp_cnn.toml", "grasp_cnn_spatial.toml"])
def test_shipped_training_configs_validate(name):
    from robolearn.config import load_toml
    from robolearn.models import GraspCNNConfig
    from robolearn.train.grasp import TrainConfig

    cfg = load_toml(ROOT / "policies" / name, TrainConfig)
    model = GraspCNNConfig.for_size(48, **cfg.model)
    assert cfg.steps > 0 and model.image_size == 48
    if model.readout == "spatial":
        assert model.state_input and cfg.data.pad == 0


def test_a_store_with_a_nan_motor_command_is_refused_in_one_line_and_named_by_check(tmp_path, run_cli):
    """A NaN reaching the spatial readout's grid_sample crashed the process (segfault) on CPU: training
    refuses such a store up front, and `robolearn info --check` names the episode."""
    import numpy as np
    import zarr

    store = tmp_path / "ds"
    write_blob_store(store, episodes=6, size=32, frames=4)
    mc = zarr.open_group(str(store), mode="r+")["data/motor_command"]
    bad = np.asarray(mc[:])
    bad[4, 0] = np.nan
    mc[:] = bad
    result = run_cli("train", str(ROOT / "policies" / "grasp_cnn.toml"), "--store", str(store), "--steps", "2",
                     "--out", str(tmp_path / "run"))  # fmt: skip
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "data/motor_command is not finite in 1 episode(s)" in result.stderr.strip().splitlines()[-1]
    check = run_cli("info", str(store), "--check")
    assert check.returncode == 1 and "has NaN or infinite values in motor_command" in check.stderr


def test_a_finished_runs_checkpoint_is_found_where_its_folder_is_now(tmp_path):
    """summary.json names paths from the directory the run was started in; a run read from elsewhere, or moved,
    still yields its own checkpoints."""
    from robolearn.workflows.reproduce import finished_checkpoint

    run = tmp_path / "moved" / "run"
    run.mkdir(parents=True)
    (run / "summary.json").write_text(json.dumps({"out": "out/run", "steps": 400, "best_checkpoint": None,
                                                  "checkpoint": "out/run/checkpoints/step-0000400"}))  # fmt: skip
    assert finished_checkpoint(run, 400) == str(run / "checkpoints" / "step-0000400")
    assert finished_checkpoint(run, 500) is None  # not finished for a longer run
    assert finished_checkpoint(run, 400, ("best_checkpoint",)) is None  # no best: none
    assert finished_checkpoint(run, 400, ("best_checkpoint", "checkpoint")) == str(run / "checkpoints" / "step-0000400")
    assert finished_checkpoint(tmp_path / "nothing", 1) is None
