"""AssumeRoleWithWebIdentity under IAM enforcement (twin_emulator/web_identity.py).

As a GitHub Actions job does it: a token of the (local stand-in for) GitHub's issuer, sent unsigned
to STS for a deploy role whose trust policy names the account's GitHub OIDC provider and the job's
subject. The tokens are minted with the same key pair the emulator trusts (its state directory),
except where a test needs a token it must refuse.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore import UNSIGNED
from botocore.config import Config
from botocore.exceptions import ClientError
from cryptography.hazmat.primitives.asymmetric import rsa

from emulator_process import admin_keys, running_emulator, signed_client
from twin_emulator import oidc_issuer

REGION = "us-east-1"
ACCOUNT = "123456789012"
PROVIDER = f"arn:aws:iam::{ACCOUNT}:oidc-provider/token.actions.githubusercontent.com"
HOST = "token.actions.githubusercontent.com"


@pytest.fixture(scope="module")
def state(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    directory = tmp_path_factory.mktemp("web-identity")
    with running_emulator(directory, enforce_iam=True) as url:
        keys = admin_keys(directory)
        iam = client(url, "iam", keys["AWS_ACCESS_KEY_ID"], keys["AWS_SECRET_ACCESS_KEY"])
        iam.create_open_id_connect_provider(
            Url=oidc_issuer.ISSUER,
            ClientIDList=["sts.amazonaws.com"],
            ThumbprintList=["6938fd4d98bab03faadb97b34396831e3780aea1"],
        )
        yield url, directory


@pytest.fixture(scope="module")
def url(state: tuple[str, Path]) -> str:
    return state[0]


@pytest.fixture(scope="module")
def key(state: tuple[str, Path]) -> rsa.RSAPrivateKey:
    return oidc_issuer.ensure_key_pair(state[1])


@pytest.fixture(scope="module")
def admin(state: tuple[str, Path]) -> Callable[[str], Any]:
    keys = admin_keys(state[1])
    return lambda service: client(state[0], service, keys["AWS_ACCESS_KEY_ID"], keys["AWS_SECRET_ACCESS_KEY"])


def client(url: str, service: str, key_id: str, secret: str, token: str | None = None) -> Any:
    return signed_client(url, service, key_id, secret, token, REGION)


def deploy_role(admin: Callable[[str], Any], environment: str, repository: str = "octo/twin") -> str:
    """A role as templates/environment-access.yaml writes its deploy role's trust."""
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Federated": PROVIDER},
                "Action": "sts:AssumeRoleWithWebIdentity",
                "Condition": {
                    "StringEquals": {f"{HOST}:aud": "sts.amazonaws.com"},
                    "StringLike": {f"{HOST}:sub": f"repo:{repository}:environment:{environment}"},
                },
            }
        ],
    }
    name = f"twin-ci-{environment.rstrip('-*')}-deploy-{uuid.uuid4().hex[:6]}"
    iam = admin("iam")
    arn = iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
    grants = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:ListAllMyBuckets", "Resource": "*"}]}
    iam.put_role_policy(RoleName=name, PolicyName="deploy", PolicyDocument=json.dumps(grants))
    return str(arn)


def assume(url: str, role_arn: str, token: str) -> dict[str, Any]:
    """Unsigned, as aws-actions/configure-aws-credentials and the SDKs send it."""
    sts = boto3.client("sts", endpoint_url=url, region_name=REGION, config=Config(signature_version=UNSIGNED))
    answer = sts.assume_role_with_web_identity(RoleArn=role_arn, RoleSessionName="github-actions", WebIdentityToken=token)
    return dict(answer)


def refused(url: str, role_arn: str, token: str) -> ClientError:
    with pytest.raises(ClientError) as raised:
        assume(url, role_arn, token)
    return raised.value


def test_a_staging_job_assumes_the_staging_role_and_acts_as_its_session(
    url: str, admin: Callable[[str], Any], key: rsa.RSAPrivateKey
) -> None:
    role = deploy_role(admin, "staging")
    answer = assume(url, role, oidc_issuer.token(key, "repo:octo/twin:environment:staging"))

    credentials = answer["Credentials"]
    session = lambda service: client(  # noqa: E731 - a client factory for the session
        url, service, credentials["AccessKeyId"], credentials["SecretAccessKey"], credentials["SessionToken"]
    )
    role_name = role.split("/")[-1]
    assert session("sts").get_caller_identity()["Arn"] == f"arn:aws:sts::{ACCOUNT}:assumed-role/{role_name}/github-actions"
    session("s3").list_buckets()  # granted by the role's policy
    with pytest.raises(ClientError) as raised:
        session("lambda").list_functions()  # not granted
    assert raised.value.response["Error"]["Code"] == "AccessDeniedException"
    assert f"assumed-role/{role_name}/github-actions" in raised.value.response["Error"]["Message"]


def test_the_same_token_cannot_assume_the_production_role(
    url: str, admin: Callable[[str], Any], key: rsa.RSAPrivateKey
) -> None:
    production = deploy_role(admin, "production")
    error = refused(url, production, oidc_issuer.token(key, "repo:octo/twin:environment:staging"))
    assert error.response["Error"]["Code"] == "AccessDenied"
    assert error.response["Error"]["Message"] == "Not authorized to perform sts:AssumeRoleWithWebIdentity"
    assert error.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    # Nor can another repository's production job; this repository's can.
    assert refused(url, production, oidc_issuer.token(key, "repo:someone/else:environment:production"))
    assume(url, production, oidc_issuer.token(key, "repo:octo/twin:environment:production"))


def test_a_preview_role_trusts_every_pull_request_environment_and_nothing_else(
    url: str, admin: Callable[[str], Any], key: rsa.RSAPrivateKey
) -> None:
    """StringLike on the subject: the previews' role (environment pr-*) is assumed by the job of any pr-<n>
    environment; a single environment's subject has no wildcard, so StringLike matches it exactly."""
    previews = deploy_role(admin, "pr-*")
    for number in ("7", "12345678"):
        assume(url, previews, oidc_issuer.token(key, f"repo:octo/twin:environment:pr-{number}"))
    for subject in (
        "repo:octo/twin:environment:staging",
        "repo:octo/twin:pull_request",
        "repo:octo/twin:ref:refs/heads/pr-7",
        "repo:octo/twin:environment:production",
        "repo:someone/else:environment:pr-7",
        "repo:octo/twin-fork:environment:pr-7",
    ):
        assert refused(url, previews, oidc_issuer.token(key, subject)).response["Error"]["Code"] == "AccessDenied", subject
    staging = deploy_role(admin, "staging")
    assume(url, staging, oidc_issuer.token(key, "repo:octo/twin:environment:staging"))
    for subject in ("repo:octo/twin:environment:staging2", "repo:octo/twin:environment:pr-7",
                    "repo:octo/twin:environment:Staging"):
        assert refused(url, staging, oidc_issuer.token(key, subject)).response["Error"]["Code"] == "AccessDenied", subject


def test_a_token_signed_by_another_key_is_invalid(url: str, admin: Callable[[str], Any]) -> None:
    role = deploy_role(admin, "staging")
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    error = refused(url, role, oidc_issuer.token(stranger, "repo:octo/twin:environment:staging"))
    assert error.response["Error"]["Code"] == "InvalidIdentityToken"
    assert error.response["ResponseMetadata"]["HTTPStatusCode"] == 400


def test_an_expired_token_is_refused_as_expired(url: str, admin: Callable[[str], Any], key: rsa.RSAPrivateKey) -> None:
    role = deploy_role(admin, "staging")
    two_hours_ago = int(time.time()) - 7200
    token = oidc_issuer.token(key, "repo:octo/twin:environment:staging", issued_at=two_hours_ago)
    error = refused(url, role, token)
    assert error.response["Error"]["Code"] == "ExpiredTokenException"
    assert error.response["ResponseMetadata"]["HTTPStatusCode"] == 400


def test_a_token_for_another_audience_is_invalid(url: str, admin: Callable[[str], Any], key: rsa.RSAPrivateKey) -> None:
    role = deploy_role(admin, "staging")
    error = refused(url, role, oidc_issuer.token(key, "repo:octo/twin:environment:staging", audience="https://github.com/octo"))
    assert error.response["Error"]["Code"] == "InvalidIdentityToken"
    assert "audience" in error.response["Error"]["Message"]


def test_a_token_of_an_issuer_without_a_provider_is_invalid(
    url: str, admin: Callable[[str], Any], key: rsa.RSAPrivateKey
) -> None:
    role = deploy_role(admin, "staging")
    now = int(time.time())
    claims = {"iss": "https://issuer.example", "aud": "sts.amazonaws.com", "sub": "x", "iat": now, "exp": now + 60}
    error = refused(url, role, oidc_issuer.sign(key, claims))
    assert error.response["Error"]["Code"] == "InvalidIdentityToken"
    assert "https://issuer.example" in error.response["Error"]["Message"]
    assert refused(url, role, "not-a-jwt").response["Error"]["Code"] == "InvalidIdentityToken"


def test_githubs_own_claims_are_condition_keys(url: str, admin: Callable[[str], Any], key: rsa.RSAPrivateKey) -> None:
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Federated": PROVIDER},
                "Action": "sts:AssumeRoleWithWebIdentity",
                "Condition": {
                    "StringEquals": {f"{HOST}:repository": "octo/twin", f"{HOST}:environment": "staging"},
                    "StringLike": {f"{HOST}:sub": "repo:octo/*"},
                },
            }
        ],
    }
    name = f"claims-{uuid.uuid4().hex[:6]}"
    role = admin("iam").create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
    assume(url, role, oidc_issuer.token(key, "repo:octo/twin:environment:staging"))
    assert refused(url, role, oidc_issuer.token(key, "repo:octo/twin:environment:production"))


def test_a_trust_for_another_provider_does_not_apply(url: str, admin: Callable[[str], Any], key: rsa.RSAPrivateKey) -> None:
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Federated": f"arn:aws:iam::{ACCOUNT}:oidc-provider/gitlab.example"},
                "Action": "sts:AssumeRoleWithWebIdentity",
            }
        ],
    }
    name = f"other-{uuid.uuid4().hex[:6]}"
    role = admin("iam").create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
    assert refused(url, role, oidc_issuer.token(key, "repo:octo/twin:environment:staging")).response["Error"]["Code"] == (
        "AccessDenied"
    )
