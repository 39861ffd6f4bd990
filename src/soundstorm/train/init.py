"""How a fresh training run initialises the network (``init`` section of the config).

- ``init.codebooks: codec``: each level's code embeddings and output head start as that
  level's RVQ centroids, carried into the model dimension by a distance-preserving map, so
  that codes close in the codec's feature space start close for the model (issue 15: a
  lever on learning speed per CPU-hour; the mask embedding keeps its random start).
- ``init.weights``: warm-start from a model directory of the same configuration (CPU
  hours add up across working days even when a run's checkpoints are gone), or of a
  smaller ``depth``: the model is then grown, computing the same function (``grow_depth``).

A resumed run loads its checkpoint instead; neither applies then.
"""

from __future__ import annotations

import dataclasses
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


#: The last layer of each residual branch of a Conformer block: zeroed in a grown block, so
#: that the block adds nothing to its input until training moves them.
BRANCH_OUTPUTS = ("ff1.net.4", "attn.proj", "conv.pointwise_out", "ff2.net.4")


def grown_positions(source_depth: int, depth: int) -> list[int]:
    """Where each of ``source_depth`` blocks goes in a model of ``depth`` blocks: spread
    evenly, the first at 0, each followed by the new blocks before the next old one.

    Raises:
        ValueError: ``depth < source_depth`` or either below 1.
    """
    if not 1 <= source_depth <= depth:
        raise ValueError(f"cannot grow {source_depth} blocks into {depth}")
    return [i * depth // source_depth for i in range(source_depth)]


@torch.no_grad()
def grow_depth(model: SoundStorm, source: SoundStorm) -> None:
    """Copy ``source`` into the deeper ``model`` so that it computes the same function.

    Each source block keeps its weights at ``grown_positions``; the blocks after it up to
    the next source block are new: their residual branches end in zeroed layers
    (``BRANCH_OUTPUTS``), so each adds nothing, and their other weights keep ``model``'s
    random initialisation (the zeroed layers get gradients at once). A Conformer block ends
    in a LayerNorm, which a block that adds nothing would still apply: so the source block's
    final norm becomes a plain normalisation (weight 1, bias 0), the new blocks' norms too,
    and the last new block of its run takes the source norm's weight and bias. The grown
    model's outputs equal the source's up to the norm's epsilon (relative ~1e-5).
    Embeddings and heads are copied. Net2Net (Chen et al. 2016) grows networks the same
    way: function-preserving, so no training is lost.

    Args:
        model: the model to fill, ``depth`` >= ``source.config.depth``, all else equal.
        source: the trained model.
    """
    depth, source_depth = model.config.depth, source.config.depth
    positions = grown_positions(source_depth, depth)
    targets = model.state_dict()
    for name, tensor in source.state_dict().items():
        if not name.startswith("blocks."):
            targets[name].copy_(tensor)
            continue
        _, index, rest = name.split(".", 2)
        targets[f"blocks.{positions[int(index)]}.{rest}"].copy_(tensor)
    ends = positions[1:] + [depth]
    for start, end in zip(positions, ends):
        if end - start == 1:
            continue  # no new block after this one
        for new in range(start + 1, end):
            for branch in BRANCH_OUTPUTS:
                targets[f"blocks.{new}.{branch}.weight"].zero_()
                targets[f"blocks.{new}.{branch}.bias"].zero_()
        last = f"blocks.{end - 1}.norm"
        first = f"blocks.{start}.norm"
        targets[f"{last}.weight"].copy_(targets[f"{first}.weight"])
        targets[f"{last}.bias"].copy_(targets[f"{first}.bias"])
        for block in range(start, end - 1):
            targets[f"blocks.{block}.norm.weight"].fill_(1.0)
            targets[f"blocks.{block}.norm.bias"].zero_()


@torch.no_grad()
def warm_start(model: SoundStorm, directory: str | Path) -> int:
    """Copy the weights of the model directory ``directory`` into ``model``.

    A source with fewer blocks than ``model`` and an otherwise equal configuration is grown
    into it (``grow_depth``: the same function, more capacity), so a larger model continues
    the shipped one instead of starting again.

    Returns:
        The source's depth (``model.config.depth`` unless it was grown).

    Raises:
        FileNotFoundError: no such model directory.
        SoundStormError: unreadable weights, or a configuration other than ``model``'s
            (beyond a smaller ``depth``).
    """
    from soundstorm.inference import load_pretrained

    source = load_pretrained(directory, device="cpu", dtype=torch.float32)
    shallower = dataclasses.replace(model.config, depth=source.config.depth)
    if source.config.depth < model.config.depth and source.config == shallower:
        grow_depth(model, source)
        return source.config.depth
    if source.config != model.config:
        raise SoundStormError(
            f"init.weights={directory}: its configuration differs from the run's model "
            f"({source.config.to_dict()} vs {model.config.to_dict()}); only a smaller depth "
            "can differ (the model is then grown)"
        )
    targets = model.state_dict()
    for name, tensor in source.state_dict().items():
        targets[name].copy_(tensor.to(targets[name]))
    return source.config.depth
