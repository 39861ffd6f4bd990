"""SoundStorm: efficient parallel generation of RVQ audio codec tokens (Borsos et al. 2023)."""

from soundstorm.config import SoundStormConfig
from soundstorm.errors import SoundStormError
from soundstorm.model import LossOutput, SoundStorm

__version__ = "0.1.0"

__all__ = ["LossOutput", "SoundStorm", "SoundStormConfig", "SoundStormError", "__version__"]
