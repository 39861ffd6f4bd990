"""Serving-side generation: static shapes, optional ``torch.compile``, fast loading.

``GenerationEngine`` wraps a trained ``SoundStorm`` for repeated generation (gpt-fast's
recipe applied to SoundStorm's parallel decoder):

* **Static shapes.** Requests are padded to a few frame buckets (``DEFAULT_BUCKETS``) and a
  ``lengths`` mask tells the model which frames are real, so a compiled forward (and its
  CUDA graphs) is built once per bucket, not once per utterance length. Padded frames are
  invisible to real ones (attention key mask, zeroed convolution input), so greedy decoding
  gives the same tokens as ``model.generate`` on the unpadded input.
* **Precision.** bf16 weights on CUDA, fp32 on CPU (the decoder scores in fp32 either way).
* **Compilation.** ``compile=True`` wraps the network body (``SoundStorm.hidden_states``) in
  ``torch.compile`` (``mode="reduce-overhead"``, i.e. CUDA graphs, on CUDA). The level head,
  sampling and ranking stay eager: they are a single matrix product and a few sync-free
  element-wise ops (``soundstorm.decoding``), and the level index then never recompiles.
* **Loading.** ``load_pretrained`` builds the model on the ``meta`` device and assigns the
  memory-mapped ``model.safetensors`` tensors (``save_pretrained`` directories), so no
  random initialisation runs and no second copy of the weights is made on the CPU.

Example::

    engine = GenerationEngine.from_pretrained("runs/small/final", device="cuda", compile=True)
    engine.warmup(batch_sizes=(1,))            # compiles each bucket once
    codes = engine.generate(cond)              # cond [B, T] -> codes [B, Q, T]

Sampling with a seeded ``generator`` is reproducible and equals ``model.generate`` on the
bucket-padded input with the same lengths and generator (the random draws depend on the padded
shape, so they differ from those of ``model.generate`` on the unpadded input).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path

import torch
import torch.nn.functional as F

from soundstorm.config import SoundStormConfig
from soundstorm.decoding import UNSET, DecodeOptions, generate_tokens
from soundstorm.errors import SoundStormError
from soundstorm.model import WEIGHTS_NAME, SoundStorm, check_generation_request
from soundstorm.validation import require_int, resolve_device

# Frame buckets (50 frames/s codecs: ~5 s, 10 s, 20 s, 41 s, 82 s, 164 s, 328 s).
DEFAULT_BUCKETS: tuple[int, ...] = (256, 512, 1024, 2048, 4096, 8192, 16384)


def default_dtype(device: torch.device | str) -> torch.dtype:
    """bf16 on CUDA, fp32 elsewhere (CPU bf16 matmuls are slow without AMX)."""
    return torch.bfloat16 if torch.device(device).type == "cuda" else torch.float32


def bucket_length(num_frames: int, buckets: Sequence[int]) -> int:
    """The smallest bucket holding ``num_frames``; beyond the largest, a multiple of it.

    Args:
        num_frames: frames of the longest example of a request (>= 1).
        buckets: increasing frame counts.

    Returns:
        The padded length (>= ``num_frames``).
    """
    num_frames = require_int("num_frames", num_frames, minimum=1)
    for size in buckets:
        if size >= num_frames:
            return size
    largest = buckets[-1]
    return -(-num_frames // largest) * largest


def read_model_config(path: str | Path) -> SoundStormConfig:
    """The ``SoundStormConfig`` of a model's ``config.json``.

    Raises:
        SoundStormError: the file is not valid JSON, or not a SoundStorm configuration (one
            line naming the file and where it is wrong).
    """
    import json

    path = Path(path)
    try:
        values = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise SoundStormError(f"{path}: invalid JSON ({error})") from None
    if not isinstance(values, dict):
        raise SoundStormError(f"{path}: not a SoundStorm configuration (not a JSON object)")
    try:
        return SoundStormConfig.from_dict(values)
    except (TypeError, ValueError) as error:
        raise SoundStormError(f"{path}: not a SoundStorm configuration ({error})") from None


def load_pretrained(
    directory: str | Path,
    device: torch.device | str = "cpu",
    dtype: torch.dtype | None = None,
) -> SoundStorm:
    """Load a ``save_pretrained`` directory (``config.json`` + ``model.safetensors``).

    The model is built on the ``meta`` device and the safetensors tensors (memory-mapped by
    safetensors) are assigned to it in place of fresh parameters (``assign=True``).

    Args:
        directory: a directory written by ``SoundStorm.save_pretrained``.
        device: where the weights go (``"auto"``: CUDA when available; see ``resolve_device``).
        dtype: parameter dtype; default bf16 on CUDA, fp32 otherwise.

    Returns:
        The model in eval mode.

    Raises:
        FileNotFoundError: no such directory, or a file missing in it.
        SoundStormError: a device this machine lacks (``"cuda"`` without CUDA); an invalid
            ``config.json``, unreadable weights or a configuration that contradicts them (one
            line naming the file).
        DamagedFileError: a file differs from what was written (its recorded SHA-256).
    """
    device = resolve_device(device)
    directory = Path(directory)
    if not directory.is_dir():
        raise FileNotFoundError(f"no model directory {str(directory)!r}")
    for name in ("config.json", WEIGHTS_NAME):
        if not (directory / name).is_file():
            raise FileNotFoundError(f"no {name} in {str(directory)!r} (expected save_pretrained)")
    read_model_config(directory / "config.json")  # one line naming the file, before the mixin
    model = SoundStorm.from_pretrained(str(directory), map_location=device)
    return model.to(dtype=dtype or default_dtype(device)).eval()


class GenerationEngine:
    """Bucketed, optionally compiled generation with a ``SoundStorm`` model.

    Args:
        model: a trained model; moved to ``device`` and cast to ``dtype`` (in place).
        device: default: where the model is; ``"auto"``: CUDA when available. A device this
            machine lacks raises ``SoundStormError`` (see ``resolve_device``).
        dtype: default: bf16 on CUDA, fp32 otherwise.
        buckets: increasing frame counts requests are padded to; ``None`` disables padding
            (every new length then compiles anew when ``compile`` is set); ``"auto"``:
            ``DEFAULT_BUCKETS`` when compiling, else ``None`` (eager runs gain nothing from
            static shapes, and a 650-frame request would pay for 1024 frames).
        compile: wrap the network body in ``torch.compile``.
        compile_mode: ``torch.compile`` mode; default ``"reduce-overhead"`` on CUDA, the
            default mode elsewhere.
        codebooks: ``[Q', K, D]`` code vectors of the codec (``Codec.code_vectors``), read by
            ``DecodeOptions.greedy_choice="mbr"``; ``VoicePipeline`` sets them from its codec.
    """

    def __init__(
        self,
        model: SoundStorm,
        *,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
        buckets: Sequence[int] | None | str = "auto",
        compile: bool = False,
        compile_mode: str | None = None,
        codebooks: torch.Tensor | None = None,
    ):
        if isinstance(buckets, str):
            if buckets != "auto":
                raise ValueError(f"buckets must be frame counts, None or 'auto', got {buckets!r}")
            buckets = DEFAULT_BUCKETS if compile else None
        self.device = resolve_device(device) if device is not None else _model_device(model)
        self.dtype = dtype or default_dtype(self.device)
        self.model = model.to(device=self.device, dtype=self.dtype).eval()
        self.config: SoundStormConfig = model.config
        if buckets is not None:
            buckets = tuple(
                sorted(require_int(f"buckets[{i}]", b, minimum=1) for i, b in enumerate(buckets))
            )
            if not buckets:
                raise ValueError(f"buckets must be positive frame counts, got {buckets}")
        self.buckets = buckets
        self.codebooks = codebooks
        self.compiled = compile
        self._hidden_states = model.hidden_states
        if compile:
            if compile_mode is None and self.device.type == "cuda":
                compile_mode = "reduce-overhead"
            _allow_recompiles(len(self.buckets or ()) * 4 + 8)
            self._hidden_states = torch.compile(
                model.hidden_states, mode=compile_mode, dynamic=False
            )

    @classmethod
    def from_pretrained(
        cls,
        directory: str | Path,
        *,
        device: torch.device | str = "cpu",
        dtype: torch.dtype | None = None,
        **engine_options,
    ) -> GenerationEngine:
        """Load a ``save_pretrained`` directory (see ``load_pretrained``) into an engine."""
        model = load_pretrained(directory, device, dtype)
        return cls(model, device=device, dtype=model.head_weight.dtype, **engine_options)

    # ------------------------------------------------------------------ the hot step
    def _level_forward(
        self, codes: torch.Tensor, cond: torch.Tensor, lengths: torch.Tensor, level: int
    ) -> torch.Tensor:
        """One pass: ``codes [B,Q,T], cond [B,T], lengths [B] -> logits [B,T,K]`` of ``level``."""
        hidden = self._hidden_states(codes, cond, lengths)  # (B, T, D), static shape
        return self.model.logits(hidden, level)  # (B, T, K)

    def padded_length(self, num_frames: int) -> int:
        """Frames a request of ``num_frames`` is padded to."""
        return num_frames if self.buckets is None else bucket_length(num_frames, self.buckets)

    # ------------------------------------------------------------------ public API
    @torch.inference_mode()
    def generate(
        self,
        cond: torch.Tensor,
        prompt: torch.Tensor | None = None,
        lengths: torch.Tensor | None = None,
        steps: Sequence[int] | int | None = None,
        temperature: float = UNSET,
        choice_temperature: float = UNSET,
        generator: torch.Generator | None = None,
        prompt_lengths: torch.Tensor | None = None,
        *,
        options: DecodeOptions | None = None,
        known: torch.Tensor | None = None,
        known_frames: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Generate acoustic tokens; same arguments and result as ``SoundStorm.generate``.

        Args:
            cond: ``LongTensor[B, T]`` conditioning tokens.
            prompt: ``LongTensor[B, Q, P]`` acoustic prompt (P <= T), returned unchanged.
            lengths: ``LongTensor[B]`` real frames per example (default T for all).
            steps: alias of ``options.steps`` (default ``(16, 1, ..., 1)``).
            temperature: alias of ``options.temperature`` (default 1; 0 = greedy).
            choice_temperature: alias of ``options.choice_temperature`` (default 1).
            generator: random generator on the engine's device, for reproducible sampling.
            prompt_lengths: ``LongTensor[B]`` prompt frames per example (<= P).
            options: how to decode (``DecodeOptions``), passed whole to ``generate_tokens``;
                the aliases above, when given, replace its fields. With
                ``guidance_scale > 0`` every pass runs on a doubled batch (``2B`` rows of the
                same bucket: a compiled engine builds that shape once).
            known: ``LongTensor[B, Q, T]`` codes of known frames anywhere (speech editing),
                returned unchanged; see ``SoundStorm.generate``.
            known_frames: ``BoolTensor[B, T]``, which frames ``known`` gives.

        Returns:
            ``LongTensor[B, Q, T]``; prompt and known frames unchanged; frames beyond
            ``lengths`` hold 0.

        Raises:
            ValueError: a bad argument or option, saying what was expected.
        """
        cfg = self.config
        options = DecodeOptions.merge(
            options, steps=steps, temperature=temperature, choice_temperature=choice_temperature
        )
        cond, prompt, lengths, prompt_lengths, known, known_frames = self._check_request(
            cond, prompt, lengths, prompt_lengths, known, known_frames
        )
        options.level_steps(cfg.num_levels)  # a steps tuple of the wrong length fails here
        batch, num_frames = cond.shape
        padded = self.padded_length(num_frames)
        cond = F.pad(cond, (0, padded - num_frames))  # (B, T_bucket), padding id 0
        if known is not None:  # padding frames are never known
            known = F.pad(known, (0, padded - num_frames))  # (B, Q, T_bucket)
            known_frames = F.pad(known_frames, (0, padded - num_frames), value=False)
        codes = generate_tokens(
            self._level_forward,
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
            codebooks=self.codebooks,
        )
        return codes[..., :num_frames].clone()  # (B, Q, T)

    def generate_many(self, conds: Sequence[torch.Tensor], **options) -> list[torch.Tensor]:
        """Generate a batch of utterances of different lengths in one padded call.

        Args:
            conds: B ``LongTensor[T_i]`` conditioning sequences.
            **options: keywords of ``generate``: ``options`` (a ``DecodeOptions``),
                ``generator``, or the aliases ``steps``, ``temperature``, ``choice_temperature``.

        Returns:
            B ``LongTensor[Q, T_i]``.
        """
        if not conds:
            return []
        if any(not isinstance(c, torch.Tensor) or c.dim() != 1 for c in conds):
            raise ValueError("generate_many expects 1-D conditioning sequences [T_i]")
        lengths = torch.tensor([len(c) for c in conds], device=self.device)
        batch = torch.nn.utils.rnn.pad_sequence(
            [c.to(self.device) for c in conds], batch_first=True
        )
        codes = self.generate(batch, lengths=lengths, **options)
        return [codes[i, :, : int(n)] for i, n in enumerate(lengths.tolist())]

    def generate_long(
        self,
        cond: torch.Tensor,
        prompt: torch.Tensor | None = None,
        window: int = 1500,
        context: int = 250,
        **options,
    ) -> torch.Tensor:
        """Generate beyond the training window, in chunks prompted by the previous chunk's tail.

        The first chunk is frames ``[0, window)`` with the voice ``prompt``; each next chunk
        starts ``context`` frames before the end of what is done, takes those ``context``
        generated frames as its acoustic prompt, and generates up to ``window - context`` new
        frames. Every chunk is an ordinary ``generate`` call (``sum(steps)`` passes), so the
        cost grows linearly with the length and no pass is longer than ``window`` frames.

        Args:
            cond: ``LongTensor[B, T]`` conditioning tokens of the whole utterance.
            prompt: ``LongTensor[B, Q, P]`` voice prompt (P < window), kept unchanged.
            window: frames per chunk (the paper trains on 30 s = 1500 frames).
            context: frames of the previous chunk used as the next chunk's prompt.
            **options: keywords of ``generate``: ``options`` (a ``DecodeOptions``),
                ``generator``, or the aliases ``steps``, ``temperature``, ``choice_temperature``.

        Returns:
            ``LongTensor[B, Q, T]``.
        """
        window = require_int("window", window, minimum=2)
        context = require_int("context", context, minimum=1)
        if not 0 < context < window:
            raise ValueError(f"need 0 < context < window, got context={context}, window={window}")
        if prompt is not None and prompt.shape[-1] >= window:
            raise ValueError(f"the prompt ({prompt.shape[-1]} frames) must be shorter than window")
        if cond.dim() != 2:
            raise ValueError(f"cond must be [B, T], got shape {tuple(cond.shape)}")
        num_frames = cond.shape[1]
        first = self.generate(cond[:, :window], prompt=prompt, **options)  # (B, Q, <=window)
        if num_frames <= window:
            return first
        codes = torch.empty(
            cond.shape[0], self.config.num_levels, num_frames, dtype=torch.long, device=first.device
        )
        codes[..., :window] = first
        done = window
        while done < num_frames:
            start, end = done - context, min(done - context + window, num_frames)
            chunk = self.generate(cond[:, start:end], prompt=codes[..., start:done], **options)
            codes[..., done:end] = chunk[..., context:]
            done = end
        return codes

    def warmup(
        self,
        batch_sizes: Sequence[int] = (1,),
        buckets: Sequence[int] | None = None,
        steps: Sequence[int] | int | None = None,
        *,
        options: DecodeOptions | None = None,
    ) -> float:
        """Run one generation per (batch size, bucket) so compilation happens here.

        Args:
            batch_sizes: batch sizes to prepare.
            buckets: frame buckets to prepare (default: all of the engine's buckets).
            steps: alias of ``options.steps``.
            options: the decoding options that will be served.

        Returns:
            Seconds spent (compilation included).
        """
        sizes = buckets if buckets is not None else (self.buckets or ())
        sizes = [require_int("buckets", frames, minimum=1) for frames in sizes]
        batch_sizes = [require_int("batch_sizes", batch, minimum=1) for batch in batch_sizes]
        options = DecodeOptions.merge(options, steps=steps)
        options.level_steps(self.config.num_levels)
        start = time.perf_counter()
        for batch in batch_sizes:
            for frames in sizes:
                cond = torch.zeros(batch, frames, dtype=torch.long, device=self.device)
                self.generate(cond, options=options)
        _synchronize(self.device)
        return time.perf_counter() - start

    # ------------------------------------------------------------------ checks
    def _check_request(
        self,
        cond: torch.Tensor,
        prompt: torch.Tensor | None,
        lengths: torch.Tensor | None,
        prompt_lengths: torch.Tensor | None,
        known: torch.Tensor | None = None,
        known_frames: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, ...]:
        """Validate once per request (one host sync) and move everything to the device.

        Returns:
            ``(cond, prompt, lengths, prompt_lengths, known, known_frames)`` on the device
            (``lengths`` filled in when None).
        """

        def to_device(t: torch.Tensor | None) -> torch.Tensor | None:
            return None if t is None else t.to(self.device, torch.long)

        # Types and shapes first: a float or bool tensor is refused, never cast to long.
        extra = {"known": known, "known_frames": known_frames}
        check_generation_request(
            self.config, cond, prompt, lengths, prompt_lengths, read_values=False, **extra
        )
        cond, prompt = to_device(cond), to_device(prompt)
        lengths, prompt_lengths = to_device(lengths), to_device(prompt_lengths)
        if known is not None:
            known, known_frames = to_device(known), known_frames.to(self.device)
        extra = {"known": known, "known_frames": known_frames}
        check_generation_request(self.config, cond, prompt, lengths, prompt_lengths, **extra)
        if lengths is None:
            lengths = torch.full(
                (cond.shape[0],), cond.shape[1], dtype=torch.long, device=self.device
            )
        return cond, prompt, lengths, prompt_lengths, known, known_frames


def _allow_recompiles(count: int) -> None:
    """Let dynamo keep one graph per (bucket, batch size) instead of falling back to eager."""
    import torch._dynamo

    config = torch._dynamo.config
    for name in ("recompile_limit", "cache_size_limit"):
        if hasattr(config, name):
            setattr(config, name, max(getattr(config, name), count))


def _model_device(model: torch.nn.Module) -> torch.device:
    parameter = next(model.parameters(), None)
    if parameter is None:
        raise SoundStormError("the model has no parameters")
    return parameter.device


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
