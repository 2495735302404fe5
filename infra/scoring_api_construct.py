"""The checkout's entry point: the scoring routes on an IAM-authorised REST API, all to one Lambda."""

from __future__ import annotations

from aws_cdk import aws_apigateway as apigateway
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

# The handler's routes (credo.scoring.api; docs/openapi.json lists all but the document itself).
ROUTES: tuple[tuple[str, str], ...] = (
    ("POST", "/v1/eligibility"),
    ("GET", "/v1/customers/{customer_id}/profile"),
    ("GET", "/v1/health"),
    ("GET", "/v1/openapi.json"),
)


class ScoringApi(Construct):
    """A regional REST API in front of the scoring function, throttled at the stage."""

    ENDPOINT_TYPE = apigateway.EndpointType.REGIONAL
    AUTHORIZATION = apigateway.AuthorizationType.IAM

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        handler: lambda_.IFunction,
        stage_name: str,
        throttle_rate_limit: float,
        throttle_burst_limit: int,
    ) -> None:
        super().__init__(scope, construct_id)
        self.api = apigateway.RestApi(
            self,
            "Api",
            description="Credo: EMI / Cash-on-Delivery eligibility for the checkout",
            endpoint_types=[self.ENDPOINT_TYPE],
            # Access logging (and the account-level CloudWatch role it needs) comes with the full infra.
            cloud_watch_role=False,
            deploy_options=apigateway.StageOptions(
                stage_name=stage_name,
                throttling_rate_limit=throttle_rate_limit,
                throttling_burst_limit=throttle_burst_limit,
                tracing_enabled=True,
                metrics_enabled=True,
            ),
        )
        integration = apigateway.LambdaIntegration(handler)
        for method, path in ROUTES:
            resource = self.api.root.resource_for_path(path)
            resource.add_method(method, integration, authorization_type=self.AUTHORIZATION)
        self.eligibility = self.api.root.resource_for_path("/v1/eligibility")
