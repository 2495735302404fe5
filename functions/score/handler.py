"""POST /v1/eligibility: what the checkout may offer this customer (EMI, Cash on Delivery).

Thin: Powertools parses and validates the body (invalid input → 422 naming the field), one call to
credo.scoring.service answers, Powertools serialises the answer. The service is built and warmed
once per execution environment, in the init phase.
"""

from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from credo.observability import logger, metrics, tracer
from credo.scoring.service import EligibilityRequest, EligibilityResponse, build_eligibility_service
from credo.settings import CredoSettings

app = APIGatewayRestResolver(enable_validation=True)
service = build_eligibility_service(CredoSettings())
service.warm_up()


@app.post("/v1/eligibility")
def post_eligibility(request: EligibilityRequest) -> EligibilityResponse:
    response = service.check(request)
    metrics.add_metric(name="EligibilityDecisions", unit=MetricUnit.Count, value=1)
    metrics.add_metric(name="DegradedDecisions", unit=MetricUnit.Count, value=int(response.degraded))
    metrics.add_metric(name="NewCustomerDecisions", unit=MetricUnit.Count, value=int(response.new_customer))
    return response


# log_event stays off: the event carries the raw customer id.
@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST, log_event=False)
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
