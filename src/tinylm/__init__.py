"""tinylm: train tiny character-level language models from scratch and watch them learn."""
__version__ = "0.1.0"

from .api import Model, Run, load, train  # noqa: E402

__all__ = ["Model", "Run", "load", "train", "__version__"]
