"""Grading a class on a Dask cluster: the batch runner's entries, graded by warm engines on Dask workers.

    pytest grader --submissions DIR --out OUT --grader-cluster tcp://scheduler:8786
    pytest grader --submissions DIR --out OUT --grader-cluster local:2      # a LocalCluster of 2 processes here

The client (this pytest session) reads the class, sends each entry to be graded, and is the only writer of
OUT: every Result is stored the moment it arrives (course.engine.result.store), so a rerun after the client
was killed grades only what is missing, and the gradebook is rebuilt from the stored results as locally.

Each Dask worker holds one grading service (course.front.serve), started once by a worker plugin: the
grader suite collected, the zygote started and its isolation reached, torch imported once per worker.
A task carries a chunk of entries as plain data (their files' bytes and what the reader found) and returns
each entry's Result as JSON text; nothing student code produced is ever unpickled. The scheduler and the
client never run student code; a worker whose service refuses (isolation below --require-isolation, or
another grader version than the client's) is left out and said so.

A worker that dies mid-chunk loses nothing: the scheduler gives its chunks to another worker. A chunk that
keeps killing workers is split, and an entry that kills workers on its own gets status `error` with a
message saying so (a later run tries it again, as every `error`).
"""
from __future__ import annotations

import contextlib
import json
import logging
import os
import threading
import time
from pathlib import Path
from typing import Any

import dask
import pytest
from distributed import Client, KilledWorker, LocalCluster, Reschedule, as_completed, get_worker, wait
from distributed.diagnostics.plugin import WorkerPlugin

from course import untrusted
from course.engine import result
from course.engine.submission import STATUS_ERROR, STATUS_OK, Entry, error_line
from course.front.serve import Service, ServiceError, pack, unpack
from course.limits import LIMITS

PLUGIN = "course-engine"
GRADES = "course-grades"  # the resource grading tasks ask for: a worker offers it, and withdraws it if its service refuses
ALLOWED_FAILURES = 2  # a chunk that was running on this many workers when they died is not tried again
LOCAL = "local:"
HELLO_SECONDS = LIMITS.zygote_start_seconds + 120  # a service's own wait to get ready (Service.ready), with room


class EnginePlugin(WorkerPlugin):
    """Starts a grading service on each worker (once per worker, also for workers that join or restart
    later). Grading tasks ask for the GRADES resource, which workers offer from their start (`dask worker
    --resources course-grades=1`; local:N does it): a worker whose service refuses (isolation below
    --require-isolation, another grader version or seed than the client's) withdraws it, so the scheduler
    gives it no more chunks, and hands back any chunk it got (Reschedule)."""

    name = PLUGIN

    def __init__(self, grader: str, options: list[str], version: str, seed: int, call_seconds: float) -> None:
        self.grader, self.options, self.version, self.seed = grader, list(options), version, seed
        self.entry_seconds = LIMITS.entry_limit(call_seconds)  # one entry's whole suite on the service
        self.service: Service | None = None  # on the worker (setup): a plugin travels to it pickled

    def setup(self, worker: Any = None) -> None:
        """Start the service; it gets ready (imports torch, collects, starts the zygote) in the background."""
        self.lock, self.state, self.worker = threading.Lock(), None, worker
        self.service = Service(self.service_grader(), self.options)
        self.ready = threading.Event()
        threading.Thread(target=self.get_ready, name="course-engine-ready", daemon=True).start()

    def get_ready(self) -> None:
        """Wait for the service; then offer GRADES, or keep why not."""
        try:
            hello = {"ready": True, **self.service.ready()}
            if hello["version"] != self.version or hello["seed"] != self.seed:
                hello = {"ready": False, "isolation": hello["isolation"],
                         "why": f"grader {hello['version']} seed {hello['seed']}, not the client's "
                                f"{self.version} seed {self.seed}"}
        except Exception as error:  # noqa: BLE001  whatever fails, hello() must not wait for ever
            hello = {"ready": False, "why": str(error) if isinstance(error, ServiceError) else error_line(error)}
        self.state = hello
        if not hello["ready"] and self.worker is not None:
            self.worker.loop.add_callback(self.worker.set_resources, **{GRADES: 0})
        self.ready.set()

    def teardown(self, worker: Any = None) -> None:
        if self.service is not None:
            self.service.close()

    def hello(self) -> dict:
        """The service's readiness: version, seed and isolation, or why it refuses."""
        self.ready.wait()
        return self.state

    def grade(self, entry: Entry) -> dict:
        """{"result": the entry's Result as JSON text} or {"error": why the service gave none}; a service
        that died (or failed in any other way mid-entry) is started again for the next entry."""
        with self.lock:
            try:
                if self.service is None:
                    self.service = Service(self.service_grader(), self.options)
                return {"result": json.dumps(self.service.grade(entry, seconds=self.entry_seconds), ensure_ascii=False)}
            except Exception as error:  # noqa: BLE001  one entry's failure, never its chunk's
                if self.service is not None:
                    self.service.close(wait=0)
                    self.service = None  # the next entry starts a fresh one
                return {"error": str(error) if isinstance(error, ServiceError) else error_line(error)}

    def grade_packed(self, packed: dict) -> dict:
        """grade() of a packed entry; one that cannot be unpacked is that entry's error, not its chunk's."""
        try:
            entry = unpack(packed)
        except Exception as error:  # noqa: BLE001
            return {"error": f"the entry could not be unpacked ({error_line(error)})"}
        return self.grade(entry)

    def service_grader(self) -> Path:
        return Path(os.environ.get("COURSE_GRADER") or self.grader)


def _plugin() -> EnginePlugin:
    return get_worker().plugins[PLUGIN]


def worker_hello() -> dict:
    """A task: this worker's service's readiness, with the worker's address."""
    return {"worker": get_worker().address, **_plugin().hello()}


def grade_chunk(entries: list[dict]) -> list[dict]:
    """A task: grade a chunk of packed entries on this worker's service, once it is ready; a worker whose
    service refuses hands the chunk back to the scheduler."""
    plugin = _plugin()
    if not plugin.hello()["ready"]:
        raise Reschedule()
    return [plugin.grade_packed(entry) for entry in entries]


def connect(address: str) -> Client:
    """A client of the cluster at address, or of a LocalCluster of N worker processes for local:N."""
    if address.startswith(LOCAL):
        try:
            workers = int(address[len(LOCAL):])
        except ValueError:
            raise pytest.UsageError(f"--grader-cluster {address}: local:N, N the number of worker processes") from None
        cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None,
                               silence_logs=logging.ERROR, resources={GRADES: 1})
        return Client(cluster)
    return Client(address, timeout="60s")


def options_of(engine: Any) -> list[str]:
    """The grading options every service runs with: the client's seed, limits, language and requirements."""
    from course import i18n

    config = engine.config
    options = ["--grader-seed", str(engine.seed), "--grader-timeout", str(engine.timeout), "--lang", i18n.language()]
    if config.getoption("grader_curves"):
        options.append("--grader-curves")
    if config.getoption("require_isolation"):
        options += ["--require-isolation", config.getoption("require_isolation")]
    return options


def chunk_size(pending: int, workers: int) -> int:
    """Entries per task: large enough that the scheduler's per-task cost is small next to grading them
    (README, Cluster), small enough that every worker gets several tasks and a lost one costs little."""
    return max(1, min(16, pending // (4 * max(workers, 1))))


class ClusterGrading:
    """One batch's grading on a cluster: the client's side."""

    def __init__(self, runner: Any, bar: Any, say: Any) -> None:
        self.runner, self.engine, self.batch = runner, runner.engine, runner.batch
        self.bar, self.say = bar, say
        with dask.config.set({"distributed.scheduler.allowed-failures": ALLOWED_FAILURES}):
            self.client = connect(self.engine.config.getoption("grader_cluster"))
        self.workers: list[str] = []
        self.chunks: dict[str, list[tuple[Entry, dict]]] = {}  # a task's key -> the entries it grades

    def start(self) -> dict[str, dict]:
        """Register the engine plugin and wait for every worker's service; keep those that may grade."""
        grader = str(Path(str(self.engine.config.rootpath)) / "grader")
        plugin = EnginePlugin(grader, options_of(self.engine), self.batch.version, self.engine.seed, self.engine.timeout)
        self.client.register_plugin(plugin, name=PLUGIN)
        workers = self.client.scheduler_info()["workers"]
        addresses = list(workers)
        if not any(w.get("resources", {}).get(GRADES) for w in workers.values()):
            raise pytest.UsageError(f"no worker of the cluster offers the {GRADES} resource: start them with "
                                    f"`dask worker SCHEDULER --nthreads 1 --resources {GRADES}=1`")
        hellos = self.hellos(addresses)
        report = {}
        for hello in hellos:
            address = hello["worker"]
            why = None if hello["ready"] else hello["why"]
            if why is None:
                self.workers.append(address)
            report[address] = {"isolation": hello.get("isolation", {}), "grading": why is None,
                               **({"why": untrusted.line(why, 500)} if why else {})}
            level = hello.get("isolation", {}).get("level", "?")
            self.say(f"worker {address}: isolation {level}" + (f"; left out: {untrusted.line(why, 300)}" if why else ""))
        result.write_atomic(self.batch.out / "cluster.json", json.dumps(report, indent=1, sort_keys=True) + "\n")
        if not self.workers:
            raise pytest.UsageError("no worker of the cluster may grade: " +
                                    "; ".join(f"{a}: {r.get('why')}" for a, r in report.items()))
        return report

    def hellos(self, addresses: list[str]) -> list[dict]:
        """Each worker's readiness (worker_hello), or why there is none: a worker that left the cluster before
        it said (its task, bound to its address, could never run), or that did not say in time."""
        futures = {self.client.submit(worker_hello, workers=[a], allow_other_workers=False, pure=False): a
                   for a in addresses}
        answers: dict[str, dict] = {}
        deadline = time.monotonic() + HELLO_SECONDS
        while futures:
            with contextlib.suppress(TimeoutError):
                wait(list(futures), timeout=1.0, return_when="FIRST_COMPLETED")
            present = set(self.client.scheduler_info()["workers"])
            for future, address in list(futures.items()):
                why = None
                if future.status == "finished":
                    answers[address] = future.result()
                elif future.status in ("error", "cancelled"):
                    why = f"its readiness could not be asked ({error_line(future.exception())})" \
                        if future.status == "error" else "its readiness was not asked (cancelled)"
                elif address not in present:
                    why = "the worker left the cluster before it said whether its service is ready"
                elif time.monotonic() > deadline:
                    why = f"the worker did not say within {HELLO_SECONDS:g} s whether its service is ready"
                else:
                    continue
                del futures[future]
                if why is not None:
                    future.cancel()
                    answers[address] = {"worker": address, "ready": False, "why": why}
        return [answers[a] for a in addresses]

    def grade(self, todo: list[tuple[Entry, dict]]) -> None:
        """Grade every entry of todo; store each result as it arrives."""
        graded_here = [(entry, key) for entry, key in todo if entry.status != STATUS_OK]
        for entry, key in graded_here:
            self.store(entry, result.ungraded(entry, key, self.engine.tasks))
        todo = [(entry, key) for entry, key in todo if entry.status == STATUS_OK]
        size = chunk_size(len(todo), len(self.workers))
        futures = as_completed()
        for i in range(0, len(todo), size):
            futures.add(self.submit(todo[i:i + size]))
        suspects: list[tuple[Entry, dict]] = []  # entries in a task that kept losing its workers, graded alone
        self.collect(futures, suspects, split=True)
        for one in suspects:  # each alone on the cluster: if its workers die now, it alone is the cause
            self.collect(as_completed([self.submit([one])]), [], split=False)

    def collect(self, futures: Any, suspects: list, split: bool) -> None:
        """Store the result of each task of futures as it completes. A task whose workers kept dying (a
        worker ends every task queued on it, not just the one it runs) has its entries added to suspects
        (split), or, graded alone, gets status error."""
        tasks = self.engine.tasks
        for future in futures:
            chunk = self.chunks.pop(future.key)
            try:
                replies = future.result()
            except KilledWorker:
                if split:
                    if len(chunk) > 1:  # find the one that kills workers: each alone, as the other tasks run
                        for one in chunk:
                            futures.add(self.submit([one]))
                    else:
                        suspects.extend(chunk)
                    continue
                entry, key = chunk[0]
                stored = result.ungraded(entry, key, tasks)
                stored["status"], stored["message"] = STATUS_ERROR, (
                    "grading this entry ended every cluster worker it ran on, again when graded alone; not tried again in this run")
                self.store(entry, stored)
                continue
            except Exception as error:  # the task failed as a whole: each of its entries says so
                for entry, key in chunk:
                    self.store(entry, result.failed(entry, key, tasks, "grading it on the cluster", error))
                continue
            for (entry, key), reply in zip(chunk, replies):
                self.store(entry, self.received(entry, key, reply))

    def submit(self, chunk: list[tuple[Entry, dict]]) -> Any:
        future = self.client.submit(grade_chunk, [pack(entry) for entry, _ in chunk], resources={GRADES: 1},
                                    pure=False, key=f"grade-{chunk[0][0].slug}-{os.urandom(4).hex()}")
        self.chunks[future.key] = chunk
        return future

    def received(self, entry: Entry, key: dict, reply: dict) -> result.Result:
        """The Result a worker sent, if it is one and graded this entry under this key; else the entry's failure."""
        tasks = self.engine.tasks
        if "result" not in reply:
            return result.failed(entry, key, tasks, "grading it on the cluster", ServiceError(str(reply.get("error"))))
        try:
            graded = json.loads(reply["result"])
        except (TypeError, ValueError) as error:
            return result.failed(entry, key, tasks, "reading its result", error)
        if not result.conforms(graded) or graded["key"] != key:
            return result.failed(entry, key, tasks, "reading its result",
                                 ServiceError("the worker's result is not for this entry under this run's key"))
        return graded

    def store(self, entry: Entry, graded: result.Result) -> None:
        result.store(self.batch.out, graded, entry, self.engine.tasks)
        if self.bar is not None:
            self.bar.update(entry.student, graded)

    def close(self) -> None:
        cluster = self.client.cluster
        self.client.close()
        if cluster is not None:
            cluster.close()
