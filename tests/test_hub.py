"""JupyterHub from deploy/jupyterhub_config.py on localhost, with real Unix accounts and their passwords
(PAM): a learner logs in, their JupyterLab starts as their own user and serves nbgrader's assignment
list, from which they fetch; the instructor's serves the formgrader on the course; accounts outside
the course's groups and wrong passwords are refused.

Only the hub's ports and state folder differ from the shipped configuration. Needs root (throwaway
accounts, as in test_accounts.py) and JupyterHub's proxy (`make hub-deps`).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from conftest import ROOT
from test_accounts import ASSIGNMENT, NOTEBOOK, accounts, clean_env, reach_prefix, run, set_up_course  # noqa: F401

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(os.geteuid() != 0, reason="creates Unix accounts: run as root (CI does)"),
]

LEARNER = "ann"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _stop(proc: subprocess.Popen, pid_file: Path) -> None:
    """SIGTERM lets the hub stop the single-user servers and its proxy; whatever is left is killed."""
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    if pid_file.is_file():
        try:
            os.kill(int(pid_file.read_text().strip()), signal.SIGKILL)
        except (ValueError, ProcessLookupError):
            pass


@pytest.fixture(scope="module")
def hub(accounts):  # noqa: F811 - the fixture from test_accounts
    if shutil.which("configurable-http-proxy") is None:
        pytest.fail("JupyterHub's proxy is missing: run `make hub-deps` (as root)")
    course = set_up_course(accounts, [LEARNER], generate=False)  # the formgrader lists source/ without it
    outsider = accounts.add("out")  # a local account with a password, in none of the course's groups
    teacher, learner = course["instructor"], course["learners"][LEARNER]
    password = "pw-" + os.urandom(9).hex()
    subprocess.run(
        ["chpasswd"], input="".join(f"{u}:{password}\n" for u in (teacher, learner, outsider)), text=True, check=True
    )
    run(
        [sys.executable, "-m", "nbgrader", "release_assignment", ASSIGNMENT, "--force"],
        cwd=course["course_dir"],
        user=teacher,
    )

    state = accounts.base / "hub"
    state.mkdir()
    port, hub_port, api_port = _free_port(), _free_port(), _free_port()
    config = state / "jupyterhub_config.py"
    config.write_text(
        f"c = get_config()  # noqa: F821\n"
        f"load_subconfig({str(ROOT / 'deploy' / 'jupyterhub_config.py')!r})  # noqa: F821\n"
        f"c.JupyterHub.hub_bind_url = 'http://127.0.0.1:{hub_port}'\n"
        f"c.ConfigurableHTTPProxy.api_url = 'http://127.0.0.1:{api_port}'\n"
    )
    env = clean_env(
        NBGRADER_COURSE_ID=course["course_id"],
        JUPYTERHUB_STATE_DIR=str(state),
        JUPYTERHUB_BIND_URL=f"http://127.0.0.1:{port}",
    )
    log = open(state / "hub.log", "w")
    proc = subprocess.Popen(
        reach_prefix() + [str(Path(sys.executable).parent / "jupyterhub"), "-f", str(config)],
        cwd=state,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            assert proc.poll() is None, (state / "hub.log").read_text()[-3000:]
            try:
                if requests.get(base + "/hub/api/", timeout=5).status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            assert time.monotonic() < deadline, (state / "hub.log").read_text()[-3000:]
            time.sleep(0.5)
        yield dict(
            course,
            base=base,
            password=password,
            teacher=teacher,
            learner=learner,
            outsider=outsider,
            log=state / "hub.log",
            accounts=accounts,
        )
    finally:
        _stop(proc, state / "jupyterhub-proxy.pid")
        log.close()


def login(hub, user: str, password: str) -> tuple[requests.Session, requests.Response]:
    session = requests.Session()
    session.get(hub["base"] + "/hub/login", timeout=30)
    response = session.post(
        hub["base"] + "/hub/login",
        timeout=60,
        data={"username": user, "password": password, "_xsrf": session.cookies.get("_xsrf")},
    )
    return session, response


def started(hub, user: str) -> requests.Session:
    """Logs ``user`` in and waits until their JupyterLab answers (the hub spawns it on login)."""
    session, response = login(hub, user, hub["password"])
    assert response.status_code == 200, response.text[-500:]
    lab = f"{hub['base']}/user/{user}/lab"
    deadline = time.monotonic() + 180
    while True:
        page = session.get(lab, timeout=60)
        if page.status_code == 200 and page.url.startswith(lab):
            return session
        assert time.monotonic() < deadline, (page.status_code, page.url, hub["log"].read_text()[-3000:])
        time.sleep(1)


@pytest.fixture(scope="module")
def learner_session(hub):
    return started(hub, hub["learner"])


def test_a_learners_jupyterlab_lists_the_released_assignment(hub, learner_session):
    user = hub["learner"]
    answer = learner_session.get(
        f"{hub['base']}/user/{user}/assignments", params={"course_id": hub["course_id"]}, timeout=60
    ).json()
    assert answer["success"], answer
    assert [(a["assignment_id"], a["status"]) for a in answer["value"]] == [(ASSIGNMENT, "released")]


def test_a_learner_fetches_from_the_assignments_tab_as_their_own_unix_user(hub, learner_session):
    user = hub["learner"]
    xsrf = learner_session.cookies.get("_xsrf", path=f"/user/{user}/")
    answer = learner_session.post(
        f"{hub['base']}/user/{user}/assignments/fetch",
        timeout=120,
        data={"course_id": hub["course_id"], "assignment_id": ASSIGNMENT},
        headers={"X-XSRFToken": xsrf},
    ).json()
    assert answer["success"], answer
    fetched = hub["accounts"].home(user) / ASSIGNMENT / NOTEBOOK
    assert fetched.is_file() and fetched.stat().st_uid == hub["accounts"].uid(user)
    listing = learner_session.get(f"{hub['base']}/user/{user}/api/contents/{ASSIGNMENT}", timeout=60).json()
    assert [item["name"] for item in listing["content"]] == [NOTEBOOK]


def test_a_learner_has_no_formgrader(hub, learner_session):
    response = learner_session.get(f"{hub['base']}/user/{hub['learner']}/formgrader/api/assignments", timeout=60)
    assert response.status_code == 404


def test_the_instructors_jupyterlab_serves_the_formgrader_on_the_course(hub):
    user = hub["teacher"]
    session = started(hub, user)
    assignments = session.get(f"{hub['base']}/user/{user}/formgrader/api/assignments", timeout=60).json()
    expected = sorted(p.name for p in (ROOT / "source").iterdir() if p.is_dir())
    assert sorted(a["name"] for a in assignments) == expected
    assert {a["name"]: a["status"] for a in assignments}[ASSIGNMENT] == "released"


def test_an_account_outside_the_course_and_a_wrong_password_are_refused(hub):
    _, outsider = login(hub, hub["outsider"], hub["password"])
    _, wrong = login(hub, hub["learner"], hub["password"] + "x")
    assert outsider.status_code == 403 and wrong.status_code == 403
    log = hub["log"].read_text()
    assert f"Failed login for '{hub['outsider']}'" in log and f"Failed login for '{hub['learner']}'" in log
