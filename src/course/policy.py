"""A course's policies, from its one settings file: the due date, the late policy, extensions, what a student
sees of each check and when; and the instructor's overrides (OUT/overrides.csv).

The settings file is TOML (read with tomllib), every key optional:

    due = 2025-03-14T23:59:00+09:00      # a date and time with its offset
    published = false                     # "after_published" checks show in full once true

    [late]
    per_day = 10                          # percent of the points possible taken per day late (a started day counts)
    cap = 50                              # a late entry earns at most this percent of the points possible

    [extensions]                          # per student id: a due date of their own, or days added to `due`
    ada = 2025-03-16T23:59:00+09:00
    "123" = 2

    [visibility]                          # what a student sees of a check: visible, after_due_date, after_published, hidden
    default = "after_due_date"            # the default: expected values only after the due date
    "1.1" = "visible"                     # a task id, or a test's node id (the longest match wins)

    [canvas]
    assignment = "PyTorch basics"         # the gradebook column Canvas imports into (add " (<id>)" to match by id)

Policies are applied to a stored result when a class's files are rebuilt (apply), never to the stored result:
a rerun, a changed override or a changed due date rebuilds every file from the same graded results.
"""
from __future__ import annotations

import csv
import io
import math
import tomllib
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from fractions import Fraction
from pathlib import Path
from typing import Any

from course import untrusted
from course.i18n import _

VISIBILITIES = ("visible", "after_due_date", "after_published", "hidden")
DEFAULT_VISIBILITY = "after_due_date"
OVERRIDE_COLUMNS = ("student", "task", "points", "comment")
LATE_TASK = "late"  # an override of this task sets the late penalty itself (0 waives it)


class SettingsError(ValueError):
    """The settings file cannot be used: the message says which key and why."""


@dataclass(frozen=True)
class Settings:
    due: datetime | None = None
    published: bool = False
    per_day: float = 0.0  # percent of the points possible, per started day late
    cap: float | None = None  # percent of the points possible a late entry earns at most
    extensions: dict[str, datetime] = field(default_factory=dict)
    visibility: str = DEFAULT_VISIBILITY
    rules: dict[str, str] = field(default_factory=dict)  # task id or node id -> visibility
    canvas_assignment: str = ""
    given: bool = False  # whether a settings file was read (the gradebook's late columns appear only then)

    def due_for(self, student: str) -> datetime | None:
        return self.extensions.get(student, self.due)

    def visibility_of(self, nodeid: str, task: str) -> str:
        """The visibility of one check: the rule for its node id (or the longest prefix of it), else its task's, else
        the default."""
        matches = [key for key in self.rules if nodeid == key or nodeid.startswith(key + "::") or nodeid.startswith(key + "[")]
        if matches:
            return self.rules[max(matches, key=len)]
        return self.rules.get(task, self.visibility)

    def in_full(self, visibility: str, student: str, now: datetime) -> bool:
        """Whether a check of this visibility is shown in full (expected values included) at now."""
        if visibility == "visible":
            return True
        if visibility == "after_published":
            return self.published
        due = self.due_for(student)
        return due is None or now >= due

    def days_late(self, student: str, submitted: datetime | None, flagged: bool) -> int:
        """Started days past the student's due date (0 when on time or no due date); an entry the learning system
        marks late without a time counts as one day."""
        due = self.due_for(student)
        if due is None:
            return 0
        if submitted is None:
            return 1 if flagged else 0
        late = (submitted - due).total_seconds()
        return math.ceil(late / 86400) if late > 0 else 0

    def penalty(self, earned: float, possible: float, days: int) -> float:
        """The points taken for days late: per_day percent of possible per day, and no more than leaves the cap."""
        if days <= 0:
            return 0.0
        after = earned - possible * self.per_day / 100 * days
        if self.cap is not None:
            after = min(after, possible * self.cap / 100)
        return round(earned - max(after, 0.0), 6) if after < earned else 0.0


def load(path: Path | None) -> Settings:
    """The settings of a course's settings file (no file: the defaults). SettingsError names what is wrong."""
    if path is None:
        return Settings()
    try:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as e:
        raise SettingsError(f"{path}: cannot be read ({e})") from None
    except tomllib.TOMLDecodeError as e:
        raise SettingsError(f"{path}: not TOML ({e})") from None
    known = {"due", "published", "late", "extensions", "visibility", "canvas"}
    if unknown := sorted(set(data) - known):
        raise SettingsError(f"{path}: unknown key(s) {', '.join(unknown)} (known: {', '.join(sorted(known))})")
    due = _when(data.get("due"), "due", path) if "due" in data else None
    late = _table(data, "late", path)
    if unknown := sorted(set(late) - {"per_day", "cap"}):
        raise SettingsError(f"{path}: [late] has unknown key(s) {', '.join(unknown)} (known: per_day, cap)")
    per_day = _percent(late.get("per_day", 0), "late.per_day", path)
    cap = _percent(late["cap"], "late.cap", path) if "cap" in late else None
    extensions = {}
    for student, value in _table(data, "extensions", path).items():
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            if due is None:
                raise SettingsError(f"{path}: extensions.{student} gives days but there is no due date")
            extensions[student] = due + timedelta(days=value)
        else:
            extensions[student] = _when(value, f"extensions.{student}", path)
    shown = dict(_table(data, "visibility", path))
    for key, value in shown.items():
        if value not in VISIBILITIES:
            raise SettingsError(f"{path}: visibility.{key} is {value!r}; one of {', '.join(VISIBILITIES)}")
    default = shown.pop("default", DEFAULT_VISIBILITY)
    canvas = _table(data, "canvas", path)
    published = data.get("published", False)
    if not isinstance(published, bool):
        raise SettingsError(f"{path}: published is {published!r}, not true or false")
    return Settings(due=due, published=published, per_day=per_day, cap=cap, extensions=extensions, visibility=default,
                    rules=shown, canvas_assignment=str(canvas.get("assignment", "")), given=True)


def _table(data: dict, key: str, path: Path) -> dict:
    value = data.get(key, {})
    if not isinstance(value, dict):
        raise SettingsError(f"{path}: {key} must be a table ([{key}])")
    return value


def _when(value: Any, key: str, path: Path) -> datetime:
    if not isinstance(value, datetime) or value.tzinfo is None:
        raise SettingsError(f"{path}: {key} must be a date and time with its offset, as 2025-03-14T23:59:00+09:00")
    return value


def _percent(value: Any, key: str, path: Path) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 100:
        raise SettingsError(f"{path}: {key} is {value!r}, not a percent from 0 to 100")
    return float(value)


@dataclass(frozen=True)
class Override:
    task: str
    points: float
    comment: str
    row: int


def read_overrides(path: Path, tasks: dict) -> tuple[dict[str, list[Override]], list[str]]:
    """OUT/overrides.csv: per student, the overrides to apply; and a line for each row that cannot be used. Its
    text is the instructor's, yet it reaches every output, so it is made safe here."""
    if not path.is_file():
        return {}, []
    found: dict[str, list[Override]] = {}
    problems = []
    try:
        rows = list(csv.reader(io.StringIO(path.read_text(encoding="utf-8-sig"))))
    except (OSError, UnicodeDecodeError, csv.Error) as e:
        return {}, [f"{path.name} cannot be read ({untrusted.line(e)}): no override applied"]
    if not rows or tuple(c.strip().lower() for c in rows[0][:4]) != OVERRIDE_COLUMNS:
        return {}, [f"{path.name} must start with the header {','.join(OVERRIDE_COLUMNS)}: no override applied"]
    for number, row in enumerate(rows[1:], 2):
        if not any(c.strip() for c in row):
            continue
        student, task, points, comment = ([c.strip() for c in row] + [""] * 4)[:4]
        try:
            value = float(points)
        except ValueError:
            value = float("nan")
        possible = tasks[task].points if task in tasks else None
        if task != LATE_TASK and possible is None:
            problems.append(f"{path.name} row {number}: task {untrusted.line(task, 20)!r} is not a task of the course")
        elif not math.isfinite(value) or value < 0 or (possible is not None and value > possible):
            problems.append(f"{path.name} row {number}: points {untrusted.line(points, 20)!r} is not a number from 0 to "
                            f"{possible if possible is not None else 'the points possible'}")
        else:
            found.setdefault(student, []).append(Override(task, value, untrusted.line(comment, 200), number))
    return found, problems


def apply(stored: dict, settings: Settings, overrides: list[Override], now: datetime,
          submitted: datetime | None = None, flagged_late: bool = False) -> dict:
    """What a stored result shows: a copy with each test's feedback as its visibility allows at now, the
    instructor's overrides and the late penalty applied to the totals, each adjustment listed in
    grade["adjustments"] and said in the message. Test rows gain: visibility, full (the whole feedback),
    brief (without expected values) and feedback (what to show now)."""
    # a copy of every part changed below, the stored result left as it is (a deep copy of it all cost 7x as much)
    result = {**stored, "tests": [dict(test) for test in stored["tests"]],
              "grade": {**stored["grade"], "tasks": {tid: dict(row) for tid, row in stored["grade"]["tasks"].items()}}}
    student = result["student"]
    for test in result["tests"]:
        visibility = settings.visibility_of(test["nodeid"], test["task"])
        full = test.get("feedback", "")
        brief = test.get("brief") or full
        test.update(visibility=visibility, full=full, brief=brief)
        if visibility == "hidden":
            test["feedback"] = _("Task {task}: a hidden check failed").format(task=test["task"]) if full else ""
        elif full:
            test["feedback"] = full if settings.in_full(visibility, student, now) else brief
    grade = result["grade"]
    adjustments: list[dict] = []
    notes = []
    late_override = None
    for override in overrides:
        if override.task == LATE_TASK:
            late_override = override
            continue
        row = grade["tasks"].get(override.task)
        if row is None:
            continue
        adjustments.append({"kind": "override", "task": override.task, "from": row["earned"], "to": override.points,
                            "comment": override.comment})
        notes.append(_("Task {task} set to {points} of {possible} by your instructor").format(
            task=override.task, points=f"{override.points:g}", possible=f"{row['possible']:g}")
            + (f" ({override.comment})" if override.comment else ""))
        row["earned"] = override.points
        row["override"] = True
    earned = sum(r["earned"] for r in grade["tasks"].values())
    possible = sum(r["possible"] for r in grade["tasks"].values())
    days = settings.days_late(student, submitted, flagged_late)
    penalty = settings.penalty(earned, possible, days)
    if late_override is not None:
        adjustments.append({"kind": "override", "task": LATE_TASK, "from": penalty, "to": late_override.points,
                            "comment": late_override.comment})
        notes.append(_("late penalty set to {points} points by your instructor").format(points=f"{late_override.points:g}")
                     + (f" ({late_override.comment})" if late_override.comment else ""))
        penalty = min(late_override.points, earned)
    elif penalty:
        notes.append(_("{days} day(s) late: {points} points taken (late policy)").format(days=days, points=f"{penalty:g}"))
    if penalty or days:
        adjustments.append({"kind": "late", "days": days, "points": -penalty,
                            "submitted": submitted.isoformat() if submitted else ""})
    if adjustments or overrides:
        earned = round(earned - penalty, 6)
        grade.update(earned=earned, possible=possible,
                     percent=round(100 * earned / possible, 2) if possible else 0.0)
        grade["adjustments"] = adjustments
    if notes:
        result["message"] = "; ".join([m for m in (result["message"], *notes) if m])
    result["late"] = {"days": days, "penalty": penalty, "submitted": submitted.isoformat() if submitted else ""}
    return result


def point_unit(values: list[float]) -> Fraction:
    """The largest amount every value is a whole multiple of (0.5 for checks of 0.5, 1 and 2 points)."""
    unit = Fraction(0)
    for value in values:
        unit = _gcd(unit, Fraction(value).limit_denominator(1000))
    return unit or Fraction(1)


def _gcd(a: Fraction, b: Fraction) -> Fraction:
    return Fraction(math.gcd(a.numerator * b.denominator, b.numerator * a.denominator), a.denominator * b.denominator)


def read_submitted(path: Path) -> tuple[dict[str, datetime], list[str]]:
    """OUT/submitted.csv (student, submitted): when each entry was handed in, as an ISO date and time with its
    offset (what a learning system's submission report gives); and a line for each row that cannot be used."""
    if not path.is_file():
        return {}, []
    try:
        rows = list(csv.reader(io.StringIO(path.read_text(encoding="utf-8-sig"))))
    except (OSError, UnicodeDecodeError, csv.Error) as e:
        return {}, [f"{path.name} cannot be read ({untrusted.line(e)})"]
    found, problems = {}, []
    for number, row in enumerate(rows[1:], 2):
        student, when = ([c.strip() for c in row] + ["", ""])[:2]
        if (moment := parse_moment(when)) is None:
            problems.append(f"{path.name} row {number}: {untrusted.line(when, 40)!r} is not a date and time with its offset")
        else:
            found[student] = moment
    return found, problems


def parse_moment(value: object) -> datetime | None:
    """An ISO date and time with its offset (as learning systems write them), or None for anything else."""
    try:
        moment = datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        return None
    return moment if moment is not None and moment.tzinfo is not None else None
