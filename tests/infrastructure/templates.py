"""What the infrastructure tests share: how apps are built for templates, and how templates are read."""

import json
from typing import Any, Final

from aws_cdk.assertions import Template
from cfnlint.api import ManualArgs, lint

# Template tests need no staged copy of the 100 MB runtime layer; the asset path stays the source.
NO_ASSET_STAGING: Final = {"aws:cdk:disable-asset-staging": True}


def only(template: Template, resource_type: str) -> tuple[str, Any]:
    """The one resource of a type, with its logical id; fails naming what it found otherwise."""
    resources = template.find_resources(resource_type)
    assert len(resources) == 1, f"expected one {resource_type}, found {sorted(resources)}"
    return next(iter(resources.items()))


def cfn_lint_errors(template: Template, region: str) -> list[str]:
    """cfn-lint's errors (E rules) on the template, one readable line each."""
    matches = lint(json.dumps(template.to_json()), config=ManualArgs(regions=[region]))
    return [f"{m.rule.id} {m.message} ({'/'.join(map(str, m.path))})" for m in matches if m.rule.id[0] == "E"]
