"""The repository stands on its own: its contract is in it, and a built wheel holds every check."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from autograder.course import catalogue
from conftest import ROOT

SHARED_CONTRACT = ROOT.parent / "shared" / "EXERCISES.md"


def test_the_contract_lives_in_the_repository():
    contract = (ROOT / "docs" / "contract.md").read_text(encoding="utf-8")
    assert "outliers.py" in contract and "regularization.py" in contract
    assert "docs/contract.md" in (ROOT / "README.md").read_text(encoding="utf-8")
    assert "../shared" not in (ROOT / "README.md").read_text(encoding="utf-8")


@pytest.mark.skipif(not SHARED_CONTRACT.exists(), reason="no shared copy of the contract beside this clone")
def test_the_contract_copy_keeps_every_line_of_the_course_s_shared_copy_in_order():
    """The contract is added to only by adding exercises: every line of the shared copy is still
    there, in the same order (new sections and rows may sit between them)."""
    ours = iter((ROOT / "docs" / "contract.md").read_text(encoding="utf-8").splitlines())
    missing = [line for line in SHARED_CONTRACT.read_text(encoding="utf-8").splitlines() if line not in ours]
    assert missing == [], f"lines of the shared contract missing or moved in docs/contract.md: {missing[:3]}"


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(out), str(ROOT)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    return next(out.glob("*.whl"))


def test_a_built_wheel_holds_the_public_and_hidden_checks(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    for needed in (
        "autograder/checks/core.py",
        "autograder/checks/public/losses.py",
        "autograder/checks/hidden/losses.py",
        "autograder/protocol/plans.py",
    ):
        assert needed in names, needed


def test_the_wheel_installed_in_a_fresh_venv_grades_the_solutions_at_full_marks(wheel, tmp_path):
    """The wheel alone, in a venv of its own: its dependencies are borrowed from this environment
    (a .pth file; no download), the package itself comes from the wheel, not from this checkout."""
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    site = Path(
        subprocess.run(
            [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    )
    with zipfile.ZipFile(wheel) as archive:
        archive.extractall(site)
    borrowed = [p for p in sys.path if p.endswith("site-packages")]
    (site / "zz_borrowed_dependencies.pth").write_text("\n".join(borrowed) + "\n")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    where = subprocess.run(
        [str(python), "-c", "import autograder; print(autograder.__file__)"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert where.stdout.startswith(str(site)), (where.stdout, where.stderr)
    proc = subprocess.run(
        [
            str(python),
            "-m",
            "autograder",
            "grade",
            "--submission",
            str(ROOT / "solutions"),
            "--json",
            str(tmp_path / "results.json"),
            "--quiet",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    data = json.loads((tmp_path / "results.json").read_text())
    total = float(catalogue.total_points())
    assert (data["score"], data["max_score"]) == (total, total)


def test_one_command_line_runs_every_verb_of_the_makefiles():
    """Make targets call `python -m autograder VERB`, never a module of the package directly, and
    every verb `python -m autograder --help` lists is one the CLI knows."""
    import re

    from autograder import cli

    makefiles = [ROOT / "Makefile", *sorted((ROOT / "mk").glob("*.mk"))]
    direct = [
        f"{m.name}: {line.strip()}"
        for m in makefiles
        for line in m.read_text().splitlines()
        if re.search(r"-m autograder\.\w", line)
    ]
    assert direct == []
    verbs = set(re.findall(r"-m autograder ([a-z-]+)", "\n".join(m.read_text() for m in makefiles)))
    known = set(cli.parser()._subparsers._group_actions[0].choices)
    assert verbs <= known and set(cli.HANDED_ON) <= known, verbs - known
    proc = subprocess.run(
        [sys.executable, "-m", "autograder", "notebooks", "--check"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


LIGHT = ("autograder.cli", "autograder.course.catalogue", "autograder.course.hints", "autograder.feedback.report")


@pytest.mark.parametrize("module", LIGHT + ("autograder.submissions.batch", "autograder.submissions.cluster"))
def test_light_modules_do_not_import_torch(module):
    """``--help``, ``list`` and ``hint`` answer without loading torch (seconds), and a Dask client's event
    loop that imports the batch code does not stall on it: the mistakes' variants load torch lazily."""
    code = f"import sys, {module}; print('torch' in sys.modules)"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert proc.stdout.strip() == "False", proc.stdout + proc.stderr


@pytest.mark.parametrize("module", ["nbformat", "nbclient", "nbgrader.apps", "autograder.nbcourse.wall"])
def test_the_notebook_stack_loads_no_grammar_built_at_import(module):
    """rfc3987-syntax (jsonschema 4.25's format-nongpl extra) builds an Earley parser when imported: 1.2 s
    in every nbgrader command and every walled kernel's runner. The pinned jsonschema does not bring it."""
    code = f"import sys, {module}; print(sorted(m for m in ('rfc3987_syntax', 'lark') if m in sys.modules))"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert proc.stdout.strip() == "[]", proc.stdout + proc.stderr


def test_the_list_and_hint_verbs_run_without_torch(tmp_path):
    code = (
        "import contextlib, io, sys\n"
        "from autograder import cli\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        f"    cli.main(['list']); cli.main(['hint', 'neurons.tanh', '--submission', {str(tmp_path)!r}])\n"
        "print('torch' in sys.modules)"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert proc.stdout.strip() == "False", proc.stdout + proc.stderr
