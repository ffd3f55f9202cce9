"""losses.py: log-softmax, negative log-likelihood and cross-entropy.

Each exercise's record, hints (a nudge first, the nearly-answer last) and named mistakes live
together here; each mistake's variants are PyTorch/NumPy code that reproduces it, run by the scorer.
"""

from __future__ import annotations

from autograder.course.records import LOG_SOFTMAX_OPS, LOSS_OPS, Exercise, LazyModule, Mistake

torch = LazyModule("torch")
F = LazyModule("torch.nn.functional")


def _log_softmax_no_shift(logits, dim=-1):
    return logits - torch.log(torch.exp(logits).sum(dim, keepdim=True))


def _log_softmax_log_of_softmax(logits, dim=-1):
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


# what the generic relations (course/relations.py) mean for a loss with a reduction option
_REDUCTION_WORDS = {
    "reduction='sum'": (
        "the loss is the sum over the batch: PyTorch takes the mean",
        "with reduction='mean', divide the summed losses by the sum of the weights of the samples not ignored",
    ),
    "reduction='mean'": (
        "the loss is the mean over the batch: PyTorch adds the losses up (or keeps one per sample)",
        "follow the reduction argument: 'sum' adds the per-sample losses, 'none' returns them all",
    ),
    "reduction='none'": (
        "one loss per sample: PyTorch reduces them to one number",
        "with reduction='mean' or 'sum', reduce the per-sample losses to a 0-dim tensor",
    ),
    "times:-1": (
        "the loss with the opposite sign",
        "the negative log-likelihood is −log p of the target: keep the minus",
    ),
    "weight=None": ("class weights ignored", "multiply each sample's loss by weight[target] when weight is given"),
}

EXERCISES = (
    Exercise(
        "losses",
        "log_softmax",
        3,
        "F.log_softmax",
        forbidden=LOG_SOFTMAX_OPS,
        advice="subtract the max, then use torch.exp, .sum and torch.log",
        hints=(
            "log_softmax(x) = x − log Σ exp(x) along dim.",
            "Subtract m = x.amax(dim, keepdim=True) first: x − m − log Σ exp(x − m) is the same number and never "
            "overflows.",
        ),
        mistakes=(
            Mistake(
                "log-softmax without the max shift",
                "subtract the max along dim before exp, or exp overflows at large logits",
                (_log_softmax_no_shift,),
            ),
            Mistake(
                "the log of a softmax",
                "exp of a very negative shifted logit underflows to 0 and log(0) = −inf: compute "
                "shifted − log Σ exp(shifted), never log(exp(·)/Σ)",
                (_log_softmax_log_of_softmax,),
            ),
            Mistake(
                "softmax returned instead of log-softmax",
                "return log-probabilities: x − max − log Σ exp(x − max)",
                (_softmax_instead,),
            ),
            Mistake("dim ignored", "reduce along the dim argument, not always the last one", (_log_softmax_last_dim,)),
        ),
    ),
    Exercise(
        "losses",
        "nll_loss",
        3,
        "F.nll_loss",
        forbidden=LOSS_OPS,
        advice="pick log_probs[i, target[i]] with gather or indexing",
        relations=_REDUCTION_WORDS,
        hints=(
            "Pick each sample's log-probability of its target: log_probs.gather(1, target.unsqueeze(1)).",
            "Replace ignored targets by a valid class before gathering (torch.where), then zero their loss.",
            "'mean' divides by the sum of the weights of the samples not ignored, not by N.",
        ),
        mistakes=(
            Mistake(
                "the weighted mean divided by the number of samples",
                "'mean' divides by the sum of the weights of the samples not ignored, not by how many there are",
                (_nll_mean_over_n, _nll_mean_over_kept),
            ),
            Mistake(
                "ignored targets counted in the denominator",
                "samples whose target is ignore_index add nothing to the numerator or the denominator",
                (_nll_counting_ignored,),
            ),
            Mistake("class weights ignored", "multiply each sample's loss by weight[target]", (_nll_without_weights,)),
        ),
    ),
    Exercise(
        "losses",
        "cross_entropy",
        2,
        "F.cross_entropy",
        forbidden=LOG_SOFTMAX_OPS + LOSS_OPS,
        advice="combine your own log_softmax and nll_loss",
        relations=_REDUCTION_WORDS,
        uses=("losses.log_softmax", "losses.nll_loss"),
        hints=("Cross-entropy is nll_loss(log_softmax(logits, dim=1), target, ...): reuse your two functions.",),
        mistakes=(
            Mistake(
                "the weighted mean divided by the number of samples",
                "'mean' divides by the sum of the weights of the samples not ignored",
                (
                    _cross_entropy_with(_nll_mean_over_n),
                    _cross_entropy_with(_nll_mean_over_kept),
                    _cross_entropy_with(_nll_counting_ignored),
                ),
            ),
            Mistake(
                "log-softmax without the max shift",
                "cross_entropy inherits it from your log_softmax: subtract the max along dim before exp",
                (_cross_entropy_from(_log_softmax_no_shift),),
            ),
            Mistake("log-softmax over the wrong dim", "classes are dim 1 of the (N, C) logits", (_cross_entropy_dim0,)),
        ),
    ),
)
