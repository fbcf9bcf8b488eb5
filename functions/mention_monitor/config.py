"""Configuration: a TOML file overridable by ``MENTION_MONITOR_*`` environment variables."""

from __future__ import annotations

import os
import tomllib
import unicodedata
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from mention_monitor import envvars
from mention_monitor.envvars import CONFIG_ENV, ENV_PREFIX, EnvScan
from mention_monitor.errors import ConfigError
from mention_monitor.http import base_url
from mention_monitor.notifiers.base import ConfigPath, NotifierOptions, is_path_option

DEFAULT_CONFIG = "monitor.toml"
#: Deeper nesting than any real configuration needs; deeper input is refused, not recursed into.
MAX_NESTING = 16
#: Bidirectional controls: they reorder how a name is displayed (U+202A..E, U+2066..9).
_BIDI = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")

LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class XSettings(_Strict):
    """``[x]``: how to reach X's recent-search endpoint."""

    api_base: str = "https://api.x.com"
    auth: Literal["bearer", "oauth1"] = "bearer"
    max_query_length: int = Field(512, ge=32, le=4096)
    page_size: int = Field(100, ge=10, le=100)
    source: Literal["api", "replay"] = "api"
    replay_dir: ConfigPath = "examples/recorded"
    timeout_seconds: float = Field(10.0, gt=0, le=120)
    max_retries: int = Field(3, ge=0, le=10)
    backoff_seconds: float = Field(1.0, ge=0, le=60)
    #: Where author names and follower counts come from: ``cache`` looks each author up once
    #: (``GET /2/users``) and keeps it for ``author_ttl_days``; ``expand`` asks every search to
    #: expand ``author_id`` (X bills every author object returned); ``none`` reads no authors.
    authors: Literal["cache", "expand", "none"] = "cache"
    author_ttl_days: float = Field(7, gt=0, le=365)
    #: The spending guard: stop searching before a UTC day's / month's X reads pass these.
    daily_budget_usd: float | None = Field(None, gt=0)
    monthly_budget_usd: float | None = Field(None, gt=0)
    #: Notifiers that get one alert per period when a budget stops the searches.
    budget_notify: list[str] = []
    #: ``post.fields`` (X's spec 2.167) or ``tweet.fields`` (2.162, the docs); auto tries both.
    fields_style: Literal["auto", "post", "tweet"] = "auto"

    @field_validator("api_base")
    @classmethod
    def _strip_slash(cls, value: str) -> str:
        return base_url(value)


class StateSettings(_Strict):
    """``[state]``: where cursors and the outbox live."""

    backend: Literal["sqlite", "dynamodb"] = "sqlite"
    path: ConfigPath = "mention-monitor.db"
    table: str = "mention-monitor"
    outbox_days: float = Field(14, gt=0, le=365)
    lease_seconds: int = Field(960, ge=10, le=86400)


class SecretsSettings(_Strict):
    """``[secrets]``: where credentials come from (never from this file)."""

    backend: Literal["env", "aws"] = "env"
    aws_secret_id: str | None = None
    cache_ttl_seconds: float = Field(300, ge=0, le=86400)


class SentimentSettings(_Strict):
    """``[sentiment]``: score each new English mention once with VADER before it is stored."""

    enabled: bool = False


class SpikeSettings(_Strict):
    """``[watches.spike]``: alert ``notify`` when the last window's count is a spike."""

    notify: list[str] = Field(min_length=1)
    window_minutes: int = Field(60, ge=10, le=1440)
    factor: float = Field(3.0, ge=1.0, le=1000.0)
    min_mentions: int = Field(20, ge=1)
    cooldown_minutes: int = Field(180, ge=0, le=43200)


class Watch(_Strict):
    """``[[watches]]``: one brand's terms and which notifiers hear about them."""

    name: str = Field(min_length=1, max_length=100)
    terms: list[str] = Field(min_length=1)
    exclude_terms: list[str] = []
    exclude_authors: list[str] = []
    include_retweets: bool = False
    languages: list[str] = []
    first_run: Literal["latest", "backfill"] = "latest"
    backfill_limit: int = Field(100, ge=1, le=10000)
    notify: list[str] = []
    spike: SpikeSettings | None = None

    @field_validator("name")
    @classmethod
    def _printable_name(cls, value: str) -> str:
        # The name goes into email subjects and headers, file names and log lines.
        for ch in value:
            if unicodedata.category(ch) in ("Cc", "Zl", "Zp") or ch in _BIDI:
                raise ValueError("must not contain line breaks or control characters")
        return value

    @field_validator("terms", "exclude_terms")
    @classmethod
    def _no_blank_terms(cls, value: list[str]) -> list[str]:
        cleaned = [t.strip() for t in value]
        if any(not t for t in cleaned):
            raise ValueError("terms must not be empty strings")
        return cleaned

    @field_validator("exclude_authors")
    @classmethod
    def _handles(cls, value: list[str]) -> list[str]:
        cleaned = [a.strip().lstrip("@") for a in value]
        for handle in cleaned:
            if not handle or not handle.replace("_", "").isalnum():
                raise ValueError(f"{handle!r} is not an X username")
        return cleaned

    @field_validator("languages")
    @classmethod
    def _langs(cls, value: list[str]) -> list[str]:
        for lang in value:
            if not (2 <= len(lang) <= 3 and lang.isalpha()):
                raise ValueError(f"{lang!r} is not a language code such as 'en'")
        return [lang.lower() for lang in value]


class Settings(BaseSettings):
    """All non-secret configuration. Build it once per process with :func:`load_settings`."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_nested_delimiter="__",
        extra="forbid",
        toml_file=None,
    )

    log_level: LogLevel = "INFO"
    time_budget_seconds: float = Field(240, gt=0, le=3600)
    #: Watches searched at the same time (a bounded pool of workers).
    max_concurrent_watches: int = Field(4, ge=1, le=16)
    #: A watch left out of runs (time budget, rate limit) longer than this fails the run.
    max_staleness_minutes: float = Field(60, gt=0, le=7 * 24 * 60)
    x: XSettings = Field(default_factory=XSettings)
    state: StateSettings = Field(default_factory=StateSettings)
    secrets: SecretsSettings = Field(default_factory=SecretsSettings)
    sentiment: SentimentSettings = Field(default_factory=SentimentSettings)
    watches: list[Watch] = Field(min_length=1)
    notifiers: dict[str, dict[str, Any]] = {}


    @field_validator("log_level", mode="before")
    @classmethod
    def _upper(cls, value: Any) -> Any:
        return value.upper() if isinstance(value, str) else value

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Environment beats the TOML file; no dotenv and no secrets directory: secrets come
        # from the secrets backend only.
        return (init_settings, env_settings, TomlConfigSettingsSource(settings_cls))

    def used_notifiers(self) -> list[str]:
        """Names of the notifiers some watch sends to (digests or spike alerts), and the
        spending guard's; unused ones need no secrets."""
        names = {n for w in self.watches for n in w.notify}
        names.update(n for w in self.watches if w.spike for n in w.spike.notify)
        names.update(self.x.budget_notify)
        return sorted(names)

    def required_secret_keys(self) -> list[str]:
        """Every secret key this configuration reads: X's, then the used notifiers'."""
        keys = x_secret_keys(self.x.auth, self.x.source)
        for name in self.used_notifiers():
            keys.extend(self.notifier_options(name).secret_keys())
        return keys

    def notifier_options(self, name: str) -> NotifierOptions:
        """The validated options object of notifier ``name`` (see :func:`load_settings`)."""
        return self._validated_notifiers[name]

    _validated_notifiers: dict[str, NotifierOptions] = {}
    _config_path: Path | None = None
    _env: EnvScan | None = None

    @property
    def config_path(self) -> Path | None:
        """The TOML file these settings were read from."""
        return self._config_path

    @property
    def env(self) -> EnvScan:
        """The ``MENTION_MONITOR_*`` variables: what each set, and those that set nothing."""
        return self._env if self._env is not None else EnvScan()

    def validated_notifiers(self) -> dict[str, NotifierOptions]:
        """Every ``[notifiers.NAME]`` table's validated options, by name."""
        return dict(self._validated_notifiers)


def x_secret_keys(auth: str, source: str) -> list[str]:
    """Secret keys the X source needs for ``auth`` (none for the offline replay)."""
    if source == "replay":
        return []
    if auth == "oauth1":
        return ["x_consumer_key", "x_consumer_secret", "x_access_token", "x_access_token_secret"]
    return ["x_bearer_token"]


def resolve_config_path(
    cli_path: str | None, environ: Mapping[str, str] | None = None
) -> Path:
    """``--config``, else ``MENTION_MONITOR_CONFIG``, else ``./monitor.toml``."""
    env = os.environ if environ is None else environ
    return Path(cli_path or env.get(CONFIG_ENV) or DEFAULT_CONFIG)


def _loc(loc: tuple[int | str, ...]) -> str:
    return ".".join(str(p) for p in loc) or "config"


def _describe(err: dict[str, Any]) -> str:
    if err["type"] == "extra_forbidden":
        return "unknown key"
    if err["type"] == "missing":
        return "required key is missing"
    return str(err["msg"])


def format_validation_error(exc: ValidationError, prefix: tuple[int | str, ...] = ()) -> str:
    """One line naming each failing field, without echoing input values."""
    parts = [f"{_loc(prefix + tuple(e['loc']))}: {_describe(dict(e))}" for e in exc.errors()]
    return "; ".join(parts)


def _check_nesting(data: Any, where: str) -> None:
    """Refuse input nested deeper than :data:`MAX_NESTING` (walked without recursion)."""
    stack: list[tuple[Any, int]] = [(data, 0)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_NESTING:
            raise ConfigError(
                f"config: {where} nests tables or arrays more than {MAX_NESTING} deep"
            )
        if isinstance(node, dict):
            stack.extend((v, depth + 1) for v in node.values())
        elif isinstance(node, list):
            stack.extend((v, depth + 1) for v in node)


def _read_toml(cfg_path: Path) -> dict[str, Any]:
    try:
        with cfg_path.open("rb") as fh:
            data = tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config: {cfg_path} is not valid TOML: {exc}") from None
    except RecursionError:
        raise ConfigError(
            f"config: {cfg_path} nests tables or arrays more than {MAX_NESTING} deep"
        ) from None
    except OSError as exc:
        raise ConfigError(f"config: cannot read {cfg_path}: {exc.strerror}") from None
    _check_nesting(data, str(cfg_path))
    return data


def resolve_path(value: str, base: Path, *, from_env: bool) -> str:
    """A path setting made absolute: relative to ``base`` (the config file's directory), or to
    the working directory when an environment variable gave it; ``~`` is expanded."""
    if value == ":memory:":  # SQLite's in-memory database, not a file
        return value
    path = Path(value).expanduser()
    if not path.is_absolute():
        path = (Path.cwd() if from_env else base) / path
    return os.path.normpath(path)


def _resolve_paths(model: BaseModel, prefix: str, base: Path, env: EnvScan) -> None:
    """Resolve every :data:`ConfigPath` field of ``model`` and its sections, in place."""
    for name, info in type(model).model_fields.items():
        value = getattr(model, name)
        where = f"{prefix}{name}"
        if isinstance(value, BaseModel):
            _resolve_paths(value, where + ".", base, env)
        elif isinstance(value, str) and is_path_option(info.metadata):
            from_env = env.source_of(where) is not None
            setattr(model, name, resolve_path(value, base, from_env=from_env))


def load_settings(
    path: str | Path | None = None, environ: Mapping[str, str] | None = None
) -> Settings:
    """Read, validate and cross-check the configuration; raise :class:`ConfigError` on any fault.

    Relative paths in the file are resolved against the file's directory, relative paths from
    environment variables against the working directory.
    """
    env = os.environ if environ is None else environ
    cfg_path = resolve_config_path(str(path) if path else None, env)
    if cfg_path.is_dir():
        raise ConfigError(
            f"config: {str(cfg_path)!r} is a directory; pass the TOML file itself "
            f"(e.g. --config {cfg_path / DEFAULT_CONFIG})"
        )
    if not cfg_path.is_file():
        raise ConfigError(
            f"config: file {str(cfg_path)!r} not found (pass --config FILE or set {CONFIG_ENV})"
        )
    _read_toml(cfg_path)

    bound = type(
        "BoundSettings",
        (Settings,),
        {"model_config": {**Settings.model_config, "toml_file": cfg_path}},
    )
    try:
        settings: Settings = bound()
        from_env = EnvSettingsSource(bound)()
    except ValidationError as exc:
        raise ConfigError(f"config: {format_validation_error(exc)}") from None
    except RecursionError:
        raise ConfigError(
            f"config: an {ENV_PREFIX}* variable nests more than {MAX_NESTING} deep"
        ) from None
    except ValueError as exc:  # e.g. an environment variable that is not valid JSON
        raise ConfigError(f"config: {exc}") from None
    _check_nesting(from_env, f"the {ENV_PREFIX}* variables")
    settings._config_path = cfg_path
    settings._env = envvars.scan(env, Settings, from_env)
    base = Path(os.path.abspath(cfg_path)).parent  # the directory as named, symlinks kept
    _resolve_paths(settings, "", base, settings.env)
    _cross_check(settings, base)
    return settings


def _notifier_paths(
    name: str, raw: dict[str, Any], options: type[NotifierOptions], base: Path, env: EnvScan
) -> dict[str, Any]:
    """``raw`` with the options' :data:`ConfigPath` values (or defaults) resolved."""
    out = dict(raw)
    for field, info in options.model_fields.items():
        if not is_path_option(info.metadata):
            continue
        value = out.get(field, info.default)
        if isinstance(value, str) and value:
            from_env = env.source_of(f"notifiers.{name}.{field}") is not None
            out[field] = resolve_path(value, base, from_env=from_env)
    return out


def _check_lease(settings: Settings, validated: dict[str, NotifierOptions]) -> None:
    """A run must give up searching and sending before its lease on a watch can expire."""
    budget = settings.time_budget_seconds
    longest, slowest = 0.0, ""
    for name in settings.used_notifiers():
        seconds = validated[name].max_send_seconds()
        if seconds > longest:
            longest, slowest = seconds, name
    need = budget + longest
    if settings.state.lease_seconds <= need:
        also = f" plus the longest send ({longest:g} s, notifiers.{slowest})" if slowest else ""
        raise ConfigError(
            f"config: state.lease_seconds: must be longer than time_budget_seconds "
            f"({budget:g} s){also}: more than {need:g}"
        )


def _check_schedules(settings: Settings, validated: dict[str, NotifierOptions]) -> None:
    """The outbox must outlive the longest schedule; sentiment rules need sentiment on."""
    outbox_seconds = settings.state.outbox_days * 86400
    for name, options in sorted(validated.items()):
        plan = options.plan
        if plan.longest_period_seconds >= outbox_seconds:
            raise ConfigError(
                f"config: state.outbox_days: must be longer than the longest schedule "
                f"(notifiers.{name}.schedule is {plan.describe()!r}: up to "
                f"{plan.longest_period_seconds / 86400:g} days with a daylight-saving change)"
            )
        if options.sentiment is not None and not settings.sentiment.enabled:
            raise ConfigError(
                f"config: notifiers.{name}.sentiment: needs [sentiment] enabled = true"
            )


def _cross_check(settings: Settings, base: Path) -> None:
    """Checks that span sections: notifier types and options, watch names, notify targets,
    the replay directory and the lease."""
    from mention_monitor.notifiers.registry import get_notifier_class

    validated: dict[str, NotifierOptions] = {}
    for name, raw in settings.notifiers.items():
        if not isinstance(raw, dict):
            raise ConfigError(f"config: notifiers.{name}: must be a table")
        type_name = raw.get("type")
        if not isinstance(type_name, str) or not type_name:
            raise ConfigError(f"config: notifiers.{name}.type: required key is missing")
        try:
            cls = get_notifier_class(type_name)
        except KeyError as exc:
            raise ConfigError(f"config: notifiers.{name}.type: {exc.args[0]}") from None
        raw = _notifier_paths(name, raw, cls.Options, base, settings.env)
        try:
            validated[name] = cls.Options.model_validate(raw)
        except ValidationError as exc:
            raise ConfigError(
                f"config: {format_validation_error(exc, ('notifiers', name))}"
            ) from None

    seen: set[str] = set()
    for i, watch in enumerate(settings.watches):
        if watch.name in seen:
            raise ConfigError(f"config: watches.{i}.name: duplicate watch name {watch.name!r}")
        seen.add(watch.name)
        targets = [("notify", t) for t in watch.notify]
        targets += [("spike.notify", t) for t in (watch.spike.notify if watch.spike else [])]
        for key, target in targets:
            if target not in validated:
                raise ConfigError(
                    f"config: watches.{i}.{key}: no notifier named {target!r} "
                    f"(define [notifiers.{target}])"
                )
    for i, target in enumerate(settings.x.budget_notify):
        if target not in validated:
            raise ConfigError(
                f"config: x.budget_notify.{i}: no notifier named {target!r} "
                f"(define [notifiers.{target}])"
            )
    if settings.x.authors == "none":
        for name in settings.used_notifiers():
            if validated[name].min_author_followers is not None:
                raise ConfigError(
                    f"config: notifiers.{name}.min_author_followers: needs author data, but "
                    'x.authors = "none" reads no authors (use "cache" or "expand")'
                )
    _check_schedules(settings, validated)
    if settings.secrets.backend == "aws" and not settings.secrets.aws_secret_id:
        raise ConfigError("config: secrets.aws_secret_id: required when secrets.backend = 'aws'")
    if settings.state.backend == "dynamodb" and not settings.state.table:
        raise ConfigError("config: state.table: required when state.backend = 'dynamodb'")
    if settings.x.source == "replay" and not Path(settings.x.replay_dir).is_dir():
        raise ConfigError(
            f"config: x.replay_dir: no directory {settings.x.replay_dir} (a relative path in "
            "the config file is relative to the file's directory)"
        )
    _check_lease(settings, validated)
    settings._validated_notifiers = validated
