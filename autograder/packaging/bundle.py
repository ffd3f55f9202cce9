"""The student release: exactly what a learner receives, and nothing an instructor keeps.

``make student-release`` writes ``dist/student/`` and ``dist/student.zip``: the stubs
(``exercises/``), the released notebooks (``release/``, solutions already stripped by nbgrader),
the grader with its public checks only, frozen into data (``checks/public/frozen.pickle``: each
check's inputs, PyTorch's results and its judge, no reference code; no ``checks/hidden/``), the Makefile with
``mk/`` (whose instructor targets vanish without ``solutions/``), ``pyproject.toml`` and the
learner's README (``docs/LEARNER.md``) and a learner's ``nbgrader_config.py`` (the course id, the
exchange and the notebooks folder: what JupyterLab's Assignments tab needs). No ``solutions/``,
``source/``, ``lessons/`` or tests. Inside it ``make grade`` and ``make lab`` work as in the
repository (``make lab`` publishes ``release/`` to the copy's own exchange, ``.nbgrader-exchange/``,
unless ``NBGRADER_EXCHANGE`` names the course's); the grader finds no hidden suite and runs the
public checks alone. A test searches the bundle for every line of every
solution body and for the name of every hidden check.

Usage: ``python -m autograder.packaging.bundle dist/student``
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

from autograder import checks
from autograder.checks import frozen
from autograder.course import catalogue

REPO_ROOT = Path(__file__).resolve().parents[2]  # autograder/<subpackage>/<module>.py

SHIPPED_FILES = ("Makefile", "pyproject.toml")
LEARNER_README = "docs/LEARNER.md"  # the bundle's README.md: what a learner does, with the commands there
SHIPPED_FOLDERS = ("exercises", "release", "mk", "autograder")
NEVER = shutil.ignore_patterns("__pycache__", "*.pyc", "hidden", ".*")
# The learner's nbgrader configuration; the repository's nbgrader_config.py is the instructor's.
LEARNER_NBGRADER_CONFIG = '''"""nbgrader's configuration for your copy: course, exchange, notebooks' folder.

JupyterLab's Assignments tab (`make lab`) and the nbgrader commands read it. The exchange is this
copy's own `.nbgrader-exchange/` unless NBGRADER_EXCHANGE names your course's (your instructor
says which); fetched assignments land in `my-notebooks/`, and Submit sends them from there.
"""
import os

HERE = os.path.dirname(os.path.abspath(__file__))

c = get_config()  # noqa: F821 - provided by nbgrader when it loads this file

c.CourseDirectory.root = HERE
c.CourseDirectory.course_id = "nn-by-hand"
c.Exchange.root = os.environ.get("NBGRADER_EXCHANGE", os.path.join(HERE, ".nbgrader-exchange"))
c.Exchange.assignment_dir = os.environ.get("NBGRADER_ASSIGNMENT_DIR", os.path.join(HERE, "my-notebooks"))
'''


# The learner's JupyterLab, as deploy/setup_course.py makes it for a hub's learners: no instructor
# menus or panels, no news prompt over the notebook. `make lab` puts the copy's folder on
# JUPYTER_CONFIG_PATH, where JupyterLab reads labconfig/page_config.json and the server its config.
LEARNER_LAB_OFF = (
    "@jupyter/nbgrader:formgrader",
    "@jupyter/nbgrader:create-assignment",
    "@jupyterlab/apputils-extension:announcements",
)
LEARNER_SERVER_OFF = ("nbgrader.server_extensions.formgrader",)


def write_learner_lab_config(dest: Path) -> None:
    """``labconfig/page_config.json`` and ``jupyter_server_config.json`` of a learner's copy."""
    (dest / "labconfig").mkdir(parents=True, exist_ok=True)
    page = {"disabledExtensions": {name: True for name in LEARNER_LAB_OFF}}
    (dest / "labconfig" / "page_config.json").write_text(json.dumps(page, indent=2) + "\n")
    server = {"ServerApp": {"jpserver_extensions": {name: False for name in LEARNER_SERVER_OFF}}}
    (dest / "jupyter_server_config.json").write_text(json.dumps(server, indent=2) + "\n")


def build(dest: Path, root: Path = REPO_ROOT, archive: bool = True) -> Path:
    """Writes the bundle into ``dest`` (replaced if it exists) and, with ``archive``, ``dest.zip``."""
    dest, root = Path(dest).resolve(), Path(root).resolve()
    if dest == root or dest in root.parents or (dest.parent == root and dest.name != "dist"):
        raise ValueError(f"refusing to replace {dest}: write the bundle under dist/ or elsewhere")
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    for name in SHIPPED_FILES:
        shutil.copy2(root / name, dest / name)
    shutil.copy2(root / LEARNER_README, dest / "README.md")
    (dest / "nbgrader_config.py").write_text(LEARNER_NBGRADER_CONFIG)
    write_learner_lab_config(dest)
    for name in SHIPPED_FOLDERS:
        shutil.copytree(root / name, dest / name, ignore=NEVER)
    if (dest / "autograder" / "checks" / "hidden").exists():  # belt and braces
        raise RuntimeError("the hidden checks ended up in the student release")
    freeze_public_checks(dest / "autograder" / "checks" / "public")
    if archive:
        shutil.make_archive(str(dest), "zip", root_dir=dest.parent, base_dir=dest.name)
    return dest


def freeze_public_checks(package: Path) -> None:
    """Replaces the public check modules (their reference code gives answers away) by their data."""
    found = [c for module in catalogue.MODULES for c in checks.for_module(module, ("public",))]
    (package / frozen.FILE_NAME).write_bytes(frozen.freeze(found))
    for module in package.glob("*.py"):
        if module.name != "__init__.py":
            module.unlink()


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    dest = Path(argv[0]) if argv else REPO_ROOT / "dist" / "student"
    built = build(dest)
    files = sum(1 for p in built.rglob("*") if p.is_file())
    print(f"wrote {built} ({files} files) and {built}.zip")
    return 0


if __name__ == "__main__":
    sys.exit(main())
