"""The notebooks' pictures, where a picture teaches better than a number (matplotlib).

Each function returns a ``matplotlib`` figure and never needs the learner's code to work:
pass the learner's results when there are some (``bounds``, ``kernels``, ``pooled``) and the
picture shows them; leave them out and it shows PyTorch's. Tests draw them with the Agg backend.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

SENSITIVE, SATURATED = "#cfe8cf", "#f4d6d6"


def _plt():
    import matplotlib.pyplot as plt  # slow (about 0.7 s): loaded by the functions that draw, not by the others

    return plt


def slopes(activation, x: torch.Tensor) -> torch.Tensor:
    """The elementwise derivative of ``activation`` at ``x``, by autograd."""
    leaf = x.detach().clone().requires_grad_(True)
    with torch.enable_grad():
        (slope,) = torch.autograd.grad(activation(leaf).sum(), leaf)
    return slope


def _runs(mask: np.ndarray):
    """(start, stop) index pairs of the runs of True in a 1-D boolean array."""
    edges = np.flatnonzero(np.diff(np.concatenate(([0], mask.astype(int), [0]))))
    return list(zip(edges[::2], edges[1::2] - 1))


def activation_ranges(activation=torch.tanh, name: str = "tanh", min_slope: float = 0.1, span: float = 5.0, mask=None):
    """The activation and its slope, the sensitive range shaded green and the saturated ones red.

    ``mask``: a bool tensor for ``torch.linspace(-span, span, 401)`` (e.g. the learner's
    ``sensitive_mask``); by default |slope| >= ``min_slope`` by autograd.
    """
    plt = _plt()
    x = torch.linspace(-span, span, 401, dtype=torch.float64)
    y = activation(x).detach()
    slope = slopes(activation, x)
    sensitive = (slope.abs() >= min_slope) if mask is None else torch.as_tensor(mask)
    fig, ax = plt.subplots(figsize=(7, 3.6))
    xs, sens = x.numpy(), sensitive.numpy().astype(bool)
    for flag, colour, label in ((True, SENSITIVE, "sensitive"), (False, SATURATED, "saturated")):
        for i, (start, stop) in enumerate(_runs(sens == flag)):
            ax.axvspan(xs[start], xs[stop], color=colour, label=label if i == 0 else None)
    ax.plot(xs, y.numpy(), color="black", label=f"{name}(x)")
    ax.plot(xs, slope.numpy(), color="tab:blue", linestyle=":", label=f"slope of {name}")
    for bound in (float(y[0]), float(y[-1])):
        ax.axhline(bound, color="grey", linestyle="--", linewidth=0.8)
    ax.set_xlabel("input x")
    ax.set_title(f"{name}: green = sensitive (|slope| ≥ {min_slope}), red = saturated, dashed = bounds")
    ax.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    return fig


def iqr_box_plot(values, k: float = 1.5, bounds=None):
    """A box plot (the box spans Q1..Q3) with the fences Q1 − k·IQR and Q3 + k·IQR drawn across.

    ``bounds``: the learner's ``(low, high)``; by default NumPy's quartiles. NaN is left out.
    """
    plt = _plt()
    given = np.asarray(values, dtype=float)
    data = given[~np.isnan(given)]
    q1, q3 = np.quantile(data, [0.25, 0.75])
    low, high = bounds if bounds is not None else (q1 - k * (q3 - q1), q3 + k * (q3 - q1))
    fig, ax = plt.subplots(figsize=(7, 3.2))
    ax.boxplot(data, orientation="horizontal", whis=k, widths=0.5)
    outside = (data < low) | (data > high)
    jitter = np.random.default_rng(0).uniform(-0.08, 0.08, data.size) + 1.45
    ax.scatter(data[~outside], jitter[~outside], s=12, color="tab:blue", label="kept")
    ax.scatter(data[outside], jitter[outside], s=24, color="tab:red", marker="x", label="outlier")
    for value, text in ((low, "low fence"), (high, "high fence")):
        ax.axvline(value, color="tab:red", linestyle="--", linewidth=1)
        ax.text(value, 1.75, f" {text}\n {value:.2f}", color="tab:red", fontsize=8, va="top")
    ax.axvspan(q1, q3, color="#e5e5f5", zorder=0, label=f"IQR = {q3 - q1:.2f}")
    ax.set_yticks([])
    ax.set_ylim(0.6, 1.8)
    ax.set_title(f"box = Q1..Q3; fences = Q1 − {k}·IQR and Q3 + {k}·IQR")
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    return fig


def sample_image(size: int = 24) -> torch.Tensor:
    """A small grey image ``(1, 1, size, size)``: a bright square, a soft ramp and a little noise."""
    g = torch.Generator().manual_seed(0)
    image = torch.linspace(0.0, 0.3, size).repeat(size, 1)
    quarter = size // 4
    image[quarter : 3 * quarter, quarter : 3 * quarter] += 0.6
    image += 0.05 * torch.randn(size, size, generator=g)
    return image.reshape(1, 1, size, size)


def kernel_effects(image: torch.Tensor, kernels: dict):
    """The image, then the image convolved with each kernel (``F.conv2d``, padding keeps the size).

    ``kernels``: title -> ``(1, 1, k, k)`` tensor, or an exception to show instead (a kernel the
    learner has not written yet).
    """
    plt = _plt()
    fig, axes = plt.subplots(1, len(kernels) + 1, figsize=(3.2 * (len(kernels) + 1), 3.4))
    panels: list[tuple[str, torch.Tensor | None]] = [("original", image)]
    for title, kernel in kernels.items():
        if isinstance(kernel, BaseException):
            panels.append((f"{title}\n({type(kernel).__name__})", None))
        else:
            kernel = torch.as_tensor(kernel, dtype=image.dtype)
            padding = kernel.shape[-1] // 2
            panels.append((title, F.conv2d(image, kernel, padding=padding)))
    for ax, (title, picture) in zip(axes, panels):
        if picture is None:
            ax.text(0.5, 0.5, "not written yet", ha="center", va="center")
        else:
            values = picture[0, 0].detach().numpy()
            signed = values.min() < -1e-6  # an edge map: negative and positive responses
            shown = ax.imshow(values, cmap="RdBu_r" if signed else "gray")
            fig.colorbar(shown, ax=ax, fraction=0.046)
        ax.set_title(title, fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
    fig.tight_layout()
    return fig


def max_pool_steps(image: torch.Tensor, kernel_size: int = 2, pooled=None):
    """A small image with its pooling windows outlined and the maximum of each circled, then the result.

    ``pooled``: the learner's ``max_pool2d(image, kernel_size)``; by default ``F.max_pool2d``.
    """
    plt = _plt()
    picture = image[0, 0].detach().numpy()
    out = (F.max_pool2d(image, kernel_size) if pooled is None else pooled)[0, 0].detach().numpy()
    fig, (left, right) = plt.subplots(1, 2, figsize=(8, 4))
    left.imshow(picture, cmap="viridis")
    height, width = picture.shape
    for i in range(height):
        for j in range(width):
            left.text(j, i, f"{picture[i, j]:.0f}", ha="center", va="center", color="white", fontsize=8)
    for i in range(0, height - kernel_size + 1, kernel_size):
        for j in range(0, width - kernel_size + 1, kernel_size):
            window = picture[i : i + kernel_size, j : j + kernel_size]
            a, b = np.unravel_index(np.argmax(window), window.shape)
            left.add_patch(
                plt.Rectangle((j - 0.5, i - 0.5), kernel_size, kernel_size, fill=False, edgecolor="white", linewidth=2)
            )
            left.add_patch(plt.Circle((j + b, i + a), 0.4, fill=False, edgecolor="red", linewidth=1.5))
    left.set_title(f"input {height}×{width}: {kernel_size}×{kernel_size} windows, max circled")
    right.imshow(out, cmap="viridis", vmin=picture.min(), vmax=picture.max())
    for i in range(out.shape[0]):
        for j in range(out.shape[1]):
            right.text(j, i, f"{out[i, j]:.0f}", ha="center", va="center", color="white", fontsize=10)
    right.set_title(f"max-pooled: {out.shape[0]}×{out.shape[1]}")
    for ax in (left, right):
        ax.set_xticks([])
        ax.set_yticks([])
    fig.tight_layout()
    return fig


def capacity_demo(widths=(1, 64), steps: int = 500, seed: int = 0):
    """Fits linear → tanh → linear networks of several widths to 10 noisy points of a sine.

    The narrow one cannot follow the data; the wide one can follow the noise too (overfitting).
    Returns the figure and, per width, the parameter count and the final training loss.
    """
    plt = _plt()
    torch.manual_seed(seed)
    x = torch.linspace(-2, 2, 10).unsqueeze(1)
    y = torch.sin(1.5 * x) + 0.25 * torch.randn(x.shape)
    grid = torch.linspace(-2.2, 2.2, 200).unsqueeze(1)
    fig, ax = plt.subplots(figsize=(7, 3.6))
    ax.scatter(x.squeeze(), y.squeeze(), color="black", zorder=3, label="training points")
    ax.plot(grid.squeeze(), torch.sin(1.5 * grid).squeeze(), color="grey", linestyle="--", label="true curve")
    summary = {}
    for width in widths:
        net = torch.nn.Sequential(torch.nn.Linear(1, width), torch.nn.Tanh(), torch.nn.Linear(width, 1))
        optimizer = torch.optim.Adam(net.parameters(), lr=0.05)
        for _ in range(steps):
            optimizer.zero_grad()
            loss = ((net(x) - y) ** 2).mean()
            loss.backward()
            optimizer.step()
        count = sum(p.numel() for p in net.parameters())
        summary[width] = (count, loss.item())
        with torch.no_grad():
            ax.plot(
                grid.squeeze(),
                net(grid).squeeze(),
                label=f"width {width}: {count} parameters, training loss {float(loss):.3f}",
            )
    ax.set_title("more width, more capacity: the wide network also fits the noise")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig, summary
