"""The error vocabulary shared by domain code, activities, workflows and retry policies.

Domain code raises ``MlwrightError`` subclasses and knows nothing of Temporal; the activity layer
turns them into ``ApplicationError`` with the same ``type`` name (``activities._errors``), and
retry policies name those types as non-retryable.
"""

from __future__ import annotations

from typing import Any


class ErrorType:
    INVALID_INPUT = "InvalidInput"
    DATASET_NOT_FOUND = "DatasetNotFound"
    DATA_QUALITY = "DataQualityFailed"
    ARTIFACT_INTEGRITY = "ArtifactIntegrityError"
    MODEL_NOT_FOUND = "ModelNotFound"

    NON_RETRYABLE: tuple[str, ...] = (
        INVALID_INPUT,
        DATASET_NOT_FOUND,
        DATA_QUALITY,
        ARTIFACT_INTEGRITY,
        MODEL_NOT_FOUND,
    )


class MlwrightError(Exception):
    """An error whose cause a user can act on. ``details`` must be JSON-friendly."""

    error_type: str = "MlwrightError"
    retryable: bool = False

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details = details


class InvalidInput(MlwrightError):
    """A value the user supplied cannot work; the message names the field."""

    error_type = ErrorType.INVALID_INPUT

    def __init__(self, field: str, problem: str, **details: Any) -> None:
        super().__init__(f"{field}: {problem}", field=field, **details)


class DatasetNotFound(MlwrightError):
    error_type = ErrorType.DATASET_NOT_FOUND


class DataQualityFailed(MlwrightError):
    error_type = ErrorType.DATA_QUALITY


class ArtifactIntegrityError(MlwrightError):
    """Stored bytes no longer match their recorded sha256: never load them."""

    error_type = ErrorType.ARTIFACT_INTEGRITY


class ModelNotFound(MlwrightError):
    error_type = ErrorType.MODEL_NOT_FOUND


class Transient(MlwrightError):
    """A fault another attempt may not meet (a 5xx, a refused connection, a lagging replica)."""

    error_type = "Transient"
    retryable = True


def as_application_error(error: MlwrightError):
    """The Temporal form of a domain error: same type name, message and details."""
    from temporalio.exceptions import ApplicationError

    return ApplicationError(error.message, error.details, type=error.error_type, non_retryable=not error.retryable)
