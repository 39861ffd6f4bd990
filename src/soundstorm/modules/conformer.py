"""The Conformer block (Gulati et al. 2020), bidirectional, padding-aware.

Block: x + FF/2 -> x + MHSA(RoPE) -> x + Conv -> x + FF/2 -> LayerNorm.
"""

from __future__ import annotations

import torch
from torch import nn

from soundstorm.modules.attention import RotarySelfAttention


class FeedForward(nn.Module):
    """Pre-norm feed-forward module: LayerNorm -> Linear -> SiLU -> Linear."""

    def __init__(self, dim: int, hidden: int, dropout: float = 0.0, norm_eps: float = 1e-5):
        super().__init__()
        self.net = nn.Sequential(
            nn.LayerNorm(dim, eps=norm_eps),
            nn.Linear(dim, hidden),
            nn.SiLU(),
            nn.Dropout(dropout),
            nn.Linear(hidden, dim),
            nn.Dropout(dropout),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)  # (B, T, D) -> (B, T, D)


class ConvModule(nn.Module):
    """Conformer convolution module.

    LayerNorm -> pointwise (GLU) -> depthwise conv (kernel k) -> LayerNorm -> SiLU -> pointwise,
    the depthwise convolution on ``expansion * dim`` channels.
    A LayerNorm replaces the original BatchNorm so that an example's output never depends on
    the other examples of its batch or on padding. Padded frames are zeroed before the
    depthwise convolution, so they read exactly like the convolution's own zero padding.
    """

    def __init__(
        self,
        dim: int,
        kernel_size: int,
        dropout: float = 0.0,
        norm_eps: float = 1e-5,
        expansion: int = 1,
    ):
        super().__init__()
        inner = expansion * dim
        self.norm = nn.LayerNorm(dim, eps=norm_eps)
        self.pointwise_in = nn.Linear(dim, 2 * inner)
        self.glu = nn.GLU(dim=-1)
        self.depthwise = nn.Conv1d(
            inner, inner, kernel_size, padding=kernel_size // 2, groups=inner
        )
        self.conv_norm = nn.LayerNorm(inner, eps=norm_eps)
        self.activation = nn.SiLU()
        self.pointwise_out = nn.Linear(inner, dim)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, keep: torch.Tensor | None) -> torch.Tensor:
        """Args:
        x: ``[B, T, D]``.
        keep: ``[B, T, 1]`` (1 for real frames, 0 for padding) in x's dtype, or None.
        """
        h = self.glu(self.pointwise_in(self.norm(x)))  # (B, T, E*D)
        if keep is not None:
            h = h * keep
        h = self.depthwise(h.transpose(1, 2)).transpose(1, 2)  # (B, T, E*D)
        h = self.activation(self.conv_norm(h))
        return self.dropout(self.pointwise_out(h))


class ConformerBlock(nn.Module):
    """One Conformer block: half-step FF, self-attention, convolution, half-step FF, norm."""

    def __init__(
        self,
        dim: int,
        heads: int,
        ff_dim: int,
        conv_kernel: int,
        dropout: float = 0.0,
        norm_eps: float = 1e-5,
        conv_expansion: int = 1,
    ):
        super().__init__()
        self.ff1 = FeedForward(dim, ff_dim, dropout, norm_eps)
        self.attn = RotarySelfAttention(dim, heads, dropout, norm_eps)
        self.conv = ConvModule(dim, conv_kernel, dropout, norm_eps, conv_expansion)
        self.ff2 = FeedForward(dim, ff_dim, dropout, norm_eps)
        self.norm = nn.LayerNorm(dim, eps=norm_eps)

    def forward(
        self,
        x: torch.Tensor,
        rope: tuple[torch.Tensor, torch.Tensor],
        attn_mask: torch.Tensor | None,
        keep: torch.Tensor | None,
    ) -> torch.Tensor:
        """``[B, T, D] -> [B, T, D]``; see ``RotarySelfAttention`` and ``ConvModule`` for masks."""
        x = torch.add(x, self.ff1(x), alpha=0.5)  # half-step feed-forward
        x = x + self.attn(x, rope, attn_mask)
        x = x + self.conv(x, keep)
        x = torch.add(x, self.ff2(x), alpha=0.5)
        return self.norm(x)
