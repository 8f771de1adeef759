"""schemathesis against the live server's /openapi.json: no 5xx, responses match the schema."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

# Every check but two that do not fit this API by design:
# - positive_data_acceptance: `parameters` is a free-form object in the schema (its shape
#   depends on task_type, see GET /task-types), so schema-valid bodies can rightly get a 422.
# - use_after_free: DELETE cancels a task or run; the record stays readable (200) on purpose.
EXCLUDED = "positive_data_acceptance,use_after_free"


def test_the_api_conforms_to_its_openapi_schema(start_service, tmp_path):
    service = start_service(tmp_path / "schema.db", SERVICE_RUNS="1")  # with /runs
    st = Path(sys.executable).parent / "st"
    command = [
        str(st), "run", f"{service.url}/openapi.json",
        "-H", f"Authorization: Bearer {service.token}",
        "--checks", "all", "--exclude-checks", EXCLUDED,
        "--phases", "examples,coverage,fuzzing,stateful", "--max-examples", "25", "--max-time", "30",
        "--seed", "20261124", "--workers", "1",  # 2 threads race in CPython 3.11.7 ast.parse (SystemError)
        "--request-timeout", "40",
        "--max-response-time", "40",  # long-polls answer after up to `wait` (<= 30) seconds by design
        "--report", "junit", "--report-dir", str(tmp_path),
    ]
    done = subprocess.run(command, check=False, capture_output=True, text=True, timeout=240, cwd=tmp_path)
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-8000:]
    assert "Server error" not in output
    assert "15 selected / 15 total" in output, output[-3000:]
