"""Vetted replies: editing, reviewing, sending, and loading the starter set.

The rules live here, not in which buttons the console shows:

- a text is sent only while it is reviewed (:func:`do_send` refuses an unreviewed one);
- a text is reviewed only by a supervisor who reads its language, for the version they read
  (:func:`do_review`); every review is in the audit log;
- editing a text clears its review (:func:`do_save`).

Who is a supervisor and which languages a member reads are the console's data
(console.StaffProfile); the console passes them in, as it does for the case workflow.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from django.contrib.auth.models import User
from django.db import transaction
from django.db.models import Prefetch
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy as _lazy

from safepassage.cases import services as cases
from safepassage.cases.models import Case, Message
from safepassage.cases.workflow import Refused
from safepassage.config import APPLICANT_LANGUAGES
from safepassage.privacy import audit, staff_fields
from safepassage.privacy.keyring import Keyring
from safepassage.replies.models import Audience, SentReply, VettedReply, VettedText

STARTER_FILE = Path(__file__).with_name("starter.yaml")
CONSOLE_LANGUAGES = ("en", "uk", "ru")
MAX_CHARS = cases.MAX_MESSAGE_CHARS
SENT_FIELD = "vetted"

__all__ = ["Refused"]

NO_TEXT = _lazy("No such text.")


def applicant_language(case: Case) -> str:
    return case.language if case.language in APPLICANT_LANGUAGES else "en"


# Editing -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReplyData:
    """What a supervisor's form sets on a reply: titles per console language, the audience,
    the order, whether it is offered, and its text per applicant language ("" for none)."""

    key: str
    audience: str
    titles: dict[str, str]
    position: int = 100
    active: bool = True
    texts: dict[str, str] = field(default_factory=dict)


def do_save(reply: VettedReply | None, editor: User, data: ReplyData) -> VettedReply:
    """Create or change a reply. A text that changes loses its review; one left as it was
    keeps it. Audited (which reply and which languages changed, never the text)."""
    if data.audience not in Audience.values:
        raise Refused(_("Choose who the reply is addressed to."))
    with transaction.atomic():
        if reply is None:
            if VettedReply.objects.filter(key=data.key).exists():
                raise Refused(_("Another vetted reply already has this name."))
            reply = VettedReply(key=data.key)
        else:
            reply = VettedReply.objects.select_for_update().get(pk=reply.pk)
        reply.audience = data.audience
        for lang in CONSOLE_LANGUAGES:
            setattr(reply, f"title_{lang}", data.titles.get(lang, "").strip())
        reply.position = data.position
        reply.active = data.active
        reply.save()
        changed = []
        existing = {t.language: t for t in reply.texts.select_for_update()}
        for lang in APPLICANT_LANGUAGES:
            text = data.texts.get(lang, "").strip()
            if len(text) > MAX_CHARS:
                raise Refused(_("A reply has at most 4,000 characters."))
            current = existing.get(lang)
            if current is None and text:
                VettedText.objects.create(reply=reply, language=lang, text=text, edited_by=editor)
                changed.append(lang)
            elif current is not None and not text:
                current.delete()
                changed.append(lang)
            elif current is not None and current.text != text:
                current.text = text
                current.version += 1
                current.edited_by = editor
                current.reviewed_by = None  # whoever reviewed it read another text
                current.reviewed_at = None
                current.save()
                changed.append(lang)
        audit.record(editor, "reply.edit", None, f"reply {reply.pk} texts {','.join(changed)}")
        return reply


def do_review(
    text_id: int,
    reviewer: User,
    version: int,
    *,
    reads: Collection[str],
    supervisor: bool,
) -> VettedText:
    """Mark one text reviewed: by a supervisor who reads its language, for the version shown
    to them (an edit made meanwhile is refused, not approved unread)."""
    with transaction.atomic():
        text = VettedText.objects.select_for_update().filter(pk=text_id).first()
        if text is None:
            raise Refused(str(NO_TEXT))
        if not supervisor:
            raise Refused(_("Only a supervisor reviews vetted replies."))
        if text.language not in reads:
            raise Refused(
                _("Only a supervisor who reads %(language)s may review this text.")
                % {"language": APPLICANT_LANGUAGES.get(text.language, text.language)}
            )
        if text.version != version:
            raise Refused(_("This text was changed after you opened it: read it again."))
        text.reviewed_by = reviewer
        text.reviewed_at = timezone.now()
        text.save(update_fields=["reviewed_by", "reviewed_at"])
        audit.record(reviewer, "reply.review", None, f"reply {text.reply_id} {text.language}")
        return text


# Sending -----------------------------------------------------------------------------------


def do_send(case: Case, operator: User, reply_id: int) -> Message:
    """Send a vetted reply in the applicant's language, if that text is reviewed. The message
    keeps, sealed for staff, which reply it was and its texts in every language, so that a
    colleague reads in their own language what was said."""
    with transaction.atomic():
        reply = VettedReply.objects.filter(pk=reply_id, active=True).first()
        if reply is None:
            raise Refused(_("Unknown vetted reply."))
        texts = {t.language: t for t in reply.texts.all()}
        lang = applicant_language(case)
        text = texts.get(lang)
        if text is None:
            raise Refused(_("This vetted reply has no text in the applicant's language."))
        if not text.reviewed:
            raise Refused(
                _("This text has not been reviewed by a reader of its language: it cannot be sent.")
            )
        message = cases.do_operator_reply(case, operator, text.text)
        snapshot = {
            "key": reply.key,
            "titles": {lang: reply.title(lang) for lang in CONSOLE_LANGUAGES},
            "texts": {t.language: t.text for t in texts.values()},
        }
        SentReply.objects.create(
            message=message,
            sealed=staff_fields.seal(case, _sent_field(message), json.dumps(snapshot)),
        )
        return message


def _sent_field(message: Message) -> str:
    return f"{SENT_FIELD}:{message.pk}"


@dataclass(frozen=True)
class Sent:
    """A sent vetted reply as it was sent: its titles and texts by language."""

    titles: dict[str, str]
    texts: dict[str, str]


def sent_replies(
    holders: dict[Any, Case], message_ids: Iterable[int], ring: Keyring
) -> dict[int, Sent]:
    """The vetted replies among these messages (of the cases ``holders``), opened with a staff
    member's keyring; a reply the keyring cannot open is left out."""
    found: dict[int, Sent] = {}
    rows = SentReply.objects.filter(message_id__in=list(message_ids)).select_related("message")
    for row in rows:
        case = holders.get(row.message.case_id)
        if case is None:
            continue
        try:
            opened = staff_fields.open_for_staff(
                case, _sent_field(row.message), bytes(row.sealed), ring
            )
        except staff_fields.Locked:
            continue
        data = json.loads(opened.text)
        found[row.message_id] = Sent(titles=data["titles"], texts=data["texts"])
    return found


# What the case page offers -----------------------------------------------------------------


@dataclass(frozen=True)
class Offer:
    pk: int
    title: str
    audience: str
    operator_text: str
    applicant_text: str
    sendable: bool

    @property
    def audience_label(self) -> str:
        return str(Audience(self.audience).label)


def offers(case: Case, operator_language: str) -> list[Offer]:
    """Every active reply for the case page: in the operator's language beside the applicant's,
    and whether it may be sent (reviewed in the applicant's language)."""
    lang = applicant_language(case)
    result = []
    # Only the two languages shown: the other texts cost the page as much again to load.
    texts_shown = VettedText.objects.filter(language__in=[lang, operator_language])
    replies = VettedReply.objects.filter(active=True).prefetch_related(
        Prefetch("texts", queryset=texts_shown)
    )
    for reply in replies:
        texts = {t.language: t for t in reply.texts.all()}
        theirs = texts.get(lang)
        mine = texts.get(operator_language)
        result.append(
            Offer(
                pk=reply.pk,
                title=reply.title(operator_language),
                audience=reply.audience,
                operator_text=mine.text if mine else "",
                applicant_text=theirs.text if theirs else "",
                sendable=bool(theirs and theirs.reviewed),
            )
        )
    return result


# The starter set ---------------------------------------------------------------------------


def starter_entries(path: Path = STARTER_FILE) -> list[dict[str, Any]]:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    return list(data["replies"])


def load_starter(reply_model: Any = VettedReply, text_model: Any = VettedText) -> int:
    """Add the starter replies and texts that are missing, all unreviewed; never change one
    that exists (supervisors may have edited or reviewed it). Returns how many texts were
    added. Takes the models so that a data migration can pass its historical ones."""
    added = 0
    for position, entry in enumerate(starter_entries(), start=1):
        reply, _created = reply_model.objects.get_or_create(
            key=entry["key"],
            defaults={
                "audience": entry.get("audience", Audience.ANY),
                "title_en": entry["title"]["en"],
                "title_uk": entry["title"].get("uk", ""),
                "title_ru": entry["title"].get("ru", ""),
                "position": position * 10,
            },
        )
        for lang, text in entry["text"].items():
            _text, made = text_model.objects.get_or_create(
                reply=reply, language=lang, defaults={"text": text.strip()}
            )
            added += made
    return added
