"""Forms of the hotline desk, the queue and the field (see ``console.forms`` for the rules)."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from safepassage.cases.models import HandoverOutcome
from safepassage.config import APPLICANT_LANGUAGES
from safepassage.console.forms import ConfirmField, Reference, Text, choices

READINESS = [
    ("now", _("Ready now")),
    ("days", _("Within days")),
    ("later", _("Later")),
    ("unknown", _("Unknown")),
]


class IdentifyForm(forms.Form):
    """A caller reads out the reference and passphrase given at application."""

    reference = Reference()
    # A passphrase has the reference's alphabet and length (privacy.references).
    passphrase = Reference(
        error_messages={
            "format": _("A passphrase has 16 letters and digits, like ABCD-EFGH-JKMN-PQRS.")
        }
    )


class NewCaseForm(forms.Form):
    language = choices(APPLICANT_LANGUAGES.items())
    readiness = choices(READINESS)
    # A caller who says which leaflet or video he saw: the code it carries (optional).
    campaign_code = Text(max_length=64, required=False)

    def clean_campaign_code(self) -> str:
        from safepassage.campaigns import services as campaigns

        code = (self.cleaned_data.get("campaign_code") or "").strip()
        if code and campaigns.find_active(code) is None:
            raise forms.ValidationError(_("No live campaign code is called that."))
        return code


class FindForm(forms.Form):
    """The queue's search: forgiving (a wrong reference finds nothing), only bounded."""

    ref = Text(max_length=64, required=False)


class OutcomeForm(forms.Form):
    outcome = choices(HandoverOutcome.choices)
    confirm = ConfirmField()  # an outcome is final: the handover ends with it
