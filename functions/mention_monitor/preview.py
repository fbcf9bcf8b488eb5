"""``mention-monitor preview``: render what a notifier would send, without sending."""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from mention_monitor.config import Settings
from mention_monitor.errors import ConfigError, SecretsError
from mention_monitor.models import Digest, Mention
from mention_monitor.secrets import SecretProvider
from mention_monitor.services import Services

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


def run_preview(settings: Settings, notifier_name: str, out_path: str | None) -> int:
    """Render ``notifier_name``'s message(s) for the sample mentions; write them to ``out_path``.

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
    passing = tuple(m for m in sample.mentions if options.allows(m))
    digest = Digest(sample.watch, passing, sample.search_url, sample.terms)
    summary: dict[str, Any] = {
        "ok": True,
        "notifier": notifier_name,
        "type": options.type,
        "sample": sample.count,
        "passing_rules": len(passing),
    }
    if not passing:
        summary["summary"] = "no sample mention passes this notifier's routing rules"
        sys.stdout.write(json.dumps(summary, ensure_ascii=False) + "\n")
        return EXIT_OK
    try:
        preview = notifier.preview(digest)
    except NotImplementedError:
        sys.stderr.write(f"mention-monitor: preview: {options.type} notifiers have no preview\n")
        return EXIT_FAILED
    summary.update(media_type=preview.media_type, summary=preview.summary)
    if out_path:
        try:
            Path(out_path).write_text(preview.content, encoding="utf-8")
        except OSError as exc:
            sys.stderr.write(f"mention-monitor: preview: cannot write {out_path}: {exc.strerror}\n")
            return EXIT_FAILED
        summary["out"] = out_path
        sys.stdout.write(json.dumps(summary, ensure_ascii=False) + "\n")
    else:
        sys.stdout.write(preview.content)
        if not preview.content.endswith("\n"):
            sys.stdout.write("\n")
        sys.stderr.write(json.dumps(summary, ensure_ascii=False) + "\n")
    return EXIT_OK
