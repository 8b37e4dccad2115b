"""Speed and memory of grading a class, measured in one run.

    python scripts/bench_batch.py [--students 200] [--loop-sample 5] [--against DIR]

Builds a class of N students from the sample class's nine folders, each copy made distinct (`distinct`): in
copy i every function's local variables get the suffix _i and its body starts with `bench_copy = i`, so no two
files are alike in text or in the code the similarity compares, while every copy is graded as its original is
(the same checks pass and fail). Until this session a copy differed only by a comment line; grading does not see
the difference, so the batch figures stay comparable with earlier ones. Then prints:
1. `pytest grader --submissions` on all N, against a loop running `pytest grader --submission X`
   once per student (timed on a sample, scaled to N): the ratio (target: at least 20x);
2. seconds per submission against nbgrader's autograde of the same course as notebooks: with nbgrader
   installed, `nbgrader autograde` is timed on a few students who each hand in the four section
   notebooks (complete, like the sample class's ada); without it, against the figure quoted in the
   batch issue (about 4 s per torch notebook);
3. peak memory of the whole batch (judge, zygote and workers: the sum of their proportional set
   sizes, sampled every 50 ms) for N = 50 and N = N (target: under 1 GiB, flat in N);
4. the class page and code similarity for the N (`python -m course.front.class_page OUT`'s work: the class read
   again, the results loaded, the similarity computed, the page written; the batch itself pays less, having the
   class in memory) against the batch's own time, measured in the same run (target: under 10%). The class is
   a hard one for the similarity: every file is reduced on its own, and each of the nine styles has N/9
   near-copies, so every long task has nine large clusters of flagged pairs (a real class has few);
5. with --similarity-students M (default 1000), the similarity alone for M students, twice: copies of the
   sample class (identical files, reduced and compared once) and M distinct ones, made as the batch's class.
With --against DIR (another checkout of the course, e.g. `git worktree add DIR main`), the batch of N is
also graded by that checkout's code (its grader/ and src/), alternately with this one's, three times
each, and the ratio of the medians printed: what a student costs now against then.
"""
from __future__ import annotations

import argparse
import ast
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "samples" / "class"
QUOTED_NBGRADER_SECONDS = 4.0  # per torch notebook, from the batch issue


def make_class(target: Path, n: int) -> list[Path]:
    """N entries cycling through the sample class's folders, each copy's files made its own (distinct)."""
    sources = sorted(p for p in SAMPLE.iterdir() if p.is_dir())
    target.mkdir(parents=True)
    entries = []
    for i in range(n):
        src = sources[i % len(sources)]
        dst = target / f"s{i:04d}-{src.name}"
        shutil.copytree(src, dst)
        for path in sorted(dst.glob("*.py")):
            path.write_bytes(distinct(path.read_bytes(), i))
        entries.append(dst)
    return entries


def distinct(source: bytes, i: int) -> bytes:
    """A student's file as copy i of it: the same behaviour, other text and other code to compare. In every function
    without nested scopes, each local variable (not an argument) gets the suffix _i; every function's body starts
    with a line `bench_copy = i`; a comment line with i ends the file (a file that does not parse gets only that)."""
    end = f"\n# submission {i}\n".encode()
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return source + end
    lines = source.splitlines(keepends=True)
    renames: dict[int, list[ast.Name]] = {}
    tops = []
    for fn in ast.walk(tree):
        if not isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        inside = list(ast.walk(fn))[1:]
        if not any(isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)) for node in inside):
            kept = {a.arg for a in ast.walk(fn.args) if isinstance(a, ast.arg)}
            kept |= {name for node in inside if isinstance(node, (ast.Global, ast.Nonlocal)) for name in node.names}
            local = {node.id for node in inside if isinstance(node, ast.Name) and isinstance(node.ctx, (ast.Store, ast.Del))}
            for node in inside:
                if isinstance(node, ast.Name) and node.id in local - kept:
                    renames.setdefault(node.lineno, []).append(node)
        body = fn.body[1:] if isinstance(fn.body[0], ast.Expr) and isinstance(fn.body[0].value, ast.Constant) else fn.body
        if body and body[0].lineno > fn.lineno and not lines[body[0].lineno - 1][:body[0].col_offset].strip():
            tops.append((body[0].lineno, body[0].col_offset))
    for number, names in renames.items():  # columns are UTF-8 offsets: edit the line's bytes, last name first
        line = lines[number - 1]
        for node in sorted(names, key=lambda node: -node.col_offset):
            line = line[:node.col_offset] + f"{node.id}_{i}".encode() + line[node.end_col_offset:]
        lines[number - 1] = line
    for number, col in sorted(tops, reverse=True):
        lines.insert(number - 1, b" " * col + f"bench_copy = {i}\n".encode())
    return b"".join(lines) + end


def tree_pss(root_pid: int) -> int:
    """Sum of the proportional set size of a process and all its descendants, in bytes."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
        except (OSError, ValueError, IndexError):
            continue
    total, todo = 0, [root_pid]
    while todo:
        pid = todo.pop()
        todo.extend(children.get(pid, []))
        try:
            for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
                if line.startswith("Pss:"):
                    total += int(line.split()[1]) * 1024
                    break
        except OSError:
            continue
    return total


CPUACCT = Path("/sys/fs/cgroup/cpuacct")


def run_batch(folder: Path, out: Path, tree: Path = ROOT) -> tuple[float, int, float | None]:
    """Wall seconds, peak memory and CPU seconds of one batch run by tree's grader (its src/ before the
    installed one). The CPU time is that of every process the run started, counted by a cpuacct cgroup of
    its own (None where cgroups are not writable): what a batch costs, whatever else the machine runs."""
    group = CPUACCT / f"course-bench-{os.getpid()}"
    try:
        group.mkdir()
    except OSError:
        group = None

    def join_group() -> None:  # in the child, before it execs: everything it starts is counted
        if group is not None:
            (group / "cgroup.procs").write_text("0")

    cmd = [sys.executable, "-m", "pytest", "grader", "--submissions", str(folder), "--out", str(out), "-q"]
    peak, done = [0], threading.Event()
    start = time.perf_counter()
    # no plugin autoload: the installed package's entry point names this checkout's plugin module, which an older
    # checkout may lay out elsewhere (each grader suite loads its own plugin through its conftest)
    proc = subprocess.Popen(cmd, cwd=tree, env={**os.environ, "PYTHONPATH": str(tree / "src"),
                                                "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"},
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, preexec_fn=join_group)

    def sample() -> None:
        while not done.wait(0.05):
            peak[0] = max(peak[0], tree_pss(proc.pid))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    code = proc.wait()
    seconds = time.perf_counter() - start
    done.set()
    sampler.join()
    cpu = None
    if group is not None:
        cpu = int((group / "cpuacct.usage").read_text()) / 1e9
        for _ in range(100):  # the run's last processes may still be leaving
            try:
                group.rmdir()
                break
            except OSError:
                time.sleep(0.05)
    if code != 0:
        raise SystemExit(f"batch run failed with exit code {code}")
    return seconds, peak[0], cpu


def loop_seconds(entries: list[Path]) -> float:
    """Mean wall seconds of one `pytest grader --submission X` run."""
    times = []
    for entry in entries:
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "pytest", "grader", "--submission", str(entry), "-q"],
                       cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        times.append(time.perf_counter() - start)
    return sum(times) / len(times)


def nbgrader_seconds(tmp: Path, students: int) -> tuple[float, int] | None:
    """Wall seconds of one `nbgrader autograde` of students complete submissions (the four source notebooks
    each, graded by their hidden grade cells through the course's grader), and the notebooks per student;
    None without nbgrader."""
    try:
        import nbgrader  # noqa: F401
    except ImportError:
        return None
    assignment, root = "pytorch-basics", tmp / "nbgrader-course"
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    env.update({f"JUPYTER_{kind}_DIR": str(tmp / f"jupyter-{kind.lower()}") for kind in ("CONFIG", "DATA", "RUNTIME")})

    def run(*command: str) -> None:
        subprocess.run(command, cwd=root if root.exists() else ROOT, env=env, check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    run(sys.executable, "-m", "course.front.notebooks", "--course-dir", str(root))
    run(sys.executable, "-m", "nbgrader", "generate_assignment", assignment)
    notebooks = sorted((root / "source" / assignment).glob("*.ipynb"))
    for i in range(students):
        folder = root / "submitted" / f"student{i}" / assignment
        folder.mkdir(parents=True)
        for notebook in notebooks:
            shutil.copy(notebook, folder / notebook.name)
    ignore = '[".ipynb_checkpoints","*.pyc","__pycache__","feedback","*.py"]'
    start = time.perf_counter()
    run(sys.executable, "-m", "nbgrader", "autograde", assignment, f"--CourseDirectory.ignore={ignore}",
        "--Execute.timeout=300")
    return time.perf_counter() - start, len(notebooks)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=200)
    parser.add_argument("--loop-sample", type=int, default=5)
    parser.add_argument("--nbgrader-students", type=int, default=3, help="students nbgrader autogrades (0: skip)")
    parser.add_argument("--against", type=Path, default=None, help="another checkout to grade the same class with")
    parser.add_argument("--similarity-students", type=int, default=1000, help="students for the similarity figure (0: skip)")
    parser.add_argument("--time-similarity", type=int, default=None, help=argparse.SUPPRESS)  # similarity_seconds's process
    args = parser.parse_args()
    if args.time_similarity is not None:
        return time_similarity(args.time_similarity)
    n = args.students
    with tempfile.TemporaryDirectory(prefix="bench-batch-") as tmp:
        tmp = Path(tmp)
        entries = make_class(tmp / "class", n)
        small = tmp / "small"
        small.mkdir()
        for entry in entries[:50]:
            shutil.copytree(entry, small / entry.name)
        run_batch(small, tmp / "warm")  # file cache
        seconds_50, peak_50, _ = run_batch(small, tmp / "out50")
        seconds, peak, _ = run_batch(tmp / "class", tmp / "out")
        page = class_page_seconds(tmp / "out")
        similar = similarity_seconds(args.similarity_students) if args.similarity_students else None
        against = compare(tmp, args.against.resolve(), n) if args.against else None
        per_loop = loop_seconds(entries[: args.loop_sample])
        nbgrader = nbgrader_seconds(tmp, args.nbgrader_students) if args.nbgrader_students else None
    loop_total = per_loop * n
    print(f"batch of {n}: {seconds:.2f} s ({seconds / n * 1000:.0f} ms a submission)")
    print(f"loop of `pytest grader --submission X`: {per_loop:.2f} s each over {args.loop_sample}, "
          f"{loop_total:.0f} s for {n}")
    print(f"speed-up over the loop: {loop_total / seconds:.1f}x (target >= 20x)")
    per = seconds / n
    if nbgrader is None:
        print("nbgrader autograde: not measured (nbgrader is not installed, or --nbgrader-students 0)")
    else:
        total, notebooks = nbgrader
        each = total / args.nbgrader_students
        print(f"nbgrader autograde of {args.nbgrader_students} complete submissions ({notebooks} notebooks each): "
              f"{total:.1f} s, {each:.1f} s a submission ({each / notebooks:.1f} s a notebook)")
        print(f"per submission against nbgrader autograde, measured: {each / per:.0f}x (target >= 100x)")
    print(f"per submission against the issue's quoted ~{QUOTED_NBGRADER_SECONDS:g} s a torch notebook: "
          f"{QUOTED_NBGRADER_SECONDS / per:.0f}x (target >= 100x)")
    print(f"peak memory of the whole batch: {peak_50 / 2**20:.0f} MiB for N=50 ({seconds_50:.1f} s), "
          f"{peak / 2**20:.0f} MiB for N={n} (target < 1024 MiB, flat in N)")
    print(f"class page and similarity for {n}: {page:.2f} s, {100 * page / seconds:.1f}% of the batch's "
          f"{seconds:.1f} s (target < 10%)")
    if similar is not None:
        copies, distinct = similar
        print(f"similarity alone for {args.similarity_students} students: {copies:.2f} s as copies of the sample class, "
              f"{distinct:.2f} s with every body distinct")
    if against is not None:
        for what, (mine, theirs) in zip(("wall", "CPU"), against):
            if mine is None or theirs is None:
                print("CPU time: not measured (no writable cpuacct cgroup)")
                continue
            print(f"batch of {n}, {what} time, medians of 3 alternate runs: this checkout {mine:.2f} s "
                  f"({mine / n * 1000:.0f} ms a submission), {args.against.name} {theirs:.2f} s "
                  f"({theirs / n * 1000:.0f} ms): {mine / theirs:.2f}x a student")


def class_page_seconds(out: Path) -> float:
    """Seconds of rebuilding OUT's class page and similarity (course.front.class_page.rebuild), in a process of its
    own that has imported the course already."""
    script = ("import sys, time; from pathlib import Path; from course.front.class_page import rebuild; "
              "from course.i18n import ROOT; t = time.perf_counter(); rebuild(Path(sys.argv[1]), None, ROOT / 'exercises'); "
              "print(time.perf_counter() - t)")
    proc = subprocess.run([sys.executable, "-c", script, str(out)], env={**os.environ, "PYTHONPATH": str(ROOT / "src")},
                          capture_output=True, text=True, check=True)
    return float(proc.stdout.split()[-1])


def similarity_seconds(n: int) -> tuple[float, float]:
    """Seconds of the similarity alone for n students (--time-similarity, in a process of its own)."""
    proc = subprocess.run([sys.executable, __file__, "--time-similarity", str(n)],
                          env={**os.environ, "PYTHONPATH": str(ROOT / "src")}, capture_output=True, text=True, check=True)
    first, second = proc.stdout.split()[-2:]
    return float(first), float(second)


def time_similarity(n: int) -> None:
    """Print the seconds of the similarity for n students, copies of the sample class (identical files, compared
    once), then for the same n made distinct as the batch's class is (distinct)."""
    from course.content.curriculum import TASKS
    from course.engine import similarity
    from course.engine.submission import discover

    files = sorted({t.file for t in TASKS.values()})
    sample = [e for e in discover(SAMPLE, files) if e.sources]
    stubs = {f: (ROOT / "exercises" / f).read_bytes() for f in files}
    copies = [replace(sample[i % len(sample)], student=f"s{i:04d}", name=f"s{i:04d}", path=Path(f"s{i:04d}"),
                      sources=dict(sample[i % len(sample)].sources)) for i in range(n)]
    start = time.perf_counter()
    similarity.report(copies, TASKS, stubs)
    first = time.perf_counter() - start
    for i, entry in enumerate(copies):
        entry.sources = {f: distinct(source, i) for f, source in entry.sources.items()}
    start = time.perf_counter()
    similarity.report(copies, TASKS, stubs)
    print(first, time.perf_counter() - start)


def compare(tmp: Path, other: Path, n: int) -> list[tuple[float, float]]:
    """Median wall seconds and median CPU seconds of the class graded by this checkout and by other, run
    alternately: [(mine, theirs) wall, (mine, theirs) CPU]."""
    import statistics

    runs: dict[str, list[tuple[float, int, float]]] = {"mine": [], "theirs": []}
    for i in range(3):
        runs["theirs"].append(run_batch(tmp / "class", tmp / f"theirs{i}", other))
        runs["mine"].append(run_batch(tmp / "class", tmp / f"mine{i}"))
    def median(side: str, k: int) -> float | None:
        values = [r[k] for r in runs[side]]
        return None if None in values else statistics.median(values)

    return [(median("mine", k), median("theirs", k)) for k in (0, 2)]


if __name__ == "__main__":
    main()
