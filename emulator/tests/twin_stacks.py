"""One environment of the twin is two stacks, deployed the way twinctl deploys them (twinctl/src/deploy/mod.rs):

  * the data stack `{stack}-data` (templates/twin-data.yaml: the KMS key and its alias, the memory bucket and
    its policy, the model's API key secret, the function's and the API's log groups), applied first;
  * the app stack `{stack}` (templates/twin.yaml), given each data output (DataKeyArn, DataMemoryBucketName,
    DataSecretArn, DataFunctionLogGroupName, DataApiLogGroupName) as its parameter of the same name.

twinctl builds one set of parameter values per environment and hands each template only the ones it declares
(`parameters_for`), so LogRetentionDays reaches only the data stack and CodeKey only the app stack, while
ProjectName, EnvironmentName, MemoryNoncurrentDays and RetainedReleases reach both. The helpers here do the same,
whatever drives the stacks (change sets through boto3, or the CloudFormation backend in-process): the caller
passes a `deploy(stack_name, template_body, parameters) -> described stack` of its own.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

TEMPLATES = Path(__file__).resolve().parents[2] / "templates"
APP_TEMPLATE = TEMPLATES / "twin.yaml"
DATA_TEMPLATE = TEMPLATES / "twin-data.yaml"
# The data stack's outputs, each the app stack's parameter of the same name.
DATA_OUTPUTS = ("DataKeyArn", "DataMemoryBucketName", "DataSecretArn", "DataFunctionLogGroupName",
                "DataApiLogGroupName")
# The resources the data stack holds, and those of them a stack deletion keeps (DeletionPolicy
# RetainExceptOnCreate): everything but the alias and the bucket policy.
DATA_RESOURCES = frozenset({"Key", "KeyAlias", "MemoryBucket", "MemoryBucketPolicy", "LlmSecret",
                            "FunctionLogGroup", "ApiLogGroup"})
RETAINED_DATA = frozenset({"Key", "MemoryBucket", "LlmSecret", "FunctionLogGroup", "ApiLogGroup"})

# (stack name, template body, parameters) -> the stack as DescribeStacks shows it, once settled.
Deploy = Callable[[str, str, dict[str, str]], dict[str, Any]]


def data_stack_name(stack_name: str) -> str:
    """The data stack of the environment whose app stack is `stack_name` (twinctl's `{stack}-data`)."""
    return f"{stack_name}-data"


@functools.cache
def declared_parameters(path: Path) -> frozenset[str]:
    """The parameters a template declares (read with the emulator's own YAML reading)."""
    from moto.cloudformation.models import Stack

    return frozenset(Stack.parse_template(path.read_text()).get("Parameters") or {})


def parameters_for(path: Path, values: Mapping[str, str]) -> dict[str, str]:
    """The values `path` declares, as twinctl's `parameters_for` picks them for each stack. A value neither
    template declares is a mistake in the test, not something to drop silently."""
    unknown = set(values) - declared_parameters(APP_TEMPLATE) - declared_parameters(DATA_TEMPLATE)
    assert not unknown, f"neither twin.yaml nor twin-data.yaml declares {sorted(unknown)}"
    declared = declared_parameters(path)
    return {key: value for key, value in values.items() if key in declared}


def outputs(stack: Mapping[str, Any]) -> dict[str, str]:
    return {o["OutputKey"]: o.get("OutputValue") for o in stack.get("Outputs") or []}


def data_parameters(values: Mapping[str, str]) -> dict[str, str]:
    """The data stack's parameters among the environment's values."""
    return parameters_for(DATA_TEMPLATE, values)


def app_parameters(values: Mapping[str, str], data_outputs: Mapping[str, str]) -> dict[str, str]:
    """The app stack's parameters: the environment's values it declares, and every data output under its name."""
    missing = [key for key in DATA_OUTPUTS if not data_outputs.get(key)]
    assert not missing, f"the data stack has no {missing}: {dict(data_outputs)}"
    return parameters_for(APP_TEMPLATE, {**values, **{key: data_outputs[key] for key in DATA_OUTPUTS}})


def deploy_environment(deploy: Deploy, stack_name: str, values: Mapping[str, str],
                       app_template: str | None = None,
                       data_template: str | None = None) -> tuple[dict[str, Any], dict[str, Any]]:
    """Apply the data stack, then the app stack with the data stack's outputs, as `twinctl deploy` does; both
    stacks as described once settled. The data stack must succeed (twinctl stops otherwise); whether the app
    stack did is the caller's to check."""
    data_name = data_stack_name(stack_name)
    data = deploy(data_name, data_template or DATA_TEMPLATE.read_text(), data_parameters(values))
    assert data["StackStatus"] in ("CREATE_COMPLETE", "UPDATE_COMPLETE"), (data_name, data["StackStatus"],
                                                                          data.get("StackStatusReason"))
    app = deploy(stack_name, app_template or APP_TEMPLATE.read_text(), app_parameters(values, outputs(data)))
    return data, app
