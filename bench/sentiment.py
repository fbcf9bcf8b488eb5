"""Figure 5, sentiment: what ``[sentiment] enabled = true`` costs: VADER's import and lexicon
load in a fresh interpreter, scoring speed, and what vaderSentiment (and tzdata, for schedules)
add to the bundle. With sentiment off, VADER is never imported (tests/test_sentiment.py)."""

from __future__ import annotations

import importlib.metadata as md
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bench.common import REPO

_CHILD = """
import json, sys, time
t0 = time.perf_counter()
sys.path.insert(0, sys.argv[1])
import mention_monitor.run  # the core a run imports anyway (not counted)
t1 = time.perf_counter()
from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer
t2 = time.perf_counter()
SentimentIntensityAnalyzer()
t3 = time.perf_counter()
print(json.dumps({"import_s": t2 - t1, "lexicon_s": t3 - t2}))
"""

TEXTS = [
    "Acme support is useless, worst outage ever, I hate this",
    "I love Acme, the new release is great and super fast!",
    "Acme released version 2.4 on Tuesday, changelog at https://acme.example/changes",
    "Is acme cloud down? Our deploys have been failing for 20 minutes :( #outage",
    "Switched our whole stack to Acme last month. Latency halved, bill too. Not bad at all.",
]


def _dist_bytes(name: str) -> int:
    dist = md.distribution(name)
    total = 0
    for f in dist.files or []:
        p = Path(str(dist.locate_file(f)))
        if p.is_file() and "__pycache__" not in p.parts:
            total += p.stat().st_size
    return total


def measure(reps: int = 7, posts: int = 5000) -> dict[str, Any]:
    rows = []
    for _ in range(reps):
        proc = subprocess.run(
            [sys.executable, "-c", _CHILD, str(REPO / "functions")],
            capture_output=True, text=True, timeout=120, check=True,
        )
        rows.append(json.loads(proc.stdout.strip().splitlines()[-1]))
    from mention_monitor import sentiment
    from mention_monitor.models import Mention

    sentiment.analyzer()
    mentions = [
        Mention(id=i, text=f"{TEXTS[i % len(TEXTS)]} #{i}", lang="en") for i in range(posts)
    ]
    t0 = time.perf_counter()
    sentiment.score_all(mentions)
    elapsed = time.perf_counter() - t0
    return {
        "reps": reps,
        "import_ms": 1000 * statistics.median(r["import_s"] for r in rows),
        "lexicon_ms": 1000 * statistics.median(r["lexicon_s"] for r in rows),
        "posts": posts,
        "score_us_per_post": 1e6 * elapsed / posts,
        "vader_bytes": _dist_bytes("vaderSentiment"),
        "tzdata_bytes": _dist_bytes("tzdata"),
    }


def report(res: dict[str, Any]) -> str:
    return "\n".join(
        [
            f"median of {res['reps']} fresh interpreters (mention_monitor.run already imported)",
            f"  import vaderSentiment          {res['import_ms']:7.1f} ms",
            f"  build the analyzer (lexicon)   {res['lexicon_ms']:7.1f} ms   once per container",
            f"  score one English post         {res['score_us_per_post']:7.1f} us   "
            f"({res['posts']} posts)",
            f"bundle: vaderSentiment {res['vader_bytes'] / 1e6:.2f} MB installed (lexicons "
            f"included), tzdata {res['tzdata_bytes'] / 1e6:.2f} MB",
            "sentiment off: VADER is not imported at all (0 ms)",
        ]
    )
