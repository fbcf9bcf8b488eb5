"""template.yaml: the parts moto cannot deploy, least privilege, and no drift from the code."""

from __future__ import annotations

import fnmatch
import json
import tomllib
from typing import Any

import boto3
import pytest

from mention_monitor.config import Settings, StateSettings
from mention_monitor.secrets_put import KNOWN_KEYS
from mention_monitor.state.dynamodb import ATTRIBUTES, KEY_SCHEMA, TTL_ATTR, DynamoStore
from tests.sam import (
    BUNDLED_CONFIG,
    FUNCTION,
    REPO,
    STAR_ALLOWED,
    as_list,
    iam_statements,
    if_branches,
    load_template,
    resources_of,
    translate,
)

ALL_OPTIONS = {
    "SesSenderIdentity": "example.com",
    "EnableSmsSns": "true",
    "AlarmEmail": "ops@example.com",
    "WatchesJson": '[{"name": "A", "terms": ["a"]}]',
}


@pytest.fixture(scope="module")
def translated() -> dict:
    return translate()


def test_table_built_from_the_template_matches_the_code(moto_aws):
    """The moto table comes from template.yaml's key schema, so tests cannot drift from infra."""
    props = load_template()["Resources"]["StateTable"]["Properties"]
    assert props["KeySchema"] == KEY_SCHEMA
    assert props["AttributeDefinitions"] == ATTRIBUTES
    assert props["TimeToLiveSpecification"] == {"AttributeName": TTL_ATTR, "Enabled": True}
    assert props["BillingMode"] == "PAY_PER_REQUEST"
    assert props["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    assert props["SSESpecification"] == {"SSEEnabled": True}

    ddb = boto3.client("dynamodb")
    ddb.create_table(
        TableName="from-template",
        KeySchema=props["KeySchema"],
        AttributeDefinitions=props["AttributeDefinitions"],
        BillingMode=props["BillingMode"],
    )
    ddb.update_time_to_live(
        TableName="from-template", TimeToLiveSpecification=props["TimeToLiveSpecification"]
    )
    store = DynamoStore("from-template", client=ddb)
    assert store.acquire_lease("Acme", "me", 1000, 60) is True
    assert store.advance_mark("Acme", 2**63 + 5) is True
    assert store.advance_mark("Acme", 7) is False  # cursors only move forward
    assert store.load("Acme").mark == 2**63 + 5


def test_function_runtime_architecture_and_timeout_below_the_lease(translated):
    fn = translated["Resources"][FUNCTION]["Properties"]
    assert fn["Runtime"] == "python3.13"
    assert fn["Architectures"] == ["arm64"]
    assert fn["Handler"] == "mention_monitor.handler.handler"
    assert fn["ReservedConcurrentExecutions"] == 1
    assert fn["TracingConfig"] == {"Mode": "Active"}
    lease = StateSettings().lease_seconds
    bundled = tomllib.loads(BUNDLED_CONFIG.read_text(encoding="utf-8"))
    default_budget = Settings.model_fields["time_budget_seconds"].default
    budget = bundled.get("time_budget_seconds", default_budget)
    assert budget < fn["Timeout"] < lease
    assert bundled.get("state", {}).get("lease_seconds", lease) == lease
    assert fn["LoggingConfig"] == {"LogGroup": {"Ref": "MonitorLogGroup"}}
    env = fn["Environment"]["Variables"]
    assert env["MENTION_MONITOR_STATE__BACKEND"] == "dynamodb"
    assert env["MENTION_MONITOR_STATE__TABLE"] == {"Ref": "StateTable"}
    assert env["MENTION_MONITOR_SECRETS__BACKEND"] == "aws"
    assert env["MENTION_MONITOR_SECRETS__AWS_SECRET_ID"] == {
        "Fn::If": ["CreateSecret", {"Ref": "CredentialsSecret"}, {"Ref": "ExistingSecretArn"}]
    }
    assert env["MENTION_MONITOR_CONFIG"] == "/var/task/monitor.toml"
    assert env["MENTION_MONITOR_LOG_LEVEL"] == {"Ref": "LogLevel"}


def test_schedule_expression_retry_policy_dead_letter_queue_and_target(translated):
    """moto skips AWS::Scheduler::Schedule: check what SAM generates for it instead."""
    schedules = resources_of(translated, "AWS::Scheduler::Schedule")
    assert list(schedules) == [f"{FUNCTION}MonitorSchedule"]
    props = next(iter(schedules.values()))["Properties"]
    assert props["ScheduleExpression"] == {"Ref": "ScheduleExpression"}
    assert props["ScheduleExpressionTimezone"] == {"Ref": "ScheduleTimezone"}
    assert props["State"] == "ENABLED"
    assert props["FlexibleTimeWindow"] == {"Mode": "OFF"}
    target = props["Target"]
    assert target["Arn"] == {"Fn::GetAtt": [FUNCTION, "Arn"]}
    assert target["RetryPolicy"] == {"MaximumRetryAttempts": 3, "MaximumEventAgeInSeconds": 600}
    assert target["DeadLetterConfig"] == {"Arn": {"Fn::GetAtt": ["ScheduleDeadLetterQueue", "Arn"]}}
    role = target["RoleArn"]["Fn::GetAtt"][0]
    grants = {
        (a, json.dumps(st["Resource"], sort_keys=True))
        for lid, st in iam_statements(translated)
        if lid == role
        for a in as_list(st["Action"])
    }
    fn_arn = json.dumps({"Fn::GetAtt": [FUNCTION, "Arn"]})
    dlq_arn = json.dumps({"Fn::GetAtt": ["ScheduleDeadLetterQueue", "Arn"]})
    assert grants == {("lambda:InvokeFunction", fn_arn), ("sqs:SendMessage", dlq_arn)}

    params = load_template()["Parameters"]
    assert params["ScheduleExpression"]["Default"] == "rate(15 minutes)"
    assert params["ScheduleTimezone"]["Default"] == "UTC"


def test_async_failures_go_to_the_failed_run_queue(translated):
    configs = resources_of(translated, "AWS::Lambda::EventInvokeConfig")
    (cfg,) = configs.values()
    dest = cfg["Properties"]["DestinationConfig"]["OnFailure"]["Destination"]
    assert dest == {"Fn::GetAtt": ["FailedRunQueue", "Arn"]}
    grants = [st for lid, st in iam_statements(translated) if lid == "MonitorFunctionRole"]
    assert {"Effect": "Allow", "Action": "sqs:SendMessage", "Resource": dest} in grants


def test_secret_is_created_with_key_names_and_empty_values(translated):
    """moto skips AWS::SecretsManager::Secret: check its JSON here."""
    secret = translated["Resources"]["CredentialsSecret"]
    assert secret["Condition"] == "CreateSecret"
    values = json.loads(secret["Properties"]["SecretString"])
    assert list(values) == list(KNOWN_KEYS)
    assert set(values.values()) == {""}
    cond = translated["Conditions"]["CreateSecret"]
    assert cond == {"Fn::Equals": [{"Ref": "ExistingSecretArn"}, ""]}


@pytest.mark.parametrize("parameters", [{}, ALL_OPTIONS], ids=["defaults", "all-options"])
def test_every_iam_statement_names_its_resource(parameters):
    template = translate(parameters)
    statements = list(iam_statements(template))
    assert len(statements) >= 7
    for res in template["Resources"].values():
        assert not res.get("Properties", {}).get("ManagedPolicyArns"), res
    for lid, st in statements:
        resources = as_list(st["Resource"])
        assert resources, (lid, st)
        if "*" in resources and st["Effect"] == "Allow":
            actions = set(as_list(st["Action"]))
            assert actions <= set(STAR_ALLOWED), f"{lid}: {sorted(actions)} on '*'"
        for action in as_list(st["Action"]):
            assert "*" not in action, f"{lid}: wildcard action {action}"


def test_star_statements_carry_a_comment_in_the_template():
    text = (REPO / "template.yaml").read_text(encoding="utf-8")
    assert text.count('"*" is the only choice') == text.count('Resource: "*"') == 2


def test_alarms_on_errors_dead_letters_and_silence(translated):
    alarms = resources_of(translated, "AWS::CloudWatch::Alarm")
    by_metric = {
        (a["Properties"]["Namespace"], a["Properties"]["MetricName"]): a for a in alarms.values()
    }
    silence = by_metric[("MentionMonitor", "RunSucceeded")]["Properties"]
    assert silence["TreatMissingData"] == "breaching"
    assert silence["ComparisonOperator"] == "LessThanThreshold"
    assert (silence["Statistic"], silence["Threshold"]) == ("Sum", 1)
    assert silence["Period"] == {"Ref": "SilenceAlarmSeconds"}
    assert load_template()["Parameters"]["SilenceAlarmSeconds"]["Default"] == 3600
    assert ("AWS/Lambda", "Errors") in by_metric
    dlq_alarms = [a for k, a in by_metric.items() if k[0] == "AWS/SQS"]
    queues = {
        a["Properties"]["Dimensions"][0]["Value"]["Fn::GetAtt"][0]
        for a in alarms.values()
        if a["Properties"]["Namespace"] == "AWS/SQS"
    }
    assert dlq_alarms and queues == {"ScheduleDeadLetterQueue", "FailedRunQueue"}
    for alarm in alarms.values():
        assert alarm["Properties"]["AlarmActions"] == [{"Ref": "AlarmTopic"}]
    sub = translated["Resources"]["AlarmEmailSubscription"]
    assert sub["Condition"] == "HasAlarmEmail"


def test_emf_metric_matches_the_silence_alarm(monkeypatch):
    import io

    from mention_monitor.handler import METRIC_NAMESPACE, emit_metrics

    buf = io.StringIO()
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "mm-fn")
    emit_metrics({"ok": True, "watches": {}}, buf)
    record = json.loads(buf.getvalue())
    directive = record["_aws"]["CloudWatchMetrics"]
    assert [(d["Namespace"], d["Dimensions"]) for d in directive] == [
        (METRIC_NAMESPACE, [["FunctionName"]])
    ]
    assert record["RunSucceeded"] == [1.0] and record["FunctionName"] == "mm-fn"
    alarm = load_template()["Resources"]["SilenceAlarm"]["Properties"]
    assert (alarm["Namespace"], alarm["MetricName"]) == (METRIC_NAMESPACE, "RunSucceeded")
    # the alarm watches exactly the dimension the function writes: its own name
    assert alarm["Dimensions"] == [{"Name": "FunctionName", "Value": {"Ref": "MonitorFunction"}}]


def test_every_output_is_described():
    outputs = load_template()["Outputs"]
    for name in (
        "MonitorFunctionName",
        "StateTableName",
        "CredentialsSecretArn",
        "ScheduleName",
        "AlarmTopicArn",
    ):
        assert name in outputs
    for name, out in outputs.items():
        assert out.get("Description"), name


def test_bundle_requirements_are_the_project_dependencies_without_boto3():
    from packaging.requirements import Requirement

    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    wanted = {str(Requirement(r)) for r in project["dependencies"]}
    lines = (REPO / "infra" / "requirements.txt").read_text(encoding="utf-8").splitlines()
    bundle = {str(Requirement(line)) for line in lines if line.strip() and not line.startswith("#")}
    assert bundle == {r for r in wanted if Requirement(r).name not in ("boto3", "botocore")}


def test_bundled_config_is_valid_with_the_stack_environment(monkeypatch):
    from mention_monitor.config import load_settings

    monkeypatch.setenv("MENTION_MONITOR_STATE__TABLE", "t")
    monkeypatch.setenv("MENTION_MONITOR_SECRETS__AWS_SECRET_ID", "arn:aws:secretsmanager:x")
    settings = load_settings(BUNDLED_CONFIG)
    assert settings.state.backend == "dynamodb" and settings.secrets.backend == "aws"
    assert settings.x.source == "api"


def test_deployer_policy_names_its_resources():
    policy = json.loads((REPO / "infra" / "deployer-policy.json").read_text(encoding="utf-8"))
    no_resource = {
        "cloudformation:ValidateTemplate",
        "cloudformation:GetTemplateSummary",
        "logs:DescribeLogGroups",
    }
    for st in policy["Statement"]:
        actions = set(as_list(st["Action"]))
        assert not any(a.endswith("*") for a in actions), st["Sid"]
        if "*" in as_list(st["Resource"]):
            assert actions <= no_resource, st["Sid"]
        if "iam:PassRole" in actions:
            assert st["Condition"]["StringEquals"]["iam:PassedToService"]


# -- The deployer cannot become admin (issue 12, item 13) ---------------------------------------
ACCOUNT = "123456789012"
BOUNDARY = f"arn:aws:iam::{ACCOUNT}:policy/mention-monitor-boundary"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/mention-monitor-MonitorFunctionRole-AbC123"


def _policy(name: str) -> list[dict[str, Any]]:
    text = (REPO / "infra" / name).read_text(encoding="utf-8").replace("ACCOUNT_ID", ACCOUNT)
    statements: list[dict[str, Any]] = json.loads(text)["Statement"]
    return statements


def _condition_holds(condition: dict[str, dict[str, str]], context: dict[str, str]) -> bool:
    """The two operators the policies use; a negated one holds when the key is absent."""
    for op, pairs in condition.items():
        for key, wanted in pairs.items():
            allowed = as_list(wanted)
            if op == "StringEquals" and context.get(key) not in allowed:
                return False
            if op == "StringNotEquals" and context.get(key) in allowed:
                return False
            assert op in ("StringEquals", "StringNotEquals"), op
    return True


def evaluate(statements: list[dict[str, Any]], action: str, resource: str, **context: str) -> str:
    """IAM's rule for one identity policy: an explicit deny wins, then any allow, else deny."""
    decision = "implicit-deny"
    for st in statements:
        if not any(fnmatch.fnmatchcase(action, a) for a in as_list(st["Action"])):
            continue
        if not any(fnmatch.fnmatchcase(resource, r) for r in as_list(st["Resource"])):
            continue
        if not _condition_holds(st.get("Condition", {}), context):
            continue
        if st["Effect"] == "Deny":
            return "deny"
        decision = "allow"
    return decision


PB = "iam:PermissionsBoundary"
DEPLOYER_CASES = [
    ("iam:CreateRole", ROLE, {PB: BOUNDARY}, "allow"),
    ("iam:CreateRole", ROLE, {}, "deny"),  # the admin path of issue 12: a role without it
    ("iam:CreateRole", ROLE, {PB: f"arn:aws:iam::{ACCOUNT}:policy/Anything"}, "deny"),
    ("iam:PutRolePolicy", ROLE, {PB: BOUNDARY}, "allow"),  # CloudFormation updates a policy
    ("iam:PutRolePolicy", ROLE, {}, "deny"),  # ... but never on a role without the boundary
    ("iam:PutRolePermissionsBoundary", ROLE, {PB: BOUNDARY}, "allow"),
    ("iam:PutRolePermissionsBoundary", ROLE, {PB: "arn:aws:iam::aws:policy/AdministratorAccess"}, "deny"),
    ("iam:DeleteRolePermissionsBoundary", ROLE, {}, "deny"),
    ("iam:AttachRolePolicy", ROLE, {PB: BOUNDARY}, "implicit-deny"),
    ("iam:UpdateAssumeRolePolicy", ROLE, {PB: BOUNDARY}, "implicit-deny"),
    ("iam:CreatePolicyVersion", BOUNDARY, {}, "deny"),
    ("iam:SetDefaultPolicyVersion", BOUNDARY, {}, "deny"),
    ("iam:CreateRole", f"arn:aws:iam::{ACCOUNT}:role/other-app", {PB: BOUNDARY}, "implicit-deny"),
    ("iam:PassRole", ROLE, {"iam:PassedToService": "lambda.amazonaws.com"}, "allow"),
    ("iam:PassRole", ROLE, {"iam:PassedToService": "ec2.amazonaws.com"}, "implicit-deny"),
    ("iam:DeleteRole", ROLE, {}, "allow"),
]


@pytest.mark.parametrize(
    ("action", "resource", "context", "expected"),
    DEPLOYER_CASES,
    ids=[f"{a}-{e}-{i}" for i, (a, _, _, e) in enumerate(DEPLOYER_CASES)],
)
def test_deployer_creates_roles_only_with_the_boundary(action, resource, context, expected):
    assert evaluate(_policy("deployer-policy.json"), action, resource, **context) == expected


#: What each logical ID's ARN looks like in a stack named mention-monitor (CloudFormation
#: names a resource <stack>-<LogicalId>-<suffix>).
STACK_ARNS = {
    "MonitorLogGroup": f"arn:aws:logs:us-east-1:{ACCOUNT}:log-group:mention-monitor-MonitorLogGroup-AbC:*",
    "StateTable": f"arn:aws:dynamodb:us-east-1:{ACCOUNT}:table/mention-monitor-StateTable-AbC",
    "CredentialsSecret": f"arn:aws:secretsmanager:us-east-1:{ACCOUNT}:secret:mention-monitor-credentials-AbC",
    "FailedRunQueue": f"arn:aws:sqs:us-east-1:{ACCOUNT}:mention-monitor-FailedRunQueue-AbC",
    "ScheduleDeadLetterQueue": f"arn:aws:sqs:us-east-1:{ACCOUNT}:mention-monitor-ScheduleDeadLetterQueue-AbC",
    FUNCTION: f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:mention-monitor-MonitorFunction-AbC",
}


def _example_arns(resource: Any) -> list[str]:
    """The concrete ARNs a statement's Resource takes in a stack named mention-monitor."""
    out: list[str] = []
    for value in as_list(resource):
        for branch in if_branches(value):
            if isinstance(branch, str):
                out.append(branch)
            elif "Fn::GetAtt" in branch:
                out.append(STACK_ARNS[branch["Fn::GetAtt"][0]])
            elif "Ref" in branch:
                ref = branch["Ref"]
                if ref == "ExistingSecretArn":  # a secret elsewhere: widen the boundary (doc)
                    continue
                out.append(STACK_ARNS[ref])
            elif "Fn::Sub" in branch:
                out.append(
                    branch["Fn::Sub"]
                    .replace("${AWS::Partition}", "aws")
                    .replace("${AWS::Region}", "us-east-1")
                    .replace("${AWS::AccountId}", ACCOUNT)
                    .replace("${SesSenderIdentity}", "example.com")
                )
    return out


def test_the_boundary_allows_everything_the_stack_roles_are_granted():
    """Under the boundary, each role the template creates can still do its job."""
    template = translate({**ALL_OPTIONS, "PermissionsBoundaryArn": BOUNDARY})
    boundary = _policy("permissions-boundary.json")
    checked = 0
    for lid, st in iam_statements(template):
        if st["Effect"] != "Allow":
            continue
        for action in as_list(st["Action"]):
            for arn in _example_arns(st["Resource"]):
                assert evaluate(boundary, action, arn) == "allow", (lid, action, arn)
                checked += 1
    assert checked >= 14
    # ... and nothing a role could use to reach further: no IAM, no STS, no code changes.
    actions = {a for st in boundary if st["Effect"] == "Allow" for a in as_list(st["Action"])}
    assert not any(a.startswith(("iam:", "sts:", "cloudformation:")) for a in actions)
    assert {a for a in actions if a.startswith("lambda:")} == {"lambda:InvokeFunction"}
    assert evaluate(boundary, "sns:Publish", f"arn:aws:sns:us-east-1:{ACCOUNT}:topic") == "deny"


def test_every_role_of_the_stack_carries_the_boundary_parameter():
    params = load_template()["Parameters"]["PermissionsBoundaryArn"]
    assert params["Default"] == "" and "infra/permissions-boundary.json" in params["Description"]
    boundary = {
        "Fn::If": [
            "HasPermissionsBoundary",
            {"Ref": "PermissionsBoundaryArn"},
            {"Ref": "AWS::NoValue"},
        ]
    }
    for parameters in ({}, ALL_OPTIONS):
        roles = resources_of(translate(parameters), "AWS::IAM::Role")
        assert set(roles) == {"MonitorFunctionRole", f"{FUNCTION}MonitorScheduleRole"}
        for lid, role in roles.items():
            assert role["Properties"]["PermissionsBoundary"] == boundary, lid
