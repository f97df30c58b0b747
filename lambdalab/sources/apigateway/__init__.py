"""A local API Gateway: REST (payload 1.0) and HTTP (payload 2.0) APIs in front of local functions.

``events`` and ``responses`` are pure (request -> Lambda event, Lambda result -> HTTP response);
``routes`` picks the route, ``integration`` calls the function, ``server`` ties them to HTTP.
"""

from lambdalab.sources.apigateway.server import ApiGatewayServer

__all__ = ["ApiGatewayServer"]
