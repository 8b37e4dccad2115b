"""Release the course: a student bundle and a Gradescope autograder, each stamped with the grader version.

    python -m course.front.release bundle --out DIR       # DIR/pytorch-basics/ and DIR/pytorch-basics.zip
    python -m course.front.release gradescope --out DIR   # DIR/gradescope_autograder.zip
        [--course-settings course.toml]                    # the course's policies (course.policy), in the zip
    python -m course.front.release autograde              # what the autograder's run_autograder runs

The bundle holds the stubs, the public checks of public/, a README and VERSION.json. It is assembled
in memory and checked before anything is written: no line of a solution region, no file of solutions/
or grader/ (by origin or by equal bytes), no stale stub. The autograder zip holds what grading needs
(the course package, grader/, solutions/) and is for the instructor's upload only.
"""
from __future__ import annotations

import argparse
import ast
import dataclasses
import hashlib
import io
import json
import os
import re
import shutil
import sys
import tempfile
import time
import traceback
import zipfile
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from course import i18n, policy, untrusted
from course.front import stubgen
from course.front.handin import exercise_files
from course.render import exports
from course.content.curriculum import SECTIONS, TASKS
from course.engine.result import write_atomic
from course.engine.submission import MAX_FILE_BYTES, discover, find_submitted
from course.front.serve import Service
from course.version import grader_version

BUNDLE = "pytorch-basics"
AUTOGRADER_ZIP = "gradescope_autograder.zip"
SETTINGS_FILE = "course.toml"  # in the autograder zip: the settings file given with --course-settings
LESSON_SUFFIXES = {".md", ".png", ".svg", ".jpg", ".jpeg", ".gif"}
ZIP_TIME = (1980, 1, 1, 0, 0, 0)  # fixed, so one source always gives the same zip
TRIVIAL = re.compile(r"^([\W_]*|else:|try:|finally:|pass|return|break|continue)$")


class Refused(Exception):
    """The release would leak or ship stale files; its args are the reasons, one a line."""


@dataclass(frozen=True)
class Course:
    """Where a release takes its files from (tests point it at a planted copy of the course)."""

    root: Path
    solutions: Path
    exercises: Path
    grader: Path
    public: Path
    package: Path  # src/course
    lessons: Path

    @classmethod
    def at(cls, root: Path) -> Course:
        """The usual layout of a course checkout rooted at root."""
        root = Path(root)
        return cls(root, root / "solutions", root / "exercises", root / "grader", root / "public",
                   root / "src" / "course", root / "lessons")

    @property
    def figures(self) -> Path:
        """The lesson's illustrations (course.render.figures writes them)."""
        return self.root / "docs" / "figures"

    def grader_version(self) -> str:
        """The version the batch grader reports for these files (same roots, same order as grading.py)."""
        return grader_version(self.solutions, self.grader)


def files_under(folder: Path) -> list[Path]:
    """Every regular file below folder, sorted, without caches."""
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.rglob("*") if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc")


def content_hash(files: dict[str, bytes]) -> str:
    """SHA-256 over each file's path and the SHA-256 of its bytes, in path order."""
    h = hashlib.sha256()
    for name in sorted(files):
        h.update(name.encode() + b"\0" + hashlib.sha256(files[name]).digest())
    return h.hexdigest()


def stamp(files: dict[str, bytes], kind: str, grader: str) -> bytes:
    """VERSION.json for a release: what it is, the grader version, the content hash and each file's hash."""
    data = {"course": BUNDLE, "release": kind, "grader": grader, "content_sha256": content_hash(files),
            "files": {name: hashlib.sha256(files[name]).hexdigest() for name in sorted(files)}}
    return (json.dumps(data, indent=1) + "\n").encode()


HANGUL = re.compile(r"[\uac00-\ud7a3]")


def section_summary(stub: bytes, lang: str = "en") -> str:
    """A stub's module docstring without its first line (the section title): the lesson in short, in lang
    (the stub says it in English, then in Korean: a paragraph in Hangul is the Korean one)."""
    doc = ast.get_docstring(ast.parse(stub)) or ""
    paragraphs = [p.strip() for p in "\n".join(doc.splitlines()[1:]).split("\n\n") if p.strip()]
    return "\n\n".join(p for p in paragraphs if bool(HANGUL.search(p)) == (lang == "ko"))


COMMANDS = {  # what the bundle's README tells a student to run, in the bundle's folder
    "python": "3.11",  # the oldest Python the pinned numpy installs on
    "install": "python -m pip install -r requirements.txt",
    "check": "pytest",
    "pack": "python public/pack.py",
}
CPU_INDEX = "https://download.pytorch.org/whl/cpu"

README_WORDS = {
    "en": {
        "title": "# PyTorch basics: exercises",
        "intro": "Four short lessons on PyTorch basics, each a Python file of exercises for you to fill in.",
        "other": "한국어: [README.ko.md](README.ko.md)",
        "how": "## How to work",
        "steps": [
            "1. With Python {python} or newer, in this folder, install what the grader runs, in one command",
            "   (best in a virtual environment of its own: `python -m venv .venv`, then `. .venv/bin/activate`,",
            "   or `.venv\\Scripts\\activate` on Windows):",
            "   `{install}`",
            "   (requirements.txt names PyTorch's CPU index: you get the CPU build of torch the grader runs, not a",
            "   multi-GB CUDA build).",
            "2. In each file, replace every `raise NotImplementedError(...)` with your code. Keep the names,",
            "   signatures and file names; a file may import torch and the standard library, not another exercise file.",
            "3. Check: run `{check}` in this folder (or in the folder above it). Each failed check says its task, what",
            "   it checked, what it expected and what it got, with a hint; a table ends the run, one line per task.",
            "   `pytest public/test_sec2_forward.py` checks one file, `pytest -v` adds tracebacks, and",
            "   `COURSE_LANG=ko pytest` says it all in Korean. Passing them is a good sign, not full marks: the",
            "   grader tries more inputs and cases.",
            "4. Hand in: run `{pack}`. It finds your exercise files (and names any file saved under another",
            "   name, such as `sec1_linear (1).py`: rename it), runs the checks once more and writes `submission.zip`",
            "   with {names} and a list of their hashes. Hand in that zip."],
        "lessons": "The lessons in full",
        "tasks": "## Lessons and tasks",
        "head": "| Task | Function | What | Points |",
        "total": "{total} points in all.",
        "stamp": "Release stamped for grader `{grader}`; `VERSION.json` lists each file's SHA-256.",
        "figure": "Figure",
    },
    "ko": {
        "title": "# PyTorch 기초: 실습",
        "intro": "PyTorch 기초를 다루는 짧은 강의 네 개입니다. 강의마다 여러분이 채울 실습 파일이 하나씩 있습니다.",
        "other": "English: [README.md](README.md)",
        "how": "## 진행 방법",
        "steps": [
            "1. Python {python} 이상에서, 이 폴더에서 채점기가 쓰는 패키지를 명령 하나로 설치합니다",
            "   (전용 가상 환경을 권합니다: `python -m venv .venv` 다음 `. .venv/bin/activate`,",
            "   Windows에서는 `.venv\\Scripts\\activate`):",
            "   `{install}`",
            "   (requirements.txt에 PyTorch의 CPU 인덱스가 적혀 있어, 몇 GB짜리 CUDA 빌드가 아니라 채점기와 같은",
            "   torch CPU 빌드를 받습니다).",
            "2. 각 파일에서 `raise NotImplementedError(...)`를 모두 여러분의 코드로 바꿉니다. 이름, 시그니처, 파일",
            "   이름은 그대로 두세요. 파일에서는 torch와 표준 라이브러리를 import할 수 있지만 다른 실습 파일은 안 됩니다.",
            "3. 확인: 이 폴더(또는 그 위 폴더)에서 `COURSE_LANG=ko {check}`를 실행합니다. 실패한 확인마다 과제, 확인한",
            "   내용, 기대값과 받은 값, 힌트를 보여 주고, 마지막에 과제마다 한 줄씩 표가 나옵니다.",
            "   `pytest public/test_sec2_forward.py`는 파일 하나만, `pytest -v`는 트레이스백까지 보여 줍니다.",
            "   모두 통과해도 만점이 보장되지는 않습니다. 채점기는 더 많은 입력과 경우를 시험합니다.",
            "4. 제출: `COURSE_LANG=ko {pack}`를 실행합니다. 실습 파일을 찾고(`sec1_linear (1).py`처럼 다른 이름으로",
            "   저장한 파일이 있으면 알려 줍니다. 이름을 바꾸세요), 확인을 한 번 더 돌린 뒤 `submission.zip`을 만듭니다.",
            "   zip에는 {names} 파일과 그 해시 목록이 들어 있습니다. 그 zip을 제출합니다."],
        "lessons": "강의 전문",
        "tasks": "## 강의와 과제",
        "head": "| 과제 | 함수 | 내용 | 점수 |",
        "total": "모두 {total}점입니다.",
        "stamp": "채점기 `{grader}` 기준으로 만든 배포본입니다. `VERSION.json`에 파일마다 SHA-256이 있습니다.",
        "figure": "그림",
    },
}


def student_readme(stubs: dict[str, bytes], lessons: list[str], grader: str, figures: list[str] = (),
                   lang: str = "en") -> str:
    """The bundle's README in lang: how to install, work and check, the lessons in short with their figure
    and tasks, and the version. lessons: the lesson files' names in the bundle (lessons/ko/ holds Korean)."""
    words = README_WORDS[lang]
    names = ", ".join(f"`{n}`" for n in exercise_files())
    lines = [words["title"], "", words["intro"], "", words["other"], "", words["how"], "",
             *(step.format(names=names, **COMMANDS) for step in words["steps"]), ""]
    own = [p for p in lessons if (p.split("/")[1] == "ko") == (lang == "ko")]
    if own:
        lines += [f"{words['lessons']}: " + ", ".join(f"[{Path(p).stem}]({p})" for p in own) + ".", ""]
    lines += [words["tasks"], ""]
    with i18n.using(lang):
        for number, title in SECTIONS.items():
            tasks = [t for t in TASKS.values() if t.section == number]
            file = tasks[0].file
            lines += [f"### {number}. {i18n._(title)} (`{file}`)", "", section_summary(stubs[file], lang), ""]
            lines += [f"![{words['figure']} {number}]({f})" for f in figures if Path(f).name.startswith(f"sec{number}_")]
            lines += ["", words["head"], "|------|----------|------|--------|"]
            lines += [f"| {t.id} | `{t.function}` | {i18n._(t.title)} | {t.points} |" for t in tasks]
            lines.append("")
    total = sum(t.points for t in TASKS.values())
    lines += [words["total"].format(total=total), "", words["stamp"].format(grader=grader), ""]
    return "\n".join(lines)


def course_imports(path: Path) -> set[str]:
    """The course modules a file imports, anywhere in it, as dotted names ("course.engine.checks")."""
    package = Path(__file__).resolve().parents[1]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        names = []
        if isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").split(".")[0] == "course":
            names = [node.module, *(f"{node.module}.{a.name}" for a in node.names)]
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        for name in names:
            if name.split(".")[0] == "course" and package.joinpath(*name.split(".")[1:]).with_suffix(".py").is_file():
                found.add(name)
    return found


def vendored(course: Course) -> dict[str, bytes]:
    """public/course/: the modules of the course package that the public checks import, and the modules those
    import, with the packages that hold them; and the Korean catalog cut to their messages. The public checks
    thus word a failure as the grader does, and ship no hidden test's text and no reference."""
    package = course.package
    todo = sorted(set().union(*(course_imports(p) for p in sorted(course.public.glob("*.py")))))
    shipped: set[str] = set()
    while todo:
        name = todo.pop()
        if name not in shipped:
            shipped.add(name)
            todo += sorted(course_imports(package.joinpath(*name.split(".")[1:]).with_suffix(".py")) - shipped)
    files: dict[str, bytes] = {}
    for name in sorted(shipped):
        parts = name.split(".")[1:]
        files["/".join(parts) + ".py"] = package.joinpath(*parts).with_suffix(".py").read_bytes()
        for depth in range(len(parts)):  # the packages on the way, down to course/ itself
            init = "/".join([*parts[:depth], "__init__.py"])
            files[init] = package.joinpath(*parts[:depth], "__init__.py").read_bytes()
    sources = [package.joinpath(n) for n in files if n.endswith(".py")] + sorted(course.public.glob("*.py"))
    wanted = i18n.extract(sources, course.root)
    if "content/curriculum.py" in files:
        wanted.update(i18n.curriculum_messages())
    for lang in i18n.LANGUAGES[1:]:
        po = package / "locale" / lang / "LC_MESSAGES" / f"{i18n.DOMAIN}.po"
        header, entries = i18n.read_po(po)
        files[f"locale/{lang}/LC_MESSAGES/{i18n.DOMAIN}.mo"] = i18n.mo_bytes(header, [e for e in entries if e.key in wanted])
    return {f"public/course/{name}": data for name, data in sorted(files.items())}


def requirements(course: Course) -> str:
    """The bundle's requirements.txt: the grader's own torch and numpy, and pytest."""
    pins = [line.strip() for line in (course.root / "constraints.txt").read_text(encoding="utf-8").splitlines()
            if line.strip().startswith(("torch==", "numpy=="))]
    return (f"# {COMMANDS['install']}   (Python {COMMANDS['python']} or newer)\n"
            "# PyTorch's CPU index, so that pip takes the CPU build of torch the grader runs (the torch of PyPI for\n"
            "# Linux is a multi-GB CUDA build); torch and numpy pinned to the grader's own.\n"
            f"--extra-index-url {CPU_INDEX}\n"
            + "".join(f"{pin}\n" for pin in pins) + "pytest>=8\n")


BUNDLE_INI = """\
[pytest]
# `pytest` in this folder runs the public checks against your files next to this one.
testpaths = public
pythonpath = .
markers =
    task(id): the task a check belongs to, e.g. task("2.2")
"""


def bundle_files(course: Course) -> tuple[dict[str, bytes], dict[str, Path]]:
    """The bundle's files (path inside the bundle -> bytes) and where each came from, VERSION.json aside."""
    files: dict[str, bytes] = {}
    origins: dict[str, Path] = {}

    def take(name: str, path: Path) -> None:
        files[name], origins[name] = path.read_bytes(), path

    for name in exercise_files():
        take(name, course.exercises / name)
    for path in sorted(course.public.glob("*.py")):
        take(f"public/{path.name}", path)
    lessons = [p for p in files_under(course.lessons) if p.suffix.lower() in LESSON_SUFFIXES]
    for path in lessons:
        take(f"lessons/{path.relative_to(course.lessons).as_posix()}", path)
    for path in sorted(course.figures.glob("*.png")):
        take(f"figures/{path.name}", path)
    stubs = {name: files[name] for name in exercise_files()}
    linked = [n for n in files if n.startswith("lessons/") and n.endswith(".md")]
    figures = [n for n in files if n.startswith("figures/")]
    for lang, name in (("en", "README.md"), ("ko", "README.ko.md")):
        files[name] = student_readme(stubs, linked, course.grader_version(), figures, lang).encode()
    files["pytest.ini"] = BUNDLE_INI.encode()
    files["requirements.txt"] = requirements(course).encode()
    files.update(vendored(course))
    return files, origins


def leaks(course: Course, files: dict[str, bytes], origins: dict[str, Path]) -> list[str]:
    """Every reason not to release these files: stale stubs, solution lines, files of solutions/ or grader/."""
    problems = [f"stale stub {course.exercises.name}/{n}: run python -m course.front.stubgen"
                for n in stubgen.stale_files(course.solutions, course.exercises)]
    secret: dict[str, str] = {}
    for path in sorted(course.solutions.glob("*.py")):
        for line in stubgen.solution_lines(path.read_text(encoding="utf-8"), str(path)):
            if not TRIVIAL.match(line):
                secret[line] = path.name
    private = {"solutions": course.solutions.resolve(), "grader": course.grader.resolve()}
    by_hash = {}
    for label, folder in private.items():
        for path in files_under(folder):
            data = path.read_bytes()
            if data:  # an empty file reveals nothing, and would match every other empty file
                by_hash[hashlib.sha256(data).digest()] = f"{label}/{path.relative_to(folder).as_posix()}"
    for name in sorted(files):
        origin = origins.get(name)
        for label, folder in private.items():
            if origin is not None and origin.resolve().is_relative_to(folder):
                problems.append(f"{name} comes from {label}/ ({origin})")
        twin = by_hash.get(hashlib.sha256(files[name]).digest())
        if twin:
            problems.append(f"{name} has the same bytes as {twin}")
        for number, line in enumerate(files[name].decode("utf-8", "replace").splitlines(), 1):
            code = line.strip().lstrip("#").strip()  # a commented-out solution line leaks as much
            if code in secret:
                problems.append(f"{name}:{number} holds a solution line of {secret[code]}: {code[:80]}")
    return problems


def zip_bytes(files: dict[str, bytes], prefix: str = "", executable: frozenset = frozenset()) -> bytes:
    """A reproducible zip of files (fixed times, Unix modes: 0755 for executable names, else 0644)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name in sorted(files):
            info = zipfile.ZipInfo(prefix + name, ZIP_TIME)
            info.create_system = 3  # Unix, so unzip restores the mode
            info.external_attr = (0o100755 if name in executable else 0o100644) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, files[name])
    return buf.getvalue()


def write_release(path: Path, data: bytes) -> None:
    """Write one release file whole (a reader never sees half of it)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def build_bundle(course: Course, out: Path) -> Path:
    """Check, then write out/pytorch-basics/ and out/pytorch-basics.zip; raise Refused instead when unsafe."""
    files, origins = bundle_files(course)
    problems = leaks(course, files, origins)
    if problems:
        raise Refused(*problems)
    files["VERSION.json"] = stamp(files, "student bundle", course.grader_version())
    folder = out / BUNDLE
    if folder.exists():
        shutil.rmtree(folder)  # a rebuild starts from an empty folder
    for name, data in files.items():
        write_release(folder / name, data)
    write_release(out / f"{BUNDLE}.zip", zip_bytes(files, prefix=f"{BUNDLE}/"))
    return folder


SETUP_SH = """\
#!/usr/bin/env bash
# Gradescope runs this once, while it builds the autograder image: Python 3.11+, CPU torch, the course package.
set -euxo pipefail
SOURCE=/autograder/source
export DEBIAN_FRONTEND=noninteractive
apt-get update
if python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
  apt-get install -y --no-install-recommends python3-venv
  PYTHON=python3
else  # Ubuntu 22.04 ships 3.10
  apt-get install -y --no-install-recommends python3.11 python3.11-venv
  PYTHON=python3.11
fi
"$PYTHON" -m venv /autograder/venv
/autograder/venv/bin/python -m pip install --upgrade pip
/autograder/venv/bin/python -m pip install -c "$SOURCE/constraints.txt" torch --index-url https://download.pytorch.org/whl/cpu
/autograder/venv/bin/python -m pip install -c "$SOURCE/constraints.txt" "$SOURCE"
"""

RUN_AUTOGRADER = """\
#!/usr/bin/env bash
# Gradescope runs this for each submission: grade $ROOT/submission into $ROOT/results/results.json.
# AUTOGRADER_ROOT replaces /autograder (tests); python3 is setup.sh's venv, else the first on PATH.
# The course package is this zip's own copy (source/src), in the judge and in the worker alike.
ROOT="${AUTOGRADER_ROOT:-/autograder}"
if [ -x "$ROOT/venv/bin/python3" ]; then PATH="$ROOT/venv/bin:$PATH"; fi
export PYTHONPATH="$ROOT/source/src"
mkdir -p "$ROOT/results"
rm -f "$ROOT/results/results.json"
cd "$ROOT/source" && python3 -m course.front.release autograde --root "$ROOT"
status=$?
if [ ! -s "$ROOT/results/results.json" ]; then  # no Python or no packages (setup.sh failed): still a valid result
  printf '{"score": 0, "tests": [], "output": "The autograder could not start (exit status %s). Your instructor can see its log."}\\n' \\
    "$status" > "$ROOT/results/results.json"
fi
exit 0
"""


def autograder_files(course: Course, settings: Path | None = None) -> dict[str, bytes]:
    """What the Gradescope zip holds: its two scripts, the package source, grader/, solutions/, pins, and the
    course's settings file (course.policy) as SETTINGS_FILE when one is given."""
    files = {"setup.sh": SETUP_SH.encode(), "run_autograder": RUN_AUTOGRADER.encode()}
    if settings is not None:
        files[SETTINGS_FILE] = Path(settings).read_bytes()
    for name in ("pyproject.toml", "constraints.txt", "README.md"):  # pyproject names README.md as the readme
        files[name] = (course.root / name).read_bytes()
    for label, folder in (("src/course", course.package), ("grader", course.grader), ("solutions", course.solutions)):
        for path in files_under(folder):
            files[f"{label}/{path.relative_to(folder).as_posix()}"] = path.read_bytes()
    return files


def build_gradescope(course: Course, out: Path, settings: Path | None = None) -> Path:
    """Write out/gradescope_autograder.zip with setup.sh and run_autograder at its root (and the settings file,
    when given: policy.SettingsError names what is wrong with it, and nothing is written)."""
    if settings is not None:
        policy.load(settings)
    files = autograder_files(course, settings)
    files["VERSION.json"] = stamp(files, "gradescope autograder", course.grader_version())
    path = out / AUTOGRADER_ZIP
    write_release(path, zip_bytes(files, executable=frozenset({"setup.sh", "run_autograder"})))
    return path


def gradescope_policy(root: Path) -> tuple[policy.Settings, datetime | None]:
    """The course's settings for this submission, and when it was submitted. The settings are the zip's settings
    file (none: the defaults, and no policy is applied); Gradescope's own due date for this submission wins over
    the file's due date and extensions: Gradescope shows the student that date, grants extensions in it, and
    releases after_due_date entries at it. That date is the latest of the submitters' own due dates (users[].
    assignment.due_date, where an extension shows), else the assignment's due date, from
    root/submission_metadata.json; the submission time is its created_at. A field that is absent or not a date
    and time with its offset is left out."""
    path = root / "source" / SETTINGS_FILE
    settings = policy.load(path if path.is_file() else None)
    try:
        meta = json.loads((root / "submission_metadata.json").read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError):  # nested too deep for the decoder: not Gradescope's either
        meta = {}
    meta = meta if isinstance(meta, dict) else {}
    users = meta.get("users") if isinstance(meta.get("users"), list) else []
    own = [when for user in users if (when := policy.parse_moment(_field(user, "assignment", "due_date")))]
    due = max(own, default=None) or policy.parse_moment(_field(meta, "assignment", "due_date"))
    if due is not None and settings.given:
        if settings.due not in (None, due):
            print(f"course settings: due {settings.due.isoformat()}; Gradescope's due date {due.isoformat()} is used")
        settings = dataclasses.replace(settings, due=due, extensions={})
    return settings, policy.parse_moment(meta.get("created_at"))


def _field(data: object, *keys: str) -> object:
    """data[keys[0]][keys[1]]..., or None where a level is not a dict or lacks the key."""
    for key in keys:
        data = data.get(key) if isinstance(data, dict) else None
    return data


def grade_submission(root: Path, timeout: float) -> dict:
    """Grade root/submission with a grading service (course.front.serve) and return Gradescope's results, with
    the course's settings (gradescope_policy) applied when the zip holds them."""
    deadline = time.monotonic() + timeout  # the whole run: a service slow to start counts too
    source = root / "source"
    settings, submitted = gradescope_policy(root)
    names = exercise_files()  # and each one's notebook, which the grader reads when the .py is absent
    chosen, notes = find_submitted(root / "submission", names + [str(Path(n).with_suffix(".ipynb")) for n in names])
    notes = [untrusted.line(note, untrusted.TEXT_LIMIT) for note in notes]  # they name the student's folders
    with tempfile.TemporaryDirectory(prefix="autograde-") as tmp:
        folder = Path(tmp) / "submission"
        folder.mkdir()
        for name, path in chosen.items():
            with open(path, "rb") as f:  # at most one byte over the cap: the grader says the file is too large
                (folder / name).write_bytes(f.read(MAX_FILE_BYTES + 1))
        (entry,) = discover(Path(tmp), names)  # the one reader of a submission, with its limits
        sys.stdout.flush()
        with Service(source / "grader", log=None) as service:  # its output goes to the instructor's log
            service.ready(max(1.0, deadline - time.monotonic()))
            result = service.grade(entry, seconds=max(1.0, deadline - time.monotonic()))
    if settings.given:
        result = policy.apply(result, settings, [], datetime.now(timezone.utc), submitted)
    results = exports.gradescope_results(result)
    key = result["key"]
    head = f"Graded by grader {key['grader']} (seed {key['seed']})."
    results["output"] = "\n".join([head, *notes, results.get("output", "")]).strip()
    results["extra_data"] = {"grader_version": key["grader"], "seed": key["seed"], "submission_sha256": key["content"],
                             "files": result["grade"].get("submission", {}).get("files", {})}
    return results


def autograde(root: Path, timeout: float = 480.0) -> dict:
    """Write root/results/results.json for root/submission, whatever happens (a crash scores 0 with a message)."""
    started = time.monotonic()
    try:
        results = grade_submission(root, timeout)
    except Exception as error:  # noqa: BLE001  every failure still ends in a valid results.json
        traceback.print_exc()
        why = f"{type(error).__name__}: {error}"[:300]
        results = {"score": 0.0, "tests": [], "extra_data": {},
                   "output": f"The autograder could not grade this submission ({why}). Your instructor can see its log."}
    try:
        results["extra_data"]["autograder"] = json.loads((root / "source" / "VERSION.json").read_text(encoding="utf-8"))
        results["extra_data"]["autograder"].pop("files", None)
    except (OSError, ValueError):
        results["extra_data"]["autograder"] = None
    results["execution_time"] = round(time.monotonic() - started, 2)
    write_atomic(root / "results" / "results.json", json.dumps(results, indent=1) + "\n")
    return results


def main(argv: list[str] | None = None) -> int:
    """The command line: bundle, gradescope or autograde."""
    parser = argparse.ArgumentParser(prog="python -m course.front.release", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    for name, text in (("bundle", "the student bundle: a folder and a zip"), ("gradescope", "the Gradescope autograder zip")):
        sub = commands.add_parser(name, help=text)
        sub.add_argument("--out", type=Path, required=True, help="folder to write into")
        sub.add_argument("--course", type=Path, default=Path("."), help="the course checkout (default: here)")
        if name == "gradescope":
            sub.add_argument("--course-settings", metavar="TOML", type=Path, default=None,
                             help="the course's settings file (visibility of checks, due date, late policy; see "
                                  "course.policy), put in the zip and applied to each results.json")
    sub = commands.add_parser("autograde", help="grade ROOT/submission into ROOT/results/results.json")
    sub.add_argument("--root", type=Path, default=Path(os.environ.get("AUTOGRADER_ROOT", "/autograder")))
    sub.add_argument("--timeout", type=float, default=480.0, help="seconds for the whole grading run (default 480)")
    args = parser.parse_args(argv)
    if args.command == "autograde":
        results = autograde(args.root, args.timeout)
        print(f"score {results['score']:g}; wrote {args.root / 'results' / 'results.json'}")
        return 0
    course = Course.at(args.course)
    if not any(p.name != "__init__.py" for p in course.solutions.glob("*.py")):
        parser.error(f"{course.solutions}/ holds no solution files; pass --course with the course checkout")
    if args.command == "gradescope":
        try:
            print(f"wrote {build_gradescope(course, args.out, args.course_settings)}")
        except policy.SettingsError as e:
            print(f"--course-settings: {untrusted.line(e, 400)}", file=sys.stderr)
            return 1
        return 0
    try:
        folder = build_bundle(course, args.out)
    except Refused as refused:
        print("refusing to write the bundle:", *(f"  {p}" for p in refused.args), sep="\n", file=sys.stderr)
        return 1
    print(f"wrote {folder}/ and {args.out / (BUNDLE + '.zip')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
