"""The worker's instruments: an ATen-op recorder (reports only) and each child's seal (forbidden
kernels removed at the dispatcher, an audit hook), put in place before learner code is imported.

In-process instruments are one layer; the walls are the uid, the sandbox and the scorer, which
judges values itself and treats whatever the worker reports as data the learner controls.
"""

from __future__ import annotations

import contextlib
import os
import sys
from types import FrameType

import torch
from torch.utils import _python_dispatch as python_dispatch
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
    """Records every ATen op that reaches the dispatcher while ``recording``, and, while ``placement``
    too (a run on another device), each op that made a full float tensor on the CPU.

    Every op of a check passes here, so the per-op path is kept to the least: the op objects go
    into insertion-ordered dicts (first call first, repeats free), and their names are read only
    when asked for (``op_names``, ``cpu_made_names``). Placement is looked at only where it can
    differ: on the CPU every tensor is a CPU tensor, and the judge reads it on other devices only.
    """

    @classmethod
    def _should_skip_dynamo(cls) -> bool:
        return False  # no torch.compile here; skipping the wrapper saves importing torch._dynamo (~1 s)

    def __init__(self):
        super().__init__()
        self.recording = False
        self.placement = False
        self.calls: dict = {}  # the op overloads called while recording, first call first
        self.cpu_made: dict = {}  # those that produced a full float tensor on the CPU, while ``placement``
        self.seen = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.seen += 1
        out = func(*args, **kwargs) if kwargs else func(*args)
        if self.recording:
            self.calls[func] = None
            if self.placement and _makes_cpu_float(out):
                self.cpu_made[func] = None
        return out

    def clear(self, placement: bool) -> None:
        """Forgets what was recorded; ``placement``: also note the ops that make CPU tensors."""
        self.calls.clear()
        self.cpu_made.clear()
        self.placement = placement

    def op_names(self) -> list[str]:
        """The names (``convolution``) of the ops recorded since ``clear``, each once, first call first."""
        return _names(self.calls)

    def cpu_made_names(self) -> list[str]:
        return _names(self.cpu_made)


class NativeRecorder:
    """``OpRecorder``'s interface over the C++ recorder (``oprec.cpp``, loaded by ``native``): the
    same reports from a RecordFunction callback, without a trip into Python for every op."""

    def __init__(self, module):
        self._native = module

    @property
    def recording(self) -> bool:
        return self._native.recording()

    @recording.setter
    def recording(self, on: bool) -> None:
        self._native.set_recording(on)

    @property
    def seen(self) -> int:
        return self._native.seen()

    def install(self) -> None:
        self._native.install()

    def clear(self, placement: bool) -> None:
        self._native.clear(placement)

    def op_names(self) -> list[str]:
        return list(dict.fromkeys(self._native.op_names()))

    def cpu_made_names(self) -> list[str]:
        return list(dict.fromkeys(self._native.cpu_made_names()))


def _pause_where_modes_are_stepped_around(recorder: NativeRecorder) -> None:
    """PyTorch steps around dispatch modes where it reads values for itself (a tensor's repr reads
    them with ``.item()``): the Python recorder never sees those ops, and the C++ one must not
    either, or a learner's ``print(x)`` would read as a host sync. Its ``_disable_current_modes``
    pauses the C++ recorder too (PyTorch reaches it through the module's attribute)."""
    original = python_dispatch._disable_current_modes

    @contextlib.contextmanager
    def _disable_current_modes():
        with original() as modes:
            was = recorder.recording
            recorder.recording = False
            try:
                yield modes
            finally:
                recorder.recording = was

    python_dispatch._disable_current_modes = _disable_current_modes


def _names(ops) -> list[str]:
    return list(dict.fromkeys(str(getattr(getattr(op, "overloadpacket", op), "__name__", op)) for op in ops))


def _is_cpu_float(t) -> bool:
    return isinstance(t, torch.Tensor) and t.is_cpu and t.is_floating_point() and t.ndim > 0


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

    def __init__(self, native_module=None):
        """``native_module``: the C++ recorder (``native.load()``); None: the Python one."""
        self.recorder: OpRecorder | NativeRecorder = (
            NativeRecorder(native_module) if native_module is not None else OpRecorder()
        )
        self._sentinel = torch.zeros(1)

    def install(self):
        """Installs the recorder for the process's whole life: the C++ callback, or the Python mode
        pushed on the dispatch stack and never popped.

        The recorder only reports (ops for the scorer's message, CPU tensors made on another
        device, host syncs): forbidding is the dispatcher's job (``seal``). So nothing guards
        PyTorch's own ways of stepping around a mode or a callback; code that removes the
        recorder for good is caught by ``verify``."""
        if isinstance(self.recorder, NativeRecorder):
            self.recorder.install()
            _pause_where_modes_are_stepped_around(self.recorder)
        else:
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
