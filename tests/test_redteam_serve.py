"""Red team of the grading service (course.front.serve) and of cluster grading (course.front.cluster).

A class of hostile and odd entries (names with control, bidi and non-UTF-8 bytes, a long name, a file of
exactly the size limit and one byte over, an empty folder, a zip, a notebook, a duplicate id, hostile text
from student code, and the sample class with its broken entries) is graded by the local batch; then:

- a service grades each entry to the Result the batch stored (timings aside), and keeps serving after each;
- a cluster writes the local gradebook for it, and no honest student gets another grade because of whom
  their entry shared a chunk with;
- an entry that ends every worker it runs on, graded first, costs no other student their grade;
- an entry whose ignored names exceed the service's message limit is graded as locally;
- the Gradescope autograder's output holds no raw control or bidi character from the student's folder names.
"""
from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import threading
import zipfile
from pathlib import Path

import pytest

from conftest import (CLASS, ENTRIES, GRADER, KILLER, KILLER_MARK, ROOT, SERVICE_SEED, SOLUTIONS, add_entry, ancestors,
                      batch, notebook, results, submission_from_solutions, unsafe_characters)
from course.content.curriculum import TASKS
from course.engine.submission import MAX_ENTRY_BYTES, MAX_FILE_BYTES, discover
from course.front.serve import Service

SEED = SERVICE_SEED  # the session's service (conftest) grades at this seed
FILES = sorted({task.file for task in TASKS.values()})
HOSTILE = [e for e in ENTRIES if e.name in ("raises-surrogate", "prints-escapes", "\x1b]52;c;aGk=\x07\u202eeman",
                                            "=HYPERLINK(1)", "nb-deep.ipynb")]


def fs(name: bytes) -> str:
    return os.fsdecode(name)


def padded(size: int) -> bytes:
    """The reference sec1_linear.py padded with a comment to exactly size bytes."""
    data = (SOLUTIONS / "sec1_linear.py").read_bytes()
    return data + b"#" + b"x" * (size - len(data) - 2) + b"\n"


def solutions_zip(path: Path, prefix: str = "") -> None:
    with zipfile.ZipFile(path, "w") as zf:
        for source in sorted(SOLUTIONS.glob("sec*.py")):
            zf.writestr(prefix + source.name, source.read_bytes())


def build_class(folder: Path) -> Path:
    for entry in sorted(CLASS.iterdir()):
        (shutil.copytree if entry.is_dir() else shutil.copy2)(entry, folder / entry.name)
    for entry in HOSTILE:
        add_entry(folder, entry)
    submission_from_solutions(folder / fs(b"non-utf8-\xff\xfe"))
    submission_from_solutions(folder / ("long-" + "l" * 240))
    submission_from_solutions(folder / "bidi-\u202eevil\u2066")
    exact = submission_from_solutions(folder / "exact-limit")
    (exact / "sec1_linear.py").write_bytes(padded(MAX_FILE_BYTES))
    over = submission_from_solutions(folder / "over-limit")
    (over / "sec1_linear.py").write_bytes(padded(MAX_FILE_BYTES + 1))
    (folder / "empty-folder").mkdir()
    zipfile.ZipFile(folder / "empty.zip", "w").close()
    (folder / "not-a-zip.zip").write_bytes(b"PK\x03\x04 truncated")
    solutions_zip(folder / "zipped.zip", "homework/")
    solutions_zip(folder / fs(b"zip-\xff.zip"))
    code = "\n\n".join((SOLUTIONS / f).read_text(encoding="utf-8") for f in FILES)
    (folder / "whole.ipynb").write_bytes(notebook(code.replace("from __future__ import annotations\n", "")))
    submission_from_solutions(folder / "dup")
    solutions_zip(folder / "dup.zip")
    for sid in ("hon-a", "hon-b", "hon-c", "hon-d"):
        submission_from_solutions(folder / sid)
    return folder


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory):
    base = tmp_path_factory.mktemp("rtserve")
    folder = build_class(base / "class")
    out = base / "local"
    ran = batch(folder, out, *SEED)
    assert ran.returncode in (0, 1) and "INTERNALERROR" not in ran.stdout + ran.stderr, ran
    return folder, out


def by_entry(out: Path) -> dict[tuple[str, str], dict]:
    """The stored results by (student, entry): two entries of one id (duplicates) kept apart."""
    found = {}
    for path in sorted((out / "students").glob("*.json")):
        data = json.loads(path.read_text(encoding="utf-8"))
        found[data["student"], data["entry"]] = data
    return found


def without_timing(graded: dict) -> dict:
    return {**graded, "grade": {k: v for k, v in graded["grade"].items() if k != "seconds"}}


def test_a_service_grades_every_hostile_entry_as_the_batch_does(hostile, seed7_service: Service) -> None:
    folder, out = hostile
    stored = by_entry(out)
    entries = discover(folder, FILES)
    assert len(entries) == len(stored)
    differ = {}
    service = seed7_service
    try:
        for entry in entries:
            try:
                graded = service.grade(entry)
            except Exception as error:  # noqa: BLE001  any failure is a finding; a fresh service for the next
                differ[entry.student] = f"{type(error).__name__}: {str(error)[:200]}"
                if service is not seed7_service:
                    service.close()
                service = Service(GRADER, list(SEED))
                continue
            if without_timing(graded) != without_timing(stored[entry.student, entry.name]):
                differ[entry.student] = "another Result"
    finally:
        if service is not seed7_service:
            service.close()
    assert differ == {}


def test_a_cluster_grades_the_hostile_class_as_the_local_batch(hostile, tmp_path: Path) -> None:
    folder, local = hostile
    out = tmp_path / "out"
    ran = batch(folder, out, *SEED, "--grader-cluster", "local:1")
    assert ran.returncode in (0, 1) and "INTERNALERROR" not in ran.stdout + ran.stderr, ran
    got, want = by_entry(out), by_entry(local)
    assert got.keys() == want.keys()
    differ = {k: (got[k]["status"], got[k]["message"][:120]) for k in want
              if (got[k]["status"], got[k]["grade"]["tasks"]) != (want[k]["status"], want[k]["grade"]["tasks"])}
    assert differ == {}
    assert (out / "gradebook.csv").read_bytes() == (local / "gradebook.csv").read_bytes()
    assert unsafe_characters((out / "cluster.json").read_text(encoding="utf-8")) == []
    assert unsafe_characters(ran.stderr) == []


def ours(pid: int, client: int) -> bool:
    """Whether pid descends from the client process (never another run's workers)."""

    return client in ancestors(pid)


def cluster_batch(subs: Path, out: Path, *args: str, during=None, timeout: float = 300) -> tuple[int | None, str]:
    """`pytest grader --submissions subs --out out --grader-cluster local:2` in a session of its own, with
    during(client pid) called in a thread while it runs; the exit status (None: it did not end in time) and its
    output. Whatever is left of the session is killed after."""
    import subprocess

    from conftest import command, environment

    log = open(out.with_name(out.name + ".log"), "w+")
    proc = subprocess.Popen(command(subs, out, *SEED, "--grader-cluster", "local:2", *args), cwd=ROOT,
                            env=environment(), stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    stop = threading.Event()
    watcher = threading.Thread(target=during, args=(proc.pid, stop), daemon=True) if during else None
    if watcher:
        watcher.start()
    try:
        status = proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        status = None
    finally:
        stop.set()
        if watcher:
            watcher.join()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
    log.seek(0)
    return status, log.read()


def honest_class(folder: Path, count: int) -> Path:
    folder.mkdir()
    for i in range(count):
        submission_from_solutions(folder / f"hon-{i:02d}")
    return folder


@pytest.mark.timeout(600)
def test_an_entry_that_ends_workers_graded_first_costs_no_one_else_their_grade(tmp_path: Path) -> None:
    """As tests/test_cluster.py's killer, but sorted first: the chunks queued behind it on the workers it ends."""
    from conftest import marked_processes

    subs = honest_class(tmp_path / "class", 16)
    killer = submission_from_solutions(subs / "aa-killer")
    text = (killer / "sec1_linear.py").read_text()
    future = "from __future__ import annotations\n"
    (killer / "sec1_linear.py").write_text(text.replace(future, future + KILLER, 1))
    killed: set[int] = set()

    def watch(client: int, stop: threading.Event) -> None:
        while not stop.wait(0.05):
            for runner in marked_processes(KILLER_MARK):
                chain = ancestors(runner)
                if client not in chain:
                    continue
                services = [i for i, pid in enumerate(chain) if pid in marked_processes("--grader-serve")]
                if services and services[0] + 1 < len(chain):
                    worker = chain[services[0] + 1]
                    if worker not in killed:
                        killed.add(worker)
                        with contextlib.suppress(ProcessLookupError):
                            os.kill(worker, signal.SIGKILL)

    status, output = cluster_batch(subs, tmp_path / "out", during=watch, timeout=400)
    assert status == 0, output[-3000:]
    graded = results(tmp_path / "out")
    assert graded["aa-killer"]["status"] == "error"
    others = {k: (v["status"], v["message"][:80]) for k, v in graded.items() if k != "aa-killer"}
    assert {k: v for k, v in others.items() if v[0] != "graded"} == {}, (len(killed), output[-2000:])


@pytest.mark.timeout(600)
def test_a_worker_lost_before_it_said_ready_is_not_waited_for_forever(tmp_path: Path) -> None:
    """A Dask worker that dies while the client waits for its service's readiness (a preempted job, an OOM
    kill): the client must not wait for that address for ever."""
    from conftest import marked_processes

    subs = honest_class(tmp_path / "class", 4)
    killed: list[int] = []

    def kill_first_worker(client: int, stop: threading.Event) -> None:
        while not stop.wait(0.05):
            services = [pid for pid in marked_processes("--grader-serve") if ours(pid, client)]
            if services:
                stop.wait(3)  # the client has registered its plugin and asked each worker whether it is ready
                parent = int(open(f"/proc/{services[0]}/stat").read().rsplit(")", 1)[1].split()[1])
                killed.append(parent)
                with contextlib.suppress(ProcessLookupError):
                    os.kill(parent, signal.SIGKILL)
                return

    status, output = cluster_batch(subs, tmp_path / "out", during=kill_first_worker, timeout=240)
    assert killed
    assert status is not None, "the client still waits: " + output[-2000:]


def many_names_zip(path: Path) -> None:
    """The references at the zip's root, and names of control bytes to the zip's size limit: each shown as
    \\x01, then escaped again by JSON, five bytes of message per byte of name."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as zf:
        for source in sorted(SOLUTIONS.glob("sec*.py")):
            zf.writestr(source.name, source.read_bytes())
        name_size = 60_000
        for i in range((MAX_ENTRY_BYTES - (1 << 20)) // (2 * (name_size + 5) + 100)):
            zf.writestr(f"{i:05d}" + "\x01" * name_size, b"")


def test_an_entry_with_many_ignored_names_is_graded_by_a_service(tmp_path: Path, seed7_service: Service) -> None:
    folder = tmp_path / "class"
    folder.mkdir()
    many_names_zip(folder / "names.zip")
    submission_from_solutions(folder / "next")
    out = tmp_path / "local"
    ran = batch(folder, out, *SEED)
    assert ran.clean, ran
    stored = results(out)
    for entry in discover(folder, FILES):
        graded = seed7_service.grade(entry)
        assert graded["status"] == stored[entry.student]["status"] == "graded"
        assert graded["grade"]["tasks"] == stored[entry.student]["grade"]["tasks"]


def test_the_autograders_output_shows_folder_names_escaped(tmp_path: Path) -> None:
    from course.front import release

    root = tmp_path / "autograder"
    (root / "results").mkdir(parents=True)
    (root / "source").symlink_to(ROOT)
    for folder in ("\x1b]52;c;aGk=\x07\u202efoo", fs(b"bad-\xff")):
        for name in ("sec1_linear.py", "sec2_forward.py"):
            (root / "submission" / "up" / folder).mkdir(parents=True, exist_ok=True)
            shutil.copy(SOLUTIONS / name, root / "submission" / "up" / folder / name)
    results_ = release.autograde(root)
    written = json.loads((root / "results" / "results.json").read_text(encoding="utf-8"))
    assert "in 2 folders" in written["output"], written["output"]
    assert unsafe_characters(written["output"]) == [], written["output"]
    assert results_["score"] == written["score"]


SLOW_START = '''import time
try:
    with open("/proc/self/cmdline", "rb") as f:
        if b"--grader-serve" in f.read():
            time.sleep(90)  # a service slow to get ready (a cold disk, a loaded machine)
except OSError:
    pass
'''


def test_the_autograders_timeout_bounds_the_whole_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """--timeout is "seconds for the whole grading run": a service slow to start counts, so that Gradescope's own
    limit never ends the run before results.json is written."""
    from course.front import release

    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(SLOW_START)
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(site), str(ROOT / "src"), os.environ.get("PYTHONPATH", "")]))
    root = tmp_path / "autograder"
    (root / "results").mkdir(parents=True)
    (root / "source").symlink_to(ROOT)
    (root / "submission").mkdir()
    for source in SOLUTIONS.glob("sec*.py"):
        shutil.copy(source, root / "submission" / source.name)
    results_ = release.autograde(root, timeout=10)
    assert results_["execution_time"] < 10 + 5, results_  # the service that was not ready is not waited for
    assert json.loads((root / "results" / "results.json").read_text())["score"] == 0
