"""The warm-up pays PyTorch's lazy costs before any grade (``autograder.warmup``): the meta kernels,
a backward pass and ``torch.optim``'s SGD function run without importing ``torch._dynamo`` (about a
second each time otherwise). Proved by what gets imported, never by a timing. ATen's own meta kernels
come back where PyTorch's Python ones override them, with the same shapes, dtypes, devices and
refusals on a battery of the course's ops; no op loses its meta kernel."""

from __future__ import annotations

import json
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


META_BATTERY = """
import json, torch
import torch.nn.functional as F
import torch._meta_registrations
from autograder import warmup

def m(*shape, dtype=torch.float32):
    return torch.empty(*shape, device="meta", dtype=dtype)

x, d, i = m(4, 5), m(4, 5, dtype=torch.float64), m(4, dtype=torch.int64)
images, kernels = m(2, 3, 8, 8), m(4, 3, 3, 3)
CASES = {
    "times a number": lambda: x * 2, "float32 + float64": lambda: x + d, "int / int": lambda: i / 2,
    "times a 0-dim CPU tensor": lambda: x * torch.tensor(2.0), "exp": lambda: d.exp(), "expm1": lambda: x.expm1(),
    "log": lambda: x.log(), "abs": lambda: x.abs(), "sign": lambda: x.sign(), "sqrt": lambda: x.sqrt(),
    "pow": lambda: x**2, "clamp": lambda: x.clamp(min=0), "maximum": lambda: torch.maximum(x, d),
    "where": lambda: torch.where(x > 0, x, -x), "where with a number": lambda: torch.where(x > 0, x, 0.0),
    "amax": lambda: x.amax(1, keepdim=True), "sum": lambda: d.sum(0), "mean": lambda: x.mean((0, 1)),
    "var": lambda: x.var(0, unbiased=False), "quantile-free sort": lambda: x.sort(1).values,
    "cat": lambda: torch.cat([x, x], 0), "stack": lambda: torch.stack([x, x]), "matmul": lambda: x @ m(5, 3),
    "bmm": lambda: torch.bmm(m(2, 4, 5), m(2, 5, 3)), "gather": lambda: x.gather(1, m(4, 2, dtype=torch.int64)),
    "index": lambda: x[torch.tensor([0, 2])], "unfold": lambda: images.unfold(2, 3, 1).unfold(3, 3, 1),
    "log_softmax": lambda: F.log_softmax(x, 1), "nll_loss": lambda: F.nll_loss(x, i),
    "cross_entropy": lambda: F.cross_entropy(x, i), "conv2d": lambda: F.conv2d(images, kernels, padding=1),
    "max_pool2d": lambda: F.max_pool2d(images, 2), "pad": lambda: F.pad(images, (1, 1, 1, 1)),
    "linear": lambda: F.linear(x, m(3, 5), m(3)), "backward": lambda: _grad(),
    "a full CPU tensor": lambda: x + torch.ones(4, 5), "nonzero": lambda: x.nonzero(),
    "item": lambda: x.sum().item(),
}

def _grad():
    w = m(4, 5).requires_grad_()
    (w.exp() * x).sum().backward()
    return w.grad

def battery():
    out = {}
    for name, case in CASES.items():
        try:
            r = case()
            out[name] = [list(r.shape), str(r.dtype), str(r.device)]
        except Exception as exc:  # what meta refuses is refused the same way
            out[name] = type(exc).__name__
    return out

python = torch._meta_registrations._meta_lib_dont_use_me_use_register_meta
had = sorted(key.rsplit("/", 1)[0].replace("/", "::", 1) for key in python._op_impls)
before = battery()
kept = warmup.native_meta_kernels()
after = battery()
print(json.dumps({
    "before": before, "after": after, "kept": kept, "had": len(had),
    "lost": [op for op in had if not torch._C._dispatch_has_kernel_for_dispatch_key(op, "Meta")],
    "python mul": "_meta_registrations" in torch._C._dispatch_dump("aten::mul.Tensor").split("Meta (inactive)")[0],
}))
"""


@pytest.fixture(scope="module")
def meta_battery() -> dict:
    proc = subprocess.run([sys.executable, "-c", META_BATTERY], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def test_atens_own_meta_kernels_give_every_shape_dtype_device_and_refusal_the_python_ones_did(meta_battery):
    assert meta_battery["after"] == meta_battery["before"]
    assert meta_battery["before"]["a full CPU tensor"] == "RuntimeError"  # the placement check's point


def test_atens_own_meta_kernels_are_back_and_no_op_lost_its_meta_kernel(meta_battery):
    assert 0 < meta_battery["kept"] < meta_battery["had"]  # some ops have no C++ meta kernel: they keep theirs
    assert meta_battery["lost"] == []
    assert meta_battery["python mul"] is False  # mul's Meta kernel is ATen's, not _meta_registrations'
