"""What grading on a Dask cluster costs against grading here, measured in one run.

    python scripts/bench_cluster.py [--small 40] [--students 200] [--repeat 1]

Builds classes of SMALL and N students (bench_batch.make_class) and grades each three ways: the local batch
(one judge per core), `--grader-cluster local:2` and `--grader-cluster local:1` with the whole run held to
one core (as a worker of a real cluster has its own cores: one worker's judge and sandbox would otherwise
borrow the second core, which two workers then share). What a student costs is
the slope between the two sizes, (T(N) - T(SMALL)) / (N - SMALL): the fixed costs (starting the workers,
their services' torch import and collection, the zygotes) drop out. Then prints:
1. cluster overhead per student: slope(local:2) / slope(local batch) - 1 (target: at most 15%);
2. scaling efficiency from 1 worker on 1 core to 2 workers on 2 cores: slope(local:1) / (2 * slope(local:2))
   (target: at least 85%);
3. the scheduler's cost per task: 2,000 empty tasks through a LocalCluster of 2 workers;
4. the model of the README's Cluster section: hours for 100,000 submissions on M machines, the chunk size.
With --repeat R each timing is the median of R runs, taken alternately.
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench_batch import make_class

ROOT = Path(__file__).resolve().parent.parent
WAYS = {"local batch": (), "local:2": ("--grader-cluster", "local:2"), "local:1": ("--grader-cluster", "local:1")}
ONE_CORE = {"local:1"}  # run on one core only


def run(folder: Path, out: Path, extra: tuple[str, ...], cores: set[int] | None = None) -> float:
    """Wall seconds of one batch into a fresh out (on the given cores only, if any)."""
    command = [sys.executable, "-m", "pytest", "grader", "--submissions", str(folder), "--out", str(out), "-q",
               "-p", "no:cacheprovider", "--grader-seed", "5", *extra]
    start = time.perf_counter()
    ran = subprocess.run(command, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT / "src")},
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                         preexec_fn=(lambda: os.sched_setaffinity(0, cores)) if cores else None)
    seconds = time.perf_counter() - start
    if ran.returncode != 0:
        raise SystemExit(f"{' '.join(extra) or 'local batch'} failed ({ran.returncode}):\n{ran.stderr[-2000:]}")
    return seconds


def per_task_seconds(tasks: int = 2000) -> float:
    """The scheduler's round trip per task, for tasks that do nothing, on 2 local workers."""
    from distributed import Client, LocalCluster
    import logging

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                      silence_logs=logging.ERROR) as cluster, Client(cluster) as client:
        client.gather(client.map(int, range(100), pure=False))  # warm
        start = time.perf_counter()
        client.gather(client.map(int, range(tasks), pure=False))
        return (time.perf_counter() - start) / tasks


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", type=int, default=40)
    parser.add_argument("--students", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-cluster-") as tmp:
        classes = {n: Path(tmp) / f"class{n}" for n in (args.small, args.students)}
        for n, folder in classes.items():
            make_class(folder, n)
        times: dict[tuple[str, int], list[float]] = {}
        for r in range(args.repeat):
            for way, extra in WAYS.items():
                for n, folder in classes.items():
                    cores = {min(os.sched_getaffinity(0))} if way in ONE_CORE else None
                    seconds = run(folder, Path(tmp) / f"out-{r}-{way}-{n}", extra, cores)
                    times.setdefault((way, n), []).append(seconds)
                    print(f"{way:<12} {n:>5} students: {seconds:6.2f} s", flush=True)
        task = per_task_seconds()
    t = {key: statistics.median(v) for key, v in times.items()}
    slope = {way: (t[way, args.students] - t[way, args.small]) / (args.students - args.small) for way in WAYS}
    for way in WAYS:
        print(f"{way:<12} {1000 * slope[way]:6.1f} ms a student (slope), fixed {t[way, args.small] - args.small * slope[way]:5.2f} s")
    overhead = slope["local:2"] / slope["local batch"] - 1
    efficiency = slope["local:1"] / (2 * slope["local:2"])
    print(f"cluster overhead per student: {100 * overhead:+.1f}% (target at most +15%)")
    print(f"scaling efficiency 1 -> 2 workers: {100 * efficiency:.0f}% (target at least 85%)")
    print(f"scheduler round trip per task: {1000 * task:.2f} ms")
    # The model: a worker process per core grades a student every per_worker seconds when every core of a machine
    # has one (two workers on this machine's two cores); the scheduler's cost per task is shared by a chunk.
    per_worker = 2 * slope["local:2"]
    chunk = 16
    print(f"model: a worker a core grades a student every {per_worker:.3f} s; with chunks of {chunk} students, "
          f"the scheduler adds {1000 * task / chunk:.2f} ms a student ({100 * task / chunk / per_worker:.2f}%)")
    fixed = t["local:2", args.small] - args.small * slope["local:2"]
    for machines, cores in ((1, 2), (4, 16), (10, 16), (25, 16)):
        minutes = (100_000 * per_worker / (machines * cores) + fixed) / 60
        print(f"  100,000 submissions on {machines:>2} machine(s) of {cores:>2} cores: {minutes:7.1f} min")
    cores_needed = 100_000 * per_worker / (600 - fixed)
    print(f"  within a 10-minute deadline night: {cores_needed:.0f} cores, {-(-cores_needed // 16):.0f} machines of 16")

if __name__ == "__main__":
    main()
