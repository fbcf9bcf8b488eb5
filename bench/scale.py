"""Figures 6-9, scale: many watches against X's rate limit, starvation, memory of big bursts,
and what authors cost with ``expand`` and ``cache`` over 30 simulated days.

6. Watches: 1, 100 and 450 watches (one query each), quiet and with 10 new mentions each,
   against the fake X with 300 ms latency and X's rate-limit headers, state in DynamoDB on a
   moto server: wall time, X requests, 429s, DynamoDB calls per watch.
7. Starvation: 50 watches, a time budget that covers about 10 a run (each search costs 1 s of
   a 10.5 s budget on a simulated clock): runs until every watch was searched.
8. Memory: bursts of 10,000 and 100,000 mentions, SQLite and DynamoDB (moto server in the
   parent), each run in a fresh subprocess: peak RSS (VmHWM) and the ratio.
9. Authors: 30 days of a run every 15 minutes, 500 mentions a day, authors drawn from a Zipf
   distribution (s = 1.1, 20,000 authors): users read and $ per 1,000 mentions, expand vs cache.
"""

from __future__ import annotations

import bisect
import itertools
import os
import random
import tempfile
import textwrap
import time
from pathlib import Path
from typing import Any

from bench.common import DUMMY_AWS_ENV, LOCAL, SRC_PATH, BenchX, ScriptedNotifier, free_port
from mention_monitor.clock import Clock
from mention_monitor.config import load_settings
from mention_monitor.notifiers import registry
from mention_monitor.results import POST_PRICE_USD, USER_PRICE_USD
from mention_monitor.run import RunContext, run_once
from mention_monitor.secrets import EnvSecrets
from mention_monitor.state import make_store
from mention_monitor.wiring import build_notifiers
from tests.fakes.xapi import make_posts, make_users

SECRETS = {"MENTION_MONITOR_SECRET_X_BEARER_TOKEN": "bench-bearer-token"}
FIRST_ID = 1_000_000_000_000_000_000


class ShiftClock(Clock):
    """Wall time plus an offset: a run can be moved to X's next 15-minute window without
    waiting for it (budgets still run on the real monotonic clock)."""

    def __init__(self) -> None:
        self.offset = 0.0

    def now(self) -> float:
        return super().now() + self.offset


class SimClock(Clock):
    """Simulated time: only moves when told to (or when the code sleeps)."""

    def __init__(self, start: float = 1_764_000_000.0) -> None:
        self.t = start

    def now(self) -> float:
        return self.t

    def monotonic(self) -> float:
        return self.t

    def sleep(self, seconds: float) -> None:
        self.t += max(0.0, seconds)


def _config(
    directory: Path, api: str, watches: int, *, state: str, top: str = "", x: str = ""
) -> Path:
    """``watches`` watches W000.. (term brand000..), one null notifier."""
    body = f'log_level = "WARNING"\n{top}\n[x]\napi_base = "{api}"\nmax_retries = 2\n{x}\n'
    body += f"[state]\n{state}\n[secrets]\nbackend = \"env\"\n"
    for i in range(watches):
        body += textwrap.dedent(
            f"""
            [[watches]]
            name = "W{i:03d}"
            terms = ["brand{i:03d}"]
            first_run = "latest"
            notify = ["n1"]
            """
        )
    body += '\n[notifiers.n1]\ntype = "bench-scripted"\nmax_mentions = 100\n'
    path = directory / "monitor.toml"
    path.write_text(body, encoding="utf-8")
    return path


def _run(settings: Any, store: Any, clock: Clock) -> tuple[dict[str, Any], float]:
    secrets = EnvSecrets(SECRETS)
    notifiers = build_notifiers(settings, secrets)
    t0 = time.perf_counter()
    summary = run_once(
        RunContext(settings=settings, store=store, secrets=secrets, notifiers=notifiers, clock=clock)
    ).to_dict()
    return summary, time.perf_counter() - t0


# -- 6. watches ----------------------------------------------------------------------------------
def watches(counts: tuple[int, ...] = (1, 100, 450), latency: float = 0.3) -> list[dict[str, Any]]:
    import boto3
    from moto.server import ThreadedMotoServer

    from tests.fakes.aws import moto_for_threads

    moto_for_threads()  # moto's backend under a lock (DynamoDB itself is thread-safe)
    port = free_port()
    moto = ThreadedMotoServer(ip_address=LOCAL, port=port, verbose=False)
    moto.start()
    clock = ShiftClock()
    x = BenchX(clock=clock, latency=latency).start()
    registry.register(ScriptedNotifier.type_name, ScriptedNotifier)
    rows: list[dict[str, Any]] = []
    try:
        for n in counts:
            with tempfile.TemporaryDirectory(prefix="mm-bench-scale-") as tmp:
                table = f"mm-bench-scale-{n}"
                cfg = _config(Path(tmp), x.url, n, state=f'backend = "dynamodb"\ntable = "{table}"')
                settings = load_settings(cfg)
                client = boto3.client(
                    "dynamodb", endpoint_url=f"http://{LOCAL}:{port}", region_name="us-east-1",
                    aws_access_key_id="testing", aws_secret_access_key="testing",
                )
                calls = {"n": 0}

                def count(**_: Any) -> None:
                    calls["n"] += 1

                client.meta.events.register("before-call.dynamodb.*", count)
                store = make_store("dynamodb", table=table, client=client)
                store.init()
                _run(settings, store, clock)  # first run: each query starts from now
                for label in ("quiet", "10 new each"):
                    clock.offset += 900  # X's next 15-minute window
                    if label != "quiet":
                        for i in range(n):
                            first = FIRST_ID + 10_000_000 * n + 1_000 * i + 100
                            posts = make_posts(10, first_id=first, text=f"new brand{i:03d}")
                            x.add_posts(posts)
                    x.reset_counts()
                    throttled = x.throttled
                    calls["n"] = 0
                    summary, wall = _run(settings, store, clock)
                    ws = summary["watches"].values()
                    rows.append({
                        "watches": n,
                        "scenario": label,
                        "wall_s": wall,
                        "searches": len(x.searches),
                        "lookups": len(x.lookups),
                        "throttled": x.throttled - throttled,
                        "found": sum(w["found"] for w in ws),
                        "deferred": sum(1 for w in ws if "deferred" in w),
                        "ok": summary["ok"],
                        "dynamodb_calls_per_watch": calls["n"] / n,
                    })
                store.close()
        return rows
    finally:
        registry.unregister(ScriptedNotifier.type_name)
        ScriptedNotifier.reset()
        x.stop()
        moto.stop()


def watches_report(rows: list[dict[str, Any]]) -> str:
    head = (
        f"{'watches':>7} {'scenario':<12} {'wall':>7} {'searches':>8} {'lookups':>7} "
        f"{'429s':>5} {'found':>6} {'deferred':>8} {'DynamoDB calls/watch':>21}"
    )
    lines = [
        "fake X with 300 ms latency and X's rate-limit headers (450 / 15 min); 4 workers; "
        "DynamoDB on a moto server",
        head,
        "-" * len(head),
    ]
    for r in rows:
        lines.append(
            f"{r['watches']:>7} {r['scenario']:<12} {r['wall_s']:>6.1f}s {r['searches']:>8} "
            f"{r['lookups']:>7} {r['throttled']:>5} {r['found']:>6} {r['deferred']:>8} "
            f"{r['dynamodb_calls_per_watch']:>21.1f}"
        )
    quiet = [r for r in rows if r["watches"] == 450 and r["scenario"] == "quiet"]
    if quiet:
        q = quiet[0]
        verdict = "met" if q["wall_s"] < 60 and q["throttled"] == 0 and q["ok"] else "NOT met"
        lines.append(f"goal: 450 quiet watches in under 60 s with no 429: {verdict}")
    return "\n".join(lines)


# -- 7. starvation -------------------------------------------------------------------------------
def starvation(n: int = 50, budget: float = 10.5, max_runs: int = 10) -> dict[str, Any]:
    clock = SimClock()
    x = BenchX(clock=clock).start()
    x.on_search = lambda req: clock.sleep(1.0)  # each search costs a second of the budget
    registry.register(ScriptedNotifier.type_name, ScriptedNotifier)
    try:
        with tempfile.TemporaryDirectory(prefix="mm-bench-starve-") as tmp:
            d = Path(tmp)
            cfg = _config(
                d, x.url, n, state=f'backend = "sqlite"\npath = "{d / "state.db"}"',
                top=f"time_budget_seconds = {budget}",
            )
            settings = load_settings(cfg)
            store = make_store("sqlite", path=settings.state.path)
            seen: set[str] = set()
            per_run: list[int] = []
            while len(seen) < n and len(per_run) < max_runs:
                before = len(x.searches)
                summary, _ = _run(settings, store, clock)
                now = {"W" + r.query["query"][5:8] for r in x.searches[before:]}
                per_run.append(len(now))
                seen |= now
                if not summary["ok"]:
                    raise RuntimeError(f"starvation run failed: {summary}")
                clock.sleep(300)
            store.close()
            return {"watches": n, "budget_s": budget, "per_run": per_run, "all_after": len(per_run),
                    "searched": len(seen)}
    finally:
        registry.unregister(ScriptedNotifier.type_name)
        x.stop()


def starvation_report(r: dict[str, Any]) -> str:
    runs = ", ".join(str(k) for k in r["per_run"])
    verdict = "met" if r["searched"] == r["watches"] and r["all_after"] <= 5 else "NOT met"
    return (
        f"{r['watches']} watches, each search 1 s of a {r['budget_s']} s budget, 4 workers, "
        f"stalest first: watches searched per run: {runs}\n"
        f"every watch searched after {r['all_after']} runs (goal: within 5: {verdict})"
    )


# -- 8. memory -----------------------------------------------------------------------------------
def memory(sizes: tuple[int, ...] = (10_000, 100_000)) -> dict[str, Any]:
    from moto.server import ThreadedMotoServer

    from bench.throughput import _spawn
    from tests.fakes.aws import moto_for_threads

    moto_for_threads()  # cheap transaction snapshots in this process's moto server
    port = free_port()
    moto = ThreadedMotoServer(ip_address=LOCAL, port=port, verbose=False)
    moto.start()
    endpoint = f"http://{LOCAL}:{port}"
    saved = os.environ.get("AWS_ENDPOINT_URL")
    os.environ["AWS_ENDPOINT_URL"] = endpoint
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "MENTION_MONITOR_"))}
    env.update(DUMMY_AWS_ENV)
    env.update({"AWS_ENDPOINT_URL": endpoint, "PYTHONPATH": SRC_PATH})
    out: dict[str, Any] = {}
    try:
        for backend, n in itertools.product(("sqlite", "dynamodb"), sizes):
            x = BenchX(record=False, search_limit=1_000_000).start()  # memory, not X's limit
            with tempfile.TemporaryDirectory(prefix="mm-bench-mem-") as tmp:
                d = Path(tmp)
                table = f"mm-bench-mem-{n}"
                state = (
                    f'backend = "sqlite"\npath = "{d / "state.db"}"'
                    if backend == "sqlite"
                    else f'backend = "dynamodb"\ntable = "{table}"'
                )
                cfg = d / "monitor.toml"
                cfg.write_text(
                    # the time budget is no limit here: moto writes about 400 mentions a
                    # second, and this figure is the memory of the whole burst in one run
                    f'log_level = "WARNING"\ntime_budget_seconds = 3600\n[x]\n'
                    f'api_base = "{x.url}"\n[state]\n{state}\nlease_seconds = 4000\n'
                    '[secrets]\nbackend = "env"\n[[watches]]\nname = "Acme"\nterms = ["acme"]\n'
                    'notify = ["console"]\n[notifiers.console]\ntype = "console"\n'
                    'stream = "stderr"\n',
                    encoding="utf-8",
                )
                settings = load_settings(cfg)
                store = make_store(backend, path=settings.state.path, table=table)
                store.init()
                x.add_posts(make_posts(5, first_id=FIRST_ID))
                _run(settings, store, Clock())  # the cursor
                store.close()
                x.add_posts(make_posts(n, first_id=FIRST_ID + 10))
                x.archive.matching({"query": "acme -is:retweet", "since_id": str(FIRST_ID + 4)})
                res = _spawn(["product", str(cfg)], env)
                if res["found"] != n:
                    raise RuntimeError(f"memory run {backend}/{n} found {res['found']}")
                out[f"{backend}/{n}"] = res
            x.stop()
        return out
    finally:
        if saved is None:
            os.environ.pop("AWS_ENDPOINT_URL", None)
        else:
            os.environ["AWS_ENDPOINT_URL"] = saved
        moto.stop()


def memory_report(res: dict[str, Any]) -> str:
    lines = [
        "one run over a burst, console notifier (max_mentions 100) to a null stream; "
        "each a fresh subprocess",
        f"{'':<10} {'mentions':>9} {'wall':>8} {'peak RSS':>9} {'RSS growth':>10}",
    ]
    for key, r in res.items():
        backend, n = key.split("/")
        growth = (r["peak_kib"] - r["rss_before_kib"]) / 1024
        lines.append(
            f"{backend:<10} {int(n):>9,} {r['wall_s']:>7.1f}s {r['peak_kib'] / 1024:>7.0f}MB "
            f"{growth:>8.0f}MB"
        )
    for backend in ("sqlite", "dynamodb"):
        small, large = res.get(f"{backend}/10000"), res.get(f"{backend}/100000")
        if small and large:
            ratio = large["peak_kib"] / small["peak_kib"]
            verdict = "met" if ratio <= 1.5 else "NOT met"
            lines.append(f"{backend}: peak RSS 100k / 10k = {ratio:.2f} (goal <= 1.5: {verdict})")
    return "\n".join(lines)


# -- 9. authors ----------------------------------------------------------------------------------
def authors(days: int = 30, per_day: int = 500, population: int = 20_000, s: float = 1.1,
            seed: int = 11) -> dict[str, Any]:
    weights = [1 / (k ** s) for k in range(1, population + 1)]
    cumulative = list(itertools.accumulate(weights))
    users = make_users(population)
    registry.register(ScriptedNotifier.type_name, ScriptedNotifier)
    out: dict[str, Any] = {"days": days, "per_day": per_day, "population": population, "s": s}
    try:
        for mode in ("expand", "cache"):
            rng = random.Random(seed)  # the same authors in both modes
            clock = SimClock()
            x = BenchX(clock=clock).start()
            x.archive.add([], users)
            with tempfile.TemporaryDirectory(prefix="mm-bench-authors-") as tmp:
                d = Path(tmp)
                cfg = d / "monitor.toml"
                cfg.write_text(
                    f'log_level = "WARNING"\n[x]\napi_base = "{x.url}"\nauthors = "{mode}"\n'
                    f'[state]\nbackend = "sqlite"\npath = "{d / "state.db"}"\n'
                    '[secrets]\nbackend = "env"\n[[watches]]\nname = "Acme"\nterms = ["acme"]\n'
                    'notify = ["n1"]\n[notifiers.n1]\ntype = "bench-scripted"\n',
                    encoding="utf-8",
                )
                settings = load_settings(cfg)
                store = make_store("sqlite", path=settings.state.path)
                next_id, arrived, added = FIRST_ID, 0.0, 0
                totals = {"mentions": 0, "posts_read": 0, "users_read": 0, "user_requests": 0,
                          "api_requests": 0, "cost_usd": 0.0}
                runs = days * 96
                for _ in range(runs):
                    arrived += per_day / 96
                    k = int(arrived) - added
                    posts = make_posts(k, first_id=next_id, text="acme", users=1)
                    for p in posts:
                        author = bisect.bisect_left(cumulative, rng.random() * cumulative[-1])
                        p["author_id"] = str(9000 + min(author, population - 1))
                    x.add_posts(posts)
                    next_id += k + 1
                    added += k
                    summary, _ = _run(settings, store, clock)
                    w = summary["watches"]["Acme"]
                    totals["mentions"] += w["found"]
                    for key in ("posts_read", "users_read", "api_requests", "cost_usd"):
                        totals[key] += w[key]
                    totals["user_requests"] += w.get("user_requests", 0)
                    clock.t += 900
                store.close()
            x.stop()
            out[mode] = totals
        return out
    finally:
        registry.unregister(ScriptedNotifier.type_name)
        ScriptedNotifier.reset()


def authors_report(r: dict[str, Any]) -> str:
    lines = [
        f"{r['days']} days, a run every 15 min, {r['per_day']} mentions/day, authors Zipf "
        f"(s = {r['s']}, {r['population']:,} authors); users read = user objects X returned "
        "(what it bills, before its best-effort daily de-duplication)",
        f"{'authors':<8} {'mentions':>9} {'users read':>11} {'lookups':>8} {'users/1k':>9} "
        f"{'$/1k mentions':>14} {'$ in all':>9}",
    ]
    for mode in ("expand", "cache"):
        t = r[mode]
        per_k = 1000 / max(t["mentions"], 1)
        lines.append(
            f"{mode:<8} {t['mentions']:>9,} {t['users_read']:>11,} {t['user_requests']:>8,} "
            f"{t['users_read'] * per_k:>9.0f} {t['cost_usd'] * per_k:>14.2f} "
            f"{t['cost_usd']:>9.2f}"
        )
    ratio = r["cache"]["users_read"] / max(r["expand"]["users_read"], 1)
    verdict = "met" if ratio <= 0.4 else "NOT met"
    lines.append(
        f"cache reads {ratio:.0%} of the user objects expand reads (goal <= 40%: {verdict}); "
        f"prices ${POST_PRICE_USD}/post, ${USER_PRICE_USD}/user"
    )
    return "\n".join(lines)
