"""Every envelope that crosses the trust boundary: the job line in, the worker's and the child's tagged messages out."""

from __future__ import annotations

import json
import struct
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from enum import Enum, StrEnum
from typing import Any, Literal, TypedDict

# Sizes the reader enforces before it allocates anything: every byte from the sandbox is suspect.
MAX_JOB_DONE_BYTES = 4096  # ``{"id": n}``
MAX_HEADER_BYTES = 2 * 2**20  # a frame header: exercise, status and at most the kept output
MAX_STREAM_BYTES = 64 * 2**20  # one exercise's child messages (``wire.MAX_BYTES``, checked by a test)
_LENGTH = struct.Struct("<I")  # a message's payload length, after its one-byte tag
_STREAM_LENGTH = struct.Struct("<Q")  # a frame's stream length
MESSAGE_HEAD = 1 + _LENGTH.size


class ProtocolError(ValueError):
    """Bytes that are not a well-formed message: truncated, oversized, out of the alphabet (tampering)."""


# ----------------------------------------------------------------------------- the tags
class WorkerTag(bytes, Enum):
    """Worker → scorer, on the worker's stdout."""

    READY = b"R"  # torch is loaded: jobs may come (no payload)
    JOB_DONE = b"J"  # a submission is graded, every process it started is dead: ``{"id": n}``
    FRAME = b"F"  # one (exercise, suite) part: its ``FrameHeader`` and its child's stream
    PLANS = b"P"  # a job's later phase may start: send its plans now (``{"id": n}``; see ``Job``)


class ChildTag(bytes, Enum):
    """Child → zygote, on the child's result pipe; the zygote forwards them as a frame's stream."""

    DEVICES = b"V"  # the devices the child may use, sent before any learner code runs
    IMPORTED = b"I"  # the learner's module imported (no payload)
    IMPORT_FAILED = b"E"  # importing it raised: a ``UnitStatus`` dict describing the exception
    UNIT = b"U"  # one check on one device: a ``UnitStatus`` dict (see ``sandbox.worker.run_unit``)
    DONE = b"D"  # every planned unit was reported (no payload)


class FrameStatus(StrEnum):
    """How an exercise's child ended, as the zygote (or the scorer standing in for it) saw it."""

    FINISHED = "finished"
    CRASHED = "crashed"
    TIMEOUT = "timeout"
    IMPORT_TIMEOUT = "import_timeout"  # skipped: importing the same module timed out before
    GRADER_ERROR = "grader_error"  # the worker itself could not start (not the learner's doing)


class UnitStatus(StrEnum):
    """What one unit (or the import) did, in the child's own words."""

    OK = "ok"
    RAISED = "raised"
    TAMPERING = "tampering"
    FORBIDDEN = "forbidden"


class UnitReport(TypedDict, total=False):
    """The payload of ``UNIT`` (one check on one device) and of ``IMPORT_FAILED`` (the import):
    written in the child, where learner code runs, so the scorer checks every field it reads."""

    status: UnitStatus
    value: dict[str, Any]  # the check's outputs, each ``encoding.encode``d (status "ok")
    type: str  # the exception's type name (status "raised", "tampering", "forbidden")
    message: str
    where: str  # the innermost line of the learner's code it passed through
    not_started: bool  # a bare ``raise NotImplementedError`` in the learner's own code
    missing_module: str | None  # the module an import could not find
    check: int  # the check's index among the exercise's
    device: str
    ops: list[str]  # the ATen ops the learner's code called
    cpu_made: list[str]  # the ops that made CPU tensors
    host_sync: bool


# ----------------------------------------------------------------------------- scorer → worker
PlanRow = tuple[int, list[str], str, str]  # check index, devices, base64 plan bytes, suite (``grader.plan_table``)
PHASES = {"public": 0}  # a suite's phase; every other suite (hidden) is 1: it starts once every public child is done


def phase(suite: str) -> int:
    return PHASES.get(suite, 1)


def first_phase(rows: list[PlanRow]) -> list[PlanRow]:
    """The rows the job line carries: a later phase's are sent only when the worker asks (``PLANS``)."""
    return [row for row in rows if phase(row[3]) == 0]


def later_phases(rows: list[PlanRow]) -> list[PlanRow]:
    return [row for row in rows if phase(row[3]) > 0]


@dataclass
class Job:
    """One submission to grade: a JSON line on the worker's stdin (its files are in the inbox)."""

    id: int
    exercises: list[tuple[str, str]]  # (exercise, suite) parts, each reported in a frame of its own
    # for each exercise, its public checks as data (the worker never sees a check); the hidden ones'
    # come on a line of their own once every public child is done (``WorkerTag.PLANS``, ``later_plans``):
    # no hidden check's inputs are in the worker's memory, nor in a child's, while a public child runs
    plans: dict[str, list[PlanRow]]
    jobs: int  # children at a time
    check_timeout: float
    exercise_timeout: float
    memory_mb: int
    max_output: int
    cuda: bool
    uids: list[int] | None  # learner uids, one per child running or kept (a root worker only)
    scratch_quota: int | None  # a plain worker's cap on files written (no tmpfs holds its scratch)

    def encode(self) -> bytes:
        return (json.dumps(asdict(self)) + "\n").encode()

    @classmethod
    def decode(cls, line: bytes | str) -> Job:
        """The job line, from the scorer (trusted): shapes restored, nothing more checked."""
        raw = json.loads(line)
        raw["id"] = int(raw["id"])
        raw["exercises"] = [(str(e), str(s)) for e, s in raw["exercises"]]
        raw["plans"] = _plan_rows(raw["plans"])
        return cls(**raw)


def _plan_rows(plans: dict) -> dict[str, list[PlanRow]]:
    return {e: [(int(i), list(on), str(b), str(s)) for i, on, b, s in rows] for e, rows in plans.items()}


def later_plans(job_id: int, plans: dict[str, list[PlanRow]]) -> bytes:
    """The line that answers a worker's ``PLANS``: the plans of the job's later phase."""
    return (json.dumps({"id": job_id, "plans": plans}) + "\n").encode()


def read_later_plans(line: bytes | str) -> tuple[int, dict[str, list[PlanRow]]]:
    """That line, from the scorer (trusted): the job's id and its plans."""
    raw = json.loads(line)
    return int(raw["id"]), _plan_rows(raw["plans"])


# ----------------------------------------------------------------------------- zygote → child
CONTROL_HEAD = _LENGTH.size  # a control message: its length, then the rows of the next suite as JSON


def control(rows: list[PlanRow]) -> bytes:
    """What a stopped child is sent on its control pipe: the rows of its next suite (none: exit)."""
    payload = json.dumps([[i, on, blob] for i, on, blob, _ in rows]).encode()
    return _LENGTH.pack(len(payload)) + payload


def control_length(data: bytes | bytearray) -> int:
    """The payload length a control message's head announces."""
    return _LENGTH.unpack_from(data)[0]


def control_rows(data: bytes) -> list:
    """The rows of a complete control message (the zygote's: trusted)."""
    return json.loads(data[CONTROL_HEAD : CONTROL_HEAD + control_length(data)])


# ----------------------------------------------------------------------------- child → zygote
def message(tag: ChildTag, payload: bytes = b"") -> bytes:
    """One child message: ``tag + length + payload`` (the payload is ``wire.pack``'s bytes)."""
    return tag.value + _LENGTH.pack(len(payload)) + payload


def next_message(stream: bytes | bytearray, pos: int) -> tuple[ChildTag, bytes, int] | None:
    """The complete message at ``pos`` of ``stream`` and where the next starts; None while it is
    incomplete. An unknown tag is a ``ProtocolError`` (learner code shares the child's pipe)."""
    if pos + MESSAGE_HEAD > len(stream):
        return None
    (length,) = _LENGTH.unpack_from(stream, pos + 1)
    end = pos + MESSAGE_HEAD + length
    if end > len(stream):
        return None
    try:
        tag = ChildTag(bytes(stream[pos : pos + 1]))
    except ValueError:
        raise ProtocolError("an unknown message") from None
    return tag, bytes(stream[pos + MESSAGE_HEAD : end]), end


def parse_stream(stream: bytes) -> tuple[list[tuple[ChildTag, Any]], bool]:
    """The messages a child sent, as (tag, payload) pairs, and whether the stream was malformed
    (then parsing stops there). Learner code shares the child's process: every byte is suspect."""
    from autograder.protocol import wire  # torch: the sandbox imports this module before it loads torch

    parsed: list[tuple[ChildTag, Any]] = []
    pos = 0
    while pos < len(stream):
        try:
            found = next_message(stream, pos)
        except ProtocolError:
            return parsed, True
        if found is None:
            return parsed, True
        tag, body, pos = found
        try:
            payload = wire.unpack(body) if body else None
        except (wire.WireError, ValueError, OverflowError, RecursionError, MemoryError):
            return parsed, True
        if tag in (ChildTag.IMPORT_FAILED, ChildTag.UNIT) and not isinstance(payload, dict):
            return parsed, True
        parsed.append((tag, payload))
    return parsed, False


# ----------------------------------------------------------------------------- worker → scorer
class FrameHeader(TypedDict, total=False):
    """What the zygote saw of one child (the scorer reads every field defensively: ``judge``)."""

    exercise: str  # required on the wire
    suite: str  # "public" when absent
    status: FrameStatus
    devices: list[str] | None  # what the child announced before any learner code ran
    tampering: bool
    outputs: list[list[Any]]  # [unit, text] pairs, what it printed per unit: -1 while importing
    output: str
    output_bytes: int
    elapsed: float
    exit_code: int | None
    signal: int | None
    imported: bool
    killed_for: str  # why the zygote stopped it ("" when it did not)
    phases: dict[str, float]  # seconds from the fork to each step the zygote saw (profiles only)
    cpu: dict[str, float]  # CPU seconds so far of the zygote and its reaped children (profiles only)


def ready() -> bytes:
    return WorkerTag.READY.value


def job_done(job_id: int) -> bytes:
    body = json.dumps({"id": job_id}).encode()
    return WorkerTag.JOB_DONE.value + _LENGTH.pack(len(body)) + body


def plans_wanted(job_id: int) -> bytes:
    body = json.dumps({"id": job_id}).encode()
    return WorkerTag.PLANS.value + _LENGTH.pack(len(body)) + body


def frame(head: FrameHeader, stream: bytes) -> bytes:
    body = json.dumps(head).encode()
    return WorkerTag.FRAME.value + _LENGTH.pack(len(body)) + body + _STREAM_LENGTH.pack(len(stream)) + stream


Event = (
    Literal["ready"]
    | tuple[Literal["done"], int]
    | tuple[Literal["plans"], int]
    | tuple[Literal["frame"], FrameHeader, bytes]
)


def read_events(read_exact: Callable[[int], bytes | None]) -> Iterator[Event]:
    """The worker's messages, from ``read_exact(n)`` (n bytes, or None at the end): ``"ready"``,
    ``("done", job_id)``, ``("plans", job_id)`` (it asks for a job's later plans), ``("frame", header,
    stream)``. Sizes are bounded before anything is read
    and JSON is parsed defensively, since learner code shares the worker's sandbox: anything
    malformed is a ``ProtocolError``, never another exception."""

    def take(n: int) -> bytes:
        data = read_exact(n) if n else b""
        if data is None:
            raise ProtocolError("truncated message")
        return data

    while True:
        tag = read_exact(1)
        if tag is None:
            return
        if tag == WorkerTag.READY:
            yield "ready"
        elif tag in (WorkerTag.JOB_DONE, WorkerTag.PLANS):
            done = _json(take(_bounded(take(_LENGTH.size), _LENGTH, MAX_JOB_DONE_BYTES)))
            if not isinstance(done, dict) or type(done.get("id")) is not int:
                raise ProtocolError("bad job-done message")
            if tag == WorkerTag.JOB_DONE:
                yield "done", done["id"]
            else:
                yield "plans", done["id"]
        elif tag == WorkerTag.FRAME:
            head = _frame_header(_json(take(_bounded(take(_LENGTH.size), _LENGTH, MAX_HEADER_BYTES))))
            yield "frame", head, take(_bounded(take(_STREAM_LENGTH.size), _STREAM_LENGTH, MAX_STREAM_BYTES))
        else:
            raise ProtocolError("an unknown message")


def _bounded(raw: bytes, size: struct.Struct, limit: int) -> int:
    (length,) = size.unpack(raw)
    if length > limit:
        raise ProtocolError("message too large")
    return length


def _json(body: bytes):
    try:
        return json.loads(body)
    except (ValueError, RecursionError, MemoryError):  # ValueError: bad JSON or bad UTF-8
        raise ProtocolError("bad JSON") from None


def _frame_header(head) -> FrameHeader:
    if not isinstance(head, dict) or not isinstance(head.get("exercise"), str):
        raise ProtocolError("bad frame header")
    if not isinstance(head.setdefault("suite", "public"), str):
        raise ProtocolError("bad frame header")
    if "status" in head and head["status"] not in set(FrameStatus):
        raise ProtocolError("unknown frame status")
    return head  # type: ignore[return-value]  # a JSON object: the judge reads its other fields with defaults
