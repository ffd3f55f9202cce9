"""The sandbox policy, declared once: every wall a named field, rendered by the launcher and the child."""

from __future__ import annotations

import errno
from dataclasses import dataclass, field, fields

MiB = 2**20
CLONE_FLAGS = {"mnt": 0x00020000, "uts": 0x04000000, "ipc": 0x08000000, "net": 0x40000000}  # unshare(2)'s


@dataclass(frozen=True)
class Mount:
    """One step of bubblewrap's file view, applied in order. ``kind``: ``tmpfs`` (``perms``, ``size``;
    ``read_only`` remounts it so), ``bind`` (the folder the launcher names ``source``; ``read_only``),
    ``system`` (``system_dirs``: a link stays a link), ``python`` (the interpreter's folders),
    ``files`` (``system_files`` that exist), ``files-try`` (bound where they exist, by bwrap), ``proc``,
    ``dev``, ``gpus`` (``/dev/nvidia*``), ``remount-ro``."""

    kind: str
    dest: str = ""
    source: str = ""
    perms: str = ""
    size: int | None = None
    read_only: bool = True

    def __str__(self) -> str:
        what = {"system": "system dirs", "python": "Python environment", "gpus": "GPU devices"}.get(self.kind)
        if what:
            return f"{what} (ro)" if self.kind != "gpus" else what
        if self.kind in ("files", "files-try"):
            return "system files (ro)"
        if self.kind == "bind":
            return f"{self.dest} ← {self.source} ({'ro' if self.read_only else 'rw'})"
        if self.kind == "tmpfs":
            size = f" {self.size // MiB} MiB" if self.size else ""
            return f"{self.dest} tmpfs{size} {self.perms}" + (" (ro)" if self.read_only else "")
        return f"{self.kind} {self.dest}".strip()


def wall(doc: str):
    """A policy field: ``doc`` is its row in docs/security.md's table (``markdown_table``)."""
    return field(metadata={"doc": doc})


@dataclass(frozen=True)
class Policy:
    """Every wall of one sandbox. ``WORKER``: the grader's worker and each exercise's child; ``KERNEL``:
    nbgrader's notebook kernel (``nbcourse.wall``), a process that must start programs."""

    unshare_as_root: tuple[str, ...] = wall("bwrap namespaces when root (no user namespace: a real learner uid)")
    unshare_as_user: tuple[str, ...] = wall("bwrap namespaces when not root (a user namespace)")
    disable_userns: bool = wall("no further user namespace can be made inside (not root)")
    die_with_parent: bool = wall("the sandbox dies with the process that started it; a session of its own")
    child_namespaces: tuple[str, ...] = wall("namespaces each exercise's child unshares as root (sandbox.namespaces)")
    capabilities_as_root: tuple[str, ...] = wall("capabilities kept under bwrap as root (every other one dropped)")
    learner_uids: tuple[int, int] = wall("learner uids, gid alike, drawn at random from [first, first+span)")
    min_uid_base: int = wall("AUTOGRADER_UID_BASE below this is refused (real accounts)")
    env: tuple[tuple[str, str], ...] = wall("the whole environment inside (bwrap clears the rest)")
    env_passed: tuple[str, ...] = wall("variables passed from the host when set")
    env_bwrap: tuple[tuple[str, str], ...] = wall("added under bwrap only (plain mode sets its own folders)")
    mounts: tuple[Mount, ...] = wall("bubblewrap's file view, in order; the root file system is read-only")
    system_dirs: tuple[str, ...] = wall("system folders in view, read-only")
    system_files: tuple[str, ...] = wall("system files in view, read-only")
    devices: tuple[str, ...] = wall("device nodes of a plain root child's /dev (and GPUs)")
    chdir: str = wall("the working folder inside")
    python_flags: tuple[str, ...] = wall("interpreter flags: no bytecode written, nothing writable on sys.path (-P)")
    rlimits: tuple[tuple[str, int], ...] = wall("OS limits (soft = hard), set before the uid drop")
    address_space_mb: int | None = wall("RLIMIT_AS: MiB a child may add after forking (default of --memory-mb)")
    no_new_privs: bool = wall("no execve can grant privileges (setuid bits, file capabilities)")
    seccomp_refused: tuple[str, ...] = wall("syscalls seccomp refuses with seccomp_errno")
    seccomp_errno: int = wall("the errno of a refused syscall")
    seccomp_enosys: tuple[str, ...] = wall("syscalls answered ENOSYS (clone3: flags seccomp cannot read)")
    seccomp_threads_only: bool = wall("clone allowed for threads only (CLONE_THREAD)")
    seccomp_other_abis_refused: bool = wall("syscalls of another ABI (i386, x32) refused whole")
    view_variable: str = wall("plain mode: the variable naming a root child's read-only folders")
    own_pid_variable: str = wall("set under bwrap: the worker has its own PID namespace (sweeps it whole)")
    plain_scratch_mode: int = wall("plain mode, root without namespaces: the scratch folder's mode")
    plain_inbox_mode: int = wall("plain mode, root without namespaces: the inbox's mode")

    @property
    def child_unshare_flags(self) -> int:
        """``child_namespaces`` as the flags of ``unshare(2)``."""
        flags = 0
        for name in self.child_namespaces:
            flags |= CLONE_FLAGS[name]
        return flags

    def bound_at(self, source: str) -> str:
        """Where the folder the launcher names ``source`` appears inside."""
        return next(m.dest for m in self.mounts if m.kind == "bind" and m.source == source)

    @property
    def scratch_bytes(self) -> int:
        """The scratch quota: bwrap's tmpfs at ``chdir``, measured by the zygote in plain mode."""
        return next(m.size or 0 for m in self.mounts if m.kind == "tmpfs" and m.dest == self.chdir)


SYSTEM_DIRS = ("/usr", "/bin", "/lib", "/lib64", "/sbin")
SYSTEM_FILES = ("/etc/ld.so.cache", "/etc/localtime", "/etc/nsswitch.conf")
BASE_ENV = (
    ("PATH", "/usr/local/bin:/usr/bin:/bin"),
    ("PYTHONHASHSEED", "0"),
    ("OMP_NUM_THREADS", "1"),
    ("MKL_NUM_THREADS", "1"),
    ("PYTHONDONTWRITEBYTECODE", "1"),
    ("LC_ALL", "C.UTF-8"),
)
OWN_PID_NAMESPACE = "AUTOGRADER_OWN_PID_NAMESPACE"

WORKER = Policy(
    unshare_as_root=("ipc", "pid", "net", "uts", "cgroup-try"),
    unshare_as_user=("all", "user"),
    disable_userns=True,
    die_with_parent=True,
    child_namespaces=("mnt", "uts", "ipc", "net"),
    # the zygote's, as root: to switch each child to its uid, kill that uid's processes, hand it a
    # scratch folder and wipe it afterwards; CAP_SYS_ADMIN to give each child its namespaces
    capabilities_as_root=(
        "CAP_SETUID",
        "CAP_SETGID",
        "CAP_KILL",
        "CAP_CHOWN",
        "CAP_DAC_OVERRIDE",
        "CAP_FOWNER",
        "CAP_SYS_ADMIN",
    ),
    learner_uids=(1_000_000_000, 1_000_000_000),
    min_uid_base=10_000_000,
    env=(
        *BASE_ENV,
        ("MPLBACKEND", "Agg"),
    ),
    env_passed=("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "CUDA_VISIBLE_DEVICES", "AUTOGRADER_NATIVE_RECORDER"),
    env_bwrap=(("HOME", "/scratch"), ("TMPDIR", "/scratch"), ("PYTHONPATH", "/grader"), (OWN_PID_NAMESPACE, "1")),
    mounts=(
        Mount("tmpfs", "/tmp", perms="0755", read_only=False),  # first: a bind below may live under /tmp
        Mount("system"),
        Mount("python"),
        Mount("files-try"),
        Mount("proc", "/proc"),
        Mount("dev", "/dev"),
        Mount("gpus"),
        Mount("bind", "/grader/autograder", source="package"),
        Mount("bind", "/inbox", source="inbox"),
        Mount("tmpfs", "/grader/autograder/checks", perms="0555"),  # checks arrive as data only
        Mount("tmpfs", "/scratch", perms="0711", size=512 * MiB, read_only=False),
        Mount("remount-ro", "/tmp"),
        Mount("remount-ro", "/dev"),
        Mount("remount-ro", "/"),
    ),
    system_dirs=SYSTEM_DIRS,
    system_files=SYSTEM_FILES,
    devices=("null", "zero", "full", "random", "urandom"),
    chdir="/scratch",
    python_flags=("-B", "-P"),
    rlimits=(("NPROC", 64), ("FSIZE", 64 * MiB), ("NOFILE", 256), ("MSGQUEUE", 0), ("CORE", 0)),
    address_space_mb=2048,
    no_new_privs=True,
    # execve, execveat: a new program runs without the forbidden kernels; memfd_create, shmget: memory
    # RLIMIT_AS does not count; fork, vfork: another address space; unshare, setns: a namespace of its own
    seccomp_refused=("execve", "execveat", "memfd_create", "shmget", "fork", "vfork", "unshare", "setns"),
    seccomp_errno=errno.EPERM,
    seccomp_enosys=("clone3",),
    seccomp_threads_only=True,
    seccomp_other_abis_refused=True,
    view_variable="AUTOGRADER_VIEW",
    own_pid_variable=OWN_PID_NAMESPACE,
    plain_scratch_mode=0o711,  # each child reaches its 0700 folder through this one
    plain_inbox_mode=0o755,  # the learner uid must reach its files
)

KERNEL = Policy(
    unshare_as_root=WORKER.unshare_as_root,
    unshare_as_user=WORKER.unshare_as_user,
    disable_userns=True,
    die_with_parent=True,
    child_namespaces=(),
    capabilities_as_root=("CAP_SETUID", "CAP_SETGID"),  # setpriv's, to become the learner's uid
    learner_uids=WORKER.learner_uids,
    min_uid_base=WORKER.min_uid_base,
    env=(
        ("PATH", "/usr/local/bin:/usr/bin:/bin"),
        ("HOME", "/learner/{assignment}"),
        ("TMPDIR", "/tmp"),
        ("JUPYTER_RUNTIME_DIR", "/tmp/jupyter-runtime"),
        ("JUPYTER_CONFIG_DIR", "/tmp/jupyter-config"),
        ("JUPYTER_DATA_DIR", "/tmp/jupyter-data"),
        ("IPYTHONDIR", "/tmp/ipython"),
        ("MPLCONFIGDIR", "/tmp/matplotlib"),
        ("PYTHONPATH", "/grader"),
        ("PYTHONDONTWRITEBYTECODE", "1"),
        ("PYTHONHASHSEED", "0"),
        ("OMP_NUM_THREADS", "1"),
        ("MKL_NUM_THREADS", "1"),
        ("LC_ALL", "C.UTF-8"),
        # a figure a cell draws is kept as a PNG output: the feedback and the formgrader show it
        ("MPLBACKEND", "module://matplotlib_inline.backend_inline"),
    ),
    env_passed=("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE"),
    env_bwrap=(),
    mounts=(
        Mount("tmpfs", "/tmp", perms="1777", size=256 * MiB, read_only=False),
        Mount("system"),
        Mount("python"),
        Mount("files"),
        Mount("proc", "/proc"),
        Mount("dev", "/dev"),
        Mount("bind", "/grader/autograder", source="package"),
        # no hidden check is in view, nor the course secret beside them: an empty folder
        Mount("tmpfs", "/grader/autograder/checks/hidden", perms="0755"),
        Mount("bind", "/learner", source="learner", read_only=False),
        Mount("bind", "/outbox", source="outbox", read_only=False),
        Mount("remount-ro", "/"),
    ),
    system_dirs=SYSTEM_DIRS,
    system_files=(*SYSTEM_FILES, "/etc/fonts"),
    devices=(),
    chdir="/learner/{assignment}",
    python_flags=("-B",),
    rlimits=(("NPROC", 512), ("FSIZE", 64 * MiB)),  # the kernel and torch's threads
    address_space_mb=None,
    no_new_privs=True,
    seccomp_refused=(),  # the kernel is a program that starts programs
    seccomp_errno=errno.EPERM,
    seccomp_enosys=(),
    seccomp_threads_only=False,
    seccomp_other_abis_refused=False,
    view_variable="",
    own_pid_variable="",
    plain_scratch_mode=0,  # no plain mode: without bwrap the kernel does not run
    plain_inbox_mode=0,
)


def _show(name: str, value: object) -> str:
    """A field's value as docs/security.md's table shows it."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if name.endswith("_mode"):
        return f"{value:04o}" if value else "—"
    if name == "seccomp_errno":
        return errno.errorcode[value]  # type: ignore[index]
    if isinstance(value, tuple):
        items = [f"{i[0]}={_show(name, i[1])}" if isinstance(i, tuple) else _show(name, i) for i in value]
        return ", ".join(items) if items else "—"
    if isinstance(value, int) and value >= MiB and value % MiB == 0:
        return f"{value // MiB} MiB"
    return "—" if value in ("", None) else f"{value}"


TABLE_HEADER = "| Policy field | Worker and child (`WORKER`) | nbgrader kernel (`KERNEL`) | What it walls |"


def markdown_table() -> str:
    """docs/security.md's table of the declared walls, one row per field of ``Policy``."""
    rows = [TABLE_HEADER, "|---|---|---|---|"]
    for f in fields(Policy):
        worker, kernel = _show(f.name, getattr(WORKER, f.name)), _show(f.name, getattr(KERNEL, f.name))
        rows.append(f"| `{f.name}` | {worker} | {kernel} | {f.metadata['doc']} |")
    return "\n".join(rows) + "\n"


if __name__ == "__main__":
    print(markdown_table(), end="")
