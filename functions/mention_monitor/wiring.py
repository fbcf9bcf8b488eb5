"""What the CLI and the handler share: secrets, the store and the notifiers, built from settings."""

from __future__ import annotations

from typing import Any

from mention_monitor import aws
from mention_monitor.config import Settings
from mention_monitor.notifiers import Notifier, SecretReader, Services
from mention_monitor.notifiers.registry import get_notifier_class
from mention_monitor.secrets import SecretProvider, make_secret_provider
from mention_monitor.state import StateStore, make_store


def require_notifier_regions(settings: Settings) -> None:
    """A one-line ConfigError if a used notifier sends through AWS and no region is set."""
    for name in settings.used_notifiers():
        options = settings.notifier_options(name)
        if get_notifier_class(options.type).uses_aws:
            aws.require_region(f"notifiers.{name} (type {options.type!r})")


def build_notifiers(
    settings: Settings,
    secrets: SecretReader,
    services: Services | None = None,
    store: StateStore | None = None,
    *,
    dry_run: bool = False,
) -> dict[str, Notifier[Any]]:
    """One notifier object per notifier some watch sends to.

    With a ``store`` (and no ``services``), each notifier's memory is kept in that store.
    A dry run sends nothing, so it needs nothing of the notifiers (no region either).
    """
    if not dry_run:
        require_notifier_regions(settings)
    services = services or (Services(memory=store.memory) if store is not None else Services())
    out: dict[str, Notifier[Any]] = {}
    for name in settings.used_notifiers():
        options = settings.notifier_options(name)
        cls = get_notifier_class(options.type)
        out[name] = cls(name, options, secrets, services)
    return out


def secret_provider(settings: Settings) -> SecretProvider:
    s = settings.secrets
    if s.backend == "aws":
        aws.require_region("secrets.backend = 'aws'")
    return make_secret_provider(s.backend, s.aws_secret_id, s.cache_ttl_seconds)


def state_store(settings: Settings) -> StateStore:
    s = settings.state
    if s.backend == "dynamodb":
        aws.require_region("state.backend = 'dynamodb'")
    return make_store(s.backend, path=s.path, table=s.table)
