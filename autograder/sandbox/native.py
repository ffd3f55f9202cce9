"""The C++ op recorder (``oprec.cpp``): built once into the virtual environment, loaded by the worker.

``python -m autograder op-recorder build`` compiles it with PyTorch's own extension builder
(``make`` does this after installing the environment; it needs a C++ compiler). The build
writes a stamp of the source, torch and Python beside the library; ``load`` returns the module
only while the stamp still matches, so an edited source or another torch never runs a stale
library. Without it the worker records with the Python ``OpRecorder``: the same reports, slower.
``AUTOGRADER_NATIVE_RECORDER=0`` asks for the Python recorder.
"""

from __future__ import annotations

import hashlib
import importlib.machinery
import importlib.util
import os
import platform
import shutil
import sys
import tempfile
from pathlib import Path
from types import ModuleType

import torch

SOURCE = Path(__file__).with_name("oprec.cpp")
NAME = "autograder_oprec"
SWITCH = "AUTOGRADER_NATIVE_RECORDER"


def folder() -> Path:
    """Where the library lives: inside the virtual environment, whose interpreter runs the worker."""
    return Path(sys.prefix) / "autograder-native"


def stamp() -> str:
    """What the library was built from: its source, torch, the interpreter and the machine."""
    parts = [SOURCE.read_bytes(), torch.__version__.encode(), sys.version.encode(), platform.machine().encode()]
    return hashlib.sha256(b"\0".join(parts)).hexdigest()


def _library() -> Path:
    return folder() / f"{NAME}.so"


def load() -> ModuleType | None:
    """The built recorder, or None (not built, built from something else, or switched off)."""
    if os.environ.get(SWITCH) == "0":
        return None
    library, stamped = _library(), folder() / "stamp"
    try:
        if not library.is_file() or stamped.read_text().strip() != stamp():
            return None
    except OSError:
        return None
    spec = importlib.util.spec_from_file_location(NAME, library)
    if spec is None or spec.loader is None:
        return None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def build(verbose: bool = False) -> Path:
    """Compiles the recorder into ``folder()`` (atomically: a half-built library is never loaded)."""
    from torch.utils import cpp_extension  # slow (setuptools, its compilers' lookup): only a build needs it

    target = folder()
    target.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target, prefix="build-") as work:
        cpp_extension.load(
            name=NAME,
            sources=[str(SOURCE)],
            build_directory=work,
            extra_cflags=["-O2"],
            verbose=verbose,
            is_python_module=True,
        )
        built = Path(work) / f"{NAME}.so"
        os.replace(built, _library())
        (Path(work) / "stamp").write_text(stamp() + "\n")
        os.replace(Path(work) / "stamp", target / "stamp")
    return _library()


def main(argv: list[str]) -> int:
    if argv[:1] == ["build"]:
        if shutil.which(os.environ.get("CXX", "c++")) is None:
            print("the native op recorder needs a C++ compiler (apt-get install g++): grading works without it, slower")
            return 0
        try:
            path = build(verbose="--verbose" in argv)
        except Exception as exc:  # noqa: BLE001 - a failed optional build must not stop the set-up
            print(f"the native op recorder did not build ({exc}): grading works without it, slower")
            return 0 if "--optional" in argv else 1
        print(f"built the native op recorder: {path}")
        return 0
    if argv[:1] == ["check"]:
        return 0 if load() is not None else 1
    print("usage: python -m autograder op-recorder build [--optional] [--verbose] | check")
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
