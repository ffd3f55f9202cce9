"""The learner's warm grader (``make grade``'s second and later runs): its answers are a fresh
grade's (same output, same exit status), it regrades changed code, it answers its own user only,
it stops when stale, asked or idle, and the client never loads torch. No timing is asserted
(``bench/grade_speed.py`` measures)."""

from __future__ import annotations

import fcntl
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from autograder.feedback import warm
from conftest import EXERCISES, ROOT, SOLUTIONS, submission_with

# Prints the exit status, and whether torch was loaded, after the command line ran in this process.
CLIENT = "import sys; from autograder.cli import main; rc = main(sys.argv[1:]); print('rc', rc, 'torch' in sys.modules)"


def _env(tmp: Path, **extra: str) -> dict:
    runtime = tmp / "run"
    runtime.mkdir(mode=0o700, exist_ok=True)
    return {
        **os.environ,
        "AUTOGRADER_RUNTIME_DIR": str(runtime),
        "AUTOGRADER_CACHE_DIR": str(tmp / "cache"),
        "AUTOGRADER_SECRET": "warm-tests",
        "AUTOGRADER_WARM": "1",
        "AUTOGRADER_WARM_IDLE": "120",  # a backstop: the fixture stops it
        **extra,
    }


def _grade(env: dict, *args: str) -> tuple[int, str, str, bool]:
    proc = subprocess.run(
        [sys.executable, "-c", CLIENT, "grade", *args], cwd=ROOT, capture_output=True, text=True, env=env, timeout=600
    )
    *out, last = proc.stdout.rstrip("\n").split("\n")
    _, rc, torch_loaded = last.split()
    return int(rc), "\n".join(out) + "\n", proc.stderr, torch_loaded == "True"


def _same(text: str) -> str:
    return re.sub(r"· [0-9.]+ s", "· N s", text)  # the grade's own duration


def _lock_free(runtime: Path) -> bool:
    for lock in runtime.glob("*.lock"):
        with open(lock) as f:
            try:
                fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                return False
    return True


def _stop(env: dict) -> None:
    subprocess.run([sys.executable, "-m", "autograder", "warm-grader", "stop"], env=env, cwd=ROOT, timeout=60)
    runtime = Path(env["AUTOGRADER_RUNTIME_DIR"])
    deadline = time.monotonic() + 60
    while not _lock_free(runtime) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _lock_free(runtime), "the warm grader did not stop"


@pytest.fixture(scope="module")
def warmed(tmp_path_factory):
    """A warm grader started as ``make grade`` starts it: by a first, cold grade. Stopped at the end."""
    tmp = tmp_path_factory.mktemp("warm")
    env = _env(tmp)
    rc, out, err, torch_loaded = _grade(env, "--submission", "solutions", "--exercise", "outliers.iqr")
    assert rc == 0 and torch_loaded, (out, err)  # graded here: none was warm yet
    yield env, tmp
    _stop(env)


@pytest.mark.parametrize(
    "args",
    [
        ("--submission", "solutions", "--exercise", "outliers.iqr"),
        ("--submission", "exercises", "--exercise", "losses"),
        ("--submission", "no-such-folder"),
        ("--submission", "solutions/losses.py"),  # a single module: graded out of its module's points
    ],
)
def test_a_warm_answer_is_a_fresh_grades_output_and_status(warmed, args):
    env, tmp = warmed
    rc, out, err, torch_loaded = _grade(env, *args)
    cold = _grade({**env, "AUTOGRADER_WARM": "0"}, *args)
    assert not torch_loaded  # answered by the warm grader: the client loads no torch
    assert cold[3] or cold[0] == 2  # graded in its own process (a missing folder stops before torch)
    assert (rc, _same(out), err) == (cold[0], _same(cold[1]), cold[2])


def test_changed_code_is_regraded(warmed, tmp_path):
    env, _ = warmed
    mine = shutil.copytree(SOLUTIONS, tmp_path / "mine")
    rc, out, _, torch_loaded = _grade(env, "--submission", str(mine), "--exercise", "outliers.iqr")
    assert rc == 0 and not torch_loaded and "✔" in out
    shutil.copy(EXERCISES / "outliers.py", mine / "outliers.py")  # the same size class, a new content
    rc, out, _, torch_loaded = _grade(env, "--submission", str(mine), "--exercise", "outliers.iqr")
    assert rc == 0 and not torch_loaded and "not started" in out and "✔ passed" not in out


def test_a_stale_grader_stops_and_the_client_grades_itself(tmp_path):
    env = _env(tmp_path)
    try:
        _grade(env, "--submission", "solutions", "--exercise", "outliers.iqr")  # starts one
        runtime = Path(env["AUTOGRADER_RUNTIME_DIR"])
        deadline = time.monotonic() + 300
        while not list(runtime.glob("*.sock")) and time.monotonic() < deadline:
            time.sleep(0.2)
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
            conn.connect(str(next(runtime.glob("*.sock"))))
            warm._send(conn, {"stamp": "another version of the grader", "args": {}, "cwd": "/"})
            assert warm._receive(conn) == {"stale": True}
        deadline = time.monotonic() + 60
        while not _lock_free(runtime) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert _lock_free(runtime) and not list(runtime.glob("*.sock"))
    finally:
        _stop(env)


def test_it_stops_by_itself_when_idle(tmp_path):
    env = _env(tmp_path, AUTOGRADER_WARM_IDLE="1")
    try:
        _grade(env, "--submission", "solutions", "--exercise", "outliers.iqr")  # starts one
        runtime = Path(env["AUTOGRADER_RUNTIME_DIR"])
        deadline = time.monotonic() + 300
        while not list(runtime.glob("*.sock")) and time.monotonic() < deadline:
            time.sleep(0.1)
        while list(runtime.glob("*.sock")) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not list(runtime.glob("*.sock")) and _lock_free(runtime)
    finally:
        _stop(env)


SLOW_IQR = """
import time
_iqr = iqr
def iqr(*args, **kwargs):
    time.sleep(0.5)  # the grade is still running when the client is interrupted, however fast the grader
    return _iqr(*args, **kwargs)
"""


def test_ctrl_c_on_a_waiting_client_ends_it_within_a_second_with_one_line(warmed, tmp_path):
    env, _ = warmed
    slow = submission_with(tmp_path, "outliers", SLOW_IQR)
    proc = subprocess.Popen(
        [sys.executable, "-m", "autograder", "grade", "--submission", str(slow), "--exercise", "outliers.iqr"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    time.sleep(1.5)  # connected, the warm grader grading (every call of iqr takes half a second)
    sent = time.monotonic()
    os.killpg(proc.pid, signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert (proc.returncode, err.strip()) == (130, "interrupted"), out
    assert time.monotonic() - sent < 1.0


def test_without_the_variable_no_warm_grader_is_used_or_started(tmp_path):
    env = _env(tmp_path, AUTOGRADER_WARM="0")
    rc, _, _, torch_loaded = _grade(env, "--submission", "solutions", "--exercise", "outliers.iqr")
    assert rc == 0 and torch_loaded
    time.sleep(1)
    assert list((tmp_path / "run").iterdir()) == []


@pytest.mark.pure
def test_batch_and_results_json_grades_never_ask(monkeypatch):
    monkeypatch.setenv(warm.ENABLE_VARIABLE, "1")
    from autograder.cli import parser

    def args(*extra):
        return parser().parse_args(["grade", *extra])

    assert warm.eligible(args())
    assert not warm.eligible(args("--json", "results.json"))
    assert not warm.eligible(args("--suite", "hidden"))
    assert not warm.eligible(args("--full-details"))
    monkeypatch.setenv(warm.ENABLE_VARIABLE, "0")
    assert not warm.eligible(args())


@pytest.mark.pure
def test_a_runtime_folder_others_can_reach_is_not_used(tmp_path, monkeypatch):
    shared = tmp_path / "shared"
    shared.mkdir()
    os.chmod(shared, 0o755)
    monkeypatch.setenv(warm.DIR_VARIABLE, str(shared))
    assert warm.runtime_folder() is None
    os.chmod(shared, 0o700)
    assert warm.runtime_folder() == shared


@pytest.mark.pure
def test_another_users_request_gets_no_answer(monkeypatch):
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    with ours, theirs:
        warm._send(theirs, {"stop": True})
        monkeypatch.setattr(warm.os, "geteuid", lambda: os.getuid() + 4242)  # the peer is not us
        assert warm._answer(ours, grader=None, own="stamp", run=None) is True  # not stopped by them
        theirs.settimeout(0.5)
        with pytest.raises(TimeoutError):
            theirs.recv(1)


@pytest.mark.pure
def test_the_stamp_changes_with_the_course_secret(monkeypatch):
    monkeypatch.setenv("AUTOGRADER_SECRET", "one")
    first = warm.stamp()
    monkeypatch.setenv("AUTOGRADER_SECRET", "two")
    assert warm.stamp() != first
