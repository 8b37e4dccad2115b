"""What a student waits for: one exercise file's public checks against a bare torch import, in one run.

    python scripts/bench_checks.py [--rounds 9] [--file sec2_forward.py]

Builds the student bundle into a temporary folder with the reference solutions in place of the stubs (a
check run that passes: every check runs to its end), then times, alternately, `python -m pytest
public/test_<file>` in the bundle and `python -c "import torch"`, and prints the medians and their ratio
(target: at most 1.3). pytest runs with plugin autoloading off, as in a student's environment that holds
torch, numpy and pytest only.
"""
from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def seconds(command: list[str], cwd: Path, env: dict) -> float:
    start = time.perf_counter()
    run = subprocess.run(command, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    took = time.perf_counter() - start
    if run.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed ({run.returncode}): {run.stderr[-500:]}")
    return took


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--file", default="sec2_forward.py")
    args = parser.parse_args()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    env["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([sys.executable, "-m", "course.front.release", "bundle", "--out", tmp], cwd=ROOT, check=True,
                       stdout=subprocess.DEVNULL)
        bundle = Path(tmp) / "pytorch-basics"
        for path in (ROOT / "solutions").glob("sec*.py"):
            shutil.copy(path, bundle / path.name)
        check = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"public/test_{args.file}"]
        bare = [sys.executable, "-c", "import torch"]
        seconds(check, bundle, env)  # warm the page cache for both
        times: dict[str, list[float]] = {"check": [], "torch": []}
        for _ in range(args.rounds):
            times["torch"].append(seconds(bare, bundle, env))
            times["check"].append(seconds(check, bundle, env))
    check_s, torch_s = statistics.median(times["check"]), statistics.median(times["torch"])
    print(f"public checks of {args.file}: {check_s:.2f} s; python -c 'import torch': {torch_s:.2f} s "
          f"(medians of {args.rounds}, alternately): {check_s / torch_s:.2f}x (target at most 1.3x)")


if __name__ == "__main__":
    main()
