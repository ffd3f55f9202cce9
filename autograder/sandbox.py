"""Starts the worker process: inside bubblewrap where it exists, else as a plain subprocess.

Under bwrap the learner's code sees the Python environment and the grader package (read-only)
and a private scratch folder, where the worker writes the submission's files it is sent (/tmp is
empty and read-only); no network; its
own PID namespace, so every process it starts dies with the worker. Nothing else of the
machine (the instructor's repository, other submissions, the scorer's output) is in its view.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
SANDBOX_GRADER = "/grader"
SCRATCH = "/scratch"  # the worker's private, writable folder inside the sandbox


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
        return Sandbox("process", f"plain process sandbox ({problem}): learner code can read your files")
    return Sandbox("process", "plain process sandbox (requested): learner code can read your files")


_BWRAP_CHECK: dict[str, str | None] = {}


def _bwrap_problem() -> str | None:
    if "result" in _BWRAP_CHECK:
        return _BWRAP_CHECK["result"]
    exe = shutil.which("bwrap")
    if exe is None:
        result = "bwrap is not installed"
    else:
        probe = subprocess.run([exe, "--ro-bind", "/", "/", "--unshare-all", "--die-with-parent", "true"],
                               capture_output=True, text=True, timeout=20)
        result = None if probe.returncode == 0 else f"bwrap fails here: {probe.stderr.strip()[:120]}"
    _BWRAP_CHECK["result"] = result
    return result


def _python_roots() -> list[str]:
    roots = {os.path.realpath(sys.prefix), os.path.realpath(sys.base_prefix), os.path.realpath(sys.exec_prefix)}
    exe = os.path.realpath(sys.executable)
    if not any(exe.startswith(r + os.sep) for r in roots):
        roots.add(os.path.dirname(exe))
    return sorted(roots)


def command(sandbox: Sandbox) -> tuple[list[str], dict, str]:
    """argv, env and the worker's scratch folder (submissions are sent to it, never mounted)."""
    python = [sys.executable, "-B", "-m", "autograder.worker"]
    env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "PYTHONHASHSEED": "0", "OMP_NUM_THREADS": "1",
           "MKL_NUM_THREADS": "1", "PYTHONDONTWRITEBYTECODE": "1", "LC_ALL": "C.UTF-8"}
    for name in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE"):  # keep the machine's numerics settings
        if name in os.environ:
            env[name] = os.environ[name]
    if sandbox.kind == "process":
        scratch = tempfile.mkdtemp(prefix="grade-scratch-")
        env.update(HOME=scratch, TMPDIR=scratch, PYTHONPATH=str(PACKAGE_DIR.parent))
        return python + [scratch], env, scratch
    argv = [shutil.which("bwrap"), "--unshare-all", "--die-with-parent", "--new-session", "--clearenv"]
    for key, value in {**env, "HOME": SCRATCH, "TMPDIR": SCRATCH, "PYTHONPATH": SANDBOX_GRADER}.items():
        argv += ["--setenv", key, value]
    # private, empty /tmp first: the binds below may live under /tmp (a clone in /tmp, say)
    argv += ["--tmpfs", "/tmp"]
    for top in ("usr", "bin", "lib", "lib64", "sbin"):
        path = f"/{top}"
        if os.path.islink(path):
            argv += ["--symlink", os.readlink(path), path]
        elif os.path.isdir(path):
            argv += ["--ro-bind", path, path]
    for root in _python_roots():
        argv += ["--ro-bind", root, root]
    for etc in ("/etc/ld.so.cache", "/etc/localtime", "/etc/nsswitch.conf"):
        argv += ["--ro-bind-try", etc, etc]
    argv += ["--proc", "/proc", "--dev", "/dev"]
    for dev in sorted(Path("/dev").glob("nvidia*")):  # CUDA devices, where the machine has them
        argv += ["--dev-bind", str(dev), str(dev)]
    argv += ["--ro-bind", str(PACKAGE_DIR), f"{SANDBOX_GRADER}/autograder",
             "--tmpfs", SCRATCH, "--remount-ro", "/tmp", "--chdir", SCRATCH, "--"]
    return argv + python + [SCRATCH], env, SCRATCH


def start(sandbox: Sandbox) -> subprocess.Popen:
    """The worker process, in its own session so that the scorer can kill it as a whole."""
    argv, env, scratch = command(sandbox)
    return subprocess.Popen(argv, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            cwd=scratch if sandbox.kind == "process" else None, start_new_session=True)


def cleanup(sandbox: Sandbox, proc: subprocess.Popen) -> None:
    """Removes a plain-process worker's scratch folder (bwrap's vanishes by itself)."""
    if sandbox.kind == "process":
        import shutil
        shutil.rmtree(proc.args[-1], ignore_errors=True)
