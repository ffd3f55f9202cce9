"""What a grade loads, and when: the sandboxed worker starts before the scorer imports torch (the
two imports run side by side), and a grade of one exercise imports only that exercise's checks.
No timing is asserted here (``bench/grade_speed.py`` measures)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap

import pytest

from conftest import ROOT

# Runs the command line in a fresh interpreter; ``launcher.start`` (the worker's launch) is wrapped to
# print what this process had loaded at that moment.
PROBE = textwrap.dedent(
    """
    import os, sys
    from autograder.scoring import launcher
    real_start = launcher.start
    def start(*args):
        print("at-launch", "torch" in sys.modules, "rich" in sys.modules, flush=True)
        if os.environ.get("PROBE_STOP"):
            os._exit(0)
        return real_start(*args)
    launcher.start = start
    from autograder.cli import main
    rc = main(sys.argv[1:])
    print("checks", " ".join(sorted(m for m in sys.modules if m.startswith("autograder.checks.public."))))
    print("rc", rc)
    """
)


def _probe(*argv: str, stop: bool = False) -> str:
    env = {"PATH": "/usr/bin:/bin", "PROBE_STOP": "1" if stop else ""}
    proc = subprocess.run(
        [sys.executable, "-c", PROBE, *argv], cwd=ROOT, capture_output=True, text=True, timeout=300, env=env
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout


def test_the_worker_starts_before_the_scorer_loads_torch_or_rich():
    out = _probe("grade", "--submission", "solutions", "--exercise", "outliers.iqr", "--quiet", stop=True)
    assert "at-launch False False" in out, out


def test_a_full_grade_also_starts_the_worker_first():
    out = _probe("grade", "--submission", "solutions", "--quiet", stop=True)
    assert "at-launch False False" in out, out


def test_one_exercise_loads_only_its_own_module_checks():
    out = _probe("grade", "--submission", "solutions", "--exercise", "outliers.iqr", "--quiet")
    assert "rc 0" in out, out
    assert "checks autograder.checks.public.outliers\n" in out, out


def test_a_grade_from_the_reference_cache_equals_a_computed_one(tmp_path):
    """The learner's ``grade`` keeps plans and references on disk: the second run reads them, and
    its results are the first run's (and those of a run with the cache turned off)."""
    env = {**os.environ, "AUTOGRADER_CACHE_DIR": str(tmp_path / "cache"), "AUTOGRADER_SECRET": "speed-tests"}
    results = []
    for run, cache in enumerate(["1", "1", "0"]):
        out = tmp_path / f"run{run}.json"
        proc = subprocess.run(
            [sys.executable, "-m", "autograder", "grade", "--submission", "solutions", "--exercise", "losses"]
            + ["--quiet", "--json", str(out)],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=300,
            env={**env, "AUTOGRADER_REFERENCE_CACHE": cache},
        )
        assert proc.returncode == 0, proc.stderr
        tests = json.loads(out.read_text())["tests"]
        results.append([(t["name"], t["score"], t.get("output")) for t in tests])
        if run == 0:
            assert len(list((tmp_path / "cache").iterdir())) == 3  # one entry per exercise of losses
    assert results[0] == results[1] == results[2]


@pytest.mark.slow
def test_the_speed_benchmark_runs_and_reports_ratios():
    proc = subprocess.run(
        [sys.executable, "bench/grade_speed.py", "--repeat", "1", "--saves", "1"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for name in ("import torch", "one exercise, cold", "full grade of solutions, cold", "one exercise, warm grader"):
        assert re.search(rf"^{name} +[0-9.]+ s = [0-9.]+x import torch", proc.stdout, re.M), proc.stdout
    assert re.search(r"^wrong exercise name .* = [0-9.]+x", proc.stdout, re.M), proc.stdout
    assert re.search(r"^watch: save to complete table .* = [0-9.]+x import torch", proc.stdout, re.M), proc.stdout


def test_the_speed_benchmark_refuses_to_time_a_grade_that_did_not_grade_in_full():
    """A grade whose worker cannot start is fast and worthless: the bench stops rather than time
    it. The stubs earn nothing, so their first grade stops it, with the table that shows why."""
    proc = subprocess.run(
        [sys.executable, "bench/grade_speed.py", "--repeat", "1", "--saves", "0", "--submission", "exercises"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode != 0 and "did not grade in full" in proc.stderr, proc.stdout + proc.stderr
    assert "x import torch" not in proc.stdout  # nothing was reported
