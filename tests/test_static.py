"""The source scan finds tampering and forbidden names without importing learner code."""

from __future__ import annotations

import shutil

import pytest

from autograder.course import catalogue
from autograder.scoring import static
from conftest import EXERCISES, SOLUTIONS

pytestmark = pytest.mark.pure  # no sandbox, no subprocess: `make test-fast` runs these


@pytest.mark.parametrize(
    "source",
    [
        "import ctypes\n",
        "import torch\nx = torch._C\n",
        "from torch.utils import _python_dispatch\n",
        "import gc\ngc.get_objects()\n",
        "m = __import__('os')\n",
        "def f():\n    return f.__globals__\n",
        "from autograder import worker\n",
        "class Mode:\n    def __torch_dispatch__(self, func, types, args=(), kwargs=None):\n        pass\n",
        "import torch.utils._python_dispatch as d\n",
    ],
)
def test_tampering_is_found(source):
    assert static.tampering(source)


@pytest.mark.parametrize("directory", [SOLUTIONS, EXERCISES])
def test_reference_solutions_and_stubs_are_clean(directory):
    for module in catalogue.MODULES:
        assert static.tampering((directory / f"{module}.py").read_text()) == [], module


def test_torch_optim_is_forbidden_in_sgd_step_only(tmp_path):
    shutil.copytree(SOLUTIONS, tmp_path / "sub")
    path = tmp_path / "sub" / "regularization.py"
    path.write_text(
        path.read_text() + "\n\ndef sgd_step(params, lr, weight_decay=0.0):\n"
        "    torch.optim.SGD(list(params), lr, weight_decay=weight_decay).step()\n"
    )
    message = static.scan(tmp_path / "sub", catalogue.get("regularization.sgd_step"))
    assert message and "optim" in message and "line" in message
    assert static.scan(tmp_path / "sub", catalogue.get("regularization.l2_penalty")) is None


def test_syntax_errors_are_left_to_the_worker():
    assert static.tampering("def broken(:\n") == []


@pytest.mark.parametrize(
    "source",
    [
        "def tanh(x):\n    gc = 0.5  # a local named like a module\n    return x * gc\n",
        'def tanh(x):\n    """same idea as torch._C and ctypes, in words only"""\n    return x\n',
        "def tanh(x):\n    print('autograder, inspect, __import__, f_globals')\n    return x\n",
        "# import ctypes\ndef tanh(x):\n    return x\n",
        "def tanh(x, inspect=None, importlib=1):\n    return x\n",
    ],
)
def test_words_strings_comments_and_local_names_are_not_code(source):
    assert static.tampering(source) == []


def test_a_docstring_naming_torch_optim_is_not_a_use():
    source = (
        "import torch\n\ndef sgd_step(params, lr, weight_decay=0.0):\n"
        '    """The same update as torch.optim.SGD, by hand."""\n'
        '    SGD = "plain gradient descent"\n    return None\n'
    )
    assert static.scan_source(source, catalogue.get("regularization.sgd_step")) is None


NEURONS = """import torch
import math

def _helper(x):
    import ctypes
    return x

def tanh(x):
    return _helper(torch.exp(x))

def neuron(x, w, b):
    return tanh(x @ w.T + b)

def count_parameters(model):
    return sum(p.numel() for p in model.parameters())
"""


def test_a_finding_costs_the_functions_that_run_it_only():
    costs = {e.function: static.scan_source(NEURONS, e) for e in catalogue.EXERCISES if e.module == "neurons"}
    assert costs["tanh"] and "in _helper" in costs["tanh"] and "`ctypes` (line 5)" in costs["tanh"]
    assert costs["neuron"]  # it calls tanh, which runs the helper
    assert costs["count_parameters"] is None and costs["sensitive_mask"] is None and costs["TinyNet"] is None


def test_a_finding_at_module_level_costs_the_whole_module():
    source = "import gc\n" + NEURONS.replace("    import ctypes\n", "")
    for e in catalogue.EXERCISES:
        if e.module == "neurons":
            assert "at module level" in static.scan_source(source, e), e.id


def test_a_finding_costs_the_exercises_that_use_it_per_the_catalogue():
    source = (
        "import torch\n\ndef log_softmax(logits, dim=-1):\n    return torch._C._nn.log_softmax(logits)\n\n"
        "def nll_loss(log_probs, target, weight=None, ignore_index=-100, reduction='mean'):\n    return 0\n"
    )
    assert static.scan_source(source, catalogue.get("losses.log_softmax"))
    assert static.scan_source(source, catalogue.get("losses.cross_entropy"))  # uses log_softmax
    assert static.scan_source(source, catalogue.get("losses.nll_loss")) is None


@pytest.mark.parametrize(
    "source",
    [
        "def iqr(x):\n    return " + "-" * 200_000 + "1\n",  # the parser runs out of memory (MemoryError)
        "def iqr(x):\n    return " + "(" * 300 + "1" + ")" * 300 + "\n",  # too many nested parentheses
        "def iqr(x):\n    return 1\0\n",  # a null byte
    ],
    ids=["parser-memory", "nesting", "null-byte"],
)
def test_source_the_parser_cannot_hold_is_left_to_the_worker_not_a_crash(source):
    exercise = catalogue.BY_ID["outliers.iqr"]
    assert static.scan_source(source, exercise) is None  # nothing found: the worker reports the error
    static.undecodable(static.as_bytes(source))  # answers (None or a reason), never raises


def test_the_scorer_parses_learner_text_one_thread_at_a_time(monkeypatch):
    """CPython 3.11's AST builder keeps its recursion depth per interpreter: two threads parsing at
    once (grade-batch's graders) once failed a grade with a SystemError in CI."""
    import ast  # the module whose parse is watched
    import threading
    import time

    inside, most, real = [0], [0], ast.parse

    def watched(*args, **kwargs):
        inside[0] += 1
        most[0] = max(most[0], inside[0])
        time.sleep(0.01)  # a wide window for another thread to come in
        try:
            return real(*args, **kwargs)
        finally:
            inside[0] -= 1

    monkeypatch.setattr(ast, "parse", watched)
    texts = [f"def iqr(x):\n    return x + {i}\n" for i in range(24)]

    def work(i):
        static.undecodable(texts[i].encode())
        static.scan_source(texts[i], catalogue.BY_ID["outliers.iqr"])

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(texts))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert most[0] == 1
