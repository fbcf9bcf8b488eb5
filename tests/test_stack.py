"""The translated template deployed into moto's CloudFormation, then the handler run against it.

moto creates neither ``AWS::SecretsManager::Secret`` nor ``AWS::Scheduler::Schedule`` (they are
checked in test_template.py), so the secret is created here by hand, with the template's key names,
and handed to the stack as ``ExistingSecretArn``: the function's environment and role then name it.
"""

from __future__ import annotations

import io
import json
from typing import Any

import boto3
import pytest
from moto.core import DEFAULT_ACCOUNT_ID

from mention_monitor import handler as lambda_handler
from mention_monitor.cli import main
from mention_monitor.state.dynamodb import DynamoStore
from tests.fakes.lambda_context import FakeLambdaContext
from tests.fakes.slack import FakeSlack
from tests.fakes.xapi import FakeX, make_posts
from tests.sam import BUNDLE_ROOT, BUNDLED_CONFIG, FUNCTION, REPO, translate

# moto announces each resource type it skips (the schedule, alarms, event invoke config).
pytestmark = pytest.mark.filterwarnings("ignore:Tried to parse AWS:UserWarning")

STACK = "mention-monitor-test"
WATCHES = [{"name": "Acme", "terms": ["acme"], "first_run": "backfill", "notify": ["slack"]}]
BEARER = "AAAA-stack-bearer-token"


@pytest.fixture
def fake_slack():
    server = FakeSlack().start()
    yield server
    server.stop()


@pytest.fixture
def stack(moto_aws) -> dict[str, Any]:
    """Create the secret (template key names, empty values), then the stack naming it."""
    template = translate()
    secret_json = template["Resources"]["CredentialsSecret"]["Properties"]["SecretString"]
    secret_arn = boto3.client("secretsmanager").create_secret(
        Name="mention-monitor-credentials", SecretString=secret_json
    )["ARN"]
    cf = boto3.client("cloudformation")
    cf.create_stack(
        StackName=STACK,
        TemplateBody=json.dumps(template),
        Capabilities=["CAPABILITY_IAM"],
        Parameters=[
            {"ParameterKey": "ExistingSecretArn", "ParameterValue": secret_arn},
            {"ParameterKey": "WatchesJson", "ParameterValue": json.dumps(WATCHES)},
        ],
    )
    desc = cf.describe_stacks(StackName=STACK)["Stacks"][0]
    assert desc["StackStatus"] == "CREATE_COMPLETE"
    outputs = {o["OutputKey"]: o["OutputValue"] for o in desc["Outputs"]}
    resources = {
        r["LogicalResourceId"]: r
        for r in cf.list_stack_resources(StackName=STACK)["StackResourceSummaries"]
    }
    return {"outputs": outputs, "resources": resources, "secret_arn": secret_arn}


def test_stack_completes_with_table_function_roles_and_queues(stack):
    res, out = stack["resources"], stack["outputs"]
    for lid in (FUNCTION, "StateTable", "MonitorFunctionRole", f"{FUNCTION}MonitorScheduleRole",
                "ScheduleDeadLetterQueue", "FailedRunQueue", "AlarmTopic", "MonitorLogGroup"):
        assert res[lid]["ResourceStatus"] == "CREATE_COMPLETE", lid

    table = boto3.client("dynamodb").describe_table(TableName=out["StateTableName"])["Table"]
    assert table["KeySchema"] == [
        {"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}
    ]
    assert table["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"

    lam = boto3.client("lambda")
    fn = out["MonitorFunctionName"]
    assert lam.get_function_concurrency(FunctionName=fn)["ReservedConcurrentExecutions"] == 1
    cfg = lam.get_function_configuration(FunctionName=fn)
    assert (cfg["Runtime"], cfg["Timeout"], cfg["MemorySize"]) == ("python3.13", 300, 256)
    assert cfg["Role"].endswith(res["MonitorFunctionRole"]["PhysicalResourceId"])
    assert cfg["Environment"]["Variables"] == {
        "MENTION_MONITOR_CONFIG": f"{BUNDLE_ROOT}/monitor.toml",
        "MENTION_MONITOR_LOG_LEVEL": "INFO",
        "MENTION_MONITOR_STATE__BACKEND": "dynamodb",
        "MENTION_MONITOR_STATE__TABLE": out["StateTableName"],
        "MENTION_MONITOR_SECRETS__BACKEND": "aws",
        "MENTION_MONITOR_SECRETS__AWS_SECRET_ID": stack["secret_arn"],
        "MENTION_MONITOR_WATCHES": json.dumps(WATCHES),
    }
    assert out["CredentialsSecretArn"] == stack["secret_arn"]

    iam = boto3.client("iam")
    role = res["MonitorFunctionRole"]["PhysicalResourceId"]
    assert iam.list_attached_role_policies(RoleName=role)["AttachedPolicies"] == []
    names = set(iam.list_role_policies(RoleName=role)["PolicyNames"])
    assert names == {"logs", "state-table", "credentials-secret", "failure-destination", "xray"}
    doc = iam.get_role_policy(RoleName=role, PolicyName="credentials-secret")["PolicyDocument"]
    # moto hands the document back as text (a Python repr): look for the ARN in it.
    assert stack["secret_arn"] in str(doc) and "*" not in str(doc)

    sqs = boto3.client("sqs")
    for key in ("FailedRunQueueUrl", "ScheduleDeadLetterQueueUrl"):
        attrs = sqs.get_queue_attributes(QueueUrl=out[key], AttributeNames=["All"])["Attributes"]
        assert attrs["MessageRetentionPeriod"] == "1209600"


def test_no_watches_override_unless_the_parameter_is_set(moto_aws):
    secret_arn = boto3.client("secretsmanager").create_secret(Name="s", SecretString="{}")["ARN"]
    cf = boto3.client("cloudformation")
    cf.create_stack(
        StackName="plain",
        TemplateBody=json.dumps(translate()),
        Capabilities=["CAPABILITY_IAM"],
        Parameters=[{"ParameterKey": "ExistingSecretArn", "ParameterValue": secret_arn}],
    )
    outputs = cf.describe_stacks(StackName="plain")["Stacks"][0]["Outputs"]
    fn = next(o["OutputValue"] for o in outputs if o["OutputKey"] == "MonitorFunctionName")
    env = boto3.client("lambda").get_function_configuration(FunctionName=fn)["Environment"]
    assert "MENTION_MONITOR_WATCHES" not in env["Variables"]


def test_both_roles_carry_the_permissions_boundary(moto_aws):
    """With PermissionsBoundaryArn set, moto's IAM holds it on the function's and schedule's
    roles (the deployer policy refuses to create a role without it)."""
    iam = boto3.client("iam")
    document = (REPO / "infra" / "permissions-boundary.json").read_text(encoding="utf-8")
    boundary = iam.create_policy(
        PolicyName="mention-monitor-boundary",
        PolicyDocument=document.replace("ACCOUNT_ID", DEFAULT_ACCOUNT_ID),
    )["Policy"]["Arn"]
    secret_arn = boto3.client("secretsmanager").create_secret(Name="s", SecretString="{}")["ARN"]
    cf = boto3.client("cloudformation")
    cf.create_stack(
        StackName="bounded",
        TemplateBody=json.dumps(translate()),
        Capabilities=["CAPABILITY_IAM"],
        Parameters=[
            {"ParameterKey": "ExistingSecretArn", "ParameterValue": secret_arn},
            {"ParameterKey": "PermissionsBoundaryArn", "ParameterValue": boundary},
        ],
    )
    summaries = cf.list_stack_resources(StackName="bounded")["StackResourceSummaries"]
    roles = {
        r["LogicalResourceId"]: r["PhysicalResourceId"]
        for r in summaries
        if r["ResourceType"] == "AWS::IAM::Role"
    }
    assert set(roles) == {"MonitorFunctionRole", f"{FUNCTION}MonitorScheduleRole"}
    for name in roles.values():
        role = iam.get_role(RoleName=name)["Role"]
        assert role["PermissionsBoundary"]["PermissionsBoundaryArn"] == boundary


def test_handler_runs_with_the_stack_environment(
    stack, monkeypatch, capsys, fake_x: FakeX, fake_slack: FakeSlack
):
    # 1. Credentials go in the way the README says: `mention-monitor secrets put --stdin`.
    webhook = fake_slack.webhook_url
    creds = json.dumps({"x_bearer_token": BEARER, "slack_webhook_url": webhook})
    monkeypatch.setattr("sys.stdin", io.StringIO(creds))
    assert main(["secrets", "put", "--secret-id", stack["secret_arn"], "--stdin"]) == 0
    put_out = capsys.readouterr()
    assert json.loads(put_out.out)["changed"] == ["slack_webhook_url", "x_bearer_token"]
    assert BEARER not in put_out.out + put_out.err and webhook not in put_out.out + put_out.err

    # 2. The function's environment exactly as the stack set it; only the bundle path maps to
    #    the source tree; X and the Slack webhook are local fakes.
    lam = boto3.client("lambda")
    function_name = stack["outputs"]["MonitorFunctionName"]
    env = lam.get_function_configuration(FunctionName=function_name)["Environment"]["Variables"]
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    # What the Lambda runtime adds to that environment and passes as the context.
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", function_name)
    context = FakeLambdaContext(function_name=function_name)
    assert env["MENTION_MONITOR_CONFIG"] == f"{BUNDLE_ROOT}/monitor.toml"
    monkeypatch.setenv("MENTION_MONITOR_CONFIG", str(BUNDLED_CONFIG))
    monkeypatch.setenv("MENTION_MONITOR_X__API_BASE", fake_x.url)
    monkeypatch.setenv(
        "MENTION_MONITOR_NOTIFIERS",
        json.dumps({"slack": {"type": "slack", "webhook_url_secret": "slack_webhook_url"}}),
    )

    fake_x.add_posts(make_posts(12, first_id=50_000))
    summary = lambda_handler.handler({}, context)
    run_out = capsys.readouterr()
    assert summary["ok"] is True
    assert summary["watches"]["Acme"]["found"] == 12
    assert summary["watches"]["Acme"]["delivered"] == {"slack": 12}
    assert fake_slack.tweet_ids == list(range(50_000, 50_012))
    assert fake_x.searches[0].headers["authorization"] == f"Bearer {BEARER}"
    emf = [json.loads(line) for line in run_out.out.splitlines() if '"_aws"' in line]
    # one record, dimensioned by the function's name (the SilenceAlarm's dimension)
    assert [(r["FunctionName"], r["RunSucceeded"], r["MentionsFound"]) for r in emf] == [
        (function_name, [1.0], [12.0])
    ]
    for secret in (BEARER, "XXXXsecretXXXX"):
        assert secret not in run_out.out + run_out.err

    # 3. The cursors are in the stack's table.
    store = DynamoStore(stack["outputs"]["StateTableName"], client=boto3.client("dynamodb"))
    state = store.load("Acme")
    assert state.mark == 50_011
    assert state.deliveries == {"slack": 50_011}
    assert [q.cursor for q in state.queries.values()] == [50_011]

    # 4. A warm second run finds nothing and sends nothing.
    fake_x.add_posts(make_posts(2, first_id=60_000))
    summary = lambda_handler.handler({}, context)
    assert summary["watches"]["Acme"]["found"] == 2
    assert fake_slack.tweet_ids[-2:] == [60_000, 60_001]
    posts = len(fake_slack.received)
    summary = lambda_handler.handler({}, context)
    assert summary["ok"] and summary["watches"]["Acme"]["found"] == 0
    assert len(fake_slack.received) == posts
