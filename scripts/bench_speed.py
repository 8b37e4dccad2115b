"""Speed of grading, measured in one run.

    python scripts/bench_speed.py [--runs 9] [--submission solutions] [--calls 40] [--against DIR]

1. `pytest grader --submission DIR` against `python -c "import torch"`, run alternately, medians
   compared (target: a ratio of at most 1.5; the torch import is paid once in the judge and once,
   in parallel, in the zygote).
2. What a call costs: the median latency of one call into a submission, as grading makes them (one
   session per submission, calls one after another) and in a fresh session of its own, with the
   strongest isolation this machine allows and with a zygote held to L1; the difference is what
   containment costs a call.
With --against DIR (another checkout of the course, e.g. `git worktree add DIR main`), both are also
measured for that checkout's code in the same run, alternately, and the ratios printed.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def environment(tree: Path) -> dict[str, str]:
    """The environment that makes `import course` take tree's source (its src/ comes before the installed one)."""
    return {**os.environ, "PYTHONPATH": str(tree / "src"), "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}  # see bench_batch.py


def wall(cmd: list[str], tree: Path = ROOT) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, cwd=tree, env=environment(tree), check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def single_runs(trees: list[Path], submission: str, runs: int) -> dict[Path, float]:
    """Median wall seconds of `pytest grader --submission` per tree, and of the torch import (key ROOT / "torch")."""
    torch_cmd = [sys.executable, "-c", "import torch"]
    grade_cmd = [sys.executable, "-m", "pytest", "grader", "--submission", str(ROOT / submission), "-q"]
    wall(torch_cmd)  # warm the file cache
    for tree in trees:
        wall(grade_cmd, tree)
    times: dict[Path, list[float]] = {tree: [] for tree in [*trees, ROOT / "torch"]}
    for _ in range(runs):
        times[ROOT / "torch"].append(wall(torch_cmd))
        for tree in trees:
            times[tree].append(wall(grade_cmd, tree))
    return {tree: statistics.median(t) for tree, t in times.items()}


def measure_calls(calls: int) -> dict:
    """In this process (its `course` is whichever tree PYTHONPATH names): median call latencies."""
    import torch

    try:
        from course.sandbox.worker import Zygote
    except ImportError:  # a checkout from before the package's layer folders
        from course.worker import Zygote

    source = b"import torch\ndef f(x):\n    return torch.relu(x) * 2\n"
    x = torch.randn(8, 11)

    def median(call) -> float:
        times = []
        for i in range(calls + 3):
            start = time.perf_counter()
            result = call()
            assert result.status == "ok", result
            if i >= 3:
                times.append(time.perf_counter() - start)
            time.sleep(0.01)  # a judge compares between calls
        return statistics.median(times)

    out = {}
    for name, zygote in (("L1", Zygote(max_level="L1")), ("full", Zygote())):
        try:
            out["level"] = zygote.wait_ready()["isolation"]["level"] if name == "full" else out.get("level")
            session = zygote.session()
            out[f"{name}_session"] = median(lambda: session.submit("call", "m", "m.py", source, ["f", [x], {}], 10)())
            session.close()
            out[f"{name}_fresh"] = median(lambda: fresh_call(zygote, source, x))
        finally:
            zygote.close()
    return out


def fresh_call(zygote, source: bytes, x) -> object:
    """One call in a session of its own (what a submission's first call costs)."""
    session = zygote.session()
    try:
        return session.submit("call", "m", "m.py", source, ["f", [x], {}], 10)()
    finally:
        session.close()


def call_costs(tree: Path, calls: int) -> dict:
    run = subprocess.run([sys.executable, __file__, "--measure-calls", str(calls)], cwd=tree, env=environment(tree),
                         check=True, capture_output=True, text=True)
    return json.loads(run.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--submission", default="solutions")
    parser.add_argument("--calls", type=int, default=40)
    parser.add_argument("--against", type=Path, default=None, help="another checkout to measure in the same run")
    parser.add_argument("--measure-calls", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure_calls is not None:
        print(json.dumps(measure_calls(args.measure_calls)))
        return
    trees = [ROOT] + ([args.against.resolve()] if args.against else [])
    medians = single_runs(trees, args.submission, args.runs)
    t = medians[ROOT / "torch"]
    print(f'python -c "import torch"                      median {t:.2f} s over {args.runs} runs')
    for tree in trees:
        print(f"pytest grader --submission {args.submission} ({tree.name}): median {medians[tree]:.2f} s, "
              f"ratio {medians[tree] / t:.2f} (target <= 1.5)")
    costs = {tree: [] for tree in trees}
    for _ in range(3):  # alternately, so the machine's drift touches both alike
        for tree in trees:
            costs[tree].append(call_costs(tree, args.calls))
    summary = {tree: {k: statistics.median(c[k] for c in costs[tree]) for k in costs[tree][0] if k != "level"}
               for tree in trees}
    for tree in trees:
        s, level = summary[tree], costs[tree][0]["level"]
        print(f"{tree.name}: a call in a session {s['full_session'] * 1e3:.2f} ms at {level}, "
              f"{s['L1_session'] * 1e3:.2f} ms at L1 (containment {(s['full_session'] - s['L1_session']) * 1e3:.2f} ms); "
              f"in a fresh session {s['full_fresh'] * 1e3:.1f} ms at {level}, {s['L1_fresh'] * 1e3:.1f} ms at L1")
    if args.against:
        new, old = summary[ROOT], summary[trees[1]]
        print(f"against {trees[1].name}: a call in a session {new['full_session'] / old['full_session']:.2f}x "
              f"(target <= 2x), in a fresh session {new['full_fresh'] / old['full_fresh']:.2f}x; "
              f"a single run {medians[ROOT] / medians[trees[1]]:.2f}x")


if __name__ == "__main__":
    main()
