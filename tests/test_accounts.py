"""The course with real Unix accounts: deploy/setup_course.py, then the nbgrader cycle across an
instructor and three learners, each command run as its own user, and what the exchange lets them see.

Needs root (it creates throwaway accounts, named with a random prefix, and removes them after).
Where this interpreter lives under a folder other accounts cannot enter (here: a Python installed
under /root, mode 0700), every command runs in a private mount namespace (bubblewrap) that shows
the interpreter's installation and nothing else of that folder; the accounts, the exchange, the
homes and the permissions are the machine's own. A real course installs its environment where
every account can read it (deploy/README.md), which the setup checks.
"""

from __future__ import annotations

import hashlib
import json
import os
import pwd
import re
import secrets
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from conftest import ROOT

pytestmark = [
    pytest.mark.slow,
    pytest.mark.timeout(1500),  # four learners through the whole cycle, each command as its own account
    pytest.mark.skipif(os.geteuid() != 0, reason="creates Unix accounts: run as root (CI does)"),
]

SETUP = ROOT / "deploy" / "setup_course.py"
ASSIGNMENT, NOTEBOOK = "03_normalization", "normalization.ipynb"
ANSWERS = ("answer-normalization-channel_stats", "answer-normalization-normalize")  # 2 + 1 points
SOLVED, PARTLY, UNTOUCHED = "ann", "bea", "cal"  # the three learners (after the random prefix)
HOSTILE = "eve"  # right answers, and a cell that attacks the other accounts while the instructor autogrades it
WARNING = re.compile(r"^.*\bWARNING\b.*$", re.MULTILINE)  # nbgrader logs "[CollectApp | WARNING] ..."


# --- running things as another account ------------------------------------------------------------


def _unreachable_ancestor(path: Path) -> Path | None:
    """The highest folder above ``path`` that other accounts cannot enter, if any."""
    for folder in reversed(path.parents):
        if folder != Path("/") and not stat.S_IMODE(folder.stat().st_mode) & stat.S_IXOTH:
            return folder
    return None


def reach_prefix() -> list[str]:
    """A command prefix that lets every account run this interpreter (empty when it already can)."""
    needed = sorted({Path(os.path.realpath(sys.base_prefix)), Path(os.path.realpath(sys.prefix)), ROOT})
    args = []
    for path in needed:
        hidden = _unreachable_ancestor(path)
        if hidden is None:
            continue
        if not args:
            args = ["bwrap", "--dev-bind", "/", "/"]
        if f"{hidden}" not in args:
            args += ["--perms", "0755", "--tmpfs", str(hidden)]
        for folder in reversed(path.parents):
            if hidden in folder.parents:
                args += ["--perms", "0755", "--dir", str(folder)]
        args += ["--ro-bind", str(path), str(path)]
    return args + ["--"] if args else []


def clean_env(**extra) -> dict:
    return {
        "PATH": os.pathsep.join(
            [str(Path(sys.executable).parent), "/usr/local/bin", "/usr/bin", "/bin", "/usr/sbin", "/sbin"]
        ),
        "LANG": "C.UTF-8",
        "MPLBACKEND": "Agg",
        **extra,
    }


def run(args, cwd=None, user: str | None = None, check=True, timeout=600, **env) -> subprocess.CompletedProcess:
    """Runs ``args`` as root, or as ``user`` through runuser (a clean environment, their HOME)."""
    prefix = reach_prefix() + (["runuser", "-u", user, "--"] if user else [])
    proc = subprocess.run(
        prefix + [str(a) for a in args],
        cwd=cwd or (pwd.getpwnam(user).pw_dir if user else None),
        env=clean_env(**env),
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if check and proc.returncode != 0:
        raise AssertionError(
            f"{' '.join(map(str, args))} (as {user or 'root'}) failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
        )
    return proc


def nbgrader(user: str, *args, cwd=None, check=True) -> subprocess.CompletedProcess:
    return run([sys.executable, "-m", "nbgrader", *args], cwd=cwd, user=user, check=check)


def python_as(user: str, code: str, check=False) -> subprocess.CompletedProcess:
    return run([sys.executable, "-c", code], user=user, check=check)


# --- throwaway accounts ---------------------------------------------------------------------------


class Accounts:
    """Unix accounts and groups made for one test, with homes under ``base``; ``remove`` undoes it all."""

    def __init__(self, base: Path):
        self.prefix = "nbt" + secrets.token_hex(3)
        self.base = base
        self.users: list[str] = []
        self.groups: list[str] = []

    def name(self, short: str) -> str:
        return f"{self.prefix}-{short}"

    def add(self, short: str) -> str:
        name = self.name(short)
        self.users.append(name)  # before useradd: a half-made account is still removed
        subprocess.run(
            [
                "useradd",
                "--create-home",
                "--base-dir",
                str(self.base / "home"),
                "--user-group",
                "--shell",
                "/bin/bash",
                name,
            ],
            check=True,
            capture_output=True,
        )
        return name

    def home(self, name: str) -> Path:
        return Path(pwd.getpwnam(name).pw_dir)

    def uid(self, name: str) -> int:
        return pwd.getpwnam(name).pw_uid

    def kill_processes(self) -> None:
        uids = set()
        for name in self.users:
            try:
                uids.add(self.uid(name))
            except KeyError:
                pass
        for _ in range(50):
            alive = [int(p) for p in os.listdir("/proc") if p.isdigit() and _owner(p) in uids]
            if not alive:
                return
            for pid in alive:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            time.sleep(0.1)

    def remove(self) -> None:
        self.kill_processes()
        for name in self.users:
            subprocess.run(["userdel", "--remove", name], capture_output=True)
        for group in self.groups:
            subprocess.run(["groupdel", group], capture_output=True)
        shutil.rmtree(self.base, ignore_errors=True)


def _owner(pid: str) -> int | None:
    try:
        return os.stat(f"/proc/{pid}").st_uid
    except OSError:
        return None


@pytest.fixture(scope="module")
def accounts():
    base = Path(tempfile.mkdtemp(prefix="nbgrader-accounts-"))  # not under pytest's 0700 tmp folder
    base.chmod(0o755)
    (base / "home").mkdir(mode=0o755)
    made = Accounts(base)
    try:
        yield made
    finally:
        made.remove()


def set_up_course(accounts: Accounts, learners: list[str], generate: bool = True) -> dict:
    """Creates the instructor and ``learners``, runs deploy/setup_course.py twice; returns the paths.
    Without ``generate`` the gradebook stays empty (enough to release and fetch, not to autograde)."""
    instructor = accounts.add("teach")
    names = [accounts.add(short) for short in learners]
    course_id = f"{accounts.prefix}-course"
    accounts.groups += [f"{course_id}-instructors", f"{course_id}-learners"]
    exchange = accounts.base / "srv" / "nbgrader" / "exchange"
    args = [sys.executable, SETUP, "--instructor", instructor, "--course-id", course_id, "--exchange", exchange]
    for name in names:
        args += ["--learner", name]
    first = run(args + ([] if generate else ["--no-generate"]), cwd=ROOT)
    # idempotent: a second run changes nothing and still succeeds (nbgrader's generate_assignment,
    # which the first run did, is left out of it: it takes a while and is nbgrader's own --force)
    again = run(args + ["--no-generate"], cwd=ROOT)
    return dict(
        instructor=instructor,
        learners=dict(zip(learners, names)),
        course_id=course_id,
        exchange=exchange,
        course_dir=accounts.home(instructor) / course_id,
        setup=(first, again),
    )


def hostile_cell(course: dict, accounts: Accounts) -> str:
    """A cell that, run by nbgrader's autograde, tries to read and change the instructor's and the other
    learners' files (it knows the layout: our source is public); prints each attempt's outcome as JSON."""
    ann_home, course_dir = accounts.home(course["learners"][SOLVED]), course["course_dir"]
    ann_submitted = course_dir / "submitted" / course["learners"][SOLVED] / ASSIGNMENT / NOTEBOOK
    reads = {
        "the gradebook": course_dir / "gradebook.db",
        "the source notebook": course_dir / "source" / ASSIGNMENT / NOTEBOOK,
        "another learner's working copy": ann_home / ASSIGNMENT / NOTEBOOK,
        "another learner's submission": ann_submitted,
        "the instructor's home": accounts.home(course["instructor"]),
    }
    writes = {
        "another learner's home": ann_home / "pwned.txt",
        "another learner's submission": ann_submitted,
        "the course directory": course_dir / "pwned.txt",
    }
    return f"""
import json, os
tried = {{}}
for name, path in {json.dumps({k: str(v) for k, v in reads.items()})}.items():
    try:
        tried["read " + name] = "DONE " + repr(os.listdir(path) if os.path.isdir(path) else open(path, "rb").read(40))
    except OSError as exc:
        tried["read " + name] = "refused " + type(exc).__name__
for name, path in {json.dumps({k: str(v) for k, v in writes.items()})}.items():
    try:
        open(path, "a").write("pwned")
        tried["write " + name] = "DONE"
    except OSError as exc:
        tried["write " + name] = "refused " + type(exc).__name__
print("WALL-REPORT " + json.dumps(tried))
"""


def add_cells(path: Path, *cells: dict) -> None:
    """Adds ``cells`` after the notebook's first code cell (its imports), keeping the file's owner."""
    notebook = json.loads(path.read_text())
    at = next(i for i, c in enumerate(notebook["cells"]) if c["cell_type"] == "code") + 1
    notebook["cells"][at:at] = list(cells)
    stat_before = path.stat()
    path.write_text(json.dumps(notebook, indent=1))
    os.chown(path, stat_before.st_uid, stat_before.st_gid)


def solve(path: Path, grade_ids) -> None:
    """Writes the reference solution (from source/) into these answer cells of the learner's notebook."""
    if not grade_ids:
        return  # the learner hands in the notebook as fetched
    source = json.loads((ROOT / "source" / ASSIGNMENT / NOTEBOOK).read_text())
    answers = {
        c["metadata"]["nbgrader"]["grade_id"]: c["source"]
        for c in source["cells"]
        if c["metadata"].get("nbgrader", {}).get("solution")
    }
    notebook = json.loads(path.read_text())
    for cell in notebook["cells"]:
        if cell["metadata"].get("nbgrader", {}).get("grade_id") in grade_ids:
            cell["source"] = answers[cell["metadata"]["nbgrader"]["grade_id"]]
    stat_before = path.stat()
    path.write_text(json.dumps(notebook, indent=1))
    os.chown(path, stat_before.st_uid, stat_before.st_gid)


# --- the whole cycle --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def cycle(accounts):
    course = set_up_course(accounts, [SOLVED, PARTLY, UNTOUCHED, HOSTILE])
    teacher, learners, course_dir = course["instructor"], course["learners"], course["course_dir"]
    inbound = course["exchange"] / course["course_id"] / "inbound"
    out = {"instructor": []}  # everything the instructor's commands printed

    def teach(*args):
        proc = run(args, cwd=course_dir, user=teacher)
        out["instructor"].append(proc.stdout + proc.stderr)
        return proc

    teach(sys.executable, "-m", "nbgrader", "release_assignment", ASSIGNMENT, "--force")

    def learner_works(short, name):
        nbgrader(name, "fetch_assignment", ASSIGNMENT)
        path = accounts.home(name) / ASSIGNMENT / NOTEBOOK
        solve(path, {SOLVED: ANSWERS, PARTLY: ANSWERS[:1], HOSTILE: ANSWERS}.get(short, ()))
        if short == HOSTILE:
            markdown = '<img src=x onerror="window.pwned=1"><script>window.pwned=2</script>'
            html = "from IPython.display import HTML\nHTML('<b onclick=window.pwned=3>bold</b><script>x=1</script>')"
            add_cells(
                path,
                {
                    "cell_type": "code",
                    "metadata": {},
                    "outputs": [],
                    "execution_count": None,
                    "source": hostile_cell(course, accounts),
                },
                {"cell_type": "markdown", "metadata": {}, "source": markdown},
                {"cell_type": "code", "metadata": {}, "outputs": [], "execution_count": None, "source": html},
            )
        nbgrader(name, "submit", ASSIGNMENT)

    with ThreadPoolExecutor(len(learners)) as pool:  # the learners work at the same time
        list(pool.map(learner_works, learners, learners.values()))
    submitted_as = {
        short: {p.name: p.stat().st_uid for p in inbound.iterdir() if p.name.startswith(name + "+")}
        for short, name in learners.items()
    }
    submissions = {p.name.split("+")[0]: p for p in inbound.iterdir()}
    # what each learner can do with the others' work, while it sits in the exchange
    probes = {
        short: {
            other: _probe(name, accounts, learners[other], submissions[learners[other]], inbound)
            for other in learners
            if other != short
        }
        for short, name in learners.items()
    }

    teach(sys.executable, "-m", "nbgrader", "collect", ASSIGNMENT)
    others = [accounts.home(n) for s, n in learners.items() if s != HOSTILE] + [course_dir / "submitted"]
    before = {str(p): _checksums(p) for p in others}
    autograde = teach(
        sys.executable,
        "-m",
        "autograder.nbcourse.nbcycle",
        "autograde",
        "--root",
        course_dir,
        "--assignment",
        ASSIGNMENT,
    )
    changed = [p for p in before if _checksums(Path(p)) != before[p]]
    teach(sys.executable, "-m", "nbgrader", "generate_feedback", ASSIGNMENT, "--force")
    teach(sys.executable, "-m", "nbgrader", "release_feedback", ASSIGNMENT)
    feedback_dir = course["exchange"] / course["course_id"] / "feedback"

    def learner_reads_feedback(name):
        fetched = nbgrader(name, "fetch_feedback", ASSIGNMENT)
        return dict(
            log=fetched.stdout + fetched.stderr,
            files=sorted((accounts.home(name) / ASSIGNMENT / "feedback").rglob("*.html")),
            listing=python_as(name, f"import os; os.listdir({str(feedback_dir)!r})"),
        )

    with ThreadPoolExecutor(len(learners)) as pool:
        feedback = dict(zip(learners, pool.map(learner_reads_feedback, learners.values())))
    report = json.loads((course_dir / "autograde-report.json").read_text())
    return dict(
        course,
        accounts=accounts,
        submitted_as=submitted_as,
        submissions=submissions,
        probes=probes,
        autograde=autograde,
        report={r["student"]: r for r in report["rows"]},
        feedback=feedback,
        out=out,
        inbound=inbound,
        changed_by_autograde=changed,
    )


def _checksums(folder: Path) -> dict[str, str]:
    return {str(p): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.rglob("*")) if p.is_file()}


def _probe(name: str, accounts: Accounts, victim: str, submission: Path, inbound: Path) -> dict:
    """What learner ``name`` gets when trying to see ``victim``'s work."""
    home = accounts.home(victim)
    return dict(
        list_inbound=python_as(name, f"import os; print(os.listdir({str(inbound)!r}))"),
        glob_inbound=python_as(name, f"import glob; print(glob.glob({str(inbound / (victim + '+*'))!r}))"),
        read_home_copy=python_as(name, f"print(open({str(home / ASSIGNMENT / NOTEBOOK)!r}).read()[:10])"),
        list_cache=python_as(name, f"import os; os.listdir({str(home / '.local/share/jupyter/nbgrader_cache')!r})"),
        read_by_exact_name=python_as(name, f"print(len(open({str(submission / NOTEBOOK)!r}).read()))"),
    )


def _denied(proc: subprocess.CompletedProcess) -> bool:
    return proc.returncode != 0 and "PermissionError" in proc.stderr


def test_setup_makes_the_documented_exchange_layout(cycle):
    exchange, course = cycle["exchange"], cycle["exchange"] / cycle["course_id"]
    teacher = cycle["accounts"].uid(cycle["instructor"])
    assert stat.S_IMODE(exchange.stat().st_mode) == 0o1777 and exchange.stat().st_uid == 0
    modes = {sub: stat.S_IMODE((course / sub).stat().st_mode) for sub in ("", "outbound", "inbound", "feedback")}
    assert modes == {"": 0o755, "outbound": 0o755, "inbound": 0o2733, "feedback": 0o711}
    assert all((course / sub).stat().st_uid == teacher for sub in modes)


def test_setup_runs_twice_without_error_and_writes_each_learners_configuration(cycle):
    first, again = cycle["setup"]
    assert "setup_course:" not in first.stderr + again.stderr
    for name in cycle["learners"].values():
        home = cycle["accounts"].home(name)
        config = (home / ".jupyter" / "nbgrader_config.py").read_text()
        assert repr(cycle["course_id"]) in config and repr(str(cycle["exchange"])) in config
        assert (home / ".jupyter" / "nbgrader_config.py").stat().st_uid == cycle["accounts"].uid(name)
        assert stat.S_IMODE(home.stat().st_mode) == 0o700


def test_setup_gives_the_instructor_a_private_course_directory_with_the_repositorys_release(cycle):
    course_dir = cycle["course_dir"]
    assert stat.S_IMODE(course_dir.stat().st_mode) == 0o700
    assert course_dir.stat().st_uid == cycle["accounts"].uid(cycle["instructor"])
    for notebook in (ROOT / "release").rglob("*.ipynb"):
        assert (course_dir / notebook.relative_to(ROOT)).read_bytes() == notebook.read_bytes(), notebook


def test_each_learner_submits_as_themself(cycle):
    for short, name in cycle["learners"].items():
        owners = cycle["submitted_as"][short]
        assert len(owners) == 1 and set(owners.values()) == {cycle["accounts"].uid(name)}, owners


def test_a_learner_cannot_list_the_inbound_nor_find_anothers_submission(cycle):
    for short, probes in cycle["probes"].items():
        for other, probe in probes.items():
            assert _denied(probe["list_inbound"]), (short, other, probe["list_inbound"].stdout)
            assert probe["glob_inbound"].stdout.strip() == "[]", (short, other)  # a wildcard needs a listing


def test_a_learner_cannot_read_anothers_working_copy_or_nbgrader_cache(cycle):
    for short, probes in cycle["probes"].items():
        for other, probe in probes.items():
            assert _denied(probe["read_home_copy"]), (short, other)
            assert _denied(probe["list_cache"]), (short, other)


def test_a_submission_is_hidden_by_its_random_name_only(cycle):
    """nbgrader makes each submission folder 0777 and its files 0644: what hides it is its name,
    which ends in 12 random characters (72 bits) and cannot be listed. This is the limit stated in
    deploy/README.md; the test fails, and the README must change, if nbgrader's modes change."""
    for name, folder in cycle["submissions"].items():
        assert re.fullmatch(re.escape(name) + r"\+" + ASSIGNMENT + r"\+[^+]+\+[A-Za-z0-9_-]{12}", folder.name)
        assert stat.S_IMODE(folder.stat().st_mode) == 0o777
    probe = cycle["probes"][PARTLY][SOLVED]
    assert probe["read_by_exact_name"].returncode == 0 and int(probe["read_by_exact_name"].stdout) > 1000


def test_the_instructor_collects_every_learners_submission(cycle):
    submitted = cycle["course_dir"] / "submitted"
    assert sorted(p.name for p in submitted.iterdir()) == sorted(cycle["learners"].values())
    assert all((submitted / name / ASSIGNMENT / NOTEBOOK).is_file() for name in cycle["learners"].values())


def test_autograde_gives_each_learner_their_own_score_and_agrees_with_the_sandbox(cycle):
    report, learners = cycle["report"], cycle["learners"]
    scores = {
        short: (report[name]["nbgrader_score"], report[name]["sandbox_score"]) for short, name in learners.items()
    }
    assert scores == {SOLVED: (3.0, 3.0), PARTLY: (2.0, 2.0), UNTOUCHED: (0.0, 0.0), HOSTILE: (3.0, 3.0)}
    assert all(report[name]["disagreements"] == [] for name in learners.values())


def test_the_instructors_commands_print_no_warning(cycle):
    text = "\n".join(cycle["out"]["instructor"])
    assert "Released as:" in text and "Collecting submission" in text and "Feedback released" in text
    assert not WARNING.findall(text), WARNING.findall(text)


def test_each_learner_fetches_their_own_feedback_only(cycle):
    expected_score = {SOLVED: "3", PARTLY: "2", UNTOUCHED: "0", HOSTILE: "3"}
    for short, fetched in cycle["feedback"].items():
        assert len(fetched["files"]) == 1, (short, fetched["log"])
        html = fetched["files"][0].read_text()
        assert re.search(rf"Score: {expected_score[short]}(\.0)? / 3(\.0)?", html), short
        assert fetched["files"][0].stat().st_uid == cycle["accounts"].uid(cycle["learners"][short])
        assert _denied(fetched["listing"]), short  # no learner can list the released feedback


def test_setup_names_the_instructors_material_a_learner_can_read(cycle):
    """In this checkout the learners' environment is the instructor's (solutions included); the setup says so."""
    learner = cycle["learners"][SOLVED]  # the first learner given, the one the setup probes
    solution = next((ROOT / "solutions").glob("*.py"))
    readable = python_as(learner, f"open({str(solution)!r}).close()").returncode == 0
    notices = [line for line in cycle["setup"][0].stdout.splitlines() if line.startswith("NOTICE:")]
    assert bool(notices) == readable, notices
    if readable:
        assert str(ROOT / "solutions") in notices[0] and learner in notices[0]


def test_setup_stops_when_an_account_cannot_run_the_environment(cycle):
    if not reach_prefix():
        pytest.skip("every account can run this interpreter on this machine")
    proc = subprocess.run(
        [
            sys.executable,
            SETUP,
            "--instructor",
            cycle["instructor"],
            "--course-id",
            cycle["course_id"],
            "--exchange",
            cycle["exchange"],
        ],
        cwd=ROOT,
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 1 and "cannot use this Python environment" in proc.stderr, proc.stderr


def test_setup_refuses_a_course_folder_a_learner_made_first(cycle):
    """The exchange is writable by all: a learner could create a course's folder before its instructor
    and hand out assignments of their own. The setup refuses to adopt a folder it does not own."""
    learner, accounts = cycle["learners"][UNTOUCHED], cycle["accounts"]
    squatted = f"{accounts.prefix}-squat"
    accounts.groups += [f"{squatted}-instructors", f"{squatted}-learners"]
    python_as(learner, f"import os; os.mkdir({str(cycle['exchange'] / squatted)!r})", check=True)
    proc = run(
        [
            sys.executable,
            SETUP,
            "--instructor",
            cycle["instructor"],
            "--course-id",
            squatted,
            "--exchange",
            cycle["exchange"],
            "--no-generate",
        ],
        cwd=ROOT,
        check=False,
    )
    assert proc.returncode == 1 and f"belongs to uid {accounts.uid(learner)}" in proc.stderr, proc.stderr
    assert not (accounts.home(cycle["instructor"]) / squatted).exists()


def _wall_report(cycle) -> dict:
    name = cycle["learners"][HOSTILE]
    notebook = json.loads((cycle["course_dir"] / "autograded" / name / ASSIGNMENT / NOTEBOOK).read_text())
    texts = ["".join(o.get("text", "")) for c in notebook["cells"] for o in c.get("outputs", [])]
    found = [t.split("WALL-REPORT ", 1)[1].splitlines()[0] for t in texts if "WALL-REPORT " in t]
    assert found, "the hostile cell printed no report: did it run?"
    return json.loads(found[0])


def test_a_hostile_learners_notebook_reads_and_changes_no_other_accounts_files_while_autograded(cycle):
    tried = _wall_report(cycle)
    assert len(tried) == 8 and all(v.startswith("refused") for v in tried.values()), tried
    assert cycle["changed_by_autograde"] == []
    assert not (cycle["course_dir"] / "pwned.txt").exists()


def test_the_hostile_learners_feedback_is_inert_for_whoever_opens_it(cycle):
    from test_nbgrader_e2e import live_learner_html  # the same detector as the one-user cycle's

    feedback = cycle["course_dir"] / "feedback" / cycle["learners"][HOSTILE] / ASSIGNMENT
    html = (feedback / "normalization.html").read_text()
    assert "bold" in html and live_learner_html(html) == []
