"""The warm-up pays PyTorch's lazy costs before any grade (``autograder.warmup``): the meta kernels,
a backward pass and ``torch.optim``'s SGD function run without importing ``torch._dynamo`` (about a
second each time otherwise). Proved by what gets imported, never by a timing."""

from __future__ import annotations

import subprocess
import sys

import pytest

SCRIPT = """
import importlib, sys
import torch
for name in ("torch._decomp", "torch._meta_registrations", "torch._refs"):
    importlib.import_module(name)
from autograder import warmup
{warm}
m = torch.empty(2, 3, 4, device="meta")
torch.stack([m.exp(), torch.where(m > 0, m, -m)]).amax(0).sum(1).log()
p = torch.nn.Parameter(torch.ones(3))
(p * 2).sum().backward()
from autograder.checks.models import optim_sgd  # the SGD function the step runs (the method imports dynamo)
optim_sgd([p], 0.1, weight_decay=0.01)
print(sorted(n for n in sys.modules if n == "torch._dynamo"))
"""


@pytest.mark.parametrize(
    ("warm", "dynamo"),
    [("print(warmup.skip_lazy_dynamo_import() > 100)", "[]"), ("print(True)", "['torch._dynamo']")],
    ids=["warmed", "not warmed"],
)
def test_the_warm_up_keeps_torch_dynamo_unloaded(warm, dynamo):
    """Without the warm-up the same ops do import ``torch._dynamo``: the test can fail."""
    proc = subprocess.run([sys.executable, "-c", SCRIPT.format(warm=warm)], capture_output=True, text=True, timeout=300)
    assert proc.stdout.split() == ["True", dynamo], proc.stdout + proc.stderr
