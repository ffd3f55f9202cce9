"""The catalogue of named mistakes: common wrong answers and the evidence that identifies each.

When checks fail, the scorer recomputes each failing check with the known-wrong variants of the
exercise (PyTorch code, run in the scorer on the same seeded inputs); a mistake is named, with
how to fix it, only when its variant reproduces every failing result, gradients included. Two mistakes are
recognised from other evidence: a float32 result for float64 input, and tensors created on
the default device (seen by the placement check on the ``meta`` device).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn


@dataclass(frozen=True)
class Mistake:
    exercise: str  # "*" for evidence-based mistakes that any exercise can make
    name: str
    fix: str
    variants: tuple[Callable, ...] = field(default=())

    def describe(self) -> str:
        return f"looks like {self.name}: {self.fix}"


# ----------------------------------------------------------------------------- outliers (NumPy)
def _values(values):
    return np.asarray(values, dtype=np.float64)


def _quartiles(method, nan_aware=True):
    def q(values):
        a = _values(values)
        fn = np.nanquantile if nan_aware else np.quantile
        with np.errstate(all="ignore"):
            import warnings

            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                if a.size == 0:
                    return math.nan, math.nan
                q1, q3 = fn(a, [0.25, 0.75], method=method)
        return float(q1), float(q3)

    return q


def _iqr_with(quartiles):
    def iqr(values):
        q1, q3 = quartiles(values)
        return q3 - q1

    return iqr


def _bounds_with(quartiles):
    def outlier_bounds(values, k=1.5):
        q1, q3 = quartiles(values)
        return q1 - k * (q3 - q1), q3 + k * (q3 - q1)

    return outlier_bounds


_OTHER_METHODS = ("nearest", "lower", "higher", "midpoint", "hazen", "weibull")


def _mask_inclusive(values, k=1.5):
    a = _values(values)
    lo, hi = _bounds_with(_quartiles("linear"))(a, k)
    return (a <= lo) | (a >= hi)


def _to_int_rounding(values, fill=0):
    a = _values(values)
    return np.where(np.isnan(a), fill, np.round(a)).astype(np.int64)


def _to_int_floor(values, fill=0):
    a = _values(values)
    return np.where(np.isnan(a), fill, np.floor(a)).astype(np.int64)


def _count_nan_equality(values):
    return int((_values(values) == np.nan).sum())


# ----------------------------------------------------------------------------- neurons
def _tanh_overflowing(x):
    return (torch.exp(x) - torch.exp(-x)) / (torch.exp(x) + torch.exp(-x))


def _tanh_via_abs(x):
    e = torch.exp(-2 * x.abs())
    return torch.where(x >= 0, 1.0, -1.0).to(x.dtype) * (1 - e) / (1 + e)


def _tanh_via_sign(x):
    e = torch.exp(-2 * x.abs())
    return torch.sign(x) * (1 - e) / (1 + e)


def _neuron_without_bias(x, w, b):
    return torch.tanh(F.linear(x, w))


class _ReluTinyNet(nn.Module):
    def __init__(self, n_in, n_hidden, n_out):
        super().__init__()
        self.hidden, self.output = nn.Linear(n_in, n_hidden), nn.Linear(n_hidden, n_out)

    def forward(self, x):
        return self.output(torch.relu(self.hidden(x)))


def _count_all_parameters(model):
    return sum(p.numel() for p in model.parameters())


def _sensitive_without_abs(activation, x, min_slope=0.1):
    x = x.detach().clone().requires_grad_(True)
    with torch.enable_grad():
        (slope,) = torch.autograd.grad(activation(x).sum(), x)
    return slope >= min_slope


def _sensitive_in_callers_grad_mode(activation, x, min_slope=0.1):
    leaf = x.detach().requires_grad_(True)
    (slope,) = torch.autograd.grad(activation(leaf).sum(), leaf)  # raises inside no_grad
    return torch.abs(slope).ge(min_slope)


# ----------------------------------------------------------------------------- normalization
def _population_stats(x):
    per_channel = x.transpose(0, 1).reshape(x.shape[1], -1)
    return per_channel.mean(1), per_channel.std(1, correction=0)


def _stats_without_transpose(x):
    per_channel = x.reshape(x.shape[1], -1)
    return per_channel.mean(1), per_channel.std(1)


# ----------------------------------------------------------------------------- losses
def _log_softmax_unshifted(logits, dim=-1):
    return logits - torch.log(torch.exp(logits).sum(dim, keepdim=True))


def _log_of_softmax(logits, dim=-1):
    shifted = logits - logits.amax(dim, keepdim=True)
    return torch.log(torch.exp(shifted) / torch.exp(shifted).sum(dim, keepdim=True))


def _softmax_instead(logits, dim=-1):
    return torch.softmax(logits, dim)


def _log_softmax_last_dim(logits, dim=-1):
    return F.log_softmax(logits, dim=-1)


def _nll_mean_over_n(log_probs, target, weight=None, reduction="mean", ignore_index=-100):
    losses = F.nll_loss(log_probs, target, weight, reduction="none", ignore_index=ignore_index)
    return (
        losses.mean()
        if reduction == "mean"
        else F.nll_loss(log_probs, target, weight, reduction=reduction, ignore_index=ignore_index)
    )


def _nll_mean_over_kept(log_probs, target, weight=None, reduction="mean", ignore_index=-100):
    losses = F.nll_loss(log_probs, target, weight, reduction="none", ignore_index=ignore_index)
    if reduction != "mean":
        return F.nll_loss(log_probs, target, weight, reduction=reduction, ignore_index=ignore_index)
    return losses.sum() / (target != ignore_index).sum()


def _nll_counting_ignored(log_probs, target, weight=None, reduction="mean", ignore_index=-100):
    losses = F.nll_loss(log_probs, target, weight, reduction="none", ignore_index=ignore_index)
    if reduction != "mean":
        return F.nll_loss(log_probs, target, weight, reduction=reduction, ignore_index=ignore_index)
    w = weight if weight is not None else torch.ones(log_probs.shape[1], dtype=log_probs.dtype)
    safe = torch.where(target == ignore_index, 0, target)
    return losses.sum() / w[safe].sum()


def _nll_without_weights(log_probs, target, weight=None, reduction="mean", ignore_index=-100):
    return F.nll_loss(log_probs, target, None, reduction=reduction, ignore_index=ignore_index)


def _cross_entropy_with(inner):
    def cross_entropy(logits, target, weight=None, reduction="mean", ignore_index=-100):
        return inner(F.log_softmax(logits, 1), target, weight, reduction, ignore_index)

    return cross_entropy


def _cross_entropy_from(log_softmax):
    def cross_entropy(logits, target, weight=None, reduction="mean", ignore_index=-100):
        return F.nll_loss(log_softmax(logits, 1), target, weight, reduction=reduction, ignore_index=ignore_index)

    return cross_entropy


def _cross_entropy_dim0(logits, target, weight=None, reduction="mean", ignore_index=-100):
    return F.nll_loss(F.log_softmax(logits, 0), target, weight, reduction=reduction, ignore_index=ignore_index)


# ----------------------------------------------------------------------------- convolution
def _pair(v):
    return (v, v) if isinstance(v, int) else tuple(v)


def _pad_one_side(x, padding):
    ph, pw = _pair(padding)
    return F.pad(x, (0, 2 * pw, 0, 2 * ph))


def _pad_start_only(x, padding):
    ph, pw = _pair(padding)
    return F.pad(x, (pw, 0, ph, 0))


def _pad_swapped(x, padding):
    ph, pw = _pair(padding)
    return F.pad(x, (ph, ph, pw, pw))


def _conv2d_flipped(x, weight, bias=None, stride=1, padding=0):
    return F.conv2d(x, weight.flip(-1, -2), bias, stride, padding)


def _conv2d_without_bias(x, weight, bias=None, stride=1, padding=0):
    return F.conv2d(x, weight, None, stride, padding)


def _conv2d_stride_on_rows(x, weight, bias=None, stride=1, padding=0):
    return F.conv2d(x, weight, bias, (_pair(stride)[0], 1), padding)


def _conv2d_stride_on_columns(x, weight, bias=None, stride=1, padding=0):
    return F.conv2d(x, weight, bias, (1, _pair(stride)[1]), padding)


def _conv2d_swapped_pairs(x, weight, bias=None, stride=1, padding=0):
    return F.conv2d(x, weight, bias, _pair(stride)[::-1], _pair(padding)[::-1])


def _conv2d_swapped_padding(x, weight, bias=None, stride=1, padding=0):
    return F.conv2d(x, weight, bias, stride, _pair(padding)[::-1])


def _conv2d_swapped_stride(x, weight, bias=None, stride=1, padding=0):
    return F.conv2d(x, weight, bias, _pair(stride)[::-1], padding)


def _conv1d_flipped(x, weight, bias=None, stride=1, padding=0):
    return F.conv1d(x, weight.flip(-1), bias, stride, padding)


def _conv_size_ceil(size, kernel_size, padding=0, stride=1):
    return math.ceil((size + 2 * padding - kernel_size) / stride) + 1


def _conv_size_round(size, kernel_size, padding=0, stride=1):
    if kernel_size > size + 2 * padding:
        raise ValueError("the kernel does not fit")
    return round((size + 2 * padding - kernel_size) / stride) + 1


def _conv_size_no_padding(size, kernel_size, padding=0, stride=1):
    if kernel_size > size:
        raise ValueError("the kernel does not fit")
    return (size - kernel_size) // stride + 1


# ----------------------------------------------------------------------------- pooling
def _pool_zero_padding(x, kernel_size, stride=None, padding=0):
    ph, pw = _pair(padding)
    return F.max_pool2d(F.pad(x, (pw, pw, ph, ph)), kernel_size, stride)


def _pool_stride_one(x, kernel_size, stride=None, padding=0):
    return F.max_pool2d(x, kernel_size, 1 if stride is None else stride, padding)


def _pool_ceil(x, kernel_size, stride=None, padding=0):
    return F.max_pool2d(x, kernel_size, stride, padding, ceil_mode=True)


def _pool_ceil_naive(x, kernel_size, stride=None, padding=0):
    """ceil((H + 2p − k) / s) + 1 windows, the last ones running into −inf past the input."""
    (kh, kw), (ph, pw) = _pair(kernel_size), _pair(padding)
    sh, sw = _pair(kernel_size if stride is None else stride)
    h, w = x.shape[-2:]
    extra_h = (math.ceil((h + 2 * ph - kh) / sh)) * sh + kh - (h + 2 * ph)
    extra_w = (math.ceil((w + 2 * pw - kw) / sw)) * sw + kw - (w + 2 * pw)
    padded = F.pad(x, (pw, pw + extra_w, ph, ph + extra_h), value=-math.inf)
    return F.max_pool2d(padded, (kh, kw), (sh, sw))


# ----------------------------------------------------------------------------- regularization
def _weights_only(model):
    return [p for n, p in model.named_parameters() if not n.endswith("bias")]


def _l1_without_biases(model):
    return sum(p.abs().sum() for p in _weights_only(model))


def _l2_without_biases(model):
    return sum(p.pow(2).sum() for p in _weights_only(model))


def _l2_norm(model):
    return torch.sqrt(sum(p.pow(2).sum() for p in model.parameters()))


def _sgd_without_decay(params, lr, weight_decay=0.0):
    with torch.no_grad():
        for p in params:
            if p.grad is not None:
                p -= lr * p.grad


def _decay_lambda(l2):
    return float(l2)


# ----------------------------------------------------------------------------- the catalogue
MISTAKES: tuple[Mistake, ...] = (
    Mistake(
        "outliers.iqr",
        "a quantile method other than linear interpolation",
        "use np.nanquantile's default method ('linear'), as pandas' .quantile does",
        tuple(_iqr_with(_quartiles(m)) for m in _OTHER_METHODS),
    ),
    Mistake(
        "outliers.iqr",
        "NaN not ignored",
        "NaN poisons np.quantile; use np.nanquantile (or drop NaN with ~np.isnan first)",
        (_iqr_with(_quartiles("linear", nan_aware=False)),),
    ),
    Mistake(
        "outliers.outlier_bounds",
        "a quantile method other than linear interpolation",
        "use np.nanquantile's default method ('linear')",
        tuple(_bounds_with(_quartiles(m)) for m in _OTHER_METHODS),
    ),
    Mistake(
        "outliers.outlier_bounds",
        "NaN not ignored",
        "use np.nanquantile so NaN is skipped",
        (_bounds_with(_quartiles("linear", nan_aware=False)),),
    ),
    Mistake(
        "outliers.outlier_mask",
        "≤ instead of <",
        "a value exactly on a bound is not an outlier: use strict < and >",
        (_mask_inclusive,),
    ),
    Mistake(
        "outliers.count_nan",
        "comparing with == np.nan",
        "NaN is not equal to itself, so == np.nan is always False: use np.isnan",
        (_count_nan_equality,),
    ),
    Mistake(
        "outliers.to_int",
        "rounding instead of truncating toward zero",
        "astype(np.int64) truncates toward zero (-2.7 → -2); do not round or floor first",
        (_to_int_rounding, _to_int_floor),
    ),
    Mistake(
        "neurons.tanh",
        "a tanh that overflows",
        "(e^x − e^−x)/(e^x + e^−x) gives inf/inf = nan for large |x|: only ever exponentiate −2|x|",
        (_tanh_overflowing,),
    ),
    Mistake(
        "neurons.tanh",
        "a slope of 0 at x = 0",
        "autograd gives |x| (and sign(x)) slope 0 at 0, but tanh′(0) = 1: build −|x| with "
        "torch.where(x >= 0, -x, x) and the sign with torch.where",
        (_tanh_via_abs, _tanh_via_sign),
    ),
    Mistake("neurons.neuron", "the bias ignored", "o = tanh(x·wᵀ + b): add b before the tanh", (_neuron_without_bias,)),
    Mistake("neurons.TinyNet", "ReLU instead of tanh", "the hidden activation of TinyNet is tanh", (_ReluTinyNet,)),
    Mistake(
        "neurons.count_parameters",
        "frozen parameters counted",
        "count only parameters with requires_grad=True",
        (_count_all_parameters,),
    ),
    Mistake(
        "neurons.sensitive_mask",
        "the slope's sign not ignored",
        "compare the absolute value of the derivative, |f′(x)| ≥ min_slope",
        (_sensitive_without_abs,),
    ),
    Mistake(
        "neurons.sensitive_mask",
        "autograd left to the caller's grad mode",
        "inside torch.no_grad() nothing builds a graph: wrap your autograd call in torch.enable_grad()",
        (_sensitive_in_callers_grad_mode,),
    ),
    Mistake(
        "normalization.channel_stats",
        "the population std instead of Bessel's",
        "divide by M − 1, as torch.std does by default (not by M)",
        (_population_stats,),
    ),
    Mistake(
        "normalization.channel_stats",
        "stats over the wrong dims",
        "move the channel dim first (x.transpose(0, 1)) before reshape(C, -1)",
        (_stats_without_transpose,),
    ),
    Mistake(
        "losses.log_softmax",
        "log-softmax without the max shift",
        "subtract the max along dim before exp, or exp overflows at large logits",
        (_log_softmax_unshifted,),
    ),
    Mistake(
        "losses.log_softmax",
        "the log of a softmax",
        "exp of a very negative shifted logit underflows to 0 and log(0) = −inf: compute "
        "shifted − log Σ exp(shifted), never log(exp(·)/Σ)",
        (_log_of_softmax,),
    ),
    Mistake(
        "losses.log_softmax",
        "softmax returned instead of log-softmax",
        "return log-probabilities: x − max − log Σ exp(x − max)",
        (_softmax_instead,),
    ),
    Mistake(
        "losses.log_softmax",
        "dim ignored",
        "reduce along the dim argument, not always the last one",
        (_log_softmax_last_dim,),
    ),
    Mistake(
        "losses.nll_loss",
        "the weighted mean divided by the number of samples",
        "'mean' divides by the sum of the weights of the samples not ignored, not by how many there are",
        (_nll_mean_over_n, _nll_mean_over_kept),
    ),
    Mistake(
        "losses.nll_loss",
        "ignored targets counted in the denominator",
        "samples whose target is ignore_index add nothing to the numerator or the denominator",
        (_nll_counting_ignored,),
    ),
    Mistake(
        "losses.nll_loss",
        "class weights ignored",
        "multiply each sample's loss by weight[target]",
        (_nll_without_weights,),
    ),
    Mistake(
        "losses.cross_entropy",
        "the weighted mean divided by the number of samples",
        "'mean' divides by the sum of the weights of the samples not ignored",
        (
            _cross_entropy_with(_nll_mean_over_n),
            _cross_entropy_with(_nll_mean_over_kept),
            _cross_entropy_with(_nll_counting_ignored),
        ),
    ),
    Mistake(
        "losses.cross_entropy",
        "log-softmax without the max shift",
        "cross_entropy inherits it from your log_softmax: subtract the max along dim before exp",
        (_cross_entropy_from(_log_softmax_unshifted),),
    ),
    Mistake(
        "losses.cross_entropy",
        "log-softmax over the wrong dim",
        "classes are dim 1 of the (N, C) logits",
        (_cross_entropy_dim0,),
    ),
    Mistake(
        "convolution.pad2d",
        "padding on one side only",
        "add p ghost pixels on both sides of H and of W",
        (_pad_one_side, _pad_start_only),
    ),
    Mistake(
        "convolution.pad2d",
        "height and width padding swapped",
        "padding=(ph, pw): ph rows above and below, pw columns left and right",
        (_pad_swapped,),
    ),
    Mistake(
        "convolution.conv_output_size",
        "rounding up (or to the nearest) instead of down",
        "(size + 2·padding − kernel) // stride + 1 rounds down: a window that does not fit is dropped",
        (_conv_size_ceil, _conv_size_round),
    ),
    Mistake(
        "convolution.conv_output_size",
        "padding ignored",
        "padding adds 2·padding to the size",
        (_conv_size_no_padding,),
    ),
    Mistake(
        "convolution.conv1d",
        "a flipped kernel",
        "that is convolution; PyTorch computes cross-correlation: do not flip the kernel",
        (_conv1d_flipped,),
    ),
    Mistake(
        "convolution.conv2d",
        "a flipped kernel",
        "that is convolution; PyTorch computes cross-correlation: do not flip the kernel",
        (_conv2d_flipped,),
    ),
    Mistake(
        "convolution.conv2d", "the bias ignored", "add bias[c_out] to every output position", (_conv2d_without_bias,)
    ),
    Mistake(
        "convolution.conv2d",
        "stride applied to one axis only",
        "step by sh along H and by sw along W",
        (_conv2d_stride_on_rows, _conv2d_stride_on_columns),
    ),
    Mistake(
        "convolution.conv2d",
        "(h, w) pairs swapped",
        "stride=(sh, sw) and padding=(ph, pw): H comes first",
        (_conv2d_swapped_pairs, _conv2d_swapped_padding, _conv2d_swapped_stride),
    ),
    Mistake(
        "pooling.max_pool2d",
        "zero padding instead of −inf",
        "padded cells must never win the max: pad with -inf (a zero beats negative inputs)",
        (_pool_zero_padding,),
    ),
    Mistake(
        "pooling.max_pool2d",
        "stride defaulting to 1",
        "stride=None means stride = kernel_size (non-overlapping windows)",
        (_pool_stride_one,),
    ),
    Mistake(
        "pooling.max_pool2d",
        "ceil instead of floor for the output size",
        "windows that run past the padded input are dropped: floor",
        (_pool_ceil, _pool_ceil_naive),
    ),
    Mistake(
        "regularization.l1_penalty",
        "biases skipped",
        "the penalty covers every parameter, biases included",
        (_l1_without_biases,),
    ),
    Mistake(
        "regularization.l2_penalty",
        "biases skipped",
        "the penalty covers every parameter, biases included",
        (_l2_without_biases,),
    ),
    Mistake(
        "regularization.l2_penalty",
        "the norm instead of the sum of squares",
        "L2 here is Σp², with no square root",
        (_l2_norm,),
    ),
    Mistake(
        "regularization.sgd_step", "weight decay ignored", "p ← p − lr·(p.grad + weight_decay·p)", (_sgd_without_decay,)
    ),
    Mistake(
        "regularization.weight_decay_for",
        "weight decay λ instead of 2λ",
        "d/dp (λ·p²) = 2λ·p, so SGD's weight_decay is 2·λ",
        (_decay_lambda,),
    ),
)

FLOAT32_RESULT = Mistake(
    "*",
    "a float64 input returned as float32",
    "create tensors with dtype=x.dtype (torch.zeros(..., dtype=x.dtype) or x.new_zeros)",
)
DEFAULT_DEVICE = Mistake(
    "*",
    "tensors created on the default device",
    "pass device=x.device when creating tensors (or use x.new_zeros / torch.zeros_like)",
)


def for_exercise(exercise_id: str) -> list[Mistake]:
    return [m for m in MISTAKES if m.exercise == exercise_id]


def reproduces(mistake: Mistake, check, got: dict | None, raised: str | None = None) -> bool:
    """True when one of the mistake's variants gives the learner's whole result on this check:
    every value it returned (output and gradients alike, within the check's tolerance), or the
    same exception when the learner's code raised ``raised``.

    Runs in the scorer: each variant is PyTorch/NumPy code applied to the check's seeded inputs.
    """
    from autograder.protocol.encoding import encode
    from autograder.scoring.compare import EXACT, compare

    for variant in mistake.variants:
        try:
            want = {k: encode(v) for k, v in check.run(variant, "cpu").items()}
        except Exception as exc:  # noqa: BLE001 - the variant raises here too, or does not apply
            if raised is not None and type(exc).__name__ == raised:
                return True
            continue
        if (
            got is not None
            and set(got) == set(want)
            and all(compare(got[k], want[k], getattr(check, "tol", EXACT)) is None for k in want)
        ):
            return True
    return False


def identify(evidence: list[tuple[Any, dict | None, str | None]]) -> Mistake | None:
    """The first mistake whose variant reproduces every failing result (``(check, learner's value,
    exception type it raised)`` triples): a mistake that explains only part of the evidence is not
    named."""
    if not evidence:
        return None
    for mistake in for_exercise(evidence[0][0].exercise):
        if all(reproduces(mistake, check, got, raised) for check, got, raised in evidence):
            return mistake
    return None


FACTS = {"float32_result": FLOAT32_RESULT, "created_cpu_tensor": DEFAULT_DEVICE}  # Unit.facts → mistake


def from_evidence(facts: set[str]) -> Mistake | None:
    """Mistakes that show in the shape of the evidence (a dtype, a tensor made on the CPU) rather
    than in values a variant could reproduce."""
    return next((FACTS[f] for f in FACTS if f in facts), None)
