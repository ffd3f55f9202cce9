"""The Gradescope autograder: the zip's layout and contents, and ``run_autograder`` run for real
against a temporary tree shaped like Gradescope's ``/autograder`` (paths moved by environment
variables and flags), its results.json validated against Gradescope's format."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
import zipfile

import jsonschema
import pytest

from autograder.course import catalogue
from autograder.submissions import gradescope
from conftest import ROOT, SOLUTIONS

pytestmark = pytest.mark.slow

SCHEMA = json.loads((ROOT / "gradescope" / "results.schema.json").read_text())
FORGED = {"score": 1000.0, "max_score": 48.0, "output": "forged", "tests": []}


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    out = tmp_path_factory.mktemp("zip") / "autograder.zip"
    gradescope.build(out)
    return out


def tree(tmp_path, built):
    """``gs-root/`` as Gradescope lays out ``/autograder``: source/ (the unpacked zip),
    run_autograder, submission/ and results/."""
    root = tmp_path / "gs-root"
    (root / "source").mkdir(parents=True)
    (root / "submission").mkdir()
    (root / "results").mkdir()
    with zipfile.ZipFile(built) as z:
        z.extractall(root / "source")
    shutil.copy(root / "source" / "run_autograder", root / "run_autograder")
    (root / "run_autograder").chmod(0o755)
    return root


def run_autograder(root, *flags, sandbox="auto", env_paths=True):
    env = {
        **os.environ,
        "AUTOGRADER_SOURCE": str(root / "source"),
        "AUTOGRADER_PYTHON": sys.executable,
        "AUTOGRADER_SANDBOX": sandbox,
    }
    if env_paths:
        env.update(
            AUTOGRADER_SUBMISSION=str(root / "submission"), AUTOGRADER_RESULTS=str(root / "results" / "results.json")
        )
    return subprocess.run(
        [str(root / "run_autograder"), *flags], cwd=root, env=env, capture_output=True, text=True, timeout=300
    )


# ----------------------------------------------------------------------------- the zip
def test_zip_has_gradescope_layout(built):
    with zipfile.ZipFile(built) as z:
        infos = {i.filename: i for i in z.infolist()}
    for script in ("setup.sh", "run_autograder"):
        assert script in infos, script
        assert (infos[script].external_attr >> 16) & 0o111, f"{script} is not executable"
    assert "requirements.txt" in infos
    for module in catalogue.MODULES:
        assert f"autograder/checks/public/{module}.py" in infos
        assert f"autograder/checks/hidden/{module}.py" in infos
    for module in (
        "scoring/grader",
        "scoring/judge",
        "scoring/client",
        "scoring/results",
        "sandbox/worker",
        "scoring/launcher",
        "feedback/report",
        "submissions/unpack",
        "submissions/cache",
        "submissions/gradescope",
        "protocol/plans",
    ):
        assert f"autograder/{module}.py" in infos
    assert not [n for n in infos if "__pycache__" in n or n.endswith(".pyc")]


def test_zip_holds_no_solution(built):
    bodies = []
    for path in SOLUTIONS.glob("*.py"):
        bodies += re.findall(r"### BEGIN SOLUTION\n(.*?)### END SOLUTION", path.read_text(), re.S)
    assert len(bodies) >= len(catalogue.EXERCISES) - 2
    with zipfile.ZipFile(built) as z:
        assert not [n for n in z.namelist() if n.startswith(("solutions/", "exercises/"))]
        texts = {n: z.read(n).decode("utf-8", "replace") for n in z.namelist()}
    for body in bodies:
        body = "\n".join(line.strip() for line in body.strip().splitlines())
        if body.count("\n") < 2:
            continue  # one or two lines (`return 2 * l2`) prove nothing either way
        for name, text in texts.items():
            flat = "\n".join(line.strip() for line in text.splitlines())
            assert body not in flat, f"{name} contains a solution body"


def test_requirements_are_pinned_from_pyproject(built):
    with zipfile.ZipFile(built) as z:
        lines = [ln for ln in z.read("requirements.txt").decode().splitlines() if ln and not ln.startswith("#")]
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    assert lines == deps
    assert all("==" in ln for ln in lines) and any(ln.startswith("torch==") for ln in lines)


def test_build_is_reproducible(built, tmp_path):
    again = tmp_path / "again.zip"
    gradescope.build(again)
    assert again.read_bytes() == built.read_bytes()


def test_unpinned_dependency_is_refused(tmp_path):
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "x"\ndependencies = ["torch>=2"]\n')
    with pytest.raises(ValueError, match="not pinned"):
        gradescope.requirements(tmp_path / "pyproject.toml")


def test_schema_is_a_valid_json_schema_and_rejects_what_gradescope_would():
    jsonschema.Draft202012Validator.check_schema(SCHEMA)
    jsonschema.validate({"score": 1.0}, SCHEMA)
    jsonschema.validate({"tests": [{"score": 1, "max_score": 2, "status": "failed", "visibility": "hidden"}]}, SCHEMA)
    for bad in (
        {},
        {"tests": [{"max_score": 2}]},
        {"score": "ten"},
        {"score": 1, "tests": [{"score": 1, "status": "ok"}]},
        {"score": 1, "visibility": "sometimes"},
        {"score": 1, "tests": [{"score": 1, "output_format": "pdf"}]},
    ):
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(bad, SCHEMA)


# ----------------------------------------------------------------------------- run_autograder
def test_run_autograder_grades_a_zip_upload_into_valid_results(built, tmp_path):
    root = tree(tmp_path, built)
    with zipfile.ZipFile(root / "submission" / "homework.zip", "w") as z:
        for path in SOLUTIONS.glob("*.py"):
            z.write(path, f"homework/{path.name}")
    before = sorted((p.name, p.stat().st_mtime_ns) for p in (root / "submission").rglob("*"))
    proc = run_autograder(root)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    data = json.loads((root / "results" / "results.json").read_text())
    jsonschema.validate(data, SCHEMA)
    assert data["score"] == data["max_score"] == catalogue.total_points()
    assert {t["exercise"] for t in data["tests"]} == set(catalogue.BY_ID)
    assert {t["visibility"] for t in data["tests"] if t["name"].endswith("(hidden)")} == {"after_due_date"}
    assert len([t for t in data["tests"] if t["name"].endswith("(hidden)")]) == len(catalogue.EXERCISES)
    assert sorted((p.name, p.stat().st_mtime_ns) for p in (root / "submission").rglob("*")) == before
    assert not [p for p in (root / "source").rglob("__pycache__")], "run_autograder wrote into the source"


def _forger(root, tmp_path):
    """The solutions, with pooling.py forging results.json at import and on every call, and leaving
    a note beside it to show it could write there."""
    sub = root / "submission"
    shutil.copytree(SOLUTIONS, sub, dirs_exist_ok=True, ignore=shutil.ignore_patterns("__pycache__"))
    results = root / "results" / "results.json"
    forge = f"""

import json as _json

def _forge():
    try:
        with open({str(results)!r}, "w") as f:
            _json.dump({FORGED!r}, f)
        with open({str(results.parent / "forger-was-here")!r}, "w") as f:
            f.write("yes")
    except OSError:
        pass

_forge()
_max_pool2d = max_pool2d

def max_pool2d(*args, **kwargs):
    _forge()
    return _max_pool2d(*args, **kwargs)
"""
    (sub / "pooling.py").write_text((sub / "pooling.py").read_text() + forge)
    return results


@pytest.mark.parametrize("sandbox", ["process", "auto"])
def test_a_forged_results_file_is_not_kept(built, tmp_path, sandbox):
    """Planted before grading, or attempted by learner code while grading (at import and on every
    call): the file Gradescope reads is the scorer's. Without bubblewrap the worker refuses the
    write (the attempt scores zero as tampering); inside it the path does not even exist."""
    root = tree(tmp_path, built)
    results = _forger(root, tmp_path)
    results.write_text(json.dumps(FORGED))  # planted before grading
    proc = run_autograder(root, sandbox=sandbox)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    data = json.loads(results.read_text())
    jsonschema.validate(data, SCHEMA)
    assert data != FORGED and data["tests"] and data["max_score"] == catalogue.total_points()
    assert not (results.parent / "forger-was-here").exists(), "learner code wrote into the results folder"
    pooling = [t for t in data["tests"] if t["exercise"] == "pooling.max_pool2d"]
    assert {t["outcome"] for t in pooling} <= {"forbidden", "passed"}
    if sandbox == "process":
        assert {t["outcome"] for t in pooling} == {"forbidden"}
        assert "tampering" in pooling[0]["output"] and "results.json" in pooling[0]["output"]
    # the capstone imports the learner's pooling.py by name: importing it runs the forger too
    rest = [t for t in data["tests"] if t["exercise"].split(".")[0] not in ("pooling", "capstone")]
    assert all(t["score"] == t["max_score"] for t in rest)  # nothing else of the submission suffers
    assert data["score"] == sum(t["score"] for t in data["tests"]) < FORGED["score"]


def test_flags_override_the_environment(built, tmp_path):
    root = tree(tmp_path, built)
    elsewhere, out = tmp_path / "elsewhere", tmp_path / "out" / "r.json"
    shutil.copytree(SOLUTIONS, elsewhere, ignore=shutil.ignore_patterns("__pycache__"))
    for path in elsewhere.glob("*.py"):
        if path.stem != "losses":
            path.unlink()
    proc = run_autograder(root, "--submission", str(elsewhere), "--results", str(out), env_paths=False)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    data = json.loads(out.read_text())
    jsonschema.validate(data, SCHEMA)
    by_ex = {}
    for t in data["tests"]:
        by_ex[t["exercise"]] = by_ex.get(t["exercise"], 0) + t["score"]
    assert by_ex["losses.nll_loss"] == catalogue.get("losses.nll_loss").points
    assert by_ex["pooling.max_pool2d"] == 0  # no pooling.py: an error, not a crash of the grader
    assert not (root / "results" / "results.json").exists()


def test_an_unreadable_upload_scores_zero_with_a_reason(built, tmp_path):
    root = tree(tmp_path, built)
    (root / "submission" / "homework.zip").write_bytes(b"not a zip at all")
    proc = run_autograder(root)
    assert proc.returncode == 0, proc.stderr[-2000:]
    data = json.loads((root / "results" / "results.json").read_text())
    jsonschema.validate(data, SCHEMA)
    assert data["score"] == 0 and "not a readable zip" in data["output"]


def test_a_notebook_upload_is_graded_out_of_its_own_exercises(built, tmp_path):
    """An uploaded notebook (renamed, as learners do) earns its exercises' points out of theirs,
    not out of the whole course's."""
    from test_batch import _notebook

    root = tree(tmp_path, built)
    _notebook(root / "submission" / "pooling-Copy1.ipynb")
    proc = run_autograder(root)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    data = json.loads((root / "results" / "results.json").read_text())
    jsonschema.validate(data, SCHEMA)
    own = catalogue.get("pooling.max_pool2d").points
    assert data["score"] == data["max_score"] == own
    assert {t["exercise"] for t in data["tests"]} == {"pooling.max_pool2d"}
