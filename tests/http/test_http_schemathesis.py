"""Schemathesis fuzzes a running server from its own ``/openapi.json``: no 5xx, and every answer
matches the documented status codes, content types and response schemas.

``positive_data_acceptance`` is left out on purpose: the document cannot express every rule the
server checks (kind-specific stock fields, unique order line ids), so some schema-valid bodies are
rightly refused with 422.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from http_kit import TOKEN, Server, sqlite_available

# The venv's own script first: the tests run as ``.venv/bin/python -m pytest`` without the venv
# on PATH, and a silent skip would hide the fuzzing.
_BESIDE = Path(sys.executable).with_name("schemathesis")
SCHEMATHESIS = str(_BESIDE) if _BESIDE.exists() else shutil.which("schemathesis")


@pytest.mark.slow
@pytest.mark.skipif(SCHEMATHESIS is None, reason="schemathesis is not installed")
@pytest.mark.skipif(not sqlite_available(), reason="engine.store.sqlite missing")
def test_fuzzing_the_documented_api_finds_no_server_error(tmp_path: Path) -> None:
    server = Server(f"sqlite:{tmp_path / 'fuzz.sqlite3'}", log=tmp_path / "log").start()
    try:
        result = subprocess.run(
            [
                str(SCHEMATHESIS),
                "run",
                f"{server.url}/openapi.json",
                "--checks",
                "all",
                "--exclude-checks",
                "positive_data_acceptance",
                "--max-examples",
                "25",
                "--seed",
                "20261127",
                "--workers",
                "2",
                "--header",
                f"Authorization: Bearer {TOKEN}",
                "--generation-database",
                "none",
                "--no-color",
            ],
            capture_output=True,
            text=True,
            timeout=100,
            check=False,
            cwd=tmp_path,
        )
    finally:
        server.stop()
    summary = result.stdout[-3000:]
    assert result.returncode == 0, summary
    assert " passed" in summary
    assert "Traceback" not in server.output()
