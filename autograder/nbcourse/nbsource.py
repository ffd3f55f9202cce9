"""Builds nbgrader's source notebooks (``source/``), and the README's table of assignments, from the
lessons and the reference solutions.

One source of truth: a lesson (``lessons/NN_name.md``) holds the teaching text, the pictures'
code and the order of things; every answer cell is cut out of ``solutions/<module>.py`` with its
``### BEGIN SOLUTION`` fences kept, so ``nbgrader generate_assignment`` strips exactly what
``make stubs`` strips. A lesson is Markdown with directive lines (HTML comments, invisible when
the lesson itself is read on GitHub)::

    <!-- imports losses -->            the solution module's import lines, a read-only cell
    <!-- answer losses.nll_loss -->    the function's source from solutions/, an answer cell
    <!-- check losses.nll_loss -->     a test cell worth the catalogue's points: public checks
                                       visible, hidden checks inside ### BEGIN HIDDEN TESTS
    <!-- code -->                      a code cell: the ```python block that follows
    <!-- free-response ID points=N --> a question (the Markdown that follows), then after
    <!-- model-answer -->              the instructor's model answer, a manually graded cell
    <!-- markdown -->                  starts a new Markdown cell

Usage, from the repository root::

    python -m autograder.nbcourse.nbsource           # write source/ (``make notebooks``)
    python -m autograder.nbcourse.nbsource --check   # exit 1 when source/ is stale
"""

from __future__ import annotations

import argparse
import ast
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

from autograder.course import catalogue

REPO_ROOT = Path(__file__).resolve().parents[2]  # autograder/<subpackage>/<module>.py
LESSONS = REPO_ROOT / "lessons"
SOLUTIONS = REPO_ROOT / "solutions"
SOURCE = REPO_ROOT / "source"
README = REPO_ROOT / "README.md"
TABLE_START = "<!-- assignments: written by `make notebooks` from the catalogue and lessons/ -->"
TABLE_END = "<!-- /assignments -->"

DIRECTIVE = re.compile(r"^<!--\s*([a-z-]+)\s*(.*?)\s*-->\s*$")
KERNELSPEC = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}
SCHEMA_VERSION = 3


class LessonError(ValueError):
    """A lesson that cannot be turned into a notebook (the message names the file and line)."""


@dataclass
class Block:
    kind: str  # markdown, code, imports, answer, check, free-response
    arg: str = ""
    lines: list[str] = field(default_factory=list)
    answer: list[str] = field(default_factory=list)  # free-response: the model answer
    line: int = 0
    in_answer: bool = False  # free-response: past its model-answer line

    @property
    def complete(self) -> bool:
        """A directive cell, or a code cell whose fence is closed: what follows is a new cell."""
        if self.kind in ("imports", "answer", "check"):
            return True
        return self.kind == "code" and sum(ln.strip().startswith("```") for ln in self.lines) >= 2

    @property
    def text(self) -> str:
        return "\n".join(self.lines).strip("\n")


@dataclass(frozen=True)
class Lesson:
    path: Path

    @property
    def assignment(self) -> str:  # nbgrader's assignment id, e.g. 01_outliers
        return self.path.stem

    @property
    def notebook(self) -> str:  # the notebook's name inside the assignment, e.g. outliers
        return self.path.stem.split("_", 1)[1]


def lessons(directory: Path = LESSONS) -> list[Lesson]:
    """Every lesson, in teaching order (the file names start with the order)."""
    return [Lesson(p) for p in sorted(Path(directory).glob("[0-9][0-9]_*.md"))]


# ----------------------------------------------------------------------------- reading a lesson
def parse(text: str, name: str = "lesson") -> list[Block]:
    blocks: list[Block] = [Block("markdown", line=1)]
    for number, line in enumerate(text.splitlines(), start=1):
        match = DIRECTIVE.match(line)
        if not match:
            target = blocks[-1]
            if target.complete:
                if not line.strip():
                    continue
                target = Block("markdown", line=number)
                blocks.append(target)
            (target.answer if target.in_answer else target.lines).append(line)
            continue
        kind, arg = match.groups()
        if kind == "model-answer":
            if blocks[-1].kind != "free-response":
                raise LessonError(f"{name}, line {number}: model-answer outside a free-response")
            blocks[-1].in_answer = True
            continue
        if kind not in ("markdown", "code", "imports", "answer", "check", "free-response"):
            raise LessonError(f"{name}, line {number}: unknown directive {kind!r}")
        blocks.append(Block(kind, arg, line=number))
    return [b for b in blocks if b.kind not in ("markdown", "code") or b.text.strip()]


def _code(block: Block, name: str) -> str:
    text = block.text.strip()
    if not (text.startswith("```python") and text.endswith("```")):
        raise LessonError(f"{name}, line {block.line}: a code block must be one ```python fence")
    return text[len("```python") : -3].strip("\n")


# ----------------------------------------------------------------------------- solution sources
def _read(module: str, solutions: Path) -> tuple[str, ast.Module]:
    source = (Path(solutions) / f"{module}.py").read_text(encoding="utf-8")
    return source, ast.parse(source)


def function_source(exercise_id: str, solutions: Path = SOLUTIONS) -> str:
    """The solution's function (or class), decorators, docstring and fences included."""
    exercise = catalogue.get(exercise_id)
    source, tree = _read(exercise.module, solutions)
    lines = source.splitlines()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)) and node.name == exercise.function:
            first = min([node.lineno] + [d.lineno for d in node.decorator_list])
            last = node.end_lineno or node.lineno  # ast.parse always sets end_lineno
            while last < len(lines) and lines[last][:1].isspace() and lines[last].lstrip().startswith("#"):
                last += 1  # indented comments after the last statement, ### END SOLUTION among them
            return "\n".join(lines[first - 1 : last])
    raise LessonError(f"solutions/{exercise.module}.py defines no {exercise.function}")


def imports_source(module: str, solutions: Path = SOLUTIONS) -> str:
    """The solution module's top-level import lines, in order."""
    source, tree = _read(module, solutions)
    lines = source.splitlines()
    found = [node for node in tree.body if isinstance(node, (ast.Import, ast.ImportFrom))]
    return "\n".join("\n".join(lines[n.lineno - 1 : n.end_lineno]) for n in found)


def check_source(exercise_id: str) -> str:
    function = catalogue.get(exercise_id).function
    return (
        f"# Checks your {function} with the same checks as `make grade`; fix it until this cell passes.\n"
        f"from autograder.feedback.incheck import check\n\n"
        f'check({function}, "{exercise_id}")\n'
        f"### BEGIN HIDDEN TESTS\n"
        f'check({function}, "{exercise_id}", suite="hidden")\n'
        f"### END HIDDEN TESTS"
    )


# ----------------------------------------------------------------------------- grade ids
def answer_id(exercise_id: str) -> str:
    return "answer-" + exercise_id.replace(".", "-")


def test_id(exercise_id: str) -> str:
    return "test-" + exercise_id.replace(".", "-")


def imports_id(module: str) -> str:
    return f"imports-{module}"


def exercise_of(grade_id: str) -> str | None:
    """``answer-losses-nll_loss`` or ``test-losses-nll_loss`` -> ``losses.nll_loss``."""
    for prefix in ("answer-", "test-"):
        if grade_id.startswith(prefix) and "-" in grade_id[len(prefix) :]:
            module, function = grade_id[len(prefix) :].split("-", 1)
            return f"{module}.{function}" if f"{module}.{function}" in catalogue.BY_ID else None
    return None


def _nbgrader(grade_id: str, *, grade=False, solution=False, locked=False, points=None) -> dict:
    meta = {
        "grade": grade,
        "grade_id": grade_id,
        "locked": locked,
        "schema_version": SCHEMA_VERSION,
        "solution": solution,
        "task": False,
    }
    if points is not None:
        meta["points"] = points
    return {"nbgrader": meta}


# ----------------------------------------------------------------------------- building notebooks
def build(lesson: Lesson, solutions: Path = SOLUTIONS):
    """The source notebook of one lesson (an ``nbformat`` notebook, deterministic to the byte)."""
    import nbformat  # slow (over a second): the graders import this module for exercise_of alone

    name = lesson.path.name
    cells: list[dict] = []

    def add(cell, **metadata):
        cell["id"] = f"{lesson.notebook}-{len(cells):02d}"
        cell["metadata"] = metadata
        cells.append(cell)

    for block in parse(lesson.path.read_text(encoding="utf-8"), name):
        if block.kind == "markdown":
            add(nbformat.v4.new_markdown_cell(block.text))
        elif block.kind == "code":
            add(nbformat.v4.new_code_cell(_code(block, name)))
        elif block.kind == "imports":
            add(
                nbformat.v4.new_code_cell(imports_source(block.arg, solutions)),
                **_nbgrader(imports_id(block.arg), locked=True),
            )
        elif block.kind == "answer":
            add(
                nbformat.v4.new_code_cell(function_source(block.arg, solutions)),
                **_nbgrader(answer_id(block.arg), solution=True),
                autograder={"exercise": block.arg},
            )
        elif block.kind == "check":
            points = catalogue.get(block.arg).points
            add(
                nbformat.v4.new_code_cell(check_source(block.arg)),
                **_nbgrader(test_id(block.arg), grade=True, locked=True, points=points),
                autograder={"exercise": block.arg},
            )
        elif block.kind == "free-response":
            grade_id, _, written = block.arg.partition(" points=")
            if not written:
                raise LessonError(f"{name}, line {block.line}: free-response needs points=N")
            add(nbformat.v4.new_markdown_cell(block.text))
            model = "\n".join(block.answer).strip("\n")
            add(
                nbformat.v4.new_markdown_cell(f"### BEGIN SOLUTION\n{model}\n### END SOLUTION"),
                **_nbgrader(grade_id.strip(), grade=True, solution=True, points=float(written)),
            )
    notebook = nbformat.v4.new_notebook(cells=cells)
    notebook.metadata = {"kernelspec": dict(KERNELSPEC), "language_info": {"name": "python"}}
    return notebook


def render(notebook) -> str:
    import nbformat  # slow: see build

    return nbformat.writes(notebook) + "\n"


def target(lesson: Lesson, source_dir: Path = SOURCE) -> Path:
    return Path(source_dir) / lesson.assignment / f"{lesson.notebook}.ipynb"


def exercises_of(notebook) -> list[str]:
    """The exercises a notebook's answer cells hold, in order."""
    found = []
    for cell in notebook["cells"]:
        grade_id = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id", "")
        exercise = exercise_of(grade_id) if grade_id.startswith("answer-") else None
        if exercise:
            found.append(exercise)
    return found


def generate(lessons_dir=LESSONS, source_dir=SOURCE, solutions=SOLUTIONS, check_only=False) -> list[str]:
    """Writes (or, with ``check_only``, only compares) every source notebook; returns the stale ones."""
    stale = []
    for lesson in lessons(lessons_dir):
        text = render(build(lesson, solutions))
        path = target(lesson, source_dir)
        if path.exists() and path.read_text(encoding="utf-8") == text:
            continue
        stale.append(str(path.relative_to(source_dir)))
        if not check_only:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
    return stale


def _points(x: float) -> str:
    return f"{x:g}"


def assignment_table(lessons_dir=LESSONS) -> str:
    """The README's table of assignments: each lesson's exercises and written answers with their points."""
    rows = [
        "| assignment | exercises (autograded points) | written answers (manual points) | total |",
        "| --- | --- | --- | --- |",
    ]
    for lesson in lessons(lessons_dir):
        blocks = parse(lesson.path.read_text(encoding="utf-8"), lesson.path.name)
        exercises = [catalogue.get(b.arg) for b in blocks if b.kind == "check"]
        written = [b.arg.partition(" points=") for b in blocks if b.kind == "free-response"]
        auto = sum(e.points for e in exercises)
        manual = sum(float(points) for _, _, points in written)
        listed = ", ".join(e.function for e in exercises)
        answers = ", ".join(f"{gid.strip().replace('-', ' ')} ({_points(float(pts))})" for gid, _, pts in written)
        rows.append(
            f"| `{lesson.assignment}` | {listed} ({_points(auto)}) | {answers or '—'} | {_points(auto + manual)} |"
        )
    return "\n".join(rows)


def update_readme(readme: Path = README, lessons_dir=LESSONS, check_only=False) -> bool:
    """Rewrites the table between the README's markers; True when it was stale."""
    text = readme.read_text(encoding="utf-8")
    before, start, rest = text.partition(TABLE_START)
    _, end, after = rest.partition(TABLE_END)
    if not (start and end):
        raise LessonError(f"{readme.name}: the markers {TABLE_START!r} and {TABLE_END!r} are missing")
    fresh = f"{before}{TABLE_START}\n{assignment_table(lessons_dir)}\n{TABLE_END}{after}"
    if fresh == text:
        return False
    if not check_only:
        readme.write_text(fresh, encoding="utf-8")
    return True


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m autograder.nbcourse.nbsource", description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 when source/ is stale")
    args = parser.parse_args(argv)
    try:
        stale = [f"source/{name}" for name in generate(check_only=args.check)]
        stale += ["README.md (its assignment table)"] if update_readme(check_only=args.check) else []
    except (LessonError, KeyError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.check:
        for name in stale:
            print(f"stale: {name} (run `make notebooks`)", file=sys.stderr)
        return 1 if stale else 0
    for name in stale:
        print(f"wrote {name}")
    if not stale:
        print("source/ and README.md's assignment table already up to date")
    return 0


if __name__ == "__main__":
    sys.exit(main())
