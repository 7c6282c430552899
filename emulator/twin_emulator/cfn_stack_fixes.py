"""Fixes to moto 5.2.5's CloudFormation service layer (backend and API responses).

Owns every patch of moto.cloudformation; the deployment itself is cfn_engine.py.

  Stacks      CreateStack, UpdateStack, ExecuteChangeSet and DeleteStack run through the engine
              (dependency order, events, rollback, outputs and exports rebuilt).
  Change sets * a change set without changes is created FAILED with AWS's StatusReason instead
                of failing the call; "changes" compares the effective template and parameters
                (defaults and UsePreviousValue resolved), not just the parameters passed;
              * UsePreviousValue takes the previous effective value (moto raises a KeyError
                when it was a default);
              * the Changes list reflects conditions, parameter changes reaching a resource
                through Ref or Fn::Sub, resources referring to one that may be replaced, and
                tells Replacement (True/False/Conditional) with the engine's own decision
                (cfn_engine.replacement), so a plan and its execution cannot disagree;
              * a change set name is looked up within its stack (moto matches any stack's), and
                executing one that is not AVAILABLE is refused (InvalidChangeSetStatus);
              * a CREATE change set may be made again for a stack still in REVIEW_IN_PROGRESS.
  Validation  parameters are checked against the template at CreateStack/CreateChangeSet/UpdateStack
              (unknown, missing, AllowedValues, AllowedPattern, Min/MaxLength, Min/MaxValue, Number)
              and Rules assertions are evaluated, as AWS does before anything is created.
  Templates   * `!Condition Name` (the short form) is read as {"Condition": Name}; moto reads it
                as {"Fn::Condition": Name}, which makes every condition using it false;
              * AWS::NoValue inside a list (e.g. `- !If [Cond, {...}, !Ref AWS::NoValue]` in a
                policy's statements) removes the item, instead of leaving a null in the list.
  Protection  * UpdateTerminationProtection (absent from moto) sets the stack's flag and returns its
                StackId; refused for a stack being or already deleted, as the User Guide says it can
                be set "with any status except DELETE_IN_PROGRESS or DELETE_COMPLETE";
              * DescribeStacks reports EnableTerminationProtection (true/false) for every stack,
                from CreateStack's EnableTerminationProtection or UpdateTerminationProtection; no
                stack operation other than UpdateTerminationProtection changes it (UpdateStack and
                change sets keep it);
              * DeleteStack of a protected stack, whatever its status, fails with a ValidationError
                "Stack [<StackName as passed>] cannot be deleted while TerminationProtection is
                enabled" and the stack (status, resources, events, change sets) stays as it was.
  RoleARN     DescribeStacks reports the stack's RoleARN: the one given to CreateStack, UpdateStack,
              or the change set last executed (CreateChangeSet's RoleARN is applied when it is
              executed, for CREATE and UPDATE change sets alike); an operation without RoleARN
              keeps the role previously associated with the stack.

  AWS pages followed for Protection and RoleARN:
    https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_UpdateTerminationProtection.html
      ("If a user attempts to delete a stack with termination protection enabled, the operation
      fails and the stack remains unchanged."; request StackName + EnableTerminationProtection,
      response StackId)
    https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/using-cfn-protect-stacks.html
      (disabled by default; settable at creation; any status except DELETE_IN_PROGRESS/_COMPLETE)
    the Stack data type (API_Stack; read as generated from the API model in
    https://docs.amazonaws.cn/sdk-for-ruby/v3/api/Aws/CloudFormation/Stack.html and
    https://boto3.amazonaws.com/v1/documentation/api/1.40.0/reference/services/cloudformation/stack/role_arn.html):
      its EnableTerminationProtection and RoleARN members
    CreateChangeSet's RoleARN (API_CreateChangeSet; read in the AWS SDK reference generated from it,
    https://docs.aws.amazon.com/sdk-for-kotlin/api/latest/cloudformation/aws.sdk.kotlin.services.cloudformation.model/-create-change-set-request/role-arn.html):
      "CloudFormation uses this role for all future operations on the stack ... If you don't
      specify a value, CloudFormation uses the role that was previously associated with the stack."
  The DeleteStack error's wording is not in the API reference; it is the one AWS returns as quoted
  in public reports, e.g. hashicorp/terraform-provider-aws#23722 ("ValidationError: Stack
  [BucketStack] cannot be deleted while TerminationProtection is enabled", status 400) and
  rackspace/runway#199 (the identifier in brackets is the StackName the caller passed).
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable
from typing import Any

from moto.cloudformation import models as cfn_models
from moto.cloudformation import parsing
from moto.cloudformation import responses as cfn_responses
from moto.cloudformation import utils as cfn_utils
from moto.cloudformation.exceptions import AlreadyExistsException, CloudFormationError, ValidationError
from moto.cloudformation.models import Change, ChangeSet, CloudFormationBackend, Stack
from moto.cloudformation.parsing import ResourceMap
from moto.cloudformation.responses import CloudFormationResponse
from moto.cloudformation.utils import generate_changeset_id, generate_stack_id, validate_create_change_set
from moto.core.responses import ActionResult, EmptyResult

from . import cfn_engine as engine
from .cfn_base import as_bool

NO_CHANGES = (
    "The submitted information didn't contain changes. Submit different information to create a change set."
)
UPDATABLE = {"CREATE_COMPLETE", "UPDATE_COMPLETE", "UPDATE_ROLLBACK_COMPLETE", "IMPORT_COMPLETE",
             "IMPORT_ROLLBACK_COMPLETE"}
DELETED = {"DELETE_IN_PROGRESS", "DELETE_COMPLETE"}


def termination_protected(stack_name: str) -> str:
    """AWS's DeleteStack refusal for a protected stack (the name or id as the caller passed it)."""
    return f"Stack [{stack_name}] cannot be deleted while TerminationProtection is enabled"


# moto's own implementations that a fix still needs to reach.
ORIGINAL: dict[str, Any] = {}


class ChangeSetNotFound(CloudFormationError):
    code = "ChangeSetNotFound"


class InvalidChangeSetStatus(CloudFormationError):
    code = "InvalidChangeSetStatus"


# --- templates and parameters ----------------------------------------------------------------


def parse_template(body: str | None) -> dict[str, Any]:
    try:
        template = Stack.parse_template(body or "")
    except Exception as error:  # noqa: BLE001 - YAML and JSON both failed
        raise ValidationError(message=f"Template format error: {error}")
    if not isinstance(template, dict):
        raise ValidationError(message="Template format error: unsupported structure.")
    return template


def parameter_text(value: Any) -> str:
    """A parameter value as the string CloudFormation compares and shows."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ",".join(parameter_text(v) for v in value)
    return str(value)


def effective_parameters(template: dict[str, Any], explicit: dict[str, Any]) -> dict[str, str | None]:
    """Every template parameter's value: the one passed, else its Default, else None (missing)."""
    values: dict[str, str | None] = {}
    for name, spec in (template.get("Parameters") or {}).items():
        if name in explicit:
            values[name] = parameter_text(explicit[name])
        elif "Default" in spec:
            values[name] = parameter_text(spec["Default"])
        else:
            values[name] = None
    return values


def _number(value: str) -> float | None:
    try:
        return float(value)
    except ValueError:
        return None


def validate_parameters(template: dict[str, Any], explicit: dict[str, Any]) -> None:
    specs = template.get("Parameters") or {}
    unknown = [name for name in explicit if name not in specs]
    if unknown:
        raise ValidationError(message=f"Parameters: [{', '.join(unknown)}] do not exist in the template")
    values = effective_parameters(template, explicit)
    missing = [name for name, value in values.items() if value is None]
    if missing:
        raise ValidationError(message=f"Parameters: [{', '.join(missing)}] must have values")
    for name, value in values.items():
        spec = specs[name]
        kind = spec.get("Type", "String")
        if kind.startswith("List") or kind == "CommaDelimitedList" or kind.startswith("AWS::"):
            continue
        assert value is not None
        if kind == "Number":
            number = _number(value)
            if number is None:
                raise ValidationError(message=f"Parameter '{name}' must be a number.")
            if "MinValue" in spec and number < float(spec["MinValue"]):
                raise ValidationError(message=f"Parameter '{name}' must be a number not less than {spec['MinValue']}")
            if "MaxValue" in spec and number > float(spec["MaxValue"]):
                raise ValidationError(message=f"Parameter '{name}' must be a number not greater than {spec['MaxValue']}")
        if "AllowedValues" in spec:
            allowed = [parameter_text(v) for v in spec["AllowedValues"]]
            matches = value in allowed or (kind == "Number" and _number(value) in [_number(v) for v in allowed])
            if not matches:
                raise ValidationError(message=f"Parameter '{name}' must be one of AllowedValues")
        if "AllowedPattern" in spec and not re.fullmatch(spec["AllowedPattern"], value):
            raise ValidationError(message=f"Parameter '{name}' must match pattern {spec['AllowedPattern']}")
        if "MinLength" in spec and len(value) < int(spec["MinLength"]):
            raise ValidationError(message=f"Parameter '{name}' must contain at least {spec['MinLength']} characters")
        if "MaxLength" in spec and len(value) > int(spec["MaxLength"]):
            raise ValidationError(message=f"Parameter '{name}' must contain at most {spec['MaxLength']} characters")


def evaluation_map(backend: CloudFormationBackend, stack_name: str, template: dict[str, Any],
                   explicit: dict[str, Any]) -> ResourceMap:
    """A throwaway resource map with the template's parameters and conditions loaded (nothing created)."""
    stack_id = generate_stack_id(stack_name, backend.region_name, backend.account_id)
    resource_map = ResourceMap(stack_id, stack_name, dict(explicit), {}, backend.region_name, backend.account_id,
                               template, backend.exports)
    resource_map.twin_managed = True  # never create anything through it
    try:
        resource_map.load_mapping()
        resource_map.load_parameters()
        resource_map.load_conditions()
    except CloudFormationError:
        raise
    except Exception as error:  # noqa: BLE001 - e.g. a condition referring to an unknown name
        raise ValidationError(message=f"Template error: {engine.describe_error(error)}")
    return resource_map


def check_rules(template: dict[str, Any], resource_map: ResourceMap) -> None:
    """Evaluate the template's Rules: a failed assertion refuses the template, as on AWS."""
    for name, rule in (template.get("Rules") or {}).items():
        condition = rule.get("RuleCondition")
        if condition is not None:
            applies = parsing.parse_condition(condition, resource_map, resource_map.lazy_condition_map)
            if not applies:  # False, or None for a rule function moto cannot evaluate
                continue
        for assertion in rule.get("Assertions", []):
            holds = parsing.parse_condition(assertion["Assert"], resource_map, resource_map.lazy_condition_map)
            if holds is False:
                raise ValidationError(message=assertion.get("AssertDescription") or f"Template rule {name} failed")


def validate(backend: CloudFormationBackend, stack_name: str, template: dict[str, Any],
             explicit: dict[str, Any]) -> ResourceMap:
    """Everything AWS checks before accepting a template and parameters; returns the evaluated map."""
    if not template.get("Resources"):
        raise ValidationError(message="Template format error: At least one Resources member must be defined.")
    validate_parameters(template, explicit)
    resource_map = evaluation_map(backend, stack_name, template, explicit)
    check_rules(template, resource_map)
    engine.dependency_order(template["Resources"])
    return resource_map


def resolve_parameter_list(parameter_list: list[dict[str, Any]], previous: dict[str, str | None]) -> dict[str, Any]:
    """Request Parameters -> explicit values, UsePreviousValue taking the previous effective value."""
    explicit: dict[str, Any] = {}
    for parameter in parameter_list:
        key = parameter["ParameterKey"]
        if as_bool(parameter.get("UsePreviousValue")):
            if parameter.get("ParameterValue"):
                raise ValidationError(
                    message=f"Invalid input for parameter key {key}. Cannot specify usePreviousValue as true "
                    "and non empty value for a parameter"
                )
            if previous.get(key) is None:
                raise ValidationError(
                    message=f"Invalid input for parameter key {key}. Cannot specify usePreviousValue as true "
                    "for a parameter key not in the previous template"
                )
            explicit[key] = previous[key]
        else:
            explicit[key] = parameter.get("ParameterValue", "")
    return explicit


def previous_parameters(stack: Stack) -> dict[str, str | None]:
    return effective_parameters(stack.template_dict or {}, stack.parameters or {})


def has_changes(stack: Stack, template: dict[str, Any], explicit: dict[str, Any]) -> bool:
    return stack.template_dict != template or previous_parameters(stack) != effective_parameters(template, explicit)


def predicted_properties(resource: dict[str, Any], record: engine.ResourceRecord,
                         resolve: Callable[[Any], Any], changed: set[str]) -> dict[str, Any]:
    """The resolved Properties an update would give the resource, as far as they are known before
    execution: a property whose template text is unchanged and refers to nothing that changes keeps
    its current value; any other is resolved with the new parameters (`resolve`), and is
    engine.UNKNOWN when that fails (it refers to a resource: its value is known only at execution).
    A value resolving to nothing (AWS::NoValue) leaves the property out, as at execution."""
    new_raw = resource.get("Properties") or {}
    old_raw = record.template.get("Properties") or {}
    current = record.properties or {}
    predicted: dict[str, Any] = {}
    for name, raw in new_raw.items():
        if raw == old_raw.get(name) and not engine.references(raw) & changed:
            if name in current:
                predicted[name] = current[name]
            continue
        try:
            value = resolve(raw)
        except Exception:  # noqa: BLE001 - it refers to a resource: known at execution
            value = engine.UNKNOWN
        if value is not None:
            predicted[name] = value
    return predicted


def planned_replacement(resource: dict[str, Any], record: engine.ResourceRecord, resource_class: Any,
                        resolve: Callable[[Any], Any], changed: set[str]) -> str:
    """A Modify's Replacement (True/False/Conditional): the engine's own decision
    (`engine.replacement`, from the model's `replaced_by`) applied to the predicted properties, so
    the change set says what the execution will do. "Conditional" when a replacing property's new
    value depends on a resource that is itself changing; also for a type the emulator lacks."""
    type_changed = resource["Type"] != record.resource_type
    if resource_class is None:
        return "True" if type_changed else "Conditional"
    return engine.replacement(
        engine.replacing_properties(resource_class),
        record.properties or {},
        predicted_properties(resource, record, resolve, changed),
        type_changed=type_changed,
    )


def planned_changes(stack: Stack, template: dict[str, Any], explicit: dict[str, Any],
                    resource_map: ResourceMap) -> list[Change]:
    """The Changes list of a change set: Add/Modify/Remove per resource. A resource is modified when
    its template entry changed, when it refers to a parameter whose value changed, or when it refers
    to a resource that may be replaced (its Ref or attributes may change)."""
    existing = engine.state_of(stack).records
    resources = template.get("Resources") or {}

    def is_wanted(name: str) -> bool:
        condition = resources[name].get("Condition")
        return not condition or bool(resource_map.lazy_condition_map[condition])

    new = {name for name in resources if is_wanted(name)}
    old_values = previous_parameters(stack)
    new_values = effective_parameters(template, explicit)
    changed = {name for name, value in new_values.items() if old_values.get(name) != value}

    def resolve(raw: Any) -> Any:
        return parsing.clean_json(copy.deepcopy(raw), resource_map)

    changes = []
    for name in engine.dependency_order(resources):
        if name not in new:
            continue
        resource = resources[name]
        if name not in existing:
            changes.append(Change("Add", name, resource["Type"]))
            changed.add(name)  # a new resource: whatever refers to it changes too
        elif resource != existing[name].template or engine.references(resource) & changed:
            change = Change("Modify", name, resource["Type"])
            change.physical_resource_id = stack.resource_map._parsed_resources[name].physical_resource_id
            change.replacement = planned_replacement(
                resource, existing[name], parsing.resource_class_from_type(resource["Type"]), resolve, changed
            )
            changes.append(change)
            if change.replacement != "False":
                changed.add(name)
    for name in engine.state_of(stack).order:
        if name not in new:
            change = Change("Remove", name, existing[name].resource_type)
            change.physical_resource_id = stack.resource_map._parsed_resources[name].physical_resource_id
            changes.append(change)
    return changes


# --- backend: stacks -------------------------------------------------------------------------


def new_stack(backend: CloudFormationBackend, name: str, parameters: dict[str, Any], **options: Any) -> Stack:
    """A stack with no template yet (the engine adopts the template when it deploys)."""
    stack = Stack(
        stack_id=generate_stack_id(name, backend.region_name, backend.account_id),
        name=name,
        template={},
        parameters=dict(parameters),
        account_id=backend.account_id,
        region_name=backend.region_name,
        cross_stack_resources=backend.exports,
        **options,
    )
    engine.state_of(stack)
    backend.stacks[stack.stack_id] = stack
    return stack


def live_stack(backend: CloudFormationBackend, name_or_id: str) -> Stack | None:
    if name_or_id in backend.stacks:
        return backend.stacks[name_or_id]
    return next((s for s in backend.stacks.values() if s.name == name_or_id), None)


def create_stack(self: CloudFormationBackend, name: str, template: str, parameters: dict[str, Any],
                 notification_arns: list[str] | None = None, tags: dict[str, str] | None = None,
                 role_arn: str | None = None, enable_termination_protection: bool | None = False,
                 timeout_in_mins: int | None = None, stack_policy_body: str | None = None) -> Stack:
    if live_stack(self, name) is not None:
        raise AlreadyExistsException(f"Stack [{name}] already exists")
    template_dict = parse_template(template)
    validate(self, name, template_dict, parameters)
    stack = new_stack(self, name, parameters, notification_arns=notification_arns, tags=tags, role_arn=role_arn,
                      enable_termination_protection=as_bool(enable_termination_protection),
                      timeout_in_mins=timeout_in_mins, stack_policy_body=stack_policy_body)
    engine.create_stack(stack, self, template, template_dict, parameters)
    return stack


def update_stack(self: CloudFormationBackend, name: str, template: str, role_arn: str | None,
                 parameters: list[dict[str, Any]], tags: dict[str, str] | None) -> Stack:
    stack = self.get_stack(name)
    if stack.status not in UPDATABLE:
        raise ValidationError(message=f"Stack:{stack.stack_id} is in {stack.status} state and can not be updated.")
    template_dict = parse_template(template)
    explicit = resolve_parameter_list(parameters, previous_parameters(stack))
    validate(self, stack.name, template_dict, explicit)
    if not has_changes(stack, template_dict, explicit) and (tags is None or tags == stack.tags):
        raise ValidationError(message="No updates are to be performed.")
    if role_arn:
        stack.role_arn = role_arn
    if tags is not None:
        stack.tags = tags
    engine.update_stack(stack, self, template, template_dict, explicit)
    return stack


def delete_stack(self: CloudFormationBackend, name_or_stack_id: str) -> None:
    stack = live_stack(self, name_or_stack_id)
    if stack is None:
        return  # deleting a stack that does not exist succeeds, as on AWS
    if stack.enable_termination_protection:
        # Refused before anything happens: the stack, its status and its events stay as they were.
        raise ValidationError(message=termination_protected(name_or_stack_id))
    if not getattr(stack.resource_map, "twin_managed", False):
        # Made outside the engine (moto's service-managed stack sets): moto's own deletion.
        ORIGINAL["delete_stack"](self, stack.stack_id)
        return
    if engine.delete_stack(stack, self):
        del self.stacks[stack.stack_id]
        self.deleted_stacks[stack.stack_id] = stack
        for change_set_id in [i for i, cs in self.change_sets.items() if cs.stack_id == stack.stack_id]:
            del self.change_sets[change_set_id]


def update_termination_protection(self: CloudFormationBackend, stack_name: str,
                                  enable_termination_protection: bool) -> Stack:
    stack = self.get_stack(stack_name)  # a name: live stacks only; an id: deleted ones too
    if stack.status in DELETED:
        raise ValidationError(
            message=f"Stack:{stack.stack_id} is in {stack.status} state and its termination protection "
            "can not be changed."
        )
    stack.enable_termination_protection = bool(enable_termination_protection)
    return stack


# --- backend: change sets --------------------------------------------------------------------


def find_change_set(backend: CloudFormationBackend, name_or_id: str, stack_name: str | None = None) -> ChangeSet:
    if name_or_id in backend.change_sets:
        return backend.change_sets[name_or_id]
    candidates = [
        cs for cs in backend.change_sets.values()
        if cs.change_set_name == name_or_id and (not stack_name or stack_name in (cs.stack_name, cs.stack_id))
    ]
    if not candidates:
        raise ChangeSetNotFound(f"ChangeSet [{name_or_id}] does not exist")
    return candidates[-1]


def create_change_set(self: CloudFormationBackend, stack_name: str, change_set_name: str, template: str,
                      parameters: dict[str, Any], description: str, change_set_type: str,
                      notification_arns: list[str] | None = None, tags: dict[str, str] | None = None,
                      role_arn: str | None = None) -> tuple[str, str]:
    validate_create_change_set(change_set_name)
    template_dict = parse_template(template)
    if change_set_type == "UPDATE":
        stack = self.get_stack(stack_name)
        if stack.status not in UPDATABLE:
            raise ValidationError(message=f"Stack:{stack.stack_id} is in {stack.status} state and can not be updated.")
    else:
        stack = live_stack(self, stack_name)
        if stack is not None and stack.status != "REVIEW_IN_PROGRESS":
            raise AlreadyExistsException(
                f"Stack [{stack_name}] already exists and cannot be created again with the changeSet [{change_set_name}]."
            )
    resource_map = validate(self, stack_name if stack is None else stack.name, template_dict, parameters)
    if stack is None:
        stack = new_stack(self, stack_name, parameters, notification_arns=notification_arns, tags=tags,
                          role_arn=role_arn)
        stack.status = "REVIEW_IN_PROGRESS"
        stack._add_stack_event("REVIEW_IN_PROGRESS", resource_status_reason="User Initiated")
    if any(cs.change_set_name == change_set_name and cs.stack_id == stack.stack_id for cs in self.change_sets.values()):
        raise AlreadyExistsException(f"ChangeSet [{change_set_name}] already exists")

    change_set = ChangeSet(
        change_set_type=change_set_type,
        change_set_id=generate_changeset_id(change_set_name, self.region_name, self.account_id),
        change_set_name=change_set_name,
        stack=stack,
        template=template,
        parameters=dict(parameters),
        description=description,
        notification_arns=notification_arns,
        tags=tags,
        role_arn=role_arn,
    )
    change_set.changes = planned_changes(stack, template_dict, parameters, resource_map)
    if change_set_type == "UPDATE" and not has_changes(stack, template_dict, parameters):
        # AWS creates the change set and marks it FAILED rather than refusing the call.
        change_set.status = "FAILED"
        change_set.execution_status = "UNAVAILABLE"
        change_set.status_reason = NO_CHANGES
    else:
        change_set.status = "CREATE_COMPLETE"
        change_set.execution_status = "AVAILABLE"
        change_set.status_reason = None
    self.change_sets[change_set.change_set_id] = change_set
    return change_set.change_set_id, stack.stack_id


def execute_change_set(self: CloudFormationBackend, change_set_name: str, stack_name: str | None = None,
                       disable_rollback: bool = False) -> None:
    change_set = find_change_set(self, change_set_name, stack_name)
    if change_set.execution_status != "AVAILABLE":
        shown = change_set.status if change_set.status == "FAILED" else change_set.execution_status
        raise InvalidChangeSetStatus(
            f"ChangeSet [{change_set.change_set_id}] cannot be executed in its current status of [{shown}]"
        )
    stack = self.stacks[change_set.stack_id]
    if change_set.change_set_type != "CREATE" and stack.status not in UPDATABLE:
        raise ValidationError(message=f"Stack:{stack.stack_id} is in {stack.status} state and can not be updated.")
    if change_set.role_arn:
        # The change set's role is the stack's from now on; without one the stack keeps its role.
        stack.role_arn = change_set.role_arn
    change_set.execution_status = "EXECUTE_IN_PROGRESS"
    if change_set.change_set_type == "CREATE":
        engine.create_stack(stack, self, change_set.template, change_set.template_dict, change_set.parameters,
                            disable_rollback=disable_rollback)
    else:
        engine.update_stack(stack, self, change_set.template, change_set.template_dict, change_set.parameters,
                            disable_rollback=disable_rollback)
    succeeded = stack.status in ("CREATE_COMPLETE", "UPDATE_COMPLETE")
    change_set.execution_status = "EXECUTE_COMPLETE" if succeeded else "EXECUTE_FAILED"
    # The stack moved on: its other change sets no longer apply (as on AWS).
    for other in self.change_sets.values():
        if other is not change_set and other.stack_id == stack.stack_id and other.execution_status == "AVAILABLE":
            other.execution_status = "OBSOLETE"


def describe_change_set(self: CloudFormationBackend, change_set_name: str, stack_name: str | None = None) -> ChangeSet:
    return find_change_set(self, change_set_name, stack_name)


def delete_change_set(self: CloudFormationBackend, change_set_name: str, stack_name: str | None = None) -> None:
    change_set = find_change_set(self, change_set_name, stack_name)
    del self.change_sets[change_set.change_set_id]


# --- API responses ---------------------------------------------------------------------------


def response_create_change_set(self: CloudFormationResponse) -> ActionResult:
    stack_name = self._get_param("StackName")
    change_set_type = self._get_param("ChangeSetType", "CREATE")
    template_body = self._get_param("TemplateBody")
    template_url = self._get_param("TemplateURL")
    previous: dict[str, str | None] = {}
    if change_set_type == "UPDATE":
        stack = self.cloudformation_backend.get_stack(stack_name)
        self.validate_template_and_stack_body()
        previous = previous_parameters(stack)
        if self._get_bool_param("UsePreviousTemplate", False):
            template_body = stack.template
    if template_url:
        template_body = self._get_stack_from_s3_url(template_url)
    parameters = resolve_parameter_list(self._get_param("Parameters", []), previous)
    change_set_id, stack_id = self.cloudformation_backend.create_change_set(
        stack_name=stack_name,
        change_set_name=self._get_param("ChangeSetName"),
        template=template_body,
        parameters=parameters,
        description=self._get_param("Description"),
        change_set_type=change_set_type,
        notification_arns=self._get_param("NotificationARNs", []),
        tags={item["Key"]: item["Value"] for item in self._get_param("Tags", [])},
        role_arn=self._get_param("RoleARN"),
    )
    return ActionResult({"Id": change_set_id, "StackId": stack_id})


def response_execute_change_set(self: CloudFormationResponse) -> EmptyResult:
    self.cloudformation_backend.execute_change_set(
        change_set_name=self._get_param("ChangeSetName"),
        stack_name=self._get_param("StackName"),
        disable_rollback=self._get_bool_param("DisableRollback", False),
    )
    return EmptyResult()


def response_describe_change_set(self: CloudFormationResponse) -> ActionResult:
    change_set = self.cloudformation_backend.describe_change_set(
        change_set_name=self._get_param("ChangeSetName"), stack_name=self._get_param("StackName")
    )
    return ActionResult(change_set)


def response_delete_change_set(self: CloudFormationResponse) -> EmptyResult:
    self.cloudformation_backend.delete_change_set(
        change_set_name=self._get_param("ChangeSetName"), stack_name=self._get_param("StackName")
    )
    return EmptyResult()


def response_update_termination_protection(self: CloudFormationResponse) -> ActionResult:
    enable = self._get_bool_param("EnableTerminationProtection")
    if enable is None:
        raise ValidationError(
            message="1 validation error detected: Value null at 'enableTerminationProtection' failed to satisfy "
            "constraint: Member must not be null"
        )
    stack = self.cloudformation_backend.update_termination_protection(
        stack_name=self._get_param("StackName"), enable_termination_protection=enable
    )
    return ActionResult({"StackId": stack.stack_id})


def response_list_change_sets(self: CloudFormationResponse) -> ActionResult:
    stack_name = self._get_param("StackName")
    summaries = [
        cs for cs in self.cloudformation_backend.list_change_sets()
        if not stack_name or stack_name in (cs.stack_name, cs.stack_id)
    ]
    return ActionResult({"Summaries": summaries})


# --- template reading ------------------------------------------------------------------------


def condition_aware_tag_constructor(original: Any) -> Any:
    def construct(loader: Any, tag: str, node: Any) -> Any:
        if tag == "!Condition":
            return {"Condition": node.value}
        return original(loader, tag, node)

    return construct


def novalue_dropping_clean_json(original: Any) -> Any:
    def clean_json(resource_json: Any, resources_map: Any) -> Any:
        if isinstance(resource_json, list):
            cleaned = []
            for item in resource_json:
                value = clean_json(item, resources_map)
                if value is None and isinstance(item, dict):
                    continue  # an intrinsic that came out as AWS::NoValue: the item is left out
                cleaned.append(value)
            return cleaned
        return original(resource_json, resources_map)

    return clean_json


def install() -> None:
    # Template reading (every module that registers the YAML constructor gets the fixed one).
    constructor = condition_aware_tag_constructor(cfn_utils.yaml_tag_constructor)
    for module in (cfn_utils, cfn_models, cfn_responses):
        module.yaml_tag_constructor = constructor  # type: ignore[attr-defined]
    parsing.clean_json = novalue_dropping_clean_json(parsing.clean_json)

    # Engine-managed resource maps never create resources lazily.
    ResourceMap.__getitem__ = engine.managed_getitem(ResourceMap.__getitem__)  # type: ignore[method-assign]
    original_stack_resources = Stack.stack_resources

    def stack_resources_property(self: Stack) -> Any:
        if getattr(self.resource_map, "twin_managed", False):
            return engine.stack_resources(self)
        return original_stack_resources.fget(self)  # type: ignore[attr-defined]

    Stack.stack_resources = property(stack_resources_property)  # type: ignore[assignment,method-assign]

    ORIGINAL["delete_stack"] = CloudFormationBackend.delete_stack
    CloudFormationBackend.create_stack = create_stack  # type: ignore[method-assign]
    CloudFormationBackend.update_stack = update_stack  # type: ignore[method-assign]
    CloudFormationBackend.delete_stack = delete_stack  # type: ignore[method-assign]
    CloudFormationBackend.create_change_set = create_change_set  # type: ignore[method-assign]
    CloudFormationBackend.execute_change_set = execute_change_set  # type: ignore[method-assign]
    CloudFormationBackend.describe_change_set = describe_change_set  # type: ignore[method-assign]
    CloudFormationBackend.delete_change_set = delete_change_set  # type: ignore[method-assign]
    CloudFormationBackend.update_termination_protection = update_termination_protection  # type: ignore[attr-defined]

    CloudFormationResponse.create_change_set = response_create_change_set  # type: ignore[method-assign]
    CloudFormationResponse.execute_change_set = response_execute_change_set  # type: ignore[method-assign]
    CloudFormationResponse.describe_change_set = response_describe_change_set  # type: ignore[method-assign]
    CloudFormationResponse.delete_change_set = response_delete_change_set  # type: ignore[method-assign]
    CloudFormationResponse.list_change_sets = response_list_change_sets  # type: ignore[method-assign]
    CloudFormationResponse.update_termination_protection = (  # type: ignore[attr-defined]
        response_update_termination_protection
    )
