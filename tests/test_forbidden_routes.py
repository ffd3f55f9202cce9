"""PyTorch's other implementations of a forbidden op (its Python decompositions, references and meta
kernels, another operator namespace, a neighbour kernel, ``torch.optim`` reached through a string)
earn nothing: each is closed in the exercise's process before learner code runs (``sandbox.forbid``).
"""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest

from conftest import SOLUTIONS
from mutants import build_submission

# name: (target, replacement source, text the message must contain)
ROUTES = {
    "log_softmax via torch._decomp's table": (
        "losses.log_softmax",
        """
def log_softmax(logits, dim=-1):
    import torch._decomp
    table = torch._decomp.decomposition_table
    return table[torch.ops.aten._log_softmax.default](logits, dim % logits.dim(), False)
""",
        "_log_softmax",
    ),
    "log_softmax via torch._refs": (
        "losses.log_softmax",
        """
def log_softmax(logits, dim=-1):
    import torch._refs
    return torch._refs.log_softmax(logits, dim)
""",
        "log_softmax",
    ),
    "log_softmax via an overload's meta kernel": (
        "losses.log_softmax",
        """
def log_softmax(logits, dim=-1):
    op = torch.ops.aten._log_softmax.default
    return next(iter(op.py_kernels.values()))(logits, dim % logits.dim(), False)
""",
        "_log_softmax",
    ),
    "log_softmax via torch.logcumsumexp": (
        "losses.log_softmax",
        """
def log_softmax(logits, dim=-1):
    total = torch.logcumsumexp(logits, dim).narrow(dim, logits.shape[dim] - 1, 1)
    return logits - total
""",
        "logcumsumexp",
    ),
    "cross_entropy via torch._decomp's tables": (
        "losses.cross_entropy",
        """
def cross_entropy(logits, target, weight=None, reduction="mean", ignore_index=-100):
    import torch._decomp
    table = torch._decomp.decomposition_table
    log_probs = table[torch.ops.aten._log_softmax.default](logits, 1, False)
    return nll_loss(log_probs, target, weight, reduction, ignore_index)
""",
        "_log_softmax",
    ),
    "max_pool2d via torch._decomp's table": (
        "pooling.max_pool2d",
        """
def max_pool2d(x, kernel_size, stride=None, padding=0):
    import torch._decomp
    pair = lambda v: [v, v] if isinstance(v, int) else list(v)
    stride = kernel_size if stride is None else stride
    table = torch._decomp.decomposition_table
    op = torch.ops.aten.max_pool2d_with_indices.default
    return table[op](x, pair(kernel_size), pair(stride), pair(padding))[0]
""",
        "max_pool2d_with_indices",
    ),
    "tanh via the prims namespace": (
        "neurons.tanh",
        """
def tanh(x):
    return torch.ops.prims.tanh(x)
""",
        "tanh",
    ),
    "sgd_step via torch.optim found through a string": (
        "regularization.sgd_step",
        """
def sgd_step(params, lr, weight_decay=0.0):
    getattr(torch, "op" + "tim").SGD(params, lr=lr, weight_decay=weight_decay).step()
""",
        "torch.optim",
    ),
    "sgd_step via torch.optim's functional sgd": (
        "regularization.sgd_step",
        """
def sgd_step(params, lr, weight_decay=0.0):
    functional = getattr(torch, "op" + "tim").sgd
    params = [p for p in params if p.grad is not None]
    with torch.no_grad():
        functional.sgd(params, [p.grad for p in params], [None] * len(params), weight_decay=weight_decay,
                       momentum=0.0, lr=lr, dampening=0.0, nesterov=False, maximize=False)
""",
        "torch.optim",
    ),
    "sgd_step via the fused kernel": (
        "regularization.sgd_step",
        """
def sgd_step(params, lr, weight_decay=0.0):
    params = [p for p in params if p.grad is not None]
    with torch.no_grad():
        torch._fused_sgd_(params, [p.grad for p in params], [], weight_decay=weight_decay, momentum=0.0, lr=lr,
                          dampening=0.0, nesterov=False, maximize=False, is_first_step=True)
""",
        "_fused_sgd",
    ),
    "max_pool2d on the meta device via its Python meta kernel": (
        "pooling.max_pool2d",
        """
def max_pool2d(x, kernel_size, stride=None, padding=0):
    import torch._meta_registrations as meta
    pair = lambda v: [v, v] if isinstance(v, int) else list(v)
    stride = kernel_size if stride is None else stride
    return meta.meta_max_pool2d_with_indices(x, pair(kernel_size), pair(stride), pair(padding))[0]
""",
        "max_pool2d_with_indices",
    ),
    "tanh via NumPy, with a backward written by hand": (
        "neurons.tanh",
        """
class _NumpyTanh(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        import numpy as np
        y = torch.from_numpy(np.tanh(x.detach().cpu().numpy())).to(x.device)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, grad):
        (y,) = ctx.saved_tensors
        return grad * (1 - y * y)


def tanh(x):
    return _NumpyTanh.apply(x)
""",
        "numpy.tanh",
    ),
    "tanh via math.tanh, element by element": (
        "neurons.tanh",
        """
def tanh(x):
    import math
    values = [math.tanh(v) for v in x.detach().cpu().flatten().tolist()]
    return torch.tensor(values, dtype=x.dtype, device=x.device).reshape(x.shape)
""",
        "math.tanh",
    ),
    "pad2d via numpy.pad": (
        "convolution.pad2d",
        """
def pad2d(x, padding):
    import numpy as np
    ph, pw = (padding, padding) if isinstance(padding, int) else tuple(padding)
    widths = [(0, 0)] * (x.dim() - 2) + [(ph, ph), (pw, pw)]
    return torch.from_numpy(np.pad(x.detach().cpu().numpy(), widths)).to(x.device)
""",
        "numpy.pad",
    ),
}


@pytest.mark.parametrize("name", list(ROUTES))
def test_a_library_route_to_a_forbidden_op_earns_nothing(tmp_path, warm_grader, name):
    target, source, named = ROUTES[name]
    module = target.split(".", 1)[0]
    sub = build_submission(tmp_path / "submission", target, source)
    hit = {e.exercise.id: e for e in warm_grader.grade(sub, [module]).exercises}[target]
    assert hit.score == 0, f"{name}: {hit.outcome} {hit.score} {hit.message}"
    shown = " ".join([hit.message, *hit.notes, *(u.message for u in hit.units)])
    assert named in shown, f"{name}: the feedback does not name {named!r}: {shown}"


def test_a_utf7_cookie_does_not_bring_torch_optim_back(tmp_path, warm_grader):
    """The name scan cannot read a UTF-7 file as Python does; torch.optim is dead in sgd_step's
    process however its name is spelled."""
    sub = tmp_path / "submission"
    shutil.copytree(SOLUTIONS, sub)
    path = sub / "regularization.py"
    source = "def sgd_step(params, lr, weight_decay=0.0):\n    torch.optim.SGD(params, lr=lr).step()\n"
    hidden = source.replace("optim", "+AG8-ptim")  # "+AG8-" is UTF-7 for "o"
    path.write_text("# -*- coding: utf-7 -*-\nimport torch\n\n" + hidden, encoding="ascii")
    hit = {e.exercise.id: e for e in warm_grader.grade(sub, ["regularization"]).exercises}["regularization.sgd_step"]
    assert hit.score == 0, f"{hit.outcome} {hit.score} {hit.message}"


def test_every_python_route_found_is_dead():
    """No function the plan finds is left alive because its code could not be replaced (``_neuter``
    would skip it silently): each one's code is the raising kernel's call, in every exercise."""
    script = """
import numpy, torch
import torch._decomp, torch._meta_registrations, torch._refs
from autograder.course import catalogue
from autograder.sandbox import forbid
forbid.warm(catalogue.EXERCISES)
alive, total = [], 0
for exercise in catalogue.EXERCISES:
    forbid.block(exercise, [])
    for function, op in forbid.python_routes(exercise):
        total += 1
        if function.__code__.co_filename != "<forbidden>":
            alive.append(f"{exercise.id}: {function.__qualname__}")
print(total, alive)
"""
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    total, alive = proc.stdout.split(" ", 1)
    assert int(total) > 100 and alive.strip() == "[]", proc.stdout + proc.stderr


def test_an_exercise_is_blocked_whether_or_not_its_job_warmed_it():
    """The worker finds an exercise's forbidden routes for the exercises of each job (a one-exercise
    grade pays for one), once per exercise: ``block`` finds them itself for one no job warmed, so a
    route is never left open for want of a warm-up, and warming again duplicates nothing."""
    script = """
import math, numpy, torch
import torch._decomp, torch._meta_registrations, torch._refs
from autograder.course import catalogue
from autograder.sandbox import forbid
tanh, pad = catalogue.BY_ID["neurons.tanh"], catalogue.BY_ID["convolution.pad2d"]
forbid.warm([pad])
first = len(forbid.library_twins(None)[pad])
forbid.warm([pad, pad])
assert len(forbid.library_twins(None)[pad]) == first > 0, forbid.library_twins(None)[pad]
assert tanh not in forbid.library_twins(None)  # not warmed: a job of pad2d alone
hits = []
registration = forbid.block(tanh, hits)
for route in (lambda: numpy.tanh(0.5), lambda: math.tanh(0.5), lambda: torch.tanh(torch.ones(2))):
    try:
        route()
    except forbid.ForbiddenOperation:
        continue
    raise SystemExit("a route of tanh is open")
print("blocked", hits)
"""
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    blocked = proc.returncode == 0 and proc.stdout.startswith("blocked ['tanh', 'tanh', 'tanh']")
    assert blocked, proc.stdout + proc.stderr
