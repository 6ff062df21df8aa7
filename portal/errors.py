"""Typed failures a person can act on; one handler per surface turns them into responses."""


class FlightdeckError(Exception):
    """A failure the user can act on; its message is shown to them verbatim."""


class ExpressionError(FlightdeckError):
    """A CEL expression failed to compile, exceeded a limit, or failed at evaluation."""


class TemplateError(FlightdeckError):
    """A user template failed to render or exceeded a limit."""


class ScrapeError(FlightdeckError):
    """A scraper could not read its source; the run records it and carries on."""
