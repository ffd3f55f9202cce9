"""Feedback that teaches: every named mistake is recognised and named, reports are precise, hints
progress, the table reads well, watch mode re-grades on save, hidden checks keep their inputs hidden."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import time

import pytest

from autograder.course import catalogue, hints, mistakes
from autograder.feedback import report
from conftest import ROOT, SOLUTIONS
from mutants import MUTANTS, build_submission

ZOO = {m.name: m for m in MUTANTS}

EXTRA = {  # learner-style code for mistakes the zoo does not hold
    "bounds_nearest": (
        "outliers.outlier_bounds",
        """
def outlier_bounds(values, k=1.5):
    a = np.asarray(values, dtype=np.float64)
    q1, q3 = np.nanquantile(a, [0.25, 0.75], method="nearest")
    return float(q1 - k * (q3 - q1)), float(q3 + k * (q3 - q1))
""",
    ),
    "bounds_nan": (
        "outliers.outlier_bounds",
        """
def outlier_bounds(values, k=1.5):
    a = np.asarray(values, dtype=np.float64)
    q1, q3 = np.quantile(a, [0.25, 0.75])
    return float(q1 - k * (q3 - q1)), float(q3 + k * (q3 - q1))
""",
    ),
    "ce_mean_by_n": (
        "losses.cross_entropy",
        """
def cross_entropy(logits, target, weight=None, reduction="mean", ignore_index=-100):
    per_sample = nll_loss(log_softmax(logits, dim=1), target, weight, "none", ignore_index)
    return per_sample.mean() if reduction == "mean" else nll_loss(log_softmax(logits, dim=1), target, weight,
                                                                   reduction, ignore_index)
""",
    ),
    "ce_unshifted": (
        "losses.cross_entropy",
        """
def cross_entropy(logits, target, weight=None, reduction="mean", ignore_index=-100):
    log_probs = logits - torch.log(torch.exp(logits).sum(1, keepdim=True))
    return nll_loss(log_probs, target, weight, reduction, ignore_index)
""",
    ),
}

# every named mistake → a submission that makes it
NAMED = {
    ("outliers.iqr", "a quantile method other than linear interpolation"): "iqr_nearest",
    ("outliers.iqr", "NaN not ignored"): "iqr_nan_not_ignored",
    ("outliers.outlier_bounds", "a quantile method other than linear interpolation"): "bounds_nearest",
    ("outliers.outlier_bounds", "NaN not ignored"): "bounds_nan",
    ("outliers.outlier_mask", "≤ instead of <"): "mask_le",
    ("outliers.count_nan", "comparing with == np.nan"): "count_nan_eq",
    ("outliers.to_int", "rounding instead of truncating toward zero"): "to_int_round",
    ("neurons.tanh", "a tanh that overflows"): "tanh_overflow",
    ("neurons.tanh", "a slope of 0 at x = 0"): "tanh_abs_slope_zero",
    ("neurons.neuron", "the bias ignored"): "neuron_no_bias",
    ("neurons.TinyNet", "ReLU instead of tanh"): "tinynet_relu",
    ("neurons.count_parameters", "frozen parameters counted"): "count_frozen_too",
    ("neurons.sensitive_mask", "the slope's sign not ignored"): "mask_no_abs",
    ("neurons.sensitive_mask", "autograd left to the caller's grad mode"): "mask_relies_on_grad_mode",
    ("normalization.channel_stats", "the population std instead of Bessel's"): "stats_population_std",
    ("normalization.channel_stats", "stats over the wrong dims"): "stats_no_transpose",
    ("losses.log_softmax", "log-softmax without the max shift"): "log_softmax_no_shift",
    ("losses.log_softmax", "the log of a softmax"): "log_softmax_log_of_softmax",
    ("losses.log_softmax", "softmax returned instead of log-softmax"): "log_softmax_returns_softmax",
    ("losses.log_softmax", "dim ignored"): "log_softmax_ignores_dim",
    ("losses.nll_loss", "the weighted mean divided by the number of samples"): "nll_mean_by_n",
    ("losses.nll_loss", "ignored targets counted in the denominator"): "nll_ignored_in_denominator",
    ("losses.nll_loss", "class weights ignored"): "nll_no_weights",
    ("losses.cross_entropy", "the weighted mean divided by the number of samples"): "ce_mean_by_n",
    ("losses.cross_entropy", "log-softmax without the max shift"): "ce_unshifted",
    ("losses.cross_entropy", "log-softmax over the wrong dim"): "ce_dim0",
    ("convolution.pad2d", "padding on one side only"): "pad2d_one_side",
    ("convolution.pad2d", "height and width padding swapped"): "pad2d_swapped",
    ("convolution.conv_output_size", "rounding up (or to the nearest) instead of down"): "conv_size_ceil",
    ("convolution.conv_output_size", "padding ignored"): "conv_size_no_padding",
    ("convolution.conv1d", "a flipped kernel"): "conv1d_flipped",
    ("convolution.conv2d", "a flipped kernel"): "conv2d_flipped",
    ("convolution.conv2d", "the bias ignored"): "conv2d_no_bias",
    ("convolution.conv2d", "stride applied to one axis only"): "conv2d_stride_h_only",
    ("convolution.conv2d", "(h, w) pairs swapped"): "conv2d_padding_swapped",
    ("pooling.max_pool2d", "zero padding instead of −inf"): "pool_zero_padding",
    ("pooling.max_pool2d", "stride defaulting to 1"): "pool_stride_default_1",
    ("pooling.max_pool2d", "ceil instead of floor for the output size"): "pool_ceil",
    ("regularization.l1_penalty", "biases skipped"): "l1_skip_biases",
    ("regularization.l2_penalty", "biases skipped"): "l2_skip_biases",
    ("regularization.l2_penalty", "the norm instead of the sum of squares"): "l2_norm",
    ("regularization.sgd_step", "weight decay ignored"): "sgd_no_decay",
    ("regularization.weight_decay_for", "weight decay λ instead of 2λ"): "decay_is_lambda",
    ("capstone.DigitNet", "pooling before the convolution"): "capstone_digitnet_pool_before_conv",
    ("capstone.DigitNet", "ReLU instead of tanh"): "capstone_digitnet_relu",
    ("capstone.DigitNet", "the convolution's weight and bias as plain tensors"): "capstone_digitnet_plain_tensors",
    ("capstone.train_epoch", "weight decay λ instead of 2λ"): "capstone_train_decay_lambda",
    ("capstone.train_epoch", "the loss summed over the batch, not averaged"): "capstone_train_loss_summed",
    ("capstone.train_epoch", "gradients never cleared between batches"): "capstone_train_grads_never_cleared",
    ("capstone.train_epoch", "the batches taken in another order"): "capstone_train_batches_reversed",
    ("capstone.train_epoch", "the penalty counted in the returned loss"): "capstone_train_penalty_in_returned_loss",
    ("capstone.train_epoch", "a mean over the images, not over the batches"): "capstone_train_mean_over_images",
    ("capstone.train_epoch", "the last batch's loss returned"): "capstone_train_last_batch_loss",
    ("capstone.accuracy", "the number of right answers"): "capstone_accuracy_count",
    ("capstone.accuracy", "a percentage"): "capstone_accuracy_percent",
    ("capstone.accuracy", "the error rate"): "capstone_accuracy_error_rate",
    ("*", mistakes.FLOAT32_RESULT.name): "normalize_float32",
    ("*", mistakes.DEFAULT_DEVICE.name): "pool_default_device",
}


@pytest.fixture
def grader(warm_grader):
    return warm_grader


def _source(key: str):
    if key in ZOO:
        return ZOO[key].target, ZOO[key].source
    return EXTRA[key]


def test_every_named_mistake_has_a_test():
    catalogued = {(m.exercise, m.name) for m in mistakes.MISTAKES}
    catalogued |= {("*", mistakes.FLOAT32_RESULT.name), ("*", mistakes.DEFAULT_DEVICE.name)}
    assert catalogued == set(NAMED)
    assert len(catalogued) >= 20


@pytest.mark.parametrize("key", list(NAMED), ids=[f"{e}: {n}" for e, n in NAMED])
def test_named_mistake_is_recognised(tmp_path, grader, key):
    exercise, name = key
    target, source = _source(NAMED[key])
    sub = build_submission(tmp_path / "sub", target, source)
    ex = grader.grade(sub, [target]).exercises[0]
    assert ex.score < ex.max_score
    assert ex.mistake is not None and ex.mistake.name == name, (ex.message, ex.mistake)
    buf = io.StringIO()
    report.print_report(grader.grade(sub, [target]), out=buf)
    assert f"looks like {name}" in buf.getvalue() and name in report.short_reason(ex)


def test_correct_solutions_are_never_named(grader):
    result = grader.grade(SOLUTIONS)
    assert all(ex.mistake is None for ex in result.exercises)


def test_failure_report_is_precise_and_reproducible(tmp_path, grader):
    sub = build_submission(tmp_path / "sub", "losses.log_softmax", ZOO["log_softmax_returns_softmax"].source)
    ex = grader.grade(sub, ["losses.log_softmax"]).exercises[0]
    assert "first at index [" in ex.message and "got" in ex.message and "expected" in ex.message
    assert "max abs error" in ex.message and "max rel error" in ex.message
    buf = io.StringIO()
    report.print_report(grader.grade(sub, ["losses.log_softmax"]), out=buf, submission_arg=str(sub))
    text = buf.getvalue()
    line = next(row for row in text.splitlines() if "reproduce:" in row)
    command = line.split("reproduce:", 1)[1].split()
    assert command[:2] == ["make", "repro"]  # what works where it is printed: the bundle has no torch outside .venv
    proc = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert "verdict: output" in proc.stdout and "pytorch['out']" in proc.stdout


def test_repro_case_gives_the_exact_inputs():
    import torch

    from autograder.feedback.repro import case

    args, kwargs = case("losses.log_softmax", 0)
    again, _ = case("losses.log_softmax", 0)
    assert torch.equal(args[0], again[0]) and isinstance(kwargs, dict)


def test_hints_progress_and_reset(tmp_path):
    first = hints.next_hint(tmp_path, "convolution.conv2d")
    second = hints.next_hint(tmp_path, "convolution.conv2d")
    assert (first[0], second[0]) == (1, 2) and first[1] != second[1]
    for _ in range(5):
        last = hints.next_hint(tmp_path, "convolution.conv2d")
    assert last[0] == len(hints.HINTS["convolution.conv2d"])
    hints.reset(tmp_path, "convolution.conv2d")
    assert hints.next_hint(tmp_path, "convolution.conv2d")[0] == 1


def test_every_exercise_has_hints():
    from autograder.course import catalogue

    assert set(hints.HINTS) == set(catalogue.BY_ID)
    assert all(len(h) >= 1 and all(len(t) > 20 for t in h) for h in hints.HINTS.values())


def test_make_hint_prints_the_next_hint(tmp_path):
    proc = subprocess.run(
        ["make", "--no-print-directory", "hint", "EX=pooling.max_pool2d", f"SUBMISSION={tmp_path}"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0 and "hint 1/" in proc.stdout
    assert json.loads((tmp_path / hints.STATE_FILE).read_text()) == {"pooling.max_pool2d": 1}


def test_grade_output_reads_well_in_80_columns_without_colour(tmp_path):
    sub = tmp_path / "sub"
    import shutil

    shutil.copytree(ROOT / "exercises", sub)
    for module in ("losses", "pooling"):
        shutil.copy(SOLUTIONS / f"{module}.py", sub / f"{module}.py")
    src = sub / "losses.py"
    from mutants import splice

    src.write_text(splice(src.read_text(), "log_softmax", ZOO["log_softmax_no_shift"].source))
    proc = subprocess.run(
        [sys.executable, "-m", "autograder", "grade", "--submission", str(sub)],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    out = proc.stdout
    assert "\x1b[" not in out
    commands = ("  reproduce:", "  hint:")  # kept on one line so they can be copied and pasted
    assert max(len(line) for line in out.splitlines() if not line.startswith(commands)) <= 80
    assert "progress" in out and "next up: outliers.iqr" in out
    assert "looks like log-softmax without the max shift" in out  # the details
    assert "log-softmax without the max" in out.split("failures in detail")[0]  # the table
    assert "pooling.py" in out and "max_pool2d" in out and "✔ passed" in out and "· not started" in out


def test_results_json_hides_hidden_inputs_unless_asked(tmp_path, grader):
    sub = build_submission(tmp_path / "sub", "pooling.max_pool2d", ZOO["pool_zero_padding"].source)
    result = grader.grade(sub, ["pooling"])
    hidden = [t for t in report.results_json(result)["tests"] if t["name"].endswith("(hidden)")][0]
    names = [u.check.name for u in result.exercises[0].units if u.check.suite == "hidden"]
    assert hidden["visibility"] == "after_due_date"
    assert "hidden checks:" in hidden["output"] and not any(n in hidden["output"] for n in names)
    full = report.results_json(result, hidden_visibility="hidden", full_details=True)["tests"][1]
    assert full["visibility"] == "hidden" and any(n in full["output"] for n in names)


def test_watch_regrades_the_module_that_was_saved(tmp_path):
    import shutil

    sub = tmp_path / "sub"
    shutil.copytree(SOLUTIONS, sub)
    proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from autograder.feedback import watch; from pathlib import Path; "
            f"watch.main(Path({str(sub)!r}), 0.1, rounds=1)",
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        line = proc.stdout.readline()
        while "watching" not in line and time.monotonic() < deadline:
            line = proc.stdout.readline()
        time.sleep(0.3)
        path = sub / "pooling.py"
        path.write_text(path.read_text() + "\n# saved\n")
        out, err = proc.communicate(timeout=120)
    finally:
        proc.kill()
    assert "pooling.py saved — re-grading" in out, err
    assert "max_pool2d" in out and "✔ passed" in out
    assert "nll_loss" not in out


def test_table_at_80_columns_shows_every_name_and_points(tmp_path, grader):
    """In a pipe (80 columns) a long first failure wraps in its column; names and points stay whole."""
    sub = build_submission(tmp_path / "sub", "normalization.normalize", ZOO["normalize_in_place"].source)
    result = grader.grade(sub, ["normalization", "outliers"])
    buf = io.StringIO()
    report.print_report(result, out=buf)
    lines = buf.getvalue().splitlines()
    assert all(len(line) <= 80 for line in lines), max(lines, key=len)
    for ex in result.exercises:
        row = next(line for line in lines if line.startswith(f"  {ex.exercise.function} "))
        assert f"{report._points(ex.score)}/{report._points(ex.max_score)}" in row, row
    assert any(line.startswith("normalization.py ") for line in lines)


def test_progress_never_rounds_a_failing_grade_to_100_percent():
    assert report.percent(47.89, 48) == 99 and report.percent(48, 48) == 100 and report.percent(0, 48) == 0
    assert report.percent(0.5, 1) == 50


def test_repro_shows_every_device_as_graded_and_the_upstream_gradient(tmp_path):
    """A failure only the meta-device placement check sees is reproduced too (same devices and
    instruments as make grade); a gradient check prints the upstream gradient it used."""
    sub = build_submission(tmp_path / "sub", "pooling.max_pool2d", ZOO["pool_default_device"].source)
    proc = subprocess.run(
        [sys.executable, "-m", "autograder", "repro", "pooling.max_pool2d", "1", "--submission", str(sub)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    assert "cpu   passed" in proc.stdout and "meta  failed" in proc.stdout, proc.stdout
    assert "created a CPU tensor" in proc.stdout
    assert "upstream gradient" in proc.stdout


@pytest.mark.parametrize("exercise", [e.id for e in catalogue.EXERCISES])
def test_hints_never_recommend_what_the_exercise_forbids_or_warns_against(exercise):
    """No hint calls a forbidden operation or name, and none builds −|x| with abs() or sign(), whose
    slope at 0 is 0 (the tanh docstring warns against it)."""
    ex = catalogue.get(exercise)
    warned = [f"{prefix}{op}(" for op in ex.forbidden for prefix in ("torch.", "F.", "x.", "nn.")]
    warned += [f"{name}." for name in ex.forbidden_names] + ([".abs()", "sign("] if exercise == "neurons.tanh" else [])
    for hint in hints.HINTS[exercise]:
        assert not any(w in hint for w in warned), (hint, warned)
