"""Speed of grading one submission, as a ratio to `python -c "import torch"` measured in the same run.

    python scripts/bench_speed.py [--runs 5] [--submission solutions]

Runs both commands alternately and compares medians. The target (issue 2) is a ratio of at most 1.5:
the grader pays the torch import once in the judge and once, in parallel, in the zygote.
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
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--submission", default="solutions")
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


if __name__ == "__main__":
    main()
