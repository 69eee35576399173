"""Model folders: their layout, loading, the tiny test model and fetching the published weights."""

from .layout import default_model, resolve_model_path
from .loading import DCVSRModel, load_model
from .pull import pull
from .tiny import make_tiny

__all__ = ["DCVSRModel", "default_model", "load_model", "make_tiny", "pull", "resolve_model_path"]
