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

This module is the pool, the progress and the command; finding submissions is ``discover``,
unpacking them ``unpack``, what is kept between runs ``cache``, and the CSV ``table``. Importing it
loads no torch (a Dask worker imports it, through ``cluster``, in its event loop; a re-run where
nothing changed needs none): torch comes with the grader, imported where one is made.
"""

from __future__ import annotations

import queue
import shutil
import socket
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.progress import Progress as Bar

from autograder.checks import SUITE_CHOICES
from autograder.course import catalogue
from autograder.feedback import report
from autograder.nbcourse import notebooks
from autograder.scoring.results import Limits
from autograder.submissions.cache import (
    RESULTS_NAME,
    cached_result,
    content_hash,
    failure_json,
    grader_fingerprint,
    stamp,
    stored_result,
    write_atomically,
)
from autograder.submissions.discover import Submission, discover
from autograder.submissions.table import Outcome, fmt_points, problems_of, write_csv
from autograder.submissions.unpack import SubmissionError, materialize


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
    devices = list(grader.devices or ())
    by = {"host": socket.gethostname(), "worker": worker, "sandbox": grader.box.kind, "devices": devices}
    if "cuda" in devices:
        import torch  # not at import (see the module's docstring); the grader that found CUDA loaded it

        by["cuda_device"] = torch.cuda.get_device_name()
    return by


def grade_submission(
    grader, path: Path, exercises: list[str] | None, worker: str = "local", scratch: Path | None = None
) -> Graded:
    """Grades the submission at ``path`` on a warm ``Grader``: unpacked into a private temporary
    folder (inside ``scratch``, which its owner removes whatever stops the run), never modified.
    Returns a failed ``Graded`` rather than raising."""
    start = time.monotonic()
    try:
        with tempfile.TemporaryDirectory(prefix="grade-batch-", dir=scratch) as tmp:
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
            sub, "failed", failure_json(sub, graded.error, key, graded.graded_by), graded.error, graded.seconds
        )
    data = dict(graded.data)
    data["output"] = f"{data.get('output', '')} · submission: {sub.label}".strip(" ·")
    return Outcome(sub, "graded", stamp(data, sub, key, graded.graded_by), seconds=graded.seconds)


def failed(sub: Submission, message: str, key: dict) -> Outcome:
    return Outcome(sub, "failed", failure_json(sub, message, key), message)


# ----------------------------------------------------------------------------- the local pool
class Pool:
    """``jobs`` threads, each owning a warm ``Grader``, taking submissions from one queue.

    Like ``cluster.DaskPool``, ``results`` yields each submission's ``Outcome`` as it finishes;
    ``main`` does the rest (progress, results.json, CSV) whichever pool graded."""

    where = ""  # nothing to announce: the local path prints what it always printed

    def __init__(self, jobs: int, make_grader, exercises: list[str] | None, key: dict, scratch: Path | None = None):
        self.make_grader = make_grader
        self.scratch = scratch
        self.exercises = exercises
        self.key = key
        self.todo: queue.Queue = queue.Queue()
        self.done: queue.Queue = queue.Queue()
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self._run, args=(i,), daemon=True) for i in range(jobs)]
        self.graders: list = []
        try:
            for _ in range(jobs):
                self.graders.append(make_grader())  # workers start importing torch now
        except BaseException:  # interrupted while starting: no grader outlives the pool
            self.close()
            raise

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
        graded = grade_submission(self.graders[index], sub.path, self.exercises, scratch=self.scratch)
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
        self.console = report.console(out)
        self.total, self.done, self.failed, self.graded = total, 0, 0, 0
        self.start = time.monotonic()
        self.bar = None
        if self.console.is_terminal:
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
        data = o.data or {}  # graded or unchanged: results.json is there
        if o.status == "failed":
            what = f"FAILED: {o.error}"
        elif o.status == "unchanged":
            what = f"{fmt_points(data['score'])}/{fmt_points(data['max_score'])} (unchanged, not re-graded)"
        else:
            what = f"{fmt_points(data['score'])}/{fmt_points(data['max_score'])} in {o.seconds:.1f} s"
            if problems_of(data):
                what += f" ({', '.join(problems_of(data))})"
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
def table_rows(submissions: list[Submission], outcomes: list[Outcome], json_dir: Path | None) -> list[Outcome]:
    """One row per submission: this run's outcome, else the result stored by an earlier run (an
    interrupted run loses no learner's row), else a row saying it was not graded."""
    mine = {o.submission.name: o for o in outcomes}
    rows = []
    for sub in submissions:
        if sub.name in mine:
            rows.append(mine[sub.name])
            continue
        stored = stored_result(sub, json_dir)
        if stored is not None and "error" not in stored.get("extra_data", {}):
            rows.append(Outcome(sub, "kept", stored, "not re-graded (interrupted): the stored result is kept"))
        else:
            rows.append(Outcome(sub, "failed", None, "not graded: the run was interrupted before it"))
    return rows


def main(args, remote=None) -> int:
    """``remote``: the pool class for ``--scheduler`` / ``--cluster`` (``cluster.DaskPool``, passed
    in by the command line, so that this module does not import the Dask side that imports it)."""
    from autograder.scoring.grader import Grader  # loads torch: not at import (see the module's docstring)

    folder = Path(args.submissions)
    if not folder.is_dir():
        raise FileNotFoundError(f"submissions folder not found: {folder}")
    json_dir = Path(args.json_dir) if args.json_dir else None
    csv_path = Path(args.csv) if args.csv else None
    exercises = [e.id for e in catalogue.select(args.exercise or None)]
    suites = SUITE_CHOICES[args.suite]  # "all" is every installed suite
    key = {"grader": grader_fingerprint(), "exercises": exercises, "suite": args.suite}
    limits = Limits(jobs=2, check_timeout=args.check_timeout, total_timeout=args.total_timeout)

    submissions = discover(folder, exclude=tuple(p for p in (json_dir, csv_path) if p))
    out = sys.stdout
    if not submissions:
        print(f"no submissions in {folder} (folders, .zip, .ipynb or module files)", file=out)
    outcomes: list[Outcome] = []
    todo: list[Submission] = []
    for sub in submissions:
        sub.digest = content_hash(sub.path)
        cached = None if args.force else cached_result(sub, json_dir, key)
        if cached is not None:
            outcomes.append(Outcome(sub, "unchanged", cached))
        else:
            todo.append(sub)

    started = time.monotonic()
    pool = None
    scratch = Path(tempfile.mkdtemp(prefix="grade-batch-"))  # every unpacked copy, removed below whatever happens
    progress = Progress(len(submissions), out)
    interrupted = False
    try:
        if todo:  # a local pool, or a Dask cluster: both yield outcomes as they finish
            if getattr(args, "scheduler", None) or getattr(args, "cluster", None):
                if remote is None:
                    raise RuntimeError(
                        "--scheduler and --cluster need the Dask pool (autograder.submissions.cluster.DaskPool)"
                    )
                pool = remote(args.scheduler, args.cluster, args.sandbox, suites, limits, args.exercise or None, key)
            else:
                jobs = max(1, min(args.jobs, len(todo)))
                pool = Pool(jobs, lambda: Grader(args.sandbox, suites, limits), args.exercise or None, key, scratch)
            if pool.where:
                print(pool.where, file=out, flush=True)
        for o in outcomes:
            progress.update(o)
        for o in pool.results(todo) if pool else ():
            if json_dir is not None:  # written here, by the scorer, never by a worker
                write_atomically(o.data, json_dir / o.submission.name / RESULTS_NAME)
            outcomes.append(o)
            progress.update(o)
    except KeyboardInterrupt:  # Ctrl-C, or SIGTERM (the command line turns it into one)
        interrupted = True
        print("interrupted: the table is rebuilt from every stored result", file=sys.stderr)
    finally:
        progress.close()
        if pool is not None:
            pool.close()
        shutil.rmtree(scratch, ignore_errors=True)
    if csv_path is not None:
        if json_dir is None and interrupted:
            print(f"no --json-dir to rebuild it from: {csv_path} is left as it was", file=sys.stderr)
        else:
            write_csv(table_rows(submissions, outcomes, json_dir), exercises, csv_path)

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
    if interrupted or len(outcomes) < len(submissions):
        return 130
    return 1 if failed else 0
