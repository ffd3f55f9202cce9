"""A check's results under a known-wrong variant of PyTorch's reference, computed once per scorer process.

Naming a mistake (``mistakes``, ``relations``) runs variants of the reference through a failing
check's plan. Those results depend on the check and the variant alone, never on the learner: in a
class the same check fails for many learners, and each variant's results are computed for the first
of them and then reused. The caller names the variant with a key that fixes what it computes for
that check. The cache is bounded by the bytes of the tensors it holds (least recently used go first).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any

import torch

from autograder.protocol.encoding import encode

BUDGET_BYTES = 128 << 20  # of tensor data held; a conv check's results under one variant are about 0.2 MB

_results: OrderedDict[tuple[int, Hashable], tuple[Any, tuple[str, Any], int]] = OrderedDict()
_held = 0
_lock = threading.Lock()  # grade-batch judges on several threads


def result(check, key: Hashable, variant: Callable) -> tuple[str, Any]:
    """``("ok", {name: encoded value})`` or ``("raised", exception type's name)``: ``variant`` run
    through ``check``'s plan on the CPU, remembered under ``(check, key)``. The returned values are
    shared between callers: read them, never change them."""
    global _held
    slot = (id(check), key)
    with _lock:
        found = _results.get(slot)
        if found is not None and found[0] is check:  # the same check (not another one at a reused id)
            _results.move_to_end(slot)
            return found[1]
    try:
        outcome: tuple[str, Any] = ("ok", {k: encode(v) for k, v in check.run(variant, "cpu").items()})
    except Exception as exc:  # noqa: BLE001 - the variant raises here too, or does not apply
        outcome = ("raised", type(exc).__name__)
    size = _tensor_bytes(outcome[1])
    with _lock:
        if size <= BUDGET_BYTES:
            old = _results.pop(slot, None)
            _held -= old[2] if old is not None else 0
            _results[slot] = (check, outcome, size)  # the check is held, so its id is not reused meanwhile
            _held += size
            while _held > BUDGET_BYTES:
                _, (_, _, dropped) = _results.popitem(last=False)
                _held -= dropped
    return outcome


def clear() -> None:
    """Forgets every result (tests; a scorer that changed its checks)."""
    global _held
    with _lock:
        _results.clear()
        _held = 0


def _tensor_bytes(tree) -> int:
    if isinstance(tree, torch.Tensor):
        return tree.numel() * tree.element_size()
    if isinstance(tree, dict):
        return sum(_tensor_bytes(v) for v in tree.values())
    if isinstance(tree, (list, tuple)):
        return sum(_tensor_bytes(v) for v in tree)
    if isinstance(tree, (bytes, bytearray)):
        return len(tree)
    nbytes = getattr(tree, "nbytes", 0)  # a NumPy array
    return nbytes if isinstance(nbytes, int) else 0
