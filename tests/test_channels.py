"""No channel between exercises or submissions: an exercise allowed ``F.conv2d`` (``pad2d``) serves it
over every channel a process has (an abstract unix socket, TCP and UDP on the loopback, a file in the
shared temporary folders) to ``conv2d``, of the same submission or of another one graded at the same
time; ``conv2d`` must reach none of them (``sandbox.namespaces``: each exercise's own network, IPC and
mount namespaces and, in plain processes, its own root). Runs as root, as CI and Gradescope do.
"""

from __future__ import annotations

import os
import threading

import pytest

from autograder.scoring import launcher
from autograder.scoring.grader import Grader
from autograder.scoring.results import Limits
from conftest import by_id, submission_with

KINDS = ["process"] + (["bwrap"] if launcher.choose("auto").contained else [])
LIMITS = Limits(check_timeout=10.0, exercise_timeout=40.0, total_timeout=120.0, memory_mb=768)
pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or not launcher.namespaces_work(), reason="namespaces per exercise need root"
)

SERVER = """
import os, pickle, socket, struct, threading, time
import torch
import torch.nn.functional as _F

_NAME = "\\0autograder-channel-test"
_PORT = 47123
_SHARED = ("/dev/shm", "/tmp", "/var/tmp", "/run/lock")


def _answer(conn):
    with conn:
        size = struct.unpack("<Q", conn.recv(8, socket.MSG_WAITALL))[0]
        x, w, b, stride, padding = pickle.loads(conn.recv(size, socket.MSG_WAITALL))
        out = pickle.dumps(_F.conv2d(x, w, b, stride=stride, padding=padding))
        conn.sendall(struct.pack("<Q", len(out)) + out)


def _serve(listener):
    while True:
        conn, _ = listener.accept()
        _answer(conn)


def _start():
    listeners = []
    for family, address in ((socket.AF_UNIX, _NAME), (socket.AF_INET, ("127.0.0.1", _PORT))):
        try:
            s = socket.socket(family, socket.SOCK_STREAM)
            s.bind(address)
            s.listen(8)
            listeners.append(s)
        except OSError:
            pass
    for s in listeners:
        threading.Thread(target=_serve, args=(s,), daemon=True).start()
    for folder in _SHARED:
        try:  # torch's own file writer: no audit event, only the walls stop it
            torch.save(torch.zeros(1), os.path.join(folder, "autograder-channel-test"))
        except (OSError, RuntimeError):
            pass


_pad2d = pad2d
_started = []


def pad2d(x, padding):
    entered = time.time()
    if not _started:  # in pad2d's process only (every exercise's process imports this module)
        _started.append(_start())
    time.sleep(0.5)  # keep serving while the other exercises run (the test checks that they did)
    print(f"serving {entered!r} {time.time()!r}", flush=True)
    return _pad2d(x, padding)
"""

CLIENT = """
import os, pickle, socket, struct, time

_reached = []


def _ask(family, address, args):
    s = socket.socket(family, socket.SOCK_STREAM)
    s.settimeout(5)
    s.connect(address)
    data = pickle.dumps(args)
    s.sendall(struct.pack("<Q", len(data)) + data)
    size = struct.unpack("<Q", s.recv(8, socket.MSG_WAITALL))[0]
    return pickle.loads(s.recv(size, socket.MSG_WAITALL))


def conv2d(x, weight, bias=None, stride=1, padding=0):
    print(f"trying {time.time()!r}", flush=True)
    tried = []
    for family, address in ((socket.AF_UNIX, "\\0autograder-channel-test"), (socket.AF_INET, ("127.0.0.1", 47123))):
        try:
            return _ask(family, address, (x, weight, bias, stride, padding))
        except OSError as exc:
            tried.append(f"{family.name}: {exc}")
    for folder in ("/dev/shm", "/tmp", "/var/tmp", "/run/lock"):
        if os.path.exists(os.path.join(folder, "autograder-channel-test")):
            return x  # a file another exercise left: a channel (the check then fails, but the test sees it)
    raise RuntimeError("no channel reached: " + "; ".join(tried))
"""


def _assert_no_channel(result, server=None):
    """conv2d reached no channel, and tried while pad2d's process (of ``server``, else of ``result``)
    was serving, inside one of its calls: a client that ran while the server was stopped or gone would
    prove nothing."""
    conv2d = by_id(result)["convolution.conv2d"]
    assert conv2d.score == 0, f"conv2d earned {conv2d.score} through another exercise"
    shown = " ".join([conv2d.message, *(u.message for u in conv2d.units)])
    assert "no channel reached" in shown, shown
    serving = [line.split()[1:] for line in by_id(server or result)["convolution.pad2d"].output.splitlines()]
    windows = [(float(start), float(now)) for start, now in (w for w in serving if len(w) == 2)]
    tries = [float(line.split()[1]) for line in conv2d.output.splitlines() if line.startswith("trying ")]
    assert windows and tries, (windows, tries)
    assert any(start <= t <= end for t in tries for start, end in windows), f"conv2d tried at {tries}; {windows=}"


@pytest.fixture(scope="module")
def graders():
    """Two warm graders per sandbox kind, shared by the file's tests (each submission still gets fresh
    processes, as in grade-batch): ``graders(kind)``."""
    made: dict[str, tuple[Grader, Grader]] = {}

    def pair(kind: str) -> tuple[Grader, Grader]:
        if kind not in made:
            made[kind] = (Grader(kind, limits=LIMITS), Grader(kind, limits=LIMITS))
        return made[kind]

    yield pair
    for two in made.values():
        for grader in two:
            grader.close()


@pytest.mark.parametrize("kind", KINDS)
def test_exercises_of_one_submission_cannot_reach_each_other(tmp_path, graders, kind):
    sub = submission_with(tmp_path, "convolution", SERVER + CLIENT)
    result = graders(kind)[0].grade(sub, ["convolution"])
    assert by_id(result)["convolution.pad2d"].score == 2  # the server ran, correct all along
    _assert_no_channel(result)


@pytest.mark.parametrize("kind", KINDS)
def test_submissions_graded_at_once_cannot_reach_each_other(tmp_path, graders, kind):
    server = submission_with(tmp_path / "a", "convolution", SERVER)
    client = submission_with(tmp_path / "b", "convolution", CLIENT)
    results = {}
    one, other = graders(kind)

    def grade(name, grader, sub):
        results[name] = grader.grade(sub, ["convolution"])

    threads = [
        threading.Thread(target=grade, args=("server", one, server)),
        threading.Thread(target=grade, args=("client", other, client)),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    _assert_no_channel(results["client"], server=results["server"])
