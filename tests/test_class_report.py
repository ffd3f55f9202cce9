"""The class report (``python -m autograder class-report``): a synthetic class's known facts stated
exactly, the planted copy flagged and no honest pair, every learner string inert, stable pseudonyms.

The class (``tests/synthetic_class.py``) is written as stored results, without grading; one test grades
a small class through the real ``grade-batch`` and reports on what it stored.
"""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import synthetic_class
from classmates import OWN_A, OWN_C, disguise, own_module

from autograder.submissions import classreport, similarity
from conftest import ROOT
from mutants import build_submission

pure = pytest.mark.pure


def _report(root: Path, out: Path, *extra: str) -> tuple[dict, str]:
    rc = classreport.main(
        [
            "--json-dir",
            str(root / "results"),
            "--submissions",
            str(root / "submissions"),
            "--roster",
            str(root / "roster.txt"),
            "--out",
            str(out),
            *extra,
        ]
    )
    assert rc == 0
    return (
        json.loads((out / "class-report.json").read_text(encoding="utf-8")),
        (out / "class-report.html").read_text(encoding="utf-8"),
    )


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("class")
    synthetic_class.write(root)
    return root


@pytest.fixture(scope="module")
def report(synthetic) -> tuple[dict, str]:
    return _report(synthetic, synthetic / "out")


def _exercise(summary: dict, exercise: str) -> dict:
    return next(x for x in summary["exercises"] if x["id"] == exercise)


# ----------------------------------------------------------------------------- the facts
@pure
def test_the_class_at_a_glance_counts_graded_not_gradable_and_missing(report):
    counts = report[0]["counts"]
    assert (counts["graded"], counts["not_gradable"], counts["missing"]) == (
        synthetic_class.FACTS["graded"],
        synthetic_class.FACTS["not_gradable"],
        synthetic_class.FACTS["missing"],
    )
    assert report[0]["missing"] == ["lou"]


@pure
def test_every_named_mistake_is_counted_once_per_learner_who_made_it(report):
    found = {(x["id"], m["name"]): m["learners"] for x in report[0]["exercises"] for m in x["mistakes"]}
    assert found == synthetic_class.FACTS["mistakes"]


@pure
def test_learner_output_that_imitates_a_diagnosis_is_not_counted(report):
    weights = next(
        m for m in _exercise(report[0], "losses.nll_loss")["mistakes"] if m["name"] == "class weights ignored"
    )
    assert "eve" not in weights["who"] and sorted(weights["who"]) == ["bo", "cy"]


@pure
def test_timeouts_and_forbidden_findings_are_counted_per_exercise(report):
    for exercise, n in synthetic_class.FACTS["timeouts"].items():
        assert _exercise(report[0], exercise)["timeouts"] == n
    for exercise, n in synthetic_class.FACTS["forbidden"].items():
        assert _exercise(report[0], exercise)["forbidden"] == n


@pure
def test_the_exercise_the_class_struggled_with_most_comes_first(report):
    shares = [x["mean_share"] for x in report[0]["exercises"]]
    assert shares == sorted(shares)
    assert report[0]["exercises"][0]["id"] == "losses.log_softmax"


@pure
def test_public_and_hidden_failures_and_the_checks_failed_most(report):
    nll = _exercise(report[0], "losses.nll_loss")
    assert (nll["public_failures"], nll["hidden_failures"]) == (3, 3)
    assert {"check": "nll_loss_small (public)", "learners": 3} in nll["checks_failed"][:2]


# ----------------------------------------------------------------------------- similarity
@pure
def test_the_planted_copy_is_flagged_and_no_honest_pair_is(report):
    flagged = {(p["a"], p["b"]) for p in report[0]["similarity"]["flagged"]}
    assert flagged == synthetic_class.FACTS["copied"]


@pure
def test_renamed_variables_and_reordered_functions_still_match():
    a, c = own_module(OWN_A), own_module(OWN_C)
    stub = (ROOT / "exercises" / "losses.py").read_text(encoding="utf-8")
    pairs, _ = similarity.compare_module("losses", {"a": a, "copy": disguise(a), "c": c}, [stub])
    scores = {(p.a, p.b): p.score for p in pairs}
    assert scores[("a", "copy")] > 0.9
    assert scores.get(("a", "c"), 0.0) < 0.2


@pure
def test_starter_code_never_counts():
    stub = (ROOT / "exercises" / "losses.py").read_text(encoding="utf-8")
    pairs, left = similarity.compare_module("losses", {"x": stub, "y": stub + "\n# mine\n"}, [stub])
    assert pairs == [] and left["starter"] > 0


@pure
def test_provided_code_never_counts(tmp_path):
    """``--boilerplate DIR``: a helper every learner was given, pasted into two modules, is not a match."""
    given = tmp_path / "given"
    given.mkdir()
    helper = own_module(OWN_C).split("def log_softmax", 1)[1]
    (given / "losses.py").write_text("def log_softmax" + helper)
    stub = (ROOT / "exercises" / "losses.py").read_text(encoding="utf-8")
    sources = {"x": stub + "\ndef log_softmax" + helper, "y": stub + "\ndef log_softmax" + helper.replace("m", "mm")}
    boilerplate = classreport.starter_code(ROOT / "exercises", [given])
    assert not any(p.flagged for p in similarity.compare_module("losses", sources, boilerplate["losses"])[0])
    assert similarity.compare_module("losses", sources, [stub])[0][0].flagged  # without it: flagged


@pure
def test_code_most_of_the_class_shares_is_common_not_copied():
    a = own_module(OWN_A)
    ring = {f"r{i}": a for i in range(4)}  # four copies: more than three, and more than a fifth of 12
    honest = {f"h{i}": own_module(OWN_C) + f"\nX{i} = {i}\n" for i in range(8)}
    pairs, left = similarity.compare_module("losses", {**ring, **honest})
    assert not [p for p in pairs if p.flagged] and left["common"] > 0
    pairs, _ = similarity.compare_module("losses", {"r0": a, "r1": a, **honest})  # a pair stands out
    assert [(p.a, p.b) for p in pairs if p.flagged] == [("r0", "r1")]


@pure
def test_code_that_does_not_tokenize_is_still_compared():
    broken = own_module(OWN_A) + "\ndef oops(:\n    '''unterminated\n"
    pairs, _ = similarity.compare_module("losses", {"a": broken, "b": broken.replace("result", "r")})
    assert pairs and pairs[0].flagged


@pure
def test_the_page_shows_flagged_pairs_side_by_side_with_the_matching_lines(report):
    page = report[1]
    assert "reason to look, not a verdict" in page
    assert "<details class='side'><summary>losses.py: hal and ivy" in page
    assert page.count('class="hit"') > 20


@pure
def test_without_the_submissions_the_page_says_similarity_was_not_computed(synthetic, tmp_path):
    rc = classreport.main(["--json-dir", str(synthetic / "results"), "--out", str(tmp_path)])
    summary = json.loads((tmp_path / "class-report.json").read_text(encoding="utf-8"))
    assert rc == 0 and summary["similarity"]["available"] is False
    assert "was not computed" in (tmp_path / "class-report.html").read_text(encoding="utf-8")


# ----------------------------------------------------------------------------- inert and private
@pure
def test_a_hostile_name_and_printed_html_are_escaped_everywhere(report):
    page = report[1]
    assert synthetic_class.HOSTILE not in page
    assert "&lt;img src=x onerror=alert(1)&gt;&lt;svg onload=alert(2)&gt;" in page
    assert "<script" not in page.lower()
    assert re.search(r"<[a-zA-Z][^<>]*\son[a-z]+\s*=", page) is None  # no tag carries an event handler
    assert "script-src 'none'" in page and "default-src 'none'" in page


@pure
def test_the_page_is_self_contained(report):
    page = report[1]
    assert "http://" not in page and "https://" not in page
    assert page.count('src="data:image/svg+xml;base64,') == 4  # totals, assignments, exercises, mistakes


@pure
def test_the_charts_hold_no_text_and_no_script(report):
    """Every chart is drawn as paths: no learner text can reach one, no markup runs in one."""
    charts = re.findall(r'src="data:image/svg\+xml;base64,([A-Za-z0-9+/=]+)"', report[1])
    assert len(charts) == 4
    for data in charts:
        svg = base64.b64decode(data).decode("utf-8")
        assert "<text" not in svg and "<script" not in svg and "<foreignObject" not in svg and " on" not in svg


@pure
def test_a_zipped_submission_is_compared_like_a_folder(tmp_path):
    subs, results = tmp_path / "subs", tmp_path / "results"
    subs.mkdir()
    with zipfile.ZipFile(subs / "zed.zip", "w") as z:
        z.writestr("hw/losses.py", own_module(OWN_A))
    (subs / "amy").mkdir()
    (subs / "amy" / "losses.py").write_text(disguise(own_module(OWN_A)))
    for name in ("zed", "amy"):
        (results / name).mkdir(parents=True)
        (results / name / "results.json").write_text(json.dumps(synthetic_class.results({})))
    outside = tmp_path / "elsewhere" / "mallory"
    outside.mkdir(parents=True)
    (outside / "results.json").write_text(json.dumps(synthetic_class.results({})))
    (results / "mallory").symlink_to(outside)  # a results folder that is a link is not read
    out = tmp_path / "out"
    assert classreport.main(["--json-dir", str(results), "--submissions", str(subs), "--out", str(out)]) == 0
    summary = json.loads((out / "class-report.json").read_text(encoding="utf-8"))
    assert [(p["a"], p["b"]) for p in summary["similarity"]["flagged"]] == [("amy", "zed")]
    assert summary["counts"]["submissions"] == 2


@pure
def test_anonymize_gives_stable_pseudonyms_and_no_real_name(synthetic, tmp_path):
    key = tmp_path / "key"
    first = _report(synthetic, tmp_path / "1", "--anonymize", "--key-file", str(key))
    second = _report(synthetic, tmp_path / "2", "--anonymize", "--key-file", str(key))
    names = [x["name"] for x in first[0]["learners"]]
    assert names == [x["name"] for x in second[0]["learners"]]
    assert all(n.startswith("learner-") for n in names) and len(set(names)) == len(names)
    assert oct(key.stat().st_mode & 0o777) == "0o600"
    text = json.dumps(first[0]) + first[1]
    for real in ("reference", "ivy", "jon", "kim", "lou", "alert(1)"):
        assert real not in text.replace("reference solution", ""), real
    other = _report(synthetic, tmp_path / "3", "--anonymize", "--key-file", str(tmp_path / "another"))
    assert set(names).isdisjoint(x["name"] for x in other[0]["learners"])


@pure
def test_the_pseudonyms_key_is_kept_beside_the_results(tmp_path):
    results = tmp_path / "results"
    (results / "ann").mkdir(parents=True)
    (results / "ann" / "results.json").write_text(json.dumps(synthetic_class.results({})))
    runs = []
    for out in ("a", "b"):
        assert classreport.main(["--json-dir", str(results), "--anonymize", "--out", str(tmp_path / out)]) == 0
        runs.append(json.loads((tmp_path / out / "class-report.json").read_text(encoding="utf-8"))["learners"])
    assert runs[0] == runs[1] and runs[0][0]["name"].startswith("learner-")
    assert (results / ".class-report-key").stat().st_mode & 0o077 == 0


@pure
def test_a_module_that_is_a_link_is_never_read(tmp_path):
    secret = tmp_path / "instructor-secret.txt"
    secret.write_text("def leaked():\n    return 'the course secret 7f3a'\n" * 20)
    subs, results = tmp_path / "subs", tmp_path / "results"
    for name in ("x", "y"):
        (subs / name).mkdir(parents=True)
        (subs / name / "losses.py").symlink_to(secret)
        (results / name).mkdir(parents=True)
        (results / name / "results.json").write_text(json.dumps(synthetic_class.results({})))
    out = tmp_path / "out"
    assert classreport.main(["--json-dir", str(results), "--submissions", str(subs), "--out", str(out)]) == 0
    assert "7f3a" not in (out / "class-report.html").read_text(encoding="utf-8")


@pure
def test_malformed_results_are_reported_not_gradable(tmp_path):
    for name, text in {
        "a": "not json",
        "b": "[1, 2]",
        "c": json.dumps({"tests": [{"exercise": 3}, "x", {"exercise": "losses.nll_loss", "score": "NaN"}]}),
        "d": json.dumps({"extra_data": {"status": "not_gradable"}, "tests": []}),
    }.items():
        (tmp_path / "r" / name).mkdir(parents=True)
        (tmp_path / "r" / name / "results.json").write_text(text)
    assert classreport.main(["--json-dir", str(tmp_path / "r"), "--out", str(tmp_path / "o")]) == 0
    summary = json.loads((tmp_path / "o" / "class-report.json").read_text(encoding="utf-8"))
    assert summary["counts"] == {"submissions": 4, "graded": 1, "not_gradable": 3, "missing": 0}


def test_the_gradebook_gives_per_exercise_points(tmp_path, monkeypatch):
    """Not pure: nbgrader runs alembic, from the environment's bin/, to create a gradebook."""
    from nbgrader.api import Gradebook  # nbgrader's own API builds the gradebook make autograde would

    monkeypatch.setenv("PATH", f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}")
    db = tmp_path / "gradebook.db"
    with Gradebook(f"sqlite:///{db}") as gb:
        gb.add_assignment("04_losses")
        gb.add_notebook("losses", "04_losses")
        gb.add_grade_cell("test-losses-nll_loss", "losses", "04_losses", max_score=4, cell_type="code")
        for student, score in (("ann", 4.0), ("ben", 1.0)):
            gb.add_student(student)
            gb.add_submission("04_losses", student)
            gb.find_grade("test-losses-nll_loss", "losses", "04_losses", student).auto_score = score
        gb.add_student("cas")  # never submitted
        gb.db.commit()
    out = tmp_path / "out"
    assert classreport.main(["--gradebook", str(db), "--out", str(out)]) == 0  # cas: missing, from nbgrader
    summary = json.loads((out / "class-report.json").read_text(encoding="utf-8"))
    nll = _exercise(summary, "losses.nll_loss")
    assert (nll["learners"], nll["mean_points"], nll["share_passing"]) == (2, 2.5, 0.5)
    assert summary["counts"]["missing"] == 1 and summary["missing"] == ["cas"]


@pure
def test_no_input_is_an_error(tmp_path, capsys):
    assert classreport.main(["--out", str(tmp_path)]) == 2
    assert "--json-dir" in capsys.readouterr().err


# ----------------------------------------------------------------------------- end to end
MUTANT_MISTAKES = {
    "nll_no_weights": "class weights ignored",
    "log_softmax_returns_softmax": "softmax returned instead of log-softmax",
}


@pytest.mark.slow
def test_a_class_graded_by_grade_batch_reports_its_named_mistakes(tmp_path):
    """The real path: grade-batch grades losses.py of five learners, class-report reads what it stored."""
    from mutants import MUTANTS  # the zoo's sources, spliced as tests/test_mutants.py does

    zoo = {m.name: m for m in MUTANTS}
    subs = tmp_path / "subs"
    subs.mkdir()
    for learner, mutant in (
        ("ann", "nll_no_weights"),
        ("ben", "nll_no_weights"),
        ("cas", "log_softmax_returns_softmax"),
    ):
        build_submission(subs / learner, zoo[mutant].target, zoo[mutant].source)
    build_submission(subs / synthetic_class.HOSTILE, "losses.log_softmax", OWN_A["log_softmax"])
    (subs / "dan.zip").write_bytes(b"not a zip")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    graded = subprocess.run(
        [
            sys.executable,
            "-m",
            "autograder",
            "grade-batch",
            str(subs),
            "--exercise",
            "losses",
            "--json-dir",
            str(tmp_path / "results"),
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert graded.returncode in (0, 1), graded.stdout + graded.stderr
    made = subprocess.run(
        [
            sys.executable,
            "-m",
            "autograder",
            "class-report",
            "--json-dir",
            str(tmp_path / "results"),
            "--submissions",
            str(subs),
            "--out",
            str(tmp_path / "out"),
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert made.returncode == 0, made.stdout + made.stderr
    summary = json.loads((tmp_path / "out" / "class-report.json").read_text(encoding="utf-8"))
    assert summary["counts"]["graded"] == 4 and summary["counts"]["not_gradable"] == 1
    found = {m["name"]: m["learners"] for x in summary["exercises"] for m in x["mistakes"]}
    assert found.get("class weights ignored") == 2 and found.get("softmax returned instead of log-softmax") == 1
    assert synthetic_class.HOSTILE not in (tmp_path / "out" / "class-report.html").read_text(encoding="utf-8")


@pytest.mark.slow
def test_the_benchmark_runs_on_a_small_class():
    proc = subprocess.run(
        [sys.executable, "bench/class_report.py", "--count", "24", "--copies", "2"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert re.search(r"^class-report: 24 submissions in [0-9.]+ s", proc.stdout, re.M), proc.stdout
    assert "2 of 2 copies of a learner's own losses.py flagged" in proc.stdout, proc.stdout
    assert re.search(r"; 0 other pairs flagged$", proc.stdout, re.M), proc.stdout


# ----------------------------------------------------------------------------- in a browser
CHROMIUM = Path("/usr/bin/chromium")
SHOTS = ("class-report-glance", "class-report-exercises", "class-report-similarity")


@pytest.fixture(scope="module")
def page_of(report, synthetic, tmp_path_factory):
    """The report open in Chromium, from disk, offline, every request but the file itself refused."""
    if not CHROMIUM.exists():
        pytest.skip("needs Debian's Chromium, /usr/bin/chromium (make browser-deps)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="needs the playwright Python package")
    shots = (
        ROOT / "docs" / "screenshots"
        if os.environ.get("UPDATE_SCREENSHOTS") == "1"
        else tmp_path_factory.mktemp("shots")
    )
    url = (synthetic / "out" / "class-report.html").as_uri()
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox", "--disable-gpu"])
        context = browser.new_context(offline=True, viewport={"width": 1200, "height": 900})
        requests: list[str] = []
        dialogs: list[str] = []
        context.route("**/*", lambda route: route.continue_() if route.request.url == url else route.abort())
        page = context.new_page()
        page.on("request", lambda r: requests.append(r.url))
        page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
        page.goto(url)
        page.wait_for_load_state("load")
        yield page, shots, requests, dialogs
        browser.close()


@pytest.mark.slow
def test_the_report_opens_offline_with_its_sections_and_charts(page_of):
    page, shots, requests, _ = page_of
    for section in ("glance", "exercises", "mistakes", "similarity", "about"):
        assert page.locator(f"#{section}").is_visible(), section
    widths = page.eval_on_selector_all("img", "imgs => imgs.map(i => i.complete ? i.naturalWidth : 0)")
    assert len(widths) == 4 and all(w > 0 for w in widths)  # every chart drawn from its data URI
    assert [u for u in requests if not u.startswith("data:")] == [page.url]  # nothing but the file itself
    page.screenshot(path=shots / f"{SHOTS[0]}.png")
    page.locator("#exercises").scroll_into_view_if_needed()
    page.screenshot(path=shots / f"{SHOTS[1]}.png")
    page.locator("details.side summary").first.click()
    page.locator("details.side").first.scroll_into_view_if_needed()
    page.screenshot(path=shots / f"{SHOTS[2]}.png")
    assert all((shots / f"{s}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for s in SHOTS)


@pytest.mark.slow
def test_no_script_from_a_submission_runs_in_the_report(page_of):
    page, _, _, dialogs = page_of
    assert page.title() == "Class report" and dialogs == []
    assert page.evaluate("document.scripts.length") == 0
    handlers = page.evaluate(
        "[...document.querySelectorAll('*')].flatMap(e => [...e.attributes].map(a => a.name))"
        ".filter(n => n.startsWith('on'))"
    )
    assert handlers == []
    assert 'document.title = "pwned"' in page.locator("details.side").first.text_content()  # there, as text


def test_every_class_report_screenshot_is_committed():
    for shot in SHOTS:
        path = ROOT / "docs" / "screenshots" / f"{shot}.png"
        assert path.is_file() and path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", path
