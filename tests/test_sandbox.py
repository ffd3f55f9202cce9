"""Containment under bubblewrap: what learner code can and cannot see or do on the grading machine."""

from __future__ import annotations

import os
import socket
import subprocess
import tempfile
import textwrap
import time

import pytest

from autograder.scoring import launcher
from conftest import ROOT

BWRAP = launcher.choose("auto")
pytestmark = pytest.mark.skipif(not BWRAP.contained, reason=f"bubblewrap unavailable: {BWRAP.note}")


def run_inside(code: str, env_extra=None) -> subprocess.CompletedProcess:
    with tempfile.TemporaryDirectory() as inbox:
        os.chmod(inbox, 0o755)  # as launcher.new_inbox makes it
        argv, env, _ = launcher.command(BWRAP, inbox)
        argv = argv[: argv.index("-m")] + ["-c", textwrap.dedent(code)]  # instead of "-m autograder.sandbox.worker …"
        return subprocess.run(argv, env={**env, **(env_extra or {})}, capture_output=True, text=True, timeout=60)


def test_learner_code_cannot_read_the_repository():
    proc = run_inside(f"""
        import os
        print(os.path.exists({str(ROOT / "solutions")!r}), os.path.exists({str(ROOT / "tests")!r}))
        print(sorted(os.listdir("/scratch")))
    """)
    assert proc.stdout.split("\n")[0] == "False False", proc.stderr
    assert proc.stdout.split("\n")[1] == "[]"


def test_environment_and_grader_are_read_only():
    proc = run_inside("""
        import sys
        for path in (sys.prefix + '/x', '/grader/autograder/x.py', '/usr/x'):
            try:
                open(path, 'w')
                print('wrote', path)
            except OSError:
                pass
        print('done')
    """)
    assert proc.stdout.strip() == "done", proc.stdout + proc.stderr


def test_scratch_is_private_and_tmp_read_only(tmp_path):
    import pathlib

    marker = f"sandbox-marker-{time.time_ns()}"
    proc = run_inside(f"""
        open('/scratch/{marker}', 'w').write('x')
        try:
            open('/tmp/{marker}', 'w')
            print('tmp writable')
        except OSError:
            print('ok')
    """)
    assert proc.stdout.strip() == "ok", proc.stdout + proc.stderr
    assert not pathlib.Path("/scratch", marker).exists() and not pathlib.Path("/tmp", marker).exists()


def test_no_network_not_even_loopback_of_the_host():
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    port = server.getsockname()[1]
    try:
        proc = run_inside(f"""
            import socket
            try:
                socket.create_connection(('127.0.0.1', {port}), timeout=2)
                print('connected')
            except OSError as e:
                print('refused')
        """)
    finally:
        server.close()
    assert proc.stdout.strip() == "refused", proc.stderr


def test_processes_are_invisible_and_die_with_the_worker():
    tag = f"{time.time_ns() % 10**6}.5"
    proc = run_inside(f"""
        import os, subprocess
        subprocess.Popen(['sleep', '{tag}'], start_new_session=True)
        print(len([p for p in os.listdir('/proc') if p.isdigit()]))
    """)
    assert int(proc.stdout.strip()) < 10, "the sandbox sees the host's processes"
    time.sleep(0.2)
    left = subprocess.run(["pgrep", "-f", f"sleep {tag}"], capture_output=True, text=True)
    assert left.stdout.strip() == "", "a process started by learner code outlived the sandbox"


def test_environment_is_cleared():
    import os

    proc = run_inside(
        "import os; print(os.environ.get('GRADER_SECRET', 'absent'))",
        env_extra={**os.environ, "GRADER_SECRET": "s3cret"},
    )
    assert proc.stdout.strip() == "absent"


def test_the_gpu_a_grader_was_given_is_the_one_its_worker_sees(monkeypatch):
    """One Dask worker per GPU sets CUDA_VISIBLE_DEVICES; the sandbox's cleared environment keeps it."""
    from autograder.scoring import launcher

    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "1")
    inbox = launcher.new_inbox()
    try:
        _, env, _ = launcher.command(launcher.choose("auto"), inbox)
    finally:
        import shutil

        shutil.rmtree(inbox, ignore_errors=True)
    assert env["CUDA_VISIBLE_DEVICES"] == "1"
