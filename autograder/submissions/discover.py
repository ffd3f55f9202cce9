"""Finding a class's submissions: each entry directly inside a folder (a directory, zip, notebook,
module file, or anything else a learner left there) is one learner's ``Submission``, named as the
CSV and the results folder will name it; what cannot be graded gets a row that says why.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

IGNORED = {"__pycache__", "__MACOSX", ".ipynb_checkpoints", ".git"}  # never part of a submission


@dataclass
class Submission:
    name: str  # the learner, as the CSV and the results folder name it
    path: Path
    kind: str  # "directory", "zip", "notebook" or "file" (anything else: unpacking says what is wrong)
    digest: str = ""  # content hash of what is graded

    @property
    def label(self) -> str:
        return self.path.name


def _kind(path: Path) -> str | None:
    if path.name.startswith(".") or path.name in IGNORED:
        return None
    if path.is_dir():
        return "directory"
    if path.is_file() and path.suffix.lower() == ".zip":
        return "zip"
    if path.is_file() and path.suffix.lower() == ".ipynb":
        return "notebook"
    return "file"  # a loose hal.py, a link, a stray file: a row that says why it is not graded


def discover(folder: Path, exclude: tuple[Path, ...] = ()) -> list[Submission]:
    """The submissions directly inside ``folder``, by name; ``exclude`` drops our own outputs."""
    excluded = {p.resolve() for p in exclude}
    found = []
    for path in sorted(folder.iterdir()):
        kind = _kind(path)
        if kind and path.resolve() not in excluded:
            found.append(Submission(path.stem if kind != "directory" else path.name, path, kind))
    stems = [s.name for s in found]
    for s in found:  # alice/ and alice.zip side by side: keep them apart by their full names
        if stems.count(s.name) > 1:
            s.name = s.path.name
    return found
