"""Say this in that voice: audio in, SoundStorm tokens, audio out.

``VoicePipeline`` ties a trained ``SoundStorm`` to the codec and the semantic tokenizer it was
trained with. A request is *content* audio (what to say: its semantic tokens) and an optional
*prompt* (whose voice: a few seconds of audio). The model sees one sequence::

    cond   = [ semantic(prompt) | semantic(content) ]     (aligned to codec frames)
    prompt = [ codec(prompt)    |  (to generate)     ]

and the generated frames after the prompt are decoded by the codec into the output waveform.

A model directory may name its codec and tokenizer in ``pipeline.json``
(``{"codec": "codec.safetensors", "semantic": "semantic_tokenizer"}``, paths relative to the
directory; ``soundstorm export`` writes it).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

from soundstorm.decoding import UNSET, DecodeOptions
from soundstorm.errors import SoundStormError
from soundstorm.inference import GenerationEngine, load_pretrained
from soundstorm.pipeline_file import PIPELINE_FILE, read_pipeline_file
from soundstorm.semantic.text import DEFAULT_TEXT_VOICE
from soundstorm.validation import require_int, require_optional_int, require_real


@dataclass
class Request:
    """One generation request, already tokenized.

    Attributes:
        cond: ``LongTensor[P + T]`` semantic ids of prompt then content, at the codec frame rate.
        prompt: ``LongTensor[Q, P]`` codec tokens of the prompt (P may be 0).
    """

    cond: torch.Tensor
    prompt: torch.Tensor

    @property
    def prompt_frames(self) -> int:
        return int(self.prompt.shape[-1])

    @property
    def content_frames(self) -> int:
        return int(self.cond.shape[-1]) - self.prompt_frames


class VoicePipeline:
    """A trained model with its codec and semantic tokenizer.

    Args:
        engine: the generation engine (model, device, buckets, compilation).
        codec: a ``soundstorm.codecs.Codec`` with the model's levels and codebook size.
        tokenizer: a ``soundstorm.semantic.SemanticTokenizer`` within the model's vocabulary.
        default_steps: the model's recommended first-level decoding passes, used when
            ``generate`` gets options without ``steps`` (``pipeline.json`` ``"steps"``; None:
            the paper's 16). See ``recommended_options``.
    """

    def __init__(
        self, engine: GenerationEngine, codec, tokenizer, default_steps: int | None = None
    ):
        cfg = engine.config
        if codec.num_levels < cfg.num_levels or codec.codebook_size != cfg.codebook_size:
            raise SoundStormError(
                f"codec {codec.name} ({codec.num_levels} levels x {codec.codebook_size} codes) does "
                f"not match the model ({cfg.num_levels} levels x {cfg.codebook_size} codes)"
            )
        if tokenizer.vocab_size > cfg.cond_vocab_size:
            raise SoundStormError(
                f"semantic tokenizer {tokenizer.name} has {tokenizer.vocab_size} ids; the model "
                f"takes at most {cfg.cond_vocab_size}"
            )
        self.engine, self.codec, self.tokenizer = engine, codec, tokenizer
        code_vectors = getattr(codec, "code_vectors", None)  # Codec subclasses have it
        if engine.codebooks is None and callable(code_vectors):  # greedy_choice="mbr"
            engine.codebooks = code_vectors()
        self.default_steps = require_optional_int("default_steps", default_steps, minimum=1)

    @classmethod
    def from_directory(
        cls,
        model_dir: str | Path,
        codec: str | None = None,
        semantic: str | None = None,
        device: str = "cpu",
        compile: bool = False,
    ) -> VoicePipeline:
        """Load a ``save_pretrained`` directory and its codec / tokenizer (or those given)."""
        from soundstorm.codecs import get_codec
        from soundstorm.semantic import get_semantic_tokenizer

        spec = read_pipeline_file(model_dir)
        codec = codec or spec.get("codec")
        if codec is None:
            raise SoundStormError(
                f"no codec given and no {PIPELINE_FILE} in {model_dir}: pass --codec NAME_OR_PATH"
            )
        model = load_pretrained(model_dir, device)
        engine = GenerationEngine(model, device=device, compile=compile)
        return cls(
            engine,
            get_codec(codec, num_levels=model.config.num_levels),
            get_semantic_tokenizer(semantic or spec.get("semantic", "default")),
            default_steps=spec.get("steps"),
        )

    # ------------------------------------------------------------------ tokens
    def semantic_frames(
        self, wav: torch.Tensor, sample_rate: int, transcript: str | None = None
    ) -> torch.Tensor:
        """Semantic ids of ``wav [C, S]`` at the codec frame rate: ``LongTensor[T]``.

        ``transcript``: the words said in ``wav``, for a tokenizer that can align them
        (``accepts_transcripts``: the phone tokenizers) instead of recognising them."""
        from soundstorm.semantic import align

        transcripts = None if transcript is None else [transcript]
        tokens = self.tokenizer.tokenize(wav[None], sample_rate, transcripts)[0]  # (T_sem,)
        frames = max(1, math.ceil(wav.shape[-1] / sample_rate * self.codec.frame_rate))
        return align(tokens, self.tokenizer.frame_rate, self.codec.frame_rate, frames).long()

    def make_request(
        self,
        content: torch.Tensor,
        content_rate: int,
        prompt: torch.Tensor | None = None,
        prompt_rate: int | None = None,
        prompt_seconds: float | None = 3.0,
        content_source: str | Path | None = None,
        prompt_source: str | Path | None = None,
        content_transcript: str | None = None,
    ) -> Request:
        """Tokenize one request.

        Args:
            content: ``[C, S]`` audio whose words are said.
            content_rate: its sample rate.
            prompt: ``[C, S']`` audio of the voice, or None (no prompt).
            prompt_rate: its sample rate.
            prompt_seconds: keep at most this many seconds of the prompt (None: all of it).
            content_source: file the content came from, named in the ``AudioInputError`` of
                unusable audio (``AudioTooShortError``: shorter than one semantic frame).
            prompt_source: file the prompt came from, named likewise (a prompt must be at
                least one codec frame and one semantic frame long).
            content_transcript: the words said in ``content``, if known. A phone tokenizer
                then places their dictionary phones by forced alignment instead of
                recognising the words (a clip it cannot align is recognised as without one).

        Raises:
            ValueError: a sample rate that is not a positive integer, or a bad
                ``prompt_seconds``.
            SoundStormError: a transcript for a tokenizer that cannot use one.
        """
        content_rate = require_int("content_rate", content_rate, minimum=1)
        from soundstorm.audio import naming_audio_errors

        with naming_audio_errors(content_source):
            cond = self.semantic_frames(content, content_rate, content_transcript)
        return self._prompted_request(cond, prompt, prompt_rate, prompt_seconds, prompt_source)

    def make_text_request(
        self,
        text: str,
        prompt: torch.Tensor | None = None,
        prompt_rate: int | None = None,
        prompt_seconds: float | None = 3.0,
        voice: str = DEFAULT_TEXT_VOICE,
        duration_scale: float = 1.0,
        prompt_source: str | Path | None = None,
    ) -> Request:
        """Tokenize one request whose content is text (phones timed by a synthesiser).

        The content's semantic ids come from :func:`soundstorm.semantic.text_to_semantic` at
        the codec frame rate; the model must have been trained on phone ids (semantic
        tokenizer ``default``, ``phones`` or ``phones-words``).

        Args:
            text: What to say.
            prompt: ``[C, S']`` audio of the voice, or None (no prompt).
            prompt_rate: its sample rate.
            prompt_seconds: keep at most this many seconds of the prompt (None: all of it).
            voice: flite / festival voice that times the phones
                (``soundstorm.semantic.text.TEXT_VOICES``); the output voice is the prompt's.
            duration_scale: time stretch of the content (> 1: slower).
            prompt_source: file the prompt came from, named in audio errors.
        """
        from soundstorm.semantic import PhoneTokenizer, text_to_semantic

        if not isinstance(self.tokenizer, PhoneTokenizer):
            raise SoundStormError(
                f"text requests need a model trained on phone ids; this one uses the "
                f"semantic tokenizer {self.tokenizer.name!r}"
            )
        cond = text_to_semantic(text, self.codec.frame_rate, voice, duration_scale)
        return self._prompted_request(cond, prompt, prompt_rate, prompt_seconds, prompt_source)

    def _prompted_request(
        self,
        cond: torch.Tensor,
        prompt: torch.Tensor | None,
        prompt_rate: int | None,
        prompt_seconds: float | None,
        prompt_source: str | Path | None = None,
    ) -> Request:
        """The request of content ids ``cond [T]`` after the tokenized prompt (if any)."""
        from soundstorm.audio import naming_audio_errors
        from soundstorm.data.encoding import encode_waveform

        num_levels = self.engine.config.num_levels
        prompt_codes = torch.zeros(num_levels, 0, dtype=torch.long)
        if prompt is not None:
            prompt_rate = require_int("prompt_rate", prompt_rate, minimum=1)
            if prompt_seconds is not None:
                prompt_seconds = require_real("prompt_seconds", prompt_seconds, minimum=0.0)
                if prompt_seconds == 0:
                    raise ValueError("prompt_seconds must be > 0 (None keeps the whole prompt)")
                prompt = prompt[..., : max(1, int(prompt_seconds * prompt_rate))]
            with naming_audio_errors(prompt_source):
                codes, semantic = encode_waveform(self.codec, self.tokenizer, prompt, prompt_rate)
            prompt_codes = torch.from_numpy(codes.astype("int64"))[:num_levels]
            cond = torch.cat([torch.from_numpy(semantic.astype("int64")), cond])
        return Request(cond, prompt_codes)

    # ------------------------------------------------------------------ generation
    def recommended_options(self, options: DecodeOptions | None = None) -> DecodeOptions:
        """``options`` completed with the model's recommendations (``pipeline.json``).

        Args:
            options: decoding options (default ``DecodeOptions()``).

        Returns:
            ``options`` with ``steps`` set to the model's ``default_steps`` when it has some and
            ``options.steps`` is None (otherwise ``options`` unchanged: the paper's
            ``(16, 1, ..., 1)`` then applies).
        """
        options = DecodeOptions.merge(options)
        if options.steps is None and self.default_steps is not None:
            options = options.replace(steps=self.default_steps)
        return options

    def resolve_steps(self, steps: Sequence[int] | int | None = None) -> tuple[int, ...]:
        """Deprecated: ``recommended_options(DecodeOptions(steps=steps)).level_steps(Q)``."""
        warnings.warn(
            "VoicePipeline.resolve_steps is deprecated: use recommended_options(options)"
            ".level_steps(num_levels)",
            DeprecationWarning,
            stacklevel=2,
        )
        options = self.recommended_options(DecodeOptions(steps=steps))
        return options.level_steps(self.engine.config.num_levels)

    def generate(
        self,
        requests: Sequence[Request],
        steps: Sequence[int] | int | None = None,
        temperature: float = UNSET,
        choice_temperature: float = UNSET,
        generator: torch.Generator | None = None,
        window: int | None = None,
        context: int = 250,
        *,
        options: DecodeOptions | None = None,
    ) -> list[torch.Tensor]:
        """Generate a batch of requests in one padded call.

        Requests longer than ``window`` frames (prompt included) are generated one by one in
        chunks (``GenerationEngine.generate_long``, each chunk prompted by ``context`` frames of
        the previous one); the others share one padded call.

        Args:
            requests: tokenized requests (``make_request`` / ``make_text_request``).
            steps: alias of ``options.steps``.
            temperature: alias of ``options.temperature``.
            choice_temperature: alias of ``options.choice_temperature``.
            generator: random generator on the engine's device.
            window: longest single pass in frames (None: no limit).
            context: frames each chunk of a long request is prompted by.
            options: how to decode (``DecodeOptions``), completed by ``recommended_options``
                and passed whole to the engine; the aliases above, when given, replace its
                fields.

        Returns:
            per request, the generated content tokens ``LongTensor[Q, T_content]`` (prompt cut).

        Raises:
            ValueError: a bad decoding option, or ``window`` or ``context`` not integers (never
                truncated), or out of range.
        """
        options = self.recommended_options(
            DecodeOptions.merge(
                options,
                steps=steps,
                temperature=temperature,
                choice_temperature=choice_temperature,
            )
        )
        options.level_steps(self.engine.config.num_levels)
        window = require_optional_int("window", window, minimum=2)
        context = require_int("context", context, minimum=1)
        if window is not None and any(len(r.cond) > window for r in requests):
            short = [r for r in requests if len(r.cond) <= window]
            done = iter(self.generate(short, generator=generator, options=options))
            results = []
            for r in requests:
                if len(r.cond) <= window:
                    results.append(next(done))
                else:
                    results.append(self._generate_one_long(r, window, context, options, generator))
            return results
        if not requests:
            return []
        device = self.engine.device
        lengths = torch.tensor([len(r.cond) for r in requests], device=device)
        prompt_lengths = torch.tensor([r.prompt_frames for r in requests], device=device)
        cond = torch.nn.utils.rnn.pad_sequence([r.cond for r in requests], batch_first=True)
        longest_prompt = int(prompt_lengths.max())
        prompt = torch.zeros(
            len(requests), self.engine.config.num_levels, longest_prompt, dtype=torch.long
        )
        for i, r in enumerate(requests):
            prompt[i, :, : r.prompt_frames] = r.prompt
        codes = self.engine.generate(
            cond.to(device),
            prompt=prompt.to(device) if longest_prompt else None,
            lengths=lengths,
            prompt_lengths=prompt_lengths if longest_prompt else None,
            generator=generator,
            options=options,
        )
        return [codes[i, :, r.prompt_frames : len(r.cond)].cpu() for i, r in enumerate(requests)]

    def _generate_one_long(
        self,
        request: Request,
        window: int,
        context: int,
        options: DecodeOptions,
        generator: torch.Generator | None,
    ) -> torch.Tensor:
        device = self.engine.device
        prompt = request.prompt[None].to(device) if request.prompt_frames else None
        codes = self.engine.generate_long(
            request.cond[None].to(device),
            prompt=prompt,
            window=window,
            context=context,
            options=options,
            generator=generator,
        )
        return codes[0, :, request.prompt_frames :].cpu()

    def decode(self, codes: torch.Tensor) -> torch.Tensor:
        """Codec tokens ``[Q, T]`` -> audio ``[1, S]`` at ``self.codec.sample_rate``."""
        return self.codec.decode(codes[None])[0]
