"""The one exception a failed check raises; kept free of torch so the plugin can load before it."""
from __future__ import annotations


class Mismatch(Exception):
    """A check failed: message says what, hint (optional) says what to look at."""

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
