"""Forms of the vetted replies pages (supervisors) and of a member's languages (admins)."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from safepassage.config import APPLICANT_LANGUAGES
from safepassage.console.forms import MAX_ID, Text, choices, whole
from safepassage.replies.models import Audience
from safepassage.replies.services import CONSOLE_LANGUAGES, MAX_CHARS, ReplyData

TEXT_FIELDS = {lang: f"text_{lang}" for lang in APPLICANT_LANGUAGES}
TITLE_FIELDS = {lang: f"title_{lang}" for lang in CONSOLE_LANGUAGES}


class VettedReplyForm(forms.Form):
    key = forms.SlugField(
        max_length=40,
        error_messages={"invalid": _("A name of lower-case letters, digits and dashes.")},
    )
    audience = choices(Audience.choices)
    title_en = Text(max_length=120)
    title_uk = Text(max_length=120, required=False)
    title_ru = Text(max_length=120, required=False)
    position = whole(0, 10000)
    active = forms.BooleanField(required=False)
    text_ru = Text(max_length=MAX_CHARS, required=False)
    text_ko = Text(max_length=MAX_CHARS, required=False)
    text_uk = Text(max_length=MAX_CHARS, required=False)
    text_en = Text(max_length=MAX_CHARS, required=False)

    def reply_data(self) -> ReplyData:
        data = self.cleaned_data
        return ReplyData(
            key=data["key"],
            audience=data["audience"],
            titles={lang: data[name] for lang, name in TITLE_FIELDS.items()},
            position=data["position"],
            active=data["active"],
            texts={lang: data[name] or "" for lang, name in TEXT_FIELDS.items()},
        )


class ReviewForm(forms.Form):
    text = forms.IntegerField(min_value=1, max_value=MAX_ID)
    version = forms.IntegerField(min_value=0, max_value=MAX_ID)


class ReadsForm(forms.Form):
    reads = forms.MultipleChoiceField(
        choices=list(APPLICANT_LANGUAGES.items()),
        required=False,
        error_messages={"invalid_choice": _("Choose one of the values offered.")},
    )
