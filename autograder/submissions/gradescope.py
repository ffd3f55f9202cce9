"""Gradescope: ``build`` the autograder zip, and ``run`` it on one submission inside Gradescope.

The one idea: the zip is this package as it grades here (hidden checks included, solutions
never), and ``run`` is ``grade`` with Gradescope's paths — the submission read from its folder,
results.json written by this (scoring) process only after the sandboxed worker is gone, replacing
whatever learner code may have put there.

    python -m autograder.submissions.gradescope build [--out autograder.zip]     # what `make gradescope` runs
    python -m autograder.submissions.gradescope run [--submission DIR] [--results FILE] [--sandbox MODE]

The zip's root holds ``setup.sh`` and ``run_autograder`` (from ``gradescope/``), a
``requirements.txt`` pinned from pyproject.toml, and the ``autograder`` package.
"""

from __future__ import annotations

import argparse
import importlib
import os
import pkgutil
import re
import shutil
import sys
import tempfile
import tomllib
import zipfile
from pathlib import Path

import autograder
from autograder import checks
from autograder.checks import SUITE_CHOICES
from autograder.checks import secret as course
from autograder.feedback import report
from autograder.nbcourse import notebooks
from autograder.scoring.grader import grade
from autograder.submissions.cache import write_atomically
from autograder.submissions.unpack import SubmissionError, materialize

PACKAGE = Path(__file__).resolve().parents[1]  # the autograder package
ROOT = PACKAGE.parent
TEMPLATES = ROOT / "gradescope"
SCHEMA = TEMPLATES / "results.schema.json"
ZIP_DATE = (1980, 1, 1, 0, 0, 0)  # fixed: the same sources give the same zip, byte for byte
DEFAULT_SUBMISSION = "/autograder/submission"
DEFAULT_RESULTS = "/autograder/results/results.json"


# ----------------------------------------------------------------------------- build
def requirements(pyproject: Path = ROOT / "pyproject.toml") -> str:
    """requirements.txt from pyproject.toml's dependencies, each of which must be pinned (==)."""
    project = tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]
    python = project.get("requires-python", "")
    lines = [f"# generated from pyproject.toml by `python -m autograder.submissions.gradescope build`; python {python}"]
    for dep in project["dependencies"]:
        if not re.fullmatch(r"[A-Za-z0-9_.\-\[\],]+==[A-Za-z0-9_.+\-!]+(\s*;.*)?", dep.strip()):
            raise ValueError(f"dependency {dep!r} is not pinned exactly (name==version)")
        lines.append(dep.strip())
    return "\n".join(lines) + "\n"


def package_files() -> list[Path]:
    """Every source file of the package (checks, hidden ones included, and the C++ op recorder's) and
    its data (the capstone's digits), without caches."""
    files = []
    for path in sorted(PACKAGE.rglob("*")):
        rel = path.relative_to(PACKAGE)
        if path.is_file() and "__pycache__" not in rel.parts and path.suffix in (".py", ".json", ".txt", ".gz", ".cpp"):
            files.append(path)
    return files


def _add(z: zipfile.ZipFile, name: str, data: bytes, executable: bool = False) -> None:
    info = zipfile.ZipInfo(name, date_time=ZIP_DATE)
    info.compress_type = zipfile.ZIP_DEFLATED
    info.external_attr = ((0o100755 if executable else 0o100644) & 0xFFFF) << 16
    z.writestr(info, data)


def build(out: Path) -> list[str]:
    """Writes the zip; returns its member names."""
    if "hidden" not in checks.available_suites():
        raise RuntimeError("the hidden checks are not installed here: Gradescope would grade without them")
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".part")
    with zipfile.ZipFile(tmp, "w") as z:
        _add(z, "setup.sh", (TEMPLATES / "setup.sh").read_bytes(), executable=True)
        _add(z, "run_autograder", (TEMPLATES / "run_autograder").read_bytes(), executable=True)
        _add(z, "requirements.txt", requirements().encode())
        for path in package_files():
            _add(z, f"autograder/{path.relative_to(PACKAGE).as_posix()}", path.read_bytes())
        key = course.course_secret()  # the hidden inputs Gradescope draws are the instructor's own
        if key is not None:
            _add(z, f"autograder/{course.FILE.relative_to(PACKAGE).as_posix()}", key + b"\n")
        else:
            print(course.WITHOUT, file=sys.stderr)
        names = z.namelist()
    bad = [n for n in names if n.startswith(("solutions/", "exercises/")) or "/solutions/" in n]
    if bad:
        tmp.unlink()
        raise RuntimeError(f"refusing to ship {bad[0]}")
    tmp.replace(out)
    return names


# ----------------------------------------------------------------------------- run
def _import_everything() -> None:
    """Imports every module of the package now. Where learner code is not contained (no
    bubblewrap), it could otherwise rewrite a module the scorer imports lazily later on."""
    for info in pkgutil.walk_packages(autograder.__path__, "autograder."):
        if info.name.split(".")[-1] in ("__main__", "worker", "watch"):
            continue  # the worker's own entry point, and the learner's file watcher
        try:
            importlib.import_module(info.name)
        except Exception:  # noqa: BLE001 - an optional module (notebooks without nbformat, say)
            pass


def _clear(path: Path) -> None:
    """Removes whatever is at ``path``: a file, a link, a directory."""
    if path.is_symlink() or path.is_file():
        path.unlink()
    elif path.is_dir():
        shutil.rmtree(path)


def _score_zero(message: str) -> dict:
    return {"score": 0.0, "execution_time": 0.0, "output": message, "tests": []}


def run(submission: Path, results: Path, sandbox: str = "auto", suite: str = "all") -> int:
    _import_everything()
    results = Path(results).absolute()
    results.parent.mkdir(parents=True, exist_ok=True)
    _clear(results)  # nothing stale or planted counts if grading fails below
    with tempfile.TemporaryDirectory(prefix="gradescope-submission-") as tmp:
        try:
            own: list[str] = []  # a notebook is graded on its own exercises, out of their points
            folder = materialize(Path(submission), Path(tmp), own)
        except SubmissionError as exc:
            data = _score_zero(f"Your submission could not be read: {exc}")
            result = None
        else:
            try:
                result = grade(folder, own or None, SUITE_CHOICES[suite], sandbox)  # the worker is gone when it returns
                notebooks.relocate(result, folder)  # a notebook's messages point at its cells
            except BaseException:
                _clear(results)
                raise
            data = report.results_json(result)
    _clear(results)  # learner code ran meanwhile; under a plain-process sandbox it could write here
    write_atomically(data, results)
    if result is not None:
        report.print_report(result)
    print(f"score {data['score']}/{data.get('max_score', 0)} written to {results}")
    return 0


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m autograder.submissions.gradescope", description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="command", required=True)
    b = sub.add_parser("build", help="build autograder.zip for Gradescope")
    b.add_argument("--out", default="autograder.zip")
    r = sub.add_parser("run", help="grade Gradescope's submission folder into its results.json")
    r.add_argument("--submission", default=os.environ.get("AUTOGRADER_SUBMISSION", DEFAULT_SUBMISSION))
    r.add_argument("--results", default=os.environ.get("AUTOGRADER_RESULTS", DEFAULT_RESULTS))
    r.add_argument(
        "--sandbox", choices=("auto", "bwrap", "process"), default=os.environ.get("AUTOGRADER_SANDBOX", "auto")
    )
    r.add_argument("--suite", choices=tuple(SUITE_CHOICES), default="all")
    args = p.parse_args(argv)
    if args.command == "build":
        names = build(Path(args.out))
        hidden = sum(n.startswith("autograder/checks/hidden/") for n in names)
        print(
            f"{args.out}: {len(names)} files (setup.sh, run_autograder, requirements.txt, the autograder "
            f"package with {hidden} hidden-check files; no solutions)"
        )
        return 0
    submission = Path(args.submission)
    if not submission.exists():
        print(f"error: submission not found: {submission}", file=sys.stderr)
        return 2
    return run(submission.absolute(), Path(args.results), args.sandbox, args.suite)


if __name__ == "__main__":
    sys.exit(main())
