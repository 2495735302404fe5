"""The checkout's entry point: POST /v1/eligibility on an IAM-authorised REST API."""

from __future__ import annotations

from aws_cdk import aws_apigateway as apigateway
from aws_cdk import aws_lambda as lambda_
from constructs import Construct


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
        self.eligibility = self.api.root.add_resource("v1").add_resource("eligibility")
        self.eligibility.add_method(
            "POST",
            apigateway.LambdaIntegration(handler),
            authorization_type=self.AUTHORIZATION,
        )
