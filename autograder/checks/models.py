"""Checks that hand the learner an ``nn.Module`` (or its parameters) holding seeded weights:
a function of a model, a module class built by the learner, one SGD step, and weight decay.
"""

from __future__ import annotations

import math
from functools import cached_property

import torch
from torch import nn
from torch.optim.sgd import sgd

from autograder.checks.core import Check, judge_grads
from autograder.course.compare import EXACT, SUMMATION, Tol, compare
from autograder.protocol.encoding import describe
from autograder.protocol.plans import Plan, data_loss, generator

MODEL_DEVICES = ("cpu", "cuda")


def seed_parameters_(model: nn.Module, g: torch.Generator) -> nn.Module:
    """Overwrites every parameter (a shared one once) with seeded N(0, 1) values, in place."""
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(tuple(p.shape), generator=g, dtype=torch.float64))
    return model


# --- seeded models: each one exercises one way of owning parameters --------------------------------


def linear():
    return nn.Linear(3, 2)


def mlp():
    return nn.Sequential(nn.Linear(4, 5), nn.Tanh(), nn.Linear(5, 2))


def frozen_first_layer():
    model = mlp()
    model[0].requires_grad_(False)
    return model


def tied_weights():
    """Two square layers sharing one weight matrix: ``model.parameters()`` yields it once."""
    model = nn.Sequential(nn.Linear(4, 4), nn.Tanh(), nn.Linear(4, 4))
    model[2].weight = model[0].weight
    return model


class Nested(nn.Module):
    """Submodules inside submodules, a layer without bias, a bare parameter and BatchNorm buffers."""

    def __init__(self):
        super().__init__()
        self.encoder = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Sequential(nn.Linear(4, 4, bias=False)))
        self.norm = nn.BatchNorm1d(4)
        self.head = nn.Linear(4, 2)
        self.scale = nn.Parameter(torch.ones(2))


def nested():
    return Nested()


def all_frozen():
    return mlp().requires_grad_(False)


# --- a function of a model -------------------------------------------------------------------------


class ModelCall(Check):
    """``fn(model, **kwargs)`` (or, with ``loss_first``, ``fn(data_loss(model), model, **kwargs)``) on a
    seeded model; compares the result and, with ``grad``, its gradients w.r.t. every trainable parameter."""

    def __init__(
        self,
        exercise: str,
        name: str,
        build,
        reference,
        *,
        loss_first: bool = False,
        kwargs: dict | None = None,
        dtype: torch.dtype = torch.float32,
        grad: bool = False,
        tol: Tol = EXACT,
        seed: int | None = None,
        devices: tuple[str, ...] = MODEL_DEVICES,
        out_name: str = "output",
    ):
        self.exercise, self.name, self.build, self._reference = exercise, name, build, reference
        self.loss_first, self.kwargs = loss_first, dict(kwargs or {})
        self.dtype, self.grad, self.tol, self.seed = dtype, grad, tol, seed
        self.devices, self.out_name = devices, out_name

    def reference(self):
        return self._reference

    def model(self, device: str) -> nn.Module:
        model = self.build().to(device=device, dtype=self.dtype)
        return seed_parameters_(model, generator(self.seed))

    def plan(self):
        return Plan(
            "model",
            {
                "model": self.model("cpu"),
                "kwargs": self.kwargs,
                "loss_first": self.loss_first,
                "grad": self.grad,
                "seed": self.seed,
            },
        )

    judge_facts = ("grad_names",)

    @cached_property
    def grad_names(self) -> list[str]:
        return [f"parameter {n}" for n, p in self.build().named_parameters() if p.requires_grad]

    def judge(self, got, want):
        msg = compare(got["out"], want["out"], self.tol, self.out_name)
        if msg or "grads" not in want:
            return msg
        return judge_grads(got.get("grads"), want["grads"], self.grad_names, self.tol)


# --- a module class written by the learner ---------------------------------------------------------


class LinearLayersForward(Check):
    """Builds ``fn(*init_args)``, checks that it owns exactly the named ``nn.Linear`` layers, copies
    seeded weights into them and compares the forward pass (and gradients w.r.t. the input and
    every parameter) with the reference module built with the same weights."""

    def __init__(
        self,
        exercise: str,
        name: str,
        init_args: tuple,
        layers: dict[str, tuple[int, int]],
        reference,
        *,
        batch: int,
        dtype: torch.dtype,
        grad: bool = False,
        tol: Tol = SUMMATION,
        seed: int | None = None,
        devices: tuple[str, ...] = MODEL_DEVICES,
    ):
        self.exercise, self.name, self.init_args, self.layers = exercise, name, init_args, layers
        self._reference, self.batch, self.dtype, self.grad, self.tol = reference, batch, dtype, grad, tol
        self.seed, self.devices = seed, devices

    def reference(self):
        return self._reference

    def plan(self):
        g = generator(self.seed)
        weights = [
            tuple(torch.randn(shape, generator=g, dtype=torch.float64) for shape in ((n_out, n_in), (n_out,)))
            for n_in, n_out in self.layers.values()
        ]
        n_in = self.layers[next(iter(self.layers))][0]
        x = torch.randn(self.batch, n_in, generator=g, dtype=torch.float64)
        return Plan(
            "layers",
            {
                "init_args": self.init_args,
                "layers": self.layers,
                "weights": weights,
                "x": x,
                "dtype": self.dtype,
                "grad": self.grad,
                "seed": self.seed,
            },
        )

    def judge(self, got, want):
        if "module" in got:
            return f"{self.exercise.split('.')[-1]} must be an nn.Module subclass; it built {got['module']['value']}"
        for name, (n_in, n_out), g, w in zip(
            self.layers, self.layers.values(), got["layers"]["items"], want["layers"]["items"]
        ):
            if g["value"] != w["value"]:
                return (
                    f"submodule `{name}`: expected {w['value']}, found {g['value']} "
                    f"(assign self.{name} = nn.Linear({n_in}, {n_out}) in __init__)"
                )
        g_params = {i["value"] for i in got["parameters"]["items"]}
        w_params = {i["value"] for i in want["parameters"]["items"]}
        if g_params - w_params:
            extra = ", ".join(sorted(g_params - w_params))
            return f"unexpected parameters {extra}: only {' and '.join(self.layers)} may own parameters"
        if w_params - g_params:
            return f"missing parameters {', '.join(sorted(w_params - g_params))}"
        msg = compare(got["out"], want["out"], self.tol, "forward(x)")
        if msg or "grads" not in want:
            return msg
        names = ["the input x"] + [f"{n}.{p}" for n in self.layers for p in ("weight", "bias")]
        return judge_grads(got.get("grads"), want["grads"], names, self.tol)


# --- one optimiser step ----------------------------------------------------------------------------


def optim_sgd(params, lr, weight_decay=0.0):
    """The reference step: PyTorch's own SGD update (the learner may not use it).

    ``torch.optim.sgd.sgd`` is the function ``torch.optim.SGD(...).step()`` runs, bit for bit;
    calling it directly spares the scorer ``step()``'s import of ``torch._dynamo`` (~1 s).
    """
    params = [p for p in params if p.grad is not None]
    with torch.no_grad():
        sgd(
            params,
            [p.grad for p in params],
            [None] * len(params),
            weight_decay=weight_decay,
            momentum=0.0,
            lr=lr,
            dampening=0.0,
            nesterov=False,
            maximize=False,
            foreach=False,
        )


class SGDStep(Check):
    """One in-place step on a seeded model whose parameters hold seeded gradients, except the
    ``no_grad`` ones (``.grad`` None, to be left untouched); ``params`` passed as a list or as
    the generator ``model.parameters()``."""

    def __init__(
        self,
        exercise: str,
        name: str,
        build,
        *,
        lr: float,
        weight_decay: float | None = None,
        no_grad: tuple[str, ...] = (),
        as_generator: bool = False,
        dtype: torch.dtype = torch.float32,
        seed: int | None = None,
        tol: Tol = SUMMATION,
        devices: tuple[str, ...] = MODEL_DEVICES,
    ):
        self.exercise, self.name, self.build, self.lr, self.weight_decay = exercise, name, build, lr, weight_decay
        self.no_grad, self.as_generator, self.dtype, self.seed = no_grad, as_generator, dtype, seed
        self.tol, self.devices = tol, devices

    def reference(self):
        return optim_sgd

    def model(self, device: str) -> nn.Module:
        g = generator(self.seed)
        model = seed_parameters_(self.build().to(device=device, dtype=self.dtype), g)
        for name, p in model.named_parameters():
            if name not in self.no_grad:
                p.grad = torch.randn(tuple(p.shape), generator=g, dtype=torch.float64).to(p)
        return model

    def plan(self):
        model = self.model("cpu")
        grads = {name: p.grad for name, p in model.named_parameters() if p.grad is not None}
        return Plan(
            "sgd",
            {
                "model": model,
                "grads": grads,
                "lr": self.lr,
                "weight_decay": self.weight_decay,
                "as_generator": self.as_generator,
            },
        )

    judge_facts = ("before",)

    @cached_property
    def before(self) -> dict[str, torch.Tensor]:
        """The parameters before the step, by name."""
        return {n: p.detach() for n, p in self.model("cpu").named_parameters()}

    def judge(self, got, want):
        items = got["params"]["items"]
        for (name, b), g, w in zip(self.before.items(), items, want["params"]["items"]):
            msg = compare(g, w, self.tol, f"parameter {name}")
            if msg is None:
                continue
            unchanged = (
                g["t"] == "tensor"
                and g["data"] is not None
                and g["data"].shape == b.shape
                and torch.equal(g["data"].to(b.dtype), b)
            )
            if name in self.no_grad:
                return f"parameter {name} has no gradient (.grad is None) and must be left untouched; {msg}"
            if unchanged:
                return (
                    f"parameter {name} was not updated: change it in place (p.add_(...) or p -= ...) "
                    f"inside torch.no_grad(), so that the model's own tensor changes"
                )
            return msg
        returned = got["returned"]
        if not (returned["t"] == "py" and returned["value"] is None):
            return f"sgd_step must update the parameters in place and return None, not {describe(returned)}"
        return None


# --- weight decay as an L2 penalty -----------------------------------------------------------------


def step_mismatch(l2: float, weight_decay: float, lr: float = 0.1, seed: int = 0) -> float:
    """Largest difference between one SGD step on ``data_loss + l2·Σp²`` and one step on the data loss
    with ``weight_decay``, from identical seeded parameters (computed in the scorer)."""
    results = []
    for penalty, decay in ((l2, 0.0), (0.0, weight_decay)):
        model = seed_parameters_(mlp().double(), generator(seed))
        loss = data_loss(model) + penalty * sum(p.pow(2).sum() for p in model.parameters())
        loss.backward()
        optim_sgd(model.parameters(), lr, weight_decay=decay)
        results.append(torch.cat([p.detach().reshape(-1) for p in model.parameters()]))
    return float((results[0] - results[1]).abs().max())


def _number(encoded):
    if (
        encoded["t"] in ("py", "npscalar")
        and isinstance(encoded["value"], (int, float))
        and not isinstance(encoded["value"], bool)
    ):
        return float(encoded["value"])
    return None


class DecayEquivalence(Check):
    """``fn(l2)`` must be the SGD weight decay that equals adding ``l2·Σp²`` to the loss: compares the
    value with 2·l2 and, in the scorer, one step with that decay with one step on the penalised loss."""

    def __init__(self, exercise: str, name: str, l2: float, *, lr: float = 0.1, seed: int | None = None):
        self.exercise, self.name, self.l2, self.lr, self.seed = exercise, name, l2, lr, seed
        self.devices = ("cpu",)

    def reference(self):
        return lambda l2: 2.0 * l2

    def plan(self):
        return Plan("call", {"args": (self.l2,), "kwargs": {}})

    def judge(self, got, want):
        msg = compare(got["out"], want["out"], EXACT, f"weight_decay_for({self.l2})")
        value = _number(got["out"])
        if value is None or not math.isfinite(value):
            return msg
        mismatch = step_mismatch(self.l2, value, self.lr, self.seed)
        if mismatch > 1e-9:
            hint = ""
            if self.l2 != 0 and math.isclose(value, self.l2):
                hint = "weight decay must be 2·λ, not λ: the gradient of λ·Σp² is 2λ·p, while SGD adds weight_decay·p; "
            return (
                f"{hint}with weight_decay={value!r}, one SGD step (lr {self.lr}) differs from a step on "
                f"loss + {self.l2}·Σp² by up to {mismatch:.3g}" + (f"; {msg}" if msg else "")
            )
        return msg
