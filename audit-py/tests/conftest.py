"""Shared fixtures: a clean ``AUDIT_LOG_FORMAT``, the repository's paths, child Python
processes, and the process-wide global logger reset around the tests that install one."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import audited

PACKAGE_DIR = Path(__file__).resolve().parents[1]
REPO_DIR = PACKAGE_DIR.parent
SPEC = REPO_DIR / "docs" / "weightslab-audit-logger.txt"
REFERENCE_FIXTURES = REPO_DIR / "audit-runtime" / "tests" / "fixtures" / "reference"


@pytest.fixture(autouse=True)
def no_format_env(monkeypatch):
    """Every test starts without AUDIT_LOG_FORMAT; the ones about it set it themselves."""
    monkeypatch.delenv("AUDIT_LOG_FORMAT", raising=False)


@pytest.fixture
def global_logger(tmp_path):
    """A JSON logger installed as the global one for the test, removed afterwards."""
    audited.shutdown()
    logger = audited.AuditLogger(tmp_path / "global", "decorated", format="json")
    audited.init(logger)
    yield logger
    audited.shutdown()


def load_json(path):
    with open(path) as f:
        return json.load(f)


def run_python(code, *args, cwd=None, env=None, check=True):
    """Runs ``code`` in a child Python process with this interpreter (which has the package)."""
    full_env = dict(os.environ)
    full_env.pop("AUDIT_LOG_FORMAT", None)
    full_env.update(env or {})
    result = subprocess.run(
        [sys.executable, "-c", code, *map(str, args)],
        cwd=cwd,
        env=full_env,
        capture_output=True,
        text=True,
    )
    if check and result.returncode != 0:
        raise AssertionError(
            f"child python failed ({result.returncode}):\n{result.stdout}\n{result.stderr}"
        )
    return result
