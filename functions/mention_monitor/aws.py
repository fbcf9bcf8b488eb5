"""Plain boto3 clients, built only when first needed, and AWS errors as our typed errors."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from mention_monitor.errors import MonitorError


def client(service: str, *, read_timeout: float = 10, max_attempts: int = 3) -> Any:
    """A plain boto3 client: region, credentials and ``AWS_ENDPOINT_URL`` come from the
    environment like for any boto3 client. Nothing talks to AWS at import time."""
    import boto3
    from botocore.config import Config

    make: Any = boto3.client  # typed per service name in the stubs; ours is a variable
    return make(
        service,
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
