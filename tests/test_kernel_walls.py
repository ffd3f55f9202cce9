"""Kernel walls around memory and files, probed as a child runs before it imports learner code but
without the in-process guards (``test_walls.as_learner``): memory the address-space limit would not
count is refused, and a root worker's child sees nothing of the machine but its own files.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess

import pytest
from test_walls import KINDS, ROOTED, as_learner

from autograder.scoring import launcher
from conftest import ROOT

ISOLATED = ROOTED and launcher.namespaces_work()


@pytest.mark.parametrize("kind", KINDS)
def test_memory_outside_the_address_space_limit_is_refused(kind):
    """memfd files and System V segments hold pages RLIMIT_AS does not count once unmapped, POSIX
    message queues hold kernel memory, a user namespace could mount a tmpfs: all are refused, for
    every uid and sandbox (another process, with its own address space, is refused too:
    ``test_walls.test_one_exercise_cannot_start_hundreds_of_processes``)."""
    proc = as_learner(
        kind,
        """
        import mmap
        libc = ctypes.CDLL(None, use_errno=True)
        refused = {}
        try:
            fd = os.memfd_create("hoard")
            os.ftruncate(fd, 2**30)
            refused["memfd"] = False
        except OSError:
            refused["memfd"] = True
        refused["shmget"] = libc.shmget(0, 2**30, 0o1600) == -1  # IPC_PRIVATE, IPC_CREAT | 0600
        libc.mq_open.restype = ctypes.c_int
        refused["mq_open"] = libc.mq_open(b"/hoard", os.O_CREAT | os.O_RDWR, 0o600, None) == -1
        # a user namespace of its own would let it mount a tmpfs, whose pages RLIMIT_AS does not count
        refused["userns"] = libc.unshare(0x10000000 | 0x00020000) == -1  # CLONE_NEWUSER | CLONE_NEWNS
        print(json.dumps(refused))
        """,
    )
    assert json.loads(proc.stdout) == {"memfd": True, "shmget": True, "mq_open": True, "userns": True}, proc.stderr


def world_writable_folders() -> list[str]:
    """The machine's world-writable folders, found now (a few levels deep on every file system)."""
    found = subprocess.run(
        ["find", "/", "-maxdepth", "4", "-type", "d", "-perm", "-0002", "-not", "-path", "/proc/*"],
        capture_output=True,
        text=True,
        timeout=60,
    ).stdout.splitlines()
    return sorted({"/tmp", "/var/tmp", "/dev/shm", "/run/lock", *found})


@pytest.mark.skipif(not ISOLATED, reason="a root worker's view; run by a user, learner code is that user")
@pytest.mark.parametrize("kind", KINDS)
def test_a_root_workers_child_sees_none_of_the_machines_files(kind):
    """The instructor's repository (solutions, checks), other submissions (the inbox's other
    folders) and every world-writable folder of the machine are out of view; nothing outside
    scratch is writable, not even with PyTorch's own file writer (no audit event)."""
    folders = world_writable_folders()
    proc = as_learner(
        kind,
        f"""
        import glob
        seen = {{
            "solutions": os.path.exists({str(ROOT / "solutions" / "convolution.py")!r}),
            "checks": glob.glob({str(ROOT / "autograder" / "checks")!r} + "/*.py")
                      + glob.glob("/grader/autograder/checks/*.py"),
            "inbox": sorted(os.listdir(os.path.dirname(SUBMISSION))),
            "own": sorted(os.listdir(SUBMISSION)),
        }}
        writable = []
        for folder in {folders!r} + ["/", os.path.dirname(SUBMISSION), SUBMISSION]:
            try:
                with open(os.path.join(folder, "left-behind"), "wb") as f:
                    f.write(b"x")
                writable.append(folder)
            except OSError:
                pass
        seen["writable"] = writable
        import torch
        try:
            torch.save(torch.zeros(1), "/run/lock/left-behind")
            seen["writable"].append("torch.save")
        except RuntimeError:
            pass
        print(json.dumps(seen))
        """,
        files={"losses.py": "x = 1"},
    )
    seen = json.loads(proc.stdout)
    assert seen == {"solutions": False, "checks": [], "inbox": ["1"], "own": ["losses.py"], "writable": []}, (
        proc.stdout + proc.stderr
    )
    assert not any(os.path.exists(os.path.join(folder, "left-behind")) for folder in folders)


@pytest.mark.skipif(not ROOTED, reason="learner uids need root")
@pytest.mark.parametrize("kind", KINDS)
def test_no_signal_reaches_another_learner_uids_process(kind):
    """Another exercise's (or submission's) process runs as another uid: the kernel refuses the
    signal (and under bwrap the process is not even in view)."""
    other = launcher.learner_uids(1)[0] + 7
    victim = subprocess.Popen(["sleep", "30"], user=other, group=other, extra_groups=[], start_new_session=True)
    try:
        proc = as_learner(
            kind,
            f"""
            try:
                os.kill({victim.pid}, signal.SIGKILL)
                print("delivered")
            except PermissionError:
                print("refused")
            except ProcessLookupError:
                print("not in view")
            """,
        )
        assert proc.stdout.strip() in ("refused", "not in view"), proc.stdout + proc.stderr
        assert victim.poll() is None
    finally:
        victim.kill()
        victim.wait()


@pytest.mark.skipif(not ISOLATED, reason="as root with namespaces, only the worker's own mounts reach the folders")
def test_inboxes_and_scratch_are_private_to_the_scorer():
    """No other account, learner uids included, can list or enter the folders a plain worker's
    submissions and scratch live in (0700, root's)."""
    inbox = launcher.new_inbox()
    argv, env, scratch = launcher.command(launcher.choose("process"), inbox)
    try:
        for folder in (inbox, scratch):
            info = os.stat(folder)
            assert stat.S_IMODE(info.st_mode) == 0o700 and info.st_uid == 0, folder
    finally:
        os.rmdir(inbox)
        os.rmdir(scratch)
