"""Public checks of losses.py: log_softmax, nll_loss and cross_entropy against F.log_softmax, F.nll_loss
and F.cross_entropy. The case builders are shared with hidden/.
"""

import torch
import torch.nn.functional as F

from autograder.checks.core import Inputs, call_check, dims, dtype_name, raises_check
from autograder.course.compare import EXACT, STABILITY

SAMPLES, CLASSES = 6, 4
_DEFAULT = object()  # an option left out of the call, so the function's default is used


def logits(g, shape, dtype, extreme=False):
    """Random logits; ``extreme``: each is also shifted by −1e4, 0 or +1e4 (naive exp overflows)."""
    x = torch.randn(shape, generator=g, dtype=torch.float64) * 3
    if extreme:
        x = x + 1e4 * torch.randint(-1, 2, shape, generator=g).to(torch.float64)
    return x.to(dtype)


def _log_softmax_reference(logits, dim=-1):
    return F.log_softmax(logits, dim=dim)  # F.log_softmax's own default dim is not −1


def log_softmax_case(dtype, shape, dim=_DEFAULT, *, extreme=False, grad=False):
    def make(g):
        return Inputs((logits(g, shape, dtype, extreme),), {} if dim is _DEFAULT else {"dim": dim}, names=("logits",))

    name = f"{dtype_name(dtype)}, {dims(shape)} logits"
    name += ", dim left out (default −1)" if dim is _DEFAULT else f", dim={dim}"
    name += (", logits of ±1e4 (stability)" if extreme else "") + (", gradients" if grad else "")
    return call_check("losses.log_softmax", _log_softmax_reference)(
        name, make, grad=grad, tol=STABILITY if extreme else EXACT
    )


def targets(g, n, c, ignore_index=-100, ignored=()):
    """Random classes in ``[0, c)``, never ``ignore_index``; the samples at ``ignored`` get ``ignore_index``."""
    t = torch.randint(0, c - 1 if 0 <= ignore_index < c else c, (n,), generator=g)
    if 0 <= ignore_index < c:
        t = t + (t >= ignore_index).long()
    t[list(ignored)] = ignore_index
    return t


def _loss_case(exercise, reference, first, dtype, reduction, weight, ignore_index, ignored, extreme, grad, note):
    options = {k: v for k, v in (("reduction", reduction), ("ignore_index", ignore_index)) if v is not _DEFAULT}
    shown_index = -100 if ignore_index is _DEFAULT else ignore_index

    def make(g):
        scores = logits(g, (SAMPLES, CLASSES), dtype, extreme)
        x = F.log_softmax(scores.double(), dim=1).to(dtype) if first == "log_probs" else scores
        kwargs = dict(options)
        if weight:  # a keyword, so it is a constant (no gradient), as in PyTorch
            kwargs["weight"] = (torch.rand(CLASSES, generator=g, dtype=torch.float64) * 2 + 0.25).to(dtype)
        return Inputs((x, targets(g, SAMPLES, CLASSES, shown_index, ignored)), kwargs, names=(first, "target"))

    name = f"{dtype_name(dtype)}, {SAMPLES} samples × {CLASSES} classes"
    name += ", reduction left out (default 'mean')" if reduction is _DEFAULT else f", reduction={reduction!r}"
    name += ", class weights" if weight else ""
    if ignored:
        which = "all" if len(ignored) == SAMPLES else f"{len(ignored)} of {SAMPLES}"
        shown = "the default ignore_index −100" if ignore_index is _DEFAULT else f"ignore_index={shown_index}"
        name += f", {shown} on {which} targets"
    elif ignore_index is not _DEFAULT:
        name += f", ignore_index={shown_index} (not among the targets)"
    name += (", logits of ±1e4 (stability)" if extreme else "") + (", gradients" if grad else "")
    name += f"; {note}" if note else ""
    return call_check(exercise, reference)(name, make, grad=grad, tol=STABILITY if extreme else EXACT)


def nll_case(dtype, reduction=_DEFAULT, *, weight=False, ignore_index=_DEFAULT, ignored=(), grad=False, note=""):
    """``ignored``: positions of the samples whose target is the ignore index (default −100)."""
    return _loss_case(
        "losses.nll_loss", F.nll_loss, "log_probs", dtype, reduction, weight, ignore_index, ignored, False, grad, note
    )


def cross_entropy_case(
    dtype, reduction=_DEFAULT, *, weight=False, ignore_index=_DEFAULT, ignored=(), extreme=False, grad=False, note=""
):
    return _loss_case(
        "losses.cross_entropy",
        F.cross_entropy,
        "logits",
        dtype,
        reduction,
        weight,
        ignore_index,
        ignored,
        extreme,
        grad,
        note,
    )


def bad_reduction(exercise, reduction):
    def make(g):
        return Inputs(
            (logits(g, (SAMPLES, CLASSES), torch.float32), targets(g, SAMPLES, CLASSES)), {"reduction": reduction}
        )

    name = f"reduction={reduction!r} (not 'none', 'sum' or 'mean')"
    return raises_check(exercise)(name, make)


f32, f64 = torch.float32, torch.float64

CHECKS = [
    log_softmax_case(f32, (4, 5), dim=-1),
    log_softmax_case(f64, (3, 4, 5), dim=1, grad=True),
    log_softmax_case(f64, (4, 5), dim=-1, extreme=True, grad=True),
    nll_case(f32, "mean"),
    nll_case(f64, "none", grad=True),
    nll_case(f64, "sum", weight=True, grad=True),
    bad_reduction("losses.nll_loss", "average"),
    nll_case(f64, "mean", weight=True, ignored=(1, 4), grad=True),
    cross_entropy_case(f32, "mean"),
    cross_entropy_case(f64, "none", grad=True),
    bad_reduction("losses.cross_entropy", "average"),
    cross_entropy_case(f64, "mean", weight=True, ignored=(0, 3), grad=True),
    cross_entropy_case(f32, "mean", extreme=True),
]
