# Test cases for ../django.yaml: each rule fires on "ruleid" lines and stays quiet on "ok" ones.
# Not imported or run; semgrep only parses it.
import hmac
import logging

import structlog
from django.conf import settings
from django.db import connection
from django.db.models import RawSQL
from django.http import HttpResponse, HttpResponseBadRequest, HttpResponseRedirect
from django.shortcuts import redirect
from django.urls import path, reverse
from django.utils.decorators import method_decorator
from django.utils.html import escape, format_html
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.safestring import SafeString, mark_safe
from django.views import View
from django.views.decorators import csrf
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

log = structlog.get_logger(__name__)
logger = logging.getLogger(__name__)
SECRET_HEADER = "HTTP_X_TELEGRAM_BOT_API_SECRET_TOKEN"


# --- django-csrf-exempt-outside-telegram-webhook ---


# ok: django-csrf-exempt-outside-telegram-webhook
@csrf_exempt
@require_POST
def webhook(request, slug):
    secret = request.META.get(SECRET_HEADER, "")
    if not hmac.compare_digest(secret.encode(), b"expected"):
        return HttpResponse(status=401)
    return HttpResponse(status=200)


# ok: django-csrf-exempt-outside-telegram-webhook
@csrf_exempt
@require_POST
def webhook(request, slug):
    refusal = checks.check_request(slug, request.META.get(SECRET_HEADER, ""), None)
    if refusal is not None:
        return HttpResponse(status=refusal.status)
    return HttpResponse(status=200)


# ruleid: django-csrf-exempt-outside-telegram-webhook
@csrf_exempt
def webhook(request, slug):
    refusal = checks.check_request(slug, request.META.get(SECRET_HEADER, ""), None)
    return HttpResponse(status=200)


# ruleid: django-csrf-exempt-outside-telegram-webhook
@csrf_exempt
def webhook_without_secret(request, slug):
    return HttpResponse(status=200)


# ruleid: django-csrf-exempt-outside-telegram-webhook
@csrf.csrf_exempt
def reply(request):
    return HttpResponse(status=200)


# ruleid: django-csrf-exempt-outside-telegram-webhook
@method_decorator(csrf_exempt, name="dispatch")
class Upload(View):
    pass


# ruleid: django-csrf-exempt-outside-telegram-webhook
urlpatterns = [path("upload/", csrf_exempt(reply))]


# ok: django-csrf-exempt-outside-telegram-webhook
@require_POST
def protected(request):
    return HttpResponse(status=200)


# --- django-safe-html-built-at-runtime ---


def safe_html(name, count):
    # ruleid: django-safe-html-built-at-runtime
    a = mark_safe(f"<b>{name}</b>")
    # ruleid: django-safe-html-built-at-runtime
    b = SafeString("<b>%s</b>" % name)
    # ruleid: django-safe-html-built-at-runtime
    c = mark_safe(name)
    # ruleid: django-safe-html-built-at-runtime
    d = format_html(f"<b>{name}</b>")
    # ruleid: django-safe-html-built-at-runtime
    e = format_html("<b>{}</b>".format(name))
    # ok: django-safe-html-built-at-runtime
    f = format_html("<b>{}</b> ({})", name, count)
    # ok: django-safe-html-built-at-runtime
    g = mark_safe("<hr>")
    return a, b, c, d, e, f, g


# --- django-sql-built-from-strings ---


def sql(request, table, case_id, Case):
    with connection.cursor() as cursor:
        # ruleid: django-sql-built-from-strings
        cursor.execute(f"DELETE FROM {table} WHERE id = {case_id}")
        # ruleid: django-sql-built-from-strings
        cursor.execute("SELECT * FROM cases_case WHERE id = '%s'" % case_id)
        query = "SELECT * FROM " + table
        # ruleid: django-sql-built-from-strings
        cursor.execute(query)
        # ok: django-sql-built-from-strings
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [case_id])
        # ok: django-sql-built-from-strings
        cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    # ruleid: django-sql-built-from-strings
    Case.objects.raw("SELECT * FROM cases_case WHERE language = '{}'".format(request.GET["l"]))
    # ok: django-sql-built-from-strings
    Case.objects.raw("SELECT * FROM cases_case WHERE language = %s", [request.GET["l"]])
    # ruleid: django-sql-built-from-strings
    Case.objects.annotate(x=RawSQL(f"SELECT {table}.id", []))
    # ruleid: django-sql-built-from-strings
    Case.objects.extra(where=[f"language = '{request.GET['l']}'"])
    # ok: django-sql-built-from-strings
    Case.objects.extra(where=["language = %s"], params=[request.GET["l"]])


# --- django-debug-on ---

# ruleid: django-debug-on
DEBUG = True
# ok: django-debug-on
DEBUG = False
# ruleid: django-debug-on
settings.DEBUG = True


# --- django-response-from-request-data ---


def echo(request):
    name = request.GET.get("name", "")
    if not name:
        # ok: django-response-from-request-data
        return HttpResponseBadRequest("Bad request.", content_type="text/plain")
    # ok: django-response-from-request-data
    HttpResponse(f"<p>{escape(name)}</p>")
    # ok: django-response-from-request-data
    HttpResponse(status=204)
    # ruleid: django-response-from-request-data
    return HttpResponse(f"<p>Hello {name}</p>")


def echo_body(request):
    # ruleid: django-response-from-request-data
    return HttpResponse(content=request.body)


# --- django-redirect-to-request-url ---


def after_login(request):
    target = request.GET.get("next", "/")
    if request.POST.get("go"):
        # ruleid: django-redirect-to-request-url
        return HttpResponseRedirect(target)
    if url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
        # ok: django-redirect-to-request-url
        return redirect(target)
    # ok: django-redirect-to-request-url
    return HttpResponseRedirect(reverse("webchat:chat", args=[request.POST.get("lang")]))


def bounce(request):
    # ruleid: django-redirect-to-request-url
    return redirect(request.META["HTTP_REFERER"])


def expired(request):
    # ok: django-redirect-to-request-url
    return HttpResponseRedirect(reverse("console:login") + "?expired=1")


# --- django-request-data-in-logs ---


def logs(request):
    code = request.GET.get("c")
    # ruleid: django-request-data-in-logs
    log.info("campaign.seen", code=code)
    # ruleid: django-request-data-in-logs
    logger.warning("login failed for %s", request.POST["username"])
    # ruleid: django-request-data-in-logs
    logging.info("reply %s", request.body)
    # ok: django-request-data-in-logs
    log.info("campaign.seen", has_code=bool(code), length=len(request.POST.get("text", "")))
    # ok: django-request-data-in-logs
    log.info("nav", leaving=request.POST.get("nav") == "leave")
    # ok: django-request-data-in-logs
    log.info("telegram.webhook_refused", status=401, why="bad secret")
