"""The emulator's CloudFormation deployment engine: create, update, roll back and delete a stack.

moto 5.2.5 creates a stack's resources lazily (whichever resource a Ref happens to reach first),
applies change sets without rebuilding outputs, has no rollback (a failing resource turns the
API call into an HTTP 500 and leaves the half-made stack "CREATE_COMPLETE"), records no
per-resource events, updates only resources whose template text changed (a parameter change
reaching a resource through Fn::Sub is missed) and deletes in arbitrary order with retries.

This engine replaces that lifecycle, keeping moto's data structures (Stack, ResourceMap,
OutputMap, Event) and moto's template evaluation (clean_json, conditions, parameters) so every
other moto API (DescribeStacks, DescribeStackEvents, GetTemplate ...) keeps working:

  * resources are created in dependency order (Ref, Fn::GetAtt, Fn::Sub, DependsOn) and
    deleted in the reverse order;
  * on update, a resource is updated when its *resolved* properties differ from the ones it was
    last created or updated with (so a parameter change is seen however it reaches a property);
  * the engine owns replacement: whether an update replaces a resource is decided here, once,
    from the model's declared `replaced_by` (AWS's "Update requires: Replacement") by
    `replacement()`, the same function the change-set planner calls. A replacement creates the
    new physical resource first; the old one is deleted in the cleanup phase, as on AWS (its
    UpdateReplacePolicy honoured). Models only ever update in place (see cfn_base.py);
  * resources the new template drops (or whose Condition became false) are deleted in the
    cleanup phase too;
  * each resource step is recorded as a stack event (CREATE_IN_PROGRESS, CREATE_COMPLETE,
    CREATE_FAILED with the error as reason, ...);
  * a failed create deletes what it created and ends ROLLBACK_COMPLETE; a failed update puts
    back the physical resources it replaced (kept until cleanup), re-applies the previous
    template and parameters (the same procedure, forcing the failed resource back), deletes
    what the failed update created, and ends UPDATE_ROLLBACK_COMPLETE;
  * DeletionPolicy: Retain keeps a resource whenever it would be deleted (stack deletion, removal
    from the template, a rollback); RetainExceptOnCreate behaves like Retain except for the stack
    operation that created the resource: when that operation rolls back, the resource is deleted
    (AWS CloudFormation, "DeletionPolicy attribute",
    https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-attribute-deletionpolicy.html);
  * outputs (and exports) are evaluated when a deployment completes; an output that cannot be
    evaluated fails the deployment instead of showing null;
  * under IAM enforcement (`TWIN_EMULATOR_IAM=enforce`) a stack with a RoleARN has each resource
    create, update and delete checked first against what that role allows, as CloudFormation calls
    every handler as the role (handler_permissions.py owns what is checked); a denial fails the
    resource like any other handler error, so the stack rolls back. Without enforcement or without
    a RoleARN nothing is checked.

The template analysis (`references`, `dependencies`, `dependency_order`) and the replacement
decision (`replacing_properties`, `replacement`) are pure functions (tests/test_engine.py).

A stack whose map this engine manages never creates resources lazily: see `managed_getitem`.
"""

from __future__ import annotations

import copy
import functools
import re
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from moto.cloudformation import parsing
from moto.cloudformation.exceptions import ValidationError
from moto.cloudformation.models import CloudFormationBackend, Event, Stack
from moto.cloudformation.parsing import OutputMap, ResourceMap
from moto.utilities.utils import get_partition

from . import handler_permissions, iam_policy
from .cfn_base import StackResource

# moto's backends are plain dicts, not thread-safe: two stacks provisioning at once (parallel
# bootstraps, each creating IAM roles) iterate one dict while the other inserts ("dictionary
# changed size during iteration"). AWS provisions stacks independently; here one resource
# operation at a time, across all stacks, keeps the backends consistent.
_PROVISIONING = threading.RLock()


def _one_at_a_time(operation: Any) -> Any:
    @functools.wraps(operation)
    def serialized(*args: Any, **kwargs: Any) -> Any:
        with _PROVISIONING:
            return operation(*args, **kwargs)

    return serialized

# --- template analysis -----------------------------------------------------------------------

SUB_VARIABLE = re.compile(r"\$\{([^!}][^}]*)\}")


def references(node: Any) -> set[str]:
    """Every name a template fragment refers to (Ref, Fn::GetAtt, Fn::Sub variables)."""
    found: set[str] = set()
    if isinstance(node, list):
        for item in node:
            found |= references(item)
    elif isinstance(node, dict):
        for key, value in node.items():
            if key == "Ref" and isinstance(value, str):
                found.add(value)
            elif key == "Fn::GetAtt":
                target = value[0] if isinstance(value, list) else str(value).split(".")[0]
                found.add(target)
            elif key == "Fn::Sub":
                text, variables = (value[0], value[1]) if isinstance(value, list) else (value, {})
                found |= {name.split(".")[0].strip() for name in SUB_VARIABLE.findall(text)} - set(variables)
                found |= references(variables)
            else:
                found |= references(value)
    return found


def dependencies(resources: dict[str, Any]) -> dict[str, set[str]]:
    """For each resource, the other resources it needs first."""
    needs = {}
    for name, resource in resources.items():
        depends_on = resource.get("DependsOn", [])
        depends_on = [depends_on] if isinstance(depends_on, str) else list(depends_on)
        wanted = references(resource.get("Properties", {})) | set(depends_on)
        needs[name] = {other for other in wanted if other in resources and other != name}
    return needs


def dependency_order(resources: dict[str, Any]) -> list[str]:
    """Resources in an order that creates every dependency first (stable: template order otherwise)."""
    needs = dependencies(resources)
    ordered: list[str] = []
    placed: set[str] = set()
    remaining = list(resources)
    while remaining:
        ready = [name for name in remaining if needs[name] <= placed]
        if not ready:
            raise ValidationError(message=f"Circular dependency between resources: {sorted(remaining)}")
        for name in ready:
            ordered.append(name)
            placed.add(name)
        remaining = [name for name in remaining if name not in placed]
    return ordered


# --- what the engine remembers per resource --------------------------------------------------


@dataclass
class ResourceRecord:
    """The engine's memory of one created resource: what it was made from."""

    resource_type: str
    properties: Any  # the resolved Properties the resource was last created/updated with
    template: dict[str, Any]  # its template entry (for DeletionPolicy and moto's own delete path)


@dataclass
class Retired:
    """A physical resource an update replaced: kept until the cleanup phase deletes it (or a rollback
    puts it back). `record` is what it was made from (its UpdateReplacePolicy included). `undone`:
    the replacement a failed update made, which its rollback deletes whatever the policy says."""

    logical_id: str
    instance: Any
    record: ResourceRecord
    undone: bool = False


@dataclass
class EngineState:
    records: dict[str, ResourceRecord] = field(default_factory=dict)
    order: list[str] = field(default_factory=list)  # creation order, i.e. a dependency order
    retired: list[Retired] = field(default_factory=list)  # replaced, awaiting the cleanup phase
    # The logical resources the stack operation in progress (or the last one) created: its rollback
    # deletes them even under DeletionPolicy RetainExceptOnCreate.
    created: set[str] = field(default_factory=set)


# --- the replacement decision ----------------------------------------------------------------


class Unknown:
    """A property value not known before execution (the change-set planner's: it refers to a
    resource, whose physical id or attributes may still change)."""

    def __repr__(self) -> str:
        return "<known at execution>"


UNKNOWN = Unknown()
ABSENT = object()  # a property the resource does not have


def replacing_properties(resource_class: Any) -> frozenset[str]:
    """The properties whose change replaces a resource of this model class: its declared
    `replaced_by` plus its name property (a new physical name is always a new resource; moto's
    own models declare nothing else). {"*"}, every property, for a model that cannot update."""
    if hasattr(resource_class.update_from_cloudformation_json, "__isabstractmethod__"):
        return frozenset({"*"})
    watched = set(getattr(resource_class, "replaced_by", ()) or ())
    name_property = resource_class.cloudformation_name_type()
    if name_property:
        watched.add(name_property)
    return frozenset(watched)


def replacement(watched: Iterable[str], old: Mapping[str, Any], new: Mapping[str, Any],
                type_changed: bool = False) -> str:
    """Does updating a resource from properties `old` to `new` replace it? The one decision both the
    engine (at execution) and the change-set planner (for a change's Replacement) use.

    "True" when the type changed, or when a watched property's value changed, was added or was
    removed ("*" watches every property); "Conditional" when no known value says so but a watched
    value is UNKNOWN (only the planner has those); "False" otherwise: the update is in place.
    """
    if type_changed:
        return "True"
    watched = set(watched)
    names = set(old) | set(new) if "*" in watched else watched
    verdict = "False"
    for name in sorted(names):
        before, after = old.get(name, ABSENT), new.get(name, ABSENT)
        if after is UNKNOWN:
            verdict = "Conditional"
        elif before != after:
            return "True"
    return verdict


def requires_replacement(resource_class: Any, record: ResourceRecord, resource_type: str, properties: Any) -> bool:
    """The engine's use of `replacement`: every value is known at execution."""
    verdict = replacement(
        replacing_properties(resource_class),
        record.properties or {},
        properties or {},
        type_changed=resource_type != record.resource_type,
    )
    return verdict != "False"


# --- deployment state ------------------------------------------------------------------------


class DeployFailed(Exception):
    """A deployment step failed: `logical_id` (None for the stack itself) and the reason shown."""

    def __init__(self, logical_id: str | None, reason: str):
        super().__init__(reason)
        self.logical_id = logical_id
        self.reason = reason


def state_of(stack: Stack) -> EngineState:
    resource_map = stack.resource_map
    if not hasattr(resource_map, "twin_state"):
        resource_map.twin_state = EngineState()
        resource_map.twin_managed = True
    return resource_map.twin_state


def managed_getitem(original: Any) -> Any:
    """ResourceMap.__getitem__ for engine-managed maps: never create a resource as a side effect.

    moto's map creates a resource the first time anything looks it up (a Ref, DescribeStackResources,
    an output). Under the engine only the engine creates: a resource not created yet is None when its
    Condition is false and an error otherwise (it means a dependency the engine did not see).
    """

    def getitem(self: ResourceMap, key: str) -> Any:
        if not getattr(self, "twin_managed", False):
            return original(self, key)
        if key in self._parsed_resources:
            return self._parsed_resources[key]
        resource = self._resource_json_map.get(key)
        if resource is None:
            raise KeyError(key)
        condition = resource.get("Condition")
        if condition and not self.lazy_condition_map[condition]:
            return None
        raise KeyError(f"{key} is referenced before it exists")

    return getitem


def stack_resources(stack: Stack) -> list[Any]:
    """The resources that exist now, in creation order."""
    state = state_of(stack)
    return [stack.resource_map._parsed_resources[name] for name in state.order]


# --- events ----------------------------------------------------------------------------------


def resource_event(stack: Stack, logical_id: str, resource_type: str, status: str,
                   physical_id: str | None = None, reason: str | None = None) -> None:
    event = Event(
        stack_id=stack.stack_id,
        stack_name=stack.name,
        logical_resource_id=logical_id,
        physical_resource_id=physical_id or "",
        resource_type=resource_type,
        resource_status=status,
        resource_status_reason=reason,
        resource_properties=None,
    )
    event.sendToSns(stack.account_id, stack.region_name, stack.notification_arns)
    stack.events.append(event)


def stack_status(stack: Stack, status: str, reason: str | None = None, keep_reason: bool = False) -> None:
    """Move the stack to a status (with a stack event). keep_reason: DescribeStacks keeps showing
    why the operation failed once its rollback completes, as AWS does."""
    stack.status = status
    if not keep_reason:
        stack.status_reason = reason
    stack._add_stack_event(status, resource_status_reason=reason)


def describe_error(error: BaseException) -> str:
    message = getattr(error, "message", None) or str(error) or type(error).__name__
    code = getattr(error, "code", None) or getattr(error, "error_type", None)
    return f"{message} (Service error code: {code})" if isinstance(code, str) and code not in message else message


# --- one deployment --------------------------------------------------------------------------


def load_template(stack: Stack, backend: CloudFormationBackend, template: dict[str, Any],
                  parameters: dict[str, Any]) -> None:
    """Point the stack's resource map at a template and parameters (conditions evaluated)."""
    resource_map = stack.resource_map
    state_of(stack)
    resource_map._template = template
    resource_map._resource_json_map = template.get("Resources") or {}
    resource_map.input_parameters = dict(parameters)
    resource_map.resolved_parameters = {}
    resource_map.cross_stack_resources = backend.exports
    resource_map.load_mapping()
    resource_map.transform_mapping()
    resource_map.load_parameters()
    resource_map.load_conditions()


def wanted(stack: Stack, logical_id: str) -> bool:
    """Does the loaded template want this resource (present, and its Condition true)?"""
    resource = stack.resource_map._resource_json_map.get(logical_id)
    if resource is None:
        return False
    condition = resource.get("Condition")
    return not condition or bool(stack.resource_map.lazy_condition_map[condition])


def resolved_properties(stack: Stack, resource: dict[str, Any]) -> Any:
    return parsing.clean_json(copy.deepcopy(resource.get("Properties") or {}), stack.resource_map)


# --- the stack's role (IAM enforcement) --------------------------------------------------------


def enforced_role(stack: Stack) -> str | None:
    """The role whose permissions each resource operation is checked against: the stack's RoleARN,
    when IAM is enforced (CloudFormation calls every resource handler as that role)."""
    role_arn = getattr(stack, "role_arn", None)
    return role_arn if role_arn and iam_policy.enforcing() else None


def handler_target(stack: Stack, resource_type: str, name: str, properties: Any,
                   instance: Any = None) -> handler_permissions.Target:
    """What a handler acts on: `name` is the physical name before a create, else the physical id."""
    attributes = getattr(instance, "attributes", None)
    return handler_permissions.Target(
        partition=get_partition(stack.region_name),
        account_id=stack.account_id,
        region=stack.region_name,
        resource_type=resource_type,
        name=name,
        properties=properties if isinstance(properties, Mapping) else {},
        physical_id=getattr(instance, "physical_resource_id", None) if instance is not None else None,
        attributes=attributes if isinstance(attributes, Mapping) else {},
    )


def create_physical(stack: Stack, logical_id: str, resource: dict[str, Any]) -> Any:
    """Create one physical resource through its model (what moto's parse_and_create_resource does,
    with the physical name chosen once so that the role check and the create agree on it). Under
    enforcement the create handler's permissions are checked first; those whose resource ARN holds an
    id the service assigns are checked right after the create call, and on a denial the new resource
    is deleted again (a failed create leaves nothing behind)."""
    resource_type = resource["Type"]
    resource_class, cleaned, name = parsing.parse_resource_and_generate_name(
        logical_id, copy.deepcopy(resource), stack.resource_map
    )
    role = enforced_role(stack)
    properties = cleaned.get("Properties") or {}
    deferred: tuple[str, ...] = ()
    if role:
        deferred = handler_permissions.check(role, handler_target(stack, resource_type, name, properties), "create")
    instance = resource_class.create_from_cloudformation_json(
        name, cleaned, stack.account_id, stack.region_name,
        LogicalId=logical_id, StackId=stack.resource_map.stack_id, ResourceType=resource_type,
    )
    instance.cf_resource_type = resource_type
    instance.logical_resource_id = logical_id
    if role and deferred:
        target = handler_target(stack, resource_type, instance.physical_resource_id, properties, instance)
        try:
            handler_permissions.check(role, target, "create", only=deferred)
        except handler_permissions.HandlerAccessDenied:
            remove_physical(stack, instance, cleaned)
            raise
    return instance


@_one_at_a_time
def create_resource(stack: Stack, logical_id: str, resource: dict[str, Any]) -> None:
    resource_map = stack.resource_map
    resource_type = resource["Type"]
    resource_event(stack, logical_id, resource_type, "CREATE_IN_PROGRESS")
    if parsing.resource_class_from_type(resource_type) is None:
        raise RuntimeError(f"Resource type {resource_type} is not supported by the local emulator")
    properties = resolved_properties(stack, resource)
    instance = create_physical(stack, logical_id, resource)
    resource_map._parsed_resources[logical_id] = instance
    state = state_of(stack)
    state.records[logical_id] = ResourceRecord(resource_type, properties, copy.deepcopy(resource))
    state.order.append(logical_id)
    state.created.add(logical_id)
    resource_event(stack, logical_id, resource_type, "CREATE_COMPLETE", instance.physical_resource_id)


REPLACING = "Requested update requires the creation of a new physical resource; hence creating one."


@_one_at_a_time
def update_resource(stack: Stack, logical_id: str, resource: dict[str, Any], force: bool) -> None:
    """Update a resource whose resolved properties changed (or when forced, e.g. in a rollback): in
    place through its model, or, when `requires_replacement` says so, by creating a new physical
    resource and retiring the old one (the cleanup phase deletes it)."""
    resource_map = stack.resource_map
    state = state_of(stack)
    record = state.records[logical_id]
    resource_type = resource["Type"]
    properties = resolved_properties(stack, resource)
    if properties == record.properties and resource_type == record.resource_type and not force:
        return
    old = resource_map._parsed_resources[logical_id]
    resource_class = parsing.resource_class_from_type(resource_type)
    replace = resource_class is not None and requires_replacement(resource_class, record, resource_type, properties)
    resource_event(stack, logical_id, resource_type, "UPDATE_IN_PROGRESS", old.physical_resource_id,
                   REPLACING if replace else None)
    if resource_class is None:
        raise RuntimeError(f"Resource type {resource_type} is not supported by the local emulator")
    if replace:
        instance = create_physical(stack, logical_id, resource)
        state.retired.append(Retired(logical_id, old, record))
    else:
        _, cleaned, new_name = parsing.parse_resource_and_generate_name(
            logical_id, copy.deepcopy(resource), resource_map
        )
        role = enforced_role(stack)
        if role:
            target = handler_target(stack, resource_type, old.physical_resource_id, cleaned.get("Properties"), old)
            handler_permissions.check(role, target, "update")
        instance = resource_class.update_from_cloudformation_json(
            original_resource=old,
            new_resource_name=new_name,
            cloudformation_json=cleaned,
            account_id=stack.account_id,
            region_name=stack.region_name,
        )
        instance.cf_resource_type = resource_type
        instance.logical_resource_id = logical_id
    resource_map._parsed_resources[logical_id] = instance
    state.records[logical_id] = ResourceRecord(resource_type, properties, copy.deepcopy(resource))
    resource_event(stack, logical_id, resource_type, "UPDATE_COMPLETE", instance.physical_resource_id)


@_one_at_a_time
def delete_physical(stack: Stack, instance: Any, record: ResourceRecord) -> None:
    """Delete one physical resource (under enforcement, as the stack's role: its delete handler's
    permissions are checked first). The caller has already honoured DeletionPolicy /
    UpdateReplacePolicy."""
    role = enforced_role(stack)
    if role:
        physical = getattr(instance, "physical_resource_id", None) or ""
        handler_permissions.check(role, handler_target(stack, record.resource_type, physical, record.properties,
                                                       instance), "delete")
    remove_physical(stack, instance, record.template)


def remove_physical(stack: Stack, instance: Any, template: dict[str, Any]) -> None:
    """Delete one physical resource through its model (moto's own models through moto's path)."""
    if isinstance(instance, StackResource):
        instance.remove()
    else:
        stack.resource_map._delete_resource(instance, template)


def deploy(stack: Stack, backend: CloudFormationBackend, template: dict[str, Any], parameters: dict[str, Any],
           force: Iterable[str] = ()) -> None:
    """Create and update resources until the stack matches the template; raise DeployFailed on the
    first failure. Resources the template no longer wants are left for `cleanup`."""
    load_template(stack, backend, template, parameters)
    state = state_of(stack)
    resources = stack.resource_map._resource_json_map
    for logical_id in dependency_order(resources):
        if not wanted(stack, logical_id):
            continue
        resource = resources[logical_id]
        try:
            if logical_id in state.records:
                update_resource(stack, logical_id, resource, force=logical_id in force)
            else:
                create_resource(stack, logical_id, resource)
        except Exception as error:  # noqa: BLE001 - any failure fails this resource, as on AWS
            reason = describe_error(error)
            failed = "UPDATE_FAILED" if logical_id in state.records else "CREATE_FAILED"
            instance = stack.resource_map._parsed_resources.get(logical_id)
            physical = getattr(instance, "physical_resource_id", None) if logical_id in state.records else None
            resource_event(stack, logical_id, resource["Type"], failed, physical, reason)
            raise DeployFailed(logical_id, reason) from error


def retained(state: EngineState, logical_id: str, record: ResourceRecord, rollback: bool) -> bool:
    """Does the resource's DeletionPolicy keep it? Retain always; RetainExceptOnCreate unless this is
    the rollback of the stack operation that created it."""
    policy = record.template.get("DeletionPolicy")
    if policy == "Retain":
        return True
    if policy == "RetainExceptOnCreate":
        return not (rollback and logical_id in state.created)
    return False


def delete_resource(stack: Stack, logical_id: str, rollback: bool = False) -> None:
    """Delete one logical resource (honouring its DeletionPolicy); `rollback`: the stack operation in
    progress is being rolled back."""
    state = state_of(stack)
    record = state.records[logical_id]
    instance = stack.resource_map._parsed_resources.get(logical_id)
    physical = getattr(instance, "physical_resource_id", None)
    if retained(state, logical_id, record, rollback):
        resource_event(stack, logical_id, record.resource_type, "DELETE_SKIPPED", physical)
    else:
        resource_event(stack, logical_id, record.resource_type, "DELETE_IN_PROGRESS", physical)
        try:
            delete_physical(stack, instance, record)
        except Exception as error:  # noqa: BLE001
            resource_event(stack, logical_id, record.resource_type, "DELETE_FAILED", physical, describe_error(error))
            raise
        resource_event(stack, logical_id, record.resource_type, "DELETE_COMPLETE", physical)
    stack.resource_map._parsed_resources.pop(logical_id, None)
    del state.records[logical_id]
    state.order.remove(logical_id)
    state.created.discard(logical_id)


def delete_retired(stack: Stack, retired: Retired) -> None:
    """Delete a physical resource an update replaced (unless its UpdateReplacePolicy retains it)."""
    logical_id, record = retired.logical_id, retired.record
    physical = getattr(retired.instance, "physical_resource_id", None)
    if record.template.get("UpdateReplacePolicy") == "Retain" and not retired.undone:
        resource_event(stack, logical_id, record.resource_type, "DELETE_SKIPPED", physical)
        return
    resource_event(stack, logical_id, record.resource_type, "DELETE_IN_PROGRESS", physical)
    try:
        delete_physical(stack, retired.instance, record)
    except Exception as error:  # noqa: BLE001
        resource_event(stack, logical_id, record.resource_type, "DELETE_FAILED", physical, describe_error(error))
        raise
    resource_event(stack, logical_id, record.resource_type, "DELETE_COMPLETE", physical)


def delete_resources(stack: Stack, names: Iterable[str], retired: bool = False, rollback: bool = False) -> list[str]:
    """Delete the named resources and (with `retired`) every physical resource awaiting cleanup,
    dependents first (reverse creation order; a retired resource just before its logical
    resource). `rollback`: a rollback deletes them (see `retained`). Return the logical ids whose
    deletion failed: those failures are recorded as DELETE_FAILED events and the others still go."""
    state = state_of(stack)
    names = set(names)
    pending = state.retired if retired else []
    if retired:
        state.retired = []
    position = {name: index for index, name in enumerate(state.order)}
    steps: list[tuple[int, int, Retired | str]] = [
        (position.get(entry.logical_id, len(position)), 1 + index, entry) for index, entry in enumerate(pending)
    ]
    steps += [(position[name], 0, name) for name in state.order if name in names]
    failed = []
    for _, _, step in sorted(steps, key=lambda item: (item[0], item[1]), reverse=True):
        try:
            if isinstance(step, Retired):
                delete_retired(stack, step)
            else:
                delete_resource(stack, step, rollback=rollback)
        except Exception:  # noqa: BLE001 - recorded as DELETE_FAILED; the others still go
            if isinstance(step, Retired):
                state.retired.append(step)  # still there: a later stack deletion tries again
                failed.append(step.logical_id)
            else:
                failed.append(step)
    return list(dict.fromkeys(failed))


def cleanup(stack: Stack, rollback: bool = False) -> None:
    """The cleanup phase: delete the physical resources the update replaced and the resources the
    loaded template no longer wants (failures are only recorded, as on AWS). `rollback`: the cleanup
    of an update rollback, whose unwanted resources are the ones the failed update created."""
    unwanted = [name for name in state_of(stack).order if not wanted(stack, name)]
    delete_resources(stack, unwanted, retired=True, rollback=rollback)
    state_of(stack).retired = []  # what failed to go is abandoned, as AWS abandons it


def restore_replaced(stack: Stack, since: int) -> None:
    """Roll back the replacements a failed update made (those retired after index `since`): each
    resource gets its previous physical resource back, and the replacement is retired in its
    place, for the rollback's cleanup phase to delete."""
    state = state_of(stack)
    undone = state.retired[since:]
    del state.retired[since:]
    for entry in reversed(undone):
        logical_id = entry.logical_id
        replacement_instance = stack.resource_map._parsed_resources[logical_id]
        replacement_record = state.records[logical_id]
        resource_event(stack, logical_id, entry.record.resource_type, "UPDATE_IN_PROGRESS",
                       entry.instance.physical_resource_id)
        stack.resource_map._parsed_resources[logical_id] = entry.instance
        state.records[logical_id] = entry.record
        state.retired.append(Retired(logical_id, replacement_instance, replacement_record, undone=True))
        resource_event(stack, logical_id, entry.record.resource_type, "UPDATE_COMPLETE",
                       entry.instance.physical_resource_id)


def evaluate_outputs(stack: Stack, template: dict[str, Any]) -> None:
    """Rebuild Outputs from the template; fail the deployment if one cannot be evaluated."""
    output_map = OutputMap(stack.resource_map, {"Outputs": template.get("Outputs") or {}}, stack.stack_id)
    for key in list(output_map.outputs):
        try:
            output = output_map[key]
        except Exception as error:  # noqa: BLE001
            raise DeployFailed(None, f"Output {key}: {describe_error(error)}") from error
        if output is not None and output.value is None:
            raise DeployFailed(None, f"Output {key} has no value")
    stack.output_map = output_map


def publish_exports(stack: Stack, backend: CloudFormationBackend) -> None:
    """Replace the stack's exports in the region's export list; a name exported elsewhere fails."""
    exports = stack.output_map.exports
    for export in exports:
        owner = backend.exports.get(export.name)
        if owner is not None and owner.exporting_stack_id != stack.stack_id:
            raise DeployFailed(None, f"Export with name {export.name} is already exported by stack {owner.exporting_stack_id}")
    for name in [n for n, e in backend.exports.items() if e.exporting_stack_id == stack.stack_id]:
        del backend.exports[name]
    for export in exports:
        backend.exports[export.name] = export


def clear_outputs(stack: Stack) -> None:
    stack.output_map = OutputMap(stack.resource_map, {"Outputs": {}}, stack.stack_id)


def adopt_template(stack: Stack, template_body: str, template: dict[str, Any], parameters: dict[str, Any]) -> None:
    stack.template = template_body
    stack.template_dict = template
    stack.parameters = dict(parameters)
    stack.description = template.get("Description")


# --- the stack operations --------------------------------------------------------------------


def create_stack(stack: Stack, backend: CloudFormationBackend, template_body: str, template: dict[str, Any],
                 parameters: dict[str, Any], disable_rollback: bool = False) -> None:
    adopt_template(stack, template_body, template, parameters)
    state_of(stack).created = set()
    stack_status(stack, "CREATE_IN_PROGRESS", "User Initiated")
    try:
        deploy(stack, backend, template, parameters)
        evaluate_outputs(stack, template)
        publish_exports(stack, backend)
    except DeployFailed as failure:
        clear_outputs(stack)
        if failure.logical_id:
            reason = f"The following resource(s) failed to create: [{failure.logical_id}]. "
        else:
            reason = failure.reason
        if disable_rollback:
            stack_status(stack, "CREATE_FAILED", reason)
            return
        stack_status(stack, "ROLLBACK_IN_PROGRESS", reason + "Rollback requested by user.")
        left = delete_resources(stack, list(state_of(stack).order), rollback=True)
        if left:
            stack_status(stack, "ROLLBACK_FAILED", f"The following resource(s) failed to delete: {left}. ")
        else:
            stack_status(stack, "ROLLBACK_COMPLETE", keep_reason=True)
        return
    stack_status(stack, "CREATE_COMPLETE")


def update_stack(stack: Stack, backend: CloudFormationBackend, template_body: str, template: dict[str, Any],
                 parameters: dict[str, Any], disable_rollback: bool = False) -> None:
    previous = (stack.template, copy.deepcopy(stack.template_dict), dict(stack.parameters or {}))
    replaced_before = len(state_of(stack).retired)
    state_of(stack).created = set()
    adopt_template(stack, template_body, template, parameters)
    stack_status(stack, "UPDATE_IN_PROGRESS", "User Initiated")
    try:
        deploy(stack, backend, template, parameters)
        evaluate_outputs(stack, template)
        publish_exports(stack, backend)
    except DeployFailed as failure:
        if failure.logical_id:
            reason = f"The following resource(s) failed to update: [{failure.logical_id}]. "
        else:
            reason = failure.reason
        if disable_rollback:
            stack_status(stack, "UPDATE_FAILED", reason)
            return
        stack_status(stack, "UPDATE_ROLLBACK_IN_PROGRESS", reason)
        restore_replaced(stack, replaced_before)
        old_body, old_template, old_parameters = previous
        adopt_template(stack, old_body, old_template, old_parameters)
        try:
            deploy(stack, backend, old_template, old_parameters, force=[failure.logical_id] if failure.logical_id else [])
            evaluate_outputs(stack, old_template)
        except DeployFailed as rollback_failure:
            stack_status(stack, "UPDATE_ROLLBACK_FAILED", rollback_failure.reason)
            return
        stack_status(stack, "UPDATE_ROLLBACK_COMPLETE_CLEANUP_IN_PROGRESS", keep_reason=True)
        cleanup(stack, rollback=True)
        stack_status(stack, "UPDATE_ROLLBACK_COMPLETE", keep_reason=True)
        return
    stack_status(stack, "UPDATE_COMPLETE_CLEANUP_IN_PROGRESS")
    cleanup(stack)
    stack_status(stack, "UPDATE_COMPLETE")


def delete_stack(stack: Stack, backend: CloudFormationBackend) -> bool:
    """Delete every resource (and any replaced one still awaiting cleanup, e.g. after UPDATE_FAILED),
    dependents first. False (and DELETE_FAILED) when some remain."""
    stack_status(stack, "DELETE_IN_PROGRESS", "User Initiated")
    left = delete_resources(stack, list(state_of(stack).order), retired=True)
    if left:
        stack_status(stack, "DELETE_FAILED", f"The following resource(s) failed to delete: {left}. ")
        return False
    clear_outputs(stack)
    for name in [n for n, e in backend.exports.items() if e.exporting_stack_id == stack.stack_id]:
        del backend.exports[name]
    stack_status(stack, "DELETE_COMPLETE")
    return True
