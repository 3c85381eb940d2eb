"""Time-contrastive networks: the model, its losses on constructed embeddings, the batch sampler's labels, and a
tiny multi-view task it must learn."""

import numpy as np
import pytest
import torch

from robolearn.data.store import StoreError
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


def two_view_episode(rng: np.random.Generator, frames: int = 16, size: int = 16) -> np.ndarray:
    """(T, 2, size, size, 3) uint8: a bright square moving along a random straight path, seen by two cameras: the
    second sees the scene turned a quarter and on another background."""
    start, end = rng.uniform(0.15, 0.85, 2), rng.uniform(0.15, 0.85, 2)
    out = np.zeros((frames, 2, size, size, 3), np.uint8)
    out[:, 0] = (30, 30, 80)
    out[:, 1] = (70, 40, 20)
    for t in range(frames):
        y, x = ((start + (end - start) * t / (frames - 1)) * (size - 3)).astype(int)
        out[t, 0, y : y + 3, x : x + 3] = (240, 220, 60)
        out[t, 1] = np.rot90(out[t, 1], 1).copy()
        out[t, 1][np.rot90(out[t, 0], 1)[..., 0] == 240] = (250, 250, 250)
    return out


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
    train = [two_view_episode(rng) for _ in range(24)]
    held = [two_view_episode(rng) for _ in range(8)]
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
