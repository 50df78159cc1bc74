"""Forms of staff administration, and the confirmation every destructive action asks for.

The rules a member must meet are said next to the field before anyone submits (``help_text``);
a mistake comes back with the page (400) and what was typed. A destructive action carries a
required confirmation box: browsers without JavaScript enforce it too (``required``), and the
form refuses a post without it (400), whatever the template shows.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.conf import settings
from django.utils.translation import gettext_lazy as _

from safepassage.console.forms import ConfirmField, Text, choices
from safepassage.console.models import Role

USERNAME_RULE = _("Letters, digits and underscores only, at most 150 characters.")


class ConfirmForm(forms.Form):
    """A destructive action with nothing else to fill in: only the confirmation."""

    confirm = ConfirmField(_("I confirm"))


class StaffForm(forms.Form):
    username = Text(
        label=_("Username"),
        max_length=150,
        help_text=USERNAME_RULE,
        error_messages={"max_length": USERNAME_RULE, "required": USERNAME_RULE},
    )
    role = choices(Role.choices)
    sector = Text(
        label=_("Sector (liaisons)"),
        max_length=40,
        required=False,
        help_text=_("Only for liaisons: the sector they receive people in."),
    )
    language = choices(settings.LANGUAGES, required=False)  # English when not given

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["role"].label = _("Role")
        self.fields["language"].label = _("Console language")
        self.fields["language"].initial = "en"

    def clean_username(self) -> str:
        value: str = (self.cleaned_data.get("username") or "").strip()
        if not value.replace("_", "").isalnum():
            raise forms.ValidationError(USERNAME_RULE)
        return value

    def clean_language(self) -> str:
        return str(self.cleaned_data.get("language") or "en")

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("role") == Role.LIAISON and not data.get("sector"):
            self.add_error("sector", _("A liaison needs the sector they receive people in."))
        return data
