"""A second corpus of wrong answers, written apart from the zoo (tests/mutants.py) to measure the
feedback on mistakes it was not tuned on.

Method: for each topic, the misconceptions that course forums, FAQs and textbook exercise notes list
for it (operator precedence in normalisation, ``view`` after ``transpose``, the ½ of ½‖w‖², Tukey's
hinges for quartiles, ``zero_grad`` in the wrong place, softmax before cross-entropy, an eps by habit,
...), each written once as a learner would: one misconception each, the rest of the function as the
contract asks (its argument checks included), without looking at which relation or named mistake could
explain it. Misconceptions the zoo already holds were left out. ``tests/test_diagnosis.py`` grades every
entry once (a session fixture) and requires each to lose points; ``python tests/diagnosis.py`` prints
the shares named before and after the generic relations.
"""

from __future__ import annotations

from mutants import Mutant

CORPUS: list[Mutant] = [
    # ------------------------------------------------------------------ losses
    Mutant(
        "lsm_global_max",
        "losses.log_softmax",
        """
def log_softmax(logits, dim=-1):
    shifted = logits - logits.max()
    return shifted - shifted.exp().sum(dim=dim, keepdim=True).log()
""",
        "the max over the whole tensor, not along dim: rows far below it underflow",
    ),
    Mutant(
        "lsm_mean_shift",
        "losses.log_softmax",
        """
def log_softmax(logits, dim=-1):
    shifted = logits - logits.mean(dim=dim, keepdim=True)
    return shifted - shifted.exp().sum(dim=dim, keepdim=True).log()
""",
        "shifts by the mean (any constant works on paper; only the max keeps exp finite)",
    ),
    Mutant(
        "lsm_shift_outside_sum",
        "losses.log_softmax",
        """
def log_softmax(logits, dim=-1):
    m = logits.amax(dim=dim, keepdim=True).detach()
    return logits - m - (logits - m).exp().sum(dim=dim, keepdim=True).log() - m
""",
        "subtracts the max twice (once outside the log, once more by habit)",
    ),
    Mutant(
        "nll_always_sum",
        "losses.nll_loss",
        """
def nll_loss(log_probs, target, weight=None, reduction="mean", ignore_index=-100):
    if reduction not in ("none", "sum", "mean"):
        raise ValueError(f"reduction must be 'none', 'sum' or 'mean', not {reduction!r}")
    n, c = log_probs.shape
    w = weight if weight is not None else log_probs.new_ones(c)
    keep = target != ignore_index
    safe = torch.where(keep, target, torch.zeros_like(target))
    picked = -log_probs.gather(1, safe.unsqueeze(1)).squeeze(1) * w[safe] * keep
    if reduction == "none":
        return picked
    return picked.sum()
""",
        "sums the losses for 'mean' too (the sum is 'the loss of the batch')",
    ),
    Mutant(
        "nll_no_minus",
        "losses.nll_loss",
        """
def nll_loss(log_probs, target, weight=None, reduction="mean", ignore_index=-100):
    if reduction not in ("none", "sum", "mean"):
        raise ValueError(f"reduction must be 'none', 'sum' or 'mean', not {reduction!r}")
    n, c = log_probs.shape
    w = weight if weight is not None else log_probs.new_ones(c)
    keep = target != ignore_index
    safe = torch.where(keep, target, torch.zeros_like(target))
    picked = log_probs.gather(1, safe.unsqueeze(1)).squeeze(1) * w[safe] * keep
    if reduction == "none":
        return picked
    if reduction == "sum":
        return picked.sum()
    return picked.sum() / (w[safe] * keep).sum()
""",
        "forgets the minus of the negative log-likelihood",
    ),
    Mutant(
        "nll_none_means",
        "losses.nll_loss",
        """
def nll_loss(log_probs, target, weight=None, reduction="mean", ignore_index=-100):
    if reduction not in ("none", "sum", "mean"):
        raise ValueError(f"reduction must be 'none', 'sum' or 'mean', not {reduction!r}")
    n, c = log_probs.shape
    w = weight if weight is not None else log_probs.new_ones(c)
    keep = target != ignore_index
    safe = torch.where(keep, target, torch.zeros_like(target))
    picked = -log_probs.gather(1, safe.unsqueeze(1)).squeeze(1) * w[safe] * keep
    if reduction == "sum":
        return picked.sum()
    return picked.sum() / (w[safe] * keep).sum()
""",
        "treats any reduction but 'sum' as 'mean' ('none' returns a scalar)",
    ),
    Mutant(
        "nll_mean_of_all",
        "losses.nll_loss",
        """
def nll_loss(log_probs, target, weight=None, reduction="mean", ignore_index=-100):
    if reduction not in ("none", "sum", "mean"):
        raise ValueError(f"reduction must be 'none', 'sum' or 'mean', not {reduction!r}")
    n, c = log_probs.shape
    w = weight if weight is not None else log_probs.new_ones(c)
    keep = target != ignore_index
    safe = torch.where(keep, target, torch.zeros_like(target))
    picked = -log_probs.gather(1, safe.unsqueeze(1)).squeeze(1) * w[safe] * keep
    if reduction == "none":
        return picked
    if reduction == "sum":
        return picked.sum()
    return picked.sum() / log_probs.numel()
""",
        "divides by every entry of the (N, C) matrix, not by the samples",
    ),
    Mutant(
        "nll_weight_by_position",
        "losses.nll_loss",
        """
def nll_loss(log_probs, target, weight=None, reduction="mean", ignore_index=-100):
    if reduction not in ("none", "sum", "mean"):
        raise ValueError(f"reduction must be 'none', 'sum' or 'mean', not {reduction!r}")
    n, c = log_probs.shape
    w = weight if weight is not None else log_probs.new_ones(c)
    w = w.repeat(n // c + 1)[:n]
    keep = target != ignore_index
    safe = torch.where(keep, target, torch.zeros_like(target))
    picked = -log_probs.gather(1, safe.unsqueeze(1)).squeeze(1) * w * keep
    if reduction == "none":
        return picked
    if reduction == "sum":
        return picked.sum()
    return picked.sum() / (w * keep).sum()
""",
        "weights each sample by its position, not by its class",
    ),
    Mutant(
        "ce_probabilities",
        "losses.cross_entropy",
        """
def cross_entropy(logits, target, weight=None, reduction="mean", ignore_index=-100):
    return nll_loss(log_softmax(logits, dim=1).exp(), target, weight, reduction, ignore_index)
""",
        "feeds probabilities to the NLL (the 'log' of log-softmax undone)",
    ),
    Mutant(
        "ce_drops_reduction",
        "losses.cross_entropy",
        """
def cross_entropy(logits, target, weight=None, reduction="mean", ignore_index=-100):
    return nll_loss(log_softmax(logits, dim=1), target, weight)
""",
        "passes only the first options on (reduction and ignore_index lost)",
    ),
    Mutant(
        "ce_drops_weight",
        "losses.cross_entropy",
        """
def cross_entropy(logits, target, weight=None, reduction="mean", ignore_index=-100):
    return nll_loss(log_softmax(logits, dim=1), target, reduction=reduction, ignore_index=ignore_index)
""",
        "class weights not passed on",
    ),
    # ------------------------------------------------------------------ neurons
    Mutant(
        "tanh_is_sigmoid_2x",
        "neurons.tanh",
        """
def tanh(x):
    return 1 / (1 + torch.exp(-2 * x))
""",
        "tanh(x) = σ(2x), forgetting the 2σ(2x) − 1",
    ),
    Mutant(
        "tanh_no_abs",
        "neurons.tanh",
        """
def tanh(x):
    e = torch.exp(-2 * x)
    return (1 - e) / (1 + e)
""",
        "the 'stable' form without |x|: overflows for large negative x",
    ),
    Mutant(
        "tanh_sinh_cosh",
        "neurons.tanh",
        """
def tanh(x):
    return torch.sinh(x) / torch.cosh(x)
""",
        "sinh/cosh: inf/inf for large |x|",
    ),
    Mutant(
        "neuron_tanh_first",
        "neurons.neuron",
        """
def neuron(x, w, b):
    return torch.tanh(x) @ w.T + b
""",
        "the activation applied to the input instead of the affine map",
    ),
    Mutant(
        "neuron_linear",
        "neurons.neuron",
        """
def neuron(x, w, b):
    return x @ w.T + b
""",
        "no activation: a neuron is only the affine map",
    ),
    Mutant(
        "neuron_sigmoid",
        "neurons.neuron",
        """
def neuron(x, w, b):
    return torch.sigmoid(x @ w.T + b)
""",
        "the logistic activation, the textbook's default neuron",
    ),
    Mutant(
        "neuron_bias_outside",
        "neurons.neuron",
        """
def neuron(x, w, b):
    return torch.tanh(x @ w.T) + b
""",
        "the bias added after the activation",
    ),
    Mutant(
        "count_tensors",
        "neurons.count_parameters",
        """
def count_parameters(model):
    return len([p for p in model.parameters() if p.requires_grad])
""",
        "counts parameter tensors, not scalars",
    ),
    Mutant(
        "count_state_dict",
        "neurons.count_parameters",
        """
def count_parameters(model):
    return sum(v.numel() for v in model.state_dict().values())
""",
        "the state dict: buffers and frozen parameters counted",
    ),
    # ------------------------------------------------------------------ normalization
    Mutant(
        "stats_variance",
        "normalization.channel_stats",
        """
def channel_stats(x):
    channels = x.shape[1]
    per_channel = x.transpose(0, 1).reshape(channels, -1)
    return per_channel.mean(dim=1), per_channel.var(dim=1)
""",
        "the variance for the standard deviation",
    ),
    Mutant(
        "stats_4d_only",
        "normalization.channel_stats",
        """
def channel_stats(x):
    return x.mean(dim=(0, 2, 3)), x.std(dim=(0, 2, 3))
""",
        "hard-codes images (N, C, H, W): other ranks fail",
    ),
    Mutant(
        "stats_mean_of_stds",
        "normalization.channel_stats",
        """
def channel_stats(x):
    channels = x.shape[1]
    per_sample = x.reshape(x.shape[0], channels, -1)
    return per_sample.mean(dim=2).mean(dim=0), per_sample.std(dim=2).mean(dim=0)
""",
        "averages each sample's standard deviation",
    ),
    Mutant(
        "stats_view_after_transpose",
        "normalization.channel_stats",
        """
def channel_stats(x):
    channels = x.shape[1]
    per_channel = x.transpose(0, 1).view(channels, -1)
    return per_channel.mean(dim=1), per_channel.std(dim=1)
""",
        "view after transpose (not contiguous)",
    ),
    Mutant(
        "normalize_precedence",
        "normalization.normalize",
        """
def normalize(x, mean, std):
    shape = (1, -1) + (1,) * (x.dim() - 2)
    mean = torch.as_tensor(mean, dtype=x.dtype, device=x.device).reshape(shape)
    std = torch.as_tensor(std, dtype=x.dtype, device=x.device).reshape(shape)
    return x - mean / std
""",
        "operator precedence: x − mean / std",
    ),
    Mutant(
        "normalize_times_std",
        "normalization.normalize",
        """
def normalize(x, mean, std):
    shape = (1, -1) + (1,) * (x.dim() - 2)
    mean = torch.as_tensor(mean, dtype=x.dtype, device=x.device).reshape(shape)
    std = torch.as_tensor(std, dtype=x.dtype, device=x.device).reshape(shape)
    return (x - mean) * std
""",
        "multiplies by the standard deviation (the inverse map)",
    ),
    Mutant(
        "normalize_by_variance",
        "normalization.normalize",
        """
def normalize(x, mean, std):
    shape = (1, -1) + (1,) * (x.dim() - 2)
    mean = torch.as_tensor(mean, dtype=x.dtype, device=x.device).reshape(shape)
    std = torch.as_tensor(std, dtype=x.dtype, device=x.device).reshape(shape)
    return (x - mean) / std**2
""",
        "divides by the variance",
    ),
    Mutant(
        "normalize_eps",
        "normalization.normalize",
        """
def normalize(x, mean, std):
    shape = (1, -1) + (1,) * (x.dim() - 2)
    mean = torch.as_tensor(mean, dtype=x.dtype, device=x.device).reshape(shape)
    std = torch.as_tensor(std, dtype=x.dtype, device=x.device).reshape(shape)
    return (x - mean) / (std + 1e-5)
""",
        "batch norm's eps added by habit",
    ),
    Mutant(
        "normalize_4d_view",
        "normalization.normalize",
        """
def normalize(x, mean, std):
    mean = torch.as_tensor(mean, dtype=x.dtype, device=x.device).view(-1, 1, 1)
    std = torch.as_tensor(std, dtype=x.dtype, device=x.device).view(-1, 1, 1)
    return (x - mean) / std
""",
        "statistics shaped (C, 1, 1): only images broadcast right",
    ),
    # ------------------------------------------------------------------ outliers
    Mutant(
        "iqr_tukey_hinges",
        "outliers.iqr",
        """
def iqr(values):
    data = np.sort(np.asarray(values, dtype=np.float64))
    data = data[~np.isnan(data)]
    if data.size == 0:
        return float("nan")
    half = data.size // 2
    lower, upper = data[:half], data[(data.size + 1) // 2 :]
    if lower.size == 0:
        return 0.0
    return float(np.median(upper) - np.median(lower))
""",
        "Tukey's hinges (medians of halves), the textbook's quartiles",
    ),
    Mutant(
        "iqr_index_quartiles",
        "outliers.iqr",
        """
def iqr(values):
    data = np.sort(np.asarray(values, dtype=np.float64))
    data = data[~np.isnan(data)]
    if data.size == 0:
        return float("nan")
    n = data.size
    return float(data[int(0.75 * (n - 1))] - data[int(0.25 * (n - 1))])
""",
        "quartiles by truncated index, no interpolation",
    ),
    Mutant(
        "bounds_mean_std",
        "outliers.outlier_bounds",
        """
def outlier_bounds(values, k=1.5):
    data = np.asarray(values, dtype=np.float64)
    if data.size == 0:
        return float("nan"), float("nan")
    m, s = np.nanmean(data), np.nanstd(data)
    return float(m - k * s), float(m + k * s)
""",
        "mean ± k standard deviations instead of the IQR fences",
    ),
    Mutant(
        "bounds_around_median",
        "outliers.outlier_bounds",
        """
def outlier_bounds(values, k=1.5):
    data = np.asarray(values, dtype=np.float64)
    if data.size == 0:
        return float("nan"), float("nan")
    q1, q2, q3 = np.nanquantile(data, [0.25, 0.5, 0.75])
    spread = q3 - q1
    return float(q2 - k * spread), float(q2 + k * spread)
""",
        "the fences around the median",
    ),
    Mutant(
        "mask_indices",
        "outliers.outlier_mask",
        """
def outlier_mask(values, k=1.5):
    data = np.asarray(values, dtype=np.float64)
    low, high = outlier_bounds(data, k)
    return np.where((data < low) | (data > high))[0]
""",
        "returns the outliers' indices, not a mask",
    ),
    Mutant(
        "mask_nan_outlier",
        "outliers.outlier_mask",
        """
def outlier_mask(values, k=1.5):
    data = np.asarray(values, dtype=np.float64)
    low, high = outlier_bounds(data, k)
    return ~((data >= low) & (data <= high))
""",
        "'not inside' instead of 'outside': NaN counts as an outlier",
    ),
    Mutant(
        "remove_to_nan",
        "outliers.remove_outliers",
        """
def remove_outliers(values, k=1.5):
    data = np.asarray(values, dtype=np.float64)
    return np.where(outlier_mask(data, k), np.nan, data)
""",
        "replaces outliers by NaN instead of removing them",
    ),
    Mutant(
        "remove_sorted",
        "outliers.remove_outliers",
        """
def remove_outliers(values, k=1.5):
    data = np.asarray(values, dtype=np.float64)
    keep = ~outlier_mask(data, k) & ~np.isnan(data)
    return np.sort(data[keep])
""",
        "returns the kept values sorted",
    ),
    Mutant(
        "count_zeros",
        "outliers.count_nan",
        """
def count_nan(values):
    data = np.asarray(values, dtype=np.float64)
    return int(data.size - np.count_nonzero(data))
""",
        "count_nonzero's complement (counts zeros, NaN is non-zero)",
    ),
    Mutant(
        "to_int_no_fill",
        "outliers.to_int",
        """
def to_int(values, fill=0):
    data = np.asarray(values, dtype=np.float64)
    return data.astype(np.int64)
""",
        "casts without filling NaN",
    ),
    Mutant(
        "to_int_fill_after_cast",
        "outliers.to_int",
        """
def to_int(values, fill=0):
    data = np.asarray(values, dtype=np.float64).astype(np.int64)
    return np.where(data == np.iinfo(np.int64).min, fill, data).astype(np.int32)
""",
        "fills after the cast, into int32",
    ),
    # ------------------------------------------------------------------ pooling
    Mutant(
        "pool_average",
        "pooling.max_pool2d",
        """
def max_pool2d(x, kernel_size, stride=None, padding=0):
    def pair(value):
        return (value, value) if isinstance(value, int) else tuple(value)

    k_h, k_w = pair(kernel_size)
    s_h, s_w = pair(kernel_size if stride is None else stride)
    p_h, p_w = pair(padding)
    if 2 * p_h > k_h or 2 * p_w > k_w:
        raise ValueError("padding too large")
    height, width = x.shape[-2:]
    out_h = (height + 2 * p_h - k_h) // s_h + 1
    out_w = (width + 2 * p_w - k_w) // s_w + 1
    if out_h < 1 or out_w < 1:
        raise ValueError("kernel does not fit")
    shape = (*x.shape[:-2], height + 2 * p_h, width + 2 * p_w)
    padded = torch.full(shape, float("-inf"), dtype=x.dtype, device=x.device)
    padded[..., p_h : p_h + height, p_w : p_w + width] = x
    span_h = s_h * (out_h - 1) + 1
    span_w = s_w * (out_w - 1) + 1
    windows = [padded[..., a : a + span_h : s_h, b : b + span_w : s_w] for a in range(k_h) for b in range(k_w)]
    return torch.stack(windows, dim=-1).mean(dim=-1)
""",
        "average pooling (the mean of each window)",
    ),
    Mutant(
        "pool_ignores_padding",
        "pooling.max_pool2d",
        """
def max_pool2d(x, kernel_size, stride=None, padding=0):
    def pair(value):
        return (value, value) if isinstance(value, int) else tuple(value)

    k_h, k_w = pair(kernel_size)
    s_h, s_w = pair(kernel_size if stride is None else stride)
    height, width = x.shape[-2:]
    out_h = (height - k_h) // s_h + 1
    out_w = (width - k_w) // s_w + 1
    if out_h < 1 or out_w < 1:
        raise ValueError("kernel does not fit")
    span_h = s_h * (out_h - 1) + 1
    span_w = s_w * (out_w - 1) + 1
    windows = [x[..., a : a + span_h : s_h, b : b + span_w : s_w] for a in range(k_h) for b in range(k_w)]
    return torch.stack(windows, dim=-1).amax(dim=-1)
""",
        "padding accepted but never applied",
    ),
    Mutant(
        "pool_kernel_hw_swapped",
        "pooling.max_pool2d",
        """
def max_pool2d(x, kernel_size, stride=None, padding=0):
    def pair(value):
        return (value, value) if isinstance(value, int) else tuple(value)

    k_w, k_h = pair(kernel_size)
    s_h, s_w = pair(kernel_size if stride is None else stride)
    p_h, p_w = pair(padding)
    height, width = x.shape[-2:]
    out_h = (height + 2 * p_h - k_h) // s_h + 1
    out_w = (width + 2 * p_w - k_w) // s_w + 1
    if out_h < 1 or out_w < 1 or 2 * p_h > k_h or 2 * p_w > k_w:
        raise ValueError("bad sizes")
    shape = (*x.shape[:-2], height + 2 * p_h, width + 2 * p_w)
    padded = torch.full(shape, float("-inf"), dtype=x.dtype, device=x.device)
    padded[..., p_h : p_h + height, p_w : p_w + width] = x
    span_h = s_h * (out_h - 1) + 1
    span_w = s_w * (out_w - 1) + 1
    windows = [padded[..., a : a + span_h : s_h, b : b + span_w : s_w] for a in range(k_h) for b in range(k_w)]
    return torch.stack(windows, dim=-1).amax(dim=-1)
""",
        "kernel_size read as (width, height)",
    ),
    Mutant(
        "pool_int_kernel_only",
        "pooling.max_pool2d",
        """
def max_pool2d(x, kernel_size, stride=None, padding=0):
    k = int(kernel_size)
    s = k if stride is None else int(stride)
    p = int(padding)
    if 2 * p > k:
        raise ValueError("padding too large")
    height, width = x.shape[-2:]
    out_h = (height + 2 * p - k) // s + 1
    out_w = (width + 2 * p - k) // s + 1
    if out_h < 1 or out_w < 1:
        raise ValueError("kernel does not fit")
    padded = torch.full((*x.shape[:-2], height + 2 * p, width + 2 * p), float("-inf"), dtype=x.dtype, device=x.device)
    padded[..., p : p + height, p : p + width] = x
    span_h = s * (out_h - 1) + 1
    span_w = s * (out_w - 1) + 1
    windows = [padded[..., a : a + span_h : s, b : b + span_w : s] for a in range(k) for b in range(k)]
    return torch.stack(windows, dim=-1).amax(dim=-1)
""",
        "square kernels only (a pair is not read)",
    ),
    # ------------------------------------------------------------------ convolution
    Mutant(
        "pad2d_double",
        "convolution.pad2d",
        """
def pad2d(x, padding):
    ph, pw = (padding, padding) if isinstance(padding, int) else tuple(padding)
    ph, pw = 2 * ph, 2 * pw
    height, width = x.shape[-2:]
    out = x.new_zeros((*x.shape[:-2], height + 2 * ph, width + 2 * pw))
    out[..., ph : ph + height, pw : pw + width] = x
    return out
""",
        "reads padding as the total added, then doubles it",
    ),
    Mutant(
        "pad2d_default_dtype",
        "convolution.pad2d",
        """
def pad2d(x, padding):
    ph, pw = (padding, padding) if isinstance(padding, int) else tuple(padding)
    height, width = x.shape[-2:]
    out = torch.zeros((*x.shape[:-2], height + 2 * ph, width + 2 * pw), device=x.device)
    out[..., ph : ph + height, pw : pw + width] = x
    return out
""",
        "torch.zeros without dtype: float32 whatever x is",
    ),
    Mutant(
        "conv_size_no_plus_one",
        "convolution.conv_output_size",
        """
def conv_output_size(size, kernel_size, padding=0, stride=1):
    padded = size + 2 * padding
    if kernel_size < 1 or stride < 1 or padding < 0:
        raise ValueError("bad arguments")
    if kernel_size > padded:
        raise ValueError("kernel does not fit")
    return (padded - kernel_size) // stride
""",
        "forgets the + 1 (counts steps, not positions)",
    ),
    Mutant(
        "conv1d_ignores_stride",
        "convolution.conv1d",
        """
def conv1d(x, weight, bias=None, stride=1, padding=0):
    length = x.shape[-1]
    kernel = weight.shape[-1]
    out_len = conv_output_size(length, kernel, padding, 1)
    padded = x.new_zeros((*x.shape[:-1], length + 2 * padding))
    padded[..., padding : padding + length] = x
    out = 0
    for k in range(kernel):
        window = padded[..., k : k + out_len]
        out = out + torch.einsum("ncl,oc->nol", window, weight[:, :, k])
    if bias is not None:
        out = out + bias.reshape(1, -1, 1)
    return out
""",
        "stride ignored",
    ),
    Mutant(
        "conv1d_bias_per_position",
        "convolution.conv1d",
        """
def conv1d(x, weight, bias=None, stride=1, padding=0):
    length = x.shape[-1]
    kernel = weight.shape[-1]
    out_len = conv_output_size(length, kernel, padding, stride)
    padded = x.new_zeros((*x.shape[:-1], length + 2 * padding))
    padded[..., padding : padding + length] = x
    span = stride * (out_len - 1) + 1
    out = 0
    for k in range(kernel):
        window = padded[..., k : k + span : stride]
        out = out + torch.einsum("ncl,oc->nol", window, weight[:, :, k])
    if bias is not None:
        out = out + bias.sum()
    return out
""",
        "one bias for all channels (their sum)",
    ),
    Mutant(
        "conv2d_channels_swapped",
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
    span_h = sh * (out_h - 1) + 1
    span_w = sw * (out_w - 1) + 1
    out = 0
    for a in range(k_h):
        for b in range(k_w):
            window = padded[..., a : a + span_h : sh, b : b + span_w : sw]
            read_as = weight[:, :, a, b].reshape(weight.shape[1], weight.shape[0])
            out = out + torch.einsum("nchw,co->nohw", window, read_as)
    if bias is not None:
        out = out + bias.reshape(1, -1, 1, 1)
    return out
""",
        "weight read as (C_in, C_out, kH, kW)",
    ),
    Mutant(
        "conv2d_first_channel",
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
    span_h = sh * (out_h - 1) + 1
    span_w = sw * (out_w - 1) + 1
    out = 0
    for a in range(k_h):
        for b in range(k_w):
            window = padded[:, :1, a : a + span_h : sh, b : b + span_w : sw]
            out = out + torch.einsum("nchw,oc->nohw", window, weight[:, :1, a, b])
    if bias is not None:
        out = out + bias.reshape(1, -1, 1, 1)
    return out
""",
        "only the first input channel (written for grey images)",
    ),
    Mutant(
        "conv2d_padding_height_only",
        "convolution.conv2d",
        """
def conv2d(x, weight, bias=None, stride=1, padding=0):
    sh, sw = (stride, stride) if isinstance(stride, int) else tuple(stride)
    ph, pw = (padding, padding) if isinstance(padding, int) else tuple(padding)
    pw = 0
    height, width = x.shape[-2:]
    k_h, k_w = weight.shape[-2:]
    out_h = conv_output_size(height, k_h, ph, sh)
    out_w = conv_output_size(width, k_w, pw, sw)
    padded = pad2d(x, (ph, pw))
    span_h = sh * (out_h - 1) + 1
    span_w = sw * (out_w - 1) + 1
    out = 0
    for a in range(k_h):
        for b in range(k_w):
            window = padded[..., a : a + span_h : sh, b : b + span_w : sw]
            out = out + torch.einsum("nchw,oc->nohw", window, weight[:, :, a, b])
    if bias is not None:
        out = out + bias.reshape(1, -1, 1, 1)
    return out
""",
        "a padding pair half used (the width's lost)",
    ),
    Mutant(
        "conv2d_bias_twice",
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
    span_h = sh * (out_h - 1) + 1
    span_w = sw * (out_w - 1) + 1
    out = 0
    for a in range(k_h):
        for b in range(k_w):
            window = padded[..., a : a + span_h : sh, b : b + span_w : sw]
            out = out + torch.einsum("nchw,oc->nohw", window, weight[:, :, a, b])
            if bias is not None and a == 0:
                out = out + bias.reshape(1, -1, 1, 1) / k_w
    if bias is not None:
        out = out + bias.reshape(1, -1, 1, 1)
    return out
""",
        "the bias added inside the kernel loop as well as after it",
    ),
    Mutant(
        "edge_sobel_sign",
        "convolution.edge_kernel",
        """
def edge_kernel():
    row = [1.0, 0.0, -1.0]
    return torch.tensor([row, row, row], dtype=torch.float32).reshape(1, 1, 3, 3)
""",
        "the textbook's Sobel-like sign (right minus left reversed)",
    ),
    Mutant(
        "l1_no_abs",
        "regularization.l1_penalty",
        """
def l1_penalty(model):
    return sum(p.sum() for p in model.parameters())
""",
        "forgets the absolute value",
    ),
    Mutant(
        "l2_half",
        "regularization.l2_penalty",
        """
def l2_penalty(model):
    return sum(0.5 * p.pow(2).sum() for p in model.parameters())
""",
        "the textbook's ½‖w‖²",
    ),
    Mutant(
        "l2_item",
        "regularization.l2_penalty",
        """
def l2_penalty(model):
    return torch.tensor(sum(p.pow(2).sum().item() for p in model.parameters()))
""",
        "a number rebuilt from .item(): no gradient",
    ),
    Mutant(
        "regloss_penalty_twice",
        "regularization.regularized_loss",
        """
def regularized_loss(loss, model, l1=0.0, l2=0.0):
    total = loss + l1 * l1_penalty(model) + l2 * l2_penalty(model)
    return total + l2 * l2_penalty(model)
""",
        "the L2 penalty counted twice",
    ),
    Mutant(
        "sgd_rebinds",
        "regularization.sgd_step",
        """
def sgd_step(params, lr, weight_decay=0.0):
    with torch.no_grad():
        for p in params:
            if p.grad is None:
                continue
            p = p - lr * (p.grad + weight_decay * p)
""",
        "p = p − … rebinds a name: nothing is updated",
    ),
    Mutant(
        "sgd_decay_sign",
        "regularization.sgd_step",
        """
def sgd_step(params, lr, weight_decay=0.0):
    with torch.no_grad():
        for p in params:
            if p.grad is None:
                continue
            p.add_(p.grad - weight_decay * p, alpha=-lr)
""",
        "the decay's sign flipped",
    ),
    Mutant(
        "sgd_decay_not_scaled_by_lr",
        "regularization.sgd_step",
        """
def sgd_step(params, lr, weight_decay=0.0):
    with torch.no_grad():
        for p in params:
            if p.grad is None:
                continue
            p.mul_(1 - weight_decay)
            p.add_(p.grad, alpha=-lr)
""",
        "decay applied without the learning rate",
    ),
    Mutant(
        "wd_half",
        "regularization.weight_decay_for",
        """
def weight_decay_for(l2):
    return l2 / 2
""",
        "halves, from ½‖w‖² conventions",
    ),
    # ------------------------------------------------------------------ capstone
    Mutant(
        "digitnet_no_activation",
        "capstone.DigitNet",
        """
class DigitNet(nn.Module):
    def __init__(self, channels=8, n_classes=10):
        super().__init__()
        bound = 1 / 3
        self.conv_weight = nn.Parameter(torch.empty(channels, 1, 3, 3).uniform_(-bound, bound))
        self.conv_bias = nn.Parameter(torch.empty(channels).uniform_(-bound, bound))
        self.fc = nn.Linear(channels * 16, n_classes)

    def forward(self, x):
        features = conv2d(x, self.conv_weight, self.conv_bias, padding=1)
        features = max_pool2d(features, 2)
        return self.fc(features.flatten(1))
""",
        "no nonlinearity between the layers",
    ),
    Mutant(
        "digitnet_softmax_output",
        "capstone.DigitNet",
        """
class DigitNet(nn.Module):
    def __init__(self, channels=8, n_classes=10):
        super().__init__()
        bound = 1 / 3
        self.conv_weight = nn.Parameter(torch.empty(channels, 1, 3, 3).uniform_(-bound, bound))
        self.conv_bias = nn.Parameter(torch.empty(channels).uniform_(-bound, bound))
        self.fc = nn.Linear(channels * 16, n_classes)

    def forward(self, x):
        features = conv2d(x, self.conv_weight, self.conv_bias, padding=1)
        features = max_pool2d(tanh(features), 2)
        return torch.softmax(self.fc(features.flatten(1)), dim=1)
""",
        "returns probabilities, not logits (softmax before cross-entropy)",
    ),
    Mutant(
        "train_zero_grad_before_step",
        "capstone.train_epoch",
        """
def train_epoch(model, images, labels, lr, l2=0.0, batch_size=32):
    losses = []
    for start in range(0, len(images), batch_size):
        x, y = images[start : start + batch_size], labels[start : start + batch_size]
        batch_loss = cross_entropy(model(x), y)
        (batch_loss + l2 * l2_penalty(model)).backward()
        model.zero_grad()
        sgd_step(model.parameters(), lr=lr)
        losses.append(batch_loss.item())
    return sum(losses) / len(losses)
""",
        "zero_grad between backward and step: no step is taken",
    ),
    Mutant(
        "train_l2_twice",
        "capstone.train_epoch",
        """
def train_epoch(model, images, labels, lr, l2=0.0, batch_size=32):
    losses = []
    for start in range(0, len(images), batch_size):
        x, y = images[start : start + batch_size], labels[start : start + batch_size]
        model.zero_grad()
        batch_loss = cross_entropy(model(x), y)
        (batch_loss + l2 * l2_penalty(model)).backward()
        sgd_step(model.parameters(), lr=lr, weight_decay=2 * l2)
        losses.append(batch_loss.item())
    return sum(losses) / len(losses)
""",
        "the penalty in the loss and as weight decay too",
    ),
    Mutant(
        "train_step_twice",
        "capstone.train_epoch",
        """
def train_epoch(model, images, labels, lr, l2=0.0, batch_size=32):
    losses = []
    for start in range(0, len(images), batch_size):
        x, y = images[start : start + batch_size], labels[start : start + batch_size]
        model.zero_grad()
        batch_loss = cross_entropy(model(x), y)
        (batch_loss + l2 * l2_penalty(model)).backward()
        sgd_step(model.parameters(), lr=lr)
        sgd_step(model.parameters(), lr=lr)
        losses.append(batch_loss.item())
    return sum(losses) / len(losses)
""",
        "a step taken twice per batch",
    ),
    Mutant(
        "train_lr_over_batch",
        "capstone.train_epoch",
        """
def train_epoch(model, images, labels, lr, l2=0.0, batch_size=32):
    losses = []
    for start in range(0, len(images), batch_size):
        x, y = images[start : start + batch_size], labels[start : start + batch_size]
        model.zero_grad()
        batch_loss = cross_entropy(model(x), y)
        (batch_loss + l2 * l2_penalty(model)).backward()
        sgd_step(model.parameters(), lr=lr / len(x))
        losses.append(batch_loss.item())
    return sum(losses) / len(losses)
""",
        "divides the learning rate by the batch size (the loss is already a mean)",
    ),
    Mutant(
        "accuracy_max_values",
        "capstone.accuracy",
        """
def accuracy(model, images, labels):
    with torch.no_grad():
        predicted = model(images).max(dim=1).values
    return (predicted == labels).double().mean().item()
""",
        "compares the highest scores, not their classes, with the labels",
    ),
    Mutant(
        "accuracy_last_batch",
        "capstone.accuracy",
        """
def accuracy(model, images, labels):
    right = 0.0
    with torch.no_grad():
        for start in range(0, len(images), 32):
            x, y = images[start : start + 32], labels[start : start + 32]
            right = (model(x).argmax(dim=1) == y).double().mean().item()
    return right
""",
        "batched evaluation that keeps only the last batch's accuracy (= instead of +=)",
    ),
]
