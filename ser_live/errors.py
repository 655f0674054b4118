"""The error types that mean "bad input", reported as one line instead of a traceback."""
from __future__ import annotations


def _collect() -> tuple[type[BaseException], ...]:
    from .audio.io import AudioLoadError
    from .audio.sources import SourceError
    from .cli import CliError
    from .labels import UnknownLabelError
    from .model.runtime import ModelError
    from .train.data import DataError

    return (AudioLoadError, SourceError, CliError, UnknownLabelError, ModelError, DataError,
            FileNotFoundError, PermissionError)


USER_ERRORS = _collect()
