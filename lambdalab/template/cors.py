"""API Gateway's CORS settings, as the SAM transform writes them into an API's OpenAPI body.

* An HTTP API's ``CorsConfiguration`` becomes ``x-amazon-apigateway-cors``: API Gateway then answers
  preflight requests itself and adds the CORS headers to the integration's responses
  (AG http-api-cors.html).
* A REST API's ``Cors`` becomes an ``OPTIONS`` operation with a mock integration whose response
  parameters are the CORS headers: the only mock integration the local gateway runs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from lambdalab.errors import ConfigurationError

CORS_KEY = "x-amazon-apigateway-cors"
HEADER_PARAMETER = "method.response.header."
CORS_FIELDS = {"allowOrigins", "allowMethods", "allowHeaders", "exposeHeaders", "maxAge", "allowCredentials"}


@dataclass(frozen=True)
class Cors:
    """An HTTP API's CORS configuration (names as in ``x-amazon-apigateway-cors``)."""

    allow_origins: tuple[str, ...] = ()
    allow_methods: tuple[str, ...] = ()
    allow_headers: tuple[str, ...] = ()
    expose_headers: tuple[str, ...] = ()
    max_age: int | None = None
    allow_credentials: bool = False


def _texts(value: Any) -> tuple[str, ...]:
    return tuple(str(v) for v in value) if isinstance(value, list) else ((str(value),) if value else ())


def cors_of(lid: str, where: str, body: dict[str, Any]) -> Cors | None:
    config = body.get(CORS_KEY)
    if config is None:
        return None
    if not isinstance(config, dict):
        raise ConfigurationError("CORS configuration must be a mapping", lid, where)
    unknown = sorted(set(config) - CORS_FIELDS)
    if unknown:
        raise ConfigurationError("CORS setting not supported locally", lid, f"{where}.{unknown[0]}")
    max_age = config.get("maxAge")
    return Cors(
        allow_origins=_texts(config.get("allowOrigins")),
        allow_methods=tuple(m.upper() for m in _texts(config.get("allowMethods"))),
        allow_headers=_texts(config.get("allowHeaders")),
        expose_headers=_texts(config.get("exposeHeaders")),
        max_age=int(max_age) if max_age is not None else None,
        allow_credentials=str(config.get("allowCredentials", False)).lower() == "true",
    )


def mock_answer(lid: str, where: str, integration: dict[str, Any]) -> tuple[int, tuple[tuple[str, str], ...]]:
    """The status and headers a mock integration answers with; only header parameters given as
    literals (``"'*'"``), the form SAM writes for CORS, are supported."""
    response = (integration.get("responses") or {}).get("default") or {}
    headers = []
    for name, value in (response.get("responseParameters") or {}).items():
        text = str(value)
        if not (name.startswith(HEADER_PARAMETER) and len(text) >= 2 and text[0] == text[-1] == "'"):
            raise ConfigurationError("only mock integrations answering literal headers (CORS preflights) are "
                                     "supported locally", lid, f"{where}.responses")
        headers.append((name[len(HEADER_PARAMETER):], text[1:-1]))
    return int(response.get("statusCode", 200)), tuple(headers)
