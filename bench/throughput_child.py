"""One measured throughput run in a fresh interpreter (started by ``bench.throughput``).

``product CONFIG``: one run_once (the store named in CONFIG) over the waiting burst.
``baseline API SINCE_ID QUERY DB``: GET the same pages, ``json.loads`` them and insert the raw
rows into SQLite. Prints one JSON line with seconds and memory (KiB). Peak memory is the
process's own ``VmHWM``: ``ru_maxrss`` can report the (larger) parent's RSS from the fork.
"""

import json
import sys
import time


def _status(field: str) -> int:
    with open("/proc/self/status", encoding="ascii") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def product(config: str) -> dict:
    from mention_monitor.config import load_settings
    from mention_monitor.run import RunContext, run_once
    from mention_monitor.secrets import EnvSecrets
    from mention_monitor.state import make_store
    from mention_monitor.wiring import build_notifiers

    settings = load_settings(config)
    s = settings.state
    store = make_store(s.backend, path=s.path, table=s.table)
    secrets = EnvSecrets({"MENTION_MONITOR_SECRET_X_BEARER_TOKEN": "bench-bearer-token"})
    import boto3  # noqa: F401 - imported before the measurement, like a warm container

    rss0 = _status("VmRSS")
    t0 = time.perf_counter()
    notifiers = build_notifiers(settings, secrets)
    summary = run_once(
        RunContext(settings=settings, store=store, secrets=secrets, notifiers=notifiers)
    ).to_dict()
    wall = time.perf_counter() - t0
    w = summary["watches"]["Acme"]
    return {
        "wall_s": wall,
        "rss_before_kib": rss0,
        "peak_kib": _status("VmHWM"),
        "found": w["found"],
        "api_requests": w["api_requests"],
        "posts_read": w["posts_read"],
        "delivered": w["delivered"],
        "ok": summary["ok"],
    }


def baseline(api: str, since_id: str, query: str, db: str) -> dict:
    import sqlite3

    import requests

    from mention_monitor.xfields import Fields

    session = requests.Session()
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("CREATE TABLE raw (id INTEGER PRIMARY KEY, body TEXT NOT NULL)")
    params = {
        "query": query,
        "max_results": "100",
        "since_id": since_id,
        **Fields("post", api).params(),
    }
    rss0 = _status("VmRSS")
    t0 = time.perf_counter()
    work = 0.0
    rows = 0
    while True:
        raw = session.get(api + "/2/tweets/search/recent", params=params, timeout=10).content
        t1 = time.perf_counter()
        body = json.loads(raw)
        data = body.get("data") or []
        conn.execute("BEGIN")
        conn.executemany(
            "INSERT INTO raw (id, body) VALUES (?, ?)",
            [(int(p["id"]), json.dumps(p)) for p in data],
        )
        conn.execute("COMMIT")
        rows += len(data)
        work += time.perf_counter() - t1
        token = (body.get("meta") or {}).get("next_token")
        if not token:
            break
        params["next_token"] = token
    wall = time.perf_counter() - t0
    return {
        "wall_s": wall,
        "parse_insert_s": work,
        "rss_before_kib": rss0,
        "peak_kib": _status("VmHWM"),
        "rows": rows,
    }


if __name__ == "__main__":
    out = product(sys.argv[2]) if sys.argv[1] == "product" else baseline(*sys.argv[2:6])
    sys.__stdout__.write(json.dumps(out) + "\n")
