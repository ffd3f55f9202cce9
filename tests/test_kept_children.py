"""Hidden checks stay out of every public child: not in its memory, and run by a child kept for them.

As root each exercise's public child, once its last public unit is reported, is stopped (every
thread), its public frame sent, and it is kept until every public child is done; then it is sent
its hidden checks and continued, instead of a fresh child being forked for them. These tests show
that it is kept and stopped, that no other exercise can continue it, that one holding too much
memory or whose control pipe learner code closed is not, and that grades are the same either way.
The hidden checks' plans reach the worker only once every public child is done: no public child's
memory holds a hidden input, which a root process reading it shows.
"""

from __future__ import annotations

import os
import queue
import textwrap
import threading
import time
from pathlib import Path

import pytest

from autograder.scoring import client, launcher
from autograder.scoring.grader import Grader
from autograder.scoring.results import Limits
from conftest import by_id, submission_with
from mutants import MUTANTS, SOLUTIONS, build_submission

KINDS = ["process"] + (["bwrap"] if launcher.choose("auto").contained else [])
LIMITS = Limits(check_timeout=10.0, exercise_timeout=40.0, total_timeout=180.0, memory_mb=768)
SUITES = ("public", "hidden")
pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="children are kept only by a root worker (a uid each)")


class Frames(queue.Queue):
    """The worker's events as the grader receives them, keeping each frame's header."""

    def __init__(self):
        super().__init__()
        self.headers: list[dict] = []

    def put(self, item, *args, **kwargs):
        if isinstance(item, tuple) and item[0] == "frame":
            self.headers.append(item[1])
        super().put(item, *args, **kwargs)

    def marks(self, exercise: str, suite: str) -> dict:
        return next(h.get("phases") or {} for h in self.headers if (h["exercise"], h["suite"]) == (exercise, suite))


@pytest.fixture(params=KINDS)
def grader(request):
    with Grader(request.param, SUITES, LIMITS) as g:
        g.worker.events = g.frames = Frames()  # type: ignore[attr-defined]  # before any frame: only "ready" went by
        yield g


def _status(pid: str) -> dict[str, str]:
    """A process's ``/proc/PID/status`` fields ({} once it is gone); any process's name may be any bytes."""
    try:
        with open(f"/proc/{pid}/status", errors="replace") as status:
            return dict(line.rstrip("\n").split(":\t", 1) for line in status if ":\t" in line)
    except OSError:
        return {}


def _state(stat_path: str) -> str:
    with open(stat_path, errors="replace") as stat:
        return stat.read().rsplit(")", 1)[1].split()[0]


class StoppedWatch:
    """Looks, every few milliseconds while a grade runs, for learner-uid processes whose every thread is stopped."""

    def __init__(self, uids):
        self.uids = {str(u) for u in uids}
        self.stopped: dict[int, int] = {}  # pid -> threads, all seen stopped at once
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._look, daemon=True)

    def _look(self):
        while not self.done.is_set():
            for pid in filter(str.isdigit, os.listdir("/proc")):
                status = _status(pid)
                if status.get("Uid", "?").split()[0] not in self.uids:
                    continue
                try:
                    states = [_state(f"/proc/{pid}/task/{t}/stat") for t in os.listdir(f"/proc/{pid}/task")]
                except (OSError, IndexError):  # gone meanwhile
                    continue
                if states and all(s == "T" for s in states):
                    self.stopped[int(pid)] = max(self.stopped.get(int(pid), 0), len(states))
            time.sleep(0.003)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.done.set()
        self.thread.join()


SPINS_THEN_WAITS = """
import threading, time
_spinning = []
def _spin():
    while True:
        sum(range(1000))
_log_softmax = log_softmax
def log_softmax(logits, dim=-1):
    if not _spinning:  # a thread of its own, busy for as long as the process runs
        _spinning.append(threading.Thread(target=_spin, daemon=True))
        _spinning[0].start()
    return _log_softmax(logits, dim)
_nll_loss = nll_loss
_waited = []
def nll_loss(*args, **kwargs):
    if not _waited:  # log_softmax's public child is done and kept meanwhile
        time.sleep(1.0)
        _waited.append(1)
    return _nll_loss(*args, **kwargs)
"""


def test_a_public_child_is_stopped_whole_and_kept_for_its_hidden_checks(tmp_path, grader):
    sub = submission_with(tmp_path, "losses", SPINS_THEN_WAITS)
    with StoppedWatch(grader.worker.uids) as watch:
        result = by_id(grader.grade(sub, ["losses.log_softmax", "losses.nll_loss"]))
    for exercise in ("losses.log_softmax", "losses.nll_loss"):
        assert all(part.outcome == "passed" for part in result[exercise].parts.values()), result[exercise].message
        assert "kept" in grader.frames.marks(exercise, "public")
        assert "resumed" in grader.frames.marks(exercise, "hidden")
    assert any(threads >= 2 for threads in watch.stopped.values()), watch.stopped  # its spinning thread stopped too


CONTINUES_THE_OTHERS = """
import os, signal, time
_nll_loss = nll_loss
_tried = []
def nll_loss(*args, **kwargs):
    if not _tried:
        time.sleep(1.0)  # log_softmax's public child is kept (stopped) by now
        for pid in filter(str.isdigit, os.listdir("/proc")):
            try:
                state = open(f"/proc/{pid}/stat", errors="replace").read().rsplit(")", 1)[1].split()[0]
            except (OSError, IndexError):
                continue
            if state == "T" and int(pid) != os.getpid():
                print("SAW-STOPPED")
                try:  # the route that reaches the kernel (the audit hook refuses os.kill itself)
                    signal.pidfd_send_signal(os.pidfd_open(int(pid)), signal.SIGCONT)
                    print("CONTINUED", pid)
                except OSError as exc:
                    print("REFUSED", type(exc).__name__)
        _tried.append(1)
    return _nll_loss(*args, **kwargs)
"""


def test_another_exercise_cannot_continue_a_kept_child(tmp_path, grader):
    """Each child has a uid and a session of its own: SIGCONT, which a process may send to any other
    of its session whatever their uids, is refused by the kernel."""
    sub = submission_with(tmp_path, "losses", CONTINUES_THE_OTHERS)
    result = by_id(grader.grade(sub, ["losses.log_softmax", "losses.nll_loss"]))
    output = result["losses.nll_loss"].output
    assert "SAW-STOPPED" in output and "REFUSED PermissionError" in output, output
    assert "CONTINUED" not in output
    assert all(part.outcome == "passed" for e in result.values() for part in e.parts.values())


def test_a_child_holding_much_memory_is_not_kept(tmp_path, grader):
    sub = submission_with(tmp_path, "outliers", "_BALLAST = bytearray(b'x' * (96 << 20))\n")
    result = by_id(grader.grade(sub, ["outliers.iqr", "neurons.tanh"]))
    assert all(part.outcome == "passed" for e in result.values() for part in e.parts.values())
    assert "kept" not in grader.frames.marks("outliers.iqr", "public")
    assert "kept" in grader.frames.marks("neurons.tanh", "public")


WRITES_AFTER_ITS_LAST_UNIT = """
import fcntl, os, stat, threading, time
def _result_pipe():
    for fd in range(3, 64):
        try:
            if stat.S_ISFIFO(os.fstat(fd).st_mode) and fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_ACCMODE == os.O_WRONLY:
                return fd
        except OSError:
            pass
_last_call = [0.0]
def _late():
    before = time.monotonic()
    while True:  # until this thread was stopped a while (its child kept), or the checks are long over
        time.sleep(0.01)
        now = time.monotonic()
        if now - before > 0.3 or now - _last_call[0] > 0.3:
            break
        before = now
    os.write(_result_pipe(), b"U" + (7).to_bytes(4, "little") + b"forged!")
_tanh = tanh
_started = []
def tanh(x):
    _last_call[0] = time.monotonic()
    if not _started:
        _started.append(threading.Thread(target=_late, daemon=True))
        _started[0].start()
    return _tanh(x)
"""
WAITS = """
import time
_nll_loss = nll_loss
_waited = []
def nll_loss(*args, **kwargs):
    if not _waited:  # every other exercise's public child is done, and kept, meanwhile
        time.sleep(1.0)
        _waited.append(1)
    return _nll_loss(*args, **kwargs)
"""


def test_a_result_written_after_the_public_checks_is_never_ignored(tmp_path, grader):
    """A kept child's public frame is sent when its last public unit arrives; a result no check
    asked for, written after it, is tampering in the frame it reaches: the public one when it came
    with the end, else the hidden one (it is never left unread)."""
    sub = submission_with(tmp_path, "neurons", WRITES_AFTER_ITS_LAST_UNIT)
    with open(sub / "losses.py", "a") as losses:
        losses.write(textwrap.dedent(WAITS))
    parts = by_id(grader.grade(sub, ["neurons.tanh", "losses.nll_loss"]))["neurons.tanh"].parts
    spoiled = [p for p in parts.values() if p.outcome != "passed"]
    assert len(spoiled) == 1 and spoiled[0].score == 0, [(p.outcome, p.message) for p in parts.values()]
    assert spoiled[0].outcome in ("forbidden", "crashed")


CLOSES_ITS_CONTROL_PIPE = """
import fcntl, os, stat
for _fd in range(3, 64):  # the one pipe open for reading: what the zygote would send the hidden checks on
    try:
        if stat.S_ISFIFO(os.fstat(_fd).st_mode) and fcntl.fcntl(_fd, fcntl.F_GETFL) & os.O_ACCMODE == os.O_RDONLY:
            os.close(_fd)
    except OSError:
        pass
"""


def test_a_child_whose_control_pipe_was_closed_leaves_its_hidden_checks_to_a_fresh_one(tmp_path, grader):
    sub = submission_with(tmp_path, "neurons", CLOSES_ITS_CONTROL_PIPE)
    ex = by_id(grader.grade(sub, ["neurons.tanh"]))["neurons.tanh"]
    assert ex.parts["public"].outcome == "passed" and ex.parts["hidden"].outcome == "passed", ex.message
    assert "resumed" not in grader.frames.marks("neurons.tanh", "hidden")


def _graded(kind: str, subs: list[Path]) -> list:
    with Grader(kind, SUITES, LIMITS) as g:
        return [
            [
                (e.exercise.id, suite, p.outcome, p.score, p.message, p.notes)
                for e in g.grade(sub).exercises
                for suite, p in e.parts.items()
            ]
            for sub in subs
        ]


def test_grades_are_the_same_with_and_without_kept_children(tmp_path, monkeypatch):
    kind = KINDS[-1]  # bubblewrap where it is installed (as CI and Gradescope run it)
    chosen = MUTANTS[:: max(1, len(MUTANTS) // 4)]  # spread over the exercises
    subs = [SOLUTIONS] + [build_submission(tmp_path / m.name, m.target, m.source) for m in chosen]
    kept = _graded(kind, subs)
    monkeypatch.setattr(client, "KEPT_CHILDREN", 0)  # a uid per slot only: no child can be kept
    assert _graded(kind, subs) == kept


SLEEPS_IN_PUBLIC = """
import time
_tanh = tanh
_slept = []
def tanh(x):
    if not _slept:  # a public child, alive a while for the test to read its memory
        _slept.append(1)
        time.sleep(5.0)
    return _tanh(x)
"""


def _memory(pid: int) -> bytes:
    """Every readable private or anonymous region of a process, as root reads it (``/proc/PID/mem``)."""
    chunks = []
    with open(f"/proc/{pid}/maps") as maps, open(f"/proc/{pid}/mem", "rb", buffering=0) as mem:
        for line in maps:
            fields = line.split()
            low, high = (int(x, 16) for x in fields[0].split("-"))
            if "r" not in fields[1] or (len(fields) > 5 and fields[5].startswith("[v")):
                continue
            try:
                mem.seek(low)
                chunks.append(mem.read(high - low))
            except OSError:
                continue
    return b"".join(chunks)


def _own_window(blob: str, elsewhere: str) -> bytes:
    """64 characters of a plan's base64 text found nowhere in ``elsewhere``: its own data, near its
    end (tensors' bytes), not the pickle's structure every plan shares."""
    for end in range(len(blob), 64, -48):
        window = blob[end - 64 : end]
        if window not in elsewhere:
            return window.encode()
    raise AssertionError("a plan with no bytes of its own")


def test_no_public_child_nor_its_worker_holds_a_hidden_input(tmp_path, grader):
    sub = submission_with(tmp_path, "neurons", SLEEPS_IN_PUBLIC)
    graded = threading.Thread(target=grader.grade, args=(sub, ["neurons"]), daemon=True)
    graded.start()
    first, child = str(grader.worker.uids[0]), None  # the first child forked: tanh's public one, asleep
    while child is None and graded.is_alive():
        for pid in filter(str.isdigit, os.listdir("/proc")):
            status = _status(pid)
            if status.get("Uid", "?").split()[0] == first and status.get("State", "?").split()[0] == "S":
                child, parent = int(pid), int(status["PPid"])
        time.sleep(0.01)
    assert child is not None, "no learner child was seen"
    seen = {"worker": _memory(parent), "child": _memory(child)}
    public_phase = ("neurons.tanh", "public") not in {(h["exercise"], h["suite"]) for h in grader.frames.headers}
    graded.join()
    assert public_phase, "read too late: tanh's public checks were over (then the hidden plans are due)"
    rows = {e: grader.plans[e] for e in ("neurons.tanh", "neurons.neuron", "neurons.TinyNet")}
    public_text = " ".join(blob for table in grader.plans.values() for _, _, blob, suite in table if suite == "public")
    hidden = [
        _own_window(blob, public_text) for table in rows.values() for _, _, blob, suite in table if suite == "hidden"
    ]
    public = [_own_window(blob, "") for _, _, blob, suite in rows["neurons.tanh"] if suite == "public"]
    assert hidden and any(p in seen["child"] for p in public)  # the search finds what is there
    for who, memory in seen.items():
        assert not [h for h in hidden if h in memory], f"a hidden input in the {who}'s memory"


KEPT_A_WHILE = """
import time
_nll_loss = nll_loss
_waited = []
def nll_loss(*args, **kwargs):
    if not _waited:  # log_softmax's child is kept (stopped) meanwhile
        _waited.append(1)
        time.sleep(3.0)
    return _nll_loss(*args, **kwargs)
"""


def test_a_kept_child_dies_with_its_worker(tmp_path, grader):
    """A kept child is stopped: if its worker is killed (a grade interrupted or out of time), it must
    not wait forever. It dies with it (``PR_SET_PDEATHSIG``; under bwrap the PID namespace too)."""
    sub = submission_with(tmp_path, "losses", KEPT_A_WHILE)
    worker = grader.worker
    graded = threading.Thread(target=grader.grade, args=(sub, ["losses.log_softmax", "losses.nll_loss"]), daemon=True)
    with StoppedWatch(worker.uids) as watch:
        graded.start()
        while not watch.stopped and graded.is_alive():
            time.sleep(0.01)
    assert watch.stopped, "no kept child was seen"
    worker.close()  # as a Ctrl-C or the whole grade's time limit does
    graded.join()
    deadline = time.monotonic() + 5.0
    while any(os.path.exists(f"/proc/{pid}") for pid in watch.stopped) and time.monotonic() < deadline:
        time.sleep(0.05)
    left = [pid for pid in watch.stopped if os.path.exists(f"/proc/{pid}")]
    assert not left, f"kept children outlived their worker: {left}"
