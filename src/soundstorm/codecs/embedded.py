"""The embedded default codec: log-mel RVQ fitted on your own audio, no download.

Encoding: 16 kHz audio -> short-time Fourier transform (Hann window of 640 samples, hop
320, so 50 frames/s) -> 128 log-mel bands per frame -> standardised with the training
statistics -> residual vector quantization (``ResidualVectorQuantizer``, k-means
codebooks, 12 levels x 1024 codes by default: 6 kbps).

Decoding: codes -> summed codewords -> log-mel frames -> interpolated in time to a finer
synthesis hop (80 samples) -> linear magnitude through the mel filterbank's pseudo-inverse
-> phase recovered with the fast Griffin-Lim algorithm (Perraudin et al. 2013, momentum
0.99) -> inverse STFT.

Fitting takes minutes on a CPU (k-means on the frames of a few tens of minutes of
speech). The fitted codec is one ``.safetensors`` file: codebooks and feature statistics
as tensors, the configuration and a format version as metadata, checked on load.
Measured quality per level: docs/bench/codec.md.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import torch

from soundstorm.audio import resample, to_mono
from soundstorm.codecs.base import Codec
from soundstorm.codecs.rvq import ResidualVectorQuantizer
from soundstorm.errors import SoundStormError
from soundstorm.files import atomic_path
from soundstorm.formats import check_format_version, current_version

#: Identifies the file kind in the safetensors metadata (``get_codec`` dispatches on it).
FILE_FORMAT = "soundstorm-embedded-codec"
#: Version written by ``save``; ``load`` reads it and every older one (``soundstorm.formats``).
FORMAT_VERSION = current_version("embedded-codec")
#: Configuration fields of format version 1: the content digest's frozen layout.
_DIGEST_V1_FIELDS = (
    "sample_rate", "hop_length", "win_length", "synthesis_hops_per_frame", "griffin_lim_iters",
    "griffin_lim_momentum", "log_floor", "num_mels", "num_levels", "codebook_size",
)  # fmt: skip


@dataclass
class EmbeddedCodecConfig:
    """Signal processing and quantizer settings of ``EmbeddedCodec``.

    Attributes:
        sample_rate: audio rate in Hz.
        hop_length: samples per token frame (16000 / 320 = 50 frames/s).
        win_length: analysis/synthesis window (also the FFT size).
        synthesis_hops_per_frame: Griffin-Lim runs at ``hop_length / this`` (denser
            overlap gives better phase); the decoded log spectra are interpolated in time.
        griffin_lim_iters: fast Griffin-Lim iterations at decode time.
        griffin_lim_momentum: its momentum (0 = plain Griffin-Lim).
        log_floor: magnitude floor added before the logarithm.
        num_mels: 0 codes the linear-frequency log spectrum; ``n > 0`` codes ``n`` mel bands
            (decoded to a linear spectrum with the filterbank's pseudo-inverse).
        num_levels: RVQ levels Q.
        codebook_size: codes K per level.
    """

    sample_rate: int = 16000
    hop_length: int = 320
    win_length: int = 640
    synthesis_hops_per_frame: int = 4
    griffin_lim_iters: int = 32
    griffin_lim_momentum: float = 0.99
    log_floor: float = 1e-5
    num_mels: int = 128
    num_levels: int = 12
    codebook_size: int = 1024

    def __post_init__(self) -> None:
        if self.hop_length % self.synthesis_hops_per_frame:
            raise SoundStormError("hop_length must be a multiple of synthesis_hops_per_frame")
        if self.win_length < self.hop_length:
            raise SoundStormError("win_length must be at least hop_length")

    @property
    def num_bins(self) -> int:
        """Frequency bins of the one-sided spectrum."""
        return self.win_length // 2 + 1

    @property
    def feature_dim(self) -> int:
        """Feature dimension D: mel bands, or spectrum bins when ``num_mels == 0``."""
        return self.num_mels or self.num_bins

    @classmethod
    def from_dict(cls, values: dict) -> EmbeddedCodecConfig:
        """Build from a dict, ignoring unknown keys."""
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in values.items() if k in known})


def mel_filterbank(num_mels: int, num_bins: int, sample_rate: int) -> torch.Tensor:
    """Triangular filters evenly spaced on the HTK mel scale, peak 1.

    Returns:
        ``[num_mels, num_bins]`` weights from linear bins to mel bands.
    """

    def to_mel(hz: torch.Tensor) -> torch.Tensor:
        return 2595.0 * torch.log10(1.0 + hz / 700.0)

    bin_hz = torch.linspace(0, sample_rate / 2, num_bins, dtype=torch.float64)
    edges_mel = torch.linspace(0, float(to_mel(torch.tensor(sample_rate / 2.0))), num_mels + 2)
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


def log_spectrogram(wav: torch.Tensor, config: EmbeddedCodecConfig) -> torch.Tensor:
    """Log-magnitude STFT (or log-mel spectrum), one frame per token.

    Args:
        wav: ``[B, S]`` float audio at ``config.sample_rate``.
        config: the codec configuration.

    Returns:
        ``[B, T, D]`` with ``T = ceil(S / hop_length)``, ``D = config.feature_dim``.
    """
    num_frames = math.ceil(wav.shape[-1] / config.hop_length)
    # Zero-pad to whole frames, and past half a window: the centred STFT reflects
    # win_length // 2 samples at each end, which needs a longer signal (one-frame clips).
    padded = max(num_frames * config.hop_length, config.win_length // 2 + 1)
    wav = torch.nn.functional.pad(wav, (0, padded - wav.shape[-1]))
    window = torch.hann_window(config.win_length, device=wav.device)
    spectrum = torch.stft(
        wav,
        config.win_length,
        config.hop_length,
        config.win_length,
        window,
        center=True,
        return_complex=True,
    )  # (B, D, T + 1): centred frames at t * hop, the last one starts past the end
    magnitude = spectrum.abs()[..., :num_frames]  # (B, F, T)
    if config.num_mels:
        filters = mel_filterbank(config.num_mels, config.num_bins, config.sample_rate)
        magnitude = filters.to(wav.device) @ magnitude  # (B, M, T)
    return torch.log(magnitude + config.log_floor).transpose(1, 2)  # (B, T, D)


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


class EmbeddedCodec(Codec):
    """Log-mel (or log-spectrum) RVQ codec with Griffin-Lim decoding; see the module docstring.

    Runs on the CPU: inputs on another device are copied, outputs are CPU tensors.

    Build one with ``EmbeddedCodec.fit`` and keep it with ``save`` / ``load``.
    """

    name = "embedded"

    def __init__(
        self,
        config: EmbeddedCodecConfig,
        quantizer: ResidualVectorQuantizer,
        feature_mean: torch.Tensor,
        feature_std: torch.Tensor,
        num_levels: int | None = None,
    ) -> None:
        """Assemble a fitted codec.

        Args:
            config: settings it was fitted with.
            quantizer: codebooks ``[Q, K, D]``.
            feature_mean: ``[D]`` mean of the training log spectra.
            feature_std: ``[D]`` their standard deviation.
            num_levels: levels produced by ``encode`` (default: all ``Q``).
        """
        self.config = config
        self.quantizer = quantizer
        self.feature_mean = feature_mean.float()
        self.feature_std = feature_std.float().clamp_min(1e-4)
        self._mel_inverse = None
        if config.num_mels:
            filters = mel_filterbank(config.num_mels, config.num_bins, config.sample_rate)
            self._mel_inverse = torch.linalg.pinv(filters)  # (F, M)
        fitted = quantizer.num_levels
        self._num_levels = fitted if num_levels is None else int(num_levels)
        if not 1 <= self._num_levels <= fitted:
            raise SoundStormError(f"num_levels must be in 1..{fitted} for this codec")

    @property
    def sample_rate(self) -> int:
        return self.config.sample_rate

    @property
    def frame_rate(self) -> float:
        return self.config.sample_rate / self.config.hop_length

    @property
    def num_levels(self) -> int:
        return self._num_levels

    @property
    def codebook_size(self) -> int:
        return self.quantizer.codebook_size

    def _encode(self, wav: torch.Tensor) -> torch.Tensor:
        features = log_spectrogram(wav[:, 0].float().cpu(), self.config)  # (B, T, D)
        batch, num_frames, dim = features.shape
        normalised = (features - self.feature_mean) / self.feature_std
        codes = self.quantizer.encode(normalised.reshape(-1, dim), self.num_levels)  # (B*T, Q)
        return codes.reshape(batch, num_frames, -1).transpose(1, 2)  # (B, Q, T)

    def decode_log_spectrogram(self, codes: torch.Tensor) -> torch.Tensor:
        """Log-magnitude frames ``[B, T, D]`` of codes ``[B, Q', T]`` (no phase)."""
        batch, _, num_frames = codes.shape
        flat = codes.transpose(1, 2).reshape(batch * num_frames, -1)  # (B*T, Q')
        normalised = self.quantizer.decode(flat).reshape(batch, num_frames, -1)
        return normalised * self.feature_std + self.feature_mean

    def _decode(self, codes: torch.Tensor) -> torch.Tensor:
        config = self.config
        log_magnitude = self.decode_log_spectrogram(codes.cpu())  # (B, T, D)
        num_samples = codes.shape[-1] * config.hop_length
        factor = config.synthesis_hops_per_frame
        synthesis_hop = config.hop_length // factor
        num_fine = num_samples // synthesis_hop + 1  # centred frames of the synthesis STFT
        fine = upsample_frames(log_magnitude, factor, num_fine)  # (B, N, D)
        magnitude = (fine.exp() - config.log_floor).clamp_min(0.0).transpose(1, 2)  # (B, D, N)
        if config.num_mels:  # mel bands -> linear bins (least squares, non-negative)
            magnitude = (self._mel_inverse @ magnitude).clamp_min(0.0)  # (B, F, N)
        wav = fast_griffin_lim(
            magnitude,
            config.win_length,
            synthesis_hop,
            num_samples,
            config.griffin_lim_iters,
            config.griffin_lim_momentum,
        )
        return wav[:, None]  # (B, 1, S)

    @classmethod
    def fit(
        cls,
        wavs: Iterable[torch.Tensor],
        sample_rate: int,
        num_levels: int = 12,
        codebook_size: int = 1024,
        max_frames: int = 60000,
        num_iters: int = 12,
        seed: int = 0,
        progress: Callable[[str], None] | None = None,
        **config_overrides,
    ) -> EmbeddedCodec:
        """Fit the codebooks on your audio.

        Args:
            wavs: waveforms ``[C, S]`` or ``[S]`` (an iterable: read lazily) at ``sample_rate``.
            sample_rate: their rate; they are mixed to mono and resampled to 16 kHz.
            num_levels: RVQ levels Q.
            codebook_size: codes K per level.
            max_frames: at most this many frames (chosen at random) feed k-means; fitting
                time grows linearly with it (60k frames = 20 minutes of audio).
            num_iters: k-means iterations per level.
            seed: seed of the frame subset and k-means initialisation.
            progress: called with a one-line message after each fitting step.
            **config_overrides: other ``EmbeddedCodecConfig`` fields.

        Returns:
            The fitted codec.

        Raises:
            SoundStormError: no audio, or fewer frames than ``codebook_size``.
        """
        config = EmbeddedCodecConfig(
            num_levels=num_levels, codebook_size=codebook_size, **config_overrides
        )
        frames = []
        for wav in wavs:
            wav = wav.float()
            wav = to_mono(wav if wav.dim() > 1 else wav[None])  # (1, S)
            if sample_rate != config.sample_rate:
                wav = resample(wav, sample_rate, config.sample_rate)
            if wav.shape[-1] >= config.hop_length:
                frames.append(log_spectrogram(wav, config)[0])  # (T, D)
        if not frames:
            raise SoundStormError("EmbeddedCodec.fit got no audio (or only clips under 20 ms)")
        features = torch.cat(frames)  # (N, D)
        if features.shape[0] < codebook_size:
            raise SoundStormError(
                f"EmbeddedCodec.fit needs at least {codebook_size} frames "
                f"({codebook_size / 50:.0f} s of audio), got {features.shape[0]}"
            )
        generator = torch.Generator().manual_seed(seed)
        if features.shape[0] > max_frames:
            features = features[torch.randperm(features.shape[0], generator=generator)[:max_frames]]
        mean, std = features.mean(dim=0), features.std(dim=0).clamp_min(1e-4)
        if progress is not None:
            progress(
                f"fitting {num_levels} levels x {codebook_size} codes on {len(features)} frames"
            )
        quantizer = ResidualVectorQuantizer.fit(
            (features - mean) / std,
            num_levels,
            codebook_size,
            num_iters,
            seed,
            progress=None if progress is None else lambda q: progress(f"level {q + 1} fitted"),
        )
        return cls(config, quantizer, mean, std)

    def _tensors(self) -> dict[str, torch.Tensor]:
        """The saved tensors: codebooks ``[Q, K, D]``, feature mean and std ``[D]``."""
        return {
            "codebooks": self.quantizer.codebooks.contiguous(),
            "feature_mean": self.feature_mean.contiguous(),
            "feature_std": self.feature_std.contiguous(),
        }

    def content_digest(self) -> str:
        """SHA-1 of what the codec computes: its settings and tensors (``prepare`` resumes by it).

        It never depends on incidental bytes of a file (safetensors orders metadata freely)
        nor on the format version a file was written with: re-saving a codec, by this or a
        later soundstorm, keeps its digest. The hashed layout is frozen as that of format
        version 1 (its metadata as sorted JSON, then each tensor's name, dtype, shape and
        bytes), so directories prepared before this method existed still resume;
        configuration fields added after version 1 enter the digest only when they differ
        from their default.

        Returns:
            40 hexadecimal digits.
        """
        import hashlib

        defaults = EmbeddedCodecConfig()
        config = {
            key: value
            for key, value in asdict(self.config).items()
            if key in _DIGEST_V1_FIELDS or value != getattr(defaults, key)
        }
        layout = {"format": FILE_FORMAT, "format_version": "1", "config": json.dumps(config)}
        digest = hashlib.sha1(json.dumps(layout, sort_keys=True).encode())
        tensors = self._tensors()
        for key in sorted(tensors):
            array = tensors[key].detach().cpu().numpy()
            digest.update(f"{key}:{array.dtype}:{array.shape}".encode())
            digest.update(array.tobytes())
        return digest.hexdigest()

    def save(self, path: str | os.PathLike) -> None:
        """Write the codec to one ``.safetensors`` file (atomically).

        The tensors go in as tensors; the configuration (JSON), ``format`` and
        ``format_version`` (``FORMAT_VERSION``) as metadata.

        Args:
            path: destination file.
        """
        from safetensors.torch import save_file

        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tensors = self._tensors()
        metadata = {
            "format": FILE_FORMAT,
            "format_version": str(FORMAT_VERSION),
            "config": json.dumps(asdict(self.config)),
        }
        with atomic_path(path) as temp:
            save_file(tensors, str(temp), metadata=metadata)

    @classmethod
    def load(cls, path: str | os.PathLike, num_levels: int | None = None) -> EmbeddedCodec:
        """Read a codec written by ``save``, of this format version or an older one.

        Configuration fields a file lacks (written before they existed) take their defaults.

        Args:
            path: the ``.safetensors`` file.
            num_levels: levels ``encode`` produces (default: all the file has).

        Raises:
            SoundStormError: missing file, not an embedded codec, or missing tensors.
            FormatVersionError: a newer format version (upgrade soundstorm), or none.
        """
        from safetensors import SafetensorError, safe_open

        path = Path(path)
        if not path.is_file():
            raise SoundStormError(f"codec file not found: {path}")
        try:
            with safe_open(str(path), framework="pt") as handle:
                metadata = handle.metadata() or {}
                tensors = {key: handle.get_tensor(key) for key in handle.keys()}  # noqa: SIM118
        except (SafetensorError, OSError, ValueError) as error:
            raise SoundStormError(f"{path} is not a safetensors codec file: {error}") from error
        if metadata.get("format") != FILE_FORMAT:
            raise SoundStormError(
                f"{path} is not an embedded codec file (format {metadata.get('format')!r})"
            )
        check_format_version(path, "embedded-codec", metadata.get("format_version"))
        missing = [k for k in ("codebooks", "feature_mean", "feature_std") if k not in tensors]
        try:
            config = EmbeddedCodecConfig.from_dict(json.loads(metadata.get("config", "{}")))
        except (json.JSONDecodeError, TypeError, AttributeError) as error:
            raise SoundStormError(f"{path}: damaged codec configuration ({error})") from None
        if missing:
            raise SoundStormError(f"{path}: embedded codec file lacks {', '.join(missing)}")
        quantizer = ResidualVectorQuantizer(tensors["codebooks"])
        return cls(config, quantizer, tensors["feature_mean"], tensors["feature_std"], num_levels)
