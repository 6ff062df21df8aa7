"""Settings pages a person manages for themselves: API tokens."""

from datetime import UTC, datetime, time

from django import forms
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from accounts import audit
from accounts.models import APIToken
from accounts.tokens import READ, WRITE, create_token


class TokenForm(forms.Form):
    name = forms.CharField(max_length=100, strip=True)
    write = forms.BooleanField(
        required=False, label="Allow changes (write scope)",
        help_text="Without it the token can only read (GET); scripts that change things need it.",
    )
    expires = forms.DateField(
        required=False, widget=forms.DateInput(attrs={"type": "date"}),
        help_text="Optional; the token stops working at the end of this day (UTC).",
    )

    def clean_expires(self) -> datetime | None:
        day = self.cleaned_data.get("expires")
        if day is None:
            return None
        if day < timezone.now().date():
            raise forms.ValidationError("Pick today or a later day.")
        return datetime.combine(day, time.max, tzinfo=UTC)


def _own_tokens(request: HttpRequest) -> list[APIToken]:
    return list(APIToken.objects.filter(person=request.user).order_by("-created_at"))


@require_GET
def token_list(request: HttpRequest) -> HttpResponse:
    return render(request, "accounts/token_list.html",
                  {"tokens": _own_tokens(request), "form": TokenForm(), "now": timezone.now()})


@never_cache
@require_POST
def token_create(request: HttpRequest) -> HttpResponse:
    """The plaintext exists only in this response; the database keeps its hash."""
    form = TokenForm(request.POST)
    if not form.is_valid():
        return render(request, "accounts/token_list.html",
                      {"tokens": _own_tokens(request), "form": form, "now": timezone.now()})
    token, plaintext = create_token(request.user, form.cleaned_data["name"],
                                    expires_at=form.cleaned_data["expires"],
                                    scopes=[WRITE] if form.cleaned_data["write"] else [READ],
                                    created_by=request.user)
    audit.record(request, "token.create", obj=token)
    return render(request, "accounts/token_created.html",
                  {"token": token, "plaintext": plaintext})


@require_POST
def token_revoke(request: HttpRequest, pk: str) -> HttpResponse:
    token = get_object_or_404(APIToken, pk=pk, person=request.user)
    if token.revoked_at is None:
        APIToken.objects.filter(pk=token.pk).update(revoked_at=timezone.now())
        audit.record(request, "token.revoke", obj=token)
        messages.success(request, f"Token “{token.name}” revoked.")
    return redirect("accounts:token_list")
