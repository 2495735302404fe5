"""The decision policy (thresholds, bands, limits) in SSM Parameter Store, changeable without a deploy."""

from __future__ import annotations

import json
from typing import Any, Final

from aws_cdk import aws_ssm as ssm
from constructs import Construct

# The first policy of a new environment. CloudFormation writes it on creation and again only when
# this default changes, so analysts' edits survive ordinary deploys.
DEFAULT_POLICY: Final[dict[str, Any]] = {"version": "1", "credit_threshold": 600, "buying_threshold": 600}


class DecisionPolicy(Construct):
    """A String parameter holding the policy as JSON."""

    def __init__(self, scope: Construct, construct_id: str, *, parameter_name: str) -> None:
        super().__init__(scope, construct_id)
        self.parameter = ssm.StringParameter(
            self,
            "Parameter",
            parameter_name=parameter_name,
            description="Credo: EMI / COD decision policy (JSON)",
            string_value=json.dumps(DEFAULT_POLICY, sort_keys=True),
            tier=ssm.ParameterTier.STANDARD,
        )
