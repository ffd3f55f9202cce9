"""Notebook submissions: the learner's code comes out of the answer cells, into module files.

``extract_submission`` turns a notebook into a submission directory that the sandboxed grader
grades like any other: for each module the notebook covers, ``<module>.py`` holds the notebook's
imports cell for that module and then its answer cells, in order. Cells are recognised by their
nbgrader ``grade_id`` (``imports-losses``, ``answer-losses-nll_loss``), never by position, and an
answer cell turned into Markdown is still read as code, as ``nbgrader autograde`` restores it.
Only answer cells are graded: a helper defined in a cell of its own is not part of the
submission (nbgrader would see it, so ``make autograde`` reports the disagreement).

Grading is per cell, as nbgrader's is: an answer cell that does not compile is replaced by a
function that raises its syntax error, so it costs only that cell's exercise. Beside the modules,
``cells.json`` maps their lines back to cells, and ``relocate`` rewrites a grade's messages to
point at "cell N, line M" of the notebook instead of a generated file the learner never sees.

The file is only read. Nothing of the notebook is executed here.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from autograder.course import catalogue
from autograder.nbcourse.nbsource import exercise_of

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
        raise NotebookError(
            f"{path.name} is not a notebook: invalid JSON at line {exc.lineno}, column {exc.colno} ({exc.msg})"
        ) from None
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
            line = line[: len(line) - len(stripped)] + "# (IPython only, not graded) " + stripped
        lines.append(line)
    return "\n".join(lines)


def modules(notebook: dict) -> dict[str, dict[str, list]]:
    """Per module the notebook covers: its ``imports`` and ``answers`` cells, in notebook order, as
    ``(cell number from 1, grade_id, source)``."""
    found: dict[str, dict[str, list]] = {}
    for number, cell in enumerate(notebook["cells"], start=1):
        gid = grade_id(cell)
        if gid.startswith("imports-") and gid[len("imports-") :] in catalogue.MODULES:
            module, kind = gid[len("imports-") :], "imports"
        elif gid.startswith("answer-") and (exercise := exercise_of(gid)):
            module, kind = exercise.split(".")[0], "answers"
        else:
            continue
        found.setdefault(module, {"imports": [], "answers": []})[kind].append((number, gid, source_of(cell)))
    return found


def _compiled_or_stub(code: str, number: int, gid: str) -> str:
    """The cell's code, or, when it does not compile, a stub of its exercise that raises the error."""
    try:
        compile(code, f"cell {number}", "exec")
        return code
    except SyntaxError as exc:
        where = f"cell {number} ({gid}), line {exc.lineno or 1}: {exc.msg}"
        text = (exc.text or "").strip()
        message = where + (f": {text}" if text else "")
    except ValueError as exc:  # e.g. a NUL byte in the source
        message = f"cell {number} ({gid}): {exc}"
    function = (exercise_of(gid) or ".").split(".")[1] or "_broken_cell"
    return (
        f"def {function}(*args, **kwargs):  # this cell does not compile; the rest of the notebook is graded\n"
        f"    raise SyntaxError({message!r})"
    )


CELL_MAP = "cells.json"


def extract_submission(notebook_path: Path, into: Path) -> Path:
    """Writes ``into/<module>.py`` for each module the notebook covers, and ``into/cells.json``
    (which lines came from which cell); returns ``into``.

    Raises ``NotebookError`` (a ``RuntimeError``: the CLI reports it and exits 2) for a file that
    is not a readable notebook.
    """
    notebook_path, into = Path(notebook_path), Path(into)
    notebook = read(notebook_path)
    into.mkdir(parents=True, exist_ok=True)
    cell_map = _cell_map(into)  # several notebooks may be extracted into one folder
    for module, parts in modules(notebook).items():
        lines = [f"# The answer cells of {notebook_path.name} for {module}.py (extracted for grading)."]
        spans = cell_map.setdefault(module, [])
        for kind in ("imports", "answers"):
            for number, gid, source in parts[kind]:
                code = _as_module_code(source).strip("\n")
                if kind == "answers":
                    code = _compiled_or_stub(code, number, gid)
                lines += ["", ""]
                first = len(lines) + 1
                lines += code.splitlines() or [""]
                spans.append([first, len(lines), number, gid, _leading_blank_lines(source)])
        (into / f"{module}.py").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (into / CELL_MAP).write_text(json.dumps(cell_map), encoding="utf-8")
    return into


def _leading_blank_lines(source: str) -> int:
    """Lines ``strip`` removed from the top of a cell (so line numbers count the cell's own lines)."""
    stripped = source.lstrip("\n")
    return len(source) - len(stripped)


_WHERE = re.compile(r"\b(\w+)\.py, line (\d+)")


def locate(cell_map: dict, module: str, line: int) -> str | None:
    """``cell N (grade_id), line M`` for a line of an extracted module, or None."""
    for first, last, number, gid, skipped in cell_map.get(module, []):
        if first <= line <= last:
            return f"cell {number} ({gid}), line {line - first + 1 + skipped}"
    return None


def _cell_map(folder: Path) -> dict:
    """``cells.json`` of an extracted folder, keeping only well-formed entries ({} when absent)."""
    path = Path(folder) / CELL_MAP
    try:
        if path.is_symlink() or path.stat().st_size > 2**20:
            return {}
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict):
        return {}
    return {
        module: [
            span
            for span in spans
            if isinstance(span, list)
            and len(span) == 5
            and all(type(v) is int for v in (span[0], span[1], span[2], span[4]))
            and isinstance(span[3], str)
            and _GRADE_ID.fullmatch(span[3])
        ]
        for module, spans in data.items()
        if module in catalogue.MODULES and isinstance(spans, list)
    }


_GRADE_ID = re.compile(r"[A-Za-z0-9_.-]{1,80}")  # a cell map comes with the submission: ids are checked


def relocate(result, folder: Path) -> None:
    """Rewrites ``<module>.py, line N`` in a grade's messages and notes as the notebook cell it came from."""
    cell_map = _cell_map(folder)
    if not cell_map:
        return

    def fix(text: str) -> str:
        return _WHERE.sub(lambda m: locate(cell_map, m.group(1), int(m.group(2))) or m.group(0), text)

    missing = missing_answers(folder)
    for whole in result.exercises:
        for ex in (whole, *whole.parts.values()):  # each suite's part is what its test shows
            ex.message = fix(ex.message)
            if whole.exercise.id in missing and whole.outcome != "passed":  # say so, not "defines no <function>"
                ex.outcome, ex.score, ex.units = "error", 0.0, []
                ex.message = (
                    f"the notebook has no answer cell {missing[whole.exercise.id]} (deleted?): 0 of "
                    f"{whole.max_score:g} points; copy the cell back from the released notebook"
                )
            ex.notes = [fix(n) for n in ex.notes]
            for unit in ex.units:
                unit.message = fix(unit.message)


def assignment_of(notebook: dict, name: str = "") -> list[str]:
    """Every exercise of the modules the notebook is for, in the catalogue's order: what it is graded
    on and out of, so that deleting an answer cell costs that exercise's points instead of dropping
    them from the total. The modules are those its cells name (imports, answer and test cells), else
    the one its file ``name`` names (``losses.ipynb``, ``04_losses.ipynb``)."""
    named = set()
    for cell in notebook["cells"]:
        gid = grade_id(cell)
        if gid.startswith("imports-") and gid[len("imports-") :] in catalogue.MODULES:
            named.add(gid[len("imports-") :])
        elif exercise_of(gid):
            named.add(str(exercise_of(gid)).split(".")[0])
    if not named:
        stem = Path(name).stem.split("_", 1)[-1] if name else ""
        named = {stem} & set(catalogue.MODULES)
    return [e.id for e in catalogue.EXERCISES if e.module in named]


def missing_answers(folder: Path) -> dict[str, str]:
    """Per exercise of the modules extracted into ``folder`` whose answer cell the notebook lacks:
    the id of that cell (from ``cells.json``)."""
    cell_map = _cell_map(folder)
    present = {span[3] for spans in cell_map.values() for span in spans}
    return {
        e.id: f"answer-{e.module}-{e.function}"
        for e in catalogue.EXERCISES
        if e.module in cell_map and f"answer-{e.module}-{e.function}" not in present
    }


def exercises_in(notebook: dict) -> list[str]:
    """The exercises whose answer cells the notebook holds, in order."""
    return [e for c in notebook["cells"] if grade_id(c).startswith("answer-") and (e := exercise_of(grade_id(c)))]


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
            found.append(
                f"the {kind} {gid} was deleted" + (" (nbgrader adds it back, worth 0 points)" if graded else "")
            )
        elif len(mine) > 1:
            found.append(f"the {kind} {gid} appears {len(mine)} times")
        elif mine[0].get("cell_type") != expected.get("cell_type"):
            found.append(
                f"the {kind} {gid} was turned into a {mine[0].get('cell_type')} cell "
                f"(graded as {expected.get('cell_type')}, as nbgrader does)"
            )
    return found
