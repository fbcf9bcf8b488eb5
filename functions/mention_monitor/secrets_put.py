"""`mention-monitor secrets put`: merge credentials into the JSON secret, echoing no value."""

from __future__ import annotations

import argparse
import getpass
import json
import sys
from collections.abc import Callable
from typing import Any, Final, TextIO

from mention_monitor import aws
from mention_monitor.errors import SecretsError
from mention_monitor.logs import register_secret

#: Every key the built-in X source and notifiers read; the template creates the secret with these.
KNOWN_KEYS: Final[tuple[str, ...]] = (
    "x_bearer_token",
    "x_consumer_key",
    "x_consumer_secret",
    "x_access_token",
    "x_access_token_secret",
    "slack_webhook_url",
    "smtp_username",
    "smtp_password",
    "twilio_account_sid",
    "twilio_auth_token",
)


def _client() -> Any:
    aws.require_region("secrets put")
    return aws.client("secretsmanager")


def _wanted_keys(args: argparse.Namespace) -> list[str]:
    """``--keys``, else the keys the configuration needs (with ``--config``), else all known."""
    if getattr(args, "keys", None):
        keys = [k.strip() for k in str(args.keys).split(",") if k.strip()]
        if not keys:
            raise SecretsError("secrets put: --keys names no key")
        return list(dict.fromkeys(keys))
    if getattr(args, "config", None):
        from mention_monitor.config import load_settings

        keys = load_settings(args.config).required_secret_keys()
        if keys:
            return list(dict.fromkeys(keys))
    return list(KNOWN_KEYS)


def _read_stdin(stream: TextIO, allowed: list[str] | None) -> dict[str, str]:
    try:
        data = json.loads(stream.read())
    except ValueError:
        raise SecretsError("secrets put: --stdin needs one JSON object") from None
    if not isinstance(data, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in data.items()
    ):
        raise SecretsError("secrets put: --stdin needs one JSON object of string values")
    data = {k: v.strip() for k, v in data.items()}  # a stray CR/newline is never stored
    for value in data.values():
        register_secret(value)
    if allowed is not None:
        extra = sorted(set(data) - set(allowed))
        if extra:
            raise SecretsError(f"secrets put: key(s) not in --keys: {', '.join(extra)}")
    return {k: v for k, v in data.items() if v}


def _prompt(keys: list[str], ask: Callable[[str], str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for key in keys:
        value = ask(f"{key} (hidden; empty keeps the current value): ").strip()
        if value:
            register_secret(value)
            out[key] = value
    return out


def _current(client: Any, secret_id: str) -> dict[str, str]:
    with aws.aws_errors(
        SecretsError,
        f"secrets put: cannot read secret {secret_id!r}",
        "secrets put: cannot reach Secrets Manager",
    ):
        resp = client.get_secret_value(SecretId=secret_id)
    raw = resp.get("SecretString")
    if not raw:
        return {}
    try:
        data = json.loads(raw)
    except ValueError:
        data = None
    if not isinstance(data, dict) or not all(isinstance(v, str) for v in data.values()):
        raise SecretsError(
            f"secrets put: secret {secret_id!r} does not hold a JSON object of string values"
        )
    for value in data.values():
        register_secret(value)
    return {str(k): v for k, v in data.items()}


def put_secrets(
    args: argparse.Namespace,
    *,
    client: Any = None,
    ask: Callable[[str], str] = getpass.getpass,
    stdin: TextIO | None = None,
    stdout: TextIO | None = None,
) -> int:
    """Read new values (hidden prompts or ``--stdin``), merge them in, print changed key names."""
    secret_id = str(args.secret_id or "").strip()
    if not secret_id:
        raise SecretsError("secrets put: --secret-id is required")
    inp = stdin if stdin is not None else sys.stdin
    out = stdout if stdout is not None else sys.stdout
    restrict = _wanted_keys(args) if getattr(args, "keys", None) else None
    if args.stdin:
        updates = _read_stdin(inp, restrict)
    else:
        if stdin is None and not inp.isatty():
            raise SecretsError("secrets put: no terminal for hidden prompts; use --stdin")
        updates = _prompt(_wanted_keys(args), ask)

    sm = client if client is not None else _client()
    current = _current(sm, secret_id)
    changed = sorted(k for k, v in updates.items() if current.get(k) != v)
    if changed:
        merged = {**current, **updates}
        with aws.aws_errors(
            SecretsError,
            f"secrets put: cannot write secret {secret_id!r}",
            "secrets put: cannot reach Secrets Manager",
        ):
            sm.put_secret_value(SecretId=secret_id, SecretString=json.dumps(merged))
    out.write(
        json.dumps({"ok": True, "secret_id": secret_id, "changed": changed}, separators=(",", ":"))
        + "\n"
    )
    out.flush()
    return 0
