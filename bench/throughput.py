"""Figure 3, throughput: one run over a burst of new mentions (default 10,000, page size 100)
with SQLite and with DynamoDB (a moto server on 127.0.0.1), console notifier to a null
stream, against a baseline that GETs the same pages, ``json.loads`` them and inserts the raw
rows into SQLite. Each measured run is a fresh subprocess: wall time of the run and peak RSS.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from bench.common import (
    DUMMY_AWS_ENV,
    LOCAL,
    REPO,
    SRC_PATH,
    BenchX,
    free_port,
    run_monitor,
    speed_up_moto_transactions,
    write_config,
)
from mention_monitor.config import load_settings
from mention_monitor.query import plan_queries
from mention_monitor.secrets import EnvSecrets
from mention_monitor.state import make_store
from tests.fakes.xapi import make_posts

CHILD = Path(__file__).with_name("throughput_child.py")
TABLE = "mm-bench-throughput"
SECRETS = {"MENTION_MONITOR_SECRET_X_BEARER_TOKEN": "bench-bearer-token"}
FIRST_ID = 1_000_000_000_000_000_000


def _spawn(args: list[str], env: dict[str, str]) -> dict[str, Any]:
    proc = subprocess.run(
        [sys.executable, str(CHILD), *args],
        env=env,
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,  # the console notifier's null stream
        text=True,
        timeout=900,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"throughput child {args[0]} failed (exit {proc.returncode})")
    out: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return out


def measure(n: int = 10_000, stores: tuple[str, ...] = ("sqlite", "dynamodb")) -> dict[str, Any]:
    from moto.server import ThreadedMotoServer

    speed_up_moto_transactions()
    tmp = tempfile.TemporaryDirectory(prefix="mm-bench-tp-")
    d = Path(tmp.name)
    port = free_port()
    moto = ThreadedMotoServer(ip_address=LOCAL, port=port, verbose=False)
    moto.start()
    endpoint = f"http://{LOCAL}:{port}"
    x = BenchX().start()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "MENTION_MONITOR_"))}
    env.update(DUMMY_AWS_ENV)
    env.update({"AWS_ENDPOINT_URL": endpoint, "PYTHONPATH": SRC_PATH})
    saved_endpoint = os.environ.get("AWS_ENDPOINT_URL")
    os.environ["AWS_ENDPOINT_URL"] = endpoint
    results: dict[str, Any] = {"n": n, "page_size": 100}
    try:
        x.add_posts(make_posts(5, first_id=FIRST_ID))
        configs: dict[str, Path] = {}
        for backend in stores:
            sub = d / backend
            sub.mkdir()
            configs[backend] = write_config(
                sub,
                x.url,
                state=backend,
                table=TABLE,
                notifiers={"console": 'type = "console"\nstream = "stderr"'},
            )
            settings = load_settings(configs[backend])
            s = settings.state
            store = make_store(s.backend, path=s.path, table=s.table)
            store.init()
            run_monitor(settings, store, EnvSecrets(SECRETS))
            store.close()
        since = str(FIRST_ID + 4)
        x.add_posts(make_posts(n, first_id=FIRST_ID + 10))
        query = plan_queries(load_settings(configs[stores[0]]))["Acme"][0]
        x.archive.matching({"query": query, "since_id": since})  # warm the fake's cache
        for backend in stores:
            x.reset_counts()
            res = _spawn(["product", str(configs[backend])], env)
            res["fake_x_s"] = x.server_seconds
            settings = load_settings(configs[backend])
            s = settings.state
            store = make_store(s.backend, path=s.path, table=s.table)
            res["outbox"] = store.show(0)[0]["outbox"]
            store.close()
            if (res["found"], res["posts_read"], res["outbox"]) != (n, n, n):
                raise RuntimeError(f"throughput run on {backend} was not correct: {res}")
            results[backend] = res
        x.reset_counts()
        base = _spawn(["baseline", x.url, since, query, str(d / "baseline.db")], env)
        base["fake_x_s"] = x.server_seconds
        if base["rows"] != n:
            raise RuntimeError(f"baseline read {base['rows']} rows, not {n}")
        results["baseline"] = base
        return results
    finally:
        if saved_endpoint is None:
            os.environ.pop("AWS_ENDPOINT_URL", None)
        else:
            os.environ["AWS_ENDPOINT_URL"] = saved_endpoint
        x.stop()
        moto.stop()
        tmp.cleanup()


def report(res: dict[str, Any]) -> str:
    n = res["n"]
    base = res["baseline"]
    head = (
        f"{'':<36} {'wall':>8} {'mentions/s':>11} {'x baseline':>10} {'peak RSS':>9} "
        f"{'RSS growth':>10} {'fake X':>8}"
    )
    lines = [
        f"{n:,} new mentions, page size {res['page_size']}, {n // res['page_size']} pages; "
        "each row a fresh subprocess",
        head,
        "-" * len(head),
    ]

    def row(label: str, r: dict[str, Any]) -> str:
        growth = (r["peak_kib"] - r["rss_before_kib"]) / 1024
        return (
            f"{label:<36} {r['wall_s']:>7.2f}s {n / r['wall_s']:>11,.0f} "
            f"{r['wall_s'] / base['wall_s']:>10.1f} {r['peak_kib'] / 1024:>7.0f}MB "
            f"{growth:>8.0f}MB {r['fake_x_s']:>7.2f}s"
        )

    for backend in ("sqlite", "dynamodb"):
        if backend in res:
            label = {"sqlite": "run_once, SQLite", "dynamodb": "run_once, DynamoDB (moto server)"}[
                backend
            ]
            lines.append(row(label, res[backend]))
    lines.append(row("baseline: GET + json.loads + SQLite", base))
    lines.append(
        f"(baseline parse+insert alone: {base['parse_insert_s']:.2f}s; 'fake X' = time the fake "
        "server spent answering, inside the wall time; moto's time is inside DynamoDB's wall:\n"
        " moto is no model of DynamoDB latency, so the DynamoDB row counts round trips more "
        "than it predicts AWS)"
    )
    return "\n".join(lines)
