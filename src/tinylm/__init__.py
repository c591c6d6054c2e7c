"""tinylm: train tiny character-level language models from scratch and watch them learn."""
__version__ = "0.1.0"
