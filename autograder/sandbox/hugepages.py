"""The zygote's anonymous memory backed by huge pages, so that forking and ending a child costs less.

A child is forked from the zygote, which holds torch: about 180 MB of anonymous memory (the heap
and large anonymous mappings). The kernel copies one page-table entry per 4 KiB page of it at
every fork and drops them all at every exit: about 15 ms of CPU per child on this project's
machine, more than most exercises' checks take. Backed by 2 MiB pages (``MADV_COLLAPSE``, Linux
6.1 and later) the same memory is ~90 entries: about 4 ms per child. What a child writes is still
copied 4 KiB at a time, so no process gains or loses memory that it could see or use: this changes
how the memory is mapped, never what it holds or who may read it.

Collapsing copies the memory into new huge pages once (about half a second for 180 MB); later
calls only redo the ranges that the zygote's own writes split since (a few ms). A kernel without
``MADV_COLLAPSE``, a refused range or a failed allocation leaves the memory as it was.
"""

from __future__ import annotations

import ctypes
from collections.abc import Callable

MADV_COLLAPSE = 25
HUGE = 2 << 20  # the x86-64 and arm64 huge page
_LIBC = ctypes.CDLL(None, use_errno=True)
_LIBC.madvise.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]


def ranges(maps: str) -> list[tuple[int, int]]:
    """The 2 MiB-aligned parts of the private, writable, anonymous mappings (the heap included)
    listed in ``maps`` (``/proc/PID/maps``'s text) that hold at least one whole huge page."""
    found = []
    for line in maps.splitlines():
        fields = line.split()
        if len(fields) < 5 or fields[1] != "rw-p" or (len(fields) > 5 and fields[5] != "[heap]"):
            continue
        low, high = (int(end, 16) for end in fields[0].split("-"))
        start, stop = -(-low // HUGE) * HUGE, high // HUGE * HUGE
        if stop > start:
            found.append((start, stop))
    return found


def collapse(stop: Callable[[], bool] = lambda: False) -> bool:
    """Backs this process's anonymous memory with huge pages where the kernel can, one huge page
    at a time, asking ``stop()`` before each; True when every one was tried (each may still have
    been refused: an older kernel, or no memory to spare)."""
    with open("/proc/self/maps") as maps:
        listed = ranges(maps.read())
    for start, stop_at in listed:
        for page in range(start, stop_at, HUGE):  # one the kernel refuses spoils no other
            if stop():
                return False
            _LIBC.madvise(page, HUGE, MADV_COLLAPSE)  # EINVAL before Linux 6.1: nothing done
    return True


def backed() -> int:
    """Bytes of this process's anonymous memory that huge pages back (``AnonHugePages``)."""
    with open("/proc/self/smaps_rollup") as rollup:
        for line in rollup:
            if line.startswith("AnonHugePages:"):
                return int(line.split()[1]) * 1024
    return 0
