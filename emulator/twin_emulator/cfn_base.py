"""What every CloudFormation resource model of the emulator shares.

moto's CloudFormation finds a resource type through `CloudFormationModel.__subclasses__()`
(direct subclasses only), so each model here is declared as

    class Thing(StackResource, CloudFormationModel): ...

with `StackResource` as a mixin. An instance of a model is the stack's record of one physical
resource: its physical id (what `Ref` returns), its `Fn::GetAtt` values, and whatever it needs to
update or delete the real resource later. The real resource itself always lives in moto's own
service backend, so the service APIs see exactly what the stack created.

A model declares which properties can only change by replacing the resource (`replaced_by`, AWS's
"Update requires: Replacement") and implements three hooks:

    create(env, name, props) -> instance    (classmethod; `name` is the name property's value, or a
                                             generated "{stack}-{logical id}-{suffix}")
    update(props)                           (in place only: the resource keeps its physical id and name)
    remove()                                (tolerates a resource or parent already gone)

`props` are the resource's Properties with every intrinsic function already resolved by moto.

Models own their in-place updates; they never decide on or perform a replacement. The engine
(cfn_engine.py) owns that: from `replaced_by` it decides, for every update, whether the resource is
replaced (a `replaced_by` property changed, was added or was removed) and then creates the new
resource with `create` and, in the cleanup phase, deletes the old one with `remove`. Otherwise it
calls `update`. The change-set planner makes the same decision with the same function.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, ClassVar

from moto.cloudformation.exceptions import UnformattedGetAttTemplateException
from moto.utilities.utils import get_partition


@dataclass(frozen=True)
class Env:
    """Where a resource lives: the account and region of the stack that owns it."""

    account_id: str
    region_name: str

    @property
    def partition(self) -> str:
        return get_partition(self.region_name)


class StackResource:
    """Mixin for the emulator's resource models (see the module docstring)."""

    cfn_type: ClassVar[str] = ""
    # The property that names the resource (moto passes its value, or a generated
    # "{stack}-{logical id}-{suffix}" name when it is absent); "" when the type has none.
    name_property: ClassVar[str] = ""
    # The attribute names Fn::GetAtt accepts for this type.
    getatts: ClassVar[tuple[str, ...]] = ()
    # The properties whose change (new value, added or removed) replaces the resource: those AWS's
    # resource reference marks "Update requires: Replacement" (its registry schema's
    # createOnlyProperties), name property included, among the ones the model supports; ("*",)
    # when every property does. The engine decides replacement from it (cfn_engine.replacement).
    replaced_by: ClassVar[tuple[str, ...]] = ()

    def __init__(self, env: Env, physical_id: str, **attributes: Any):
        self.env = env
        self.physical_resource_id = physical_id
        self.attributes = attributes

    # --- the hooks a model implements ---------------------------------------------------------

    @classmethod
    def create(cls, env: Env, name: str, props: dict[str, Any]) -> StackResource:
        raise NotImplementedError

    def update(self, props: dict[str, Any]) -> None:
        """Apply `props` to the existing resource (the engine has ruled out a replacement)."""
        raise NotImplementedError

    def remove(self) -> None:
        raise NotImplementedError

    # --- moto's CloudFormationModel interface, mapped onto the hooks ---------------------------

    @classmethod
    def cloudformation_type(cls) -> str:
        return cls.cfn_type

    @classmethod
    def cloudformation_name_type(cls) -> str:
        return cls.name_property

    @classmethod
    def has_cfn_attr(cls, attr: str) -> bool:
        return attr in cls.getatts

    def get_cfn_attribute(self, attribute_name: str) -> Any:
        if attribute_name in self.getatts and attribute_name in self.attributes:
            return self.attributes[attribute_name]
        raise UnformattedGetAttTemplateException()

    def is_created(self) -> bool:
        return True

    @classmethod
    def create_from_cloudformation_json(  # type: ignore[misc]
        cls,
        resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
        **kwargs: Any,
    ) -> StackResource:
        props = cloudformation_json.get("Properties") or {}
        return cls.create(Env(account_id, region_name), resource_name, props)

    @classmethod
    def update_from_cloudformation_json(  # type: ignore[misc]
        cls,
        original_resource: StackResource,
        new_resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
    ) -> StackResource:
        # Only ever an in-place update (the engine replaces by create + remove), so the resource keeps
        # its name: moto's new_resource_name is a fresh random one and is ignored.
        props = cloudformation_json.get("Properties") or {}
        original_resource.update(props)
        return original_resource

    @classmethod
    def delete_from_cloudformation_json(  # type: ignore[misc]
        cls,
        resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
    ) -> None:
        # Deletion goes through the instance (delete() below), which knows everything the
        # resource needs; moto only reaches this when it has no instance, i.e. nothing to delete.
        return None

    def delete(self, account_id: str | None = None, region_name: str | None = None) -> None:
        """moto's instance-level delete hook (ResourceMap._delete_resource calls it first)."""
        self.remove()

    def __repr__(self) -> str:
        return f"<{self.cfn_type} {self.physical_resource_id}>"


# --- small helpers the models share ----------------------------------------------------------


def as_json_text(document: Any) -> str:
    """Policy documents arrive as YAML-parsed dicts; the service APIs store JSON text."""
    if isinstance(document, str):
        return document
    return json.dumps(document)


def as_bool(value: Any, default: bool = False) -> bool:
    """Template booleans may arrive as True/False or as the strings "true"/"false"."""
    if value is None:
        return default
    if isinstance(value, str):
        return value.strip().lower() == "true"
    return bool(value)


def as_int(value: Any, default: int | None = None) -> int | None:
    """Template numbers may arrive as ints or as strings."""
    if value is None or value == "":
        return default
    return int(value)


def tag_list(tags: Any) -> list[dict[str, str]]:
    """CloudFormation Tags ([{Key, Value}] or, for some types, a map) as a [{Key, Value}] list."""
    if not tags:
        return []
    if isinstance(tags, dict):
        return [{"Key": k, "Value": str(v)} for k, v in tags.items()]
    return [{"Key": t["Key"], "Value": str(t.get("Value", ""))} for t in tags]


def tag_map(tags: Any) -> dict[str, str]:
    """CloudFormation Tags as a {Key: Value} map."""
    return {t["Key"]: t["Value"] for t in tag_list(tags)}


def ignore_missing(action: Any, *args: Any, **kwargs: Any) -> None:
    """Run a delete call, treating "it is already gone" as success.

    Stack deletion and rollback must tolerate a resource (or its parent: the API of a route,
    the function of an alias) that is already gone. moto signals absence with many exception
    types (KeyError, ResourceNotFoundException, NoSuchDistribution, UnknownFunctionException,
    MissingBucket, WAFNonexistentItemException ...), so an error whose type name or message says
    so counts as gone; everything else propagates.
    """
    try:
        action(*args, **kwargs)
    except KeyError:
        return
    except Exception as error:  # noqa: BLE001 - classified by type name and message below
        name, message = type(error).__name__.lower(), str(error).lower()
        gone_names = ("notfound", "nosuch", "nonexistent", "unknown", "missing")
        gone_messages = ("not found", "does not exist", "no such")
        if any(marker in name for marker in gone_names) or any(marker in message for marker in gone_messages):
            return
        raise
