"""One URL serves a page and its fragment: decide which, in one place."""

from django.http import HttpRequest, HttpResponse


def is_partial(request: HttpRequest) -> bool:
    """Boosted links still get the whole page."""
    htmx = getattr(request, "htmx", None)
    return bool(htmx) and not htmx.boosted


def htmx_redirect(request: HttpRequest, url: str) -> HttpResponse:
    from django.shortcuts import redirect

    if getattr(request, "htmx", None):
        response = HttpResponse(status=204)
        response["HX-Redirect"] = url
        return response
    return redirect(url)
