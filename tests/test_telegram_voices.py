"""Issue 11, item 4 over Telegram: a relative applying for a man reads about him, not about
himself, in the bot's questions and buttons, as the flow file's voices say."""

from __future__ import annotations

import pytest
from django.test import Client

from safepassage.conversations import catalog
from safepassage.testing.fake_telegram import FakeTelegram
from tests.telegram_support import Applicant

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("lang", ["ru", "ko"])
def test_a_relative_over_telegram_reads_about_him(
    fake: FakeTelegram, client: Client, lang: str
) -> None:
    person = Applicant(fake, client, FakeTelegram.applicant(5110000071, lang))
    person.text("/start")
    person.press("relative")
    assert person.last()["text"] == catalog.text(lang, "apply.whereabouts.prompt.relative")
    person.press("front")
    person.press("now")
    for _ in range(4):
        person.press("skip")
    person.press("group")
    assert catalog.text(lang, "apply.group_size.prompt.relative") in person.last()["text"]
    person.text("2")
    wishes = person.buttons()
    assert (
        catalog.text(lang, "apply.wishes.record_as_captured.relative")
        in wishes["record_as_captured"]
    )
    assert catalog.text(lang, "apply.wishes.no_exchange.relative") in wishes["no_exchange"]
    person.press("record_as_captured")
    person.press("")  # continue
    summary = person.last()["text"]
    assert catalog.text(lang, "apply.wishes.record_as_captured.relative") in summary
    person.press("confirm")
    menu = person.buttons()
    assert menu["ready_now"] == catalog.text(lang, "menu.ready_now.relative")
    assert menu["changed"] == catalog.text(lang, "menu.changed.relative")
    person.press("ready_now")
    assert catalog.text(lang, "menu.ready_now.done.relative") in person.last()["text"]
