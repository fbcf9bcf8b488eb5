"""A Lambda context object with the attributes the Python runtime gives the handler."""

from __future__ import annotations

from dataclasses import dataclass

FUNCTION_NAME = "mention-monitor-MonitorFunction-AbC123"


@dataclass
class FakeLambdaContext:
    """What ``LambdaContext`` (Powertools' typing) describes; Powertools reads the first four."""

    aws_request_id: str = "6f1b2c3d-0000-4000-8000-00000000a001"
    function_name: str = FUNCTION_NAME
    invoked_function_arn: str = f"arn:aws:lambda:us-east-1:123456789012:function:{FUNCTION_NAME}"
    memory_limit_in_mb: int = 256
    function_version: str = "$LATEST"
    log_group_name: str = f"/aws/lambda/{FUNCTION_NAME}"
    log_stream_name: str = "2026/11/25/[$LATEST]0123456789abcdef"
    remaining_ms: int = 290_000

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms
