"""Every write to cases and its side effects, in one place (Zulip's `do_*` pattern).

Callers (conversations, console, channels) never write these models themselves. Each function
runs inside the caller's transaction or opens its own.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone

from safepassage.campaigns.models import Campaign
from safepassage.cases import triage
from safepassage.cases.models import (
    Case,
    CaseEvent,
    Channel,
    Contact,
    Direction,
    Message,
    Status,
)
from safepassage.channels import delivery
from safepassage.channels.models import Attempt
from safepassage.privacy import audit, fields, references

SEALED_ANSWERS = "answers"
REFERENCE_FIELD = "reference"
MESSAGE_FIELD = "message"
MAX_MESSAGE_CHARS = 4000
PASSPHRASE_TRIES_PER_HOUR = 5


@dataclass(frozen=True)
class Credentials:
    """Shown to the applicant once; only digests are stored."""

    reference: str
    passphrase: str


@dataclass(frozen=True)
class TranscriptEntry:
    direction: str
    text: str
    at: datetime
    author: str | None
    channel: str


def do_create_case(channel: str, language: str, campaign: Campaign | None) -> Case:
    contact = Contact.objects.create(campaign=campaign)
    case_id = uuid.uuid4()
    return Case.objects.create(
        id=case_id,
        contact=contact,
        channel=channel,
        language=language,
        wrapped_key=fields.new_case_key(case_id),
    )


def do_save_answers(
    case: Case, triage_answers: dict[str, Any], sealed_answers: dict[str, Any]
) -> None:
    case.triage = triage_answers
    case.sealed_answers = fields.seal_json(case, SEALED_ANSWERS, sealed_answers)
    case.urgency = triage.urgency(case.triage, case.ready_now_at is not None)
    case.last_applicant_at = timezone.now()
    refresh_reply_due(case)
    case.save(
        update_fields=[
            "triage",
            "sealed_answers",
            "urgency",
            "last_applicant_at",
            "reply_due_at",
            "updated_at",
        ]
    )


def refresh_reply_due(case: Case) -> None:
    """When the applicant's last words need an answer by, from the case's urgency; None when
    an operator has answered since (or the case is closed)."""
    wrote = case.last_applicant_at
    waiting = wrote is not None and (case.last_operator_at is None or wrote > case.last_operator_at)
    if wrote and waiting and case.status not in (Status.DRAFT, Status.SURRENDERED, Status.CLOSED):
        case.reply_due_at = wrote + triage.response_target(case.urgency)
    else:
        case.reply_due_at = None


def answers(case: Case) -> dict[str, Any]:
    """Triage and sealed answers together. Callers on the staff side must audit the read."""
    return {**case.triage, **fields.open_json(case, SEALED_ANSWERS, case.sealed_answers)}


def do_submit(case: Case) -> Credentials | None:
    """Turn a draft into a new case and issue its credentials; None if it was submitted."""
    if case.status != Status.DRAFT:
        case.last_applicant_at = timezone.now()
        case.save(update_fields=["last_applicant_at", "updated_at"])
        return None
    reference, passphrase = references.generate(), references.generate()
    case.reference_digest = references.reference_digest(reference)
    case.reference_sealed = fields.seal_text(case, REFERENCE_FIELD, reference)
    case.passphrase_hash = references.hash_passphrase(passphrase)
    case.status = Status.NEW
    case.submitted_at = case.last_applicant_at = timezone.now()
    refresh_reply_due(case)
    case.save()
    return Credentials(references.display(reference), references.display(passphrase))


def reference_of(case: Case) -> str:
    if not case.reference_sealed:
        return ""
    return references.display(fields.open_text(case, REFERENCE_FIELD, case.reference_sealed))


def do_mark_ready_now(case: Case) -> None:
    case.ready_now_at = timezone.now()
    case.urgency = triage.urgency(case.triage, True)
    case.last_applicant_at = case.ready_now_at
    refresh_reply_due(case)
    case.save(
        update_fields=["ready_now_at", "urgency", "last_applicant_at", "reply_due_at", "updated_at"]
    )


def do_add_message(
    case: Case, direction: str, text: str, channel: str, author: User | None = None
) -> Message:
    if len(text) > MAX_MESSAGE_CHARS:
        raise ValueError("message too long")
    message = Message(case=case, direction=direction, channel=channel, author=author)
    message.save()
    message.body_sealed = fields.seal_text(case, f"{MESSAGE_FIELD}:{message.pk}", text)
    message.save(update_fields=["body_sealed"])
    if direction == Direction.INBOUND:
        case.last_applicant_at = timezone.now()
        refresh_reply_due(case)
        case.save(update_fields=["last_applicant_at", "reply_due_at", "updated_at"])
    return message


def do_operator_reply(case: Case, operator: User, text: str) -> Message:
    """A reply goes out on the channel the applicant last used."""
    with transaction.atomic():
        channel = (
            case.messages.filter(direction=Direction.INBOUND)
            .values_list("channel", flat=True)
            .order_by("-created_at")
            .first()
            or case.channel
        )
        message = do_add_message(case, Direction.OUTBOUND, text, channel, author=operator)
        delivery.enqueue(message, text)
        audit.record(operator, "case.reply", case.id)
        if case.status == Status.NEW:
            case.status = Status.IN_CONTACT
            CaseEvent.objects.create(
                case=case,
                actor=operator,
                kind="status",
                from_status=Status.NEW,
                to_status=Status.IN_CONTACT,
                detail="first reply",
            )
        case.last_operator_at = timezone.now()
        refresh_reply_due(case)
        case.version += 1
        case.save(
            update_fields=["status", "last_operator_at", "reply_due_at", "version", "updated_at"]
        )
        return message


def transcript(case: Case) -> list[TranscriptEntry]:
    """Every message of the case and of the cases merged into it, in one timeline."""
    holders = {case.pk: case, **{c.pk: c for c in case.merged_cases.all()}}
    entries = []
    messages = Message.objects.filter(case_id__in=holders).select_related("author")
    for m in messages.order_by("created_at", "id"):
        entries.append(
            TranscriptEntry(
                direction=m.direction,
                text=fields.open_text(holders[m.case_id], f"{MESSAGE_FIELD}:{m.pk}", m.body_sealed),
                at=m.created_at,
                author=m.author.get_username() if m.author else None,
                channel=m.channel,
            )
        )
    return entries


def do_purge_case(case: Case) -> None:
    """Erase a case: its wrapped key, answers and messages go; the contact goes with its last case.

    Deleting the rows destroys the only copy of the case's data key, so any ciphertext left in
    a backup or a freed database page can no longer be opened.
    """
    with transaction.atomic():
        contact = case.contact
        Case.objects.filter(pk=case.pk).update(
            wrapped_key=b"", sealed_answers=None, reference_sealed=None, triage={}
        )
        case.delete()
        if not contact.cases.exists():
            contact.delete()


class TooManyAttempts(Exception):
    pass


def find_by_credentials(reference: str, passphrase: str) -> Case | None:
    """The case these credentials open, or None. At most 5 tries per reference per hour."""
    digest = references.reference_digest(reference)
    if not digest:
        return None
    key = f"passphrase:{digest[:40]}"
    since = timezone.now() - timedelta(hours=1)
    with transaction.atomic():
        if Attempt.objects.filter(key=key, at__gte=since).count() >= PASSPHRASE_TRIES_PER_HOUR:
            raise TooManyAttempts
        case = Case.objects.filter(reference_digest=digest).first()
        if case and references.check_passphrase(case.passphrase_hash, passphrase):
            return case
        Attempt.objects.create(key=key, at=timezone.now())
    return None


def queue() -> Any:
    return Case.objects.exclude(status=Status.DRAFT).order_by("-submitted_at")


CHANNEL_LABELS = dict(Channel.choices)
