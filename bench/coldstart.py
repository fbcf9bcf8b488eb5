"""Figure 2, cold start: a fresh interpreter that imports the handler and completes one quiet
scheduled run, against a floor process (see ``bench/cold_child.py``), plus the bundle size.

State lives in a moto server on 127.0.0.1 reached through ``AWS_ENDPOINT_URL``; X is the fake
on 127.0.0.1; secrets come from the env backend. Product and floor runs are interleaved and
the median of each is reported.
"""

from __future__ import annotations

import importlib.metadata as md
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import DUMMY_AWS_ENV, LOCAL, REPO, BenchX, free_port, write_config

TABLE = "mm-bench"
CHILD = Path(__file__).with_name("cold_child.py")
KEYS = ("import_s", "call_s", "total_s", "process_s")
EXCLUDED = {"boto3", "botocore", "s3transfer", "jmespath", "python-dateutil", "urllib3", "six"}


def _child_env(endpoint: str, config: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "MENTION_MONITOR_"))}
    env.update(DUMMY_AWS_ENV)
    env.update(
        {
            "AWS_ENDPOINT_URL": endpoint,
            "PYTHONPATH": str(REPO),
            "PYTHONDONTWRITEBYTECODE": "",
            "MENTION_MONITOR_CONFIG": str(config),
            "MENTION_MONITOR_SECRET_X_BEARER_TOKEN": "bench-bearer-token",
        }
    )
    return env


def _spawn(args: list[str], env: dict[str, str]) -> dict[str, Any]:
    t0 = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, *args], env=env, cwd=REPO, capture_output=True, text=True, timeout=120
    )
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"cold-start child failed: {proc.stderr[-2000:]}")
    out: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    out["process_s"] = wall
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

    def product(self, extra_args: list[str] | None = None) -> dict[str, Any]:
        return _spawn([*(extra_args or []), str(CHILD), "product"], self.env)

    def floor(self, extra_args: list[str] | None = None) -> dict[str, Any]:
        return _spawn([*(extra_args or []), str(CHILD), "floor", self.x.url, TABLE], self.env)

    def close(self) -> None:
        self.x.stop()
        self.moto.stop()
        self.tmp.cleanup()


def importtime(rig: ColdStartRig, top: int = 12) -> tuple[float, str]:
    """Modules the product run imports and the floor does not, by their own import time."""

    def parse(stderr: str) -> dict[str, int]:
        out: dict[str, int] = {}
        for line in stderr.splitlines():
            m = re.match(r"import time:\s+(\d+) \|\s+\d+ \|\s*(\S+)", line)
            if m:
                out[m.group(2)] = int(m.group(1))
        return out

    prod = parse(rig.product(["-X", "importtime"])["stderr"])
    floor = parse(rig.floor(["-X", "importtime"])["stderr"])
    extra = {name: us for name, us in prod.items() if name not in floor}
    by_package: dict[str, int] = {}
    for name, us in extra.items():
        pkg = name.split(".")[0]
        if pkg == "functions" or pkg == "notifiers":
            pkg = ".".join(name.split(".")[:3])
        by_package[pkg] = by_package.get(pkg, 0) + us
    ranked = sorted(((us, name) for name, us in by_package.items()), reverse=True)
    lines = "\n".join(f"    {us / 1000:7.1f} ms  {name}" for us, name in ranked[:top])
    return sum(extra.values()) / 1e6, lines


def measure(reps: int = 7) -> dict[str, Any]:
    rig = ColdStartRig()
    try:
        prods: list[dict[str, Any]] = []
        floors: list[dict[str, Any]] = []
        for _ in range(reps):
            floors.append(rig.floor())
            prods.append(rig.product())
        bad = [p for p in prods if p["found"] != 0 or not p["ok"]]
        if bad:
            raise RuntimeError(f"a measured cold start was not a quiet run: {bad[0]}")
        if any(not f["item"] or f["status"] != 200 for f in floors):
            raise RuntimeError("the floor process did not read the fake X and DynamoDB")

        def med(rows: list[dict[str, Any]], key: str) -> float:
            return statistics.median(r[key] for r in rows)

        res = {
            "reps": reps,
            "api_requests": prods[0]["api_requests"],
            **{f"product_{k}": med(prods, k) for k in KEYS},
            **{f"floor_{k}": med(floors, k) for k in KEYS},
            "product_min_s": min(p["total_s"] for p in prods),
            "floor_min_s": min(f["total_s"] for f in floors),
        }
        res["ratio"] = res["product_total_s"] / res["floor_total_s"]
        res["ratio_process"] = res["product_process_s"] / res["floor_process_s"]
        res["extra_import_s"], res["importtime"] = importtime(rig)
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


def bundle_size() -> dict[str, Any]:
    """``.aws-sam/build`` if present; otherwise the installed runtime dependency closure
    (minus what the Lambda runtime ships) plus ``functions/`` and ``notifiers/``."""
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


def report(res: dict[str, Any], bundle: dict[str, Any]) -> str:
    ms = 1000
    lines = [
        f"median of {res['reps']} interleaved runs each "
        f"(in-process: from the first line of the child to the end of the call)",
        f"{'':<34} {'imports':>9} {'call':>9} {'total':>9} {'process':>9}",
        f"{'product (handler, quiet run)':<34} {res['product_import_s'] * ms:>7.0f}ms "
        f"{res['product_call_s'] * ms:>7.0f}ms {res['product_total_s'] * ms:>7.0f}ms "
        f"{res['product_process_s'] * ms:>7.0f}ms",
        f"{'floor (imports, 1 GET, 1 GetItem)':<34} {res['floor_import_s'] * ms:>7.0f}ms "
        f"{res['floor_call_s'] * ms:>7.0f}ms {res['floor_total_s'] * ms:>7.0f}ms "
        f"{res['floor_process_s'] * ms:>7.0f}ms",
        f"ratio product/floor: {res['ratio']:.2f} in-process total "
        f"({res['ratio_process']:.2f} whole process incl. interpreter start); goal <= 1.30",
        f"fastest of {res['reps']}: product {res['product_min_s'] * ms:.0f}ms, floor "
        f"{res['floor_min_s'] * ms:.0f}ms (ratio {res['product_min_s'] / res['floor_min_s']:.2f}); "
        f"the quiet run made {res['api_requests']} X request(s) and found 0",
        f"modules only the product imports: {res['extra_import_s'] * ms:.0f}ms of own import "
        "time (-X importtime, one run), by package:",
        res["importtime"] or "    (none)",
        f"deployment bundle: {bundle['bytes'] / 1e6:.1f} MB ({bundle['method']})",
    ]
    if bundle["top"]:
        lines.append(
            "    largest: " + ", ".join(f"{n} {s / 1e6:.1f} MB" for n, s in bundle["top"])
        )
    return "\n".join(lines)
