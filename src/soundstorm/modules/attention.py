"""Multi-head self-attention with rotary position embeddings (RoPE) and a key-padding mask."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def rotary_tables(
    num_frames: int, head_dim: int, base: float, device: torch.device, dtype: torch.dtype
) -> tuple[torch.Tensor, torch.Tensor]:
    """Cosine and sine tables of the rotary embedding.

    Args:
        num_frames: sequence length T.
        head_dim: per-head dimension (even).
        base: frequency base (10000 in RoFormer).
        device: where to build the tables.
        dtype: float32, or float64 for float64 models.

    Returns:
        ``(cos, sin)``, each ``[T, head_dim]`` (the half-dimension angles repeated twice).
    """
    inv_freq = base ** (-torch.arange(0, head_dim, 2, device=device, dtype=dtype) / head_dim)
    angles = torch.outer(torch.arange(num_frames, device=device, dtype=dtype), inv_freq)
    angles = torch.cat((angles, angles), dim=-1)  # (T, hd)
    return angles.cos(), angles.sin()


def apply_rotary(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotate ``x`` ``[B, H, T, hd]`` by position (rotate-half convention)."""
    x1, x2 = x.chunk(2, dim=-1)
    rotated = torch.cat((-x2, x1), dim=-1)
    out = x.to(cos.dtype) * cos + rotated.to(cos.dtype) * sin
    return out.to(x.dtype)


class RotarySelfAttention(nn.Module):
    """Bidirectional multi-head self-attention through ``scaled_dot_product_attention``."""

    def __init__(self, dim: int, heads: int, dropout: float = 0.0, norm_eps: float = 1e-5):
        super().__init__()
        self.heads = heads
        self.head_dim = dim // heads
        self.norm = nn.LayerNorm(dim, eps=norm_eps)
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        self.dropout = nn.Dropout(dropout)

    def forward(
        self,
        x: torch.Tensor,
        rope: tuple[torch.Tensor, torch.Tensor],
        attn_mask: torch.Tensor | None,
    ) -> torch.Tensor:
        """Args:
            x: ``[B, T, D]``.
            rope: ``(cos, sin)`` tables ``[T, head_dim]``.
            attn_mask: ``BoolTensor[B, 1, 1, T]``, True for real (attendable) frames, or None.

        Returns:
            ``[B, T, D]`` (the residual branch; the caller adds it).
        """
        B, T, D = x.shape
        qkv = self.qkv(self.norm(x)).view(B, T, 3, self.heads, self.head_dim)
        qkv = qkv.permute(2, 0, 3, 1, 4)  # (3, B, H, T, hd)
        q, k = apply_rotary(qkv[:2], *rope).unbind(0)  # one rotation for q and k
        v = qkv[2]
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask)  # (B, H, T, hd)
        out = out.transpose(1, 2).reshape(B, T, D)
        return self.dropout(self.proj(out))
