"""Grades a whole class: every submission in a folder, on a few warm graders fed from one queue.

The one idea: a class is graded by ``--jobs`` long-lived ``Grader``\\ s (each keeps one sandboxed
worker that imported torch once and forks a fresh child per exercise of every submission), fed
from a shared queue, while this thread — the scoring process — alone reads and writes the
instructor's files. A submission is a directory of modules, a zip of one, or a notebook; it is
only ever read (zips and notebooks are unpacked into private temporary folders). Each result
carries the content hash of what was graded, so a re-run grades only what changed.

    python -m autograder grade-batch SUBMISSIONS --jobs 2 --csv grades.csv --json-dir results/

writes ``results/<name>/results.json`` (Gradescope's format, the hash and the machine that graded
it under ``extra_data``) and one CSV row of per-exercise points per learner. ``--scheduler ADDRESS``
or ``--cluster local:N`` grade on Dask workers instead (``autograder/submissions/cluster.py``); the outcomes
come back to the same code here. Exit status: 0 when every submission was graded
(whatever the scores), 1 when some could not be (a broken zip, say), 2 when nothing could run.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import queue
import shutil
import sys
import tempfile
import threading
import time
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from autograder.course import catalogue

MODULE_FILES = {f"{m}.py" for m in catalogue.MODULES}
IGNORED = {"__pycache__", "__MACOSX", ".ipynb_checkpoints", ".git"}
ZIP_MAX_FILES = 256
ZIP_MAX_BYTES = 64 * 2**20  # uncompressed, all members together
RESULTS_NAME = "results.json"


class SubmissionError(Exception):
    """The submission cannot be graded as it is (a broken zip, no notebook support, ...)."""


# ----------------------------------------------------------------------------- finding submissions
@dataclass
class Submission:
    name: str  # the learner, as the CSV and the results folder name it
    path: Path
    kind: str  # "directory", "zip" or "notebook"
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
    return None


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


def content_hash(path: Path) -> str:
    """SHA-256 of a file, or of a directory's relative paths and bytes (symlinks by their target)."""
    h = hashlib.sha256()
    if path.is_file():
        h.update(b"file\0")
        _hash_file(h, path)
        return h.hexdigest()
    for root, dirs, files in os.walk(path):
        dirs[:] = sorted(d for d in dirs if d not in IGNORED)
        for name in sorted(files):
            full = Path(root, name)
            rel = full.relative_to(path).as_posix().encode()
            if full.is_symlink():
                h.update(b"link\0" + rel + b"\0" + os.readlink(full).encode() + b"\0")
            elif full.is_file():
                h.update(b"file\0" + rel + b"\0")
                _hash_file(h, full)
    return h.hexdigest()


def _hash_file(h, path: Path) -> None:
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    h.update(b"\0")


def grader_fingerprint() -> str:
    """What else decides a grade: the grader's own code (checks included) and torch's version."""
    from importlib import metadata

    h = hashlib.sha256()
    package = Path(__file__).resolve().parents[1]  # the whole autograder package
    for path in sorted(package.rglob("*.py")):
        if "__pycache__" not in path.parts:
            h.update(path.relative_to(package).as_posix().encode() + b"\0")
            _hash_file(h, path)
    for dist in ("torch", "numpy"):
        try:
            h.update(f"{dist}=={metadata.version(dist)}\0".encode())
        except metadata.PackageNotFoundError:
            pass
    return h.hexdigest()[:16]


# ----------------------------------------------------------------------------- unpacking
def materialize(path: Path, into: Path, notebook_exercises: list[str] | None = None) -> Path:
    """A directory holding the submission's modules: ``path`` itself when it is one, else what a
    zip or notebook unpacks into ``into`` (a fresh private folder). Never writes into ``path``.

    Also resolves what Gradescope's upload folder holds: the modules, a folder of them, one zip
    or notebooks. ``notebook_exercises``, when given, receives the exercises of the notebooks
    unpacked (by their answer cells' nbgrader ids, whatever the file is called): what a notebook
    submission is graded on, and out of."""
    path = Path(path)
    if path.is_symlink() and path.is_file():
        raise SubmissionError(f"{path.name} is a symbolic link: only regular files are graded")
    if path.is_file():
        if path.suffix.lower() == ".zip":
            return materialize(_unzip(path, into / "unzipped"), into / "inner", notebook_exercises)
        if path.suffix.lower() == ".ipynb":
            return _notebooks([path], into / "extracted", notebook_exercises)
        raise SubmissionError(f"{path.name} is neither a directory, a zip nor a notebook")
    for _ in range(4):  # descend through wrapper folders ("alice/hw1/...")
        if not path.is_dir():
            raise SubmissionError(f"{path} is not a directory")
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


def _notebooks(notebooks: list[Path], into: Path, exercises: list[str] | None = None) -> Path:
    try:
        from autograder.nbcourse.notebooks import exercises_in, extract_submission, read
    except ImportError:
        raise SubmissionError("notebooks not supported yet") from None
    into.mkdir(parents=True, exist_ok=True)
    result = into
    for notebook in notebooks:
        try:
            result = Path(extract_submission(notebook, into))
            if exercises is not None:
                exercises += [e for e in exercises_in(read(notebook)) if e not in exercises]
        except Exception as exc:  # noqa: BLE001 - a malformed notebook is the learner's, not ours
            raise SubmissionError(f"{notebook.name} could not be read: {type(exc).__name__}: {exc}") from None
    return result


# ----------------------------------------------------------------------------- results
@dataclass
class Outcome:
    submission: Submission
    status: str  # "graded", "unchanged" or "failed"
    data: dict | None = None  # results.json
    error: str = ""
    seconds: float = 0.0


def _stamp(data: dict, sub: Submission, key: dict, graded_by: dict | None = None) -> dict:
    data = dict(data)
    data["extra_data"] = {
        "submission": sub.name,
        "source": sub.label,
        "kind": sub.kind,
        "content_hash": sub.digest,
        **key,
    }
    if graded_by:  # which machine, worker, sandbox and devices graded it (see ``graded_by``)
        data["extra_data"]["graded_by"] = graded_by
    return data


def _failure_json(sub: Submission, message: str, key: dict, graded_by: dict | None = None) -> dict:
    return _stamp(
        {"score": 0.0, "execution_time": 0.0, "output": f"could not be graded: {message}", "tests": []},
        sub,
        {**key, "error": message},
        graded_by,
    )


def write_atomically(data: dict, path: Path) -> None:
    """Replaces whatever is at ``path`` (a file, a link) with ``data``, via a fresh private file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(data, f, indent=2)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _cached(sub: Submission, json_dir: Path | None, key: dict) -> dict | None:
    if json_dir is None:
        return None
    try:
        data = json.loads((json_dir / sub.name / RESULTS_NAME).read_text(encoding="utf-8"))
        extra = data["extra_data"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    same = extra.get("content_hash") == sub.digest and all(extra.get(k) == v for k, v in key.items())
    return data if same and "error" not in extra and isinstance(data.get("tests"), list) else None


def per_exercise(data: dict) -> dict[str, float]:
    points: dict[str, float] = {}
    for test in data.get("tests", []):
        points[test["exercise"]] = points.get(test["exercise"], 0.0) + float(test["score"])
    return points


def problems_of(data: dict) -> list[str]:
    """Exercises that crashed or timed out (worth a look: a loaded machine can cause a time-out)."""
    found = []
    for test in data.get("tests", []):
        note = f"{test.get('exercise')}: {test.get('outcome')}"
        if test.get("outcome") in ("crashed", "timeout") and note not in found:
            found.append(note)
    return found


def _fmt(x: float) -> str:
    return f"{x:.4f}".rstrip("0").rstrip(".")


def write_csv(outcomes: list[Outcome], exercises: list[str], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as f:
        out = csv.writer(f)
        out.writerow(["submission", "score", "max_score", *exercises, "status", "message"])
        for o in sorted(outcomes, key=lambda o: o.submission.name):
            if o.status == "failed" or o.data is None:
                out.writerow([o.submission.name, "", "", *[""] * len(exercises), "failed", o.error])
                continue
            points = per_exercise(o.data)  # a notebook's: its own exercises only, the others left empty
            out.writerow(
                [
                    o.submission.name,
                    _fmt(o.data["score"]),
                    _fmt(o.data["max_score"]),
                    *[_fmt(points[e]) if e in points else "" for e in exercises],
                    o.status,
                    "; ".join(problems_of(o.data)),
                ]
            )


# ----------------------------------------------------------------------------- grading one submission
# Shared by the local pool below and by a Dask worker (autograder/submissions/cluster.py): the worker side
# grades and returns a ``Graded``; the scorer's side (``finish``) names and stamps it.
@dataclass
class Graded:
    status: str  # "graded" or "failed"
    data: dict | None = None  # results.json, not yet stamped
    error: str = ""
    seconds: float = 0.0
    grader_broke: bool = False  # the grader's state is unknown: its owner starts a new one
    graded_by: dict | None = None


def graded_by(grader, worker: str = "local") -> dict:
    """Which host, grading process, sandbox and devices graded a submission (results.json's
    ``extra_data.graded_by``); ``devices`` lists ``cuda`` where that process had CUDA."""
    import socket

    devices = list(grader.devices or ())
    by = {"host": socket.gethostname(), "worker": worker, "sandbox": grader.box.kind, "devices": devices}
    if "cuda" in devices:
        import torch

        by["cuda_device"] = torch.cuda.get_device_name()
    return by


def grade_submission(grader, path: Path, exercises: list[str] | None, worker: str = "local") -> Graded:
    """Grades the submission at ``path`` on a warm ``Grader``: unpacked into a private temporary
    folder, never modified. Returns a failed ``Graded`` rather than raising."""
    from autograder.feedback import report
    from autograder.nbcourse import notebooks

    start = time.monotonic()
    try:
        with tempfile.TemporaryDirectory(prefix="grade-batch-") as tmp:
            own: list[str] = []  # a notebook is graded on its own exercises, out of their points
            folder = materialize(path, Path(tmp), own)
            result = grader.grade(folder, exercises or own or None)
            notebooks.relocate(result, folder)  # a notebook's messages point at its cells
        data = report.results_json(result)
    except SubmissionError as exc:
        return Graded("failed", error=str(exc), seconds=time.monotonic() - start)
    except Exception as exc:  # noqa: BLE001 - one submission must not stop the class
        return Graded(
            "failed",
            error=f"the grader failed on it: {type(exc).__name__}: {exc}",
            seconds=time.monotonic() - start,
            grader_broke=True,
        )
    broken = next((e.message for e in result.exercises if e.grader_fault), None)
    if broken:  # not the learner's doing: no grade to record or to keep
        return Graded(
            "failed",
            error=f"{broken}: {result.sandbox}",
            seconds=time.monotonic() - start,
            graded_by=graded_by(grader, worker),
        )
    return Graded("graded", data, seconds=time.monotonic() - start, graded_by=graded_by(grader, worker))


def finish(sub: Submission, graded: Graded, key: dict) -> Outcome:
    """The scorer's side: the outcome named after the submission, stamped with what decided it."""
    if graded.status != "graded" or graded.data is None:
        return Outcome(
            sub, "failed", _failure_json(sub, graded.error, key, graded.graded_by), graded.error, graded.seconds
        )
    data = dict(graded.data)
    data["output"] = f"{data.get('output', '')} · submission: {sub.label}".strip(" ·")
    return Outcome(sub, "graded", _stamp(data, sub, key, graded.graded_by), seconds=graded.seconds)


def failed(sub: Submission, message: str, key: dict) -> Outcome:
    return Outcome(sub, "failed", _failure_json(sub, message, key), message)


# ----------------------------------------------------------------------------- the local pool
class Pool:
    """``jobs`` threads, each owning a warm ``Grader``, taking submissions from one queue.

    Like ``cluster.DaskPool``, ``results`` yields each submission's ``Outcome`` as it finishes;
    ``main`` does the rest (progress, results.json, CSV) whichever pool graded."""

    where = ""  # nothing to announce: the local path prints what it always printed

    def __init__(self, jobs: int, make_grader, exercises: list[str] | None, key: dict):
        self.make_grader = make_grader
        self.exercises = exercises
        self.key = key
        self.todo: queue.Queue = queue.Queue()
        self.done: queue.Queue = queue.Queue()
        self.stop = threading.Event()
        self.graders = [make_grader() for _ in range(jobs)]  # workers start importing torch now
        self.threads = [threading.Thread(target=self._run, args=(i,), daemon=True) for i in range(jobs)]

    def start(self, submissions: list[Submission]) -> None:
        for sub in submissions:
            self.todo.put(sub)
        for t in self.threads:
            t.start()

    def results(self, submissions: list[Submission]) -> Iterator[Outcome]:
        self.start(submissions)
        for _ in submissions:
            yield self.done.get()

    def _run(self, index: int) -> None:
        fatal = ""  # once this thread's grader cannot be restarted, what it still takes fails fast
        try:
            while not self.stop.is_set():
                try:
                    sub = self.todo.get_nowait()
                except queue.Empty:
                    return
                if fatal:
                    self.done.put(failed(sub, fatal, self.key))
                    continue
                try:
                    outcome = self._grade(index, sub)
                except Exception as exc:  # noqa: BLE001 - every submission must get an outcome
                    fatal = f"the grader could not be restarted: {type(exc).__name__}: {exc}"
                    outcome = failed(sub, fatal, self.key)
                self.done.put(outcome)
        finally:
            self.graders[index].close()

    def _grade(self, index: int, sub: Submission) -> Outcome:
        graded = grade_submission(self.graders[index], sub.path, self.exercises)
        if graded.grader_broke:
            self.graders[index].close()  # its state is unknown: start afresh
            self.graders[index] = self.make_grader()
        return finish(sub, graded, self.key)

    def close(self) -> None:
        self.stop.set()
        for t in self.threads:
            if t.is_alive():
                t.join(timeout=1.0)
        for g in self.graders:
            g.close()


# ----------------------------------------------------------------------------- progress
class Progress:
    """A rich progress bar (done, failures, ETA) on a terminal; one plain line per submission
    elsewhere (CI logs, pipes), with no control characters."""

    def __init__(self, total: int, out=None):
        from autograder.feedback.report import console

        self.console = console(out)
        self.total, self.done, self.failed, self.graded = total, 0, 0, 0
        self.start = time.monotonic()
        self.bar = None
        if self.console.is_terminal:
            from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn, TimeRemainingColumn
            from rich.progress import Progress as Bar

            self.bar = Bar(
                TextColumn("grading"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("· {task.fields[failed]} failed ·"),
                TimeElapsedColumn(),
                TextColumn("· ETA"),
                TimeRemainingColumn(),
                console=self.console,
            )
            self.task = self.bar.add_task("grading", total=total, failed=0)
            self.bar.start()

    def update(self, o: Outcome) -> None:
        self.done += 1
        self.failed += o.status == "failed"
        self.graded += o.status == "graded"
        width = len(str(self.total))
        if o.status == "failed":
            what = f"FAILED: {o.error}"
        elif o.status == "unchanged":
            what = f"{_fmt(o.data['score'])}/{_fmt(o.data['max_score'])} (unchanged, not re-graded)"
        else:
            what = f"{_fmt(o.data['score'])}/{_fmt(o.data['max_score'])} in {o.seconds:.1f} s"
            if problems_of(o.data):
                what += f" ({', '.join(problems_of(o.data))})"
        line = f"[{self.done:>{width}}/{self.total}] {o.submission.name}: {what}"
        if self.bar is not None:
            self.console.print(line, markup=False, highlight=False)
            self.bar.update(self.task, completed=self.done, failed=self.failed)
        else:
            eta = self._eta()
            print(
                line + (f" · {self.failed} failed · ETA {eta}" if eta else f" · {self.failed} failed"),
                file=self.console.file,
                flush=True,
            )

    def _eta(self) -> str:
        left = self.total - self.done
        if not left or not self.graded:
            return ""
        seconds = (time.monotonic() - self.start) / self.graded * left  # cached ones cost nothing
        return time.strftime("%H:%M:%S", time.gmtime(seconds))

    def close(self) -> None:
        if self.bar is not None:
            self.bar.stop()


# ----------------------------------------------------------------------------- the command
def main(args, remote=None) -> int:
    """``remote``: the pool class for ``--scheduler`` / ``--cluster`` (``cluster.DaskPool``, passed
    in by the command line, so that this module does not import the Dask side that imports it)."""
    from autograder.scoring.grader import Grader, Limits

    folder = Path(args.submissions)
    if not folder.is_dir():
        raise FileNotFoundError(f"submissions folder not found: {folder}")
    json_dir = Path(args.json_dir) if args.json_dir else None
    csv_path = Path(args.csv) if args.csv else None
    exercises = [e.id for e in catalogue.select(args.exercise or None)]
    suites = None if args.suite == "all" else (args.suite,)  # as cli.SUITES: "all" is every installed suite
    key = {"grader": grader_fingerprint(), "exercises": exercises, "suite": args.suite}
    limits = Limits(jobs=2, check_timeout=args.check_timeout, total_timeout=args.total_timeout)

    submissions = discover(folder, exclude=tuple(p for p in (json_dir, csv_path) if p))
    out = sys.stdout
    if not submissions:
        print(f"no submissions in {folder} (directories, .zip or .ipynb files)", file=out)
    outcomes: list[Outcome] = []
    todo: list[Submission] = []
    for sub in submissions:
        sub.digest = content_hash(sub.path)
        cached = None if args.force else _cached(sub, json_dir, key)
        if cached is not None:
            outcomes.append(Outcome(sub, "unchanged", cached))
        else:
            todo.append(sub)

    started = time.monotonic()
    pool = None
    if todo:  # a local pool, or a Dask cluster: both yield outcomes as they finish
        if getattr(args, "scheduler", None) or getattr(args, "cluster", None):
            if remote is None:
                raise RuntimeError(
                    "--scheduler and --cluster need the Dask pool (autograder.submissions.cluster.DaskPool)"
                )
            pool = remote(args.scheduler, args.cluster, args.sandbox, suites, limits, args.exercise or None, key)
        else:
            jobs = max(1, min(args.jobs, len(todo)))
            pool = Pool(jobs, lambda: Grader(args.sandbox, suites, limits), args.exercise or None, key)
        if pool.where:
            print(pool.where, file=out, flush=True)
    progress = Progress(len(submissions), out)
    try:
        for o in outcomes:
            progress.update(o)
        for o in pool.results(todo) if pool else ():
            if json_dir is not None:  # written here, by the scorer, never by a worker
                write_atomically(o.data, json_dir / o.submission.name / RESULTS_NAME)
            outcomes.append(o)
            progress.update(o)
    except KeyboardInterrupt:
        print("interrupted: writing what was graded so far", file=sys.stderr)
    finally:
        progress.close()
        if pool is not None:
            pool.close()
    if csv_path is not None:
        write_csv(outcomes, exercises, csv_path)

    elapsed = time.monotonic() - started
    graded = sum(o.status == "graded" for o in outcomes)
    unchanged = sum(o.status == "unchanged" for o in outcomes)
    failed = [o for o in outcomes if o.status == "failed"]
    rate = f" ({graded / elapsed * 60:.1f} submissions/min)" if graded and elapsed > 0 else ""
    summary = (
        f"{len(outcomes)} of {len(submissions)} submissions: {graded} graded, {unchanged} unchanged, "
        f"{len(failed)} failed, in {elapsed:.1f} s{rate}"
    )
    if json_dir is None:
        summary += "; no --json-dir, so nothing is kept to skip unchanged submissions next time"
    print(summary, file=out)
    for o in failed:
        print(f"  failed: {o.submission.name}: {o.error}", file=out)
    if csv_path is not None:
        print(f"CSV: {csv_path}", file=out)
    if json_dir is not None:
        print(f"results: {json_dir}/<submission>/{RESULTS_NAME}", file=out)
    if len(outcomes) < len(submissions):
        return 130
    return 1 if failed else 0
