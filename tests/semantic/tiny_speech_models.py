"""Tiny random HuBERT and w2v-BERT 2.0 models (``transformers``, the ``hf`` extra) for tests.

Saved with ``save_pretrained`` by the ``tiny_models`` fixture (``conftest.py``): nothing is
downloaded.
"""

from __future__ import annotations

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
