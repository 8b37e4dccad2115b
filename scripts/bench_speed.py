"""Speed of grading, measured in one run.

    python scripts/bench_speed.py [--runs 9] [--submission solutions] [--calls 40]

1. `pytest grader --submission DIR` against `python -c "import torch"`, run alternately, medians
   compared (target: a ratio of at most 1.5; the torch import is paid once in the judge and once,
   in parallel, in the zygote).
2. The cost of containment: median latency of one call into a submission with the strongest
   isolation this machine allows, against a zygote held to L1 (plain fork), same calls.
"""
from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def wall(cmd: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, cwd=ROOT, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--submission", default="solutions")
    parser.add_argument("--calls", type=int, default=40)
    args = parser.parse_args()
    torch_cmd = [sys.executable, "-c", "import torch"]
    grade_cmd = [sys.executable, "-m", "pytest", "grader", "--submission", args.submission, "-q"]
    wall(torch_cmd)  # warm the file cache for both
    wall(grade_cmd)
    torch_times, grade_times = [], []
    for _ in range(args.runs):
        torch_times.append(wall(torch_cmd))
        grade_times.append(wall(grade_cmd))
    t, g = statistics.median(torch_times), statistics.median(grade_times)
    print(f'python -c "import torch"                    median {t:.2f} s over {args.runs} runs')
    print(f"pytest grader --submission {args.submission:<16} median {g:.2f} s over {args.runs} runs")
    print(f"ratio {g / t:.2f} (target <= 1.5)")
    containment_overhead(args.calls)


def call_latency(zygote, calls: int) -> float:
    """Median seconds of one call (a small torch op), with a short pause between calls as a judge makes."""
    import torch

    source = b"import torch\ndef f(x):\n    return torch.relu(x) * 2\n"
    x = torch.randn(8, 11)
    times = []
    for i in range(calls + 3):
        start = time.perf_counter()
        result = zygote.call("call", "m", "m.py", source, ["f", [x], {}], 10)
        assert result.status == "ok", result
        if i >= 3:
            times.append(time.perf_counter() - start)
        time.sleep(0.01)
    return statistics.median(times)


def containment_overhead(calls: int) -> None:
    from course.worker import Zygote

    bare, full = Zygote(max_level="L1"), Zygote()
    try:
        level = full.wait_ready()["isolation"]["level"]
        bare.wait_ready()
        b, f = call_latency(bare, calls), call_latency(full, calls)
    finally:
        bare.close()
        full.close()
    print(f"one call at L1 (fork, rlimits)                median {b * 1e3:.1f} ms over {calls} calls")
    print(f"one call at {level} (this machine's strongest)      median {f * 1e3:.1f} ms over {calls} calls")
    print(f"containment overhead {(f - b) * 1e3:.1f} ms a call (target < 15 ms)")


if __name__ == "__main__":
    main()
