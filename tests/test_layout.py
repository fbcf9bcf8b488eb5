"""The package as users and plugin authors meet it: one import package, layers that only point
down, a plugin API that needs nothing of the run or its configuration."""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import pytest

from mention_monitor.notifiers import (
    DeliveryError,
    DeliveryResult,
    Digest,
    Mention,
    Notifier,
    NotifierOptions,
    Preview,
    Services,
)
from tests.conftest import REPO

CORE = REPO / "functions" / "mention_monitor"
NOTIFIERS = REPO / "notifiers"
PLUGIN = REPO / "examples" / "plugin" / "mention_monitor_webhook" / "__init__.py"


def _module_files() -> dict[str, Path]:
    """Every module of mention_monitor, by dotted name, from the source folders."""
    out: dict[str, Path] = {}
    for root, prefix in ((CORE, "mention_monitor"), (NOTIFIERS, "mention_monitor.notifiers")):
        for path in sorted(root.rglob("*.py")):
            if root == CORE and NOTIFIERS.name in path.relative_to(root).parts:
                continue  # the symlink to notifiers/
            rel = path.relative_to(root).with_suffix("").parts
            parts = [prefix, *rel]
            if parts[-1] == "__init__":
                parts.pop()
            out[".".join(parts)] = path
    return out


def _imports(path: Path, modules: dict[str, Path]) -> set[str]:
    """Our modules that ``path`` imports (module-level and inside functions alike)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
        found.update(n for n in names if n in modules)
    return found


def _graph() -> dict[str, set[str]]:
    modules = _module_files()
    return {name: _imports(path, modules) - {name} for name, path in modules.items()}


def test_no_import_cycle_in_mention_monitor():
    graph = _graph()
    assert len(graph) > 25  # the walk found the package
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for dep in sorted(graph[node]):
            if state.get(dep) == 1:
                cycle = stack[stack.index(dep) :] + [dep]
                pytest.fail("import cycle: " + " -> ".join(cycle))
            if dep not in state:
                visit(dep)
        stack.pop()
        state[node] = 2

    for name in sorted(graph):
        if name not in state:
            visit(name)


def test_orchestration_never_imports_the_registry_or_builds_notifiers():
    graph = _graph()
    assert "mention_monitor.notifiers.registry" not in graph["mention_monitor.run"]
    assert "mention_monitor.wiring" not in graph["mention_monitor.run"]
    assert "mention_monitor.notifiers.registry" in graph["mention_monitor.wiring"]


@pytest.mark.parametrize("name", ["search.py", "delivery.py", "run.py"])
def test_each_layer_of_a_run_is_under_250_lines(name):
    lines = (CORE / name).read_text(encoding="utf-8").count("\n")
    assert lines < 250, f"{name} has {lines} lines"


def test_notifiers_import_only_the_plugin_api_and_leaf_modules():
    leaf = {"errors", "http", "logs", "models", "services", "clock", "aws", "schedule"}
    for path in sorted(NOTIFIERS.glob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module:
                mod = node.module
            elif isinstance(node, ast.Import):
                mod = node.names[0].name
            else:
                continue
            assert "pydantic_settings" not in mod, path.name
            if not mod.startswith("mention_monitor") or mod.startswith("mention_monitor.notifiers"):
                continue
            # Only the API module and the base that defines it reach into the core's leaves.
            assert path.name in ("__init__.py", "base.py"), f"{path.name} imports {mod}"
            assert mod.split(".")[1] in leaf, f"{path.name} imports {mod}"
        assert "assert isinstance" not in path.read_text(encoding="utf-8"), path.name


def test_importing_every_notifier_loads_neither_the_configuration_nor_the_run():
    code = textwrap.dedent(
        """
        import sys
        import mention_monitor.notifiers as api
        from mention_monitor.notifiers import console, email, file, registry, slack, sms
        bad = [m for m in ("pydantic_settings", "mention_monitor.config", "mention_monitor.run",
                           "mention_monitor.search", "mention_monitor.delivery") if m in sys.modules]
        print(",".join(bad) or "clean")
        """
    )
    proc = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONPATH": str(REPO / "functions")},
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "clean"


def test_the_plugin_example_uses_only_the_public_api():
    source = PLUGIN.read_text(encoding="utf-8")
    ours = {
        n.module
        for n in ast.walk(ast.parse(source))
        if isinstance(n, ast.ImportFrom) and n.module and n.module.startswith("mention_monitor")
    }
    assert ours == {"mention_monitor.notifiers"}
    assert "assert isinstance" not in source and "import mention_monitor." not in source


def test_notifier_is_generic_in_its_options():
    class PagerOptions(NotifierOptions):
        url_secret: str = "pager_url"

    class Pager(Notifier[PagerOptions]):
        type_name = "pager"

        def _deliver(self, digest: Digest) -> DeliveryResult:
            if "down" in self.options.url_secret:
                raise DeliveryError("pager refused")
            return self.accepted(digest.mentions)

        def preview(self, digest: Digest) -> Preview:
            return Preview(self.options.url_secret, "text/plain")

    assert Pager.Options is PagerOptions  # taken from the generic argument
    clock_services = Services()
    n = Pager("p", PagerOptions(type="pager"), secrets=_NoSecrets(), services=clock_services)
    assert n.services is clock_services
    digest = Digest("Acme", (Mention(id=5, text="acme"),))
    assert n.send(digest).delivered_through == 5
    down = Pager("p", PagerOptions(type="pager", url_secret="down"), secrets=_NoSecrets())
    assert down.send(digest).error == "pager refused"
    assert isinstance(down.services, Services)


class _NoSecrets:
    def get(self, key: str) -> str:
        raise AssertionError(key)


def _build_wheel(tmp_path: Path) -> Path:
    """Build the wheel from a copy of the sources (setuptools writes build/ beside them)."""
    src = tmp_path / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, src / name)
    shutil.copytree(REPO / "functions", src / "functions", symlinks=True)
    shutil.copytree(REPO / "notifiers", src / "notifiers")
    out = tmp_path / "dist"
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
         "--quiet", "--wheel-dir", str(out), str(src)],
        capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    (wheel,) = out.glob("mention_monitor-*.whl")
    return wheel


def test_the_wheel_installs_one_top_level_package(tmp_path):
    wheel = _build_wheel(tmp_path)
    names = zipfile.ZipFile(wheel).namelist()
    tops = {n.split("/")[0] for n in names}
    assert tops == {"mention_monitor", wheel.name.split("-py3")[0] + ".dist-info"}
    for need in ("mention_monitor/handler.py", "mention_monitor/__main__.py",
                 "mention_monitor/notifiers/slack.py", "mention_monitor/state/dynamodb.py",
                 "mention_monitor/py.typed"):
        assert need in names
    assert not [n for n in names if n.startswith(("functions/", "notifiers/", "tests/"))]
    entry_points = next(n for n in names if n.endswith("entry_points.txt"))
    text = zipfile.ZipFile(wheel).read(entry_points).decode()
    assert "mention-monitor = mention_monitor.cli:main" in text


def test_a_foreign_top_level_notifiers_package_changes_nothing(tmp_path):
    """PyPI's ``notifiers`` installs a top-level ``notifiers/``: ours is not one."""
    foreign = tmp_path / "site" / "notifiers"
    foreign.mkdir(parents=True)
    (foreign / "__init__.py").write_text("raise ImportError('the other notifiers package')\n")
    code = (
        "import mention_monitor.notifiers.slack as s, mention_monitor.handler as h; "
        "print(s.__name__, h.handler.__module__)"
    )
    path = os.pathsep.join((str(tmp_path / "site"), str(REPO / "functions")))
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
        env={**os.environ, "PYTHONPATH": path},
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["mention_monitor.notifiers.slack", "mention_monitor.handler"]


def test_python_dash_m_mention_monitor_runs_the_cli():
    proc = subprocess.run(
        [sys.executable, "-m", "mention_monitor", "--help"], capture_output=True, text=True,
        timeout=60, env={**os.environ, "PYTHONPATH": str(REPO / "functions")},
    )
    assert proc.returncode == 0 and "usage: mention-monitor" in proc.stdout
    for command in ("run", "check", "state", "preview", "secrets"):
        assert command in proc.stdout
