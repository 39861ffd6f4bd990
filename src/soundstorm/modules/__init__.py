"""Building blocks of the SoundStorm network."""

from soundstorm.modules.attention import RotarySelfAttention, apply_rotary, rotary_tables
from soundstorm.modules.conformer import ConformerBlock, ConvModule, FeedForward

__all__ = [
    "ConformerBlock",
    "ConvModule",
    "FeedForward",
    "RotarySelfAttention",
    "apply_rotary",
    "rotary_tables",
]
