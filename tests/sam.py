"""template.yaml for tests: parsed with CloudFormation tags, translated offline by samtranslator."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
TEMPLATE = REPO / "template.yaml"
BUNDLED_CONFIG = REPO / "infra" / "monitor.toml"
#: Where the Makefile puts infra/monitor.toml in the bundle (Lambda unpacks it to /var/task).
BUNDLE_ROOT = "/var/task"
FUNCTION = "MonitorFunction"
REGION = "us-east-1"

#: The only actions allowed on Resource "*", each because AWS offers no narrower resource.
STAR_ALLOWED = {
    "xray:PutTraceSegments": "X-Ray trace writes have no resource-level permissions",
    "xray:PutTelemetryRecords": "X-Ray trace writes have no resource-level permissions",
    "sns:Publish": "SMS to a phone number has no resource ARN (topics are denied)",
}

INLINE_CODE = "def handler(event, context):\n    return {}\n"


@cache
def _load() -> dict[str, Any]:
    from cfnlint.decode.cfn_yaml import loads

    # cfn-lint's loader turns !Ref, !GetAtt, !Sub, !If ... into their JSON forms.
    parsed: dict[str, Any] = json.loads(json.dumps(loads(TEMPLATE.read_text(encoding="utf-8"))))
    return parsed


def load_template() -> dict[str, Any]:
    """template.yaml as plain JSON-like data (a fresh copy)."""
    return copy.deepcopy(_load())


def _no_managed_policies() -> dict[str, str]:
    """samtranslator asks for AWS managed policy ARNs by name; the template uses none."""
    return {}


def translate(parameters: dict[str, str] | None = None) -> dict[str, Any]:
    """The CloudFormation that ``sam deploy`` would send, with the code inlined for moto.

    The local ``CodeUri`` (built by ``sam build``) becomes a small ``InlineCode``: moto needs a
    code package, and the tests run the real handler in-process instead.
    """
    import boto3
    from samtranslator.parser.parser import Parser
    from samtranslator.translator.translator import Translator

    template = load_template()
    fn = template["Resources"][FUNCTION]
    fn.pop("Metadata", None)
    fn["Properties"].pop("CodeUri")
    fn["Properties"]["InlineCode"] = INLINE_CODE
    # samtranslator.translator.transform.transform, with a fixed region for the pseudo parameters.
    translator = Translator(None, Parser(), boto_session=boto3.session.Session(region_name=REGION))
    out: dict[str, Any] = translator.translate(
        template,
        parameter_values=dict(parameters or {}),
        get_managed_policy_map=_no_managed_policies,
    )
    return out


def resources_of(template: dict[str, Any], type_name: str) -> dict[str, dict[str, Any]]:
    return {k: v for k, v in template["Resources"].items() if v["Type"] == type_name}


def if_branches(value: Any) -> Iterator[Any]:
    """Every value ``value`` can take, through nested ``Fn::If``."""
    if isinstance(value, dict) and set(value) == {"Fn::If"}:
        _cond, yes, no = value["Fn::If"]
        yield from if_branches(yes)
        yield from if_branches(no)
    elif value == {"Ref": "AWS::NoValue"}:
        return
    else:
        yield value


def iam_statements(template: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """(logical id, statement) for every inline IAM statement in ``template``."""
    docs: list[tuple[str, Any]] = []
    for lid, res in template["Resources"].items():
        props = res.get("Properties", {})
        if res["Type"] == "AWS::IAM::Role":
            for policy in props.get("Policies", []):
                for p in if_branches(policy):
                    docs.append((lid, p["PolicyDocument"]))
        elif res["Type"] in ("AWS::IAM::Policy", "AWS::IAM::RolePolicy", "AWS::IAM::ManagedPolicy"):
            docs.append((lid, props["PolicyDocument"]))
    for lid, doc in docs:
        statements = doc["Statement"]
        for st in statements if isinstance(statements, list) else [statements]:
            for branch in if_branches(st):
                yield lid, branch


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]
