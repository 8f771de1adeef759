"""Hostile ``--tools`` specs, run as a user would (the console script in a fresh folder)."""

from __future__ import annotations

from pathlib import Path

import pytest
from cli_helpers import async_agent


@pytest.mark.parametrize("spec, source, said", [
    ("script:TOOLS", "import sys\nTOOLS = []\nsys.exit(0)\n",
     "--tools script:TOOLS: importing 'script' called sys.exit(0)"),
    ("factory:make_tools", "def make_tools():\n    raise RuntimeError('the tools need a database')\n",
     "--tools factory:make_tools: it is a function, called with no arguments to get the tools, and it raised "
     "RuntimeError: the tools need a database"),
    ("os.path:join", None, "--tools os.path:join: it is a function, called with no arguments to get the tools, "
     "and it raised TypeError"),
], ids=["sys.exit at import", "factory raises", "a function that needs arguments"])
def test_a_broken_tools_spec_fails_with_its_name_and_a_nonzero_code(tmp_path: Path, spec: str, source: str | None,
                                                                     said: str) -> None:
    # Found: a module calling sys.exit(0) at import ended the command with code 0, having run nothing;
    # a factory that raised printed only its message ("the tools need a database"), not which spec.
    if source is not None:
        (tmp_path / f"{spec.partition(':')[0]}.py").write_text(source)
    proc = async_agent(["run", "hi", "--tools", spec], tmp_path, timeout=60)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert said in proc.stderr
    assert "Traceback" not in proc.stderr
