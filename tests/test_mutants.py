"""Every mutant of the zoo (tests/mutants.py) loses points on its target and on nothing else.

One submission per mutant: the reference solutions with one definition replaced. Only the target's
module is graded. Exercises of the module that call the target (directly or not) may lose points too;
every other exercise of the module must keep full marks.
"""

from __future__ import annotations

from collections import Counter

import pytest

from autograder.course import catalogue
from autograder.feedback import report
from mutants import MUTANTS, SOLUTIONS, build_submission, dependents, splice


def _describe(result) -> str:
    return "\n".join(f"  {e.exercise.id}: {e.outcome} {e.score}/{e.max_score} {e.message}" for e in result.exercises)


def test_zoo_size_and_coverage():
    assert len(MUTANTS) >= 30
    names = [m.name for m in MUTANTS]
    assert len(set(names)) == len(names), "mutant names must be unique"
    per_module = Counter(m.module for m in MUTANTS)
    for module in catalogue.MODULES:
        assert per_module[module] >= 2, f"{module} has {per_module[module]} mutants"
    for m in MUTANTS:
        assert m.target in catalogue.BY_ID, m.target
        assert m.why.strip() and "\n" not in m.why.strip()
    covered = {m.target for m in MUTANTS}
    assert len(covered) >= 0.8 * len(catalogue.EXERCISES), sorted(set(catalogue.BY_ID) - covered)


def test_splice_round_trip_and_replacement():
    """Splicing a definition back in unchanged gives the same file; a mutant replaces exactly one definition."""
    import ast

    for module in catalogue.MODULES:
        text = (SOLUTIONS / f"{module}.py").read_text(encoding="utf-8")
        tree = ast.parse(text)
        for node in tree.body:
            if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
                assert splice(text, node.name, ast.get_source_segment(text, node)) == text, (module, node.name)
    for m in MUTANTS:
        text = (SOLUTIONS / f"{m.module}.py").read_text(encoding="utf-8")
        new = splice(text, m.function, m.source)
        before = {n.name for n in ast.parse(text).body if isinstance(n, (ast.FunctionDef, ast.ClassDef))}
        after = {n.name for n in ast.parse(new).body if isinstance(n, (ast.FunctionDef, ast.ClassDef))}
        assert before == after, m.name
        assert m.source.strip() in new and new != text, m.name


def test_dependents_follow_the_calls():
    conv = (SOLUTIONS / "convolution.py").read_text(encoding="utf-8")
    assert dependents("convolution.pad2d", conv) == {"convolution.conv2d"}
    assert dependents("convolution.conv_output_size", conv) == {"convolution.conv1d", "convolution.conv2d"}
    assert dependents("losses.log_softmax") == {"losses.cross_entropy"}
    outliers = (SOLUTIONS / "outliers.py").read_text(encoding="utf-8")
    assert dependents("outliers.outlier_bounds", outliers) == {"outliers.outlier_mask", "outliers.remove_outliers"}
    assert dependents("neurons.tanh") == set()


@pytest.mark.parametrize("mutant", MUTANTS, ids=[m.name for m in MUTANTS])
def test_mutant_is_caught(tmp_path, warm_grader, mutant):
    sub = build_submission(tmp_path / "submission", mutant.target, mutant.source)
    spoiled = dependents(mutant.target, (sub / f"{mutant.module}.py").read_text(encoding="utf-8"))
    result = warm_grader.grade(sub, [mutant.module])
    by_id = {e.exercise.id: e for e in result.exercises}
    target = by_id[mutant.target]
    assert target.outcome != "passed" and target.score < target.max_score, (
        f"mutant {mutant.name} ({mutant.why}) was NOT caught: {mutant.target} scored "
        f"{target.score}/{target.max_score} ({target.outcome}) {target.message}\n{_describe(result)}"
    )
    for ex in result.exercises:
        if ex.exercise.id == mutant.target or ex.exercise.id in spoiled:
            continue
        assert ex.outcome == "passed" and ex.score == ex.max_score, (
            f"mutant {mutant.name} of {mutant.target} spoiled {ex.exercise.id}, which does not call it "
            f"(target: {target.outcome}, {target.message})\n{_describe(result)}"
        )
    assert_no_hidden_leak(result)


def assert_no_hidden_leak(result) -> None:
    """No visible results.json field shows what a hidden check found: its name, its messages (its
    inputs and values), a mistake named from hidden evidence only, or a note from a hidden check.
    Each test's status agrees with the first word of its text."""
    from autograder.scoring.judge import diagnose

    data = report.results_json(result)
    visible = [t for t in data["tests"] if t["visibility"] == "visible"]
    for ex in result.exercises:
        hidden = [u for u in ex.units if u.check.suite == "hidden"]
        public_failed = [u for u in ex.units if u.check.suite == "public" and u.verdict in ("failed", "not_started")]
        secrets = {u.check.name for u in hidden} | {u.message for u in hidden if u.message}
        hidden_mistake = diagnose([u for u in hidden if u.verdict == "failed"])
        public_mistake = diagnose(public_failed) if public_failed else None
        if hidden_mistake is not None and (public_mistake is None or public_mistake.name != hidden_mistake.name):
            secrets.add(hidden_mistake.describe())
        public_names = {u.check.name for u in ex.units if u.check.suite == "public"} | {
            u.message for u in ex.units if u.check.suite == "public"
        }
        for test in visible:
            if test["exercise"] != ex.exercise.id:
                continue
            for secret in secrets - public_names:
                assert secret not in test["output"], (secret, test["output"])
    for test in data["tests"]:
        first = test["output"].split("\n", 1)[0].split(":", 1)[0]
        assert (test["status"] == "passed") == (first == "passed"), test
