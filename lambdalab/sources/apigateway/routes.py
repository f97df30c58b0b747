"""Which route of a stage answers a request, with werkzeug's rule matcher doing the path work.

The two API kinds choose differently, as on AWS:

* REST APIs resolve the *resource* first (the most specific path), then the method on it; a method
  the resource lacks is a miss, answered 403 Missing Authentication Token [GWR].
* HTTP APIs pick the best (path, method) pair: an exact method beats ``ANY`` on the same path, a
  full match beats a greedy ``{proxy+}`` one, and ``$default`` catches whatever is left
  (AG http-api-develop-routes.html).

Path parameters come back URL-decoded, as API Gateway passes them.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass

from werkzeug.exceptions import HTTPException
from werkzeug.routing import Map, MapAdapter, Rule

from lambdalab.template.model import ApiConfig, Route

ANY = "ANY"
DEFAULT_ROUTE = "$default"
DEFAULT_STAGE = "$default"


@dataclass(frozen=True)
class RouteMatch:
    """A request resolved to a route: the stage-relative path and the path parameters."""

    route: Route
    path: str  # after the stage prefix, e.g. "/orders/7"
    path_parameters: dict[str, str]

    @property
    def route_key(self) -> str:
        """HTTP API's name for the route: ``GET /orders/{id}`` or ``$default``."""
        if self.route.path == DEFAULT_ROUTE:
            return DEFAULT_ROUTE
        return f"{self.route.method} {self.route.path}"


def stage_path(api: ApiConfig, path: str) -> str | None:
    """The path inside the API's stage, or None when the request names another stage.

    REST stages always sit in the path (``/Prod/...``); an HTTP API's ``$default`` stage does not.
    """
    if api.kind == "HTTP" and api.stage == DEFAULT_STAGE:
        return path
    prefix = f"/{api.stage}"
    if path == prefix:
        return "/"
    if path.startswith(prefix + "/"):
        return path[len(prefix):]
    return None


_VARIABLE = re.compile(r"\{([^{}]+?)(\+?)\}")  # {id}, or {proxy+} (greedy)


def _rule(route_path: str, endpoint: int) -> tuple[Rule, dict[str, str]]:
    """A werkzeug rule for an API Gateway path; returns it with werkzeug-name -> AWS-name."""
    names: dict[str, str] = {}

    def convert(found: re.Match[str]) -> str:
        safe = f"p{len(names)}"
        names[safe] = found.group(1)
        return f"<path:{safe}>" if found.group(2) else f"<{safe}>"

    return Rule(_VARIABLE.sub(convert, route_path), endpoint=endpoint), names


class _PathTable:
    """Route paths matched by werkzeug; the first rule added wins a tie on the same path."""

    def __init__(self, paths: list[str]):
        self.paths = paths
        rules, self._names = [], []
        for index, path in enumerate(paths):
            rule, names = _rule(path, index)
            rules.append(rule)
            self._names.append(names)
        self._adapter: MapAdapter = Map(rules, strict_slashes=False, merge_slashes=False).bind("apigateway")

    def match(self, path: str) -> tuple[int, dict[str, str]] | None:
        try:
            index, values = self._adapter.match(path)
        except HTTPException:
            return None
        names = self._names[index]
        return index, {names[k]: v for k, v in values.items()}


class Router:
    """Resolves (method, path) to a RouteMatch for one API stage, or None (no route)."""

    def __init__(self, api: ApiConfig):
        self.api = api
        self._default = next((r for r in api.routes if r.path == DEFAULT_ROUTE), None)
        routes = [r for r in api.routes if r.path != DEFAULT_ROUTE]
        self._by_path: dict[str, dict[str, Route]] = defaultdict(dict)
        for route in routes:
            self._by_path[route.path][route.method] = route
        self._resources = _PathTable(list(self._by_path))
        self._per_method: dict[str, _PathTable] = {}

    def match(self, method: str, path: str) -> RouteMatch | None:
        inner = stage_path(self.api, path)
        if inner is None:
            return None
        if self.api.kind == "REST":
            return self._match_resource_first(method, inner)
        return self._match_route(method, inner)

    def _match_resource_first(self, method: str, path: str) -> RouteMatch | None:
        found = self._resources.match(path)
        if found is None:
            return None
        index, params = found
        methods = self._by_path[self._resources.paths[index]]
        route = methods.get(method) or methods.get(ANY)
        return RouteMatch(route, path, params) if route else None

    def _match_route(self, method: str, path: str) -> RouteMatch | None:
        table = self._per_method.get(method)
        if table is None:
            # Exact methods first, so that on one path they win over ANY.
            paths = [p for p, methods in self._by_path.items() if method in methods]
            paths += [p for p, methods in self._by_path.items() if method not in methods and ANY in methods]
            table = self._per_method.setdefault(method, _PathTable(paths))
        found = table.match(path)
        if found is not None:
            index, params = found
            methods = self._by_path[table.paths[index]]
            return RouteMatch(methods.get(method) or methods[ANY], path, params)
        if self._default is not None:
            return RouteMatch(self._default, path, {})
        return None
