"""Figure 2, cold start: a fresh interpreter that imports the handler and completes one quiet
scheduled run, against a floor process (see ``bench/cold_child.py``), plus the bundle size.

Two setups. The source tree (this interpreter, ``functions/`` on PYTHONPATH, bytecode cached
in the work tree), and the bundle as shipped: built by the Makefile into a temporary directory
(compiled by Python 3.13, unchecked-hash .pyc, nothing from the work tree's caches), run by
Python 3.13 with boto3 from a separate directory as the Lambda runtime provides it, writing no
bytecode (``/var/task`` is read-only); the same bundle without its .pyc shows what the
compilation saves. State lives in a moto server on 127.0.0.1 reached through
``AWS_ENDPOINT_URL``; X is the fake on 127.0.0.1; secrets come from the env backend. Product
and floor runs are interleaved and the median of each is reported.
"""

from __future__ import annotations

import glob
import importlib.metadata as md
import json
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.common import DUMMY_AWS_ENV, LOCAL, REPO, SRC_PATH, BenchX, free_port, write_config

TABLE = "mm-bench"
CHILD = Path(__file__).with_name("cold_child.py")
KEYS = ("import_s", "call_s", "total_s", "process_s", "cpu_s")
EXCLUDED = {"boto3", "botocore", "s3transfer", "jmespath", "python-dateutil", "urllib3", "six"}


def _child_env(
    endpoint: str, config: Path, pythonpath: str = SRC_PATH, write_bytecode: bool = True
) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "MENTION_MONITOR_"))}
    env.update(DUMMY_AWS_ENV)
    env.update(
        {
            "AWS_ENDPOINT_URL": endpoint,
            "PYTHONPATH": pythonpath,
            "PYTHONDONTWRITEBYTECODE": "" if write_bytecode else "1",
            "MENTION_MONITOR_CONFIG": str(config),
            "MENTION_MONITOR_SECRET_X_BEARER_TOKEN": "bench-bearer-token",
        }
    )
    return env


def _spawn(args: list[str], env: dict[str, str], python: str = sys.executable) -> dict[str, Any]:
    cpu0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.run(
        [python, *args], env=env, cwd=REPO, capture_output=True, text=True, timeout=120
    )
    wall = time.perf_counter() - t0
    cpu1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise RuntimeError(f"cold-start child failed: {proc.stderr[-2000:]}")
    out: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    out["process_s"] = wall
    out["cpu_s"] = (cpu1.ru_utime - cpu0.ru_utime) + (cpu1.ru_stime - cpu0.ru_stime)
    out["stderr"] = proc.stderr
    return out


class ColdStartRig:
    """Moto server + fake X + config, set up so that the measured runs are quiet."""

    def __init__(self) -> None:
        from moto.server import ThreadedMotoServer

        self.tmp = tempfile.TemporaryDirectory(prefix="mm-bench-cold-")
        port = free_port()
        self.moto = ThreadedMotoServer(ip_address=LOCAL, port=port, verbose=False)
        self.moto.start()
        self.endpoint = f"http://{LOCAL}:{port}"
        self.x = BenchX().start()
        from tests.fakes.xapi import make_posts

        self.x.add_posts(make_posts(5, first_id=1_000_000_000_000_000_000))
        self.config = write_config(
            Path(self.tmp.name),
            self.x.url,
            state="dynamodb",
            table=TABLE,
            notifiers={"console": 'type = "console"\nstream = "stderr"'},
        )
        self.env = _child_env(self.endpoint, self.config)
        self._create_table()
        first = _spawn([str(CHILD), "product"], self.env)  # first run: sets the cursors
        if not first["ok"]:
            raise RuntimeError(f"cold-start setup run failed: {first}")

    def _create_table(self) -> None:
        import boto3

        client = boto3.client(
            "dynamodb",
            endpoint_url=self.endpoint,
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )
        from mention_monitor.state.dynamodb import DynamoStore

        DynamoStore(TABLE, client=client).init()

    def env_for(self, pythonpath: str, write_bytecode: bool) -> dict[str, str]:
        return _child_env(self.endpoint, self.config, pythonpath, write_bytecode)

    def product(
        self,
        extra_args: list[str] | None = None,
        python: str = sys.executable,
        env: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        return _spawn([*(extra_args or []), str(CHILD), "product"], env or self.env, python)

    def floor(
        self,
        extra_args: list[str] | None = None,
        python: str = sys.executable,
        env: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        args = [*(extra_args or []), str(CHILD), "floor", self.x.url, TABLE]
        return _spawn(args, env or self.env, python)

    def close(self) -> None:
        self.x.stop()
        self.moto.stop()
        self.tmp.cleanup()


def _parse_importtime(stderr: str) -> dict[str, int]:
    """``-X importtime`` output: module -> its own import time in microseconds."""
    out: dict[str, int] = {}
    for line in stderr.splitlines():
        m = re.match(r"import time:\s+(\d+) \|\s+\d+ \|\s*(\S+)", line)
        if m:
            out[m.group(2)] = int(m.group(1))
    return out


def importtime(
    rig: ColdStartRig,
    top: int = 12,
    python: str = sys.executable,
    env: dict[str, str] | None = None,
) -> tuple[float, str, dict[str, int]]:
    """Modules the product run imports and the floor does not, by their own import time.

    Returns the total (s), a ranked listing by package, and the per-package times (us).
    """
    prod = _parse_importtime(rig.product(["-X", "importtime"], python, env)["stderr"])
    floor = _parse_importtime(rig.floor(["-X", "importtime"], python, env)["stderr"])
    extra = {name: us for name, us in prod.items() if name not in floor}
    by_package: dict[str, int] = {}
    for name, us in extra.items():
        pkg = name.split(".")[0]
        if pkg == "mention_monitor":
            pkg = ".".join(name.split(".")[:2])
        by_package[pkg] = by_package.get(pkg, 0) + us
    ranked = sorted(((us, name) for name, us in by_package.items()), reverse=True)
    lines = "\n".join(f"    {us / 1000:7.1f} ms  {name}" for us, name in ranked[:top])
    return sum(extra.values()) / 1e6, lines, by_package


def _med(rows: list[dict[str, Any]], key: str) -> float:
    return statistics.median(r[key] for r in rows)


def _check_quiet(prods: list[dict[str, Any]], floors: list[dict[str, Any]]) -> None:
    bad = [p for p in prods if p["found"] != 0 or not p["ok"]]
    if bad:
        raise RuntimeError(f"a measured cold start was not a quiet run: {bad[0]}")
    if any(not f["item"] or f["status"] != 200 for f in floors):
        raise RuntimeError("the floor process did not read the fake X and DynamoDB")


# -- the bundle as shipped -----------------------------------------------------------------------
def _python_version(python: str) -> str | None:
    try:
        proc = subprocess.run(
            [python, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
            capture_output=True,
            text=True,
            timeout=30,
        )
    except OSError:
        return None
    return proc.stdout.strip() if proc.returncode == 0 else None


def find_python313() -> str | None:
    """``LAMBDA_PYTHON``, else python3.13 on PATH, else pyenv's 3.13: one that really runs 3.13
    (a pyenv shim named python3.13 may run another version, or fail)."""
    if os.environ.get("LAMBDA_PYTHON"):
        given = os.environ["LAMBDA_PYTHON"]
        return given if _python_version(given) == "3.13" else None
    candidates = [shutil.which("python3.13")]
    for root in (os.environ.get("PYENV_ROOT"), str(Path.home() / ".pyenv")):
        if root:
            candidates += sorted(glob.glob(f"{root}/versions/3.13*/bin/python3"))
    return next((c for c in candidates if c and _python_version(c) == "3.13"), None)


@dataclass
class BuiltBundle:
    """The Makefile's bundle in a temporary directory, a copy without bytecode, and boto3."""

    python: str
    platform: str
    bundle: Path  # exactly what `make build-MonitorFunction` wrote
    bare: Path  # the same files without any .pyc: every import compiles
    runtime: Path  # boto3 for the same Python, standing in for the runtime's /var/runtime
    build_s: float


def build_bundle(workdir: Path, python: str) -> BuiltBundle:
    """Run the Makefile as ``sam build`` does (ARTIFACTS_DIR set) for this machine's platform.

    The one difference from the shipped bundle: the native wheels (pydantic-core) are for this
    machine (manylinux2014 + its architecture) instead of aarch64, so the bundle runs here.
    """
    platform = f"manylinux2014_{os.uname().machine}"
    bundle, bare, runtime = workdir / "bundle", workdir / "bundle-bare", workdir / "runtime"
    t0 = time.perf_counter()
    make = subprocess.run(
        [
            "make",
            "--no-print-directory",
            "-s",
            "build-MonitorFunction",
            f"ARTIFACTS_DIR={bundle}",
            f"LAMBDA_PYTHON={python}",
            f"LAMBDA_PLATFORM={platform}",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=900,
    )
    if make.returncode != 0:
        raise RuntimeError(f"the Makefile failed: {(make.stdout + make.stderr)[-2000:]}")
    build_s = time.perf_counter() - t0
    boto3 = ["install", "--quiet", "--disable-pip-version-check", "--target", str(runtime), "boto3"]
    pip = subprocess.run(
        [python, "-m", "pip", *boto3],
        capture_output=True,
        text=True,
        timeout=900,
    )
    if pip.returncode != 0:
        raise RuntimeError(f"installing boto3 for the runtime failed: {pip.stderr[-2000:]}")
    shutil.copytree(bundle, bare, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    return BuiltBundle(python, platform, bundle, bare, runtime, build_s)


def _pyc_count(path: Path) -> int:
    return sum(1 for _ in path.rglob("*.pyc"))


def measure_bundle(rig: ColdStartRig, built: BuiltBundle, reps: int) -> dict[str, Any]:
    """Cold starts of the shipped bundle, the same bundle without .pyc, and a 3.13 floor."""
    py = built.python
    shipped = rig.env_for(f"{built.bundle}{os.pathsep}{built.runtime}", write_bytecode=False)
    bare = rig.env_for(f"{built.bare}{os.pathsep}{built.runtime}", write_bytecode=False)
    pyc_before = _pyc_count(built.bundle)
    rows: dict[str, list[dict[str, Any]]] = {"floor": [], "shipped": [], "bare": []}
    for _ in range(reps):
        rows["floor"].append(rig.floor(python=py, env=shipped))
        rows["shipped"].append(rig.product(python=py, env=shipped))
        rows["bare"].append(rig.product(python=py, env=bare))
    _check_quiet(rows["shipped"] + rows["bare"], rows["floor"])
    if _pyc_count(built.bare) or _pyc_count(built.bundle) != pyc_before:
        raise RuntimeError("a bundle run wrote bytecode, unlike on a read-only /var/task")
    res: dict[str, Any] = {
        "python": py,
        "platform": built.platform,
        "build_s": built.build_s,
        "pyc_files": pyc_before,
        "bytes": _dir_size(built.bundle),
    }
    for kind, kind_rows in rows.items():
        res.update({f"{kind}_{k}": _med(kind_rows, k) for k in KEYS})
    res["ratio"] = res["shipped_total_s"] / res["floor_total_s"]
    res["bare_over_shipped_cpu"] = res["bare_cpu_s"] / res["shipped_cpu_s"]
    extra_s, listing, by_package = importtime(rig, python=py, env=shipped)
    res["extra_import_s"], res["importtime"] = extra_s, listing
    res["powertools_importtime_s"] = by_package.get("aws_lambda_powertools", 0) / 1e6
    pt = [_spawn([str(CHILD), "powertools"], shipped, py) for _ in range(max(reps, 11))]
    res["powertools_import_s"] = _med(pt, "call_s")
    return res


def measure(reps: int = 7, bundle: bool = True) -> dict[str, Any]:
    """Source-tree cold starts; with ``bundle``, the shipped bundle's too (needs Python 3.13
    and a package index for the Makefile's pip)."""
    rig = ColdStartRig()
    try:
        prods: list[dict[str, Any]] = []
        floors: list[dict[str, Any]] = []
        for _ in range(reps):
            floors.append(rig.floor())
            prods.append(rig.product())
        _check_quiet(prods, floors)
        res: dict[str, Any] = {
            "reps": reps,
            "api_requests": prods[0]["api_requests"],
            **{f"product_{k}": _med(prods, k) for k in KEYS},
            **{f"floor_{k}": _med(floors, k) for k in KEYS},
            "product_min_s": min(p["total_s"] for p in prods),
            "floor_min_s": min(f["total_s"] for f in floors),
        }
        res["ratio"] = res["product_total_s"] / res["floor_total_s"]
        res["ratio_process"] = res["product_process_s"] / res["floor_process_s"]
        res["extra_import_s"], res["importtime"], by_package = importtime(rig)
        res["powertools_import_s"] = by_package.get("aws_lambda_powertools", 0) / 1e6
        if bundle:
            py313 = find_python313()
            if py313 is None:
                res["bundle_skipped"] = "no Python 3.13 found (set LAMBDA_PYTHON)"
            else:
                with tempfile.TemporaryDirectory(prefix="mm-bench-bundle-") as tmp:
                    built = build_bundle(Path(tmp), py313)
                    res["bundle"] = measure_bundle(rig, built, reps)
        return res
    finally:
        rig.close()


# -- deployment bundle -------------------------------------------------------------------------
def _dir_size(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def _requirement_names(dist: md.Distribution) -> list[str]:
    names = []
    for req in dist.requires or []:
        if "extra ==" in req:
            continue
        m = re.match(r"[A-Za-z0-9_.\-]+", req)
        if m:
            names.append(m.group(0))
    return names


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def bundle_size(cold: dict[str, Any] | None = None) -> dict[str, Any]:
    """The bundle measured above if there is one, else ``.aws-sam/build`` if present, else the
    installed runtime dependency closure (minus what the Lambda runtime ships) plus
    ``functions/`` and ``notifiers/``."""
    built = (cold or {}).get("bundle")
    if built:
        return {
            "bytes": built["bytes"],
            "method": (
                f"the Makefile's bundle above, {built['pyc_files']} .pyc included; native wheels "
                f"for {built['platform']}, the shipped aarch64 ones differ a little"
            ),
            "top": [],
        }
    sam = REPO / ".aws-sam" / "build"
    if sam.is_dir():
        return {"bytes": _dir_size(sam), "method": f"size of {sam.relative_to(REPO)}", "top": []}
    seen: dict[str, int] = {}
    todo = [_norm(n) for n in _requirement_names(md.distribution("mention-monitor"))]
    while todo:
        name = todo.pop()
        if name in seen or name in EXCLUDED:
            continue
        try:
            dist = md.distribution(name)
        except md.PackageNotFoundError:
            continue
        size = 0
        for f in dist.files or []:
            p = Path(str(dist.locate_file(f)))
            if p.is_file() and "__pycache__" not in p.parts:
                size += p.stat().st_size
        seen[name] = size
        todo.extend(_norm(n) for n in _requirement_names(dist))
    own = sum(
        f.stat().st_size
        for d in ("functions", "notifiers")
        for f in (REPO / d).rglob("*.py")
    )
    total = sum(seen.values()) + own
    top = sorted(seen.items(), key=lambda kv: -kv[1])
    return {
        "bytes": total,
        "method": (
            "estimate: installed files of the runtime dependency closure (pyproject "
            "dependencies, recursively) minus boto3/botocore/s3transfer/jmespath/dateutil/"
            "urllib3/six, plus functions/ and notifiers/ sources; no .aws-sam/build found, "
            "no network used; wheels for this machine's platform "
            f"({sys.platform}, {os.uname().machine}), .pyc caches excluded"
        ),
        "top": [(n, s) for n, s in top[:6]] + [("functions+notifiers", own)],
    }


def _row(label: str, res: dict[str, Any], kind: str) -> str:
    ms = 1000
    cells = " ".join(f"{res[f'{kind}_{k}'] * ms:>7.0f}ms" for k in KEYS)
    return f"{label:<36} {cells}"


def report(res: dict[str, Any], bundle: dict[str, Any]) -> str:
    ms = 1000
    head = f"{'':<36} " + " ".join(f"{k.removesuffix('_s'):>9}" for k in KEYS)
    lines = [
        f"median of {res['reps']} interleaved runs each (imports/call/total: in-process, from "
        "the first line of the child to the end of the call; process: wall time of the whole "
        "process incl. interpreter start; cpu: its user+system CPU time)",
        f"a) source tree, Python {sys.version_info[0]}.{sys.version_info[1]}, bytecode cached in "
        "the work tree",
        head,
        _row("product (handler, quiet run)", res, "product"),
        _row("floor (imports, 1 GET, 1 GetItem)", res, "floor"),
        f"ratio product/floor: {res['ratio']:.2f} in-process total "
        f"({res['ratio_process']:.2f} whole process incl. interpreter start); goal <= 1.30",
        f"fastest of {res['reps']}: product {res['product_min_s'] * ms:.0f}ms, floor "
        f"{res['floor_min_s'] * ms:.0f}ms (ratio {res['product_min_s'] / res['floor_min_s']:.2f}); "
        f"the quiet run made {res['api_requests']} X request(s) and found 0",
        f"modules only the product imports: {res['extra_import_s'] * ms:.0f}ms of own import "
        "time (-X importtime, one run), by package:",
        res["importtime"] or "    (none)",
    ]
    b = res.get("bundle")
    if b:
        lines += [
            f"b) the bundle as shipped: `make build-MonitorFunction` into a temporary "
            f"ARTIFACTS_DIR ({b['build_s']:.0f}s), LAMBDA_PYTHON={b['python']}, "
            f"LAMBDA_PLATFORM={b['platform']} (aarch64 is shipped; this machine runs "
            f"{os.uname().machine}); boto3 from a separate directory as in the runtime; "
            "PYTHONDONTWRITEBYTECODE=1 (read-only /var/task)",
            head,
            _row("bundle, compiled (as shipped)", b, "shipped"),
            _row("bundle without .pyc", b, "bare"),
            _row("floor (Python 3.13, same paths)", b, "floor"),
            f"ratio shipped/floor: {b['ratio']:.2f} in-process total; without .pyc the same "
            f"cold start takes {b['bare_over_shipped_cpu']:.2f}x the CPU of the shipped bundle",
            f"Powertools' own import cost: {b['powertools_import_s'] * ms:.1f}ms (median of "
            "fresh interpreters importing its Logger, Metrics and LambdaContext after boto3, "
            "requests and pydantic_settings; -X importtime: "
            f"{b['powertools_importtime_s'] * ms:.1f}ms of aws_lambda_powertools.* modules)",
            f"modules only the product imports: {b['extra_import_s'] * ms:.0f}ms of own import "
            "time (-X importtime, one run), by package:",
            b["importtime"] or "    (none)",
        ]
    elif res.get("bundle_skipped"):
        lines.append(f"b) the bundle as shipped: not measured: {res['bundle_skipped']}")
    lines.append(f"deployment bundle: {bundle['bytes'] / 1e6:.1f} MB ({bundle['method']})")
    if bundle["top"]:
        lines.append(
            "    largest: " + ", ".join(f"{n} {s / 1e6:.1f} MB" for n, s in bundle["top"])
        )
    return "\n".join(lines)
