"""Check kinds for a network the learner builds and trains: a module class with named parameters
(its initial values, its forward pass and gradients), a training loop called several times on
one model (the parameters after each call), a full training run on the vendored digits judged by
the test accuracy the scorer computes from the returned logits, and a function of a model and data.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import cached_property

import torch
from torch import nn

from autograder.checks.core import CPU_ONLY, Check, judge_grads
from autograder.course import digits
from autograder.course.compare import SUMMATION, Tol, compare
from autograder.protocol.encoding import describe
from autograder.protocol.plans import Plan, generator

MODEL_DEVICES = ("cpu", "cuda")
# A few SGD steps in float32: the loss and the step are the learner's own, in another order of
# summation than PyTorch's, and each step carries the last one's rounding forward.
TRAINING = Tol(float32=(1e-4, 2e-5), float64=(1e-5, 1e-6))
TRAINING64 = Tol(float32=(1e-4, 2e-5), float64=(1e-7, 1e-9))


def uniform(g: torch.Generator, shape, bound: float) -> torch.Tensor:
    """Values drawn uniformly in ``[-bound, bound]`` in float64, as PyTorch's default layers start."""
    return (torch.rand(tuple(shape), generator=g, dtype=torch.float64) * 2 - 1) * bound


def default_init(g: torch.Generator, shapes: dict[str, tuple[int, ...]]) -> dict[str, torch.Tensor]:
    """Seeded values for named parameters, each drawn as ``nn.Conv2d``/``nn.Linear`` would draw it:
    uniformly within ``1/sqrt(fan_in)`` (the weight's inputs per output; a bias shares its weight's)."""
    values, fan_in = {}, 1
    for name, shape in shapes.items():
        if len(shape) > 1:
            fan_in = math.prod(shape[1:])
        values[name] = uniform(g, shape, 1 / math.sqrt(fan_in))
    return values


def seeded_model(build, seed: int) -> nn.Module:
    """``build()``'s model with every parameter drawn as ``default_init`` draws it from ``seed + 1``
    (the plan's inputs use ``seed`` itself)."""
    model = build()
    shapes = {n: tuple(p.shape) for n, p in model.named_parameters()}
    values = default_init(generator(seed + 1), shapes)
    with torch.no_grad():
        for name, p in model.named_parameters():
            p.copy_(values[name])
    return model


def _listed(shapes: dict[str, tuple[int, ...]]) -> str:
    return ", ".join(f"{n} {tuple(s)}" for n, s in shapes.items())


def judge_parameters(got: dict, shapes: dict[str, tuple[int, ...]], owner: str) -> str | None:
    """A message when the learner's module is not a module, or does not own exactly ``shapes``."""
    if "module" in got:
        return f"{owner} must be an nn.Module subclass; it built {got['module']['value']}"
    found = {}
    for item in got["parameters"]["items"]:
        name, _, shape = str(item["value"]).partition(" ")
        found[name] = shape
    want = {n: str(tuple(s)) for n, s in shapes.items()}
    if found == want:
        return None
    missing = [n for n in want if n not in found]
    extra = [n for n in found if n not in want]
    if missing:
        plain = (
            " (a tensor assigned to self is not a parameter: wrap it in nn.Parameter)"
            if any("." not in n for n in missing)
            else ""
        )
        text = f"{owner} has no parameter {', '.join(missing)}{plain}"
    elif extra:
        text = f"{owner} has parameters {', '.join(extra)} besides {', '.join(want)}"
    else:
        wrong = next(n for n in want if found[n] != want[n])
        text = f"{owner}'s parameter {wrong} has shape {found[wrong]}, expected {want[wrong]}"
    return f"{text}; it must own exactly {_listed(shapes)}"


# --- a module class written by the learner, with named parameters ----------------------------------


class ModuleForward(Check):
    """Builds ``fn(*init_args)``, checks that it owns exactly the named parameters (``shapes``), copies
    seeded values into them and compares the forward pass on a seeded batch (and, with ``grad``, the
    gradients w.r.t. the input and every parameter) with the reference module built the same way.
    ``images``: the batch is real digits rather than seeded noise."""

    def __init__(
        self,
        exercise: str,
        name: str,
        init_args: tuple,
        shapes: dict[str, tuple[int, ...]],
        reference,
        *,
        batch: int,
        dtype: torch.dtype,
        grad: bool = False,
        images: bool = False,
        tol: Tol = SUMMATION,
        seed: int | None = None,
        devices: tuple[str, ...] = ("cpu", "cuda", "meta"),
    ):
        self.exercise, self.name, self.init_args, self.shapes = exercise, name, init_args, shapes
        self._reference, self.batch, self.dtype, self.grad, self.tol = reference, batch, dtype, grad, tol
        self.images, self.seed, self.devices = images, seed, devices

    def reference(self):
        return self._reference

    def plan(self):
        g = generator(self.seed)
        values = {n: torch.randn(s, generator=g, dtype=torch.float64) * 0.5 for n, s in self.shapes.items()}
        if self.images:
            pixels, _ = digits.raw_digits("train")
            chosen = torch.randperm(len(pixels), generator=g)[: self.batch]
            x = digits.as_images(pixels[chosen], torch.float64)
        else:
            x = torch.rand(self.batch, 1, 8, 8, generator=g, dtype=torch.float64)
        spec = {
            "init_args": self.init_args,
            "parameters": values,
            "x": x,
            "dtype": self.dtype,
            "grad": self.grad,
            "seed": self.seed,
        }
        return Plan("module", spec)

    def judge(self, got, want):
        owner = self.exercise.split(".")[-1]
        msg = judge_parameters(got, self.shapes, owner)
        if msg:
            return msg
        msg = compare(got["out"], want["out"], self.tol, "forward(x)")
        if msg or "grads" not in want:
            return msg
        return judge_grads(got.get("grads"), want["grads"], ["the input x", *self.shapes], self.tol)


class ModuleInit(Check):
    """Builds ``fn(*init_args)`` (PyTorch's random numbers seeded) and judges the initial values of
    the parameters in ``bounds`` by their properties: within ``±bound`` (as ``nn.Conv2d`` draws
    them, uniformly within 1/sqrt(fan_in)), spread like such a draw, not all equal."""

    def __init__(
        self,
        exercise: str,
        name: str,
        init_args: tuple,
        shapes: dict[str, tuple[int, ...]],
        bounds: dict[str, float],
        reference,
        *,
        seed: int | None = None,
    ):
        self.exercise, self.name, self.init_args, self.shapes, self.bounds = exercise, name, init_args, shapes, bounds
        self._reference, self.seed, self.devices = reference, seed, CPU_ONLY

    def reference(self):
        return self._reference

    def plan(self):
        parameters = {n: torch.zeros(s, dtype=torch.float64) for n, s in self.shapes.items()}
        spec = {"init_args": self.init_args, "parameters": parameters, "seed": self.seed, "initial": tuple(self.bounds)}
        return Plan("module", spec)

    def judge(self, got, want):
        owner = self.exercise.split(".")[-1]
        msg = judge_parameters(got, self.shapes, owner)
        if msg:
            return msg
        for (name, bound), value in zip(self.bounds.items(), got["initial"]["items"]):
            if value["t"] != "tensor" or value["data"] is None:
                return f"the initial {name} is {describe(value)}, expected a tensor"
            data = value["data"].double()
            largest, spread = float(data.abs().max()), float(data.std()) if data.numel() > 1 else 0.0
            if not math.isfinite(largest) or largest > bound * (1 + 1e-6):
                return (
                    f"initial {name} values reach {largest:.3g}: nn.Conv2d draws them uniformly in "
                    f"[-{bound:.4g}, {bound:.4g}] (1/sqrt(fan_in)), e.g. torch.empty(shape).uniform_(-b, b), "
                    f"not from torch.randn"
                )
            if spread == 0.0 or (data.numel() >= 30 and spread < 0.6 * bound / math.sqrt(3)):
                return (
                    f"initial {name} values barely vary (standard deviation {spread:.3g}): draw them "
                    f"uniformly in [-{bound:.4g}, {bound:.4g}] as nn.Conv2d does, not as zeros or a constant"
                )
        return None


# --- a training loop, called several times on one model --------------------------------------------


def digit_batch(g: torch.Generator, n: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` training digits drawn without replacement: images ``(n, 1, 8, 8)`` float64, labels."""
    pixels, labels = digits.raw_digits("train")
    chosen = torch.randperm(len(pixels), generator=g)[:n]
    return digits.as_images(pixels[chosen], torch.float64), labels[chosen]


def batches_of(n: int, size: int) -> str:
    """``70, 32`` -> ``"32, 32 and 6"``: the sizes of the batches an epoch takes, in order."""
    sizes = [min(size, n - start) for start in range(0, n, size)]
    return ", ".join(map(str, sizes[:-1])) + (" and " if len(sizes) > 1 else "") + str(sizes[-1])


class TrainingSteps(Check):
    """Calls the training function ``fn(model, images[a:b], labels[a:b], lr, **options)`` for each
    ``(a, b, lr, options)`` of ``calls``, in turn, on one seeded model of PyTorch's own layers and
    seeded digits; compares the parameters after each call and what each call returned with the
    same calls of the reference loop."""

    host_result = True  # the contract returns a Python float: moving it to the host is not advice-worthy

    def __init__(
        self,
        exercise: str,
        name: str,
        build: Callable[[], nn.Module],
        reference,
        calls: list[tuple[int, int, float, dict]],
        *,
        dtype: torch.dtype,
        tol: Tol = TRAINING,
        seed: int | None = None,
        devices: tuple[str, ...] = MODEL_DEVICES,
        returned: str = "the mean batch loss",
    ):
        self.exercise, self.name, self.build, self._reference = exercise, name, build, reference
        self.calls, self.dtype, self.tol, self.seed, self.devices = calls, dtype, tol, seed, devices
        self.returned_name = returned

    def reference(self):
        return self._reference

    def model(self) -> nn.Module:
        return seeded_model(self.build, self.seed)

    def plan(self):
        images, labels = digit_batch(generator(self.seed), max(stop for _, stop, _, _ in self.calls))
        spec = {"model": self.model(), "images": images, "labels": labels, "calls": self.calls, "dtype": self.dtype}
        return Plan("train", spec)

    judge_facts = ("parameter_names", "initial")

    @cached_property
    def parameter_names(self) -> list[str]:
        return [n for n, _ in self.build().named_parameters()]

    @cached_property
    def initial(self) -> list[torch.Tensor]:
        """The model's parameters before the first call, in the check's dtype."""
        return [p.detach().to(self.dtype) for p in self.model().parameters()]

    def _call(self, i: int) -> str:
        start, stop, lr, options = self.calls[i]
        shown = ", ".join([f"lr={lr}"] + [f"{k}={v}" for k, v in options.items()])
        which = f"call {i + 1} of {len(self.calls)}, " if len(self.calls) > 1 else ""
        return f"after {which}train_epoch(model, images[{start}:{stop}], labels[{start}:{stop}], {shown})"

    def judge(self, got, want):
        got_params, want_params = got["params"]["items"], want["params"]["items"]
        if len(got_params) != len(want_params):
            return "the worker did not report every call"
        before = list(self.initial)
        for i, (g_after, w_after) in enumerate(zip(got_params, want_params)):
            for j, (name, g, w) in enumerate(zip(self.parameter_names, g_after["items"], w_after["items"])):
                msg = compare(g, w, self.tol, f"parameter {name}")
                if msg is None:
                    continue
                if _unchanged(g, before[j]):
                    msg += " (it did not change: update the parameters in place, with your sgd_step)"
                return f"{self._call(i)}: {msg}"
            before = [g["data"] for g in g_after["items"]]
            # a Python float, however the learner averaged (a float32 mean of float64 losses is fine)
            msg = compare(got["returned"]["items"][i], want["returned"]["items"][i], TRAINING, self.returned_name)
            if msg:
                return f"{self._call(i)}: {msg}"
        return None


def _unchanged(got: dict, before) -> bool:
    """The learner's parameter holds exactly the values it held before the call."""
    return (
        isinstance(before, torch.Tensor)
        and got["t"] == "tensor"
        and got["data"] is not None
        and got["data"].shape == before.shape
        and torch.equal(got["data"].double(), before.double())
    )


# --- a full training run on the digits -------------------------------------------------------------


class TrainingRun(Check):
    """Trains the learner's own model class (``builder``, defined beside the training function) from
    seeded weights with the learner's training function, one call per epoch on the training digits
    shuffled by a seeded permutation, and judges the test accuracy the scorer computes from the
    logits the model returns for the test digits: at least ``threshold``."""

    host_result = True
    diagnostic = False  # a consequence of the other checks' failures, not a fingerprint of one mistake

    def __init__(
        self,
        exercise: str,
        name: str,
        builder: str,
        init_args: tuple,
        shapes: dict[str, tuple[int, ...]],
        reference,
        *,
        epochs: int,
        lr: float,
        options: dict,
        threshold: float = 0.9,
        dtype: torch.dtype = torch.float32,
        seed: int | None = None,
        devices: tuple[str, ...] = MODEL_DEVICES,
    ):
        self.exercise, self.name, self.builder, self.init_args, self.shapes = exercise, name, builder, init_args, shapes
        self._reference, self.epochs, self.lr, self.options = reference, epochs, lr, options
        self.threshold, self.dtype, self.seed, self.devices = threshold, dtype, seed, devices

    def reference(self):
        return self._reference

    def plan(self):
        g = generator(self.seed)
        pixels, labels = digits.raw_digits("train")
        test_pixels, _ = digits.raw_digits("test")
        spec = {
            "builder": self.builder,
            "init_args": self.init_args,
            "parameters": default_init(g, self.shapes),
            "pixels": pixels,
            "labels": labels,
            "orders": [torch.randperm(len(pixels), generator=g) for _ in range(self.epochs)],
            "test_pixels": test_pixels,
            "levels": digits.LEVELS,
            "lr": self.lr,
            "options": self.options,
            "dtype": self.dtype,
        }
        return Plan("fullrun", spec)

    judge_facts = ("test_labels",)

    @cached_property
    def test_labels(self) -> torch.Tensor:
        return digits.raw_digits("test")[1]

    def accuracy(self, logits: dict) -> float | None:
        """The fraction of test digits whose largest logit is at the right label (None: not logits)."""
        labels = self.test_labels
        if logits["t"] != "tensor" or logits["data"] is None or tuple(logits["shape"]) != (len(labels), 10):
            return None
        data = logits["data"]
        if not data.is_floating_point() or not bool(torch.isfinite(data).all()):
            return 0.0
        return float((data.argmax(dim=1) == labels).double().mean())

    def judge(self, got, want):
        owner = self.builder
        msg = judge_parameters(got, self.shapes, owner)
        if msg:
            return msg
        logits = got["logits"]
        reached = self.accuracy(logits)
        if reached is None:
            return f"{owner}'s logits for the {len(self.test_labels)} test digits: expected a tensor of shape " + (
                f"{(len(self.test_labels), 10)}, got {describe(logits)}"
            )
        losses = [i.get("value") for i in got["returned"]["items"]]
        shown = ", ".join(f"{v:.3g}" if isinstance(v, float) else repr(v) for v in losses)
        if reached >= self.threshold:
            return None
        theirs = self.accuracy(want["logits"])
        reference = f" (PyTorch's reference reaches {theirs:.1%} from the same start)" if theirs else ""
        diverged = any(isinstance(v, float) and not math.isfinite(v) for v in losses)
        advice = (
            "the loss became inf or nan: is the loss averaged over the batch?"
            if diverged
            else "make train_epoch's parity checks pass first"
        )
        return (
            f"your {owner} trained by your train_epoch gets {reached:.1%} of the {len(self.test_labels)} test digits "
            f"right after {self.epochs} epochs; it needs at least {self.threshold:.0%}{reference}. Mean batch "
            f"loss per epoch: {shown}; {advice}"
        )


# --- a function of a model and data ----------------------------------------------------------------


class ModelOnData(Check):
    """``fn(model, *data)`` on a seeded model of PyTorch's own layers and data that ``make(g, model)``
    builds from the check's seed (e.g. digits with labels chosen so that a known fraction is right);
    compares the result with the reference's. The model, its ``.grad`` and the data are left alone."""

    host_result = True

    def __init__(
        self,
        exercise: str,
        name: str,
        build: Callable[[], nn.Module],
        make: Callable[[torch.Generator, nn.Module], tuple],
        reference,
        *,
        names: tuple[str, ...],
        dtype: torch.dtype,
        tol: Tol = SUMMATION,
        seed: int | None = None,
        devices: tuple[str, ...] = MODEL_DEVICES,
        out_name: str = "output",
    ):
        self.exercise, self.name, self.build, self.make, self._reference = exercise, name, build, make, reference
        self.names, self.dtype, self.tol, self.seed, self.devices, self.out_name = (
            names,
            dtype,
            tol,
            seed,
            devices,
            out_name,
        )

    def reference(self):
        return self._reference

    def model(self) -> nn.Module:
        return seeded_model(self.build, self.seed).to(self.dtype)

    def plan(self):
        model = self.model()
        data = self.make(generator(self.seed), model)
        data = tuple(d.to(self.dtype) if d.is_floating_point() else d for d in data)
        spec = {"model": model, "kwargs": {}, "args": data, "names": self.names}
        return Plan("model", spec)

    def judge(self, got, want):
        return compare(got["out"], want["out"], self.tol, self.out_name)
