"""``.ci/sam.sh`` (issue 9.13): it installs what it runs (cfn-lint beside aws-sam-cli in its own
venv) and takes a Python 3.13 only when that interpreter really runs and says 3.13 (a pyenv shim
named python3.13 may run another version, or fail)."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO

SAM_SH = REPO / ".ci" / "sam.sh"
pytestmark = pytest.mark.skipif(shutil.which("bash") is None, reason="bash is not installed")


def _is_py313(candidate: str) -> bool:
    """Run sam.sh's own ``is_py313`` function (cut from the script, not a copy of it)."""
    text = SAM_SH.read_text(encoding="utf-8")
    fn = re.search(r"^is_py313\(\) \{.*?^\}", text, re.S | re.M)
    assert fn, "sam.sh has no is_py313 function"
    proc = subprocess.run(
        ["bash", "-c", fn.group(0) + '\nis_py313 "$1"', "sam-sh-test", candidate],
        capture_output=True, text=True, timeout=30,
    )
    return proc.returncode == 0


def _fake_python(tmp_path: Path, name: str, body: str) -> str:
    path = tmp_path / name
    path.write_text(f"#!/usr/bin/env bash\n{body}\n", encoding="utf-8")
    path.chmod(0o755)
    return str(path)


def test_a_python_that_says_another_version_or_fails_is_not_313(tmp_path):
    assert not _is_py313(_fake_python(tmp_path, "python3.13", "echo 3.11"))
    shim = _fake_python(tmp_path, "broken3.13", "echo 'pyenv: no such version' >&2; exit 127")
    assert not _is_py313(shim)
    assert not _is_py313(str(tmp_path / "missing-python3.13"))
    assert not _is_py313("")
    assert _is_py313(_fake_python(tmp_path, "real3.13", "echo 3.13"))


def test_this_interpreter_is_judged_by_what_it_runs():
    assert _is_py313(sys.executable) == (sys.version_info[:2] == (3, 13))


def test_sam_sh_installs_cfn_lint_and_sam_before_running_them():
    text = SAM_SH.read_text(encoding="utf-8")
    install_cfn = text.index('quiet_pip "cfn-lint')
    install_sam = text.index("quiet_pip aws-sam-cli")
    assert install_cfn < text.index("$CFN_LINT template.yaml")
    assert install_sam < text.index("$SAM validate")
    # a LAMBDA_PYTHON that is not a working 3.13 stops the script: no silent fallback
    assert re.search(r'is_py313 "\$LAMBDA_PYTHON" \|\| \{[^}]*exit 1', text)
