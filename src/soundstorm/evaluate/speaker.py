"""Speaker similarity: cosine similarity of Resemblyzer utterance embeddings.

Resemblyzer (PyPI ``resemblyzer``) ships a GE2E speaker encoder (256-dim, unit-norm
embeddings of 16 kHz audio) in its wheel, so this runs offline. The paper measures speaker
similarity with a different (WavLM-based) verification model, so compare figures only with the
reference levels measured by this same encoder: :func:`voice_similarity_levels` gives the
similarity of two utterances of one voice and of two different voices.
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import warnings
from collections.abc import Iterator
from dataclasses import asdict, dataclass

import numpy as np
import torch

from soundstorm.evaluate.audio import EVAL_SAMPLE_RATE, prepare_audio

PARTIALS_PER_SECOND = 1.3
"""Partial utterances per second (Resemblyzer's ``embed_utterance`` default)."""
PARTIAL_MIN_COVERAGE = 0.75
"""A last partial is kept when this much of it is audio (Resemblyzer's default)."""


@contextlib.contextmanager
def single_torch_thread() -> Iterator[None]:
    """Run the block with ``torch.set_num_threads(1)``, then restore the thread count.

    Resemblyzer's LSTM is tiny: extra threads only add synchronisation, and on a busy CPU its
    forward pass runs ten times slower with two threads than with one.
    """
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


class SpeakerEncoder:
    """Resemblyzer's ``VoiceEncoder`` on CPU. Use :func:`load_speaker_encoder` to share one."""

    def __init__(self) -> None:
        with warnings.catch_warnings(), single_torch_thread():
            warnings.simplefilter("ignore")  # pkg_resources deprecation from webrtcvad
            from resemblyzer import VoiceEncoder

            self._encoder = VoiceEncoder(device="cpu", verbose=False)

    def embed(
        self, wav: np.ndarray | torch.Tensor, sample_rate: int, trim_silence: bool = True
    ) -> np.ndarray:
        """Embed one utterance.

        Args:
            wav: ``[S]``, ``[C, S]`` or ``[1, C, S]`` audio at ``sample_rate``.
            sample_rate: its sample rate (Hz); resampled to 16 kHz.
            trim_silence: drop long silences with Resemblyzer's voice activity detector first
                (its standard preprocessing). Turn off for short fixed windows whose timing
                matters (:mod:`soundstorm.evaluate.consistency`).

        Returns:
            ``float32[256]``, unit norm.

        Raises:
            ValueError: the audio is empty (or only silence, with ``trim_silence``).
        """
        return self.embed_many([prepare_audio(wav, sample_rate)], trim_silence)[0]

    def embed_many(self, wavs: list[np.ndarray], trim_silence: bool = True) -> np.ndarray:
        """Embed several utterances with one batched forward pass.

        Same result as Resemblyzer's ``embed_utterance`` on each: every utterance is cut into
        1.6 s partials (zero padded), and its embedding is the normalised mean of theirs.

        Args:
            wavs: mono ``float32[S_i]`` arrays at 16 kHz.
            trim_silence: as in :meth:`embed`.

        Returns:
            ``float32[N, 256]``, unit-norm rows.

        Raises:
            ValueError: an utterance is empty (or only silence, with ``trim_silence``).
        """
        from resemblyzer import preprocess_wav
        from resemblyzer.audio import normalize_volume, wav_to_mel_spectrogram

        partials, owners = [], []
        for index, wav in enumerate(wavs):
            audio = np.asarray(wav, dtype=np.float32)
            milliseconds = 1000 * audio.size / EVAL_SAMPLE_RATE
            if not np.all(np.isfinite(audio)):
                raise ValueError("cannot embed audio holding NaN or infinite samples")
            if not np.any(audio):  # empty or digital silence: nothing to embed
                audio = audio[:0]
            elif trim_silence:
                audio = preprocess_wav(audio, source_sr=EVAL_SAMPLE_RATE)
            else:
                audio = normalize_volume(audio, -30, increase_only=True)
            if audio.size == 0:
                raise ValueError(
                    f"cannot embed {milliseconds:.1f} ms of audio: no voice is left once silence "
                    "is trimmed (empty, silent or too short)"
                )
            wav_slices, mel_slices = self._encoder.compute_partial_slices(
                audio.size, PARTIALS_PER_SECOND, PARTIAL_MIN_COVERAGE
            )
            if wav_slices[-1].stop >= audio.size:
                audio = np.pad(audio, (0, wav_slices[-1].stop - audio.size))
            mel = wav_to_mel_spectrogram(audio)
            partials += [mel[s] for s in mel_slices]
            owners += [index] * len(mel_slices)
        with single_torch_thread(), torch.inference_mode():
            embedded = self._encoder(torch.from_numpy(np.stack(partials))).numpy()
        out = np.zeros((len(wavs), embedded.shape[1]), dtype=np.float32)
        np.add.at(out, np.array(owners), embedded)
        return out / np.linalg.norm(out, axis=1, keepdims=True)


@functools.cache
def load_speaker_encoder() -> SpeakerEncoder:
    """The shared :class:`SpeakerEncoder` (loaded on first call, then cached)."""
    return SpeakerEncoder()


def speaker_embedding(
    wav: np.ndarray | torch.Tensor, sample_rate: int, trim_silence: bool = True
) -> np.ndarray:
    """``float32[256]`` unit-norm embedding of ``wav`` with the shared encoder."""
    return load_speaker_encoder().embed(wav, sample_rate, trim_silence=trim_silence)


def speaker_embeddings(
    wavs: list[np.ndarray | torch.Tensor], sample_rate: int, trim_silence: bool = True
) -> np.ndarray:
    """``float32[N, 256]`` unit-norm embeddings of several utterances, in one batch."""
    audios = [prepare_audio(wav, sample_rate) for wav in wavs]
    return load_speaker_encoder().embed_many(audios, trim_silence=trim_silence)


def cosine_similarity(a: np.ndarray, b: np.ndarray) -> float:
    """Cosine similarity of two embeddings ``[D]`` (in [-1, 1])."""
    norm = float(np.linalg.norm(a) * np.linalg.norm(b))
    if norm == 0.0:
        raise ValueError("cosine similarity of a zero vector is undefined")
    return float(np.dot(a, b) / norm)


def speaker_similarity(
    wav_a: np.ndarray | torch.Tensor,
    wav_b: np.ndarray | torch.Tensor,
    sample_rate: int = EVAL_SAMPLE_RATE,
) -> float:
    """Speaker similarity of two utterances: cosine of their Resemblyzer embeddings.

    Args:
        wav_a: ``[S]``/``[C, S]``/``[1, C, S]`` audio at ``sample_rate`` (e.g. generated audio).
        wav_b: the same for the other utterance (e.g. the prompt).
        sample_rate: sample rate of both (Hz).

    Returns:
        The similarity; about 0.75-0.95 for one voice, lower for different voices.
    """
    return cosine_similarity(
        speaker_embedding(wav_a, sample_rate), speaker_embedding(wav_b, sample_rate)
    )


@dataclass(frozen=True)
class SimilarityLevels:
    """Reference levels of speaker similarity for one set of voices.

    Attributes:
        same_voice_mean: mean similarity of two different utterances of one voice.
        same_voice_min: the lowest such similarity.
        different_voice_mean: mean similarity of two utterances of different voices.
        different_voice_max: the highest such similarity.
        same_voice_pairs: number of same-voice pairs averaged.
        different_voice_pairs: number of different-voice pairs averaged.
    """

    same_voice_mean: float
    same_voice_min: float
    different_voice_mean: float
    different_voice_max: float
    same_voice_pairs: int
    different_voice_pairs: int

    def to_dict(self) -> dict:
        """Plain dict for JSON."""
        return asdict(self)


def voice_similarity_levels(
    utterances: dict[str, list[np.ndarray]], sample_rate: int = EVAL_SAMPLE_RATE
) -> SimilarityLevels:
    """Same-voice and different-voice speaker similarity over a labelled set of utterances.

    Args:
        utterances: voice name -> list of mono audio arrays ``float32[S]`` at ``sample_rate``;
            at least one voice with two utterances and at least two voices.
        sample_rate: sample rate of every array (Hz).

    Returns:
        The levels: a generated utterance should score near ``same_voice_mean`` against its
        prompt and well above ``different_voice_mean``.

    Raises:
        ValueError: no same-voice pair or no different-voice pair can be formed.
    """
    voices = [voice for voice, wavs in utterances.items() for _ in wavs]
    wavs = [wav for group in utterances.values() for wav in group]
    embeddings = list(zip(voices, speaker_embeddings(wavs, sample_rate))) if wavs else []
    same, different = [], []
    for (voice_a, emb_a), (voice_b, emb_b) in itertools.combinations(embeddings, 2):
        (same if voice_a == voice_b else different).append(cosine_similarity(emb_a, emb_b))
    if not same or not different:
        raise ValueError("need two utterances of one voice and at least two voices")
    return SimilarityLevels(
        same_voice_mean=float(np.mean(same)),
        same_voice_min=float(np.min(same)),
        different_voice_mean=float(np.mean(different)),
        different_voice_max=float(np.max(different)),
        same_voice_pairs=len(same),
        different_voice_pairs=len(different),
    )
