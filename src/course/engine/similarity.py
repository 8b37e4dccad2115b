"""Code similarity per task: which students handed in the same solution, disguised or not.

For each task, every student's code for it (the function bodies the curriculum names, read from the
submitted sources, never run) is compared with every other student's. A body is reduced to what a
copier cannot cheaply change:

1. the body only: the docstring and every statement the stub itself holds (``raise NotImplementedError``,
   ``super().__init__()``) are dropped, and the signature, being the stub's, is not compared;
2. reordered independent statements are put back in one order: in each block, statements that neither
   write a name the other reads or writes may swap, so they are sorted by their shape (a topological sort
   with the shape as tie-break, which any valid reordering of the same block leads to);
3. tokens from the syntax tree, not the text, so layout and comments are gone; every name the unit binds
   (arguments, assignments, loop variables...) becomes a placeholder numbered by first use, strings one
   placeholder; attribute names, global names and numbers stay;
4. k-grams of K tokens hashed (deterministically) and winnowed (Schleimer, Wilkerson and Aiken, 2003, as
   MOSS does): the least hash of every WINDOW consecutive k-grams is a fingerprint.

Two bodies are similar when the fingerprints they share are at least THRESHOLD of the smaller one's.
Fingerprints held by more than a common share of the class (MOSS's -m: an idiom, or code from the lesson)
are left out first, and a body of fewer than MIN_TOKENS tokens is not compared at all: the lesson's
three-line forward is written the same way by students who never met, and no measure can tell copying
from convergence there. Pairs above the threshold are joined into clusters (connected components).

Nothing here changes a score; the report is plain data for the class page (course.render.class_report)
and OUT/similarity.json, its student code made safe (course.untrusted) for every place it is shown.
"""
from __future__ import annotations

import ast
import hashlib
import heapq
import zlib
from dataclasses import dataclass, field
from typing import Any

from course import untrusted

K = 10  # tokens in a k-gram: about one statement
WINDOW = 4  # k-grams per winnowing window: any match of K + WINDOW - 1 tokens is caught
MIN_TOKENS = 45  # a body shorter than this (about three lines) is not compared
THRESHOLD = 0.7  # shared share of the smaller body's fingerprints that flags a pair
MIN_SHARED = 4  # and at least this many fingerprints shared
COMMON_SHARE, COMMON_LEAST = 0.25, 10  # a fingerprint in more bodies than max(LEAST, SHARE * bodies) is an idiom
SHOWN_PAIRS = 30  # pairs shown side by side on the class page (the highest scores; every pair is listed)
LISTED_PAIRS = 200  # pairs listed per task
CODE_LINES = 80  # lines of a body shown
_MASK = (1 << 61) - 1
_BASE = 1_000_003


@dataclass
class Body:
    """One student's code for one task, reduced for comparison."""

    student: str
    slug: str
    tokens: list[str] = field(default_factory=list)
    lines: list[int] = field(default_factory=list)  # each token's line in the source
    shown: list[tuple[int, str]] = field(default_factory=list)  # (line, text) of the code, docstrings left out
    prints: dict[int, list[int]] = field(default_factory=dict)  # fingerprint -> positions of its k-grams


def units(tree: ast.Module, names: str) -> list[ast.AST]:
    """The definitions a task names ("linear_forward", "parameter_shapes, count_parameters",
    "SimpleNN.forward", "CustomDataset") in a module, the last of each name where it is defined twice."""
    found = []
    for name in (n.strip() for n in names.split(",")):
        scope: list[ast.stmt] = tree.body
        node = None
        for part in name.split("."):
            node = next((s for s in reversed(scope) if isinstance(s, (ast.FunctionDef, ast.AsyncFunctionDef,
                                                                       ast.ClassDef)) and s.name == part), None)
            if node is None:
                break
            scope = node.body
        if node is not None:
            found.append(node)
    return found


def _is_docstring(stmt: ast.stmt) -> bool:
    return isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant) and isinstance(stmt.value.value, str)


def _shape(node: ast.AST) -> str:
    return ast.dump(node, annotate_fields=False, include_attributes=False)


def stub_statements(stub_source: bytes | None, names: str) -> set[str]:
    """The shapes of every statement inside the stub's definitions of a task: what a student did not write."""
    if not stub_source:
        return set()
    try:
        tree = ast.parse(stub_source)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return set()
    return {_shape(s) for unit in units(tree, names) for s in ast.walk(unit)
            if isinstance(s, ast.stmt) and not isinstance(s, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))}


def _strip(body: list[ast.stmt], stub: set[str]) -> list[ast.stmt]:
    """A block without its docstring and the stub's statements; nested definitions stripped the same way."""
    kept = []
    for i, stmt in enumerate(body):
        if (i == 0 and _is_docstring(stmt)) or _shape(stmt) in stub:
            continue
        if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            stmt.body = _strip(stmt.body, stub)
            if not stmt.body:  # a method left as the stub had it
                continue
        kept.append(stmt)
    return kept


def _bound(unit: ast.AST) -> set[str]:
    """Every name the unit binds: arguments, assignment and loop targets, with-as, except-as, imports, defs."""
    names = set()
    for node in ast.walk(unit):
        if isinstance(node, ast.Name) and isinstance(node.ctx, (ast.Store, ast.Del)):
            names.add(node.id)
        elif isinstance(node, ast.arg):
            names.add(node.arg)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and node is not unit:
            names.add(node.name)
        elif isinstance(node, ast.alias):
            names.add(node.asname or node.name.split(".")[0])
        elif isinstance(node, ast.ExceptHandler) and node.name:
            names.add(node.name)
    return names


def _effects(stmt: ast.stmt) -> tuple[set[str], set[str]]:
    """The names a statement reads and the names it writes (a method called as a statement, or an in-place one,
    writes its receiver; a return, raise, break or continue writes the flow, which every statement reads)."""
    reads, writes = {"<flow>"}, set()
    for node in ast.walk(stmt):
        if isinstance(node, ast.Name):
            (writes if isinstance(node.ctx, (ast.Store, ast.Del)) else reads).add(node.id)
        elif isinstance(node, (ast.Attribute, ast.Subscript)) and isinstance(node.ctx, (ast.Store, ast.Del)):
            writes.add(_base(node))
        elif isinstance(node, ast.Expr) and isinstance(node.value, ast.Call) and isinstance(node.value.func, ast.Attribute):
            writes.add(_base(node.value.func))  # a method called for its effect: optimizer.step(), loss.backward()
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr.endswith("_"):
            writes.add(_base(node.func))  # in place: x.relu_()
        elif isinstance(node, (ast.Return, ast.Raise, ast.Break, ast.Continue, ast.Yield, ast.YieldFrom)):
            writes.add("<flow>")
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            writes.add(node.name)
    return reads, writes


def _base(node: ast.AST) -> str:
    while isinstance(node, (ast.Attribute, ast.Subscript, ast.Call)):
        node = node.func if isinstance(node, ast.Call) else node.value
    return node.id if isinstance(node, ast.Name) else "<expr>"


def _canonical(body: list[ast.stmt], local: set[str]) -> list[ast.stmt]:
    """The block in canonical order: a statement goes before a later one it conflicts with; among statements
    free to go next, the one whose shape (local names blanked) sorts first. Inner blocks likewise."""
    for stmt in body:
        for name in ("body", "orelse", "finalbody"):
            inner = getattr(stmt, name, None)
            if isinstance(inner, list) and inner and isinstance(inner[0], ast.stmt):
                setattr(stmt, name, _canonical(inner, local))
        for handler in getattr(stmt, "handlers", []):
            handler.body = _canonical(handler.body, local)
    if len(body) < 2:
        return body
    effects = [_effects(s) for s in body]
    keys = [_blank(s, local) for s in body]
    before: list[set[int]] = [set() for _ in body]
    for j in range(len(body)):
        rj, wj = effects[j]
        for i in range(j):
            ri, wi = effects[i]
            if wi & (rj | wj) or wj & ri:
                before[j].add(i)
    ready = [(keys[j], j) for j in range(len(body)) if not before[j]]
    heapq.heapify(ready)
    order, placed = [], set()
    while ready:
        _, i = heapq.heappop(ready)
        order.append(body[i])
        placed.add(i)
        for j in range(len(body)):
            if j not in placed and i in before[j]:
                before[j].discard(i)
                if not before[j]:
                    heapq.heappush(ready, (keys[j], j))
    return order


def _blank(stmt: ast.stmt, local: set[str]) -> str:
    """A statement's shape with every local name blanked, so the order it sorts into survives renaming."""
    return " ".join(_walk(stmt, dict.fromkeys(local, "_"), []))


def _walk(node: ast.AST, names: dict[str, str], out: list[str], lines: list[int] | None = None, line: int = 0) -> list[str]:
    """The node's tokens in order (pre-order over the syntax tree); names maps local names to placeholders
    (a new local name gets the next one). With lines, each token's source line is appended there."""
    line = getattr(node, "lineno", line)

    def emit(token: str) -> None:
        out.append(token)
        if lines is not None:
            lines.append(line)

    if isinstance(node, (ast.expr_context, ast.Load)):
        return out
    if isinstance(node, ast.Name):
        emit(_placeholder(node.id, names))
        return out
    if isinstance(node, ast.arg):
        emit(_placeholder(node.arg, names))
        return out
    if isinstance(node, ast.Constant):
        value = node.value
        emit("str" if isinstance(value, str) else "bytes" if isinstance(value, bytes) else repr(value)[:20])
        return out
    emit(type(node).__name__)
    if isinstance(node, ast.Attribute):
        emit("." + node.attr)
    elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
        for child in (*node.decorator_list, *node.body):  # the signature is the stub's
            _walk(child, names, out, lines, line)
        return out
    elif isinstance(node, ast.ClassDef):
        for child in (*node.decorator_list, *node.bases, *node.body):
            _walk(child, names, out, lines, line)
        return out
    elif isinstance(node, ast.keyword):
        emit(f"{node.arg}=")
    for child in ast.iter_child_nodes(node):
        _walk(child, names, out, lines, line)
    return out


def _placeholder(name: str, names: dict[str, str]) -> str:
    if name not in names:
        return name  # a global: torch, nn, len
    if names[name] == "=":  # blanking, or first use: number it
        names[name] = f"v{sum(1 for v in names.values() if v != '=')}"
    return names[name]


def body_of(tree: ast.Module, text: list[str], names: str, stub: set[str]) -> Body | None:
    """A student's code for a task, reduced (its definitions are changed in place: parse a module once, and
    read each task from it once); None when the module defines none of it or nothing but the stub."""
    body = Body("", "")
    try:
        for unit in units(tree, names):
            shown = _shown(unit, text)
            unit.body = _strip(unit.body, stub)
            if not unit.body:
                continue
            local = _bound(unit) - {unit.name}
            unit.body = _canonical(unit.body, local)
            names_map = dict.fromkeys(sorted(local), "=")
            for stmt in unit.body:
                _walk(stmt, names_map, body.tokens, body.lines)
            body.shown += shown
    except (RecursionError, MemoryError, ValueError):
        return None
    return body if body.tokens else None


def parse(source: bytes) -> tuple[ast.Module, list[str]] | None:
    """A submitted file's syntax tree and lines, or None when it does not parse (it is never run)."""
    try:
        return ast.parse(source), source.decode("utf-8", "replace").splitlines()
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None


def _shown(unit: ast.AST, text: list[str]) -> list[tuple[int, str]]:
    """The unit's source lines, without the lines of its docstrings (and its methods')."""
    skip, todo = set(), [unit]
    while todo:  # the unit and the definitions in its body (methods), not every node
        node = todo.pop()
        if node.body and _is_docstring(node.body[0]):
            skip.update(range(node.body[0].lineno, (node.body[0].end_lineno or node.body[0].lineno) + 1))
        todo += [s for s in node.body if isinstance(s, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))]
    start = min([unit.lineno, *(d.lineno for d in getattr(unit, "decorator_list", []))])
    return [(n, text[n - 1]) for n in range(start, (unit.end_lineno or start) + 1)
            if n not in skip and n - 1 < len(text) and text[n - 1].strip()]


def _token_hash(token: str, cache: dict[str, int]) -> int:
    value = cache.get(token)
    if value is None:
        value = cache[token] = zlib.crc32(token.encode("utf-8", "surrogatepass")) + 1
    return value


def fingerprint(body: Body, cache: dict[str, int]) -> None:
    """Winnow the body's k-gram hashes: in every window of WINDOW k-grams, the least hash (the rightmost of
    equal ones) is a fingerprint; each fingerprint keeps the positions of its k-grams."""
    codes = [_token_hash(t, cache) for t in body.tokens]
    if len(codes) < K:
        return
    top = pow(_BASE, K - 1, _MASK)
    h = 0
    for c in codes[:K]:
        h = (h * _BASE + c) % _MASK
    grams = [h]
    for i in range(K, len(codes)):
        h = ((h - codes[i - K] * top) * _BASE + codes[i]) % _MASK
        grams.append(h)
    chosen = -1
    for start in range(max(1, len(grams) - WINDOW + 1)):
        window = range(start, min(start + WINDOW, len(grams)))
        low = min(window, key=lambda i: (grams[i], -i))
        if low != chosen:
            chosen = low
            body.prints.setdefault(grams[low], []).append(low)


def compare(bodies: list[Body]) -> tuple[list[dict], int, int]:
    """The flagged pairs among one task's bodies, best first, with how many were compared and how many were too
    short. Identical bodies are compared once; fingerprints common to the class are left out."""
    long = [b for b in bodies if len(b.tokens) >= MIN_TOKENS]
    groups: dict[tuple, list[Body]] = {}
    for b in long:
        groups.setdefault(tuple(b.tokens), []).append(b)
    reps = [members[0] for members in groups.values()]
    count: dict[int, int] = {}
    for rep in reps:
        weight = len(groups[tuple(rep.tokens)])
        for h in rep.prints:
            count[h] = count.get(h, 0) + weight
    common = max(COMMON_LEAST, COMMON_SHARE * len(long))
    rare = [{h for h in rep.prints if count[h] <= common} for rep in reps]
    shared = _shared_counts(rare)
    for i, prints in enumerate(rare):  # identical bodies share every fingerprint
        if len(groups[tuple(reps[i].tokens)]) > 1:
            shared[i, i] = len(prints)
    pairs = []
    for (i, j), n in shared.items():
        smaller = min(len(rare[i]), len(rare[j]))
        if n < MIN_SHARED or not smaller or n / smaller < THRESHOLD:
            continue
        both = (rare[i], rare[j])
        for x in groups[tuple(reps[i].tokens)]:
            for y in groups[tuple(reps[j].tokens)]:
                if x.slug == y.slug or (i == j and x.slug > y.slug):
                    continue
                first, second = (x, y) if x.slug < y.slug else (y, x)
                pairs.append({"a": first, "b": second, "score": round(n / smaller, 3), "shared": n, "prints": both})
    pairs.sort(key=lambda p: (-p["score"], -p["shared"], p["a"].slug, p["b"].slug))
    return pairs, len(long), len(bodies) - len(long)


def _shared_counts(rare: list[set[int]]) -> dict[tuple[int, int], int]:
    """How many fingerprints each two bodies share, for the pairs that share at least MIN_SHARED: every pair of an
    inverted index's posting list counted at once (numpy), so a class where many bodies share much stays fast."""
    import numpy as np

    postings: dict[int, list[int]] = {}
    for i, prints in enumerate(rare):
        for h in prints:
            postings.setdefault(h, []).append(i)
    n = len(rare)
    codes = []
    for ids in postings.values():
        if len(ids) > 1:
            a, b = np.triu_indices(len(ids), 1)
            ids_array = np.asarray(ids, dtype=np.int64)
            codes.append(ids_array[a] * n + ids_array[b])
    if not codes:
        return {}
    pair_codes, counts = np.unique(np.concatenate(codes), return_counts=True)
    keep = counts >= MIN_SHARED
    return {(int(c // n), int(c % n)): int(k) for c, k in zip(pair_codes[keep], counts[keep])}


def clusters(pairs: list[dict]) -> list[dict]:
    """The connected components of the flagged pairs: their students (slugs) and the lowest and highest score of
    a pair within, largest first."""
    parent: dict[str, str] = {}

    def root(x: str) -> str:
        while parent.setdefault(x, x) != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for p in pairs:
        parent[root(p["a"].slug)] = root(p["b"].slug)
    groups: dict[str, list[str]] = {}
    for slug in parent:
        groups.setdefault(root(slug), []).append(slug)
    scores: dict[str, list[float]] = {}
    for p in pairs:
        scores.setdefault(root(p["a"].slug), []).append(p["score"])
    found = [{"students": sorted(g), "low": min(scores[r]), "high": max(scores[r])} for r, g in groups.items()]
    return sorted(found, key=lambda c: (-len(c["students"]), c["students"]))


def _marked(body: Body, rare_shared: set[int]) -> list[int]:
    """The source lines covered by the k-grams of the fingerprints a pair shares."""
    lines = set()
    for h in rare_shared:
        for start in body.prints.get(h, []):
            lines.update(body.lines[start:start + K])
    return sorted(lines)


def _side(body: Body, marks: list[int]) -> dict:
    shown = body.shown[:CODE_LINES]
    return {"student": body.student, "slug": body.slug, "lines": [[n, untrusted.line(t, 200)] for n, t in shown],
            "marked": marks, "more": max(0, len(body.shown) - CODE_LINES)}


def report(entries: list[Any], tasks: dict, stubs: dict[str, bytes]) -> dict:
    """Similarity of every task's code across the class: per task, how many bodies were compared and were
    too short, the flagged pairs (student slugs, score) and the clusters, and the best SHOWN_PAIRS pairs
    with both codes and the shared lines. entries: course.engine.submission.Entry (sources in memory)."""
    cache: dict[str, int] = {}
    trees: dict[bytes, Any] = {}
    reduced: dict[tuple[bytes, str], Body | None] = {}
    out: dict = {"settings": {"k": K, "window": WINDOW, "min_tokens": MIN_TOKENS, "threshold": THRESHOLD,
                              "min_shared": MIN_SHARED, "common_share": COMMON_SHARE, "common_least": COMMON_LEAST},
                 "students": {}, "tasks": {}}
    everything = []
    for tid, task in tasks.items():
        stub = stub_statements(stubs.get(task.file), task.function)
        bodies = []
        for entry in entries:
            source = entry.sources.get(task.file)
            if not source:
                continue
            digest = hashlib.sha256(source).digest()  # the same file (an untouched stub, a copy) is read once
            if digest not in trees:
                trees[digest] = parse(source)
            if (digest, tid) not in reduced:
                found = body_of(*trees[digest], task.function, stub) if trees[digest] else None
                if found is not None:
                    fingerprint(found, cache)
                reduced[digest, tid] = found
            found = reduced[digest, tid]
            if found is not None:
                bodies.append(Body(entry.student, entry.slug, found.tokens, found.lines, found.shown, found.prints))
                out["students"][entry.slug] = untrusted.line(entry.student)
        pairs, compared, short = compare(bodies)
        out["tasks"][tid] = {"compared": compared, "short": short,
                             "pairs": [{"a": p["a"].slug, "b": p["b"].slug, "score": p["score"], "shared": p["shared"]}
                                       for p in pairs[:LISTED_PAIRS]],
                             "more_pairs": max(0, len(pairs) - LISTED_PAIRS),
                             "clusters": clusters(pairs)}
        everything += [(tid, p) for p in pairs]
    everything.sort(key=lambda tp: (-tp[1]["score"], -tp[1]["shared"], tp[0], tp[1]["a"].slug, tp[1]["b"].slug))
    shown, seen = [], set()
    for tid, p in everything:
        same = (tid, tuple(p["a"].tokens), tuple(p["b"].tokens))  # one pair of each kind: a cluster of copies shows once
        if same in seen:
            continue
        seen.add(same)
        common = p["prints"][0] & p["prints"][1]
        shown.append({"task": tid, "score": p["score"], "a": _side(p["a"], _marked(p["a"], common)),
                      "b": _side(p["b"], _marked(p["b"], common))})
        if len(shown) == SHOWN_PAIRS:
            break
    out["shown"] = shown
    return out
