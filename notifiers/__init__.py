"""Pluggable notifiers: console, file, email, Slack and SMS, plus entry-point plugins."""

from mention_monitor.notifiers.base import Notifier, NotifierOptions, Preview
from mention_monitor.notifiers.registry import available_types, get_notifier_class

__all__ = ["Notifier", "NotifierOptions", "Preview", "available_types", "get_notifier_class"]
