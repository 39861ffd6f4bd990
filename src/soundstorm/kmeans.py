"""K-means in PyTorch, shared by the semantic tokenizers and the embedded codec's RVQ.

``nearest_centroid`` assigns points in chunks (a few hundred thousand 1024-dim frames fit in
memory on a CPU); ``lloyd`` runs Lloyd iterations with re-seeding of empty clusters; ``KMeans``
(k-means++ seeding, then ``lloyd``) turns self-supervised speech features into tokens and is
saved as safetensors. ``soundstorm.codecs.rvq`` fits its codebooks with ``lloyd`` too.
"""

from __future__ import annotations

import os

import torch

from soundstorm.checksums import check_safetensors, save_safetensors
from soundstorm.errors import SoundStormError

_CHUNK = 16384  # rows per distance block


def _squared_distances(points: torch.Tensor, centroids: torch.Tensor) -> torch.Tensor:
    """``[N, D] x [K, D] -> [N, K]`` squared Euclidean distances (clamped at 0)."""
    cross = points @ centroids.T  # (N, K)
    dist = points.pow(2).sum(-1, keepdim=True) - 2 * cross + centroids.pow(2).sum(-1)
    return dist.clamp_(min=0)


def nearest_centroid(points: torch.Tensor, centroids: torch.Tensor) -> torch.Tensor:
    """Index of the nearest centroid (Euclidean) of every point.

    Args:
        points: ``FloatTensor[N, D]``.
        centroids: ``FloatTensor[K, D]``.

    Returns:
        ``LongTensor[N]`` in ``[0, K)``.
    """
    centroid_sq_norms = centroids.pow(2).sum(-1)  # (K,)
    out = torch.empty(points.shape[0], dtype=torch.long, device=points.device)
    for start in range(0, points.shape[0], _CHUNK):
        block = points[start : start + _CHUNK]  # (n, D)
        # ||x - c||^2 = ||x||^2 - 2 x.c + ||c||^2; ||x||^2 does not change the argmin.
        scores = centroid_sq_norms - 2.0 * block @ centroids.T  # (n, K)
        out[start : start + _CHUNK] = scores.argmin(-1)
    return out


def lloyd(
    points: torch.Tensor, centroids: torch.Tensor, num_iters: int, tolerance: float = 0.0
) -> torch.Tensor:
    """Lloyd iterations from initial ``centroids``; empty clusters are re-seeded.

    An empty cluster moves to one of the points worst represented by the current centroids
    (when there are more points than clusters), so all K centroids stay in use.

    Args:
        points: ``FloatTensor[N, D]``.
        centroids: ``FloatTensor[K, D]`` initial centroids (not modified).
        num_iters: maximum iterations.
        tolerance: stop early when no centroid moves more than ``tolerance`` times the mean
            point norm (0: run all iterations).

    Returns:
        ``FloatTensor[K, D]`` fitted centroids.
    """
    num_points, num_clusters = points.shape[0], centroids.shape[0]
    scale = points.norm(dim=-1).mean().clamp(min=1e-8)
    for _ in range(num_iters):
        assignment = nearest_centroid(points, centroids)  # (N,)
        sums = torch.zeros_like(centroids).index_add_(0, assignment, points)  # (K, D)
        counts = torch.bincount(assignment, minlength=num_clusters)  # (K,)
        updated = sums / counts.clamp(min=1).unsqueeze(-1).to(sums.dtype)
        empty = (counts == 0).nonzero().squeeze(-1)
        updated[empty] = centroids[empty]
        if empty.numel() and num_points > num_clusters:
            error = (points - centroids[assignment]).pow(2).sum(-1)
            worst = error.topk(min(empty.numel(), num_points)).indices
            updated[empty[: worst.numel()]] = points[worst]
        shift = (updated - centroids).norm(dim=-1).max()
        centroids = updated
        if tolerance > 0 and shift <= tolerance * scale and empty.numel() == 0:
            break
    return centroids


def _kmeans_plus_plus(points: torch.Tensor, k: int, generator: torch.Generator) -> torch.Tensor:
    """k-means++ seeding: each new centre drawn with probability ~ squared distance."""
    n = points.shape[0]
    first = torch.randint(n, (1,), generator=generator)
    centroids = [points[first]]
    closest = _squared_distances(points, centroids[0]).squeeze(-1)  # (N,)
    for _ in range(1, k):
        total = closest.sum()
        if total <= 0:  # every point already sits on a centre: pick any point
            index = torch.randint(n, (1,), generator=generator)
        else:
            index = torch.multinomial(closest / total, 1, generator=generator)
        centroids.append(points[index])
        closest = torch.minimum(closest, _squared_distances(points, points[index]).squeeze(-1))
    return torch.cat(centroids)


class KMeans:
    """K centroids of dimension D, with nearest-centroid assignment.

    Args:
        centroids: ``FloatTensor[K, D]``.
    """

    def __init__(self, centroids: torch.Tensor) -> None:
        if centroids.dim() != 2 or centroids.shape[0] < 1:
            raise SoundStormError(f"centroids must be [K, D] with K >= 1, got {centroids.shape}")
        self.centroids = centroids.float().contiguous()

    @property
    def num_clusters(self) -> int:
        """K."""
        return self.centroids.shape[0]

    @property
    def dim(self) -> int:
        """Feature dimension D."""
        return self.centroids.shape[1]

    @classmethod
    def fit(
        cls,
        features: torch.Tensor,
        num_clusters: int,
        num_iters: int = 50,
        seed: int = 0,
        max_points: int | None = 200_000,
        tolerance: float = 1e-4,
    ) -> KMeans:
        """Cluster feature vectors.

        Args:
            features: ``FloatTensor[N, D]``, N >= ``num_clusters``.
            num_clusters: K.
            num_iters: Maximum Lloyd iterations.
            seed: Seed of the sub-sampling and of the k-means++ draws.
            max_points: Cluster a random subset of at most this many rows (None: all).
            tolerance: Stop when no centroid moves more than ``tolerance`` times the mean
                feature norm.

        Returns:
            The fitted quantiser. Empty clusters are re-seeded at the points farthest from
            their centroids, so all K centroids are distinct when the data allow it.

        Raises:
            SoundStormError: if there are fewer feature vectors than clusters.
        """
        if features.dim() != 2:
            raise SoundStormError(f"features must be [N, D], got {tuple(features.shape)}")
        if num_clusters < 1:
            raise SoundStormError(f"num_clusters must be >= 1, got {num_clusters}")
        if features.shape[0] < num_clusters:
            raise SoundStormError(
                f"k-means needs at least num_clusters={num_clusters} feature frames, "
                f"got {features.shape[0]}: give it more audio or fewer clusters"
            )
        generator = torch.Generator().manual_seed(seed)
        points = features.detach().float().cpu()
        if max_points is not None and points.shape[0] > max_points:
            points = points[torch.randperm(points.shape[0], generator=generator)[:max_points]]
        centroids = _kmeans_plus_plus(points, num_clusters, generator)
        centroids = lloyd(points, centroids, num_iters, tolerance)
        return cls(centroids)

    def predict(self, features: torch.Tensor) -> torch.Tensor:
        """Token ids of feature vectors.

        Args:
            features: ``FloatTensor[..., D]``.

        Returns:
            ``LongTensor[...]`` in ``[0, K)``.
        """
        if features.shape[-1] != self.dim:
            raise SoundStormError(
                f"features have dimension {features.shape[-1]}, the k-means expects {self.dim}"
            )
        flat = features.detach().float().reshape(-1, self.dim)
        if self.centroids.device != flat.device:  # follow the features (e.g. to the GPU)
            self.centroids = self.centroids.to(flat.device)
        ids = nearest_centroid(flat, self.centroids)
        return ids.reshape(features.shape[:-1])

    def save(self, path: str | os.PathLike) -> None:
        """Write the centroids to a safetensors file (atomically, with its sha256)."""
        save_safetensors(path, {"centroids": self.centroids.cpu().contiguous()})

    @classmethod
    def load(cls, path: str | os.PathLike) -> KMeans:
        """Read centroids written by :meth:`save`.

        Raises:
            SoundStormError: unreadable file, or no ``centroids`` tensor in it.
            DamagedFileError: the file differs from what was written (its recorded sha256).
        """
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        try:
            check_safetensors(path)
            tensors = load_file(str(path))
        except (OSError, RuntimeError, SafetensorError) as error:
            raise SoundStormError(f"cannot read k-means centroids from {path}: {error}") from error
        if "centroids" not in tensors:
            raise SoundStormError(f"{path} has no 'centroids' tensor")
        return cls(tensors["centroids"])
