"""Campaigns: a leaflet, a video or a post that brings people to the program."""

from __future__ import annotations

from django.db import models


class Campaign(models.Model):
    code = models.SlugField(max_length=40, unique=True)
    name = models.CharField(max_length=200)
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"{self.name} ({self.code})"
