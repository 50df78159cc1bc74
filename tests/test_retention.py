"""Abandoned applications are erased; submitted ones are kept."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client

from safepassage import cli
from safepassage.cases.models import Case, Contact
from safepassage.privacy import retention
from tests.conftest import ChatDriver

pytestmark = pytest.mark.django_db


def test_drafts_older_than_a_day_are_purged_and_submitted_cases_kept() -> None:
    ChatDriver(Client(), "ru").apply()
    abandoned = ChatDriver(Client(), "ko")
    abandoned.open()
    abandoned.choose("self")
    abandoned.choose("front")
    fresh = ChatDriver(Client(), "uk")
    fresh.open()
    fresh.choose("relative")
    assert Case.objects.count() == 3
    old = Case.objects.filter(language="ko").get()
    Case.objects.filter(pk=old.pk).update(updated_at=old.updated_at - timedelta(hours=25))

    assert retention.purge_expired().abandoned_drafts == 1
    assert set(Case.objects.values_list("language", flat=True)) == {"ru", "uk"}
    assert Contact.objects.count() == 2
    assert cli.main(["purge"]) == 0
    assert Case.objects.count() == 2
