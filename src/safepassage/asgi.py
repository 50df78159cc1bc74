"""ASGI entry point: ``uvicorn safepassage.asgi:application``."""

from __future__ import annotations

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "safepassage.settings")
django_application = get_asgi_application()

from safepassage.channels.telegram import asgi_lane  # noqa: E402 (needs Django set up)

# Telegram's webhook is answered before Django's request stack (see asgi_lane).
application = asgi_lane.wrap(django_application)
