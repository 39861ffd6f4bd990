"""How a fresh training run initialises the network (``init`` section of the config).

- ``init.codebooks: codec``: each level's code embeddings and output head start as that
  level's RVQ centroids, carried into the model dimension by a distance-preserving map, so
  that codes close in the codec's feature space start close for the model (issue 15: a
  lever on learning speed per CPU-hour; the mask embedding keeps its random start).
- ``init.weights``: warm-start from a model directory of the same configuration (CPU
  hours add up across working days even when a run's checkpoints are gone).

A resumed run loads its checkpoint instead; neither applies then.
"""

from __future__ import annotations

from pathlib import Path

import torch

from soundstorm.errors import SoundStormError
from soundstorm.model import SoundStorm

INIT_STD = 0.02  # the random initialisation's standard deviation (SoundStorm.reset_parameters)


def centroid_embeddings(
    codebooks: torch.Tensor, dim: int, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Embed each level's centroids in ``dim`` dimensions, preserving their distances.

    Per level: centre the centroids, keep their principal components (at most ``dim`` of
    them; all of them when the codec's dimension is at most ``dim``, so distances are
    kept exactly up to scale), rotate them into ``dim`` dimensions by a random matrix with
    orthonormal rows, and scale the result to an element standard deviation of ``INIT_STD``.

    Args:
        codebooks: ``[Q, K, D']`` float centroids, level 0 (the coarsest) first.
        dim: the model dimension ``D``.
        generator: random generator of the rotations (CPU).

    Returns:
        ``[Q, K, D]`` float32.
    """
    if codebooks.dim() != 3:
        raise ValueError(f"codebooks must be [Q, K, D'], got shape {tuple(codebooks.shape)}")
    levels = []
    for centroids in codebooks.double():
        centred = centroids - centroids.mean(dim=0, keepdim=True)
        left, values, _ = torch.linalg.svd(centred, full_matrices=False)
        rank = min(dim, values.shape[0])
        coordinates = left[:, :rank] * values[:rank]  # (K, rank): principal coordinates
        gaussian = torch.randn(dim, rank, generator=generator, dtype=torch.float64)
        rotation, _ = torch.linalg.qr(gaussian)  # (dim, rank), orthonormal columns
        embedded = coordinates @ rotation.T  # (K, dim): same pairwise distances
        scale = embedded.std().clamp_min(1e-12)
        levels.append(embedded * (INIT_STD / scale))
    return torch.stack(levels).float()


def codec_codebooks(codec_path: str | Path | None, num_levels: int, codebook_size: int):
    """The first ``num_levels`` RVQ codebooks ``[Q, K, D']`` of the codec file ``codec_path``.

    Raises:
        SoundStormError: no codec recorded, a codec without RVQ codebooks, or codebooks that
            do not match the model's ``Q`` and ``K``.
    """
    if not codec_path:
        raise SoundStormError(
            "init.codebooks=codec: the training data records no codec file (prepare the data "
            "with soundstorm prepare, or set init.codebooks=random)"
        )
    from soundstorm.codecs import get_codec

    codec = get_codec(str(codec_path))
    quantizer = getattr(codec, "quantizer", None)
    codebooks = getattr(quantizer, "codebooks", None)
    if not isinstance(codebooks, torch.Tensor) or codebooks.dim() != 3:
        raise SoundStormError(
            f"init.codebooks=codec: codec {codec_path} has no RVQ codebooks to start from "
            "(only the embedded codec has; set init.codebooks=random)"
        )
    if codebooks.shape[0] < num_levels or codebooks.shape[1] != codebook_size:
        raise SoundStormError(
            f"init.codebooks=codec: codec {codec_path} has {codebooks.shape[0]} levels of "
            f"{codebooks.shape[1]} codes; the model needs {num_levels} of {codebook_size}"
        )
    return codebooks[:num_levels]


@torch.no_grad()
def init_from_codebooks(
    model: SoundStorm, codebooks: torch.Tensor, generator: torch.Generator | None = None
) -> None:
    """Set every level's code embeddings and output head weights from ``codebooks``.

    Level q's rows ``0..K-1`` of the code embedding table and head q's weight ``[K, D]``
    both become ``centroid_embeddings(codebooks)[q]`` (tied at the start, trained apart);
    the mask rows and the head biases keep their values.
    """
    cfg = model.config
    Q, K, D = cfg.num_levels, cfg.codebook_size, cfg.dim
    if tuple(codebooks.shape[:2]) != (Q, K):
        raise SoundStormError(
            f"codebooks of shape {tuple(codebooks.shape)} do not fit the model's Q={Q}, K={K}"
        )
    embedded = centroid_embeddings(codebooks, D, generator)
    table = model.code_embedding.weight.view(Q, K + 1, D)
    table[:, :K] = embedded.to(table)
    model.head_weight.copy_(embedded.to(model.head_weight))


@torch.no_grad()
def warm_start(model: SoundStorm, directory: str | Path) -> None:
    """Copy the weights of the model directory ``directory`` into ``model``.

    Raises:
        FileNotFoundError: no such model directory.
        SoundStormError: unreadable weights, or a configuration other than ``model``'s.
    """
    from soundstorm.inference import load_pretrained

    source = load_pretrained(directory, device="cpu", dtype=torch.float32)
    if source.config != model.config:
        raise SoundStormError(
            f"init.weights={directory}: its configuration differs from the run's model "
            f"({source.config.to_dict()} vs {model.config.to_dict()})"
        )
    targets = model.state_dict()
    for name, tensor in source.state_dict().items():
        targets[name].copy_(tensor.to(targets[name]))
