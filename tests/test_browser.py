"""A learner's whole browser path, in Debian's Chromium driven by Playwright, through `make lab`.

The instructor publishes 01_outliers to a temporary exchange; `make lab` (its own process, on a
temporary notebooks folder) serves JupyterLab; the learner opens Nbgrader → Assignment List,
fetches, opens the notebook, writes `iqr`, runs its check cell, validates and submits; the
instructor's `nbgrader collect` must hold the edited notebook. The student bundle's `make lab`
must list the course's assignments in the same tab instead of an error. Each step is saved as a
PNG: in docs/screenshots/ with `UPDATE_SCREENSHOTS=1` (`make screenshots`), else in a temporary folder.
"""

from __future__ import annotations

import contextlib
import json
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from conftest import ROOT

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
COURSE, ASSIGNMENT, NOTEBOOK, EXERCISE = "nn-by-hand", "01_outliers", "outliers.ipynb", "iqr"
LEARNER = pwd.getpwuid(os.getuid()).pw_name  # nbgrader's student id for a submission: the account's name
STUB = "    # TODO: your code here\n    raise NotImplementedError"
TOKEN = "browser-test-token"
SCREENSHOTS = ROOT / "docs" / "screenshots"
STEPS = (
    "1-assignments",
    "2-fetched",
    "3-notebook",
    "4-answer-edited",
    "5-check-passed",
    "6-validated",
    "7-submitted",
    "bundle-assignments",
)
VIEWPORT = {"width": 1200, "height": 760}

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's Chromium, /usr/bin/chromium (make browser-deps)"),
]
sync_api = pytest.importorskip("playwright.sync_api", reason="needs the playwright Python package")


def _cell(notebook: dict, grade_id: str) -> str:
    return next(
        "".join(c["source"]) for c in notebook["cells"] if c["metadata"].get("nbgrader", {}).get("grade_id") == grade_id
    )


def _learners_answer() -> tuple[str, str]:
    """The released answer cell, and the same cell with the stub replaced by a correct body."""
    released = _cell(json.loads((ROOT / "release" / ASSIGNMENT / NOTEBOOK).read_text()), f"answer-outliers-{EXERCISE}")
    solution = _cell(json.loads((ROOT / "source" / ASSIGNMENT / NOTEBOOK).read_text()), f"answer-outliers-{EXERCISE}")
    body = solution.split("### BEGIN SOLUTION\n", 1)[1].split("    ### END SOLUTION", 1)[0].rstrip("\n")
    assert STUB in released and "np.nanquantile" in body
    return released, released.replace(STUB, body)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _jupyter_home(base: Path) -> dict:
    """Private Jupyter folders; JupyterLab's news prompt switched off (it would cover the page)."""
    dirs = {name: base / name for name in ("config", "data", "runtime", "ipython")}
    for d in dirs.values():
        d.mkdir(parents=True)
    settings = dirs["config"] / "lab" / "user-settings" / "@jupyterlab" / "apputils-extension"
    settings.mkdir(parents=True)
    (settings / "notification.jupyterlab-settings").write_text('{"fetchNews": "false", "checkForUpdates": false}')
    return {
        "JUPYTER_CONFIG_DIR": str(dirs["config"]),
        "JUPYTER_DATA_DIR": str(dirs["data"]),
        "JUPYTER_RUNTIME_DIR": str(dirs["runtime"]),
        "IPYTHONDIR": str(dirs["ipython"]),
    }


class Lab:
    """`make lab` in its own process group, stopped (kernels and all) when the test ends."""

    def __init__(self, directory: Path, env: dict, log: Path, *make_args: str):
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log
        args = [
            "make",
            "-C",
            str(directory),
            "-o",
            ".venv/.installed",
            "lab",
            *make_args,
            f"LAB_ARGS=--no-browser --ServerApp.ip=127.0.0.1 --ServerApp.port={self.port} "
            f"--ServerApp.port_retries=0 --IdentityProvider.token={TOKEN}",
        ]
        with open(log, "w") as out:
            self.proc = subprocess.Popen(args, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + 180
        while True:
            if self.proc.poll() is not None:
                raise AssertionError(f"make lab exited with {self.proc.returncode}:\n{log.read_text()[-3000:]}")
            try:
                with urllib.request.urlopen(f"{self.url}/api/status?token={TOKEN}", timeout=5):
                    return
            except OSError as error:
                if time.monotonic() > deadline:
                    self.stop()
                    raise AssertionError(f"JupyterLab did not answer:\n{log.read_text()[-3000:]}") from error
                time.sleep(0.5)

    def get(self, path: str):
        with urllib.request.urlopen(f"{self.url}/{path}{'&' if '?' in path else '?'}token={TOKEN}", timeout=60) as r:
            return json.loads(r.read())

    def stop(self):
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)  # jupyter shuts its kernels down on SIGTERM
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)


@pytest.fixture(scope="module")
def shots(tmp_path_factory) -> Path:
    return SCREENSHOTS if os.environ.get("UPDATE_SCREENSHOTS") == "1" else tmp_path_factory.mktemp("screenshots")


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


def _open_assignment_list(page, lab: Lab):
    page.goto(f"{lab.url}/lab?token={TOKEN}")
    page.get_by_role("menuitem", name="Nbgrader").click(timeout=120_000)
    page.locator(".lm-Menu-itemLabel", has_text="Assignment List").click()


@pytest.fixture(scope="module")
def journey(tmp_path_factory, browser, shots):
    """Instructor releases, a learner does everything in the browser, the instructor collects."""
    base = tmp_path_factory.mktemp("browser")
    course, exchange, notebooks = base / "course", base / "exchange", base / "my-notebooks"
    (course / "release").mkdir(parents=True)
    exchange.mkdir()
    exchange.chmod(0o777)
    shutil.copy(ROOT / "nbgrader_config.py", course)
    shutil.copytree(ROOT / "release" / ASSIGNMENT, course / "release" / ASSIGNMENT)
    env = {
        **os.environ,
        **_jupyter_home(base / "jupyter"),
        "NBGRADER_EXCHANGE": str(exchange),
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    nbgrader = [sys.executable, "-m", "nbgrader"]
    released = subprocess.run(
        nbgrader + ["release_assignment", ASSIGNMENT], cwd=course, env=env, capture_output=True, text=True, timeout=300
    )
    assert released.returncode == 0, released.stderr
    before, edited = _learners_answer()
    stray = ROOT / ASSIGNMENT  # where the Assignments tab used to fetch to (the server's working directory)
    stray_before = stray.exists()

    lab = Lab(ROOT, env, base / "lab.log", f"NOTEBOOKS={notebooks}")
    seen = {}
    page = browser.new_page(viewport=VIEWPORT)
    try:
        _open_assignment_list(page, lab)
        released_row = page.locator("#released_assignments_list .list_item", has_text=ASSIGNMENT)
        released_row.locator("button", has_text="Fetch").wait_for(timeout=60_000)
        page.screenshot(path=shots / "1-assignments.png")

        released_row.locator("button", has_text="Fetch").click()
        fetched_row = page.locator("#fetched_assignments_list .list_item", has_text=ASSIGNMENT).first
        fetched_row.locator("button", has_text="Submit").wait_for(timeout=60_000)
        page.locator(".jp-DirListing-item", has_text=ASSIGNMENT).wait_for(timeout=30_000)  # the file browser shows it
        seen["fetch_offered_again"] = released_row.count()
        seen["fetched_files"] = sorted(str(p.relative_to(notebooks)) for p in notebooks.rglob("*.ipynb"))
        page.screenshot(path=shots / "2-fetched.png")

        fetched_row.locator("a.assignment-notebooks-link").click()
        page.locator("#fetched_assignments_list").get_by_role(
            "link", name=NOTEBOOK.removesuffix(".ipynb"), exact=True
        ).click()
        panel = page.locator(".jp-NotebookPanel")
        cells = panel.locator(".jp-Cell")
        cells.nth(4).wait_for(timeout=60_000)
        page.locator(".jp-StatusBar-Widget", has_text="| Idle").wait_for(timeout=120_000)  # the kernel is up
        page.screenshot(path=shots / "3-notebook.png")

        numbered = re.compile(r"\[\d+\]")
        cells.nth(1).locator(".cm-content").click()  # the imports cell
        page.keyboard.press("Shift+Enter")
        cells.nth(1).locator(".jp-InputPrompt", has_text=numbered).wait_for(timeout=120_000)
        answer, check = cells.nth(3), cells.nth(4)
        answer.locator(".cm-content").click()
        page.keyboard.press("Control+a")
        page.keyboard.insert_text(edited)  # typed text, without the editor's auto-indent on each Enter
        answer.scroll_into_view_if_needed()
        page.screenshot(path=shots / "4-answer-edited.png")

        page.keyboard.press("Shift+Enter")  # runs the answer cell; the check cell is next
        page.keyboard.press("Shift+Enter")
        check.locator(".jp-InputPrompt", has_text=numbered).wait_for(timeout=120_000)
        seen["check_output"] = "\n".join(check.locator(".jp-OutputArea-output").all_inner_texts())
        check.scroll_into_view_if_needed()
        page.screenshot(path=shots / "5-check-passed.png")

        panel.locator(".validate-button").click()  # saves the notebook, then nbgrader validates the saved file
        dialog = page.locator(".jp-Dialog", has_text="Validation")
        dialog.locator(".jp-Dialog-body").wait_for(timeout=300_000)
        seen["validation"] = dialog.locator(".jp-Dialog-body").inner_text()
        page.screenshot(path=shots / "6-validated.png")
        dialog.get_by_role("button", name="Ok").click()
        seen["saved_cell"] = _cell(
            json.loads((notebooks / ASSIGNMENT / NOTEBOOK).read_text()), f"answer-outliers-{EXERCISE}"
        )

        page.locator(".lm-TabBar-tab", has_text="Assignments").click()
        page.locator("#fetched_assignments_list .list_item", has_text=ASSIGNMENT).first.locator(
            "button", has_text="Submit"
        ).click()
        page.locator("#submitted_assignments_list .list_item", has_text=ASSIGNMENT).first.wait_for(timeout=60_000)
        page.screenshot(path=shots / "7-submitted.png")
    except Exception:
        with contextlib.suppress(Exception):  # what the page showed, beside lab.log in the test's temporary folder
            page.screenshot(path=base / "failure.png")
        raise
    finally:
        page.close()
        lab.stop()
        if stray.exists() and not stray_before:  # the old defect: never leave its litter in the checkout
            shutil.rmtree(stray)
            raise AssertionError(f"the Assignments tab fetched into the server's working directory, {stray}")
    seen["lab_log"] = (base / "lab.log").read_text()

    collected = subprocess.run(
        nbgrader + ["collect", ASSIGNMENT], cwd=course, env=env, capture_output=True, text=True, timeout=300
    )
    assert collected.returncode == 0, collected.stderr
    submitted = course / "submitted" / LEARNER / ASSIGNMENT / NOTEBOOK
    seen["collected_cell"] = _cell(json.loads(submitted.read_text()), f"answer-outliers-{EXERCISE}")
    return dict(seen, before=before, edited=edited)


def test_fetch_lands_in_the_folder_the_file_browser_shows(journey):
    assert journey["fetched_files"] == [f"{ASSIGNMENT}/{NOTEBOOK}"]  # (a fetch elsewhere fails the journey)


def test_a_fetched_assignment_is_not_offered_for_fetch_again(journey):
    assert journey["fetch_offered_again"] == 0


def test_the_check_cell_passes_after_the_edit(journey):
    out = journey["check_output"]
    assert f"outliers.{EXERCISE}" in out and "passed" in out and "failed" not in out, out


def test_validate_runs_on_the_saved_edit(journey):
    """nbgrader validates the file on disk: only the functions still unwritten fail there."""
    assert journey["saved_cell"] == journey["edited"]
    text = journey["validation"]
    assert "check(outlier_bounds" in text and f"check({EXERCISE}," not in text, text


def test_the_instructor_collects_the_notebook_the_learner_edited(journey):
    assert journey["before"] != journey["edited"]
    assert journey["collected_cell"] == journey["edited"]


def test_make_lab_reads_the_course_config_and_the_given_exchange(journey):
    assert "No nbgrader_config.py file found" not in journey["lab_log"], journey["lab_log"][-2000:]
    assert "published" not in journey["lab_log"]  # an exchange was named: make lab publishes nothing


def test_the_student_bundles_assignments_tab_lists_the_course(tmp_path, browser, shots):
    """The bundle has no instructor: its `make lab` publishes release/ to its own exchange, so the tab
    lists every assignment (no "Error fetching courses!"), and Fetch lands in my-notebooks/."""
    from autograder.packaging import bundle as bundles

    built = bundles.build(tmp_path / "dist" / "student", archive=False)
    (built / ".venv").symlink_to(ROOT / ".venv")  # the bundle's `make venv` would install the same packages
    env = {**os.environ, **_jupyter_home(tmp_path / "jupyter")}
    env.pop("NBGRADER_EXCHANGE", None)
    lab = Lab(built, env, tmp_path / "lab.log")
    page = browser.new_page(viewport=VIEWPORT)
    try:
        assert lab.get("courses") == {"success": True, "value": [COURSE]}
        _open_assignment_list(page, lab)
        fetch = page.locator("#released_assignments_list .list_item button", has_text="Fetch")
        fetch.first.wait_for(timeout=60_000)
        rows = page.locator("#released_assignments_list .list_item").all_inner_texts()
        page.screenshot(path=shots / "bundle-assignments.png")
        fetch.first.click()
        submit = page.locator("#fetched_assignments_list .list_item button", has_text="Submit").first
        submit.wait_for(timeout=60_000)
        submit.click()
        page.locator("#submitted_assignments_list .list_item").first.wait_for(timeout=60_000)
    finally:
        page.close()
        lab.stop()
    assigned = sorted(p.name for p in (built / "release").iterdir())
    assert f"published {', '.join(assigned)} to this copy's exchange" in (tmp_path / "lab.log").read_text()
    assert [row.split()[0] for row in rows] == assigned
    assert (built / "my-notebooks" / assigned[0] / NOTEBOOK).is_file()
    inbound = list((built / ".nbgrader-exchange" / COURSE / "inbound").iterdir())  # Submit keeps a dated copy here
    assert [p.name.split("+")[:2] for p in inbound] == [[LEARNER, assigned[0]]]


def test_every_step_has_a_committed_screenshot():
    for step in STEPS:
        path = SCREENSHOTS / f"{step}.png"
        assert path.is_file() and path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", path


# The instructor's pages for a hostile learner's notebook: its HTML must be inert where it is shown.
LEARNER_AREAS = ".rendered_html, .output_subarea, .input_area, .jp-RenderedHTMLCommon, .jp-OutputArea-output"
# every element in a learner's Markdown or output (the page's own controls, e.g. nbgrader's, are not learner HTML)
ON_ATTRIBUTES = f"""() => Array.from(document.querySelectorAll('{LEARNER_AREAS}'))
    .flatMap(area => [area, ...area.querySelectorAll('*')]).flatMap(e =>
    Array.from(e.attributes).filter(a => a.name.startsWith('on') || /^\\s*javascript:/i.test(a.value))
        .map(a => e.tagName + ' ' + a.name))"""


def _ran(page) -> dict:
    """What a page that loaded learner HTML shows of it: the flag its scripts set, event handlers, dialogs."""
    page.wait_for_timeout(1500)  # an onerror (a missing image) or onload fires within this
    for bold in page.get_by_text("bold", exact=True).all():  # the learner's onmouseover, had it survived
        bold.hover()
    return {
        "flag": page.evaluate("() => window.pwned === undefined ? null : window.pwned"),
        "handlers": page.evaluate(ON_ATTRIBUTES),
    }


def _watched(browser):
    page = browser.new_page(viewport=VIEWPORT)
    events: list[str] = []
    page.on("dialog", lambda d: (events.append(f"dialog {d.message}"), d.dismiss()))
    page.on("console", lambda m: events.append(f"console {m.text}") if "pwned" in m.text else None)
    return page, events


def test_the_detector_sees_live_learner_html(browser):
    """The check below can fail: the same HTML, unsanitized, runs and carries its handler."""
    page, events = _watched(browser)
    try:
        page.set_content(
            '<div class="rendered_html"><img src="x" onerror="window.pwned=1; alert(1)">'
            '<b onmouseover="window.pwned=2">bold</b></div>'
        )
        seen = _ran(page)
    finally:
        page.close()
    assert seen["flag"] in (1, 2) and len(seen["handlers"]) == 2 and events


@pytest.fixture(scope="module")
def hostile_course(losses_cycle):
    """04_losses submitted by the e2e test's hostile learner (right answers, live HTML, an attack on the
    course), autograded by nbgrader inside the wall, its feedback generated: the e2e cycle's course,
    built once for the session (conftest)."""
    from test_nbgrader_e2e import HOSTILE  # its hostile learner

    assert losses_cycle["autograde"].returncode == 0, losses_cycle["autograde"].stderr[-3000:]
    assert losses_cycle["feedback"].returncode == 0, losses_cycle["feedback"].stderr[-3000:]
    return losses_cycle["course"], losses_cycle["env"], HOSTILE


@pytest.mark.timeout(1500)  # its course is the e2e cycle, built here when this runs first
def test_the_formgraders_submission_page_runs_no_learner_script(hostile_course, browser):
    """The real formgrader (JupyterLab's server with nbgrader's extension, on the course) renders the
    hostile submission: the page shows its text and figure, and nothing of its HTML ran."""
    from nbgrader.api import Gradebook  # the submission's id, as the formgrader's list links it

    course, env, student = hostile_course
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gradebook:
        submission = gradebook.find_submission_notebook("losses", "04_losses", student).id
    port = _free_port()
    env = {**env, **_jupyter_home(course.parent / "jupyter")}
    log = course.parent / "formgrader.log"
    args = [
        sys.executable,
        "-m",
        "jupyterlab",  # this interpreter's, never a script's (whose first line may name another Python)
        "--no-browser",
        "--allow-root",
        "--ServerApp.ip=127.0.0.1",
        f"--ServerApp.port={port}",
        "--ServerApp.port_retries=0",
        f"--IdentityProvider.token={TOKEN}",
        f"--ServerApp.root_dir={course}",
    ]
    with open(log, "w") as out:
        server = subprocess.Popen(
            args, cwd=course, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    page, events = _watched(browser)
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 180
        while True:
            try:
                urllib.request.urlopen(f"{url}/api/status?token={TOKEN}", timeout=5).close()
                break
            except OSError:
                assert server.poll() is None and time.monotonic() < deadline, log.read_text()[-3000:]
                time.sleep(0.5)
        page.goto(f"{url}/formgrader/submissions/{submission}?token={TOKEN}")
        page.locator("#notebook-container").first.wait_for(timeout=60_000)
        shown = page.locator("#notebook-container").first.inner_text()
        figures = page.evaluate(
            "() => Array.from(document.querySelectorAll('#notebook-container img'))"
            ".filter(i => i.src.startsWith('data:image/png') && i.naturalWidth > 0).length"
        )
        seen = _ran(page)
    finally:
        page.close()
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
    assert "bold" in shown and "WALL-REPORT" in shown and figures >= 1  # the learner's work is shown
    assert seen == {"flag": None, "handlers": []} and events == [], (seen, events)


@pytest.mark.timeout(1500)  # its course is the e2e cycle, built here when this runs first
def test_the_feedback_page_runs_no_learner_script_and_shows_the_figure(hostile_course, browser):
    course, _, student = hostile_course
    page, events = _watched(browser)
    try:
        page.goto((course / "feedback" / student / "04_losses" / "losses.html").as_uri())
        figures = page.evaluate(
            "() => Array.from(document.querySelectorAll('img'))"
            ".filter(i => i.src.startsWith('data:image/png') && i.naturalWidth > 0).length"
        )
        seen = _ran(page)
    finally:
        page.close()
    assert figures >= 1
    assert seen == {"flag": None, "handlers": []} and events == [], (seen, events)
