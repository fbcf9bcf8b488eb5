"""Figure 4, cost: a monthly estimate for a 15-minute schedule and 500 mentions a day.

X is priced from the posts and users a run reads (the run summary's ``posts_read`` /
``users_read``, checked against the fake in figure 1). DynamoDB request units are counted on
real runs against a moto server (every call the store makes, sized from its items). Lambda
uses the measured cold-start run time (figure 2) and the template's memory size.
"""

from __future__ import annotations

import json
import math
import re
import tempfile
from pathlib import Path
from typing import Any

from bench.common import (
    LOCAL,
    REPO,
    BenchX,
    free_port,
    run_monitor,
    speed_up_moto_transactions,
    write_config,
)
from mention_monitor.config import load_settings
from mention_monitor.results import POST_PRICE_USD, USER_PRICE_USD
from mention_monitor.secrets import EnvSecrets
from mention_monitor.state import make_store
from mention_monitor.wiring import build_notifiers
from tests.fakes.xapi import make_posts

# Prices (USD), as given for this bench.
X_POST = POST_PRICE_USD  # per post read
X_USER = USER_PRICE_USD  # per user read
LAMBDA_GB_S = 0.0000133334  # arm64, per GB-second
LAMBDA_REQ = 0.20 / 1e6
DDB_WRU = 0.625 / 1e6
DDB_RRU = 0.125 / 1e6
SM_SECRET_MONTH = 0.40
SM_PER_CALL = 0.05 / 10_000

SCHEDULE_MIN = 15
MENTIONS_PER_DAY = 500
DAYS = 30
SECRET_TTL_S = 300
TABLE = "mm-bench-cost"
WRITE_OPS = {"PutItem", "DeleteItem", "UpdateItem"}
READ_OPS = {"Query", "GetItem", "Scan"}


def template_memory_mb() -> tuple[int, str]:
    """MemorySize from template.yaml if there is one, else the 256 MB default."""
    path = REPO / "template.yaml"
    if path.is_file():
        m = re.search(r"MemorySize:\s*(\d+)", path.read_text(encoding="utf-8"))
        if m:
            return int(m.group(1)), "template.yaml"
    return 256, "default (no MemorySize in a template.yaml)"


def _item_bytes(item: dict[str, Any]) -> int:
    return len(json.dumps(item, separators=(",", ":")))


class UnitCounter:
    """Request units from botocore calls: 1 WRU per started KB written (a failed condition
    still consumes the write; 2 in a transaction), 1 RRU per started 4 KB read strongly
    consistent, 0.5 if not."""

    def __init__(self) -> None:
        self.wru = 0.0
        self.rru = 0.0
        self.calls: dict[str, int] = {}

    def remember(self, params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        context["bench_params"] = params

    def __call__(
        self, model: Any, parsed: dict[str, Any], context: dict[str, Any], **_: Any
    ) -> None:
        op = model.name
        params = context.get("bench_params") or {}
        self.calls[op] = self.calls.get(op, 0) + 1
        if op == "TransactWriteItems":  # 2 WRU per started KB of each item
            for action in params.get("TransactItems", []):
                item = next(iter(action.values())).get("Item") or {}
                self.wru += 2 * max(1, math.ceil(_item_bytes(item) / 1024))
        elif op in WRITE_OPS:
            item = params.get("Item") or params.get("Key") or {}
            self.wru += max(1, math.ceil(_item_bytes(item) / 1024))
        elif op in READ_OPS:
            items = parsed.get("Items") or ([parsed["Item"]] if "Item" in parsed else [])
            size = sum(_item_bytes(i) for i in items)
            units = max(1, math.ceil(size / 4096))
            self.rru += units if params.get("ConsistentRead") else units / 2


def simulate(runs: int = 12) -> dict[str, Any]:
    """Runs against the fake X and a moto server, ~500/96 new mentions each."""
    import boto3
    from moto.server import ThreadedMotoServer

    speed_up_moto_transactions()
    port = free_port()
    moto = ThreadedMotoServer(ip_address=LOCAL, port=port, verbose=False)
    moto.start()
    x = BenchX().start()
    tmp = tempfile.TemporaryDirectory(prefix="mm-bench-cost-")
    try:
        client = boto3.client(
            "dynamodb",
            endpoint_url=f"http://{LOCAL}:{port}",
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )
        cfg = write_config(
            Path(tmp.name),
            x.url,
            state="dynamodb",
            table=TABLE,
            notifiers={"console": 'type = "console"\nstream = "stderr"'},
        )
        settings = load_settings(cfg)
        store = make_store("dynamodb", table=TABLE, client=client)
        store.init()
        secrets = EnvSecrets({"MENTION_MONITOR_SECRET_X_BEARER_TOKEN": "bench-bearer-token"})
        next_id = 1_000_000_000_000_000_000
        x.add_posts(make_posts(5, first_id=next_id))
        next_id += 10
        notifiers = build_notifiers(settings, secrets)
        run_monitor(settings, store, secrets, notifiers)  # first run: cursors only
        counter = UnitCounter()
        client.meta.events.register("provide-client-params.dynamodb.*", counter.remember)
        client.meta.events.register("after-call.dynamodb.*", counter)
        per_run = MENTIONS_PER_DAY / (24 * 60 / SCHEDULE_MIN)
        posts = users = requests = found = 0
        arrived = 0.0
        for i in range(runs):
            arrived += per_run
            k = int(arrived) - found
            if k:
                x.add_posts(make_posts(k, first_id=next_id))
                next_id += k + 1
            s = run_monitor(settings, store, secrets, notifiers)
            w = s["watches"]["Acme"]
            posts += w["posts_read"]
            users += w["users_read"]
            requests += w["api_requests"]
            found += w["found"]
            if w["found"] != k:
                raise RuntimeError(f"cost run {i}: found {w['found']}, expected {k}")
        return {
            "runs": runs,
            "found": found,
            "posts_read": posts,
            "users_read": users,
            "api_requests": requests,
            "wru_per_run": counter.wru / runs,
            "rru_per_run": counter.rru / runs,
            "calls_per_run": {k: v / runs for k, v in sorted(counter.calls.items())},
        }
    finally:
        x.stop()
        moto.stop()
        tmp.cleanup()


def estimate(
    sim: dict[str, Any],
    run_seconds: float,
    run_source: str,
    users_per_mention: float | None = None,
) -> dict[str, Any]:
    """``users_per_mention``: user objects read per mention with the author cache (figure 9);
    without it, one per mention (the ceiling: ``authors = "expand"``, every author distinct)."""
    runs_month = DAYS * 24 * 60 // SCHEDULE_MIN
    mentions_month = MENTIONS_PER_DAY * DAYS
    mem_mb, mem_source = template_memory_mb()
    # Each post is read once (figure 1).
    posts_month = mentions_month * sim["posts_read"] / max(sim["found"], 1)
    users_month = posts_month * (1.0 if users_per_mention is None else users_per_mention)
    billed_s = math.ceil(run_seconds * 1000) / 1000
    # One read per warm container per TTL; runs are further apart than the TTL, so each run
    # reads once (a cold container reads once too).
    if SCHEDULE_MIN * 60 >= SECRET_TTL_S:
        secret_calls = runs_month
    else:
        secret_calls = DAYS * 86400 // SECRET_TTL_S
    parts = {
        "X posts": posts_month * X_POST,
        "X users": users_month * X_USER,
        "Lambda": runs_month * (billed_s * mem_mb / 1024 * LAMBDA_GB_S + LAMBDA_REQ),
        "DynamoDB": runs_month * (sim["wru_per_run"] * DDB_WRU + sim["rru_per_run"] * DDB_RRU),
        "Secrets Manager": SM_SECRET_MONTH + secret_calls * SM_PER_CALL,
    }
    return {
        "runs_month": runs_month,
        "mentions_month": mentions_month,
        "posts_month": posts_month,
        "users_month": users_month,
        "users_measured": users_per_mention is not None,
        "mem_mb": mem_mb,
        "mem_source": mem_source,
        "billed_s": billed_s,
        "run_source": run_source,
        "secret_calls": secret_calls,
        "parts": parts,
        "total": sum(parts.values()),
    }


def report(sim: dict[str, Any], est: dict[str, Any]) -> str:
    p = est["parts"]
    calls = ", ".join(f"{k} {v:.1f}" for k, v in sim["calls_per_run"].items())
    return "\n".join(
        [
            f"assumptions: {DAYS}-day month, a run every {SCHEDULE_MIN} min = "
            f"{est['runs_month']:,} runs, {MENTIONS_PER_DAY} mentions/day = "
            f"{est['mentions_month']:,}/month",
            f"measured on {sim['runs']} runs (DynamoDB on moto): {sim['found']} mentions, "
            f"{sim['api_requests']} X requests, {sim['posts_read']} posts read, "
            f"{sim['users_read']} users read (the fake has 5 authors); "
            f"per run {sim['wru_per_run']:.1f} WRU, "
            f"{sim['rru_per_run']:.1f} RRU ({calls})",
            f"{'X posts':<16} {est['posts_month']:>9,.0f} reads x ${X_POST}/post "
            f"{p['X posts']:>12.2f} USD   (each post read once: figure 1)",
            f"{'X users':<16} {est['users_month']:>9,.0f} reads x ${X_USER}/user "
            f"{p['X users']:>12.2f} USD   ("
            + (
                "authors = \"cache\": user objects per mention measured over 30 days of "
                "Zipf-distributed authors, figure 9)"
                if est["users_measured"]
                else "ceiling: one author object per mention, all authors distinct)"
            ),
            f"{'Lambda arm64':<16} {est['runs_month']:>9,} x {est['billed_s']:.3f}s x "
            f"{est['mem_mb']} MB {p['Lambda']:>10.4f} USD   ($0.0000133334/GB-s + $0.20/1M "
            f"requests; run time = {est['run_source']}; memory: {est['mem_source']})",
            f"{'DynamoDB':<16} on-demand {p['DynamoDB']:>26.4f} USD   ($0.625/1M WRU, "
            "$0.125/1M RRU; storage negligible)",
            f"{'Secrets Manager':<16} 1 secret + {est['secret_calls']:,} reads "
            f"{p['Secrets Manager']:>13.4f} USD   ($0.40/secret/month + $0.05/10k calls; one "
            f"read per warm container per {SECRET_TTL_S} s TTL: runs are {SCHEDULE_MIN} min "
            "apart, so every run reads once)",
            f"{'total':<16} {est['total']:>37.2f} USD / month",
        ]
    )
