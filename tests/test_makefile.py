"""The Makefile refuses to run without ARTIFACTS_DIR or without a real Python 3.13."""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest

from tests.conftest import REPO

pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")


def make(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["make", "--no-print-directory", "build-MonitorFunction", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_refuses_without_artifacts_dir():
    proc = make()
    assert proc.returncode == 2
    assert "make: run through 'sam build' (ARTIFACTS_DIR is not set)" in proc.stderr


@pytest.mark.parametrize(
    ("python", "reports"),
    [(sys.executable, "{}.{}".format(*sys.version_info[:2])), ("no-such-python3.13", "nothing")],
)
def test_refuses_a_python_that_is_not_3_13(tmp_path, python, reports):
    if reports == "3.13":
        pytest.skip("this interpreter is 3.13")
    out = tmp_path / "bundle"
    proc = make(f"ARTIFACTS_DIR={out}", f"LAMBDA_PYTHON={python}")
    assert proc.returncode == 2
    assert f"make: LAMBDA_PYTHON={python} is not a working Python 3.13 (it reports: " in proc.stderr
    assert reports in proc.stderr
    assert not out.exists()  # nothing was installed or written
