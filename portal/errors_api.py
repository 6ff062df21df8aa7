"""DRF errors as application/problem+json (RFC 9457) with field errors."""

from typing import Any

from rest_framework import exceptions
from rest_framework.response import Response
from rest_framework.views import exception_handler

from portal.errors import FlightdeckError


def problem_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """Clients get one error shape everywhere, naming what was wrong and where."""
    if isinstance(exc, FlightdeckError):
        exc = exceptions.ValidationError({"detail": str(exc)})
    response = exception_handler(exc, context)
    if response is None:
        return None
    data = response.data
    body: dict[str, Any] = {
        "type": "about:blank",
        "title": _title(response.status_code),
        "status": response.status_code,
    }
    if isinstance(data, dict) and set(data) == {"detail"}:
        body["detail"] = str(data["detail"])
    elif isinstance(data, dict):
        body["detail"] = "Invalid input."
        body["errors"] = data
    else:
        body["detail"] = "Invalid input."
        body["errors"] = {"non_field_errors": data}
    response.data = body
    response.content_type = "application/problem+json"
    return response


def _title(code: int) -> str:
    from http import HTTPStatus

    try:
        return HTTPStatus(code).phrase
    except ValueError:
        return "Error"
