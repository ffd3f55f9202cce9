"""Makes an exercise's forbidden operations unreachable: kernels at PyTorch's dispatcher, Python routes neutered.

Runs in a sandboxed child, once, before the learner's module is imported. Every overload and
backend variant of a forbidden op (``tanh``, ``tanh_``, ``tanh.out``; ``mkldnn_max_pool2d``…)
gets a kernel that raises, on every dispatch key that has one (CPU, CUDA, Meta, sparse,
quantized, MKL-DNN, composite). The dispatcher is global, so this holds in every thread, at
import time, under ``no_grad``/``inference_mode`` and inside a custom backward. Switching off
the op recorder therefore gains nothing: the operation itself is gone from this process.

The kernels of every operator namespace are covered (``prims::tanh`` computes ``tanh`` as well as
``aten::tanh``). PyTorch also implements many ops in Python (``torch._decomp``'s decompositions,
``torch._refs``, the meta kernels, an OpOverload's ``py_kernels``): every such function registered
for, or named after, a forbidden op has its code replaced by a call of the raising kernel, so the
function object is dead wherever learner code finds it (a table, ``__wrapped__``, a closure). A
package an exercise forbids by name (``torch.optim`` for ``sgd_step``) is neutered the same way:
every function whose code lives in its folder. What stays possible is re-running PyTorch's source
text (read from disk and compiled anew): that is copying it, which no wall tells apart from writing it.
"""

from __future__ import annotations

import collections
import functools
import os
import sys
import types
import warnings

import torch

from autograder.course.catalogue import Exercise

# Every runtime key that may carry a kernel computing the op, and the composite alias keys.
DISPATCH_KEYS = (
    "CPU",
    "CUDA",
    "Meta",
    "MPS",
    "XPU",
    "HIP",
    "SparseCPU",
    "SparseCUDA",
    "SparseMeta",
    "SparseCsrCPU",
    "SparseCsrCUDA",
    "SparseCsrMeta",
    "QuantizedCPU",
    "QuantizedCUDA",
    "MkldnnCPU",
    "NestedTensorCPU",
    "NestedTensorCUDA",
    "NestedTensorMeta",
    "CompositeImplicitAutograd",
    "CompositeImplicitAutogradNestedTensor",
    "CompositeExplicitAutograd",
    "CompositeExplicitAutogradNonFunctional",
)


class ForbiddenOperation(RuntimeError):
    """Raised by the kernel that replaces a forbidden operation."""


def forbidden_overloads(exercise: Exercise) -> list[str]:
    """``aten::name.overload`` of every operator this exercise may not call."""
    return [name for name, _ in plan(exercise)]


@functools.cache
def plan(exercise: Exercise) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """Each forbidden overload with the dispatch keys that carry a kernel for it. Computed once
    per worker and exercise, before forking (``warm``), so that a child only registers."""
    if not exercise.forbidden and not exercise.forbidden_pattern and not _forbidden_packages(exercise):
        return ()
    fused = _fused_kernels_of(exercise)
    return tuple((name, _kernel_keys(name)) for name in _aten_ops() if exercise.forbids(name) or name in fused)


def _fused_kernels_of(exercise: Exercise) -> frozenset[str]:
    """The fused C++ kernels of a package the exercise forbids: ``aten::_fused_sgd_`` is all of
    ``torch.optim.sgd`` in one call (one per module of the package, ``_fused_<module>``)."""
    modules = {m.__name__.rsplit(".", 1)[-1] for p in _forbidden_packages(exercise) for m in _loaded((p.__name__,))}
    prefix = "aten::_fused_"
    return frozenset(
        n for n in _aten_ops() if n.startswith(prefix) and n[len(prefix) :].split(".")[0].rstrip("_") in modules
    )


@functools.cache
def _aten_ops() -> tuple[str, ...]:
    return tuple(sorted(torch._C._dispatch_get_all_op_names()))  # every namespace: prims::tanh is tanh too


@functools.cache
def _kernel_keys(name: str) -> tuple[str, ...]:
    return tuple(key for key in DISPATCH_KEYS if torch._C._dispatch_has_kernel_for_dispatch_key(name, key))


_WARMED: set[Exercise] = set()


def warm(exercises) -> None:
    """Finds, once per exercise, what ``block`` registers: in the worker, for the exercises of the
    job it is about to fork children for (a one-exercise grade pays for one exercise's tables)."""
    new = tuple(dict.fromkeys(e for e in exercises if e not in _WARMED))
    for exercise in new:
        plan(exercise)
        python_routes(exercise)
    if new:
        library_twins(new)
        _WARMED.update(new)


def block(exercise: Exercise, hits: list[str]) -> object | None:
    """Replaces the exercise's forbidden kernels with ones that append the op's name to ``hits``
    and raise. Returns the registration: it lasts while the returned object is referenced."""
    warm((exercise,))  # found before forking (the worker warms each job's exercises); never skipped
    overloads = plan(exercise)
    if not overloads and not python_routes(exercise) and not library_twins(None).get(exercise):
        return None
    libraries: dict[str, torch.library.Library] = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "overriding a previously registered kernel": intended
        for qualified, keys in overloads:
            namespace, name = qualified.split("::", 1)
            if namespace not in libraries:  # overriding PyTorch's kernels is the point
                libraries[namespace] = torch.library.Library(namespace, "IMPL")  # noqa: TOR901
            kernel = _raising(exercise, name.split(".", 1)[0], hits, f"{namespace}.")
            for key in keys:
                libraries[namespace].impl(name, kernel, key)
    kernels: dict = {}
    for function, op in python_routes(exercise):
        if op not in kernels:
            kernels[op] = _raising(exercise, op, hits, "torch." if op in exercise.forbidden_names else "aten.")
        _neuter(function, kernels[op])
    for module, attr, op, implementation in library_twins(None).get(exercise, ()):
        library = module.__name__.split(".")[0]
        if (library, op) not in kernels:
            kernels[library, op] = _raising(exercise, op, hits, f"{library}.")
        setattr(module, attr, kernels[library, op])  # every loaded module's name for it: the C object is out of reach
        if implementation is not None:
            _neuter(implementation, kernels[library, op])
    return libraries or None


def _raising(exercise: Exercise, op: str, hits: list[str], namespace: str = "aten."):
    message = (
        f"{exercise.function} may not call {namespace}{op} (forbidden in this exercise): {exercise.advice}"
        if exercise.advice
        else f"{exercise.function} may not call {namespace}{op} (forbidden in this exercise)"
    )

    def forbidden_kernel(*args, **kwargs):
        hits.append(op)
        raise ForbiddenOperation(message)

    return forbidden_kernel


# PyTorch's Python implementations of ops: decompositions, references, primitives, meta kernels.
PYTHON_OP_MODULES = ("torch._decomp", "torch._refs", "torch._prims", "torch._prims_common", "torch._meta_registrations")
_NAME_PREFIXES = ("meta_", "ref_", "prim_", "decomp_")


@functools.cache
def python_routes(exercise: Exercise) -> tuple[tuple[types.FunctionType, str], ...]:
    """Every Python function of PyTorch that computes one of the exercise's forbidden ops, with
    that op's name: registered for it (any decomposition table, an overload's ``py_kernels``) or
    named after it in PyTorch's op modules; and every function of a torch package the exercise
    forbids by name (``optim``). Found once per worker, before forking."""
    found: dict[types.FunctionType, str] = {}
    if exercise.forbidden or exercise.forbidden_pattern:
        for name, function in _registered_python_kernels():
            if exercise.forbids(name):
                _collect(function, name.split("::")[-1].split(".")[0], found)
        for qualified, _ in plan(exercise):
            namespace, name = qualified.split("::", 1)
            packet = getattr(getattr(torch.ops, namespace, None), name.split(".")[0], None)
            overload = getattr(packet, name.split(".")[1] if "." in name else "default", None)
            for function in getattr(overload, "py_kernels", {}).values():
                _collect(function, name.split(".")[0], found)
        for name, function in _named_python_ops():
            if exercise.forbids(name):
                _collect(function, name, found)
    for package in _forbidden_packages(exercise):
        assert package.__file__ is not None  # a forbidden package is a regular one (numpy...): it has a file
        folder = os.path.dirname(package.__file__) + os.sep
        for module in _loaded((package.__name__,)):
            for value in list(vars(module).values()):
                for function in _functions_in(value):
                    _collect(function, package.__name__.split(".")[-1], found, folder)
    return tuple(found.items())


@functools.cache
def _registered_python_kernels() -> tuple[tuple[str, object], ...]:
    """``(op name, function)`` of every decomposition table (meta kernels included)."""
    import torch._decomp  # noqa: F401 - the tables are filled when these load (the worker's warm-up did)
    import torch._meta_registrations  # noqa: F401 - idem

    return tuple(
        (op.name(), function)
        for table in torch._decomp.global_decomposition_table.values()
        for op, function in table.items()
    )


@functools.cache
def _named_python_ops() -> tuple[tuple[str, types.FunctionType], ...]:
    """``(name without meta_/ref_ prefix, function)`` of the functions of PyTorch's op modules."""
    return tuple(
        (_strip_prefixes(attr), value)
        for module in _loaded(PYTHON_OP_MODULES)
        for attr, value in list(vars(module).items())
        if isinstance(value, types.FunctionType)
    )


def _strip_prefixes(name: str) -> str:
    for prefix in _NAME_PREFIXES:
        if name.startswith(prefix):
            return name[len(prefix) :]
    return name


def _loaded(prefixes) -> list[types.ModuleType]:
    """The loaded modules named ``prefix`` or inside it, for any of ``prefixes``."""
    inside = tuple(p + "." for p in prefixes)
    return [m for n, m in list(sys.modules.items()) if m is not None and (n in prefixes or n.startswith(inside))]


def _forbidden_packages(exercise: Exercise) -> list[types.ModuleType]:
    """The torch packages among the names an exercise forbids (``optim``)."""
    packages = []
    for name in exercise.forbidden_names:
        value = getattr(torch, name, None)
        if isinstance(value, types.ModuleType) and getattr(value, "__path__", None):
            packages.append(value)
    return packages


def _functions_in(value) -> list:
    """The functions a module attribute holds: itself, a class's methods and properties."""
    if isinstance(value, type):
        out = []
        for member in vars(value).values():
            if isinstance(member, (staticmethod, classmethod)):
                member = member.__func__
            if isinstance(member, property):
                out += [f for f in (member.fget, member.fset, member.fdel) if f is not None]
            else:
                out.append(member)
        return out
    return [value]


def _collect(function, op: str, found: dict, folder: str | None = None) -> None:
    """``function``, what it wraps (``__wrapped__``) and the functions in its closure, when their
    code lives in ``folder`` (any code, without one)."""
    seen = collections.deque([function])
    while seen:
        f = seen.popleft()
        if isinstance(f, functools.partial):
            f = f.func
        if not isinstance(f, types.FunctionType) or f in found:
            continue
        if folder is not None and not f.__code__.co_filename.startswith(folder):
            continue
        if folder is None and not f.__code__.co_filename.startswith(TORCH_DIR):
            continue  # never a function of ours or of the learner's
        found[f] = op
        wrapped = getattr(f, "__wrapped__", None)
        if wrapped is not None:
            seen.append(wrapped)
        for cell in f.__closure__ or ():
            try:
                seen.append(cell.cell_contents)
            except ValueError:  # an empty cell
                continue


TORCH_DIR = os.path.dirname(torch.__file__) + os.sep
_PLACEHOLDER = "\0forbidden kernel"


def _neuter(function: types.FunctionType, kernel) -> None:
    """Replaces ``function``'s code by a call of ``kernel``: the same object, dead wherever it is."""
    try:
        function.__code__ = _dead_code(function.__code__.co_freevars, kernel)
    except (ValueError, TypeError):  # a code object we cannot match (never seen): leave the kernel wall
        pass


@functools.cache
def _dead_template(freevars: tuple[str, ...]) -> types.CodeType:
    """Code that calls a constant (the kernel) with its arguments, with the closure's shape of
    the code it replaces (the same free variables, so the function's cells still fit)."""
    touch = f"        ({', '.join(freevars)},)\n" if freevars else ""
    source = (
        "def outer():\n"
        + "".join(f"    {name} = None\n" for name in freevars)
        + "    def dead(*args, **kwargs):\n"
        + touch
        + f"        kernel = {_PLACEHOLDER!r}\n"
        + "        return kernel(*args, **kwargs)\n"
        + "    return dead\n"
    )
    namespace: dict = {}
    exec(compile(source, "<forbidden>", "exec"), namespace)  # noqa: S102 - our own constant text
    return namespace["outer"]().__code__


def _dead_code(freevars: tuple[str, ...], kernel) -> types.CodeType:
    code = _dead_template(freevars)
    return code.replace(co_consts=tuple(kernel if c == _PLACEHOLDER else c for c in code.co_consts))


# Other libraries whose functions compute an op under its own name (numpy.tanh, numpy.pad, math.tanh).
LIBRARY_MODULES = ("numpy", "math", "cmath")
_TWINS: dict = {}


def library_twins(exercises: tuple[Exercise, ...] | None) -> dict:
    """For each exercise, the functions of NumPy, ``math`` and ``cmath`` named after one of its
    forbidden ops: ``(module, attribute, op, Python implementation or None)`` for every loaded
    module attribute that holds one (``numpy.tanh`` is also ``numpy.core.umath.tanh``). Found once
    per exercise (``warm`` passes each exercise once); ``None`` reads what was found."""
    if exercises is None:
        return _TWINS
    numpy_file = sys.modules["numpy"].__file__ if "numpy" in sys.modules else None
    numpy_dir = os.path.dirname(numpy_file) + os.sep if numpy_file else None
    wanted: dict[int, list[tuple[Exercise, str]]] = {}
    objects: dict[int, object] = {}
    candidates = {
        (attr, id(value)): value
        for module in _loaded(LIBRARY_MODULES)
        for attr, value in list(vars(module).items())
        if not attr.startswith("_") and callable(value) and not isinstance(value, (type, types.ModuleType))
    }
    for exercise in exercises:
        if not exercise.forbidden and not exercise.forbidden_pattern:
            continue
        for (attr, key), value in candidates.items():
            if exercise.forbids(attr) and exercise not in [e for e, _ in wanted.get(key, [])]:
                wanted.setdefault(key, []).append((exercise, attr))
                objects[key] = value
    for module in [m for m in list(sys.modules.values()) if m is not None]:
        try:
            items = list(vars(module).items())
        except TypeError:
            continue
        for attr, value in items:
            if id(value) in objects and objects[id(value)] is value:
                implementation = getattr(value, "__wrapped__", None)
                if not (
                    isinstance(implementation, types.FunctionType)
                    and numpy_dir
                    and implementation.__code__.co_filename.startswith(numpy_dir)
                ):
                    implementation = None
                for exercise, op in wanted[id(value)]:
                    _TWINS.setdefault(exercise, []).append((module, attr, op, implementation))
    return _TWINS
