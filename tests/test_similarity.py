"""Code similarity (course.engine.similarity): every planted copy in the test class is found, whatever disguise it
wears, and no two independent students are flagged; short bodies, the stub's own lines and idioms of the whole
class are never evidence; hostile source never stops it; and the same class always gives the same report."""
from __future__ import annotations

import ast
import json
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import EXERCISES, S2, S4, SOLUTIONS, environment, replace_definition
from similarity_corpus import PLANTED, STYLES, entry, independent, independent_ids, test_class

from course.content.curriculum import TASKS
from course.engine import similarity
from course.engine.submission import Entry

FILES = sorted({t.file for t in TASKS.values()})
STUBS = {name: (EXERCISES / name).read_bytes() for name in FILES}




@pytest.fixture(scope="module")
def found() -> dict:
    return similarity.report(test_class(), TASKS, STUBS)


def flagged(report: dict, task: str) -> set[tuple[str, str]]:
    return {(p["a"], p["b"]) for p in report["tasks"][task]["pairs"]}


@pytest.mark.parametrize("planted", PLANTED, ids=[p.name for p in PLANTED])
def test_every_planted_copy_is_found(found, planted):
    pair = tuple(sorted((planted.name, f"ind{planted.source}")))
    assert pair in flagged(found, planted.task), (planted.how, found["tasks"][planted.task]["pairs"])


def test_no_independent_pair_is_flagged(found):
    independents = set(independent_ids())
    wrong = [(tid, p) for tid in found["tasks"] for p in found["tasks"][tid]["pairs"]
             if not ({p["a"], p["b"]} - independents) or {p["a"], p["b"]} <= {p.name for p in PLANTED}]
    assert wrong == []
    expected = {(tid, tuple(sorted((p.name, f"ind{p.source}")))) for p in PLANTED for tid in [p.task]}
    every = {(tid, (p["a"], p["b"])) for tid in found["tasks"] for p in found["tasks"][tid]["pairs"]}
    assert every == expected  # nothing else at all: exactly the planted pairs
    assert all(found["tasks"][tid]["compared"] >= len(STYLES[tid]) for tid in STYLES)  # every style was compared


@dataclass(frozen=True)
class Disguise:
    name: str
    code: str  # the reference evaluate, disguised this way only


def definition(file: str, name: str) -> str:
    """The source of a top-level definition of the reference file."""
    text = (SOLUTIONS / file).read_text(encoding="utf-8")
    node = next(n for n in ast.parse(text).body if getattr(n, "name", None) == name)
    return "\n" + ast.get_source_segment(text, node) + "\n"


REFERENCE_EVALUATE = definition(S4, "evaluate")
DISGUISES = [
    Disguise("renamed", REFERENCE_EVALUATE.replace("total", "s").replace("correct", "hits").replace("count", "n")
             .replace("inputs", "xb").replace("targets", "yb").replace("logits", "out")),
    Disguise("reformatted", '''
def evaluate(model,loader,loss_fn):
    model.eval( )
    total,correct,count=0.0,0,0

    with torch.no_grad() :
        for inputs,targets in loader :
            logits=model(
                inputs)
            total+=(loss_fn(logits,targets).item()*len(targets))
            correct+=((logits.argmax(dim=1)==targets).sum().item())
            count+=len(targets)
    return (total/count,correct/count)
'''),
    Disguise("comments", REFERENCE_EVALUATE.replace("model.eval()", "model.eval()  # no dropout\n    # sums").replace(
        "            count += len(targets)", "            # how many so far\n            count += len(targets)  # n")
        .replace("def evaluate(model, loader, loss_fn):", 'def evaluate(model, loader, loss_fn):\n    """Mine."""')),
    Disguise("reordered", '''
def evaluate(model, loader, loss_fn):
    total, correct, count = 0.0, 0, 0
    model.eval()
    with torch.no_grad():
        for inputs, targets in loader:
            logits = model(inputs)
            count += len(targets)
            correct += (logits.argmax(dim=1) == targets).sum().item()
            total += loss_fn(logits, targets).item() * len(targets)
    return total / count, correct / count
'''),
]


def reduced(code: str) -> list[str]:
    text = replace_definition(S4, "evaluate", code)
    body = similarity.body_of(*similarity.parse(text.encode()), TASKS["4.3"].function,
                              similarity.stub_statements(STUBS[S4], TASKS["4.3"].function))
    return body.tokens


@pytest.mark.parametrize("disguise", DISGUISES, ids=[d.name for d in DISGUISES])
def test_each_disguise_alone_changes_nothing_compared(disguise):
    assert reduced(disguise.code) == reduced(REFERENCE_EVALUATE)


def test_a_different_solution_does_change_what_is_compared():
    assert reduced(STYLES["4.3"][0]) != reduced(REFERENCE_EVALUATE)


def test_short_bodies_are_never_compared():
    """Ten students with the reference's three-line forward: alike because the task is short, not copied."""
    reference = (SOLUTIONS / S2).read_text(encoding="utf-8")
    found = similarity.report([entry(f"s{i}", {S2: reference}) for i in range(10)], TASKS, STUBS)
    assert found["tasks"]["2.2"] == {"compared": 0, "short": 10, "pairs": [], "more_pairs": 0, "clusters": []}


def test_the_stubs_own_lines_are_not_compared():
    stubs = {name: (EXERCISES / name).read_text(encoding="utf-8") for name in FILES}
    found = similarity.report([entry(f"s{i}", stubs) for i in range(4)], TASKS, STUBS)
    assert all(t["compared"] == t["short"] == 0 for t in found["tasks"].values())
    assert found["students"] == {} and found["shown"] == []


def test_code_common_to_much_of_the_class_is_an_idiom():
    """Twelve identical bodies in a class of twelve: what everyone writes (the lesson's code) flags no one; two
    among ten different ones are flagged."""
    same = entry("x", independent(0)).sources
    everyone = [Entry(f"s{i:02d}", f"s{i:02d}", "folder", Path(f"s{i:02d}"), sources=dict(same)) for i in range(12)]
    assert similarity.report(everyone, TASKS, STUBS)["tasks"]["4.3"]["pairs"] == []
    pair = [entry("twin1", independent(2)), entry("twin2", independent(2))]
    found = similarity.report(pair + test_class()[:4], TASKS, STUBS)
    assert ("twin1", "twin2") in flagged(found, "4.3")


HOSTILE = {
    "does_not_parse": "def evaluate(:\n",
    "nested_too_deep": "x = " + "(" * 200_000 + ")" * 200_000 + "\n",
    "null_bytes": "def evaluate(m, l, f):\n    return 1\x00\n",
    "deep_statements": "def evaluate(model, loader, loss_fn):\n" + "".join(
        "    " * (i + 1) + "if model:\n" for i in range(90)) + "    " * 91 + "return 1\n",
    "twenty_thousand_statements": "def evaluate(model, loader, loss_fn):\n" + "".join(  # ordered in linear time
        f"    a{i % 50} = b{i % 7} + {i}\n" for i in range(20_000)),
    "shadowing_everything": "evaluate = 3\nclass evaluate:\n    def __init__(self): pass\ndef evaluate(*a, **k):\n"
                            "    '''x'''\n    raise NotImplementedError('not implemented yet (Task 4.3)')\n",
}


@pytest.mark.parametrize("name", HOSTILE)
def test_hostile_source_is_that_students_loss_only(name):
    found = similarity.report([entry("evil", {S4: HOSTILE[name]}), *test_class()], TASKS, STUBS)
    assert flagged(found, "4.3") == flagged(similarity.report(test_class(), TASKS, STUBS), "4.3")


def test_the_report_is_the_same_in_every_process():
    """Fingerprints are hashed without Python's per-process string hashing: two processes with other hash seeds
    give the same bytes."""
    script = textwrap.dedent("""
        import json
        from conftest import EXERCISES
        from similarity_corpus import test_class
        from course.content.curriculum import TASKS
        from course.engine import similarity
        stubs = {t.file: (EXERCISES / t.file).read_bytes() for t in TASKS.values()}
        print(json.dumps(similarity.report(test_class(), TASKS, stubs), sort_keys=True))
    """)
    outs = {subprocess.run([sys.executable, "-c", script], env=environment(Path(__file__).parent, PYTHONHASHSEED=seed),
                           capture_output=True, text=True, check=True, timeout=120).stdout for seed in ("1", "2")}
    assert len(outs) == 1 and json.loads(outs.pop())["tasks"]["4.2"]["pairs"]
