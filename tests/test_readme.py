"""The README's Python examples run as written (a block preceded by `<!-- not run -->` is skipped)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"
BLOCK = re.compile(r"(<!-- not run -->\s*)?```python\n(.*?)```", re.S)


def blocks() -> list[tuple[int, str]]:
    text = README.read_text()
    found = []
    for match in BLOCK.finditer(text):
        if not match.group(1):
            found.append((text[: match.start()].count("\n") + 1, match.group(2)))
    return found


@pytest.mark.parametrize(("line", "code"), blocks(), ids=lambda v: f"line{v}" if isinstance(v, int) else "")
def test_readme_block_runs(line, code, tmp_path):
    script = tmp_path / "example.py"
    script.write_text(code)
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120, cwd=tmp_path,
                         env={"LITELLM_LOCAL_MODEL_COST_MAP": "True", "PATH": "/usr/bin:/bin"})
    assert out.returncode == 0, f"README block at line {line} failed:\n{out.stderr[-3000:]}"
    expected = re.findall(r"print\(.*\)\s*# (.+)", code)
    for value in expected:  # a "# value" comment after a print() is what it must print
        assert value.strip() in out.stdout, f"line {line}: expected {value!r} in output {out.stdout!r}"
