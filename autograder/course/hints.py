"""Progressive hints for every exercise, and which one a learner sees next.

``python -m autograder hint convolution.conv2d`` (``make hint EX=...``) prints the next hint
of the list and remembers it in ``.autograder-hints.json`` beside the submission; ``--all``
shows every hint so far again, ``--reset`` starts over.
"""

from __future__ import annotations

import json
from pathlib import Path

HINTS: dict[str, tuple[str, ...]] = {
    "outliers.iqr": (
        "Convert the input with np.asarray(values, dtype=np.float64) so lists work too.",
        "np.nanquantile(a, [0.25, 0.75]) gives Q1 and Q3 while skipping NaN; its default method is the "
        "'linear' interpolation pandas uses.",
        "An all-NaN (or empty) input has no quartiles: return nan, and silence NumPy's RuntimeWarning with "
        "warnings.catch_warnings().",
    ),
    "outliers.outlier_bounds": (
        "The fences are Q1 − k·IQR and Q3 + k·IQR.",
        "Return a tuple of two floats: (low, high).",
    ),
    "outliers.outlier_mask": (
        "Compare every value with both fences: a < low or a > high.",
        "Strict comparisons: a value exactly on a fence is not an outlier.",
        "Any comparison with NaN is False, so NaN is never an outlier for free.",
    ),
    "outliers.remove_outliers": (
        "Keep the values that are neither outliers nor NaN: a boolean mask does it in one indexing step.",
        "~outlier_mask(a, k) & ~np.isnan(a) keeps the original order.",
    ),
    "outliers.count_nan": (
        "NaN is not equal to itself, so `x == np.nan` is always False.",
        "np.isnan(a).sum() counts them; wrap it in int(...) to return a Python int.",
    ),
    "outliers.to_int": (
        "NaN cannot be converted to an integer: replace it first.",
        "np.where(np.isnan(a), fill, a).astype(np.int64) truncates toward zero like astype does.",
    ),
    "neurons.tanh": (
        "tanh(x) = (1 − e^(−2x)) / (1 + e^(−2x)) for x ≥ 0, and tanh(−x) = −tanh(x).",
        "Only exponentiate non-positive numbers: with m = torch.where(x >= 0, -x, x) (that is −|x|, with slope "
        "−1 at 0, where the absolute value has slope 0), e = torch.exp(2 * m) never overflows.",
        "Pick the sign with torch.where(x >= 0, t, -t), not by multiplying with the sign function: its gradient "
        "is 0 everywhere, and tanh's slope at 0 must come out as 1.",
    ),
    "neurons.neuron": (
        "A layer of neurons is o = tanh(x·wᵀ + b): w has shape (out, in).",
        "x @ w.T + b works for x of shape (N, in) and (in,) alike.",
    ),
    "neurons.TinyNet": (
        "Create the two layers in __init__ as attributes: self.hidden and self.output, both nn.Linear.",
        "forward(x) = self.output(torch.tanh(self.hidden(x))).",
    ),
    "neurons.count_parameters": (
        "model.parameters() already lists a shared parameter once.",
        "Sum p.numel() over parameters with p.requires_grad.",
    ),
    "neurons.sensitive_mask": (
        "Let autograd find the slope: x = x.detach().clone().requires_grad_(True), then differentiate "
        "activation(x).sum().",
        "Wrap it in torch.enable_grad(): the caller may be inside torch.no_grad().",
        "Return slope.abs() >= min_slope.",
    ),
    "normalization.channel_stats": (
        "Put the channel dim first with x.transpose(0, 1), then flatten the rest: reshape(C, -1).",
        "torch.std uses Bessel's correction (divides by M − 1) by default: so should you.",
    ),
    "normalization.normalize": (
        "mean and std have shape (C,): reshape them to (1, C, 1, 1, ...) so they broadcast over dim 1.",
        "mean.view(1, -1, *([1] * (x.dim() - 2))) works for any number of trailing dims.",
    ),
    "losses.log_softmax": (
        "log_softmax(x) = x − log Σ exp(x) along dim.",
        "Subtract m = x.amax(dim, keepdim=True) first: x − m − log Σ exp(x − m) is the same number and never "
        "overflows.",
    ),
    "losses.nll_loss": (
        "Pick each sample's log-probability of its target: log_probs.gather(1, target.unsqueeze(1)).",
        "Replace ignored targets by a valid class before gathering (torch.where), then zero their loss.",
        "'mean' divides by the sum of the weights of the samples not ignored, not by N.",
    ),
    "losses.cross_entropy": (
        "Cross-entropy is nll_loss(log_softmax(logits, dim=1), target, ...): reuse your two functions.",
    ),
    "convolution.pad2d": (
        "Allocate zeros of the padded shape with x.new_zeros(...) (same dtype and device).",
        "Copy x into the centre: out[..., ph:ph + H, pw:pw + W] = x. Gradients flow through the copy.",
    ),
    "convolution.conv_output_size": (
        "A kernel of size k slides over size + 2·padding cells.",
        "Count the positions: (size + 2·padding − k) // stride + 1; raise ValueError when k does not fit.",
    ),
    "convolution.conv1d": (
        "Loop over the kernel offsets k, not over output positions: each offset is one strided slice of the "
        "padded input.",
        "For offset k: slice = xp[:, :, k : k + stride·(L_out − 1) + 1 : stride]; contract it with weight[:, :, k] "
        "(einsum 'ncl,oc->nol').",
        "Do not flip the kernel: PyTorch's convolution is cross-correlation.",
    ),
    "convolution.conv2d": (
        "Pad with your pad2d, then loop over the kH × kW kernel offsets.",
        "For offset (i, j) take xp[..., i : i + sh·(H_out − 1) + 1 : sh, j : j + sw·(W_out − 1) + 1 : sw] and "
        "contract it with weight[:, :, i, j] via einsum('nchw,oc->nohw').",
        "Add bias.view(1, -1, 1, 1) at the end, and do not flip the kernel.",
    ),
    "convolution.edge_kernel": (
        "A vertical edge is a change from left to right: weigh the right column positively, the left negatively.",
        "Rows of [-1, 0, 1] sum to zero, so constant and top-to-bottom images give 0.",
    ),
    "convolution.blur_kernel": (
        "A box blur averages its window: every entry is 1 / size².",
        "torch.full((1, 1, size, size), 1.0 / size**2) — float32 is the default dtype.",
    ),
    "pooling.max_pool2d": (
        "Accept ints or pairs; stride=None means stride = kernel_size.",
        "Pad with −inf (torch.full(..., float('-inf'), dtype=x.dtype, device=x.device)) so padding never wins.",
        "Take the max over the kH × kW strided slices of the padded input, e.g. torch.stack(slices).amax(0).",
    ),
    "regularization.l1_penalty": (
        "Σ|p| over every parameter of model.parameters(), biases and frozen ones included.",
        "sum(p.abs().sum() for p in model.parameters()) keeps autograd working.",
    ),
    "regularization.l2_penalty": ("Σp² over every parameter: no square root.",),
    "regularization.regularized_loss": ("loss + l1 · l1_penalty(model) + l2 · l2_penalty(model).",),
    "regularization.sgd_step": (
        "Work under torch.no_grad() and change each parameter in place (p -= ... or p.add_(...)).",
        "Skip parameters whose .grad is None.",
        "p ← p − lr·(p.grad + weight_decay·p).",
    ),
    "regularization.weight_decay_for": (
        "Differentiate l2 · p²: the gradient is 2·l2·p.",
        "So SGD's weight_decay is 2 · l2.",
    ),
}

STATE_FILE = ".autograder-hints.json"


def _state_path(submission: Path) -> Path:
    return Path(submission) / STATE_FILE


def _load(submission: Path) -> dict[str, int]:
    try:
        data = json.loads(_state_path(submission).read_text())
        return {k: int(v) for k, v in data.items()} if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def shown(submission: Path, exercise_id: str) -> int:
    return _load(submission).get(exercise_id, 0)


def next_hint(submission: Path, exercise_id: str) -> tuple[int, str]:
    """The next hint (1-based number and text); the last one repeats once all are shown."""
    hints = HINTS[exercise_id]
    state = _load(submission)
    number = min(state.get(exercise_id, 0) + 1, len(hints))
    state[exercise_id] = number
    try:
        _state_path(submission).write_text(json.dumps(state, indent=1, sort_keys=True))
    except OSError:
        pass  # a read-only submission: hints still work, they just start over next time
    return number, hints[number - 1]


def reset(submission: Path, exercise_id: str | None = None) -> None:
    state = _load(submission)
    for key in [exercise_id] if exercise_id else list(state):
        state.pop(key, None)
    try:
        _state_path(submission).write_text(json.dumps(state, indent=1, sort_keys=True))
    except OSError:
        pass
