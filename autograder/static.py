"""Reads learner source as text (never imports it) and finds what no submission may use.

Two rules: nothing may reach into the interpreter or the grader's instruments (module-wide),
and an exercise may not use the names its catalogue entry forbids (e.g. ``torch.optim``).
"""
from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

from autograder.catalogue import Exercise

# Names that only code trying to tamper with grading needs.
TAMPERING_NAMES = frozenset({
    "_C", "_python_dispatch", "TorchDispatchMode", "__torch_dispatch__", "__torch_function__", "redispatch",
    "DispatchKey", "DispatchKeySet", "_DisableTorchDispatch", "autograder", "addaudithook", "ctypes", "gc",
    "_getframe", "_current_frames", "__closure__", "__globals__", "__code__", "__subclasses__", "__builtins__",
    "f_back", "f_locals", "f_globals", "tb_frame", "_posixsubprocess", "importlib", "__import__", "settrace",
    "setprofile", "inspect",
})


@dataclass(frozen=True)
class Finding:
    name: str
    line: int

    def __str__(self) -> str:
        return f"`{self.name}` (line {self.line})"


def _names(tree: ast.AST):
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            yield node.id, node.lineno
        elif isinstance(node, ast.Attribute):
            yield node.attr, node.lineno
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            modules = [a.name for a in node.names]
            if isinstance(node, ast.ImportFrom) and node.module:
                modules.append(node.module)
            for module in modules:
                for part in module.split("."):
                    yield part, node.lineno
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and len(node.value) < 80:
            for part in node.value.replace("/", ".").split("."):
                yield part.strip(), node.lineno


def tampering(source: str) -> list[Finding]:
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return []  # the worker reports the syntax error with its line
    found = {}
    for name, line in _names(tree):
        if name in TAMPERING_NAMES and name not in found:
            found[name] = Finding(name, line)
    return list(found.values())


def forbidden_names(source: str, exercise: Exercise) -> list[Finding]:
    """Forbidden names used inside the exercise's own function or class body."""
    if not exercise.forbidden_names:
        return []
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return []
    defs = [node for node in tree.body
            if isinstance(node, (ast.FunctionDef, ast.ClassDef)) and node.name == exercise.function]
    if not defs:  # defined some other way: scan the whole module
        defs = [tree]
    return [Finding(n, line) for n, line in _names(defs[-1]) if n in exercise.forbidden_names][:1]


def scan(submission: Path, exercise: Exercise) -> str | None:
    """A message when the exercise must score zero for what its source uses, else None.
    Reads only a regular file (a link is not followed)."""
    path = submission / f"{exercise.module}.py"
    try:
        if not path.is_file() or path.is_symlink():
            return None
        source = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    return scan_source(source, exercise)


def scan_source(source: str | None, exercise: Exercise) -> str | None:
    """``scan`` on the module's text (None when the submission has no such module)."""
    if source is None:
        return None
    bad = tampering(source)
    if bad:
        return (f"{exercise.module}.py uses {bad[0]}, which reaches into the interpreter or the grader's "
                f"instruments; remove it")
    used = forbidden_names(source, exercise)
    if used:
        return f"{exercise.function} uses {used[0]}, which is forbidden here: {exercise.advice}"
    return None
