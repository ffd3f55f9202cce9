"""The byte format between sandbox and scorer: JSON plus raw array buffers, never pickle.

``pack`` turns an encoded tree (see ``encoding``) into bytes; ``unpack`` reads untrusted bytes
back, refusing anything malformed, so nothing a learner writes can run in the scorer.
"""

from __future__ import annotations

import json
import struct

import numpy as np
import torch

MAX_BYTES = 64 * 2**20
_DTYPES = {
    "float32": (torch.float32, np.float32),
    "float64": (torch.float64, np.float64),
    "float16": (torch.float16, np.float16),
    "int64": (torch.int64, np.int64),
    "int32": (torch.int32, np.int32),
    "int16": (torch.int16, np.int16),
    "int8": (torch.int8, np.int8),
    "uint8": (torch.uint8, np.uint8),
    "bool": (torch.bool, np.bool_),
}


class WireError(ValueError):
    """The bytes are not a well-formed message (truncated, oversized or tampered with)."""


def pack(tree) -> bytes:
    buffers: list[bytes] = []

    def strip(node):
        if isinstance(node, torch.Tensor):
            t = node.detach().cpu()
            name = str(t.dtype).replace("torch.", "")
            if name not in _DTYPES:
                t, name = t.to(torch.float64), "float64"
            buffers.append(t.contiguous().numpy().tobytes())
            return {"__buffer__": len(buffers) - 1, "dtype": name, "shape": list(t.shape)}
        if isinstance(node, dict):
            return {str(k): strip(v) for k, v in node.items()}
        if isinstance(node, (list, tuple)):
            return [strip(v) for v in node]
        return node

    header = json.dumps(strip(tree)).encode()
    sizes = [len(b) for b in buffers]
    meta = json.dumps(sizes).encode()
    return struct.pack("<II", len(header), len(meta)) + header + meta + b"".join(buffers)


def unpack(data: bytes):
    if len(data) > MAX_BYTES or len(data) < 8:
        raise WireError("message too large or too short")
    header_len, meta_len = struct.unpack_from("<II", data, 0)
    if 8 + header_len + meta_len > len(data):
        raise WireError("truncated message")
    try:
        tree = json.loads(data[8 : 8 + header_len])
        sizes = json.loads(data[8 + header_len : 8 + header_len + meta_len])
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise WireError(f"bad header: {exc}") from None
    except RecursionError:
        raise WireError("nested too deeply") from None
    if not isinstance(sizes, list) or not all(type(s) is int and s >= 0 for s in sizes):
        raise WireError("bad buffer table")
    offsets, pos = [], 8 + header_len + meta_len
    for size in sizes:
        offsets.append(pos)
        pos += size
    if pos != len(data):
        raise WireError("buffer sizes do not add up")

    def restore(node, depth=0):
        if depth > 32:
            raise WireError("nested too deeply")
        if isinstance(node, dict):
            if "__buffer__" in node:
                return _tensor(node, data, sizes, offsets)
            return {k: restore(v, depth + 1) for k, v in node.items()}
        if isinstance(node, list):
            return [restore(v, depth + 1) for v in node]
        if node is None or type(node) in (bool, int, float, str):
            return node
        raise WireError(f"unexpected value of type {type(node).__name__}")

    return restore(tree)


def _tensor(node, data, sizes, offsets) -> torch.Tensor:
    index, dtype, shape = node.get("__buffer__"), node.get("dtype"), node.get("shape")
    if type(index) is not int or not 0 <= index < len(sizes) or dtype not in _DTYPES:
        raise WireError("bad buffer reference")
    if not isinstance(shape, list) or not all(type(s) is int and s >= 0 for s in shape):
        raise WireError("bad shape")
    torch_dtype, np_dtype = _DTYPES[dtype]
    count = int(np.prod(shape)) if shape else 1
    if count * np.dtype(np_dtype).itemsize != sizes[index]:
        raise WireError("buffer size does not match its shape")
    array: np.ndarray = np.frombuffer(data, dtype=np_dtype, count=count, offset=offsets[index]).reshape(shape).copy()
    return torch.from_numpy(array).to(torch_dtype)
