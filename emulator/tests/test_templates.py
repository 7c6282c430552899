"""Deploys templates/bootstrap.yaml and an environment's two twin stacks, templates/twin-data.yaml and
templates/twin.yaml, unchanged, to the extended emulator (the data stack first, its outputs passed to the app
stack, as twinctl deploys them: see twin_stacks.py).

The emulator runs as a subprocess (`python -m twin_emulator`, as `scripts/emulator start` runs it)
on a free port of its own, so these tests never touch an emulator someone else is using. Every
check goes through the service APIs with boto3, the way twinctl and the runtime see the stacks.

Run: cd emulator && ../.twin/emulator/venv/bin/python -m pytest -q tests
"""

from __future__ import annotations

import io
import json
import time
import urllib.request
import zipfile
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from emulator_process import clients, running_emulator
from twin_stacks import (
    APP_TEMPLATE,
    DATA_OUTPUTS,
    DATA_RESOURCES,
    DATA_TEMPLATE,
    RETAINED_DATA,
    app_parameters,
    data_parameters,
    data_stack_name,
    deploy_environment,
)

EMULATOR_DIR = Path(__file__).resolve().parents[1]
TEMPLATES = EMULATOR_DIR.parent / "templates"
TEST_TEMPLATES = Path(__file__).resolve().parent / "templates"
REGION = "us-east-1"
CODE_BUCKET = "test-code-artifacts"
CODE_KEY = "twin-runtime.zip"
NO_CHANGES = (
    "The submitted information didn't contain changes. Submit different information to create a change set."
)
# The environment's values, as twinctl gathers them: each stack takes the ones its template declares.
TWIN_PARAMETERS = {
    "EnvironmentName": "local",
    "CodeBucket": CODE_BUCKET,
    "CodeKey": CODE_KEY,
    "LlmProvider": "offline",
    "Architecture": "x86_64",
}
DATA_STACK = data_stack_name("twin-local")
# Data outputs of the right form, for checks that never get as far as creating anything.
STAND_IN_DATA_OUTPUTS = {
    "DataKeyArn": f"arn:aws:kms:{REGION}:123456789012:key/0b5c2f4e-1111-2222-3333-444455556666",
    "DataMemoryBucketName": "twin-local-data-memorybucket-abc123",
    "DataSecretArn": f"arn:aws:secretsmanager:{REGION}:123456789012:secret:twin/local/llm-api-key-AbCdEf",
    "DataFunctionLogGroupName": "/aws/lambda/twin-local-api",
    "DataApiLogGroupName": "/aws/apigateway/twin-local-api",
}
ROUTE_KEYS = {"POST /api/chat", "POST /api/chat/stream", "GET /api/chat/history/{session_id}", "GET /api/health"}


# --- the emulator --------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def endpoint(tmp_path_factory: pytest.TempPathFactory) -> Any:
    with running_emulator(tmp_path_factory.mktemp("emulator")) as url:
        request = urllib.request.Request(
            f"{url}/moto-api/config",
            data=json.dumps({"lambda": {"use_docker": False}}).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        urllib.request.urlopen(request, timeout=5).read()
        yield url


@pytest.fixture(scope="session")
def aws(endpoint: str) -> Any:
    return clients(endpoint, REGION)


@pytest.fixture(scope="session")
def code_zip(aws: Any) -> None:
    """The function's code, as twinctl uploads it to the artifacts bucket before deploying."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("bootstrap", "#!/bin/sh\necho stand-in for twin-runtime\n")
    s3 = aws("s3")
    s3.create_bucket(Bucket=CODE_BUCKET)
    s3.put_object(Bucket=CODE_BUCKET, Key=CODE_KEY, Body=buffer.getvalue())


# --- deploying ---------------------------------------------------------------------------------


def as_parameters(values: dict[str, str]) -> list[dict[str, str]]:
    return [{"ParameterKey": key, "ParameterValue": value} for key, value in values.items()]


def settle(cfn: Any, stack_name: str) -> dict[str, Any]:
    """The stack once no operation is in progress (the emulator finishes synchronously; poll anyway)."""
    deadline = time.monotonic() + 60
    while True:
        stack = cfn.describe_stacks(StackName=stack_name)["Stacks"][0]
        if not stack["StackStatus"].endswith("_IN_PROGRESS") or time.monotonic() > deadline:
            return stack
        time.sleep(0.2)


def change_set(cfn: Any, stack_name: str, name: str, template: str, parameters: list[dict[str, Any]],
               kind: str) -> dict[str, Any]:
    created = cfn.create_change_set(
        StackName=stack_name,
        ChangeSetName=name,
        TemplateBody=template,
        Parameters=parameters,
        ChangeSetType=kind,
        Capabilities=["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM"],
    )
    return cfn.describe_change_set(ChangeSetName=created["Id"])


def deploy(cfn: Any, stack_name: str, name: str, template: str, parameters: list[dict[str, Any]],
           kind: str = "CREATE") -> dict[str, Any]:
    described = change_set(cfn, stack_name, name, template, parameters, kind)
    assert described["Status"] == "CREATE_COMPLETE", described.get("StatusReason")
    assert described["ExecutionStatus"] == "AVAILABLE"
    cfn.execute_change_set(ChangeSetName=described["ChangeSetId"])
    return settle(cfn, stack_name)


def apply_environment(cfn: Any, stack_name: str, name: str, values: dict[str, str], kind: str = "CREATE",
                      app_template: str | None = None,
                      data_template: str | None = None) -> tuple[dict[str, Any], dict[str, Any]]:
    """`twinctl deploy`: the data stack, then the app stack with the data stack's outputs, each by a change set
    named `name`. On an update a stack with nothing to change is left as it is (twinctl's "no changes")."""

    def apply(stack: str, template: str, parameters: dict[str, str]) -> dict[str, Any]:
        described = change_set(cfn, stack, name, template, as_parameters(parameters), kind)
        if kind == "UPDATE" and described["Status"] == "FAILED" and described.get("StatusReason") == NO_CHANGES:
            cfn.delete_change_set(ChangeSetName=described["ChangeSetId"])
            return settle(cfn, stack)
        assert described["Status"] == "CREATE_COMPLETE", (stack, described.get("StatusReason"))
        assert described["ExecutionStatus"] == "AVAILABLE"
        cfn.execute_change_set(ChangeSetName=described["ChangeSetId"])
        return settle(cfn, stack)

    return deploy_environment(apply, stack_name, values, app_template=app_template, data_template=data_template)


def outputs(stack: dict[str, Any]) -> dict[str, str]:
    return {o["OutputKey"]: o.get("OutputValue") for o in stack.get("Outputs") or []}


def physical_ids(cfn: Any, stack_name: str) -> dict[str, str]:
    resources = cfn.describe_stack_resources(StackName=stack_name)["StackResources"]
    return {r["LogicalResourceId"]: r["PhysicalResourceId"] for r in resources}


def failure_events(cfn: Any, stack_name: str) -> list[dict[str, Any]]:
    events = cfn.describe_stack_events(StackName=stack_name)["StackEvents"]
    return [e for e in events if e["ResourceStatus"].endswith("_FAILED")]


def empty_bucket(s3: Any, bucket: str) -> None:
    versions = s3.list_object_versions(Bucket=bucket)
    doomed = [
        {"Key": v["Key"], "VersionId": v["VersionId"]}
        for v in versions.get("Versions", []) + versions.get("DeleteMarkers", [])
    ]
    if doomed:
        s3.delete_objects(Bucket=bucket, Delete={"Objects": doomed})


def template_output_keys(path: Path) -> set[str]:
    """The unconditional outputs a template declares (read with the emulator's own YAML reading)."""
    from moto.cloudformation.models import Stack

    template = Stack.parse_template(path.read_text())
    return {key for key, value in template["Outputs"].items() if "Condition" not in value}


def assert_bucket_hardened(s3: Any, bucket: str) -> None:
    assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Enabled"
    block = s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"]
    assert block == {
        "BlockPublicAcls": True,
        "IgnorePublicAcls": True,
        "BlockPublicPolicy": True,
        "RestrictPublicBuckets": True,
    }
    rules = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"]
    assert rules[0]["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
    ownership = s3.get_bucket_ownership_controls(Bucket=bucket)["OwnershipControls"]["Rules"]
    assert ownership == [{"ObjectOwnership": "BucketOwnerEnforced"}]
    lifecycle = s3.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"]
    assert lifecycle[0]["Status"] == "Enabled"
    assert "NoncurrentDays" in lifecycle[0]["NoncurrentVersionExpiration"]
    policy = json.loads(s3.get_bucket_policy(Bucket=bucket)["Policy"])
    deny = [s for s in policy["Statement"] if s["Sid"] == "DenyInsecureTransport"]
    assert deny and deny[0]["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


# --- bootstrap.yaml ------------------------------------------------------------------------------

GITHUB_OIDC_URL = "token.actions.githubusercontent.com"


def oidc_provider_arns(iam: Any) -> list[str]:
    return [p["Arn"] for p in iam.list_open_id_connect_providers()["OpenIDConnectProviderList"]]


def test_bootstrap_with_defaults(aws: Any) -> None:
    cfn, s3, iam = aws("cloudformation"), aws("s3"), aws("iam")
    providers_before = oidc_provider_arns(iam)
    stack = deploy(cfn, "twin-bootstrap", "bootstrap-1", (TEMPLATES / "bootstrap.yaml").read_text(), [])

    assert stack["StackStatus"] == "CREATE_COMPLETE"
    values = outputs(stack)
    assert set(values) == {"ArtifactsBucketName", "ArtifactsBucketArn"}  # OidcProviderArn only with a provider
    assert all(values.values())
    bucket = values["ArtifactsBucketName"]
    assert values["ArtifactsBucketArn"] == f"arn:aws:s3:::{bucket}"
    assert_bucket_hardened(s3, bucket)
    rule = s3.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"][0]
    assert rule["NoncurrentVersionExpiration"]["NoncurrentDays"] == 30
    # Only the bucket and its policy: no provider, no role (those live in environment-access.yaml).
    assert set(physical_ids(cfn, "twin-bootstrap")) == {"ArtifactsBucket", "ArtifactsBucketPolicy"}
    assert oidc_provider_arns(iam) == providers_before

    # The TLS-only policy does not lock the stack's own (SigV4-signed) clients out.
    s3.put_object(Bucket=bucket, Key="releases/manifest.json", Body=b"{}")
    assert s3.get_object(Bucket=bucket, Key="releases/manifest.json")["Body"].read() == b"{}"


def test_bootstrap_creates_the_oidc_provider(aws: Any) -> None:
    cfn, iam = aws("cloudformation"), aws("iam")
    assert not [arn for arn in oidc_provider_arns(iam) if arn.endswith(GITHUB_OIDC_URL)]
    stack = deploy(cfn, "twin-bootstrap-oidc", "bootstrap-1", (TEMPLATES / "bootstrap.yaml").read_text(),
                   as_parameters({"OidcProvider": "create"}))

    assert stack["StackStatus"] == "CREATE_COMPLETE", stack.get("StackStatusReason")
    values = outputs(stack)
    assert set(values) == {"ArtifactsBucketName", "ArtifactsBucketArn", "OidcProviderArn"}
    provider_arn = values["OidcProviderArn"]
    assert provider_arn == f"arn:aws:iam::123456789012:oidc-provider/{GITHUB_OIDC_URL}"
    assert provider_arn in oidc_provider_arns(iam)
    provider = iam.get_open_id_connect_provider(OpenIDConnectProviderArn=provider_arn)
    assert provider["Url"].removeprefix("https://") == GITHUB_OIDC_URL
    assert provider["ClientIDList"] == ["sts.amazonaws.com"]
    ids = physical_ids(cfn, "twin-bootstrap-oidc")
    assert set(ids) == {"ArtifactsBucket", "ArtifactsBucketPolicy", "GitHubOidcProvider"}
    assert ids["GitHubOidcProvider"] == provider_arn

    # DeletionPolicy Retain: the account's one provider outlives the stack that created it (other regions
    # and projects use it).
    bucket = values["ArtifactsBucketName"]
    empty_bucket(aws("s3"), bucket)
    cfn.delete_stack(StackName="twin-bootstrap-oidc")
    assert cfn.describe_stacks(StackName=stack["StackId"])["Stacks"][0]["StackStatus"] == "DELETE_COMPLETE"
    assert provider_arn in oidc_provider_arns(iam)
    iam.delete_open_id_connect_provider(OpenIDConnectProviderArn=provider_arn)  # leave the account as found


def test_bootstrap_with_an_existing_oidc_provider(aws: Any) -> None:
    cfn, iam = aws("cloudformation"), aws("iam")
    existing = f"arn:aws:iam::123456789012:oidc-provider/{GITHUB_OIDC_URL}"
    providers_before = oidc_provider_arns(iam)
    stack = deploy(cfn, "twin-bootstrap-shared", "bootstrap-1", (TEMPLATES / "bootstrap.yaml").read_text(),
                   as_parameters({"OidcProvider": existing}))

    assert stack["StackStatus"] == "CREATE_COMPLETE", stack.get("StackStatusReason")
    values = outputs(stack)
    assert set(values) == {"ArtifactsBucketName", "ArtifactsBucketArn", "OidcProviderArn"}
    assert values["OidcProviderArn"] == existing  # passed through, not created
    assert set(physical_ids(cfn, "twin-bootstrap-shared")) == {"ArtifactsBucket", "ArtifactsBucketPolicy"}
    assert oidc_provider_arns(iam) == providers_before

    # Anything else is refused before a change set exists (the parameter's AllowedPattern).
    with pytest.raises(ClientError) as refused:
        change_set(cfn, "twin-bootstrap-bad", "bootstrap-1", (TEMPLATES / "bootstrap.yaml").read_text(),
                   as_parameters({"OidcProvider": "arn:aws:iam::123456789012:oidc-provider/example.com"}), "CREATE")
    assert "Parameter 'OidcProvider' must match pattern" in refused.value.response["Error"]["Message"]


# --- twin-data.yaml and twin.yaml: one environment ---------------------------------------------------


@pytest.fixture(scope="module")
def twin(aws: Any, code_zip: None) -> dict[str, Any]:
    cfn = aws("cloudformation")
    data, stack = apply_environment(cfn, "twin-local", "deploy-1", TWIN_PARAMETERS)
    assert data["StackStatus"] == "CREATE_COMPLETE", (data.get("StackStatusReason"), failure_events(cfn, DATA_STACK))
    assert stack["StackStatus"] == "CREATE_COMPLETE", (stack.get("StackStatusReason"), failure_events(cfn, "twin-local"))
    return {"stack": stack, "outputs": outputs(stack), "ids": physical_ids(cfn, "twin-local"),
            "data": data, "data_outputs": outputs(data), "data_ids": physical_ids(cfn, DATA_STACK)}


def stack_parameters(stack: dict[str, Any]) -> dict[str, str]:
    return {p["ParameterKey"]: p["ParameterValue"] for p in stack["Parameters"]}


def test_twin_outputs_are_all_present(twin: dict[str, Any]) -> None:
    values = twin["outputs"]
    assert set(values) == template_output_keys(APP_TEMPLATE)
    assert all(values.values()), [key for key, value in values.items() if not value]
    assert values["SiteUrl"] == f"https://{values['DistributionDomainName']}"
    assert values["ApiEndpoint"] == f"https://{values['ApiId']}.execute-api.{REGION}.amazonaws.com"
    assert values["FunctionAliasArn"].endswith(f":function:{values['FunctionName']}:live")
    assert values["AlarmNames"].split(",") == [
        "twin-local-function-error-rate",
        "twin-local-api-5xx-rate",
        "twin-local-function-duration-p95",
        "twin-local-function-throttles",
    ]

    # The data stack's outputs, each passed to the app stack's parameter of the same name, come back out
    # under the app stack's output names, which twinctl and the runtime read.
    data = twin["data_outputs"]
    assert set(data) == template_output_keys(DATA_TEMPLATE) == set(DATA_OUTPUTS)
    assert all(data.values()), [key for key, value in data.items() if not value]
    app_parameter_values = stack_parameters(twin["stack"])
    assert {key: app_parameter_values[key] for key in DATA_OUTPUTS} == data
    assert {
        "MemoryBucketName": values["MemoryBucketName"], "SecretArn": values["SecretArn"], "KeyArn": values["KeyArn"],
        "LogGroupName": values["LogGroupName"], "ApiLogGroupName": values["ApiLogGroupName"],
    } == {
        "MemoryBucketName": data["DataMemoryBucketName"], "SecretArn": data["DataSecretArn"],
        "KeyArn": data["DataKeyArn"], "LogGroupName": data["DataFunctionLogGroupName"],
        "ApiLogGroupName": data["DataApiLogGroupName"],
    }
    assert data["DataFunctionLogGroupName"] == f"/aws/lambda/{values['FunctionName']}"
    # Each stack got the values its template declares: LogRetentionDays is the data stack's only.
    assert "LogRetentionDays" not in app_parameter_values
    assert stack_parameters(twin["data"])["LogRetentionDays"] == "30"
    assert set(stack_parameters(twin["data"])) == {
        "ProjectName", "EnvironmentName", "LogRetentionDays", "MemoryNoncurrentDays", "RetainedReleases",
    }


def test_twin_events_record_every_resource(aws: Any, twin: dict[str, Any]) -> None:
    cfn = aws("cloudformation")
    for stack_name, ids in (("twin-local", twin["ids"]), (DATA_STACK, twin["data_ids"])):
        events = cfn.describe_stack_events(StackName=stack_name)["StackEvents"]
        completed = {e["LogicalResourceId"] for e in events if e["ResourceStatus"] == "CREATE_COMPLETE"}
        assert set(ids) | {stack_name} == completed, stack_name
    # WebACL and AlarmEmailSubscription are conditional (EnableWaf, AlarmEmail) and not created.
    assert "WebAcl" not in twin["ids"] and "AlarmEmailSubscription" not in twin["ids"]
    # The data is the data stack's alone.
    assert set(twin["data_ids"]) == DATA_RESOURCES
    assert not set(twin["ids"]) & DATA_RESOURCES, set(twin["ids"]) & DATA_RESOURCES


def test_twin_buckets(aws: Any, twin: dict[str, Any]) -> None:
    s3 = aws("s3")
    memory, frontend = twin["outputs"]["MemoryBucketName"], twin["outputs"]["FrontendBucketName"]
    # Names generated from each bucket's stack: environment-access.yaml scopes its grants by these prefixes.
    assert memory.startswith("twin-local-data-memorybucket-"), memory
    assert frontend.startswith("twin-local-frontendbucket-"), frontend
    assert memory == twin["data_ids"]["MemoryBucket"] and frontend == twin["ids"]["FrontendBucket"]
    assert_bucket_hardened(s3, memory)
    assert_bucket_hardened(s3, frontend)
    site_policy = json.loads(s3.get_bucket_policy(Bucket=frontend)["Policy"])
    cloudfront = [s for s in site_policy["Statement"] if s["Sid"] == "CloudFrontReadsTheSite"][0]
    assert cloudfront["Principal"] == {"Service": "cloudfront.amazonaws.com"}
    assert cloudfront["Condition"]["StringEquals"]["AWS:SourceArn"].endswith(
        f":distribution/{twin['outputs']['DistributionId']}"
    )

    # Plain object access on the memory bucket still works under the TLS-only policy.
    s3.put_object(Bucket=memory, Key="persona/me.txt", Body=b"I am the twin.")
    s3.put_object(Bucket=memory, Key="sessions/abc.json", Body=b"[]")
    assert s3.get_object(Bucket=memory, Key="persona/me.txt")["Body"].read() == b"I am the twin."
    assert s3.get_object(Bucket=memory, Key="sessions/abc.json")["Body"].read() == b"[]"
    s3.put_object(Bucket=frontend, Key="index.html", Body=b"<html></html>")
    assert s3.get_object(Bucket=frontend, Key="index.html")["Body"].read() == b"<html></html>"


def test_twin_buckets_keep_the_retained_releases_noncurrent_versions(aws: Any, twin: dict[str, Any]) -> None:
    """twinctl's rollback needs the object versions of its last RetainedReleases releases (s3_lifecycle.py)."""
    from moto.cloudformation.models import Stack

    s3 = aws("s3")
    # The site bucket is the app stack's, the memory bucket the data stack's: each follows its own stack's
    # values (twinctl passes both stacks the same).
    for template, stack, bucket in ((APP_TEMPLATE, twin["stack"], twin["outputs"]["FrontendBucketName"]),
                                    (DATA_TEMPLATE, twin["data"], twin["outputs"]["MemoryBucketName"])):
        declared = Stack.parse_template(template.read_text())["Parameters"]
        parameters = stack_parameters(stack)
        retained = int(parameters["RetainedReleases"])
        assert retained == int(declared["RetainedReleases"]["Default"]) == 10
        noncurrent_days = int(parameters["MemoryNoncurrentDays"])
        rules = s3.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"]
        assert [r["NoncurrentVersionExpiration"] for r in rules] == [
            {"NoncurrentDays": noncurrent_days, "NewerNoncurrentVersions": retained}
        ], bucket


def test_twin_function_and_alias(aws: Any, twin: dict[str, Any]) -> None:
    lam = aws("lambda")
    name = twin["outputs"]["FunctionName"]
    config = lam.get_function_configuration(FunctionName=name)
    assert config["Architectures"] == ["x86_64"]
    assert config["Runtime"] == "provided.al2023" and config["Timeout"] == 28 and config["MemorySize"] == 256
    assert config["Role"] == twin["outputs"]["FunctionRoleArn"]
    variables = config["Environment"]["Variables"]
    assert variables["ENVIRONMENT"] == "local" and variables["LLM_PROVIDER"] == "offline"
    assert variables["S3_MEMORY_BUCKET"] == twin["outputs"]["MemoryBucketName"]
    assert variables["S3_PERSONA_BUCKET"] == twin["data_outputs"]["DataMemoryBucketName"]
    assert variables["SECRETS_MANAGER_SECRET_NAME"] == twin["outputs"]["SecretArn"]
    assert variables["ORIGIN_VERIFY_SECRET_NAME"] == twin["outputs"]["OriginVerifySecretArn"]
    assert "OPENAI_BASE_URL" not in variables  # AWS::NoValue

    # No alias (so no traffic) before twinctl passes a smoke-tested version as LiveVersion; the
    # alias never points at $LATEST.
    with pytest.raises(lam.exceptions.ResourceNotFoundException):
        lam.get_alias(FunctionName=name, Name="live")
    assert twin["outputs"]["FunctionAliasArn"].endswith(f":function:{name}:live")
    assert "LiveVersion" not in twin["outputs"]

    role_policy = aws("iam").get_role_policy(RoleName=twin["ids"]["FunctionRole"], PolicyName="twin-runtime")
    document = role_policy["PolicyDocument"]
    document = json.loads(document) if isinstance(document, str) else document
    sids = [s["Sid"] for s in document["Statement"]]
    assert "InvokeConfiguredModel" not in sids  # the !If branch for Bedrock left out with LlmProvider=offline
    assert None not in document["Statement"]
    # The grants name the data stack's resources, from the parameters.
    granted = {s["Sid"]: s["Resource"] for s in document["Statement"]}
    data = twin["data_outputs"]
    assert granted["WriteOwnLogs"] == (
        f"arn:aws:logs:{REGION}:123456789012:log-group:{data['DataFunctionLogGroupName']}:*"
    )
    assert granted["ReadWriteConversations"] == f"arn:aws:s3:::{data['DataMemoryBucketName']}/sessions/*"
    assert granted["ReadPersona"] == f"arn:aws:s3:::{data['DataMemoryBucketName']}/persona/me.txt"
    assert granted["TellMissingFromForbidden"] == f"arn:aws:s3:::{data['DataMemoryBucketName']}"
    assert granted["ReadOwnSecrets"] == [data["DataSecretArn"], twin["outputs"]["OriginVerifySecretArn"]]
    assert granted["DecryptOwnSecretOnly"] == data["DataKeyArn"]


def test_twin_http_api(aws: Any, twin: dict[str, Any]) -> None:
    api = aws("apigatewayv2")
    api_id = twin["outputs"]["ApiId"]
    assert api.get_api(ApiId=api_id)["ProtocolType"] == "HTTP"
    routes = api.get_routes(ApiId=api_id)["Items"]
    assert {r["RouteKey"] for r in routes} == ROUTE_KEYS
    integration_id = twin["ids"]["ApiIntegration"]
    assert {r["Target"] for r in routes} == {f"integrations/{integration_id}"}
    integration = api.get_integration(ApiId=api_id, IntegrationId=integration_id)
    assert integration["IntegrationType"] == "AWS_PROXY"
    assert integration["IntegrationUri"] == twin["outputs"]["FunctionAliasArn"]
    assert integration["PayloadFormatVersion"] == "2.0"

    stage = api.get_stage(ApiId=api_id, StageName="$default")
    assert stage["AutoDeploy"] is True
    assert stage["DefaultRouteSettings"]["ThrottlingBurstLimit"] == 2000
    assert stage["DefaultRouteSettings"]["ThrottlingRateLimit"] == 1000
    # The data stack's ApiLogGroup, its ARN in the form Fn::GetAtt LogGroup.Arn gives (log-group:NAME:*).
    log_group_arn = f"arn:aws:logs:{REGION}:123456789012:log-group:{twin['outputs']['ApiLogGroupName']}:*"
    assert stage["AccessLogSettings"]["DestinationArn"] == log_group_arn
    group = aws("logs").describe_log_groups(logGroupNamePrefix=twin["data_outputs"]["DataApiLogGroupName"])
    assert [g["arn"] for g in group["logGroups"]] == [log_group_arn]


def test_twin_distribution(aws: Any, twin: dict[str, Any]) -> None:
    cloudfront = aws("cloudfront")
    distribution_id = twin["outputs"]["DistributionId"]
    distribution = cloudfront.get_distribution(Id=distribution_id)["Distribution"]
    assert distribution["DomainName"] == twin["outputs"]["DistributionDomainName"]
    config = cloudfront.get_distribution_config(Id=distribution_id)["DistributionConfig"]
    headers_policy_id = twin["ids"]["SecurityHeaders"]
    behaviours = [config["DefaultCacheBehavior"], *config["CacheBehaviors"]["Items"]]
    assert len(behaviours) == 2
    for behaviour in behaviours:
        assert behaviour["ResponseHeadersPolicyId"] == headers_policy_id
    # The site redirects to HTTPS; the API refuses plain HTTP (a redirected POST would become a GET).
    assert config["DefaultCacheBehavior"]["ViewerProtocolPolicy"] == "redirect-to-https"
    assert config["CacheBehaviors"]["Items"][0]["ViewerProtocolPolicy"] == "https-only"
    assert config["CacheBehaviors"]["Items"][0]["PathPattern"] == "/api/*"
    origins = {o["Id"]: o for o in config["Origins"]["Items"]}
    assert origins["site"]["DomainName"] == f"{twin['outputs']['FrontendBucketName']}.s3.{REGION}.amazonaws.com"
    assert origins["site"]["OriginAccessControlId"] == twin["ids"]["SiteOriginAccessControl"]
    assert origins["api"]["DomainName"] == f"{twin['outputs']['ApiId']}.execute-api.{REGION}.amazonaws.com"

    control = cloudfront.get_origin_access_control(Id=twin["ids"]["SiteOriginAccessControl"])
    assert control["OriginAccessControl"]["OriginAccessControlConfig"]["SigningBehavior"] == "always"
    policy = cloudfront.get_response_headers_policy(Id=headers_policy_id)["ResponseHeadersPolicy"]
    security = policy["ResponseHeadersPolicyConfig"]["SecurityHeadersConfig"]
    assert security["StrictTransportSecurity"]["AccessControlMaxAgeSec"] == 31536000
    assert security["FrameOptions"]["FrameOption"] == "DENY"


def test_twin_secret_key_and_topic(aws: Any, twin: dict[str, Any]) -> None:
    kms, secrets, sns = aws("kms"), aws("secretsmanager"), aws("sns")
    key_id = twin["data_ids"]["Key"]
    key_arn = twin["outputs"]["KeyArn"]
    assert key_arn.endswith(f":key/{key_id}")
    assert kms.describe_key(KeyId=key_id)["KeyMetadata"]["Arn"] == key_arn
    assert kms.get_key_rotation_status(KeyId=key_id)["KeyRotationEnabled"] is True
    key_policy = json.loads(kms.get_key_policy(KeyId=key_id, PolicyName="default")["Policy"])
    assert [s["Sid"] for s in key_policy["Statement"]][0] == "AccountAdministersTheKey"
    aliases = kms.list_aliases(KeyId=key_id)["Aliases"]
    assert [a["AliasName"] for a in aliases] == ["alias/twin-local"]

    secret = secrets.describe_secret(SecretId=twin["outputs"]["SecretArn"])
    assert secret["ARN"] == twin["data_ids"]["LlmSecret"]
    assert secret["Name"] == "twin/local/llm-api-key"
    assert secret["KmsKeyId"] == key_id
    value = json.loads(secrets.get_secret_value(SecretId=secret["ARN"])["SecretString"])
    assert value["api_key"] == "" and len(value["placeholder"]) == 32

    # The app stack's own secret and topic use the data stack's key, by the ARN it was given (DataKeyArn).
    origin = secrets.describe_secret(SecretId=twin["outputs"]["OriginVerifySecretArn"])
    assert origin["Name"] == "twin/local/origin-verify"
    assert origin["KmsKeyId"] == key_arn
    attributes = sns.get_topic_attributes(TopicArn=twin["outputs"]["AlarmTopicArn"])["Attributes"]
    assert attributes["KmsMasterKeyId"] == key_arn


def test_twin_alarms_dashboard_and_logs(aws: Any, twin: dict[str, Any]) -> None:
    cloudwatch, logs = aws("cloudwatch"), aws("logs")
    names = twin["outputs"]["AlarmNames"].split(",")
    alarms = {a["AlarmName"]: a for a in cloudwatch.describe_alarms(AlarmNames=names)["MetricAlarms"]}
    assert set(alarms) == set(names)
    topic = twin["outputs"]["AlarmTopicArn"]
    assert all(a["AlarmActions"] == [topic] and a["OKActions"] == [topic] for a in alarms.values())
    error_rate = alarms["twin-local-function-error-rate"]
    assert [m["Id"] for m in error_rate["Metrics"]] == ["rate", "errors", "invocations"]
    assert alarms["twin-local-function-duration-p95"]["ExtendedStatistic"] == "p95"

    body = json.loads(cloudwatch.get_dashboard(DashboardName=f"twin-local-{REGION}")["DashboardBody"])
    alarm_widget = body["widgets"][-1]["properties"]["alarms"]
    assert all(arn.startswith(f"arn:aws:cloudwatch:{REGION}:123456789012:alarm:twin-local-") for arn in alarm_widget)

    for logical_id, name in (("FunctionLogGroup", twin["outputs"]["LogGroupName"]),
                             ("ApiLogGroup", twin["outputs"]["ApiLogGroupName"])):
        assert twin["data_ids"][logical_id] == name
        group = logs.describe_log_groups(logGroupNamePrefix=name)["logGroups"][0]
        assert group["logGroupName"] == name
        assert group["retentionInDays"] == 30
        assert group["kmsKeyId"] == twin["outputs"]["KeyArn"]


def test_twin_unchanged_change_set_fails_with_the_aws_reason(aws: Any, twin: dict[str, Any]) -> None:
    cfn = aws("cloudformation")
    data_values = data_parameters(TWIN_PARAMETERS)
    app_values = app_parameters(TWIN_PARAMETERS, twin["data_outputs"])
    for stack_name, template, values, explicit_default in (
        (DATA_STACK, DATA_TEMPLATE.read_text(), data_values, ("LogRetentionDays", "30")),
        ("twin-local", APP_TEMPLATE.read_text(), app_values, ("FunctionMemory", "256")),
    ):
        described = change_set(cfn, stack_name, "same-again", template, as_parameters(values), "UPDATE")
        assert described["Status"] == "FAILED", stack_name
        assert described["ExecutionStatus"] == "UNAVAILABLE"
        assert described["StatusReason"] == NO_CHANGES

        # The same when the effective values arrive differently: a default passed explicitly, the rest
        # as UsePreviousValue.
        parameters = [{"ParameterKey": key, "UsePreviousValue": True} for key in values]
        parameters.append({"ParameterKey": explicit_default[0], "ParameterValue": explicit_default[1]})
        described = change_set(cfn, stack_name, "same-again-2", template, parameters, "UPDATE")
        assert described["Status"] == "FAILED" and described["StatusReason"] == NO_CHANGES, stack_name

        with pytest.raises(ClientError) as refused:
            cfn.execute_change_set(ChangeSetName="same-again", StackName=stack_name)
        assert refused.value.response["Error"]["Code"] == "InvalidChangeSetStatus"
        assert settle(cfn, stack_name)["StackStatus"] == "CREATE_COMPLETE"


def test_twin_parameter_change_updates_in_place(aws: Any, twin: dict[str, Any]) -> None:
    cfn, logs = aws("cloudformation"), aws("logs")
    # The retention is the data stack's: its two log groups change, in place.
    parameters = as_parameters(data_parameters({**TWIN_PARAMETERS, "LogRetentionDays": "7"}))
    described = change_set(cfn, DATA_STACK, "retention-7", DATA_TEMPLATE.read_text(), parameters, "UPDATE")
    assert described["Status"] == "CREATE_COMPLETE"
    modified = {(c["ResourceChange"]["Action"], c["ResourceChange"]["LogicalResourceId"], c["ResourceChange"]["Replacement"])
                for c in described["Changes"]}
    assert modified == {("Modify", "FunctionLogGroup", "False"), ("Modify", "ApiLogGroup", "False")}
    cfn.execute_change_set(ChangeSetName=described["ChangeSetId"])
    stack = settle(cfn, DATA_STACK)

    assert stack["StackStatus"] == "UPDATE_COMPLETE", stack.get("StackStatusReason")
    assert outputs(stack) == twin["data_outputs"]  # nothing renamed or replaced
    assert physical_ids(cfn, DATA_STACK) == twin["data_ids"]
    for name in (twin["outputs"]["LogGroupName"], twin["outputs"]["ApiLogGroupName"]):
        assert logs.describe_log_groups(logGroupNamePrefix=name)["logGroups"][0]["retentionInDays"] == 7
    assert stack_parameters(stack)["LogRetentionDays"] == "7"

    # The data outputs did not move, so the app stack, applied next as twinctl does, has nothing to change.
    described = change_set(cfn, "twin-local", "retention-7", APP_TEMPLATE.read_text(),
                           as_parameters(app_parameters(TWIN_PARAMETERS, outputs(stack))), "UPDATE")
    assert described["Status"] == "FAILED" and described["StatusReason"] == NO_CHANGES
    app = settle(cfn, "twin-local")
    assert app["StackStatus"] == "CREATE_COMPLETE"
    assert outputs(app) == twin["outputs"] and physical_ids(cfn, "twin-local") == twin["ids"]


def test_twin_live_version_moves_the_alias(aws: Any, twin: dict[str, Any]) -> None:
    cfn, lam = aws("cloudformation"), aws("lambda")
    name = twin["outputs"]["FunctionName"]
    version = lam.publish_version(FunctionName=name)["Version"]
    data, stack = apply_environment(cfn, "twin-local", "live-version",
                                    {**TWIN_PARAMETERS, "LogRetentionDays": "7", "LiveVersion": version}, "UPDATE")

    assert stack["StackStatus"] == "UPDATE_COMPLETE", stack.get("StackStatusReason")
    assert outputs(stack)["LiveVersion"] == version
    assert lam.get_alias(FunctionName=name, Name="live")["FunctionVersion"] == version
    # The data stack had nothing to change (LiveVersion is the app stack's).
    assert data["StackStatus"] == "UPDATE_COMPLETE" and outputs(data) == twin["data_outputs"]
    assert "LiveVersion" not in stack_parameters(data)


def test_twin_template_change_keeps_alarm_and_secret_names(aws: Any, twin: dict[str, Any]) -> None:
    cfn, cloudwatch, secrets = aws("cloudformation"), aws("cloudwatch"), aws("secretsmanager")
    app_template = APP_TEMPLATE.read_text()
    changed_app = app_template.replace("      Threshold: 5\n", "      Threshold: 7\n")
    assert changed_app.count("Threshold: 7") == 1
    data_template = DATA_TEMPLATE.read_text()
    changed_data = data_template.replace(
        "`aws secretsmanager put-secret-value`.", "`aws secretsmanager put-secret-value` (changed)."
    )
    assert "(changed)" in changed_data
    secret_before = secrets.get_secret_value(SecretId=twin["outputs"]["SecretArn"])["SecretString"]
    values = {**TWIN_PARAMETERS, "LogRetentionDays": "7", "LiveVersion": "1"}

    # The data stack first: only the secret's description changed.
    described = change_set(cfn, DATA_STACK, "thresholds", changed_data, as_parameters(data_parameters(values)),
                           "UPDATE")
    assert {c["ResourceChange"]["LogicalResourceId"] for c in described["Changes"]} == {"LlmSecret"}
    cfn.execute_change_set(ChangeSetName=described["ChangeSetId"])
    data = settle(cfn, DATA_STACK)
    assert data["StackStatus"] == "UPDATE_COMPLETE", data.get("StackStatusReason")
    assert physical_ids(cfn, DATA_STACK) == twin["data_ids"]
    assert outputs(data) == twin["data_outputs"]

    # Then the app stack: only the alarm.
    described = change_set(cfn, "twin-local", "thresholds", changed_app,
                           as_parameters(app_parameters(values, outputs(data))), "UPDATE")
    assert {c["ResourceChange"]["LogicalResourceId"] for c in described["Changes"]} == {"FunctionErrorRateAlarm"}
    cfn.execute_change_set(ChangeSetName=described["ChangeSetId"])
    stack = settle(cfn, "twin-local")

    assert stack["StackStatus"] == "UPDATE_COMPLETE", stack.get("StackStatusReason")
    # The alias and its permission joined when a live version was set; nothing else changed.
    ids = physical_ids(cfn, "twin-local")
    assert {k: v for k, v in ids.items() if k in twin["ids"]} == twin["ids"]
    alarm = cloudwatch.describe_alarms(AlarmNames=["twin-local-function-error-rate"])["MetricAlarms"][0]
    assert alarm["Threshold"] == 7.0
    secret = secrets.describe_secret(SecretId=twin["outputs"]["SecretArn"])
    assert secret["Name"] == "twin/local/llm-api-key" and "(changed)." in secret["Description"]
    # A description change does not regenerate the value (as on AWS).
    assert secrets.get_secret_value(SecretId=secret["ARN"])["SecretString"] == secret_before


def test_renaming_the_project_replaces_named_resources(aws: Any, code_zip: None) -> None:
    cfn, lam, logs, secrets, kms = (
        aws("cloudformation"), aws("lambda"), aws("logs"), aws("secretsmanager"), aws("kms")
    )
    parameters = {**TWIN_PARAMETERS, "EnvironmentName": "production"}
    data, stack = apply_environment(cfn, "twin-production", "deploy-1", parameters)
    assert stack["StackStatus"] == "CREATE_COMPLETE"
    before, data_before = outputs(stack), outputs(data)
    data_ids_before = physical_ids(cfn, "twin-production-data")

    data, renamed = apply_environment(cfn, "twin-production", "rename", {**parameters, "ProjectName": "echo"}, "UPDATE")
    assert data["StackStatus"] == "UPDATE_COMPLETE", (data.get("StackStatusReason"),
                                                      failure_events(cfn, "twin-production-data"))
    assert renamed["StackStatus"] == "UPDATE_COMPLETE", (renamed.get("StackStatusReason"),
                                                         failure_events(cfn, "twin-production"))
    after, data_after = outputs(renamed), outputs(data)
    assert after["FunctionName"] == "echo-production-api"
    assert after["FunctionAliasArn"].endswith(":function:echo-production-api:live")
    assert after["ApiId"] == before["ApiId"] and after["DistributionId"] == before["DistributionId"]
    functions = {f["FunctionName"] for f in lam.list_functions()["Functions"]}
    assert "echo-production-api" in functions and "twin-production-api" not in functions
    with pytest.raises(lam.exceptions.ResourceNotFoundException):  # no live version yet
        lam.get_alias(FunctionName="echo-production-api", Name="live")
    # The data stack renamed its named resources; the app stack follows it through the Data* parameters.
    assert data_after["DataFunctionLogGroupName"] == after["LogGroupName"] == "/aws/lambda/echo-production-api"
    assert data_after["DataApiLogGroupName"] == after["ApiLogGroupName"] == "/aws/apigateway/echo-production-api"
    assert data_after["DataSecretArn"] == after["SecretArn"] != data_before["DataSecretArn"]
    assert after["SecretArn"].split(":secret:")[1].startswith("echo/production/llm-api-key-")
    # Unnamed, the key and the memory bucket stay (the key's description changes in place).
    assert data_after["DataKeyArn"] == data_before["DataKeyArn"] == after["KeyArn"]
    assert data_after["DataMemoryBucketName"] == data_before["DataMemoryBucketName"] == after["MemoryBucketName"]
    # The alias is replaced (not retained): only the new name points at the key.
    assert [a["AliasName"] for a in kms.list_aliases(KeyId=data_ids_before["Key"])["Aliases"]] == [
        "alias/echo-production"
    ]
    # Replaced, the log group and the model key are kept (UpdateReplacePolicy Retain); the origin
    # secret is replaced with the rest.
    assert logs.describe_log_groups(logGroupNamePrefix="/aws/lambda/twin-production")["logGroups"]
    assert sorted(s["Name"] for s in secrets.list_secrets()["SecretList"] if "production" in s["Name"]) == [
        "echo/production/llm-api-key", "echo/production/origin-verify", "twin/production/llm-api-key"
    ]
    integration = aws("apigatewayv2").get_integration(
        ApiId=after["ApiId"], IntegrationId=physical_ids(cfn, "twin-production")["ApiIntegration"]
    )
    assert integration["IntegrationUri"] == after["FunctionAliasArn"]

    cfn.delete_stack(StackName="twin-production")
    assert cfn.describe_stacks(StackName=stack["StackId"])["Stacks"][0]["StackStatus"] == "DELETE_COMPLETE"
    cfn.delete_stack(StackName="twin-production-data")
    assert cfn.describe_stacks(StackName=data["StackId"])["Stacks"][0]["StackStatus"] == "DELETE_COMPLETE"


def test_twin_failed_update_rolls_back(aws: Any, twin: dict[str, Any]) -> None:
    cfn, lam, logs, s3 = aws("cloudformation"), aws("lambda"), aws("logs"), aws("s3")
    before = settle(cfn, "twin-local")
    frontend, memory = twin["outputs"]["FrontendBucketName"], twin["outputs"]["MemoryBucketName"]

    def noncurrent_days(bucket: str) -> int:
        rules = s3.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"]
        return rules[0]["NoncurrentVersionExpiration"]["NoncurrentDays"]

    assert noncurrent_days(frontend) == noncurrent_days(memory) == 90
    # The new code object does not exist. The data stack, applied first, takes its changes (retention, the
    # memory bucket's lifecycle) and keeps them; in the app stack the function's update fails after the site
    # bucket's lifecycle changed, and the app stack rolls back alone.
    values = {**TWIN_PARAMETERS, "LogRetentionDays": "14", "MemoryNoncurrentDays": "60", "LiveVersion": "1"}
    data, stack = apply_environment(cfn, "twin-local", "broken-code", {**values, "CodeKey": "missing.zip"}, "UPDATE")

    assert data["StackStatus"] == "UPDATE_COMPLETE", data.get("StackStatusReason")
    assert stack["StackStatus"] == "UPDATE_ROLLBACK_COMPLETE"
    failed = failure_events(cfn, "twin-local")
    assert failed[0]["LogicalResourceId"] == "Function" and failed[0]["ResourceStatus"] == "UPDATE_FAILED"
    assert failed[0]["ResourceStatusReason"]
    assert outputs(stack) == outputs(before)
    parameters = stack_parameters(stack)
    assert parameters["CodeKey"] == CODE_KEY and parameters["MemoryNoncurrentDays"] == "90"
    events = cfn.describe_stack_events(StackName="twin-local")["StackEvents"]
    assert any(e["LogicalResourceId"] == "FrontendBucket" and e["ResourceStatus"] == "UPDATE_COMPLETE"
               for e in events[:next(i for i, e in enumerate(events) if e["ResourceStatus"] == "UPDATE_IN_PROGRESS"
                                     and e["LogicalResourceId"] == "twin-local")])
    assert noncurrent_days(frontend) == 90  # put back by the rollback
    assert noncurrent_days(memory) == 60  # the data stack's update stands
    for name in (twin["outputs"]["LogGroupName"], twin["outputs"]["ApiLogGroupName"]):
        assert logs.describe_log_groups(logGroupNamePrefix=name)["logGroups"][0]["retentionInDays"] == 14
    code = lam.get_function(FunctionName=twin["outputs"]["FunctionName"])["Code"]
    assert code is not None

    # The rolled-back stack accepts the next update (the data stack has nothing left to change).
    data, stack = apply_environment(cfn, "twin-local", "retention-14", values, "UPDATE")
    assert stack["StackStatus"] == "UPDATE_COMPLETE", stack.get("StackStatusReason")
    assert noncurrent_days(frontend) == 60


def test_twin_delete(aws: Any, twin: dict[str, Any]) -> None:
    cfn, s3, lam, secrets, cloudfront, kms, logs = (
        aws("cloudformation"), aws("s3"), aws("lambda"), aws("secretsmanager"), aws("cloudfront"), aws("kms"),
        aws("logs"),
    )
    stack_id = settle(cfn, "twin-local")["StackId"]
    data_before = settle(cfn, DATA_STACK)
    memory, frontend = twin["outputs"]["MemoryBucketName"], twin["outputs"]["FrontendBucketName"]

    def data_is_kept() -> None:
        bucket_names = {b["Name"] for b in s3.list_buckets()["Buckets"]}
        assert memory in bucket_names, "conversations outlive the stack"
        assert s3.get_object(Bucket=memory, Key="sessions/kept.json")["Body"].read() == b"[]"
        assert [s["Name"] for s in secrets.list_secrets()["SecretList"] if s["Name"].startswith("twin/local/")] == [
            "twin/local/llm-api-key"
        ], "the model key is retained, the origin secret goes"
        key_state = kms.describe_key(KeyId=twin["data_ids"]["Key"])["KeyMetadata"]["KeyState"]
        assert key_state == "Enabled", "the key is retained"
        for logical_id in ("FunctionLogGroup", "ApiLogGroup"):
            name = twin["data_ids"][logical_id]
            assert [g["logGroupName"] for g in logs.describe_log_groups(logGroupNamePrefix=name)["logGroups"]] == [
                name
            ], f"{logical_id} is retained"

    # As on AWS, a bucket that still holds objects cannot go: the stack ends DELETE_FAILED. The memory
    # bucket is not the app stack's (it is the data stack's), so only the frontend bucket fails.
    assert "MemoryBucket" not in twin["ids"]
    s3.put_object(Bucket=memory, Key="sessions/kept.json", Body=b"[]")
    s3.put_object(Bucket=frontend, Key="index.html", Body=b"<!doctype html>")
    cfn.delete_stack(StackName="twin-local")
    stack = settle(cfn, "twin-local")
    assert stack["StackStatus"] == "DELETE_FAILED"
    failed = {e["LogicalResourceId"] for e in failure_events(cfn, "twin-local")}
    assert "FrontendBucket" in failed and "MemoryBucket" not in failed, failed

    # `twinctl destroy`: the app stack goes, whole; the data stack and all it holds stay.
    empty_bucket(s3, frontend)
    cfn.delete_stack(StackName="twin-local")
    deleted = cfn.describe_stacks(StackName=stack_id)["Stacks"][0]
    assert deleted["StackStatus"] == "DELETE_COMPLETE"
    with pytest.raises(ClientError):
        cfn.describe_stacks(StackName="twin-local")

    bucket_names = {b["Name"] for b in s3.list_buckets()["Buckets"]}
    assert frontend not in bucket_names
    assert twin["outputs"]["FunctionName"] not in {f["FunctionName"] for f in lam.list_functions()["Functions"]}
    assert not cloudfront.list_distributions()["DistributionList"].get("Items")
    data_is_kept()
    events = cfn.describe_stack_events(StackName=stack_id)["StackEvents"]
    skipped = {e["LogicalResourceId"] for e in events if e["ResourceStatus"] == "DELETE_SKIPPED"}
    assert skipped == set(), skipped  # the app stack retains nothing: what must outlive it is the data stack's
    assert aws("apigatewayv2").get_apis()["Items"] == []
    data_now = settle(cfn, DATA_STACK)
    assert data_now["StackStatus"] == data_before["StackStatus"] and outputs(data_now) == twin["data_outputs"]
    assert physical_ids(cfn, DATA_STACK) == twin["data_ids"]
    assert [a["AliasName"] for a in kms.list_aliases(KeyId=twin["data_ids"]["Key"])["Aliases"]] == ["alias/twin-local"]

    # Even deleting the data stack (twinctl never does: `destroy --delete-data` deletes the data through the
    # services' APIs) keeps the data (DeletionPolicy RetainExceptOnCreate); only the alias and the bucket
    # policy go.
    cfn.delete_stack(StackName=DATA_STACK)
    assert cfn.describe_stacks(StackName=data_now["StackId"])["Stacks"][0]["StackStatus"] == "DELETE_COMPLETE"
    events = cfn.describe_stack_events(StackName=data_now["StackId"])["StackEvents"]
    skipped = {e["LogicalResourceId"] for e in events if e["ResourceStatus"] == "DELETE_SKIPPED"}
    assert skipped == RETAINED_DATA == {"MemoryBucket", "Key", "LlmSecret", "FunctionLogGroup", "ApiLogGroup"}, skipped
    removed = {e["LogicalResourceId"] for e in events if e["ResourceStatus"] == "DELETE_COMPLETE"}
    assert removed == (DATA_RESOURCES - RETAINED_DATA) | {DATA_STACK}, removed
    data_is_kept()
    assert kms.list_aliases(KeyId=twin["data_ids"]["Key"])["Aliases"] == []
    with pytest.raises(ClientError):
        s3.get_bucket_policy(Bucket=memory)


def test_twin_with_waf_domain_and_alarm_email(aws: Any, code_zip: None) -> None:
    """The conditional parts of twin.yaml: the web ACL, a custom domain and the alarm e-mail."""
    cfn, cloudfront, sns, wafv2 = aws("cloudformation"), aws("cloudfront"), aws("sns"), aws("wafv2")
    certificate = "arn:aws:acm:us-east-1:123456789012:certificate/0f3b-test"
    parameters = {
        **TWIN_PARAMETERS,
        "EnvironmentName": "staging",
        "EnableWaf": "true",
        "WafRateLimit": "500",
        "DomainName": "twin.example.com",
        "CertificateArn": certificate,
        "AlarmEmail": "ops@example.com",
    }
    data, stack = apply_environment(cfn, "twin-staging", "deploy-1", parameters)
    assert stack["StackStatus"] == "CREATE_COMPLETE", (stack.get("StackStatusReason"), failure_events(cfn, "twin-staging"))
    values = outputs(stack)
    assert values["SiteUrl"] == "https://twin.example.com"
    ids = physical_ids(cfn, "twin-staging")

    acl_name, acl_id, scope = ids["WebAcl"].split("|")
    acl = wafv2.get_web_acl(Name=acl_name, Id=acl_id, Scope=scope)["WebACL"]
    assert acl_name == f"twin-staging-{REGION}" and scope == "CLOUDFRONT"
    assert sorted(r["Name"] for r in acl["Rules"]) == sorted([
        "RateLimitPerIp", "BodyOver64KiB", "AWSManagedRulesCommonRuleSet", "BlockCommonRuleSetMatches",
        "AWSManagedRulesKnownBadInputsRuleSet", "BlockKnownBadInputsMatches",
    ])
    config = cloudfront.get_distribution_config(Id=values["DistributionId"])["DistributionConfig"]
    assert config["WebACLId"] == acl["ARN"]
    assert config["Aliases"]["Items"] == ["twin.example.com"]
    assert config["ViewerCertificate"]["ACMCertificateArn"] == certificate
    assert config["ViewerCertificate"]["MinimumProtocolVersion"] == "TLSv1.2_2021"

    subscriptions = sns.list_subscriptions_by_topic(TopicArn=values["AlarmTopicArn"])["Subscriptions"]
    assert [(s["Protocol"], s["Endpoint"]) for s in subscriptions] == [("email", "ops@example.com")]

    cfn.delete_stack(StackName="twin-staging")
    assert cfn.describe_stacks(StackName=stack["StackId"])["Stacks"][0]["StackStatus"] == "DELETE_COMPLETE"
    assert not wafv2.list_web_acls(Scope="CLOUDFRONT")["WebACLs"]
    cfn.delete_stack(StackName="twin-staging-data")
    assert cfn.describe_stacks(StackName=data["StackId"])["Stacks"][0]["StackStatus"] == "DELETE_COMPLETE"


def test_template_rules_and_parameters_are_enforced(aws: Any, code_zip: None) -> None:
    cfn = aws("cloudformation")
    template = APP_TEMPLATE.read_text()
    # The app stack's values as twinctl passes them (the data outputs among them); nothing gets created.
    app = app_parameters(TWIN_PARAMETERS, STAND_IN_DATA_OUTPUTS)
    cases = [
        ({**app, "DomainName": "twin.example.com"},
         "DomainName needs CertificateArn (an ACM certificate in us-east-1)."),
        ({**app, "EnvironmentName": "dev"}, "Parameter 'EnvironmentName' must match pattern"),
        # A preview is pr-<n>: no leading zero, at most 8 digits.
        ({**app, "EnvironmentName": "pr-07"}, "Parameter 'EnvironmentName' must match pattern"),
        ({**app, "EnvironmentName": "pr-123456789"}, "Parameter 'EnvironmentName' must match pattern"),
        ({**app, "LiveVersion": "latest"}, "Parameter 'LiveVersion' must match pattern"),
        ({**app, "WafRateLimit": "10"}, "Parameter 'WafRateLimit' must be a number not less than 100"),
        ({k: v for k, v in app.items() if k != "CodeKey"}, "Parameters: [CodeKey] must have values"),
        ({**app, "Nope": "x"}, "Parameters: [Nope] do not exist in the template"),
        # The data stack's parameters: a data output is required, of its form; the retention is not the app's.
        ({k: v for k, v in app.items() if k != "DataKeyArn"}, "Parameters: [DataKeyArn] must have values"),
        ({**app, "DataKeyArn": "alias/twin-local"}, "Parameter 'DataKeyArn' must match pattern"),
        ({**app, "DataFunctionLogGroupName": "/aws/apigateway/twin-local-api"},
         "Parameter 'DataFunctionLogGroupName' must match pattern"),
        ({**app, "LogRetentionDays": "7"}, "Parameters: [LogRetentionDays] do not exist in the template"),
    ]
    data_template = DATA_TEMPLATE.read_text()
    data = data_parameters(TWIN_PARAMETERS)
    data_cases = [
        ({**data, "EnvironmentName": "dev"}, "Parameter 'EnvironmentName' must match pattern"),
        ({**data, "EnvironmentName": "pr-"}, "Parameter 'EnvironmentName' must match pattern"),
        ({**data, "LogRetentionDays": "8"}, "Parameter 'LogRetentionDays' must be one of AllowedValues"),
        ({**data, "RetainedReleases": "1"}, "Parameter 'RetainedReleases' must be a number not less than 2"),
        ({**data, "CodeKey": CODE_KEY}, "Parameters: [CodeKey] do not exist in the template"),
    ]
    for stack_name, body, checks in (("twin-invalid", template, cases),
                                     ("twin-invalid-data", data_template, data_cases)):
        for parameters, message in checks:
            with pytest.raises(ClientError) as refused:
                change_set(cfn, stack_name, "deploy-1", body, as_parameters(parameters), "CREATE")
            assert refused.value.response["Error"]["Code"] == "ValidationError"
            assert message in refused.value.response["Error"]["Message"]
        with pytest.raises(ClientError):
            cfn.describe_stacks(StackName=stack_name)  # nothing was created for a refused template

    eu = boto3.client("cloudformation", endpoint_url=cfn.meta.endpoint_url, region_name="eu-west-1",
                      aws_access_key_id="testing", aws_secret_access_key="testing")
    with pytest.raises(ClientError) as refused:
        change_set(eu, "twin-waf-eu", "deploy-1", template, as_parameters({**app, "EnableWaf": "true"}), "CREATE")
    assert "A CloudFront web ACL can only be created in us-east-1." in refused.value.response["Error"]["Message"]


def test_create_and_update_stack_api(aws: Any) -> None:
    """CreateStack/UpdateStack (not change sets) go through the same engine; UsePreviousValue keeps a value."""
    cfn, s3 = aws("cloudformation"), aws("s3")
    template = (TEMPLATES / "bootstrap.yaml").read_text()
    cfn.create_stack(StackName="other-bootstrap", TemplateBody=template,
                     Parameters=as_parameters({"NoncurrentVersionDays": "45"}))
    stack = settle(cfn, "other-bootstrap")
    assert stack["StackStatus"] == "CREATE_COMPLETE"
    bucket = outputs(stack)["ArtifactsBucketName"]

    with pytest.raises(ClientError) as refused:
        cfn.update_stack(StackName="other-bootstrap", TemplateBody=template,
                         Parameters=[{"ParameterKey": "NoncurrentVersionDays", "UsePreviousValue": True}])
    assert refused.value.response["Error"]["Message"] == "No updates are to be performed."

    # Only OidcProvider changes: NoncurrentVersionDays keeps 45 (omitted, it would fall back to its default 30).
    cfn.update_stack(StackName="other-bootstrap", UsePreviousTemplate=True,
                     Parameters=[{"ParameterKey": "NoncurrentVersionDays", "UsePreviousValue": True},
                                 {"ParameterKey": "OidcProvider",
                                  "ParameterValue": f"arn:aws:iam::123456789012:oidc-provider/{GITHUB_OIDC_URL}"}])
    stack = settle(cfn, "other-bootstrap")
    assert stack["StackStatus"] == "UPDATE_COMPLETE", stack.get("StackStatusReason")
    assert {p["ParameterKey"]: p["ParameterValue"] for p in stack["Parameters"]}["NoncurrentVersionDays"] == "45"
    assert outputs(stack)["ArtifactsBucketName"] == bucket
    assert outputs(stack)["OidcProviderArn"].endswith(f":oidc-provider/{GITHUB_OIDC_URL}")
    rule = s3.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"][0]
    assert rule["NoncurrentVersionExpiration"]["NoncurrentDays"] == 45

    cfn.update_stack(StackName="other-bootstrap", UsePreviousTemplate=True,
                     Parameters=[{"ParameterKey": "NoncurrentVersionDays", "ParameterValue": "60"},
                                 {"ParameterKey": "OidcProvider", "UsePreviousValue": True}])
    stack = settle(cfn, "other-bootstrap")
    assert stack["StackStatus"] == "UPDATE_COMPLETE"
    assert outputs(stack)["ArtifactsBucketName"] == bucket
    assert "OidcProviderArn" in outputs(stack)
    rule = s3.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"][0]
    assert rule["NoncurrentVersionExpiration"]["NoncurrentDays"] == 60

    cfn.delete_stack(StackName="other-bootstrap")
    assert cfn.describe_stacks(StackName=stack["StackId"])["Stacks"][0]["StackStatus"] == "DELETE_COMPLETE"


def test_exports_and_imports(aws: Any) -> None:
    cfn, sns = aws("cloudformation"), aws("sns")
    exporter = """
Resources:
  Topic:
    Type: AWS::SNS::Topic
Outputs:
  TopicArn:
    Value: !Ref Topic
    Export:
      Name: shared-topic-arn
"""
    importer = """
Resources:
  Subscription:
    Type: AWS::SNS::Subscription
    Properties:
      TopicArn: !ImportValue shared-topic-arn
      Protocol: email
      Endpoint: someone@example.com
Outputs:
  SubscriptionArn:
    Value: !Ref Subscription
"""
    exported = deploy(cfn, "exporter", "deploy-1", exporter, [])
    topic_arn = outputs(exported)["TopicArn"]
    assert exported["Outputs"][0]["ExportName"] == "shared-topic-arn"
    assert cfn.list_exports()["Exports"] == [
        {"ExportingStackId": exported["StackId"], "Name": "shared-topic-arn", "Value": topic_arn}
    ]
    imported = deploy(cfn, "importer", "deploy-1", importer, [])
    assert imported["StackStatus"] == "CREATE_COMPLETE"
    subscriptions = sns.list_subscriptions_by_topic(TopicArn=topic_arn)["Subscriptions"]
    assert [s["SubscriptionArn"] for s in subscriptions] == [outputs(imported)["SubscriptionArn"]]

    cfn.delete_stack(StackName="importer")
    cfn.delete_stack(StackName="exporter")
    assert cfn.list_exports()["Exports"] == []


def test_moto_api_data_still_serialises(endpoint: str, twin: dict[str, Any]) -> None:
    """/moto-api/data.json (the emulator's state dump) must survive our resource models."""
    data = json.loads(urllib.request.urlopen(f"{endpoint}/moto-api/data.json", timeout=10).read())
    assert "cloudformation" in data


# --- replacement ---------------------------------------------------------------------------------

REPLACEMENT_TEMPLATE = """
Parameters:
  FunctionName:
    Type: String
    Default: ""
  TopicName:
    Type: String
Conditions:
  Named: !Not [!Equals [!Ref FunctionName, ""]]
Resources:
  Role:
    Type: AWS::IAM::Role
    Properties:
      AssumeRolePolicyDocument:
        Version: "2012-10-17"
        Statement:
          - Effect: Allow
            Principal:
              Service: lambda.amazonaws.com
            Action: sts:AssumeRole
  Function:
    Type: AWS::Lambda::Function
    Properties:
      FunctionName: !If [Named, !Ref FunctionName, !Ref AWS::NoValue]
      Runtime: python3.12
      Handler: index.handler
      Role: !GetAtt Role.Arn
      Code:
        ZipFile: "def handler(event, context): return 1"
  Logs:
    Type: AWS::Logs::LogGroup
    Properties:
      LogGroupName: !Sub /aws/lambda/${Function}
      RetentionInDays: 7
  Topic:
    Type: AWS::SNS::Topic
    UpdateReplacePolicy: Retain
    Properties:
      TopicName: !Ref TopicName
Outputs:
  FunctionName:
    Value: !Ref Function
"""


def events_in_order(cfn: Any, stack_name: str) -> list[tuple[str, str, str]]:
    events = cfn.describe_stack_events(StackName=stack_name)["StackEvents"]
    return [(e["LogicalResourceId"], e["ResourceStatus"], e.get("PhysicalResourceId", "")) for e in reversed(events)]


def test_replacement_creates_the_new_resource_first_and_deletes_the_old_one_in_cleanup(aws: Any) -> None:
    cfn, lam, logs, sns = aws("cloudformation"), aws("lambda"), aws("logs"), aws("sns")
    first = {"FunctionName": "replace-me-api", "TopicName": "replace-me-1"}
    stack = deploy(cfn, "replace-me", "deploy-1", REPLACEMENT_TEMPLATE, as_parameters(first))
    assert stack["StackStatus"] == "CREATE_COMPLETE", failure_events(cfn, "replace-me")
    before = physical_ids(cfn, "replace-me")

    # Removing FunctionName is a replacement (AWS generates a name), planned and executed alike.
    second = {"TopicName": "replace-me-2"}
    described = change_set(cfn, "replace-me", "unname", REPLACEMENT_TEMPLATE, as_parameters(second), "UPDATE")
    planned = {c["ResourceChange"]["LogicalResourceId"]: c["ResourceChange"]["Replacement"]
               for c in described["Changes"]}
    assert planned == {"Function": "True", "Logs": "Conditional", "Topic": "True"}
    cfn.execute_change_set(ChangeSetName=described["ChangeSetId"])
    stack = settle(cfn, "replace-me")

    assert stack["StackStatus"] == "UPDATE_COMPLETE", failure_events(cfn, "replace-me")
    after = physical_ids(cfn, "replace-me")
    assert after["Function"].startswith("replace-me-Function-") and outputs(stack)["FunctionName"] == after["Function"]
    assert after["Logs"] == f"/aws/lambda/{after['Function']}"
    functions = {f["FunctionName"] for f in lam.list_functions()["Functions"]}
    assert after["Function"] in functions and "replace-me-api" not in functions
    assert not logs.describe_log_groups(logGroupNamePrefix="/aws/lambda/replace-me-api")["logGroups"]
    topics = {t["TopicArn"].rsplit(":", 1)[1] for t in sns.list_topics()["Topics"]}
    assert {"replace-me-1", "replace-me-2"} <= topics  # UpdateReplacePolicy: Retain keeps the old topic

    # As on AWS: the new function exists before the old one goes, in the cleanup phase.
    events = events_in_order(cfn, "replace-me")
    update = events[next(i for i, e in enumerate(events) if e[1] == "UPDATE_IN_PROGRESS" and e[0] == "replace-me"):]
    steps = [(logical, status, physical) for logical, status, physical in update if logical != "replace-me"
             or status.startswith("UPDATE_COMPLETE")]
    cleanup_at = steps.index(("replace-me", "UPDATE_COMPLETE_CLEANUP_IN_PROGRESS", stack["StackId"]))
    assert steps.index(("Function", "UPDATE_COMPLETE", after["Function"])) < cleanup_at
    assert steps.index(("Function", "DELETE_COMPLETE", before["Function"])) > cleanup_at
    assert steps.index(("Logs", "DELETE_COMPLETE", before["Logs"])) > cleanup_at
    assert ("Topic", "DELETE_SKIPPED", before["Topic"]) in steps[cleanup_at:]
    # Dependents first: the old log group (named after the old function) goes before the old function.
    assert steps.index(("Logs", "DELETE_COMPLETE", before["Logs"])) < steps.index(
        ("Function", "DELETE_COMPLETE", before["Function"])
    )
    reasons = cfn.describe_stack_events(StackName="replace-me")["StackEvents"]
    assert any(e["LogicalResourceId"] == "Function" and e["ResourceStatus"] == "UPDATE_IN_PROGRESS"
               and "requires the creation of a new physical resource" in (e.get("ResourceStatusReason") or "")
               for e in reasons)

    cfn.delete_stack(StackName="replace-me")
    assert cfn.describe_stacks(StackName=stack["StackId"])["Stacks"][0]["StackStatus"] == "DELETE_COMPLETE"
    sns.delete_topic(TopicArn=before["Topic"])  # retained by its UpdateReplacePolicy


def test_failed_update_puts_replaced_resources_back(aws: Any, code_zip: None) -> None:
    cfn, logs = aws("cloudformation"), aws("logs")
    template = """
Parameters:
  LogGroupName:
    Type: String
Resources:
  Logs:
    Type: AWS::Logs::LogGroup
    Properties:
      LogGroupName: !Ref LogGroupName
Outputs:
  LogGroupName:
    Value: !Ref Logs
"""
    failing = template.replace("Outputs:", f"""  Function:
    Type: AWS::Lambda::Function
    DependsOn: Logs
    Properties:
      Runtime: provided.al2023
      Handler: bootstrap
      Role: arn:aws:iam::123456789012:role/stand-in
      Code:
        S3Bucket: {CODE_BUCKET}
        S3Key: this-key-does-not-exist.zip
Outputs:""")
    stack = deploy(cfn, "put-back", "deploy-1", template, as_parameters({"LogGroupName": "put-back-1"}))
    assert stack["StackStatus"] == "CREATE_COMPLETE"

    # The log group is replaced (a new name), then the new function fails: the update rolls back.
    stack = deploy(cfn, "put-back", "rename-and-fail", failing, as_parameters({"LogGroupName": "put-back-2"}),
                   "UPDATE")

    assert stack["StackStatus"] == "UPDATE_ROLLBACK_COMPLETE", stack.get("StackStatusReason")
    assert physical_ids(cfn, "put-back") == {"Logs": "put-back-1"}
    assert outputs(stack) == {"LogGroupName": "put-back-1"}
    names = {g["logGroupName"] for g in logs.describe_log_groups(logGroupNamePrefix="put-back-")["logGroups"]}
    assert names == {"put-back-1"}  # the replacement made by the failed update is gone
    events = events_in_order(cfn, "put-back")
    assert ("Logs", "UPDATE_COMPLETE", "put-back-2") in events
    assert ("Logs", "DELETE_COMPLETE", "put-back-2") in events
    assert ("Logs", "DELETE_COMPLETE", "put-back-1") not in events

    # The rolled-back stack takes the replacement on the next update.
    stack = deploy(cfn, "put-back", "rename", template, as_parameters({"LogGroupName": "put-back-3"}), "UPDATE")
    assert stack["StackStatus"] == "UPDATE_COMPLETE"
    names = {g["logGroupName"] for g in logs.describe_log_groups(logGroupNamePrefix="put-back-")["logGroups"]}
    assert names == {"put-back-3"}
    cfn.delete_stack(StackName="put-back")
    assert not logs.describe_log_groups(logGroupNamePrefix="put-back-")["logGroups"]


# --- a create that fails -----------------------------------------------------------------------


def test_failed_create_rolls_back(aws: Any, code_zip: None) -> None:
    cfn, s3, sns, iam, logs = aws("cloudformation"), aws("s3"), aws("sns"), aws("iam"), aws("logs")
    buckets_before = {b["Name"] for b in s3.list_buckets()["Buckets"]}
    stack = deploy(
        cfn,
        "doomed",
        "create-1",
        (TEST_TEMPLATES / "failing_create.yaml").read_text(),
        as_parameters({"CodeBucket": CODE_BUCKET}),
    )

    assert stack["StackStatus"] == "ROLLBACK_COMPLETE"
    assert stack["StackStatusReason"].startswith("The following resource(s) failed to create: [Function].")
    assert not stack.get("Outputs")
    failed = failure_events(cfn, "doomed")
    assert [(e["LogicalResourceId"], e["ResourceStatus"]) for e in failed] == [("Function", "CREATE_FAILED")]
    assert "NoSuchKey" in failed[0]["ResourceStatusReason"]

    events = cfn.describe_stack_events(StackName="doomed")["StackEvents"]
    deleted = {e["LogicalResourceId"] for e in events if e["ResourceStatus"] == "DELETE_COMPLETE"}
    assert deleted == {"Bucket", "Topic", "Logs", "Role"}
    assert cfn.describe_stack_resources(StackName="doomed")["StackResources"] == []
    assert {b["Name"] for b in s3.list_buckets()["Buckets"]} == buckets_before
    assert not [t for t in sns.list_topics()["Topics"] if ":doomed-" in t["TopicArn"]]
    assert not [r for r in iam.list_roles()["Roles"] if r["RoleName"].startswith("doomed-")]
    assert not logs.describe_log_groups(logGroupNamePrefix="doomed-")["logGroups"]

    # A stack in ROLLBACK_COMPLETE cannot be updated, only deleted.
    with pytest.raises(ClientError):
        change_set(cfn, "doomed", "again", (TEST_TEMPLATES / "failing_create.yaml").read_text(),
                   as_parameters({"CodeBucket": CODE_BUCKET}), "UPDATE")
    cfn.delete_stack(StackName="doomed")
    assert stack["StackId"] in {s["StackId"] for s in cfn.list_stacks(StackStatusFilter=["DELETE_COMPLETE"])["StackSummaries"]}
