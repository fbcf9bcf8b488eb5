"""One cold start, run in a fresh interpreter by ``bench.coldstart`` (stdlib only before t0).

``product``: import the Lambda handler and complete one scheduled run.
``floor``: import what the design requires (boto3, requests, pydantic_settings), make one
GET to the same fake X and one DynamoDB ``GetItem``.
Prints one JSON line: seconds for the imports, the call, and both.
"""

import json
import sys
import time

t0 = time.perf_counter()
mode = sys.argv[1]
if mode == "product":
    from mention_monitor.handler import handler

    t1 = time.perf_counter()
    summary = handler({}, None)
    t2 = time.perf_counter()
    w = summary["watches"]["Acme"]
    extra = {"found": w["found"], "api_requests": w["api_requests"], "ok": summary["ok"]}
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
