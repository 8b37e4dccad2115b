"""What a notebook student waits for: one check("X.Y") call in a warm Jupyter kernel, in one run.

    python scripts/bench_notebook_check.py [--rounds 9]

Writes the course's source notebooks (course.front.notebooks: the reference code in the answer cells, public/
beside them) into a temporary folder, starts one real Jupyter kernel there (jupyter_client) and, for each notebook,
clears the kernel's names and runs its cells as a student would (the check-setup cell and the code cells; not the
check cells, the grade cells or the pack cell). Then it runs the cell check("X.Y") of each of that notebook's tasks
once (the first call loads that section's checks) and --rounds times more, timing each from the request to the
kernel's reply (output included), and prints per task the first call, the median of the rest, and the ratio of the
median to the 0.2 s target. Every call must report "passed": a benchmark of failing checks measures nothing.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import nbformat
from jupyter_client.manager import start_new_kernel

from course.content.curriculum import TASKS
from course.front.notebooks import write_notebooks

ROOT = Path(__file__).resolve().parent.parent
TARGET = 0.2


def execute(client, code: str) -> tuple[float, str]:
    """Run code in the kernel; (seconds from request to reply, what it printed). Raises if the cell raised."""
    printed: list[str] = []

    def hook(message: dict) -> None:
        if message["msg_type"] == "stream":
            printed.append(message["content"]["text"])
        elif message["msg_type"] == "error":
            printed.append("\n".join(message["content"]["traceback"]))

    start = time.perf_counter()
    reply = client.execute_interactive(code, timeout=120, output_hook=hook)
    took = time.perf_counter() - start
    if reply["content"]["status"] != "ok":
        raise SystemExit(f"the cell failed:\n{code}\n{''.join(printed)[-2000:]}")
    return took, "".join(printed)


def student_cells(path: Path) -> list[str]:
    """The code cells a student runs before checking: the check setup and every code cell, no check, grade or pack."""
    cells = []
    for cell in nbformat.read(str(path), as_version=4).cells:
        meta = cell.metadata.get("nbgrader", {})
        if cell.cell_type == "code" and not meta.get("grade") and cell.metadata.get("course") in (None, "checks"):
            cells.append(cell.source)
    return cells


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=9)
    args = parser.parse_args()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT / "src"), env.get("PYTHONPATH")) if p)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        notebooks = write_notebooks(Path(tmp))
        folder = notebooks[0].parent
        manager, client = start_new_kernel(kernel_name="python3", cwd=str(folder), env=env)
        try:
            for path in notebooks:
                execute(client, "%reset -f")
                for code in student_cells(path):
                    execute(client, code)
                for task in (t.id for t in TASKS.values() if Path(t.file).stem == path.stem):
                    cell = f'check("{task}")'
                    first, printed = execute(client, cell)
                    times = []
                    for _ in range(args.rounds):
                        took, printed = execute(client, cell)
                        times.append(took)
                        if ": passed" not in printed:
                            raise SystemExit(f"{cell} did not pass on the reference code:\n{printed}")
                    rows.append((task, first, statistics.median(times)))
        finally:
            client.stop_channels()
            manager.shutdown_kernel(now=True)
    print(f"check() in a warm kernel, reference code; first call, then the median of {args.rounds} "
          f"(target {TARGET} s):")
    for task, first, median in rows:
        print(f"  check({task!r}): first {first * 1000:6.1f} ms, median {median * 1000:6.1f} ms, "
              f"{median / TARGET:.2f}x the target")
    worst = max(rows, key=lambda row: row[2])
    print(f"slowest median: check({worst[0]!r}) {worst[2] * 1000:.1f} ms = {worst[2] / TARGET:.2f}x the 0.2 s target"
          f" ({'met' if worst[2] < TARGET else 'NOT met'})")
    sys.exit(0 if worst[2] < TARGET else 1)


if __name__ == "__main__":
    main()
