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
import gc
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


def _strip(body: list[ast.stmt], stub: set[str], kinds: set[str] | None = None) -> list[ast.stmt]:
    """A block without its docstring and the stub's statements; nested definitions stripped the same way.
    (A statement's shape is taken only when the stub holds a statement of its type: the shape costs a walk.)"""
    kinds = {shape[:shape.index("(")] for shape in stub} if kinds is None else kinds
    kept = []
    for i, stmt in enumerate(body):
        if (i == 0 and _is_docstring(stmt)) or (type(stmt).__name__ in kinds and _shape(stmt) in stub):
            continue
        if isinstance(stmt, _DEFS):
            stmt.body = _strip(stmt.body, stub, kinds)
            if not stmt.body:  # a method left as the stub had it
                continue
        kept.append(stmt)
    return kept


_DEFS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
_WRITING = (ast.Store, ast.Del)
_FLOW = (ast.Return, ast.Raise, ast.Break, ast.Continue, ast.Yield, ast.YieldFrom)
_BLOCKS = ("body", "orelse", "finalbody")
_FIELDS: dict[type, tuple[tuple[str, ...], tuple[str, ...]]] = {  # per node type, the fields with tokens and without
    ast.FunctionDef: (("decorator_list", "body"), ("args", "returns", "type_params")),  # the signature is the stub's
    ast.AsyncFunctionDef: (("decorator_list", "body"), ("args", "returns", "type_params")),
    ast.ClassDef: (("decorator_list", "bases", "body"), ("keywords", "type_params")),
}  # any other: its fields but those that never hold a node
_SCALAR = {"ctx", "id", "attr", "arg", "name", "asname", "module", "level", "type_comment", "kind", "conversion",
           "is_async", "simple", "tag", "rest", "kwd_attrs"}  # ctx (Load, Store, Del): what it says is read at the node
_LOCAL = "\x00"  # marks a local name's token until the unit's names are numbered (no other token holds it)


def _base(node: ast.AST) -> str:
    while isinstance(node, (ast.Attribute, ast.Subscript, ast.Call)):
        node = node.func if isinstance(node, ast.Call) else node.value
    return node.id if isinstance(node, ast.Name) else "<expr>"


class _Statement:
    """A statement of a block in canonical order, read: its tokens and their lines (where one of its own blocks
    goes, that block, see blocks), and the names it reads and writes."""

    __slots__ = ("tokens", "lines", "reads", "writes", "blocks")

    def __init__(self) -> None:
        self.tokens: list[str] = []
        self.lines: list[int] = []
        self.reads, self.writes = {"<flow>"}, set()
        self.blocks: list[tuple[int, ast.AST, str, list[ast.stmt], list[_Statement]]] = []  # (at, owner, field, ...)


class _Reduction:
    """One pass over a unit (a definition a task names, stripped) reads every node once: the tokens of each
    statement, the names it reads and writes, and the names the unit binds. Then each block, innermost first, is
    put in canonical order (see _order; its statements' sort keys are their shapes with the local names blanked),
    and the statements' tokens are joined in that order.

    Tokens are the syntax tree's in pre-order: node types, attribute names (".attr"), keyword names ("arg="),
    numbers and other constants (repr, 20 characters), one token for any string ("str", "bytes"); a name as itself
    when global, numbered by first use (v0, v1...) when the unit binds it (marked with _LOCAL until then)."""

    def __init__(self) -> None:
        self.bound: set[str] = set()  # the names the unit binds: arguments, assignment and loop targets, with-as,
        # except-as, imports, definitions
        self.names: set[str] = set()  # every name token, marked

    def tokens(self, unit: ast.AST) -> tuple[list[str], list[int]]:
        top = _Statement()
        top.blocks.append((0, unit, "body", unit.body, [self.statement(stmt) for stmt in unit.body]))
        for name in unit._fields:  # the unit's own signature: its arguments are local too
            for node in _nodes(getattr(unit, name, None)) if name != "body" else ():
                self.visit(node, 0, _Statement(), signature=True)
        local = self.bound - {unit.name}
        self.blank = {token: "_" if token[1:] in local else token[1:] for token in self.names}  # in a sort key
        tokens, lines = self.joined(top)
        numbers: dict[str, str] = {}
        for i, token in enumerate(tokens):
            if token[:1] == _LOCAL:
                name = token[1:]
                tokens[i] = (numbers.get(name) or numbers.setdefault(name, f"v{len(numbers)}")) if name in local else name
        return tokens, lines

    def statement(self, stmt: ast.stmt) -> _Statement:
        read = _Statement()
        self.visit(stmt, 0, read, True)
        return read

    def joined(self, stmt: _Statement) -> tuple[list[str], list[int]]:
        """The statement's tokens and lines with each of its blocks in canonical order (the owner's field set to it)."""
        if not stmt.blocks:
            return stmt.tokens, stmt.lines
        tokens, lines, done = [], [], 0
        for at, owner, name, body, statements in stmt.blocks:
            tokens += stmt.tokens[done:at]
            lines += stmt.lines[done:at]
            done = at
            parts = [self.joined(s) for s in statements]
            if len(statements) > 1:
                keys = [" ".join(map(self.blank.get, t, t)) for t, _ in parts]
                order = _order(keys, [(s.reads, s.writes) for s in statements])
                setattr(owner, name, [body[i] for i in order])
                parts = [parts[i] for i in order]
            for t, n in parts:
                tokens += t
                lines += n
        tokens += stmt.tokens[done:]
        lines += stmt.lines[done:]
        return tokens, lines

    def block(self, owner: ast.AST, name: str, body: list[ast.stmt], into: _Statement) -> None:
        """A block whose statements go in canonical order: each read on its own, what they read and write added to
        the statement into, and the block put where its tokens go."""
        statements = [self.statement(stmt) for stmt in body]
        for s in statements:
            into.reads |= s.reads
            into.writes |= s.writes
        into.blocks.append((len(into.tokens), owner, name, body, statements))

    def local(self, name: str, line: int, into: _Statement) -> None:
        """A name the unit uses, as the one token every local name becomes (renaming changes nothing)."""
        token = _LOCAL + name
        self.names.add(token)
        into.tokens.append(token)
        into.lines.append(line)

    def visit(self, node: ast.AST, line: int, into: _Statement, canonical: bool = False, signature: bool = False) -> None:
        """Add the node's tokens and lines to the statement into (none for a signature: it is the stub's, yet what it
        reads counts), and what it reads, writes and binds; canonical: a statement of a block in canonical order,
        whose own blocks are too."""
        line = getattr(node, "lineno", line)
        kind = type(node)
        if kind is ast.Name:
            if isinstance(node.ctx, _WRITING):
                into.writes.add(node.id)
                self.bound.add(node.id)
            else:
                into.reads.add(node.id)
            if not signature:
                self.local(node.id, line, into)
            return
        if kind is ast.Constant:
            if not signature:
                value = node.value
                into.tokens.append("str" if isinstance(value, str) else "bytes" if isinstance(value, bytes)
                                       else repr(value)[:20])
                into.lines.append(line)
            return
        if kind is ast.arg:
            self.bound.add(node.arg)
            if not signature:
                self.local(node.arg, line, into)
            if node.annotation is not None:
                self.visit(node.annotation, line, into, signature=True)
            return
        if not signature:
            into.tokens.append(kind.__name__)
            into.lines.append(line)
        if kind is ast.Attribute:
            if isinstance(node.ctx, _WRITING):
                into.writes.add(_base(node))
            if not signature:
                into.tokens.append("." + node.attr)
                into.lines.append(line)
        elif kind is ast.Subscript:
            if isinstance(node.ctx, _WRITING):
                into.writes.add(_base(node))
        elif kind is ast.Expr:
            if isinstance(node.value, ast.Call) and isinstance(node.value.func, ast.Attribute):
                into.writes.add(_base(node.value.func))  # a method called for its effect: optimizer.step(), loss.backward()
        elif kind is ast.Call:
            if isinstance(node.func, ast.Attribute) and node.func.attr.endswith("_"):
                into.writes.add(_base(node.func))  # in place: x.relu_()
        elif isinstance(node, _FLOW):
            into.writes.add("<flow>")
        elif isinstance(node, _DEFS):
            into.writes.add(node.name)
            self.bound.add(node.name)
        elif kind is ast.keyword:
            if not signature:
                into.tokens.append(f"{node.arg}=")
                into.lines.append(line)
        elif kind is ast.alias:
            self.bound.add(node.asname or node.name.split(".")[0])
        elif kind is ast.ExceptHandler and node.name:
            self.bound.add(node.name)
        fields, quiet = _FIELDS.get(kind) or _FIELDS.setdefault(kind, (tuple(f for f in kind._fields if f not in _SCALAR), ()))
        for name in fields:
            value = getattr(node, name, None)
            if isinstance(value, ast.AST):
                self.visit(value, line, into, signature=signature)
            elif isinstance(value, list) and value:
                if canonical and name in _BLOCKS and isinstance(value[0], ast.stmt):
                    self.block(node, name, value, into)
                    continue
                for child in value:
                    if canonical and name == "handlers":
                        self.handler(child, line, into, signature)
                    elif isinstance(child, ast.AST):
                        self.visit(child, line, into, signature=signature)
        for name in quiet:
            for child in _nodes(getattr(node, name, None)):
                self.visit(child, line, into, signature=True)

    def handler(self, node: ast.ExceptHandler, line: int, into: _Statement, signature: bool) -> None:
        """An except clause of a statement in canonical order: its body is a block in canonical order too."""
        line = getattr(node, "lineno", line)
        if not signature:
            into.tokens.append(type(node).__name__)
            into.lines.append(line)
        if node.name:
            self.bound.add(node.name)
        if node.type is not None:
            self.visit(node.type, line, into, signature=signature)
        if node.body:
            self.block(node, "body", node.body, into)


def _nodes(value: Any) -> list[ast.AST]:
    """The nodes a field holds (one, a list, or none)."""
    return [v for v in value if isinstance(v, ast.AST)] if isinstance(value, list) else \
        [value] if isinstance(value, ast.AST) else []


def _order(keys: list[str], effects: list[tuple[set[str], set[str]]]) -> list[int]:
    """A block's canonical order: a statement goes before a later one it conflicts with (one writes a name the other
    reads or writes); among statements free to go next, the one whose key (its shape, local names blanked) sorts
    first. Any valid reordering of the same block gives the same order.

    Each statement waits only for the last statement before it that wrote a name it reads or writes, and, for a name
    it writes, for the statements that read it since: every other conflict follows from these, so a statement is
    free at the same moment, and a block of thousands of statements is ordered in about linear time, not quadratic."""
    after: list[list[int]] = [[] for _ in keys]
    waiting = [0] * len(keys)
    writer: dict[str, int] = {}
    readers: dict[str, list[int]] = {}
    for j, (reads, writes) in enumerate(effects):
        first = {writer[name] for name in reads | writes if name in writer}
        for name in writes:
            first.update(readers.get(name, ()))
        for i in first:
            after[i].append(j)
        waiting[j] = len(first)
        for name in reads - writes:
            readers.setdefault(name, []).append(j)
        for name in writes:
            writer[name], readers[name] = j, []
    ready = [(keys[j], j) for j in range(len(keys)) if not waiting[j]]
    heapq.heapify(ready)
    order = []
    while ready:
        _, i = heapq.heappop(ready)
        order.append(i)
        for j in after[i]:
            waiting[j] -= 1
            if not waiting[j]:
                heapq.heappush(ready, (keys[j], j))
    return order


def body_of(tree: ast.Module, text: list[str], names: str, stub: set[str]) -> Body | None:
    """A student's code for a task, reduced (its definitions are changed in place: parse a module once, and
    read each task from it once); None when the module defines none of it or nothing but the stub."""
    body = Body("", "")
    kinds = {shape[:shape.index("(")] for shape in stub}
    try:
        for unit in units(tree, names):
            shown = _shown(unit, text)
            unit.body = _strip(unit.body, stub, kinds)
            if not unit.body:
                continue
            tokens, lines = _Reduction().tokens(unit)
            body.tokens += tokens
            body.lines += lines
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
    codes = [cache.get(t) or _token_hash(t, cache) for t in body.tokens]
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
    chosen, n = -1, len(grams)
    for start in range(max(1, n - WINDOW + 1)):
        last = min(start + WINDOW, n) - 1
        if chosen >= start:  # still in the window: the least of the rest, unless the k-gram come in is as low
            low = last if grams[last] <= grams[chosen] else chosen
        else:
            low = start
            for i in range(start + 1, last + 1):
                if grams[i] <= grams[low]:
                    low = i
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


def _read(source: bytes, tasks: dict, stub: dict[str, set[str]], cache: dict[str, int]) -> dict[str, Body | None]:
    """One submitted file's body for each of its tasks, reduced and fingerprinted: parsed once, then each task read
    from the tree once, and the tree let go."""
    tree = parse(source)
    found = {}
    for tid, task in tasks.items():
        found[tid] = body_of(*tree, task.function, stub[tid]) if tree else None
        if found[tid] is not None:
            fingerprint(found[tid], cache)
    return found


def report(entries: list[Any], tasks: dict, stubs: dict[str, bytes]) -> dict:
    """Similarity of every task's code across the class: per task, how many bodies were compared and were
    too short, the flagged pairs (student slugs, score) and the clusters, and the best SHOWN_PAIRS pairs
    with both codes and the shared lines. entries: course.engine.submission.Entry (sources in memory)."""
    collecting = gc.isenabled()
    gc.disable()  # the trees and tokens hold no cycles: collecting while they are built only costs (about 7%)
    try:
        return _report(entries, tasks, stubs)
    finally:
        if collecting:
            gc.enable()


def _report(entries: list[Any], tasks: dict, stubs: dict[str, bytes]) -> dict:
    cache: dict[str, int] = {}
    out: dict = {"settings": {"k": K, "window": WINDOW, "min_tokens": MIN_TOKENS, "threshold": THRESHOLD,
                              "min_shared": MIN_SHARED, "common_share": COMMON_SHARE, "common_least": COMMON_LEAST},
                 "students": {}, "tasks": {}}
    stub = {tid: stub_statements(stubs.get(task.file), task.function) for tid, task in tasks.items()}
    reduced = {tid: [] for tid in tasks}  # per task, (entry, its body)
    files: dict[tuple[str, bytes], dict[str, Body | None]] = {}  # the same file (a stub, a copy) is read once
    for entry in entries:
        for file in dict.fromkeys(task.file for task in tasks.values()):
            source = entry.sources.get(file)
            if not source:
                continue
            key = (file, hashlib.sha256(source).digest())
            if key not in files:
                files[key] = _read(source, {tid: task for tid, task in tasks.items() if task.file == file}, stub, cache)
            for tid, found in files[key].items():
                if found is not None:
                    reduced[tid].append((entry, found))
    everything = []
    for tid in tasks:
        bodies = []
        for entry, found in reduced[tid]:
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
