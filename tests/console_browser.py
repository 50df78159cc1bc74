"""Driving the console in a real browser: logging in and enrolling a TOTP authenticator."""

from __future__ import annotations

import base64
import re

from django_otp.oath import TOTP
from playwright.sync_api import Page


def totp_now(secret: str) -> str:
    """What an authenticator app shows for the key printed on the enrolment page."""
    raw = secret.replace(" ", "")
    key = base64.b32decode(raw + "=" * (-len(raw) % 8))
    return f"{TOTP(key).token():06d}"


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
