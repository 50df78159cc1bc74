"""Driving the console in a real browser: logging in and enrolling a TOTP authenticator."""

from __future__ import annotations

import base64
import re
import time

from django_otp.oath import TOTP
from playwright.sync_api import Page


def totp_now(secret: str, steps_ahead: int = 0) -> str:
    """What an authenticator app shows for the key printed on the enrolment page (or will show
    ``steps_ahead`` periods later: the server accepts one step of clock drift)."""
    raw = secret.replace(" ", "")
    key = base64.b32decode(raw + "=" * (-len(raw) % 8))
    totp = TOTP(key)
    totp.time = time.time() + 30 * steps_ahead
    return f"{totp.token():06d}"


# What every account chooses in place of its one-time password (console.first_login).
CHOSEN_PASSWORD = "DEMO browser chosen passphrase"


def choose_password(page: Page) -> None:
    """The page a one-time password leads to: choose one's own."""
    page.wait_for_url(re.compile(r"/console/account/choose-password/$"))
    page.fill("#id_new_password1", CHOSEN_PASSWORD)
    page.fill("#id_new_password2", CHOSEN_PASSWORD)
    page.get_by_role("button", name="Set my password").click()
    page.wait_for_url(re.compile(r"/console/(queue|service|overview|field|account)/$"))


def grant_program_key(page: Page, base: str, username: str) -> None:
    """A key holder (logged in on ``page``) grants ``username`` the program key."""
    page.goto(f"{base}/console/program-key/")
    form = page.locator("form", has_text=username)
    form.locator("input[type=password]").fill(CHOSEN_PASSWORD)
    form.get_by_role("button", name="Grant program key").click()
    page.wait_for_url(re.compile(r"/console/program-key/$"))
    assert username in page.locator("#pending-grants").inner_text()


def log_in_with_totp(page: Page, base: str, username: str, password: str, secret: str) -> None:
    """A later login: password, then the next code (the enrolment used the current one)."""
    page.goto(f"{base}/console/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(re.compile(r"/console/login/verify/$"))
    page.fill("#code", totp_now(secret, steps_ahead=1))
    page.get_by_role("button", name="Verify").click()
    page.wait_for_load_state()
    if page.url.endswith("/console/login/verify/"):
        # More than a minute since the enrolment (a slow machine): the next code is out of the
        # accepted drift, and the current one has not been used.
        page.fill("#code", totp_now(secret))
        page.get_by_role("button", name="Verify").click()
    page.wait_for_url(re.compile(r"/console/(queue|service|overview|field|account)/$"))


def log_in_and_enrol_totp(page: Page, base: str, username: str, password: str) -> str:
    """First login of a new account: password, then set up TOTP. Returns the TOTP key."""
    page.goto(f"{base}/console/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(re.compile(r"/console/login/enrol/$"))
    secret = page.locator("#totp-secret").inner_text()
    page.fill("#code", totp_now(secret))
    page.get_by_role("button", name="Confirm").click()
    choose_password(page)  # the password was one-time
    return secret
