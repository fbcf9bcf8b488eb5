"""Plain boto3 clients, built only when first needed, and AWS errors as our typed errors."""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from mention_monitor.errors import ConfigError, MonitorError

#: Read in this order, like the AWS CLI v2 and the newer SDKs (boto3 reads only the second).
REGION_VARIABLES = ("AWS_REGION", "AWS_DEFAULT_REGION")


def region(environ: Mapping[str, str] | None = None) -> str | None:
    """The AWS region: ``AWS_REGION``, else ``AWS_DEFAULT_REGION``, else the profile's."""
    env = os.environ if environ is None else environ
    for name in REGION_VARIABLES:
        if env.get(name, "").strip():
            return env[name].strip()
    import botocore.session
    from botocore.exceptions import BotoCoreError

    try:
        configured = botocore.session.Session().get_config_variable("region")
    except BotoCoreError:  # e.g. AWS_PROFILE names a profile that does not exist
        return None
    return str(configured) if configured else None


def require_region(needed_by: str, environ: Mapping[str, str] | None = None) -> str:
    """The region, or a one-line :class:`ConfigError` saying what needs one and how to set it."""
    found = region(environ)
    if not found:
        raise ConfigError(
            f"aws: {needed_by} needs an AWS region: set AWS_REGION (or AWS_DEFAULT_REGION, "
            "or region in your AWS profile)"
        )
    return found


def client(service: str, *, read_timeout: float = 10, max_attempts: int = 3) -> Any:
    """A plain boto3 client: credentials and ``AWS_ENDPOINT_URL`` come from the environment
    like for any boto3 client, the region from :func:`region` (no region: ConfigError).
    Nothing talks to AWS at import time."""
    import boto3
    from botocore.config import Config

    make: Any = boto3.client  # typed per service name in the stubs; ours is a variable
    return make(
        service,
        region_name=require_region(f"the {service} client"),
        config=Config(
            connect_timeout=5,
            read_timeout=read_timeout,
            retries={"max_attempts": max_attempts, "mode": "standard"},
        ),
    )


def error_code(exc: Any) -> str:
    """The AWS error code of a botocore ``ClientError``."""
    return str(exc.response.get("Error", {}).get("Code", "ClientError"))


@contextmanager
def aws_errors(
    error: type[MonitorError],
    refused: str,
    unreachable: str,
    *,
    with_message: bool = False,
    passthrough: tuple[str, ...] = (),
) -> Iterator[None]:
    """Turn botocore failures into ``error``: ``"{refused}: {code}"`` when AWS answered,
    ``"{unreachable}: {exception type}"`` when it could not be reached. Never a secret: only
    the code (and, with ``with_message``, AWS's own message) is shown. Codes listed in
    ``passthrough`` are re-raised unchanged for the caller to handle."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        yield
    except ClientError as exc:
        code = error_code(exc)
        if code in passthrough:
            raise
        text = f"{refused}: {code}"
        if with_message:
            text = f"{text}: {exc.response.get('Error', {}).get('Message', '')}"[:300]
        raise error(text) from None
    except BotoCoreError as exc:
        raise error(f"{unreachable}: {type(exc).__name__}") from None
