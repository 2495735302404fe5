"""cdk-nag acknowledgements of IAM5 wildcard findings whose ids name a resource of another stack.

cdk-nag names a wildcard resource in a finding's id after the template's own reference to it:
`<LogicalId.Arn>` in the stack that owns the resource, the resolved cross-stack reference
(`{"Fn::GetStackOutput": …}` or an import) in a stack that uses it. Those ids are only known once CDK
has resolved the references, which it does before it validates the construct tree; so the
acknowledgements are made then.
"""

from __future__ import annotations

import json
from typing import Any, Final

import jsii
from aws_cdk import Acknowledgment, Stack, Validations
from constructs import Construct, IConstruct, IValidation

IAM5: Final = "AwsSolutions::AwsSolutions-IAM5"


@jsii.implements(IValidation)
class WildcardAcknowledgments:
    """Collects IAM5 acknowledgements for `scope`'s subtree and makes them when CDK validates it."""

    def __init__(self, scope: Construct) -> None:
        self._scope = scope
        self._pending: list[tuple[IConstruct, str, str]] = []
        scope.node.add_validation(self)

    def add(self, target: IConstruct, resource: str, reason: str) -> None:
        """Acknowledge `resource` (a literal or a token, e.g. `bucket.arn_for_objects("raw/*")`) among
        `target`'s IAM5 findings, with `reason`."""
        self._pending.append((target, resource, reason))

    def validate(self) -> list[str]:
        stack = Stack.of(self._scope)
        for target, resource, reason in self._pending:
            name = nag_resource_name(stack.resolve(resource))
            Validations.of(target).acknowledge(Acknowledgment(id=f"{IAM5}[Resource::{name}]", reason=reason))
        return []


def nag_resource_name(reference: Any) -> str:
    """A resolved resource as cdk-nag flattens it into a finding's id (cdk-nag's flattenCfnReference)."""
    if isinstance(reference, str):
        return reference.replace("${", "<").replace("}", ">")
    if isinstance(reference, dict) and len(reference) == 1:
        [(function, argument)] = reference.items()
        if function == "Fn::Join":
            delimiter, items = argument
            return str(delimiter).join(nag_resource_name(item) for item in items)
        if function == "Fn::Sub":
            return nag_resource_name(argument)
        if function == "Fn::GetAtt":
            resource, attribute = argument
            return f"<{nag_resource_name(resource)}.{nag_resource_name(attribute)}>"
        if function == "Fn::ImportValue":
            return nag_resource_name(argument)
        if function == "Ref":
            return f"<{nag_resource_name(argument)}>"
    # Anything else (Fn::GetStackOutput, a weak cross-stack reference, among them) appears as its JSON.
    return json.dumps(reference, separators=(",", ":"))
