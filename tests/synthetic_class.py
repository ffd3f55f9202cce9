"""A synthetic class with known facts, for the class report's tests and its benchmark.

Stored results are written as ``grade-batch`` writes them (``results/<name>/results.json``, the
tests' ``output`` in ``feedback/report.py``'s words), without grading: who made which named mistake,
who timed out, who called a forbidden op and who could not be graded are known by construction.
The code beside them (``submissions/<name>/losses.py``, each learner's different: the reference, one
mutant of the zoo each, the legal corpus, two learners' own work and one disguised copy of one of them,
``tests/classmates.py``) is paired with the results loosely: the similarity tests read only the code.
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

from classmates import OWN_A, OWN_C, disguise, own_module

from autograder.course import catalogue
from legal import LEGAL
from mutants import MUTANTS, SOLUTIONS, splice

HOSTILE = "<img src=x onerror=alert(1)><svg onload=alert(2)>"  # a learner's chosen folder name
MISTAKE_OF = {  # the zoo's mutant -> the named mistake the grader gives it
    "log_softmax_no_shift": ("losses.log_softmax", "log-softmax without the max shift"),
    "nll_no_weights": ("losses.nll_loss", "class weights ignored"),
    "log_softmax_returns_softmax": ("losses.log_softmax", "softmax returned instead of log-softmax"),
}


def mistake(exercise: str, name: str):
    return next(m for m in catalogue.get(exercise).mistakes if m.name == name)


def _test(exercise: str, suite: str, earned: float, possible: float, outcome: str, output: str) -> dict:
    return {
        "name": f"{exercise} ({suite})",
        "exercise": exercise,
        "score": earned,
        "max_score": possible,
        "status": "passed" if outcome == "passed" else "failed",
        "outcome": outcome,
        "output": output,
        "visibility": "visible" if suite == "public" else "after_due_date",
    }


def results(failures: dict[str, tuple[str, str]], exercises=None, printed: str = "") -> dict:
    """A results.json: every exercise passed except ``failures`` (exercise -> (outcome, named mistake))."""
    tests = []
    for ex in exercises or [e.id for e in catalogue.EXERCISES if e.module == "losses"]:
        points = catalogue.get(ex).points
        outcome, named = failures.get(ex, ("passed", ""))
        if outcome == "passed":
            tests += [
                _test(ex, "public", points / 2, points / 2, "passed", "passed"),
                _test(ex, "hidden", points / 2, points / 2, "passed", "passed\nhidden checks: 4 of 4 passed"),
            ]
            continue
        if outcome == "failed":
            lines = ["failed", f"- [{ex.split('.')[1]}_small] (cpu) values differ at index (0, 1)"]
            if named:
                lines.append(mistake(ex, named).describe())
            if printed:
                lines.append(f"your code printed:\n{printed}")
            tests += [
                _test(ex, "public", 0.0, points / 2, "failed", "\n".join(lines)),
                _test(ex, "hidden", 0.0, points / 2, "failed", "failed\nhidden checks: 1 of 4 passed"),
            ]
            continue
        text = f"{outcome}: {'a check ran longer than 10 s' if outcome == 'timeout' else 'called log_softmax'}"
        tests += [
            _test(ex, "public", 0.0, points / 2, outcome, text),
            _test(ex, "hidden", 0.0, points / 2, outcome, text),
        ]
    return {
        "score": sum(t["score"] for t in tests),
        "max_score": sum(t["max_score"] for t in tests),
        "execution_time": 1.0,
        "output": "sandbox: bwrap",
        "tests": tests,
    }


def learners() -> dict[str, tuple[str, dict]]:
    """name -> (its losses.py, its results.json)."""
    ref = (SOLUTIONS / "losses.py").read_text(encoding="utf-8")
    zoo = {m.name: m for m in MUTANTS}
    legal = {case.name: case for case in LEGAL if case.module == "losses"}

    def mutant(name: str) -> str:
        return splice(ref, zoo[name].function, zoo[name].source)

    own_a = own_module(OWN_A)
    cls = {
        "reference": (ref, results({})),
        "ada": (
            mutant("log_softmax_no_shift"),
            results(
                {
                    "losses.log_softmax": ("failed", MISTAKE_OF["log_softmax_no_shift"][1]),
                    "losses.cross_entropy": ("failed", "log-softmax without the max shift"),
                }
            ),
        ),
        "bo": (mutant("nll_no_weights"), results({"losses.nll_loss": ("failed", "class weights ignored")})),
        "cy": (mutant("nll_ignored_in_denominator"), results({"losses.nll_loss": ("failed", "class weights ignored")})),
        "dee": (
            mutant("log_softmax_returns_softmax"),
            results({"losses.log_softmax": ("failed", "softmax returned instead of log-softmax")}),
        ),
        # learner output that imitates the grader's words is never read as a diagnosis
        "eve": (
            mutant("nll_mean_by_n"),
            results(
                {"losses.nll_loss": ("failed", "")},
                printed=mistake("losses.nll_loss", "class weights ignored").describe(),
            ),
        ),
        "fay": (mutant("ce_dim0"), results({"losses.cross_entropy": ("timeout", "")})),
        "gus": (
            ref + "\n" + textwrap.dedent(next(iter(legal.values())).source),
            results({"losses.log_softmax": ("forbidden", "")}),
        ),
        "hal": (own_a, results({})),
        "ivy": (disguise(own_a), results({})),
        "jon": (own_module(OWN_C), results({})),
        HOSTILE: (
            mutant("log_softmax_ignores_dim"),
            results(
                {"losses.log_softmax": ("failed", "log-softmax without the max shift")},
                printed="<script>alert(3)</script>",
            ),
        ),
    }
    return cls


FACTS = {
    "graded": 12,
    "not_gradable": 1,  # "kim": grade-batch could not read it
    "missing": 1,  # "lou": on the roster, no submission
    "mistakes": {
        ("losses.log_softmax", "log-softmax without the max shift"): 2,
        ("losses.cross_entropy", "log-softmax without the max shift"): 1,
        ("losses.nll_loss", "class weights ignored"): 2,
        ("losses.log_softmax", "softmax returned instead of log-softmax"): 1,
    },
    "timeouts": {"losses.cross_entropy": 1},
    "forbidden": {"losses.log_softmax": 1},
    "copied": {("hal", "ivy")},
}


def write(root: Path, copies: int = 1) -> tuple[Path, Path, Path]:
    """The class under ``root``: ``results/``, ``submissions/`` and ``roster.txt``. ``copies`` > 1
    repeats every learner (``name-2``, ...) for a bigger class."""
    results_dir, subs = root / "results", root / "submissions"
    names = []
    for i in range(copies):
        for name, (code, data) in learners().items():
            label = name if i == 0 else f"{name}-{i + 1}"
            names.append(label)
            (results_dir / label).mkdir(parents=True, exist_ok=True)
            extra = {"submission": label, "source": label, "kind": "directory", "content_hash": "0" * 64}
            (results_dir / label / "results.json").write_text(
                json.dumps({**data, "extra_data": extra}), encoding="utf-8"
            )
            (subs / label).mkdir(parents=True, exist_ok=True)
            (subs / label / "losses.py").write_text(code, encoding="utf-8")
    (results_dir / "kim").mkdir(parents=True, exist_ok=True)
    failed = {"score": 0.0, "execution_time": 0.0, "output": "could not be graded: kim.zip is not a zip", "tests": []}
    (results_dir / "kim" / "results.json").write_text(
        json.dumps({**failed, "extra_data": {"error": "kim.zip is not a zip"}})
    )
    roster = root / "roster.txt"
    roster.write_text("\n".join(names + ["kim", "lou"]) + "\n", encoding="utf-8")
    return results_dir, subs, roster
