"""Images and kernels for the convolution and pooling checks: seeded inputs, readable names,
and the property checks that judge a hand-made kernel by what ``F.conv2d`` does with it.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

import torch
import torch.nn.functional as F

from autograder.checks.core import CPU_ONLY, Check
from autograder.protocol.encoding import describe
from autograder.protocol.plans import Plan

# ---------------------------------------------------------------- names and inputs


def randn(g: torch.Generator, shape, dtype: torch.dtype) -> torch.Tensor:
    """Standard normal values drawn in float64, then cast, so float32 and float64 cases draw alike."""
    return torch.randn(shape, generator=g, dtype=torch.float64).to(dtype)


def distinct(g: torch.Generator, shape, dtype: torch.dtype, low: float = -2.0, high: float = 2.0) -> torch.Tensor:
    """Values without ties (a shuffled even grid in ``[low, high]``), so every max is unique."""
    n = 1
    for s in shape:
        n *= s
    grid = torch.linspace(low, high, n, dtype=torch.float64)
    return grid[torch.randperm(n, generator=g)].reshape(shape).to(dtype)


# ---------------------------------------------------------------- kernel property checks

Property = Callable[[torch.Tensor], "str | None"]


class KernelProperties(Check):
    """Calls a kernel-making function; judges the returned kernel by properties, not values.

    The worker only returns the learner's kernel; every property is computed in ``judge``, in
    the scorer, on the encoded kernel with ``F.conv2d``.
    """

    def __init__(
        self,
        exercise: str,
        name: str,
        shape: tuple[int, ...],
        properties: list[Property],
        reference: Callable,
        args: tuple = (),
        *,
        seed: int | None = None,
    ):
        self.exercise, self.name, self.shape, self.properties = exercise, name, shape, properties
        self._reference, self.args, self.seed, self.devices = reference, args, seed, CPU_ONLY

    def reference(self):
        return self._reference

    def plan(self):
        return Plan("call", {"args": self.args, "kwargs": {}})

    def judge(self, got, want):
        kernel = got["out"]
        if kernel["t"] != "tensor":
            return f"expected a float32 tensor of shape {self.shape}, got {describe(kernel)}"
        if tuple(kernel["shape"]) != self.shape:
            return f"kernel shape {tuple(kernel['shape'])}, expected {self.shape}"
        if kernel["dtype"] != "float32":
            return f"kernel dtype {kernel['dtype']}, expected float32"
        if kernel["data"] is None:
            return f"cannot read the kernel's values ({describe(kernel)}): return an ordinary CPU tensor"
        data = kernel["data"]
        if tuple(data.shape) != self.shape or data.dtype != torch.float32:  # data must match its header
            return f"the kernel's data ({data.dtype}, {tuple(data.shape)}) does not match its description"
        data = data.to(torch.float64)
        if not bool(torch.isfinite(data).all()):
            return "the kernel contains inf or nan"
        for prop in self.properties:
            msg = prop(data)
            if msg:
                return msg
        return None


def _zero_tol(kernel: torch.Tensor, image: torch.Tensor) -> float:
    """'0 within float32 tolerance' for one output of ``kernel`` on ``image``."""
    return 1e-5 * max(1.0, float(kernel.abs().sum() * image.abs().max()))


def _at(row: int, column: int) -> str:
    return f"the window at row {row}, column {column}"


# A property is a ``functools.partial`` of a module-level function: data that pickles (the learner's
# bundle carries its public checks frozen, without code of their own).


def zero_on_constant(value: float = 0.7, size: tuple[int, int] = (5, 6)) -> Property:
    return partial(_zero_on_constant, value, size)


def _zero_on_constant(value, size, kernel):
    image = torch.full((1, 1, *size), value, dtype=torch.float64)
    out = F.conv2d(image, kernel)
    worst = int(out.abs().argmax())
    if out.reshape(-1)[worst].abs() > _zero_tol(kernel, image):
        return (
            f"on a constant image (every pixel {value}) the output must be 0 everywhere, but it is "
            f"{out.reshape(-1)[worst].item():.4g}: the weights must add up to 0"
        )
    return None


def step_image(dark: float, bright: float, at: int, size: tuple[int, int], vertical: bool) -> torch.Tensor:
    """Dark before row/column ``at``, bright from it on; ``vertical`` steps along the columns."""
    h, w = size
    index = torch.arange(w if vertical else h)
    dark_, bright_ = (torch.tensor(v, dtype=torch.float64) for v in (dark, bright))
    line = torch.where(index < at, dark_, bright_)
    image = line.expand(h, w) if vertical else line.reshape(h, 1).expand(h, w)
    return image.reshape(1, 1, h, w).contiguous()


def zero_on_horizontal_step(dark: float, bright: float, at: int, size: tuple[int, int] = (7, 5)) -> Property:
    return partial(_zero_on_horizontal_step, dark, bright, at, size)


def _zero_on_horizontal_step(dark, bright, at, size, kernel):
    image = step_image(dark, bright, at, size, vertical=False)
    out = F.conv2d(image, kernel)
    bad = out.abs() > _zero_tol(kernel, image)
    if bool(bad.any()):
        _, _, i, j = (int(v) for v in bad.nonzero()[0])
        return (
            f"on an image that steps from dark ({dark}) at the top to bright ({bright}) from row {at} "
            f"down, the output must be 0 everywhere, but {_at(i, j)} gives {out[0, 0, i, j].item():.4g}: "
            f"each row of the kernel must add up to 0"
        )
    return None


def positive_on_vertical_edge(dark: float, bright: float, at: int, size: tuple[int, int] = (4, 8)) -> Property:
    """> 0 on every window holding both dark (left) and bright (right) columns, 0 elsewhere."""
    return partial(_positive_on_vertical_edge, dark, bright, at, size)


def _positive_on_vertical_edge(dark, bright, at, size, kernel):
    image = step_image(dark, bright, at, size, vertical=True)
    out = F.conv2d(image, kernel)
    tol = _zero_tol(kernel, image)
    k_w = kernel.shape[-1]
    where = f"on an image that is dark ({dark}) left of column {at} and bright ({bright}) from it on"
    for i in range(out.shape[2]):
        for j in range(out.shape[3]):
            value, straddles = out[0, 0, i, j].item(), j < at < j + k_w
            if straddles and not value > tol:
                return (
                    f"{where}, {_at(i, j)} (columns {j} to {j + k_w - 1}) straddles the edge, so the "
                    f"output must be strictly positive, but it is {value:.4g}: give the right-hand "
                    f"column positive and the left-hand column negative weights"
                )
            if not straddles and abs(value) > tol:
                return (
                    f"{where}, {_at(i, j)} (columns {j} to {j + k_w - 1}) does not straddle the edge, "
                    f"so the output must be 0, but it is {value:.4g}"
                )
    return None


def equal_entries(kernel):
    low, high = kernel.min().item(), kernel.max().item()
    if high - low > 1e-6 * max(abs(high), abs(low), 1e-30):
        return f"a box blur has equal entries, but yours range from {low:.7g} to {high:.7g}"
    return None


def sums_to_one(kernel):
    total = kernel.sum().item()
    if abs(total - 1.0) > 1e-5:
        return f"the entries must add up to 1, but they add up to {total:.7g}"
    return None


def keeps_constant(value: float = 0.6) -> Property:
    return partial(_keeps_constant, value)


def _keeps_constant(value, kernel):
    size = kernel.shape[-1]
    image = torch.full((1, 1, size + 2, size + 3), value, dtype=torch.float64)
    out = F.conv2d(image, kernel)
    worst = (out - value).abs().argmax().item()
    got = out.reshape(-1)[worst].item()
    if abs(got - value) > 1e-5 * max(1.0, abs(value)):
        return f"blurring a constant image (every pixel {value}) must leave it unchanged, but one output is {got:.7g}"
    return None
