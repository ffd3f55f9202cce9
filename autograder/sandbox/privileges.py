"""The last step before learner code runs in a child: OS limits, then an unprivileged uid, then
no new programs and no memory outside the address-space limit.

Root (Gradescope, CI, a root-started bwrap) becomes the slot's learner uid with no groups and no
capabilities; the result is checked, and the child refuses to go on if any privilege is left.
Whoever started us, a seccomp filter then refuses ``execve``: a new program would run without the
child's forbidden kernels (a Python started by the learner could call ``torch.tanh``), and
refuses ``memfd_create`` and ``shmget``: memory held in a memfd file or a System V segment does not
count against ``RLIMIT_AS`` once unmapped (POSIX message queues get ``RLIMIT_MSGQUEUE`` 0).
"""

from __future__ import annotations

import ctypes
import os
import platform
import resource
import stat
import struct
import sys

_LIBC = ctypes.CDLL(None, use_errno=True)  # loaded in the zygote: the child's audit hook refuses ctypes
PR_SET_NO_NEW_PRIVS = 38
PR_SET_SECCOMP, SECCOMP_MODE_FILTER = 22, 2

MAX_PROCESSES = 64  # processes and threads of one exercise's uid (RLIMIT_NPROC)
MAX_FILE = 64 * 2**20  # the largest file learner code may write (RLIMIT_FSIZE)
MAX_OPEN_FILES = 256


class PrivilegeError(SystemExit):
    """Privileges remained after the drop: the child must not run learner code."""


def drop(uid: int | None) -> None:
    """Sets the limits, then becomes ``uid`` when we are root (``None``: stay who we are)."""
    resource.setrlimit(resource.RLIMIT_NPROC, (MAX_PROCESSES, MAX_PROCESSES))
    resource.setrlimit(resource.RLIMIT_FSIZE, (MAX_FILE, MAX_FILE))
    resource.setrlimit(resource.RLIMIT_NOFILE, (MAX_OPEN_FILES, MAX_OPEN_FILES))
    resource.setrlimit(resource.RLIMIT_MSGQUEUE, (0, 0))  # a queue's messages are memory outside RLIMIT_AS
    # execve can never grant privileges again (setuid bits, file capabilities are ignored)
    _LIBC.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)
    if uid is not None and os.geteuid() == 0:
        keep_import_path_reachable()
        os.setgroups([])
        os.setresgid(uid, uid, uid)
        os.setresuid(uid, uid, uid)
        if os.geteuid() == 0 or os.getegid() == 0 or any(capabilities().values()) or not no_new_privs():
            raise PrivilegeError("the grader could not drop its privileges; learner code was not run")
    forbid_new_programs()


# seccomp's view of a syscall: (nr, arch, ...). Per architecture: its audit number, the calls refused
# (execve, execveat: a new program; memfd_create, shmget: memory RLIMIT_AS does not count; fork, vfork:
# another address space; unshare, setns: a user namespace of its own, where it could mount a tmpfs),
# the calls answered ENOSYS (clone3, whose flags seccomp cannot read: the C library falls back to
# clone) and clone itself, allowed for threads only (CLONE_THREAD).
_SYSCALLS = {
    "x86_64": (0xC000003E, (59, 322, 319, 29, 57, 58, 272, 308), (435,), 56),
    "aarch64": (0xC00000B7, (221, 281, 279, 194, 97, 268), (435,), 220),
}
_X32_BIT = 0x40000000  # x86_64's x32 ABI: another numbering of the same calls, refused whole
CLONE_THREAD = 0x00010000


def forbid_new_programs() -> None:
    """From now on, in this process and its threads: no new program (``execve``), no other process
    (``fork``, a ``clone`` that is not a thread), no memory outside ``RLIMIT_AS`` (``memfd_create``,
    ``shmget``) and no namespace of its own (``unshare``, ``setns``): each fails with EPERM. So do
    syscalls of another ABI (i386 on x86_64), which could reach them by another number."""
    arch, refused, missing, clone = _SYSCALLS.get(platform.machine(), (None, (), (), None))
    if arch is None or clone is None:  # both, or neither: the table has both for each machine
        raise PrivilegeError(f"no seccomp filter for {platform.machine()}: learner code was not run")
    deny, allow, enosys = 0x00050000 | 1, 0x7FFF0000, 0x00050000 | 38  # SECCOMP_RET_ERRNO | errno, RET_ALLOW
    ld, jeq, jge, jset, ret = 0x20, 0x15, 0x35, 0x45, 0x06  # BPF_LD|W|ABS, BPF_JMP|{JEQ,JGE,JSET}|K, BPF_RET|K
    # the instructions, with jumps to the three returns at the end by name
    body: list[tuple[int, object, object, int]] = [
        (ld, 0, 0, 4),  # the architecture
        (jeq, 0, "deny", arch),
        (ld, 0, 0, 0),  # the syscall number
        (jge, "deny", 0, _X32_BIT),
    ]
    body += [(jeq, "deny", 0, nr) for nr in refused] + [(jeq, "enosys", 0, nr) for nr in missing]
    body += [(jeq, 0, "allow", clone), (ld, 0, 0, 16), (jset, "allow", "deny", CLONE_THREAD)]  # args[0]: flags
    labels = {"allow": len(body), "deny": len(body) + 1, "enosys": len(body) + 2}

    def jump(target, at: int) -> int:
        return labels[target] - at - 1 if isinstance(target, str) else int(target)

    program = [(op, jump(jt, i), jump(jf, i), k) for i, (op, jt, jf, k) in enumerate(body)]
    program += [(ret, 0, 0, allow), (ret, 0, 0, deny), (ret, 0, 0, enosys)]
    code = b"".join(struct.pack("HBBI", *insn) for insn in program)
    buffer = ctypes.create_string_buffer(code)

    class SockFprog(ctypes.Structure):
        _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]

    fprog = SockFprog(len(program), ctypes.addressof(buffer))
    if (
        _LIBC.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.byref(fprog), 0, 0) != 0
        or _status().get("Seccomp") != "2"
    ):
        raise PrivilegeError(
            f"the grader could not forbid new programs (errno {ctypes.get_errno()}); learner code was not run"
        )


def _closed_to_others(path: str) -> bool:
    """True when a uid that owns nothing cannot list ``path`` (or cross one of its parents)."""
    path = os.path.realpath(path)
    if not os.stat(path).st_mode & stat.S_IROTH:
        return True
    while True:
        if not os.stat(path).st_mode & stat.S_IXOTH:
            return True
        if path == os.path.dirname(path):
            return False
        path = os.path.dirname(path)


def keep_import_path_reachable() -> None:
    """Where the interpreter lives in a folder only root may enter (a Python under /root, in the
    plain-process sandbox), its folders on ``sys.path`` are opened now, as root, and reached after
    the drop through ``/proc/self/fd``: the standard library stays importable, read-only."""
    moved = {}
    for i, entry in enumerate(sys.path):
        try:
            if not entry or not os.path.isdir(entry) or not _closed_to_others(entry):
                continue
            fd = os.open(entry, os.O_RDONLY | os.O_DIRECTORY)
        except OSError:
            continue
        sys.path[i] = moved[entry.rstrip(os.sep) + os.sep] = f"/proc/self/fd/{fd}/"
    if not moved:
        return
    for module in list(sys.modules.values()):  # packages already loaded find their submodules there too
        path = getattr(module, "__path__", None)
        if isinstance(path, list):
            path[:] = [_moved(p, moved) for p in path]


def _moved(path: str, moved: dict[str, str]) -> str:
    for old, new in moved.items():
        if path.startswith(old):
            return new + path[len(old) :]
    return path


def _status() -> dict[str, str]:
    with open("/proc/self/status") as status:
        return {line.split(":")[0]: line.split(":", 1)[1].strip() for line in status if ":" in line}


def capabilities() -> dict[str, int]:
    """The capabilities this process holds or can raise (permitted, effective, ambient). The
    inheritable set is left out: with no_new_privs no execve can turn it into a capability."""
    status = _status()
    return {name: int(status.get(name, "1"), 16) for name in ("CapPrm", "CapEff", "CapAmb")}


def no_new_privs() -> bool:
    return _status().get("NoNewPrivs") == "1"
