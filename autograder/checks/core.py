"""The kinds of check, and the helpers that check files use to declare them.

A check's ``run`` executes twice: in the sandboxed worker with the learner's function, and
in the scorer with PyTorch's reference. Inputs come from a seeded generator, so both sides
see identical data. ``judge`` runs in the scorer only, on encoded values.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import torch

from autograder.compare import EXACT, Tol, compare

CPU_ONLY = ("cpu",)
TORCH_DEVICES = ("cpu", "cuda", "meta")


def plain_call(fn, *args, **kwargs):
    return fn(*args, **kwargs)


@dataclass
class Inputs:
    """Positional arguments (named, for messages) and keyword options of one call."""

    args: tuple
    kwargs: dict = field(default_factory=dict)
    names: tuple[str, ...] = ()

    def name(self, i: int) -> str:
        return self.names[i] if i < len(self.names) else f"argument {i}"


def to_device(value, device: str):
    """Moves tensors (also inside tuples/lists/dicts) to ``device``; meta keeps only shapes."""
    if isinstance(value, torch.Tensor):
        if device == "meta":
            return torch.empty_like(value, device="meta")
        return value.to(device)
    if isinstance(value, tuple):
        return tuple(to_device(v, device) for v in value)
    if isinstance(value, list):
        return [to_device(v, device) for v in value]
    if isinstance(value, dict):
        return {k: to_device(v, device) for k, v in value.items()}
    return value


def generator(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def upstream_grad(out: torch.Tensor, seed: int) -> torch.Tensor:
    """A seeded random upstream gradient, so every output element's gradient path is tested."""
    g = torch.randn(tuple(out.shape), generator=generator(seed + 7919), dtype=torch.float64)
    return g.to(dtype=out.dtype, device=out.device)


NOT_DIFFERENTIABLE = ("the output is not connected to the inputs by autograd: did you use .detach(), "
                      ".item(), .numpy(), torch.no_grad() or build a new tensor from Python numbers?")


def gradients(out, leaves, seed: int):
    """Gradients of ``out`` (with a seeded upstream) w.r.t. ``leaves``, or why there are none."""
    if not isinstance(out, torch.Tensor):
        return "the output is not a tensor, so no gradient can flow"
    if not out.requires_grad:
        return NOT_DIFFERENTIABLE
    grads = torch.autograd.grad(out, leaves, upstream_grad(out, seed), allow_unused=True)
    return list(grads)


class Check:
    """Base class. Subclasses set ``exercise``, ``name`` and implement ``run``/``judge``."""

    exercise: str
    name: str
    suite: str = "public"
    seed: int = 0
    devices: tuple[str, ...] = CPU_ONLY

    def run(self, fn, device: str, call: Callable = plain_call) -> dict[str, Any]:
        raise NotImplementedError

    def judge(self, got: dict, want: dict) -> str | None:
        raise NotImplementedError

    def reference(self):
        """The callable whose results ``run`` produces on the scorer's side."""
        raise NotImplementedError

    def describe(self) -> str:
        return f"{self.exercise} [{self.name}]"


class Call(Check):
    """Call the function on seeded inputs; compare output (and gradients) with the reference."""

    def __init__(self, exercise: str, name: str, make: Callable[[torch.Generator], Inputs],
                 reference: Callable, *, grad: bool = False, tol: Tol = EXACT, seed: int = 0,
                 devices: tuple[str, ...] = TORCH_DEVICES, out_name: str = "output"):
        self.exercise, self.name, self.make, self._reference = exercise, name, make, reference
        self.grad, self.tol, self.seed, self.devices, self.out_name = grad, tol, seed, devices, out_name

    def reference(self):
        return self._reference

    def inputs(self, device: str) -> Inputs:
        made = self.make(generator(self.seed))
        return Inputs(to_device(made.args, device), to_device(made.kwargs, device), made.names)

    def run(self, fn, device, call=plain_call):
        inp = self.inputs(device)
        leaves = []
        if self.grad and device != "meta":
            leaves = [a for a in inp.args if isinstance(a, torch.Tensor) and a.is_floating_point()]
            for leaf in leaves:
                leaf.requires_grad_(True)
        out = call(fn, *inp.args, **inp.kwargs)
        result = {"out": out}
        if leaves:
            result["grads"] = gradients(out, leaves, self.seed)
        return result

    def grad_names(self) -> list[str]:
        made = self.make(generator(self.seed))
        return [made.name(i) for i, a in enumerate(made.args)
                if isinstance(a, torch.Tensor) and a.is_floating_point()]

    def judge(self, got, want):
        msg = compare(got["out"], want["out"], self.tol, self.out_name)
        if msg or "grads" not in want:
            return msg
        return judge_grads(got.get("grads"), want["grads"], self.grad_names(), self.tol)


def judge_grads(got, want, names, tol: Tol) -> str | None:
    if got is None:
        return "no gradients were computed"
    if got["t"] == "py":  # the worker's explanation of why there are none
        return f"gradients: {got['value']}"
    if want["t"] != "list" or got["t"] != "list":
        return "gradients: unexpected structure"
    for name, g, w in zip(names, got["items"], want["items"]):
        if w["t"] == "tensor" and g["t"] == "py" and g["value"] is None:
            return f"no gradient reached {name}: is it used in the computation, or detached?"
        msg = compare(g, w, tol, f"gradient w.r.t. {name}")
        if msg:
            return msg
    return None


def call_check(exercise: str, reference: Callable, **defaults):
    """A factory bound to one exercise: ``case = call_check("losses.nll_loss", F.nll_loss)``."""

    def make_case(name: str, make: Callable[[torch.Generator], Inputs], **kw) -> Call:
        opts = {**defaults, **kw}
        return Call(exercise, name, make, opts.pop("reference", reference), **opts)

    return make_case


class Raises(Check):
    """The contract demands an exception (e.g. ``ValueError``) for these inputs."""

    def __init__(self, exercise: str, name: str, make: Callable[[torch.Generator], Inputs],
                 exception: type[BaseException] = ValueError, *, seed: int = 0,
                 devices: tuple[str, ...] = CPU_ONLY):
        self.exercise, self.name, self.make, self.exception = exercise, name, make, exception
        self.seed, self.devices = seed, devices

    def reference(self):
        exception = self.exception

        def raises(*args, **kwargs):
            raise exception(f"the contract demands {exception.__name__} here")
        return raises

    def run(self, fn, device, call=plain_call):
        made = self.make(generator(self.seed))
        try:
            out = call(fn, *to_device(made.args, device), **to_device(made.kwargs, device))
        except self.exception as exc:
            return {"raised": type(exc).__name__}
        return {"raised": None, "out": out}

    def judge(self, got, want):
        raised = got["raised"]["value"]
        if raised is not None:
            return None
        from autograder.encoding import describe
        return f"expected {self.exception.__name__} for {self.name}; your function returned {describe(got['out'])}"


def raises_check(exercise: str, **defaults):
    def make_case(name: str, make, exception=ValueError, **kw) -> Raises:
        return Raises(exercise, name, make, exception, **{**defaults, **kw})
    return make_case
