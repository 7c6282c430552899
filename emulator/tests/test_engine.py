"""The engine's pure functions (twin_emulator/cfn_engine.py), without a server: what a template
fragment refers to, the dependency order, and the replacement decision; and that the change-set
planner (cfn_stack_fixes.py) decides replacement exactly as the engine does.

Run: cd emulator && ../.twin/emulator/venv/bin/python -m pytest -q tests/test_engine.py
"""

from __future__ import annotations

from typing import Any

import pytest
from moto.cloudformation.exceptions import ValidationError

from twin_emulator import cfn_engine as engine
from twin_emulator import cfn_stack_fixes as planner
from twin_emulator import (
    cfn_models_api,
    cfn_models_compute,
    cfn_models_edge,
    cfn_models_monitoring,
    cfn_models_security,
    cfn_models_storage,
)
from twin_emulator.cfn_base import StackResource
from twin_emulator.cfn_models_compute import Alias, Function, LogGroup, Permission
from twin_emulator.cfn_models_monitoring import Alarm

MODELS = [
    *cfn_models_storage.MODELS,
    *cfn_models_security.MODELS,
    *cfn_models_compute.MODELS,
    *cfn_models_api.MODELS,
    *cfn_models_edge.MODELS,
    *cfn_models_monitoring.MODELS,
]

# --- references ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fragment", "expected"),
    [
        ({"Ref": "Bucket"}, {"Bucket"}),
        ({"Ref": "AWS::Region"}, {"AWS::Region"}),  # pseudo parameters too (dependencies() drops them)
        ({"Fn::GetAtt": ["Role", "Arn"]}, {"Role"}),
        ({"Fn::GetAtt": "Role.Arn"}, {"Role"}),
        ({"Fn::Sub": "${Bucket.Arn}/*"}, {"Bucket"}),
        ({"Fn::Sub": "arn:${AWS::Partition}:s3:::${Bucket}/${ Key }"}, {"AWS::Partition", "Bucket", "Key"}),
        ({"Fn::Sub": "${!Literal} stays text"}, set()),
        # A variable defined in the Sub's own map is local; what the map's values refer to counts.
        ({"Fn::Sub": ["${Name}-${Suffix}", {"Name": {"Ref": "ProjectName"}}]}, {"Suffix", "ProjectName"}),
        (
            {"Fn::If": ["HasDomain", {"Ref": "DomainName"}, {"Ref": "AWS::NoValue"}]},
            {"DomainName", "AWS::NoValue"},
        ),
        ([{"Key": "a", "Value": {"Ref": "A"}}, {"Nested": {"Deep": [{"Fn::GetAtt": ["B", "Arn"]}]}}], {"A", "B"}),
        ({"Fn::Join": ["", ["plain", "text"]]}, set()),
        ("just a string with ${Bucket}", set()),  # only inside Fn::Sub is ${} a reference
    ],
)
def test_references(fragment: Any, expected: set[str]) -> None:
    assert engine.references(fragment) == expected


# --- dependencies and their order -------------------------------------------------------------


def test_dependencies_are_resources_only() -> None:
    resources = {
        "Bucket": {"Type": "AWS::S3::Bucket", "Properties": {"BucketName": {"Fn::Sub": "${Project}-${AWS::Region}"}}},
        "Policy": {"Type": "AWS::S3::BucketPolicy", "Properties": {"Bucket": {"Ref": "Bucket"}}},
        "Topic": {"Type": "AWS::SNS::Topic", "DependsOn": "Policy"},
        "Self": {"Type": "AWS::SNS::Topic", "Properties": {"DisplayName": {"Fn::GetAtt": ["Self", "TopicName"]}}},
        "Alarm": {"Type": "AWS::CloudWatch::Alarm", "DependsOn": ["Topic", "Bucket"],
                  "Properties": {"AlarmActions": [{"Ref": "Topic"}]}},
    }
    assert engine.dependencies(resources) == {
        "Bucket": set(),  # a parameter and a pseudo parameter are not resources
        "Policy": {"Bucket"},
        "Topic": {"Policy"},
        "Self": set(),
        "Alarm": {"Topic", "Bucket"},
    }


def test_dependency_order_creates_dependencies_first_and_keeps_template_order_otherwise() -> None:
    resources = {
        "Alias": {"Properties": {"FunctionName": {"Ref": "Function"}}},
        "Logs": {},
        "Function": {"Properties": {"Role": {"Fn::GetAtt": ["Role", "Arn"]}}},
        "Topic": {},
        "Role": {"Properties": {"Policies": [{"Resource": {"Fn::Sub": "${Bucket.Arn}/*"}}]}},
        "Bucket": {},
        "Permission": {"DependsOn": "Alias", "Properties": {"FunctionName": {"Ref": "Function"}}},
    }
    order = engine.dependency_order(resources)

    assert sorted(order) == sorted(resources)
    for name, needs in engine.dependencies(resources).items():
        assert all(order.index(other) < order.index(name) for other in needs), name
    # Each round places whatever is ready, in template order.
    assert order == ["Logs", "Topic", "Bucket", "Role", "Function", "Alias", "Permission"]


def test_dependency_order_refuses_a_cycle() -> None:
    resources = {
        "A": {"Properties": {"X": {"Ref": "B"}}},
        "B": {"DependsOn": ["C"]},
        "C": {"Properties": {"Y": {"Fn::GetAtt": ["A", "Arn"]}}},
        "D": {},
    }
    with pytest.raises(ValidationError) as refused:
        engine.dependency_order(resources)
    assert "Circular dependency between resources: ['A', 'B', 'C']" in refused.value.message


# --- the replacement decision -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("watched", "old", "new", "expected"),
    [
        # A replacing property changed, added or removed: replacement.
        ({"FunctionName"}, {"FunctionName": "a", "MemorySize": 128}, {"FunctionName": "b", "MemorySize": 128}, "True"),
        ({"FunctionName"}, {"MemorySize": 128}, {"FunctionName": "b", "MemorySize": 128}, "True"),
        ({"FunctionName"}, {"FunctionName": "a", "MemorySize": 128}, {"MemorySize": 128}, "True"),
        # Only other properties changed: in place.
        ({"FunctionName"}, {"FunctionName": "a", "MemorySize": 128}, {"FunctionName": "a", "MemorySize": 256}, "False"),
        ({"FunctionName"}, {"MemorySize": 128}, {"MemorySize": 256, "Timeout": 3}, "False"),
        (set(), {"Comment": "a"}, {"Comment": "b"}, "False"),
        # A nested value counts as a whole.
        ({"Scope"}, {"Scope": {"A": [1, 2]}}, {"Scope": {"A": [1, 3]}}, "True"),
        # "*": any change, addition or removal replaces.
        ({"*"}, {"Action": "lambda:InvokeFunction"}, {"Action": "lambda:InvokeFunctionUrl"}, "True"),
        ({"*"}, {"Action": "x"}, {"Action": "x", "SourceArn": "arn"}, "True"),
        ({"*"}, {"Action": "x", "SourceArn": "arn"}, {"Action": "x"}, "True"),
        ({"*"}, {"Action": "x"}, {"Action": "x"}, "False"),
        # The planner's values not known before execution.
        ({"FunctionName"}, {"FunctionName": "a"}, {"FunctionName": engine.UNKNOWN}, "Conditional"),
        ({"ApiId", "StageName"}, {"ApiId": "a", "StageName": "s"}, {"ApiId": engine.UNKNOWN, "StageName": "t"}, "True"),
        ({"FunctionName"}, {"FunctionName": "a", "Role": "r"}, {"FunctionName": "a", "Role": engine.UNKNOWN}, "False"),
    ],
)
def test_replacement(watched: set[str], old: dict[str, Any], new: dict[str, Any], expected: str) -> None:
    assert engine.replacement(watched, old, new) == expected


def test_a_changed_type_is_a_replacement() -> None:
    assert engine.replacement(set(), {"A": 1}, {"A": 1}, type_changed=True) == "True"


def test_replacing_properties_are_replaced_by_plus_the_name_property() -> None:
    assert engine.replacing_properties(Function) == {"FunctionName", "PackageType"}
    assert engine.replacing_properties(Permission) == {"*"}

    class Named(StackResource):
        cfn_type = "Test::Named::Thing"
        name_property = "ThingName"
        replaced_by = ("Zone",)

        @classmethod
        def update_from_cloudformation_json(cls, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
            return None

    # The name property replaces even where a model (moto's own ones) does not declare it.
    assert engine.replacing_properties(Named) == {"ThingName", "Zone"}


def test_a_model_without_an_update_is_replaced_on_any_change() -> None:
    from moto.core.common_models import CloudFormationModel

    # moto's base class: its update hook is abstract, as in the moto models that have none.
    assert hasattr(CloudFormationModel.update_from_cloudformation_json, "__isabstractmethod__")
    assert engine.replacing_properties(CloudFormationModel) == {"*"}


def test_every_model_declares_its_name_property_as_replacing() -> None:
    for model in MODELS:
        if model.name_property:
            assert model.name_property in model.replaced_by, model.cfn_type


# AWS properties that "require replacement" but that the models do not emulate at all.
NOT_EMULATED = {
    "AWS::S3::Bucket": {"BucketNamePrefix", "BucketNamespace"},
    "AWS::Lambda::Function": {"TenancyConfig"},
}


@pytest.mark.parametrize("model", MODELS, ids=lambda model: model.cfn_type)
def test_replaced_by_matches_the_aws_resource_schema(model: type[StackResource]) -> None:
    """`replaced_by` is the resource type's createOnlyProperties ("Update requires: Replacement" in the
    CloudFormation template reference), from the registry schemas cfn-lint (a moto dependency) ships."""
    schema_manager = pytest.importorskip("cfnlint.schema").PROVIDER_SCHEMA_MANAGER
    schema = schema_manager.get_resource_schema("us-east-1", model.cfn_type).schema
    create_only = {path.split("/")[2] for path in schema.get("createOnlyProperties", [])}
    if model.replaced_by == ("*",):
        read_only = {path.split("/")[2] for path in schema.get("readOnlyProperties", [])}
        assert create_only == set(schema["properties"]) - read_only
    else:
        assert set(model.replaced_by) == create_only - NOT_EMULATED.get(model.cfn_type, set())


# --- the planner and the engine agree ---------------------------------------------------------

FUNCTION = {
    "FunctionName": "twin-local-api",
    "Role": "arn:aws:iam::123456789012:role/twin-local-function",
    "Runtime": "provided.al2023",
    "Handler": "bootstrap",
    "MemorySize": 256,
    "Code": {"S3Bucket": "code", "S3Key": "twin-runtime.zip"},
}


def without(props: dict[str, Any], name: str) -> dict[str, Any]:
    return {key: value for key, value in props.items() if key != name}


def record_of(resource_type: str, props: dict[str, Any]) -> engine.ResourceRecord:
    """The engine's memory of a resource created from literal properties (resolved = as written)."""
    return engine.ResourceRecord(resource_type, dict(props), {"Type": resource_type, "Properties": dict(props)})


def literal(raw: Any) -> Any:
    return raw  # these templates hold no intrinsic functions


CASES = [
    # (model, old properties, new properties, replaced?)
    pytest.param(Function, FUNCTION, without(FUNCTION, "FunctionName"), True, id="FunctionName removed"),
    pytest.param(Function, FUNCTION, {**FUNCTION, "FunctionName": "echo-local-api"}, True, id="FunctionName changed"),
    pytest.param(Function, without(FUNCTION, "FunctionName"), FUNCTION, True, id="FunctionName added"),
    pytest.param(Function, FUNCTION, {**FUNCTION, "PackageType": "Image"}, True, id="PackageType added"),
    pytest.param(Function, FUNCTION, {**FUNCTION, "MemorySize": 512}, False, id="MemorySize changed"),
    pytest.param(Function, FUNCTION, without(FUNCTION, "MemorySize"), False, id="MemorySize removed"),
    pytest.param(Alias, {"FunctionName": "f", "Name": "live", "FunctionVersion": "1"},
                 {"FunctionName": "f", "Name": "live", "FunctionVersion": "2"}, False, id="Alias version"),
    pytest.param(Alias, {"FunctionName": "f", "Name": "live", "FunctionVersion": "1"},
                 {"FunctionName": "g", "Name": "live", "FunctionVersion": "1"}, True, id="Alias function"),
    pytest.param(Permission, {"Action": "lambda:InvokeFunction", "FunctionName": "f", "Principal": "p"},
                 {"Action": "lambda:InvokeFunction", "FunctionName": "f", "Principal": "q"}, True, id="Permission *"),
    pytest.param(LogGroup, {"LogGroupName": "/aws/lambda/f", "RetentionInDays": 7},
                 {"LogGroupName": "/aws/lambda/f", "RetentionInDays": 14}, False, id="LogGroup retention"),
    pytest.param(Alarm, {"AlarmName": "a", "Threshold": 5}, {"Threshold": 5}, True, id="AlarmName removed"),
]


@pytest.mark.parametrize(("model", "old", "new", "replaced"), CASES)
def test_planner_and_engine_agree(model: type[StackResource], old: dict[str, Any], new: dict[str, Any],
                                  replaced: bool) -> None:
    record = record_of(model.cfn_type, old)
    planned = planner.planned_replacement({"Type": model.cfn_type, "Properties": new}, record, model, literal, set())
    executed = engine.requires_replacement(model, record, model.cfn_type, new)

    assert planned == ("True" if replaced else "False")
    assert executed is replaced


def test_planner_resolves_a_changed_parameter_and_defers_a_changing_resource() -> None:
    template_props = {"FunctionName": {"Fn::Sub": "${ProjectName}-api"}, "Role": {"Fn::GetAtt": ["Role", "Arn"]}}
    record = engine.ResourceRecord(
        "AWS::Lambda::Function",
        {"FunctionName": "twin-api", "Role": "arn:aws:iam::123456789012:role/old"},
        {"Type": "AWS::Lambda::Function", "Properties": template_props},
    )
    resource = {"Type": "AWS::Lambda::Function", "Properties": template_props}

    def resolve(raw: Any) -> Any:
        if "Fn::GetAtt" in raw:
            raise KeyError("Role is referenced before it exists")  # as the planner's evaluation map does
        return "echo-api"

    # Same template text: nothing that it refers to changed, so nothing to resolve.
    assert planner.planned_replacement(resource, record, Function, resolve, set()) == "False"
    # The parameter behind FunctionName changed: resolved, a new name, a replacement.
    assert planner.planned_replacement(resource, record, Function, resolve, {"ProjectName"}) == "True"
    # Only the role (a resource that may be replaced) changes: Role does not replace a function.
    assert planner.planned_replacement(resource, record, Function, resolve, {"Role"}) == "False"

    # An alias on a function that may be replaced: its FunctionName is known only at execution.
    alias_props = {"FunctionName": {"Ref": "Function"}, "Name": "live", "FunctionVersion": "$LATEST"}
    alias_record = engine.ResourceRecord(
        "AWS::Lambda::Alias",
        {"FunctionName": "twin-api", "Name": "live", "FunctionVersion": "$LATEST"},
        {"Type": "AWS::Lambda::Alias", "Properties": alias_props},
    )

    def unknown_function(raw: Any) -> Any:
        raise KeyError("Function is referenced before it exists")

    alias = {"Type": "AWS::Lambda::Alias", "Properties": alias_props}
    assert planner.planned_replacement(alias, alias_record, Alias, unknown_function, {"Function"}) == "Conditional"
