"""The import rules that keep the trust boundary where docs/architecture.md draws it, read from
the source (every import, also those inside functions), not from what happens to be loaded.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "autograder"

pytestmark = pytest.mark.pure

# The learner's side: what runs in (or sets up) the process that imports learner code.
UNTRUSTED = {"worker", "recorder", "forbid", "privileges"}
# What both sides share: plain data formats and the contract.
SHARED = {"catalogue", "encoding", "protocols", "wire", "warmup"}
# The trusted side: references, judging, scores. It starts the worker as a program, never imports it.
SCORER = {"grader", "compare", "mistakes", "static", "cleantext", "sandbox", "checks", "report"}


def _imports() -> dict[str, set[str]]:
    """Each module of the package (``checks`` as one) and the package modules it imports."""
    graph: dict[str, set[str]] = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE).with_suffix("").parts
        name = parts[0]
        deps = graph.setdefault(name, set())
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "autograder":
                rest = node.module.split(".")[1:]
                deps.update([rest[0]] if rest else [a.name for a in node.names])
            elif isinstance(node, ast.Import):
                deps.update(
                    a.name.split(".")[1] for a in node.names if a.name.startswith("autograder.") and a.name.count(".")
                )
        deps.discard(name)
        deps.discard("__main__")
    return graph


GRAPH = _imports()


def test_the_layers_name_every_module():
    modules = {p.stem for p in PACKAGE.glob("*.py")} | {"checks"}
    assert UNTRUSTED | SHARED | SCORER <= modules


@pytest.mark.parametrize("module", sorted(UNTRUSTED))
def test_the_untrusted_side_imports_nothing_of_the_scorer(module):
    assert GRAPH[module] <= UNTRUSTED | SHARED, GRAPH[module] - UNTRUSTED - SHARED


@pytest.mark.parametrize("module", sorted(SCORER))
def test_the_scorer_never_imports_the_learners_side(module):
    assert not GRAPH[module] & UNTRUSTED, GRAPH[module] & UNTRUSTED


def test_the_scorer_never_imports_learner_code():
    """No module of the scorer loads a module from a path (the way learner code would come in)."""
    for path in PACKAGE.rglob("*.py"):
        name = path.relative_to(PACKAGE).parts[0].removesuffix(".py")
        if name not in SCORER:
            continue
        text = path.read_text(encoding="utf-8")
        for loader in ("spec_from_file_location", "exec_module", "run_path", "__import__(", "exec("):
            assert loader not in text, f"{path.relative_to(ROOT)} uses {loader}"


def test_the_shared_formats_import_only_each_other():
    for module in SHARED:
        assert GRAPH[module] <= SHARED, (module, GRAPH[module] - SHARED)


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    found, state = [], {}

    def visit(node, stack):
        state[node] = "open"
        for dep in sorted(graph.get(node, ())):
            if state.get(dep) == "open":
                found.append(stack[stack.index(dep) :] + [dep])
            elif dep not in state:
                visit(dep, stack + [dep])
        state[node] = "done"

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])
    return found


def test_no_import_cycles():
    assert _cycles(GRAPH) == []


def test_the_cycle_finder_finds_a_cycle():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == [["a", "b", "c", "a"]]
