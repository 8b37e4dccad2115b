"""Judge-side comparisons that turn a wrong answer into feedback a student can act on.

Every check raises Mismatch with what was expected, what came back and, where the wrong value
matches a known mistake, the hint for that mistake. Values reaching here are plain data decoded
from the worker, so isinstance tests cannot be fooled by the submission; but their text is the
submission's (a returned object's type name, a string, a dict key), so whatever a message quotes of
them is made safe as one line (course.untrusted.line), and Mismatch makes the whole message safe again.
"""
from __future__ import annotations

import math
from typing import Any, Sequence

import torch

from course import untrusted
from course.feedback import Mismatch
from course.i18n import _
from course.sandbox.wire import Unsupported

__all__ = ["Mismatch", "as_number", "describe", "equal", "number", "state", "tensor", "that"]


def describe(value: Any) -> str:
    """A short description of a value: its type, and its shape or length, safe to show as one line."""
    if isinstance(value, torch.Tensor):
        return _("a tensor of shape {shape} and dtype {dtype}").format(shape=tuple(value.shape), dtype=_dtype(value))
    if isinstance(value, Unsupported):
        return _("a {kind} object").format(kind=untrusted.line(value.type_name, 120))
    if isinstance(value, bool):
        return _("the bool {value}").format(value=value)
    if isinstance(value, float):
        return _("the float {value}").format(value=f"{value:.6g}")
    if isinstance(value, int):
        return _("the int {value}").format(value=value)
    if isinstance(value, str):
        return _("the string {value}").format(value=untrusted.line(repr(value[:40])))
    if isinstance(value, (list, tuple, dict)):
        one = _("a {kind} of 1 item") if len(value) == 1 else _("a {kind} of {n} items")
        return one.format(kind=type(value).__name__, n=len(value))
    return "None" if value is None else untrusted.line(type(value).__name__, 120)


def _dtype(t: torch.Tensor) -> str:
    return str(t.dtype).replace("torch.", "")


def _few(t: torch.Tensor, n: int = 4) -> str:
    flat = t.detach().reshape(-1)[:n].tolist()
    more = ", ..." if t.numel() > n else ""
    return "[" + ", ".join(f"{v:.4g}" if isinstance(v, float) else str(v) for v in flat) + more + "]"


def _close(a: torch.Tensor, b: torch.Tensor, atol: float, rtol: float) -> bool:
    return a.shape == b.shape and torch.allclose(a.double(), b.double(), atol=atol, rtol=rtol, equal_nan=False)


def known_mistake(got: Any, mistakes: Sequence[tuple[Any, str]], atol: float = 1e-5, rtol: float = 1e-4) -> str | None:
    """The hint of the first mistake whose value got matches."""
    for value, hint in mistakes:
        if isinstance(got, torch.Tensor) and isinstance(value, torch.Tensor):
            if got.is_floating_point() and _close(got, value, atol, rtol):
                return hint
        elif isinstance(got, (int, float)) and isinstance(value, (int, float)) and not isinstance(got, bool):
            if math.isclose(got, value, rel_tol=rtol, abs_tol=atol):
                return hint
    return None


def tensor(got: Any, want: torch.Tensor, what: str, hint: str | None = None,
           mistakes: Sequence[tuple[Any, str]] = (), atol: float = 1e-5, rtol: float = 1e-4) -> None:
    """got must be a tensor with want's shape and dtype and close values."""
    if not isinstance(got, torch.Tensor):
        raise Mismatch(_("{what}: expected a tensor of shape {shape}, got {got}").format(
            what=what, shape=tuple(want.shape), got=describe(got)), hint)
    if got.shape != want.shape:
        raise Mismatch(_("{what}: expected shape {want}, got {got}").format(
            what=what, want=tuple(want.shape), got=tuple(got.shape)), known_mistake(got, mistakes, atol, rtol) or hint)
    if got.dtype != want.dtype:
        raise Mismatch(_("{what}: expected dtype {want}, got {got}").format(what=what, want=_dtype(want), got=_dtype(got)),
                       _("keep the dtype of the inputs: avoid .double(), .float() or torch.tensor(...) on the result"))
    if want.is_floating_point():
        if not torch.isfinite(got).all() and torch.isfinite(want).all():
            raise Mismatch(_("{what}: contains nan or inf; expected {want}, got {got}").format(
                what=what, want=_few(want), got=_few(got)), known_mistake(got, mistakes, atol, rtol) or hint,
                _("{what}: contains nan or inf").format(what=what))
        if not _close(got, want, atol, rtol):
            diff = (got.double() - want.double()).abs().max().item()
            raise Mismatch(_("{what}: values differ (max abs difference {diff}); expected {want}, got {got}").format(
                what=what, diff=f"{diff:.3g}", want=_few(want), got=_few(got)), known_mistake(got, mistakes, atol, rtol) or hint,
                _("{what}: values differ from the expected ones").format(what=what))
    elif not torch.equal(got, want):
        raise Mismatch(_("{what}: values differ; expected {want}, got {got}").format(
            what=what, want=_few(want, 8), got=_few(got, 8)), hint, _("{what}: values differ from the expected ones").format(what=what))


def number(got: Any, want: float, what: str, hint: str | None = None,
           mistakes: Sequence[tuple[Any, str]] = (), atol: float = 1e-5, rtol: float = 1e-4) -> float:
    """got must be a number (a float, an int or a one-element tensor) close to want; returns it as a float."""
    value = as_number(got)
    if value is None:
        raise Mismatch(_("{what}: expected a number like {want}, got {got}").format(
            what=what, want=f"{want:.6g}", got=describe(got)), hint, _("{what}: expected a number, got {got}").format(
            what=what, got=describe(got)))
    exact = isinstance(want, int) and not isinstance(want, bool)
    if (exact and value != want) or not math.isclose(value, want, rel_tol=rtol, abs_tol=atol):
        raise Mismatch(_("{what}: expected {want}, got {got}").format(
            what=what, want=want if exact else f"{want:.6g}", got=f"{value:.6g}"),
            known_mistake(value, mistakes, atol, rtol) or hint,
            _("{what}: got {got}, not the expected value").format(what=what, got=f"{value:.6g}"))
    return value


def as_number(value: Any) -> float | None:
    """A plain float from a float, an int or a one-element tensor of a floating or integer dtype (a numpy
    number arrives as an int or a float: course.sandbox.wire); None for anything else, a bool included."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, torch.Tensor) and value.numel() == 1 and value.dtype != torch.bool:
        return float(value.reshape(()).item())
    return None


def equal(got: Any, want: Any, what: str, hint: str | None = None) -> None:
    """got must equal want exactly (plain data); the message points at the first difference."""
    if type(got) is type(want) and got == want:
        return
    if isinstance(got, dict) and isinstance(want, dict):
        missing, extra = [k for k in want if k not in got], [k for k in got if k not in want]
        if missing or extra:
            message = (_("{what}: missing keys {missing}, unexpected keys {extra}") if missing and extra else
                       _("{what}: missing keys {missing}") if missing else _("{what}: unexpected keys {extra}"))
            raise Mismatch(message.format(what=what, missing=missing, extra=extra), hint)
        for key in want:
            equal(got[key], want[key], f"{what}[{key!r}]", hint)
    if isinstance(got, (list, tuple)) and type(got) is type(want) and len(got) != len(want):
        raise Mismatch(_("{what}: expected {want} items, got {got}").format(what=what, want=len(want), got=len(got)), hint)
    shown = untrusted.line(repr(got)) if len(repr(got)) <= 80 else describe(got)
    wanted = untrusted.line(repr(want)) if len(repr(want)) <= 80 else describe(want)
    raise Mismatch(_("{what}: expected {want}, got {got}").format(what=what, want=wanted, got=shown), hint,
                   _("{what}: got {got}, not the expected value").format(what=what, got=shown))


def that(condition: bool, message: str, hint: str | None = None) -> None:
    """A behavioural check: condition must hold."""
    if not condition:
        raise Mismatch(message, hint)


def state(got: Any, want: dict[str, torch.Tensor], what: str, hint: str | None = None,
          atol: float = 1e-5, rtol: float = 1e-4) -> None:
    """got must be a dict of tensors with want's keys, each close to want's tensor."""
    if not isinstance(got, dict):
        raise Mismatch(_("{what}: expected a dict of tensors, got {got}").format(what=what, got=describe(got)), hint)
    if sorted(got) != sorted(want):
        missing, extra = sorted(set(want) - set(got)), sorted(set(got) - set(want))
        raise Mismatch(_("{what}: expected keys {keys}; missing {missing}, unexpected {extra}").format(
            what=what, keys=sorted(want), missing=missing, extra=extra), hint)
    for key in want:
        tensor(got[key], want[key], f"{what}[{key!r}]", hint, atol=atol, rtol=rtol)


def raised(got: Any, name: str) -> bool:
    """Whether a "raises" probe's report says the call raised name or a subclass of it (the report names the
    exception's classes; the judge decides)."""
    return (isinstance(got, dict) and got.get("raised") is True and isinstance(got.get("bases"), list)
            and name in got["bases"])
