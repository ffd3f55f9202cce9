"""The sandbox policy is declared once: what it renders is today's walls, and docs/security.md shows it whole."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import pytest

from autograder.nbcourse import wall
from autograder.protocol import policy
from autograder.sandbox import privileges
from autograder.scoring import launcher, results
from conftest import ROOT

pytestmark = pytest.mark.pure

# Rendered by the hand-written launcher, kernel wall and seccomp filter before the policy existed,
# on the fixed host it holds (a linked /bin, a missing /sbin, a Python environment under /tmp, GPUs).
GOLDEN = json.loads((Path(__file__).parent / "golden" / "sandbox_walls.json").read_text(encoding="utf-8"))
SECURITY = ROOT / "docs" / "security.md"


@pytest.fixture
def golden_host(monkeypatch):
    fixed = GOLDEN["host"]
    host = launcher.Host(
        bwrap=fixed["bwrap"],
        executable=fixed["executable"],
        links=fixed["links"],
        dirs=tuple(fixed["dirs"]),
        files=tuple(fixed["files"]),
        python_roots=tuple(fixed["python_roots"]),
        gpus=tuple(fixed["gpus"]),
    )
    monkeypatch.setattr(launcher.Host, "here", classmethod(lambda cls, wall: host))
    monkeypatch.setattr(launcher, "PACKAGE_DIR", Path(fixed["package_dir"]))
    for name in {*policy.WORKER.env_passed, *policy.KERNEL.env_passed}:
        monkeypatch.delenv(name, raising=False)


@pytest.mark.parametrize("who, euid", [("root", 0), ("user", 1000)])
def test_the_workers_bwrap_command_is_rendered_as_before(golden_host, monkeypatch, who, euid):
    monkeypatch.setattr(launcher.os, "geteuid", lambda: euid)
    argv, env, scratch = launcher.command(launcher.Sandbox("bwrap", ""), "/tmp/grade-inbox-x")
    assert (argv, env, scratch) == tuple(GOLDEN[f"launcher_{who}"][key] for key in ("argv", "env", "scratch"))


@pytest.mark.parametrize("who, uid", [("root", 1234567890), ("user", None)])
def test_the_kernels_bwrap_command_is_rendered_as_before(golden_host, who, uid):
    assert wall.command(Path("/tmp/nbgrader-wall-x"), "ps1", uid, 30) == GOLDEN[f"wall_{who}"]


@pytest.mark.parametrize("machine", ["x86_64", "aarch64"])
def test_the_seccomp_filter_is_rendered_as_before(machine):
    program = privileges.seccomp_program(policy.WORKER, machine)
    assert b"".join(struct.pack("HBBI", *insn) for insn in program).hex() == GOLDEN[f"seccomp_{machine}"]


@pytest.mark.parametrize("machine", sorted(privileges._SYSCALLS))
def test_every_syscall_the_policy_names_is_known_on_every_machine(machine):
    known = privileges._SYSCALLS[machine][1]
    assert {*policy.WORKER.seccomp_refused, *policy.WORKER.seccomp_enosys, "clone"} <= set(known)


def test_a_passed_variable_reaches_the_worker(golden_host, monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "3")
    argv, env, _ = launcher.command(launcher.Sandbox("bwrap", ""), "/tmp/grade-inbox-x")
    assert env["CUDA_VISIBLE_DEVICES"] == "3"
    assert ["--setenv", "CUDA_VISIBLE_DEVICES", "3"] == argv[argv.index("CUDA_VISIBLE_DEVICES") - 1 :][:3]


def test_the_limits_default_to_the_policy():
    assert results.Limits().memory_mb == policy.WORKER.address_space_mb
    assert launcher.SCRATCH_BYTES == 512 * 2**20 == policy.WORKER.scratch_bytes


def test_only_bwrap_gives_the_worker_its_pid_namespace_variable():
    assert (policy.WORKER.own_pid_variable, "1") in policy.WORKER.env_bwrap
    assert policy.WORKER.own_pid_variable not in dict(policy.WORKER.env)


def test_the_security_docs_show_every_wall_of_the_policy():
    """docs/security.md holds the table ``python -m autograder.protocol.policy`` prints (regenerate it so)."""
    text = SECURITY.read_text(encoding="utf-8")
    start = text.index(policy.TABLE_HEADER)
    assert text[start : start + len(policy.markdown_table())] == policy.markdown_table()


def test_every_wall_says_what_it_walls():
    fields = policy.fields(policy.Policy)
    assert all(field.metadata.get("doc") for field in fields)
    assert len(policy.markdown_table().splitlines()) == len(fields) + 2
