"""Starts the worker process: inside bubblewrap where it exists, else as a plain subprocess.

Under bwrap the learner's code sees the Python environment, the grader package without its
checks and its own submission (all read-only), a private scratch folder with a quota (/tmp empty and read-only, the
root file system read-only); no network; its own PID namespace, so every process it starts dies
with the worker. Nothing else of the machine (the instructor's repository, other submissions,
the scorer's output) is in its view. In both sandboxes learner code runs as an unprivileged uid
with no capabilities (see ``learner_uids``) when the grader runs as root, and then each exercise's
child has namespaces of its own and, in plain processes, a root built from the same allow-list
(``sandbox.namespaces``; the launcher passes it the folders in the policy's ``view_variable``).
Every wall is a field of ``protocol.policy.WORKER``: this module renders it.
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

from autograder.protocol import policy

PACKAGE_DIR = Path(__file__).resolve().parents[1]  # the autograder package
POLICY = policy.WORKER  # every wall of the worker's sandbox, declared in one place
SCRATCH = POLICY.chdir  # the worker's private, writable folder inside the sandbox
INBOX = POLICY.bound_at("inbox")  # the scorer's submissions, read-only
SCRATCH_BYTES = POLICY.scratch_bytes  # the scratch quota of one worker (a tmpfs under bwrap)


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


UID_FIRST, UID_SPAN = POLICY.learner_uids  # learner uids are drawn from here
MIN_UID_BASE = POLICY.min_uid_base  # well above accounts (system, users) and the usual subordinate-uid ranges


def learner_uids(count: int) -> list[int] | None:
    """Unprivileged uids for learner code, one per child running or kept, when the grader runs as
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
    host = Host.here(POLICY)
    python = [host.executable, *POLICY.python_flags, "-m", "autograder.sandbox.worker"]
    # the machine's numerics settings, and which GPU this grader was given (one Dask worker per GPU)
    env = dict(POLICY.env) | {name: os.environ[name] for name in POLICY.env_passed if name in os.environ}
    if sandbox.kind == "process":
        scratch = tempfile.mkdtemp(prefix="grade-scratch-")
        if os.geteuid() == 0 and not namespaces_work():
            os.chmod(scratch, POLICY.plain_scratch_mode)  # no mount of its own: see the policy's field
        env.update(HOME=scratch, TMPDIR=scratch, PYTHONPATH=str(PACKAGE_DIR.parent))
        # a root worker's child sees these (read-only), its submission and its scratch: nothing else
        env[POLICY.view_variable] = os.pathsep.join([*host.python_roots, str(PACKAGE_DIR)])
        return python + [scratch, inbox], env, scratch
    sources = {"package": str(PACKAGE_DIR), "inbox": inbox}
    argv = bwrap_argv(POLICY, host, root=os.geteuid() == 0, sources=sources, env=env | dict(POLICY.env_bwrap))
    return argv + python + [SCRATCH, INBOX], env, SCRATCH


@dataclass(frozen=True)
class Host:
    """What of this machine a bwrap view is built from (``here``); a test fixes one."""

    bwrap: str
    executable: str
    links: dict[str, str]  # the policy's system folders that are links, and their targets
    dirs: tuple[str, ...]  # those that are folders
    files: tuple[str, ...]  # the policy's system files that exist
    python_roots: tuple[str, ...]
    gpus: tuple[str, ...]  # /dev/nvidia*: CUDA devices, where the machine has them

    @classmethod
    def here(cls, wall: policy.Policy) -> Host:
        return cls(
            bwrap=shutil.which("bwrap") or "bwrap",
            executable=sys.executable,
            links={path: os.readlink(path) for path in wall.system_dirs if os.path.islink(path)},
            dirs=tuple(path for path in wall.system_dirs if not os.path.islink(path) and os.path.isdir(path)),
            files=tuple(path for path in wall.system_files if os.path.exists(path)),
            python_roots=tuple(_python_roots()),
            gpus=tuple(str(dev) for dev in sorted(Path("/dev").glob("nvidia*"))),
        )


def bwrap_argv(
    wall: policy.Policy, host: Host, *, root: bool, sources: dict[str, str], env: dict[str, str], **values: str
) -> list[str]:
    """The bubblewrap command line, up to its ``--``, rendered from ``wall`` on ``host``. As root no user
    namespace: learner code gets a real, unprivileged host uid (see ``learner_uids``); otherwise a user
    namespace without capabilities, in which no further one can be made. ``sources``: the folders the
    policy's binds name; ``values`` fill the ``{…}`` in ``env`` and ``chdir``."""
    argv = [host.bwrap, *(["--die-with-parent", "--new-session"] if wall.die_with_parent else []), "--clearenv"]
    if root:
        argv += [f"--unshare-{name}" for name in wall.unshare_as_root] + ["--cap-drop", "ALL"]
        for cap in wall.capabilities_as_root:
            argv += ["--cap-add", cap]
    else:
        argv += [f"--unshare-{name}" for name in wall.unshare_as_user]
        argv += ["--disable-userns"] if wall.disable_userns else []
    for key, value in env.items():
        argv += ["--setenv", key, value.format(**values)]
    return argv + _mounts(wall, host, sources) + ["--chdir", wall.chdir.format(**values), "--"]


def _mounts(wall: policy.Policy, host: Host, sources: dict[str, str]) -> list[str]:
    """The policy's file view as bwrap options, in its order."""
    argv: list[str] = []
    made = {"/"}

    def bind(source: str, dest: str, how: str = "--ro-bind") -> list[str]:
        """A bind, after making its missing parent folders traversable by the learner's uid (a
        privileged bwrap makes them 0700, which would hide a Python under /root from it)."""
        parents = []
        for parent in reversed(Path(dest).parents):
            if str(parent) not in made:
                made.add(str(parent))
                parents += ["--perms", "0755", "--dir", str(parent)]
        made.add(dest)
        return parents + [how, source, dest]

    for mount in wall.mounts:
        if mount.kind == "tmpfs":
            argv += ["--size", str(mount.size)] if mount.size else []
            argv += ["--perms", mount.perms, "--tmpfs", mount.dest]
            argv += ["--remount-ro", mount.dest] if mount.read_only else []
            made.add(mount.dest)
        elif mount.kind == "system":
            for path in wall.system_dirs:
                if path in host.links:
                    argv += ["--symlink", host.links[path], path]
                elif path in host.dirs:
                    argv += bind(path, path)
        elif mount.kind == "python":
            for root_dir in host.python_roots:
                argv += bind(root_dir, root_dir)
        elif mount.kind == "files-try":  # bwrap binds those that exist where it runs
            for path in wall.system_files:
                argv += ["--ro-bind-try", path, path]
        elif mount.kind == "files":
            for path in (path for path in wall.system_files if path in host.files):
                argv += bind(path, path)
        elif mount.kind in ("proc", "dev", "remount-ro"):
            argv += [f"--{mount.kind}", mount.dest]
        elif mount.kind == "gpus":
            for dev in host.gpus:
                argv += ["--dev-bind", dev, dev]
        elif mount.kind == "bind":
            argv += bind(sources[mount.source], mount.dest, "--ro-bind" if mount.read_only else "--bind")
        else:
            raise ValueError(f"unknown mount kind {mount.kind!r}")
    return argv


def new_inbox() -> str:
    """A folder of the scorer's, where it posts submissions for the worker (read-only there):
    0700, so that no other account reads them; a root worker's child sees its own submission only,
    through a mount of its own (``sandbox.namespaces``)."""
    inbox = tempfile.mkdtemp(prefix="grade-inbox-")  # mkdtemp makes it 0700
    if os.geteuid() == 0 and not namespaces_work():
        os.chmod(inbox, POLICY.plain_inbox_mode)  # no mount of its own: the learner uid must reach its files
    return inbox


_NAMESPACES_CHECK: dict[str, bool] = {}
# the namespaces each child unshares (the policy's child_namespaces)
_UNSHARE_PROBE = f"import ctypes, sys; sys.exit(ctypes.CDLL(None).unshare({POLICY.child_unshare_flags}) != 0)"


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
