"""A notebook that imports the learner's other modules by name (the capstone: ``from convolution
import conv2d``) finds them in the learner's other notebooks, beside its own folder.

An assignment's notebook lives in a folder of its own (``08_capstone/capstone.ipynb``), and the
learner's earlier ones beside it (``05_convolution/convolution.ipynb``): so it is in ``source/`` and
``release/``, in a learner's ``my-notebooks/`` and in nbgrader's ``submitted/<student>/``. Each module
comes out of its notebook's answer cells exactly as the grader extracts them
(``notebooks.extract_submission``), never by running the notebook.

- ``use_my_modules()``: in the notebook's kernel (its first code cell), extracts the modules into a
  private folder and puts it first on ``sys.path``; run again, it picks up the notebooks' changes.
- ``extract_beside(notebook, into)``: for the sandboxed grader, adds the modules the notebook
  imports, from the notebooks beside it, to the folder its own code was extracted into.
"""

from __future__ import annotations

import ast
import sys
import tempfile
from pathlib import Path

from autograder.course import catalogue
from autograder.nbcourse import notebooks
from autograder.scoring import static


def notebook_of(module: str, folder: Path) -> Path | None:
    """The learner's notebook for ``module`` beside ``folder`` (an assignment's folder): in
    ``../NN_<module>/<module>.ipynb``, or, where nbgrader's autograde runs a copy of the assignment
    (``autograded/<student>/NN_<name>/``), in the same student's submitted copy."""
    folder = Path(folder).resolve()
    places = [folder.parent]
    if folder.parent.parent.name == "autograded":
        places.append(folder.parents[2] / "submitted" / folder.parent.name)
    for place in places:
        found = sorted(place.glob(f"[0-9][0-9]_{module}/{module}.ipynb"))
        if found:
            return found[0]
    return None


def imported_modules(notebook: dict) -> list[str]:
    """The course's modules the notebook's imports cells import by name (``from convolution import …``)."""
    found: list[str] = []
    for cell in notebook["cells"]:
        if not notebooks.grade_id(cell).startswith("imports-"):
            continue
        try:
            tree = static.parse(notebooks.source_of(cell))
        except static.UNPARSABLE:  # a learner's edit (a null byte, deep nesting): no import read from it
            continue
        for node in ast.walk(tree):
            names = [node.module] if isinstance(node, ast.ImportFrom) and node.level == 0 else []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            found += [n for n in names if n in catalogue.MODULES and n not in found]
    return found


def extract_beside(notebook_path: Path, into: Path, folder: Path | None = None) -> list[str]:
    """Adds to ``into`` (where the notebook's own code was extracted) each module the notebook imports
    by name and does not hold, from the learner's notebook of it beside the notebook's folder (or
    ``folder``, where the notebook was copied elsewhere); returns the modules added. One not found
    stays absent: the grader then says which one is missing."""
    notebook_path, into = Path(notebook_path), Path(into)
    folder = Path(folder) if folder is not None else notebook_path.parent
    notebook = notebooks.read(notebook_path)
    own = set(notebooks.modules(notebook))
    cells = into / notebooks.CELL_MAP
    kept = cells.read_text(encoding="utf-8") if cells.is_file() else None
    added = []
    for module in imported_modules(notebook):
        if module in own or (into / f"{module}.py").exists():
            continue
        found = notebook_of(module, folder)
        if found is None:
            continue
        try:
            notebooks.extract_submission(found, into)
        except notebooks.NotebookError:
            continue
        added.append(module)
    if kept is not None:  # messages point at this notebook's cells only, not at another notebook's
        cells.write_text(kept, encoding="utf-8")
    return added


_FOLDER: list[str] = []  # this kernel's private folder of extracted modules, made on first use


def use_my_modules(modules=None, here: Path | None = None, out=None) -> dict[str, Path | None]:
    """Makes the learner's other modules importable by name in this kernel, from their notebooks beside
    this one's folder (``here``, default the working directory, which Jupyter sets to the notebook's).
    ``modules``: which (default every module of the course but the capstone). Prints where each came
    from; returns ``{module: notebook or None}``. Modules imported before are dropped, so that the next
    import reads the notebooks as they are now."""
    here = Path.cwd() if here is None else Path(here)
    out = out or sys.stdout
    chosen = [m for m in (modules or catalogue.MODULES) if m != "capstone"]
    if not _FOLDER:
        _FOLDER.append(tempfile.mkdtemp(prefix="my-modules-"))
    folder = Path(_FOLDER[0])
    for stale in folder.glob("*.py"):
        stale.unlink()
    found = {}
    for module in chosen:
        notebook = notebook_of(module, here)
        found[module] = notebook
        if notebook is None:
            (folder / f"{module}.py").write_text(_missing(module), encoding="utf-8")
        else:
            notebooks.extract_submission(notebook, folder)
        sys.modules.pop(module, None)
    if str(folder) in sys.path:
        sys.path.remove(str(folder))
    sys.path.insert(0, str(folder))
    shown = [f"{m} ({path.parent.name}/{path.name})" for m in chosen if (path := found[m]) is not None]
    print("your modules, from your notebooks: " + (", ".join(shown) or "none found"), file=out)
    missing = [m for m in chosen if found[m] is None]
    if missing:
        print(f"not found beside this notebook's folder: {', '.join(missing)}", file=out)
    return found


def _missing(module: str) -> str:
    """A module that says, when imported, where its notebook was expected."""
    message = (
        f"your {module} notebook was not found: keep it beside this assignment's folder, as "
        f"../NN_{module}/{module}.ipynb (where fetching the assignment puts it)"
    )
    return f"raise ImportError({message!r})\n"
