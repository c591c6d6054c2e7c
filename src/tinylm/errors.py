"""User-facing errors: each carries a one-line message; the CLI prints it and exits non-zero."""


class TinyLMError(Exception):
    """Base class: the message is shown to the user as is, without a traceback."""

    exit_code = 2


class ConfigError(TinyLMError):
    """A config value, preset name or CLI override is invalid."""


class DataError(TinyLMError):
    """A data source is missing, unreadable or unusable."""


class TokenizerError(DataError):
    """Text contains a character outside the vocabulary."""


class CheckpointError(TinyLMError):
    """A checkpoint is missing, truncated, corrupt, foreign or incompatible."""


class TrainingDiverged(TinyLMError):
    """Loss became NaN/inf; the message says at which iter and the likely cause."""

    exit_code = 3


class EngineUnavailable(TinyLMError):
    """An engine's optional dependency (torch) is not installed, or a device is missing."""
