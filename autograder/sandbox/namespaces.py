"""Each exercise's own kernel namespaces and file view, entered by its child as root before the drop.

A child started by a root worker (plain or bubblewrap) unshares its network, IPC, host-name and
mount namespaces: no socket of any family (abstract unix, loopback TCP/UDP), no System V or POSIX
IPC object and no mount of another exercise or submission is reachable from it. In its mount
namespace the plain worker's child then builds a new root holding only what bubblewrap's would
(the system's programs and libraries, the Python environment, the grader without its checks, its
own submission read-only, its own scratch folder writable) and enters it: the instructor's
repository, other submissions and every world-writable folder of the machine are out of its view.
Under bubblewrap the sandbox's root is that view already; the child only covers the inbox so that
its own submission is all it holds. The learner uid has no capability: it can change none of it.

Run by a user (not root) nothing here applies; ``docs/security.md`` says what holds instead.
"""

from __future__ import annotations

import ctypes
import functools
import os
import sys

from autograder.protocol import policy

_LIBC = ctypes.CDLL(None, use_errno=True)  # loaded in the zygote: the child's audit hook refuses ctypes

MS_RDONLY, MS_NOSUID, MS_NODEV, MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = 1, 2, 4, 32, 4096, 16384, 1 << 18
# the walls, as policy.WORKER declares them
ISOLATED = policy.WORKER.child_unshare_flags
DEVICES = policy.WORKER.devices  # the device nodes a child's /dev holds (and GPUs)
SYSTEM_DIRS = policy.WORKER.system_dirs
SYSTEM_FILES = policy.WORKER.system_files
VIEW_VARIABLE = policy.WORKER.view_variable  # set by the launcher for a plain worker: its read-only folders


class NamespaceError(SystemExit):
    """A namespace or mount the child needs could not be made: learner code is not run."""


def _check(rc: int, what: str) -> None:
    if rc != 0:
        raise NamespaceError(f"the grader could not {what} (errno {ctypes.get_errno()}); learner code was not run")


def _mount(source: str | None, target: str, fstype: str | None, flags: int, data: str | None = None) -> None:
    encode = lambda s: None if s is None else os.fsencode(s)  # noqa: E731 - four arguments alike
    _check(_LIBC.mount(encode(source), encode(target), encode(fstype), flags, encode(data)), f"mount {target}")


@functools.cache
def supported() -> bool:
    """True when this process is root and may make namespaces (a container may refuse them):
    tried once, in a throw-away child."""
    if os.geteuid() != 0 or not sys.platform.startswith("linux"):
        return False
    pid = os.fork()
    if pid == 0:
        os._exit(0 if _LIBC.unshare(ISOLATED) == 0 else 1)
    _, status = os.waitpid(pid, 0)
    return os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0


def isolate_child(submission: str, scratch: str) -> None:
    """The child's call: the plain worker's view comes from ``VIEW_VARIABLE``; bubblewrap sets none."""
    listed = os.environ.get(VIEW_VARIABLE)
    isolate(submission, scratch, listed.split(os.pathsep) if listed else None)


def isolate(submission: str, scratch: str, readable: list[str] | None) -> None:
    """Enters the exercise's own namespaces. ``readable`` (the plain worker: the Python
    environment's folders and the grader's package, from ``VIEW_VARIABLE``): build the child's
    root from them; ``None`` (bubblewrap, whose view is already minimal): only cover the inbox."""
    if not supported():
        return
    _check(_LIBC.unshare(ISOLATED), "give the exercise namespaces of its own")
    _mount(None, "/", None, MS_REC | MS_PRIVATE)  # nothing mounted here reaches the worker, nor back
    if readable is None:
        _cover_inbox(submission)
    else:
        _enter_new_root(readable, submission, scratch)


def _cover_inbox(submission: str) -> None:
    """The inbox (root's, 0700) is replaced by a folder holding only this submission, read-only."""
    inbox = os.path.dirname(submission)
    keep = os.open(submission, os.O_PATH | os.O_DIRECTORY)
    _mount("inbox", inbox, "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755,size=64k")
    os.mkdir(submission, 0o755)
    _bind(f"/proc/self/fd/{keep}", submission, read_only=True)
    _mount(None, inbox, None, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV)
    os.close(keep)


def _bind(source: str, target: str, read_only: bool) -> None:
    _mount(source, target, None, MS_BIND | MS_REC)
    if read_only:
        _mount(None, target, None, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV)


def view(readable: list[str], submission: str, scratch: str) -> list[tuple[str, bool]]:
    """What the plain worker's child sees, each path at its own place: ``(path, read-only)``."""
    entries = [(path, True) for path in SYSTEM_DIRS if os.path.isdir(path) and not os.path.islink(path)]
    entries += [(path, True) for path in SYSTEM_FILES if os.path.isfile(path)]
    entries += [(path, True) for path in readable if os.path.exists(path)]
    return entries + [(submission, True), (scratch, False)]


def _enter_new_root(readable: list[str], submission: str, scratch: str) -> None:
    """Builds the child's root on a tmpfs over /tmp (every source opened first: they may live
    under /tmp), then chroots into it. Leaving a chroot takes a capability the learner uid lacks."""
    entries = view(readable, submission, scratch)
    links = [(path, os.readlink(path)) for path in SYSTEM_DIRS if os.path.islink(path)]
    devices = [f"/dev/{name}" for name in DEVICES] + sorted(
        f"/dev/{name}" for name in os.listdir("/dev") if name.startswith("nvidia")
    )
    devices = [d for d in devices if os.path.exists(d)]
    kept = {path: os.open(path, os.O_PATH) for path in {path for path, _ in entries} | set(devices)}
    new_root = "/tmp"
    _mount("view", new_root, "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755,size=1m")
    for path, read_only in entries:
        inside = new_root + path
        _make_parents(inside)
        if os.path.isdir(f"/proc/self/fd/{kept[path]}"):
            os.makedirs(inside, 0o755, exist_ok=True)
        elif not os.path.exists(inside):
            open(inside, "w").close()
        _bind(f"/proc/self/fd/{kept[path]}", inside, read_only)
        checks = os.path.join(inside, "checks")
        if os.path.basename(path) == "autograder" and os.path.isdir(checks):
            # the grader's checks, hidden ones included: an empty read-only folder, as under bubblewrap
            _mount("checks", checks, "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV, "mode=0555,size=4k")
    for path, target in links:
        _make_parents(new_root + path)
        os.symlink(target, new_root + path)
    os.makedirs(new_root + "/proc", 0o555)
    _bind("/proc", new_root + "/proc", read_only=False)  # permission-checked by the kernel per process
    os.makedirs(new_root + "/dev", 0o755)
    _mount("dev", new_root + "/dev", "tmpfs", MS_NOSUID, "mode=0755,size=64k")
    for device in devices:  # a node, or a folder of them (/dev/nvidia-caps)
        if os.path.isdir(device):
            os.makedirs(new_root + device, 0o755)
        else:
            open(new_root + device, "w").close()
        _bind(f"/proc/self/fd/{kept[device]}", new_root + device, read_only=False)
    for folder in ("/dev/shm", "/tmp", "/var/tmp", "/run/lock"):  # present, empty and read-only
        os.makedirs(new_root + folder, 0o755, exist_ok=True)
    _mount(None, new_root + "/dev", None, MS_REMOUNT | MS_RDONLY | MS_NOSUID)
    for fd in kept.values():
        os.close(fd)
    _mount(None, new_root, None, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV)
    os.chroot(new_root)
    os.chdir("/")


def _make_parents(path: str) -> None:
    os.makedirs(os.path.dirname(path), 0o755, exist_ok=True)
