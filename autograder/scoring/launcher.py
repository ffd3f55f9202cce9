"""Starts the worker process: inside bubblewrap where it exists, else as a plain subprocess.

Under bwrap the learner's code sees the Python environment, the grader package without its
checks and its own submission (all read-only), a private scratch folder with a quota (/tmp empty and read-only, the
root file system read-only); no network; its own PID namespace, so every process it starts dies
with the worker. Nothing else of the machine (the instructor's repository, other submissions,
the scorer's output) is in its view. In both sandboxes learner code runs as an unprivileged uid
with no capabilities (see ``learner_uids``) when the grader runs as root, and then each exercise's
child has namespaces of its own and, in plain processes, a root built from the same allow-list
(``sandbox.namespaces``; the launcher passes it the folders in ``VIEW_VARIABLE``).
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parents[1]  # the autograder package
SANDBOX_GRADER = "/grader"
SCRATCH = "/scratch"  # the worker's private, writable folder inside the sandbox
INBOX = "/inbox"  # the scorer's submissions, read-only
CHECKS_INSIDE = f"{SANDBOX_GRADER}/autograder/checks"  # hidden by an empty folder


@dataclass
class Sandbox:
    kind: str  # "bwrap" or "process"
    note: str  # one line for the report

    @property
    def contained(self) -> bool:
        return self.kind == "bwrap"


def choose(requested: str = "auto") -> Sandbox:
    """``auto``: bwrap when it exists and works here, else the plain process sandbox."""
    if requested not in ("auto", "bwrap", "process"):
        raise ValueError(f"unknown sandbox {requested!r}")
    if requested in ("auto", "bwrap"):
        problem = _bwrap_problem()
        if problem is None:
            return Sandbox("bwrap", "bubblewrap: no network, private files and PIDs, nothing else of this machine")
        if requested == "bwrap":
            raise RuntimeError(f"bubblewrap was requested but cannot run: {problem}")
        return Sandbox("process", f"plain process sandbox ({problem}): {_plain_view()}")
    return Sandbox("process", f"plain process sandbox (requested): {_plain_view()}")


def _plain_view() -> str:
    if namespaces_work():
        return "learner code runs as its own uid in a root of its own (your files out of its view)"
    return "learner code can read your files"


_BWRAP_CHECK: dict[str, str | None] = {}


def _bwrap_problem() -> str | None:
    if "result" in _BWRAP_CHECK:
        return _BWRAP_CHECK["result"]
    exe = shutil.which("bwrap")
    result: str | None
    if exe is None:
        result = "bwrap is not installed"
    else:
        walls = (
            ["--unshare-pid", "--unshare-net", "--cap-drop", "ALL"]
            if os.geteuid() == 0
            else ["--unshare-all", "--unshare-user", "--disable-userns"]
        )
        probe = subprocess.run(
            [exe, "--ro-bind", "/", "/", *walls, "--die-with-parent", "--size", "4096", "--tmpfs", "/tmp", "true"],
            capture_output=True,
            text=True,
            timeout=20,
        )
        result = None if probe.returncode == 0 else f"bwrap fails here: {probe.stderr.strip()[:120]}"
    _BWRAP_CHECK["result"] = result
    return result


def _python_roots() -> list[str]:
    """The interpreter's folders, and the installed-package folders it reads outside them (a user
    site, one a .pth file adds): never a folder holding this package's checkout."""
    roots = {os.path.realpath(sys.prefix), os.path.realpath(sys.base_prefix), os.path.realpath(sys.exec_prefix)}
    exe = os.path.realpath(sys.executable)
    if not any(exe.startswith(r + os.sep) for r in roots):
        roots.add(os.path.dirname(exe))
    checkout = str(PACKAGE_DIR.parent)
    for entry in sys.path:
        path = os.path.realpath(entry) if entry else ""
        if (
            os.path.basename(path) in ("site-packages", "dist-packages")
            and os.path.isdir(path)
            and not any(path == r or path.startswith(r + os.sep) for r in roots)
            and not (checkout == path or checkout.startswith(path + os.sep))
        ):
            roots.add(path)
    return sorted(roots)


UID_FIRST, UID_SPAN = 1_000_000_000, 1_000_000_000  # learner uids are drawn from here
MIN_UID_BASE = 10_000_000  # well above accounts (system, users) and the usual subordinate-uid ranges
# The zygote keeps these (and only these) while it runs as root under bwrap: to switch each child
# to its learner uid, kill that uid's processes, hand it a scratch folder and wipe it afterwards.
# CAP_SYS_ADMIN: to give each child namespaces of its own (``sandbox.namespaces``) before it drops everything.
ZYGOTE_CAPS = ("CAP_SETUID", "CAP_SETGID", "CAP_KILL", "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FOWNER", "CAP_SYS_ADMIN")
VIEW_VARIABLE = "AUTOGRADER_VIEW"  # sandbox.namespaces.VIEW_VARIABLE: what a plain worker's child may read
SCRATCH_BYTES = 512 * 2**20  # the scratch quota of one worker (a tmpfs under bwrap)


def learner_uids(count: int) -> list[int] | None:
    """Unprivileged uids for learner code, one per concurrent exercise, when the grader runs as
    root (Gradescope, CI); None otherwise (learner code then runs as the user who started us).

    Fresh, unnamed uids (no account has them), chosen at random per worker, so that nothing else
    on the machine shares them: a uid is a wall (no write access to anything that is not
    world-writable, no signals to other users' processes) and a process counter (RLIMIT_NPROC).
    ``AUTOGRADER_UID_BASE`` fixes the first one instead.
    """
    if os.geteuid() != 0:
        return None
    chosen = os.environ.get("AUTOGRADER_UID_BASE")
    base = int(chosen) if chosen else secrets.randbelow(UID_SPAN) + UID_FIRST
    if not MIN_UID_BASE <= base <= 2**32 - 2 - count:
        # the worker kills every process of these uids: never a real account's (or root's)
        raise ValueError(f"AUTOGRADER_UID_BASE={base}: choose an unused uid range from {MIN_UID_BASE} up")
    return [base + i for i in range(count)]


def command(sandbox: Sandbox, inbox: str) -> tuple[list[str], dict, str]:
    """argv, env and the worker's scratch folder. ``inbox`` is the scorer's folder of submissions:
    the worker reads each one there (read-only to learner code); nothing else is shared."""
    python = [sys.executable, "-B", "-P", "-m", "autograder.sandbox.worker"]
    env = {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "PYTHONHASHSEED": "0",
        "OMP_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
        "PYTHONDONTWRITEBYTECODE": "1",
        "LC_ALL": "C.UTF-8",
        "MPLBACKEND": "Agg",
    }
    # the machine's numerics settings, and which GPU this grader was given (one Dask worker per GPU)
    for name in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "CUDA_VISIBLE_DEVICES"):
        if name in os.environ:
            env[name] = os.environ[name]
    if sandbox.kind == "process":
        scratch = tempfile.mkdtemp(prefix="grade-scratch-")
        if os.geteuid() == 0 and not namespaces_work():
            os.chmod(scratch, 0o711)  # no mount of its own: each child reaches its 0700 folder through this one
        env.update(HOME=scratch, TMPDIR=scratch, PYTHONPATH=str(PACKAGE_DIR.parent))
        # a root worker's child sees these (read-only), its submission and its scratch: nothing else
        env[VIEW_VARIABLE] = os.pathsep.join([*_python_roots(), str(PACKAGE_DIR)])
        return python + [scratch, inbox], env, scratch
    root = os.geteuid() == 0
    argv = [shutil.which("bwrap") or "bwrap", "--die-with-parent", "--new-session", "--clearenv"]
    if root:  # no user namespace: learner code gets a real, unprivileged host uid (see learner_uids)
        argv += [
            "--unshare-ipc",
            "--unshare-pid",
            "--unshare-net",
            "--unshare-uts",
            "--unshare-cgroup-try",
            "--cap-drop",
            "ALL",
        ]
        for cap in ZYGOTE_CAPS:
            argv += ["--cap-add", cap]
    else:  # a user namespace without capabilities, in which no further one can be made
        argv += ["--unshare-all", "--unshare-user", "--disable-userns"]
    inside = {
        **env,
        "HOME": SCRATCH,
        "TMPDIR": SCRATCH,
        "PYTHONPATH": SANDBOX_GRADER,
        "AUTOGRADER_OWN_PID_NAMESPACE": "1",
    }  # worker.OWN_PID_NAMESPACE: bwrap's --unshare-pid
    for key, value in inside.items():
        argv += ["--setenv", key, value]
    # private, empty /tmp first: the binds below may live under /tmp (a clone in /tmp, say)
    argv += ["--perms", "0755", "--tmpfs", "/tmp"]
    made = {"/", "/tmp"}

    def bind(source: str, dest: str) -> list[str]:
        """A read-only bind, after making its missing parent folders traversable by the learner's uid (a
        privileged bwrap makes them 0700, which would hide a Python under /root from it)."""
        parents = []
        for parent in reversed(Path(dest).parents):
            if str(parent) not in made:
                made.add(str(parent))
                parents += ["--perms", "0755", "--dir", str(parent)]
        made.add(dest)
        return parents + ["--ro-bind", source, dest]

    for top in ("usr", "bin", "lib", "lib64", "sbin"):
        path = f"/{top}"
        if os.path.islink(path):
            argv += ["--symlink", os.readlink(path), path]
        elif os.path.isdir(path):
            argv += bind(path, path)
    for root_dir in _python_roots():
        argv += bind(root_dir, root_dir)
    for etc in ("/etc/ld.so.cache", "/etc/localtime", "/etc/nsswitch.conf"):
        argv += ["--ro-bind-try", etc, etc]
    argv += ["--proc", "/proc", "--dev", "/dev"]
    for dev in sorted(Path("/dev").glob("nvidia*")):  # CUDA devices, where the machine has them
        argv += ["--dev-bind", str(dev), str(dev)]
    argv += bind(str(PACKAGE_DIR), f"{SANDBOX_GRADER}/autograder") + bind(inbox, INBOX)
    # the worker holds no check (they arrive as data): the checks' folder, hidden ones included, is
    # an empty, read-only folder in here
    argv += ["--perms", "0555", "--tmpfs", CHECKS_INSIDE, "--remount-ro", CHECKS_INSIDE]
    argv += [
        "--size",
        str(SCRATCH_BYTES),
        "--perms",
        "0711",
        "--tmpfs",
        SCRATCH,
        "--remount-ro",
        "/tmp",
        "--remount-ro",
        "/dev",
        "--remount-ro",
        "/",
        "--chdir",
        SCRATCH,
        "--",
    ]
    return argv + python + [SCRATCH, INBOX], env, SCRATCH


def new_inbox() -> str:
    """A folder of the scorer's, where it posts submissions for the worker (read-only there):
    0700, so that no other account reads them; a root worker's child sees its own submission only,
    through a mount of its own (``sandbox.namespaces``)."""
    inbox = tempfile.mkdtemp(prefix="grade-inbox-")  # mkdtemp makes it 0700
    if os.geteuid() == 0 and not namespaces_work():
        os.chmod(inbox, 0o755)  # no mount of its own: the learner uid must reach its files (docs/security.md)
    return inbox


_NAMESPACES_CHECK: dict[str, bool] = {}
_UNSHARE_PROBE = "import ctypes, sys; sys.exit(ctypes.CDLL(None).unshare(0x4C020000) != 0)"  # NET|IPC|UTS|NS


def namespaces_work() -> bool:
    """True when we are root and the kernel lets us make namespaces (a container may not): then
    every exercise's child gets its own (``sandbox.namespaces``). Tried once, in a subprocess."""
    if "result" not in _NAMESPACES_CHECK:
        _NAMESPACES_CHECK["result"] = (
            os.geteuid() == 0
            and subprocess.run([sys.executable, "-c", _UNSHARE_PROBE], capture_output=True, timeout=20).returncode == 0
        )
    return _NAMESPACES_CHECK["result"]


def post(inbox: str, name: str, files: dict[str, str]) -> str:
    """Writes one submission's files into ``inbox/name``: readable by learner code, not writable
    (the learner uid owns none of it, and under bwrap the whole inbox is mounted read-only)."""
    folder = os.path.join(inbox, name)
    os.mkdir(folder, 0o755)
    for file_name, text in files.items():
        path = os.path.join(folder, file_name)
        with open(path, "w", encoding="utf-8", errors="surrogateescape") as f:  # the file's own bytes
            f.write(text)
        os.chmod(path, 0o444)
    os.chmod(folder, 0o555)
    return folder


def clear_inbox(inbox: str) -> None:
    for entry in os.listdir(inbox):
        path = os.path.join(inbox, entry)
        os.chmod(path, 0o755)
        shutil.rmtree(path, ignore_errors=True)


def start(sandbox: Sandbox, inbox: str) -> tuple[subprocess.Popen, str]:
    """The worker process, in its own session so that the scorer can kill it as a whole, and its
    scratch folder."""
    argv, env, scratch = command(sandbox, inbox)
    proc = subprocess.Popen(
        argv,
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=scratch if sandbox.kind == "process" else None,
        start_new_session=True,
    )
    return proc, scratch


def cleanup(sandbox: Sandbox, scratch: str) -> None:
    """Removes a plain-process worker's scratch folder (bwrap's vanishes by itself)."""
    if sandbox.kind == "process":
        shutil.rmtree(scratch, ignore_errors=True)
