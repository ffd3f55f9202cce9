"""The scorer's side of the sandboxed worker: ``Worker`` posts submissions to it and reads its frames."""

from __future__ import annotations

import os
import queue
import shutil
import signal
import threading

from autograder.protocol import messages
from autograder.scoring import launcher
from autograder.scoring.results import Limits

# A uid for each child the worker may keep stopped for its exercise's next suite, beside one per slot.
KEPT_CHILDREN = 40


# ----------------------------------------------------------------------------- the worker process
class Worker:
    """One sandboxed worker process, kept warm across submissions (torch imported once).

    Frames arrive on a queue filled by a reader thread: ``messages.Event``s (``"ready"``,
    ``("frame", header, stream)``, ``("done", job_id)``), and ``None`` when the process is gone.
    The same thread answers the worker's ``("plans", job_id)`` with that job's hidden plans.
    """

    def __init__(self, box: launcher.Sandbox, slots: int = 2):
        self.box = box
        self.uids = launcher.learner_uids(slots + KEPT_CHILDREN)
        self.inbox = launcher.new_inbox()  # submissions go here; the worker can only read them
        self.proc, self.scratch = launcher.start(box, self.inbox)
        assert self.proc.stdin is not None and self.proc.stdout is not None  # started with pipes
        self.stdin, self.stdout = self.proc.stdin, self.proc.stdout
        self.events: queue.Queue[messages.Event | None] = queue.Queue()
        self.stderr = bytearray()
        self.ready = False
        self.alive = True
        self._jobs = 0
        self._later: dict[int, dict[str, list]] = {}  # each job's hidden plans, until the worker asks for them
        self._writing = threading.Lock()  # job lines (the grading thread) and plans (the reader thread)
        threading.Thread(target=self._read_frames, daemon=True).start()
        threading.Thread(target=self._read_stderr, daemon=True).start()

    def _read_exact(self, n: int) -> bytes | None:
        data = self.stdout.read(n)
        return data if data is not None and len(data) == n else None

    def _read_frames(self):
        """Frames from the worker, read by ``messages.read_events``: anything malformed ends the
        worker, never the scorer (learner code shares the worker's sandbox)."""
        try:
            for event in messages.read_events(self._read_exact):
                if event == "ready":
                    self.ready = True
                if isinstance(event, tuple) and event[0] == "plans" and isinstance(event[1], int):
                    # every public child of that job is done (gone or stopped): now its hidden checks
                    self._send(messages.later_plans(event[1], self._later.pop(event[1], {})))
                    continue
                if isinstance(event, tuple) and event[0] == "done" and isinstance(event[1], int):
                    self._later.pop(event[1], None)  # a job with no later phase never asked
                self.events.put(event)
        except (OSError, MemoryError, messages.ProtocolError):  # a dead worker, or one that lies
            pass
        self.alive = False
        self.events.put(None)

    def _read_stderr(self):
        assert self.proc.stderr is not None  # started with pipes
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
        """Posts a submission; ``parts``: (exercise, suite) pairs, each reported in a frame of its own;
        ``plans``: for each exercise, its checks as ``[index, devices, plan, suite]``
        (``grader.plan_table``): data only, the worker never sees a check. The public ones go with
        the job; the hidden ones when the worker asks, once every public child is done."""
        exercises = list(dict.fromkeys(e for e, _ in parts))
        self._jobs += 1
        launcher.clear_inbox(self.inbox)
        launcher.post(self.inbox, str(self._jobs), files)
        job = messages.Job(
            id=self._jobs,
            exercises=list(parts),
            plans={e: messages.first_phase(plans[e]) for e in exercises},
            jobs=jobs,
            check_timeout=limits.check_timeout,
            exercise_timeout=limits.exercise_timeout,
            memory_mb=limits.memory_mb,
            max_output=limits.max_output,
            cuda=cuda,
            uids=self.uids,
            scratch_quota=None if self.box.contained else launcher.SCRATCH_BYTES,
        )
        self._later[job.id] = {e: messages.later_phases(plans[e]) for e in exercises}
        self._send(job.encode())
        return self._jobs

    def _send(self, line: bytes) -> None:
        with self._writing:
            try:
                self.stdin.write(line)
                self.stdin.flush()
            except (OSError, ValueError):  # ValueError: closed meanwhile
                pass  # the reader thread reports the death

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
        launcher.cleanup(self.box, self.scratch)
        for _ in range(3):  # a grading thread may be posting into it meanwhile (an interrupted grade)
            try:
                launcher.clear_inbox(self.inbox)
                break
            except OSError:
                continue
        shutil.rmtree(self.inbox, ignore_errors=True)
