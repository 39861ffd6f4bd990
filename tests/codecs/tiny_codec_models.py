"""Tiny random EnCodec, DAC and Mimi models (``transformers``, the ``hf`` extra) for the tests.

Saved with ``save_pretrained`` by the ``saved_models`` fixture (``conftest.py``) and loaded
back through ``get_codec(path)``: nothing is downloaded.
"""

from __future__ import annotations

import torch

SAMPLE_RATE = 8000


def randomise_codebooks(model: torch.nn.Module) -> None:
    """EnCodec and Mimi start with all-zero codebooks (filled by training): give them spread."""
    generator = torch.Generator().manual_seed(0)
    for name, buffer in model.named_buffers():
        if name.endswith((".embed", ".embed_sum", ".embed_avg")):
            buffer.copy_(torch.randn(buffer.shape, generator=generator))


def tiny_models() -> dict[str, torch.nn.Module]:
    """One tiny model per family (hop 16 samples for EnCodec/Mimi, 8 for DAC), keyed by the
    lower-cased prefix of its ``transformers`` classes (``EncodecModel``, ``EncodecConfig``)."""
    import transformers

    conv = dict(num_filters=4, hidden_size=16, upsampling_ratios=[4, 4], codebook_dim=16)
    families = {  # config beyond the sample rate and the 64 codes a level
        # target_bandwidths: 500 frames/s x 6 bits, so 1, 2, 4 levels
        "Encodec": dict(conv, num_lstm_layers=1, target_bandwidths=[3.0, 6.0, 12.0]),
        "Dac": dict(
            encoder_hidden_size=4,
            downsampling_ratios=[2, 4],
            decoder_hidden_size=16,
            n_codebooks=4,
            codebook_dim=4,
        ),
        "Mimi": dict(
            conv,
            num_quantizers=4,
            vector_quantization_hidden_dimension=16,
            upsample_groups=16,
            num_hidden_layers=1,
            intermediate_size=32,
            num_attention_heads=2,
            num_key_value_heads=2,
            head_dim=8,
            sliding_window=16,
            max_position_embeddings=256,
        ),
    }
    torch.manual_seed(0)
    models = {}
    for family, settings in families.items():
        config_class = getattr(transformers, f"{family}Config")
        config = config_class(sampling_rate=SAMPLE_RATE, codebook_size=64, **settings)
        models[family.lower()] = getattr(transformers, f"{family}Model")(config)
    for name in ("encodec", "mimi"):
        randomise_codebooks(models[name])
    return models
