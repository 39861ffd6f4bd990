"""Model configuration: one dataclass with named presets (gpt-fast's ``ModelArgs`` style)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from soundstorm.validation import require_int, require_real


@dataclass
class SoundStormConfig:
    """Hyper-parameters of a SoundStorm model.

    Attributes:
        num_levels: Q, the number of RVQ levels of the acoustic tokens.
        codebook_size: K, codes per level. The mask id of every level is K (``mask_id``).
        cond_vocab_size: size of the conditioning (semantic) token vocabulary.
        dim: model (and embedding) dimension.
        depth: number of Conformer blocks.
        heads: attention heads (``dim`` must be divisible by ``heads``; head dim must be even).
        ff_dim: hidden size of each feed-forward module.
        conv_kernel: kernel size of the depthwise convolution (odd, so it is centred).
        conv_expansion: width of the convolution module in units of ``dim`` (the depthwise
            convolution runs on ``conv_expansion * dim`` channels). 2 gives the paper's
            "about 350M" parameters for its stated dimensions (354M; 1 gives 316M).
        dropout: dropout probability (feed-forward, attention output, convolution).
        rope_base: base of the rotary position embedding frequencies.
        norm_eps: epsilon of the layer norms.
    """

    num_levels: int = 12
    codebook_size: int = 1024
    cond_vocab_size: int = 1024
    dim: int = 1024
    depth: int = 12
    heads: int = 16
    ff_dim: int = 4096
    conv_kernel: int = 5
    conv_expansion: int = 2
    dropout: float = 0.0
    rope_base: float = 10000.0
    norm_eps: float = 1e-5

    def __post_init__(self) -> None:
        """Check every field; ``ValueError`` naming the field and what was expected.

        Integer fields refuse floats, bools and strings (``require_int``: never truncated);
        real fields refuse ``nan``, ``inf`` and non-numbers.
        """
        positive = (
            "num_levels",
            "codebook_size",
            "cond_vocab_size",
            "dim",
            "depth",
            "heads",
            "ff_dim",
            "conv_kernel",
            "conv_expansion",
        )
        for name in positive:
            require_int(f"SoundStormConfig.{name}", getattr(self, name), minimum=1)
        for name in ("dropout", "rope_base", "norm_eps"):
            require_real(f"SoundStormConfig.{name}", getattr(self, name))
        if self.rope_base <= 0 or self.norm_eps <= 0:
            raise ValueError(
                f"SoundStormConfig.rope_base and norm_eps must be > 0, got {self.rope_base} "
                f"and {self.norm_eps}"
            )
        if self.dim % self.heads:
            raise ValueError(f"dim ({self.dim}) must be divisible by heads ({self.heads})")
        if (self.dim // self.heads) % 2:
            raise ValueError(
                f"head dimension dim/heads = {self.dim // self.heads} must be even (RoPE)"
            )
        if self.conv_kernel < 1 or self.conv_kernel % 2 == 0:
            raise ValueError(f"conv_kernel must be a positive odd integer, got {self.conv_kernel}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")

    @property
    def mask_id(self) -> int:
        """Id of the MASK token in every level's embedding table (== ``codebook_size``)."""
        return self.codebook_size

    @property
    def head_dim(self) -> int:
        return self.dim // self.heads

    # ----------------------------------------------------------------- presets
    @classmethod
    def paper(cls, **overrides: Any) -> SoundStormConfig:
        """The paper's model: 12 layers, 16 heads, dim 1024, ff 4096, kernel 5, Q=12, K=1024 (~350M)."""
        return cls.from_name("paper", **overrides)

    @classmethod
    def small(cls, **overrides: Any) -> SoundStormConfig:
        """A small model for CPU experiments and the CPU speed benchmark (dim 256, 4 layers, Q=8)."""
        return cls.from_name("small", **overrides)

    @classmethod
    def tiny(cls, **overrides: Any) -> SoundStormConfig:
        """A tiny model for tests: trains in seconds on a CPU."""
        return cls.from_name("tiny", **overrides)

    @classmethod
    def from_name(cls, name: str, **overrides: Any) -> SoundStormConfig:
        """Build a preset by name (``paper``, ``small`` or ``tiny``: :data:`PRESETS`), with
        ``overrides`` replacing some of its fields."""
        if name not in PRESETS:
            raise ValueError(
                f"unknown SoundStorm preset {name!r}; expected one of {sorted(PRESETS)}"
            )
        return cls(**{**PRESETS[name], **overrides})

    # ----------------------------------------------------------------- (de)serialisation
    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> SoundStormConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(
                f"unknown SoundStormConfig field(s) {unknown}; known fields: {sorted(known)}"
            )
        return cls(**values)


_PRESET_FIELDS = (
    "num_levels", "codebook_size", "cond_vocab_size", "dim", "depth", "heads", "ff_dim",
    "conv_kernel",
)  # fmt: skip
PRESETS: dict[str, dict[str, int]] = {
    name: dict(zip(_PRESET_FIELDS, values, strict=True))
    for name, values in {
        #         Q   K     cond  dim   depth heads ff    kernel
        "paper": (12, 1024, 1024, 1024, 12, 16, 4096, 5),
        "small": (8, 1024, 1024, 256, 4, 4, 1024, 5),
        "tiny": (4, 64, 64, 64, 2, 4, 128, 5),
    }.items()
}  # fmt: skip
"""The named sizes (SoundStorm §4 for ``paper``): fields of :class:`SoundStormConfig`; the
others keep their defaults."""
