"""What a student reads about a failed check, built one way for the grader and for the public checks alike:
the exception a failed check raises (Mismatch), plain data about an exception the student's code raised
(describe_error), the sentence that says it (raised), and the block that heads it with its task (block).
Kept free of torch, so the plugin can load before it and the public checks can ship it."""
from __future__ import annotations

import re
import traceback

from course import untrusted
from course.i18n import _


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


def describe_error(e: BaseException, stage: str, filename: str) -> dict:
    """Plain data about an exception: its type, message and the last line of submitted code it passed."""
    try:
        message = str(e)[:500]
    except Exception:
        message = "<unprintable message>"
    where = None
    for frame in traceback.extract_tb(e.__traceback__):
        if frame.filename == filename:
            where = {"line": frame.lineno, "function": frame.name, "code": (frame.line or "")[:200]}
    if isinstance(e, SyntaxError) and e.filename == filename:
        where = {"line": e.lineno, "function": "<module>", "code": (e.text or "").strip()[:200]}
    return {"stage": stage, "type": type(e).__name__, "message": message, "where": where,
            "not_implemented": isinstance(e, NotImplementedError)}


def raised(error: dict, file: str, task: str) -> str:
    """What the student reads about an exception of their code (describe_error's data, untrusted): not
    implemented yet, could not import the file, a name the file lacks, or what it raised and where."""
    if error.get("not_implemented"):
        named = re.search(r"Task (\d+\.\d+)", str(error.get("message")))
        return _("not implemented yet (Task {task})").format(task=named[1] if named else task)
    where = error.get("where") if isinstance(error.get("where"), dict) else {}
    at = _(" at {file} line {line}").format(file=file, line=where["line"]) if where.get("line") else ""
    code = f": {untrusted.line(where['code'])}" if where.get("code") else ""
    said = f"{untrusted.line(error.get('type'), 120)}: {error.get('message')}{at}{code}"
    if error.get("stage") == "import":
        sibling = re.fullmatch(r"No module named '(exercises|solutions|sec\d\w*)\b.*", str(error.get("message")))
        alone = _(" (each exercise file must stand alone: copy what you need instead of importing another)") if sibling else ""
        return _("could not import {file}: {error}").format(file=file, error=said) + alone
    missing = re.fullmatch(r"module '[\w.]+' has no attribute '(\w+)'", str(error.get("message")))
    if error.get("type") == "AttributeError" and missing and not where:
        return _("{file} defines no {name} (was it renamed or deleted?)").format(file=file, name=missing[1])
    return _("raised {error}").format(error=said)


def printed(output: str) -> str:
    """The last lines the student's code printed during a check, to show under what went wrong ("" if none)."""
    lines = untrusted.text(output, None).strip().splitlines()[-5:]
    return ("  " + _("your code printed (last lines):") + "\n" + "\n".join(f"    | {line[:160]}" for line in lines)
            if lines else "")


def block(task: str, function: str, title: str, message: str, hint: str | None = None, printed: str = "",
          points: float | None = None) -> str:
    """A failed check as the student reads it: "Task 2.2 (SimpleNN.forward), 2 pt: <what was checked>", then
    what went wrong, what the code printed and the hint, made safe to show anywhere."""
    named = f"Task {task}{f' ({function})' if function else ''}"
    head = (_("{task}, {points} pt: {title}").format(task=named, points=f"{points:g}", title=title) if points is not None
            else _("{task}: {title}").format(task=named, title=title))
    body = f"  {message}"
    if printed and printed not in message:
        body += "\n" + printed
    if hint:
        body += "\n  " + _("hint: {hint}").format(hint=hint)
    return untrusted.text(f"{head}\n{body}")
