"""The class-grading benchmark runs end to end on a small class (no timing is asserted): it prints
each throughput, the ratios, finds identical scores between grade-batch and the CLI loop and, with
``--profile``, where a submission's time goes, phase by phase. Its
nbgrader class is checked to hold the same code as the module submissions (nbgrader itself takes
minutes per learner; ``make bench-class`` times it)."""

from __future__ import annotations

import importlib.util
import json
import re
import subprocess
import sys

import pytest

from conftest import ROOT

pytestmark = pytest.mark.slow

RATE = r"[0-9.]+ submissions/min"


def _bench():
    spec = importlib.util.spec_from_file_location("class_grading", ROOT / "bench" / "class_grading.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_small_class_grading_benchmark():
    """The smallest class holding every kind (the generator's first three): one solutions, one stubs, one mistaken."""
    proc = subprocess.run(
        [sys.executable, "bench/class_grading.py", "--small", "3", "--no-nbgrader", "--profile"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=900,
    )
    out = proc.stdout
    assert proc.returncode == 0, out[-3000:] + proc.stderr[-3000:]
    assert re.search(r"^class: 3 submissions \(1 solutions, 1 stubs, 1 with mistakes", out, re.M), out
    assert re.search(rf"^grade-batch --jobs 2: 3 submissions in [0-9.]+ s = {RATE}$", out, re.M), out
    assert re.search(rf"^CLI loop \(one process per submission\): 3 submissions in [0-9.]+ s = {RATE}$", out, re.M), out
    assert re.search(r"^ratio grade-batch / CLI loop: [0-9.]+x \(aim: >= 5x\)$", out, re.M), out
    assert re.search(r"^nbgrader comparison skipped: --no-nbgrader was given$", out, re.M), out
    assert "scores identical between grade-batch and the CLI loop: 3 of 3 submissions" in out
    assert re.search(r"^where a submission's time goes \(grade-batch --jobs 2 in this process, 3 submis", out, re.M)
    for phase in ("scorer: judge and diagnose", "child: run the checks", "zygote: kill strays", "the zygote (forks"):
        assert re.search(rf"^  {re.escape(phase)}.* [0-9.]+ ms", out, re.M), out  # every phase has its figure
    assert re.search(r"^  all of it +[0-9.]+ ms: at most [0-9.]+ submissions/min on \d+ cores", out, re.M), out


def test_identical_failures_are_no_speed(tmp_path):
    """Two ways that agree on wrong results fail the bench: solutions short of full marks, a worker
    that did not start (the bench would otherwise time a grader that grades nothing, fast)."""
    bench = _bench()

    def write(path, score, output=""):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"score": score, "max_score": 58, "output": output, "tests": []}))

    broken = "sandbox: bubblewrap; worker problems: bwrap: execvp python: No such file or directory"
    write(tmp_path / "batch" / "results" / "s1" / "results.json", 0, broken)
    write(tmp_path / "loop" / "s1.json", 0, broken)
    write(tmp_path / "batch" / "results" / "s2" / "results.json", 0)
    write(tmp_path / "loop" / "s2.json", 0)
    found = bench.compare(tmp_path / "batch", tmp_path / "loop", {"s1": "the solutions", "s2": "the stubs"})
    assert sorted(found) == [
        "s1 (the solutions): batch 0 of 58",
        "s1 (the solutions): loop 0 of 58",
        f"s1: batch's worker did not work: {broken}",
        f"s1: loop's worker did not work: {broken}",
    ]


def test_the_class_is_a_mix_of_solutions_stubs_and_mistakes(tmp_path):
    bench = _bench()
    described = bench.make_class(tmp_path, 30)
    kinds = set(described.values())
    assert {"the solutions", "the stubs"} <= kinds and len(kinds) > 10
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(described)
    assert bench.make_class(tmp_path / "again", 30) == described  # seeded: the same class every run


def test_notebook_submissions_hold_the_same_code(tmp_path):
    """Each learner's notebooks, extracted as the grader extracts them, define the same functions."""
    bench = _bench()
    if bench.nbgrader_unavailable():
        pytest.skip(bench.nbgrader_unavailable())
    import ast

    from autograder.course import catalogue
    from autograder.nbcourse import notebooks

    subs = tmp_path / "subs"
    subs.mkdir()
    described = bench.make_class(subs, 3)
    names = sorted(described)
    course = tmp_path / "course"
    course.mkdir()
    assignments = bench.make_notebook_class(subs, names, course)
    assert len(assignments) == len(catalogue.MODULES)  # one assignment per course module
    for name in names:
        extracted = tmp_path / "extracted" / name
        for notebook in sorted((course / "submitted" / name).rglob("*.ipynb")):
            notebooks.extract_submission(notebook, extracted)
        for module in (subs / name).glob("*.py"):
            want = {
                n.name: ast.dump(n)
                for n in ast.parse(module.read_text()).body
                if isinstance(n, (ast.FunctionDef, ast.ClassDef))
            }
            got = {
                n.name: ast.dump(n)
                for n in ast.parse((extracted / module.name).read_text()).body
                if isinstance(n, (ast.FunctionDef, ast.ClassDef))
            }
            assert got == {k: v for k, v in want.items() if k in got}, (name, module.name)
            assert {e.function for e in catalogue.EXERCISES if e.module == module.stem} <= set(got)
