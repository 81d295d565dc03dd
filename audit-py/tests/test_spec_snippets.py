"""The spec's Python snippets, taken from the spec's text (docs/weightslab-audit-logger.txt),
run on files written through the package.

The "Python API" example runs unchanged: its `from weightslab.backend.audit_logger import
AuditLogger` is served by a one-line `weightslab/backend/audit_logger.py` that imports from
`audited`, which is the change a WeightsLab user makes; it also runs with that import line
itself changed to `from audited import AuditLogger`. The "API Reference" example runs the same
two ways. The "Analysis Scripts" template runs with only its placeholder comment
(`# Your analysis here`) replaced by an analysis, since the template returns a name it
never defines, and after `from pathlib import Path`, which the spec imports in its earlier
example and the template uses."""

import re
import textwrap

import pytest

from audited import AuditLogger

from conftest import SPEC, run_python

SPEC_TEXT = SPEC.read_text()


def snippet(first_line, last_line):
    """The spec's code from the line starting with ``first_line`` through the first line
    after it starting with ``last_line``, dedented."""
    lines = SPEC_TEXT.splitlines()
    start = next(i for i, line in enumerate(lines) if line.strip().startswith(first_line))
    end = next(
        i for i in range(start, len(lines)) if lines[i].strip().startswith(last_line)
    )
    return textwrap.dedent("\n".join(lines[start : end + 1])) + "\n"


PYTHON_API = snippet("import json", "print(f\"By status:")
API_REFERENCE = snippet("from weightslab.backend.audit_logger import AuditLogger, AuditEvent", "# }")
ANALYSIS = snippet("def analyze_experiment(root_log_dir):", "return insights")
WEIGHTSLAB_IMPORT = "from weightslab.backend.audit_logger import AuditLogger"


def test_the_snippets_are_where_the_spec_has_them():
    assert WEIGHTSLAB_IMPORT in PYTHON_API
    assert "summary = logger.get_log_summary()" in PYTHON_API
    assert 'logger = AuditLogger(root_log_dir="/path/to/logs"' in API_REFERENCE
    assert "# Your analysis here" in ANALYSIS


@pytest.fixture
def experiment(tmp_path):
    """``root_log_dir`` (relative, as in the spec) with events written by the package, and a
    `weightslab.backend.audit_logger` module that is the one-line change."""
    logger = AuditLogger(tmp_path / "root_log_dir", "exp")
    logger.log_event("hp_change", "success", {"changed_params": {"learning_rate": 0.001}})
    logger.log_event("tag_add", "success", {"tag_name": "defect", "sample_ids": ["s1", "s2"]})
    logger.log_event("hp_change", "success", {"changed_params": {"batch_size": 64}})
    logger.log_event(
        "checkpoint_restore",
        "failed",
        {"checkpoint_id": "ckpt_001"},
        error="Checkpoint file not found",
    )
    shim = tmp_path / "shim" / "weightslab" / "backend"
    shim.mkdir(parents=True)
    (shim.parent / "__init__.py").write_text("")
    (shim / "__init__.py").write_text("")
    (shim / "audit_logger.py").write_text("from audited import AuditLogger, AuditEvent\n")
    return tmp_path


def run(experiment, code, shim):
    env = {"PYTHONPATH": str(experiment / "shim")} if shim else {}
    return run_python(code, cwd=experiment, env=env).stdout


@pytest.mark.parametrize("shim", [True, False], ids=["unchanged", "import-changed"])
def test_the_python_api_example_runs_on_our_files(experiment, shim):
    code = PYTHON_API if shim else PYTHON_API.replace(WEIGHTSLAB_IMPORT, "from audited import AuditLogger")
    out = run(experiment, code, shim).splitlines()
    hp = [line for line in out if line.startswith("At ")]
    assert len(hp) == 2
    assert hp[0].endswith("{'changed_params': {'batch_size': 64}}"), "newest first"
    assert re.match(r"At \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z: ", hp[1])
    assert "FAILED checkpoint_restore: Checkpoint file not found" in out
    assert "Total events: 4" in out
    assert "By action type: {'checkpoint_restore': 1, 'hp_change': 2, 'tag_add': 1}" in out
    assert "By status: {'failed': 1, 'success': 3}" in out


@pytest.mark.parametrize("shim", [True, False], ids=["unchanged", "import-changed"])
def test_the_api_reference_example_runs(experiment, shim):
    logs = experiment / "logs"
    code = API_REFERENCE.replace("/path/to/logs", str(logs))
    if not shim:
        code = code.replace(
            "from weightslab.backend.audit_logger import", "from audited import"
        )
    code += "print(summary)\n"
    out = run(experiment, code, shim)
    assert out.strip() == (
        "{'total_events': 2, 'by_action_type': {'checkpoint_restore': 1, 'hp_change': 1}, "
        "'by_status': {'failed': 1, 'success': 1}}"
    )
    assert (logs / "audit_log.json").is_file()


def test_the_analysis_script_template_runs(experiment):
    analysis = ANALYSIS.replace(
        "# Your analysis here",
        "insights = {'events': len(events), "
        "'failed': [e['action_type'] for e in events if e['status'] == 'failed']}",
    )
    code = "from pathlib import Path\n" + analysis + "print(analyze_experiment('root_log_dir'))\n"
    out = run(experiment, code, shim=False)
    assert out.strip() == "{'events': 4, 'failed': ['checkpoint_restore']}"
