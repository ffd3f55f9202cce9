"""The sandboxed worker: imports torch once, then forks one fresh child per exercise.

Runs as ``python -m autograder.sandbox.worker SCRATCH INBOX`` inside the sandbox. Reads jobs (one JSON
line per submission: its exercises and, for each, its checks as pickled ``plans.Plan`` data;
the files are in the inbox) on stdin and writes one frame per exercise and suite on stdout, then a
job-done frame; between submissions it wipes its scratch folder. As root, the child of an
exercise's public checks is kept, stopped, for its hidden ones (``Grading.keep``), which saves a
fork, a start and an exit per exercise. It holds no check: no check module,
reference or expected value is ever loaded here. Learner code runs only in the forked children; the
parent (the "zygote") never imports it, enforces time/memory/output limits and kills strays.
Child → zygote stream: ``kind(1 byte) + length(4 bytes) + payload``; the zygote forwards it
unread (the scorer parses and validates it). Zygote → kept child: ``messages.control``.
"""

from __future__ import annotations

import base64
import ctypes
import fcntl
import gc
import importlib.util
import linecache
import os
import resource
import select
import selectors
import shutil
import signal
import stat
import sys
import time
import traceback
from collections.abc import Callable
from typing import NoReturn

import numpy  # noqa: F401  - imported before forking so children start warm
import torch

from autograder import warmup
from autograder.course import catalogue
from autograder.protocol import messages, plans, wire
from autograder.protocol.encoding import encode
from autograder.protocol.messages import ChildTag, FrameHeader, FrameStatus, Job, UnitReport, UnitStatus
from autograder.sandbox import forbid, hugepages, namespaces, native, privileges
from autograder.sandbox.recorder import Instruments, Tampering

HOST_SYNC_OPS = ("_local_scalar_dense", "item")  # item: what a dispatch mode sees of .item() on an inference tensor
FATAL = (MemoryError, SystemExit, KeyboardInterrupt)  # the exercise's process stops: "crashed"


# ----------------------------------------------------------------------------- child side
def _send(fd: int, tag: ChildTag, payload: bytes = b"") -> None:
    _write_all(fd, messages.message(tag, payload))


def _write_all(fd: int, data: bytes) -> None:
    while data:
        written = os.write(fd, data)
        data = data[written:]


def _where(tb, submission: str) -> tuple[str, bool]:
    """The innermost traceback frame inside the submission, and whether it is the innermost of all."""
    frames = traceback.extract_tb(tb)
    mine = [f for f in frames if os.path.realpath(f.filename).startswith(submission + os.sep)]
    if not mine:
        return "", False
    f = mine[-1]
    line = (f.line or linecache.getline(f.filename, f.lineno or 0)).strip()
    return f"{os.path.basename(f.filename)}, line {f.lineno}, in {f.name}: {line}", f is frames[-1]


def _describe_exception(exc: BaseException, submission: str) -> UnitReport:
    where, innermost = _where(exc.__traceback__, submission)
    try:
        message = str(exc)[:600]
    except Exception:  # noqa: BLE001 - learner exception types may break __str__
        message = "<unprintable>"
    return UnitReport(
        status=UnitStatus.TAMPERING if isinstance(exc, Tampering) else UnitStatus.RAISED,
        type=type(exc).__name__,
        message=message,
        where=where,
        not_started=isinstance(exc, NotImplementedError) and innermost and "NotImplementedError" in where,
        # the module an import could not find (a capstone beside none of the learner's other modules)
        missing_module=exc.name if isinstance(exc, ModuleNotFoundError) and isinstance(exc.name, str) else None,
    )


def _limit_memory(megabytes: int) -> None:
    with open("/proc/self/status") as status:
        vm = next((int(line.split()[1]) for line in status if line.startswith("VmSize:")), 0)
    limit = vm * 1024 + megabytes * 2**20
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))  # the policy's other rlimits: privileges.drop


def run_unit(
    run,
    index: int,
    fn,
    device: str,
    instruments,
    describe,
    forbidden_hits=(),
    catch: type[BaseException] = BaseException,
) -> tuple[bytes, bool]:
    """Check ``index`` on one device, ``run(fn, device, call)``, with the learner's calls recorded:
    the packed unit, and whether the exception (out of memory, sys.exit) must end the process.
    Shared with in-notebook checks."""
    rec = instruments.recorder
    rec.clear(placement=device != "cpu")
    fatal = False
    try:
        raw = run(fn, device, instruments.call)
        unit = UnitReport(status=UnitStatus.OK, value={k: encode(v) for k, v in raw.items()})
    except catch as exc:  # learner code may raise anything
        unit = describe(exc)
        fatal = isinstance(exc, FATAL)
    ops = list(dict.fromkeys([*rec.op_names(), *forbidden_hits]))
    unit["check"], unit["device"], unit["ops"] = index, device, ops
    unit["cpu_made"] = rec.cpu_made_names()
    unit["host_sync"] = any(op in HOST_SYNC_OPS for op in ops)
    try:
        return wire.pack(unit), fatal
    except Exception as exc:  # noqa: BLE001 - an output we cannot serialise
        return wire.pack(
            UnitReport(
                check=index,
                device=device,
                status=UnitStatus.RAISED,
                type=type(exc).__name__,
                where="",
                message=f"the grader could not read your output: {exc}"[:600],
                not_started=False,
                ops=ops,
                cpu_made=[],
                host_sync=False,
            )
        ), fatal


def _planned(blob: bytes):
    """A check's ``run``, from its plan's bytes: each run gets its own fresh copy of the inputs."""
    return lambda fn, device, call: plans.execute(plans.loads(blob), fn, device, call)


def _child(
    job: Job,
    part: tuple[str, str],
    fds: tuple[int, int, int | None],
    uid: int | None,
    scratch: str,
    submission: str,
) -> None:
    """Runs in the forked child, on the checks of one suite of one exercise (``part``), sending its
    messages on ``fds[0]`` and its output on ``fds[1]``; then, when it has a control pipe
    (``fds[2]``), on the checks of the next suite the zygote sends there once it may: never returns."""
    result_fd, _, control_fd = fds
    try:
        _enter_child(fds, uid, scratch, submission, job.memory_mb)
        exercise_id, suite = part
        devices = ["cpu"] + (["cuda"] if job.cuda and torch.cuda.is_available() else []) + ["meta"]
        exercise = catalogue.get(exercise_id)
        rows = [(i, on, blob) for i, on, blob, of in job.plans[exercise_id] if of == suite]
        job.plans = {}  # the other exercises' and the other suite's inputs are not this child's business
        _send(result_fd, ChildTag.DEVICES, wire.pack(devices))  # before any learner code runs: the zygote trusts it
        assert INSTRUMENTS is not None  # installed by ``main`` before it forks
        forbidden_hits = INSTRUMENTS.seal(exercise, scratch, submission)
        fn = _import_learner(exercise, submission, result_fd, forbidden_hits)
        while True:
            _send(result_fd, ChildTag.IMPORTED)
            for index, on, blob in rows:
                for device in on:
                    if device in devices:
                        _run_planned(
                            result_fd, index, _planned(base64.b64decode(blob)), fn, device, forbidden_hits, submission
                        )
            _send(result_fd, ChildTag.DONE)
            rows = _next_suite(control_fd) if control_fd is not None else []
            if not rows:
                break
    except BaseException:  # noqa: BLE001 - the harness itself failed; say so on stderr
        traceback.print_exc()
        _flush_and_exit(70)
    _flush_and_exit(0)


def _next_suite(control_fd: int) -> list[tuple[int, list[str], str]]:
    """The rows of the next suite's checks, once the zygote sends them (it stops this process
    first, and sends them only after every child's earlier suite has ended); none: the end."""
    data = bytearray()
    while len(data) < messages.CONTROL_HEAD or len(data) < messages.CONTROL_HEAD + messages.control_length(data):
        chunk = os.read(control_fd, 1 << 16)
        if not chunk:
            return []
        data += chunk
    return [(int(i), list(on), str(blob)) for i, on, blob in messages.control_rows(bytes(data))]


def _enter_child(
    fds: tuple[int, int, int | None], uid: int | None, scratch: str, submission: str, memory_mb: int
) -> None:
    """The child's walls, before any learner code: its own session (no other child may send it
    SIGCONT), death with the zygote (a kept child is stopped: it would wait forever), stdin
    closed, stdout and stderr on the output pipe, no other fd than its result and control pipes,
    its own namespaces, its memory limit, the learner uid."""
    result_fd, output_fd, control_fd = fds
    zygote = os.getppid()
    os.setsid()
    os.dup2(os.open(os.devnull, os.O_RDONLY), 0)
    os.dup2(output_fd, 1)
    os.dup2(output_fd, 2)
    for stream in (sys.stdout, sys.stderr):  # the learner's prints arrive even if we are killed
        stream.reconfigure(line_buffering=True)  # type: ignore[union-attr]  # TextIOWrapper: ours, not replaced yet
    kept = sorted({result_fd} | ({control_fd} if control_fd is not None else set()))
    for low, high in zip([3] + [fd + 1 for fd in kept], [*kept, 4096]):
        os.closerange(low, high)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    namespaces.isolate_child(submission, scratch)  # as root: before the drop
    _limit_memory(memory_mb)
    privileges.drop(uid)
    _prctl(PR_SET_PDEATHSIG, signal.SIGKILL)  # after the drop (which clears it): it dies with the zygote, kept or not
    if os.getppid() != zygote:  # the zygote died before that: nobody would read us, nor end us
        os._exit(71)
    os.chdir(scratch)
    os.environ.update(HOME=scratch, TMPDIR=scratch)
    torch.set_num_threads(1)
    torch.backends.cuda.matmul.allow_tf32 = False  # CUDA float32 must match the CPU closely
    torch.backends.cudnn.allow_tf32 = False


def _import_learner(exercise: catalogue.Exercise, submission: str, result_fd: int, forbidden_hits: list[str]):
    """The learner's function; when importing its module fails, says why and ends the child."""
    sys.path.insert(0, submission)
    path = os.path.join(submission, f"{exercise.module}.py")
    try:
        if not os.path.exists(path):
            raise FileNotFoundError(f"the submission has no {exercise.module}.py")
        spec = importlib.util.spec_from_file_location(exercise.module, path)
        assert spec is not None and spec.loader is not None  # a .py path always has a source loader
        module = importlib.util.module_from_spec(spec)
        sys.modules[exercise.module] = module
        spec.loader.exec_module(module)
        if not hasattr(module, exercise.function):
            raise AttributeError(f"{exercise.module}.py defines no {exercise.function}")
        return getattr(module, exercise.function)
    except BaseException as exc:  # noqa: BLE001 - SystemExit at import included
        described = _describe_exception(exc, submission)
        if forbidden_hits:  # a forbidden op at module level: this exercise's, not the module's
            described["status"], described["ops"] = UnitStatus.FORBIDDEN, list(dict.fromkeys(forbidden_hits))
        _send(result_fd, ChildTag.IMPORT_FAILED, wire.pack(described))
        _flush_and_exit(0)


def _run_planned(result_fd: int, index: int, run, fn, device: str, forbidden_hits: list[str], submission: str) -> None:
    """One unit, reported; out of memory or sys.exit ends this exercise's process here."""
    assert INSTRUMENTS is not None  # installed by ``main`` before it forks
    forbidden_hits.clear()
    payload, fatal = run_unit(
        run, index, fn, device, INSTRUMENTS, lambda exc: _describe_exception(exc, submission), forbidden_hits
    )
    _flush_streams()  # what the check printed reaches the zygote before its result does
    _send(result_fd, ChildTag.UNIT, payload)
    if fatal:
        _flush_and_exit(3)


def _flush_streams() -> None:
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:  # noqa: BLE001 - a closed or replaced stream
            pass


def _flush_and_exit(code: int) -> NoReturn:
    _flush_streams()
    os._exit(code)


# ----------------------------------------------------------------------------- zygote side


class Running:
    """One child: the checks of one suite of one exercise (then, if it was kept, of its next suite)."""

    def __init__(
        self, part: tuple[str, str], pid: int, fds: tuple[int, int], job: Job, slot: int, scratch: str, uid: int | None
    ):
        self.pid, (self.result_fd, self.output_fd) = pid, fds
        self.scratch, self.uid = scratch, uid
        self.stream = bytearray()
        self.parsed = 0  # bytes of ``stream`` already split into complete messages
        self.killed_for = ""
        self.tampering = False
        self.open_fds = set(fds)
        self.devices: list[str] | None = None  # sent by the child before any learner code ran
        self.control: int | None = None  # the write end of its control pipe, when it may be kept for its next suite
        self.memory = 0  # private bytes it held when it was stopped
        self.exit_status: int | None = None  # its wait status, when the zygote reaped it early
        self.start(part, job, slot)

    def start(self, part: tuple[str, str], job: Job, slot: int) -> None:
        """Clocks, output and counts for the checks of ``part``'s suite (the first, or the next one)."""
        now = time.monotonic()
        self.exercise_id, self.suite = part
        self.slot = slot
        self.started = now
        self.deadline = now + job.check_timeout
        self.hard_deadline = now + job.exercise_timeout
        # what the child wrote after its previous suite's end stays, and is read as this suite's (suspect) bytes
        self.stream, self.parsed = self.stream[self.parsed :], 0
        self.segments: list[tuple[int, bytearray]] = [(-1, bytearray())]  # output per unit: -1 while importing
        self.output_kept = 0
        self.output_total = 0
        self.imported = False
        self.plans = [row for row in job.plans[self.exercise_id] if row[3] == self.suite]
        self.units = 0 if self.devices is None else _units(self.plans, self.devices)  # units the child must report
        self.reported = 0  # and how many it did
        self.seen: set[ChildTag] = set()
        self.marks: dict[str, float] = {}  # when each message arrived (the frame's ``phases``, for profiles)

    def header(self, status: FrameStatus, code: int) -> FrameHeader:
        """What the scorer is told of this child once it is gone (``code``: its wait status)."""
        return FrameHeader(
            exercise=self.exercise_id,
            suite=self.suite,
            devices=self.devices,
            tampering=self.tampering,
            outputs=[[k, bytes(text).decode("utf-8", "replace")] for k, text in self.segments if text],
            status=status,
            elapsed=time.monotonic() - self.started,
            exit_code=os.WEXITSTATUS(code) if os.WIFEXITED(code) else None,
            signal=os.WTERMSIG(code) if os.WIFSIGNALED(code) else None,
            imported=self.imported,
            output=b"".join(bytes(text) for _, text in self.segments).decode("utf-8", "replace"),
            output_bytes=self.output_total,
            killed_for=self.killed_for,
            # seconds from the fork to each step the zygote saw (trusted clocks): where the time went
            phases={name: round(t - self.started, 6) for name, t in self.marks.items()},
            cpu=_cpu_so_far(),
        )


PR_SET_PDEATHSIG = 1


def _prctl(option: int, value: int) -> None:
    try:
        ctypes.CDLL(None, use_errno=True).prctl(option, value, 0, 0, 0)
    except Exception:  # noqa: BLE001 - not Linux: fall back to process groups only
        pass


def _kill_strays(keep: set[int]) -> None:
    """Kills processes that were re-parented to us (a child's escaped grandchildren)."""
    me = os.getpid()
    try:
        entries = os.listdir("/proc")
    except OSError:
        return
    for entry in entries:
        if not entry.isdigit() or int(entry) in keep or int(entry) == me:
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        if ppid == me:
            try:
                os.kill(int(entry), signal.SIGKILL)
                os.waitpid(int(entry), 0)
            except (OSError, ChildProcessError):
                pass


def _uids_of(pid: str) -> set[int]:
    try:
        with open(f"/proc/{pid}/status") as f:
            line = next(line for line in f if line.startswith("Uid:"))
    except (OSError, StopIteration):
        return set()
    return {int(u) for u in line.split()[1:]}


def _kill_uid(*uids: int) -> None:
    """Kills every process running as one of ``uids`` (real, effective or saved), until none is left.
    Learner code runs as that uid and cannot leave it, so nothing it started survives this."""
    me, wanted = os.getpid(), set(uids)
    for _ in range(100):
        found = [int(p) for p in os.listdir("/proc") if p.isdigit() and int(p) != me and wanted & _uids_of(p)]
        if not found:
            return
        for pid in found:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        _reap_any()
        time.sleep(0.002)


def _reap_any() -> None:
    """Collects children that were re-parented to us (we are the subreaper) and have died."""
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def _cpu_so_far() -> dict[str, float]:
    """CPU seconds so far of this zygote and of its reaped children: between two frames, what the
    child just reaped cost (a profile's figures, ``bench/class_grading.py --profile``)."""
    mine, reaped = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return {"zygote": mine.ru_utime + mine.ru_stime, "children": reaped.ru_utime + reaped.ru_stime}


def _wipe_folder(path: str) -> None:
    shutil.rmtree(path, ignore_errors=True)  # never follows a link the learner left


def _kill(run: Running) -> None:
    _kill_pid(run.pid)


def _kill_pid(pid: int) -> None:
    """SIGKILL to a child's process group (its session: it called ``setsid``), then to itself."""
    try:
        os.killpg(pid, signal.SIGKILL)
    except OSError:  # gone already, or no group of that number
        pass
    _signal(pid, signal.SIGKILL)


def _reap(pid: int, grace: float) -> int:
    """Waits up to ``grace`` seconds for a child that closed its pipes, then kills it."""
    end = time.monotonic() + grace
    while time.monotonic() < end:
        done, code = os.waitpid(pid, os.WNOHANG)
        if done:
            return code
        time.sleep(0.005)
    _kill_pid(pid)
    return os.waitpid(pid, 0)[1]


SHARED_TMP = ("/tmp", "/var/tmp", "/dev/shm")  # world-writable: where else a learner uid can leave files
QUOTA_PROBE_SECONDS = 0.25


def _owned_in_shared_tmp(uid: int | None) -> list[str]:
    """The entries of the world-writable folders that belong to ``uid`` (none without a learner uid)."""
    if uid is None:
        return []
    found = []
    for folder in SHARED_TMP:
        try:
            with os.scandir(folder) as entries:
                found += [e.path for e in entries if e.stat(follow_symlinks=False).st_uid == uid]
        except OSError:
            continue
    return found


def _bytes_used(paths: list[str], limit: int) -> int:
    """Disk (or memory) taken by the files under ``paths``, never following a link; stops past ``limit``."""
    total, stack = 0, list(paths)
    while stack and total <= limit:
        path = stack.pop()
        try:
            info = os.lstat(path)
            total += info.st_blocks * 512
            if stat.S_ISDIR(info.st_mode):
                with os.scandir(path) as entries:
                    stack += [e.path for e in entries]
        except OSError:
            continue
    return total


def _remove(paths: list[str]) -> None:
    """Deletes files and folders, never following a link."""
    for path in paths:
        if os.path.isdir(path) and not os.path.islink(path):
            _wipe_folder(path)
        else:
            try:
                os.unlink(path)
            except OSError:
                pass


def serve(job: Job, out_fd: int, submission: str, scratch_root: str, read_line: Callable[[], bytes]) -> None:
    """Grades one submission: a fresh child per exercise (``job.exercises``: pairs of exercise and
    suite), ``job.jobs`` at a time, each as a learner uid of its own (when we are root) in a scratch
    folder of its own, wiped when it ends. No hidden check's inputs reach any process before every
    public child has reported its last public unit and is gone, or stopped (SIGSTOP, confirmed by
    ``waitpid``) with its public frame sent: what they made can reach no public child's output. The
    hidden plans are not even here before then: the worker asks the scorer for them (``read_line``
    reads its answer), so no public child's memory holds them. A stopped child is kept for its
    exercise's hidden checks and resumed with them (``Grading.keep``)."""
    # which kernels each exercise forbids: found before forking, once per worker and exercise
    forbid.warm([catalogue.BY_ID[exercise] for exercise, _ in job.exercises if exercise in catalogue.BY_ID])
    grading = Grading(job, out_fd, os.path.realpath(submission), scratch_root, read_line)
    try:
        while grading.queue or grading.running:
            grading.start_children()
            if grading.running:
                grading.read_pipes()
                grading.enforce_limits()
    finally:
        for run in list(grading.kept.values()):  # none is left after a whole job; a failed one may leave some
            grading.discard(run)


# A child whose public checks are done is kept (stopped) for its hidden ones when they fit its
# control pipe and its memory fits these bounds; otherwise it ends and a fresh child takes them.
KEEP_MAX_MESSAGE = 1 << 20  # the hidden plans, sent in one write to an empty pipe of this size
KEEP_MAX_MEMORY = 64 << 20  # private memory of one stopped child
KEEP_TOTAL_MEMORY = 512 << 20  # of all of them
F_SETPIPE_SZ = 1031


class Grading:
    """One submission's children: those waiting (``queue``), those running, those kept (stopped)
    for their next suite, their slots and their uids."""

    def __init__(self, job: Job, out_fd: int, submission: str, scratch_root: str, read_line: Callable[[], bytes]):
        self.job, self.out_fd, self.submission, self.scratch_root = job, out_fd, submission, scratch_root
        self.read_line = read_line
        self.phases_here = {0}  # phases whose plans the worker holds: the first came with the job
        self.queue = sorted(job.exercises, key=lambda part: messages.phase(part[1]))
        self.running: dict[int, Running] = {}
        self.kept: dict[str, Running] = {}  # exercise → its stopped child, waiting for its next suite
        self.skipped_modules: dict[str, str] = {}
        self.selector = selectors.DefaultSelector()
        self.uids = list(job.uids or ()) if os.geteuid() == 0 else None  # free learner uids: one per child
        self.quota = job.scratch_quota  # plain processes: no tmpfs holds their scratch, so we measure it
        self.next_probe = time.monotonic() + QUOTA_PROBE_SECONDS
        self.free_slots = list(range(job.jobs))
        self.counter = 0

    def _may_start(self, part: tuple[str, str]) -> bool:
        phase = messages.phase(part[1])
        return all(messages.phase(r.suite) >= phase for r in self.running.values())

    def _ask_for_plans(self, phase: int) -> None:
        """Every child of the earlier phases is gone or stopped: the scorer sends this phase's plans."""
        _write_all(self.out_fd, messages.plans_wanted(self.job.id))
        line = self.read_line()
        if not line:
            raise EOFError("the scorer is gone")
        job_id, plans = messages.read_later_plans(line)
        assert job_id == self.job.id  # the scorer answers the job it sent, one at a time
        for exercise, rows in plans.items():
            self.job.plans[exercise] = self.job.plans.get(exercise, []) + rows
        self.phases_here.add(phase)

    def start_children(self) -> None:
        """Starts each part that may start now (a free slot, and its phase's turn): in the child kept
        for it, or in a fresh one."""
        while self.queue and self.free_slots and self._may_start(self.queue[0]):
            if messages.phase(self.queue[0][1]) not in self.phases_here:
                self._ask_for_plans(messages.phase(self.queue[0][1]))
            exercise_id, suite = part = self.queue.pop(0)
            module = exercise_id.split(".")[0]
            kept = self.kept.pop(exercise_id, None)
            if module in self.skipped_modules:
                if kept is not None:
                    self.discard(kept)
                skipped = FrameHeader(
                    exercise=exercise_id,
                    suite=suite,
                    status=FrameStatus.IMPORT_TIMEOUT,
                    elapsed=0.0,
                    output="",
                    output_bytes=0,
                    imported=False,
                    killed_for=f"importing {module}.py did not finish",
                )
                _write_all(self.out_fd, messages.frame(skipped, b""))
                continue
            slot = self.free_slots.pop(0)
            if kept is None or not self._resume(kept, part, slot):
                self._fork(part, slot)

    def _later_part(self, part: tuple[str, str]) -> tuple[str, str] | None:
        """The exercise's part of a later phase still queued, when this part's child may be kept for
        it: a root worker (each child a uid of its own), a uid to spare, and plans that fit the pipe."""
        later = [p for p in self.queue if p[0] == part[0] and messages.phase(p[1]) > messages.phase(part[1])]
        if self.uids is None or len(later) != 1 or len(self.uids) <= self.job.jobs:
            return None
        return later[0]

    def _fork(self, part: tuple[str, str], slot: int) -> None:
        spawn = time.monotonic()
        if self.uids == []:  # never: ``keep`` leaves a uid for every slot; learner code never runs as root
            raise RuntimeError("no learner uid is free")
        uid = self.uids.pop(0) if self.uids is not None else None
        self.counter += 1
        scratch = os.path.join(self.scratch_root, f"exercise-{self.counter}")
        os.mkdir(scratch, 0o700)
        if uid is not None:
            os.chown(scratch, uid, uid)
        result_r, result_w = os.pipe()
        output_r, output_w = os.pipe()
        control_r, control_w = os.pipe() if self._later_part(part) else (None, None)
        if control_w is not None:  # its next suite's plans will fit at once, or it will not be kept
            fcntl.fcntl(control_w, F_SETPIPE_SZ, KEEP_MAX_MESSAGE)
        pid = os.fork()
        if pid == 0:
            os.close(result_r)
            os.close(output_r)
            _child(self.job, part, (result_w, output_w, control_r), uid, scratch, self.submission)
        os.close(result_w)
        os.close(output_w)
        if control_r is not None:
            os.close(control_r)
        os.set_blocking(output_r, False)  # drained up to each result (``_take_messages``)
        run = Running(part, pid, (result_r, output_r), self.job, slot, scratch, uid)
        run.control = control_w
        run.marks["spawn"] = spawn  # its scratch, pipes and fork: a negative phase
        self.running[pid] = run
        self._watch(run)

    def _watch(self, run: Running) -> None:
        for fd in run.open_fds:
            self.selector.register(fd, selectors.EVENT_READ, (run, "result" if fd == run.result_fd else "output"))

    def _unwatch(self, run: Running) -> None:
        for fd in run.open_fds:
            self.selector.unregister(fd)

    def read_pipes(self) -> None:
        """Waits for the children's next bytes (at most until the nearest deadline) and acts on them."""
        now = time.monotonic()
        timeout = max(0.0, min(min(r.deadline, r.hard_deadline) for r in self.running.values()) - now)
        for key, _ in self.selector.select(timeout=min(timeout, QUOTA_PROBE_SECONDS if self.quota else 0.5)):
            run, kind = key.data
            if key.fd not in run.open_fds or run.pid not in self.running:
                continue
            try:
                chunk = os.read(key.fd, 1 << 16)
            except BlockingIOError:  # the output was drained up to a result in this same round
                continue
            except OSError:
                chunk = b""
            if not chunk:
                self.selector.unregister(key.fd)
                os.close(key.fd)
                run.open_fds.discard(key.fd)
            elif kind == "output":
                _keep_output(run, chunk, self.job.max_output)
            elif len(run.stream) + len(chunk) > wire.MAX_BYTES:
                run.killed_for = "it wrote too much data"
                _kill(run)
            else:
                run.stream += chunk
                _take_messages(run, self.job.check_timeout, self.job.max_output)
                if run.control is not None and ChildTag.DONE in run.seen and not (run.tampering or run.killed_for):
                    self.keep(run)

    def keep(self, run: Running) -> None:
        """A child whose suite is done: stopped and kept for its next suite, its frame sent now; or,
        when it holds too much memory, told to end (a fresh child will take its next suite)."""
        _signal(run.pid, signal.SIGSTOP)
        _, status = os.waitpid(run.pid, os.WUNTRACED)  # returns once every thread of it is stopped
        if not os.WIFSTOPPED(status):  # it ended by itself meanwhile: the usual end, its pipes closing
            run.exit_status = status
            self._release(run)
            return
        memory = _private_bytes(run.pid)
        kept_memory = sum(r.memory for r in self.kept.values())
        spare_uids = self.uids is not None and len(self.uids) >= self.job.jobs  # one for each slot, kept or not
        if not spare_uids or memory is None or memory > KEEP_MAX_MEMORY or kept_memory + memory > KEEP_TOTAL_MEMORY:
            self._release(run)
            _signal(run.pid, signal.SIGCONT)  # it reads the end of its control pipe, and exits
            return
        run.memory = memory
        _drain_output(run, self.job.max_output)
        run.marks["kept"] = time.monotonic()
        _write_all(self.out_fd, messages.frame(run.header(FrameStatus.FINISHED, 0), bytes(run.stream[: run.parsed])))
        self._unwatch(run)  # nothing is read while it is stopped: what it wrote waits in its pipes
        del self.running[run.pid]
        self.free_slots.append(run.slot)
        self.kept[run.exercise_id] = run

    def _release(self, run: Running) -> None:
        """It will not be kept: closing its control pipe tells it to end after this suite."""
        if run.control is not None:
            os.close(run.control)
            run.control = None

    def _resume(self, run: Running, part: tuple[str, str], slot: int) -> bool:
        """The kept child of ``part``'s exercise, sent its checks and continued; False (and it is
        ended) when learner code closed its control pipe, or the checks would not fit it."""
        assert run.control is not None  # only a child with a control pipe is kept
        message = messages.control([row for row in self.job.plans[part[0]] if row[3] == part[1]])
        try:  # an empty pipe of KEEP_MAX_MESSAGE bytes: all at once, or not at all
            written = os.write(run.control, message) if len(message) <= KEEP_MAX_MESSAGE else 0
        except OSError:
            written = 0
        self._release(run)
        if written != len(message):
            self.discard(run)
            return False
        run.start(part, self.job, slot)
        run.marks["resumed"] = run.started
        self.running[run.pid] = run
        self._watch(run)
        _signal(run.pid, signal.SIGCONT)
        return True

    def discard(self, run: Running) -> None:
        """Ends a kept child without a frame (its next suite is not graded in it)."""
        self.kept.pop(run.exercise_id, None)
        self._release(run)
        _kill(run)
        for fd in list(run.open_fds):
            os.close(fd)
        run.open_fds.clear()
        run.exit_status = _reap(run.pid, grace=0.0)
        self._clean_up(run)

    def enforce_limits(self) -> None:
        """Stops the children past their file quota or their deadline; ends those whose pipes closed."""
        now = time.monotonic()
        if self.quota and now >= self.next_probe:
            self.next_probe = now + QUOTA_PROBE_SECONDS
            for run in self.running.values():
                owned = _owned_in_shared_tmp(run.uid)
                if not run.killed_for and _bytes_used([run.scratch, *owned], self.quota) > self.quota:
                    run.killed_for = f"it wrote more than {self.quota // 2**20} MiB of files"
                    _kill(run)
        for pid, run in list(self.running.items()):
            if not run.open_fds:
                del self.running[pid]
                self._finish(run, FrameStatus.CRASHED if run.killed_for else FrameStatus.FINISHED)
                continue
            if now > run.deadline or now > run.hard_deadline:
                run.killed_for = "a check took too long" if now > run.deadline else "the exercise took too long"
                _kill(run)
                code = run.exit_status if run.exit_status is not None else os.waitpid(pid, 0)[1]
                del self.running[pid]
                self._finish(run, FrameStatus.TIMEOUT, code)

    def _finish(self, run: Running, status: FrameStatus, code: int | None = None) -> None:
        """Ends a child for good (every process and file of its uid with it) and sends its frame."""
        self._release(run)
        for fd in list(run.open_fds):
            self.selector.unregister(fd)
            os.close(fd)
        run.open_fds.clear()
        marks = run.marks
        marks["eof"] = time.monotonic()
        if code is None:
            code = run.exit_status if run.exit_status is not None else _reap(run.pid, grace=1.0)
        marks["reaped"] = time.monotonic()
        _kill(run)
        self._clean_up(run)
        self.free_slots.append(run.slot)
        _write_all(self.out_fd, messages.frame(run.header(status, code), bytes(run.stream)))
        if status == FrameStatus.TIMEOUT and not run.imported:
            self.skipped_modules[run.exercise_id.split(".")[0]] = run.exercise_id

    def _clean_up(self, run: Running) -> None:
        """After a child is gone: every process and file of its uid (which is free again), strays, its scratch."""
        marks = run.marks
        if run.uid is not None and self.uids is not None:
            _kill_uid(run.uid)  # every process of this exercise, wherever it went
            marks["uid_killed"] = time.monotonic()
            _remove(_owned_in_shared_tmp(run.uid))  # and every file it left in /tmp or /dev/shm
            self.uids.append(run.uid)
        marks["tmp_cleared"] = time.monotonic()
        _kill_strays(keep={r.pid for r in (*self.running.values(), *self.kept.values())})
        marks["strays_killed"] = time.monotonic()
        _wipe_folder(run.scratch)
        marks["wiped"] = time.monotonic()


def _signal(pid: int, signum: int) -> None:
    try:
        os.kill(pid, signum)
    except OSError:  # gone already
        pass


def _private_bytes(pid: int) -> int | None:
    """The memory only this process holds (what it copied or allocated since the fork), from the kernel."""
    try:
        with open(f"/proc/{pid}/smaps_rollup") as rollup:
            fields = dict(line.split(":", 1) for line in rollup if line.startswith("Private_"))
        return sum(int(value.split()[0]) for value in fields.values()) * 1024
    except (OSError, ValueError, IndexError):
        return None


def _keep_output(run: Running, chunk: bytes, max_output: int) -> None:
    """What the child printed, in the segment of the unit it printed during; past ``max_output``
    bytes it is read and dropped (printing is free)."""
    run.output_total += len(chunk)
    kept = chunk[: max(0, max_output - run.output_kept)]
    run.segments[-1][1].extend(kept)  # in place: the segment is a (unit, text) pair
    run.output_kept += len(kept)


def _drain_output(run: Running, max_output: int) -> None:
    """Everything printed so far (the child flushes before it sends a result): it belongs to that unit."""
    while run.output_fd in run.open_fds:
        try:
            chunk = os.read(run.output_fd, 1 << 16)
        except BlockingIOError:
            return
        except OSError:
            chunk = b""
        if not chunk:
            return
        _keep_output(run, chunk, max_output)


def _tampered(run: Running, why: str) -> None:
    run.tampering, run.killed_for = True, why
    _kill(run)


def _take_messages(run: Running, check_timeout: float, max_output: int) -> None:
    """Acts on the complete ``messages.ChildTag`` messages that arrived since the last call.

    A check's clock starts when the previous unit's result (or the import's end) arrives, and only
    as many clocks start as the child has units: ``DEVICES`` (sent before any learner code ran)
    first, then one ``IMPORTED`` or ``IMPORT_FAILED``, one ``UNIT`` per planned unit and one
    ``DONE``. Anything more or out of order is tampering (learner code shares the child and can
    write to its pipe)."""
    while not run.tampering:
        try:
            found = messages.next_message(run.stream, run.parsed)
        except messages.ProtocolError:
            why = "before the checks began" if run.devices is None else "(an unknown message)"
            return _tampered(run, f"the grader's pipe was written to {why}")
        if found is None:
            return
        tag, body, run.parsed = found
        if run.devices is None:
            if not _take_devices(run, tag, body):
                return _tampered(run, "the grader's pipe was written to before the checks began")
            run.marks["V"] = time.monotonic()
            continue
        out_of_order = _out_of_order(run, tag)
        if out_of_order:
            return _tampered(run, f"the grader's pipe was written to ({out_of_order})")
        run.seen.add(tag)
        run.marks.setdefault(tag.value.decode(), time.monotonic())
        if tag in (ChildTag.IMPORTED, ChildTag.UNIT):  # the next unit starts now: its output and clock are its own
            _drain_output(run, max_output)
            run.segments.append((run.reported, bytearray()))
            run.deadline = time.monotonic() + check_timeout


def _take_devices(run: Running, tag: ChildTag, body: bytes) -> bool:
    """The child's first message, its devices (sent before any learner code ran); False if it is not."""
    try:
        devices = wire.unpack(body) if tag == ChildTag.DEVICES else None
    except (wire.WireError, ValueError, OverflowError, RecursionError, MemoryError):
        devices = None
    if not isinstance(devices, list) or not all(isinstance(d, str) for d in devices):
        return False
    run.devices = devices
    run.units = _units(run.plans, devices)
    return True


def _units(rows: list, devices: list[str]) -> int:
    """How many units a child reports for these plan rows on these devices."""
    return sum(d in devices for _, on, _, _ in rows for d in on)


def _out_of_order(run: Running, tag: ChildTag) -> str:
    """What is wrong with a message arriving now ("" when nothing is); counts it."""
    if tag == ChildTag.DEVICES:  # a second one
        return "an unknown message"
    if tag in (ChildTag.IMPORTED, ChildTag.IMPORT_FAILED):
        if ChildTag.IMPORTED in run.seen or ChildTag.IMPORT_FAILED in run.seen:
            return "a second import message"
        run.imported = True
    elif tag == ChildTag.UNIT:
        run.reported += 1
        if run.reported > run.units or ChildTag.IMPORTED not in run.seen:
            return "more results than checks"
    elif run.reported != run.units or ChildTag.DONE in run.seen:  # DONE, the last
        return "an early end"
    return ""


def _warm_up() -> None:
    """Pays torch's one-off costs once, before forking, so that every child starts warm."""
    torch.set_num_threads(1)
    for name in ("torch._decomp", "torch._meta_registrations", "torch._refs"):
        importlib.import_module(name)  # the Python meta kernels, loaded before we short-circuit them
    warmup.native_meta_kernels()  # the placement checks' meta ops: ATen's C++ kernels, as on CUDA
    warmup.skip_lazy_dynamo_import()
    x = torch.randn(3, 4, dtype=torch.float64, requires_grad=True)
    (x.exp() * 2).sum().backward()
    m = torch.empty(2, 3, 4, device="meta")
    torch.stack([m.exp(), torch.where(m > 0, m, -m)]).amax(0).sum(1).log()
    warmup.skip_lazy_dynamo_import()  # again: the meta ops above loaded more wrapped kernels


INSTRUMENTS: Instruments | None = None

# Loaded before forking, so that a learner's common imports cost nothing in each child.
COMMON_MODULES = (
    "math",
    "cmath",
    "statistics",
    "random",
    "itertools",
    "functools",
    "collections",
    "collections.abc",
    "operator",
    "dataclasses",
    "typing",
    "numbers",
    "fractions",
    "decimal",
    "logging",
    "warnings",
    "copy",
    "string",
    "re",
    "textwrap",
    "json",
    "time",
    "datetime",
    "pprint",
    "heapq",
    "bisect",
    "array",
    "enum",
    "abc",
    "contextlib",
    "io",
    "traceback",
    "linecache",
    "tokenize",
    "torch.nn.functional",
    "torch.func",
    "torch.autograd.functional",
    "numpy.linalg",
    "numpy.random",
)


def _preload_common_modules() -> None:
    for name in COMMON_MODULES:
        try:
            importlib.import_module(name)
        except ImportError:
            pass


def _wipe(scratch_root: str) -> None:
    """Nothing one submission's code left behind reaches the next submission."""
    _remove([os.path.join(scratch_root, entry) for entry in os.listdir(scratch_root)])


OWN_PID_NAMESPACE = privileges.POLICY.own_pid_variable  # set under bwrap only (the policy's env_bwrap)


def _end_of_job(uids, own_pid_namespace: bool) -> None:
    """Before the scorer hears that a submission is done, every process it started is dead: all
    of the learner uids' and, when the sandbox gave us a PID namespace of our own (bwrap says so
    in ``OWN_PID_NAMESPACE``), every process in it but its init and us. Never guessed from our
    pid: in a container the plain worker may have a small pid too."""
    if uids:
        _kill_uid(*uids)  # one scan of /proc for them all
    if own_pid_namespace:
        me = os.getpid()
        for entry in os.listdir("/proc"):
            if entry.isdigit() and int(entry) not in (1, me):
                try:
                    os.kill(int(entry), signal.SIGKILL)
                except OSError:
                    pass
    _reap_any()


IDLE_SECONDS = 1.0  # this long without a job from the scorer: the worker is idle (``next_job``)


class Lines:
    """The scorer's lines on stdin, read whole, and whether one is waiting."""

    def __init__(self, fd: int):
        self.fd, self.buffer, self.ended = fd, bytearray(), False

    def waiting(self, timeout: float) -> bool:
        """Part of a line, or the end, is here or arrives within ``timeout`` seconds."""
        return bool(self.buffer) or self.ended or bool(select.select([self.fd], [], [], timeout)[0])

    def readline(self) -> bytes:
        """The next line (with its newline); what is left, or ``b""``, at the end."""
        while (end := self.buffer.find(b"\n")) < 0 and not self.ended:
            chunk = os.read(self.fd, 1 << 20)
            self.buffer += chunk
            self.ended = not chunk
        end = len(self.buffer) if end < 0 else end + 1
        line = bytes(self.buffer[:end])
        del self.buffer[:end]
        return line


def next_job(lines: Lines, served: int, collapse: Callable[..., bool] = hugepages.collapse) -> bytes:
    """The scorer's next job line (``b""``: no more); meanwhile the zygote's memory is moved to huge
    pages (``hugepages``), which pays over many forks but not within one grade: while the worker is
    idle (no line for ``IDLE_SECONDS``: a warm grader waiting for a save), stopping as soon as a line
    comes; else before every job but the worker's first (a class's queue: the first time, then
    only what the last job split). A one-off grade's first job never waits for it."""
    collapsed = False
    if not lines.waiting(IDLE_SECONDS):
        collapsed = collapse(stop=lambda: lines.waiting(0))
    line = lines.readline()
    if line and served and not collapsed:
        collapse()
    return line


def main() -> int:
    """Loads torch once, then grades one job (submission) per line of stdin."""
    scratch_root = sys.argv[1] if len(sys.argv) > 1 else "/tmp"
    inbox = sys.argv[2] if len(sys.argv) > 2 else scratch_root
    _warm_up()
    plans.warm()
    _preload_common_modules()
    namespaces.supported()  # whether children get namespaces of their own, found once before forking
    global INSTRUMENTS
    INSTRUMENTS = Instruments(native.load())
    INSTRUMENTS.install()
    INSTRUMENTS.verify()
    _prctl(36, 1)  # PR_SET_CHILD_SUBREAPER: orphans come back to us to be killed
    _prctl(4, 0)  # PR_SET_DUMPABLE=0: children cannot ptrace us or read our fds
    out_fd = os.dup(1)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    gc.freeze()  # children's garbage collections skip everything loaded so far: fewer copy-on-write pages
    _write_all(out_fd, messages.ready())  # torch is loaded
    lines, served = Lines(0), 0
    while line := next_job(lines, served):
        job = Job.decode(line)
        # the scorer wrote it, read-only here; it answers the worker's requests for later plans on stdin
        serve(job, out_fd, os.path.join(inbox, str(job.id)), scratch_root, lines.readline)
        _end_of_job(job.uids if os.geteuid() == 0 else None, os.environ.get(OWN_PID_NAMESPACE) == "1")
        _wipe(scratch_root)
        _write_all(out_fd, messages.job_done(job.id))
        served += 1
    os._exit(0)  # skip interpreter shutdown: the scorer is waiting


if __name__ == "__main__":
    sys.exit(main())
