"""The scoring API's routes, on a Powertools resolver: what API Gateway sends, what the checkout gets.

`build_app(service)` wires the routes to an EligibilityService; the Lambda handler builds it once per
execution environment. The OpenAPI document is generated from these routes and their Pydantic
models (`python -m credo.scoring.api` prints it; docs/openapi.json is the committed copy and a test
fails when the two drift).

Client errors are 4xx naming what is wrong: 422 for a body or path that fails validation (the
field's location in `detail[].loc`), 400 for a body that is not JSON, 413 for an oversized body.
"""

import json
import sys
from typing import Annotated, Any, Final, Protocol

from aws_lambda_powertools.event_handler import APIGatewayRestResolver
from aws_lambda_powertools.event_handler.openapi.params import Path

from credo.models.sources import CUSTOMER_ID_PATTERN
from credo.scoring.service import EligibilityRequest, EligibilityResponse, HealthResponse

API_TITLE: Final = "Credo eligibility API"
API_VERSION: Final = "1.0.0"
OPENAPI_PATH: Final = "/v1/openapi.json"
# A cart of 100 items is about 8 KB of JSON; anything far larger is a mistake or an attack.
MAX_BODY_BYTES: Final = 32 * 1024


class Service(Protocol):
    def check(self, request: EligibilityRequest) -> EligibilityResponse: ...

    def profile(self, customer_id: str) -> EligibilityResponse: ...

    def health(self) -> HealthResponse: ...


def build_app(service: Service | None) -> APIGatewayRestResolver:
    """The resolver with every route; `service` None builds it for the OpenAPI document only."""
    app = APIGatewayRestResolver(enable_validation=True)

    @app.post("/v1/eligibility", summary="What the checkout may offer: EMI and Cash on Delivery for one cart")
    def post_eligibility(request: EligibilityRequest) -> EligibilityResponse:
        return _required(service).check(request)

    @app.get(
        "/v1/customers/<customer_id>/profile",
        summary="Both profiles without a cart (support, admin console)",
    )
    def get_profile(
        customer_id: Annotated[str, Path(min_length=1, max_length=64, pattern=CUSTOMER_ID_PATTERN)],
    ) -> EligibilityResponse:
        return _required(service).profile(customer_id)

    @app.get("/v1/health", summary="Models loaded, policy version, feature store reachable")
    def get_health() -> HealthResponse:
        return _required(service).health()

    @app.get(OPENAPI_PATH, summary="This API's OpenAPI 3 document", include_in_schema=False)
    def get_openapi() -> dict[str, Any]:
        return openapi_document(app)

    return app


def openapi_document(app: APIGatewayRestResolver) -> dict[str, Any]:
    return dict(json.loads(app.get_openapi_json_schema(title=API_TITLE, version=API_VERSION)))


def answer(app: APIGatewayRestResolver, event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Resolve one API Gateway event; an oversized or non-JSON body is refused before any parsing.

    (Powertools validates a body before any middleware runs, so these two checks come first here.)
    """
    body = event.get("body")
    if isinstance(body, str) and len(body.encode()) > MAX_BODY_BYTES:
        return _error(413, f"the request body is larger than {MAX_BODY_BYTES} bytes")
    if (
        isinstance(body, str)
        and body
        and str(event.get("httpMethod", "")).upper() in {"POST", "PUT", "PATCH"}
    ):
        try:
            json.loads(body)
        except json.JSONDecodeError as error:
            return _error(400, f"the request body is not valid JSON: {error.msg} at position {error.pos}")
    return app.resolve(event, context)


def _error(status: int, message: str) -> dict[str, Any]:
    return {
        "statusCode": status,
        "headers": {"Content-Type": "application/json"},
        "body": json.dumps({"statusCode": status, "message": message}),
        "isBase64Encoded": False,
    }


def _required(service: Service | None) -> Service:
    if service is None:
        raise RuntimeError("this app was built for its OpenAPI document only")
    return service


if __name__ == "__main__":
    json.dump(openapi_document(build_app(None)), sys.stdout, indent=2, sort_keys=True)
    sys.stdout.write("\n")
