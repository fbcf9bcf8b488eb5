"""Which setting each ``MENTION_MONITOR_*`` environment variable names, and which name none."""

from __future__ import annotations

import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel

ENV_PREFIX = "MENTION_MONITOR_"
CONFIG_ENV = "MENTION_MONITOR_CONFIG"
SECRET_ENV_PREFIX = "MENTION_MONITOR_SECRET_"  # noqa: S105 - a name prefix, not a secret
NESTED = "__"


@dataclass
class EnvScan:
    """The ``MENTION_MONITOR_*`` variables of one environment, sorted out.

    ``settings``: dotted setting path -> the variable that sets it (``x.page_size`` ->
    ``MENTION_MONITOR_X__PAGE_SIZE``); ``unknown``: variable -> why it matches no setting;
    ``values``: what the environment contributes, nested as the settings are (pydantic-settings'
    own reading of it).
    """

    settings: dict[str, str] = field(default_factory=dict)
    unknown: dict[str, str] = field(default_factory=dict)
    values: dict[str, Any] = field(default_factory=dict)

    def source_of(self, path: str) -> str | None:
        """The variable that set the value at dotted ``path`` (None: it is not from env)."""
        node: Any = self.values
        for part in path.split("."):
            if not isinstance(node, dict) or part not in node:
                return None
            node = node[part]
        for candidate in sorted(self.settings, key=len, reverse=True):
            if path == candidate or path.startswith(candidate + "."):
                return self.settings[candidate]
        return None


def _model_of(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    return None


def _walk(model: type[BaseModel], parts: list[str]) -> bool:
    """True when ``parts`` (lower case) name a field of ``model`` or something inside one."""
    name, rest = parts[0], parts[1:]
    info = model.model_fields.get(name)
    if info is None or not name:
        return False
    if not rest:
        return True
    sub = _model_of(info.annotation)
    if sub is not None:
        return _walk(sub, rest)
    if typing.get_origin(info.annotation) in (dict, list):
        # notifiers.NAME.KEY: the options model behind NAME checks KEY itself; a list's
        # items are read by pydantic-settings too (and refused by validation if wrong).
        return all(rest)
    return False


def _hint(model: type[BaseModel], rest: str) -> str:
    """Why ``MENTION_MONITOR_<rest>`` matches nothing, with the likely intended name."""
    upper = rest.upper()
    if upper.startswith("SECRETS_") and not upper.startswith("SECRETS" + NESTED):
        return f"matches no setting; secrets use {SECRET_ENV_PREFIX}{upper[len('SECRETS_'):]}"
    lower = rest.lower()
    for i, ch in enumerate(lower):
        if ch == "_" and lower[i - 1 : i] != "_" and lower[i + 1 : i + 2] != "_":
            candidate = lower[:i] + NESTED + lower[i + 1 :]
            if _walk(model, candidate.split(NESTED)):
                return f"matches no setting; did you mean {ENV_PREFIX}{candidate.upper()}?"
    return "matches no setting (nested keys are joined with __, e.g. MENTION_MONITOR_X__PAGE_SIZE)"


def scan(
    environ: Mapping[str, str], model: type[BaseModel], values: dict[str, Any] | None = None
) -> EnvScan:
    """Sort the environment's ``MENTION_MONITOR_*`` variables against the settings ``model``;
    ``values`` is what pydantic-settings read from them."""
    out = EnvScan(values=dict(values or {}))
    for name in sorted(environ):
        upper = name.upper()
        if not upper.startswith(ENV_PREFIX) or upper == CONFIG_ENV:
            continue
        if upper.startswith(SECRET_ENV_PREFIX):
            continue  # a secret's variable (read by the env secrets backend)
        rest = name[len(ENV_PREFIX) :]
        parts = rest.lower().split(NESTED)
        if _walk(model, parts):
            out.settings[".".join(parts)] = name
        else:
            out.unknown[name] = _hint(model, rest)
    return out
