"""The one exception the sandbox's model raises: a refusal with Cyclr's status and Message."""

from __future__ import annotations

__all__ = ["ApiError"]


class ApiError(Exception):
    """A refusal Cyclr would answer with ``status`` and ``{"Message": message}``."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
