"""``mention-monitor preview``: render what a notifier would send, without sending."""

from __future__ import annotations

import dataclasses
import json
import sys
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from mention_monitor.config import Settings
from mention_monitor.errors import ConfigError, SecretsError
from mention_monitor.models import Digest, Mention, SpikeInfo
from mention_monitor.notifiers import NotifierOptions
from mention_monitor.period import parse_created, stamp, summarize
from mention_monitor.secrets import SecretProvider
from mention_monitor.services import Services
from mention_monitor.spikes import headline

SAMPLE_NAME = "sample-mentions.json"
EXIT_OK, EXIT_FAILED, EXIT_CONFIG = 0, 1, 2


class _NoSecrets(SecretProvider):
    """Preview never needs a secret value: any attempt to read one is an error."""

    def _load(self) -> Mapping[str, str]:
        raise SecretsError("secrets: preview does not read secrets")

    def describe(self) -> str:
        return "no secrets (preview)"


def sample_path(settings: Settings) -> Path:
    """``sample-mentions.json`` beside the config file, else the project's ``examples/``."""
    candidates = []
    if settings.config_path is not None:
        candidates.append(settings.config_path.resolve().parent / SAMPLE_NAME)
    candidates.append(Path(__file__).resolve().parents[2] / "examples" / SAMPLE_NAME)
    for path in candidates:
        if path.is_file():
            return path
    raise ConfigError(f"preview: {SAMPLE_NAME} not found beside the config or in examples/")


def load_sample(path: Path) -> Digest:
    try:
        raw: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        mentions = tuple(
            sorted((Mention.from_json(m) for m in raw["mentions"]), key=lambda m: m.id)
        )
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ConfigError(f"preview: {path} is not a sample-mentions file: {exc}") from None
    return Digest(
        watch=str(raw.get("watch", "Acme")),
        mentions=mentions,
        search_url=str(raw.get("search_url", "")),
    )


def _scheduled(options: NotifierOptions, sample: Digest) -> Digest:
    """``sample`` as the notifier's schedule sends it: a scheduled digest opens with the
    summary of the period the sample's newest post falls in; a quiet one may be a note."""
    plan = options.plan
    if plan.every_run:
        return sample
    times = [t for t in (parse_created(m.created_at) for m in sample.mentions) if t is not None]
    newest = max(times, default=datetime.now(UTC))
    start, end = min([plan.last_due(newest), *times]), plan.next_due(newest)
    if sample.mentions:
        period = summarize(sample.mentions, start, end, options.timezone)
        return dataclasses.replace(sample, period=period)
    if options.send_empty:
        note = f"No new mentions of {sample.watch} since {stamp(start, ZoneInfo(options.timezone))}"
        return dataclasses.replace(sample, headline=note)
    return sample


def _alert(settings: Settings, name: str, sample: Digest) -> Digest:
    """A sample spike alert for ``name`` with the sample's three most-engaged posts."""
    window = next(
        (w.spike.window_minutes for w in settings.watches if w.spike and name in w.spike.notify),
        60,
    )
    scored = [m for m in sample.mentions if m.sentiment in ("negative", "neutral", "positive")]
    share = None
    if settings.sentiment.enabled and scored:
        share = round(100 * sum(m.sentiment == "negative" for m in scored) / len(scored))
    info = SpikeInfo(count=240, usual=12, window_minutes=window, negative_share=share)
    top = sorted(sample.mentions, key=lambda m: (-m.engagement, m.id))[:3]
    return Digest(
        sample.watch, tuple(top), sample.search_url, kind="spike",
        headline=headline(sample.watch, info), spike=info,
    )


def _write(path: Path, content: str) -> str | None:
    try:
        path.write_text(content, encoding="utf-8")
    except OSError as exc:
        return f"mention-monitor: preview: cannot write {path}: {exc.strerror}\n"
    return None


def run_preview(settings: Settings, notifier_name: str, out_path: str | None) -> int:
    """Render ``notifier_name``'s digest for the sample mentions (as its schedule sends it,
    with the period summary when it is scheduled) and a sample spike alert. With ``out_path``
    the digest goes there and the alert beside it (``NAME.spike.EXT``).

    Rendering never needs a secret value: the notifier gets a secret reader that refuses.
    """
    from mention_monitor.notifiers.registry import get_notifier_class

    if notifier_name not in settings.notifiers:
        known = ", ".join(sorted(settings.notifiers)) or "none"
        sys.stderr.write(
            f"mention-monitor: preview: no notifier named {notifier_name!r} (known: {known})\n"
        )
        return EXIT_CONFIG
    options = settings.notifier_options(notifier_name)
    notifier = get_notifier_class(options.type)(notifier_name, options, _NoSecrets(), Services())
    sample = load_sample(sample_path(settings))
    if settings.sentiment.enabled:
        from mention_monitor.sentiment import score_all

        sample = dataclasses.replace(sample, mentions=tuple(score_all(sample.mentions)))
    passing = tuple(m for m in sample.mentions if options.allows(m))
    digest = _scheduled(options, dataclasses.replace(sample, mentions=passing))
    summary: dict[str, Any] = {
        "ok": True,
        "notifier": notifier_name,
        "type": options.type,
        "schedule": options.plan.describe(),
        "timezone": options.timezone,
        "sample": sample.count,
        "passing_rules": len(passing),
    }
    try:
        alert = notifier.preview(_alert(settings, notifier_name, sample))
        rendered = notifier.preview(digest) if digest.mentions or digest.headline else None
    except NotImplementedError:
        sys.stderr.write(f"mention-monitor: preview: {options.type} notifiers have no preview\n")
        return EXIT_FAILED
    if rendered is None:
        summary["summary"] = "no sample mention passes this notifier's routing rules"
    else:
        summary.update(media_type=rendered.media_type, summary=rendered.summary)
    summary["spike_summary"] = alert.summary
    if out_path:
        out = Path(out_path)
        spike_out = out.with_name(f"{out.stem}.spike{out.suffix}")
        for path, part in ((out, rendered), (spike_out, alert)):
            if part is not None and (error := _write(path, part.content)):
                sys.stderr.write(error)
                return EXIT_FAILED
        if rendered is not None:
            summary["out"] = out_path
        summary["spike_out"] = str(spike_out)
        sys.stdout.write(json.dumps(summary, ensure_ascii=False) + "\n")
        return EXIT_OK
    for part in (rendered, alert):
        if part is None:
            continue
        sys.stdout.write(part.content)
        if not part.content.endswith("\n"):
            sys.stdout.write("\n")
        if part is rendered:
            sys.stdout.write("-" * 30 + " spike alert " + "-" * 29 + "\n")
    sys.stderr.write(json.dumps(summary, ensure_ascii=False) + "\n")
    return EXIT_OK
