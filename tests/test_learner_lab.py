"""The learner's lab is the learner's: the student bundle's `make lab` shows no instructor menu or
panel (Formgrader, Create Assignment) and no JupyterLab news prompt over the notebook, as deploy/
makes a hub's learners' lab. Checked in the served page and in Debian's Chromium (Playwright)."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from autograder.packaging import bundle as bundles
from conftest import ROOT

CHROMIUM = Path("/usr/bin/chromium")
TOKEN = "learner-lab-token"

pytestmark = pytest.mark.slow


@pytest.mark.pure
def test_the_bundle_switches_off_what_deploy_switches_off_and_the_news(tmp_path):
    deploy = (ROOT / "deploy" / "setup_course.py").read_text(encoding="utf-8")
    for name in re.findall(r'"(@jupyter/nbgrader:[\w-]+)"', deploy.split("LEARNER_LAB_OFF", 1)[1].split("\n")[0]):
        assert name in bundles.LEARNER_LAB_OFF
    assert "@jupyterlab/apputils-extension:announcements" in bundles.LEARNER_LAB_OFF
    bundles.write_learner_lab_config(tmp_path)
    page = json.loads((tmp_path / "labconfig" / "page_config.json").read_text())
    assert set(page["disabledExtensions"]) == set(bundles.LEARNER_LAB_OFF)
    server = json.loads((tmp_path / "jupyter_server_config.json").read_text())
    assert server["ServerApp"]["jpserver_extensions"] == {"nbgrader.server_extensions.formgrader": False}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """The bundle's `make lab`, with a fresh Jupyter home (no setting of ours to hide the news)."""
    base = tmp_path_factory.mktemp("learner-lab")
    built = bundles.build(base / "dist" / "student", archive=False)
    (built / ".venv").symlink_to(ROOT / ".venv")  # the bundle's `make venv` would install the same packages
    home = {name: base / "jupyter" / name for name in ("config", "data", "runtime", "ipython")}
    for folder in home.values():
        folder.mkdir(parents=True)
    env = {
        **os.environ,
        "JUPYTER_CONFIG_DIR": str(home["config"]),
        "JUPYTER_DATA_DIR": str(home["data"]),
        "JUPYTER_RUNTIME_DIR": str(home["runtime"]),
        "IPYTHONDIR": str(home["ipython"]),
    }
    env.pop("NBGRADER_EXCHANGE", None)
    port = _free_port()
    args = ["make", "-C", str(built), "-o", ".venv/.installed", "lab"]
    args.append(
        f"LAB_ARGS=--no-browser --ServerApp.ip=127.0.0.1 --ServerApp.port={port} "
        f"--ServerApp.port_retries=0 --IdentityProvider.token={TOKEN}"
    )
    log = base / "lab.log"
    with open(log, "w") as out:
        proc = subprocess.Popen(args, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while True:
            assert proc.poll() is None, log.read_text()[-3000:]
            try:
                with urllib.request.urlopen(f"{url}/api/status?token={TOKEN}", timeout=5):
                    break
            except OSError:
                assert time.monotonic() < deadline, log.read_text()[-3000:]
                time.sleep(0.5)
        yield url
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)


def test_the_served_page_disables_the_instructors_tools_and_the_news(lab):
    with urllib.request.urlopen(f"{lab}/lab?token={TOKEN}", timeout=60) as r:
        html = r.read().decode()
    config = json.loads(re.search(r'id="jupyter-config-data"[^>]*>\s*(\{.*?\})\s*</script>', html, flags=re.S).group(1))
    disabled = config.get("disabledExtensions")
    disabled = set(disabled) if isinstance(disabled, list) else {k for k, v in (disabled or {}).items() if v}
    assert set(bundles.LEARNER_LAB_OFF) <= disabled, disabled
    with pytest.raises(urllib.error.HTTPError) as missing:  # the formgrader's server side is off too
        urllib.request.urlopen(f"{lab}/formgrader?token={TOKEN}", timeout=60)
    assert missing.value.code == 404


@pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's Chromium, /usr/bin/chromium (make browser-deps)")
def test_in_the_browser_no_formgrader_menu_and_no_news_prompt(lab, tmp_path):
    sync_api = pytest.importorskip("playwright.sync_api", reason="needs the playwright Python package")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox", "--disable-gpu"])
        try:
            page = browser.new_page(viewport={"width": 1200, "height": 760})
            page.goto(f"{lab}/lab?token={TOKEN}")
            page.get_by_role("menuitem", name="Nbgrader").click(timeout=120_000)
            items = page.locator(".lm-Menu-itemLabel").all_inner_texts()
            page.keyboard.press("Escape")
            time.sleep(5)  # the news prompt shows a few seconds after the page
            page.screenshot(path=tmp_path / "learner-lab.png")
            text = page.locator("body").inner_text()
        finally:
            browser.close()
    assert "Assignment List" in items and not any("Formgrader" in item for item in items), items
    assert "Jupyter news" not in text and "Create Assignment" not in text
