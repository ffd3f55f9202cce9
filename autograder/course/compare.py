"""Compares an encoded learner value with the encoded reference and says exactly what differs.

Runs in the scorer only. Tolerances follow ``torch.testing.assert_close`` per dtype unless a
check widens them (see ``Tol``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from autograder.protocol.encoding import describe

# torch.testing.assert_close defaults
_DEFAULT = {"float16": (1e-3, 1e-5), "bfloat16": (1.6e-2, 1e-5), "float32": (1.3e-6, 1e-5), "float64": (1e-7, 1e-7)}


@dataclass(frozen=True)
class Tol:
    """Tolerance policy of one check.

    ``scale_atol_by_magnitude``: for stability cases, float32 ``atol`` becomes
    ``8·eps·max|reference|`` (at least the default), so every stable formula passes.
    ``float32``/``float64``: explicit (rtol, atol) overrides where summation order differs.
    """

    float32: tuple[float, float] | None = None
    float64: tuple[float, float] | None = None
    scale_atol_by_magnitude: bool = False
    magnitude: float = 0.0

    def for_dtype(self, dtype: str, magnitude: float = 0.0) -> tuple[float, float]:
        rtol, atol = _DEFAULT.get(dtype, (0.0, 0.0))
        override = {"float32": self.float32, "float64": self.float64}.get(dtype)
        if override is not None:
            rtol, atol = override
        if self.scale_atol_by_magnitude and dtype == "float32":
            atol = max(atol, 8 * torch.finfo(torch.float32).eps * max(magnitude, self.magnitude))
        return rtol, atol


EXACT = Tol()
# Sums of many terms computed in another order than PyTorch's kernels (convolutions, means,
# penalties): float32 rounding differs by a few ulps per term.
SUMMATION = Tol(float32=(1e-5, 1e-4), float64=(1e-7, 1e-9))
STABILITY = Tol(scale_atol_by_magnitude=True)
# float64 results where float32 rounding (a relative 6e-8, under the default float64 rtol of 1e-7) must show:
# copies and maxima are exact, and a float64 computation agrees with PyTorch's far closer than 1e-10
PRECISE = Tol(float64=(1e-10, 1e-12))


def compare(got, want, tol: Tol = EXACT, path: str = "output") -> str | None:
    """None when ``got`` matches ``want``; otherwise one sentence a learner can act on."""
    kind = want["t"]
    if kind == "tensor":
        return _compare_tensor(got, want, tol, path)
    if kind == "ndarray":
        return _compare_ndarray(got, want, tol, path)
    if kind in ("tuple", "list"):
        if got["t"] not in ("tuple", "list"):
            return f"{path}: expected a {kind} of {len(want['items'])} items, got {describe(got)}"
        if len(got["items"]) != len(want["items"]):
            return f"{path}: expected {len(want['items'])} items, got {len(got['items'])}"
        for i, (g, w) in enumerate(zip(got["items"], want["items"])):
            msg = compare(g, w, tol, f"{path}[{i}]")
            if msg:
                return msg
        return None
    if kind in ("py", "npscalar"):
        return _compare_scalar(got, want, tol, path)
    return f"{path}: cannot compare with {describe(want)}"


def _compare_tensor(got, want, tol, path):
    if got["t"] != "tensor":
        return f"{path}: expected {describe(want)}, got {describe(got)}"
    if got["shape"] != want["shape"]:
        return f"{path}: shape {tuple(got['shape'])}, expected {tuple(want['shape'])}"
    if got["dtype"] != want["dtype"]:
        hint = ""
        if want["dtype"] == "float64" and got["dtype"] == "float32":
            hint = " (a float64 input must give a float64 result: create tensors with the input's dtype)"
        return f"{path}: dtype {got['dtype']}, expected {want['dtype']}{hint}"
    if got["device"] != want["device"]:
        return f"{path}: on device {got['device']}, expected {want['device']} (create tensors with device=x.device)"
    layout = got.get("layout", "strided")
    if layout != "strided":
        return (
            f"{path}: a {layout} tensor; return a plain dense (strided) tensor, as PyTorch does "
            f"(.to_dense() if you built a sparse one)"
        )
    if want["data"] is None:
        return None  # a meta reference: shape, dtype and device are all there is
    if got["data"] is None:
        return f"{path}: the tensor carries no values (a meta or otherwise empty tensor); return real values"
    return _compare_values(got["data"], want["data"], want["dtype"], tol, path)


def _compare_ndarray(got, want, tol, path):
    if got["t"] == "tensor":
        return f"{path}: expected a NumPy array, got a torch tensor (convert with .numpy() or use NumPy)"
    if got["t"] != "ndarray":
        return f"{path}: expected {describe(want)}, got {describe(got)}"
    if got["shape"] != want["shape"]:
        return f"{path}: shape {tuple(got['shape'])}, expected {tuple(want['shape'])}"
    if got["dtype"] != want["dtype"]:
        return f"{path}: dtype {got['dtype']}, expected {want['dtype']}"
    if got["data"] is None:
        return f"{path}: cannot read the array's values"
    return _compare_values(got["data"], want["data"], want["dtype"], tol, path)


def _compare_scalar(got, want, tol, path):
    wv = want["value"]
    if got["t"] == "ndarray" and got["shape"] == [] and got["data"] is not None:
        gv = got["data"].item()
    elif got["t"] in ("py", "npscalar"):
        gv = got["value"]
    elif got["t"] == "tensor" and got["shape"] == [] and got["data"] is not None:
        return f"{path}: expected a Python number, got a 0-dim torch tensor (use NumPy, or .item())"
    else:
        return f"{path}: expected {describe(want)}, got {describe(got)}"
    if isinstance(wv, bool) or wv is None or isinstance(wv, str):
        return None if gv == wv and type(gv) is type(wv) else f"{path}: got {gv!r}, expected {wv!r}"
    if isinstance(wv, int):
        if isinstance(gv, bool) or not isinstance(gv, int):
            return f"{path}: expected an int, got {describe(got)}"
        return None if gv == wv else f"{path}: got {gv}, expected {wv}"
    if not isinstance(gv, (int, float)) or isinstance(gv, bool):
        return f"{path}: expected a number, got {describe(got)}"
    if math.isnan(wv):
        return None if math.isnan(gv) else f"{path}: got {gv!r}, expected nan"
    if math.isnan(gv):
        return f"{path}: got nan, expected {wv!r}"
    rtol, atol = tol.for_dtype("float64", abs(wv))
    if abs(gv - wv) <= atol + rtol * abs(wv):
        return None
    return f"{path}: got {gv!r}, expected {wv!r} (difference {abs(gv - wv):.3g})"


def _compare_values(g: torch.Tensor, w: torch.Tensor, dtype: str, tol: Tol, path: str) -> str | None:
    if not w.dtype.is_floating_point and not w.dtype.is_complex:
        bad = g != w
    else:
        magnitude = float(w[torch.isfinite(w)].abs().max()) if torch.isfinite(w).any() else 0.0
        rtol, atol = tol.for_dtype(dtype, magnitude)
        gd, wd = g.double(), w.double()
        both_nan = torch.isnan(gd) & torch.isnan(wd)
        same_inf = torch.isinf(wd) & (gd == wd)
        # rtol·|inf| is inf: an infinite reference is matched only by the same infinity (same_inf)
        close = torch.isfinite(wd) & ((gd - wd).abs() <= atol + rtol * wd.abs())
        bad = ~(close | both_nan | same_inf)
    if not bool(bad.any()):
        return None
    flat = int(bad.reshape(-1).nonzero()[0, 0].item())
    index = tuple(int(i) for i in torch.unravel_index(torch.tensor(flat), tuple(w.shape))) if w.dim() else ()
    gv, wv = g.reshape(-1)[flat].item(), w.reshape(-1)[flat].item()
    n_bad, n = int(bad.sum()), w.numel()
    shown = (lambda v: str(bool(v))) if w.dtype == torch.bool else (lambda v: f"{v:.6g}")
    msg = f"{path}: {n_bad} of {n} values differ; first at index {list(index)}: got {shown(gv)}, expected {shown(wv)}"
    if w.dtype.is_floating_point:
        finite = torch.isfinite(g.double()) & torch.isfinite(w.double())
        if not bool(torch.isfinite(g.double())[torch.isfinite(w.double())].all()):
            msg += " (your result has inf/nan where PyTorch's is finite: overflow?)"
        elif bool(finite.any()):
            err = (g.double() - w.double())[finite].abs()
            rel = err / w.double()[finite].abs().clamp_min(1e-12)
            msg += f"; max abs error {err.max().item():.3g}, max rel error {rel.max().item():.3g}"
    return msg
