"""SoundStorm: efficient parallel generation of RVQ audio codec tokens (Borsos et al. 2023).

Layout: the core (``config``, ``model``, ``modules``, ``masking``, ``decoding``), serving
(``inference``, ``pipeline``, ``editing``: speech editing, ``export``), the ``commands`` wing of the ``soundstorm`` command
line (``cli``), the pluggable families (``codecs``, ``semantic``), data, training and
evaluation packages, and a few utilities, one home for each cross-cutting helper
(``validation``, ``files``: atomic writes and output-folder locks, ``checksums``: the
SHA-256 written files carry, ``audio``: reading and resampling, ``tokens``:
id-range checks, ``flops``: FLOP formulas and device peaks, ``errors``, ``dependencies``,
``bench``: generation speed measurement).
"""

from soundstorm.config import SoundStormConfig
from soundstorm.decoding import DecodeOptions
from soundstorm.errors import SoundStormError
from soundstorm.model import LossOutput, SoundStorm
from soundstorm.validation import distributed_env

__version__ = "0.1.0"

__all__ = [
    "DecodeOptions",
    "LossOutput",
    "SoundStorm",
    "SoundStormConfig",
    "SoundStormError",
    "__version__",
    "distributed_env",
]
