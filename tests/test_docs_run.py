"""Docs that run: every command and name in README.md, docs/*.md and deploy/README.md resolves, so a
rename can never silently break a documented command again. ``make`` targets exist; ``python -m
autograder ...`` parses with today's command line; ``python -m module`` finds its module; a ``python
-c`` snippet that imports the grader runs; paths, tests and dotted names of the package exist."""

from __future__ import annotations

import importlib
import importlib.util
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from autograder import cli
from autograder.course import catalogue
from conftest import ROOT

DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")), ROOT / "deploy" / "README.md"]
PACKAGE = ROOT / "autograder"
# every module and package of ours by its last name (``privileges`` -> autograder.sandbox.privileges)
OURS: dict[str, list[str]] = {}
for _path in sorted(PACKAGE.rglob("*.py")):
    if "__pycache__" not in _path.parts:
        _dotted = ".".join(_path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
        OURS.setdefault(_dotted.rsplit(".", 1)[-1], []).append(_dotted)


def snippets(path: Path) -> list[str]:
    """The code a doc shows: each line of its fenced blocks (continuations joined) and each inline span."""
    text = path.read_text(encoding="utf-8")
    found = []
    for block in re.findall(r"```[^\n]*\n(.*?)```", text, flags=re.S):
        found += [line.strip() for line in block.replace("\\\n", " ").splitlines() if line.strip()]
    prose = re.sub(r"```.*?```", "", text, flags=re.S)
    found += re.findall(r"`([^`\n]+)`", prose)
    return found


def commands(path: Path, head: str) -> list[str]:
    """Each command of the doc starting with ``head`` (wherever it stands in a snippet), comment cut."""
    found = []
    for snippet in snippets(path):
        for part in re.split(r"&&|\|\||\bor:", snippet):
            part = re.sub(r"\S*/python3?(\.\d+)? ", "python ", part.split(" # ", 1)[0])  # .venv/bin/python, /opt/…
            if head in part and (head != "make " or re.match(r"(sudo |# )*make ", part.strip())):
                found.append(part[part.index(head) :].strip())
    return found


each_doc = pytest.mark.parametrize("doc", DOCS, ids=[str(d.relative_to(ROOT)) for d in DOCS])


def make_targets() -> set[str]:
    files = [ROOT / "Makefile", *sorted((ROOT / "mk").glob("*.mk"))]
    return {t for f in files for t in re.findall(r"^([a-zA-Z][a-zA-Z0-9_-]*):", f.read_text(), flags=re.M)}


@pytest.mark.pure
@each_doc
def test_every_make_target_in_the_docs_exists(doc):
    targets = make_targets()
    named = [c.split()[1] for c in commands(doc, "make ") if len(c.split()) > 1]
    named = [t for t in named if re.fullmatch(r"[a-z][a-z0-9-]*", t)]  # `make grade EX=…`, not `make -C`
    assert set(named) <= targets, sorted(set(named) - targets)


@pytest.mark.pure
@each_doc
def test_every_python_command_in_the_docs_parses(doc):
    for command in commands(doc, "python -m "):
        words = shlex.split(command.replace("…", "x"))
        module, argv = words[2], words[3:]
        if argv[:1] == ["VERB"]:
            continue  # `python -m autograder VERB`: the verbs are listed beside it
        placeholders = {"N": "1", "EX": "losses.nll_loss"}  # `repro EX N`, `--submission DIR`
        argv = [placeholders.get(w, "x") if re.fullmatch(r"[A-Z]+", w) else w for w in argv]
        if module == "autograder":
            if argv and argv[0] in cli.HANDED_ON:
                continue  # parsed by its own module, found below
            try:
                cli.parser().parse_args(argv)
            except SystemExit as exc:
                if exc.code == 0:  # --help
                    continue
                pytest.fail(f"{doc.name}: `{command}` does not parse ({exc})")
        else:
            assert importlib.util.find_spec(module) is not None, f"{doc.name}: `{command}`: no module {module}"


@each_doc
def test_every_python_snippet_of_ours_in_the_docs_runs(doc):
    for command in commands(doc, "python -c "):
        code = shlex.split(command.replace("''", "'").rstrip("'"))[2]
        if "autograder" not in code:
            continue
        proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, f"{doc.name}: `{code}` fails: {proc.stderr[-500:]}"


def resolve(name: str) -> bool:
    """A dotted name of ours (``launcher.post``, ``autograder.feedback.repro``) names something; an
    exercise id (``losses.nll_loss``) is a name of ours too."""
    parts = name.split(".")
    if name in catalogue.BY_ID or parts[0] not in OURS | {"autograder": []}:
        return True  # an exercise, or not ours (torch.save, sys.path)
    starts = ["autograder"] if parts[0] == "autograder" else OURS[parts[0]]
    return any(_found(start, parts[1:]) for start in starts)


def _found(module: str, parts: list[str]) -> bool:
    target = importlib.import_module(module)
    while parts and hasattr(target, "__path__") and importlib.util.find_spec(f"{module}.{parts[0]}"):
        module, parts = f"{module}.{parts[0]}", parts[1:]
        target = importlib.import_module(module)
    for part in parts:
        if not hasattr(target, part):
            return False
        target = getattr(target, part)
    return True


def names(doc: Path) -> list[str]:
    found = []
    for snippet in snippets(doc):
        found += re.findall(r"(?<![\w/.-])([A-Za-z_]\w*(?:\.[A-Za-z_]\w*)+)(?![\w/-])", snippet)
    return [n for n in found if not re.search(r"\.(py|md|json|csv|zip|ipynb|yaml|txt|db|toml|html|sh)$", n)]


@pytest.mark.pure
@each_doc
def test_every_dotted_name_of_ours_in_the_docs_exists(doc):
    missing = sorted({n for n in names(doc) if not resolve(n)})
    assert not missing, f"{doc.name} names what does not exist: {missing}"


@pytest.mark.pure
@each_doc
def test_every_path_and_test_named_in_the_docs_exists(doc):
    tests = "\n".join(p.read_text(encoding="utf-8") for p in (ROOT / "tests").glob("*.py"))
    missing = []
    for snippet in snippets(doc):
        for path in re.findall(r"(?<![\w/.])((?:[\w-]+/)+[\w-]+\.py)(?:::(\w+))?", snippet):
            file, test = path
            if not any((base / file).exists() for base in (ROOT, PACKAGE)):
                missing.append(file)
            elif test and f"def {test}(" not in (ROOT / file).read_text(encoding="utf-8"):
                missing.append(f"{file}::{test}")
        for test in re.findall(r"^(test_\w+)$", snippet):
            if f"def {test}(" not in tests:
                missing.append(test)
    assert not missing, f"{doc.name} names what does not exist: {sorted(set(missing))}"
