"""Submissions that call a forbidden operation score 0 on that exercise, with outcome "forbidden" and a
message naming the operation; the module's other exercises (those not calling it) keep full marks.
"""

from __future__ import annotations

import pytest

from mutants import build_submission, dependents

# name: (target, replacement source, text the message must contain: the op the learner called, which the
# dispatcher refuses before any decomposition)
CASES = {
    "conv2d via F.conv2d": (
        "convolution.conv2d",
        """
def conv2d(x, weight, bias=None, stride=1, padding=0):
    import torch.nn.functional as F
    return F.conv2d(x, weight, bias, stride=stride, padding=padding)
""",
        "aten.conv2d",
    ),
    "conv1d via F.conv1d": (
        "convolution.conv1d",
        """
def conv1d(x, weight, bias=None, stride=1, padding=0):
    import torch.nn.functional as F
    return F.conv1d(x, weight, bias, stride=stride, padding=padding)
""",
        "aten.conv1d",
    ),
    "conv2d via F.conv2d only when stride > 1": (
        "convolution.conv2d",
        """
def conv2d(x, weight, bias=None, stride=1, padding=0):
    import torch.nn.functional as F
    sh, sw = (stride, stride) if isinstance(stride, int) else tuple(stride)
    if sh > 1 or sw > 1:
        return F.conv2d(x, weight, bias, stride=stride, padding=padding)
    ph, pw = (padding, padding) if isinstance(padding, int) else tuple(padding)
    height, width = x.shape[-2:]
    k_h, k_w = weight.shape[-2:]
    out_h = conv_output_size(height, k_h, ph, 1)
    out_w = conv_output_size(width, k_w, pw, 1)
    padded = pad2d(x, (ph, pw))
    out = 0
    for a in range(k_h):
        for b in range(k_w):
            out = out + torch.einsum("nchw,oc->nohw", padded[..., a : a + out_h, b : b + out_w],
                                     weight[:, :, a, b])
    if bias is not None:
        out = out + bias.reshape(1, -1, 1, 1)
    return out
""",
        "aten.conv2d",
    ),
    "log_softmax via torch.log_softmax": (
        "losses.log_softmax",
        """
def log_softmax(logits, dim=-1):
    return torch.log_softmax(logits, dim=dim)
""",
        "aten.log_softmax",
    ),
    "nll_loss via F.nll_loss": (
        "losses.nll_loss",
        """
def nll_loss(log_probs, target, weight=None, reduction="mean", ignore_index=-100):
    import torch.nn.functional as F
    return F.nll_loss(log_probs, target, weight=weight, reduction=reduction, ignore_index=ignore_index)
""",
        "aten.nll_loss",
    ),
    "cross_entropy via F.cross_entropy": (
        "losses.cross_entropy",
        """
def cross_entropy(logits, target, weight=None, reduction="mean", ignore_index=-100):
    import torch.nn.functional as F
    return F.cross_entropy(logits, target, weight=weight, reduction=reduction, ignore_index=ignore_index)
""",
        "aten.cross_entropy_loss",
    ),
    "pad2d via F.pad": (
        "convolution.pad2d",
        """
def pad2d(x, padding):
    import torch.nn.functional as F
    ph, pw = (padding, padding) if isinstance(padding, int) else tuple(padding)
    return F.pad(x, (pw, pw, ph, ph))
""",
        "aten.pad",
    ),
    "max_pool2d via F.max_pool2d": (
        "pooling.max_pool2d",
        """
def max_pool2d(x, kernel_size, stride=None, padding=0):
    import torch.nn.functional as F
    pairs = [(v, v) if isinstance(v, int) else tuple(v) for v in (kernel_size, padding)]
    if any(2 * p > k for k, p in zip(*pairs)):
        raise ValueError("padding must be at most half of kernel_size")
    return F.max_pool2d(x, kernel_size, stride=stride, padding=padding)
""",
        "aten.max_pool2d",
    ),
    "tanh via torch.tanh": (
        "neurons.tanh",
        """
def tanh(x):
    return torch.tanh(x)
""",
        "aten.tanh",
    ),
    "sgd_step via torch.optim.SGD": (
        "regularization.sgd_step",
        """
def sgd_step(params, lr, weight_decay=0.0):
    torch.optim.SGD(params, lr=lr, weight_decay=weight_decay).step()
""",
        "optim",
    ),
    "sgd_step via from torch import optim": (
        "regularization.sgd_step",
        """
def sgd_step(params, lr, weight_decay=0.0):
    from torch import optim
    optim.SGD(params, lr=lr, weight_decay=weight_decay).step()
""",
        "optim",
    ),
}


@pytest.mark.parametrize("name", list(CASES))
def test_forbidden_op_scores_zero(tmp_path, warm_grader, name):
    target, source, named = CASES[name]
    module = target.split(".", 1)[0]
    sub = build_submission(tmp_path / "submission", target, source)
    spoiled = dependents(target, (sub / f"{module}.py").read_text(encoding="utf-8"))
    result = warm_grader.grade(sub, [module])
    summary = "\n".join(f"  {e.exercise.id}: {e.outcome} {e.score}/{e.max_score} {e.message}" for e in result.exercises)
    by_id = {e.exercise.id: e for e in result.exercises}
    hit = by_id[target]
    assert hit.outcome == "forbidden" and hit.score == 0, f"{name}: {hit.outcome} {hit.score}\n{summary}"
    assert named in hit.message, f"{name}: the message does not name {named!r}: {hit.message}"
    for ex in result.exercises:
        if ex.exercise.id == target or ex.exercise.id in spoiled:
            continue
        assert ex.outcome == "passed" and ex.score == ex.max_score, f"{name} spoiled {ex.exercise.id}\n{summary}"
