"""Judging: each check's result on each device against PyTorch's, an exercise's outcome, points and
messages from what its worker sent (``judge_exercise``), and the named mistake that fits (``diagnose``).
"""

from __future__ import annotations

from autograder.course import catalogue, mistakes, relations
from autograder.course.catalogue import Exercise
from autograder.protocol import encoding
from autograder.protocol.messages import ChildTag, FrameHeader, parse_stream
from autograder.scoring import cleantext
from autograder.scoring.compare import EXACT, compare
from autograder.scoring.results import DEVICE_WEIGHT, ExerciseResult, Limits, Unit


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


def _judge_unit(check, device, unit: dict, want: dict, cpu_value) -> Unit:
    status = unit.get("status")
    if "__error__" in want:
        return Unit(check, device, "skipped", f"the reference cannot run on {device}: {want['__error__']}")
    if status == "raised":
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
        if device == "meta":
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
        return Unit(check, device, "failed", text, raised=raised)
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
    result = _judge(exercise, found, header, stream, references, devices, static_message, limits, suite)
    result.message = cleantext.one_line(str(result.message))
    result.output = cleantext.block(str(result.output))
    result.notes = [cleantext.one_line(str(n)) for n in result.notes]
    for unit in result.units:
        unit.message = cleantext.one_line(str(unit.message))
    return result


def _judge(
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
    result = ExerciseResult(exercise, "failed", 0.0, float(exercise.points))
    sandbox_devices = header.get("devices") if isinstance(header.get("devices"), list) else None
    ran = units_expected(found, sandbox_devices or devices, suite)  # what the child ran, in its order
    result.output = _output(header, ran)[: limits.max_output]  # the labels count against what is kept
    for _, check, device in units_expected(found, devices, suite):
        result.suite_weights[check.suite] = result.suite_weights.get(check.suite, 0.0) + DEVICE_WEIGHT[device]
    if header.get("output_bytes", 0) > limits.max_output:
        result.notes.append(
            f"your code printed {header['output_bytes']} bytes; only the first {limits.max_output} are kept"
        )
    if static_message:
        result.outcome, result.message = "forbidden", static_message
        return result
    status = header.get("status")
    if status == "grader_error":
        result.outcome, result.message = "error", "the grader's worker could not start (see the log)"
        result.grader_fault = True
        return result
    if status == "import_timeout":
        result.outcome = "timeout"
        result.message = (
            f"importing {exercise.module}.py did not finish within {limits.check_timeout:g} s "
            f"(is there an endless loop at module level?)"
        )
        return result
    if header.get("tampering"):
        why = header.get("killed_for") or "the grader was lied to"
        result.outcome, result.message = "forbidden", f"tampering: {why}"
        return result
    messages, malformed = parse_stream(stream)
    if malformed:
        result.outcome = "crashed"
        result.message = "crashed: the exercise's process sent a malformed message (was the grader's pipe written to?)"
        return result
    kinds = [k for k, _ in messages]
    if ChildTag.IMPORT_FAILED in kinds:
        error = dict(messages[kinds.index(ChildTag.IMPORT_FAILED)][1] or {})
        hits = exercise.forbidden_ops_in(error.get("ops") or [])
        if error.get("status") == "forbidden" and hits:
            result.outcome = "forbidden"
            result.message = f"{exercise.function} called aten.{hits[0]} (at import): {exercise.advice}"
            return result
        if error.get("status") == "tampering":
            result.outcome, result.message = "forbidden", f"tampering: {error.get('message')}"
            return result
        result.outcome = "error"
        result.message = f"{exercise.module}.py could not be loaded: {error.get('type')}: {error.get('message')}"
        sibling = error.get("missing_module")
        if isinstance(sibling, str) and sibling in catalogue.MODULES:
            result.message = (
                f"{exercise.module}.py imports your {sibling}.py, which this submission does not hold: "
                f"grade it beside your other modules (a notebook beside your other notebooks)"
            )
        if error.get("where"):
            result.message += f" (at {error['where']})"
        return result
    received = {}
    results = [payload for kind, payload in messages if kind == ChildTag.UNIT and isinstance(payload, dict)]
    for k, payload in enumerate(results):
        if k >= len(ran) or (payload.get("check"), payload.get("device")) != (ran[k][0], ran[k][2]):
            # the child runs its units in one order, one result each: anything else was forged
            result.outcome, result.message = "forbidden", "tampering: a result that no check asked for"
            return result
        received[(payload.get("check"), payload.get("device"))] = payload
    expected = units_expected(found, devices, suite)
    ops: list[str] = []
    host_sync = False
    stopped = None
    for index, check, device in expected:
        unit = received.get((index, device))
        absent = "cuda" not in sandbox_devices if sandbox_devices is not None else ChildTag.DONE in kinds
        if unit is None and device == "cuda" and absent:  # the child said so before learner code ran
            result.units.append(Unit(check, device, "skipped", "CUDA is not available inside the sandbox"))
            continue
        if unit is None:
            if stopped is None:
                stopped = Unit(check, device, "failed", _why_missing(header, limits, _last_reported(received)))
                result.units.append(stopped)
            else:
                result.units.append(Unit(check, device, "failed", "not run: the exercise stopped earlier"))
            continue
        if device in ("cpu", "cuda"):
            ops += [op for op in unit.get("ops", []) if isinstance(op, str)]
        # a check whose contract returns a Python number (a loss, an accuracy) must move one to the host
        host_sync = host_sync or (bool(unit.get("host_sync")) and not getattr(check, "host_result", False))
        if unit.get("status") == "tampering":
            result.outcome, result.message = "forbidden", f"tampering: {unit.get('message')}"
            return result
        cpu_unit = received.get((index, "cpu"), {})
        cpu_value = cpu_unit.get("value") if cpu_unit.get("status") == "ok" else None
        result.units.append(_judge_unit(check, device, unit, references[(index, device)], cpu_value))
    cpu_verdicts = {id(u.check): u.verdict for u in result.units if u.device == "cpu"}
    for u in result.units:
        if u.device != "cpu" and u.verdict == "passed" and cpu_verdicts.get(id(u.check)) != "passed":
            u.verdict, u.message = "failed", "other devices earn points only when the CPU result is right"
    not_checked = [u for u in result.units if u.verdict == "not_checked"]
    if not_checked:
        result.notes.append(not_checked[0].message)
    if host_sync:
        result.notes.append(
            "advice: your code moves data to the host (.item(), float(), .tolist()); correct, but slow on a GPU"
        )
    hits = exercise.forbidden_ops_in(ops)
    cpu_units = [u for u in result.units if u.device == "cpu"]
    if hits:
        result.outcome = "forbidden"
        result.message = f"{exercise.function} called aten.{hits[0]}: {exercise.advice}"
    elif cpu_units and all(u.verdict == "not_started" for u in cpu_units):
        own = any(u.message == NOT_STARTED for u in cpu_units)  # its own stub: nothing else to say
        waiting = None if own else next((u.message for u in cpu_units), None)
        result.outcome, result.message = "not_started", waiting or "not started"
    else:
        total = sum(u.weight for u in result.units)
        passed = sum(u.weight for u in result.units if u.verdict == "passed")
        result.score = round(result.max_score * passed / total, 4) if total else 0.0
        failures = [u for u in result.units if u.verdict in ("failed", "not_started")]
        if failures:
            first = failures[0]
            result.message = f"[{first.check.name}] {first.message}"
            result.mistake = diagnose(failures)
        if status == "timeout":
            result.outcome = "timeout"
        elif stopped is not None or status == "crashed" or ChildTag.DONE not in kinds:
            result.outcome = "crashed"
            result.message = (
                stopped.message if stopped is not None else _why_missing(header, limits, _last_reported(received))
            )
            result.mistake = None
        else:
            result.outcome = "passed" if not failures and total else "failed"
    return result


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
    """An exercise graded by one child per suite (``framed``: each suite's header and stream).

    Each suite is judged from its own child's frame only, into ``result.parts[suite]``: its
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
            part.outcome, part.message, part.units, part.mistake = "error", refusal, [], None
        computed = _computes(part, computed)
        part.max_score = round(exercise.points * planned[suite] / total, 4) if total else 0.0
        counted = [u for u in part.units if u.weight]
        weight = sum(u.weight for u in counted)
        passed = sum(u.weight for u in counted if u.verdict == "passed")
        share = passed / weight if weight and part.outcome not in ("forbidden", "not_started", "error") else 0.0
        part.score = round(part.max_score * share, 4)
        part.suite_weights = {suite: planned[suite]}
        parts[suite] = part
    worst = min(parts.values(), key=lambda p: SEVERITY.index(p.outcome))
    combined = ExerciseResult(
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
    return combined
