"""The scorer's side of the sandboxed worker: ``Worker`` posts submissions to it and reads its frames;
``parse_stream`` splits an exercise's stream into the messages its child sent, trusting no byte.
"""

from __future__ import annotations

import json
import os
import queue
import shutil
import signal
import struct
import threading
from typing import Any

from autograder.scoring import launcher as sandboxes
from autograder.scoring.results import Limits

MAX_HEADER_BYTES = 2 * 2**20  # a frame header: exercise, status and at most the kept output
MAX_STREAM_BYTES = 64 * 2**20  # the worker's own cap on one exercise's messages (wire.MAX_BYTES)


# ----------------------------------------------------------------------------- the worker process
class Worker:
    """One sandboxed worker process, kept warm across submissions (torch imported once).

    Frames arrive on a queue filled by a reader thread: ``"ready"``, ``("frame", header, stream)``,
    ``("done", job_id)``, and ``None`` when the process is gone.
    """

    def __init__(self, box: sandboxes.Sandbox, slots: int = 2):
        self.box = box
        self.uids = sandboxes.learner_uids(slots)
        self.inbox = sandboxes.new_inbox()  # submissions go here; the worker can only read them
        self.proc, self.scratch = sandboxes.start(box, self.inbox)
        assert self.proc.stdin is not None and self.proc.stdout is not None  # started with pipes
        self.stdin, self.stdout = self.proc.stdin, self.proc.stdout
        self.events: queue.Queue = queue.Queue()
        self.stderr = bytearray()
        self.ready = False
        self.alive = True
        self._jobs = 0
        threading.Thread(target=self._read_frames, daemon=True).start()
        threading.Thread(target=self._read_stderr, daemon=True).start()

    def _read_exact(self, n: int) -> bytes | None:
        data = self.stdout.read(n)
        return data if data is not None and len(data) == n else None

    def _read_frames(self):
        """Frames from the worker: sizes are bounded and JSON is parsed defensively, since learner
        code shares the worker's sandbox; anything malformed ends the worker, never the scorer."""
        try:
            while True:
                tag = self._read_exact(1)
                if tag == b"R":
                    self.ready = True
                    self.events.put("ready")
                elif tag == b"J":
                    (size,) = struct.unpack("<I", self._read_exact(4))
                    if size > 4096:
                        break
                    self.events.put(("done", json.loads(self._read_exact(size))["id"]))
                elif tag == b"F":
                    (head_len,) = struct.unpack("<I", self._read_exact(4))
                    if head_len > MAX_HEADER_BYTES:
                        break
                    header = json.loads(self._read_exact(head_len))
                    if not isinstance(header, dict) or not isinstance(header.get("exercise"), str):
                        break
                    if not isinstance(header.setdefault("suite", "public"), str):
                        break
                    (size,) = struct.unpack("<Q", self._read_exact(8))
                    if size > MAX_STREAM_BYTES:
                        break
                    stream = self._read_exact(size) if size else b""
                    if stream is None:
                        break
                    self.events.put(("frame", header, stream))
                else:
                    break
        except (OSError, ValueError, TypeError, KeyError, struct.error, RecursionError, MemoryError):
            pass
        self.alive = False
        self.events.put(None)

    def _read_stderr(self):
        for line in self.proc.stderr:
            if len(self.stderr) < 16384:
                self.stderr += line

    def submit(
        self,
        files: dict[str, str],
        parts: list[tuple[str, str]],
        plans: dict[str, list],
        limits: Limits,
        cuda: bool,
        jobs: int,
    ) -> int:
        """Posts a submission; ``parts``: (exercise, suite) pairs, each graded by a child of its own;
        ``plans``: for each exercise, its checks as ``[index, devices, plan, suite]``
        (``grader.plan_table``): data only, the worker never sees a check."""
        exercises = list(dict.fromkeys(e for e, _ in parts))
        self._jobs += 1
        sandboxes.clear_inbox(self.inbox)
        sandboxes.post(self.inbox, str(self._jobs), files)
        job = {
            "id": self._jobs,
            "exercises": [list(part) for part in parts],
            "plans": {e: plans[e] for e in exercises},
            "jobs": jobs,
            "check_timeout": limits.check_timeout,
            "exercise_timeout": limits.exercise_timeout,
            "memory_mb": limits.memory_mb,
            "max_output": limits.max_output,
            "cuda": cuda,
            "uids": self.uids[:jobs] if self.uids else None,
            "scratch_quota": None if self.box.contained else sandboxes.SCRATCH_BYTES,
        }
        try:
            self.stdin.write((json.dumps(job) + "\n").encode())
            self.stdin.flush()
        except OSError:
            pass  # the reader thread reports the death
        return self._jobs

    def close(self):
        try:  # first: a thread blocked writing a job to stdin holds its lock until the pipe breaks
            os.killpg(self.proc.pid, signal.SIGKILL)
        except OSError:
            pass
        try:
            self.stdin.close()
        except OSError:
            pass
        self.proc.wait()
        sandboxes.cleanup(self.box, self.scratch)
        for _ in range(3):  # a grading thread may be posting into it meanwhile (an interrupted grade)
            try:
                sandboxes.clear_inbox(self.inbox)
                break
            except OSError:
                continue
        shutil.rmtree(self.inbox, ignore_errors=True)


# ----------------------------------------------------------------------------- an exercise's stream
def parse_stream(stream: bytes) -> tuple[list, bool]:
    """Messages the child sent, as (kind, payload) pairs, and whether the stream was malformed
    (then parsing stops there). Learner code shares the child's process: every byte is suspect."""
    from autograder.protocol import wire  # imports torch: not at import, so the worker starts before it loads

    messages: list[tuple[bytes, Any]] = []
    pos = 0
    while pos + 5 <= len(stream):
        kind = stream[pos : pos + 1]
        (length,) = struct.unpack_from("<I", stream, pos + 1)
        body = stream[pos + 5 : pos + 5 + length]
        if len(body) != length or kind not in (b"V", b"I", b"E", b"U", b"D"):
            return messages, True
        pos += 5 + length
        try:
            payload = wire.unpack(body) if length else None
        except (wire.WireError, ValueError, OverflowError, RecursionError, MemoryError):
            return messages, True
        if kind in (b"E", b"U") and not isinstance(payload, dict):
            return messages, True
        messages.append((kind, payload))
    return messages, pos != len(stream)
