"""Grades one submission: runs the worker, computes PyTorch's references, judges, scores.

This is the scoring process. It never imports learner code: it reads the worker's bytes with
``wire.unpack`` and compares them with references it computes itself.
"""

from __future__ import annotations

import base64
import errno
import json
import os
import queue
import shutil
import signal
import stat
import struct
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from autograder.course import catalogue
from autograder.course.catalogue import Exercise
from autograder.scoring import cleantext, static
from autograder.scoring import launcher as sandboxes

DEVICE_WEIGHT = {"cpu": 1.0, "cuda": 1.0, "meta": 0.25}
OUTCOMES = ("passed", "failed", "not_started", "forbidden", "timeout", "crashed", "error")


@dataclass
class Limits:
    jobs: int = 2
    check_timeout: float = 10.0  # seconds without progress before a check counts as hung
    exercise_timeout: float = 60.0
    total_timeout: float = 600.0  # the whole grade of one submission
    memory_mb: int = 2048  # address space a child may add after forking
    max_output: int = 16 * 1024  # bytes of learner output kept per exercise


@dataclass
class Unit:
    """One check on one device."""

    check: Any  # a checks.core.Check
    device: str
    verdict: str  # passed, failed, not_checked, skipped, not_started
    message: str = ""
    got: dict | None = field(default=None, repr=False)  # the learner's encoded result, for diagnosis
    raised: str | None = None  # the exception type the learner's code raised, for diagnosis
    facts: tuple[str, ...] = ()  # what the evidence shows beyond values (mistakes.FACTS), for diagnosis

    @property
    def weight(self) -> float:
        return 0.0 if self.verdict in ("not_checked", "skipped") else DEVICE_WEIGHT[self.device]


@dataclass
class ExerciseResult:
    exercise: Exercise
    outcome: str
    score: float
    max_score: float
    message: str = ""
    units: list[Unit] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # advice, skipped CUDA, not-checked placement
    output: str = ""
    mistake: object = None  # the named mistake the evidence fits (see mistakes.py)
    suite_weights: dict[str, float] = field(default_factory=dict)  # planned weight of each suite
    grader_fault: bool = False  # the grader could not run it: no grade to record (not the learner's doing)

    def suite_scores(self) -> dict[str, tuple[float, float]]:
        """Points earned and possible per suite (public/hidden), splitting the exercise's points."""
        counted = [u for u in self.units if u.weight]
        total = sum(u.weight for u in counted) if counted else sum(self.suite_weights.values())
        result = {}
        for suite, planned in self.suite_weights.items():
            mine = [u for u in counted if u.check.suite == suite]
            weight = sum(u.weight for u in mine) if counted else planned
            possible = self.max_score * weight / total if total else 0.0
            earned = self.max_score * sum(u.weight for u in mine if u.verdict == "passed") / total if total else 0.0
            if self.outcome in ("forbidden", "not_started", "error"):
                earned = 0.0
            result[suite] = (round(earned, 4), round(possible, 4))
        return result


@dataclass
class GradeResult:
    submission: str
    sandbox: str
    exercises: list[ExerciseResult]
    execution_time: float
    suites: tuple[str, ...]

    @property
    def score(self) -> float:
        return sum(e.score for e in self.exercises)

    @property
    def max_score(self) -> float:
        return sum(e.max_score for e in self.exercises)


class MissingChecks(RuntimeError):
    """A suite of checks was asked for by name and is not installed (the student release has no
    hidden checks)."""


# ----------------------------------------------------------------------------- the worker
def plan_table(found: list) -> list:
    """What the worker is sent for an exercise's checks: ``[index, devices, base64 plan]`` each."""
    return [
        [i, list(check.devices), base64.b64encode(check.wire_plan()).decode("ascii")] for i, check in enumerate(found)
    ]


MAX_SUBMISSION_FILES = 64
MAX_FILE_BYTES = 2**20
MAX_HEADER_BYTES = 2 * 2**20  # a frame header: exercise, status and at most the kept output
MAX_STREAM_BYTES = 64 * 2**20  # the worker's own cap on one exercise's messages (wire.MAX_BYTES)


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
        else:
            files[path.name] = data.decode("utf-8", errors="replace")
    return files, refused


NOT_REGULAR = "not a regular file (a device, FIFO, socket or folder)"


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
        self, files: dict[str, str], exercises: list[str], plans: dict[str, list], limits: Limits, cuda: bool, jobs: int
    ) -> int:
        """Posts a submission; ``plans``: for each exercise, its checks as ``[index, devices, plan]``
        (``plan_table``): data only, the worker never sees a check."""
        self._jobs += 1
        sandboxes.clear_inbox(self.inbox)
        sandboxes.post(self.inbox, str(self._jobs), files)
        job = {
            "id": self._jobs,
            "exercises": exercises,
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
        try:
            self.stdin.close()
        except OSError:
            pass
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except OSError:
            pass
        self.proc.wait()
        sandboxes.cleanup(self.box, self.scratch)
        sandboxes.clear_inbox(self.inbox)
        shutil.rmtree(self.inbox, ignore_errors=True)


class Grader:
    """Grades submissions one after another on a warm worker, restarting it if learner code kills it."""

    def __init__(self, sandbox: str = "auto", suites: tuple[str, ...] | None = None, limits: Limits | None = None):
        from autograder import checks as registry

        self.box = sandboxes.choose(sandbox)
        self.limits = limits or Limits()
        self.suites = tuple(s for s in (suites or registry.SUITES) if s in registry.available_suites())
        if suites and not self.suites:  # asked for by name, and not installed here (a learner's copy)
            raise MissingChecks(
                f"the {' and '.join(suites)} checks are not installed here: they stay with "
                f"your instructor, who runs them after the deadline; grade with the public "
                f"checks (the default)"
            )
        self.cuda_hint = any(Path("/dev").glob("nvidia*"))
        self.worker: Worker | None = Worker(self.box, self.limits.jobs)  # starts importing torch right away
        self._references: dict = {}
        self.devices: tuple[str, ...] | None = None
        self.plans = {e.id: plan_table(registry.for_exercise(e.id, self.suites)) for e in catalogue.EXERCISES}

    def close(self):
        if self.worker:
            self.worker.close()
            self.worker = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _frames(self, files, exercises: list[str], deadline: float) -> tuple[dict, list[str]]:
        """Frames for every exercise. After a worker death the rest runs one exercise at a time,
        so that a second death names its culprit."""
        frames: dict[str, tuple[dict, bytes]] = {}
        pending, jobs = list(exercises), self.limits.jobs
        problems: list[str] = []
        while pending:
            if self.worker is None or not self.worker.alive:
                self.close()
                self.worker = Worker(self.box, self.limits.jobs)
            worker = self.worker
            job_id = worker.submit(files, pending, self.plans, self.limits, self.cuda_hint, jobs)
            while True:
                try:
                    item = worker.events.get(timeout=max(0.01, deadline - time.monotonic()))
                except queue.Empty:
                    self.close()
                    for ex in pending:
                        frames.setdefault(
                            ex,
                            (
                                {
                                    "exercise": ex,
                                    "status": "timeout",
                                    "output": "",
                                    "killed_for": "the whole grade ran out of time",
                                },
                                b"",
                            ),
                        )
                    return frames, problems
                if item is None or item == ("done", job_id):
                    break
                if item != "ready" and item[0] == "frame":
                    frames[item[1]["exercise"]] = (item[1], item[2])
            pending = [ex for ex in pending if ex not in frames]
            if not pending:
                break
            self.close()
            if not worker.ready:  # the worker itself could not start: a grader problem, not the learner's
                problems.append(worker.stderr.decode("utf-8", "replace")[-3000:] or "the worker did not start")
                for ex in pending:
                    frames[ex] = ({"exercise": ex, "status": "grader_error", "output": ""}, b"")
                break
            if jobs == 1:
                culprit = pending.pop(0)
                frames[culprit] = (
                    {
                        "exercise": culprit,
                        "status": "crashed",
                        "output": "",
                        "killed_for": "the worker process was killed while grading it",
                    },
                    b"",
                )
            jobs = 1
        return frames, problems

    def warm(self, timeout: float = 120.0) -> None:
        """Computes every exercise's references and waits for the worker to be ready: the next grade
        pays neither (``make watch`` calls this before the first save)."""
        for exercise in catalogue.EXERCISES:
            self.references(exercise)
        deadline = time.monotonic() + timeout
        while self.worker is not None and self.worker.alive and not self.worker.ready and time.monotonic() < deadline:
            time.sleep(0.05)

    def references(self, exercise: Exercise) -> tuple[list, dict]:
        """The checks of an exercise and PyTorch's results for them (computed once per process)."""
        from autograder import checks as registry

        if self.devices is None:
            import torch

            from autograder import warmup

            warmup.skip_lazy_dynamo_import()  # torch.optim's reference would import torch._dynamo
            torch.backends.cuda.matmul.allow_tf32 = False  # references at full float32 precision on CUDA
            torch.backends.cudnn.allow_tf32 = False
            self.devices = ("cpu", "cuda", "meta") if torch.cuda.is_available() else ("cpu", "meta")
        if exercise.id not in self._references:
            found = registry.for_exercise(exercise.id, self.suites)
            refs: dict = {}
            for i, check, device in units_expected(found, self.devices):
                refs[(i, device)] = check.expected(device, refs.get((i, "cpu")))
            self._references[exercise.id] = (found, refs)
        return self._references[exercise.id]

    def grade(self, submission: Path | str, exercises: list[str] | None = None) -> GradeResult:
        start = time.monotonic()
        submission = Path(submission).resolve()
        if not submission.is_dir():
            raise FileNotFoundError(f"submission directory not found: {submission}")
        selected = catalogue.select(exercises)
        files, refused = read_submission(submission)
        holder: dict = {}
        deadline = start + self.limits.total_timeout
        runner = threading.Thread(
            target=lambda: holder.update(result=self._frames(files, [e.id for e in selected], deadline)), daemon=True
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
            header, stream = frames.get(e.id, ({"status": "crashed", "output": ""}, b""))
            result = judge_exercise(e, found, header, stream, refs, self.devices, statics[e.id], self.limits)
            refusal = next((r for r in refused if r.startswith(f"{e.module}.py ")), None)
            if refusal:
                result.outcome, result.score, result.message, result.units = "error", 0.0, refusal, []
            results.append(result)
        note = self.box.note + (f"; worker problems: {problems[0]}" if problems else "")
        if "cuda" not in (self.devices or ()):
            note += "; CUDA checks skipped: no CUDA on this machine (the meta-device placement checks ran instead)"
        return GradeResult(str(submission), note, results, time.monotonic() - start, self.suites)


# ----------------------------------------------------------------------------- parsing and judging
def _parse_stream(stream: bytes) -> tuple[list, bool]:
    """Messages the child sent, as (kind, payload) pairs, and whether the stream was malformed
    (then parsing stops there). Learner code shares the child's process: every byte is suspect."""
    from autograder.protocol import wire

    messages: list[tuple[bytes, Any]] = []
    pos = 0
    while pos + 5 <= len(stream):
        kind = stream[pos : pos + 1]
        (length,) = struct.unpack_from("<I", stream, pos + 1)
        body = stream[pos + 5 : pos + 5 + length]
        if len(body) != length or kind not in (b"I", b"E", b"U", b"D"):
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


def units_expected(found, devices):
    return [(i, check, d) for i, check in enumerate(found) for d in check.devices if d in devices]


_DEVICE_MIX = ("expected device", "same device", "two devices", "device type")


def _judge_unit(check, device, unit: dict, want: dict, cpu_value) -> Unit:
    from autograder.protocol import encoding
    from autograder.scoring.compare import EXACT, compare

    status = unit.get("status")
    if "__error__" in want:
        return Unit(check, device, "skipped", f"the reference cannot run on {device}: {want['__error__']}")
    if status == "raised":
        raised = str(unit.get("type"))
        text = f"raised {raised}: {unit.get('message', '')}".strip()
        if unit.get("where"):
            text += f" (at {unit['where']})"
        if unit.get("not_started") and device == "cpu":
            return Unit(check, device, "not_started", "not started (raises NotImplementedError)")
        if unit.get("type") == "ForbiddenOperation":  # the exercise is forbidden: no placement note
            return Unit(check, device, "failed", text)
        if device == "meta":
            made = unit.get("cpu_made") or []
            if made:
                return Unit(
                    check,
                    device,
                    "failed",
                    f"on another device, your code created a CPU tensor with "
                    f"aten.{made[0]}: pass device=x.device (and dtype=x.dtype) when creating tensors",
                    facts=("created_cpu_tensor",),
                )
            message = str(unit.get("message", "")).lower()
            if any(m in message for m in _DEVICE_MIX):  # PyTorch's own words: its errors carry no code
                return Unit(check, device, "failed", f"your code mixes devices: {text}")
            return Unit(check, device, "not_checked", f"placement not checked (data-dependent code): {text}")
        return Unit(check, device, "failed", text, raised=raised)
    if status != "ok" or not isinstance(unit.get("value"), dict):
        return Unit(check, device, "failed", "the worker sent an unreadable result")
    got = unit["value"]
    if not all(encoding.is_valid(v) for v in got.values()):
        return Unit(check, device, "failed", "the result has an unexpected structure")
    try:
        message = check.verdict(got, want)
    except (KeyError, IndexError, TypeError):
        message = "the result has an unexpected structure"
    except Exception as exc:  # noqa: BLE001 - a malformed learner value must not crash the scorer
        message = f"the result could not be judged ({type(exc).__name__}: {exc})"
    if message is None and device == "cuda" and cpu_value is not None and "out" in got:
        cpu_out = dict(cpu_value["out"], device="cuda") if cpu_value["out"].get("t") == "tensor" else cpu_value["out"]
        differs = compare(got["out"], cpu_out, getattr(check, "tol", EXACT))
        if differs:
            message = f"your CUDA result differs from your CPU result: {differs}"
    if message and device == "meta":
        message = f"on another device: {message}"
    facts = ("float32_result",) if message and _narrowed(got, want) else ()
    return Unit(check, device, "failed" if message else "passed", message or "", got=got, facts=facts)


def _narrowed(got, want) -> bool:
    """Somewhere in the result a float32 tensor stands where PyTorch's is float64."""
    if isinstance(got, dict) and isinstance(want, dict):
        if want.get("t") == "tensor":
            return got.get("t") == "tensor" and want.get("dtype") == "float64" and got.get("dtype") == "float32"
        if want.get("t") in ("tuple", "list") and isinstance(got.get("items"), list):
            return any(_narrowed(g, w) for g, w in zip(got["items"], want["items"]))
        return any(_narrowed(got[k], want[k]) for k in want.keys() & got.keys() if k in ("out", "grads", "params"))
    return False


def judge_exercise(
    exercise: Exercise,
    found,
    header: dict,
    stream: bytes,
    references: dict,
    devices,
    static_message: str | None,
    limits: Limits,
) -> ExerciseResult:
    """The exercise's outcome, score and messages, every learner-made string neutralised."""
    result = _judge(exercise, found, header, stream, references, devices, static_message, limits)
    result.message = cleantext.one_line(str(result.message))
    result.output = cleantext.block(str(result.output))
    result.notes = [cleantext.one_line(str(n)) for n in result.notes]
    for unit in result.units:
        unit.message = cleantext.one_line(str(unit.message))
    return result


def _judge(
    exercise: Exercise,
    found,
    header: dict,
    stream: bytes,
    references: dict,
    devices,
    static_message: str | None,
    limits: Limits,
) -> ExerciseResult:
    result = ExerciseResult(exercise, "failed", 0.0, float(exercise.points), output=header.get("output", ""))
    for _, check, device in units_expected(found, devices):
        result.suite_weights[check.suite] = result.suite_weights.get(check.suite, 0.0) + DEVICE_WEIGHT[device]
    if header.get("output_bytes", 0) > limits.max_output:
        result.notes.append(
            f"your code printed {header['output_bytes']} bytes; only the first {limits.max_output} are kept"
        )
    if static_message:
        result.outcome, result.message = "forbidden", static_message
        return result
    status = header.get("status")
    if status == "grader_error":
        result.outcome, result.message = "error", "the grader's worker could not start (see the log)"
        result.grader_fault = True
        return result
    if status == "import_timeout":
        result.outcome = "timeout"
        result.message = (
            f"importing {exercise.module}.py did not finish within {limits.check_timeout:g} s "
            f"(is there an endless loop at module level?)"
        )
        return result
    messages, malformed = _parse_stream(stream)
    if malformed:
        result.outcome = "crashed"
        result.message = "crashed: the exercise's process sent a malformed message (was the grader's pipe written to?)"
        return result
    kinds = [k for k, _ in messages]
    if b"E" in kinds:
        error = dict(messages[kinds.index(b"E")][1] or {})
        hits = exercise.forbidden_ops_in(error.get("ops") or [])
        if error.get("status") == "forbidden" and hits:
            result.outcome = "forbidden"
            result.message = f"{exercise.function} called aten.{hits[0]} (at import): {exercise.advice}"
            return result
        if error.get("status") == "tampering":
            result.outcome, result.message = "forbidden", f"tampering: {error.get('message')}"
            return result
        result.outcome = "error"
        result.message = f"{exercise.module}.py could not be loaded: {error.get('type')}: {error.get('message')}"
        if error.get("where"):
            result.message += f" (at {error['where']})"
        return result
    received = {}
    for kind, payload in messages:
        if kind == b"U" and isinstance(payload, dict):
            received[(payload.get("check"), payload.get("device"))] = payload
    expected = units_expected(found, devices)
    ops: list[str] = []
    host_sync = False
    stopped = None
    for index, check, device in expected:
        unit = received.get((index, device))
        if unit is None and device == "cuda" and b"D" in kinds:
            result.units.append(Unit(check, device, "skipped", "CUDA is not available inside the sandbox"))
            continue
        if unit is None:
            if stopped is None:
                last = max(
                    received.values(), key=lambda u: (u.get("check", 0), u.get("device") == "meta"), default=None
                )
                stopped = Unit(check, device, "failed", _why_missing(header, limits, last))
                result.units.append(stopped)
            else:
                result.units.append(Unit(check, device, "failed", "not run: the exercise stopped earlier"))
            continue
        if device in ("cpu", "cuda"):
            ops += [op for op in unit.get("ops", []) if isinstance(op, str)]
        host_sync = host_sync or bool(unit.get("host_sync"))
        if unit.get("status") == "tampering":
            result.outcome, result.message = "forbidden", f"tampering: {unit.get('message')}"
            return result
        cpu_unit = received.get((index, "cpu"), {})
        cpu_value = cpu_unit.get("value") if cpu_unit.get("status") == "ok" else None
        result.units.append(_judge_unit(check, device, unit, references[(index, device)], cpu_value))
    cpu_verdicts = {id(u.check): u.verdict for u in result.units if u.device == "cpu"}
    for u in result.units:
        if u.device != "cpu" and u.verdict == "passed" and cpu_verdicts.get(id(u.check)) != "passed":
            u.verdict, u.message = "failed", "other devices earn points only when the CPU result is right"
    not_checked = [u for u in result.units if u.verdict == "not_checked"]
    if not_checked:
        result.notes.append(not_checked[0].message)
    if host_sync:
        result.notes.append(
            "advice: your code moves data to the host (.item(), float(), .tolist()); correct, but slow on a GPU"
        )
    hits = exercise.forbidden_ops_in(ops)
    cpu_units = [u for u in result.units if u.device == "cpu"]
    if hits:
        result.outcome = "forbidden"
        result.message = f"{exercise.function} called aten.{hits[0]}: {exercise.advice}"
    elif cpu_units and all(u.verdict == "not_started" for u in cpu_units):
        result.outcome, result.message = "not_started", "not started"
    else:
        total = sum(u.weight for u in result.units)
        passed = sum(u.weight for u in result.units if u.verdict == "passed")
        result.score = round(result.max_score * passed / total, 4) if total else 0.0
        failures = [u for u in result.units if u.verdict in ("failed", "not_started")]
        if failures:
            first = failures[0]
            result.message = f"[{first.check.name}] {first.message}"
            result.mistake = diagnose(failures)
        if status == "timeout":
            result.outcome = "timeout"
        elif stopped is not None or status == "crashed" or b"D" not in kinds:
            result.outcome = "crashed"
            last = max(received.values(), key=lambda u: (u.get("check", 0), u.get("device") == "meta"), default=None)
            result.message = stopped.message if stopped is not None else _why_missing(header, limits, last)
            result.mistake = None
        else:
            result.outcome = "passed" if not failures and total else "failed"
    return result


def diagnose(failures: list[Unit]):
    """The named mistake that fits all the evidence: the values of every failing CPU check (each
    reproduced by the mistake's variant, gradients included), else the messages themselves."""
    from autograder.course import mistakes

    cpu = [u for u in failures if u.device == "cpu"]
    named = None
    if cpu and all(u.got is not None or u.raised for u in cpu):
        named = mistakes.identify([(u.check, u.got, u.raised) for u in cpu])
    return named or mistakes.from_evidence({fact for u in failures for fact in u.facts})


_SIGNALS = {9: "SIGKILL", 11: "SIGSEGV (segmentation fault)", 6: "SIGABRT", 7: "SIGBUS", 8: "SIGFPE", 15: "SIGTERM"}


def _why_missing(header: dict, limits: Limits, last_unit: dict | None = None) -> str:
    status = header.get("status")
    kind = (last_unit or {}).get("type")
    if kind == "MemoryError":
        return f"crashed: your code ran out of memory (limit {limits.memory_mb} MiB)"
    if kind == "SystemExit":
        return "crashed: your code called sys.exit(), which ends the process"
    if kind == "KeyboardInterrupt":
        return "crashed: KeyboardInterrupt"
    if status == "timeout":
        why = header.get("killed_for") or "it took too long"
        return (
            f"timed out: {why} (limit {limits.check_timeout:g} s per check, {limits.exercise_timeout:g} s per exercise)"
        )
    if header.get("killed_for"):
        return f"crashed: stopped because {header['killed_for']}"
    if header.get("signal"):
        signal_number = header["signal"]
        return f"crashed: the process died with {_SIGNALS.get(signal_number, f'signal {signal_number}')}"
    if header.get("exit_code") not in (None, 0):
        return f"crashed: the process exited with code {header['exit_code']} (sys.exit or os._exit?)"
    return "crashed: the process ended before finishing the checks (sys.exit or os._exit?)"


# ----------------------------------------------------------------------------- the entry point
def grade(
    submission: Path | str,
    exercises: list[str] | None = None,
    suites: tuple[str, ...] | None = None,
    sandbox: str = "auto",
    limits: Limits | None = None,
) -> GradeResult:
    """Grades one submission directory (a warm worker is started and stopped around it)."""
    with Grader(sandbox, suites, limits) as grader:
        return grader.grade(submission, exercises)
