"""The learner's warm grader: ``make grade`` asks a per-user grader kept warm between runs.

The ``grade`` verb, when ``AUTOGRADER_WARM=1`` (``make grade`` sets it) and it prints the learner's
table (no ``--json``, ``--full-details`` or ``--suite hidden``), connects to a unix socket in the
user's own runtime folder (``$XDG_RUNTIME_DIR/autograder`` or ``/tmp/autograder-UID``, 0700; or
``AUTOGRADER_RUNTIME_DIR``), sends its parsed command line and prints the exit status, stdout and
stderr it gets back. Nothing here imports torch on that side. When no warm grader answers, the verb
grades in its own process as before and then starts one, detached, for next time.

The warm grader (``python -m autograder warm-grader serve SETTINGS``) answers only processes of its
own uid (``SO_PEERCRED``), regrades every request from the files on disk (it keeps no result), stops
when this package's files, the interpreter or the course secret differ from the request's (the
client then grades itself), and stops by itself after ``IDLE_SECONDS`` without a request. One runs
per checkout, interpreter and set of grading options (a lock file).
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import hashlib
import io
import json
import os
import signal
import socket
import struct
import subprocess
import sys
from pathlib import Path
from typing import Any

from autograder.checks import secret as course
from autograder.scoring import private

ENABLE_VARIABLE = "AUTOGRADER_WARM"  # "1": the grade verb uses (and starts) a warm grader
DIR_VARIABLE = "AUTOGRADER_RUNTIME_DIR"
IDLE_VARIABLE = "AUTOGRADER_WARM_IDLE"  # seconds (tests); IDLE_SECONDS by default
IDLE_SECONDS = 600.0  # a warm grader stops after 10 minutes without a request
PACKAGE_DIR = Path(__file__).resolve().parents[1]
MAX_MESSAGE = 16 * 2**20
# the terminal's settings a table is rendered for, passed on with each request
TERMINAL_VARIABLES = ("COLUMNS", "LINES", "TERM", "COLORTERM", "NO_COLOR", "FORCE_COLOR")
SETTINGS = ("sandbox", "suite", "jobs", "check_timeout", "total_timeout")


# ----------------------------------------------------------------------------- shared by both sides
def runtime_folder(create: bool = False) -> Path | None:
    """The user's own folder for the socket: None unless it is a folder owned by us, 0700."""
    chosen = os.environ.get(DIR_VARIABLE)
    if chosen:
        where = Path(chosen)
    elif os.environ.get("XDG_RUNTIME_DIR"):
        where = Path(os.environ["XDG_RUNTIME_DIR"]) / "autograder"
    else:
        where = Path("/tmp") / f"autograder-{os.geteuid()}"
    return private.own_folder(where, create)


def stamp() -> str:
    """What a warm grader's answers depend on besides the submission: this package's files (names,
    sizes, times), the interpreter and the course secret. A grader with another stamp stops."""
    h = hashlib.sha256(sys.executable.encode())
    for path in sorted(PACKAGE_DIR.rglob("*")):
        if "__pycache__" in path.parts:
            continue
        try:
            info = path.stat()
        except OSError:
            continue
        h.update(f"{path.relative_to(PACKAGE_DIR)}\0{info.st_size}\0{info.st_mtime_ns}\0".encode())
    secret = course.course_secret()
    h.update(hashlib.sha256(secret).digest() if secret else b"none")
    return h.hexdigest()


def settings_of(args: argparse.Namespace) -> dict:
    """The grading options a warm grader is started with (one grader per set), and the environment
    the grade reads (the cache, the uids, the devices)."""
    chosen = {name: getattr(args, name) for name in SETTINGS}
    environment = {
        k: v
        for k, v in os.environ.items()
        if (k.startswith("AUTOGRADER_") and k not in (ENABLE_VARIABLE, IDLE_VARIABLE)) or k == "CUDA_VISIBLE_DEVICES"
    }
    return {**chosen, "environment": environment, "package": str(PACKAGE_DIR), "python": sys.executable}


def _name(settings: dict) -> str:
    return hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:24]


def _send(conn: socket.socket, message: dict) -> None:
    data = json.dumps(message).encode()
    conn.sendall(struct.pack("<I", len(data)) + data)


def _receive(conn: socket.socket) -> dict | None:
    head = _read(conn, 4)
    if head is None:
        return None
    (size,) = struct.unpack("<I", head)
    body = _read(conn, size) if size <= MAX_MESSAGE else None
    if body is None:
        return None
    try:
        message = json.loads(body)
    except (ValueError, RecursionError):
        return None
    return message if isinstance(message, dict) else None


def _read(conn: socket.socket, n: int) -> bytes | None:
    data = bytearray()
    while len(data) < n:
        chunk = conn.recv(n - len(data))
        if not chunk:
            return None
        data += chunk
    return bytes(data)


def _peer_uid(conn: socket.socket) -> int:
    _, uid, _ = struct.unpack("3i", conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i")))
    return uid


# ----------------------------------------------------------------------------- the grade verb's side
def eligible(args: argparse.Namespace) -> bool:
    """The learner's table: asked for (``AUTOGRADER_WARM=1``), no results.json, no hidden-only suite."""
    return (
        os.environ.get(ENABLE_VARIABLE) == "1"
        and not args.json
        and not args.full_details
        and args.suite != "hidden"
        and hasattr(socket, "AF_UNIX")
    )


def ask(args: argparse.Namespace) -> int | None:
    """The exit status of the grade a warm grader ran for ``args`` (its output printed here), or None
    when none answered (then the caller grades, and ``start`` starts one)."""
    folder = runtime_folder()
    if folder is None:
        return None
    path = folder / f"{_name(settings_of(args))}.sock"
    request: dict[str, Any] = {
        "args": {k: v for k, v in vars(args).items() if k != "func"},
        "cwd": os.getcwd(),
        "stamp": stamp(),
        "tty": [sys.stdout.isatty(), sys.stderr.isatty()],
        "terminal": {k: os.environ[k] for k in TERMINAL_VARIABLES if k in os.environ},
    }
    if request["tty"][0] and "COLUMNS" not in request["terminal"]:
        with contextlib.suppress(OSError):
            request["terminal"]["COLUMNS"] = str(os.get_terminal_size(sys.stdout.fileno()).columns)
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
        try:
            conn.connect(str(path))
            if _peer_uid(conn) != os.geteuid():
                return None
            _send(conn, request)
            answer = _receive(conn)
        except OSError:
            return None
    if answer is None or type(answer.get("rc")) is not int:
        return None
    sys.stderr.write(str(answer.get("stderr", "")))
    sys.stderr.flush()
    sys.stdout.write(str(answer.get("stdout", "")))
    sys.stdout.flush()
    return answer["rc"]


def start(args: argparse.Namespace) -> None:
    """Starts a warm grader for ``args``'s settings, detached (its own session, no terminal)."""
    if runtime_folder(create=True) is None:
        return
    settings = settings_of(args)
    with contextlib.suppress(OSError):
        subprocess.Popen(
            [sys.executable, "-m", "autograder", "warm-grader", "serve", json.dumps(settings)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
            close_fds=True,
        )


def stop() -> int:
    """Stops this user's warm graders at once (SIGTERM: a grade under way is cut short, its worker
    stopped); how many there were. A grader is alive while it holds its lock file."""
    folder = runtime_folder()
    stopped = 0
    for lock_path in sorted(folder.glob("*.lock")) if folder else []:
        with open(lock_path, "a") as lock:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                continue  # nobody holds it: no grader there
            except OSError:
                pass
        try:
            pid = int(lock_path.with_suffix(".pid").read_text())
            os.kill(pid, signal.SIGTERM)
            stopped += 1
        except (OSError, ValueError):
            continue
    return stopped


def _interrupt(signum, frame):
    raise KeyboardInterrupt


# ----------------------------------------------------------------------------- the warm grader
class _Captured(io.StringIO):
    """Stands for the client's stdout or stderr: a terminal when the client's is one."""

    def __init__(self, tty: bool):
        super().__init__()
        self.tty = tty

    def isatty(self) -> bool:
        return self.tty


def serve(settings: dict, run, suites: dict) -> int:
    """Binds the socket, warms a grader, answers requests until idle, stale or stopped. ``run``:
    the command line's ``cli.run``; ``suites``: its ``SUITES`` (passed in: cli imports this module)."""
    folder = runtime_folder(create=True)
    if folder is None:
        return 1
    name = _name(settings)
    lock = open(folder / f"{name}.lock", "a")  # noqa: SIM115 - held for the process's life
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return 0  # another one serves these settings
    signal.signal(signal.SIGTERM, _interrupt)  # `stop`: the grader's cleanups run (its worker stopped)
    (folder / f"{name}.pid").write_text(str(os.getpid()))
    path = folder / f"{name}.sock"
    path.unlink(missing_ok=True)  # a dead one's (we hold the lock)
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    old = os.umask(0o077)
    try:
        server.bind(str(path))
    finally:
        os.umask(old)
    server.listen(8)
    own = stamp()
    # imports torch: only in the warm grader, after its socket is bound (a client waits meanwhile)
    from autograder.scoring.grader import Grader
    from autograder.scoring.results import Limits

    limits = Limits(
        jobs=settings["jobs"], check_timeout=settings["check_timeout"], total_timeout=settings["total_timeout"]
    )
    idle = float(os.environ.get(IDLE_VARIABLE, IDLE_SECONDS))
    try:
        with Grader(settings["sandbox"], suites[settings["suite"]], limits, cache=True) as grader:
            grader.warm()
            server.settimeout(idle)
            while True:
                try:
                    conn, _ = server.accept()
                except TimeoutError:
                    break  # idle: stop
                with conn:
                    conn.settimeout(None)
                    if not _answer(conn, grader, own, run):
                        break
    except KeyboardInterrupt:  # stopped (SIGTERM)
        pass
    finally:
        path.unlink(missing_ok=True)
        server.close()
    return 0


def _answer(conn: socket.socket, grader, own: str, run) -> bool:
    """Answers one request; False when this grader should stop (stale, or asked to)."""
    try:
        if _peer_uid(conn) != os.geteuid():
            return True  # not our user's: no answer
        request = _receive(conn)
        if request is None:
            return True
        if request.get("stop"):
            _send(conn, {"stopped": True})
            return False
        if request.get("stamp") != own:
            _send(conn, {"stale": True})  # the client grades itself (and starts a fresh grader)
            return False
        _send(conn, _grade(request, grader, run))
    except OSError:  # the client went away (Ctrl-C): nothing to answer
        pass
    return True


def _grade(request: dict, grader, run) -> dict:
    args = argparse.Namespace(**request["args"])
    out_tty, err_tty = (bool(t) for t in request.get("tty", [False, False]))
    out, err = _Captured(out_tty), _Captured(err_tty)
    saved = {k: os.environ.get(k) for k in TERMINAL_VARIABLES}
    here = os.getcwd()
    try:
        os.chdir(request["cwd"])
        for k in TERMINAL_VARIABLES:
            os.environ.pop(k, None)
        os.environ.update({k: str(v) for k, v in request.get("terminal", {}).items() if k in TERMINAL_VARIABLES})
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            if any(s != "public" for s in grader.suites):
                course._told = False  # the one-off note goes with every answer, as with each fresh process
                course.tell_once_if_missing()
            rc = run(args, lambda: grader)
    finally:
        os.chdir(here)
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    return {"rc": rc, "stdout": out.getvalue(), "stderr": err.getvalue()}


def main(argv: list[str], run, suites: dict) -> int:
    """``python -m autograder warm-grader serve SETTINGS`` (what ``start`` runs) or ``… stop``."""
    if argv[:1] == ["serve"] and len(argv) == 2:
        return serve(json.loads(argv[1]), run, suites)
    if argv == ["stop"]:
        print(f"stopped {stop()} warm grader(s)")
        return 0
    print("usage: python -m autograder warm-grader stop", file=sys.stderr)
    return 2
