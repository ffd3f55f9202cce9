"""Grades one submission: starts the worker, computes PyTorch's references, judges, scores.

This is the scoring process, the orchestrator of ``client`` (the sandboxed worker), ``judge`` and
``results``. It never imports learner code: it reads the worker's bytes through ``client`` (with
``wire.unpack``) and compares them with references it computes itself.

Start-up order: importing this module loads no torch (nor the checks); ``Grader`` starts the worker
first, and only then imports torch and the checks it needs, so that the two imports of torch (the
worker's, the scorer's) run side by side (``tests/test_grade_speed.py`` keeps it so).
"""

from __future__ import annotations

import base64
import contextlib
import errno
import importlib
import os
import queue
import signal
import stat
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from autograder import checks as registry  # the registry itself: checks are imported per exercise, on demand
from autograder.checks import secret as course
from autograder.course import catalogue
from autograder.course.catalogue import Exercise
from autograder.protocol.messages import FrameHeader, FrameStatus
from autograder.scoring import launcher, static
from autograder.scoring.client import Worker
from autograder.scoring.results import GradeResult, Limits, MissingChecks


# ----------------------------------------------------------------------------- what the worker is sent
def plan_table(found: list) -> list:
    """What the worker is sent for an exercise's checks: ``[index, devices, base64 plan, suite]`` each."""
    return [
        [i, list(check.devices), base64.b64encode(check.wire_plan()).decode("ascii"), check.suite]
        for i, check in enumerate(found)
    ]


MAX_SUBMISSION_FILES = 64
MAX_FILE_BYTES = 2**20


def read_submission(submission: Path) -> tuple[dict[str, str], list[str]]:
    """The submission's top-level ``.py`` files, as text (what the worker is sent), and one line
    for each entry that was refused: only regular files are read, never what a link points to."""
    files, refused = {}, []
    for path in sorted(submission.glob("*.py"))[:MAX_SUBMISSION_FILES]:
        try:  # no link is followed; a FIFO opens without blocking and is refused below
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
        except OSError as exc:
            kind = "a symbolic link" if exc.errno == errno.ELOOP else NOT_REGULAR
            refused.append(f"{path.name} is {kind}: only regular files are graded")
            continue
        try:
            regular = stat.S_ISREG(os.fstat(fd).st_mode)
            data = os.read(fd, MAX_FILE_BYTES + 1) if regular else b""
        finally:
            os.close(fd)
        if not regular:
            refused.append(f"{path.name} is {NOT_REGULAR}: only regular files are graded")
        elif len(data) > MAX_FILE_BYTES:
            refused.append(f"{path.name} is larger than {MAX_FILE_BYTES // 2**20} MiB")
        elif static.undecodable(data):  # PEP 263, as the import decodes it: said plainly, graded 0
            refused.append(f"{path.name} {static.undecodable(data)}")
        else:  # its very bytes travel on (a coding cookie decodes them in the scan as in the import)
            files[path.name] = data.decode("utf-8", "surrogateescape")
    return files, refused


NOT_REGULAR = "not a regular file (a device, FIFO, socket or folder)"


class _Plans(dict):
    """Each exercise's ``plan_table``, built (its checks imported) the first time it is asked for."""

    def __init__(self, make: Callable[[str], list]):
        super().__init__()
        self.make = make

    def __missing__(self, exercise_id: str) -> list:
        self[exercise_id] = table = self.make(exercise_id)
        return table


@contextlib.contextmanager
def _signals_held() -> Iterator[None]:
    """Ctrl-C and SIGTERM wait until the block ends (then they are raised as usual): a worker being
    started is either not started or held by its grader, never lost half-way (its inbox left behind)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    held: list[int] = []
    previous = {s: signal.signal(s, lambda signum, frame: held.append(signum)) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        if held:
            os.kill(os.getpid(), held[0])  # now, under the handler it had


def _import_beside(*names: str) -> None:
    """Imports ``names`` in a thread of their own while this (main) thread waits for it: a Ctrl-C or
    SIGTERM is handled here, between waits, never inside torch's C start-up, which swallows a
    KeyboardInterrupt raised while it imports NumPy (leaving NumPy half-loaded, to fail later) or
    aborts the process when one crosses its C++ (Python runs signal handlers in the main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        for name in names:
            importlib.import_module(name)
        return
    failed: list[BaseException] = []

    def load() -> None:
        try:
            for name in names:
                importlib.import_module(name)
        except BaseException as exc:  # noqa: BLE001 - raised again in the waiting thread
            failed.append(exc)

    loader = threading.Thread(target=load, name="scorer-imports", daemon=True)
    loader.start()
    while loader.is_alive():
        loader.join(0.05)  # an interrupt lands here
    if failed:
        raise failed[0]


# ----------------------------------------------------------------------------- grading
class Grader:
    """Grades submissions one after another on a warm worker, restarting it if learner code kills it."""

    def __init__(
        self,
        sandbox: str = "auto",
        suites: tuple[str, ...] | None = None,
        limits: Limits | None = None,
        cache: bool = False,
    ):
        """``cache``: keep plans and references on disk between runs (``refcache``; the learner's verbs)."""
        self.box = launcher.choose(sandbox)
        self.limits = limits or Limits()
        self.suites = tuple(s for s in (suites or registry.SUITES) if s in registry.available_suites())
        if suites and not self.suites:  # asked for by name, and not installed here (a learner's copy)
            raise MissingChecks(
                f"the {' and '.join(suites)} checks are not installed here: they stay with "
                f"your instructor, who runs them after the deadline; grade with the public "
                f"checks (the default)"
            )
        if any(s != "public" for s in self.suites):
            course.tell_once_if_missing()
        self.cuda_hint = any(Path("/dev").glob("nvidia*"))
        self.closed = False
        self._references: dict = {}
        self.devices: tuple[str, ...] | None = None
        self.plans = _Plans(self._plan)  # an exercise's checks are imported when it is first graded
        self._stored: dict[str, dict] = {}  # references read from the cache with their plans, until used
        self.worker: Worker | None = None
        try:
            # first, before this process loads torch: the worker's import of torch runs beside ours;
            # a Ctrl-C meanwhile lands once it is ours to stop (its inbox and scratch removed below)
            with _signals_held():
                self.worker = Worker(self.box, self.limits.jobs)
            # here, after the worker started (see the module's docstring); beside, so that a Ctrl-C
            # meanwhile interrupts this thread, never torch's start-up
            _import_beside("torch", "autograder.scoring.refcache")
            from autograder.scoring import refcache  # loaded: it imports torch, after the worker started

            self.cache: Any = refcache if cache and refcache.enabled() else None
        except BaseException:  # interrupted while starting (Ctrl-C, SIGTERM): the worker goes with it
            self.close()
            raise

    def close(self, final: bool = True):
        """Stops the worker; ``final``: for good (a grade still running starts no new one)."""
        self.closed = self.closed or final
        if self.worker:
            self.worker.close()
            self.worker = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _frames(self, files, parts: list[tuple[str, str]], deadline: float) -> tuple[dict, list[str]]:
        """Frames for every (exercise, suite) part. After a worker death the rest runs one part at a
        time, so that a second death names its culprit."""
        frames: dict[tuple[str, str], tuple[FrameHeader, bytes]] = {}
        pending, jobs = list(parts), self.limits.jobs
        problems: list[str] = []

        def stand_in(part, status: FrameStatus, killed_for: str | None = None) -> tuple[FrameHeader, bytes]:
            header = FrameHeader(exercise=part[0], suite=part[1], output="", status=status)
            if killed_for is not None:
                header["killed_for"] = killed_for
            return header, b""

        while pending:
            if self.closed:  # closed meanwhile (Ctrl-C, SIGTERM): no new worker, no new copy of the code
                break
            if self.worker is None or not self.worker.alive:
                self.close(final=False)
                self.worker = Worker(self.box, self.limits.jobs)
            worker = self.worker
            job_id = worker.submit(files, pending, self.plans, self.limits, self.cuda_hint, jobs)
            while True:
                try:
                    item = worker.events.get(timeout=max(0.01, deadline - time.monotonic()))
                except queue.Empty:
                    self.close(final=False)
                    for part in pending:
                        ran_out = "the whole grade ran out of time"
                        frames.setdefault(part, stand_in(part, FrameStatus.TIMEOUT, killed_for=ran_out))
                    return frames, problems
                if item is None or item == ("done", job_id):
                    break
                if item != "ready" and item[0] == "frame":
                    frames[(item[1]["exercise"], item[1]["suite"])] = (item[1], item[2])
            pending = [part for part in pending if part not in frames]
            if not pending:
                break
            self.close(final=False)
            if not worker.ready:  # the worker itself could not start: a grader problem, not the learner's
                problems.append(worker.stderr.decode("utf-8", "replace")[-3000:] or "the worker did not start")
                for part in pending:
                    frames[part] = stand_in(part, status=FrameStatus.GRADER_ERROR)
                break
            if jobs == 1:
                culprit = pending.pop(0)
                frames[culprit] = stand_in(
                    culprit, status=FrameStatus.CRASHED, killed_for="the worker process was killed while grading it"
                )
            jobs = 1
        return frames, problems

    def suites_of(self, exercise_id: str) -> list[str]:
        """The suites an exercise has checks in, public first: each is reported in a frame of its own."""
        return list(dict.fromkeys(row[3] for row in self.plans[exercise_id])) or ["public"]

    def warm(self, timeout: float = 120.0) -> None:
        """Computes every exercise's references and waits for the worker to be ready: the next grade
        pays neither (``make watch`` calls this before the first save)."""
        for exercise in catalogue.EXERCISES:
            self.references(exercise)
        deadline = time.monotonic() + timeout
        while self.worker is not None and self.worker.alive and not self.worker.ready and time.monotonic() < deadline:
            time.sleep(0.05)

    def _devices(self) -> tuple[str, ...]:
        """The devices references are computed on (set up once per process)."""
        import torch  # loaded in __init__, after the worker started; named here for its use

        from autograder import warmup  # imports torch: after the worker started

        if self.devices is None:
            warmup.skip_lazy_dynamo_import()  # torch.optim's reference would import torch._dynamo
            torch.backends.cuda.matmul.allow_tf32 = False  # references at full float32 precision on CUDA
            torch.backends.cudnn.allow_tf32 = False
            self.devices = ("cpu", "cuda", "meta") if torch.cuda.is_available() else ("cpu", "meta")
        return self.devices

    def _plan(self, exercise_id: str) -> list:
        """An exercise's ``plan_table``: from the cache (its references kept for ``references``) or made."""
        found = registry.for_exercise(exercise_id, self.suites)
        if self.cache is not None:
            stored = self.cache.load(self.cache.key(exercise_id, self.suites, self._devices()))
            if stored is not None and [row[0] for row in stored[0]] == list(range(len(found))):
                self._stored[exercise_id] = stored[1]
                return stored[0]
        return plan_table(found)

    def references(self, exercise: Exercise) -> tuple[list, dict]:
        """The checks of an exercise and PyTorch's results for them (computed once per process, or
        read from the cache with its plans)."""
        from autograder.scoring.judge import units_expected  # imports torch: after the worker started

        devices = self._devices()
        if exercise.id not in self._references:
            plans = self.plans[exercise.id]  # first: a cached entry brings its references
            found = registry.for_exercise(exercise.id, self.suites)
            refs = self._stored.pop(exercise.id, None)
            if refs is None:
                refs = {}
                for i, check, device in units_expected(found, devices):
                    refs[(i, device)] = check.expected(device, refs.get((i, "cpu")))
                if self.cache is not None:
                    self.cache.store(self.cache.key(exercise.id, self.suites, devices), plans, refs)
            self._references[exercise.id] = (found, refs)
        return self._references[exercise.id]

    def grade(self, submission: Path | str, exercises: list[str] | None = None) -> GradeResult:
        from autograder.scoring.judge import judge_parts  # imports torch: loaded by now (see __init__)

        start = time.monotonic()
        submission = Path(submission).resolve()
        if not submission.is_dir():
            raise FileNotFoundError(f"submission directory not found: {submission}")
        selected = catalogue.select(exercises)
        files, refused = read_submission(submission)
        holder: dict = {}
        deadline = start + self.limits.total_timeout
        parts = [(e.id, suite) for e in selected for suite in self.suites_of(e.id)]
        parts.sort(key=lambda part: part[1] != "public")  # every public part first (the worker waits anyway)
        runner = threading.Thread(
            target=lambda: holder.update(result=self._frames(files, parts, deadline)), daemon=True
        )
        runner.start()
        # meanwhile: PyTorch's references and the source scan, in this (trusted) process
        prepared = {e.id: self.references(e) for e in selected}
        statics = {e.id: static.scan_source(files.get(f"{e.module}.py"), e) for e in selected}
        runner.join()
        frames, problems = holder["result"]
        results = []
        for e in selected:
            found, refs = prepared[e.id]
            lost = ({"status": "crashed", "output": ""}, b"")
            framed = {s: frames.get((e.id, s), lost) for s in self.suites_of(e.id)}
            refusal = next((r for r in refused if r.startswith(f"{e.module}.py ")), None)
            results.append(judge_parts(e, found, framed, refs, self.devices, statics[e.id], self.limits, refusal))
        note = self.box.note + (f"; worker problems: {problems[0]}" if problems else "")
        if "cuda" not in (self.devices or ()):
            note += "; CUDA checks skipped: no CUDA on this machine (the meta-device placement checks ran instead)"
        return GradeResult(str(submission), note, results, time.monotonic() - start, self.suites)


# ----------------------------------------------------------------------------- the entry point
def grade(
    submission: Path | str,
    exercises: list[str] | None = None,
    suites: tuple[str, ...] | None = None,
    sandbox: str = "auto",
    limits: Limits | None = None,
    cache: bool = False,
) -> GradeResult:
    """Grades one submission directory (a warm worker is started and stopped around it); ``cache``:
    plans and references kept on disk between runs (``refcache``: the learner's ``grade``)."""
    with Grader(sandbox, suites, limits, cache) as grader:
        return grader.grade(submission, exercises)
