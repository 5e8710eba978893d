"""The OpenAPI schema as the hub answers: every refusal a route can give is declared.

FastAPI declares a route's success and, when it takes parameters, a 422 whose ``detail`` is a list
of field errors. The hub's routes also refuse with 401 and 403 (the policy table), 404 (an unknown
id in the path), 422 with a sentence (a value the desk cannot use), and 400, 409, 413, 415, 429 or
503 where their docstrings say: all of them as ``{"detail": …}`` with, for some, more fields
(``Retry-After``'s figure, a codec…). A client generated from the schema, or a fuzzer checking
answers against it (``tests/fuzz``), sees each of these declared, not an undocumented status.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from hub.access.policy import POLICY, PUBLIC

ERROR_SCHEMA: dict[str, Any] = {
    "title": "Error",
    "type": "object",
    "required": ["detail"],
    "properties": {
        "detail": {
            "title": "Detail",
            "description": "What was wrong: a sentence, or one entry per field that failed validation.",
            "anyOf": [
                {"type": "string"},
                {"type": "array", "items": {"$ref": "#/components/schemas/ValidationError"}},
                {"type": "array", "items": {"type": "object"}},
                {"type": "object"},
            ],
        }
    },
    "additionalProperties": True,
}


def _error(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    }


def declare_refusals(schema: dict[str, Any]) -> dict[str, Any]:
    """``schema`` with every operation's refusals declared (changed in place, and returned)."""
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    components["Error"] = ERROR_SCHEMA
    components.setdefault(
        "ValidationError",
        {"title": "ValidationError", "type": "object", "additionalProperties": True},
    )
    for path, item in schema.get("paths", {}).items():
        for method, op in item.items():
            if not isinstance(op, dict) or "responses" not in op:
                continue
            responses = op["responses"]
            policed = POLICY.get((method.upper(), path)) != PUBLIC
            if policed:
                responses.setdefault("401", _error("No valid token (missing, expired, forged or ended)."))
                responses.setdefault("403", _error("The caller's role may not use this route."))
            if "{" in path:
                responses.setdefault("404", _error("Nothing by that id (or not visible to the caller)."))
            # A value the route cannot use: field errors (a list) or the hub's own sentence.
            responses["422"] = _error("A value the hub cannot use: which field, or why.")
            responses.setdefault("default", _error("Another refusal (400, 409, 413, 415, 429, 503…) and why."))
    return schema


def install(app: FastAPI) -> None:
    """Serve ``app``'s schema with the refusals declared (built once, on the first request)."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = declare_refusals(
                get_openapi(title=app.title, version=app.version, summary=app.summary, routes=app.routes)
            )
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
