"""The source scan finds tampering and forbidden names without importing learner code."""
from __future__ import annotations

import shutil

import pytest

from autograder import catalogue, static
from conftest import EXERCISES, SOLUTIONS


@pytest.mark.parametrize("source", [
    "import ctypes\n",
    "import torch\nx = torch._C\n",
    "from torch.utils import _python_dispatch\n",
    "import gc\ngc.get_objects()\n",
    "m = __import__('os')\n",
    "def f():\n    return f.__globals__\n",
    "import sys\nsys.modules['autograder']\n",
])
def test_tampering_is_found(source):
    assert static.tampering(source)


@pytest.mark.parametrize("directory", [SOLUTIONS, EXERCISES])
def test_reference_solutions_and_stubs_are_clean(directory):
    for module in catalogue.MODULES:
        assert static.tampering((directory / f"{module}.py").read_text()) == [], module


def test_torch_optim_is_forbidden_in_sgd_step_only(tmp_path):
    shutil.copytree(SOLUTIONS, tmp_path / "sub")
    path = tmp_path / "sub" / "regularization.py"
    path.write_text(path.read_text() + "\n\ndef sgd_step(params, lr, weight_decay=0.0):\n"
                    "    torch.optim.SGD(list(params), lr, weight_decay=weight_decay).step()\n")
    message = static.scan(tmp_path / "sub", catalogue.get("regularization.sgd_step"))
    assert message and "optim" in message and "line" in message
    assert static.scan(tmp_path / "sub", catalogue.get("regularization.l2_penalty")) is None


def test_syntax_errors_are_left_to_the_worker():
    assert static.tampering("def broken(:\n") == []
