"""The import rules that keep the trust boundary where docs/architecture.md draws it, read from
the source (every import, also those inside functions), not from what happens to be loaded.
"""

from __future__ import annotations

import ast
import io
import re
import tokenize
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "autograder"

pytestmark = pytest.mark.pure

# Each subpackage is one layer; its folder says which side of the trust boundary it is on.
UNTRUSTED = "sandbox"  # the worker that imports learner code, its walls and instruments
# the bytes that cross, and the contract (the catalogue and the per-module records it gathers)
SHARED = {"protocol", "course.catalogue", "course.records", "course.modules", "warmup"}
SCORER = {"scoring", "checks"}  # references, judging, points: started apart from the learner's side
LAYERS = {"course", "checks", "protocol", "sandbox", "scoring", "feedback", "submissions", "nbcourse", "packaging"}


def _module(path: Path) -> str:
    parts = path.relative_to(PACKAGE).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports() -> dict[str, set[str]]:
    """Each module of the package (``checks`` as one) and the package modules it imports."""
    graph: dict[str, set[str]] = {}
    for path in PACKAGE.rglob("*.py"):
        name = _module(path)
        name = "checks" if name.startswith("checks") else name
        deps = graph.setdefault(name, set())
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "autograder":
                base = node.module.split(".", 1)[1] if "." in node.module else ""
                targets = [f"{base}.{a.name}" if base else a.name for a in node.names]
                deps.update(t if _is_module(t) else base for t in targets)
            elif isinstance(node, ast.Import):
                deps.update(a.name.split(".", 1)[1] for a in node.names if a.name.startswith("autograder."))
        deps.discard(name)
        deps.discard("")
        deps.discard("__main__")
    return {m: {"checks" if d.startswith("checks") else d for d in deps} - {m} for m, deps in graph.items()}


def _is_module(dotted: str) -> bool:
    path = PACKAGE.joinpath(*dotted.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def _in(module: str, layers) -> bool:
    return any(module == layer or module.startswith(layer + ".") for layer in layers)


GRAPH = _imports()


def test_every_module_sits_in_a_layer():
    loose = sorted(m for m in GRAPH if not _in(m, LAYERS | {"cli", "warmup", "__main__", ""}))
    assert loose == []
    assert {p.name for p in PACKAGE.iterdir() if (p / "__init__.py").is_file()} == LAYERS


@pytest.mark.parametrize("module", sorted(m for m in GRAPH if _in(m, {UNTRUSTED})))
def test_the_untrusted_side_imports_nothing_of_the_scorer(module):
    assert all(_in(d, SHARED | {UNTRUSTED}) for d in GRAPH[module]), GRAPH[module]


@pytest.mark.parametrize("module", sorted(m for m in GRAPH if _in(m, SCORER)))
def test_the_scorer_never_imports_the_learners_side(module):
    assert not any(_in(d, {UNTRUSTED}) for d in GRAPH[module]), GRAPH[module]


def test_the_scorer_never_imports_learner_code():
    """No module of the scorer loads a module from a path (the way learner code would come in)."""
    for path in PACKAGE.rglob("*.py"):
        if not _in(_module(path), SCORER):
            continue
        text = path.read_text(encoding="utf-8")
        for loader in ("spec_from_file_location", "exec_module", "run_path", "__import__(", "exec("):
            assert loader not in text, f"{path.relative_to(ROOT)} uses {loader}"


def test_the_shared_formats_import_only_each_other():
    for module in (m for m in GRAPH if _in(m, SHARED)):
        assert all(_in(d, SHARED) for d in GRAPH[module]), (module, GRAPH[module])


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


# ----------------------------------------------------------------------------- docs/architecture.md's table
ARCHITECTURE = ROOT / "docs" / "architecture.md"


def _names(cell: str) -> set[str]:
    """The module names in backticks in one cell of the table (``scoring/``, ``cli.py``: ``scoring``, ``cli``)."""
    return {n.removesuffix("/").removesuffix(".py").replace("/", ".") for n in re.findall(r"`([^`]+)`", cell)}


def _table(text: str) -> dict[str, set[str]]:
    """docs/architecture.md's table of layers: each layer (its row's first cell; ``cli.py``,
    ``__main__.py`` share one row) and what its "may import" column (the last) allows; ``all`` there
    is every layer."""
    section = text.split("## The layers, one folder each", 1)[1].split("\n## ", 1)[0]
    rows = [[c.strip() for c in line.strip().strip("|").split("|")] for line in section.splitlines()]
    rows = [r for r in rows if len(r) >= 2 and r[0].startswith("`")]
    everything = set().union(*(_names(r[0]) for r in rows))
    return {" ".join(sorted(_names(r[0]))): everything if r[-1] == "all" else _names(r[-1]) for r in rows}


TABLE = _table(ARCHITECTURE.read_text(encoding="utf-8"))
ROWS = {name: row for row in TABLE for name in row.split()}  # each layer's row


def _layer(module: str) -> str:
    """The table's row a module sits in: the one naming the longest layer the module starts with."""
    names = [name for name in ROWS if _in(module, {name})]
    return ROWS[max(names, key=len)] if names else module


def _arrows(graph: dict[str, set[str]]) -> set[tuple[str, str, str]]:
    """Every import that crosses from one row of the table to another: (module, imported, its row)."""
    return {(m, d, _layer(m)) for m, deps in graph.items() for d in deps if m and _layer(d) != _layer(m)}


def test_the_table_names_every_layer_and_only_modules_of_ours():
    assert LAYERS | {"cli", "__main__", "warmup"} <= set(ROWS)
    named = set(ROWS) | set().union(*TABLE.values())
    assert all(_is_module(n) for n in named), sorted(n for n in named if not _is_module(n))


def test_every_import_is_one_the_table_allows():
    """An import from one layer into another is allowed by its row's "may import" column."""
    forbidden = sorted(f"{m} -> {d}" for m, d, layer in _arrows(GRAPH) if not _in(d, TABLE[layer]))
    assert forbidden == [], "these imports run where docs/architecture.md's table does not allow"


def test_the_table_runs_one_way():
    """No two layers may import each other, directly or round a loop: every arrow points down."""
    layers = {row: {_layer(d) for d in allowed} - {row} for row, allowed in TABLE.items()}
    assert _cycles(layers) == []


def test_every_arrow_the_table_allows_is_taken():
    """The table claims no dependency the code does not have (it says what is, not what may one day be)."""
    taken = {(layer, a) for m, d, layer in _arrows(GRAPH) for a in TABLE[layer] if _in(d, {a})}
    unused = sorted(
        f"{row} -> {a}"
        for row, allowed in TABLE.items()
        if allowed != set(ROWS)
        for a in allowed
        if _layer(a) != row and (row, a) not in taken
    )
    assert unused == [], "docs/architecture.md allows these imports, which no module makes: remove them"


def test_the_table_check_sees_an_arrow_back_up():
    table = _table("## The layers, one folder each\n| `low/` | x | nothing |\n| `high/` | x | `low` |\n")
    assert table == {"low": set(), "high": {"low"}}
    assert _cycles({"low": {"high"}, "high": {"low"}}) != []


# ----------------------------------------------------------------------------- imports inside functions
def _says_why(comment: str | None) -> bool:
    """A comment with words in it, beyond a linter's directive (``# noqa: F401`` alone says nothing)."""
    text = re.sub(r"noqa(:\s*[A-Z]+[0-9]+(,\s*[A-Z]+[0-9]+)*)?|type:\s*ignore(\[[^\]]*\])?", "", comment or "")
    return re.search(r"[A-Za-z]{2,}", text) is not None


def _unexplained_imports(path: Path) -> list[int]:
    """Lines of imports inside a function that say nowhere why they are there: neither on their own
    lines nor on the line above them, or above the block of imports they open together."""
    text = path.read_text(encoding="utf-8")
    comments = {
        t.start[0]: t.string for t in tokenize.generate_tokens(io.StringIO(text).readline) if t.type == tokenize.COMMENT
    }
    lines = text.splitlines()
    statements = sorted(
        {
            (node.lineno, node.end_lineno or node.lineno)
            for fn in ast.walk(ast.parse(text))
            if isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef))
            for node in ast.walk(fn)
            if isinstance(node, (ast.Import, ast.ImportFrom))
        }
    )
    in_imports = {line for start, end in statements for line in range(start, end + 1)}
    found = []
    for start, end in statements:
        if any(_says_why(comments.get(line)) for line in range(start, end + 1)):
            continue
        above = start - 1  # up through blank lines and the block's other imports
        while above > 0 and (not lines[above - 1].strip() or (above in in_imports and above not in comments)):
            above -= 1
        beside = above == start - 1 or above in in_imports or lines[above - 1].lstrip().startswith("#")
        if not (beside and _says_why(comments.get(above))):  # not a comment on code further up
            found.append(start)
    return found


def test_every_import_inside_a_function_says_why():
    """CONTRIBUTING.md's rule: imports go at the top; one inside a function has a comment saying why
    (a cycle, start-up time, the sandbox's order) on its line or the line above."""
    unexplained = [
        f"{path.relative_to(ROOT)}:{line}"
        for path in sorted(PACKAGE.rglob("*.py"))
        for line in _unexplained_imports(path)
    ]
    assert unexplained == [], "move these imports to the top, or say beside each why it cannot be there"


def test_the_import_rule_sees_a_silent_import_and_accepts_a_reason(tmp_path):
    source = tmp_path / "example.py"
    source.write_text(
        "def silent():\n    import json  # noqa: F401\n\n\n"
        "def explained():\n    # slow: only this verb needs it\n    import json\n\n    import csv\n\n\n"
        "def beside():\n    import json  # the cycle: json imports this module\n\n\n"
        "def apart():\n    x = 1  # a comment about x\n\n    import json\n"
    )
    assert _unexplained_imports(source) == [2, 19]
