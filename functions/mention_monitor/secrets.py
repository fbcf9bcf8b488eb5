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
from mention_monitor.envvars import SECRET_ENV_PREFIX
from mention_monitor.errors import SecretsError
from mention_monitor.logs import register_secret

ENV_SECRET_PREFIX = SECRET_ENV_PREFIX


def clean(value: str) -> str:
    """A loaded secret without surrounding whitespace: a stray CR or newline from a file or a
    paste would otherwise end up in an HTTP header (and in the error that refuses it)."""
    return value.strip()


class SecretProvider(ABC):
    """Reads secret values by key. ``get`` is written once; backends implement ``_load``."""

    @abstractmethod
    def _load(self) -> Mapping[str, str]:
        """All key/value pairs this provider can see."""

    @abstractmethod
    def describe(self) -> str:
        """Where the secrets come from, for messages (never a value)."""

    def missing(self, keys: list[str]) -> str:
        """The message for ``keys`` missing: what they are and where to put them."""
        names = ", ".join(repr(k) for k in keys)
        return f"secrets: key(s) {names} missing or empty in {self.describe()}"

    def get(self, key: str) -> str:
        value = self._load().get(key)
        if not value:
            raise SecretsError(self.missing([key]))
        return value

    def optional(self, key: str) -> str | None:
        return self._load().get(key) or None

    def require(self, keys: list[str]) -> None:
        """Fail early, naming every missing key."""
        data = self._load()
        missing = sorted({k for k in keys if not data.get(k)})
        if missing:
            raise SecretsError(self.missing(missing))


class EnvSecrets(SecretProvider):
    """Key ``k`` comes from the variable ``MENTION_MONITOR_SECRET_<K>`` (for local runs)."""

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        self._environ = os.environ if environ is None else environ

    def describe(self) -> str:
        return f"environment variables {ENV_SECRET_PREFIX}*"

    @staticmethod
    def variable(key: str) -> str:
        """The environment variable that holds ``key``."""
        return ENV_SECRET_PREFIX + key.upper()

    def missing(self, keys: list[str]) -> str:
        names = ", ".join(repr(k) for k in keys)
        variables = ", ".join(self.variable(k) for k in keys)
        return f"secrets: key(s) {names} missing or empty: set {variables}"

    def _load(self) -> Mapping[str, str]:
        out: dict[str, str] = {}
        for name, raw in self._environ.items():
            value = clean(raw) if name.startswith(ENV_SECRET_PREFIX) else ""
            if value:
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
        cleaned = {str(k): clean(v) for k, v in data.items()}
        for value in cleaned.values():
            register_secret(value)
        return cleaned

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
