"""AWS Lambda entry point for the EventBridge Scheduler: the same run as the CLI."""

from __future__ import annotations

import functools
import json
import logging
import os
import sys
from collections.abc import Callable
from typing import Any, TextIO

from aws_lambda_powertools.metrics import Metrics, MetricUnit
from aws_lambda_powertools.metrics.provider.cloudwatch_emf.cloudwatch import (
    AmazonCloudWatchEMFProvider,
)
from aws_lambda_powertools.utilities.typing import LambdaContext

from mention_monitor.config import Settings, load_settings
from mention_monitor.errors import ConfigError, MonitorError
from mention_monitor.logs import (
    LAMBDA_LOGGER,
    configure_logging,
    inert_json,
    inert_line,
    redact,
    reset_lambda_context,
    unexpected,
)
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
        _cached["notifiers"] = build_notifiers(
            settings, _secrets(settings), store=_store(settings)
        )
    notifiers: dict[str, Notifier[Any]] = _cached["notifiers"]
    return notifiers


def reset_container() -> None:
    """Forget cached settings, clients and log context (tests simulate a cold start)."""
    _cached.clear()
    reset_lambda_context()


def emit_metrics(summary: dict[str, Any], stream: TextIO | None = None) -> None:
    """One CloudWatch Embedded Metric Format record (Powertools Metrics) on stdout.

    No API call, no extra permission. Exactly one dimension set, ``[["FunctionName"]]`` with
    the function's own name: the template's SilenceAlarm watches that, and two stacks in one
    account never share it. The record is written here rather than by ``flush_metrics``,
    which writes nothing under ``POWERTOOLS_METRICS_DISABLED`` or ``POWERTOOLS_DEV``: a
    missing RunSucceeded would fire the SilenceAlarm on a healthy function.
    """
    watches = summary.get("watches", {}).values()
    # An explicit empty service overrides POWERTOOLS_SERVICE_NAME, which would add a "service"
    # dimension the SilenceAlarm does not watch. Own provider: no state shared across calls.
    metrics = Metrics(provider=AmazonCloudWatchEMFProvider(namespace=METRIC_NAMESPACE, service=""))
    metrics.add_dimension(
        name="FunctionName", value=os.environ.get("AWS_LAMBDA_FUNCTION_NAME", "local")
    )
    values = {
        "RunSucceeded": 1 if summary.get("ok") else 0,
        "RunFailed": 0 if summary.get("ok") else 1,
        "MentionsFound": sum(int(w.get("found", 0)) for w in watches),
        "PostsRead": sum(int(w.get("posts_read", 0)) for w in watches),
        "ApiRequests": sum(int(w.get("api_requests", 0)) for w in watches),
    }
    for name, value in values.items():
        metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)
    out = stream or sys.stdout
    out.write(json.dumps(metrics.serialize_metric_set(), separators=(",", ":")) + "\n")
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


Handler = Callable[[dict[str, Any], LambdaContext], dict[str, Any]]


def masked_errors(fn: Handler) -> Handler:
    """Whatever escapes ``fn`` is masked before Lambda sees it: Lambda puts the message and the
    stack trace of a raised exception into its error record and log, so neither may carry a
    secret. Unexpected exceptions are logged with their (masked) traceback and re-raised as
    :class:`UnexpectedError` with a masked message and no chained cause."""

    @functools.wraps(fn)
    def wrapper(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
        try:
            return fn(event, context)
        except RunFailed:
            raise
        except MonitorError as exc:  # raised on purpose: a safe message, masked all the same
            exc.args = (inert_line(redact(str(exc))),)
            raise exc.with_traceback(None) from None
        except Exception as exc:
            log.error("unexpected error", exc_info=True)  # masked by the log formatter
            raise UnexpectedError(unexpected(exc)) from None

    return wrapper


@LAMBDA_LOGGER.inject_lambda_context(clear_state=True)
@masked_errors
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Run every watch once. Returns the summary; raises :class:`RunFailed` if the run failed.

    Every log line of the invocation carries its request id, cold start and function name.
    """
    settings = _settings()
    dry_run = dry_run_flag(event)
    remaining = context.get_remaining_time_in_millis() / 1000 - SAFETY_MARGIN_SECONDS
    budget = max(1.0, min(settings.time_budget_seconds, remaining))
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
        failures = json.dumps(result.failures, ensure_ascii=False)
        raise RunFailed(inert_json(redact(f"mention-monitor run failed: {failures}")))
    return summary
