"""The SoundStorm network: per-level token embeddings, a bidirectional Conformer, Q heads.

Shapes: ``codes`` ``LongTensor[B, Q, T]`` (values in ``[0, K]``, K = mask id), ``cond``
``LongTensor[B, T]``, ``lengths`` ``LongTensor[B]`` (real frames of each padded example).
Attention sees T positions whatever Q is: the Q acoustic embeddings and the conditioning
embedding of a frame are summed.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple

import torch
import torch.nn.functional as F
from huggingface_hub import PyTorchModelHubMixin
from torch import nn

from soundstorm.config import SoundStormConfig
from soundstorm.decoding import UNSET, DecodeOptions, generate_tokens
from soundstorm.errors import SoundStormError
from soundstorm.masking import sample_training_masks, score_masked_tokens
from soundstorm.modules import ConformerBlock, rotary_tables
from soundstorm.tokens import check_token_range, out_of_range_message
from soundstorm.validation import describe_value, is_integer_tensor, require_int, resolve_device

WEIGHTS_NAME = "model.safetensors"
CONFIG_NAME = "config.json"
#: Metadata entry of ``model.safetensors``: the checksum of the configuration saved with it.
CONFIG_CHECKSUM_KEY = "soundstorm_config_sha256"


def check_generation_request(
    config: SoundStormConfig,
    cond: torch.Tensor,
    prompt: torch.Tensor | None = None,
    lengths: torch.Tensor | None = None,
    prompt_lengths: torch.Tensor | None = None,
    read_values: bool = True,
    known: torch.Tensor | None = None,
    known_frames: torch.Tensor | None = None,
) -> None:
    """Validate the inputs of a generation; raise ``ValueError`` saying what was expected.

    Shapes are checked first; then every value check is read back from the device in a
    single synchronisation (skipped with ``read_values=False``). Used by
    ``SoundStorm.generate``, ``SoundStorm.forward`` and the inference engine.

    Args:
        config: the model's configuration.
        cond: ``LongTensor[B, T]``.
        prompt: ``LongTensor[B, Q, P]`` with P <= T, or None.
        lengths: ``LongTensor[B]`` in ``[1, T]``, or None.
        prompt_lengths: ``LongTensor[B]`` in ``[0, P]`` (needs a prompt), or None.
        known: ``LongTensor[B, Q, T]`` codes of the known frames (ids in ``[0, K)`` there, no
            mask id; other frames' values are not read), or None.
        known_frames: ``BoolTensor[B, T]`` which frames ``known`` gives (with ``known`` only).

    Raises:
        ValueError: a tensor that is not an integer tensor (floating or bool values are never
            truncated), a wrong shape, ids / lengths out of range, or only one of ``known`` and
            ``known_frames``.
    """
    if not is_integer_tensor(cond) or cond.dim() != 2 or min(cond.shape) < 1:
        raise ValueError(
            f"cond must be an integer tensor [B, T] with B, T >= 1, got {describe_value(cond)}"
        )
    batch, num_frames = cond.shape
    if lengths is not None and (not is_integer_tensor(lengths) or lengths.shape != (batch,)):
        raise ValueError(
            f"lengths must be an integer tensor [B] = [{batch}], got {describe_value(lengths)}"
        )
    if prompt_lengths is not None and prompt is None:
        raise ValueError("prompt_lengths given without a prompt")
    if prompt is not None:
        if not is_integer_tensor(prompt) or prompt.dim() != 3:
            raise ValueError(
                f"prompt must be an integer tensor [B, Q, P], got {describe_value(prompt)}"
            )
        if prompt.shape[:2] != (batch, config.num_levels):
            raise ValueError(
                f"prompt shape {tuple(prompt.shape)} does not match [B, Q, P] with B={batch}, "
                f"Q={config.num_levels}"
            )
        if prompt.shape[2] > num_frames:
            raise ValueError(
                f"prompt is longer ({prompt.shape[2]} frames) than cond (T={num_frames})"
            )
        if prompt_lengths is not None and (
            not is_integer_tensor(prompt_lengths) or prompt_lengths.shape != (batch,)
        ):
            raise ValueError(
                f"prompt_lengths must be an integer tensor [B] = [{batch}], got "
                f"{describe_value(prompt_lengths)}"
            )
    if (known is None) != (known_frames is None):
        raise ValueError("known and known_frames go together: give both or neither")
    if known is not None:
        expected = (batch, config.num_levels, num_frames)
        if not is_integer_tensor(known) or tuple(known.shape) != expected:
            raise ValueError(
                f"known must be an integer tensor [B, Q, T] = {list(expected)}, got "
                f"{describe_value(known)}"
            )
        if known_frames.dtype != torch.bool or tuple(known_frames.shape) != (batch, num_frames):
            raise ValueError(
                f"known_frames must be a bool tensor [B, T] = [{batch}, {num_frames}], got "
                f"{describe_value(known_frames)}"
            )
    if not read_values:
        return
    checks = {"cond": (cond.min(), cond.max())}
    if known is not None:  # only the known frames' codes matter (0 elsewhere: in range)
        given = torch.where(known_frames[:, None, :].to(known.device), known, 0)
        checks["known"] = (given.min(), given.max())
    if lengths is not None:
        checks["lengths"] = (lengths.min(), lengths.max())
    if prompt is not None:
        if prompt.shape[2] > 0:
            checks["prompt"] = (prompt.min(), prompt.max())
        effective = torch.full((batch,), prompt.shape[2], device=cond.device)
        if prompt_lengths is not None:
            checks["prompt_lengths"] = (prompt_lengths.min(), prompt_lengths.max())
            effective = prompt_lengths.to(cond.device)
        if lengths is not None:
            too_long = (effective > lengths.to(cond.device)).any()
            checks["prompt_fits"] = (too_long, too_long)
    names = list(checks)
    values = torch.stack(
        [torch.as_tensor(v, device=cond.device).long() for pair in checks.values() for v in pair]
    ).tolist()  # the one host synchronisation
    found = {name: (values[2 * i], values[2 * i + 1]) for i, name in enumerate(names)}
    problem = out_of_range_message("cond id", *found["cond"], config.cond_vocab_size)
    if problem:
        raise ValueError(problem)
    if "lengths" in found and (found["lengths"][0] < 1 or found["lengths"][1] > num_frames):
        raise ValueError(f"lengths must lie in [1, T={num_frames}], got {lengths.tolist()}")
    if "known" in found:
        problem = out_of_range_message(
            "known code", *found["known"], config.codebook_size, source="no mask id"
        )
        if problem:
            raise ValueError(problem)
    if "prompt" in found:
        problem = out_of_range_message(
            "prompt code", *found["prompt"], config.codebook_size, source="no mask id"
        )
        if problem:
            raise ValueError(problem)
    if "prompt_lengths" in found:
        low, high = found["prompt_lengths"]
        if low < 0 or high > prompt.shape[2]:
            raise ValueError(
                f"prompt_lengths must lie in [0, P={prompt.shape[2]}], got {prompt_lengths.tolist()}"
            )
    if found.get("prompt_fits", (0, 0))[0]:
        raise ValueError(
            f"a prompt is longer than its example: prompt lengths "
            f"{(prompt_lengths if prompt_lengths is not None else [prompt.shape[2]] * batch)!s}, "
            f"lengths {lengths.tolist()}"
        )


class LossOutput(NamedTuple):
    """The training objective and what a recipe logs about it.

    Attributes:
        loss: scalar, mean cross-entropy over the masked tokens of each example's level.
        level: ``LongTensor[B]``, the level trained in each example (0-based).
        num_masked: ``LongTensor[B]``, masked tokens at that level.
        num_correct: ``LongTensor[B]``, of which the argmax prediction is right.
    """

    loss: torch.Tensor
    level: torch.Tensor
    num_masked: torch.Tensor
    num_correct: torch.Tensor


class SoundStorm(
    nn.Module,
    PyTorchModelHubMixin,
    library_name="soundstorm",
    tags=["audio", "speech", "soundstorm", "masked-generative"],
):
    """SoundStorm (Borsos et al. 2023): masked parallel generation of RVQ codec tokens.

    Args:
        config: the hyper-parameters; see ``SoundStormConfig`` and its presets.
    """

    def __init__(self, config: SoundStormConfig):
        super().__init__()
        self.config = config
        Q, K, D = config.num_levels, config.codebook_size, config.dim
        # One table of K+1 rows (codes + mask) per level, stored as one flat table.
        self.code_embedding = nn.Embedding(Q * (K + 1), D)
        self.cond_embedding = nn.Embedding(config.cond_vocab_size, D)
        self.register_buffer("level_offsets", torch.arange(Q) * (K + 1), persistent=False)
        self.blocks = nn.ModuleList(
            ConformerBlock(
                D,
                config.heads,
                config.ff_dim,
                config.conv_kernel,
                config.dropout,
                config.norm_eps,
                config.conv_expansion,
            )
            for _ in range(config.depth)
        )
        self.head_weight = nn.Parameter(torch.empty(Q, K, D))  # head q: Linear(D, K)
        self.head_bias = nn.Parameter(torch.zeros(Q, K))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """GPT-2 style initialisation: N(0, 0.02) weights, zero biases."""
        for module in self.modules():
            if isinstance(module, (nn.Linear, nn.Embedding)):
                nn.init.normal_(module.weight, std=0.02)
                if getattr(module, "bias", None) is not None:
                    nn.init.zeros_(module.bias)
        nn.init.normal_(self.head_weight, std=0.02)
        nn.init.zeros_(self.head_bias)

    # ------------------------------------------------------------------ checks
    def _check_inputs(
        self,
        codes: torch.Tensor,
        cond: torch.Tensor,
        lengths: torch.Tensor | None,
        check_values: bool,
        allow_mask: bool = True,
    ) -> None:
        """Shapes always; id ranges and lengths only with ``check_values`` (reads the device)."""
        cfg = self.config
        check_generation_request(cfg, cond, lengths=lengths, read_values=check_values)
        batch, num_frames = cond.shape
        if not is_integer_tensor(codes) or codes.dim() != 3:
            raise ValueError(
                f"codes must be an integer tensor [B, Q, T], got {describe_value(codes)}"
            )
        if tuple(codes.shape) != (batch, cfg.num_levels, num_frames):
            raise ValueError(
                f"codes shape {tuple(codes.shape)} does not match [B, Q, T] = "
                f"[{batch}, {cfg.num_levels}, {num_frames}] (Q from the config, B and T from cond)"
            )
        if check_values:
            check_token_range(
                codes,
                cfg.mask_id + 1 if allow_mask else cfg.codebook_size,
                "code",
                source=f"mask id {cfg.mask_id} allowed" if allow_mask else "no mask id",
                error=ValueError,
            )

    # ------------------------------------------------------------------ network
    def embed(self, codes: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        """Sum of the Q code embeddings and the conditioning embedding: ``[B, Q, T] -> [B, T, D]``."""
        B, Q, T = codes.shape
        flat = (codes + self.level_offsets[:, None]).transpose(1, 2).reshape(B * T, Q)
        x = F.embedding_bag(flat, self.code_embedding.weight, mode="sum")  # (B*T, D)
        return x.view(B, T, -1) + self.cond_embedding(cond)

    def hidden_states(
        self, codes: torch.Tensor, cond: torch.Tensor, lengths: torch.Tensor | None = None
    ) -> torch.Tensor:
        """The Conformer's output ``[B, T, D]`` (before the heads)."""
        x = self.embed(codes, cond)
        B, T, _ = x.shape
        attn_mask = keep = None
        if lengths is not None:
            real = torch.arange(T, device=x.device)[None, :] < lengths[:, None]  # (B, T)
            attn_mask = real[:, None, None, :]  # (B, 1, 1, T): keys to attend
            keep = real[..., None].to(x.dtype)  # (B, T, 1)
        rope_dtype = torch.float64 if x.dtype == torch.float64 else torch.float32
        rope = rotary_tables(T, self.config.head_dim, self.config.rope_base, x.device, rope_dtype)
        for block in self.blocks:
            x = block(x, rope, attn_mask, keep)
        return x

    def logits(self, hidden: torch.Tensor, level: int | torch.Tensor | None = None) -> torch.Tensor:
        """Apply the heads to ``hidden`` ``[B, T, D]``.

        ``level=None``: all heads, ``[B, Q, T, K]``; an int: that head, ``[B, T, K]``;
        a ``LongTensor[B]``: each example's own head, ``[B, T, K]``.
        """
        if level is None:
            return (
                torch.einsum("btd,qkd->bqtk", hidden, self.head_weight)
                + self.head_bias[None, :, None]
            )
        if isinstance(level, int):
            return F.linear(hidden, self.head_weight[level], self.head_bias[level])
        weight = self.head_weight[level]  # (B, K, D)
        return torch.einsum("btd,bkd->btk", hidden, weight) + self.head_bias[level][:, None]

    def forward(
        self,
        codes: torch.Tensor,
        cond: torch.Tensor,
        lengths: torch.Tensor | None = None,
        level: int | torch.Tensor | None = None,
        validate: bool = True,
    ) -> torch.Tensor:
        """One pass of the network.

        Args:
            codes: ``LongTensor[B, Q, T]``, ids in ``[0, K]`` (K = ``config.mask_id``).
            cond: ``LongTensor[B, T]``, ids in ``[0, cond_vocab_size)``.
            lengths: ``LongTensor[B]`` real frames of each example, or None (all T real).
            level: None for all heads; an int or ``LongTensor[B]`` for one head per example.
            validate: check id ranges (reads values back from the device). The decoder checks
                its inputs once and passes False inside its loop.

        Returns:
            ``[B, Q, T, K]`` logits, or ``[B, T, K]`` when ``level`` is given.
        """
        self._check_inputs(codes, cond, lengths, check_values=validate)
        if isinstance(level, torch.Tensor) and level.dim() == 1:
            if not is_integer_tensor(level) or level.shape != (cond.shape[0],):
                raise ValueError(
                    f"level must be an integer tensor [B], got {describe_value(level)}"
                )
        elif level is not None:
            level = require_int("level", level, minimum=0, maximum=self.config.num_levels - 1)
        return self.logits(self.hidden_states(codes, cond, lengths), level)

    # ------------------------------------------------------------------ training
    def loss_and_stats(
        self,
        codes: torch.Tensor,
        cond: torch.Tensor,
        lengths: torch.Tensor | None = None,
        generator: torch.Generator | None = None,
    ) -> LossOutput:
        """The paper's objective with per-example statistics; see ``loss``."""
        self._check_inputs(codes, cond, lengths, check_values=True, allow_mask=False)
        B, Q, T = codes.shape
        if lengths is None:
            lengths = torch.full((B,), T, device=codes.device, dtype=torch.long)
        masked, level, _ = sample_training_masks(Q, lengths, generator, num_frames=T)
        inputs = codes.masked_fill(masked, self.config.mask_id)
        logits = self.logits(self.hidden_states(inputs, cond, lengths), level)  # (B, T, K)
        scores = score_masked_tokens(logits, codes, masked, level)
        loss = scores.loss_sum / scores.num_scored.sum()
        return LossOutput(loss, level, scores.num_scored, scores.num_correct)

    def loss(
        self,
        codes: torch.Tensor,
        cond: torch.Tensor,
        lengths: torch.Tensor | None = None,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """The paper's training objective (a scalar).

        Masks are drawn by ``soundstorm.masking.sample_training_masks``: a random prompt, a
        random level masked with the cosine schedule, every finer level masked. The loss is the
        cross-entropy of each example's level head on its masked tokens.

        Args:
            codes: ``LongTensor[B, Q, T]`` ground-truth codes in ``[0, K)``.
            cond: ``LongTensor[B, T]``.
            lengths: ``LongTensor[B]`` or None.
            generator: random generator for the masks (on the codes' device).
        """
        return self.loss_and_stats(codes, cond, lengths, generator).loss

    # ------------------------------------------------------------------ generation
    @torch.no_grad()
    def generate(
        self,
        cond: torch.Tensor,
        prompt: torch.Tensor | None = None,
        lengths: torch.Tensor | None = None,
        steps: Sequence[int] | int | None = None,
        temperature: float = UNSET,
        generator: torch.Generator | None = None,
        choice_temperature: float = UNSET,
        prompt_lengths: torch.Tensor | None = None,
        *,
        options: DecodeOptions | None = None,
        known: torch.Tensor | None = None,
        known_frames: torch.Tensor | None = None,
        codebooks: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Generate acoustic tokens by level-by-level confidence decoding (SoundStorm §3.4).

        Args:
            cond: ``LongTensor[B, T]`` conditioning tokens.
            prompt: ``LongTensor[B, Q, P]`` (P <= T) acoustic tokens of frames ``0..P-1``;
                returned unchanged.
            lengths: ``LongTensor[B]`` real frames per example (padded batches).
            steps: alias of ``options.steps``: iterations per level; default
                ``(16, 1, ..., 1)``; an int n means ``(n, 1, ..., 1)``. Each iteration is
                exactly one ``forward`` call.
            temperature: alias of ``options.temperature`` (default 1): sampling temperature
                for levels decoded in several iterations.
            generator: random generator (on ``cond.device``) for reproducible sampling.
            choice_temperature: alias of ``options.choice_temperature`` (default 1): scale of
                the Gumbel noise on the confidence (annealed to 0).
            prompt_lengths: ``LongTensor[B]`` prompt frames per example (<= P), for batches of
                prompts of different lengths; default P for every example.
            options: how to decode (``soundstorm.decoding.DecodeOptions``); the aliases above,
                when given, replace its fields. ``options.guidance_scale > 0`` runs each pass on
                a doubled batch (classifier-free guidance on the known frames).
            known: ``LongTensor[B, Q, T]`` codes of frames given anywhere, not only as a prefix
                (speech editing: the recording before and after the span to regenerate); read
                only where ``known_frames`` is True, returned unchanged there, and never
                counted in the decoding schedule. The network sees them on both sides of the
                generated frames.
            known_frames: ``BoolTensor[B, T]``, the frames ``known`` gives (with ``known``).
            codebooks: ``[Q', K, D]`` code vectors of the codec (``Codec.code_vectors``), for
                ``options.greedy_choice="mbr"``.

        Returns:
            ``LongTensor[B, Q, T]`` with ids in ``[0, K)`` (also when the network's logits are
            NaN or infinite); prompt and known frames unchanged; frames beyond ``lengths``
            hold 0.

        Raises:
            ValueError: a wrongly typed or out-of-range argument (e.g. ``steps=16.7``,
                ``temperature=nan``, float ``lengths``), saying what was expected.
        """
        cfg = self.config
        options = DecodeOptions.merge(
            options, steps=steps, temperature=temperature, choice_temperature=choice_temperature
        )
        options.level_steps(cfg.num_levels)  # a steps tuple of the wrong length fails here
        check_generation_request(
            cfg, cond, prompt, lengths, prompt_lengths, known=known, known_frames=known_frames
        )

        def level_forward(codes, cond_, lengths_, level):
            return self(codes, cond_, lengths_, level=level, validate=False)

        return generate_tokens(
            level_forward,
            cond,
            num_levels=cfg.num_levels,
            mask_id=cfg.mask_id,
            prompt=prompt,
            lengths=lengths,
            prompt_lengths=prompt_lengths,
            known=known,
            known_frames=known_frames,
            options=options,
            generator=generator,
            codebooks=codebooks,
        )

    # ------------------------------------------------------------------ accounting
    def num_parameters(self, exclude_embeddings: bool = False) -> int:
        """Parameter count (optionally without the embedding tables)."""
        total = sum(p.numel() for p in self.parameters())
        if exclude_embeddings:
            total -= self.code_embedding.weight.numel() + self.cond_embedding.weight.numel()
        return total

    def flops_per_forward(self, num_frames: int, level_only: bool = True) -> float:
        """Approximate FLOPs of one forward pass of one example of ``num_frames`` frames.

        2 x (non-embedding parameters) per frame for the matrix products, plus attention
        (4 x T^2 x D per layer); with ``level_only`` only one head (weights and bias) is
        counted. The formula is ``soundstorm.flops.forward_flops``'s.

        Raises:
            ValueError: ``num_frames`` is not an integer ``>= 0``.
        """
        from soundstorm.flops import forward_flops

        return forward_flops(self, num_frames, level_only)

    # ------------------------------------------------------------------ persistence
    def _save_pretrained(self, save_directory: Path) -> None:
        """Write ``config.json`` and ``model.safetensors`` atomically, with the usual modes.

        The weights' metadata records their file's SHA-256 and that of the configuration
        (``soundstorm.checksums``): loading finds a flipped bit in either.
        """
        import dataclasses
        import json

        from safetensors.torch import save_model

        from soundstorm.checksums import checksum_metadata, json_checksum, sealed_safetensors
        from soundstorm.files import atomic_write_text

        save_directory = Path(save_directory)
        metadata = {"format": "pt", **checksum_metadata()}
        config = getattr(self, "_hub_mixin_config", None)
        if dataclasses.is_dataclass(config):
            config = dataclasses.asdict(config)
        if isinstance(config, dict):  # the mixin would write it as it is, not atomically
            atomic_write_text(
                save_directory / CONFIG_NAME, json.dumps(config, sort_keys=True, indent=2)
            )
            metadata[CONFIG_CHECKSUM_KEY] = json_checksum(config)
        with sealed_safetensors(save_directory / WEIGHTS_NAME) as temp:
            save_model(self, str(temp), metadata=metadata)

    @classmethod
    def _from_pretrained(
        cls,
        *,
        model_id: str,
        revision: str | None = None,
        cache_dir: str | Path | None = None,
        force_download: bool = False,
        local_files_only: bool = False,
        token: str | bool | None = None,
        map_location: str | torch.device = "cpu",
        config: SoundStormConfig | dict | None = None,
        **unused,
    ) -> SoundStorm:
        """Build on the meta device, then assign the safetensors weights (memory-mapped).

        ``map_location`` goes through ``resolve_device``: a device this machine lacks (e.g.
        ``"cuda"`` without CUDA) raises ``SoundStormError`` saying so before anything loads.
        Local weights are checked against the SHA-256 they record (once, before loading),
        and against the configuration they were saved with; every failure is one line naming
        the file (``DamagedFileError`` / ``SoundStormError``).
        """
        map_location = resolve_device(map_location)
        if config is None:
            raise FileNotFoundError(f"no config.json for a SoundStorm model in {model_id!r}")
        config_file = os.path.join(model_id, CONFIG_NAME)
        if isinstance(config, dict):
            try:
                config = SoundStormConfig.from_dict(config)
            except (TypeError, ValueError) as error:
                raise SoundStormError(
                    f"{config_file}: not a SoundStorm configuration ({error})"
                ) from None
        if os.path.isdir(model_id):
            weights = os.path.join(model_id, WEIGHTS_NAME)
            if not os.path.isfile(weights):
                raise FileNotFoundError(f"no {WEIGHTS_NAME} in {model_id!r}")
        else:
            from huggingface_hub import hf_hub_download

            weights = hf_hub_download(
                repo_id=model_id,
                filename=WEIGHTS_NAME,
                revision=revision,
                cache_dir=cache_dir,
                force_download=force_download,
                token=token,
                local_files_only=local_files_only,
            )
        with torch.device("meta"):
            model = cls(config)
        state = _read_weights(weights, config, config_file, map_location)
        try:
            model.load_state_dict(state, strict=True, assign=True)
        except RuntimeError as error:  # missing / unexpected keys, shape mismatches
            lines = [line.strip() for line in str(error).splitlines() if line.strip()]
            detail = lines[1] if len(lines) > 1 else (lines or ["mismatch"])[0]
            raise SoundStormError(
                f"{config_file} does not match the weights of {weights}: {detail[:300]}"
            ) from None
        model.level_offsets = torch.arange(config.num_levels, device=map_location) * (
            config.codebook_size + 1
        )
        return model.eval()


def _read_weights(weights: str, config: SoundStormConfig, config_file: str, device) -> dict:
    """The tensors of ``model.safetensors``, checked first (one line naming the file on error).

    Raises:
        DamagedFileError: the file differs from what was written (its recorded SHA-256), or
            ``config.json`` differs from the configuration the weights were saved with.
        SoundStormError: the file is not a readable safetensors file.
    """
    import dataclasses

    from safetensors import SafetensorError, safe_open
    from safetensors.torch import load_file

    from soundstorm.checksums import check_safetensors, json_checksum
    from soundstorm.errors import DamagedFileError

    try:
        check_safetensors(weights)
        with safe_open(weights, framework="pt") as handle:
            recorded = (handle.metadata() or {}).get(CONFIG_CHECKSUM_KEY)
        state = load_file(weights, device=str(device))
    except (SafetensorError, OSError, ValueError) as error:
        first = (str(error).strip().splitlines() or [type(error).__name__])[0][:200]
        raise SoundStormError(f"{weights}: not a readable safetensors file ({first})") from None
    if recorded is not None and recorded != json_checksum(dataclasses.asdict(config)):
        raise DamagedFileError(
            config_file,
            f"it differs from the configuration {weights} was saved with",
            "restore the config.json saved with these weights, or save the model again",
        )
    return state
