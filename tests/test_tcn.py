"""Time-contrastive networks: the model, its losses on constructed embeddings, the batch sampler's labels, and a
tiny multi-view task it must learn."""

import numpy as np
import pytest
import torch

from robolearn.data.store import StoreError
from robolearn.data.synthetic import moving_shape_episode
from robolearn.data.tcn import multiview_windows, single_view_triplets, view_pairs
from robolearn.models import checkpoint
from robolearn.models.tcn import TCN, TCNConfig, npairs_loss, triplet_loss, triplet_semihard_loss


def test_model_shapes_unit_norm_and_checkpoint_round_trip(tmp_path):
    torch.manual_seed(0)
    model = TCN(TCNConfig.preset("cpu")).eval()
    rgb = torch.randint(0, 256, (3, 64, 64, 3), dtype=torch.uint8)
    e, losses = model({"rgb": rgb})
    assert e.shape == (3, 32) and losses == {}
    torch.testing.assert_close(e.norm(dim=1), torch.ones(3))
    views, _ = model({"rgb": torch.stack([rgb, rgb.flip(1)], dim=1)})  # (B, V, H, W, 3)
    assert views.shape == (3, 2, 32)
    torch.testing.assert_close(views[:, 0], e)
    checkpoint.save(tmp_path / "ck", model=model, model_name="TCN", model_config=model.config.model_dump(), step=0)
    again, meta = checkpoint.load_model(tmp_path / "ck", expect="TCN")
    torch.testing.assert_close(again({"rgb": rgb})[0], e)
    assert TCNConfig.preset("gpu").image_size == 128
    with pytest.raises(checkpoint.CheckpointError, match="holds a TCN model, expected GraspCNN"):
        checkpoint.load_model(tmp_path / "ck", expect="GraspCNN")


def moments(n: int, d: int = 8, seed: int = 0) -> torch.Tensor:
    """n unit embeddings far apart from one another (each a distinct one-hot direction, slightly perturbed)."""
    g = torch.Generator().manual_seed(seed)
    e = torch.eye(d)[:n] + 0.01 * torch.randn(n, d, generator=g)
    return torch.nn.functional.normalize(e, dim=1)


def test_losses_are_zero_or_low_when_views_agree_and_grow_when_times_are_swapped():
    e = moments(6)
    labels = torch.arange(6)
    swapped = e[[1, 0, 3, 2, 5, 4]]  # the second view's times swapped in pairs
    both = torch.cat([e, e])
    assert triplet_semihard_loss(both, torch.cat([labels, labels])) == 0
    assert triplet_semihard_loss(torch.cat([e, swapped]), torch.cat([labels, labels])) > 0.1  # about the margin
    assert triplet_loss(e, e, swapped) == 0 and triplet_loss(e, swapped, e) > 1.0
    agree, wrong = npairs_loss(10 * e, 10 * e, labels), npairs_loss(10 * e, 10 * swapped, labels)
    assert agree < 0.01 + 0.25 * 0.002 * 2 * 100 and wrong > 5.0
    # labels, not positions, say which rows are positives: two moments given one label (the original sampler's
    # collision) are pulled together, so telling them apart is penalised
    collided = torch.tensor([0, 0, 1, 2, 3, 4])
    assert npairs_loss(10 * e, 10 * e, collided) > agree + 1.0
    with pytest.raises(ValueError, match="no two embeddings share a label"):
        triplet_semihard_loss(e, labels)


def test_sampler_never_makes_two_episodes_frames_positives_of_each_other():
    rng = np.random.default_rng(0)
    lengths = rng.integers(12, 40, size=30)
    ends = np.cumsum(lengths)
    starts = ends - lengths
    for _ in range(200):
        frames = multiview_windows(ends, rng, episodes=5, window=6, stride=2)
        episode = np.searchsorted(ends, frames, side="right")
        assert len(set(episode.tolist())) == 5  # several episodes a batch
        windows = frames.reshape(5, 6)
        assert (np.diff(windows, axis=1) == 2).all()  # each window's moments, 2 frames apart, in one episode
        assert (episode.reshape(5, 6) == episode.reshape(5, 6)[:, :1]).all()
        assert (frames >= starts[episode]).all() and (frames < ends[episode]).all()
        # a moment's label is its frame index: equal labels only for the same (episode, time)
        same = frames[:, None] == frames[None, :]
        assert (same == np.eye(len(frames), dtype=bool)).all()
    a, p = view_pairs(rng, 1000, 4)
    assert (a != p).all() and set(a.tolist()) == set(range(4))
    a, p = view_pairs(rng, 1000, 4, allowed=[0, 2])
    assert set(a.tolist()) | set(p.tolist()) == {0, 2}
    with pytest.raises(StoreError, match="needs two views"):
        view_pairs(rng, 3, 4, allowed=[1])
    with pytest.raises(StoreError, match="hold a time window of 50 frames"):
        multiview_windows(ends, rng, episodes=2, window=50)


def test_single_view_triplets_keep_to_their_radii_and_their_episode():
    rng = np.random.default_rng(1)
    ends = np.cumsum([15, 30, 7, 25])
    a, p, n = single_view_triplets(ends, rng, 2000, positive_radius=2, negative_radius=6)
    ea, ep, en = (np.searchsorted(ends, x, side="right") for x in (a, p, n))
    assert (ea == ep).all() and (ea == en).all() and not (ea == 2).any()  # episode 2 (7 frames) is too short
    assert (np.abs(p - a) <= 2).all() and (p != a).all() and (np.abs(n - a) > 6).all()
    with pytest.raises(StoreError, match="below negative_radius"):
        single_view_triplets(ends, rng, 3, positive_radius=6, negative_radius=6)


def alignment_error(model: TCN, episodes: list[np.ndarray]) -> float:
    """Mean |t - t_nn| / T of each view-0 frame's nearest view-1 frame, over `episodes`."""
    errors = []
    with torch.no_grad():
        for ep in episodes:
            e, _ = model({"rgb": torch.from_numpy(ep)})
            nn_t = torch.cdist(e[:, 0], e[:, 1]).argmin(dim=1).numpy()
            errors.append(np.abs(nn_t - np.arange(len(ep))).mean() / len(ep))
    return float(np.mean(errors))


def test_a_tcn_learns_to_align_two_views_of_a_moving_shape():
    rng = np.random.default_rng(0)
    train = [moving_shape_episode(rng, frames=16, views=2, size=16)[0] for _ in range(24)]
    held = [moving_shape_episode(rng, frames=16, views=2, size=16)[0] for _ in range(8)]
    frames = np.concatenate(train)  # (N, 2, 16, 16, 3)
    ends = np.cumsum([len(e) for e in train])
    torch.manual_seed(0)
    model = TCN(TCNConfig(image_size=16, channels=(16, 32), strides=(1, 2), fc=64, embedding=16))
    before = alignment_error(model.eval(), held)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    model.train()
    for _ in range(250):
        idx = multiview_windows(ends, rng, episodes=4, window=8, stride=2)
        a, p = view_pairs(rng, len(idx), 2)
        batch = torch.from_numpy(frames[idx])  # (B, 2, H, W, 3)
        rows = torch.arange(len(idx))
        anchors, _ = model({"rgb": batch[rows, torch.from_numpy(a)]})
        positives, _ = model({"rgb": batch[rows, torch.from_numpy(p)]})
        loss = npairs_loss(anchors, positives, torch.from_numpy(idx))
        opt.zero_grad()
        loss.backward()
        opt.step()
    after = alignment_error(model.eval(), held)
    assert after < 0.5 * before and after < 0.12, (before, after)


def tcn_toml(tmp_path, extra: str = "", data: str = "", name: str = "tcn"):
    path = tmp_path / f"{name}.toml"
    path.write_text(f'kind = "tcn"\nsteps = 40\neval_every = 20\ncheckpoint_every = 20\nlog_every = 10\n{extra}'
                    '[model]\nchannels = [16, 32]\nstrides = [1, 2]\nfc = 64\nembedding = 16\n'
                    f"[data]\nepisodes = 4\nwindow = 6\nstride = 2\nholdout = 0.2\n{data}"
                    "[optim]\nlr = 3e-3\nwarmup_steps = 5\n")  # fmt: skip
    return path


def test_robolearn_train_trains_a_tcn_resumes_exactly_and_refuses_bad_input(tmp_path, run_cli):
    import json

    from safetensors.numpy import load_file

    from robolearn.data.synthetic import write_blob_store, write_moving_shape_store

    write_moving_shape_store(tmp_path / "mv.zarr", episodes=20, views=3)
    config = tcn_toml(tmp_path, data="views = [0, 1]\n")
    full = run_cli("train", str(config), "--store", str(tmp_path / "mv.zarr"), "--out", str(tmp_path / "full"))
    assert full.returncode == 0, full.stderr[-2000:]
    summary = json.loads((tmp_path / "full" / "summary.json").read_text())
    assert summary["views"] == 3 and summary["held_out_views"] == [2] and summary["val_episodes"] > 0
    assert 0 <= summary["val"]["alignment_error"] < 0.5 and summary["best_alignment_error"] is not None
    assert 0 <= summary["val"]["alignment_error_held_out_views"] < 1  # the pairs (2, 0), (2, 1), (0, 2), (1, 2)
    assert (tmp_path / "full" / "tb").is_dir() and (tmp_path / "full" / "metrics.jsonl").read_text().count("\n") == 2
    # stopped after its step-20 checkpoint (what a kill leaves: the later checkpoint gone) and resumed: the same
    # weights as the uninterrupted run
    import shutil

    shutil.copytree(tmp_path / "full", tmp_path / "half")
    shutil.rmtree(tmp_path / "half" / "checkpoints" / "step-0000040")
    resumed = run_cli("train", str(config), "--store", str(tmp_path / "mv.zarr"), "--out", str(tmp_path / "half"),
                      "--resume")  # fmt: skip
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert json.loads((tmp_path / "half" / "summary.json").read_text())["resumed_from"] == 20
    a = load_file(tmp_path / "full" / "checkpoints" / "step-0000040" / "model.safetensors")
    b = load_file(tmp_path / "half" / "checkpoints" / "step-0000040" / "model.safetensors")
    assert a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)

    def one_line(result, fragment):
        lines = result.stderr.strip().splitlines()
        assert result.returncode == 2 and len(lines) == 1 and fragment in lines[0], result.stderr[-2000:]

    write_blob_store(tmp_path / "single.zarr", episodes=4)  # one view: (N, H, W, 3)
    one_line(run_cli("train", str(config), "--store", str(tmp_path / "single.zarr"), "--out", str(tmp_path / "x")),
             "a TCN trains on multi-view video")  # fmt: skip
    one_line(run_cli("train", str(tcn_toml(tmp_path, data="views = [1]\n", name="one")), "--store", str(tmp_path / "mv.zarr"),
                     "--out", str(tmp_path / "x")), "leaves 1 view(s) for training")  # fmt: skip
    one_line(run_cli("train", str(config), "--store", str(tmp_path / "mv.zarr"), "--out", str(tmp_path / "full")),
             "already holds a run")  # fmt: skip
    long = tmp_path / "long.toml"
    long.write_text(config.read_text().replace("window = 6", "window = 12"))
    one_line(run_cli("train", str(long), "--store", str(tmp_path / "mv.zarr"), "--out", str(tmp_path / "x")),
             "hold a time window of 12 frames")  # fmt: skip
    grasp = tmp_path / "grasp_ck"
    checkpoint.save(grasp, model=torch.nn.Linear(1, 1), model_name="GraspCNN", model_config={}, step=0)
    one_line(run_cli("train", str(config), "--store", str(tmp_path / "mv.zarr"), "--out",
                     str(tmp_path / "x"), "--init-from", str(grasp)), "a GraspCNN with another config")  # fmt: skip
    assert not (tmp_path / "x").exists()  # nothing written by a refused run


@pytest.mark.parametrize("loss", ["triplet", "single_view"])
def test_the_other_losses_train_too(tmp_path, loss):
    from robolearn.config import load_toml
    from robolearn.data.synthetic import write_moving_shape_store
    from robolearn.train.tcn import TCNTrainConfig, train

    write_moving_shape_store(tmp_path / "mv.zarr", episodes=10, views=2)
    overrides = {"loss": loss, "steps": 6, "eval_every": 6, "out": str(tmp_path / "run"),
                 "data": {"stores": [str(tmp_path / "mv.zarr")]}}  # fmt: skip
    summary = train(load_toml(tcn_toml(tmp_path), TCNTrainConfig, overrides=overrides), progress=False)
    assert summary["loss"] == loss and summary["val"]["alignment_error"] is not None
    assert (tmp_path / "run" / "checkpoints" / "step-0000006" / "model.safetensors").exists()


def test_held_out_view_pairs_are_those_with_a_held_out_view_in_them():
    from robolearn.train.tcn import view_pairs_of

    seen, held = view_pairs_of(4, [3])
    assert seen == [(0, 1), (0, 2), (1, 0), (1, 2), (2, 0), (2, 1)]
    assert held == [(0, 3), (1, 3), (2, 3), (3, 0), (3, 1), (3, 2)]
    assert view_pairs_of(3, []) == ([(0, 1), (0, 2), (1, 0), (1, 2), (2, 0), (2, 1)], [])
