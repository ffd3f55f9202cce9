"""The zygote's memory moves to huge pages when that pays (a queue of jobs, an idle warm worker),
never in a one-off grade's path; what it maps changes, never what any process holds."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from autograder.sandbox import hugepages, worker
from autograder.scoring import launcher
from autograder.scoring.grader import Grader
from autograder.scoring.results import Limits
from mutants import SOLUTIONS

MIB = 1 << 20
MAPS = """\
55a5d6357000-55a5dc2d9000 rw-p 00000000 00:00 0                          [heap]
7f36f202a000-7f36f4e00000 rw-p 00000000 00:00 0
7f36f1315000-7f36f1415000 rw-p 00000000 00:00 0
7f3711600000-7f3711a00000 r--p 00000000 fd:01 123                        /usr/lib/libtorch_cpu.so
7f3714600000-7f3714a00000 rw-p 00001000 fd:01 124                        /usr/lib/libpython3.11.so
7f3714c00000-7f3715000000 r--p 00000000 00:00 0
7f3715000000-7f3715400000 rw-s 00000000 00:01 9                          /dev/zero (deleted)
7ffd9a000000-7ffd9a400000 rw-p 00000000 00:00 0                          [stack]
"""


@pytest.mark.pure
def test_ranges_are_the_whole_huge_pages_of_private_writable_anonymous_memory():
    assert hugepages.ranges(MAPS) == [
        (0x55A5D6400000, 0x55A5DC200000),  # the heap, from its first whole huge page to its last
        (0x7F36F2200000, 0x7F36F4E00000),
    ]  # not: 1 MiB of anonymous memory, a library's data, read-only, shared, the stack


class FakeLibc:
    """Counts ``madvise`` calls instead of making them."""

    def __init__(self):
        self.calls: list[tuple[int, int, int]] = []

    def madvise(self, start, length, advice):
        self.calls.append((start, length, advice))
        return 0


@pytest.mark.pure
def test_collapse_asks_for_each_huge_page_and_stops_when_told(monkeypatch):
    fake = FakeLibc()
    monkeypatch.setattr(hugepages, "_LIBC", fake)
    monkeypatch.setattr(
        hugepages, "ranges", lambda maps: [(0, 4 * hugepages.HUGE), (10 * hugepages.HUGE, 12 * hugepages.HUGE)]
    )
    assert hugepages.collapse() is True
    assert fake.calls == [(i * hugepages.HUGE, hugepages.HUGE, hugepages.MADV_COLLAPSE) for i in (0, 1, 2, 3, 10, 11)]
    fake.calls.clear()
    asked = []
    assert hugepages.collapse(stop=lambda: asked.append(1) or len(asked) > 3) is False
    assert len(fake.calls) == 3


def _kernel_collapses() -> str | None:
    """Why this kernel cannot collapse memory into huge pages, or None."""
    release = tuple(int(p) for p in platform.release().split(".")[:2] if p.isdigit())
    enabled = Path("/sys/kernel/mm/transparent_hugepage/enabled")
    if not sys.platform.startswith("linux") or release < (6, 1):
        return f"MADV_COLLAPSE needs Linux 6.1 or later (this is {platform.release()})"
    if not enabled.exists() or "[never]" in enabled.read_text():
        return "transparent huge pages are off on this machine"
    return None


needs_collapse = pytest.mark.skipif(_kernel_collapses() is not None, reason=str(_kernel_collapses()))

TOUCHED = """
import sys
from autograder.sandbox import hugepages
memory = bytearray(b"x" * (64 << 20))  # 64 MiB written: a heap or an anonymous mapping of its own
before = hugepages.backed()
assert hugepages.collapse()
print(before, hugepages.backed(), memory[12345:12347].decode())
"""


@needs_collapse
def test_collapsed_memory_is_backed_by_huge_pages_and_holds_the_same_bytes():
    out = subprocess.run([sys.executable, "-c", TOUCHED], capture_output=True, text=True, check=True).stdout.split()
    before, after, sample = int(out[0]), int(out[1]), out[2]
    assert after >= before + 48 * MIB
    assert sample == "xx"


# ----------------------------------------------------------------------------- the worker's side
class Recorded:
    """A stand-in for ``hugepages.collapse``: how it was called, and how an idle one ends."""

    def __init__(self, finishes: bool = True):
        self.calls: list[str] = []
        self.finishes = finishes

    def __call__(self, stop=None):
        if stop is None:
            self.calls.append("before the job")
            return True
        self.calls.append("while idle")
        if self.finishes:
            return True
        deadline = time.monotonic() + 10
        while not stop() and time.monotonic() < deadline:  # a long collapse, until a line comes
            time.sleep(0.01)
        return False


@pytest.fixture
def pipe():
    read, write = os.pipe()
    yield worker.Lines(read), write
    os.close(read)
    try:
        os.close(write)
    except OSError:
        pass


def _write_later(fd: int, data: bytes, delay: float) -> None:
    threading.Timer(delay, lambda: os.write(fd, data)).start()


@pytest.mark.pure
def test_lines_come_whole_however_they_arrive(pipe):
    lines, write = pipe
    assert not lines.waiting(0)
    os.write(write, b'{"id": 1}\n{"id"')
    assert lines.readline() == b'{"id": 1}\n'
    assert lines.waiting(0)  # part of the next one is here already
    _write_later(write, b": 2}\n", 0.05)
    assert lines.readline() == b'{"id": 2}\n'
    os.write(write, b"tail")
    os.close(write)
    assert lines.readline() == b"tail"
    assert lines.readline() == b"" and lines.waiting(0)


@pytest.mark.pure
@pytest.mark.parametrize(
    "served, calls",
    [((0,), []), ((1, 2), ["before the job", "before the job"])],
    ids=["a one-off grade's job never waits", "a queue collapses before each job but the first"],
)
def test_jobs_already_waiting_collapse_only_after_the_workers_first(pipe, served, calls):
    lines, write = pipe
    collapse = Recorded()
    os.write(write, b"".join(b"job %d\n" % n for n in served))
    for n in served:
        assert worker.next_job(lines, served=n, collapse=collapse) == b"job %d\n" % n
    assert collapse.calls == calls


@pytest.mark.pure
def test_an_idle_worker_collapses_and_its_next_job_does_not_wait(pipe, monkeypatch):
    lines, write = pipe
    monkeypatch.setattr(worker, "IDLE_SECONDS", 0.05)
    collapse = Recorded()
    _write_later(write, b"job\n", 0.3)
    assert worker.next_job(lines, served=3, collapse=collapse) == b"job\n"
    assert collapse.calls == ["while idle"]


@pytest.mark.pure
def test_a_job_that_comes_during_an_idle_collapse_stops_it(pipe, monkeypatch):
    lines, write = pipe
    monkeypatch.setattr(worker, "IDLE_SECONDS", 0.05)
    collapse = Recorded(finishes=False)
    _write_later(write, b"job\n", 0.3)
    started = time.monotonic()
    assert worker.next_job(lines, served=0, collapse=collapse) == b"job\n"
    assert time.monotonic() - started < 5  # stopped by the line, not by the stand-in's deadline
    assert collapse.calls == ["while idle"]  # a first job: no more; a later one finishes it first
    _write_later(write, b"job\n", 0.3)
    assert worker.next_job(lines, served=1, collapse=collapse) == b"job\n"
    assert collapse.calls == ["while idle", "while idle", "before the job"]


@pytest.mark.pure
def test_no_collapse_after_the_last_job(pipe):
    lines, write = pipe
    collapse = Recorded()
    os.close(write)
    assert worker.next_job(lines, served=5, collapse=collapse) == b""
    assert collapse.calls == []


# ----------------------------------------------------------------------------- a real worker
def _runs_the_worker(pid: int) -> bool:
    """Python running the worker (not bubblewrap, whose command line holds the same words)."""
    argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    return os.path.basename(argv[0]).startswith(b"python") and b"autograder.sandbox.worker" in argv


def _zygote(launched: int) -> int:
    """The worker's own process among ``launched``'s descendants (its children run the same program)."""
    parents = {}
    for entry in os.listdir("/proc"):
        try:
            with open(f"/proc/{entry}/stat") as stat:
                parents[int(entry)] = int(stat.read().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError):
            continue
    below, todo = [], [launched]
    while todo:
        pid = todo.pop()
        below.append(pid)
        todo += [child for child, parent in parents.items() if parent == pid]
    workers = [pid for pid in below if _runs_the_worker(pid)]
    return next(pid for pid in workers if parents[pid] not in workers)


def _backed(pid: int) -> int:
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
        if line.startswith("AnonHugePages:"):
            return int(line.split()[1]) * 1024
    return 0


@needs_collapse
@pytest.mark.parametrize("kind", ["process"] + (["bwrap"] if launcher.choose("auto").contained else []))
def test_a_workers_second_job_forks_from_huge_pages_and_grades_the_same(kind):
    limits = Limits(check_timeout=10.0, exercise_timeout=40.0, total_timeout=180.0, memory_mb=768)
    with Grader(kind, ("public", "hidden"), limits) as grader:
        first = grader.grade(SOLUTIONS, ["outliers.iqr", "losses.nll_loss"])
        zygote = _zygote(grader.worker.proc.pid)
        second = grader.grade(SOLUTIONS, ["outliers.iqr", "losses.nll_loss"])
        assert _backed(zygote) >= 64 * MIB  # of its ~180 MB (torch); 0 before, unless the kernel did it itself
    assert first.score == second.score == first.max_score > 0
