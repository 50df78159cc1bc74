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


def log_in_with_totp(page: Page, base: str, username: str, password: str, secret: str) -> None:
    """A later login: password, then the next code (the enrolment used the current one)."""
    page.goto(f"{base}/console/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(re.compile(r"/console/login/verify/$"))
    page.fill("#code", totp_now(secret, steps_ahead=1))
    page.get_by_role("button", name="Verify").click()
    page.wait_for_url(re.compile(r"/console/(queue|staff|field|account)/$"))


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
    page.wait_for_url(re.compile(r"/console/(queue|staff|field|account)/$"))
    return secret
