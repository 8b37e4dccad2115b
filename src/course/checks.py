"""Judge-side comparisons that turn a wrong answer into feedback a student can act on.

Every check raises Mismatch with what was expected, what came back and, where the wrong value
matches a known mistake, the hint for that mistake. Values reaching here are plain data decoded
from the worker, so isinstance tests cannot be fooled by the submission.
"""
from __future__ import annotations

import math
from typing import Any, Sequence

import torch

from course.feedback import Mismatch
from course.wire import Unsupported

__all__ = ["Mismatch", "as_number", "describe", "equal", "number", "state", "tensor", "that"]


def describe(value: Any) -> str:
    """A short description of a value: its type, and its shape or length."""
    if isinstance(value, torch.Tensor):
        return f"a tensor of shape {tuple(value.shape)} and dtype {str(value.dtype).replace('torch.', '')}"
    if isinstance(value, Unsupported):
        return f"a {value.type_name} object"
    if isinstance(value, bool):
        return f"the bool {value}"
    if isinstance(value, (int, float)):
        return f"the {type(value).__name__} {value:.6g}" if isinstance(value, float) else f"the int {value}"
    if isinstance(value, str):
        return f"the string {value[:40]!r}"
    if isinstance(value, (list, tuple, dict)):
        return f"a {type(value).__name__} of {len(value)} item{'s' * (len(value) != 1)}"
    return "None" if value is None else type(value).__name__


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
        raise Mismatch(f"{what}: expected a tensor of shape {tuple(want.shape)}, got {describe(got)}", hint)
    if got.shape != want.shape:
        raise Mismatch(f"{what}: expected shape {tuple(want.shape)}, got {tuple(got.shape)}",
                       known_mistake(got, mistakes, atol, rtol) or hint)
    if got.dtype != want.dtype:
        raise Mismatch(f"{what}: expected dtype {str(want.dtype).replace('torch.', '')}, "
                       f"got {str(got.dtype).replace('torch.', '')}",
                       "keep the dtype of the inputs: avoid .double(), .float() or torch.tensor(...) on the result")
    if want.is_floating_point():
        if not torch.isfinite(got).all() and torch.isfinite(want).all():
            raise Mismatch(f"{what}: contains nan or inf; expected {_few(want)}, got {_few(got)}",
                           known_mistake(got, mistakes, atol, rtol) or hint)
        if not _close(got, want, atol, rtol):
            diff = (got.double() - want.double()).abs().max().item()
            raise Mismatch(f"{what}: values differ (max abs difference {diff:.3g}); expected {_few(want)}, got {_few(got)}",
                           known_mistake(got, mistakes, atol, rtol) or hint)
    elif not torch.equal(got, want):
        raise Mismatch(f"{what}: values differ; expected {_few(want, 8)}, got {_few(got, 8)}", hint)


def number(got: Any, want: float, what: str, hint: str | None = None,
           mistakes: Sequence[tuple[Any, str]] = (), atol: float = 1e-5, rtol: float = 1e-4) -> float:
    """got must be a number (a float, an int or a one-element tensor) close to want; returns it as a float."""
    value = as_number(got)
    if value is None:
        raise Mismatch(f"{what}: expected a number like {want:.6g}, got {describe(got)}", hint)
    if isinstance(want, int) and not isinstance(want, bool) and value != want:
        raise Mismatch(f"{what}: expected {want}, got {value:.6g}", known_mistake(value, mistakes, atol, rtol) or hint)
    if not math.isclose(value, want, rel_tol=rtol, abs_tol=atol):
        raise Mismatch(f"{what}: expected {want:.6g}, got {value:.6g}", known_mistake(value, mistakes, atol, rtol) or hint)
    return value


def as_number(value: Any) -> float | None:
    """A plain float from a float, an int or a one-element tensor; None for anything else."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, torch.Tensor) and value.numel() == 1 and (value.is_floating_point() or value.dtype == torch.int64):
        return float(value.reshape(()).item())
    return None


def equal(got: Any, want: Any, what: str, hint: str | None = None) -> None:
    """got must equal want exactly (plain data); the message points at the first difference."""
    if type(got) is type(want) and got == want:
        return
    if isinstance(got, dict) and isinstance(want, dict):
        missing, extra = [k for k in want if k not in got], [k for k in got if k not in want]
        if missing or extra:
            raise Mismatch(f"{what}: missing keys {missing}, unexpected keys {extra}" if missing and extra else
                           f"{what}: missing keys {missing}" if missing else f"{what}: unexpected keys {extra}", hint)
        for key in want:
            equal(got[key], want[key], f"{what}[{key!r}]", hint)
    if isinstance(got, (list, tuple)) and type(got) is type(want) and len(got) != len(want):
        raise Mismatch(f"{what}: expected {len(want)} items, got {len(got)}", hint)
    shown = repr(got) if len(repr(got)) <= 80 else describe(got)
    wanted = repr(want) if len(repr(want)) <= 80 else describe(want)
    raise Mismatch(f"{what}: expected {wanted}, got {shown}", hint)


def that(condition: bool, message: str, hint: str | None = None) -> None:
    """A behavioural check: condition must hold."""
    if not condition:
        raise Mismatch(message, hint)


def state(got: Any, want: dict[str, torch.Tensor], what: str, hint: str | None = None,
          atol: float = 1e-5, rtol: float = 1e-4) -> None:
    """got must be a dict of tensors with want's keys, each close to want's tensor."""
    if not isinstance(got, dict):
        raise Mismatch(f"{what}: expected a dict of tensors, got {describe(got)}", hint)
    if sorted(got) != sorted(want):
        missing, extra = sorted(set(want) - set(got)), sorted(set(got) - set(want))
        raise Mismatch(f"{what}: expected keys {sorted(want)}; missing {missing}, unexpected {extra}", hint)
    for key in want:
        tensor(got[key], want[key], f"{what}[{key!r}]", hint, atol=atol, rtol=rtol)
