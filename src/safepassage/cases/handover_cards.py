"""What a liaison reads of a handover, sealed to them alone (findings 4 and 6).

A liaison holds no program key. At handover the supervisor's session (which holds it) opens what
receiving the person needs (reference, group, window, meeting point, language, wishes) and seals
it as one card per liaison of the sector, to that liaison's member key (privacy.member_keys).
The sector and window are also sealed to the case key (``Handover.plan_sealed``) so operators and
supervisors keep reading them; the sector routes handovers only as a keyed index.
A liaison without a member key (never logged in) cannot be sealed to: a supervisor shares the
card with them later (:func:`do_reshare`), as for handovers made before this existed.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.contrib.auth.models import User
from django.db import transaction
from django.utils.translation import gettext

from safepassage.cases import services, workflow
from safepassage.cases.models import Case, Handover, HandoverCard
from safepassage.privacy import audit, fields, member_keys, sealing, staff_fields
from safepassage.privacy.crypto import DecryptionError
from safepassage.privacy.keyring import Keyring

MEETING_FIELD = "meeting"
PLAN_FIELD = "handover-plan"
CARD_FIELD = "handover-card"
LIAISON_ROLE = "liaison"  # console.models.Role.LIAISON; cases does not import the console


@dataclass(frozen=True)
class Plan:
    sector: str
    window_start: datetime
    window_end: datetime


def plan_text(sector: str, start: datetime, end: datetime) -> str:
    return json.dumps(
        {"sector": sector, "window_start": start.isoformat(), "window_end": end.isoformat()},
        ensure_ascii=False,
    )


def seal_plan(case: Case, handover_id: int, plan: Plan) -> bytes:
    return staff_fields.seal(
        case,
        f"{PLAN_FIELD}:{handover_id}",
        plan_text(plan.sector, plan.window_start, plan.window_end),
    )


def plan_of(handover: Handover, ring: Keyring) -> Plan | None:
    """Sector and window, or None where this reader holds no key that opens them."""
    if not handover.plan_sealed:
        return None
    try:
        text = staff_fields.open_for_staff(
            handover.case, f"{PLAN_FIELD}:{handover.pk}", handover.plan_sealed, ring
        ).text
    except staff_fields.Locked:
        return None
    raw = json.loads(text)
    return Plan(
        raw["sector"],
        datetime.fromisoformat(raw["window_start"]),
        datetime.fromisoformat(raw["window_end"]),
    )


def meeting_of(handover: Handover, ring: Keyring) -> str | None:
    try:
        return staff_fields.open_for_staff(
            handover.case, f"{MEETING_FIELD}:{handover.pk}", handover.meeting_sealed, ring
        ).text
    except staff_fields.Locked:
        return None


def liaisons_of(sector_index: str) -> list[User]:
    """Active liaisons of the sector, whether or not they can be sealed to yet."""
    return list(
        User.objects.filter(
            is_active=True,
            staff_profile__role=LIAISON_ROLE,
            staff_profile__sector_index=sector_index,
        ).order_by("username")
    )


def can_receive(user: User) -> bool:
    return member_keys.public_key_of(user) is not None


def waiting(handover: Handover) -> list[User]:
    """Liaisons of the handover's sector without a card they can open: none yet, or one sealed
    to a key pair they no longer have."""
    sealed_to = {c.liaison_id: bytes(c.recipient_key) for c in handover.cards.all()}
    return [
        u
        for u in liaisons_of(handover.sector_index)
        if sealed_to.get(u.pk) is None or sealed_to[u.pk] != member_keys.public_key_of(u)
    ]


def holders(handover: Handover) -> list[User]:
    """Liaisons of the sector who can open their card of this handover."""
    stale = {u.pk for u in waiting(handover)}
    with_card = set(handover.cards.values_list("liaison_id", flat=True))
    return [
        u for u in liaisons_of(handover.sector_index) if u.pk in with_card and u.pk not in stale
    ]


def card_payload(case: Case, plan: Plan, meeting: str, ring: Keyring) -> dict[str, Any]:
    """Only what the field needs to receive the person, opened with the supervisor's keyring."""
    reference = services.reference_of(case, ring)
    answers = services.answers(case)
    return {
        "reference": reference,
        "group_size": case.head_count or int(answers.get("group_size") or 1),
        "language": case.language,
        "meeting": meeting,
        "wishes": list(answers.get("wishes") or []),
        "window_start": plan.window_start.isoformat(),
        "window_end": plan.window_end.isoformat(),
    }


def _context(handover_id: int, liaison_id: int) -> str:
    return f"{CARD_FIELD}:{handover_id}:{liaison_id}"


def do_share(handover: Handover, payload: dict[str, Any]) -> int:
    """Seal ``payload`` to every liaison of the sector who can receive it and holds no card
    they can open."""
    body = json.dumps(payload, ensure_ascii=False, sort_keys=True).encode("utf-8")
    shared = 0
    for liaison in waiting(handover):
        public = member_keys.public_key_of(liaison)
        if public is None:
            continue
        context = _context(handover.pk, liaison.pk)
        inner = sealing.seal(public, body, context.encode())
        HandoverCard.objects.update_or_create(
            handover=handover,
            liaison=liaison,
            defaults={
                "sealed": fields.seal_bytes(handover.case, context, inner),
                "recipient_key": public,
            },
        )
        shared += 1
    return shared


def open_card(
    handover: Handover, user: User, member_private: bytes | None
) -> dict[str, Any] | None:
    """This liaison's card, or None (not shared with them, or their key does not open it)."""
    row = HandoverCard.objects.filter(handover=handover, liaison=user).first()
    if row is None or member_private is None:
        return None
    context = _context(handover.pk, int(user.pk))
    try:
        inner = fields.open_bytes(handover.case, context, row.sealed)
        body = sealing.open_sealed(member_private, inner, context.encode())
    except DecryptionError:
        return None
    value = json.loads(body)
    return value if isinstance(value, dict) else None


def do_reshare(handover: Handover, actor: User, ring: Keyring) -> int:
    """Seal the card anew for the sector's liaisons who have none (one who logged in since the
    handover, a handover made before cards existed). Needs a keyring that opens the case."""
    plan = plan_of(handover, ring)
    meeting = meeting_of(handover, ring)
    if plan is None or meeting is None:
        raise workflow.Refused(gettext("Your session holds no key that opens this handover."))
    with transaction.atomic():
        shared = do_share(handover, card_payload(handover.case, plan, meeting, ring))
        audit.record(actor, "handover.share", handover.case_id, f"{shared} liaisons")
    return shared
