"""Engine registry. Engines are imported lazily so that torch is only imported when asked for."""
from __future__ import annotations

import importlib
import importlib.util

from ..errors import ConfigError, EngineUnavailable
from .base import Decoder, Engine, StepStats

ENGINES = {
    "numpy": ("tinylm.engines.numpy_engine", "NumpyEngine"),
    "scalar": ("tinylm.engines.scalar_engine", "ScalarEngine"),
    "torch": ("tinylm.engines.torch_engine", "TorchEngine"),
}


def available_engines() -> list[str]:
    """The engines that can run here, in ENGINES' order: torch only where PyTorch is installed."""
    return [name for name in ENGINES if name != "torch" or importlib.util.find_spec("torch") is not None]


def engine_class(name: str) -> type[Engine]:
    if name not in ENGINES:
        raise ConfigError(f"unknown engine {name!r} (choose from {', '.join(ENGINES)})")
    module_name, class_name = ENGINES[name]
    if name == "torch" and importlib.util.find_spec("torch") is None:
        raise EngineUnavailable("the torch engine needs PyTorch: pip install 'tinylm[torch]' "
                                "(CPU-only: pip install torch --index-url https://download.pytorch.org/whl/cpu)")
    module = importlib.import_module(module_name)
    return getattr(module, class_name)


__all__ = ["Decoder", "Engine", "StepStats", "available_engines", "engine_class", "ENGINES"]
