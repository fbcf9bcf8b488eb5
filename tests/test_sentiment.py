"""Sentiment: VADER labels on English posts, ``unknown`` for others, scored once before storing,
routing on the label, and no VADER import at all when sentiment is off."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap

import pytest

from mention_monitor import sentiment
from mention_monitor.config import load_settings
from mention_monitor.models import Digest, Mention
from mention_monitor.notifiers.render import render_html, render_text
from mention_monitor.state import make_store
from tests.conftest import REPO, SRC_PATH, basic_config, delivered_ids, run_monitor
from tests.fakes.xapi import make_posts


@pytest.mark.parametrize(
    ("text", "lang", "label"),
    [
        ("Acme support is useless, worst outage ever, I hate this", "en", "negative"),
        ("I love Acme, the new release is great and super fast!", "en", "positive"),
        ("Acme released version 2.4 on Tuesday.", "en", "neutral"),
        ("Acme ist furchtbar, schlechtester Service überhaupt", "de", "unknown"),
        ("Acme is great", "", "unknown"),  # no language given: not scored
    ],
)
def test_labels(text, lang, label):
    m = sentiment.score(Mention(id=1, text=text, lang=lang))
    assert m.sentiment == label
    if label == "unknown":
        assert m.sentiment_score is None
    else:
        assert m.sentiment_score is not None and -1 <= m.sentiment_score <= 1
        assert sentiment.label(m.sentiment_score) == label


def test_thresholds():
    assert [sentiment.label(x) for x in (-0.05, -0.0499, 0.0, 0.0499, 0.05)] == [
        "negative", "neutral", "neutral", "neutral", "positive"
    ]


def _posts():
    texts = [
        ("acme is terrible, worst outage ever, I hate it", "en"),
        ("I love acme, great product, really happy", "en"),
        ("acme published its quarterly report", "en"),
        ("acme es horrible, el peor servicio", "es"),
    ]
    posts = []
    for i, (text, lang) in enumerate(texts):
        (p,) = make_posts(1, first_id=100 + i, text=text)
        p["text"], p["lang"] = text, lang
        posts.append(p)
    return posts


def test_scored_once_before_storing_and_routed_by_label(
    tmp_path, fake_x, clock, bearer, monkeypatch
):
    fake_x.add_posts(_posts())
    cfg = basic_config(
        tmp_path, fake_x.url, notify='["all", "neg", "other"]',
        extra="[sentiment]\nenabled = true\n",
        notifiers=f"""
            [notifiers.all]
            type = "file"
            directory = "{tmp_path / 'all'}"
            [notifiers.neg]
            type = "file"
            directory = "{tmp_path / 'neg'}"
            sentiment = ["negative"]
            [notifiers.other]
            type = "file"
            directory = "{tmp_path / 'other'}"
            sentiment = ["unknown"]
        """,
    )
    calls: list[str] = []
    real = sentiment.analyzer()

    class Counting:
        def polarity_scores(self, text: str) -> dict[str, float]:
            calls.append(text)
            return dict(real.polarity_scores(text))

    monkeypatch.setattr(sentiment, "_analyzer", Counting())
    settings = load_settings(cfg)
    store = make_store("sqlite", path=settings.state.path)
    s = run_monitor(settings, store, clock)
    assert s["ok"] and s["watches"]["Acme"]["delivered"] == {"all": 4, "neg": 1, "other": 1}
    assert len(calls) == 3  # the three English posts, once each; Spanish is not scored
    stored = {m.id: m for m in store.pending("Acme", 0, 10**6, int(clock.now()))}
    assert [stored[i].sentiment for i in (100, 101, 102, 103)] == [
        "negative", "positive", "neutral", "unknown"
    ]
    assert stored[100].sentiment_score is not None and stored[100].sentiment_score <= -0.05
    assert stored[103].sentiment_score is None
    assert delivered_ids(tmp_path / "neg") == [100]
    assert delivered_ids(tmp_path / "other") == [103]
    clock.advance(900)
    run_monitor(settings, store, clock)
    assert len(calls) == 3  # nothing new, nothing scored again
    store.close()


def test_digests_show_the_label_next_to_each_mention():
    ms = (
        Mention(id=1, text="bad", author_username="a", sentiment="negative", sentiment_score=-0.5),
        Mention(id=2, text="hallo", author_username="b", sentiment="unknown"),
        Mention(id=3, text="plain", author_username="c"),  # sentiment off: no label
    )
    text = render_text(Digest("Acme", ms))
    blocks = text.split("\n\n")
    assert blocks[1].splitlines()[0].endswith("· negative")
    assert blocks[2].splitlines()[0].endswith("· unknown")
    assert not blocks[3].splitlines()[0].endswith(("negative", "unknown", "positive", "neutral"))
    html = render_html(Digest("Acme", ms))
    assert '<span style="color:#b42318">· negative</span>' in html
    from mention_monitor.notifiers.slack import SlackNotifier, SlackOptions

    slack = SlackNotifier("s", SlackOptions(type="slack"), secrets=None)  # type: ignore[arg-type]
    assert slack.section_text(ms[0]).splitlines()[0].endswith(" · negative")


_PROBE = textwrap.dedent(
    """
    import json, sys
    from mention_monitor.cli import main
    code = main(["run", "--config", sys.argv[1]])
    print(json.dumps({"code": code, "vader": "vaderSentiment" in sys.modules}))
    """
)


@pytest.mark.parametrize("enabled", [False, True])
def test_vader_is_imported_only_when_sentiment_is_on(tmp_path, enabled):
    shutil.copytree(REPO / "examples" / "recorded", tmp_path / "recorded")
    cfg = tmp_path / "monitor.toml"
    cfg.write_text(
        textwrap.dedent(
            f"""
            log_level = "ERROR"
            [sentiment]
            enabled = {"true" if enabled else "false"}
            [x]
            source = "replay"
            replay_dir = "{tmp_path / 'recorded'}"
            [state]
            path = "{tmp_path / 'state.db'}"
            [[watches]]
            name = "Acme"
            terms = ["acme", "acme cloud"]
            first_run = "backfill"
            notify = ["files"]
            [notifiers.files]
            type = "file"
            directory = "{tmp_path / 'out'}"
            """
        ),
        encoding="utf-8",
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("MENTION_MONITOR_")}
    proc = subprocess.run(
        [sys.executable, "-c", _PROBE, str(cfg)], capture_output=True, text=True, timeout=120,
        env={**env, "PYTHONPATH": SRC_PATH},
    )
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.strip().splitlines()
    summary, probe = json.loads(lines[-2]), json.loads(lines[-1])
    assert summary["watches"]["Acme"]["found"] > 0 and probe["code"] == 0
    assert probe["vader"] is enabled
    labels = {
        m.get("sentiment", "")
        for p in (tmp_path / "out").glob("*.json")
        for m in json.loads(p.read_text(encoding="utf-8"))["mentions"]
    }
    assert (labels <= {"negative", "neutral", "positive", "unknown"} and labels) if enabled else (
        labels == {""}
    )


def test_the_lexicon_ships_inside_the_package_and_nothing_is_fetched(monkeypatch):
    """VADER reads its lexicon from its own package directory; any network use fails here."""
    import socket

    def no_network(*args, **kwargs):
        raise AssertionError("VADER tried to reach the network")

    monkeypatch.setattr(socket, "create_connection", no_network)
    monkeypatch.setattr(socket.socket, "connect", no_network)
    monkeypatch.setattr(sentiment, "_analyzer", None)
    scored = sentiment.score(Mention(id=1, text="what a wonderful day", lang="en"))
    assert scored.sentiment == "positive"
