"""One cold start, run in a fresh interpreter by ``bench.coldstart`` (stdlib only before t0).

``product``: import the Lambda handler and complete one scheduled run, with a context object
like the one the Lambda runtime passes.
``floor``: import what the design requires (boto3, requests, pydantic_settings), make one
GET to the same fake X and one DynamoDB ``GetItem``.
``powertools``: import boto3, requests and pydantic_settings, then time importing the parts of
Powertools the handler uses (its import cost on top of what the product loads anyway).
Prints one JSON line: seconds for the imports, the call, and both.
"""

import json
import sys
import time

t0 = time.perf_counter()
mode = sys.argv[1]
if mode == "product":
    from mention_monitor.handler import handler

    class Context:  # what the Lambda runtime passes (Powertools reads the first four)
        function_name = "mention-monitor-bench"
        memory_limit_in_mb = 256
        invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:mm-bench"
        aws_request_id = "00000000-0000-4000-8000-000000000001"

        def get_remaining_time_in_millis(self):
            return 300_000

    t1 = time.perf_counter()
    summary = handler({}, Context())
    t2 = time.perf_counter()
    w = summary["watches"]["Acme"]
    extra = {"found": w["found"], "api_requests": w["api_requests"], "ok": summary["ok"]}
elif mode == "powertools":
    # what the product imports anyway, before the timed part
    import boto3
    import pydantic_settings
    import requests

    t1 = time.perf_counter()
    from aws_lambda_powertools.logging import Logger  # noqa: F401
    from aws_lambda_powertools.metrics import Metrics  # noqa: F401
    from aws_lambda_powertools.utilities.typing import LambdaContext  # noqa: F401

    t2 = time.perf_counter()
    extra = {}
else:
    import boto3
    import pydantic_settings  # noqa: F401
    import requests

    t1 = time.perf_counter()
    api, table = sys.argv[2], sys.argv[3]
    resp = requests.get(
        api + "/2/tweets/search/recent",
        params={"query": "acme -is:retweet", "max_results": "100", "since_id": "1"},
        timeout=10,
    )
    item = boto3.client("dynamodb").get_item(
        TableName=table, Key={"pk": {"S": "W#Acme"}, "sk": {"S": "MARK"}}
    )
    t2 = time.perf_counter()
    extra = {"status": resp.status_code, "item": "Item" in item}
print(json.dumps({"import_s": t1 - t0, "call_s": t2 - t1, "total_s": t2 - t0, **extra}))
