"""Campaigns and their codes: creating, revoking, and attributing contacts to them."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from django.db import IntegrityError, transaction
from django.utils import timezone

from safepassage.campaigns import codes
from safepassage.campaigns.models import Campaign, CampaignCode, CampaignStatus, Medium


class CampaignError(ValueError):
    """A campaign or code request that cannot be carried out (the message says why)."""


def find_active(code: str | None) -> CampaignCode | None:
    """The live code ``code`` (not revoked, of an active campaign), or None: an unknown,
    revoked or malformed code is ignored, so that a forged, old or mistyped leaflet link
    still leads to a working chat (a neutral start)."""
    if code is None or not codes.looks_valid(code):
        return None
    found = CampaignCode.objects.select_related("campaign").filter(code=code.lower()).first()
    if found is None or not found.is_live:
        return None
    return found


def by_id(code_id: object) -> CampaignCode | None:
    if not isinstance(code_id, int):
        return None
    found = CampaignCode.objects.select_related("campaign").filter(pk=code_id).first()
    return found if found is not None and found.is_live else None


def do_create_campaign(
    name: str,
    *,
    medium: str = Medium.LEAFLET,
    languages: Sequence[str] = ("ru",),
    target_sector: str = "",
    starts_on: dt.date | None = None,
    ends_on: dt.date | None = None,
    notes: str = "",
    instructions: dict[str, list[str]] | None = None,
) -> Campaign:
    from safepassage import config

    known = set(config.APPLICANT_LANGUAGES)
    unknown = [code for code in languages if code not in known]
    if unknown or not languages:
        raise CampaignError(
            f"languages must be among {', '.join(sorted(known))}; got {', '.join(languages)}"
        )
    if medium not in Medium.values:
        raise CampaignError(f"medium must be one of {', '.join(Medium.values)}")
    if not name.strip():
        raise CampaignError("a campaign needs a name")
    for field, value, limit in (("name", name.strip(), 200), ("target sector", target_sector, 120)):
        if len(value) > limit:
            raise CampaignError(f"the {field} is {len(value)} characters long, at most {limit}")
    return Campaign.objects.create(
        # The internal key is random too: nothing public or internal spells the name.
        code=f"c-{codes.generate()}",
        name=name.strip(),
        medium=medium,
        languages=",".join(languages),
        target_sector=target_sector,
        starts_on=starts_on,
        ends_on=ends_on,
        notes=notes,
        instructions=instructions or {},
        status=CampaignStatus.ACTIVE,
        active=True,
    )


def do_add_codes(
    campaign: Campaign, count: int = 1, *, labels: Sequence[str] = (), manual: str = ""
) -> list[CampaignCode]:
    """``count`` new codes (or one chosen by hand with ``manual``)."""
    if not 1 <= count <= 10_000:
        raise CampaignError("between 1 and 10000 codes at a time")
    if any(len(label) > 120 for label in labels):
        raise CampaignError("a label is at most 120 characters long")
    made: list[CampaignCode] = []
    with transaction.atomic():
        if manual:
            try:
                code = codes.check_manual(manual)
            except codes.CodeError as exc:
                raise CampaignError(str(exc)) from None
            if CampaignCode.objects.filter(code=code).exists():
                raise CampaignError(f"the code {code} is taken")
            label = labels[0] if labels else ""
            return [CampaignCode.objects.create(campaign=campaign, code=code, label=label)]
        for index in range(count):
            label = labels[index] if index < len(labels) else ""
            for _attempt in range(5):  # a clash of 51-bit codes is rare; retry anyway
                try:
                    with transaction.atomic():
                        made.append(
                            CampaignCode.objects.create(
                                campaign=campaign, code=codes.generate(), label=label
                            )
                        )
                    break
                except IntegrityError:
                    continue
            else:
                raise CampaignError("could not draw a free code")
    return made


def do_revoke_code(code: CampaignCode) -> None:
    """New visitors with this code get a neutral start; past contacts keep their attribution."""
    if code.revoked_at is None:
        code.revoked_at = timezone.now()
        code.save(update_fields=["revoked_at"])


def do_set_status(campaign: Campaign, status: str) -> None:
    if status not in CampaignStatus.values:
        raise CampaignError(f"status must be one of {', '.join(CampaignStatus.values)}")
    campaign.status = status
    campaign.active = status == CampaignStatus.ACTIVE
    campaign.save(update_fields=["status", "active"])


def chat_language(code: CampaignCode | None, preferred: str) -> str:
    """The language a newcomer's chat starts in: theirs if the campaign speaks it, else the
    campaign's first (a Korean leaflet's reader reads Korean, whatever his phone says)."""
    if code is None:
        return preferred
    languages = code.campaign.language_list
    if not languages or preferred in languages:
        return preferred
    return languages[0]
