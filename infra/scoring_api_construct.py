"""The checkout's entry point: the scoring routes on an IAM-authorised REST API, all to one Lambda.

In front of the handler: API Gateway's own request validation (coarse; the handler's Pydantic models
stay authoritative), stage throttling, access and error logs without request data, and a WAF.
"""

from __future__ import annotations

import json
import math

from aws_cdk import Acknowledgment, Validations
from aws_cdk import aws_apigateway as apigateway
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_wafv2 as wafv2
from constructs import Construct

# The handler's routes (credo.scoring.api; docs/openapi.json lists all but the document itself).
ROUTES: tuple[tuple[str, str], ...] = (
    ("POST", "/v1/eligibility"),
    ("GET", "/v1/customers/{customer_id}/profile"),
    ("GET", "/v1/health"),
    ("GET", "/v1/openapi.json"),
)
ELIGIBILITY_PATH = "/v1/eligibility"
PROFILE_PATH = "/v1/customers/{customer_id}/profile"

# Only the shape a body must have to be worth a Lambda invocation: the fields credo's
# EligibilityRequest requires, with their JSON types; without them API Gateway answers 400 itself.
# Every finer rule (patterns, ranges, unknown fields) stays the handler's, which answers 422 naming
# the field, so the gateway never refuses a body the handler would accept.
# $context.error.validationErrorString names the failing property, e.g. missing required ["cart"].
VALIDATION_ERROR_TEMPLATE = (
    '{"statusCode": 400, "message": "request validation failed: $context.error.validationErrorString"}'
)
ELIGIBILITY_BODY_SCHEMA = apigateway.JsonSchema(
    schema=apigateway.JsonSchemaVersion.DRAFT4,
    type=apigateway.JsonSchemaType.OBJECT,
    required=["customer_id", "cart"],
    properties={
        "customer_id": apigateway.JsonSchema(type=apigateway.JsonSchemaType.STRING),
        "cart": apigateway.JsonSchema(type=apigateway.JsonSchemaType.OBJECT),
    },
)


def _access_log_format() -> apigateway.AccessLogFormat:
    """One JSON line per request, without anything that could identify a customer.

    `resourcePath` is the route template (`/v1/customers/{customer_id}/profile`), never `path`, which
    would carry the raw customer id. The caller is the checkout's IAM principal, not a person.
    """
    field = apigateway.AccessLogField
    line = {
        "requestId": field.context_request_id(),
        "requestTime": field.context_request_time(),
        "httpMethod": field.context_http_method(),
        "resourcePath": field.context_resource_path(),
        "status": field.context_status(),
        "responseLength": field.context_response_length(),
        "responseLatency": field.context_response_latency(),
        "integrationLatency": field.context_integration_latency(),
        "caller": field.context_identity_user_arn(),
        "wafStatus": field.context_waf_status(),
        "errorType": field.context_error_response_type(),
    }
    return apigateway.AccessLogFormat.custom(json.dumps(line, separators=(",", ":")))


class ScoringApi(Construct):
    """A regional REST API in front of the scoring function, validated, throttled, logged, firewalled."""

    ENDPOINT_TYPE = apigateway.EndpointType.REGIONAL
    AUTHORIZATION = apigateway.AuthorizationType.IAM
    # ERROR logs why API Gateway refused or failed a request; INFO would add every request.
    EXECUTION_LOGGING_LEVEL = apigateway.MethodLoggingLevel.ERROR

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        handler: lambda_.IFunction,
        stage_name: str,
        throttle_rate_limit: float,
        throttle_burst_limit: int,
        log_retention: logs.RetentionDays,
    ) -> None:
        super().__init__(scope, construct_id)
        self.access_logs = logs.LogGroup(self, "AccessLogs", retention=log_retention)
        self.api = apigateway.RestApi(
            self,
            "Api",
            description="Credo: EMI / Cash-on-Delivery eligibility for the checkout",
            endpoint_types=[self.ENDPOINT_TYPE],
            # API Gateway writes execution and access logs through one role per account and region
            # (AWS::ApiGateway::Account); without it the stage's logging cannot be deployed. CDK keeps
            # the role when the stack is deleted, since other APIs of the account may rely on it.
            cloud_watch_role=True,
            deploy_options=apigateway.StageOptions(
                stage_name=stage_name,
                throttling_rate_limit=throttle_rate_limit,
                throttling_burst_limit=throttle_burst_limit,
                tracing_enabled=True,
                metrics_enabled=True,
                logging_level=self.EXECUTION_LOGGING_LEVEL,
                # Full request and response bodies in the logs would be customer ids and carts.
                data_trace_enabled=False,
                access_log_destination=apigateway.LogGroupLogDestination(self.access_logs),
                access_log_format=_access_log_format(),
            ),
        )
        Validations.of(self.api).acknowledge(
            Acknowledgment(
                id="AwsSolutions::AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/"
                "service-role/AmazonAPIGatewayPushToCloudWatchLogs]",
                reason="The account-level role API Gateway logs through: AWS's policy for exactly this "
                "service role, kept current by AWS; API Gateway needs it for every API's log groups.",
            ),
            Acknowledgment(
                id="AwsSolutions::AwsSolutions-COG4",
                reason="Callers are services (the checkout), not people: every method requires "
                "IAM SigV4 authorisation, so there is no user pool to authorise against.",
            ),
        )
        self.request_validator = self.api.add_request_validator(
            "BodyAndParameters", validate_request_body=True, validate_request_parameters=True
        )
        eligibility_model = self.api.add_model(
            "EligibilityRequest",
            content_type="application/json",
            description="The required top-level fields of credo's EligibilityRequest",
            schema=ELIGIBILITY_BODY_SCHEMA,
        )
        # API Gateway's own validation answers before the Lambda; its default message names nothing, so
        # its 400s say which field is wrong, in the handler's error shape.
        for response_id, response_type in (
            ("BadRequestBody", apigateway.ResponseType.BAD_REQUEST_BODY),
            ("BadRequestParameters", apigateway.ResponseType.BAD_REQUEST_PARAMETERS),
        ):
            self.api.add_gateway_response(
                response_id,
                type=response_type,
                status_code="400",
                templates={"application/json": VALIDATION_ERROR_TEMPLATE},
            )
        integration = apigateway.LambdaIntegration(handler)
        for method, path in ROUTES:
            resource = self.api.root.resource_for_path(path)
            resource.add_method(
                method,
                integration,
                authorization_type=self.AUTHORIZATION,
                request_validator=self.request_validator,
                request_models={"application/json": eligibility_model} if path == ELIGIBILITY_PATH else None,
                request_parameters={"method.request.path.customer_id": True}
                if path == PROFILE_PATH
                else None,
            )
        self.eligibility = self.api.root.resource_for_path(ELIGIBILITY_PATH)
        self.firewall = ApiFirewall(
            self,
            "Firewall",
            stage_arn=self.api.deployment_stage.stage_arn,
            per_ip_rate_limit=ApiFirewall.per_ip_limit_for(throttle_rate_limit),
        )


class ApiFirewall(Construct):
    """A regional WAFv2 web ACL on the API stage: AWS's common rule set and a per-IP rate limit."""

    SCOPE = "REGIONAL"
    COMMON_RULE_SET = "AWSManagedRulesCommonRuleSet"
    RATE_WINDOW_SECONDS = 300
    # One address may send twice what the whole stage admits in a window before WAF blocks it: the
    # checkout calls from a few NAT addresses and must never be blocked while the stage serves it.
    RATE_HEADROOM = 2

    @classmethod
    def per_ip_limit_for(cls, stage_rate_limit: float) -> int:
        return math.ceil(stage_rate_limit * cls.RATE_WINDOW_SECONDS * cls.RATE_HEADROOM)

    def __init__(
        self, scope: Construct, construct_id: str, *, stage_arn: str, per_ip_rate_limit: int
    ) -> None:
        super().__init__(scope, construct_id)
        self.web_acl = wafv2.CfnWebACL(
            self,
            "WebAcl",
            scope=self.SCOPE,
            default_action=wafv2.CfnWebACL.DefaultActionProperty(allow={}),
            description="Credo scoring API: AWS common rules and a per-IP rate limit",
            visibility_config=self._visibility("credo-api"),
            rules=[
                wafv2.CfnWebACL.RuleProperty(
                    name="aws-common-rules",
                    priority=0,
                    override_action=wafv2.CfnWebACL.OverrideActionProperty(none={}),
                    statement=wafv2.CfnWebACL.StatementProperty(
                        managed_rule_group_statement=wafv2.CfnWebACL.ManagedRuleGroupStatementProperty(
                            vendor_name="AWS", name=self.COMMON_RULE_SET
                        )
                    ),
                    visibility_config=self._visibility("credo-api-common-rules"),
                ),
                wafv2.CfnWebACL.RuleProperty(
                    name="per-ip-rate-limit",
                    priority=1,
                    action=wafv2.CfnWebACL.RuleActionProperty(block={}),
                    statement=wafv2.CfnWebACL.StatementProperty(
                        rate_based_statement=wafv2.CfnWebACL.RateBasedStatementProperty(
                            aggregate_key_type="IP",
                            limit=per_ip_rate_limit,
                            evaluation_window_sec=self.RATE_WINDOW_SECONDS,
                        )
                    ),
                    visibility_config=self._visibility("credo-api-rate-limit"),
                ),
            ],
        )
        self.association = wafv2.CfnWebACLAssociation(
            self, "Association", resource_arn=stage_arn, web_acl_arn=self.web_acl.attr_arn
        )

    @staticmethod
    def _visibility(metric_name: str) -> wafv2.CfnWebACL.VisibilityConfigProperty:
        # Metrics only: sampled requests would keep request paths, and the profile route's path
        # holds a raw customer id.
        return wafv2.CfnWebACL.VisibilityConfigProperty(
            cloud_watch_metrics_enabled=True, metric_name=metric_name, sampled_requests_enabled=False
        )
