"""The kinds of check, and the helpers that check files use to declare them.

A check lives in the scorer. It makes its inputs from a seed and describes its call as a
``plans.Plan``, which is all the sandboxed worker is sent; the scorer runs PyTorch's
reference through the same plan. ``judge`` runs in the scorer only, on encoded values.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import torch

from autograder.checks import secret as course
from autograder.course.compare import EXACT, Tol, compare
from autograder.protocol import plans
from autograder.protocol.encoding import describe, encode
from autograder.protocol.plans import TRAINING_MODE, Plan, generator, plain_call

CPU_ONLY = ("cpu",)
TORCH_DEVICES = ("cpu", "cuda", "meta")


@dataclass
class Inputs:
    """Positional arguments (named, for messages) and keyword options of one call."""

    args: tuple
    kwargs: dict = field(default_factory=dict)
    names: tuple[str, ...] = ()

    def name(self, i: int) -> str:
        return self.names[i] if i < len(self.names) else f"argument {i}"


class Check:
    """Base class. Subclasses set ``exercise``, ``name`` and implement ``plan``/``judge``."""

    exercise: str
    name: str
    suite: str = "public"
    _seed: int | None = None
    devices: tuple[str, ...] = CPU_ONLY
    # Cached properties that ``judge`` reads besides the results, made from the seed (parameter names,
    # a model's parameters before a step): computed once, and frozen with the check (checks/frozen.py).
    judge_facts: tuple[str, ...] = ()

    @property
    def seed(self) -> int:
        """The seed of the check's inputs: given, or derived from its identity (suite, exercise,
        name), so that no two checks share inputs by accident and none depends on its position."""
        if self._seed is not None and self.suite == "public":
            return self._seed
        return seed_of(self.suite, self.exercise, self.name, self._seed)

    @seed.setter
    def seed(self, value: int | None) -> None:
        self._seed = value

    def plan(self) -> Plan:
        """The call as data: what the worker is sent (inputs made here, from the seed)."""
        raise NotImplementedError

    def wire_plan(self) -> bytes:
        """``plan()`` pickled, made once: the bytes both the worker and the reference run from."""
        if "_wire_plan" not in self.__dict__:
            self._wire_plan = plans.dumps(self.plan())
        return self._wire_plan

    def run(self, fn, device: str, call: Callable = plain_call) -> dict[str, Any]:
        """``fn`` through this check's plan, on a fresh copy of its inputs."""
        return plans.execute(plans.loads(self.wire_plan()), fn, device, call)

    def judge(self, got: dict, want: dict) -> str | None:
        raise NotImplementedError

    def verdict(self, got: dict, want: dict) -> str | None:
        """``judge``, after the rule every check shares: the call left its arguments alone."""
        return changed_arguments(got) or self.judge(got, want)

    def reference(self):
        """The callable whose results ``run`` produces on the scorer's side."""
        raise NotImplementedError

    def expected(self, device: str, cpu_expected: dict | None = None) -> dict:
        """PyTorch's results on ``device``, encoded: what ``judge`` receives as ``want``.

        On meta they are derived from the CPU's (shapes and dtypes, no data). A frozen check carries its
        CPU results as data (``recorded``) and no reference: on CUDA the learner is held to them.
        """
        if device == "meta" and cpu_expected is not None and "__error__" not in cpu_expected:
            return {k: on_device(v, "meta") for k, v in cpu_expected.items() if k != "grads"}
        recorded = self.__dict__.get("recorded")
        if recorded is not None:
            return recorded if device == "cpu" else {k: on_device(v, device) for k, v in recorded.items()}
        try:
            raw = self.run(self.reference(), device)
        except Exception as exc:  # noqa: BLE001 - a reference that cannot run on a device
            return {"__error__": f"{type(exc).__name__}: {exc}"}
        return {k: encode(v) for k, v in raw.items()}

    def describe(self) -> str:
        return f"{self.exercise} [{self.name}]"


class Call(Check):
    """Call the function on seeded inputs; compare output (and gradients) with the reference."""

    def __init__(
        self,
        exercise: str,
        name: str,
        make: Callable[[torch.Generator], Inputs],
        reference: Callable,
        *,
        grad: bool = False,
        tol: Tol = EXACT,
        seed: int | None = None,
        devices: tuple[str, ...] = TORCH_DEVICES,
        out_name: str = "output",
    ):
        self.exercise, self.name, self.make, self._reference = exercise, name, make, reference
        self.grad, self.tol, self.seed, self.devices, self.out_name = grad, tol, seed, devices, out_name

    def reference(self):
        return self._reference

    no_grad = False  # call the function inside torch.no_grad()

    def plan(self):
        made = self.make(generator(self.seed))
        return Plan(
            "call",
            {
                "args": made.args,
                "kwargs": made.kwargs,
                "names": made.names,
                "grad": self.grad,
                "seed": self.seed,
                "no_grad": self.no_grad,
            },
        )

    judge_facts = ("grad_names",)

    @cached_property
    def grad_names(self) -> list[str]:
        made = self.make(generator(self.seed))
        return [made.name(i) for i, a in enumerate(made.args) if isinstance(a, torch.Tensor) and a.is_floating_point()]

    def judge(self, got, want):
        msg = compare(got["out"], want["out"], self.tol, self.out_name)
        if msg or "grads" not in want:
            return msg
        return judge_grads(got.get("grads"), want["grads"], self.grad_names, self.tol)


class NoGradCall(Call):
    """The caller may be inside ``torch.no_grad()``: the function must still work (e.g. get its slopes)."""

    no_grad = True


def dims(shape) -> str:
    """``(2, 3, 7, 6)`` -> ``"2×3×7×6"``, as check names show shapes."""
    return "×".join(str(s) for s in shape)


def dtype_name(dtype: torch.dtype) -> str:
    """``torch.float32`` -> ``"float32"``."""
    return str(dtype).removeprefix("torch.")


def seed_of(suite: str, exercise: str, name: str, given: int | None = None) -> int:
    """A public check's seed is fixed (learners reproduce it); any other suite's is keyed with the
    course secret (``checks/secret.py``), when there is one."""
    identity = f"{suite}/{exercise}/{name}" + ("" if given is None else f"/{given}")
    secret = course.course_secret() if suite != "public" else None
    if secret is not None:
        return course.keyed_seed(identity, secret)
    return given if given is not None else zlib.crc32(identity.encode()) & 0x7FFFFFFF


def on_device(tree, device: str):
    """An encoded result as it must look on ``device``: meta keeps shapes and dtypes only."""
    if isinstance(tree, dict) and tree.get("t") == "tensor":
        if device == "meta":
            return dict(tree, device="meta", data=None, requires_grad=False)
        return dict(tree, device=device)
    if isinstance(tree, dict) and tree.get("t") in ("tuple", "list"):
        return dict(tree, items=[on_device(i, device) for i in tree["items"]])
    return tree


def changed_arguments(got: dict) -> str | None:
    """A message when the learner's call changed what it was given (the worker's ``changed``)."""
    changed = got.get("changed")
    if not isinstance(changed, dict) or changed.get("t") != "list" or not changed.get("items"):
        return None
    names = [str(i.get("value")) for i in changed["items"] if isinstance(i, dict) and i.get("t") == "py"]
    if TRAINING_MODE in names:  # model.eval() (or .train()) left behind: the caller's loop would run in it
        return (
            "your function changed the model's training mode (model.eval() or model.train()) and left it so: "
            "note was_training = model.training first and restore it with model.train(was_training)"
        )
    grads = [n for n in names if n.endswith(".grad")]
    if grads and len(grads) == len(names):
        return (
            f"your function changed {grads[0]}: leave .grad as it is (torch.optim.SGD's step() reads it "
            f"and never clears it; zeroing gradients is the training loop's job)"
        )
    params = [n.removeprefix("parameter ") for n in names if n.startswith("parameter ") and n not in grads]
    if params:
        what = f"the model's parameter{'s' if len(params) > 1 else ''} " + _listed(params)
    else:
        what = f"its argument {_listed(names)}"
    return (
        f"your function changed {what} in place: arguments must be left alone, as PyTorch's functions "
        f"leave them; compute on a copy (x.clone(), np.array(values)) or out of place "
        f"(x = x - m instead of x -= m)"
    )


def _listed(names: list[str]) -> str:
    return ", ".join(f"`{n}`" for n in names[:3]) + (" …" if len(names) > 3 else "")


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

    computes = False  # refusing bad arguments earns points only beside a value computed right (judge)

    def __init__(
        self,
        exercise: str,
        name: str,
        make: Callable[[torch.Generator], Inputs],
        exception: type[BaseException] = ValueError,
        *,
        seed: int | None = None,
        devices: tuple[str, ...] = CPU_ONLY,
    ):
        self.exercise, self.name, self.make, self.exception = exercise, name, make, exception
        self.seed, self.devices = seed, devices

    def reference(self):
        exception = self.exception

        def raises(*args, **kwargs):
            raise exception(f"the contract demands {exception.__name__} here")

        return raises

    def plan(self):
        made = self.make(generator(self.seed))
        return Plan("raises", {"args": made.args, "kwargs": made.kwargs, "exception": self.exception})

    def judge(self, got, want):
        raised = got["raised"]["value"]
        if raised is not None:
            return None
        return f"expected {self.exception.__name__} for {self.name}; your function returned {describe(got['out'])}"


def raises_check(exercise: str, **defaults):
    def make_case(name: str, make, exception=ValueError, **kw) -> Raises:
        return Raises(exercise, name, make, exception, **{**defaults, **kw})

    return make_case
