"""Forms of the campaigns and reports pages (see ``console.forms`` for the rules)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django import forms
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from safepassage.campaigns.models import Medium
from safepassage.config import APPLICANT_LANGUAGES
from safepassage.console.forms import Text, choices

MAX_REPORT_DAYS = 400
# Reports step day by day from the start to the end: dates at the calendar's ends would
# overflow; no count is older than 2000 or later than 2999.
FIRST_REPORT_DAY, LAST_REPORT_DAY = dt.date(2000, 1, 1), dt.date(2999, 12, 31)


class CampaignForm(forms.Form):
    name = Text(
        max_length=200,
        label=_("Name"),
        help_text=_("Internal: never printed or shown to applicants."),
    )
    medium = choices(Medium.choices)
    medium.label = _("Medium")
    languages = forms.MultipleChoiceField(
        label=_("Languages"),
        choices=list(APPLICANT_LANGUAGES.items()),
        help_text=_("The first one chosen is the chat's language for a newcomer."),
    )
    target_sector = Text(max_length=120, required=False, label=_("Target sector"))
    starts_on = forms.DateField(
        label=_("Starts on"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    ends_on = forms.DateField(
        label=_("Ends on"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    notes = Text(max_length=2000, required=False, widget=forms.Textarea, label=_("Notes"))
    codes = forms.IntegerField(min_value=1, max_value=500, initial=1, label=_("Codes to draw"))

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        starts, ends = data.get("starts_on"), data.get("ends_on")
        if starts and ends and ends < starts:
            self.add_error("ends_on", _("The end comes before the start."))
        return data


class CodesForm(forms.Form):
    count = forms.IntegerField(min_value=1, max_value=500, initial=1, label=_("How many"))
    label = Text(
        max_length=120, required=False, label=_("Label"), help_text=_("Drop zone, video or post.")
    )


class RevokeForm(forms.Form):
    confirm = forms.BooleanField(
        required=True,
        label=_("Yes, revoke: new visitors with this code start without attribution"),
    )


class LeafletForm(forms.Form):
    language = choices(APPLICANT_LANGUAGES.items())
    language.label = _("Language")
    size = choices([("A6", "A6"), ("A5", "A5")])
    size.label = _("Size")
    sides = choices([("2", _("Double-sided")), ("1", _("Single-sided"))])
    sides.label = _("Sides")
    draft = forms.BooleanField(required=False, label=_("Proof (texts not reviewed yet)"))


class ReportRange(forms.Form):
    since = forms.DateField(
        label=_("From"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    until = forms.DateField(
        label=_("To"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        today = timezone.localdate()
        for name in ("since", "until"):
            day = data.get(name)
            if day is not None and not FIRST_REPORT_DAY <= day <= LAST_REPORT_DAY:
                self.add_error(name, _("A date between 2000 and 2999."))
                return data
        until = data.get("until") or today
        since = data.get("since") or until - dt.timedelta(days=29)
        if since > until:
            self.add_error("since", _("The start comes after the end."))
        elif (until - since).days > MAX_REPORT_DAYS:
            self.add_error("since", _("At most 400 days at a time."))
        data["since"], data["until"] = since, until
        return data
