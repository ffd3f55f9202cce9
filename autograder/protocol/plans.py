"""How a check calls a function, given only data: the one part of a check the sandbox holds.

The scorer turns each check into a ``Plan`` (a protocol name and its inputs, made from seeds on
its side) and sends it pickled; the worker runs the learner's function through the protocol, and
the scorer runs PyTorch's reference through the very same one. No check, reference, expected
value or check module ever reaches the worker: ``loads`` refuses any class outside PyTorch,
NumPy and this module.
"""

from __future__ import annotations

import inspect
import io
import math
import pickle
import sys
from collections.abc import Callable
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from typing import Any, cast

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn


def plain_call(fn, *args, **kwargs):
    return fn(*args, **kwargs)


@dataclass
class Plan:
    """One check as data: ``kind`` names a protocol below; ``spec`` holds its inputs and options."""

    kind: str
    spec: dict[str, Any] = field(default_factory=dict)


# ----------------------------------------------------------------------------- inputs as data
def source(text: str) -> Callable:
    """A callable input written as source (``"lambda t: 3 * torch.tanh(t / 3)"``): it travels as
    its text and arrives as an ordinary function, with ``torch``, ``F`` and ``math`` in scope."""
    fn = eval(text, {"torch": torch, "F": F, "math": math})  # noqa: S307 - the scorer's own text
    fn.__source__ = text
    return fn


class Model(nn.Module):
    """What a check's own model class (defined with the check, not in PyTorch) arrives as: the same
    submodules, parameters and buffers, in the same order."""


def _model(state: dict) -> Model:
    model = Model.__new__(Model)
    model.__setstate__(state)
    return model


class _Pickler(pickle.Pickler):
    def reducer_override(self, obj):
        if callable(obj) and hasattr(obj, "__source__") and not isinstance(obj, type):
            return source, (obj.__source__,)
        if isinstance(obj, nn.Module) and not type(obj).__module__.startswith("torch."):
            return _model, (dict(obj.__dict__),)
        return NotImplemented


_ALLOWED_PACKAGES = ("torch", "numpy", "collections")
_BUILTINS = {
    "getattr",
    "set",
    "frozenset",
    "slice",
    "range",
    "complex",
    "ValueError",
    "TypeError",
    "IndexError",
    "RuntimeError",
    "KeyError",
    "ZeroDivisionError",
    "ArithmeticError",
    "AssertionError",
}


class _Unpickler(pickle.Unpickler):
    def find_class(self, module, name):
        if module == "builtins" and name in _BUILTINS:
            return super().find_class(module, name)
        if module.split(".")[0] in _ALLOWED_PACKAGES or module == __name__:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"a plan may not hold {module}.{name}: send data, not check objects")


def dumps(plan: Plan) -> bytes:
    buffer = io.BytesIO()
    _Pickler(buffer, protocol=pickle.HIGHEST_PROTOCOL).dump(plan)
    return buffer.getvalue()


def loads(data: bytes) -> Plan:
    """A fresh copy of a plan (its tensors are the caller's to change)."""
    plan = _Unpickler(io.BytesIO(data)).load()
    if not isinstance(plan, Plan) or plan.kind not in PROTOCOLS:
        raise pickle.UnpicklingError("not a plan")
    return plan


# ----------------------------------------------------------------------------- shared helpers
def generator(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


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


def upstream_grad(out: torch.Tensor, seed: int) -> torch.Tensor:
    """A seeded random upstream gradient, so every output element's gradient path is tested."""
    g = torch.randn(tuple(out.shape), generator=generator(seed + 7919), dtype=torch.float64)
    return g.to(dtype=out.dtype, device=out.device)


NOT_DIFFERENTIABLE = (
    "the output is not connected to the inputs by autograd: did you use .detach(), "
    ".item(), .numpy(), torch.no_grad() or build a new tensor from Python numbers?"
)


def gradients(out, leaves, seed: int):
    """Gradients of ``out`` (with a seeded upstream) w.r.t. ``leaves``, or why there are none."""
    if not isinstance(out, torch.Tensor):
        return "the output is not a tensor, so no gradient can flow"
    if not out.requires_grad:
        return NOT_DIFFERENTIABLE
    grads = torch.autograd.grad(out, leaves, upstream_grad(out, seed), allow_unused=True)
    return list(grads)


def trainable(model: nn.Module) -> list[nn.Parameter]:
    return [p for p in model.parameters() if p.requires_grad]


def data_loss(model: nn.Module) -> torch.Tensor:
    """A 0-dim stand-in for a data loss that depends on every trainable parameter."""
    return cast(torch.Tensor, sum(torch.sin(p).sum() for p in trainable(model)))  # a model has parameters


def describe_layer(module) -> str:
    if module is None:
        return "missing"
    if not isinstance(module, nn.Linear):
        return f"a {type(module).__name__}, not an nn.Linear"
    no_bias = "" if module.bias is not None else ", bias=False"
    return f"nn.Linear({module.in_features}, {module.out_features}{no_bias})"


# ----------------------------------------------------------------------------- arguments left alone
_UNCHECKED = object()  # not data (a number, a callable, a module): nothing to compare
_DATA = (torch.Tensor, np.ndarray, list)


def _snapshot(value):
    """A private copy of a value's data (tensor, array, list; None stays None)."""
    if value is None:
        return None
    if isinstance(value, torch.Tensor):
        return _UNCHECKED if value.device.type == "meta" else value.detach().to("cpu", copy=True)
    if isinstance(value, np.ndarray):
        return value.copy()
    if isinstance(value, list):
        return [_snapshot(v) if isinstance(v, _DATA) else v for v in value]
    return _UNCHECKED


def _same(before, after) -> bool:
    if before is _UNCHECKED:
        return True
    if before is None:
        return after is None
    if isinstance(before, torch.Tensor):
        return isinstance(after, torch.Tensor) and _equal(before.numpy(), after.detach().to("cpu").numpy())
    if isinstance(before, np.ndarray):
        return isinstance(after, np.ndarray) and _equal(before, after)
    if isinstance(before, list):
        return (
            isinstance(after, list)
            and len(after) == len(before)
            and all(_same(b, a) if isinstance(b, _DATA) else _equal(b, a) for b, a in zip(before, after))
        )
    return True


def _equal(before, after) -> bool:
    before, after = np.asarray(before), np.asarray(after)
    if before.shape != after.shape or before.dtype != after.dtype:
        return False
    return bool(np.array_equal(before, after, equal_nan=before.dtype.kind in "fc"))


class Watch:
    """What ``values()`` names (re-read after the call), copied before the learner's call;
    ``changed()`` names what the call altered."""

    def __init__(self, values: Callable[[], dict[str, Any]]):
        self.values = values
        self.before = {name: _snapshot(value) for name, value in values().items()}

    def changed(self) -> list[str]:
        after = self.values()
        return [name for name, before in self.before.items() if not _same(before, after.get(name))]


def parameter_state(model: nn.Module, values: bool = True) -> dict[str, Any]:
    """Every parameter's value (unless ``values`` is False) and its ``.grad``, by name."""
    state: dict[str, torch.Tensor | None] = {}
    for name, p in model.named_parameters():
        if values:
            state[f"parameter {name}"] = p
        state[f"parameter {name}'s .grad"] = p.grad
    return state


TRAINING_MODE = "the model's training mode"  # the watch's name for every submodule's .training flag


def training_modes(model: nn.Module) -> list[bool]:
    """Each submodule's ``.training`` flag, in ``modules()`` order: what ``model.eval()`` would change."""
    return [bool(m.training) for m in model.modules()]


def seed_grads_(model: nn.Module, seed: int) -> None:
    """A seeded ``.grad`` on every trainable parameter that has none (the state a training loop leaves)."""
    g = generator(seed + 104729)
    for p in model.parameters():
        if p.requires_grad and p.grad is None:
            p.grad = torch.randn(tuple(p.shape), generator=g, dtype=torch.float64).to(dtype=p.dtype, device=p.device)


def _report(result: dict, watch: Watch) -> dict:
    changed = watch.changed()
    if changed:
        result["changed"] = changed
    return result


# ----------------------------------------------------------------------------- the protocols
def _arg_names(args, kwargs, names) -> dict[str, Any]:
    named = {(names[i] if i < len(names) else f"argument {i + 1}"): a for i, a in enumerate(args)}
    named.update(kwargs)
    return named


def call_protocol(fn, device, call, *, args, kwargs, names=(), grad=False, seed=0, no_grad=False):
    """``fn(*args, **kwargs)``; with ``grad``, the gradients w.r.t. every floating tensor argument.
    Reports the arguments the call changed (``changed``)."""
    args, kwargs = to_device(tuple(args), device), to_device(kwargs, device)
    with torch.no_grad() if no_grad else nullcontext():
        leaves = []
        if grad and device != "meta":
            leaves = [a for a in args if isinstance(a, torch.Tensor) and a.is_floating_point()]
            for leaf in leaves:
                leaf.requires_grad_(True)
        named = _arg_names(args, kwargs, names)
        watch = Watch(lambda: named)
        out = call(fn, *args, **kwargs)
        result = _report({"out": out}, watch)
        if leaves:
            result["grads"] = gradients(out, leaves, seed)
    return result


def raises_protocol(fn, device, call, *, args, kwargs, exception):
    """The contract demands ``exception`` for these inputs."""
    try:
        out = call(fn, *to_device(tuple(args), device), **to_device(kwargs, device))
    except exception as exc:
        return {"raised": type(exc).__name__}
    return {"raised": None, "out": out}


def model_protocol(fn, device, call, *, model, kwargs, loss_first=False, grad=False, seed=0, args=(), names=()):
    """``fn(model, *args, **kwargs)`` (``args``: data such as images and labels, named by ``names``), or
    ``fn(data_loss(model), model)``; with ``grad``, the gradients w.r.t. every trainable parameter."""
    model = model.to(device)
    data = to_device(tuple(args), device)
    args = (data_loss(model), model) if loss_first else (model, *data)
    named = dict(zip(names, data))
    seed_grads_(model, seed)  # a non-trivial start: a function that clears or zeroes .grad shows
    watch = Watch(
        lambda: {
            **({"loss": args[0]} if loss_first else {}),
            **named,
            **parameter_state(model),
            TRAINING_MODE: training_modes(model),
        }
    )
    out = call(fn, *args, **kwargs)
    result = _report({"out": out}, watch)
    if grad:
        result["grads"] = gradients(out, trainable(model), seed)
    return result


def layers_protocol(fn, device, call, *, init_args, layers, weights, x, dtype, grad=False, seed=0):
    """Builds ``fn(*init_args)``; when it owns exactly the named ``nn.Linear`` layers, loads
    ``weights`` into them (weight, bias, layer by layer) and runs it on ``x``."""
    net = fn(*init_args)
    if not isinstance(net, nn.Module):
        return {"module": f"an object of type {type(net).__name__}"}
    found = [describe_layer(getattr(net, name, None)) for name in layers]
    result = {"layers": found, "parameters": sorted(f"{n} {tuple(p.shape)}" for n, p in net.named_parameters())}
    if found != [f"nn.Linear({i}, {o})" for i, o in layers.values()]:
        return result
    net.to(device=device, dtype=dtype)
    params = []
    with torch.no_grad():
        for name, (w, b) in zip(layers, weights):
            layer = getattr(net, name)
            layer.weight.copy_(w)
            layer.bias.copy_(b)
            params += [layer.weight, layer.bias]
    x = x.to(device=device, dtype=dtype)
    if grad:
        x.requires_grad_(True)
    watch = Watch(lambda: {"x": x})
    out = call(net, x)
    result["out"] = out
    _report(result, watch)
    if grad:
        result["grads"] = gradients(out, [x] + params, seed)
    return result


def sgd_protocol(fn, device, call, *, model, grads, lr, weight_decay=None, as_generator=False):
    """One in-place step on ``model`` whose named parameters hold ``grads`` (the others none);
    ``params`` passed as a list, or as the generator ``model.parameters()``."""
    model = model.to(device)
    for name, p in model.named_parameters():
        if name in grads:
            p.grad = grads[name].to(p)
    params = model.parameters() if as_generator else list(model.parameters())
    options = {} if weight_decay is None else {"weight_decay": weight_decay}
    watch = Watch(lambda: parameter_state(model, values=False))
    returned = call(fn, params, lr, **options)
    result = {"returned": returned, "params": [p.detach() for p in model.parameters()]}
    return _report(result, watch)


# ----------------------------------------------------------------------------- modules and training
def _owned(net) -> tuple[dict, dict]:
    """The module's parameters by name, and the report of what it owns (names and shapes, sorted)."""
    owned = dict(net.named_parameters())
    return owned, {"parameters": sorted(f"{n} {tuple(p.shape)}" for n, p in owned.items())}


def _owns_exactly(owned: dict, parameters: dict) -> bool:
    return {n: tuple(p.shape) for n, p in owned.items()} == {n: tuple(v.shape) for n, v in parameters.items()}


def _load(net, parameters: dict, device: str, dtype) -> dict:
    """Moves ``net`` to ``device`` and ``dtype`` and copies ``parameters``' values into it, by name."""
    net.to(device=device, dtype=dtype)
    owned = dict(net.named_parameters())
    with torch.no_grad():
        for name, value in parameters.items():
            owned[name].copy_(value)
    return owned


def module_protocol(
    fn, device, call, *, init_args, parameters, x=None, dtype=torch.float32, grad=False, seed=0, initial=()
):
    """Builds ``fn(*init_args)`` with PyTorch's random numbers seeded (so its initial values are the
    same on every run); when it owns exactly the parameters named in ``parameters`` (names and
    shapes), reports the initial values of those listed in ``initial``, loads ``parameters`` into it
    and, given ``x``, runs it on ``x``: its output and, with ``grad``, the gradients w.r.t. ``x`` and
    every parameter, in the order of ``parameters``."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        net = fn(*init_args)
    if not isinstance(net, nn.Module):
        return {"module": f"an object of type {type(net).__name__}"}
    owned, result = _owned(net)
    if not _owns_exactly(owned, parameters):
        return result
    if initial:
        result["initial"] = [owned[name].detach().clone() for name in initial]
    if x is None:
        return result
    owned = _load(net, parameters, device, dtype)
    x = x.to(device=device, dtype=dtype)
    leaves = grad and device != "meta"
    if leaves:
        x.requires_grad_(True)
    watch = Watch(lambda: {"x": x})
    out = call(net, x)
    result["out"] = out
    _report(result, watch)
    if leaves:
        result["grads"] = gradients(out, [x] + [owned[name] for name in parameters], seed)
    return result


def train_protocol(fn, device, call, *, model, images, labels, calls, dtype):
    """Calls ``fn(model, images[a:b], labels[a:b], lr, **options)`` for each ``(a, b, lr, options)`` of
    ``calls`` in turn, on one model; reports what each call returned and the model's parameters after
    it. The parameters are meant to change; the images and labels each call is given are not."""
    model = model.to(device=device, dtype=dtype)
    images, labels = images.to(device=device, dtype=dtype), labels.to(device)
    returned, after, changed = [], [], []
    for start, stop, lr, options in calls:
        x, y = images[start:stop].clone(), labels[start:stop].clone()
        watch = Watch(lambda: {"images": x, "labels": y})  # noqa: B023 - read within this iteration only
        with one_thread():
            returned.append(call(fn, model, x, y, lr, **options))
        after.append([p.detach().clone() for p in model.parameters()])
        changed += [name for name in watch.changed() if name not in changed]
    result: dict[str, Any] = {"returned": returned, "params": after}
    if changed:
        result["changed"] = changed
    return result


def beside(fn, name: str):
    """The definition called ``name`` where ``fn`` was defined: in its module, or in the notebook
    that defines it (the learner's ``DigitNet`` beside their ``train_epoch``)."""
    try:
        inner = inspect.unwrap(fn)
    except ValueError:  # a cycle of __wrapped__
        inner = fn
    namespace = getattr(inner, "__globals__", None)
    if not isinstance(namespace, dict):
        module = sys.modules.get(str(getattr(inner, "__module__", "")))
        namespace = vars(module) if module is not None else {}
    found = namespace.get(name)
    if found is None:
        label = getattr(fn, "__name__", "the function")
        raise NameError(f"no {name} beside {label}: this check trains your {name} with your {label}")
    return found


def as_images(pixels: torch.Tensor, device: str, dtype, levels: int) -> torch.Tensor:
    """8-bit pixel counts ``(N, H, W)`` as network input ``(N, 1, H, W)`` of ``dtype``, scaled to [0, 1]."""
    return pixels.to(device=device, dtype=dtype).div(levels).unsqueeze(1)


def fullrun_protocol(
    fn, device, call, *, builder, init_args, parameters, pixels, labels, orders, test_pixels, levels, lr, options, dtype
):
    """Trains the learner's own model class (``builder``, found beside ``fn``) with ``fn``: builds it,
    loads ``parameters``, then calls ``fn(model, images[order], labels[order], lr, **options)`` once
    per permutation of ``orders`` (one epoch each); reports what each epoch returned and the model's
    logits for ``test_pixels``, computed without a graph. The scorer counts the right answers."""
    net = beside(fn, builder)(*init_args)
    if not isinstance(net, nn.Module):
        return {"module": f"an object of type {type(net).__name__}"}
    owned, result = _owned(net)
    if not _owns_exactly(owned, parameters):
        return result
    _load(net, parameters, device, dtype)
    images, labels = as_images(pixels, device, dtype, levels), labels.to(device)
    returned = []
    with one_thread():
        for order in orders:
            order = order.to(device)
            returned.append(call(fn, net, images[order], labels[order], lr, **options))
        with torch.no_grad():
            result["logits"] = call(net, as_images(test_pixels, device, dtype, levels))
    result["returned"] = returned
    return result


@contextmanager
def one_thread():
    """PyTorch on one CPU thread for a while: on batches of 8×8 images, handing work to other threads
    costs more than it saves, and far more on a machine whose cores are busy (as a grader's are)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


PROTOCOLS: dict[str, Callable[..., dict]] = {
    "call": call_protocol,
    "raises": raises_protocol,
    "model": model_protocol,
    "layers": layers_protocol,
    "sgd": sgd_protocol,
    "module": module_protocol,
    "train": train_protocol,
    "fullrun": fullrun_protocol,
}


def execute(plan: Plan, fn, device: str, call: Callable = plain_call) -> dict[str, Any]:
    """Runs ``fn`` (the learner's function, or PyTorch's reference) through ``plan``'s protocol."""
    return PROTOCOLS[plan.kind](fn, device, call, **plan.spec)


def warm() -> None:
    """Pays unpickling's one-off imports (tensor storages, NumPy arrays, modules) before forking."""
    sample = Plan(
        "model",
        {
            "model": nn.Sequential(nn.Linear(2, 2), nn.Tanh(), nn.BatchNorm1d(2)),
            "kwargs": {"x": np.zeros(3), "t": torch.zeros(2, 3).t(), "f": source("lambda t: t")},
        },
    )
    loads(dumps(sample))
