"""Liaisons read handovers of their sector only, from cards sealed to them (findings 4 and 6).

A liaison's password with a copy of the data directory (master key and database) opens no case
and no other sector's handover; a dump names no sector, meeting point or window; an upgrade
keeps current handovers readable by supervisors, and liaisons read them once shared.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import pytest
from django.contrib.auth.models import User
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.test import Client

from safepassage.cases import handover_cards, sealed, services
from safepassage.cases.models import Case, CaseEvent, Handover, HandoverCard, Status
from safepassage.console.models import Role, StaffProfile
from safepassage.privacy import crypto, keyring, member_keys, sealing, staff_fields
from safepassage.privacy.models import StaffKey
from tests.conftest import (
    KEYHOLDER_PASSWORD,
    STAFF_PASSWORD,
    ChatDriver,
    make_staff,
    staff_login,
)
from tests.test_confidentiality import _database_bytes

NORTH = "SENTINEL-SECTOR-North"
SOUTH = "СЕНТИНЕЛ-сектор-юг"
MEET_NORTH = "SENTINEL-MEET behind the grain silo"
MEET_SOUTH = "SENTINEL-MEET south ford"
WINDOW = ("2026-11-25T04:00", "2026-11-25T06:00")


def _ready_case(lang: str = "ru") -> Case:
    chat = ChatDriver(Client(), lang)
    chat.apply(wishes=("medical",))
    case = chat.case()
    Case.objects.filter(pk=case.pk).update(status=Status.READY)
    case.refresh_from_db()
    return case


def _hand_over(supervisor: Client, case: Case, sector: str, meeting: str) -> Handover:
    response = supervisor.post(
        f"/console/cases/{case.pk}/handover/",
        {
            "version": case.version,
            "sector": sector,
            "window_start": WINDOW[0],
            "window_end": WINDOW[1],
            "meeting": meeting,
            "confirm": "on",
        },
    )
    assert response.status_code == 302, response.content.decode()[-600:]
    return case.handovers.get(active=True)


def _two_sectors() -> tuple[Client, Client, Handover, Handover]:
    """(supervisor, north's liaison, handover north, handover south): each liaison logged in
    once, which makes the member key a card is sealed to."""
    make_staff("liaison_n", Role.LIAISON, NORTH)
    make_staff("liaison_s", Role.LIAISON, SOUTH)
    field = staff_login("liaison_n")
    staff_login("liaison_s")
    make_staff("boss", Role.SUPERVISOR)
    supervisor = staff_login("boss")
    north = _hand_over(supervisor, _ready_case(), NORTH, MEET_NORTH)
    south = _hand_over(supervisor, _ready_case("uk"), SOUTH, MEET_SOUTH)
    return supervisor, field, north, south


@pytest.mark.django_db
def test_a_liaisons_password_and_the_data_directory_open_no_case_and_no_other_sector() -> None:
    supervisor, client, north, south = _two_sectors()
    liaison = User.objects.get(username="liaison_n")
    # What a thief holding the liaison's password and a copy of the data directory can unlock.
    ring = keyring.unlock(liaison, STAFF_PASSWORD)
    assert not ring and not StaffKey.objects.filter(user=liaison).exists()
    ring.member_private = member_keys.unlock_member_key(liaison, STAFF_PASSWORD)
    assert ring.member_private is not None
    for handover in (north, south):
        case = handover.case
        assert services.reference_of(case, ring) == sealed.LOCKED_TEXT
        assert services.answers_for_staff(case, ring)["name"] == sealed.LOCKED_TEXT
        assert handover_cards.plan_of(handover, ring) is None
        assert handover_cards.meeting_of(handover, ring) is None
    # Only the liaison's own card opens; the other sector's cards do not, under any context.
    assert handover_cards.open_card(north, liaison, ring.member_private) is not None
    assert handover_cards.open_card(south, liaison, ring.member_private) is None
    for card in HandoverCard.objects.filter(handover=south):
        context = f"{handover_cards.CARD_FIELD}:{south.pk}:{card.liaison_id}"
        inner = staff_fields.fields.open_bytes(south.case, context, card.sealed)
        with pytest.raises(crypto.DecryptionError):
            sealing.open_sealed(ring.member_private, inner, context.encode())
    # Through the console: the liaison's own handover, with everything receiving needs.
    listing = client.get("/console/field/").content.decode()
    assert f"/console/field/{north.pk}/" in listing and f"/console/field/{south.pk}/" not in listing
    page = client.get(f"/console/field/{north.pk}/").content.decode()
    for shown in (MEET_NORTH, "2026-11-25 04:00", "needs medical care"):
        assert shown in page
    reference = services.reference_of(
        north.case, keyring.unlock(User.objects.get(username="boss"), STAFF_PASSWORD)
    )
    assert re.search(rf'id="reference">{re.escape(reference)}<', page)
    assert client.get(f"/console/field/{south.pk}/").status_code == 404
    # Supervisors keep reading sector, window and meeting point on the case page.
    case_page = supervisor.get(f"/console/cases/{north.case_id}/").content.decode()
    for shown in (NORTH, "2026-11-25 04:00", MEET_NORTH, "liaison_n"):
        assert shown in case_page


@pytest.mark.django_db(transaction=True)
def test_a_dump_names_no_sector_meeting_point_or_window(tmp_path: Path) -> None:
    _two_sectors()
    raw = _database_bytes(tmp_path)
    for value in (NORTH, SOUTH, MEET_NORTH, MEET_SOUTH):
        assert value.encode("utf-8") not in raw, value
        assert value.encode("utf-16-le") not in raw, value
    for moment in (b"2026-11-25 04:00", b"2026-11-25T04:00", b"2026-11-25 06:00"):
        assert moment not in raw, moment


@pytest.mark.django_db
def test_a_handover_nobody_of_the_sector_can_read_is_refused_and_loses_nothing() -> None:
    make_staff("never_logged_in", Role.LIAISON, NORTH)
    make_staff("boss", Role.SUPERVISOR)
    supervisor = staff_login("boss")
    case = _ready_case()
    form = supervisor.get(f"/console/cases/{case.pk}/").content.decode()
    assert f"{NORTH} (liaisons who can receive: 0)" in form
    response = supervisor.post(
        f"/console/cases/{case.pk}/handover/",
        {
            "version": case.version,
            "sector": NORTH,
            "window_start": WINDOW[0],
            "window_end": WINDOW[1],
            "meeting": MEET_NORTH,
            "confirm": "on",
        },
    )
    assert response.status_code == 400
    assert "must log in once first" in response.content.decode()
    case.refresh_from_db()
    assert case.status == Status.READY and not case.handovers.exists()


def _sessions_of(user: User) -> int:
    from django.contrib.sessions.models import Session

    return sum(s.get_decoded().get("_auth_user_id") == str(user.pk) for s in Session.objects.all())


OLD = [("cases", "0004_coarse_times"), ("console", "0002_sealed_totp_device")]


@pytest.mark.django_db(transaction=True)
def test_an_upgrade_keeps_current_handovers_readable_and_liaisons_read_them_once_shared() -> None:
    make_staff("boss", Role.SUPERVISOR)
    liaison = make_staff("liaison_up", Role.LIAISON, NORTH)  # never logged in: no member key
    assert isinstance(liaison, User)
    case = _ready_case()
    Client().force_login(liaison)  # a session of the previous version (its keyring and all)
    assert _sessions_of(liaison) == 1
    executor = MigrationExecutor(connection)
    executor.migrate(OLD)
    old = executor.loader.project_state(OLD).apps
    # As the previous version stored a handover: sector and window in clear, the sector in the
    # event, the liaison holding the program key.
    keyring.do_grant(
        User.objects.get(username="keyholder"), KEYHOLDER_PASSWORD, liaison, STAFF_PASSWORD
    )
    Case.objects.filter(pk=case.pk).update(status=Status.HANDED_OVER)
    start, end = (datetime.fromisoformat(w).replace(tzinfo=UTC) for w in WINDOW)
    old_handovers = old.get_model("cases", "Handover").objects
    row = old_handovers.create(
        case_id=case.pk, sector=NORTH, window_start=start, window_end=end, meeting_sealed=b""
    )
    old_handovers.filter(pk=row.pk).update(
        meeting_sealed=staff_fields.seal(case, f"meeting:{row.pk}", MEET_NORTH)
    )
    old.get_model("cases", "CaseEvent").objects.create(
        case_id=case.pk, kind="handover", to_status="handed_over", detail=f"sector {NORTH}"
    )
    assert old.get_model("console", "StaffProfile").objects.get(user_id=liaison.pk).sector == NORTH

    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())

    handover = Handover.objects.get(pk=row.pk)
    assert handover.sector_index == crypto.sector_index(NORTH)
    assert not StaffKey.objects.filter(user=liaison).exists()
    assert StaffProfile.objects.get(user=liaison).sector == NORTH
    assert CaseEvent.objects.get(case=case, kind="handover").detail == ""
    assert _sessions_of(liaison) == 0
    supervisor = staff_login("boss")
    page = supervisor.get(f"/console/cases/{case.pk}/").content.decode()
    for shown in (NORTH, "2026-11-25 04:00", MEET_NORTH):
        assert shown in page
    assert re.search(r'id="share-waiting">liaison_up<', page)
    assert "Share with the sector" not in page  # nobody to seal to before they log in

    field = staff_login("liaison_up")  # their first login makes their member key
    before = field.get(f"/console/field/{row.pk}/").content.decode()
    assert "not been shared with you yet" in before and MEET_NORTH not in before
    page = supervisor.get(f"/console/cases/{case.pk}/").content.decode()
    assert "Share with the sector" in page
    assert supervisor.post(f"/console/cases/{case.pk}/handover/share/").status_code == 302
    after = field.get(f"/console/field/{row.pk}/").content.decode()
    for shown in (MEET_NORTH, "2026-11-25 04:00", "needs medical care"):
        assert shown in after
    assert "liaison_up" in supervisor.get(f"/console/cases/{case.pk}/").content.decode()


@pytest.mark.django_db
def test_a_liaison_whose_password_was_reset_reads_the_handover_again_once_shared() -> None:
    supervisor, _field, north, _south = _two_sectors()
    liaison = User.objects.get(username="liaison_n")
    make_staff("adm", Role.ADMIN)
    admin = staff_login("adm")
    # A lost phone keeps the password, so the liaison's key pair and card stay readable.
    assert admin.post(f"/console/staff/{liaison.pk}/reset/", {"confirm": "on"}).status_code == 302
    kept = member_keys.unlock_member_key(liaison, STAFF_PASSWORD)
    assert kept is not None and handover_cards.open_card(north, liaison, kept) is not None
    # A forgotten password voids the key pair wrapped under it: the card waits for a share.
    page = admin.post(
        f"/console/staff/{liaison.pk}/reset-password/", {"confirm": "on"}, follow=True
    ).content.decode()
    found = re.search(r'id="new-password">([^<]+)<', page)
    assert found
    password = found.group(1)
    # The password step of their next login makes a new key pair (a factor is enrolled next).
    Client().post("/console/login/", {"username": "liaison_n", "password": password})
    private = member_keys.unlock_member_key(liaison, password)
    assert private is not None
    assert handover_cards.open_card(north, liaison, private) is None
    case_page = supervisor.get(f"/console/cases/{north.case_id}/").content.decode()
    assert re.search(r'id="share-waiting">liaison_n<', case_page)
    assert supervisor.post(f"/console/cases/{north.case_id}/handover/share/").status_code == 302
    card = handover_cards.open_card(north, liaison, private)
    assert card is not None and card["meeting"] == MEET_NORTH


@pytest.mark.django_db
def test_a_new_liaison_reads_the_card_in_the_session_where_they_chose_their_password() -> None:
    """Choosing a password after the one-time one keeps the key pair the login made (a liaison
    holds no program key, so their keyring is 'empty' but for it): a card sealed meanwhile opens
    in that same session, as in tests/test_console_e2e.py."""
    from django_otp.oath import TOTP

    from safepassage.console.models import SealedTOTPDevice

    make_staff("adm_new", Role.ADMIN)
    admin = staff_login("adm_new")
    created = admin.post(
        "/console/staff/new/",
        {"username": "liaison_new", "role": "liaison", "sector": NORTH},
        follow=True,
    ).content.decode()
    found = re.search(r'id="new-password">([^<]+)<', created)
    assert found
    field = Client()
    assert (
        field.post(
            "/console/login/", {"username": "liaison_new", "password": found.group(1)}
        ).status_code
        == 302
    )
    field.get("/console/login/enrol/")
    device = SealedTOTPDevice.objects.get(user__username="liaison_new", confirmed=False)
    field.post("/console/login/enrol/", {"code": f"{TOTP(device.bin_key).token():06d}"})
    chosen = "DEMO the liaison's chosen passphrase"
    response = field.post(
        "/console/account/choose-password/", {"new_password1": chosen, "new_password2": chosen}
    )
    assert response.status_code == 302
    make_staff("boss_new", Role.SUPERVISOR)
    handover = _hand_over(staff_login("boss_new"), _ready_case(), NORTH, MEET_NORTH)
    card = field.get(f"/console/field/{handover.pk}/").content.decode()
    assert MEET_NORTH in card
