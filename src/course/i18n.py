"""English and Korean for what a student reads: a gettext catalog, English by default.

Every message is written in English in the code, as ``_("{name} returned {got}")`` with named
placeholders that are filled in after translation (``.format(name=..., got=...)``). The Korean text
lives in ``locale/ko/LC_MESSAGES/course.po``; the grader reads the compiled ``course.mo`` beside it
with the standard library's gettext, so grading needs no build step.

    python -m course.i18n update    # add new messages to course.po (untranslated), drop unused ones
    python -m course.i18n compile   # write course.mo from course.po
    python -m course.i18n check     # exit 1 when a message lacks Korean, placeholders differ or course.mo is stale

The grading plugin picks the language from ``--lang``, else the ``COURSE_LANG`` environment variable,
else English, and sets it before the grader's tests are imported (they read messages at import time).
"""
from __future__ import annotations

import ast
import contextlib
import gettext
import os
import re
import struct
import sys
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

DOMAIN = "course"
LANGUAGES = ("en", "ko")  # English is the source language: its catalog is the code itself
ENVIRONMENT = "COURSE_LANG"
LOCALE = Path(__file__).resolve().parent / "locale"
ROOT = Path(__file__).resolve().parents[2]  # the course checkout (the package is installed editable)
PLACEHOLDER = re.compile(r"\{[A-Za-z_]\w*(?:![rsa])?(?::[^{}]*)?\}")  # {name}, {value:.3g}, {got!r}
CONTEXT = "\x04"  # gettext's separator between a message's context and its msgid
UNNAMED = re.compile(r"\{\d*(?:![rsa])?(?::[^{}]*)?\}")  # {} or {0}: not allowed in a message

_language = "en"
_translation: gettext.NullTranslations = gettext.NullTranslations()


def _(message: str) -> str:
    """message in the current language (the English text itself when there is no translation)."""
    return _translation.gettext(message) if message else message  # gettext("") is the catalog's header


def C_(context: str, message: str) -> str:
    """message in the current language, in a context that tells it apart from the same English elsewhere
    (a column heading "points" against the unit in "16 / 41 points")."""
    return _translation.pgettext(context, message) if message else message


def N_(message: str) -> str:
    """Mark message for the catalog without translating it now: pass it through _() where it is shown."""
    return message


class Words(Mapping):
    """English messages by key, each marked with N_(); looking one up gives it in the current language."""

    def __init__(self, english: dict[str, str]) -> None:
        self._english = dict(english)

    def __getitem__(self, key: str) -> str:
        return _(self._english[key])

    def __iter__(self):
        return iter(self._english)

    def __len__(self) -> int:
        return len(self._english)


def language() -> str:
    """The current language: "en" or "ko"."""
    return _language


def set_language(lang: str) -> None:
    """Translate from now on into lang ("en" or "ko"); a missing catalog is an error, never silent English."""
    global _language, _translation
    if lang not in LANGUAGES:
        raise ValueError(f"unknown language {lang!r}: choose one of {', '.join(LANGUAGES)}")
    if lang == "en":
        _translation = gettext.NullTranslations()
    else:
        _translation = gettext.translation(DOMAIN, localedir=str(LOCALE), languages=[lang])
    _language = lang


@contextlib.contextmanager
def using(lang: str):
    """Translate into lang inside a with block, then return to the language before it."""
    before = _language
    set_language(lang)
    try:
        yield
    finally:
        set_language(before)


def choose(option: str | None, environ: dict | None = None) -> str:
    """The language to grade in: the option if given, else COURSE_LANG (ko, ko_KR.UTF-8, ...), else "en"."""
    if option:
        return option
    value = (os.environ if environ is None else environ).get(ENVIRONMENT, "").strip()
    if not value:
        return "en"
    lang = re.split(r"[_.@-]", value, maxsplit=1)[0].lower()
    if lang not in LANGUAGES:
        raise ValueError(f"{ENVIRONMENT}={value!r}: choose one of {', '.join(LANGUAGES)}")
    return lang


def width(text: str) -> int:
    """Columns text takes in a terminal: Hangul and other wide characters take two."""
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def pad(text: str, columns: int, align: str = "<") -> str:
    """text padded with spaces to columns terminal columns, left (<) or right (>) aligned."""
    fill = " " * max(0, columns - width(text))
    return text + fill if align == "<" else fill + text


@dataclass
class Entry:
    """One message of a .po file: the English msgid, its translation, where the code uses it, its context."""

    msgid: str
    msgstr: str = ""
    where: list[str] = field(default_factory=list)
    msgctxt: str = ""

    @property
    def key(self) -> str:
        """The message as the .mo file and extract() name it: the context, if any, then the msgid."""
        return f"{self.msgctxt}{CONTEXT}{self.msgid}" if self.msgctxt else self.msgid

    @classmethod
    def of(cls, key: str, msgstr: str = "", where: list[str] | None = None) -> Entry:
        context, _sep, msgid = key.rpartition(CONTEXT)
        return cls(msgid, msgstr, list(where or []), context)


def _unquote(text: str) -> str:
    """The value of one quoted .po string (C escapes)."""
    escapes = {"n": "\n", "t": "\t", "r": "\r", '"': '"', "\\": "\\"}
    return re.sub(r"\\(.)", lambda m: escapes.get(m[1], m[0]), text[1:-1])


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\t", "\\t") + '"'


def read_po(path: Path) -> tuple[str, list[Entry]]:
    """(header, entries) of a .po file: the header is the msgstr of the empty msgid."""
    entries: list[Entry] = []
    current, key, fresh = None, None, True  # fresh: the current entry has no msgid yet
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        line = line.strip()
        if line.startswith(("#:", "msgctxt ", "msgid ")) and (current is None or not fresh):
            current, key, fresh = Entry(""), None, True
            entries.append(current)
        if line.startswith("#:"):
            current.where += line[2:].split()
        elif line.startswith(("msgctxt ", "msgid ", "msgstr ")):
            key, value = line.split(" ", 1)
            fresh = fresh and key != "msgid"
            setattr(current, key, _unquote(value))
        elif line.startswith('"') and key:
            setattr(current, key, getattr(current, key) + _unquote(line))
        elif line and not line.startswith("#"):
            raise ValueError(f"{path}:{number}: cannot read {line[:40]!r}")
    header = entries.pop(0).msgstr if entries and entries[0].msgid == "" else ""
    return header, entries


def write_po(path: Path, header: str, entries: list[Entry], comment: str) -> None:
    """Write a .po file: the comment, the header entry, then each entry with its references."""
    lines = [f"# {line}".rstrip() for line in comment.splitlines()]
    lines += ['msgid ""', 'msgstr ""', *(_quote(h + "\n") for h in header.splitlines()), ""]
    for entry in entries:
        lines += [f"#: {' '.join(entry.where)}"] if entry.where else []
        lines += [f"msgctxt {_quote(entry.msgctxt)}"] if entry.msgctxt else []
        lines += [f"msgid {_quote(entry.msgid)}", f"msgstr {_quote(entry.msgstr)}", ""]
    path.write_text("\n".join(lines), encoding="utf-8")


def mo_bytes(header: str, entries: list[Entry]) -> bytes:
    """A GNU .mo file holding the header and every translated entry (sorted, no hash table)."""
    pairs = sorted([("", header)] + [(e.key, e.msgstr) for e in entries if e.msgstr])
    ids = [k.encode() for k, _ in pairs]
    strs = [v.encode() for _, v in pairs]
    start = 7 * 4 + 16 * len(pairs)  # header, two tables of (length, offset)
    offsets, data = [], b""
    for text in ids + strs:
        offsets.append((len(text), start + len(data)))
        data += text + b"\0"
    table = b"".join(struct.pack("<2I", *o) for o in offsets)
    head = struct.pack("<7I", 0x950412DE, 0, len(pairs), 28, 28 + 8 * len(pairs), 0, start)
    return head + table + data


def catalog_paths(lang: str = "ko") -> tuple[Path, Path]:
    """(.po, .mo) of a language."""
    folder = LOCALE / lang / "LC_MESSAGES"
    return folder / f"{DOMAIN}.po", folder / f"{DOMAIN}.mo"


CHECK_FOLDERS = ("grader", "public")  # the grader's tests and the public checks: each test's docstring is its title


def sources(root: Path = ROOT) -> list[Path]:
    """The files whose messages the catalog holds: the course package, the grader suite and the public checks
    (with their conftest.py, which reports a failed check)."""
    checks = [path for folder in CHECK_FOLDERS for path in (root / folder).glob("*.py")]
    return sorted([*(root / "src" / "course").rglob("*.py"), *checks])


class ExtractError(ValueError):
    """A message the catalog cannot hold: an f-string or unnamed placeholder inside _()."""


def curriculum_messages() -> dict[str, list[str]]:
    """The curriculum's section names and task titles, which feedback pages and notebooks show translated."""
    from course.content.curriculum import SECTIONS, TASKS

    found: dict[str, list[str]] = {}
    for text in [*SECTIONS.values(), *(t.title for t in TASKS.values())]:
        found.setdefault(text, []).append("src/course/content/curriculum.py")
    return found


def extract(paths: list[Path], root: Path = ROOT) -> dict[str, list[str]]:
    """message -> ["path:line", ...] for every _("...") and N_("...") with a string literal, every C_("context",
    "...") (as context, CONTEXT, message), and the first line of each test's docstring (test_* functions and
    methods in grader/test_*.py and public/test_*.py: the check's title)."""
    found: dict[str, list[str]] = {}
    for path in paths:
        name = path.relative_to(root).as_posix() if path.is_relative_to(root) else path.name
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        for node in sorted((n for n in ast.walk(tree) if hasattr(n, "lineno")), key=lambda n: (n.lineno, n.col_offset)):
            message = None
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in ("_", "N_") \
                    and len(node.args) == 1 and not node.keywords:
                arg = node.args[0]
                if isinstance(arg, ast.JoinedStr):
                    raise ExtractError(f"{name}:{node.lineno}: an f-string inside {node.func.id}(): use named "
                                       "placeholders and .format() after translating")
                if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                    message = arg.value
            elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "C_" \
                    and len(node.args) == 2 and not node.keywords:
                if not all(isinstance(a, ast.Constant) and isinstance(a.value, str) for a in node.args):
                    raise ExtractError(f"{name}:{node.lineno}: C_() takes two string literals")
                message = f"{node.args[0].value}{CONTEXT}{node.args[1].value}"
            elif isinstance(node, ast.FunctionDef) and node.name.startswith("test_") \
                    and path.name.startswith("test_") and path.parent.name in CHECK_FOLDERS:
                doc = (ast.get_docstring(node) or "").strip()
                message = doc.splitlines()[0] if doc else None
            if message:
                if UNNAMED.search(message.replace("{{", "").replace("}}", "")) and isinstance(node, ast.Call):
                    raise ExtractError(f"{name}:{node.lineno}: {message[:40]!r} has an unnamed placeholder")
                found.setdefault(message, []).append(f"{name}:{node.lineno}")
    return found


def messages(root: Path = ROOT) -> dict[str, list[str]]:
    """Every message the catalog must hold, with where it is used: the curriculum's and the code's."""
    return {**curriculum_messages(), **extract(sources(root), root)}


def placeholders(text: str) -> list[str]:
    """The named placeholders of a message, sorted (the translation must have the same ones)."""
    return sorted(PLACEHOLDER.findall(text.replace("{{", "").replace("}}", "")))


def problems(lang: str = "ko", root: Path = ROOT) -> list[str]:
    """What is wrong with a language's catalog: messages missing, untranslated or unused, placeholders
    that differ, a .mo that is not the compiled .po."""
    po, mo = catalog_paths(lang)
    header, entries = read_po(po)
    used = messages(root)
    known = {e.key: e for e in entries}
    found = [f"not in {po.name}: {m!r} ({', '.join(used[m][:2])})" for m in used if m not in known]
    for entry in entries:
        if entry.key not in used:
            found.append(f"unused entry in {po.name}: {entry.msgid!r}")
        elif not entry.msgstr.strip():
            found.append(f"no translation: {entry.msgid!r}")
        elif placeholders(entry.msgid) != placeholders(entry.msgstr):
            found.append(f"placeholders differ: {entry.msgid!r} has {placeholders(entry.msgid)}, "
                         f"the translation {placeholders(entry.msgstr)}")
    if not mo.is_file() or mo.read_bytes() != mo_bytes(header, entries):
        found.append(f"{mo} is stale: run python -m course.i18n compile")
    return found


PO_COMMENT = ("Korean for everything the course's grader shows a student.\n"
              "Edit the msgstr lines; then run python -m course.i18n compile (and check).")


def update(lang: str = "ko", root: Path = ROOT) -> tuple[int, int]:
    """Bring the .po in line with the code: new messages added untranslated, unused ones dropped, references
    refreshed, in order of first use. Returns (added, dropped)."""
    po, _mo = catalog_paths(lang)
    header, entries = read_po(po) if po.is_file() else (
        "Project-Id-Version: pytorch-basics-course\nLanguage: " + lang + "\nMIME-Version: 1.0\n"
        "Content-Type: text/plain; charset=UTF-8\nContent-Transfer-Encoding: 8bit\n", [])
    known = {e.key: e.msgstr for e in entries}
    used = messages(root)
    fresh = [Entry.of(m, known.get(m, ""), where) for m, where in used.items()]
    po.parent.mkdir(parents=True, exist_ok=True)
    write_po(po, header, fresh, PO_COMMENT)
    return len(used.keys() - known.keys()), len(known.keys() - used.keys())


def compile_catalog(lang: str = "ko") -> Path:
    """Write the .mo of a language from its .po; returns its path."""
    po, mo = catalog_paths(lang)
    mo.write_bytes(mo_bytes(*read_po(po)))
    return mo


def main(argv: list[str] | None = None) -> int:
    """Command line: update, compile or check the Korean catalog."""
    args = sys.argv[1:] if argv is None else argv
    if args not in (["update"], ["compile"], ["check"]):
        print("usage: python -m course.i18n {update,compile,check}", file=sys.stderr)
        return 2
    if args == ["update"]:
        added, dropped = update()
        print(f"{catalog_paths()[0]}: {added} new message(s) to translate, {dropped} unused dropped")
    elif args == ["compile"]:
        print(f"wrote {compile_catalog()}")
    else:
        found = problems()
        for problem in found:
            print(problem)
        print(f"{len(found)} problem(s)" if found else "the Korean catalog is complete and compiled")
        return 1 if found else 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
