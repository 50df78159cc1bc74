"""Campaigns: a leaflet, a video or a post that brings people to the program, and the codes
that attribute each contact to the drop zone, video or post it came from."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _


class Medium(models.TextChoices):
    LEAFLET = "leaflet", _("Leaflet")
    VIDEO = "video", _("Video")
    RADIO = "radio", _("Radio")
    SOCIAL = "social", _("Social media post")
    OTHER = "other", _("Other")


class CampaignStatus(models.TextChoices):
    DRAFT = "draft", _("Draft")
    ACTIVE = "active", _("Active")
    ENDED = "ended", _("Ended")


class Campaign(models.Model):
    # An internal key (analytics rows of earlier versions carry it); never printed on
    # anything the public sees: a leaflet carries a CampaignCode, which reveals no name.
    code = models.SlugField(max_length=40, unique=True)
    name = models.CharField(max_length=200)
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    medium = models.CharField(max_length=12, choices=Medium.choices, default=Medium.LEAFLET)
    # Applicant languages the campaign speaks, in order ("ko", "ru,ko"); the first one is
    # the chat's language for a newcomer whose own is not among them.
    languages = models.CharField(max_length=40, default="ru")
    target_sector = models.CharField(max_length=120, blank=True)
    starts_on = models.DateField(null=True, blank=True)
    ends_on = models.DateField(null=True, blank=True)
    status = models.CharField(
        max_length=8, choices=CampaignStatus.choices, default=CampaignStatus.ACTIVE
    )
    notes = models.TextField(blank=True)
    # Step-by-step surrender instructions printed on leaflets, per language:
    # {"ko": ["step", ...], "ru": [...]}. Data, edited per campaign.
    instructions = models.JSONField(default=dict, blank=True)

    def __str__(self) -> str:
        return self.name

    @property
    def language_list(self) -> list[str]:
        return [code for code in self.languages.split(",") if code]


class CampaignCode(models.Model):
    """One code per drop zone, video or post. Short, unguessable, valid as a Telegram start
    parameter; revoking it keeps the attribution of past contacts."""

    campaign = models.ForeignKey(Campaign, on_delete=models.PROTECT, related_name="codes")
    code = models.CharField(max_length=64, unique=True)
    label = models.CharField(max_length=120, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return self.code

    @property
    def is_live(self) -> bool:
        return self.revoked_at is None and self.campaign.active
