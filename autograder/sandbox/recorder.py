"""The worker's instruments: an ATen-op recorder (reports only) and each child's seal (forbidden
kernels removed at the dispatcher, an audit hook), put in place before learner code is imported.

In-process instruments are one layer; the walls are the uid, the sandbox and the scorer, which
judges values itself and treats whatever the worker reports as data the learner controls.
"""

from __future__ import annotations

import os
import sys
from types import FrameType

import torch
from torch.utils._python_dispatch import TorchDispatchMode

from autograder.sandbox import forbid

# Audit events refused in a sealed child, whoever asks: signals, tracing and heap walks (Tampering),
# and starting a process (PermissionError, an OSError: a library that tries one, as matplotlib's
# font cache runs fc-list, carries on without it). A new program would run without this process's
# forbidden kernels.
_ALWAYS_BLOCKED = (
    "os.kill",
    "os.killpg",
    "sys.settrace",
    "sys.setprofile",
    "gc.get_objects",
    "gc.get_referrers",
    "gc.get_referents",
    "sys._current_frames",
)
_PROCESS_EVENTS = (
    "os.fork",
    "os.forkpty",
    "os.exec",
    "os.posix_spawn",
    "os.spawn",
    "os.system",
    "subprocess.Popen",
    "pty.spawn",
)
_FRAME_ATTRS = ("tb_frame", "gi_frame", "cr_frame", "ag_frame", "f_back", "f_globals", "f_locals")


class Tampering(RuntimeError):
    """Learner code tried to switch off or reach into the grader's instruments."""


class OpRecorder(TorchDispatchMode):
    """Records the name of every ATen op that reaches the dispatcher while ``recording``."""

    @classmethod
    def _should_skip_dynamo(cls) -> bool:
        return False  # no torch.compile here; skipping the wrapper saves importing torch._dynamo (~1 s)

    def __init__(self):
        super().__init__()
        self.recording = False
        self.ops: list[str] = []
        self.cpu_made: list[str] = []  # ops that produced a full float tensor on the CPU
        self.seen = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.seen += 1
        out = func(*args, **kwargs) if kwargs else func(*args)
        if self.recording:  # every op of the learner's code passes here: kept short (most of a check's cost)
            name = func.overloadpacket.__name__
            self.ops.append(name)
            if _makes_cpu_float(out):
                self.cpu_made.append(name)
        return out


def _is_cpu_float(t) -> bool:
    return isinstance(t, torch.Tensor) and t.device.type == "cpu" and t.is_floating_point() and t.dim() > 0


def _makes_cpu_float(out) -> bool:
    if isinstance(out, (tuple, list)):
        return any(_is_cpu_float(t) for t in out)
    return _is_cpu_float(out)  # most ops: one tensor, no tuple or generator made


class Instruments:
    """The recorder (pushed once, never popped) and, per child, the seal.

    ``install`` runs once in the worker before it forks. ``seal`` runs in each child before the
    learner's module is imported: it makes the exercise's forbidden kernels unavailable (see
    ``forbid``) and adds an audit hook. The hook's state and the forbidden kernels' registration
    live only in the hook's closure, which no Python object refers to: learner code can neither
    switch them off nor reach them, and there is no call that disarms them.
    """

    def __init__(self):
        self.recorder = OpRecorder()
        self._sentinel = torch.zeros(1)

    def install(self):
        """Pushes the recorder; it stays on the dispatch stack for the process's whole life.

        The recorder only reports (ops for the scorer's message, CPU tensors made on another
        device, host syncs): forbidding is the dispatcher's job (``seal``). So nothing guards
        PyTorch's own ways of stepping around a mode, which a tensor's repr and the meta kernels
        use; code that removes the recorder for good is caught by ``verify``."""
        self.recorder.__enter__()

    def seal(self, exercise, scratch_dir: str, submission_dir: str) -> list[str]:
        """Forbidden kernels and the audit hook, for the rest of this process's life. Returns the
        list the forbidden kernels append their op names to."""
        hits: list[str] = []
        registration = forbid.block(exercise, hits)
        sys.addaudithook(_audit_hook(os.path.realpath(scratch_dir), os.path.realpath(submission_dir), registration))
        return hits

    def call(self, fn, *args, **kwargs):
        """Runs learner code with op recording on; raises Tampering if the recorder was disabled."""
        rec = self.recorder
        rec.recording = True
        try:
            return fn(*args, **kwargs)
        finally:
            rec.recording = False
            self.verify()

    def verify(self):
        before = self.recorder.seen
        self._sentinel.neg()
        if self.recorder.seen == before:
            raise Tampering("the forbidden-op recorder was switched off by the submission")


_SKIPPED_CALLERS = ("inspect.py", "traceback.py")


def _audit_hook(scratch_dir: str, submission_dir: str, keep_alive):
    """The child's audit hook. Everything it needs is bound here, in its closure."""
    busy = []  # re-entrancy: finding the caller asks for frames itself

    def asked_by_learner() -> bool:
        busy.append(1)
        try:
            caller = _caller_file(3)
        finally:
            busy.pop()
        return caller.startswith(submission_dir + os.sep)

    def hook(event: str, args, _keep=keep_alive):
        if busy:
            return
        if event in _PROCESS_EVENTS:
            raise PermissionError(f"starting a process ({event}) is not allowed while grading")
        if event in _ALWAYS_BLOCKED or event.startswith("ctypes."):
            raise Tampering(f"{event} is not allowed while grading")
        if event == "sys._getframe" and asked_by_learner():
            raise Tampering("sys._getframe is not allowed while grading")
        if event == "object.__getattr__" and len(args) > 1 and args[1] in _FRAME_ATTRS and asked_by_learner():
            raise Tampering("inspecting the grader's frames is not allowed")
        if event == "open" and args and len(args) > 2 and isinstance(args[0], (str, bytes)):
            flags = args[2] if isinstance(args[2], int) else 0
            mode = args[1] if isinstance(args[1], str) else ""
            writing = any(c in mode for c in "wax+") or flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT)
            path = os.path.realpath(os.fsdecode(args[0]))
            if writing and not path.startswith(scratch_dir + os.sep) and path != os.devnull:
                raise Tampering(f"writing {path} is not allowed while grading")

    return hook


def _caller_file(depth: int) -> str:
    """The file that asked for a frame, looking through inspect (which asks on its caller's behalf)."""
    frame: FrameType | None = sys._getframe(depth)  # noqa: SLF001 - our own hook asks; it is not re-audited as the learner's
    while frame is not None and os.path.basename(frame.f_code.co_filename) in _SKIPPED_CALLERS:
        frame = frame.f_back
    return os.path.realpath(frame.f_code.co_filename) if frame is not None else ""
