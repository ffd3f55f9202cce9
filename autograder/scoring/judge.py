"""Judging: each check's result on each device against PyTorch's, an exercise's outcome, points and
messages from what its worker sent (``judge_exercise``), and the named mistake that fits (``diagnose``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

from autograder.course import catalogue, mistakes, relations
from autograder.course.catalogue import Exercise
from autograder.course.compare import EXACT, compare
from autograder.protocol import encoding
from autograder.protocol.messages import ChildTag, FrameHeader, parse_stream
from autograder.scoring import cleantext
from autograder.scoring.results import DEVICE_WEIGHT, ExerciseResult, Limits, Outcome, Unit


def units_expected(found, devices, suite: str | None = None):
    """``(index, check, device)`` for each check (of ``suite``, if given) on each of ``devices`` it
    runs on, in order: the order in which the worker's child runs them."""
    return [
        (i, check, d)
        for i, check in enumerate(found)
        if suite is None or check.suite == suite
        for d in check.devices
        if d in devices
    ]


_DEVICE_MIX = ("expected device", "same device", "two devices", "device type")


def _judge_unit(check, device, unit: dict, want: dict, cpu_unit: dict) -> Unit:
    """One check's verdict on one device from the unit the child reported and PyTorch's answer
    (``cpu_unit``: the same check's unit on the CPU, ``{}`` when none came)."""
    status = unit.get("status")
    cpu_value = cpu_unit.get("value") if cpu_unit.get("status") == "ok" else None
    if "__error__" in want:
        return Unit(check, device, "skipped", f"the reference cannot run on {device}: {want['__error__']}")
    if status == "raised":
        return _raised(check, device, unit, cpu_unit)
    if status != "ok" or not isinstance(unit.get("value"), dict):
        return Unit(check, device, "failed", "the worker sent an unreadable result")
    got = unit["value"]
    if not all(encoding.is_valid(v) for v in got.values()):
        return Unit(check, device, "failed", "the result has an unexpected structure")
    try:
        message = check.verdict(got, want)
    except (KeyError, IndexError, TypeError):
        message = "the result has an unexpected structure"
    except Exception as exc:  # noqa: BLE001 - a malformed learner value must not crash the scorer
        message = f"the result could not be judged ({type(exc).__name__}: {exc})"
    if message is None and device == "cuda" and cpu_value is not None and "out" in got:
        cpu_out = dict(cpu_value["out"], device="cuda") if cpu_value["out"].get("t") == "tensor" else cpu_value["out"]
        differs = compare(got["out"], cpu_out, getattr(check, "tol", EXACT))
        if differs:
            message = f"your CUDA result differs from your CPU result: {differs}"
    if message and device == "meta":
        message = f"on another device: {message}"
    facts = ("float32_result",) if message and _narrowed(got, want) else ()
    return Unit(check, device, "failed" if message else "passed", message or "", got=got, facts=facts)


def _raised(check, device, unit: dict, cpu_unit: dict) -> Unit:
    """The verdict on a unit whose code raised: a stub, a forbidden op, a wrong placement, or its error."""
    raised = str(unit.get("type"))
    text = f"raised {raised}: {unit.get('message', '')}".strip()
    if unit.get("where"):
        text += f" (at {unit['where']})"
    if unit.get("not_started") and device == "cpu":
        return Unit(check, device, "not_started", _not_started(check, str(unit.get("where", ""))))
    if unit.get("type") == "ForbiddenOperation":  # the exercise is forbidden: no placement note
        return Unit(check, device, "failed", text)
    if unit.get("not_started"):  # said once, on the CPU; a stub that raises elsewhere only is no stub
        return Unit(check, device, "failed", "not started (raises NotImplementedError)")
    if device != "meta":
        return Unit(check, device, "failed", text, raised=raised)
    made = unit.get("cpu_made") or []
    if made:
        return Unit(
            check,
            device,
            "failed",
            f"on another device, your code created a CPU tensor with "
            f"aten.{made[0]}: pass device=x.device (and dtype=x.dtype) when creating tensors",
            facts=("created_cpu_tensor",),
        )
    message = str(unit.get("message", "")).lower()
    if any(m in message for m in _DEVICE_MIX):  # PyTorch's own words: its errors carry no code
        return Unit(check, device, "failed", f"your code mixes devices: {text}")
    if cpu_unit.get("status") == "raised" and cpu_unit.get("type") == raised:  # no matter of placement
        return Unit(check, device, "failed", f"{text}, as on the CPU")
    # the learner's code raised where PyTorch's did not: whatever the reason, the check failed
    # (a choice the learner makes, raising, can never weigh less than a wrong placement)
    return Unit(
        check,
        device,
        "failed",
        f"on the meta device (tensors with shapes but no values) your code {text}: code that "
        f"reads values (bool(), .item(), if on a tensor) cannot follow there; keep to tensor ops "
        f"(torch.where, masks)",
    )


NOT_STARTED = "not started (raises NotImplementedError)"


def _not_started(check, where: str) -> str:
    """Why a check found a stub: the exercise's own, or one of the learner's other functions that
    it runs (the capstone runs their conv2d, tanh, …; the full run trains their DigitNet), named."""
    function = where.split(", in ", 1)[1].split(":", 1)[0] if ", in " in where else ""
    own = catalogue.get(check.exercise)
    if function == own.function:
        return NOT_STARTED
    other = next((e for e in catalogue.EXERCISES if e.function == function), None)
    builder = getattr(check, "builder", None)  # a class's stub raises in its __init__ or forward
    if other is None and builder and function in ("__init__", "forward"):
        other = catalogue.BY_ID.get(f"{own.module}.{builder}")
    if other is None or other.id == own.id:
        return NOT_STARTED
    return f"{own.function} needs your {other.id}, which is not started (it raises NotImplementedError)"


def _narrowed(got, want) -> bool:
    """Somewhere in the result a float32 tensor stands where PyTorch's is float64."""
    if isinstance(got, dict) and isinstance(want, dict):
        if want.get("t") == "tensor":
            return got.get("t") == "tensor" and want.get("dtype") == "float64" and got.get("dtype") == "float32"
        if want.get("t") in ("tuple", "list") and isinstance(got.get("items"), list):
            return any(_narrowed(g, w) for g, w in zip(got["items"], want["items"]))
        return any(_narrowed(got[k], want[k]) for k in want.keys() & got.keys() if k in ("out", "grads", "params"))
    return False


@dataclass(frozen=True)
class Judging:
    """What judging one exercise reads, its frame aside: its checks (``suite``'s only, if given: what
    one child ran), the devices, PyTorch's references, the static scan's verdict and the limits."""

    exercise: Exercise
    found: list
    references: dict
    devices: Sequence[str]
    static_message: str | None
    limits: Limits
    suite: str | None = None

    def expected(self, devices: Sequence[str] | None = None) -> list:
        """``units_expected`` on ``devices`` (the judge's own when none are given)."""
        return units_expected(self.found, devices or self.devices, self.suite)


class _Stop(NamedTuple):
    """An exercise judged without its checks' results: its outcome, why, and whether the grader failed."""

    outcome: Outcome
    message: str
    grader_fault: bool = False


@dataclass
class _Run:
    """What the exercise's units showed beyond their verdicts."""

    ops: list[str] = field(default_factory=list)  # ATen ops its code called (CPU and CUDA)
    host_sync: bool = False  # it moved a value to the host where the contract does not ask for one
    stopped: Unit | None = None  # the first unit that never reported: where the exercise stopped
    tampering: str | None = None  # a unit's report of tampering


def judge_exercise(
    exercise: Exercise,
    found,
    header: FrameHeader,
    stream: bytes,
    references: dict,
    devices,
    static_message: str | None,
    limits: Limits,
    suite: str | None = None,
) -> ExerciseResult:
    """The exercise's outcome, score and messages (on the checks of ``suite`` only, if given: what
    one child ran), every learner-made string neutralised."""
    context = Judging(exercise, found, references, devices, static_message, limits, suite)
    result = _judge(context, header, stream)
    _diagnose_suites(result, again=False)
    result.message = cleantext.one_line(str(result.message))
    result.output = cleantext.block(str(result.output))
    result.notes = [cleantext.one_line(str(n)) for n in result.notes]
    for unit in result.units:
        unit.message = cleantext.one_line(str(unit.message))
    return result


def _judge(context: Judging, header: FrameHeader, stream: bytes) -> ExerciseResult:
    """The exercise judged from its frame, step by step; the first step that decides it ends it."""
    sandbox_devices = header.get("devices") if isinstance(header.get("devices"), list) else None
    ran = context.expected(sandbox_devices)  # what the child ran, in its order
    result = _started(context, header, ran)
    messages: list = []
    stop = _stopped_before_the_checks(context, header)
    if stop is None:
        messages, malformed = parse_stream(stream)
        stop = _unreadable(context, messages, malformed, ran)
    if stop is not None:
        result.outcome, result.message, result.grader_fault = stop
        return result
    kinds = [k for k, _ in messages]
    received = {(p.get("check"), p.get("device")): p for k, p in messages if k == ChildTag.UNIT and isinstance(p, dict)}
    cuda_absent = "cuda" not in sandbox_devices if sandbox_devices is not None else ChildTag.DONE in kinds
    run = _judge_units(context, result, received, header, cuda_absent)
    if run.tampering:
        result.outcome, result.message = "forbidden", run.tampering
        return result
    _cpu_first(result)
    _advise(result, run)
    _conclude(context, result, run, header, finished=ChildTag.DONE in kinds, last=_last_reported(received))
    return result


def _started(context: Judging, header: FrameHeader, ran: list) -> ExerciseResult:
    """The result before any verdict: no points yet, what the child printed, each suite's planned weight."""
    exercise, limits = context.exercise, context.limits
    result = ExerciseResult(exercise, "failed", 0.0, float(exercise.points))
    result.output = _output(header, ran)[: limits.max_output]  # the labels count against what is kept
    for _, check, device in context.expected():
        result.suite_weights[check.suite] = result.suite_weights.get(check.suite, 0.0) + DEVICE_WEIGHT[device]
    if header.get("output_bytes", 0) > limits.max_output:
        result.notes.append(
            f"your code printed {header['output_bytes']} bytes; only the first {limits.max_output} are kept"
        )
    return result


def _stopped_before_the_checks(context: Judging, header: FrameHeader) -> _Stop | None:
    """The outcome when the source is forbidden or the worker's header says no check could run."""
    if context.static_message:
        return _Stop("forbidden", context.static_message)
    status = header.get("status")
    if status == "grader_error":
        return _Stop("error", "the grader's worker could not start (see the log)", grader_fault=True)
    if status == "import_timeout":
        return _Stop(
            "timeout",
            f"importing {context.exercise.module}.py did not finish within {context.limits.check_timeout:g} s "
            f"(is there an endless loop at module level?)",
        )
    if header.get("tampering"):
        return _Stop("forbidden", f"tampering: {header.get('killed_for') or 'the grader was lied to'}")
    return None


def _unreadable(context: Judging, messages: list, malformed: bool, ran: list) -> _Stop | None:
    """The outcome when the child's messages cannot be believed, or its module could not be loaded."""
    if malformed:
        return _Stop(
            "crashed", "crashed: the exercise's process sent a malformed message (was the grader's pipe written to?)"
        )
    kinds = [k for k, _ in messages]
    if ChildTag.IMPORT_FAILED in kinds:
        return _load_error(context.exercise, dict(messages[kinds.index(ChildTag.IMPORT_FAILED)][1] or {}))
    results = [payload for kind, payload in messages if kind == ChildTag.UNIT and isinstance(payload, dict)]
    for k, payload in enumerate(results):
        if k >= len(ran) or (payload.get("check"), payload.get("device")) != (ran[k][0], ran[k][2]):
            # the child runs its units in one order, one result each: anything else was forged
            return _Stop("forbidden", "tampering: a result that no check asked for")
    return None


def _load_error(exercise: Exercise, error: dict) -> _Stop:
    """Why the exercise's module could not be loaded: a forbidden op at import, tampering, or its error."""
    hits = exercise.forbidden_ops_in(error.get("ops") or [])
    if error.get("status") == "forbidden" and hits:
        return _Stop("forbidden", f"{exercise.function} called aten.{hits[0]} (at import): {exercise.advice}")
    if error.get("status") == "tampering":
        return _Stop("forbidden", f"tampering: {error.get('message')}")
    message = f"{exercise.module}.py could not be loaded: {error.get('type')}: {error.get('message')}"
    sibling = error.get("missing_module")
    if isinstance(sibling, str) and sibling in catalogue.MODULES:
        message = (
            f"{exercise.module}.py imports your {sibling}.py, which this submission does not hold: "
            f"grade it beside your other modules (a notebook beside your other notebooks)"
        )
    if error.get("where"):
        message += f" (at {error['where']})"
    return _Stop("error", message)


def _judge_units(
    context: Judging, result: ExerciseResult, received: dict, header: FrameHeader, cuda_absent: bool
) -> _Run:
    """Each expected unit's verdict, in order, into ``result.units``; what they showed besides."""
    run = _Run()
    for index, check, device in context.expected():
        unit = received.get((index, device))
        if unit is None:
            result.units.append(_missing(context, check, device, run, header, received, cuda_absent))
            continue
        if device in ("cpu", "cuda"):
            run.ops += [op for op in unit.get("ops", []) if isinstance(op, str)]
        # a check whose contract returns a Python number (a loss, an accuracy) must move one to the host
        run.host_sync = run.host_sync or (bool(unit.get("host_sync")) and not getattr(check, "host_result", False))
        if unit.get("status") == "tampering":
            run.tampering = f"tampering: {unit.get('message')}"
            return run
        cpu_unit = received.get((index, "cpu"), {})
        result.units.append(_judge_unit(check, device, unit, context.references[(index, device)], cpu_unit))
    return run


def _missing(context: Judging, check, device: str, run: _Run, header: FrameHeader, received: dict, cuda_absent: bool):
    """The verdict of a unit the child never reported: CUDA absent, where it stopped, or after that."""
    if device == "cuda" and cuda_absent:  # the child said so before learner code ran
        return Unit(check, device, "skipped", "CUDA is not available inside the sandbox")
    if run.stopped is None:
        run.stopped = Unit(check, device, "failed", _why_missing(header, context.limits, _last_reported(received)))
        return run.stopped
    return Unit(check, device, "failed", "not run: the exercise stopped earlier")


def _cpu_first(result: ExerciseResult) -> None:
    """Other devices earn points only where the CPU's verdict on the same check is a pass."""
    cpu_verdicts = {id(u.check): u.verdict for u in result.units if u.device == "cpu"}
    for u in result.units:
        if u.device != "cpu" and u.verdict == "passed" and cpu_verdicts.get(id(u.check)) != "passed":
            u.verdict, u.message = "failed", "other devices earn points only when the CPU result is right"


def _advise(result: ExerciseResult, run: _Run) -> None:
    """Notes beside the verdicts: a placement the meta device could not check, values moved to the host."""
    not_checked = [u for u in result.units if u.verdict == "not_checked"]
    if not_checked:
        result.notes.append(not_checked[0].message)
    if run.host_sync:
        result.notes.append(
            "advice: your code moves data to the host (.item(), float(), .tolist()); correct, but slow on a GPU"
        )


def _conclude(
    context: Judging, result: ExerciseResult, run: _Run, header: FrameHeader, finished: bool, last: dict | None
) -> None:
    """The outcome, points, first message and named mistake from the units' verdicts (``finished``:
    the child said it was done; ``last``: the unit it reported last)."""
    exercise = context.exercise
    hits = exercise.forbidden_ops_in(run.ops)
    cpu_units = [u for u in result.units if u.device == "cpu"]
    if hits:
        result.outcome = "forbidden"
        result.message = f"{exercise.function} called aten.{hits[0]}: {exercise.advice}"
        return
    if cpu_units and all(u.verdict == "not_started" for u in cpu_units):
        own = any(u.message == NOT_STARTED for u in cpu_units)  # its own stub: nothing else to say
        waiting = None if own else next((u.message for u in cpu_units), None)
        result.outcome, result.message = "not_started", waiting or "not started"
        return
    total = sum(u.weight for u in result.units)
    passed = sum(u.weight for u in result.units if u.verdict == "passed")
    result.score = round(result.max_score * passed / total, 4) if total else 0.0
    failures = _failures(result)
    if failures:
        result.message = f"[{failures[0].check.name}] {failures[0].message}"
        result.mistake = diagnose(failures)
    status = header.get("status")
    if status == "timeout":
        result.outcome = "timeout"
    elif run.stopped is not None or status == "crashed" or not finished:
        result.outcome = "crashed"
        result.message = run.stopped.message if run.stopped is not None else _why_missing(header, context.limits, last)
        result.mistake = None
    else:
        result.outcome = "passed" if not failures and total else "failed"


def _failures(result: ExerciseResult) -> list[Unit]:
    return [u for u in result.units if u.verdict in ("failed", "not_started")]


# the outcomes a suite's test tells through its checks' verdicts (the others are about the whole exercise)
BY_VERDICTS = ("passed", "failed")


def _diagnose_suites(result: ExerciseResult, again: bool) -> None:
    """Each suite's named mistake, from that suite's failing checks alone (what its test shows: a
    public test never names a mistake from hidden evidence), stored for the report, which renders
    and never judges. The exercise's own diagnosis serves where it read the same failures, unless
    verdicts changed since it was made (``again``)."""
    failures = _failures(result) if result.outcome in BY_VERDICTS else []
    by_suite: dict[str, list[Unit]] = {}
    for unit in failures:
        by_suite.setdefault(unit.check.suite, []).append(unit)
    result.suite_mistakes = {
        suite: result.mistake if len(units) == len(failures) and not again else diagnose(units)
        for suite, units in by_suite.items()
    }


def diagnose(failures: list[Unit]):
    """The named mistake that fits all the evidence: the values of every failing CPU check (each
    reproduced by the mistake's variant, gradients included), else the messages themselves."""
    # a check that fails as a consequence of others (a full training run) is no fingerprint of one mistake
    cpu = [u for u in failures if u.device == "cpu" and getattr(u.check, "diagnostic", True)]
    named = None
    if cpu and all(u.got is not None or u.raised for u in cpu):
        named = mistakes.identify([(u.check, u.got, u.raised) for u in cpu])
        named = named or relations.identify([(u.check, u.got, u.raised) for u in cpu])  # issue 24
    return named or mistakes.from_evidence({fact for u in failures for fact in u.facts})


def _last_reported(received: dict) -> dict | None:
    """The unit the exercise's child reported last (the highest check, its meta run after the others):
    what it was doing when it stopped, if it stopped."""
    return max(received.values(), key=lambda u: (u.get("check", 0), u.get("device") == "meta"), default=None)


_SIGNALS = {9: "SIGKILL", 11: "SIGSEGV (segmentation fault)", 6: "SIGABRT", 7: "SIGBUS", 8: "SIGFPE", 15: "SIGTERM"}


def _why_missing(header: FrameHeader, limits: Limits, last_unit: dict | None = None) -> str:
    status = header.get("status")
    kind = (last_unit or {}).get("type")
    if kind == "MemoryError":
        return f"crashed: your code ran out of memory (limit {limits.memory_mb} MiB)"
    if kind == "SystemExit":
        return "crashed: your code called sys.exit(), which ends the process"
    if kind == "KeyboardInterrupt":
        return "crashed: KeyboardInterrupt"
    if status == "timeout":
        why = header.get("killed_for") or "it took too long"
        return (
            f"timed out: {why} (limit {limits.check_timeout:g} s per check, {limits.exercise_timeout:g} s per exercise)"
        )
    if header.get("killed_for"):
        return f"crashed: stopped because {header['killed_for']}"
    signal_number = header.get("signal")
    if signal_number:
        return f"crashed: the process died with {_SIGNALS.get(signal_number, f'signal {signal_number}')}"
    if header.get("exit_code") not in (None, 0):
        return f"crashed: the process exited with code {header['exit_code']} (sys.exit or os._exit?)"
    return "crashed: the process ended before finishing the checks (sys.exit or os._exit?)"


def _output(header: FrameHeader, ran: list) -> str:
    """What the child printed, each piece under the unit it printed during (the worker splits it
    where each result arrived): learner text, to be cleaned by the caller."""
    segments = header.get("outputs")
    if not isinstance(segments, list):
        return str(header.get("output", ""))
    pieces = []
    for segment in segments:
        if not (isinstance(segment, list) and len(segment) == 2 and isinstance(segment[0], int)):
            continue
        k, text = segment
        if k < 0:
            label = "while importing"
        elif k < len(ran):
            label = f"during [{ran[k][1].name}] ({ran[k][2]})"
        else:
            label = "after the checks"
        pieces.append((label, str(text)))
    if len(pieces) == 1 and pieces[0][0] == "while importing":
        return pieces[0][1]
    return "".join(f"--- {label} ---\n{text}" + ("" if text.endswith("\n") else "\n") for label, text in pieces)


def _computes(part: ExerciseResult, computed: bool) -> bool:
    """Fails the part's argument checks (``Raises``) unless a value was computed right, in this part
    or the public one before it: a function that computes nothing scores nothing, however well it
    refuses bad arguments. Returns whether one was."""
    computed = computed or any(
        u.verdict == "passed" and u.device == "cpu" and getattr(u.check, "computes", True) for u in part.units
    )
    if not computed:
        for u in part.units:
            if u.verdict == "passed" and not getattr(u.check, "computes", True):
                u.verdict, u.message = "failed", "refusing bad arguments earns points once a value is computed right"
        if part.outcome == "passed":
            part.outcome = "failed"
    return computed


SEVERITY = ("forbidden", "error", "crashed", "timeout", "failed", "not_started", "passed")


def judge_parts(
    exercise: Exercise,
    found,
    framed: dict[str, tuple[FrameHeader, bytes]],
    references: dict,
    devices,
    static_message: str | None,
    limits: Limits,
    refusal: str | None = None,
) -> ExerciseResult:
    """An exercise graded suite by suite (``framed``: each suite's header and stream).

    Each suite is judged from its own frame only, into ``result.parts[suite]``: its
    outcome, messages, output and points. Its share of the exercise's points is fixed in advance,
    from the planned checks (a device whose reference cannot run weighs nothing), so that nothing
    a hidden check met moves a public number. The exercise as a whole (the instructor's view) is
    the parts together: their points summed, the most severe outcome."""
    planned = {
        suite: sum(
            DEVICE_WEIGHT[d]
            for i, _, d in units_expected(found, devices, suite)
            if "__error__" not in references[(i, d)]
        )
        for suite in framed
    }
    total = sum(planned.values())
    parts: dict[str, ExerciseResult] = {}
    computed = False  # a value computed right on the CPU, in the public part or the part itself
    for suite, (header, stream) in framed.items():
        part = judge_exercise(exercise, found, header, stream, references, devices, static_message, limits, suite)
        if refusal:
            part.outcome, part.message, part.units, part.mistake, part.suite_mistakes = "error", refusal, [], None, {}
        failing = len(_failures(part))
        computed = _computes(part, computed)
        if len(_failures(part)) != failing:  # argument checks failed since: what the suite's test shows changed
            _diagnose_suites(part, again=True)
        part.max_score = round(exercise.points * planned[suite] / total, 4) if total else 0.0
        counted = [u for u in part.units if u.weight]
        weight = sum(u.weight for u in counted)
        passed = sum(u.weight for u in counted if u.verdict == "passed")
        share = passed / weight if weight and part.outcome not in ("forbidden", "not_started", "error") else 0.0
        part.score = round(part.max_score * share, 4)
        part.suite_weights = {suite: planned[suite]}
        parts[suite] = part
    return _together(exercise, parts, planned)


def _together(exercise: Exercise, parts: dict[str, ExerciseResult], planned: dict[str, float]) -> ExerciseResult:
    """The exercise as a whole (the instructor's view): the parts' points summed, the most severe outcome."""
    worst = min(parts.values(), key=lambda p: SEVERITY.index(p.outcome))
    return ExerciseResult(
        exercise,
        worst.outcome,
        round(sum(p.score for p in parts.values()), 4),
        float(exercise.points),
        message=worst.message,
        units=[u for p in parts.values() for u in p.units],
        notes=list(dict.fromkeys(n for p in parts.values() for n in p.notes)),
        output=parts["public"].output if "public" in parts else "",
        mistake=worst.mistake,
        suite_weights=planned,
        grader_fault=any(p.grader_fault for p in parts.values()),
        parts=parts,
    )
