"""Reads learner source as a syntax tree (never imports it) and finds what no submission may use.

Only code counts: imports, attribute access, reading a few builtins, defining PyTorch's dispatch
hooks. Words in strings, comments and docstrings, and the names of local variables, never do.
Two rules: nothing may reach into the interpreter or the grader's instruments, and an exercise
may not use the names its catalogue entry forbids (e.g. ``torch.optim``). A finding costs the
exercise whose function contains it, and every exercise whose function calls that one (directly,
through helpers, or per the catalogue's ``uses``); one in code at module level costs the module.
"""

from __future__ import annotations

import ast
import functools
import threading
from dataclasses import dataclass
from pathlib import Path

from autograder.course import catalogue
from autograder.course.catalogue import Exercise

# Modules and attributes that only code trying to tamper with grading needs.
TAMPERING_MODULES = frozenset(
    {"autograder", "ctypes", "gc", "importlib", "inspect", "_posixsubprocess", "_python_dispatch"}
)
TAMPERING_ATTRIBUTES = frozenset(
    {
        "_C",
        "_python_dispatch",
        "TorchDispatchMode",
        "__torch_dispatch__",
        "__torch_function__",
        "redispatch",
        "DispatchKey",
        "DispatchKeySet",
        "_DisableTorchDispatch",
        "addaudithook",
        "_getframe",
        "_current_frames",
        "__closure__",
        "__globals__",
        "__code__",
        "__subclasses__",
        "__builtins__",
        "f_back",
        "f_locals",
        "f_globals",
        "tb_frame",
        "settrace",
        "setprofile",
    }
)
TAMPERING_BUILTINS = frozenset({"__import__", "__builtins__"})  # read as bare names
DISPATCH_HOOKS = frozenset({"__torch_dispatch__", "__torch_function__"})  # defining one intercepts PyTorch


@dataclass(frozen=True)
class Finding:
    name: str
    line: int
    owner: str | None  # the module-level function or class it is in; None: module-level code

    def __str__(self) -> str:
        return f"`{self.name}` (line {self.line})"


def _imported(node: ast.Import | ast.ImportFrom):
    """Every dotted part of the modules an import names, and the names it binds."""
    for alias in node.names:
        yield from alias.name.split(".")
    if isinstance(node, ast.ImportFrom) and node.module:
        yield from node.module.split(".")


def _code_names(
    tree: ast.AST, modules: frozenset[str], attributes: frozenset[str], builtins=frozenset(), definitions=frozenset()
):
    """(name, line) for each use in code: imports, attribute access, read builtins, definitions."""
    for node in ast.walk(tree):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            for part in _imported(node):
                if part in modules or part in attributes:
                    yield part, node.lineno
        elif isinstance(node, ast.Attribute) and node.attr in attributes:
            yield node.attr, node.lineno
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load) and node.id in builtins:
            yield node.id, node.lineno
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name in definitions:
            yield node.name, node.lineno


def _owners(tree: ast.Module) -> list[tuple[str | None, ast.AST]]:
    """Module-level functions and classes by name, and every other statement (owner None)."""
    return [
        (node.name if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) else None, node)
        for node in tree.body
    ]


def _findings(tree: ast.Module, scan) -> list[Finding]:
    found = []
    for owner, node in _owners(tree):
        if owner is not None and isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            for decorator in node.decorator_list:  # a definition: its decorators run at module level
                found += [Finding(n, line, None) for n, line in scan(decorator)]
        found += [Finding(n, line, owner) for n, line in scan(node)]
    return sorted(found, key=lambda f: f.line)


def as_bytes(source: str) -> bytes:
    """The bytes the import reads: the file's own (``read_submission`` decodes them with
    ``surrogateescape``, and the inbox gets them back the same way)."""
    return source.encode("utf-8", "surrogateescape")


# CPython 3.11 keeps the AST builder's recursion depth per interpreter, not per thread: two threads
# parsing at once (grade-batch grades submissions in threads) can fail with "AST constructor recursion
# depth mismatch" (a SystemError). Every parse of learner text in the scorer goes through this lock.
_PARSING = threading.Lock()
UNPARSABLE = (SyntaxError, ValueError, UnicodeError, LookupError, RecursionError, MemoryError, SystemError)


def parse(source: str | bytes) -> ast.Module:
    """``ast.parse``, one thread at a time (see ``_PARSING``): raises what it raises."""
    with _PARSING:
        return ast.parse(source)


@functools.lru_cache(maxsize=16)  # a module's exercises are scanned one after another: parsed once
def _parse(source: str) -> ast.Module | None:
    """The tree of the code the import will run: parsed from its bytes, so that a PEP 263 coding
    cookie (``# coding: utf-7`` included) decodes them here exactly as it does there. Read only:
    the tree is shared by every scan of the same text."""
    try:
        return parse(as_bytes(source))
    except UNPARSABLE:
        return None  # the worker reports the syntax error with its line


def undecodable(data: bytes) -> str | None:
    """Why Python refuses to decode these bytes as source (PEP 263: UTF-8 unless a coding cookie on
    one of the first two lines names another encoding), in words a learner can act on; None when it
    decodes them (an ordinary syntax error is the worker's to report, with its line)."""
    try:
        parse(data)  # the import compiles the file's bytes as they are: the same decoding
        return None
    except SyntaxError as exc:
        message, line = str(exc.msg), exc.lineno
    except (ValueError, RecursionError, MemoryError, SystemError):
        return None
    decoding = ("codec can't decode", "unknown encoding", "encoding problem")
    if "unicodeescape" in message or not any(words in message for words in decoding):
        return None
    where = f" on line {line}" if line else ""
    return (
        f"cannot be imported: Python cannot decode it{where} "
        f"({message.removeprefix('(unicode error) ')}); save the file as UTF-8"
    )


def tampering(source: str) -> list[Finding]:
    return list(_tampering(source))


@functools.lru_cache(maxsize=16)  # the same for every exercise of a module
def _tampering(source: str) -> tuple[Finding, ...]:
    tree = _parse(source)
    if tree is None:
        return ()
    return tuple(
        _findings(
            tree,
            lambda node: _code_names(node, TAMPERING_MODULES, TAMPERING_ATTRIBUTES, TAMPERING_BUILTINS, DISPATCH_HOOKS),
        )
    )


def forbidden_names(source: str, exercise: Exercise) -> list[Finding]:
    tree = _parse(source)
    if tree is None or not exercise.forbidden_names:
        return []
    names = frozenset(exercise.forbidden_names)
    return _findings(tree, lambda node: _code_names(node, names, names))


def reach(tree: ast.Module, exercise: Exercise) -> set[str]:
    """The module-level functions and classes the exercise's function runs: itself, what it calls or
    names (transitively), and the functions of the exercises it ``uses`` in the same module."""
    defs = {name: node for name, node in _owners(tree) if name is not None}
    todo = [exercise.function] + [
        catalogue.get(u).function for u in exercise.uses if catalogue.get(u).module == exercise.module
    ]
    seen: set[str] = set()
    while todo:
        name = todo.pop()
        if name in seen or name not in defs:
            continue
        seen.add(name)
        todo += [n.id for n in ast.walk(defs[name]) if isinstance(n, ast.Name) and n.id in defs]
    return seen


def attributed(findings: list[Finding], tree: ast.Module, exercise: Exercise) -> list[Finding]:
    """The findings that cost ``exercise``: in module-level code, or in what its function runs."""
    mine = reach(tree, exercise)
    return [f for f in findings if f.owner is None or f.owner in mine]


def scan(submission: Path, exercise: Exercise) -> str | None:
    """A message when the exercise must score zero for what its source uses, else None.
    Reads only a regular file (a link is not followed)."""
    path = submission / f"{exercise.module}.py"
    try:
        if not path.is_file() or path.is_symlink():
            return None
        source = path.read_bytes().decode("utf-8", "surrogateescape")  # the bytes, as the import reads them
    except OSError:
        return None
    return scan_source(source, exercise)


def scan_source(source: str | None, exercise: Exercise) -> str | None:
    """``scan`` on the module's text (None when the submission has no such module)."""
    if source is None:
        return None
    tree = _parse(source)
    if tree is None:
        return None
    bad = attributed(tampering(source), tree, exercise)
    if bad:
        where = "at module level" if bad[0].owner is None else f"in {bad[0].owner}"
        return (
            f"{exercise.module}.py uses {bad[0]} {where}, which reaches into the interpreter or the "
            f"grader's instruments; remove it"
        )
    used = attributed(forbidden_names(source, exercise), tree, exercise)
    if used:
        return f"{exercise.function} uses {used[0]}, which is forbidden here: {exercise.advice}"
    return None
