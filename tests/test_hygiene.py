"""Test hygiene across the whole suite: every test dependency is used, no registered notifier
type outlives its test."""

from __future__ import annotations

import ast
import re
import tomllib

from mention_monitor.notifiers import registry
from tests.conftest import REPO

#: How each test dependency is used when it is not imported by name: tools the checks run,
#: stubs mypy reads for packages the product imports, the wheel build in tests/test_layout.py.
TOOLS = {
    "ruff": "python -m ruff in .ci/run",
    "mypy": "python -m mypy in .ci/run",
    "types-requests": "stubs for mypy: mention_monitor imports requests",
    "types-cachetools": "stubs for mypy: mention_monitor imports cachetools",
    "setuptools": "pip wheel --no-build-isolation in tests/test_layout.py",
    "wheel": "pip wheel --no-build-isolation in tests/test_layout.py",
}
#: Distribution name -> the module it provides, where they differ.
MODULE = {"cfn-lint": "cfnlint", "aws-sam-translator": "samtranslator"}


def _test_requirements() -> list[str]:
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    return [
        re.split(r"[\[<>=!~;\s]", req, maxsplit=1)[0].lower()
        for req in project["optional-dependencies"]["test"]
    ]


def _imported_top_level_modules() -> set[str]:
    found: set[str] = set()
    for folder in ("tests", "bench"):
        for path in (REPO / folder).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.Import):
                    found.update(a.name.split(".")[0] for a in node.names)
                elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                    found.add(node.module.split(".")[0])
    return found


def test_every_test_dependency_is_used():
    imported = _imported_top_level_modules()
    ci = (REPO / ".ci" / "run").read_text(encoding="utf-8")
    layout = (REPO / "tests" / "test_layout.py").read_text(encoding="utf-8")
    product = (REPO / "functions" / "mention_monitor").rglob("*.py")
    product_text = "\n".join(p.read_text(encoding="utf-8") for p in product)
    unused = []
    for dist in _test_requirements():
        if dist in TOOLS:
            if dist in ("ruff", "mypy"):
                ok = f"-m {dist}" in ci
            elif dist.startswith("types-"):
                ok = re.search(rf"^\s*(import|from) {dist[6:]}\b", product_text, re.M) is not None
            else:
                ok = "--no-build-isolation" in layout
        else:
            ok = MODULE.get(dist, dist.replace("-", "_")) in imported
        if not ok:
            unused.append(dist)
    assert unused == [], f"test dependencies nothing uses: {unused}"


def test_every_module_the_tests_import_is_declared_or_the_products():
    """What tests and bench import comes from the product's dependencies, the test extra,
    the standard library or this repository: nothing is used only by accident of install."""
    import sys

    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    names = [
        re.split(r"[\[<>=!~;\s]", req, maxsplit=1)[0].lower()
        for req in project["dependencies"] + project["optional-dependencies"]["test"]
    ]
    declared = {MODULE.get(n, n.replace("-", "_")) for n in names}
    declared |= {"boto3", "botocore", "aws_lambda_powertools", "pydantic", "pydantic_settings",
                 "vaderSentiment", "requests_oauthlib"}  # imported under their module names
    ours = {"mention_monitor", "tests", "bench", "mention_monitor_webhook"}
    stray = sorted(
        m for m in _imported_top_level_modules()
        if m not in sys.stdlib_module_names and m not in declared | ours and m != "__future__"
    )
    assert stray == []


def test_no_notifier_type_registered_by_a_test_is_left_behind():
    """The suite-wide guard (tests/conftest.py) compares the registry around every test; here
    it is seen to work: a type registered outside the fixture is reported."""
    from tests.conftest import registry_leftovers

    before = registry_leftovers()
    registry.register("leftover-probe", object)  # type: ignore[arg-type]
    try:
        assert registry_leftovers() - before == {"leftover-probe"}
    finally:
        registry.unregister("leftover-probe")
    assert registry_leftovers() == before
