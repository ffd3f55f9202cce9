"""The last step before learner code runs in a child: OS limits, then an unprivileged uid, then
no new programs and no memory outside the address-space limit.

Root (Gradescope, CI, a root-started bwrap) becomes the child's learner uid with no groups and no
capabilities; the result is checked, and the child refuses to go on if any privilege is left.
Whoever started us, a seccomp filter then refuses ``execve``: a new program would run without the
child's forbidden kernels (a Python started by the learner could call ``torch.tanh``), and
refuses ``memfd_create`` and ``shmget``: memory held in a memfd file or a System V segment does not
count against ``RLIMIT_AS`` once unmapped (POSIX message queues get ``RLIMIT_MSGQUEUE`` 0). Each
limit and rule is a field of ``protocol.policy.WORKER``; this module renders them.
"""

from __future__ import annotations

import ctypes
import errno
import os
import platform
import resource
import stat
import struct
import sys
from collections.abc import Mapping

from autograder.protocol import policy

_LIBC = ctypes.CDLL(None, use_errno=True)  # loaded in the zygote: the child's audit hook refuses ctypes
PR_SET_NO_NEW_PRIVS = 38
PR_SET_SECCOMP, SECCOMP_MODE_FILTER = 22, 2

POLICY = policy.WORKER  # the rlimits, no_new_privs and the seccomp rules rendered here


class PrivilegeError(SystemExit):
    """Privileges remained after the drop: the child must not run learner code."""


def drop(uid: int | None) -> None:
    """Sets the limits, then becomes ``uid`` when we are root (``None``: stay who we are)."""
    for name, value in POLICY.rlimits:  # MSGQUEUE 0: a queue's messages are memory outside RLIMIT_AS
        resource.setrlimit(getattr(resource, f"RLIMIT_{name}"), (value, value))
    if POLICY.no_new_privs:  # execve can never grant privileges again (setuid bits, file capabilities)
        _LIBC.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)
    if uid is not None and os.geteuid() == 0:
        keep_import_path_reachable()
        os.setgroups([])
        os.setresgid(uid, uid, uid)
        os.setresuid(uid, uid, uid)
        if os.geteuid() == 0 or os.getegid() == 0 or any(capabilities().values()) or not no_new_privs():
            raise PrivilegeError("the grader could not drop its privileges; learner code was not run")
    forbid_new_programs()


# seccomp's view of a syscall: (nr, arch, ...). Per architecture: its audit number and the numbers of
# the calls the policy names (None: the architecture has no such call, nothing to refuse).
_SYSCALLS: dict[str, tuple[int, Mapping[str, int | None]]] = {
    "x86_64": (
        0xC000003E,
        {"execve": 59, "execveat": 322, "memfd_create": 319, "shmget": 29, "fork": 57, "vfork": 58}
        | {"unshare": 272, "setns": 308, "clone3": 435, "clone": 56},
    ),
    "aarch64": (
        0xC00000B7,
        {"execve": 221, "execveat": 281, "memfd_create": 279, "shmget": 194, "fork": None, "vfork": None}
        | {"unshare": 97, "setns": 268, "clone3": 435, "clone": 220},
    ),
}
_X32_BIT = 0x40000000  # x86_64's x32 ABI: another numbering of the same calls, refused whole
CLONE_THREAD = 0x00010000
RET_ALLOW, RET_ERRNO = 0x7FFF0000, 0x00050000
LD, JEQ, JGE, JSET, RET = 0x20, 0x15, 0x35, 0x45, 0x06  # BPF_LD|W|ABS, BPF_JMP|{JEQ,JGE,JSET}|K, BPF_RET|K


def seccomp_program(wall: policy.Policy, machine: str) -> list[tuple[int, int, int, int]]:
    """The policy's seccomp rules as a classic BPF program for ``machine`` (``sock_filter``'s fields)."""
    arch, numbers = _SYSCALLS[machine]
    refused = [nr for nr in (numbers[name] for name in wall.seccomp_refused) if nr is not None]
    missing = [nr for nr in (numbers[name] for name in wall.seccomp_enosys) if nr is not None]
    # the instructions, with jumps to the three returns at the end by name
    body: list[tuple[int, object, object, int]] = [(LD, 0, 0, 4), (JEQ, 0, "deny", arch)]  # the architecture
    body += [(LD, 0, 0, 0)]  # the syscall number
    body += [(JGE, "deny", 0, _X32_BIT)] if wall.seccomp_other_abis_refused else []
    body += [(JEQ, "deny", 0, nr) for nr in refused] + [(JEQ, "enosys", 0, nr) for nr in missing]
    if wall.seccomp_threads_only:  # args[0]: clone's flags
        clone = numbers["clone"]
        if clone is None:  # every architecture in the table has clone
            raise PrivilegeError(f"no clone syscall known for {machine}: learner code was not run")
        body += [(JEQ, 0, "allow", clone), (LD, 0, 0, 16), (JSET, "allow", "deny", CLONE_THREAD)]
    labels = {"allow": len(body), "deny": len(body) + 1, "enosys": len(body) + 2}

    def jump(target, at: int) -> int:
        return labels[target] - at - 1 if isinstance(target, str) else int(target)

    program = [(op, jump(jt, i), jump(jf, i), int(k)) for i, (op, jt, jf, k) in enumerate(body)]
    deny, enosys = RET_ERRNO | wall.seccomp_errno, RET_ERRNO | errno.ENOSYS
    return program + [(RET, 0, 0, RET_ALLOW), (RET, 0, 0, deny), (RET, 0, 0, enosys)]


def forbid_new_programs() -> None:
    """From now on, in this process and its threads, the policy's seccomp rules: no new program
    (``execve``), no other process (``fork``, a ``clone`` that is not a thread), no memory outside
    ``RLIMIT_AS`` (``memfd_create``, ``shmget``) and no namespace of its own (``unshare``, ``setns``):
    each fails with EPERM. So do syscalls of another ABI (i386 on x86_64), which could reach them by
    another number."""
    if platform.machine() not in _SYSCALLS:
        raise PrivilegeError(f"no seccomp filter for {platform.machine()}: learner code was not run")
    program = seccomp_program(POLICY, platform.machine())
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
