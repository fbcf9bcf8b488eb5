"""Notifier types: built-ins registered in code, third-party ones from an entry-point group."""

from __future__ import annotations

import importlib
import logging
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mention_monitor.notifiers.base import Notifier

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "mention_monitor.notifiers"

# Dotted paths, imported only when a configuration uses the type: a Lambda bundle may carry no
# package metadata, and a cold start should not import SMTP or Twilio code it does not need.
BUILTINS: dict[str, str] = {
    "console": "mention_monitor.notifiers.console:ConsoleNotifier",
    "file": "mention_monitor.notifiers.file:FileNotifier",
    "email-ses": "mention_monitor.notifiers.email:SesEmailNotifier",
    "email-smtp": "mention_monitor.notifiers.email:SmtpEmailNotifier",
    "slack": "mention_monitor.notifiers.slack:SlackNotifier",
    "sms-sns": "mention_monitor.notifiers.sms:SnsSmsNotifier",
    "sms-twilio": "mention_monitor.notifiers.sms:TwilioSmsNotifier",
}

_registered: dict[str, type[Notifier[Any]]] = {}
_plugins_loaded = False


def register(type_name: str, cls: type[Notifier[Any]]) -> None:
    """Register ``cls`` under ``type_name`` (used by tests and by plugins loaded in code)."""
    _registered[type_name] = cls


def unregister(type_name: str) -> None:
    """Forget a type registered with :func:`register` (tests clean up after themselves)."""
    _registered.pop(type_name, None)


def load_plugins() -> int:
    """Load the entry-point group once; return how many new types it added."""
    global _plugins_loaded
    if _plugins_loaded:
        return 0
    _plugins_loaded = True
    from importlib.metadata import entry_points

    added = 0
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        if ep.name in BUILTINS or ep.name in _registered:
            continue
        try:
            _registered[ep.name] = ep.load()
            added += 1
        except Exception as exc:  # noqa: BLE001 - a broken plugin must not stop the run
            log.warning("notifier plugin %s failed to load: %s", ep.name, type(exc).__name__)
    return added


def reset_plugins() -> None:
    """Forget loaded plugins (tests install and remove plugin distributions)."""
    global _plugins_loaded
    _plugins_loaded = False
    _registered.clear()


def _import(path: str) -> type[Notifier[Any]]:
    module, _, attr = path.partition(":")
    cls: type[Notifier[Any]] = getattr(importlib.import_module(module), attr)
    return cls


def get_notifier_class(type_name: str) -> type[Notifier[Any]]:
    """The class for ``type_name``; KeyError with a readable message if there is none."""
    if type_name in _registered:
        return _registered[type_name]
    if type_name in BUILTINS:
        return _import(BUILTINS[type_name])
    load_plugins()
    if type_name in _registered:
        return _registered[type_name]
    known = ", ".join(available_types())
    raise KeyError(f"unknown notifier type {type_name!r} (known: {known})")


def available_types() -> list[str]:
    load_plugins()
    return sorted(set(BUILTINS) | set(_registered))
