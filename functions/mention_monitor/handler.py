"""AWS Lambda entry point for the EventBridge Scheduler: the same run as the CLI."""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from typing import Any

from mention_monitor.config import Settings, load_settings
from mention_monitor.errors import ConfigError, MonitorError
from mention_monitor.logs import configure_logging, redact, unexpected
from mention_monitor.notifiers import Notifier
from mention_monitor.report import warn_unknown_env
from mention_monitor.run import RunContext, run_once
from mention_monitor.secrets import SecretProvider
from mention_monitor.state import StateStore
from mention_monitor.wiring import build_notifiers, secret_provider, state_store

log = logging.getLogger("mention_monitor.handler")

METRIC_NAMESPACE = "MentionMonitor"
SAFETY_MARGIN_SECONDS = 10.0

# Built once per container: settings and the store's client survive warm invocations.
_cached: dict[str, Any] = {}


class RunFailed(RuntimeError):
    """The run finished but a search or a notifier failed; Lambda records an error."""


class UnexpectedError(RuntimeError):
    """An exception nobody raised on purpose, re-raised with its message masked."""


def _settings() -> Settings:
    if "settings" not in _cached:
        settings = load_settings()
        configure_logging(settings.log_level)
        warn_unknown_env(settings)
        _cached["settings"] = settings
    settings_obj: Settings = _cached["settings"]
    return settings_obj


def _store(settings: Settings) -> StateStore:
    if "store" not in _cached:
        _cached["store"] = state_store(settings)
    store: StateStore = _cached["store"]
    return store


def _secrets(settings: Settings) -> SecretProvider:
    if "secrets" not in _cached:
        _cached["secrets"] = secret_provider(settings)
    secrets: SecretProvider = _cached["secrets"]
    return secrets


def _notifiers(settings: Settings) -> dict[str, Notifier[Any]]:
    """Built once per container, like the settings: warm runs reuse their HTTP sessions."""
    if "notifiers" not in _cached:
        _cached["notifiers"] = build_notifiers(settings, _secrets(settings))
    notifiers: dict[str, Notifier[Any]] = _cached["notifiers"]
    return notifiers


def reset_container() -> None:
    """Forget cached settings and clients (tests simulate a cold start)."""
    _cached.clear()


def emit_metrics(summary: dict[str, Any], stream: Any = None) -> None:
    """One CloudWatch Embedded Metric Format line: no API call, no extra permission.

    Dimensioned by ``FunctionName`` so two stacks in one account never share a silence alarm.
    """
    watches = summary.get("watches", {}).values()
    function_name = os.environ.get("AWS_LAMBDA_FUNCTION_NAME", "local")
    record = {
        "_aws": {
            "Timestamp": int(time.time() * 1000),
            "CloudWatchMetrics": [
                {
                    "Namespace": METRIC_NAMESPACE,
                    "Dimensions": [["FunctionName"]],
                    "Metrics": [
                        {"Name": "RunSucceeded", "Unit": "Count"},
                        {"Name": "RunFailed", "Unit": "Count"},
                        {"Name": "MentionsFound", "Unit": "Count"},
                        {"Name": "PostsRead", "Unit": "Count"},
                        {"Name": "ApiRequests", "Unit": "Count"},
                    ],
                }
            ],
        },
        "FunctionName": function_name,
        "RunSucceeded": 1 if summary.get("ok") else 0,
        "RunFailed": 0 if summary.get("ok") else 1,
        "MentionsFound": sum(int(w.get("found", 0)) for w in watches),
        "PostsRead": sum(int(w.get("posts_read", 0)) for w in watches),
        "ApiRequests": sum(int(w.get("api_requests", 0)) for w in watches),
    }
    out = stream or sys.stdout
    out.write(json.dumps(record, separators=(",", ":")) + "\n")
    out.flush()


def dry_run_flag(event: Any) -> bool:
    """``event["dry_run"]``, strictly: ``true``/``false`` (JSON booleans, or those two words as
    strings in any case); absent is false; anything else is a :class:`ConfigError`."""
    if not isinstance(event, dict) or "dry_run" not in event:
        return False
    value = event["dry_run"]
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    raise ConfigError(f"event: dry_run must be true or false (got a {type(value).__name__})")


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Run every watch once. Returns the summary; raises :class:`RunFailed` if the run failed.

    Whatever escapes is masked before Lambda sees it: Lambda puts the message and the stack
    trace of a raised exception into its error record and log, so both carry no secret.
    """
    try:
        return _run(event, context)
    except RunFailed:
        raise
    except MonitorError as exc:  # raised on purpose: a safe message, masked all the same
        exc.args = (redact(str(exc)),)
        raise exc.with_traceback(None) from None
    except Exception as exc:
        log.error("unexpected error", exc_info=True)  # the traceback, masked by the formatter
        raise UnexpectedError(unexpected(exc)) from None


def _run(event: dict[str, Any], context: Any) -> dict[str, Any]:
    settings = _settings()
    dry_run = dry_run_flag(event)
    budget = settings.time_budget_seconds
    remaining_ms = getattr(context, "get_remaining_time_in_millis", None)
    if callable(remaining_ms):
        budget = max(1.0, min(budget, remaining_ms() / 1000 - SAFETY_MARGIN_SECONDS))
    ctx = RunContext(
        settings=settings,
        store=_store(settings),
        secrets=_secrets(settings),
        notifiers=_notifiers(settings),
        budget_seconds=budget,
        dry_run=dry_run,
    )
    result = run_once(ctx)
    summary = result.to_dict()
    emit_metrics(summary)
    log.info("run finished", extra={"summary": summary})
    if not result.ok:
        raise RunFailed(redact(f"mention-monitor run failed: {json.dumps(result.failures)}"))
    return summary
