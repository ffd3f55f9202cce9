"""The envelopes that cross the trust boundary (protocol.messages): each reads back as it was sent,
and hostile bytes are refused as a ``ProtocolError``, never another exception."""

from __future__ import annotations

import io
import json
import struct
import subprocess
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from autograder.protocol import messages, wire
from autograder.protocol.messages import ChildTag, FrameHeader, FrameStatus, Job, ProtocolError, WorkerTag

pure = pytest.mark.pure  # no sandbox, no subprocess: `make test-fast` runs these


def _events(data: bytes) -> list:
    """Everything ``read_events`` makes of ``data``, as the client reads the worker's stdout."""
    source = io.BytesIO(data)

    def read_exact(n: int) -> bytes | None:
        got = source.read(n)
        return got if len(got) == n else None

    return list(messages.read_events(read_exact))


def _job() -> Job:
    return Job(
        id=7,
        exercises=[("neurons.tanh", "public"), ("neurons.tanh", "hidden")],
        plans={"neurons.tanh": [(0, ["cpu", "meta"], "cGxhbg==", "public"), (1, ["cpu"], "eA==", "hidden")]},
        jobs=2,
        check_timeout=10.0,
        exercise_timeout=60.0,
        memory_mb=2048,
        max_output=16384,
        cuda=False,
        uids=[1500, 1501],
        scratch_quota=None,
    )


@pure
def test_a_job_line_reads_back_as_the_scorer_wrote_it():
    line = _job().encode()
    assert line.endswith(b"\n") and line.count(b"\n") == 1
    assert Job.decode(line) == _job()


@pure
def test_the_workers_messages_read_back_in_order():
    header = FrameHeader(exercise="neurons.tanh", suite="hidden", status=FrameStatus.TIMEOUT, output="hi")
    sent = messages.ready() + messages.frame(header, b"stream") + messages.frame(header, b"") + messages.job_done(7)
    assert _events(sent) == ["ready", ("frame", header, b"stream"), ("frame", header, b""), ("done", 7)]


@pure
def test_a_frame_without_a_suite_is_a_public_one():
    body = json.dumps({"exercise": "neurons.tanh"}).encode()
    sent = WorkerTag.FRAME.value + struct.pack("<I", len(body)) + body + struct.pack("<Q", 0)
    assert _events(sent) == [("frame", {"exercise": "neurons.tanh", "suite": "public"}, b"")]


def _frame_with(head: bytes, stream_length: int = 0) -> bytes:
    return WorkerTag.FRAME.value + struct.pack("<I", len(head)) + head + struct.pack("<Q", stream_length)


@pure
@pytest.mark.parametrize(
    "hostile",
    [
        b"X",  # an unknown tag
        b"J" + struct.pack("<I", messages.MAX_JOB_DONE_BYTES + 1),  # oversized: refused before it is read
        b"F" + struct.pack("<I", messages.MAX_HEADER_BYTES + 1),
        _frame_with(b'{"exercise": "a"}', messages.MAX_STREAM_BYTES + 1),
        _frame_with(b'{"exercise": "a"}', 10) + b"short",  # truncated stream
        _frame_with(b'{"exercise": 3}'),  # a header that names no exercise
        _frame_with(b'{"exercise": "a", "suite": []}'),
        _frame_with(b'{"exercise": "a", "status": "passed"}'),  # not a status a frame can have
        _frame_with(b"[1, 2]"),
        _frame_with(b"{not json"),
        _frame_with(b"\xff\xfe"),  # not UTF-8
        _frame_with(b"[" * 100_000 + b"]" * 100_000),  # nested past the recursion limit
        b"J" + struct.pack("<I", 9) + b'{"id": "7"}'[:9],
        b"J" + struct.pack("<I", 11) + b'{"id": "7"}',  # an id that is not a number
    ],
)
def test_a_malformed_worker_message_is_a_protocol_error(hostile):
    with pytest.raises(ProtocolError):
        _events(messages.ready() + hostile)


@pure
@settings(max_examples=300, deadline=None)
@given(st.sampled_from([b"", b"R", b"J", b"F"]), st.binary(max_size=64))
def test_random_worker_bytes_are_read_or_refused_never_a_crash(tag, data):
    try:
        _events(tag + data)
    except ProtocolError:
        pass


@pure
def test_a_childs_messages_are_split_only_once_complete():
    sent = messages.message(ChildTag.IMPORTED) + messages.message(ChildTag.UNIT, wire.pack({"status": "ok"}))
    assert messages.next_message(sent[:3], 0) is None
    assert messages.next_message(sent[:-1], 5) is None
    tag, body, end = messages.next_message(sent, 0)
    assert (tag, body, end) == (ChildTag.IMPORTED, b"", 5)
    assert messages.next_message(sent, end)[0] == ChildTag.UNIT


@pure
def test_an_unknown_child_tag_is_tampering():
    with pytest.raises(ProtocolError):
        messages.next_message(b"Z" + struct.pack("<I", 0), 0)


@pure
@pytest.mark.parametrize(
    "tail",
    [
        b"Z" + struct.pack("<I", 0),  # an unknown tag
        b"U" + struct.pack("<I", 0),  # a unit with no report
        messages.message(ChildTag.UNIT, wire.pack([1, 2])),  # a report that is not a dict
        messages.message(ChildTag.UNIT, b"\x00" * 9),  # not wire bytes
        b"D\x00",  # trailing bytes
    ],
)
def test_a_malformed_child_stream_keeps_what_came_before(tail):
    unit = {"status": "ok", "check": 0}
    good = messages.message(ChildTag.IMPORTED) + messages.message(ChildTag.UNIT, wire.pack(unit))
    assert messages.parse_stream(good) == ([(ChildTag.IMPORTED, None), (ChildTag.UNIT, unit)], False)
    assert messages.parse_stream(good + tail) == ([(ChildTag.IMPORTED, None), (ChildTag.UNIT, unit)], True)


@pure
def test_statuses_are_written_as_their_plain_names():
    assert json.dumps({"status": FrameStatus.IMPORT_TIMEOUT}) == '{"status": "import_timeout"}'
    assert ChildTag.UNIT == b"U" and WorkerTag.FRAME == b"F"


def test_the_message_layer_loads_without_torch():
    """The sandbox imports it before torch (and the scorer's reader thread needs none)."""
    code = "import sys, autograder.protocol.messages; print('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout.strip() == "False"


def test_a_kept_childs_next_suite_reads_back_only_its_rows():
    rows = [(0, ["cpu", "meta"], "cGxhbg==", "hidden"), (1, ["cpu"], "", "hidden")]
    data = messages.control(rows)
    assert messages.control_length(data) == len(data) - messages.CONTROL_HEAD
    assert messages.control_rows(data) == [[0, ["cpu", "meta"], "cGxhbg=="], [1, ["cpu"], ""]]  # no suite: it is known
    assert messages.control_rows(messages.control([])) == []


def test_a_jobs_later_plans_are_asked_for_and_read_back():
    assert _events(messages.plans_wanted(3) + messages.job_done(3)) == [("plans", 3), ("done", 3)]
    rows = {"neurons.tanh": [(0, ["cpu"], "cGxhbg==", "hidden")]}
    assert messages.read_later_plans(messages.later_plans(3, rows)) == (3, rows)
    both = [(0, ["cpu"], "a", "public"), (1, ["cpu"], "b", "hidden")]
    assert messages.first_phase(both) == both[:1] and messages.later_phases(both) == both[1:]
