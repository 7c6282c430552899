"""What Lambda gives a function to run with: its execution role's temporary credentials.

The emulator stores functions but does not run them; twinctl runs a version's `bootstrap` on
this machine (twinctl/src/local_function.rs). On AWS the Lambda service assumes the function's
execution role and puts that session's keys in the function's environment
(AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN; Lambda developer guide, "Defined
runtime environment variables",
https://docs.aws.amazon.com/lambda/latest/dg/configuration-envvars.html#configuration-envvars-runtime).
Here the emulator plays the Lambda service: twinctl asks it for those keys, so a locally run
function acts as its own role and, when the emulator enforces IAM, is held to that role's
policies instead of borrowing the deployer's.

    POST /moto-api/twin/lambda/credentials  {"FunctionName": NAME-or-ARN, "Region": "us-east-1"}
    → 200 {"AccessKeyId", "SecretAccessKey", "SessionToken", "Expiration", "RoleArn"}
    → 404 {"Error": ...} for an unknown function

Like the rest of /moto-api/ it is unauthenticated: the emulator listens on 127.0.0.1 only.
"""

from __future__ import annotations

import json
from typing import Any

DEFAULT_ACCOUNT = "123456789012"
ROUTE = "{0}/moto-api/twin/lambda/credentials"


def _function_role(account_id: str, region: str, name: str) -> str:
    # The backend the Lambda API serves (lambda_simple when use_docker is off, as scripts/emulator sets).
    from moto.awslambda.utils import get_backend

    # arn:aws:lambda:REGION:ACCOUNT:function:NAME[:QUALIFIER]: moto takes the qualifier apart.
    parts = name.split(":")
    qualifier = parts[7] if name.startswith("arn:") and len(parts) > 7 else None
    function_name = parts[6] if name.startswith("arn:") else name
    function = get_backend(account_id, region).get_function(function_name, qualifier)
    return str(function.role)


def credentials_response(request: Any, full_url: str, headers: Any) -> tuple[int, dict[str, str], str]:
    from moto.awslambda.exceptions import UnknownFunctionException
    from moto.sts.models import sts_backends

    if request.method != "POST":
        return 405, {}, json.dumps({"Error": "POST {FunctionName, Region}"})
    body = json.loads(request.get_data() or b"{}")
    name = str(body.get("FunctionName", ""))
    region = str(body.get("Region", "us-east-1"))
    account_id = name.split(":")[4] if name.startswith("arn:") else DEFAULT_ACCOUNT
    try:
        role_arn = _function_role(account_id, region, name)
    except UnknownFunctionException:
        return 404, {}, json.dumps({"Error": f"function {name} not found in {account_id}/{region}"})
    # Lambda names the session after the function (the role's sessions show up as
    # assumed-role/ROLE/FUNCTION in CloudTrail).
    session_name = name.split(":")[6] if name.startswith("arn:") else name
    assumed = sts_backends[account_id]["aws"].assume_role(
        region_name=region,
        role_session_name=session_name[:64],
        role_arn=role_arn,
        policy="",
        duration=3600,
        external_id="",
    )
    answer = {
        "AccessKeyId": assumed.access_key_id,
        "SecretAccessKey": assumed.secret_access_key,
        "SessionToken": assumed.session_token,
        "Expiration": assumed.expiration.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "RoleArn": role_arn,
    }
    return 200, {"Content-Type": "application/json"}, json.dumps(answer)


def install() -> None:
    from moto.moto_api._internal import urls

    urls.url_paths[ROUTE] = credentials_response
