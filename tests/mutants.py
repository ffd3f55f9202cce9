"""The mutant zoo: plausible learner mistakes that the checks must catch.

Each wrong variant is written once: a named mistake's variant in ``autograder/course/modules/<module>.py``
that is a whole learner's function (the target's own parameters, only names the solution's module
defines) joins the zoo as it is (``from_mistakes``); ``HANDWRITTEN`` holds the rest.

Each ``Mutant`` replaces ONE top-level function (or, for ``neurons.TinyNet``, the class) of the
reference solution's module with a wrong version, as a learner might write it. ``tests/test_mutants.py``
builds one submission per mutant (the reference solutions with that single definition spliced in),
grades the module and requires that

- the target exercise loses points (score < max, outcome not "passed"), and
- every other exercise of the module that does not (transitively) call the target keeps full marks.

``tests/test_forbidden.py`` uses the same splicing for submissions that call a forbidden operation.

The helpers here (``splice``, ``build_submission``, ``dependents``) are plain functions so that any
test can reuse them; they never import learner code.
"""

from __future__ import annotations

import ast
import builtins
import inspect
import shutil
import textwrap
import types
from dataclasses import dataclass
from pathlib import Path

from autograder import checks
from autograder.course import catalogue

ROOT = Path(__file__).resolve().parent.parent
SOLUTIONS = ROOT / "solutions"


@dataclass(frozen=True)
class Mutant:
    name: str  # unique, used as the pytest id
    target: str  # exercise id, e.g. "convolution.conv2d"
    source: str  # the complete replacement definition of the target's function (or class)
    why: str  # the mistake, in one line

    @property
    def module(self) -> str:
        return self.target.split(".", 1)[0]

    @property
    def function(self) -> str:
        return self.target.split(".", 1)[1]


# ----------------------------------------------------------------------------- helpers


def _top_level(tree: ast.Module, name: str):
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and node.name == name:
            return node
    raise KeyError(f"no top-level function or class {name!r}")


def splice(module_source: str, name: str, replacement: str) -> str:
    """``module_source`` with the top-level definition ``name`` (decorators included) replaced."""
    node = _top_level(ast.parse(module_source), name)
    start = min([node.lineno] + [d.lineno for d in node.decorator_list])
    lines = module_source.splitlines(keepends=True)
    new = textwrap.dedent(replacement).strip("\n") + "\n"
    result = "".join(lines[: start - 1]) + new + "".join(lines[node.end_lineno :])
    replaced = _top_level(ast.parse(result), name)  # still parses, still defines ``name``
    assert ast.get_source_segment(result, replaced) is not None
    return result


def build_submission(dest: Path, target: str, source: str) -> Path:
    """A copy of the reference solutions in ``dest`` with ``target``'s definition replaced by ``source``."""
    module, function = target.split(".", 1)
    shutil.copytree(SOLUTIONS, dest)
    path = dest / f"{module}.py"
    path.write_text(splice(path.read_text(encoding="utf-8"), function, source), encoding="utf-8")
    return dest


def _calls(module_source: str) -> dict[str, set[str]]:
    """For each top-level definition, the names it loads (calls to sibling functions show up here)."""
    tree = ast.parse(module_source)
    found = {}
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            found[node.name] = {n.id for n in ast.walk(node) if isinstance(n, ast.Name)} - {node.name}
    return found


def run_by_checks(module: str) -> dict[str, set[str]]:
    """Exercises of ``module`` whose checks also run another of its exercises: the capstone's full
    training run trains the learner's own ``DigitNet`` with their ``train_epoch`` (a check's ``builder``)."""
    edges: dict[str, set[str]] = {}
    for check in checks.for_module(module):
        builder = getattr(check, "builder", None)
        if builder:
            edges.setdefault(check.exercise, set()).add(f"{module}.{builder}")
    return edges


def dependents(target: str, module_source: str | None = None) -> set[str]:
    """Exercise ids of ``target``'s module that call ``target``, directly or not.

    The union of the catalogue's ``uses``, the calls actually made in ``module_source`` (the
    submission's module: a solution may call a sibling that the catalogue does not list) and the
    exercises whose checks run ``target`` too (``run_by_checks``).
    """
    module = target.split(".", 1)[0]
    ids = [e.id for e in catalogue.EXERCISES if e.module == module]
    edges = {e.id: set(e.uses) for e in catalogue.EXERCISES if e.module == module}
    for ex, run in run_by_checks(module).items():
        edges[ex] |= run
    if module_source is not None:
        names = _calls(module_source)
        for ex in ids:
            fn = ex.split(".", 1)[1]
            edges[ex] |= {other for other in ids if other.split(".", 1)[1] in names.get(fn, ())}
    spoiled, frontier = set(), {target}
    while frontier:
        frontier = {ex for ex in ids if edges[ex] & frontier and ex not in spoiled and ex != target}
        spoiled |= frontier
    return spoiled


# ----------------------------------------------------------------------------- the zoo

HANDWRITTEN: list[Mutant] = [
    # --- outliers.py ---------------------------------------------------------------------------
    Mutant(
        "iqr_nearest",
        "outliers.iqr",
        """
def iqr(values):
    data = np.asarray(values, dtype=np.float64)
    if data.size == 0:
        return float("nan")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        q1, q3 = np.nanquantile(data, [0.25, 0.75], method="nearest")
    return float(q3 - q1)
""",
        "quartiles by the nearest rank instead of linear interpolation",
    ),
    Mutant(
        "iqr_midpoint",
        "outliers.iqr",
        """
def iqr(values):
    data = np.asarray(values, dtype=np.float64)
    if data.size == 0:
        return float("nan")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        q1, q3 = np.nanquantile(data, [0.25, 0.75], method="midpoint")
    return float(q3 - q1)
""",
        "quartiles by the midpoint method instead of linear interpolation",
    ),
    Mutant(
        "iqr_nan_not_ignored",
        "outliers.iqr",
        """
def iqr(values):
    data = np.asarray(values, dtype=np.float64)
    if data.size == 0:
        return float("nan")
    q1, q3 = np.quantile(data, [0.25, 0.75])
    return float(q3 - q1)
""",
        "np.quantile instead of np.nanquantile: one NaN makes the IQR NaN",
    ),
    Mutant(
        "bounds_ignore_k",
        "outliers.outlier_bounds",
        """
def outlier_bounds(values, k=1.5):
    data = np.asarray(values, dtype=np.float64)
    if data.size == 0:
        return float("nan"), float("nan")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        q1, q3 = np.nanquantile(data, [0.25, 0.75])
    spread = q3 - q1
    return float(q1 - 1.5 * spread), float(q3 + 1.5 * spread)
""",
        "the fences hard-code 1.5 and ignore k",
    ),
    Mutant(
        "mask_le",
        "outliers.outlier_mask",
        """
def outlier_mask(values, k=1.5):
    data = np.asarray(values, dtype=np.float64)
    low, high = outlier_bounds(data, k)
    return (data <= low) | (data >= high)
""",
        "<= and >= instead of strict comparisons: values exactly on a fence become outliers",
    ),
    Mutant(
        "remove_keeps_nan",
        "outliers.remove_outliers",
        """
def remove_outliers(values, k=1.5):
    data = np.asarray(values, dtype=np.float64)
    return data[~outlier_mask(data, k)]
""",
        "drops the outliers but keeps the NaN",
    ),
    Mutant(
        "count_nan_eq",
        "outliers.count_nan",
        """
def count_nan(values):
    data = np.asarray(values, dtype=np.float64)
    return int(np.sum(data == np.nan))
""",
        "compares with == np.nan, which is always False",
    ),
    Mutant(
        "to_int_round",
        "outliers.to_int",
        """
def to_int(values, fill=0):
    data = np.asarray(values, dtype=np.float64)
    return np.round(np.where(np.isnan(data), fill, data)).astype(np.int64)
""",
        "rounds to the nearest integer instead of truncating toward zero",
    ),
    Mutant(
        "to_int_floor",
        "outliers.to_int",
        """
def to_int(values, fill=0):
    data = np.asarray(values, dtype=np.float64)
    return np.floor(np.where(np.isnan(data), fill, data)).astype(np.int64)
""",
        "floors (toward minus infinity) instead of truncating toward zero",
    ),
    # --- neurons.py ----------------------------------------------------------------------------
    Mutant(
        "tanh_abs_slope",
        "neurons.tanh",
        """
def tanh(x):
    e = torch.expm1(-2 * x.abs())
    magnitude = -e / (2 + e)
    return torch.where(x >= 0, magnitude, -magnitude)
""",
        "stable, but -x.abs() has autograd slope 0 at x = 0, so tanh'(0) comes out 0",
    ),
    Mutant(
        "neuron_transposed",
        "neurons.neuron",
        """
def neuron(x, w, b):
    return torch.tanh(x @ w + b)
""",
        "x @ w instead of x @ w.T (the weight matrix transposed)",
    ),
    Mutant(
        "neuron_no_bias",
        "neurons.neuron",
        """
def neuron(x, w, b):
    return torch.tanh(x @ w.T)
""",
        "forgets the bias",
    ),
    Mutant(
        "tinynet_relu",
        "neurons.TinyNet",
        """
class TinyNet(nn.Module):
    def __init__(self, n_in, n_hidden, n_out):
        super().__init__()
        self.hidden = nn.Linear(n_in, n_hidden)
        self.output = nn.Linear(n_hidden, n_out)

    def forward(self, x):
        return self.output(torch.relu(self.hidden(x)))
""",
        "ReLU instead of tanh between the layers",
    ),
    Mutant(
        "tinynet_no_bias",
        "neurons.TinyNet",
        """
class TinyNet(nn.Module):
    def __init__(self, n_in, n_hidden, n_out):
        super().__init__()
        self.hidden = nn.Linear(n_in, n_hidden, bias=False)
        self.output = nn.Linear(n_hidden, n_out)

    def forward(self, x):
        return self.output(torch.tanh(self.hidden(x)))
""",
        "the hidden layer has no bias",
    ),
    Mutant(
        "count_shared_twice",
        "neurons.count_parameters",
        """
def count_parameters(model):
    return int(sum(p.numel() for m in model.modules() for p in m.parameters(recurse=False)
                   if p.requires_grad))
""",
        "walks every module's own parameters: a shared weight is counted twice",
    ),
    # --- normalization.py ----------------------------------------------------------------------
    Mutant(
        "stats_batch_dim_only",
        "normalization.channel_stats",
        """
def channel_stats(x):
    return x.mean(dim=0), x.std(dim=0)
""",
        "stats over the batch dim only (per position), not over every dim but 1",
    ),
    Mutant(
        "normalize_float32",
        "normalization.normalize",
        """
def normalize(x, mean, std):
    x = x.float()
    shape = (1, -1) + (1,) * (x.dim() - 2)
    mean = torch.as_tensor(mean, dtype=x.dtype, device=x.device).reshape(shape)
    std = torch.as_tensor(std, dtype=x.dtype, device=x.device).reshape(shape)
    return (x - mean) / std
""",
        "casts to float32 'to be safe': a float64 input comes back float32",
    ),
    Mutant(
        "normalize_last_dim",
        "normalization.normalize",
        """
def normalize(x, mean, std):
    return (x - mean) / std
""",
        "no reshape: the (C,) statistics broadcast over the last dim, not dim 1",
    ),
    # --- losses.py -----------------------------------------------------------------------------
    Mutant(
        "log_softmax_returns_softmax",
        "losses.log_softmax",
        """
def log_softmax(logits, dim=-1):
    shifted = logits - logits.amax(dim=dim, keepdim=True).detach()
    e = shifted.exp()
    return e / e.sum(dim=dim, keepdim=True)
""",
        "returns the softmax, not its log",
    ),
    Mutant(
        "log_softmax_ignores_dim",
        "losses.log_softmax",
        """
def log_softmax(logits, dim=-1):
    shifted = logits - logits.amax(dim=-1, keepdim=True).detach()
    return shifted - shifted.exp().sum(dim=-1, keepdim=True).log()
""",
        "always normalises over the last dim, whatever dim says",
    ),
    Mutant(
        "nll_mean_by_n",
        "losses.nll_loss",
        """
def nll_loss(log_probs, target, weight=None, reduction="mean", ignore_index=-100):
    if reduction not in ("none", "sum", "mean"):
        raise ValueError(f"unknown reduction {reduction!r}")
    if weight is None:
        weight = log_probs.new_ones(log_probs.shape[1])
    kept = target != ignore_index
    safe_target = torch.where(kept, target, torch.zeros_like(target))
    picked = log_probs.gather(1, safe_target.unsqueeze(1)).squeeze(1)
    losses = torch.where(kept, -weight[safe_target] * picked, 0.0)
    if reduction == "none":
        return losses
    if reduction == "sum":
        return losses.sum()
    return losses.sum() / kept.sum()
""",
        "the mean divides by the number of kept samples, not by the sum of their weights",
    ),
    Mutant(
        "nll_ignored_in_denominator",
        "losses.nll_loss",
        """
def nll_loss(log_probs, target, weight=None, reduction="mean", ignore_index=-100):
    if reduction not in ("none", "sum", "mean"):
        raise ValueError(f"unknown reduction {reduction!r}")
    if weight is None:
        weight = log_probs.new_ones(log_probs.shape[1])
    kept = target != ignore_index
    safe_target = torch.where(kept, target, torch.zeros_like(target))
    picked = log_probs.gather(1, safe_target.unsqueeze(1)).squeeze(1)
    sample_weight = weight[safe_target]
    losses = torch.where(kept, -sample_weight * picked, 0.0)
    if reduction == "none":
        return losses
    if reduction == "sum":
        return losses.sum()
    return losses.sum() / sample_weight.sum()
""",
        "ignored samples still count in the mean's denominator",
    ),
    Mutant(
        "nll_no_weights",
        "losses.nll_loss",
        """
def nll_loss(log_probs, target, weight=None, reduction="mean", ignore_index=-100):
    if reduction not in ("none", "sum", "mean"):
        raise ValueError(f"unknown reduction {reduction!r}")
    kept = target != ignore_index
    safe_target = torch.where(kept, target, torch.zeros_like(target))
    picked = log_probs.gather(1, safe_target.unsqueeze(1)).squeeze(1)
    losses = torch.where(kept, -picked, 0.0)
    if reduction == "none":
        return losses
    if reduction == "sum":
        return losses.sum()
    return losses.sum() / kept.sum()
""",
        "ignores the class weights",
    ),
    Mutant(
        "ce_softmax_twice",
        "losses.cross_entropy",
        """
def cross_entropy(logits, target, weight=None, reduction="mean", ignore_index=-100):
    shifted = logits - logits.amax(dim=1, keepdim=True).detach()
    probs = shifted.exp() / shifted.exp().sum(dim=1, keepdim=True)
    return nll_loss(log_softmax(probs, dim=1), target, weight=weight, reduction=reduction,
                    ignore_index=ignore_index)
""",
        "softmax first, then log_softmax on the probabilities (softmax applied twice)",
    ),
    Mutant(
        "ce_dim0",
        "losses.cross_entropy",
        """
def cross_entropy(logits, target, weight=None, reduction="mean", ignore_index=-100):
    return nll_loss(log_softmax(logits, dim=0), target, weight=weight, reduction=reduction,
                    ignore_index=ignore_index)
""",
        "log_softmax over the batch (dim 0) instead of the classes (dim 1)",
    ),
    # --- convolution.py ------------------------------------------------------------------------
    Mutant(
        "pad2d_one_side",
        "convolution.pad2d",
        """
def pad2d(x, padding):
    ph, pw = (padding, padding) if isinstance(padding, int) else tuple(padding)
    height, width = x.shape[-2:]
    out = x.new_zeros((*x.shape[:-2], height + ph, width + pw))
    out[..., ph:, pw:] = x
    return out
""",
        "pads only the top and left (ph rows, pw columns), not both sides",
    ),
    Mutant(
        "pad2d_swapped",
        "convolution.pad2d",
        """
def pad2d(x, padding):
    pw, ph = (padding, padding) if isinstance(padding, int) else tuple(padding)
    height, width = x.shape[-2:]
    out = x.new_zeros((*x.shape[:-2], height + 2 * ph, width + 2 * pw))
    out[..., ph : ph + height, pw : pw + width] = x
    return out
""",
        "reads the pair as (pw, ph): h and w swapped",
    ),
    Mutant(
        "pad2d_default_device",
        "convolution.pad2d",
        """
def pad2d(x, padding):
    ph, pw = (padding, padding) if isinstance(padding, int) else tuple(padding)
    height, width = x.shape[-2:]
    out = torch.zeros((*x.shape[:-2], height + 2 * ph, width + 2 * pw), dtype=x.dtype)
    out[..., ph : ph + height, pw : pw + width] = x
    return out
""",
        "torch.zeros without device=: the padded tensor lives on the CPU whatever x's device",
    ),
    Mutant(
        "conv_size_ceil",
        "convolution.conv_output_size",
        """
def conv_output_size(size, kernel_size, padding=0, stride=1):
    import math
    padded = size + 2 * padding
    if kernel_size > padded:
        raise ValueError("the kernel does not fit")
    return math.ceil((padded - kernel_size) / stride) + 1
""",
        "rounds the number of steps up instead of down",
    ),
    Mutant(
        "conv1d_flipped",
        "convolution.conv1d",
        """
def conv1d(x, weight, bias=None, stride=1, padding=0):
    weight = weight.flip(-1)
    length = x.shape[-1]
    kernel = weight.shape[-1]
    out_len = conv_output_size(length, kernel, padding, stride)
    padded = x.new_zeros((*x.shape[:-1], length + 2 * padding))
    padded[..., padding : padding + length] = x
    span = stride * (out_len - 1) + 1
    out = 0
    for k in range(kernel):
        out = out + torch.einsum("ncl,oc->nol", padded[..., k : k + span : stride], weight[:, :, k])
    if bias is not None:
        out = out + bias.reshape(1, -1, 1)
    return out
""",
        "flips the kernel (true convolution, not PyTorch's cross-correlation)",
    ),
    Mutant(
        "conv2d_flipped",
        "convolution.conv2d",
        """
def conv2d(x, weight, bias=None, stride=1, padding=0):
    weight = weight.flip(-2, -1)
    sh, sw = (stride, stride) if isinstance(stride, int) else tuple(stride)
    ph, pw = (padding, padding) if isinstance(padding, int) else tuple(padding)
    height, width = x.shape[-2:]
    k_h, k_w = weight.shape[-2:]
    out_h = conv_output_size(height, k_h, ph, sh)
    out_w = conv_output_size(width, k_w, pw, sw)
    padded = pad2d(x, (ph, pw))
    out = 0
    for a in range(k_h):
        for b in range(k_w):
            window = padded[..., a : a + sh * (out_h - 1) + 1 : sh, b : b + sw * (out_w - 1) + 1 : sw]
            out = out + torch.einsum("nchw,oc->nohw", window, weight[:, :, a, b])
    if bias is not None:
        out = out + bias.reshape(1, -1, 1, 1)
    return out
""",
        "flips the kernel (true convolution, not PyTorch's cross-correlation)",
    ),
    Mutant(
        "conv2d_stride_h_only",
        "convolution.conv2d",
        """
def conv2d(x, weight, bias=None, stride=1, padding=0):
    sh, _ = (stride, stride) if isinstance(stride, int) else tuple(stride)
    ph, pw = (padding, padding) if isinstance(padding, int) else tuple(padding)
    height, width = x.shape[-2:]
    k_h, k_w = weight.shape[-2:]
    out_h = conv_output_size(height, k_h, ph, sh)
    out_w = conv_output_size(width, k_w, pw, 1)
    padded = pad2d(x, (ph, pw))
    out = 0
    for a in range(k_h):
        for b in range(k_w):
            window = padded[..., a : a + sh * (out_h - 1) + 1 : sh, b : b + out_w]
            out = out + torch.einsum("nchw,oc->nohw", window, weight[:, :, a, b])
    if bias is not None:
        out = out + bias.reshape(1, -1, 1, 1)
    return out
""",
        "applies the stride to the rows only; the columns always step by 1",
    ),
    Mutant(
        "conv2d_no_bias",
        "convolution.conv2d",
        """
def conv2d(x, weight, bias=None, stride=1, padding=0):
    sh, sw = (stride, stride) if isinstance(stride, int) else tuple(stride)
    ph, pw = (padding, padding) if isinstance(padding, int) else tuple(padding)
    height, width = x.shape[-2:]
    k_h, k_w = weight.shape[-2:]
    out_h = conv_output_size(height, k_h, ph, sh)
    out_w = conv_output_size(width, k_w, pw, sw)
    padded = pad2d(x, (ph, pw))
    out = 0
    for a in range(k_h):
        for b in range(k_w):
            window = padded[..., a : a + sh * (out_h - 1) + 1 : sh, b : b + sw * (out_w - 1) + 1 : sw]
            out = out + torch.einsum("nchw,oc->nohw", window, weight[:, :, a, b])
    return out
""",
        "ignores the bias",
    ),
    Mutant(
        "conv2d_padding_swapped",
        "convolution.conv2d",
        """
def conv2d(x, weight, bias=None, stride=1, padding=0):
    sh, sw = (stride, stride) if isinstance(stride, int) else tuple(stride)
    ph, pw = (padding, padding) if isinstance(padding, int) else tuple(padding)
    height, width = x.shape[-2:]
    k_h, k_w = weight.shape[-2:]
    out_h = conv_output_size(height, k_h, pw, sh)
    out_w = conv_output_size(width, k_w, ph, sw)
    padded = pad2d(x, (pw, ph))
    out = 0
    for a in range(k_h):
        for b in range(k_w):
            window = padded[..., a : a + sh * (out_h - 1) + 1 : sh, b : b + sw * (out_w - 1) + 1 : sw]
            out = out + torch.einsum("nchw,oc->nohw", window, weight[:, :, a, b])
    if bias is not None:
        out = out + bias.reshape(1, -1, 1, 1)
    return out
""",
        "passes the padding pair to pad2d as (pw, ph): h and w swapped",
    ),
    Mutant(
        "edge_kernel_horizontal",
        "convolution.edge_kernel",
        """
def edge_kernel():
    col = [[-1.0], [0.0], [1.0]]
    return torch.tensor([c * 3 for c in col], dtype=torch.float32).reshape(1, 1, 3, 3)
""",
        "detects horizontal edges (rows differ) instead of vertical ones",
    ),
    Mutant(
        "blur_kernel_unnormalised",
        "convolution.blur_kernel",
        """
def blur_kernel(size=3):
    return torch.ones((1, 1, size, size), dtype=torch.float32) / size
""",
        "divides by size, not size**2: the entries do not sum to 1",
    ),
    # --- pooling.py ----------------------------------------------------------------------------
    Mutant(
        "pool_zero_padding",
        "pooling.max_pool2d",
        """
def max_pool2d(x, kernel_size, stride=None, padding=0):
    def pair(value):
        return (value, value) if isinstance(value, int) else tuple(value)

    k_h, k_w = pair(kernel_size)
    s_h, s_w = pair(kernel_size if stride is None else stride)
    p_h, p_w = pair(padding)
    if 2 * p_h > k_h or 2 * p_w > k_w:
        raise ValueError("padding must be at most half of kernel_size")
    height, width = x.shape[-2:]
    out_h = (height + 2 * p_h - k_h) // s_h + 1
    out_w = (width + 2 * p_w - k_w) // s_w + 1
    padded = x.new_zeros((*x.shape[:-2], height + 2 * p_h, width + 2 * p_w))
    padded[..., p_h : p_h + height, p_w : p_w + width] = x
    windows = [padded[..., a : a + s_h * (out_h - 1) + 1 : s_h, b : b + s_w * (out_w - 1) + 1 : s_w]
               for a in range(k_h) for b in range(k_w)]
    return torch.stack(windows, dim=-1).amax(dim=-1)
""",
        "pads with zeros instead of -inf: a zero wins over negative inputs",
    ),
    Mutant(
        "pool_stride_default_1",
        "pooling.max_pool2d",
        """
def max_pool2d(x, kernel_size, stride=None, padding=0):
    def pair(value):
        return (value, value) if isinstance(value, int) else tuple(value)

    k_h, k_w = pair(kernel_size)
    s_h, s_w = pair(1 if stride is None else stride)
    p_h, p_w = pair(padding)
    if 2 * p_h > k_h or 2 * p_w > k_w:
        raise ValueError("padding must be at most half of kernel_size")
    height, width = x.shape[-2:]
    out_h = (height + 2 * p_h - k_h) // s_h + 1
    out_w = (width + 2 * p_w - k_w) // s_w + 1
    padded = torch.full((*x.shape[:-2], height + 2 * p_h, width + 2 * p_w), float("-inf"),
                        dtype=x.dtype, device=x.device)
    padded[..., p_h : p_h + height, p_w : p_w + width] = x
    windows = [padded[..., a : a + s_h * (out_h - 1) + 1 : s_h, b : b + s_w * (out_w - 1) + 1 : s_w]
               for a in range(k_h) for b in range(k_w)]
    return torch.stack(windows, dim=-1).amax(dim=-1)
""",
        "stride defaults to 1 instead of kernel_size",
    ),
    Mutant(
        "pool_ceil",
        "pooling.max_pool2d",
        """
def max_pool2d(x, kernel_size, stride=None, padding=0):
    def pair(value):
        return (value, value) if isinstance(value, int) else tuple(value)

    k_h, k_w = pair(kernel_size)
    s_h, s_w = pair(kernel_size if stride is None else stride)
    p_h, p_w = pair(padding)
    if 2 * p_h > k_h or 2 * p_w > k_w:
        raise ValueError("padding must be at most half of kernel_size")
    height, width = x.shape[-2:]
    out_h = -(-(height + 2 * p_h - k_h) // s_h) + 1
    out_w = -(-(width + 2 * p_w - k_w) // s_w) + 1
    # room for the last, partial window (ceil mode): extra -inf rows and columns
    full_h = max(height + 2 * p_h, s_h * (out_h - 1) + k_h)
    full_w = max(width + 2 * p_w, s_w * (out_w - 1) + k_w)
    padded = torch.full((*x.shape[:-2], full_h, full_w), float("-inf"), dtype=x.dtype, device=x.device)
    padded[..., p_h : p_h + height, p_w : p_w + width] = x
    windows = [padded[..., a : a + s_h * (out_h - 1) + 1 : s_h, b : b + s_w * (out_w - 1) + 1 : s_w]
               for a in range(k_h) for b in range(k_w)]
    return torch.stack(windows, dim=-1).amax(dim=-1)
""",
        "ceil output size (a partial window at the end is kept) instead of floor",
    ),
    Mutant(
        "pool_default_device",
        "pooling.max_pool2d",
        """
def max_pool2d(x, kernel_size, stride=None, padding=0):
    def pair(value):
        return (value, value) if isinstance(value, int) else tuple(value)

    k_h, k_w = pair(kernel_size)
    s_h, s_w = pair(kernel_size if stride is None else stride)
    p_h, p_w = pair(padding)
    if 2 * p_h > k_h or 2 * p_w > k_w:
        raise ValueError("padding must be at most half of kernel_size")
    height, width = x.shape[-2:]
    out_h = (height + 2 * p_h - k_h) // s_h + 1
    out_w = (width + 2 * p_w - k_w) // s_w + 1
    padded = torch.full((*x.shape[:-2], height + 2 * p_h, width + 2 * p_w), float("-inf"), dtype=x.dtype)
    padded[..., p_h : p_h + height, p_w : p_w + width] = x
    windows = [padded[..., a : a + s_h * (out_h - 1) + 1 : s_h, b : b + s_w * (out_w - 1) + 1 : s_w]
               for a in range(k_h) for b in range(k_w)]
    return torch.stack(windows, dim=-1).amax(dim=-1)
""",
        "torch.full without device=: the padded input is created on the CPU",
    ),
    # --- regularization.py ---------------------------------------------------------------------
    Mutant(
        "l1_skip_biases",
        "regularization.l1_penalty",
        """
def l1_penalty(model):
    return sum(p.abs().sum() for name, p in model.named_parameters() if not name.endswith("bias"))
""",
        "penalises the weights only, skipping the biases",
    ),
    Mutant(
        "l1_trainable_only",
        "regularization.l1_penalty",
        """
def l1_penalty(model):
    return sum(p.abs().sum() for p in model.parameters() if p.requires_grad)
""",
        "skips frozen parameters (the contract penalises all of them)",
    ),
    Mutant(
        "l2_skip_biases",
        "regularization.l2_penalty",
        """
def l2_penalty(model):
    return sum(p.pow(2).sum() for name, p in model.named_parameters() if not name.endswith("bias"))
""",
        "penalises the weights only, skipping the biases",
    ),
    Mutant(
        "regularized_swapped",
        "regularization.regularized_loss",
        """
def regularized_loss(loss, model, l1=0.0, l2=0.0):
    return loss + l2 * l1_penalty(model) + l1 * l2_penalty(model)
""",
        "l1 and l2 strengths swapped",
    ),
    Mutant(
        "sgd_none_grad_as_zero",
        "regularization.sgd_step",
        """
def sgd_step(params, lr, weight_decay=0.0):
    with torch.no_grad():
        for p in params:
            grad = torch.zeros_like(p) if p.grad is None else p.grad
            p.sub_(lr * (grad + weight_decay * p))
""",
        "treats a missing gradient as 0, so parameters without a gradient still decay",
    ),
    # --- arguments are left alone (every module) ---------------------------------------------------
    Mutant(
        "iqr_sorts_in_place",
        "outliers.iqr",
        """
def iqr(values):
    data = np.asarray(values, dtype=np.float64)  # the caller's own array when it is float64 already
    data.sort()  # NaN sort last
    data_ok = data[~np.isnan(data)]
    if data_ok.size == 0:
        return float("nan")
    q1, q3 = np.quantile(data_ok, [0.25, 0.75])
    return float(q3 - q1)
""",
        "sorts the caller's array in place (np.asarray does not copy a float64 array)",
    ),
    Mutant(
        "to_int_fills_in_place",
        "outliers.to_int",
        """
def to_int(values, fill=0):
    data = np.asarray(values, dtype=np.float64)
    data[np.isnan(data)] = fill
    return data.astype(np.int64)
""",
        "writes the fill value into the caller's array",
    ),
    Mutant(
        "normalize_in_place",
        "normalization.normalize",
        """
def normalize(x, mean, std):
    shape = (1, -1) + (1,) * (x.dim() - 2)
    x -= mean.reshape(shape)
    x /= std.reshape(shape)
    return x
""",
        "normalises x in place (x -= mean) and returns the caller's tensor",
    ),
    Mutant(
        "nll_rewrites_target",
        "losses.nll_loss",
        """
def nll_loss(log_probs, target, weight=None, reduction="mean", ignore_index=-100):
    if reduction not in ("none", "sum", "mean"):
        raise ValueError(f"reduction must be 'none', 'sum' or 'mean', not {reduction!r}")
    if weight is None:
        weight = log_probs.new_ones(log_probs.shape[1])
    kept = target != ignore_index
    target.masked_fill_(~kept, 0)  # "safe" targets, written into the caller's tensor
    picked = log_probs.gather(1, target.unsqueeze(1)).squeeze(1)
    sample_weight = torch.where(kept, weight[target], 0.0)
    losses = torch.where(kept, -sample_weight * picked, 0.0)
    if reduction == "none":
        return losses
    if reduction == "sum":
        return losses.sum()
    return losses.sum() / sample_weight.sum()
""",
        "replaces ignored targets by 0 in the caller's target tensor",
    ),
    Mutant(
        "regularized_adds_in_place",
        "regularization.regularized_loss",
        """
def regularized_loss(loss, model, l1=0.0, l2=0.0):
    loss += l1 * l1_penalty(model) + l2 * l2_penalty(model)
    return loss
""",
        "adds the penalties into the caller's loss tensor (loss += ...)",
    ),
    Mutant(
        "sgd_zeroes_grad",
        "regularization.sgd_step",
        """
def sgd_step(params, lr, weight_decay=0.0):
    with torch.no_grad():
        for p in params:
            if p.grad is None:
                continue
            p.add_(p.grad + weight_decay * p, alpha=-lr)
            p.grad.zero_()  # "clean up" after the step
""",
        "zeroes p.grad after the step (SGD.step() leaves it; zeroing is the loop's job)",
    ),
    Mutant(
        "l1_abs_in_place",
        "regularization.l1_penalty",
        """
def l1_penalty(model):
    total = 0.0
    for p in model.parameters():
        total = total + p.data.abs_().sum()  # in place "to save memory"
    return total
""",
        "p.data.abs_() overwrites the model's weights with their absolute values",
    ),
    # --- edges: thresholds, floors, ill-conditioned statistics ------------------------------------
    Mutant(
        "mask_strict_threshold",
        "neurons.sensitive_mask",
        """
def sensitive_mask(activation, x, min_slope=0.1):
    x = x.detach().clone().requires_grad_(True)
    with torch.enable_grad():
        (slope,) = torch.autograd.grad(activation(x).sum(), x)
    return slope.abs() > min_slope
""",
        "strict > instead of >=: a slope exactly at min_slope is not counted",
    ),
    Mutant(
        "stats_naive_variance",
        "normalization.channel_stats",
        """
def channel_stats(x):
    rows = x.transpose(0, 1).reshape(x.shape[1], -1)
    m = rows.shape[1]
    mean = rows.mean(1)
    var = (rows * rows).mean(1) - mean * mean  # E[x²] − E[x]²
    return mean, (var * m / (m - 1)).clamp(min=0).sqrt()
""",
        "variance as E[x²] − E[x]², which cancels catastrophically when the mean is large",
    ),
    # --- capstone.py ---------------------------------------------------------------------------
    Mutant(
        "capstone_digitnet_pool_before_conv",
        "capstone.DigitNet",
        """
class DigitNet(nn.Module):
    def __init__(self, channels=8, n_classes=10):
        super().__init__()
        self.conv_weight = nn.Parameter(torch.empty(channels, 1, 3, 3).uniform_(-1 / 3, 1 / 3))
        self.conv_bias = nn.Parameter(torch.empty(channels).uniform_(-1 / 3, 1 / 3))
        self.fc = nn.Linear(channels * 16, n_classes)

    def forward(self, x):
        pooled = max_pool2d(x, 2)  # 4x4 input, and padding 1 keeps 4x4: the shapes still fit
        return self.fc(tanh(conv2d(pooled, self.conv_weight, self.conv_bias, padding=1)).flatten(1))
""",
        "a layer in the wrong order: pools the image before the convolution",
    ),
    Mutant(
        "capstone_digitnet_relu",
        "capstone.DigitNet",
        """
class DigitNet(nn.Module):
    def __init__(self, channels=8, n_classes=10):
        super().__init__()
        self.conv_weight = nn.Parameter(torch.empty(channels, 1, 3, 3).uniform_(-1 / 3, 1 / 3))
        self.conv_bias = nn.Parameter(torch.empty(channels).uniform_(-1 / 3, 1 / 3))
        self.fc = nn.Linear(channels * 16, n_classes)

    def forward(self, x):
        features = torch.relu(conv2d(x, self.conv_weight, self.conv_bias, padding=1))
        return self.fc(max_pool2d(features, 2).flatten(1))
""",
        "ReLU instead of tanh",
    ),
    Mutant(
        "capstone_digitnet_no_padding",
        "capstone.DigitNet",
        """
class DigitNet(nn.Module):
    def __init__(self, channels=8, n_classes=10):
        super().__init__()
        self.conv_weight = nn.Parameter(torch.empty(channels, 1, 3, 3).uniform_(-1 / 3, 1 / 3))
        self.conv_bias = nn.Parameter(torch.empty(channels).uniform_(-1 / 3, 1 / 3))
        self.fc = nn.Linear(channels * 9, n_classes)

    def forward(self, x):
        features = max_pool2d(tanh(conv2d(x, self.conv_weight, self.conv_bias)), 2)  # 6x6, then 3x3
        return self.fc(features.flatten(1))
""",
        "no padding: 6x6 feature maps, 3x3 after pooling, and a linear layer sized to match",
    ),
    Mutant(
        "capstone_digitnet_conv_without_bias",
        "capstone.DigitNet",
        """
class DigitNet(nn.Module):
    def __init__(self, channels=8, n_classes=10):
        super().__init__()
        self.conv_weight = nn.Parameter(torch.empty(channels, 1, 3, 3).uniform_(-1 / 3, 1 / 3))
        self.conv_bias = nn.Parameter(torch.empty(channels).uniform_(-1 / 3, 1 / 3))
        self.fc = nn.Linear(channels * 16, n_classes)

    def forward(self, x):
        features = max_pool2d(tanh(conv2d(x, self.conv_weight, padding=1)), 2)
        return self.fc(features.flatten(1))
""",
        "registers the convolution's bias but never adds it",
    ),
    Mutant(
        "capstone_digitnet_plain_tensors",
        "capstone.DigitNet",
        """
class DigitNet(nn.Module):
    def __init__(self, channels=8, n_classes=10):
        super().__init__()
        self.conv_weight = torch.empty(channels, 1, 3, 3).uniform_(-1 / 3, 1 / 3)
        self.conv_bias = torch.empty(channels).uniform_(-1 / 3, 1 / 3)
        self.fc = nn.Linear(channels * 16, n_classes)

    def forward(self, x):
        features = max_pool2d(tanh(conv2d(x, self.conv_weight, self.conv_bias, padding=1)), 2)
        return self.fc(features.flatten(1))
""",
        "the convolution's weight and bias as plain tensors, not nn.Parameter: never trained",
    ),
    Mutant(
        "capstone_digitnet_randn_init",
        "capstone.DigitNet",
        """
class DigitNet(nn.Module):
    def __init__(self, channels=8, n_classes=10):
        super().__init__()
        self.conv_weight = nn.Parameter(torch.randn(channels, 1, 3, 3))
        self.conv_bias = nn.Parameter(torch.zeros(channels))
        self.fc = nn.Linear(channels * 16, n_classes)

    def forward(self, x):
        features = max_pool2d(tanh(conv2d(x, self.conv_weight, self.conv_bias, padding=1)), 2)
        return self.fc(features.flatten(1))
""",
        "initial convolution weights from torch.randn and a zero bias, not nn.Conv2d's uniform draw",
    ),
    Mutant(
        "capstone_digitnet_flatten_channels_last",
        "capstone.DigitNet",
        """
class DigitNet(nn.Module):
    def __init__(self, channels=8, n_classes=10):
        super().__init__()
        self.conv_weight = nn.Parameter(torch.empty(channels, 1, 3, 3).uniform_(-1 / 3, 1 / 3))
        self.conv_bias = nn.Parameter(torch.empty(channels).uniform_(-1 / 3, 1 / 3))
        self.fc = nn.Linear(channels * 16, n_classes)

    def forward(self, x):
        features = max_pool2d(tanh(conv2d(x, self.conv_weight, self.conv_bias, padding=1)), 2)
        return self.fc(features.permute(0, 2, 3, 1).flatten(1))
""",
        "flattens pixel by pixel (channels last) instead of channel by channel, as nn.Flatten does",
    ),
    Mutant(
        "capstone_digitnet_torch_tanh",
        "capstone.DigitNet",
        """
class DigitNet(nn.Module):
    def __init__(self, channels=8, n_classes=10):
        super().__init__()
        self.conv_weight = nn.Parameter(torch.empty(channels, 1, 3, 3).uniform_(-1 / 3, 1 / 3))
        self.conv_bias = nn.Parameter(torch.empty(channels).uniform_(-1 / 3, 1 / 3))
        self.fc = nn.Linear(channels * 16, n_classes)

    def forward(self, x):
        features = max_pool2d(torch.tanh(conv2d(x, self.conv_weight, self.conv_bias, padding=1)), 2)
        return self.fc(features.flatten(1))
""",
        "PyTorch's tanh (forbidden here) instead of your own",
    ),
    Mutant(
        "capstone_train_decay_lambda",
        "capstone.train_epoch",
        """
def train_epoch(model, images, labels, lr, l2=0.0, batch_size=32):
    losses = []
    for start in range(0, len(images), batch_size):
        model.zero_grad()
        loss = cross_entropy(model(images[start : start + batch_size]), labels[start : start + batch_size])
        loss.backward()
        sgd_step(model.parameters(), lr, weight_decay=l2)  # the penalty's gradient is 2·l2·p
        losses.append(loss.item())
    return sum(losses) / len(losses)
""",
        "weight decay λ instead of 2λ",
    ),
    Mutant(
        "capstone_train_no_penalty",
        "capstone.train_epoch",
        """
def train_epoch(model, images, labels, lr, l2=0.0, batch_size=32):
    losses = []
    for start in range(0, len(images), batch_size):
        model.zero_grad()
        loss = cross_entropy(model(images[start : start + batch_size]), labels[start : start + batch_size])
        loss.backward()
        sgd_step(model.parameters(), lr)
        losses.append(loss.item())
    return sum(losses) / len(losses)
""",
        "ignores l2",
    ),
    Mutant(
        "capstone_train_batches_reversed",
        "capstone.train_epoch",
        """
def train_epoch(model, images, labels, lr, l2=0.0, batch_size=32):
    losses = []
    for start in reversed(range(0, len(images), batch_size)):
        model.zero_grad()
        loss = cross_entropy(model(images[start : start + batch_size]), labels[start : start + batch_size])
        (loss + l2 * l2_penalty(model)).backward()
        sgd_step(model.parameters(), lr)
        losses.append(loss.item())
    return sum(losses) / len(losses)
""",
        "takes the batches last to first",
    ),
    Mutant(
        "capstone_train_shuffles",
        "capstone.train_epoch",
        """
def train_epoch(model, images, labels, lr, l2=0.0, batch_size=32):
    order = torch.randperm(len(images), generator=torch.Generator().manual_seed(0))
    images, labels = images[order], labels[order]
    losses = []
    for start in range(0, len(images), batch_size):
        model.zero_grad()
        loss = cross_entropy(model(images[start : start + batch_size]), labels[start : start + batch_size])
        (loss + l2 * l2_penalty(model)).backward()
        sgd_step(model.parameters(), lr)
        losses.append(loss.item())
    return sum(losses) / len(losses)
""",
        "shuffles inside the epoch instead of taking the batches in the order given",
    ),
    Mutant(
        "capstone_train_loss_summed",
        "capstone.train_epoch",
        """
def train_epoch(model, images, labels, lr, l2=0.0, batch_size=32):
    losses = []
    for start in range(0, len(images), batch_size):
        model.zero_grad()
        x, y = images[start : start + batch_size], labels[start : start + batch_size]
        loss = cross_entropy(model(x), y, reduction="sum")
        (loss + l2 * l2_penalty(model)).backward()
        sgd_step(model.parameters(), lr)
        losses.append(loss.item())
    return sum(losses) / len(losses)
""",
        "the loss summed over the batch, not averaged",
    ),
    Mutant(
        "capstone_train_grads_never_cleared",
        "capstone.train_epoch",
        """
def train_epoch(model, images, labels, lr, l2=0.0, batch_size=32):
    losses = []
    for start in range(0, len(images), batch_size):
        loss = cross_entropy(model(images[start : start + batch_size]), labels[start : start + batch_size])
        (loss + l2 * l2_penalty(model)).backward()
        sgd_step(model.parameters(), lr)
        losses.append(loss.item())
    return sum(losses) / len(losses)
""",
        "forgets to zero the gradients: each batch's .grad adds to the last one's",
    ),
    Mutant(
        "capstone_train_drops_last_batch",
        "capstone.train_epoch",
        """
def train_epoch(model, images, labels, lr, l2=0.0, batch_size=32):
    losses = []
    for start in range(0, len(images) - batch_size + 1, batch_size):
        model.zero_grad()
        loss = cross_entropy(model(images[start : start + batch_size]), labels[start : start + batch_size])
        (loss + l2 * l2_penalty(model)).backward()
        sgd_step(model.parameters(), lr)
        losses.append(loss.item())
    return sum(losses) / max(len(losses), 1)
""",
        "skips the smaller last batch",
    ),
    Mutant(
        "capstone_train_mean_over_images",
        "capstone.train_epoch",
        """
def train_epoch(model, images, labels, lr, l2=0.0, batch_size=32):
    total = 0.0
    for start in range(0, len(images), batch_size):
        model.zero_grad()
        x, y = images[start : start + batch_size], labels[start : start + batch_size]
        loss = cross_entropy(model(x), y)
        (loss + l2 * l2_penalty(model)).backward()
        sgd_step(model.parameters(), lr)
        total += loss.item() * len(x)
    return total / len(images)
""",
        "returns the mean over the images, weighting the smaller last batch less",
    ),
    Mutant(
        "capstone_train_penalty_in_returned_loss",
        "capstone.train_epoch",
        """
def train_epoch(model, images, labels, lr, l2=0.0, batch_size=32):
    losses = []
    for start in range(0, len(images), batch_size):
        model.zero_grad()
        loss = cross_entropy(model(images[start : start + batch_size]), labels[start : start + batch_size])
        loss = loss + l2 * l2_penalty(model)
        loss.backward()
        sgd_step(model.parameters(), lr)
        losses.append(loss.item())
    return sum(losses) / len(losses)
""",
        "returns the mean of the penalised loss",
    ),
    Mutant(
        "capstone_train_last_batch_loss",
        "capstone.train_epoch",
        """
def train_epoch(model, images, labels, lr, l2=0.0, batch_size=32):
    for start in range(0, len(images), batch_size):
        model.zero_grad()
        loss = cross_entropy(model(images[start : start + batch_size]), labels[start : start + batch_size])
        (loss + l2 * l2_penalty(model)).backward()
        sgd_step(model.parameters(), lr)
    return loss.item()
""",
        "returns the last batch's loss, not the mean over the batches",
    ),
    Mutant(
        "capstone_train_returns_tensor",
        "capstone.train_epoch",
        """
def train_epoch(model, images, labels, lr, l2=0.0, batch_size=32):
    losses = []
    for start in range(0, len(images), batch_size):
        model.zero_grad()
        loss = cross_entropy(model(images[start : start + batch_size]), labels[start : start + batch_size])
        (loss + l2 * l2_penalty(model)).backward()
        sgd_step(model.parameters(), lr)
        losses.append(loss.detach())
    return torch.stack(losses).mean()
""",
        "returns a 0-dim tensor instead of a Python float",
    ),
    Mutant(
        "capstone_train_torch_optim",
        "capstone.train_epoch",
        """
def train_epoch(model, images, labels, lr, l2=0.0, batch_size=32):
    optimiser = torch.optim.SGD(model.parameters(), lr=lr, weight_decay=2 * l2)
    losses = []
    for start in range(0, len(images), batch_size):
        optimiser.zero_grad()
        loss = cross_entropy(model(images[start : start + batch_size]), labels[start : start + batch_size])
        loss.backward()
        optimiser.step()
        losses.append(loss.item())
    return sum(losses) / len(losses)
""",
        "uses torch.optim (forbidden) instead of your sgd_step",
    ),
    Mutant(
        "capstone_accuracy_count",
        "capstone.accuracy",
        """
def accuracy(model, images, labels):
    with torch.no_grad():
        return int((model(images).argmax(dim=1) == labels).sum())
""",
        "counts the right answers instead of taking the fraction",
    ),
    Mutant(
        "capstone_accuracy_percent",
        "capstone.accuracy",
        """
def accuracy(model, images, labels):
    with torch.no_grad():
        return 100 * (model(images).argmax(dim=1) == labels).double().mean().item()
""",
        "a percentage instead of a fraction",
    ),
    Mutant(
        "capstone_accuracy_error_rate",
        "capstone.accuracy",
        """
def accuracy(model, images, labels):
    with torch.no_grad():
        return (model(images).argmax(dim=1) != labels).double().mean().item()
""",
        "the error rate: counts the wrong answers",
    ),
    Mutant(
        "capstone_accuracy_argmax_over_batch",
        "capstone.accuracy",
        """
def accuracy(model, images, labels):
    with torch.no_grad():
        predicted = model(images).argmax(dim=0)
    return (predicted[: len(labels)] == labels[: len(predicted)]).double().mean().item()
""",
        "takes argmax over the batch dimension, not over the classes",
    ),
    Mutant(
        "capstone_accuracy_first_batch_only",
        "capstone.accuracy",
        """
def accuracy(model, images, labels):
    with torch.no_grad():
        predicted = model(images[:32]).argmax(dim=1)
    return (predicted == labels[:32]).double().mean().item()
""",
        "measures only the first 32 images",
    ),
    Mutant(
        "capstone_accuracy_tensor",
        "capstone.accuracy",
        """
def accuracy(model, images, labels):
    with torch.no_grad():
        return (model(images).argmax(dim=1) == labels).double().mean()
""",
        "returns a 0-dim tensor instead of a Python float",
    ),
]


# ----------------------------------------------------------------------------- the named mistakes' variants


def _defined(tree: ast.Module) -> set[str]:
    """The names a module's top level defines: its functions, classes, imports and assignments."""
    names = set(dir(builtins))
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names |= {(a.asname or a.name).split(".")[0] for a in node.names}
        elif isinstance(node, ast.Assign):
            names |= {t.id for t in node.targets if isinstance(t, ast.Name)}
    return names


def as_learner_function(variant, target: str) -> str | None:
    """A mistake's variant as the source of ``target``'s replacement, when it is written as a learner's
    function would be (a plain function of the target's own parameters, using only names the solution's
    module defines): the same code, so the zoo takes it from the record rather than copy it."""
    module, function = target.split(".", 1)
    if not isinstance(variant, types.FunctionType) or variant.__code__.co_freevars or variant.__name__ == "<lambda>":
        return None
    if variant.__module__ != f"autograder.course.modules.{module}":
        return None
    solution = ast.parse((SOLUTIONS / f"{module}.py").read_text(encoding="utf-8"))
    try:
        own = _top_level(solution, function)
    except KeyError:
        return None
    source = textwrap.dedent(inspect.getsource(variant))
    node = ast.parse(source).body[0]
    if not isinstance(own, ast.FunctionDef) or not isinstance(node, ast.FunctionDef):
        return None
    if ast.dump(node.args) != ast.dump(own.args):
        return None
    loaded = {n.id for n in ast.walk(node) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}
    local = {a.arg for a in ast.walk(node.args) if isinstance(a, ast.arg)}
    local |= {n.id for n in ast.walk(node) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)}
    if loaded - local - _defined(solution):
        return None
    return source.replace(f"def {variant.__name__}(", f"def {function}(", 1)


def from_mistakes() -> list[Mutant]:
    """One mutant per named mistake's variant that is a learner's whole function."""
    found = []
    for exercise in catalogue.EXERCISES:
        for mistake in exercise.mistakes:
            for variant in mistake.variants:
                source = as_learner_function(variant, exercise.id)
                if source is not None:
                    found.append(Mutant(variant.__name__.lstrip("_"), exercise.id, source, mistake.name))
    return found


MUTANTS: list[Mutant] = HANDWRITTEN + from_mistakes()
