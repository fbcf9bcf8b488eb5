"""What ``check`` prints: queries, effective settings and their sources, secrets masked."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from mention_monitor.config import Settings
from mention_monitor.logs import MASK, redact
from mention_monitor.secrets import EnvSecrets, SecretProvider

log = logging.getLogger(__name__)


def warn_unknown_env(settings: Settings) -> None:
    """One warning per ``MENTION_MONITOR_*`` variable that sets nothing (likely a typo)."""
    for name, why in settings.env.unknown.items():
        log.warning("environment variable %s %s", name, why)


def effective_settings(settings: Settings) -> dict[str, Any]:
    """Every setting as the run uses it: defaults filled in, paths resolved, each notifier's
    validated options (secrets are never part of the settings, only their key names)."""
    data: dict[str, Any] = settings.model_dump(mode="json")
    data["notifiers"] = {
        name: options.model_dump(mode="json")
        for name, options in sorted(settings.validated_notifiers().items())
    }
    return data


def secret_sources(settings: Settings, secrets: SecretProvider) -> dict[str, dict[str, str]]:
    """Each secret key the configuration reads: masked, and where it comes from."""
    out: dict[str, dict[str, str]] = {}
    for key in sorted(set(settings.required_secret_keys())):
        where = (
            EnvSecrets.variable(key) if isinstance(secrets, EnvSecrets) else secrets.describe()
        )
        out[key] = {"value": MASK, "from": where}
    return out


def check_report(
    settings: Settings,
    secrets: SecretProvider,
    queries: Mapping[str, list[str]],
    rejected: Mapping[tuple[str, str], str],
) -> dict[str, Any]:
    """``check``'s JSON: ``ok`` (false when X refused a query in the last run), ``config``,
    ``secret_keys`` and each watch's queries (with X's reason where ``rejected``), then
    ``settings`` (effective), ``from_env`` (setting path -> the variable that set it),
    ``secrets`` (masked, with their source) and ``unknown_env`` (variables that set nothing)."""
    report = {
        "ok": not rejected,
        "config": str(settings.config_path),
        "secret_keys": sorted(set(settings.required_secret_keys())),
        "watches": {
            name: [
                {"query": q, "length": len(q)}
                | ({"rejected": rejected[(name, q)]} if (name, q) in rejected else {})
                for q in qs
            ]
            for name, qs in queries.items()
        },
        "settings": effective_settings(settings),
        "from_env": dict(sorted(settings.env.settings.items())),
        "secrets": secret_sources(settings, secrets),
        "unknown_env": dict(settings.env.unknown),
    }
    # Belt and braces: a secret value typed into the config by mistake is masked here too.
    masked: dict[str, Any] = _masked(report)
    return masked


def _masked(value: Any) -> Any:
    """``value`` with every string (keys included) passed through :func:`redact`."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {_masked(k): _masked(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_masked(v) for v in value]
    return value
