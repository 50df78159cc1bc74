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
from django.utils.functional import lazy
from django.utils.translation import gettext_lazy as _

from safepassage.cases import casework
from safepassage.cases import services as cases
from safepassage.cases.models import (
    CallDirection,
    Caller,
    CallOutcome,
    CloseReason,
    ReachBy,
    Status,
)
from safepassage.config import APPLICANT_LANGUAGES
from safepassage.console.models import Role
from safepassage.privacy import references
from safepassage.web.forms import CleanText

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


class ConfirmField(forms.BooleanField):
    """A box the member must tick before a destructive action; its label says what it does.
    A post without it is refused by the form (400, the input kept), whatever the page showed;
    the page marks it ``required`` too, so a browser without JavaScript asks first."""

    def __init__(self, label: Any = "", *, required: bool = True, **kwargs: Any) -> None:
        kwargs.setdefault("error_messages", {"required": CONFIRM_MISSING})
        super().__init__(label=label, required=required, **kwargs)


CONFIRM_MISSING = _("Tick the box to confirm: this cannot be undone from here.")


class ReplyForm(forms.Form):
    # A vetted reply's id (replies.VettedReply); whether it may be sent is the action's rule.
    vetted = forms.IntegerField(
        required=False,
        min_value=1,
        max_value=MAX_ID,
        error_messages={
            "invalid": _("Unknown vetted reply."),
            "min_value": _("Unknown vetted reply."),
            "max_value": _("Unknown vetted reply."),
        },
    )
    text = Text(
        max_length=cases.MAX_MESSAGE_CHARS,
        required=False,
        error_messages={"max_length": _("Write a reply of 1 to 4,000 characters.")},
    )
    # Replying assigns the case only when this is ticked ("take this case"), never silently.
    take = forms.BooleanField(required=False)

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if not self.errors and not data.get("vetted") and not data.get("text"):
            self.add_error("text", _("Write a reply of 1 to 4,000 characters."))
        return data


class NeedsReaderForm(forms.Form):
    """Mark a case as needing a reader of an applicant language ("" clears the mark)."""

    language = choices([("", "—"), *APPLICANT_LANGUAGES.items()], required=False)
    version = version_field()


class TransitionForm(forms.Form):
    target = choices([(s, label) for s, label in Status.choices if s != Status.DRAFT])
    next_check_in = forms.DateField(
        required=False, error_messages={"invalid": _("Enter a date (YYYY-MM-DD).")}
    )
    close_reason = choices([("", "—"), *CloseReason.choices], required=False)
    confirm_close = ConfirmField(required=False)  # only closing asks for it (clean)
    version = version_field()

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("target") == Status.CLOSED and not data.get("confirm_close"):
            self.add_error("confirm_close", CONFIRM_MISSING)
        return data


class HeadCountForm(forms.Form):
    head_count = whole(1, 200)
    version = version_field()


class FakeMarkForm(forms.Form):
    """An operator's verdict on a suspected fake or provocation (cases.suspicion.do_mark)."""

    mark = choices(
        [("fake", _("Fake")), ("genuine", _("Genuine")), ("", _("Not marked"))], required=False
    )
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
    confirm = ConfirmField()
    version = version_field()


REACH_CHARS = casework.MAX_REACH_CHARS
REQUIRED_FOR_CALLBACK = _("Needed for a callback.")
NUMBER_NEEDED = _("Write down the number he gave.")


def reach_choice(*, required: bool) -> forms.ChoiceField:
    return choices(ReachBy.choices, required=required)


def _check_reach(form: forms.Form, data: dict[str, Any], *names: str) -> None:
    """A callback needs its window and how to reach him; a number when he asked for a call."""
    for name in names:
        if not data.get(name) and name not in form.errors:
            form.add_error(name, REQUIRED_FOR_CALLBACK)
    phone = data.get("reach_by") == ReachBy.PHONE
    if phone and not (data.get("reach") or "").strip() and "reach" not in form.errors:
        form.add_error("reach", NUMBER_NEEDED)


class CallForm(forms.Form):
    """A call; with the outcome "callback requested", the callback in the same form: its
    window and how to reach the person (sealed to the case like a note)."""

    direction = choices(CallDirection.choices)
    caller = choices(Caller.choices)
    started_at = Moment()
    duration_minutes = whole(0, 600)
    language = choices(APPLICANT_LANGUAGES.items())
    outcome = choices(CallOutcome.choices)
    summary = Text(max_length=NOTE_CHARS, required=False)
    callback_start = Moment(required=False)
    callback_end = Moment(required=False)
    reach_by = reach_choice(required=False)
    reach = Text(max_length=REACH_CHARS, required=False)

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("outcome") == CallOutcome.CALLBACK:
            _check_reach(self, data, "callback_start", "callback_end", "reach_by")
        return data

    def callback(self) -> casework.CallbackRequest | None:
        data = self.cleaned_data
        if data["outcome"] != CallOutcome.CALLBACK:
            return None
        return casework.CallbackRequest(
            data["callback_start"],
            data["callback_end"],
            data["reach_by"],
            data["reach"] or "",
            data["language"],
        )


class CallbackForm(forms.Form):
    window_start = Moment()
    window_end = Moment()
    reach_by = reach_choice(required=True)
    reach = Text(max_length=REACH_CHARS, required=False)

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        _check_reach(self, data)
        return data

    def window(self) -> tuple[datetime, datetime]:
        return self.cleaned_data["window_start"], self.cleaned_data["window_end"]

    def request(self, language: str) -> casework.CallbackRequest:
        data = self.cleaned_data
        return casework.CallbackRequest(
            data["window_start"],
            data["window_end"],
            data["reach_by"],
            data["reach"] or "",
            language,
        )


class TakeForm(forms.Form):
    """ "Take" (assign to me) posts nothing but its CSRF token."""
