"""The scoring API: eligibility, profile, health and the OpenAPI document (routes in credo.scoring.api).

Thin: credo.scoring.api holds the routes (Powertools validates bodies and paths: 4xx naming the
field), credo.scoring.service answers. The service is built and warmed once per execution
environment, in the init phase.
"""

from typing import Any

from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from credo.observability import ENVIRONMENT_DIMENSION, logger, metrics, tracer
from credo.scoring.api import answer, build_app
from credo.scoring.service import build_eligibility_service
from credo.settings import CredoSettings

settings = CredoSettings()
metrics.set_default_dimensions(**{ENVIRONMENT_DIMENSION: settings.environment})
service = build_eligibility_service(settings)
service.warm_up()


app = build_app(service)


# log_event stays off: the event carries the raw customer id.
@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST, log_event=False)
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return answer(app, event, context)
