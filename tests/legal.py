"""The legal-code corpus: unusual but correct code that must score full marks.

Beside the mutant zoo (wrong code that must lose points), each ``Legal`` case is the reference
solutions with some code appended to one module: prints, logging, common imports, odd but legal
formulas, local names and strings that look like forbidden ones. ``tests/test_legal.py`` grades
each case's module through the real sandbox and requires every exercise of it at full marks.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Legal:
    name: str  # unique, the pytest id
    module: str
    source: str  # appended to the reference solution's module (it may redefine functions)
    why: str  # what is unusual about it, in one line


LEGAL = [
    Legal(
        "print_tensor_in_function",
        "neurons",
        """
        _tanh = tanh
        def tanh(x):
            print("tanh got", x, repr(x), f"{x}", str(x.shape))
            return _tanh(x)
        """,
        "prints its tensor argument (a tensor's repr runs PyTorch's own internals)",
    ),
    Legal(
        "print_tensor_at_module_level",
        "neurons",
        """
        import torch
        print("a test tensor:", torch.linspace(-1, 1, 5), tanh(torch.zeros(3)))
        """,
        "prints a tensor while the module is imported",
    ),
    Legal(
        "logging_debug",
        "neurons",
        """
        import logging
        logging.basicConfig(level=logging.DEBUG)
        _neuron = neuron
        def neuron(x, w, b):
            logging.debug(f"pre-activation {x @ w.T + b}")
            return _neuron(x, w, b)
        """,
        "logs a tensor at DEBUG level",
    ),
    Legal(
        "matplotlib_at_top",
        "neurons",
        """
        import matplotlib
        import matplotlib.pyplot as plt
        """,
        "imports matplotlib at the top of a module (its font cache tries to run fc-list)",
    ),
    Legal(
        "common_imports",
        "outliers",
        """
        import collections, dataclasses, functools, itertools, json, math, random, re, statistics, typing
        import numpy as np
        from numpy.typing import ArrayLike
        """,
        "imports the standard library and NumPy",
    ),
    Legal(
        "local_names_like_modules",
        "neurons",
        """
        _tanh = tanh
        def tanh(x):
            gc, inspect, ctypes_count, importlib = 1.0, None, 0, "importlib"
            return _tanh(x) * gc
        """,
        "local variables named gc, inspect and importlib",
    ),
    Legal(
        "strings_and_comments_naming_forbidden_things",
        "regularization",
        """
        _sgd_step = sgd_step
        def sgd_step(params, lr, weight_decay=0.0):
            \"\"\"The same update as torch.optim.SGD(...).step(), written by hand (no optim, no SGD).\"\"\"
            # torch.optim.SGD would do this for us, but it is forbidden here; so is ctypes, gc, inspect
            note = "torch._C, __import__, autograder, f_globals"
            return _sgd_step(params, lr, weight_decay)
        """,
        "a docstring, a comment and a string naming forbidden and internal names",
    ),
    Legal(
        "pad_with_slice_scatter",
        "convolution",
        """
        import torch
        def pad2d(x, padding):
            ph, pw = (padding, padding) if isinstance(padding, int) else tuple(padding)
            h, w = x.shape[-2:]
            rows = x.new_zeros((*x.shape[:-2], h + 2 * ph, w))
            rows = rows.slice_scatter(x, dim=-2, start=ph, end=ph + h)
            out = x.new_zeros((*x.shape[:-2], h + 2 * ph, w + 2 * pw))
            return out.slice_scatter(rows, dim=-1, start=pw, end=pw + w)
        """,
        "pad2d with Tensor.slice_scatter",
    ),
    Legal(
        "mask_by_jacobian",
        "neurons",
        """
        import torch
        def sensitive_mask(activation, x, min_slope=0.1):
            flat = x.detach().reshape(-1)
            with torch.enable_grad():
                jac = torch.autograd.functional.jacobian(lambda t: activation(t), flat)
            slope = torch.diagonal(jac) if jac.dim() == 2 else jac.reshape(-1)
            return (slope.abs() >= min_slope).reshape(x.shape)
        """,
        "sensitive_mask via torch.autograd.functional.jacobian",
    ),
    Legal(
        "mask_by_grad_loop",
        "neurons",
        """
        import torch
        def sensitive_mask(activation, x, min_slope=0.1):
            flat = x.detach().reshape(-1)
            slopes = []
            with torch.enable_grad():
                for value in flat:
                    leaf = value.clone().requires_grad_(True)
                    (g,) = torch.autograd.grad(activation(leaf), leaf)
                    slopes.append(g)
            if not slopes:
                return torch.zeros_like(x, dtype=torch.bool)
            return (torch.stack(slopes).abs() >= min_slope).reshape(x.shape)
        """,
        "sensitive_mask with one autograd.grad call per element",
    ),
    Legal(
        "mask_by_torch_func",
        "neurons",
        """
        import torch
        from torch.func import grad, vmap
        def sensitive_mask(activation, x, min_slope=0.1):
            flat = x.detach().reshape(-1)
            slope = vmap(grad(lambda t: activation(t)))(flat)
            return (slope.abs() >= min_slope).reshape(x.shape)
        """,
        "sensitive_mask with torch.func.grad and vmap",
    ),
    Legal(
        "nll_by_indexing",
        "losses",
        """
        import torch
        _nll = nll_loss
        def nll_loss(log_probs, target, weight=None, reduction="mean", ignore_index=-100):
            if reduction not in ("none", "sum", "mean"):
                raise ValueError(reduction)
            n = log_probs.shape[0]
            weight = log_probs.new_ones(log_probs.shape[1]) if weight is None else weight
            kept = target != ignore_index
            safe = torch.where(kept, target, torch.zeros_like(target))
            picked = log_probs[torch.arange(n, device=log_probs.device), safe]
            w = torch.where(kept, weight[safe], torch.zeros_like(picked))
            losses = -w * picked
            if reduction == "none":
                return losses
            return losses.sum() if reduction == "sum" else losses.sum() / w.sum()
        """,
        "nll_loss by advanced indexing with torch.arange (also on the meta device)",
    ),
    Legal(
        "cross_entropy_by_one_hot_scatter",
        "losses",
        """
        import torch
        def cross_entropy(logits, target, weight=None, reduction="mean", ignore_index=-100):
            return nll_loss(log_softmax(logits, dim=1), target, weight=weight, reduction=reduction,
                            ignore_index=ignore_index)
        _nll = nll_loss
        def nll_loss(log_probs, target, weight=None, reduction="mean", ignore_index=-100):
            if reduction not in ("none", "sum", "mean"):
                raise ValueError(reduction)
            kept = target != ignore_index
            safe = torch.where(kept, target, torch.zeros_like(target))
            one_hot = torch.zeros_like(log_probs).scatter(1, safe.unsqueeze(1), 1.0)
            weight = log_probs.new_ones(log_probs.shape[1]) if weight is None else weight
            w = (one_hot * weight).sum(1) * kept
            losses = -(one_hot * log_probs).sum(1) * w
            if reduction == "none":
                return losses
            return losses.sum() if reduction == "sum" else losses.sum() / w.sum()
        """,
        "a one-hot made with scatter, multiplied and summed",
    ),
    Legal(
        "conv_by_unfold_einsum",
        "convolution",
        """
        import torch
        import torch.nn.functional as F
        def conv2d(x, weight, bias=None, stride=1, padding=0):
            sh, sw = (stride, stride) if isinstance(stride, int) else stride
            x = pad2d(x, padding)
            kh, kw = weight.shape[-2:]
            oh = (x.shape[-2] - kh) // sh + 1
            ow = (x.shape[-1] - kw) // sw + 1
            patches = x.unfold(2, kh, sh).unfold(3, kw, sw)  # N, C, oh, ow, kh, kw
            out = torch.einsum("ncijkl,ockl->noij", patches, weight)
            if bias is not None:
                out = out + bias.reshape(1, -1, 1, 1)
            return out
        """,
        "conv2d by Tensor.unfold and einsum",
    ),
    Legal(
        "prints_a_lot",
        "outliers",
        """
        _count_nan = count_nan
        def count_nan(values):
            for i in range(2000):
                print("line", i, "of a long trace " * 20)
            return _count_nan(values)
        """,
        "prints far more than the kept output",
    ),
    Legal(
        "numpy_formula_for_iqr",
        "outliers",
        """
        import numpy as np
        def iqr(values):
            a = np.asarray(values, dtype=np.float64)
            if np.isnan(a).all():  # empty or all NaN: nan, and no warning
                return float("nan")
            q1, q3 = np.nanpercentile(a, [25, 75])
            return float(q3 - q1)
        """,
        "iqr by np.nanpercentile instead of nanquantile",
    ),
    Legal(
        "capstone_pool_before_tanh",
        "capstone",
        """
        _DigitNet = DigitNet
        class DigitNet(_DigitNet):
            def forward(self, x):
                # tanh is increasing, so it commutes with max-pooling: pool first, tanh on a quarter of the values
                z = conv2d(x, self.conv_weight, self.conv_bias, padding=1)
                return self.fc(tanh(max_pool2d(z, 2)).flatten(1))
        """,
        "max-pooling before tanh: the same values and gradients, since tanh never decreases",
    ),
    Legal(
        "capstone_modules_imported_whole",
        "capstone",
        """
        import convolution
        import neurons
        import pooling
        _DigitNet = DigitNet
        class DigitNet(_DigitNet):
            def forward(self, x):
                z = convolution.conv2d(x, self.conv_weight, self.conv_bias, padding=(1, 1))
                features = pooling.max_pool2d(neurons.tanh(z), kernel_size=2, stride=2)
                return self.fc(features.reshape(len(x), -1))
        """,
        "imports the learner's modules whole (import convolution) and reshapes instead of flatten",
    ),
    Legal(
        "capstone_conv_init_as_pytorch",
        "capstone",
        """
        import math
        _DigitNet = DigitNet
        class DigitNet(_DigitNet):
            def __init__(self, channels=8, n_classes=10):
                super().__init__(channels, n_classes)
                nn.init.kaiming_uniform_(self.conv_weight, a=math.sqrt(5))  # exactly what nn.Conv2d does
                nn.init.uniform_(self.conv_bias, -1 / 3, 1 / 3)
        """,
        "initialises the convolution with nn.init.kaiming_uniform_(a=sqrt(5)), as nn.Conv2d itself does",
    ),
    Legal(
        "capstone_weight_decay_instead_of_penalty",
        "capstone",
        """
        from regularization import weight_decay_for
        def train_epoch(model, images, labels, lr, l2=0.0, batch_size=32):
            losses = []
            for start in range(0, len(images), batch_size):
                for p in model.parameters():
                    p.grad = None
                loss = cross_entropy(model(images[start : start + batch_size]), labels[start : start + batch_size])
                loss.backward()
                sgd_step(model.parameters(), lr, weight_decay=weight_decay_for(l2))
                losses.append(float(loss))
            return float(sum(losses) / len(losses))
        """,
        "the penalty as SGD's weight decay 2·l2, gradients cleared by hand, float(loss) for each batch",
    ),
    Legal(
        "capstone_prints_and_logs_while_training",
        "capstone",
        """
        import logging
        _DigitNet = DigitNet
        class DigitNet(_DigitNet):
            def forward(self, x):
                print("input", x.shape, x[:1])  # a tensor printed inside forward
                z = conv2d(x, self.conv_weight, self.conv_bias, padding=1)
                logging.getLogger("digitnet").warning("conv out %s, max %s", tuple(z.shape), z.max())
                return self.fc(max_pool2d(tanh(z), 2).flatten(1))
        _train_epoch = train_epoch
        def train_epoch(model, images, labels, lr, l2=0.0, batch_size=32):
            mean = _train_epoch(model, images, labels, lr, l2, batch_size)
            print(f"epoch done: mean loss {mean:.4f}, first weights {next(model.parameters()).flatten()[:3]}")
            return mean
        """,
        "prints tensors and logs inside forward and after each epoch",
    ),
    Legal(
        "capstone_mean_loss_in_float32",
        "capstone",
        """
        def train_epoch(model, images, labels, lr, l2=0.0, batch_size=32):
            losses = []
            starts = list(range(0, len(images), batch_size))
            while starts:
                start = starts.pop(0)
                x, y = images[start : start + batch_size], labels[start : start + batch_size]
                model.zero_grad(set_to_none=False)
                loss = cross_entropy(model(x), y)
                total = loss + l2 * l2_penalty(model)
                total.backward()
                sgd_step(list(model.parameters()), lr=lr)
                losses.append(loss.detach())
            return torch.stack(losses).float().mean().item()  # the mean computed in float32
        """,
        "keeps the batch losses as tensors and averages them in float32 at the end",
    ),
    Legal(
        "capstone_accuracy_by_counting",
        "capstone",
        """
        def accuracy(model, images, labels):
            was_training = model.training
            model.eval()
            right = 0
            with torch.inference_mode():
                for logits, label in zip(model(images), labels):
                    right += int(logits.argmax()) == int(label)
            model.train(was_training)
            return right / len(labels)
        """,
        "counts image by image in Python under inference_mode, switching the model to eval and back",
    ),
    # next to the routes closed by sandbox.forbid and sandbox.namespaces: legal code that looks like them
    Legal(
        "log_softmax_with_a_cumulative_sum",
        "losses",
        """
        def log_softmax(logits, dim=-1):
            shifted = logits - logits.amax(dim, keepdim=True)
            total = shifted.exp().cumsum(dim).narrow(dim, logits.shape[dim] - 1, 1)  # the last running sum
            return shifted - total.log()
        """,
        "a cumulative sum next to logcumsumexp (forbidden): cumsum stays legal",
    ),
    Legal(
        "tanh_through_torch_ops_aten_exp",
        "neurons",
        """
        def tanh(x):
            negative = torch.where(x >= 0, -x, x)  # -|x|, with slope 1 at 0
            e = torch.ops.aten.expm1.default(2 * negative)
            magnitude = -e / (e + 2)
            return torch.where(x >= 0, magnitude, -magnitude)
        """,
        "calls a legal ATen op through torch.ops, the namespace route that is closed for prims.tanh",
    ),
    Legal(
        "max_pool2d_with_unfold_windows",
        "pooling",
        """
        def max_pool2d(x, kernel_size, stride=None, padding=0):
            kh, kw = (kernel_size, kernel_size) if isinstance(kernel_size, int) else tuple(kernel_size)
            stride = (kh, kw) if stride is None else stride
            sh, sw = (stride, stride) if isinstance(stride, int) else tuple(stride)
            ph, pw = (padding, padding) if isinstance(padding, int) else tuple(padding)
            if 2 * ph > kh or 2 * pw > kw:
                raise ValueError("padding should be at most half of the kernel size")
            height, width = x.shape[-2:]
            padded = torch.full((*x.shape[:-2], height + 2 * ph, width + 2 * pw), float("-inf"), dtype=x.dtype,
                                device=x.device)
            padded[..., ph : ph + height, pw : pw + width] = x
            windows = padded.unfold(-2, kh, sh).unfold(-2, kw, sw)  # Tensor.unfold: a view, not im2col
            return windows.amax((-1, -2))
        """,
        "windows as strided views (Tensor.unfold) and amax, next to max_pool2d's decompositions",
    ),
    Legal(
        "sgd_step_as_an_optimizer_like_class",
        "regularization",
        """
        class _ByHand:
            def __init__(self, params, lr, weight_decay):
                self.params, self.lr, self.weight_decay = list(params), lr, weight_decay

            @torch.no_grad()
            def step(self):
                for p in self.params:
                    if p.grad is not None:
                        p.sub_(self.lr * (p.grad + self.weight_decay * p))

        def sgd_step(params, lr, weight_decay=0.0):
            _ByHand(params, lr, weight_decay).step()
        """,
        "an optimizer-like class with step(), written by hand (torch.optim itself is dead in this process)",
    ),
    Legal(
        "temporary_files_and_threads",
        "outliers",
        """
        import tempfile, threading
        _iqr = iqr
        def iqr(values):
            with tempfile.TemporaryDirectory() as folder:  # TMPDIR: the exercise's own scratch
                np.save(folder + "/values.npy", values)
                values = np.load(folder + "/values.npy")
            box = []
            worker = threading.Thread(target=lambda: box.append(_iqr(values)))
            worker.start()
            worker.join()
            return box[0]
        """,
        "a temporary folder (scratch, the only writable place) and a thread (forking is refused)",
    ),
]
