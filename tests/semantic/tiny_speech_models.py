"""Tiny random HuBERT and w2v-BERT 2.0 models (``transformers``, the ``hf`` extra) for tests,
and the speech-like audio the k-means tokenizers are fitted on and tested with.

Saved with ``save_pretrained`` by the ``tiny_models`` fixture (``conftest.py``): nothing is
downloaded.
"""

from __future__ import annotations

import math
from pathlib import Path

import torch

HIDDEN = 16


def save_tiny_models(root: Path) -> dict[str, str]:
    """Randomly initialised 2-layer HuBERT and w2v-BERT 2.0 models, saved under ``root``.

    Returns:
        ``{"hubert": directory, "w2v-bert": directory}``.
    """
    import transformers

    torch.manual_seed(0)
    small = {"hidden_size": HIDDEN, "num_hidden_layers": 2, "num_attention_heads": 2}
    hubert = transformers.HubertConfig(
        **small,
        intermediate_size=32,
        conv_dim=(16,) * 7,
        num_conv_pos_embeddings=16,
        num_conv_pos_embedding_groups=2,
    )
    transformers.HubertModel(hubert).save_pretrained(root / "hubert")
    w2v_bert = transformers.Wav2Vec2BertConfig(
        **small, intermediate_size=32, conv_depthwise_kernel_size=3, output_hidden_size=HIDDEN
    )
    transformers.Wav2Vec2BertModel(w2v_bert).save_pretrained(root / "w2v-bert")
    transformers.SeamlessM4TFeatureExtractor().save_pretrained(root / "w2v-bert")
    return {"hubert": str(root / "hubert"), "w2v-bert": str(root / "w2v-bert")}


def speechlike(seconds: float, sample_rate: int, seed: int = 0, batch: int = 1) -> torch.Tensor:
    """Harmonic tones with gliding pitch and a syllable-rate envelope: ``[batch, 1, S]``."""
    generator = torch.Generator().manual_seed(seed)
    t = torch.arange(int(seconds * sample_rate)) / sample_rate
    out = []
    for _ in range(batch):
        f0 = 100 + 80 * torch.rand(1, generator=generator)
        phase = 2 * math.pi * torch.cumsum(f0 * (1 + 0.3 * torch.sin(3 * t)), 0) / sample_rate
        wav = sum(torch.sin(k * phase) / k for k in range(1, 6)) * (0.5 + 0.5 * torch.sin(7 * t))
        out.append(0.2 * wav + 0.01 * torch.randn(len(t), generator=generator))
    return torch.stack(out)[:, None]


def fit_clips() -> list[torch.Tensor]:
    """The k-means fitting set at 16 kHz: one 1.5 s clip ``[S]`` and a batch ``[2, 1, S]``."""
    return [speechlike(1.5, 16000, seed=1)[0, 0], speechlike(0.5, 16000, seed=2, batch=2)]
