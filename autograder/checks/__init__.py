"""The registry of checks: ``public/<module>.py`` and ``hidden/<module>.py`` each define ``CHECKS``.

Public and hidden checks live in separate packages so a student release can drop ``hidden/``; it
carries its public checks frozen into data (``checks/frozen.py``), read where a module is absent.
Both the worker and the scorer build the same ordered list, so a check is named by its index.
"""

from __future__ import annotations

import importlib

from autograder.course.catalogue import MODULES

SUITES = ("public", "hidden")  # the one list of suites: commands, the registry and Gradescope read it here
# what a command's ``--suite`` names: every installed suite ("all", None) or one alone
SUITE_CHOICES: dict[str, tuple[str, ...] | None] = {"all": None, **{suite: (suite,) for suite in SUITES}}


def available_suites() -> tuple[str, ...]:
    found = []
    for suite in SUITES:
        try:
            importlib.import_module(f"autograder.checks.{suite}")
        except ModuleNotFoundError:
            continue
        found.append(suite)
    return tuple(found)


def for_module(module: str, suites=SUITES) -> list:
    # imports torch (checks.core): only when checks are read, so that importing the package (its
    # secret, the registry) does not load torch before the grader starts its worker
    from autograder.checks import frozen

    checks = []
    for suite in suites:
        try:
            mod = importlib.import_module(f"autograder.checks.{suite}.{module}")
        except ModuleNotFoundError as exc:
            if exc.name and exc.name.startswith(f"autograder.checks.{suite}"):
                # loads torch (the check kinds): the suites' names above are read by light commands
                from autograder.checks import frozen

                checks += frozen.for_module(suite, module)
                continue
            raise
        for check in mod.CHECKS:
            check.suite = suite
            checks.append(check)
    return checks


def for_exercise(exercise_id: str, suites=SUITES) -> list:
    module = exercise_id.split(".")[0]
    return [c for c in for_module(module, suites) if c.exercise == exercise_id]


def all_checks(suites=SUITES) -> dict[str, list]:
    by_exercise: dict[str, list] = {}
    for module in MODULES:
        for check in for_module(module, suites):
            by_exercise.setdefault(check.exercise, []).append(check)
    return by_exercise
