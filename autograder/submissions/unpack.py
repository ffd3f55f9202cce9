"""Unpacking a submission into a folder of modules the grader reads: a zip (regular files only,
within size limits) or notebooks into a private temporary folder; the submission itself is only read.
"""

from __future__ import annotations

import shutil
import zipfile
from pathlib import Path

from autograder.course import catalogue
from autograder.nbcourse.notebooks import assignment_of, extract_submission
from autograder.nbcourse.notebooks import read as read_notebook
from autograder.submissions.discover import IGNORED

MODULE_FILES = {f"{m}.py" for m in catalogue.MODULES}
ZIP_MAX_FILES = 256
ZIP_MAX_BYTES = 64 * 2**20  # uncompressed, all members together


class SubmissionError(Exception):
    """The submission cannot be graded as it is (a broken zip, a notebook that cannot be read, ...)."""


def materialize(path: Path, into: Path, notebook_exercises: list[str] | None = None) -> Path:
    """A directory holding the submission's modules: ``path`` itself when it is one, else what a
    zip, notebook or single module file unpacks into ``into`` (a fresh private folder). Never
    writes into ``path``. The one way in for ``grade``, ``grade-batch``, Gradescope and Dask.

    Also resolves what Gradescope's upload folder holds: the modules, a folder of them, one zip
    or notebooks. ``notebook_exercises``, when given, receives the whole assignment of each
    notebook (or single module file) unpacked: every exercise of its modules, a deleted answer
    cell's included, which is what such a submission is graded on, and out of."""
    path = Path(path)
    if not path.exists() and not path.is_symlink():
        raise SubmissionError(f"submission not found: {path} (no such file or folder)")
    if path.is_symlink() and path.is_file():
        raise SubmissionError(f"{path.name} is a symbolic link: only regular files are graded")
    if path.is_file():
        if path.suffix.lower() == ".zip":
            return materialize(_unzip(path, into / "unzipped"), into / "inner", notebook_exercises)
        if path.suffix.lower() == ".ipynb":
            return _notebooks([path], into / "extracted", notebook_exercises)
        if path.name in MODULE_FILES:
            return _module(path, into / "module", notebook_exercises)
        raise SubmissionError(
            f"{path.name} is not a submission: give a folder, a .zip or a notebook, or one of the course's "
            f"module files ({', '.join(sorted(MODULE_FILES))})"
        )
    for _ in range(4):  # descend through wrapper folders ("alice/hw1/...")
        if not path.is_dir():
            raise SubmissionError(f"{path.name} is not a submission: not a regular file, nor a folder")
        entries = [e for e in path.iterdir() if not e.name.startswith(".") and e.name not in IGNORED]
        if any(e.name in MODULE_FILES and e.is_file() for e in entries):
            return path
        # a link is never followed (it could point at the instructor's files); modules that are
        # links are refused by ``read_submission`` with a message
        notebooks = sorted(e for e in entries if e.suffix.lower() == ".ipynb" and e.is_file() and not e.is_symlink())
        zips = [e for e in entries if e.suffix.lower() == ".zip" and e.is_file() and not e.is_symlink()]
        folders = [e for e in entries if e.is_dir() and not e.is_symlink()]
        if notebooks:
            return _notebooks(notebooks, into / "extracted", notebook_exercises)
        if len(zips) == 1 and not folders:
            return materialize(zips[0], into / "zip", notebook_exercises)
        if len(folders) == 1 and not zips:
            path = folders[0]
            continue
        break
    return path  # no module found: the grader reports each missing module as an error


def _unzip(archive: Path, into: Path) -> Path:
    """Extracts regular files only, inside ``into``, within size limits (no links, no ``..``)."""
    try:
        with zipfile.ZipFile(archive) as z:
            members = [m for m in z.infolist() if not m.is_dir()]
            if len(members) > ZIP_MAX_FILES:
                raise SubmissionError(f"{archive.name} holds {len(members)} files (at most {ZIP_MAX_FILES})")
            if sum(m.file_size for m in members) > ZIP_MAX_BYTES:
                raise SubmissionError(f"{archive.name} unpacks to more than {ZIP_MAX_BYTES >> 20} MiB")
            into.mkdir(parents=True)
            root = into.resolve()
            for m in members:
                if (m.external_attr >> 16) & 0o170000 == 0o120000:
                    continue  # a symbolic link
                target = (into / m.filename).resolve()
                if root not in target.parents:
                    continue  # absolute or ../ paths
                target.parent.mkdir(parents=True, exist_ok=True)
                with z.open(m) as src, open(target, "wb") as dst:
                    shutil.copyfileobj(src, dst)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, NotImplementedError, RuntimeError, OSError, EOFError) as exc:
        raise SubmissionError(f"{archive.name} is not a readable zip: {exc}") from None
    return into


def _module(path: Path, into: Path, exercises: list[str] | None) -> Path:
    """A single module file, copied alone into ``into``: graded on its module's exercises."""
    if path.stat().st_size > ZIP_MAX_BYTES:
        raise SubmissionError(f"{path.name} is larger than {ZIP_MAX_BYTES >> 20} MiB")
    into.mkdir(parents=True)
    shutil.copyfile(path, into / path.name)
    if exercises is not None:
        exercises += [e.id for e in catalogue.EXERCISES if f"{e.module}.py" == path.name and e.id not in exercises]
    return into


def _notebooks(notebooks: list[Path], into: Path, exercises: list[str] | None = None) -> Path:
    into.mkdir(parents=True, exist_ok=True)
    result = into
    for notebook in notebooks:
        try:
            result = Path(extract_submission(notebook, into))
            if exercises is not None:
                exercises += [e for e in assignment_of(read_notebook(notebook), notebook.name) if e not in exercises]
        except Exception as exc:  # noqa: BLE001 - a malformed notebook is the learner's, not ours
            raise SubmissionError(f"{notebook.name} could not be read: {type(exc).__name__}: {exc}") from None
    return result
