"""CloudWatch over Smithy RPC v2 CBOR, as the Rust SDK calls it (twin_emulator/cloudwatch_cbor.py).

The requests are made here the way aws-sdk-cloudwatch makes them: POST
/service/GraniteServiceVersion20100801/operation/<Operation>, its headers (smithy-protocol,
Content-Type and Accept application/cbor, x-amzn-query-mode), a CBOR body of indefinite-length
maps, SigV4-signed for "monitoring" in a region. Responses are read raw, so the tests also see
what the Rust SDK's decoder insists on (timestamps and doubles as CBOR floats). boto3 speaks
awsJson to CloudWatch, so the last test makes botocore speak its own rpcv2Cbor instead: a second,
independent reader of the same responses.

The emulator is moto's server in this process (after twin_emulator.install()) on a free port.
"""

from __future__ import annotations

import gzip
import json
import socket
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import botocore.session
import cbor2
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.exceptions import ClientError
from moto.server import ThreadedMotoServer

import twin_emulator

REGION = "us-east-1"
ACCOUNT = "123456789012"  # moto's default account, for any access key it does not know
SERVICE_PATH = "/service/GraniteServiceVersion20100801/operation/"


class Epoch(float):
    """A CBOR tag 1 (epoch-seconds timestamp) as it came over the wire."""


def epoch(value: Any, immutable: bool = False) -> Any:
    assert isinstance(value, float), f"a timestamp must be a CBOR float for the Rust SDK, got {value!r}"
    return Epoch(value)


def timestamp(seconds: float) -> cbor2.CBORTag:
    return cbor2.CBORTag(1, float(seconds))  # as aws-smithy-cbor writes one: tag 1 around an f64


# --- the emulator --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def endpoint() -> Any:
    twin_emulator.install()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


@pytest.fixture
def url(endpoint: str) -> str:
    urllib.request.urlopen(urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST")).read()
    return endpoint


class Answer:
    def __init__(self, status: int, headers: Any, raw: bytes) -> None:
        self.status = status
        self.headers = headers
        self.raw = raw
        cbor = headers.get("Content-Type") == "application/cbor"
        self.body = cbor2.loads(raw, semantic_decoders={1: epoch}) if raw and cbor else None


def call(url: str, operation: str, body: dict[str, Any], region: str = REGION, **options: Any) -> Answer:
    data = cbor2.dumps(body, indefinite_containers=True)
    headers = {
        "Content-Type": "application/cbor",
        "smithy-protocol": "rpc-v2-cbor",
        "Accept": "application/cbor",
        "x-amzn-query-mode": "true",
        **options.get("headers", {}),
    }
    if options.get("compress"):
        # The Rust SDK gzips large PutMetricData bodies (CloudWatch's requestCompression trait).
        data = gzip.compress(data)
        headers["Content-Encoding"] = "gzip"
    request = AWSRequest(method="POST", url=f"{url}{SERVICE_PATH}{operation}", data=data, headers=headers)
    SigV4Auth(Credentials("AKIAIOSFODNN7EXAMPLE", "secret"), "monitoring", region).add_auth(request)
    sent = urllib.request.Request(request.url, data=data, headers=dict(request.headers.items()), method="POST")
    try:
        with urllib.request.urlopen(sent, timeout=30) as response:
            return Answer(response.status, response.headers, response.read())
    except urllib.error.HTTPError as failure:
        return Answer(failure.code, failure.headers, failure.read())


def ok(answer: Answer) -> Any:
    assert answer.status == 200, (answer.status, answer.raw[:300])
    assert answer.headers["smithy-protocol"] == "rpc-v2-cbor"
    return answer.body


def put_alarm(url: str, name: str, **extra: Any) -> None:
    alarm = {
        "AlarmName": name,
        "Namespace": "AWS/Lambda",
        "MetricName": "Errors",
        "Dimensions": [{"Name": "FunctionName", "Value": "twin-api"}],
        "Statistic": "Sum",
        "Period": 60,
        "EvaluationPeriods": 1,
        "Threshold": 1.0,
        "ComparisonOperator": "GreaterThanOrEqualToThreshold",
    }
    ok(call(url, "PutMetricAlarm", {**alarm, **extra}))


# --- the operations twinctl uses -----------------------------------------------------------------


def test_describe_alarms_by_name_returns_their_state(url: str) -> None:
    put_alarm(url, "twin-errors")
    put_alarm(url, "twin-other")
    errors_metric = {"Metric": {"Namespace": "AWS/Lambda", "MetricName": "Errors"}, "Period": 60, "Stat": "Sum"}
    math = {
        "AlarmName": "twin-error-rate",
        "Metrics": [
            {"Id": "errors", "MetricStat": errors_metric, "ReturnData": False},
            {"Id": "rate", "Expression": "errors / 10", "ReturnData": True},
        ],
        "EvaluationPeriods": 1,
        "Threshold": 0.5,
        "ComparisonOperator": "GreaterThanThreshold",
    }
    ok(call(url, "PutMetricAlarm", math))

    answer = ok(call(url, "DescribeAlarms", {"AlarmNames": ["twin-errors", "twin-error-rate"]}))
    alarms = {a["AlarmName"]: a for a in answer["MetricAlarms"]}
    assert set(alarms) == {"twin-errors", "twin-error-rate"}
    assert answer["CompositeAlarms"] == []
    errors = alarms["twin-errors"]
    assert errors["AlarmArn"] == f"arn:aws:cloudwatch:{REGION}:{ACCOUNT}:alarm:twin-errors"
    assert errors["StateValue"] in ("OK", "INSUFFICIENT_DATA", "ALARM")
    assert isinstance(errors["StateReason"], str)
    assert isinstance(errors["StateUpdatedTimestamp"], Epoch)
    assert abs(errors["StateUpdatedTimestamp"] - time.time()) < 300
    assert (errors["Namespace"], errors["MetricName"]) == ("AWS/Lambda", "Errors")
    assert errors["Dimensions"] == [{"Name": "FunctionName", "Value": "twin-api"}]
    assert isinstance(errors["Threshold"], float) and errors["Period"] == 60
    assert [m["Id"] for m in alarms["twin-error-rate"]["Metrics"]] == ["errors", "rate"]

    by_prefix = ok(call(url, "DescribeAlarms", {"AlarmNamePrefix": "twin-e"}))
    assert sorted(a["AlarmName"] for a in by_prefix["MetricAlarms"]) == ["twin-error-rate", "twin-errors"]


def test_the_region_is_the_one_the_request_is_signed_for(url: str) -> None:
    put_alarm(url, "twin-errors")
    assert ok(call(url, "DescribeAlarms", {"AlarmNames": ["twin-errors"]}, region="eu-west-1"))["MetricAlarms"] == []
    assert len(ok(call(url, "DescribeAlarms", {"AlarmNames": ["twin-errors"]}))["MetricAlarms"]) == 1


def test_set_alarm_state_puts_the_alarm_in_alarm(url: str) -> None:
    put_alarm(url, "twin-errors")
    answer = call(
        url,
        "SetAlarmState",
        {"AlarmName": "twin-errors", "StateValue": "ALARM", "StateReason": "canary test", "StateReasonData": "{}"},
    )
    assert ok(answer) is None and answer.raw == b""  # no output shape: no body (the spec)

    firing = ok(call(url, "DescribeAlarms", {"StateValue": "ALARM"}))["MetricAlarms"]
    assert [(a["AlarmName"], a["StateValue"], a["StateReason"]) for a in firing] == [
        ("twin-errors", "ALARM", "canary test")
    ]
    named = ok(call(url, "DescribeAlarms", {"AlarmNames": ["twin-errors"]}))["MetricAlarms"]
    assert named[0]["StateValue"] == "ALARM"


def test_set_alarm_state_of_an_unknown_alarm_is_resource_not_found(url: str) -> None:
    answer = call(url, "SetAlarmState", {"AlarmName": "no-such-alarm", "StateValue": "ALARM", "StateReason": "x"})
    # ResourceNotFound carries httpError 404 in CloudWatch's model; the spec takes that status.
    assert answer.status == 404
    assert answer.headers["smithy-protocol"] == "rpc-v2-cbor"
    assert answer.headers["Content-Type"] == "application/cbor"
    assert answer.body["__type"] == "com.amazonaws.cloudwatch#ResourceNotFound"
    assert isinstance(answer.body["message"], str)
    # awsQueryCompatible: the Rust SDK takes its error code from this header.
    assert answer.headers["x-amzn-query-error"] == "ResourceNotFound;Sender"


def test_put_metric_data_then_get_metric_data_sums_by_dimensions(url: str) -> None:
    now = time.time()
    at = timestamp(now - 120)
    mine = [{"Name": "FunctionName", "Value": "twin-api"}, {"Name": "ExecutedVersion", "Value": "7"}]
    other = [{"Name": "FunctionName", "Value": "twin-api"}, {"Name": "ExecutedVersion", "Value": "6"}]
    data = [
        {"MetricName": "Http5xx", "Dimensions": mine, "Value": 2.0, "Timestamp": at, "Unit": "Count"},
        {"MetricName": "Http5xx", "Dimensions": mine, "Values": [1.0, 3.0], "Counts": [1.0, 2.0], "Timestamp": at},
        {"MetricName": "Http5xx", "Dimensions": other, "Value": 100.0, "Timestamp": at},
    ]
    assert ok(call(url, "PutMetricData", {"Namespace": "Twin", "MetricData": data[:2]})) is None
    assert ok(call(url, "PutMetricData", {"Namespace": "Twin", "MetricData": data[2:]}, compress=True)) is None

    def query(id_: str, dimensions: list[dict[str, str]]) -> dict[str, Any]:
        metric = {"Namespace": "Twin", "MetricName": "Http5xx", "Dimensions": dimensions}
        return {"Id": id_, "MetricStat": {"Metric": metric, "Period": 60, "Stat": "Sum"}, "ReturnData": True}

    nobody = [{"Name": "FunctionName", "Value": "twin-api"}, {"Name": "ExecutedVersion", "Value": "8"}]
    answer = ok(
        call(
            url,
            "GetMetricData",
            {
                "MetricDataQueries": [query("mine", mine), query("other", other), query("nobody", nobody)],
                "StartTime": timestamp(int(now) - 600),
                "EndTime": timestamp(int(now) + 60),
                "ScanBy": "TimestampDescending",
                "MaxDatapoints": 100,
            },
        )
    )
    results = {r["Id"]: r for r in answer["MetricDataResults"]}
    assert set(results) == {"mine", "other", "nobody"}
    assert sum(results["mine"]["Values"]) == 2.0 + 1.0 + 3.0 * 2
    assert sum(results["other"]["Values"]) == 100.0
    assert results["nobody"]["Values"] == [] and results["nobody"]["Timestamps"] == []
    mine_result = results["mine"]
    assert mine_result["StatusCode"] == "Complete" and isinstance(mine_result["Label"], str)
    assert all(isinstance(v, float) for v in mine_result["Values"])
    assert mine_result["Timestamps"] and all(isinstance(t, Epoch) for t in mine_result["Timestamps"])
    assert all(now - 700 <= t <= now + 60 for t in mine_result["Timestamps"])


# --- what the emulator does not do ---------------------------------------------------------------


@pytest.mark.parametrize("operation", ["PutAnomalyDetector", "NoSuchOperation"])
def test_an_operation_moto_lacks_answers_a_cbor_error_naming_it(url: str, operation: str) -> None:
    answer = call(url, operation, {})
    assert answer.status == 400
    assert answer.headers["smithy-protocol"] == "rpc-v2-cbor"
    assert answer.headers["Content-Type"] == "application/cbor"
    assert answer.body["__type"].endswith("#UnsupportedOperation")
    assert operation in answer.body["message"]


def test_a_request_that_is_not_rpcv2cbor_is_refused_in_cbor(url: str) -> None:
    # The spec: a request with X-Amz-Target is malformed and must be rejected.
    answer = call(url, "DescribeAlarms", {}, headers={"X-Amz-Target": "GraniteServiceVersion20100801.DescribeAlarms"})
    assert answer.status == 400 and answer.body["__type"].endswith("#MalformedRequest")


# --- an independent client -----------------------------------------------------------------------


@pytest.fixture
def botocore_cbor(url: str, tmp_path: Path) -> Any:
    """A botocore CloudWatch client that speaks rpcv2Cbor (its model lists it first; botocore prefers awsJson)."""
    session = botocore.session.get_session()
    loader = session.get_component("data_loader")
    model = loader.load_service_model("cloudwatch", "service-2")
    model["metadata"]["protocols"] = ["smithy-rpc-v2-cbor"]
    version = model["metadata"]["apiVersion"]
    (tmp_path / "cloudwatch" / version).mkdir(parents=True)
    (tmp_path / "cloudwatch" / version / "service-2.json").write_text(json.dumps(model))
    session = botocore.session.get_session()
    session.get_component("data_loader").search_paths.insert(0, str(tmp_path))
    client = session.create_client(
        "cloudwatch",
        region_name=REGION,
        endpoint_url=url,
        aws_access_key_id="AKIAIOSFODNN7EXAMPLE",
        aws_secret_access_key="secret",
    )
    assert client.meta.service_model.resolved_protocol == "smithy-rpc-v2-cbor"
    return client


def test_botocores_rpcv2cbor_client_reads_the_answers(botocore_cbor: Any) -> None:
    cloudwatch = botocore_cbor
    cloudwatch.put_metric_alarm(
        AlarmName="twin-errors",
        Namespace="AWS/Lambda",
        MetricName="Errors",
        Statistic="Sum",
        Period=60,
        EvaluationPeriods=1,
        Threshold=1.0,
        ComparisonOperator="GreaterThanOrEqualToThreshold",
    )
    cloudwatch.set_alarm_state(AlarmName="twin-errors", StateValue="ALARM", StateReason="test")
    alarm = cloudwatch.describe_alarms(AlarmNames=["twin-errors"])["MetricAlarms"][0]
    assert alarm["StateValue"] == "ALARM"
    assert alarm["StateUpdatedTimestamp"].tzinfo is not None

    with pytest.raises(ClientError) as failure:
        cloudwatch.set_alarm_state(AlarmName="no-such-alarm", StateValue="ALARM", StateReason="test")
    assert failure.value.response["Error"]["Code"] == "ResourceNotFound"

    now = time.time()
    datum = {"MetricName": "Http5xx", "Value": 4.0, "Timestamp": now - 60}
    cloudwatch.put_metric_data(Namespace="Twin", MetricData=[datum])
    stat = {"Metric": {"Namespace": "Twin", "MetricName": "Http5xx"}, "Period": 60, "Stat": "Sum"}
    results = cloudwatch.get_metric_data(
        MetricDataQueries=[{"Id": "q", "MetricStat": stat}],
        StartTime=now - 600,
        EndTime=now + 60,
    )["MetricDataResults"]
    assert sum(results[0]["Values"]) == 4.0
    assert all(t.tzinfo is not None for t in results[0]["Timestamps"])
