"""Sets up the course on a shared machine, as root: the exchange, the instructor's course directory, the learners.

nbgrader's shared exchange, the instructor's course directory (from this repository's source/ and
release/) and each learner's nbgrader configuration.

Run it as root with the instructor's Python environment; it can be run again (to add learners, say)
and never touches submissions, grades or feedback::

    sudo .venv/bin/python deploy/setup_course.py --instructor teacher --learner ann --learner bea

What it does, step by step, is in deploy/README.md.
"""

from __future__ import annotations

import argparse
import grp
import json
import os
import pwd
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
COURSE_ID = "nn-by-hand"
EXCHANGE = Path("/srv/nbgrader/exchange")

# nbgrader's own modes for the course's folders in the exchange (nbgrader/exchange/default/release_assignment.py
# and release_feedback.py, groupshared off): learners list and read outbound/, write into inbound/ without
# listing it, and reach feedback/ only by a file name they can compute from their own submission's secret.
COURSE_FOLDERS = {"": 0o755, "outbound": 0o755, "inbound": 0o2733, "feedback": 0o711}

# What a learner's JupyterLab does not need: the instructor's tools (nbgrader's documented way is
# `jupyter labextension disable --level=user` and `jupyter server extension disable --user`).
LEARNER_LAB_OFF = ["@jupyter/nbgrader:formgrader", "@jupyter/nbgrader:create-assignment"]
LEARNER_SERVER_OFF = ["nbgrader.server_extensions.formgrader"]


class SetupError(Exception):
    pass


def groups(course_id: str) -> tuple[str, str]:
    """The Unix groups JupyterHub admits (deploy/jupyterhub_config.py): instructors, learners."""
    return f"{course_id}-instructors", f"{course_id}-learners"


def user_env(user: pwd.struct_passwd) -> dict:
    """A clean environment for a command run as ``user`` (runuser sets HOME, SHELL, USER and LOGNAME)."""
    return {
        "PATH": os.pathsep.join([str(Path(sys.executable).parent), "/usr/local/bin", "/usr/bin", "/bin"]),
        "LANG": os.environ.get("LANG", "C.UTF-8"),
        "MPLBACKEND": "Agg",
    }


def as_user(
    user: pwd.struct_passwd, args: list[str], cwd: Path | None = None, stdin: str | None = None
) -> subprocess.CompletedProcess:
    runuser = shutil.which("runuser") or "/usr/sbin/runuser"  # util-linux; /usr/sbin may not be on PATH
    return subprocess.run(
        [runuser, "-u", user.pw_name, "--", *args],
        cwd=cwd or user.pw_dir,
        input=stdin,
        env=user_env(user),
        capture_output=True,
        text=True,
    )


# Everything in an account's own folders (its home, its course folder in the exchange) is written by
# that account, never by root: a link planted there cannot turn the setup against another file.
AS_THE_USER = r"""
import json, os, shutil, sys
def merge(old, new):
    for key, value in new.items():
        if isinstance(value, dict) and isinstance(old.get(key), dict):
            merge(old[key], value)
        else:
            old[key] = value
for op in json.load(sys.stdin):
    path = op["path"]
    if op["op"] == "folder":
        os.makedirs(path, exist_ok=True)
        if os.stat(path).st_uid != os.getuid():
            sys.exit(f"{path} belongs to uid {os.stat(path).st_uid}: inspect it, remove it and run this again")
        os.chmod(path, op["mode"])
    elif op["op"] == "chmod":
        os.chmod(path, os.stat(path).st_mode & op["mask"])
    elif op["op"] == "write":
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as f:
            f.write(op["text"])
    elif op["op"] == "merge_json":
        os.makedirs(os.path.dirname(path), exist_ok=True)
        try:
            with open(path) as f:
                data = json.load(f)
        except (OSError, ValueError):
            data = {}
        merge(data, op["data"])
        with open(path, "w") as f:
            json.dump(data, f, indent=2)
    elif op["op"] == "copy":
        shutil.copytree(op["from"], path, dirs_exist_ok=True)
"""


def do_as(user: pwd.struct_passwd, ops: list[dict]) -> None:
    proc = as_user(user, [sys.executable, "-c", AS_THE_USER], cwd=Path("/"), stdin=json.dumps(ops))
    if proc.returncode != 0:
        raise SetupError(f"as {user.pw_name}: {(proc.stderr or proc.stdout).strip()[-1500:]}")


def check_environment(user: pwd.struct_passwd, python: str) -> None:
    """``user`` runs ``python``: it must be reachable and import nbgrader and the grader."""
    proc = as_user(user, [python, "-c", "import nbgrader, autograder"], cwd=Path("/"))
    if proc.returncode != 0:
        raise SetupError(
            f"{user.pw_name} cannot use this Python environment ({python}, interpreter "
            f"{os.path.realpath(python)}): {(proc.stderr or proc.stdout).strip()[-400:]}\n"
            "Install the course's environments where their accounts can read them (deploy/README.md, step 1)."
        )


# What learners must never read: the reference solutions, the notebooks' sources (solutions, model
# answers, hidden test lines) and the hidden checks.
INSTRUCTOR_ONLY = ("solutions", "source", "autograder/checks/hidden")


def exposed_to(user: pwd.struct_passwd, python: str) -> list[str]:
    """The instructor-only folders of this repository that ``user`` can read (list or open a file in)."""
    probe = (
        "import os, sys\n"
        "for d in sys.argv[1:]:\n"
        "    for folder, _, files in os.walk(d):  # a folder it cannot list yields nothing\n"
        "        try:\n"
        "            files and open(os.path.join(folder, files[0]), 'rb').close()\n"
        "        except OSError:\n"
        "            break\n"
        "        if files:\n"
        "            print(d)\n"
        "            break\n"
    )
    folders = [str(REPO / d) for d in INSTRUCTOR_ONLY if (REPO / d).is_dir()]
    proc = as_user(user, [python, "-c", probe, *folders], cwd=Path("/"))
    return proc.stdout.split()


def ensure_group(name: str, members: list[str]) -> None:
    try:
        grp.getgrnam(name)
    except KeyError:
        subprocess.run(["groupadd", name], check=True)
    for member in members:
        if member not in grp.getgrnam(name).gr_mem:
            subprocess.run(["gpasswd", "--add", member, name], check=True, capture_output=True)


def ensure_exchange(exchange: Path, course_id: str, instructor: pwd.struct_passwd) -> None:
    """The exchange root: 1777, root's (nbgrader wants 777; the sticky bit keeps anyone but its owner
    from removing or renaming a course folder). The instructor makes the course's folders now, so that
    no learner can create them first and hand out assignments of their own."""
    exchange.mkdir(parents=True, exist_ok=True)
    os.chown(exchange, 0, 0)
    exchange.chmod(0o1777)
    do_as(
        instructor,
        [
            {"op": "folder", "path": str(exchange / course_id / sub), "mode": mode}
            for sub, mode in COURSE_FOLDERS.items()
        ],
    )


def instructor_config(course_dir: Path, course_id: str, exchange: Path) -> str:
    return f'''"""nbgrader's configuration for the course {course_id} (written by deploy/setup_course.py).

The repository's settings (deploy/course_nbgrader_config.py loads its nbgrader_config.py) with this
course's directory, gradebook and shared exchange.
"""
c = get_config()  # noqa: F821
load_subconfig({str(REPO / "deploy" / "course_nbgrader_config.py")!r})  # noqa: F821
c.CourseDirectory.root = {str(course_dir)!r}
c.CourseDirectory.course_id = {course_id!r}
c.CourseDirectory.db_url = {"sqlite:///" + str(course_dir / "gradebook.db")!r}
c.Exchange.root = {str(exchange)!r}
'''


def learner_config(course_id: str, exchange: Path) -> str:
    return f'''"""nbgrader's configuration for a learner of {course_id} (written by deploy/setup_course.py)."""
c = get_config()  # noqa: F821
c.CourseDirectory.course_id = {course_id!r}
c.Exchange.root = {str(exchange)!r}
'''


def set_up_instructor(
    user: pwd.struct_passwd, course_dir: Path, course_id: str, exchange: Path, generate: bool, log
) -> None:
    do_as(
        user,
        [
            # the sources hold the solutions; the gradebook will hold every learner's grades
            {"op": "folder", "path": str(course_dir), "mode": 0o700},
            {"op": "copy", "from": str(REPO / "source"), "path": str(course_dir / "source")},
            {"op": "copy", "from": str(REPO / "release"), "path": str(course_dir / "release")},
            {
                "op": "write",
                "path": str(course_dir / "nbgrader_config.py"),
                "text": instructor_config(course_dir, course_id, exchange),
            },
            # One class, one grader (nbgrader's "Using nbgrader with JupyterHub"): the instructor's own
            # configuration names the course, so the formgrader finds it wherever their server starts.
            {
                "op": "write",
                "path": str(Path(user.pw_dir) / ".jupyter" / "nbgrader_config.py"),
                "text": "c = get_config()  # noqa: F821\n"
                f"load_subconfig({str(course_dir / 'nbgrader_config.py')!r})  # noqa: F821\n",
            },
        ],
    )
    if generate:
        # generate_assignment records every assignment's cells in the gradebook (autograde needs
        # them); it rewrites release/ exactly as the repository has it (a test of the repository).
        proc = as_user(user, [sys.executable, "-m", "nbgrader", "generate_assignment", "*", "--force"], course_dir)
        if proc.returncode != 0:
            raise SetupError(
                f"nbgrader generate_assignment failed as {user.pw_name}:\n{proc.stdout[-2000:]}{proc.stderr[-2000:]}"
            )
        if "WARNING" in proc.stdout + proc.stderr:
            log(proc.stdout + proc.stderr)
    names = sorted(p.name for p in (REPO / "source").iterdir() if p.is_dir())
    log(
        f"instructor {user.pw_name}: {course_dir} with {len(names)} assignments"
        + (" in its gradebook" if generate else "")
    )


def set_up_learner(user: pwd.struct_passwd, course_id: str, exchange: Path, log) -> None:
    home, jupyter = Path(user.pw_dir), Path(user.pw_dir) / ".jupyter"
    do_as(
        user,
        [
            {"op": "chmod", "path": str(home), "mask": 0o7700},  # fetched notebooks and nbgrader's cache live here
            {"op": "write", "path": str(jupyter / "nbgrader_config.py"), "text": learner_config(course_id, exchange)},
            {
                "op": "merge_json",
                "path": str(jupyter / "labconfig" / "page_config.json"),
                "data": {"disabledExtensions": {name: True for name in LEARNER_LAB_OFF}},
            },
            {
                "op": "merge_json",
                "path": str(jupyter / "jupyter_server_config.json"),
                "data": {"ServerApp": {"jpserver_extensions": {name: False for name in LEARNER_SERVER_OFF}}},
            },
        ],
    )
    log(f"learner {user.pw_name}: {jupyter / 'nbgrader_config.py'}; {home} is private (0700)")


def account(name: str) -> pwd.struct_passwd:
    try:
        return pwd.getpwnam(name)
    except KeyError:
        raise SetupError(f"no account {name!r}: create it first (deploy/README.md, step 2)") from None


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="deploy/setup_course.py", description=__doc__.splitlines()[0])
    parser.add_argument("--instructor", required=True, help="the instructor's Unix account (it must exist)")
    parser.add_argument("--learner", action="append", default=[], help="a learner's Unix account (repeatable)")
    parser.add_argument("--course-id", default=COURSE_ID, help=f"nbgrader's course id (default {COURSE_ID})")
    parser.add_argument("--exchange", type=Path, default=EXCHANGE, help=f"the shared exchange (default {EXCHANGE})")
    parser.add_argument(
        "--course-dir",
        type=Path,
        help="the instructor's course directory, made by them (default ~INSTRUCTOR/COURSE_ID)",
    )
    parser.add_argument(
        "--learner-python",
        default=sys.executable,
        help="the learners' environment's python, if not this one (deploy/README.md, step 1)",
    )
    parser.add_argument(
        "--no-generate", action="store_true", help="do not run nbgrader generate_assignment as the instructor"
    )
    args = parser.parse_args(argv)

    def log(text):
        print(text, flush=True)

    try:
        if os.geteuid() != 0:
            raise SetupError("run this as root (it creates the exchange and writes into the accounts' homes)")
        instructor = account(args.instructor)
        learners = [account(name) for name in args.learner]
        if instructor.pw_name in args.learner:
            raise SetupError("the instructor cannot also be a learner")
        check_environment(instructor, sys.executable)
        for learner in learners:
            check_environment(learner, args.learner_python)
        exchange = args.exchange.resolve()
        course_dir = (args.course_dir or Path(instructor.pw_dir) / args.course_id).resolve()
        instructors, learner_group = groups(args.course_id)
        ensure_group(instructors, [instructor.pw_name])
        ensure_group(learner_group, [u.pw_name for u in learners])
        ensure_exchange(exchange, args.course_id, instructor)
        log(f"exchange {exchange} (1777), course folder {exchange / args.course_id} owned by {instructor.pw_name}")
        set_up_instructor(instructor, course_dir, args.course_id, exchange, not args.no_generate, log)
        for learner in learners:
            set_up_learner(learner, args.course_id, exchange, log)
        exposed = exposed_to(learners[0], args.learner_python) if learners else []
        if exposed:
            log(
                f"NOTICE: learner {learners[0].pw_name} can read {', '.join(exposed)}: this environment is the "
                "instructor's; give learners one without the answers (deploy/README.md, step 1)"
            )
        log(f"JupyterHub admits the groups {instructors} and {learner_group} (deploy/jupyterhub_config.py)")
    except SetupError as exc:
        print(f"setup_course: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
