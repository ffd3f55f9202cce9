"""Turns whatever a function returned into plain data that cannot execute code when read.

The worker encodes learner outputs; the scorer encodes reference outputs the same way, reads
the worker's bytes with ``wire.unpack`` (JSON and raw NumPy buffers, no pickle) and validates them.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

MAX_REPR = 200
_NUMERIC_KINDS = "biufc"


def encode(obj, _depth: int = 0):
    """A tree of dicts/lists/str/int/float/bool/None and plain CPU tensors describing ``obj``."""
    if _depth > 8:
        return {"t": "object", "type": "deeply nested value", "repr": "..."}
    if isinstance(obj, torch.Tensor):
        return _encode_tensor(obj)
    if isinstance(obj, np.ndarray):
        return _encode_ndarray(obj)
    if isinstance(obj, np.generic):
        kind = obj.dtype.kind
        value = obj.item() if kind in "biuf" else repr(obj)[:MAX_REPR]
        return {"t": "npscalar", "dtype": str(obj.dtype), "value": value}
    if obj is None or type(obj) in (bool, int, float, str):
        if type(obj) is str:
            obj = obj[:MAX_REPR]
        if type(obj) is int and abs(obj) > 2**63 - 1:
            return {"t": "object", "type": "int", "repr": "a very large int"}
        return {"t": "py", "type": type(obj).__name__, "value": obj}
    if type(obj) in (tuple, list):
        return {"t": type(obj).__name__, "items": [encode(o, _depth + 1) for o in list(obj)[:64]], "len": len(obj)}
    return {"t": "object", "type": _type_name(obj), "repr": _safe_repr(obj)}


def _encode_tensor(t: torch.Tensor) -> dict:
    plain = t.as_subclass(torch.Tensor) if type(t) is not torch.Tensor else t
    info = {
        "t": "tensor",
        "shape": [int(s) for s in plain.shape],
        "dtype": str(plain.dtype).replace("torch.", ""),
        "device": plain.device.type,
        "requires_grad": bool(plain.requires_grad),
        "subclass": "" if type(t) is torch.Tensor else _type_name(t),
        "layout": str(plain.layout).replace("torch.", ""),
        "data": None,
    }
    if (
        plain.device.type != "meta"
        and plain.layout == torch.strided
        and not plain.is_quantized
        and not plain.is_nested
        and not plain.is_mkldnn
    ):
        info["data"] = plain.detach().to("cpu").contiguous().clone()
    return info


def _encode_ndarray(a: np.ndarray) -> dict:
    info: dict[str, Any] = {"t": "ndarray", "shape": [int(s) for s in a.shape], "dtype": str(a.dtype), "data": None}
    if a.dtype.kind in _NUMERIC_KINDS and a.dtype.kind != "c":
        arr = np.ascontiguousarray(a)
        if arr.dtype.kind == "u" and arr.dtype.itemsize > 1:
            arr = arr.astype(np.int64)
        info["data"] = torch.from_numpy(arr.copy())
    else:
        info["repr"] = _safe_repr(a)
    return info


def _type_name(obj) -> str:
    cls = type(obj)
    return f"{cls.__module__}.{cls.__qualname__}"


def _safe_repr(obj) -> str:
    try:
        return repr(obj)[:MAX_REPR]
    except Exception:  # noqa: BLE001 - a learner's __repr__ may raise anything
        return f"<{_type_name(obj)}>"


def is_valid(tree, _depth: int = 0) -> bool:
    """True when ``tree`` has exactly the shape ``encode`` produces (checked on untrusted input)."""
    if _depth > 10 or not isinstance(tree, dict) or type(tree.get("t")) is not str:
        return False
    kind = tree["t"]
    if kind in ("tensor", "ndarray"):
        data, shape = tree.get("data"), tree.get("shape")
        if not isinstance(shape, list) or not isinstance(tree.get("dtype"), str):
            return False
        if kind == "tensor" and not isinstance(tree.get("device"), str):
            return False
        if data is None:
            return True
        if type(data) is not torch.Tensor or list(data.shape) != shape:
            return False
        return kind == "ndarray" or str(data.dtype).replace("torch.", "") == tree["dtype"]
    if kind in ("tuple", "list"):
        items = tree.get("items")
        return isinstance(items, list) and all(is_valid(i, _depth + 1) for i in items)
    if kind in ("py", "npscalar"):
        return tree.get("value") is None or type(tree.get("value")) in (bool, int, float, str)
    if kind == "object":
        return isinstance(tree.get("type"), str)
    return False


def describe(tree) -> str:
    """A short human description of an encoded value: 'a float32 tensor of shape (2, 3)'."""
    kind = tree["t"]
    if kind == "tensor":
        return f"a {tree['dtype']} tensor of shape {tuple(tree['shape'])} on {tree['device']}"
    if kind == "ndarray":
        return f"a NumPy {tree['dtype']} array of shape {tuple(tree['shape'])}"
    if kind == "npscalar":
        return f"a NumPy {tree['dtype']} scalar ({tree['value']})"
    if kind == "py":
        value = tree["value"]
        if isinstance(value, float) and math.isnan(value):
            return "a Python float (nan)"
        return "None" if value is None else f"a Python {tree['type']} ({value!r})"
    if kind in ("tuple", "list"):
        return f"a {kind} of {tree.get('len', len(tree['items']))} items"
    return f"an object of type {tree['type']}"
