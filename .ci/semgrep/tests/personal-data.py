# Test cases for ../personal-data.yaml: each rule fires on "ruleid" lines and stays quiet on "ok"
# ones. Not imported or run; semgrep only parses it. DEMO values only.
import logging
import urllib.parse

import structlog
from django.http import HttpResponseRedirect
from django.urls import path, re_path, reverse

from safepassage.cases import casework, services

log = structlog.get_logger(__name__)
logger = logging.getLogger(__name__)


# --- safepassage-personal-key-in-log ---


def keys(case, slug, update, value, exc):
    # ruleid: safepassage-personal-key-in-log
    log.info("case.submitted", case=str(case.pk), reference=value)
    # ruleid: safepassage-personal-key-in-log
    log.bind(chat_id=update.effective_chat.id)
    # ruleid: safepassage-personal-key-in-log
    structlog.contextvars.bind_contextvars(birth_date="DEMO")
    # ruleid: safepassage-personal-key-in-log
    logger.info("reply", extra={"text": "DEMO"})
    # ok: safepassage-personal-key-in-log
    log.info("telegram.update_failed", bot=slug, update_id=update.update_id, error="ValueError")
    # ok: safepassage-personal-key-in-log
    log.error("task_failed", task="retention-purge", error=type(exc).__name__)


# --- safepassage-personal-data-in-log ---


def values(case, ring, update, message, passphrase, slug):
    # ruleid: safepassage-personal-data-in-log
    log.info("telegram.message", bot=slug, said=update.message.text)
    # ruleid: safepassage-personal-data-in-log
    logger.warning("case %s triage %s", case.pk, case.triage)
    opened = services.answers_for_staff(case, ring)
    # ruleid: safepassage-personal-data-in-log
    log.debug("case.opened", fields=opened)
    # ruleid: safepassage-personal-data-in-log
    log.info(f"credentials checked for {passphrase}")
    # ruleid: safepassage-personal-data-in-log
    logging.info("notes: %s", casework.notes(case, ring))
    # ruleid: safepassage-personal-data-in-log
    print("sender:", update.effective_user.first_name)
    # ok: safepassage-personal-data-in-log
    log.info("telegram.message", bot=slug, length=len(update.message.text))
    # ok: safepassage-personal-data-in-log
    log.info("case.opened", case=str(case.pk), has_triage=bool(case.triage))
    # ok: safepassage-personal-data-in-log
    log.info("telegram.outbox_failed", bot=slug, method=message.method)


# --- safepassage-personal-data-in-url-pattern ---

urlpatterns = [
    # ruleid: safepassage-personal-data-in-url-pattern
    path("chat/<str:lang>/return/<str:reference>/", None, name="resume"),
    # ruleid: safepassage-personal-data-in-url-pattern
    re_path(r"^callers/(?P<phone>\+?\d+)/$", None),
    # ok: safepassage-personal-data-in-url-pattern
    path("cases/<uuid:case_id>/", None, name="case"),
    # ok: safepassage-personal-data-in-url-pattern
    path("staff/<int:user_id>/reset/", None, name="staff_reset"),
    # ok: safepassage-personal-data-in-url-pattern
    path("tg/<slug:slug>/webhook", None, name="telegram-webhook"),
]


# --- safepassage-personal-data-in-query-string ---


def links(case, reference, passphrase):
    # ruleid: safepassage-personal-data-in-query-string
    HttpResponseRedirect(reverse("console:inbox") + "?ref=" + reference)
    # ruleid: safepassage-personal-data-in-query-string
    HttpResponseRedirect(f"/chat/ko/return/?reference={reference}&pass={passphrase}")
    # ruleid: safepassage-personal-data-in-query-string
    urllib.parse.urlencode({"passphrase": passphrase})
    # ok: safepassage-personal-data-in-query-string
    HttpResponseRedirect(reverse("console:inbox") + "?taken=none")
    # ok: safepassage-personal-data-in-query-string
    HttpResponseRedirect(reverse("console:login") + "?expired=1")
    # ok: safepassage-personal-data-in-query-string
    urllib.parse.urlencode({"status": "ready", "language": "ko"})
