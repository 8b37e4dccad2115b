"""The one exception a failed check raises; kept free of torch so the plugin can load before it."""
from __future__ import annotations

from course import untrusted


class Mismatch(Exception):
    """A check failed: message says what, hint (optional) says what to look at.

    Both often quote what the submission returned, raised or printed, so both are made safe here
    (course.untrusted.text: newlines kept, control and invisible characters escaped, length capped):
    every check's feedback passes through this class on its way to the student and the instructor.
    """

    def __init__(self, message: str, hint: str | None = None) -> None:
        message = untrusted.text(message)
        super().__init__(message)
        self.message = message
        self.hint = None if hint is None else untrusted.text(hint)
