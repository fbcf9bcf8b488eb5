"""Run every figure and print them: ``python3 -m bench`` (``--help`` for options)."""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import platform
import sys
import time
from typing import Any

from bench.common import local_aws_env


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    return (
        f"{os.cpu_count()} cores ({cpu}), Python {platform.python_version()}, "
        f"{platform.system()} {platform.machine()}"
    )


def _quiet_logs() -> None:
    logging.getLogger().addHandler(logging.NullHandler())
    for name in ("mention_monitor", "werkzeug", "moto", "botocore", "urllib3"):
        logging.getLogger(name).setLevel(logging.CRITICAL)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python3 -m bench", description=__doc__)
    ap.add_argument(
        "--only", nargs="+",
        choices=[
            "efficiency", "coldstart", "throughput", "cost", "sentiment",
            "watches", "starvation", "memory", "authors",
        ],
    )
    ap.add_argument("--reps", type=int, default=7, help="cold starts of each kind (median)")
    ap.add_argument("--mentions", type=int, default=10_000, help="throughput burst size")
    ap.add_argument("--quick", action="store_true", help="small sizes: a quick look, not figures")
    ap.add_argument("--json", metavar="PATH", help="also write the raw results as JSON")
    ap.add_argument(
        "--no-bundle",
        action="store_true",
        help="cold start: skip the bundle as shipped (it builds with the Makefile: needs "
        "Python 3.13 and a package index)",
    )
    args = ap.parse_args(argv)
    if args.quick:
        args.reps, args.mentions = 3, 2_000
    parts = args.only or [
        "efficiency", "coldstart", "throughput", "authors", "cost", "sentiment",
        "watches", "starvation", "memory",
    ]
    local_aws_env()  # dummy credentials; nothing reaches AWS or the internet
    _quiet_logs()
    command = " ".join(["python3 -m bench", *(sys.argv[1:] if argv is None else argv)])
    results: dict[str, Any] = {"machine": machine(), "command": command}
    started = time.perf_counter()
    print(f"mention-monitor bench — {results['machine']}")
    print(f"command: {results['command']}\n")

    if "efficiency" in parts:
        from bench import efficiency

        rows = efficiency.run_all(small=args.quick)
        results["efficiency"] = [r.as_dict() for r in rows]
        print("1. API efficiency (search requests and posts read vs the lower bound)")
        print(efficiency.table(rows) + "\n", flush=True)

    cold: dict[str, Any] | None = None
    if "coldstart" in parts:
        from bench import coldstart

        cold = coldstart.measure(args.reps, bundle=not args.no_bundle)
        bundle = coldstart.bundle_size(cold)
        results["coldstart"] = {**cold, "bundle_size": bundle}
        print("2. Cold start (fresh interpreter: import the handler + one quiet scheduled run)")
        print(coldstart.report(cold, bundle) + "\n", flush=True)

    if "throughput" in parts:
        from bench import throughput

        tp = throughput.measure(args.mentions)
        results["throughput"] = tp
        print("3. Throughput")
        print(throughput.report(tp) + "\n", flush=True)

    authors: dict[str, Any] | None = None
    if "authors" in parts:
        from bench import scale

        authors = scale.authors(days=7 if args.quick else 30)
        results["authors"] = authors
        print("9. Authors read (expand vs cache)")
        print(scale.authors_report(authors) + "\n", flush=True)

    if "cost" in parts:
        from bench import cost

        with open(os.devnull, "w", encoding="utf-8") as null, contextlib.redirect_stderr(null):
            sim = cost.simulate()
        if cold is not None and cold.get("bundle"):
            run_s = cold["bundle"]["shipped_total_s"]
            source = "cold-start median of the shipped bundle above (every run assumed cold)"
        elif cold is not None:
            run_s = cold["product_total_s"]
            source = "cold-start median above (every run assumed cold)"
        else:
            run_s, source = 1.0, "1 s assumed (cold start not measured)"
        per_mention = None
        if authors is not None:
            per_mention = authors["cache"]["users_read"] / max(authors["cache"]["mentions"], 1)
        est = cost.estimate(sim, run_s, source, per_mention)
        results["cost"] = {"simulation": sim, "estimate": est}
        print("4. Cost (monthly estimate)")
        print(cost.report(sim, est) + "\n")

    if "sentiment" in parts:
        from bench import sentiment

        sent = sentiment.measure(args.reps, 1_000 if args.quick else 5_000)
        results["sentiment"] = sent
        print("5. Sentiment (VADER, only with [sentiment] enabled = true)")
        print(sentiment.report(sent) + "\n", flush=True)

    if "watches" in parts:
        from bench import scale

        rows = scale.watches((1, 100) if args.quick else (1, 100, 450))
        results["watches"] = rows
        print("6. Watches (one query each) up to X's rate limit")
        print(scale.watches_report(rows) + "\n", flush=True)

    if "starvation" in parts:
        from bench import scale

        starve = scale.starvation()
        results["starvation"] = starve
        print("7. Starvation (a budget for about 10 of 50 watches a run)")
        print(scale.starvation_report(starve) + "\n", flush=True)

    if "memory" in parts:
        from bench import scale

        sizes = (2_000, 20_000) if args.quick else (10_000, 100_000)
        with open(os.devnull, "w", encoding="utf-8") as null, contextlib.redirect_stderr(null):
            mem = scale.memory(sizes)
        results["memory"] = mem
        print("8. Memory of a burst (peak RSS)")
        print(scale.memory_report(mem) + "\n", flush=True)

    print(f"bench finished in {time.perf_counter() - started:.0f}s")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump(results, fh, indent=2, default=str)
    return 0
