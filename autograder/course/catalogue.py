"""The one catalogue of exercises: module, function, points, forbidden ops, reference.

Everything else (the Makefile, the CLI, the checks, the reports, the docs) reads this.
The order of ``EXERCISES`` is the teaching order.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field

MODULES = (
    "outliers",
    "neurons",
    "normalization",
    "losses",
    "convolution",
    "pooling",
    "regularization",
)

CONV_PATTERN = r"(^|_)conv(\d|_|olution)|im2col|col2im"
# Backend variants compute the same thing as the op they prefix (``mkldnn_max_pool2d``,
# ``_sparse_log_softmax``): a forbidden op is forbidden in all of them, and in its in-place form.
BACKEND_PREFIXES = ("mkldnn_", "quantized_", "sparse_", "cudnn_", "miopen_", "mps_", "nested_", "fbgemm_")


def op_base(name: str) -> str:
    """The computation an ATen op name stands for: ``_sparse_log_softmax`` → ``log_softmax``,
    ``tanh_`` → ``tanh``, ``aten::tanh.out`` → ``tanh``."""
    name = name.split("::", 1)[-1].split(".", 1)[0].lstrip("_")
    for prefix in BACKEND_PREFIXES:
        if name.startswith(prefix):
            name = name[len(prefix) :].lstrip("_")
    return name.rstrip("_")


_LOSS_OPS = ("nll_loss_forward", "nll_loss2d_forward", "nll_loss_nd", "cross_entropy_loss")
_LOG_SOFTMAX_OPS = ("_log_softmax", "_softmax", "logsumexp")


@dataclass(frozen=True)
class Exercise:
    """One gradable function (or class) of the contract."""

    module: str
    function: str
    points: float
    reference: str
    forbidden: tuple[str, ...] = ()  # exact ATen op names (overload packet names)
    forbidden_pattern: str | None = None  # regex over ATen op names
    forbidden_names: tuple[str, ...] = ()  # Python names the function's source may not use
    advice: str = ""  # what to do instead when a forbidden op or name is used
    uses: tuple[str, ...] = field(default=())  # other exercises the reference solution calls

    @property
    def id(self) -> str:
        return f"{self.module}.{self.function}"

    def forbids(self, op: str) -> bool:
        """True when the ATen op ``op`` (``tanh``, ``tanh_``, ``aten::tanh.out``,
        ``mkldnn_max_pool2d``) is forbidden here, in any overload or backend variant."""
        if self.forbidden_pattern and re.search(self.forbidden_pattern, op.split("::", 1)[-1].split(".", 1)[0]):
            return True
        return bool(self.forbidden) and op_base(op) in _bases(self.forbidden)

    def forbidden_ops_in(self, ops) -> list[str]:
        """The forbidden ATen ops among ``ops`` (names like ``convolution``), in order."""
        hits = []
        for op in ops:
            if isinstance(op, str) and self.forbids(op) and op not in hits:
                hits.append(op)
        return hits


@functools.cache
def _bases(ops: tuple[str, ...]) -> frozenset[str]:
    return frozenset(op_base(op) for op in ops)


def _ex(module, function, points, reference, **kw) -> Exercise:
    return Exercise(module, function, points, reference, **kw)


EXERCISES: tuple[Exercise, ...] = (
    # outliers.py — NumPy
    _ex("outliers", "iqr", 1, "torch.nanquantile(q=0.75) - torch.nanquantile(q=0.25)"),
    _ex("outliers", "outlier_bounds", 1, "Q1 - k*IQR, Q3 + k*IQR via torch.nanquantile"),
    _ex("outliers", "outlier_mask", 1, "strict comparison with the bounds", uses=("outliers.outlier_bounds",)),
    _ex(
        "outliers",
        "remove_outliers",
        1,
        "values neither outliers nor NaN",
        uses=("outliers.outlier_mask", "outliers.outlier_bounds"),
    ),
    _ex("outliers", "count_nan", 1, "torch.isnan(t).sum()"),
    _ex("outliers", "to_int", 1, "torch.nan_to_num(t, nan=fill).to(torch.int64)"),
    # neurons.py
    _ex("neurons", "tanh", 2, "torch.tanh", forbidden=("tanh",), advice="build tanh from torch.exp"),
    _ex("neurons", "neuron", 2, "torch.tanh(F.linear(x, w, b))"),
    _ex("neurons", "TinyNet", 2, "nn.Sequential(Linear, Tanh, Linear)"),
    _ex("neurons", "count_parameters", 1, "sum(p.numel() for p in model.parameters() if p.requires_grad)"),
    _ex("neurons", "sensitive_mask", 2, "autograd of the same activation"),
    # normalization.py
    _ex("normalization", "channel_stats", 2, "x.transpose(0, 1).reshape(C, -1).mean(1) / .std(1)"),
    _ex("normalization", "normalize", 1, "(x - mean[c]) / std[c] broadcast over dim 1"),
    # losses.py
    _ex(
        "losses",
        "log_softmax",
        3,
        "F.log_softmax",
        forbidden=_LOG_SOFTMAX_OPS,
        advice="subtract the max, then use torch.exp, .sum and torch.log",
    ),
    _ex(
        "losses",
        "nll_loss",
        3,
        "F.nll_loss",
        forbidden=_LOSS_OPS,
        advice="pick log_probs[i, target[i]] with gather or indexing",
    ),
    _ex(
        "losses",
        "cross_entropy",
        2,
        "F.cross_entropy",
        forbidden=_LOG_SOFTMAX_OPS + _LOSS_OPS,
        advice="combine your own log_softmax and nll_loss",
        uses=("losses.log_softmax", "losses.nll_loss"),
    ),
    # convolution.py
    _ex(
        "convolution",
        "pad2d",
        2,
        "F.pad(x, (pw, pw, ph, ph))",
        forbidden=(
            "constant_pad_nd",
            "pad",
            "reflection_pad1d",
            "reflection_pad2d",
            "reflection_pad3d",
            "replication_pad1d",
            "replication_pad2d",
            "replication_pad3d",
            "_pad_circular",
            "_pad_enum",
        ),
        advice="allocate zeros of the padded shape and copy x into the centre",
    ),
    _ex("convolution", "conv_output_size", 1, "output length of F.conv1d"),
    _ex(
        "convolution",
        "conv1d",
        3,
        "F.conv1d",
        forbidden_pattern=CONV_PATTERN,
        advice="implement the sliding window yourself (a loop over kernel offsets)",
        uses=("convolution.conv_output_size",),
    ),
    _ex(
        "convolution",
        "conv2d",
        4,
        "F.conv2d",
        forbidden_pattern=CONV_PATTERN,
        advice="implement the sliding window yourself (a loop over kernel offsets)",
        uses=("convolution.pad2d", "convolution.conv_output_size"),
    ),
    _ex("convolution", "edge_kernel", 1, "property checks with F.conv2d"),
    _ex("convolution", "blur_kernel", 1, "property checks with F.conv2d"),
    # pooling.py
    _ex(
        "pooling",
        "max_pool2d",
        4,
        "F.max_pool2d",
        forbidden=(
            "max_pool2d",
            "max_pool2d_with_indices",
            "adaptive_max_pool2d",
            "fractional_max_pool2d",
            "max_pool3d_with_indices",
        ),
        advice="pad with -inf yourself and take the max over the window offsets",
    ),
    # regularization.py
    _ex("regularization", "l1_penalty", 1, "sum(p.abs().sum() for p in model.parameters())"),
    _ex("regularization", "l2_penalty", 1, "sum(p.pow(2).sum() for p in model.parameters())"),
    _ex(
        "regularization",
        "regularized_loss",
        1,
        "loss + l1 * L1 + l2 * L2",
        uses=("regularization.l1_penalty", "regularization.l2_penalty"),
    ),
    _ex(
        "regularization",
        "sgd_step",
        2,
        "torch.optim.SGD(params, lr, weight_decay=...).step()",
        forbidden_names=("optim", "SGD"),
        advice="torch.optim does the exercise for you; update each parameter in place under torch.no_grad()",
    ),
    _ex("regularization", "weight_decay_for", 1, "2 * l2"),
)

BY_ID: dict[str, Exercise] = {e.id: e for e in EXERCISES}


def get(exercise_id: str) -> Exercise:
    try:
        return BY_ID[exercise_id]
    except KeyError:
        raise KeyError(f"unknown exercise {exercise_id!r}; known: {', '.join(BY_ID)}") from None


def select(patterns: list[str] | None) -> list[Exercise]:
    """Exercises matching any pattern: an id (``losses.nll_loss``) or a module (``losses``)."""
    if not patterns:
        return list(EXERCISES)
    chosen = [e for e in EXERCISES if any(p in (e.id, e.module) for p in patterns)]
    unknown = [p for p in patterns if not any(p in (e.id, e.module) for e in EXERCISES)]
    if unknown:
        raise KeyError(f"unknown exercise or module: {', '.join(unknown)}")
    return chosen


def total_points() -> float:
    return sum(e.points for e in EXERCISES)
