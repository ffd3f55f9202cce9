"""Notebook submissions: the learner's code comes out of the answer cells, into module files.

``extract_submission`` turns a notebook into a submission directory that the sandboxed grader
grades like any other: for each module the notebook covers, ``<module>.py`` holds the notebook's
imports cell for that module and then its answer cells, in order. Cells are recognised by their
nbgrader ``grade_id`` (``imports-losses``, ``answer-losses-nll_loss``), never by position, and an
answer cell turned into Markdown is still read as code, as ``nbgrader autograde`` restores it.
Only answer cells are graded: a helper defined in a cell of its own is not part of the
submission (nbgrader would see it, so ``make autograde`` reports the disagreement).

The file is only read. Nothing of the notebook is executed here.
"""
from __future__ import annotations

import json
from pathlib import Path

from autograder import catalogue
from autograder.nbsource import exercise_of

MAX_NOTEBOOK_BYTES = 16 * 2**20


class NotebookError(RuntimeError):
    """The file is not a notebook this course can read (the message says why, for the learner)."""


def read(path: Path) -> dict:
    """The notebook as JSON, or ``NotebookError`` saying what is wrong with the file."""
    path = Path(path)
    try:
        if path.stat().st_size > MAX_NOTEBOOK_BYTES:
            raise NotebookError(f"{path.name} is larger than {MAX_NOTEBOOK_BYTES >> 20} MiB")
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise NotebookError(f"notebook not found: {path}") from None
    except UnicodeDecodeError as exc:
        raise NotebookError(f"{path.name} is not a notebook: it is not UTF-8 text ({exc.reason})") from None
    try:
        notebook = json.loads(text)
    except json.JSONDecodeError as exc:
        raise NotebookError(f"{path.name} is not a notebook: invalid JSON at line {exc.lineno}, "
                            f"column {exc.colno} ({exc.msg})") from None
    if not isinstance(notebook, dict) or not isinstance(notebook.get("cells"), list):
        raise NotebookError(f"{path.name} is not a notebook: it has no list of cells")
    return notebook


def source_of(cell: dict) -> str:
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else str(source)


def grade_id(cell) -> str:
    if not isinstance(cell, dict):
        return ""
    meta = cell.get("metadata")
    nbgrader = meta.get("nbgrader") if isinstance(meta, dict) else None
    value = nbgrader.get("grade_id") if isinstance(nbgrader, dict) else None
    return value if isinstance(value, str) else ""


def _as_module_code(source: str) -> str:
    """IPython-only lines (``%magic``, ``!shell``) become comments: a module cannot hold them."""
    lines = []
    for line in source.splitlines():
        stripped = line.lstrip()
        if stripped.startswith(("%", "!")):
            line = line[:len(line) - len(stripped)] + "# (IPython only, not graded) " + stripped
        lines.append(line)
    return "\n".join(lines)


def modules(notebook: dict) -> dict[str, dict[str, list[str]]]:
    """Per module the notebook covers: its ``imports`` cell(s) and ``answers``, in notebook order."""
    found: dict[str, dict[str, list[str]]] = {}
    for cell in notebook["cells"]:
        gid = grade_id(cell)
        if gid.startswith("imports-") and gid[len("imports-"):] in catalogue.MODULES:
            found.setdefault(gid[len("imports-"):], {"imports": [], "answers": []})["imports"].append(source_of(cell))
        elif gid.startswith("answer-") and exercise_of(gid):
            module = exercise_of(gid).split(".")[0]
            found.setdefault(module, {"imports": [], "answers": []})["answers"].append(source_of(cell))
    return found


def extract_submission(notebook_path: Path, into: Path) -> Path:
    """Writes ``into/<module>.py`` for each module the notebook covers; returns ``into``.

    Raises ``NotebookError`` (a ``RuntimeError``: the CLI reports it and exits 2) for a file that
    is not a readable notebook.
    """
    notebook_path, into = Path(notebook_path), Path(into)
    notebook = read(notebook_path)
    into.mkdir(parents=True, exist_ok=True)
    for module, parts in modules(notebook).items():
        header = f"# The answer cells of {notebook_path.name} for {module}.py (extracted for grading).\n"
        body = "\n\n\n".join(_as_module_code(s).strip("\n") for s in parts["imports"] + parts["answers"])
        (into / f"{module}.py").write_text(header + body + "\n", encoding="utf-8")
    return into


def exercises_in(notebook: dict) -> list[str]:
    """The exercises whose answer cells the notebook holds, in order."""
    return [exercise_of(grade_id(c)) for c in notebook["cells"] if exercise_of(grade_id(c))
            and grade_id(c).startswith("answer-")]


def problems(submitted: Path, released: Path) -> list[str]:
    """What a learner changed that they should not have, compared with the released notebook.

    An empty list for a clean submission. A file that is not a notebook gives one problem.
    """
    try:
        notebook = read(submitted)
    except NotebookError as exc:
        return [str(exc)]
    reference = read(released)
    cells: dict[str, list[dict]] = {}
    for cell in notebook["cells"]:
        if grade_id(cell):
            cells.setdefault(grade_id(cell), []).append(cell)
    found = []
    for expected in reference["cells"]:
        gid = grade_id(expected)
        if not gid:
            continue
        kind = "answer cell" if gid.startswith("answer-") else "test cell" if gid.startswith("test-") else "cell"
        mine = cells.get(gid, [])
        if not mine:
            graded = expected.get("metadata", {}).get("nbgrader", {}).get("grade", False)
            found.append(f"the {kind} {gid} was deleted" + (" (nbgrader adds it back, worth 0 points)"
                                                                  if graded else ""))
        elif len(mine) > 1:
            found.append(f"the {kind} {gid} appears {len(mine)} times")
        elif mine[0].get("cell_type") != expected.get("cell_type"):
            found.append(f"the {kind} {gid} was turned into a {mine[0].get('cell_type')} cell "
                         f"(graded as {expected.get('cell_type')}, as nbgrader does)")
    return found
