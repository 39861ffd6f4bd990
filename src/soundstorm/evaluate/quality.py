"""Signal quality: DNSMOS (no reference), STOI and PESQ (against a reference).

- DNSMOS (Reddy et al. 2022) predicts the mean opinion score (1 to 5) of speech from the audio
  alone: ``sig`` (speech distortion), ``bak`` (background noise), ``ovrl`` (overall) and the
  ITU-T P.808 score ``p808``. The ONNX models come bundled with PyPI ``speechmos``; we run them
  with one CPU thread.
- STOI (PyPI ``pystoi``) and wide-band PESQ (PyPI ``pesq``) compare a degraded signal with the
  clean one, sample aligned: use them for codec resynthesis, not for generated audio, whose
  timing differs from the reference.
"""

from __future__ import annotations

import functools
import os

import numpy as np
import torch

from soundstorm.evaluate.audio import EVAL_SAMPLE_RATE, prepare_audio

DNSMOS_WINDOW_SECONDS = 9.01
"""Length of the window the DNSMOS models score (shorter audio is repeated to fill it)."""


class DNSMOS:
    """DNSMOS P.835 and P.808 models from ``speechmos``. Use :func:`load_dnsmos` to share one.

    Scoring follows the reference implementation (``speechmos.dnsmos`` / Microsoft's
    ``dnsmos_local.py``): audio is repeated until it fills a 9.01 s window, windows of 9.01 s
    are scored every ``hop_seconds`` and averaged. Audio shorter than a window is repeated to
    exactly one window (the reference's first window), which saves the redundant overlapping
    windows the reference scores on the repeated copy.
    """

    def __init__(self, personalized: bool = False) -> None:
        import onnxruntime
        from speechmos import dnsmos as speechmos_dnsmos

        self._reference = speechmos_dnsmos
        root = os.path.dirname(os.path.abspath(speechmos_dnsmos.__file__))
        primary = "pdnsmos_models" if personalized else "dnsmos_models"
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        options.log_severity_level = 3

        def session(*parts: str):
            path = os.path.join(root, *parts)
            return onnxruntime.InferenceSession(path, options, providers=["CPUExecutionProvider"])

        # The reference class only adds the thread options; reuse its feature and polyfit code.
        self._model = speechmos_dnsmos.DNSMOS.__new__(speechmos_dnsmos.DNSMOS)
        self._model.primary_model_path = os.path.join(root, primary, "sig_bak_ovr.onnx")
        self._model.onnx_sess = session(primary, "sig_bak_ovr.onnx")
        self._model.p808_onnx_sess = session("dnsmos_models", "model_v8.onnx")
        self._personalized = personalized

    def score(
        self, wav: np.ndarray | torch.Tensor, sample_rate: int, hop_seconds: float = 1.0
    ) -> dict[str, float]:
        """Score one utterance.

        Args:
            wav: ``[S]``, ``[C, S]`` or ``[1, C, S]`` audio at ``sample_rate``.
            sample_rate: its sample rate (Hz); resampled to 16 kHz.
            hop_seconds: hop between scored windows of long audio (reference: 1 s).

        Returns:
            ``{"ovrl": ..., "sig": ..., "bak": ..., "p808": ...}``, each about 1 to 5.
        """
        audio = np.clip(prepare_audio(wav, sample_rate), -1.0, 1.0)
        if audio.size == 0 or not np.any(audio):
            raise ValueError("cannot score empty or all-zero audio with DNSMOS")
        window = int(DNSMOS_WINDOW_SECONDS * EVAL_SAMPLE_RATE)
        if audio.size < window:
            audio = np.resize(audio, window)  # cyclic repetition, as the reference does
        hop = max(1, int(hop_seconds * EVAL_SAMPLE_RATE))
        starts = range(0, audio.size - window + 1, hop)
        scores = [self._score_window(audio[s : s + window]) for s in starts]
        return {key: float(np.mean([s[key] for s in scores])) for key in scores[0]}

    def _score_window(self, window: np.ndarray) -> dict[str, float]:
        model = self._model
        features = window.astype(np.float32)[np.newaxis, :]
        mel = model.audio_melspec(audio=window[:-160]).astype(np.float32)[np.newaxis, :, :]
        p808 = model.p808_onnx_sess.run(None, {"input_1": mel})[0][0][0]
        sig_raw, bak_raw, ovrl_raw = model.onnx_sess.run(None, {"input_1": features})[0][0]
        sig, bak, ovrl = model.get_polyfit_val(sig_raw, bak_raw, ovrl_raw, self._personalized)
        return {"ovrl": float(ovrl), "sig": float(sig), "bak": float(bak), "p808": float(p808)}


@functools.cache
def load_dnsmos(personalized: bool = False) -> DNSMOS:
    """The shared :class:`DNSMOS` scorer (loaded on first call, then cached)."""
    return DNSMOS(personalized=personalized)


def dnsmos(wav: np.ndarray | torch.Tensor, sample_rate: int) -> dict[str, float]:
    """DNSMOS of ``wav`` (``[S]``/``[C, S]``/``[1, C, S]`` at ``sample_rate``): ovrl, sig, bak, p808."""
    return load_dnsmos().score(wav, sample_rate)


def _aligned_pair(
    reference: np.ndarray | torch.Tensor,
    degraded: np.ndarray | torch.Tensor,
    sample_rate: int,
    target_rate: int,
) -> tuple[np.ndarray, np.ndarray]:
    clean = prepare_audio(reference, sample_rate, target_rate)
    noisy = prepare_audio(degraded, sample_rate, target_rate)
    length = min(clean.size, noisy.size)
    if length < target_rate // 4:
        raise ValueError("need at least 0.25 s of audio in both signals")
    return clean[:length].astype(np.float64), noisy[:length].astype(np.float64)


def stoi_score(
    reference: np.ndarray | torch.Tensor,
    degraded: np.ndarray | torch.Tensor,
    sample_rate: int,
    extended: bool = False,
) -> float:
    """Short-time objective intelligibility of ``degraded`` against the clean ``reference``.

    Args:
        reference: ``[S]``/``[C, S]``/``[1, C, S]`` clean audio at ``sample_rate``.
        degraded: the same signal after processing (e.g. codec resynthesis), sample aligned;
            the longer of the two is truncated.
        sample_rate: sample rate of both (Hz).
        extended: compute extended STOI (ESTOI).

    Returns:
        STOI in [0, 1] (1: identical intelligibility).
    """
    from pystoi import stoi

    clean, noisy = _aligned_pair(reference, degraded, sample_rate, EVAL_SAMPLE_RATE)
    return float(stoi(clean, noisy, EVAL_SAMPLE_RATE, extended=extended))


def pesq_score(
    reference: np.ndarray | torch.Tensor, degraded: np.ndarray | torch.Tensor, sample_rate: int
) -> float:
    """Wide-band PESQ (ITU-T P.862.2) of ``degraded`` against ``reference``, at 16 kHz.

    Args:
        reference: ``[S]``/``[C, S]``/``[1, C, S]`` clean audio at ``sample_rate``.
        degraded: the processed signal, sample aligned; the longer one is truncated.
        sample_rate: sample rate of both (Hz).

    Returns:
        MOS-LQO, about 1.0 to 4.64 (higher is better).

    Raises:
        ValueError: PESQ finds no speech in the reference.
    """
    from pesq import pesq

    clean, noisy = _aligned_pair(reference, degraded, sample_rate, EVAL_SAMPLE_RATE)
    try:
        return float(pesq(EVAL_SAMPLE_RATE, clean, noisy, "wb"))
    except Exception as error:  # pesq raises its own NoUtterancesError etc.
        raise ValueError(f"PESQ failed: {error}") from None
