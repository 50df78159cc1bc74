"""WebAuthn security keys (py_webauthn): registration and assertion ceremonies.

The browser side is console/static/console.js; options go out as JSON, challenges wait in the
session, and only the public key and signature counter are stored.
"""

from __future__ import annotations

import json

import webauthn
from django.contrib.auth.models import User
from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext
from webauthn.helpers import bytes_to_base64url
from webauthn.helpers.exceptions import InvalidAuthenticationResponse, InvalidRegistrationResponse
from webauthn.helpers.structs import (
    AuthenticatorSelectionCriteria,
    PublicKeyCredentialDescriptor,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)

from safepassage.console import auth
from safepassage.console.models import SecurityKey
from safepassage.privacy import audit

SESSION_CHALLENGE = "sp_webauthn_challenge"
RP_NAME = "Safe Passage console"


class KeyRefused(Exception):
    pass


def _rp(request: HttpRequest) -> tuple[str, str]:
    host = request.get_host()
    rp_id = host.rsplit(":", 1)[0] if not host.endswith("]") else host
    return rp_id, f"{request.scheme}://{host}"


def registration_options(request: HttpRequest, user: User) -> str:
    rp_id, _ = _rp(request)
    options = webauthn.generate_registration_options(
        rp_id=rp_id,
        rp_name=RP_NAME,
        user_name=user.get_username(),
        user_id=str(user.pk).encode(),
        authenticator_selection=AuthenticatorSelectionCriteria(
            resident_key=ResidentKeyRequirement.DISCOURAGED,
            user_verification=UserVerificationRequirement.PREFERRED,
        ),
        exclude_credentials=[
            PublicKeyCredentialDescriptor(id=bytes(k.credential_id))
            for k in SecurityKey.objects.filter(user=user)
        ],
    )
    request.session[SESSION_CHALLENGE] = bytes_to_base64url(options.challenge)
    return webauthn.options_to_json(options)


def do_register(request: HttpRequest, user: User, credential: str, name: str) -> SecurityKey:
    challenge = request.session.pop(SESSION_CHALLENGE, None)
    if not challenge:
        raise KeyRefused(gettext("No registration in progress."))
    rp_id, origin = _rp(request)
    try:
        verified = webauthn.verify_registration_response(
            credential=credential,
            expected_challenge=webauthn.base64url_to_bytes(challenge),
            expected_rp_id=rp_id,
            expected_origin=origin,
        )
    except (InvalidRegistrationResponse, ValueError, KeyError) as exc:
        raise KeyRefused(gettext("The security key's answer could not be verified.")) from exc
    with transaction.atomic():
        key = SecurityKey.objects.create(
            user=user,
            name=(name or "Security key")[:60],
            credential_id=verified.credential_id,
            public_key=verified.credential_public_key,
            sign_count=verified.sign_count,
        )
        auth.do_rotate_stamp(user)
        audit.record(user, "staff.factor_added", None, "webauthn")
    return key


def authentication_options(request: HttpRequest, user: User) -> str:
    rp_id, _ = _rp(request)
    options = webauthn.generate_authentication_options(
        rp_id=rp_id,
        allow_credentials=[
            PublicKeyCredentialDescriptor(id=bytes(k.credential_id))
            for k in SecurityKey.objects.filter(user=user)
        ],
        user_verification=UserVerificationRequirement.PREFERRED,
    )
    request.session[SESSION_CHALLENGE] = bytes_to_base64url(options.challenge)
    return webauthn.options_to_json(options)


def do_authenticate(request: HttpRequest, user: User, credential: str) -> None:
    challenge = request.session.pop(SESSION_CHALLENGE, None)
    if not challenge:
        raise KeyRefused(gettext("No sign-in with a key in progress."))
    try:
        raw_id = webauthn.base64url_to_bytes(json.loads(credential)["rawId"])
    except (ValueError, KeyError, TypeError) as exc:
        raise KeyRefused(gettext("Malformed answer from the security key.")) from exc
    rp_id, origin = _rp(request)
    with transaction.atomic():
        key = (
            SecurityKey.objects.select_for_update().filter(user=user, credential_id=raw_id).first()
        )
        if key is None:
            raise KeyRefused(gettext("This security key is not registered for your account."))
        try:
            verified = webauthn.verify_authentication_response(
                credential=credential,
                expected_challenge=webauthn.base64url_to_bytes(challenge),
                expected_rp_id=rp_id,
                expected_origin=origin,
                credential_public_key=bytes(key.public_key),
                credential_current_sign_count=key.sign_count,
            )
        except (InvalidAuthenticationResponse, ValueError, KeyError) as exc:
            raise KeyRefused(gettext("The security key's answer could not be verified.")) from exc
        key.sign_count = verified.new_sign_count
        key.last_used_at = timezone.now()
        key.save(update_fields=["sign_count", "last_used_at"])
