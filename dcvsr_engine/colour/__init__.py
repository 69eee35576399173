"""Colour management with OpenColorIO: what the model sees, and the way back (docs/colour.md)."""

from .config import CONFIG, colour_space_names, config
from .model_space import ModelColour, resolve_space

__all__ = ["CONFIG", "ModelColour", "colour_space_names", "config", "resolve_space"]
