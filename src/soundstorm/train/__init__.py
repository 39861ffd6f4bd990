"""Training: the recipe, its config, data pipeline, optimizer and checkpoints.

``soundstorm train CONFIG [key=value ...]`` runs ``TrainRecipe``; see docs/training.md.
"""

from soundstorm.train.config import TrainConfig, load_train_config
from soundstorm.train.recipe import TrainRecipe

__all__ = ["TrainConfig", "TrainRecipe", "load_train_config"]
