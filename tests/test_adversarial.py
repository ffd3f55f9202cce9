"""Hostile submissions: each gets no undeserved point, the rest is graded normally, in bounded time."""

from __future__ import annotations

import json
import time

import pytest

from autograder.course import catalogue
from autograder.feedback import report
from autograder.scoring.grader import Grader
from autograder.scoring.results import Limits
from conftest import by_id, submission_with

FAST = Limits(check_timeout=3.0, exercise_timeout=20.0, total_timeout=120.0, memory_mb=768)


@pytest.fixture(scope="module")
def fast_grader():
    """One warm grader for the file, as grade-batch keeps one for a class of hostile and honest
    submissions alike: each submission still gets fresh processes, only the worker's start-up is shared."""
    with Grader(limits=FAST) as grader:
        yield grader


def assert_others_full(result, spoiled: set[str]):
    for ex in result.exercises:
        if ex.exercise.id not in spoiled:
            assert ex.outcome == "passed" and ex.score == ex.max_score, (ex.exercise.id, ex.message)


CASES = {
    "infinite loop in a function": (
        "convolution",
        """
        def conv1d(x, weight, bias=None, stride=1, padding=0):
            while True:
                pass
        """,
        {"convolution.conv1d"},
        "timeout",
    ),
    "os._exit at import": (
        "pooling",
        """
        import os
        os._exit(0)
        """,
        {"pooling.max_pool2d"},
        "crashed",
    ),
    "sys.exit in a function": (
        "losses",
        """
        import sys
        def nll_loss(*args, **kwargs):
            sys.exit(3)
        """,
        {"losses.nll_loss", "losses.cross_entropy"},
        "crashed",
    ),
    "segfault": (
        "normalization",
        """
        import faulthandler
        def channel_stats(x):
            faulthandler._sigsegv()
        """,
        {"normalization.channel_stats"},
        "crashed",
    ),
    "memory hog": (
        "outliers",
        """
        def iqr(values):
            hog = []
            while True:
                hog.append(bytearray(64 * 2**20))
        """,
        {"outliers.iqr", "outliers.outlier_bounds", "outliers.outlier_mask", "outliers.remove_outliers"},
        "crashed",
    ),
    "kills the worker": (
        "regularization",
        """
        import os, signal
        def l1_penalty(model):
            os.kill(os.getppid(), signal.SIGKILL)
        """,
        {"regularization.l1_penalty", "regularization.regularized_loss"},
        "forbidden",
    ),
    "starts a process": (
        "neurons",
        """
        import subprocess
        def count_parameters(model):
            subprocess.Popen(["sleep", "300"])
            return 0
        """,
        {"neurons.count_parameters"},
        "failed",
    ),  # PermissionError: no process may start
    "module-level endless loop": (
        "pooling",
        """
        while True:
            pass
        """,
        {"pooling.max_pool2d"},
        "timeout",
    ),
}


@pytest.mark.parametrize("case", list(CASES), ids=list(CASES))
def test_hostile_submission_is_contained(tmp_path, fast_grader, case):
    module, code, spoiled, outcome = CASES[case]
    sub = submission_with(tmp_path, module, code)
    start = time.monotonic()
    result = fast_grader.grade(sub, [module])
    assert time.monotonic() - start < FAST.total_timeout
    target = by_id(result)[sorted(spoiled)[0]]
    assert target.score < target.max_score
    assert target.outcome == outcome, target.message
    assert_others_full(result, spoiled)


def test_monkeypatched_comparisons_earn_nothing(tmp_path, fast_grader):
    sub = submission_with(
        tmp_path,
        "normalization",
        """
        import numpy, torch, torch.testing
        torch.allclose = lambda *a, **k: True
        torch.equal = lambda *a, **k: True
        torch.testing.assert_close = lambda *a, **k: None
        numpy.allclose = lambda *a, **k: True
        numpy.testing.assert_allclose = lambda *a, **k: None
        def normalize(x, mean, std):
            return torch.zeros_like(x)
        """,
    )
    result = by_id(fast_grader.grade(sub, ["normalization"]))
    assert result["normalization.normalize"].score == 0
    assert result["normalization.channel_stats"].outcome == "passed"


def test_forged_results_json_is_overwritten_and_nothing_escapes(tmp_path, fast_grader, root):
    forged = json.dumps({"score": 999, "max_score": 999, "tests": []})
    sub = submission_with(
        tmp_path,
        "outliers",
        f"""
        import os
        FORGED = {forged!r}
        for top in ("/", "/tmp", os.getcwd(), os.path.dirname(__file__), {str(tmp_path)!r}, {str(root)!r}):
            for dirpath, dirnames, _ in os.walk(top):
                try:
                    with open(os.path.join(dirpath, "results.json"), "w") as f:
                        f.write(FORGED)
                except Exception:
                    pass
                if dirpath.count(os.sep) > 4:
                    dirnames[:] = []
        def count_nan(values):
            return 10**6
        """,
    )
    out = tmp_path / "out" / "results.json"
    result = fast_grader.grade(sub, ["outliers"])
    report.write_json(result, out)
    data = json.loads(out.read_text())
    assert data["score"] < data["max_score"] == sum(e.points for e in catalogue.EXERCISES if e.module == "outliers")
    assert not list((tmp_path / "submission").rglob("results.json"))
    assert not (root / "results.json").exists()
    assert result.exercises[0].outcome in ("forbidden", "passed")


TAMPERING = {
    "pops the recorder": """
        import torch, torch.nn.functional as F
        def conv2d(x, weight, bias=None, stride=1, padding=0):
            tc = getattr(torch, "_" + "C")
            if getattr(tc, "_len_torch_" + "dispatch_stack")():  # the Python recorder is a mode; the C++ one is not
                getattr(tc, "_pop_torch_" + "dispatch_stack")(None)  # really pops it
            return F.conv2d(x, weight, bias, stride, padding)
        """,
    "disables python dispatch": """
        import torch, torch.nn.functional as F
        def conv2d(x, weight, bias=None, stride=1, padding=0):
            with getattr(getattr(torch, "_" + "C"), "_Disable" + "TorchDispatch")():
                return F.conv2d(x, weight, bias, stride, padding)
        """,
    "redispatches below the mode": """
        import torch
        def conv2d(x, weight, bias=None, stride=1, padding=0):
            op = torch.ops.aten.convolution.default
            keys = getattr(torch, "_" + "C").DispatchKeySet("CPU")
            return getattr(op, "re" + "dispatch")(keys, x, weight, bias, [stride] * 2, [padding] * 2, [1, 1], False,
                                                  [0, 0], 1)
        """,
    "names the instruments": """
        import torch.utils._python_dispatch as pd
        import torch.nn.functional as F
        def conv2d(x, weight, bias=None, stride=1, padding=0):
            pd._disable_current_modes()
            return F.conv2d(x, weight, bias, stride, padding)
        """,
    "switches off record functions": """
        import torch, torch.nn.functional as F
        def conv2d(x, weight, bias=None, stride=1, padding=0):
            getattr(torch.autograd, "_enable_record" + "_function")(False)  # the C++ recorder's callbacks
            return F.conv2d(x, weight, bias, stride, padding)
        """,
    "clears every callback": """
        import torch, torch.nn.functional as F
        def conv2d(x, weight, bias=None, stride=1, padding=0):
            getattr(getattr(torch, "_" + "C")._autograd, "_clear" + "_callbacks")()  # removes the C++ recorder
            return F.conv2d(x, weight, bias, stride, padding)
        """,
    "steps around modes": """
        import torch, torch.nn.functional as F
        from torch.utils import _python_dispatch as pd
        def conv2d(x, weight, bias=None, stride=1, padding=0):
            with pd._disable_current_modes():  # pauses the C++ recorder as it pops the Python one
                return F.conv2d(x, weight, bias, stride, padding)
        """,
    "walks up the stack": """
        import sys
        import torch.nn.functional as F
        def conv2d(x, weight, bias=None, stride=1, padding=0):
            getattr(sys, "_get" + "frame")(2).f_locals.clear()
            return F.conv2d(x, weight, bias, stride, padding)
        """,
    "inspects frames": """
        import torch.nn.functional as F
        def conv2d(x, weight, bias=None, stride=1, padding=0):
            try:
                raise ValueError
            except ValueError as e:
                frame = getattr(e.__traceback__, "tb_" + "frame")
            return F.conv2d(x, weight, bias, stride, padding)
        """,
}


@pytest.mark.parametrize("case", list(TAMPERING), ids=list(TAMPERING))
def test_switching_off_the_recorder_scores_zero(tmp_path, fast_grader, case):
    sub = submission_with(tmp_path, "convolution", TAMPERING[case])
    result = by_id(fast_grader.grade(sub, ["convolution.conv2d", "convolution.conv1d"]))
    conv2d = result["convolution.conv2d"]
    assert conv2d.score == 0 and conv2d.outcome == "forbidden", conv2d.message


def test_a_flood_of_output_is_dropped_never_fatal(tmp_path, fast_grader):
    """Printing is free: a correct function that prints 100 MB scores full; the output kept is
    truncated and a note says so."""
    sub = submission_with(
        tmp_path,
        "outliers",
        """
        import sys
        _count_nan = count_nan
        def count_nan(values):
            chunk = "spam " * 200_000 + "\\n"
            for _ in range(100):  # 100 MB
                sys.stdout.write(chunk)
            return _count_nan(values)
        """,
    )
    start = time.monotonic()
    result = fast_grader.grade(sub, ["outliers"])
    assert time.monotonic() - start < 60
    ex = by_id(result)["outliers.count_nan"]
    assert ex.outcome == "passed" and ex.score == ex.max_score, ex.message
    assert len(ex.output) <= FAST.max_output
    assert any("printed" in note and "kept" in note for note in ex.notes), ex.notes
    assert_others_full(result, {"outliers.count_nan"})


def test_some_printing_is_fine_and_shown(tmp_path, fast_grader):
    sub = submission_with(
        tmp_path,
        "outliers",
        """
        _count_nan = count_nan
        def count_nan(values):
            print("debug:", values)
            return _count_nan(values)
        """,
    )
    ex = by_id(fast_grader.grade(sub, ["outliers.count_nan"]))["outliers.count_nan"]
    assert ex.outcome == "passed" and "debug:" in ex.output


def test_submissions_graded_on_one_warm_worker_cannot_see_each_other(tmp_path):
    planter = submission_with(
        tmp_path / "a",
        "outliers",
        """
        import os
        _count_nan = count_nan
        def count_nan(values):
            open("planted.txt", "w").write("answers")
            return _count_nan(values)
        """,
    )
    finder = submission_with(
        tmp_path / "b",
        "outliers",
        """
        import glob, os
        _count_nan = count_nan
        def count_nan(values):
            root = os.path.dirname(os.getcwd())
            leftovers = glob.glob(os.path.join(root, "**", "planted.txt"), recursive=True)
            leftovers += glob.glob(os.path.join(root, "submission-1"))
            return -1 if leftovers else _count_nan(values)
        """,
    )
    with Grader(limits=FAST) as grader:
        first = grader.grade(planter, ["outliers.count_nan"]).exercises[0]
        second = grader.grade(finder, ["outliers.count_nan"]).exercises[0]
    assert first.outcome == "passed", first.message
    assert second.outcome == "passed", second.message
