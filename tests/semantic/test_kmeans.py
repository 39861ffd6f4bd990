"""Tests of the PyTorch k-means used by the HuBERT / w2v-BERT tokenizers."""

from __future__ import annotations

import pytest
import torch

from soundstorm.errors import SoundStormError
from soundstorm.kmeans import KMeans, nearest_centroid


def _blobs(num_clusters: int, per_cluster: int, dim: int, seed: int = 0):
    generator = torch.Generator().manual_seed(seed)
    centres = torch.randn(num_clusters, dim, generator=generator) * 10
    labels = torch.arange(num_clusters).repeat_interleave(per_cluster)
    points = centres[labels] + 0.1 * torch.randn(len(labels), dim, generator=generator)
    return points, labels, centres


def test_fit_recovers_well_separated_clusters() -> None:
    points, labels, centres = _blobs(num_clusters=6, per_cluster=50, dim=8)
    kmeans = KMeans.fit(points, num_clusters=6, seed=1)
    ids = kmeans.predict(points)
    # Each true cluster maps to exactly one k-means id, and different clusters to different ids.
    mapping = {int(label): set(ids[labels == label].tolist()) for label in range(6)}
    assert all(len(found) == 1 for found in mapping.values())
    assert len({next(iter(found)) for found in mapping.values()}) == 6
    # And the centroids sit on the true centres.
    matched = centres[torch.stack([labels[ids == k][0] for k in range(6)])]
    assert torch.allclose(kmeans.centroids, matched, atol=0.1)


def test_predict_keeps_leading_shape_and_range() -> None:
    points, _, _ = _blobs(num_clusters=4, per_cluster=20, dim=5)
    kmeans = KMeans.fit(points, num_clusters=4)
    features = torch.randn(3, 7, 5)
    ids = kmeans.predict(features)
    assert ids.shape == (3, 7)
    assert ids.dtype == torch.long
    assert int(ids.min()) >= 0 and int(ids.max()) < 4
    assert torch.equal(ids.reshape(-1), nearest_centroid(features.reshape(-1, 5), kmeans.centroids))


def test_nearest_centroid_matches_brute_force_across_chunks() -> None:
    generator = torch.Generator().manual_seed(3)
    points = torch.randn(20000, 4, generator=generator)  # more than one distance chunk
    centroids = torch.randn(9, 4, generator=generator)
    brute = torch.cdist(points, centroids).argmin(-1)
    assert torch.equal(nearest_centroid(points, centroids), brute)


def test_fit_is_deterministic_given_seed_and_uses_every_cluster() -> None:
    points = torch.randn(500, 3, generator=torch.Generator().manual_seed(0))
    first = KMeans.fit(points, num_clusters=16, seed=7)
    second = KMeans.fit(points, num_clusters=16, seed=7)
    assert torch.equal(first.centroids, second.centroids)
    assert len(set(first.predict(points).tolist())) == 16


def test_fit_with_duplicate_points_still_gives_valid_centroids() -> None:
    points = torch.cat([torch.zeros(30, 2), torch.ones(30, 2)])
    kmeans = KMeans.fit(points, num_clusters=4)
    assert kmeans.num_clusters == 4
    assert torch.isfinite(kmeans.centroids).all()
    ids = kmeans.predict(points)
    assert ids[0] != ids[-1]


def test_fit_on_a_subsample() -> None:
    points, labels, _ = _blobs(num_clusters=3, per_cluster=400, dim=4)
    kmeans = KMeans.fit(points, num_clusters=3, max_points=90)
    ids = kmeans.predict(points)
    for label in range(3):
        assert len(set(ids[labels == label].tolist())) == 1


def test_save_load_round_trip(tmp_path) -> None:
    points, _, _ = _blobs(num_clusters=5, per_cluster=10, dim=6)
    kmeans = KMeans.fit(points, num_clusters=5)
    kmeans.save(tmp_path / "kmeans.safetensors")
    loaded = KMeans.load(tmp_path / "kmeans.safetensors")
    assert torch.equal(loaded.centroids, kmeans.centroids)
    assert torch.equal(loaded.predict(points), kmeans.predict(points))
    assert not list(tmp_path.glob("*.tmp"))


def test_errors() -> None:
    with pytest.raises(SoundStormError, match="at least"):
        KMeans.fit(torch.randn(3, 2), num_clusters=4)
    with pytest.raises(SoundStormError):
        KMeans.fit(torch.randn(10), num_clusters=2)
    kmeans = KMeans(torch.randn(4, 3))
    with pytest.raises(SoundStormError, match="dimension"):
        kmeans.predict(torch.randn(5, 2))
    with pytest.raises(SoundStormError):
        KMeans(torch.randn(4))


def test_load_of_a_bad_file_is_a_user_error(tmp_path) -> None:
    path = tmp_path / "bad.safetensors"
    path.write_bytes(b"not a safetensors file")
    with pytest.raises(SoundStormError):
        KMeans.load(path)
