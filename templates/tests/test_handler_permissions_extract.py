"""The emulator's committed extract of CloudFormation's handler permissions
(emulator/twin_emulator/data/handler_permissions.json) is what cfn-lint's registry schemas give now: it
fails after a cfn-lint upgrade or a new resource type in a template until the extract is regenerated with

    .twin/tools/venv/bin/python templates/tests/extract_handler_permissions.py
"""

from __future__ import annotations

import json

from extract_handler_permissions import EXTRACT, extract, render


def test_the_extract_is_what_cfn_lint_gives() -> None:
    committed = EXTRACT.read_text(encoding="utf-8")
    assert committed == render(extract()), (
        f"{EXTRACT} is stale: regenerate it with .twin/tools/venv/bin/python "
        "templates/tests/extract_handler_permissions.py"
    )


def test_the_extract_covers_every_operation_the_engine_runs() -> None:
    data = json.loads(EXTRACT.read_text(encoding="utf-8"))
    assert "AWS::Lambda::Function" in data["resource_types"]
    for resource_type, operations in data["resource_types"].items():
        assert set(operations) == {"create", "read", "update", "delete"}, resource_type
        assert operations["create"], f"{resource_type} has no create permissions"
