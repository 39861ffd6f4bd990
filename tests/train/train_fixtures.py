"""Helpers of the training tests: synthetic token data a tiny model can learn, tiny configs."""

from __future__ import annotations

import os
import signal
import socket

import numpy as np

from soundstorm.train.config import TrainConfig, load_train_config

NUM_LEVELS, CODEBOOK, COND_VOCAB = 2, 16, 8
#: The codec record of ``write_synthetic_shards`` directories that carry a real (tiny) embedded
#: codec file (``tests/voice_fakes.make_voice_model``'s ``codec.safetensors``).
EMBEDDED_CODEC = {
    "name": "embedded",
    "sample_rate": 16000,
    "frame_rate": 50.0,
    "num_levels": NUM_LEVELS,
    "codebook_size": CODEBOOK,
}


def synthetic_tokens(
    count: int, seed: int = 0, min_frames: int = 12, max_frames: int = 40
) -> list[dict]:
    """Utterances whose codes are a fixed function of the semantic token of the same frame
    (``(s * (q + 3) + q) mod K``), so a model can learn them; random lengths."""
    rng = np.random.default_rng(seed)
    items = []
    for index in range(count):
        frames = int(rng.integers(min_frames, max_frames + 1))
        semantic = rng.integers(0, COND_VOCAB, frames)
        levels = [(semantic * (q + 3) + q) % CODEBOOK for q in range(NUM_LEVELS)]
        items.append(
            {
                "id": f"utt{seed}_{index:03d}",
                "codes": np.stack(levels).astype(np.uint16),
                "semantic": semantic.astype(np.int64),
                "duration": frames / 50.0,
            }
        )
    return items


def write_synthetic_shards(
    root,
    codec: dict,
    codec_path: str,
    counts: tuple[int, int] = (16, 3),
    semantic: dict | None = None,
):
    """A ``soundstorm prepare``-like directory of ``synthetic_tokens``: one train shard and
    one valid shard of ``counts`` utterances (seeds 0 and 1), ``codec`` recorded in them and
    ``codec_path`` in the manifest. Returns ``root``."""
    from soundstorm.data import ShardWriter, TokenUtterance, write_manifest
    from soundstorm.data.shards import SHARDS_DIRNAME

    semantic = semantic or {"name": "fake-sem", "frame_rate": 50.0, "vocab_size": COND_VOCAB}
    names = []
    for split, count, seed in (("train", counts[0], 0), ("valid", counts[1], 1)):
        writer = ShardWriter(root / SHARDS_DIRNAME / f"{split}-00000", codec, semantic)
        for item in synthetic_tokens(count, seed=seed):
            ids = item["semantic"].astype(np.int32)
            writer.add(TokenUtterance(item["id"], item["codes"], ids, item["duration"]))
        writer.write()
        names.append((f"{split}-00000", split))
    write_manifest(root, names, codec_path=codec_path)
    return root


def tiny_train_config(output_dir, *overrides: str) -> TrainConfig:
    """A 2-level, 16-code, 32-dim model on 32-frame crops; no TensorBoard, no progress bar."""
    base = [
        "model.preset=tiny",
        f"model.num_levels={NUM_LEVELS}",
        f"model.codebook_size={CODEBOOK}",
        f"model.cond_vocab_size={COND_VOCAB}",
        "model.dim=32",
        "model.heads=2",
        "model.ff_dim=64",
        "model.depth=2",
        "data.max_frames=32",
        "data.batch_size=4",
        "data.num_workers=0",
        "optim.lr=3e-3",
        "optim.warmup_steps=3",
        "optim.total_steps=40",
        "log.every=5",
        "log.val_every=0",
        "log.tensorboard=false",
        "log.progress=false",
        "log.generate_examples=0",
        f"run.output_dir={output_dir}",
        "run.checkpoint_every=1000",
    ]
    return load_train_config(None, base + list(overrides))


def free_port() -> int:
    """A free TCP port on localhost (for a Gloo rendezvous)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def terminate_after_step(monkeypatch, step: int) -> None:
    """Send this process a SIGTERM while optimizer step ``step`` runs (as a scheduler would)."""
    from soundstorm.train.recipe import TrainRecipe

    original = TrainRecipe.train_step

    def train_step(self, micro_batches):
        result = original(self, micro_batches)
        if self.progress.step + 1 == step:  # progress.step counts the steps already done
            os.kill(os.getpid(), signal.SIGTERM)
        return result

    monkeypatch.setattr(TrainRecipe, "train_step", train_step)
