"""Log-softmax, negative log-likelihood and cross-entropy.

A classifier outputs one score (logit) per class. Log-softmax turns scores into
log-probabilities; the negative log-likelihood loss reads off the
log-probability of the correct class. Chained, they are the cross-entropy loss,
which PyTorch offers in one call. You build all three, stably.
"""

import torch


def log_softmax(logits, dim=-1):
    """Log of the softmax along ``dim``, computed stably.

        log_softmax(z)_i = z_i - log( sum_j exp(z_j) )
                         = (z_i - m) - log( sum_j exp(z_j - m) )   for any m

    Shapes: any tensor in, same shape, dtype and device out; each slice along
    ``dim`` becomes a vector of log-probabilities (their exps sum to 1).

    Example:
        >>> log_softmax(torch.tensor([0.0, 0.0]))
        tensor([-0.6931, -0.6931])
        >>> log_softmax(torch.tensor([1e4, 0.0]))  # exp(1e4) would be inf
        tensor([     0., -10000.])

    Forbidden: ``F.log_softmax``, ``F.softmax``, ``torch.logsumexp`` (ATen
    ``aten._log_softmax``, ``aten._softmax``, ``aten.logsumexp``): they are
    exactly what you are writing.

    Numerics: ``exp(1e4)`` is ``inf`` and ``exp(-1e4)`` is 0, so the naive
    formula gives ``nan`` or ``-inf``. Logits up to +-1e4 must give finite,
    correct results.

    Tip: choose m = the maximum along ``dim`` (``amax(dim, keepdim=True)``).
    Then every exponent is <= 0 and the largest term of the sum is exactly 1,
    so the log never sees 0 or inf. The result does not depend on m, so m can
    be ``.detach()``-ed: no gradient needs to flow through it.
    """
    # TODO: your code here
    raise NotImplementedError


def nll_loss(log_probs, target, weight=None, reduction="mean", ignore_index=-100):
    """Negative log-likelihood loss, as ``F.nll_loss``.

    For sample i with class y_i (``target[i]``) and class weights w:

        loss_i = -w[y_i] * log_probs[i, y_i]     (0 when y_i == ignore_index)

        "none": the vector (loss_0, ..., loss_{N-1})
        "sum":  sum_i loss_i
        "mean": sum_i loss_i / sum_i w[y_i]      (ignored samples left out)

    so with no weights "mean" is the plain average over the samples that are
    not ignored (``nan`` when all are ignored, as in PyTorch).

    Shapes: log_probs ``(N, C)`` float, target ``(N,)`` int64 in ``[0, C)`` or
    ``ignore_index``, weight ``(C,)`` or None (= all ones). Returns ``(N,)``
    for "none", a 0-dim tensor otherwise. Any other reduction raises
    ``ValueError``.

    Example:
        >>> lp = torch.log(torch.tensor([[0.5, 0.5], [0.25, 0.75]]))
        >>> nll_loss(lp, torch.tensor([0, 1]), reduction="none")
        tensor([0.6931, 0.2877])
        >>> nll_loss(lp, torch.tensor([0, -100]))  # second sample ignored
        tensor(0.6931)

    Forbidden: ``F.nll_loss`` / ``F.cross_entropy`` (ATen
    ``aten.nll_loss_forward``, ``aten.nll_loss2d_forward``,
    ``aten.nll_loss_nd``, ``aten.cross_entropy_loss``).

    Tip: ``-100`` is not a valid index, so first replace ignored targets by 0
    (``torch.where``), pick ``log_probs[i, y_i]`` with ``gather`` (or
    ``log_probs[torch.arange(N), y]``), then zero the ignored samples' weight.
    Create every new tensor on ``log_probs``' device and dtype
    (``log_probs.new_ones(C)``), and avoid ``.item()`` and boolean-mask
    indexing: the whole computation can stay on the GPU.
    """
    # TODO: your code here
    raise NotImplementedError


def cross_entropy(logits, target, weight=None, reduction="mean", ignore_index=-100):
    """Cross-entropy loss from raw scores, as ``F.cross_entropy``.

        cross_entropy(z, y) = nll_loss(log_softmax(z, dim=1), y)

    It is the cross-entropy between the one-hot distribution on the correct
    class and the predicted distribution. Arguments and reductions are those
    of ``nll_loss``.

    Shapes: logits ``(N, C)``, target ``(N,)`` int64; returns ``(N,)`` for
    "none", a 0-dim tensor otherwise.

    Example:
        >>> cross_entropy(torch.zeros(2, 4), torch.tensor([0, 3]))  # log(4)
        tensor(1.3863)

    Forbidden: everything forbidden in ``log_softmax`` and ``nll_loss``
    (``F.cross_entropy`` reaches ATen as ``_log_softmax`` + ``nll_loss_forward``).

    Tip: this is one line built from your two functions above.
    """
    # TODO: your code here
    raise NotImplementedError
