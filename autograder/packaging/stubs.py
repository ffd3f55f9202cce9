"""Generates the learner's stubs from the reference solutions.

Every solution body sits between two marker lines (nbgrader's convention)::

    ### BEGIN SOLUTION
    ...
    ### END SOLUTION

``make_stub`` replaces each such region, markers included, by a TODO comment
and ``raise NotImplementedError`` at the indentation of the BEGIN marker, and
keeps everything else (imports, signatures, docstrings) unchanged.

Usage, from the repository root::

    python -m autograder.packaging.stubs           # write exercises/ from solutions/
    python -m autograder.packaging.stubs --check   # exit 1 if exercises/ is out of date
"""

from __future__ import annotations

import argparse
import ast
import sys
from pathlib import Path

BEGIN_MARKER = "### BEGIN SOLUTION"
END_MARKER = "### END SOLUTION"
TODO_LINE = "# TODO: your code here"
RAISE_LINE = "raise NotImplementedError"

REPO_ROOT = Path(__file__).resolve().parents[2]  # autograder/<subpackage>/<module>.py
DEFAULT_SOLUTIONS = REPO_ROOT / "solutions"
DEFAULT_EXERCISES = REPO_ROOT / "exercises"


def make_stub(source: str) -> str:
    """Return ``source`` with every solution region replaced by a stub body.

    Raises ``ValueError`` on an END without a BEGIN, a BEGIN inside an open
    region, a region left open at the end of the file, or a result that is
    not valid Python.
    """
    out: list[str] = []
    open_at: int | None = None  # line number of the open BEGIN marker
    for number, line in enumerate(source.splitlines(keepends=True), start=1):
        marker = line.strip()
        if marker == BEGIN_MARKER:
            if open_at is not None:
                raise ValueError(f"line {number}: {BEGIN_MARKER!r} inside the region opened on line {open_at}")
            open_at = number
            indent = line[: len(line) - len(line.lstrip())]
            newline = "\r\n" if line.endswith("\r\n") else "\n"
            out.append(f"{indent}{TODO_LINE}{newline}")
            out.append(f"{indent}{RAISE_LINE}{newline}")
        elif marker == END_MARKER:
            if open_at is None:
                raise ValueError(f"line {number}: {END_MARKER!r} without {BEGIN_MARKER!r}")
            open_at = None
        elif open_at is None:
            out.append(line)
    if open_at is not None:
        raise ValueError(f"line {open_at}: {BEGIN_MARKER!r} is never closed")
    stub = "".join(out)
    try:
        ast.parse(stub)
    except SyntaxError as err:
        raise ValueError(f"the generated stub is not valid Python: {err}") from err
    return stub


def _solution_files(solutions_dir: Path) -> list[Path]:
    if not Path(solutions_dir).is_dir():
        raise ValueError(f"no solutions directory at {solutions_dir}")
    return sorted(path for path in Path(solutions_dir).glob("*.py") if not path.name.startswith("_"))


def _read(path: Path) -> str:
    with open(path, encoding="utf-8", newline="") as handle:
        return handle.read()


def _stub_for(path: Path) -> str:
    try:
        return make_stub(_read(path))
    except ValueError as err:
        raise ValueError(f"{path}: {err}") from err


def generate(solutions_dir=DEFAULT_SOLUTIONS, exercises_dir=DEFAULT_EXERCISES) -> list[str]:
    """Write one stub per solution module; return the names of the files written.

    A stub that is already up to date is not rewritten.
    """
    exercises_dir = Path(exercises_dir)
    stubs = {path.name: _stub_for(path) for path in _solution_files(solutions_dir)}
    exercises_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for name, stub in stubs.items():
        target = exercises_dir / name
        if target.exists() and _read(target) == stub:
            continue
        with open(target, "w", encoding="utf-8", newline="") as handle:
            handle.write(stub)
        written.append(name)
    return written


def stale(solutions_dir=DEFAULT_SOLUTIONS, exercises_dir=DEFAULT_EXERCISES) -> list[str]:
    """Names of the modules whose stub is missing or differs from the generated one."""
    exercises_dir = Path(exercises_dir)
    names = []
    for path in _solution_files(solutions_dir):
        target = exercises_dir / path.name
        if not target.exists() or _read(target) != _stub_for(path):
            names.append(path.name)
    return names


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m autograder.packaging.stubs",
        description="Generate the learner's stubs (exercises/) from the solutions.",
    )
    parser.add_argument(
        "--check",
        action="store_true",
        help="write nothing; exit 1 and list the stubs that are out of date",
    )
    parser.add_argument("--solutions", type=Path, default=DEFAULT_SOLUTIONS)
    parser.add_argument("--exercises", type=Path, default=DEFAULT_EXERCISES)
    args = parser.parse_args(argv)

    try:
        if args.check:
            names = stale(args.solutions, args.exercises)
            if names:
                print(
                    f"stale stubs in {args.exercises} (run `python -m autograder.packaging.stubs`):",
                    file=sys.stderr,
                )
                for name in names:
                    print(f"  {name}", file=sys.stderr)
                return 1
            print(f"{args.exercises} is up to date with {args.solutions}")
            return 0
        written = generate(args.solutions, args.exercises)
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    for name in written:
        print(f"wrote {args.exercises / name}")
    if not written:
        print(f"{args.exercises} already up to date")
    return 0


if __name__ == "__main__":
    sys.exit(main())
