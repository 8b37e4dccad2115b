"""Grading on a Dask cluster (course.front.cluster) with a real LocalCluster: the same gradebook as a local
run for the same seed, whatever happens to a worker or to the client on the way."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from conftest import CLASS, KILLER, KILLER_MARK, ROOT, ancestors, batch, command, environment, marked_processes, results

SEED = ("--grader-seed", "11")
CLUSTER = ("--grader-cluster", "local:2")


@pytest.fixture(scope="module")
def klass(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Twenty entries: each sample folder twice over (so a worker can be killed while students remain)."""
    import shutil

    folder = tmp_path_factory.mktemp("cluster") / "class"
    folder.mkdir()
    for copy in ("a", "b"):
        for entry in sorted(CLASS.iterdir()):
            target = folder / f"{entry.stem}-{copy}{entry.suffix}"
            (shutil.copytree if entry.is_dir() else shutil.copy2)(entry, target)
    return folder


@pytest.fixture(scope="module")
def local(klass: Path) -> Path:
    out = klass.parent / "local"
    ran = batch(klass, out, *SEED)
    assert ran.clean, ran
    return out


def same_outputs(out: Path, local: Path) -> list[str]:
    """Files for readers that differ from the local run's (the stored results differ in timings only)."""
    differ = []
    for path in sorted(local.rglob("*")):
        relative = path.relative_to(local)
        if path.is_file() and relative.parts[0] != "students" and path.name != "batch.json":
            if not (out / relative).is_file() or (out / relative).read_bytes() != path.read_bytes():
                differ.append(str(relative))
    return differ


def wait_for_results(out: Path, count: int, proc: subprocess.Popen, seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while len(list((out / "students").glob("*.json")) if (out / "students").is_dir() else []) < count:
        assert proc.poll() is None, "the batch ended before it could be interrupted"
        assert time.monotonic() < deadline, "no results in time"
        time.sleep(0.05)


def kill_a_worker(out: Path, proc: subprocess.Popen) -> None:
    """SIGKILL one Dask worker process (the parent of a grading service) mid-batch."""
    wait_for_results(out, 4, proc)
    services = marked_processes("--grader-serve")
    parents = {int(open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[1]) for pid in services}
    parents.discard(os.getpid())  # a service of this test process (conftest's seed7_service, in another order)
    assert parents, "no grading service found"
    os.kill(sorted(parents)[0], signal.SIGKILL)


def kill_the_client(out: Path, proc: subprocess.Popen) -> None:
    """SIGKILL the client and everything in its session (its LocalCluster too) mid-batch."""
    wait_for_results(out, 4, proc)
    os.killpg(proc.pid, signal.SIGKILL)


@dataclass(frozen=True)
class Case:
    name: str
    interrupt: object = None  # what happens mid-batch: called with (out, the client's process)
    reruns: int = 0  # runs after the interrupted one


CASES = [
    Case("uninterrupted"),
    Case("a worker killed mid-batch", kill_a_worker),
    Case("the client killed mid-batch, then run again", kill_the_client, reruns=1),
]


def cluster_run(klass: Path, out: Path, case: Case, *args: str) -> tuple[int, str, str]:
    """The cluster batch of klass into out with args, case's interruption on the way: its exit code, its
    standard output and its standard error."""
    log, err = open(out.with_name("client.log"), "w+"), open(out.with_name("client.err"), "w+")
    proc = subprocess.Popen(command(klass, out, *SEED, *CLUSTER, *args), cwd=ROOT, env=environment(), stdout=log,
                            stderr=err, start_new_session=True)
    try:
        if case.interrupt is not None:
            case.interrupt(out, proc)
        proc.wait(timeout=300)
    finally:
        with __import__("contextlib").suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
    log.seek(0)
    err.seek(0)
    return proc.returncode, log.read(), err.read()


@pytest.fixture(scope="module")
def uninterrupted(klass: Path) -> tuple[Path, int, str, str]:
    """The uninterrupted cluster run, requiring isolation L1 (which the local run reaches): its OUT, exit code,
    output and error output. Two tests read it: its gradebook is the local one, and it names each worker's
    isolation."""
    out = klass.parent / "uninterrupted" / "out"
    out.parent.mkdir()
    return (out, *cluster_run(klass, out, CASES[0], "--require-isolation", "L1"))


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_a_cluster_writes_the_local_gradebook(case: Case, klass: Path, local: Path, tmp_path: Path,
                                              request: pytest.FixtureRequest) -> None:
    if case.interrupt is None:
        out, returncode, stdout, stderr = request.getfixturevalue("uninterrupted")
    else:
        out = tmp_path / "out"
        returncode, stdout, stderr = cluster_run(klass, out, case)
    first = stdout + stderr
    if case.interrupt is not kill_the_client:
        assert returncode == 0 and "INTERNALERROR" not in first, first[-3000:]
    for _ in range(case.reruns):
        done = len(results(out))
        rerun = batch(klass, out, *SEED, *CLUSTER)
        assert rerun.clean, rerun
        assert rerun.unchanged is not None and rerun.unchanged >= done >= 4, rerun
    assert results(out).keys() == results(local).keys()
    assert all(r["status"] != "error" for r in results(out).values()), results(out)
    assert same_outputs(out, local) == []
    assert (out / "gradebook.csv").read_bytes() == (local / "gradebook.csv").read_bytes()


def test_each_worker_reports_its_isolation(uninterrupted: tuple[Path, int, str, str], local: Path) -> None:
    """cluster.json names every worker with the isolation its service reached (the run requires L1): the local
    run's level here."""
    out, returncode, stdout, stderr = uninterrupted
    assert returncode == 0 and "INTERNALERROR" not in stdout + stderr, stderr[-3000:]
    report = json.loads((out / "cluster.json").read_text())
    level = next(iter(results(local).values()))["grade"]["isolation"]["level"]
    assert len(report) == 2 and all(w["grading"] and w["isolation"]["level"] == level for w in report.values()), report
    assert sum(f"isolation {level}" in line for line in stderr.splitlines()) == 2, stderr[-3000:]


def test_a_local_batch_imports_nothing_of_dask() -> None:
    code = ("import sys, course.front.grading, course.front.batch, course.front.serve; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('dask', 'distributed')))")
    ran = subprocess.run([sys.executable, "-c", code], env=environment(), capture_output=True, text=True, check=True)
    assert ran.stdout.strip() == "[]"


def test_an_entry_that_keeps_ending_workers_gets_an_error_and_the_class_is_graded(klass: Path, local: Path,
                                                                                 tmp_path: Path) -> None:
    """Each time the entry is being graded, the test kills the Dask worker grading it (as an entry that ends its
    worker would): the scheduler gives up on it, it alone gets `error` saying so, and every other entry
    is graded as locally."""
    import shutil
    import threading

    subs = tmp_path / "class"
    shutil.copytree(klass, subs)
    shutil.copytree(klass / "ada-a", subs / "zz-killer")
    source = subs / "zz-killer" / "sec1_linear.py"
    text = source.read_text()
    future = text.index("from __future__ import annotations\n") + len("from __future__ import annotations\n")
    source.write_text(text[:future] + KILLER + text[future:])  # after the future import, which must come first
    out, stop, killed = tmp_path / "out", threading.Event(), set()

    def watch() -> None:
        while not stop.wait(0.05):
            for runner in marked_processes(KILLER_MARK):
                chain = ancestors(runner)
                services = [i for i, pid in enumerate(chain) if pid in marked_processes("--grader-serve")]
                if services and services[0] + 1 < len(chain):
                    worker = chain[services[0] + 1]
                    if worker not in killed:
                        killed.add(worker)
                        with __import__("contextlib").suppress(ProcessLookupError):
                            os.kill(worker, signal.SIGKILL)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        ran = batch(subs, out, *SEED, *CLUSTER)
    finally:
        stop.set()
        watcher.join()
    assert ran.clean, ran
    graded = results(out)
    assert graded["zz-killer"]["status"] == "error" and "ended every cluster worker" in graded["zz-killer"]["message"]
    assert len(killed) >= 2, killed
    others = {k: v for k, v in graded.items() if k != "zz-killer"}
    assert {k: v["grade"]["tasks"] for k, v in others.items()} == {k: v["grade"]["tasks"] for k, v in results(local).items()}
