"""Residual vector quantization fitted by k-means, one codebook per level.

Level 1 quantizes the feature vectors, level 2 quantizes what level 1 left over, and so
on: summing the first ``q`` codewords reconstructs the vector with an error that shrinks
as ``q`` grows. This coarse-to-fine order is what SoundStorm's level-by-level decoding
relies on.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from soundstorm.kmeans import lloyd, nearest_centroid


def fit_kmeans(
    vectors: torch.Tensor,
    num_clusters: int,
    num_iters: int = 20,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """K-means with random initialisation (then ``soundstorm.kmeans.lloyd``).

    Args:
        vectors: ``[N, D]`` float training vectors.
        num_clusters: K, the codebook size.
        num_iters: Lloyd iterations.
        generator: random generator (for reproducible fits).

    Returns:
        Codebook ``[K, D]``. When ``N < K`` the missing codewords are copies of training
        vectors plus tiny noise, so every index stays decodable.
    """
    num_vectors, dim = vectors.shape
    if num_vectors == 0:
        raise ValueError("cannot fit k-means on zero vectors")
    order = torch.randperm(num_vectors, generator=generator)
    if num_vectors >= num_clusters:
        codebook = vectors[order[:num_clusters]].clone()
    else:
        repeats = order[torch.arange(num_clusters) % num_vectors]
        noise = torch.randn(num_clusters, dim, generator=generator) * 1e-3
        codebook = vectors[repeats].clone() + noise * vectors.std().clamp_min(1e-6)
    return lloyd(vectors, codebook, num_iters)


class ResidualVectorQuantizer:
    """A stack of codebooks ``[Q, K, D]`` applied to residuals, coarse to fine."""

    def __init__(self, codebooks: torch.Tensor) -> None:
        """Wrap fitted codebooks.

        Args:
            codebooks: ``[Q, K, D]`` float, level 0 first.
        """
        if codebooks.dim() != 3:
            raise ValueError(f"codebooks must be [Q, K, D], got shape {tuple(codebooks.shape)}")
        self.codebooks = codebooks.float().contiguous()

    @property
    def num_levels(self) -> int:
        """Number of levels Q."""
        return self.codebooks.shape[0]

    @property
    def codebook_size(self) -> int:
        """Codewords K per level."""
        return self.codebooks.shape[1]

    @property
    def dim(self) -> int:
        """Dimension D of the quantized vectors."""
        return self.codebooks.shape[2]

    @classmethod
    def fit(
        cls,
        vectors: torch.Tensor,
        num_levels: int,
        codebook_size: int,
        num_iters: int = 20,
        seed: int = 0,
        progress: Callable[[int], None] | None = None,
    ) -> ResidualVectorQuantizer:
        """Fit one k-means codebook per level on the residuals of the previous levels.

        Args:
            vectors: ``[N, D]`` training vectors.
            num_levels: Q.
            codebook_size: K.
            num_iters: Lloyd iterations per level.
            seed: seed of the random initialisation.
            progress: called with the level index after each level is fitted.

        Returns:
            The fitted quantizer.
        """
        generator = torch.Generator().manual_seed(seed)
        residual = vectors.float().clone()
        codebooks = []
        for level in range(num_levels):
            codebook = fit_kmeans(residual, codebook_size, num_iters, generator)
            residual -= codebook[nearest_centroid(residual, codebook)]
            codebooks.append(codebook)
            if progress is not None:
                progress(level)
        return cls(torch.stack(codebooks))

    def encode(self, vectors: torch.Tensor, num_levels: int | None = None) -> torch.Tensor:
        """Quantize vectors.

        Args:
            vectors: ``[N, D]`` float.
            num_levels: levels to use (default: all).

        Returns:
            ``LongTensor[N, Q]``.
        """
        num_levels = self.num_levels if num_levels is None else num_levels
        residual = vectors.float().clone()
        codes = []
        for level in range(num_levels):
            indices = nearest_centroid(residual, self.codebooks[level])
            residual -= self.codebooks[level][indices]
            codes.append(indices)
        if not codes:
            return torch.zeros(vectors.shape[0], 0, dtype=torch.long)
        return torch.stack(codes, dim=1)

    def decode(self, codes: torch.Tensor) -> torch.Tensor:
        """Sum the codewords of the given levels.

        Args:
            codes: ``LongTensor[N, Q']`` with ``Q' <= Q`` (the first ``Q'`` levels).

        Returns:
            ``[N, D]`` reconstructed vectors.
        """
        num_used = codes.shape[1]
        if num_used > self.num_levels:
            raise ValueError(
                f"codes have {num_used} levels but the quantizer has {self.num_levels}"
            )
        out = torch.zeros(codes.shape[0], self.dim)
        for level in range(num_used):
            out += self.codebooks[level][codes[:, level]]
        return out
