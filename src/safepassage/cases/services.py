"""Every write to cases and its side effects, in one place (Zulip's `do_*` pattern).

Callers (conversations, console, channels) never write these models themselves. Each function
runs inside the caller's transaction or opens its own.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.db import connection, transaction
from django.db.models import Max
from django.utils import timezone

from safepassage import fastsave, metrics
from safepassage.analytics import counters
from safepassage.campaigns.models import CampaignCode
from safepassage.cases import delivery, sealed, triage
from safepassage.cases.models import (
    Case,
    CaseEvent,
    Channel,
    Contact,
    Direction,
    Message,
    Status,
)
from safepassage.privacy import audit, fields, ratelimit, references, staff_fields
from safepassage.privacy.coarse_time import coarsen
from safepassage.privacy.keyring import Keyring

REFERENCE_FIELD = "reference"
MAX_MESSAGE_CHARS = 4000


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
    message_id: int | None = None
    # Which case it was written in (the case page's or one merged into it), and whether the
    # applicant was shown it: the page reads these off the transcript instead of asking again.
    case_id: uuid.UUID | None = None
    shown: bool = False


@dataclass(frozen=True)
class ThreadEntry:
    """One message of the applicant's own thread: ``text`` is None where this reader cannot
    open it (their own words from another visit)."""

    inbound: bool
    text: str | None
    at: datetime


def do_create_case(channel: str, language: str, campaign: CampaignCode | None) -> Case:
    """A new case; ``campaign`` is the live code the applicant came with (campaigns.services)."""
    contact = Contact(
        campaign=campaign.campaign if campaign is not None else None, campaign_code=campaign
    )
    fastsave.insert(contact)
    case_id = uuid.uuid4()
    case = Case(
        id=case_id,
        contact=contact,
        channel=channel,
        language=language,
        wrapped_key=fields.new_case_key(case_id),
    )
    fastsave.insert(case)
    counters.count("started", channel, language, campaign.code if campaign is not None else "")
    return case


def _count(event: str, case: Case) -> None:
    counters.count(event, case.channel, case.language, attributed_code(case))


def attributed_code(case: Case) -> str:
    """The campaign code a case's statistics are kept under ("" when it came with none)."""
    contact = case.contact
    if contact.campaign_code_id is not None:
        return contact.campaign_code.code if contact.campaign_code else ""
    return contact.campaign.code if contact.campaign else ""


# The campaign funnel after "started" and "submitted": a case reaching a later stage has
# passed the earlier ones (a case handed over was vetted), so each is counted once per case.
FUNNEL: tuple[tuple[str, str], ...] = (
    ("verified", Status.VERIFIED),
    ("handed_over", Status.HANDED_OVER),
    ("surrendered", Status.SURRENDERED),
)


def note_progress(case: Case, status: str) -> list[str]:
    """Count the funnel stages ``case`` reaches by moving to ``status``; the caller saves
    ``funnel_stage`` with its own update (it holds the case's row lock)."""
    stages = [target for _event, target in FUNNEL]
    if status not in stages:
        return []
    reached = stages.index(status) + 1
    counted = [event for event, _target in FUNNEL[case.funnel_stage : reached]]
    for event in counted:
        _count(event, case)
    case.funnel_stage = max(case.funnel_stage, reached)
    return counted


def do_save_answers(
    case: Case, triage_answers: dict[str, Any], sealed_answers: dict[str, Any]
) -> None:
    case.triage = triage_answers
    sealed.save_answers(case, sealed_answers)
    case.urgency = triage.urgency(
        case.triage, case.ready_now_at is not None, case.fake_score, case.fake_mark
    )
    case.last_applicant_at = timezone.now()
    refresh_reply_due(case, waiting=True)
    fastsave.update_fields(
        case,
        ["triage", "sealed_answers", "urgency", "last_applicant_at", "reply_due_at", "updated_at"],
    )


def refresh_reply_due(case: Case, *, waiting: bool | None = None) -> None:
    """When the applicant's last words need an answer by, from the case's urgency; None when
    staff have answered since (or the case is closed).

    ``waiting`` says what just happened: True, the applicant wrote; False, staff answered (a
    reply, a call); None, nobody spoke (a status change). It is not read off the two times:
    both are stored to the minute (privacy.coarse_time), so within one minute they cannot say
    who spoke last. A status change keeps what the case says now (a reply is due or not), and
    compares the times only when no reply is due.
    """
    wrote = case.last_applicant_at
    if waiting is None:
        answered = case.last_operator_at
        waiting = case.reply_due_at is not None or (
            wrote is not None
            and (answered is None or coarsen(wrote, "minute") > coarsen(answered, "minute"))
        )
    if wrote and waiting and case.status not in (Status.DRAFT, Status.SURRENDERED, Status.CLOSED):
        case.reply_due_at = wrote + triage.response_target(case.urgency)
    else:
        case.reply_due_at = None


def answers(case: Case) -> dict[str, Any]:
    """What the server itself may read: triage answers, and personal answers still pending
    (sealed ones appear as markers.SEALED_ANSWER). For the conversation, not for staff."""
    return {**case.triage, **sealed.answers_for_server(case)}


def answers_for_staff(case: Case, ring: Keyring) -> dict[str, Any]:
    """Every answer, opened with a staff member's keyring. The caller audits the read."""
    return {**case.triage, **sealed.answers_for_staff(case, ring)}


def do_submit(case: Case) -> Credentials | None:
    """Turn a draft into a new case and issue its credentials; None if it was submitted."""
    sealed.seal_answers(case)
    if case.status != Status.DRAFT:
        case.last_applicant_at = timezone.now()
        case.save(update_fields=["sealed_answers", "last_applicant_at", "updated_at"])
        return None
    reference, passphrase = references.generate(), references.generate()
    case.reference_digest = references.reference_digest(reference)
    case.reference_sealed = staff_fields.seal(case, REFERENCE_FIELD, reference)
    case.passphrase_hash = references.hash_passphrase(passphrase)
    case.status = Status.NEW
    case.submitted_at = case.last_applicant_at = timezone.now()
    refresh_reply_due(case, waiting=True)
    case.save()
    _count("submitted", case)
    return Credentials(references.display(reference), references.display(passphrase))


def do_reissue_credentials(case: Case) -> Credentials:
    """New reference and passphrase for a submitted case whose applicant lost them before
    writing them down (the web chat, same session): the old pair stops working at once."""
    reference, passphrase = references.generate(), references.generate()
    case.reference_digest = references.reference_digest(reference)
    case.reference_sealed = staff_fields.seal(case, REFERENCE_FIELD, reference)
    case.passphrase_hash = references.hash_passphrase(passphrase)
    case.save(update_fields=["reference_digest", "reference_sealed", "passphrase_hash"])
    return Credentials(references.display(reference), references.display(passphrase))


def reference_of(case: Case, ring: Keyring) -> str:
    if not case.reference_sealed:
        return ""
    try:
        opened = staff_fields.open_for_staff(case, REFERENCE_FIELD, case.reference_sealed, ring)
    except staff_fields.Locked:
        return sealed.LOCKED_TEXT
    return references.display(opened.text)


def do_mark_ready_now(case: Case) -> None:
    _count("ready_now", case)
    case.ready_now_at = timezone.now()
    case.urgency = triage.urgency(case.triage, True, case.fake_score, case.fake_mark)
    case.last_applicant_at = case.ready_now_at
    refresh_reply_due(case, waiting=True)
    case.save(
        update_fields=["ready_now_at", "urgency", "last_applicant_at", "reply_due_at", "updated_at"]
    )


def do_add_message(
    case: Case,
    direction: str,
    text: str,
    channel: str,
    author: User | None = None,
    *,
    browser_key: bytes | None = None,
) -> Message:
    """``browser_key``: the applicant's browser's own key (web chat), under which a copy of
    what they wrote is kept for their own thread (sealed.seal_applicant_copy)."""
    if len(text) > MAX_MESSAGE_CHARS:
        raise ValueError("message too long")
    message = Message(case=case, direction=direction, channel=channel, author=author)
    message.save()
    # A reply stays readable for the applicant until seen (then 24 hours); what the applicant
    # writes is sealed for staff at once.
    message.body_sealed = sealed.seal_message(
        case, message, text, pending=direction == Direction.OUTBOUND
    )
    fields_saved = ["body_sealed"]
    if browser_key is not None and direction == Direction.INBOUND:
        message.applicant_copy = sealed.seal_applicant_copy(case, message, text, browser_key)
        fields_saved.append("applicant_copy")
    message.save(update_fields=fields_saved)
    if direction == Direction.INBOUND:
        case.last_applicant_at = timezone.now()
        refresh_reply_due(case, waiting=True)
        case.save(update_fields=["last_applicant_at", "reply_due_at", "updated_at"])
    return message


def do_operator_reply(case: Case, operator: User, text: str) -> Message:
    """A reply goes out on the channel the applicant last used."""
    with transaction.atomic():
        channel = (
            case.messages.filter(direction=Direction.INBOUND)
            .values_list("channel", flat=True)
            .order_by("-created_at", "-id")  # times are minutes: the id breaks ties
            .first()
            or case.channel
        )
        message = do_add_message(case, Direction.OUTBOUND, text, channel, author=operator)
        delivery.enqueue(message, text)
        if case.status == Status.NEW:
            _count_first_reply(case)
            case.status = Status.IN_CONTACT
            CaseEvent.objects.create(
                case=case,
                actor=operator,
                kind="status",
                from_status=Status.NEW,
                to_status=Status.IN_CONTACT,
                detail="first reply",
            )
        now = timezone.now()
        if case.last_operator_at is None and case.submitted_at is not None:
            # Time to the first human reply, as an aggregate only (safepassage.metrics).
            waited = max((now - case.submitted_at).total_seconds(), 0.0)
            transaction.on_commit(lambda: metrics.FIRST_REPLY_SECONDS.observe(waited))
        case.last_operator_at = now
        refresh_reply_due(case, waiting=False)
        case.version += 1
        case.save(
            update_fields=["status", "last_operator_at", "reply_due_at", "version", "updated_at"]
        )
        # Last, after the case's row: never wait for a row while holding the audit chain's lock.
        audit.record(operator, "case.reply", case.id)
        return message


def _count_first_reply(case: Case) -> None:
    """Time to the first human reply, kept only as counts (on time or late against the case's
    response-time target, and a coarse duration bucket): the analyst's report survives erasure."""
    now = timezone.now()
    on_time = case.reply_due_at is None or now <= case.reply_due_at
    _count("first_reply_on_time" if on_time else "first_reply_late", case)
    if case.submitted_at is not None:
        minutes = max(0.0, (now - case.submitted_at).total_seconds() / 60)
        _count(f"first_reply_{counters.reply_bucket(minutes)}", case)


def record_waiting_peaks() -> dict[str, int]:
    """How many open cases wait for a reply now, by urgency, kept as the day's peak."""
    waiting = {"now": 0, "days": 0, "later": 0}
    rows = Case.objects.filter(reply_due_at__isnull=False).exclude(
        status__in=[Status.DRAFT, Status.CLOSED, Status.SURRENDERED]
    )
    for score in rows.values_list("urgency", flat=True).iterator():
        waiting[triage.urgency_label(score)] += 1
    for label, value in waiting.items():
        counters.record_peak(f"waiting_{label}", value)
    return waiting


def newest_message_id(case_id: uuid.UUID, *, merged: bool = True) -> int:
    """The id of the newest message of the case and the cases merged into it (0: none): one
    small query, which an open case page asks every few seconds to learn whether anything
    arrived. ``merged=False``: the caller knows that no case is merged into it."""
    # Small index look-ups. One query joining the cases (case = it OR merged into it) let
    # PostgreSQL walk the whole message table backwards from the newest id: seconds at a
    # million messages for an older case.
    holders = [case_id]
    if merged:
        holders += Case.objects.filter(merged_into_id=case_id).values_list("pk", flat=True)
    newest = Message.objects.filter(case_id__in=holders).aggregate(newest=Max("id"))["newest"]
    return int(newest or 0)


def transcript(case: Case, ring: Keyring) -> list[TranscriptEntry]:
    """Every message of the case and of the cases merged into it, in one timeline, opened with
    a staff member's keyring. The caller audits the read."""
    holders = {case.pk: case, **{c.pk: c for c in case.merged_cases.all()}}
    if len(holders) > 1:
        staff_fields.open_case_keys(holders, ring)  # every case's key pair in one query
    entries = []
    messages = Message.objects.filter(case_id__in=holders).select_related("author")
    for m in messages.order_by("created_at", "id"):
        entries.append(
            TranscriptEntry(
                direction=m.direction,
                text=sealed.open_message_for_staff(holders[m.case_id], m, ring).text,
                at=m.created_at,
                author=m.author.get_username() if m.author else None,
                channel=m.channel,
                message_id=m.pk,
                case_id=m.case_id,
                shown=m.shown_at is not None,
            )
        )
    return entries


def applicant_thread(case: Case, browser_key: bytes | None = None) -> list[ThreadEntry]:
    """What the applicant may see again, in order: replies not yet sealed (noting that they
    were seen), and their own messages, whose words only ``browser_key`` opens (else None:
    the thread still shows that, and roughly when, they wrote). No author is named."""
    entries: list[ThreadEntry] = []
    first_seen = []
    for m in case.messages.order_by("created_at", "id"):
        if m.direction == Direction.INBOUND:
            own = sealed.open_applicant_copy(case, m, browser_key)
            entries.append(ThreadEntry(True, own, m.created_at))
            continue
        text = sealed.open_message_for_server(case, m)
        if text is None:
            continue
        if m.shown_at is None:
            first_seen.append(m.pk)
        entries.append(ThreadEntry(False, text, m.created_at))
    if first_seen:
        Message.objects.filter(pk__in=first_seen).update(shown_at=timezone.now())
    return entries


def do_purge_case(case: Case) -> None:
    """Erase a case: its wrapped key, answers and messages go; the contact goes with its last case.

    Deleting the rows destroys the database's copy of the case's data key and key pair; SQLite
    zeroes the freed pages (secure_delete) and its log is checkpointed. A backup made *before*
    the erasure still holds the keys: backups must not outlive the retention period.
    """
    with transaction.atomic():
        if case.status != Status.DRAFT:
            _count("erased", case)
        contact = case.contact
        Case.objects.filter(pk=case.pk).update(
            wrapped_key=b"", sealed_answers=None, reference_sealed=None, triage={}
        )
        case_id = case.pk
        case.delete()
        staff_fields.forget_case_key(case_id)
        if not contact.cases.exists():
            contact.delete()
        transaction.on_commit(_flush_erased_pages)


def _flush_erased_pages() -> None:
    """SQLite keeps pre-erasure page images in its write-ahead log until a checkpoint."""
    if connection.vendor == "sqlite":
        with connection.cursor() as cursor:
            cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)")


class TooManyAttempts(Exception):
    pass


def find_by_credentials(
    reference: str, passphrase: str, source: str | None, desk: str = "webchat"
) -> Case | None:
    """The case these credentials open, or None.

    A right pair always opens, however often the reference was tried: the reference alone
    never refuses (80 + 80 random bits make guessing hopeless, and a refusal per reference
    would let anyone who knows one lock its holder out). Wrong pairs count against their
    ``source`` (an address, or a staff member at the hotline), which is refused past a count;
    None (behind the onion service everyone shares one address) is never refused. Past a
    count of wrong pairs from everybody on ``desk``, every check waits a little first.
    """
    if not references.normalise(reference):
        return None  # not a reference at all: no bucket, no lookup
    window = settings.CREDENTIALS_WINDOW_SECONDS
    per_source = settings.CREDENTIALS_FAILURES_PER_SOURCE
    if (
        source is not None
        and not ratelimit.check("credentials", source, per_source, window).allowed
    ):
        raise TooManyAttempts
    everybody = ratelimit.check(f"credentials.{desk}", "*", settings.CREDENTIALS_SLOWDOWN_AFTER, 60)
    delay = ratelimit.backoff(
        everybody,
        settings.CREDENTIALS_SLOWDOWN_AFTER,
        settings.CREDENTIALS_SLOWDOWN_BASE_SECONDS,
        settings.CREDENTIALS_SLOWDOWN_CAP_SECONDS,
    )
    if delay:
        time.sleep(delay)
    digest = references.reference_digest(reference)
    case = Case.objects.filter(reference_digest=digest).first()
    stored = case.passphrase_hash if case else ""
    if references.check_passphrase(stored, passphrase) and case is not None:
        return case
    ratelimit.hit(f"credentials.{desk}", "*", settings.CREDENTIALS_SLOWDOWN_AFTER, 60)
    if source is not None:
        ratelimit.hit("credentials", source, per_source, window)
    return None


def queue() -> Any:
    return Case.objects.exclude(status=Status.DRAFT).order_by("-submitted_at", "-id")


CHANNEL_LABELS = dict(Channel.choices)
