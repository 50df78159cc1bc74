"""The console's forms: every posted field bounded, and a mistake answered with the page again.

A view binds one of these to ``request.POST``; when it is not valid the view renders the same
page with the bound form (400), so the errors stand next to the fields and nothing typed is
lost. Refusals of the action layer (a reference no case has, a case already merged) are added
to the form the same way. Desk forms (hotline, queue, field) are in ``forms_desk``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django import forms
from django.contrib.auth.models import User
from django.http import QueryDict
from django.utils.functional import lazy
from django.utils.translation import gettext_lazy as _

from safepassage.cases import services as cases
from safepassage.cases.models import (
    CallDirection,
    Caller,
    CallOutcome,
    CloseReason,
    Status,
)
from safepassage.config import APPLICANT_LANGUAGES
from safepassage.console import presenters
from safepassage.console.models import Role
from safepassage.privacy import references
from safepassage.web.forms import CleanText, clean_text

# A case's version and a user's id are database integers: a bigger number is a typo or a
# probe, answered as such before it reaches a query (SQLite cannot bind it at all).
MAX_ID = 2**31 - 1
NOTE_CHARS = 4000


# Text with control characters, lone surrogates and NULs taken out, as the chat does.
Text = CleanText


class Reference(Text):
    """A case reference as read out or typed: forgiving of case, spaces and dashes
    (privacy.references.normalise), but 16 symbols of its alphabet and nothing else."""

    default_error_messages = {
        "format": _("A reference has 16 letters and digits, like ABCD-EFGH-JKMN-PQRS."),
    }

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("max_length", 64)
        super().__init__(**kwargs)

    def validate(self, value: Any) -> None:
        super().validate(value)
        too_long = self.max_length is not None and len(value) > self.max_length  # said apart
        if value and not too_long and not references.normalise(value):
            raise forms.ValidationError(self.error_messages["format"], code="format")


class Moment(forms.DateTimeField):
    """A datetime-local field, read in the staff member's time zone (console.middleware)."""

    default_error_messages = {"invalid": _("Enter a date and time.")}


def _whole_message(low: int, high: int) -> str:
    return _("Enter a whole number from %(low)s to %(high)s.") % {"low": low, "high": high}


def whole(low: int, high: int, **kwargs: Any) -> forms.IntegerField:
    # Lazy: the fields are built at import, the message is read in each request's language.
    message = lazy(_whole_message, str)(low, high)
    return forms.IntegerField(
        min_value=low,
        max_value=high,
        error_messages={"invalid": message, "min_value": message, "max_value": message},
        **kwargs,
    )


def version_field() -> forms.IntegerField:
    """The case version the page was drawn from (optimistic locking); absent means unchecked."""
    return forms.IntegerField(
        required=False, min_value=0, max_value=MAX_ID, widget=forms.HiddenInput
    )


def choices(pairs: Any, *, required: bool = True) -> forms.ChoiceField:
    return forms.ChoiceField(
        choices=list(pairs),
        required=required,
        error_messages={
            "invalid_choice": _("Choose one of the values offered."),
            "required": _("Choose one of the values offered."),
        },
    )


class ReplyForm(forms.Form):
    canned = forms.ChoiceField(
        choices=[("", "")] + [(k, str(v)) for k, v in presenters.CANNED_REPLIES.items()],
        required=False,
        error_messages={"invalid_choice": _("Unknown vetted reply.")},
    )
    text = Text(
        max_length=cases.MAX_MESSAGE_CHARS,
        required=False,
        error_messages={"max_length": _("Write a reply of 1 to 4,000 characters.")},
    )

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if not self.errors and not data.get("canned") and not data.get("text"):
            self.add_error("text", _("Write a reply of 1 to 4,000 characters."))
        return data


class TransitionForm(forms.Form):
    target = choices([(s, label) for s, label in Status.choices if s != Status.DRAFT])
    next_check_in = forms.DateField(
        required=False, error_messages={"invalid": _("Enter a date (YYYY-MM-DD).")}
    )
    close_reason = choices([("", "—"), *CloseReason.choices], required=False)
    version = version_field()


class HeadCountForm(forms.Form):
    head_count = whole(1, 200)
    version = version_field()


class AssignForm(forms.Form):
    assignee = forms.IntegerField(
        required=False,
        min_value=1,
        max_value=MAX_ID,
        error_messages={
            "invalid": _("Choose an operator."),
            "min_value": _("Choose an operator."),
            "max_value": _("Choose an operator."),
        },
    )
    version = version_field()

    def clean_assignee(self) -> User | None:
        pk = self.cleaned_data.get("assignee")
        if pk is None:
            return None
        user = User.objects.filter(
            pk=pk, staff_profile__role__in=[Role.OPERATOR, Role.SUPERVISOR], is_active=True
        ).first()
        if user is None:
            raise forms.ValidationError(_("Choose an operator."))
        return user


class NoteForm(forms.Form):
    note = Text(max_length=NOTE_CHARS)


class MergeForm(forms.Form):
    reference = Reference()


class HandoverForm(forms.Form):
    sector = Text(max_length=40)
    window_start = Moment()
    window_end = Moment()
    meeting = Text(max_length=2000)
    version = version_field()


class CallForm(forms.Form):
    direction = choices(CallDirection.choices)
    caller = choices(Caller.choices)
    started_at = Moment()
    duration_minutes = whole(0, 600)
    language = choices(APPLICANT_LANGUAGES.items())
    outcome = choices(CallOutcome.choices)
    summary = Text(max_length=NOTE_CHARS, required=False)


class CallbackForm(forms.Form):
    window_start = Moment()
    window_end = Moment()

    def window(self) -> tuple[datetime, datetime]:
        return self.cleaned_data["window_start"], self.cleaned_data["window_end"]


# Helpers for the forms not converted yet (views_staff: staff accounts).


class Invalid(ValueError):
    """A field does not fit; ``str()`` names it in plain words."""


def text(data: QueryDict, name: str, limit: int = 4000) -> str:
    value = (clean_text(data.get(name)) or "").strip()
    if len(value) > limit:
        raise Invalid(f"'{name}' is longer than {limit} characters.")
    return value
