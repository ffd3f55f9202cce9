"""The scorer's and the sandbox's functions stay short enough to read whole: at most 60 lines, or a
reason written beside the ``def`` (a ``# long:`` comment on its line)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
MAX_LINES = 60
FOLDERS = ("scoring", "sandbox", "protocol")

pytestmark = pytest.mark.pure


def _functions():
    for folder in FOLDERS:
        for path in sorted((ROOT / "autograder" / folder).rglob("*.py")):
            source = path.read_text(encoding="utf-8")
            lines = source.splitlines()
            for node in ast.walk(ast.parse(source)):
                if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    length = node.end_lineno - node.lineno + 1
                    yield f"{path.relative_to(ROOT)}:{node.lineno} {node.name}", length, lines[node.lineno - 1]


def test_the_rule_reads_functions():
    assert sum(1 for _ in _functions()) > 100


def test_no_function_runs_over_60_lines_without_a_reason():
    long = [f"{where} ({n} lines)" for where, n, line in _functions() if n > MAX_LINES and "# long:" not in line]
    assert long == [], "split these, or write why beside the def (# long: …)"
