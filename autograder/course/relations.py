"""Generic relations between a learner's values and PyTorch's, named when one reproduces every failing value.

Beside each exercise's named mistakes (``modules/``), the scorer tries a small library of relations
that any exercise can show: a constant factor (2, ½, −1, the batch size, the count a mean divides by),
axes permuted or flipped, a result cropped by one, a subset (the first sample, the first channel, the
first of a pair), zeros, a detached or scaled gradient, parameters unchanged or updated twice, an option
ignored (``reduction``, ``dim``, a flag, class weights), float32 rounding. Each relation is PyTorch's
reference wrapped (its output transformed, or one of its options forced), run by the scorer through the
failing check's own plan: it is named only when it reproduces every failing result, gradients included,
within the check's tolerance, exactly as a named mistake is (``mistakes.reproduces``). An exercise words a
relation for its function in its record (``Exercise.relations``: key → (name, fix)).
"""

from __future__ import annotations

import inspect
import itertools
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import torch

from autograder.course import catalogue, variants
from autograder.course.compare import EXACT, Tol, compare
from autograder.course.records import Mistake
from autograder.protocol.encoding import encode


@dataclass(frozen=True)
class Relation:
    """A wrapper of PyTorch's reference that stands for one kind of mistake."""

    key: str  # the id an exercise's record words it under (``Exercise.relations``)
    name: str  # generic wording: what the learner's values are, relative to PyTorch's
    fix: str
    wrap: Callable[[Callable], Callable]  # reference -> variant
    tol: Tol | None = None  # a tolerance of its own (float32 rounding), else the check's

    def mistake(self, exercise_id: str) -> Mistake:
        words = catalogue.BY_ID[exercise_id].relations.get(self.key) if exercise_id in catalogue.BY_ID else None
        name, fix = words if words else (self.name, self.fix)
        return Mistake(name, fix, exercise=exercise_id)


# ----------------------------------------------------------------------------- output transforms


def _floating(t) -> bool:
    return isinstance(t, torch.Tensor) and t.is_floating_point()


def _map(out, f: Callable[[torch.Tensor], torch.Tensor], floats: bool = True):
    """``f`` applied to every floating tensor of a result (a tensor, or the items of a tuple/list)."""
    if _floating(out):
        return f(out)
    if floats and type(out) is float:
        return float(f(torch.tensor(out, dtype=torch.float64)))
    if type(out) in (tuple, list):
        return type(out)(_map(o, f, floats) for o in out)
    return out


def _first_tensor(args) -> torch.Tensor | None:
    return next((a for a in args if isinstance(a, torch.Tensor)), None)


def _output(transform: Callable[[torch.Tensor, tuple], torch.Tensor]) -> Callable[[Callable], Callable]:
    """A wrapper whose variant returns ``transform(out, args)`` for each floating tensor ``out``."""

    def wrap(reference: Callable) -> Callable:
        def variant(*args, **kwargs):
            return _map(reference(*args, **kwargs), lambda t: transform(t, args))

        return variant

    wrap.values = transform  # type: ignore[attr-defined]  # what identify's quick test applies to PyTorch's output
    return wrap


class _NotApplicable(ValueError):
    """The transform does not apply to a value of this shape (nothing to crop, another rank)."""


def _batch(args) -> int:
    first = _first_tensor(args)
    if first is None or first.dim() == 0:
        raise ValueError("no batch")
    return first.shape[0]


def _count(out: torch.Tensor, args) -> float:
    """How many of the first input's values each output value summarises (what a mean divides by)."""
    first = _first_tensor(args)
    if first is None or out.numel() == 0 or first.numel() <= out.numel() or first.numel() % out.numel():
        raise ValueError("not a reduction")
    return first.numel() // out.numel()


def _times(c: float) -> Callable[[torch.Tensor, tuple], torch.Tensor]:
    return lambda t, _: c * t


def _grad_scaled(c: float) -> Callable[[Callable], Callable]:
    """The forward value unchanged, its gradient multiplied by ``c``."""
    return _output(lambda t, _: t.detach() + c * (t - t.detach()) if t.requires_grad else t)


def _detached(t: torch.Tensor, _) -> torch.Tensor:
    return t.detach()


def _crop(dim: int, front: bool) -> Callable[[torch.Tensor, tuple], torch.Tensor]:
    def crop(t, _):
        if t.dim() <= dim or t.shape[dim] < 2:
            raise _NotApplicable("nothing to crop")
        return t.narrow(dim, 1 if front else 0, t.shape[dim] - 1)

    return crop


def _permute(order: tuple[int, ...]) -> Callable[[torch.Tensor, tuple], torch.Tensor]:
    def permute(t, _):
        if t.dim() != len(order):
            raise _NotApplicable("another rank")
        return t.permute(order)

    return permute


def _flip(dim: int) -> Callable[[torch.Tensor, tuple], torch.Tensor]:
    def flip(t, _):
        if t.dim() <= dim or t.shape[dim] < 2:
            raise _NotApplicable("nothing to flip")
        return t.flip(dim)

    return flip


def _first_along(dim: int) -> Callable[[torch.Tensor, tuple], torch.Tensor]:
    def first(t, _):
        if t.dim() <= dim or t.shape[dim] < 2:
            raise _NotApplicable("one only")
        return t.narrow(dim, 0, 1).expand_as(t).clone()

    return first


def _first_item(reference: Callable) -> Callable:
    def variant(*args, **kwargs):
        out = reference(*args, **kwargs)
        if type(out) not in (tuple, list) or not out:
            raise ValueError("not a pair")
        return out[0]

    return variant


def _not_called(reference: Callable) -> Callable:
    def variant(*args, **kwargs):
        return None

    return variant


def _twice(reference: Callable) -> Callable:
    def variant(*args, **kwargs):
        reference(*args, **kwargs)
        return reference(*args, **kwargs)

    return variant


def _in_float32(reference: Callable) -> Callable:
    """The reference computed on float32 copies of float64 inputs, its result cast back (gradients flow
    through both casts, rounded as a float32 computation rounds them)."""

    def narrow(a):
        return a.float() if _floating(a) and a.dtype == torch.float64 else a

    def variant(*args, **kwargs):
        if not any(_floating(a) and a.dtype == torch.float64 for a in (*args, *kwargs.values())):
            raise ValueError("no float64 input")
        out = reference(*[narrow(a) for a in args], **{k: narrow(v) for k, v in kwargs.items()})
        return _map(out, lambda t: t.double(), floats=False)

    return variant


# float32 rounding: a float64 result within float32's precision of PyTorch's (and no closer, see below)
FLOAT32_TOL = Tol(float64=(1e-5, 1e-6))


def _relations() -> Iterator[Relation]:
    yield Relation(
        "float32",
        "a float32 computation of float64 inputs",
        "your result is PyTorch's rounded to float32: keep the input's dtype throughout (no .float(), no "
        "torch.tensor(...) or torch.zeros(...) without dtype=x.dtype, no float32 constants)",
        _in_float32,
        FLOAT32_TOL,
    )
    for key, c, name, fix in (
        ("times:2", 2.0, "PyTorch's value times 2", "look for a term counted twice, or a factor 2 the formula has not"),
        ("times:0.5", 0.5, "half PyTorch's value", "look for a factor ½ or a division by 2 the formula has not"),
        ("times:-1", -1.0, "PyTorch's value with the opposite sign", "check the sign of each term"),
    ):
        yield Relation(key, name, fix, _output(_times(c)))
    yield Relation(
        "times:batch",
        "PyTorch's value times the batch size",
        "PyTorch averages over the batch: divide by the number of samples",
        _output(lambda t, args: t * _batch(args)),
    )
    yield Relation(
        "over:batch",
        "PyTorch's value divided by the batch size",
        "PyTorch sums over the batch here: do not divide by the number of samples",
        _output(lambda t, args: t / _batch(args)),
    )
    yield Relation(
        "times:count",
        "a sum where PyTorch takes a mean",
        "divide the sum by the number of values it adds up",
        _output(lambda t, args: t * _count(t, args)),
    )
    yield Relation(
        "over:count",
        "a mean where PyTorch takes a sum",
        "add the values up without dividing by how many there are",
        _output(lambda t, args: t / _count(t, args)),
    )
    yield Relation(
        "zeros",
        "0 where PyTorch's value is not",
        "the result stays 0: check that the computation reaches it (a comparison that never holds, a term that "
        "vanishes, a buffer never filled in)",
        _output(lambda t, _: 0 * t),
    )
    yield Relation(
        "detached",
        "PyTorch's values with no gradient",
        "something in the computation is cut from the graph (.detach(), .item(), .data, .numpy(), "
        "torch.tensor(...) of a result): compute with tensor operations throughout",
        _output(_detached),
    )
    for key, c, name, fix in (
        ("grad:2", 2.0, "the right values with twice PyTorch's gradient", "a term enters the gradient twice"),
        ("grad:0.5", 0.5, "the right values with half PyTorch's gradient", "a factor ½ enters the gradient"),
        ("grad:-1", -1.0, "the right values with the gradient's sign flipped", "check the sign of your backward"),
        ("grad:0", 0.0, "the right values with a zero gradient", "the gradient does not flow through your values"),
    ):
        yield Relation(key, name, fix, _grad_scaled(c))
    yield Relation(
        "first_item",
        "only the first of the values PyTorch returns",
        "return every value the contract lists, as a tuple",
        _first_item,
    )
    yield Relation(
        "not_called",
        "nothing changed: the parameters keep their values",
        "update each parameter in place (with torch.no_grad(): p -= lr * p.grad)",
        _not_called,
    )
    yield Relation(
        "twice",
        "the update applied twice",
        "apply the update once per call",
        _twice,
    )
    for dim in range(4):
        yield Relation(
            f"first_along:{dim}",
            f"the first entry along axis {dim} repeated for all"
            + (" (one sample's values for every sample)" if dim == 0 else "")
            + (" (one channel's values for every channel)" if dim == 1 else ""),
            f"compute every entry along axis {dim}, not only the first",
            _output(_first_along(dim)),
        )
        yield Relation(
            f"flip:{dim}",
            f"PyTorch's value reversed along axis {dim}",
            f"check the order of the entries along axis {dim}",
            _output(_flip(dim)),
        )
        for front in (False, True):
            yield Relation(
                f"crop:{dim}:{'front' if front else 'back'}",
                f"PyTorch's value with its {'first' if front else 'last'} entry along axis {dim} missing",
                f"an off-by-one: axis {dim} should hold one more entry (check the size formula and the range's end)",
                _output(_crop(dim, front)),
            )
    for rank in (2, 3, 4):
        for order in itertools.permutations(range(rank)):
            if order == tuple(range(rank)):
                continue
            yield Relation(
                f"permute:{','.join(map(str, order))}",
                f"PyTorch's value with its axes in the order {order}",
                "check which axis is which (N, C, H, W) before reshaping, flattening or returning",
                _output(_permute(order)),
            )


RELATIONS: tuple[Relation, ...] = tuple(_relations())


# ----------------------------------------------------------------------------- options forced


def _spec(check) -> dict:
    """The check's call as data (its plan's inputs and options), or nothing when it has no plan."""
    try:
        return dict(check.plan().spec)
    except Exception:  # noqa: BLE001 - a check without a plan of its own (frozen, or not a call)
        return {}


def _options(check) -> list[tuple[int | str, str, Any]]:
    """Where each option of the check's call sits (a position or a keyword), its name and value: the
    keyword options passed, the reference's defaults left out, and the positional arguments that are
    not tensors (a padding, a size)."""
    spec = _spec(check)
    args, kwargs = tuple(spec.get("args", ())), dict(spec.get("kwargs") or {})
    names = tuple(spec.get("names", ()))
    options: list[tuple[int | str, str, Any]] = [
        (i, names[i] if i < len(names) else f"argument {i + 1}", a)
        for i, a in enumerate(args)
        if not isinstance(a, torch.Tensor) and type(a) in (int, float, bool, str, tuple)
    ]
    options += [(k, k, v) for k, v in kwargs.items()]
    try:
        signature = inspect.signature(check.reference())
    except (TypeError, ValueError):
        return options
    first = 2 if spec.get("loss_first") else 1 if "model" in spec else len(args)
    for i, (name, p) in enumerate(signature.parameters.items()):
        if i >= first and p.default is not inspect.Parameter.empty and name not in kwargs:
            options.append((name, name, p.default))
    return options


def _alternatives(name: str, value) -> list[tuple[str, str, Callable[[Any], Any]]]:
    """What a learner's code may use instead of the option's value, as ``(key, words, change)``: a
    constant it assumes (another reduction, the other flag, another dim, no tensor), or the value changed
    (a number doubled, halved or ignored, an int off by one, a pair swapped or half used)."""
    if isinstance(value, bool):
        return [(f"{name}={not value!r}", f"as if {name}={not value!r}, whatever it is given", _constant(not value))]
    if isinstance(value, str):
        others = [v for v in ("mean", "sum", "none") if v != value] if value in ("mean", "sum", "none") else []
        return [(f"{name}={v!r}", f"as if {name}={v!r}, whatever it is given", _constant(v)) for v in others]
    if isinstance(value, int) and ("dim" in name or "axis" in name):
        return [
            (f"{name}={d}", f"as if {name}={d}, whatever it is given", _constant(d))
            for d in (-1, 0, 1, 2)
            if d != value
        ]
    if isinstance(value, torch.Tensor):
        return [(f"{name}=None", f"as if {name} were not given", lambda _: None)]
    if _is_number(value) or _is_pair(value):
        found = [
            (f"{name}:doubled", f"with {name} doubled", _each(lambda v: 2 * v)),
            (f"{name}:halved", f"with {name} halved", _each(lambda v: v / 2 if isinstance(v, float) else v // 2)),
            (f"{name}:ignored", f"as if {name} were 0: {name} is ignored", _each(lambda v: 0 * v)),
        ]
        if not isinstance(value, float):
            found += [
                (f"{name}:one", f"as if {name} were 1, whatever it is given", _each(lambda v: 1)),
                (f"{name}:plus1", f"with {name} one larger", _each(lambda v: v + 1)),
                (f"{name}:minus1", f"with {name} one smaller", _each(lambda v: v - 1)),
                (f"{name}:swapped", f"with the two values of {name} swapped", _pair(lambda a, b: (b, a))),
                (
                    f"{name}:first_only",
                    f"with only the first value of {name} used (the second taken as 0)",
                    _pair(lambda a, b: (a, 0)),
                ),
                (
                    f"{name}:second_only",
                    f"with only the second value of {name} used (the first taken as 0)",
                    _pair(lambda a, b: (0, b)),
                ),
                (f"{name}:first_twice", f"with the first value of {name} used for both", _pair(lambda a, b: (a, a))),
                (f"{name}:second_twice", f"with the second value of {name} used for both", _pair(lambda a, b: (b, b))),
            ]
        return found
    return []


def _constant(value) -> Callable[[Any], Any]:
    return lambda _: value


def _is_number(v) -> bool:
    return type(v) in (int, float)


def _is_pair(v) -> bool:
    return type(v) in (tuple, list) and len(v) == 2 and all(type(x) is int for x in v)


def _each(f: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """``f`` applied to a number, or to each of a pair's numbers."""

    def change(v):
        if _is_number(v):
            return f(v)
        if _is_pair(v):
            return type(v)(f(x) for x in v)
        raise ValueError("not a number")

    return change


def _pair(f: Callable[[Any, Any], tuple]) -> Callable[[Any], Any]:
    """``f`` applied to a pair (an int stands for the pair of it twice, as PyTorch reads it)."""

    def change(v):
        if type(v) is int:
            return f(v, v)
        if _is_pair(v):
            return type(v)(f(*v))
        raise ValueError("not a pair")

    return change


def _forced(where: int | str, change: Callable[[Any], Any]) -> Callable[[Callable], Callable]:
    """A wrapper whose variant calls the reference with the option at ``where`` changed (each call's own
    value: the one passed, else the reference's default)."""

    def wrap(reference: Callable) -> Callable:
        try:
            p = inspect.signature(reference).parameters.get(str(where))
        except (TypeError, ValueError):
            p = None
        default = p.default if p is not None and p.default is not inspect.Parameter.empty else None

        def variant(*args, **kwargs):
            if isinstance(where, int):
                if where >= len(args):
                    raise ValueError("no such argument")
                return reference(*args[:where], change(args[where]), *args[where + 1 :], **kwargs)
            value = kwargs.get(where, default)
            return reference(*args, **{**kwargs, where: change(value)})

        return variant

    return wrap


def _option_relations(check) -> list[Relation]:
    found = []
    for where, name, value in _options(check):
        for key, words, change in _alternatives(name, value):
            if name == "reduction":
                fix = "follow the reduction argument: 'mean', 'sum' or 'none'"
            else:
                fix = f"use {name} exactly as the contract says"
            found.append(Relation(key, f"PyTorch's value {words}", fix, _forced(where, change)))
    return found


def _made(check):
    """The check's inputs (``Inputs``), when it is a call made from a seed."""
    make = getattr(check, "make", None)
    if make is None or not hasattr(check, "grad_names"):
        return None
    from autograder.protocol.plans import generator  # the boundary's seeded generator, as the check makes inputs

    try:
        return make(generator(check.seed))
    except Exception:  # noqa: BLE001 - not a plain call's inputs
        return None


def _argument(index: int, change: Callable[[torch.Tensor], torch.Tensor]) -> Callable[[Callable], Callable]:
    def wrap(reference: Callable) -> Callable:
        def variant(*args, **kwargs):
            if index >= len(args) or not _floating(args[index]):
                raise ValueError("no such argument")
            return reference(*args[:index], change(args[index]), *args[index + 1 :], **kwargs)

        return variant

    return wrap


def _reversed(k: int) -> Callable[[torch.Tensor], torch.Tensor]:
    """Its last ``k`` axes reversed (a kernel's spatial axes: 1 for conv1d's, 2 for conv2d's)."""
    return lambda t: t.flip(tuple(range(-k, 0)))


def _first_channel_only(t: torch.Tensor) -> torch.Tensor:
    keep = torch.zeros(t.shape[1], dtype=t.dtype, device=t.device)
    keep[0] = 1
    return t * keep.reshape(1, -1, *[1] * (t.dim() - 2))


def _argument_relations(check) -> list[Relation]:
    """Each floating tensor argument of the first failing call left out (zeros), transposed or reversed."""
    made = _made(check)
    if made is None:
        return []
    found = []
    for i, a in enumerate(made.args):
        if not _floating(a):
            continue
        name = made.name(i)
        found.append(
            Relation(
                f"zero:{name}",
                f"PyTorch's value without {name} (as if it were all zeros)",
                f"{name} is part of the formula: use it",
                _argument(i, torch.zeros_like),
            )
        )
        if a.dim() >= 2:
            found.append(
                Relation(
                    f"transposed:{name}",
                    f"PyTorch's value for {name} transposed (its last two axes swapped)",
                    f"check which axis of {name} is which: PyTorch's layout is the contract's",
                    _argument(i, lambda t: t.transpose(-1, -2)),
                )
            )
        if a.dim() >= 3 and a.shape[1] > 1:
            found.append(
                Relation(
                    f"first_channel:{name}",
                    f"PyTorch's value from the first channel of {name} alone",
                    f"use every channel of {name} (axis 1), not only the first",
                    _argument(i, _first_channel_only),
                )
            )
        if a.dim() >= 1:
            found.append(
                Relation(
                    f"reversed:{name}",
                    f"PyTorch's value for {name} reversed along its last axes",
                    f"use {name} as it is given, without reversing it",
                    _argument(i, _reversed(min(2, max(1, a.dim() - 2)))),
                )
            )
    return found


# ----------------------------------------------------------------------------- naming


def _reproduces(relation: Relation, key: tuple, check, got: dict) -> bool:
    """``key``: what fixes the relation's variant (``identify``'s first check and the relation's place
    among that check's candidates): its results on ``check`` are computed once (``variants``)."""
    try:
        variant = relation.wrap(check.reference())
    except Exception:  # noqa: BLE001 - the relation does not apply to this check
        return False
    kind, want = variants.result(check, key, variant)
    if kind == "raised":  # the relation does not apply to this call
        return False
    tol: Tol = relation.tol or getattr(check, "tol", None) or EXACT
    if set(got) != set(want) or not all(compare(got[k], want[k], tol) is None for k in want):
        return False
    return relation.key != "float32" or _rounded_to_float32(got)


def _rounded_to_float32(tree) -> bool:
    """Every float64 value of the result is a float32 number (none holds float64's extra digits)."""
    tensors = list(_float64_data(tree))
    return bool(tensors) and all(torch.equal(t, t.float().double()) for t in tensors)


def _float64_data(tree) -> Iterator[torch.Tensor]:
    if isinstance(tree, dict):
        if tree.get("t") == "tensor" and tree.get("dtype") == "float64" and isinstance(tree.get("data"), torch.Tensor):
            yield tree["data"]
        for item in tree.get("items", []) if isinstance(tree.get("items"), list) else []:
            yield from _float64_data(item)
        for key in ("out", "grads", "params"):
            if key in tree:
                yield from _float64_data(tree[key])


def _holds_floats(tree) -> bool:
    """Some value of the result is a floating-point number (a float tensor or array, a Python float)."""
    if not isinstance(tree, dict):
        return False
    kind = tree.get("t")
    if kind in ("tensor", "ndarray"):
        return str(tree.get("dtype", "")).startswith(("float", "bfloat"))
    if kind in ("py", "npscalar"):
        return type(tree.get("value")) is float
    if kind in ("tuple", "list"):
        return any(_holds_floats(i) for i in tree.get("items", []))
    return any(_holds_floats(v) for k, v in tree.items() if k in ("out", "params"))


def _candidates(evidence) -> list[Relation]:
    """The library; every option of the first failing call forced to each other value it may take; each of
    its tensor arguments changed. A relation must reproduce the other failing calls too."""
    check = evidence[0][0]
    return [*RELATIONS, *_option_relations(check), *_argument_relations(check)]


def identify(evidence: list[tuple[Any, dict | None, str | None]]) -> Mistake | None:
    """The first relation that reproduces every failing result (``(check, learner's value, exception)``
    triples, as ``mistakes.identify`` takes): a relation that explains only part of the evidence is not
    named, nor is any when the learner's code raised or returned no floating-point value (a boolean mask
    or an int matches a wrong relation by coincidence too easily)."""
    if not evidence or any(got is None or raised for _, got, raised in evidence):
        return None
    # a mask, a count or an index carries too little to tell one relation from a coincidence
    if not all(_holds_floats(got) for _, got, _ in evidence):
        return None
    if any(not hasattr(check, "reference") or "recorded" in check.__dict__ for check, _, _ in evidence):
        return None
    outputs: dict[int, tuple[Any, tuple] | None] = {}
    # a call without gradients runs fastest: most relations are refuted there
    cheapest_first = sorted(evidence, key=lambda e: bool(getattr(e[0], "grad", False)))
    first = evidence[0][0]  # its candidates are made from it alone, always in the same order
    for place, relation in enumerate(_candidates(evidence)):
        if not all(got is not None and _may_reproduce(relation, check, got, outputs) for check, got, _ in evidence):
            continue
        key = ("relation", first, place)
        if all(got is not None and _reproduces(relation, key, check, got) for check, got, _ in cheapest_first):
            return relation.mistake(evidence[0][0].exercise)
    return None


def _may_reproduce(relation: Relation, check, got: dict, outputs: dict[int, tuple[Any, tuple] | None]) -> bool:
    """A quick test before the full run: an output transform applied to PyTorch's output (computed once per
    check, in ``outputs``) must give the learner's output. False only when the full run would fail too."""
    if relation.key == "float32":
        return _rounded_to_float32(got)
    if relation.key == "not_called" and "out" in got:  # a step's result is its parameters, not an output
        return isinstance(got["out"], dict) and got["out"].get("t") == "py" and got["out"].get("value") is None
    transform = getattr(relation.wrap, "values", None)
    if transform is None or "out" not in got:
        return True
    if id(check) not in outputs:
        try:
            outputs[id(check)] = (check.run(check.reference(), "cpu").get("out"), tuple(_spec(check).get("args", ())))
        except Exception:  # noqa: BLE001 - no reference to run here: the full run decides
            outputs[id(check)] = None
    known = outputs[id(check)]
    if known is None:
        return True
    out, args = known
    try:
        with torch.no_grad():
            predicted = _map(_map(out, lambda t: t.detach(), floats=False), lambda t: transform(t, args))
    except _NotApplicable:
        return False
    except Exception:  # noqa: BLE001 - the arguments differ from the plan's here (a model first): the full run decides
        return True
    tol: Tol = relation.tol or getattr(check, "tol", None) or EXACT
    return compare(got["out"], encode(predicted), tol) is None
