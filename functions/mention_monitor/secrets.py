"""Credentials from one JSON secret: AWS Secrets Manager (cached with a TTL) or env variables."""

from __future__ import annotations

import json
import os
import threading
from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import Any

from cachetools import TTLCache

from mention_monitor import aws
from mention_monitor.errors import SecretsError
from mention_monitor.logs import register_secret

ENV_SECRET_PREFIX = "MENTION_MONITOR_SECRET_"  # noqa: S105 - a name prefix, not a secret


class SecretProvider(ABC):
    """Reads secret values by key. ``get`` is written once; backends implement ``_load``."""

    @abstractmethod
    def _load(self) -> Mapping[str, str]:
        """All key/value pairs this provider can see."""

    @abstractmethod
    def describe(self) -> str:
        """Where the secrets come from, for messages (never a value)."""

    def get(self, key: str) -> str:
        value = self._load().get(key)
        if not value:
            raise SecretsError(f"secrets: key {key!r} is missing or empty in {self.describe()}")
        return value

    def optional(self, key: str) -> str | None:
        return self._load().get(key) or None

    def require(self, keys: list[str]) -> None:
        """Fail early, naming every missing key."""
        data = self._load()
        missing = sorted({k for k in keys if not data.get(k)})
        if missing:
            names = ", ".join(repr(k) for k in missing)
            raise SecretsError(f"secrets: key(s) {names} missing or empty in {self.describe()}")


class EnvSecrets(SecretProvider):
    """Key ``k`` comes from the variable ``MENTION_MONITOR_SECRET_<K>`` (for local runs)."""

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        self._environ = os.environ if environ is None else environ

    def describe(self) -> str:
        return f"environment variables {ENV_SECRET_PREFIX}*"

    def _load(self) -> Mapping[str, str]:
        out: dict[str, str] = {}
        for name, value in self._environ.items():
            if name.startswith(ENV_SECRET_PREFIX) and value:
                register_secret(value)
                out[name[len(ENV_SECRET_PREFIX) :].lower()] = value
        return out


# One cache per process, shared by every provider object: a warm Lambda container reads the
# secret once per TTL, however many runs it serves.
_CACHE: TTLCache[str, dict[str, str]] = TTLCache(maxsize=16, ttl=300)
_CACHE_LOCK = threading.Lock()


def clear_secret_cache() -> None:
    with _CACHE_LOCK:
        _CACHE.clear()


class AwsSecrets(SecretProvider):
    """One JSON object in AWS Secrets Manager, read with a plain boto3 client and cached."""

    def __init__(self, secret_id: str, client: Any = None, ttl_seconds: float = 300) -> None:
        self.secret_id = secret_id
        self._client = client
        self._ttl = ttl_seconds

    def describe(self) -> str:
        return f"AWS secret {self.secret_id!r}"

    def _fetch(self) -> dict[str, str]:
        client = self._client or aws.client("secretsmanager")
        with aws.aws_errors(
            SecretsError,
            f"secrets: cannot read {self.describe()}",
            f"secrets: cannot reach Secrets Manager for {self.describe()}",
        ):
            resp = client.get_secret_value(SecretId=self.secret_id)
        raw = resp.get("SecretString")
        try:
            data = json.loads(raw) if raw is not None else None
        except ValueError:
            data = None
        if not isinstance(data, dict) or not all(isinstance(v, str) for v in data.values()):
            raise SecretsError(
                f"secrets: {self.describe()} must hold a JSON object of string values"
            )
        for value in data.values():
            register_secret(value)
        return {str(k): v for k, v in data.items()}

    def _load(self) -> Mapping[str, str]:
        if self._ttl <= 0:
            return self._fetch()
        with _CACHE_LOCK:
            cached = _CACHE.get(self.secret_id)
        if cached is None:
            cached = self._fetch()
            with _CACHE_LOCK:
                _CACHE[self.secret_id] = cached
        return cached


def make_secret_provider(backend: str, secret_id: str | None, ttl: float) -> SecretProvider:
    if backend == "aws":
        if _CACHE.ttl != ttl and ttl > 0:
            _reset_cache_ttl(ttl)
        return AwsSecrets(secret_id or "", ttl_seconds=ttl)
    return EnvSecrets()


def _reset_cache_ttl(ttl: float) -> None:
    global _CACHE
    with _CACHE_LOCK:
        _CACHE = TTLCache(maxsize=16, ttl=ttl)
