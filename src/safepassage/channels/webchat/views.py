"""The web chat: plain HTML forms, no JavaScript, one session cookie, nothing from third parties.

Every POST of the chat answers with a redirect, so a reload never sends again and Back never
meets a page the browser would have to post again; what the next page must say (a re-ask, "sent")
travels in the session as a message id. Every form carries a token of the conversation's turn
(conversations.actions.form_token): the same form sent twice, or a form from an older page, is
recognised and not applied. New credentials are shown on a GET page until the applicant says
they wrote them down: the session holds them only as ciphertext under a key that only the
browser holds (a cookie), which also keeps the applicant's own messages for their thread.
"""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from datetime import datetime, timedelta

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect, QueryDict
from django.middleware.csrf import get_token
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods

from safepassage.analytics import counters
from safepassage.campaigns import services as campaigns
from safepassage.cases import services as cases
from safepassage.cases.models import Channel
from safepassage.channels.webchat import admission, lane
from safepassage.config import APPLICANT_LANGUAGES
from safepassage.conversations import actions, catalog, engine
from safepassage.conversations.models import Conversation
from safepassage.privacy import crypto, ratelimit
from safepassage.web import forms

SESSION_CONVERSATION = "sp_conv"
# New credentials until "I have written them down": ciphertext under the browser's key only.
SESSION_CREDENTIALS = "sp_creds"
# What the page after a redirect must say: message ids only, never what the applicant wrote.
SESSION_FLASH = "sp_flash"
# The browser's own key (32 random bytes): HttpOnly, SameSite=Strict, ends with the browser.
BROWSER_KEY_COOKIE = "spk"
TOKEN_FIELD = "t"  # noqa: S105 (the form field that carries the turn token, no secret)
RENEW = "renew"
# A leaflet's campaign code rides in the first question's form (a hidden field, checked again
# on the post), so that opening the chat writes nothing: no session row, no case.
CAMPAIGN_FIELD = "c"
_NEW_KEY = "_safepassage_browser_key"


def _languages() -> list[tuple[str, str]]:
    return [(code, APPLICANT_LANGUAGES.get(code, code)) for code in catalog.languages()]


def _check_language(lang: str) -> None:
    if not catalog.is_language(lang):
        raise Http404("unknown language")


def picker(request: HttpRequest) -> HttpResponse:
    code = request.GET.get("c")
    return render(
        request,
        "webchat/picker.html",
        {
            "languages": _languages(),
            "campaign": code if campaigns.find_active(code) else None,
            "lang": "en",
        },
    )


def _conversation(request: HttpRequest) -> Conversation | None:
    raw = request.session.get(SESSION_CONVERSATION)
    if not raw:
        return None
    try:
        return Conversation.objects.select_related("case").get(pk=uuid.UUID(str(raw)))
    except (ValueError, Conversation.DoesNotExist):
        request.session.pop(SESSION_CONVERSATION, None)
        return None


def _browser_key(request: HttpRequest) -> bytes | None:
    new: bytes | None = getattr(request, _NEW_KEY, None)
    if new is not None:
        return new
    try:
        key = base64.urlsafe_b64decode(request.COOKIES.get(BROWSER_KEY_COOKIE, ""))
    except (binascii.Error, ValueError):
        return None
    return key if len(key) == crypto.KEY_BYTES else None


def _ensure_browser_key(request: HttpRequest) -> bytes:
    key = _browser_key(request)
    if key is None:
        key = crypto.new_browser_key()
        setattr(request, _NEW_KEY, key)
    return key


def _redirect(
    request: HttpRequest, name: str, lang: str, *, forget_key: bool = False
) -> HttpResponse:
    response = HttpResponseRedirect(reverse(name, args=[lang]))
    new: bytes | None = getattr(request, _NEW_KEY, None)
    if forget_key:  # leaving or erasing: this browser keeps nothing that opens anything
        response.delete_cookie(BROWSER_KEY_COOKIE, path="/chat/", samesite="Strict")
    elif new is not None:
        response.set_cookie(
            BROWSER_KEY_COOKIE,
            base64.urlsafe_b64encode(new).decode(),
            httponly=True,
            samesite="Strict",
            secure=settings.SESSION_COOKIE_SECURE,
            path="/chat/",
        )
    return response


def _credentials_aad(conversation: Conversation) -> bytes:
    return f"credentials:{conversation.pk}".encode()


def _keep_credentials(
    request: HttpRequest, conversation: Conversation, credentials: cases.Credentials
) -> None:
    """Until written down: ciphertext in the session, its key only in the browser's cookie."""
    plain = json.dumps({"r": credentials.reference, "p": credentials.passphrase}).encode()
    blob = crypto.seal_for_browser(
        _ensure_browser_key(request), plain, _credentials_aad(conversation)
    )
    request.session[SESSION_CREDENTIALS] = base64.b64encode(blob).decode()


def _shown_credentials(
    request: HttpRequest, conversation: Conversation, blob: str
) -> cases.Credentials | None:
    key = _browser_key(request)
    if key is None:
        return None
    try:
        plain = crypto.open_for_browser(key, base64.b64decode(blob), _credentials_aad(conversation))
        data = json.loads(plain)
        return cases.Credentials(str(data["r"]), str(data["p"]))
    except (crypto.DecryptionError, binascii.Error, ValueError, KeyError, TypeError):
        return None


def _when(at: datetime, now: datetime) -> str:
    """A coarse time: none finer than the hour, and no time zone to guess."""
    age = now - at
    if age < timedelta(hours=1):
        return "thread.time.hour"
    if age < timedelta(hours=20):
        return "thread.time.today"
    if age < timedelta(hours=44):
        return "thread.time.day"
    return ""


def _thread(request: HttpRequest, conversation: Conversation) -> list[dict[str, object]]:
    now = timezone.now()
    return [
        {
            "mine": entry.inbound,
            "text": entry.text,
            "when_id": _when(entry.at, now),
            "date": entry.at.strftime("%d.%m.%Y"),
        }
        for entry in cases.applicant_thread(conversation.case, _browser_key(request))
    ]


def _page(
    request: HttpRequest,
    lang: str,
    turn: actions.Turn,
    status: int = 200,
    campaign: str | None = None,
    credentials_pending: bool = False,
) -> HttpResponse:
    context: dict[str, object] = {
        "lang": lang,
        "turn": turn,
        "prompt": turn.prompt,
        "languages": _languages(),
        "campaign": campaign if turn.conversation is None else None,
        "credentials_pending": credentials_pending,
    }
    conversation = turn.conversation
    if conversation is not None:
        context["form_token"] = actions.form_token(conversation)
        if turn.prompt is not None and turn.prompt.step.type == "thread":
            context["thread"] = _thread(request, conversation)
    return render(request, "webchat/step.html", context, status=status)


def _campaign_code(data: QueryDict) -> str | None:
    """The code of an active campaign named in ``data``; anything else is dropped."""
    return _live_code(data.get(CAMPAIGN_FIELD))


def _live_code(given: str | None) -> str | None:
    campaign = campaigns.find_active(given)
    return campaign.code if campaign is not None else None


def _counted_visit(data: QueryDict, lang: str) -> str | None:
    """``_campaign_code`` for a visit from a link: a live code counts a visit for its funnel,
    any other code an "unknown_code" (the visitor starts normally). A counter, no session."""
    given = data.get(CAMPAIGN_FIELD)
    if not given:
        return None
    code = _campaign_code(data)
    counters.count("visit" if code else "unknown_code", Channel.WEBCHAT, lang, code or "")
    return code


def _show(request: HttpRequest, lang: str, conversation: Conversation) -> HttpResponse:
    if conversation.case.language != lang:
        actions.do_set_language(conversation, lang)
    blob = request.session.get(SESSION_CREDENTIALS)
    turn = actions.current(conversation, hold_end=blob is not None)
    pending = blob is not None and turn.prompt is not None and turn.prompt.step.effect == "submit"
    if pending and isinstance(blob, str):
        turn.credentials = _shown_credentials(request, conversation, blob)
    elif blob is not None:
        request.session.pop(SESSION_CREDENTIALS, None)
    flash = request.session.pop(SESSION_FLASH, None)
    if isinstance(flash, dict):
        turn.reask = flash.get("reask")
        turn.notice = flash.get("notice")
    return _page(request, lang, turn, credentials_pending=pending)


def _deferred(
    request: HttpRequest, lang: str, reply: engine.Reply, given: str | None
) -> HttpResponse:
    """A first answer while this process is overloaded: nothing is written (no case, no
    session), and the page keeps the answer in its form so that "continue" sends it again.
    503 with Retry-After, as the outage page: the answer was not taken, and whatever sits in
    front (a proxy, monitoring) sees the service shed load; a browser, with or without
    JavaScript, shows the page all the same. (Under ASGI most deferrals are answered before
    Django, by webchat.lane; this one serves the rest, and WSGI.)"""
    html = lane.deferral_html(lang, reply, given, get_token(request))
    response = HttpResponse(html, status=503)
    response["Retry-After"] = str(admission.RETRY_AFTER_SECONDS)
    # Counted, not logged: Django would log every 5xx as an error, hundreds a second in a flood.
    response._has_been_logged = True  # type: ignore[attr-defined]
    return response


def _flash(request: HttpRequest, *, reask: str | None = None, notice: str | None = None) -> None:
    request.session[SESSION_FLASH] = {"reask": reask, "notice": notice}


@require_http_methods(["GET", "POST"])
def chat(request: HttpRequest, lang: str) -> HttpResponse:
    _check_language(lang)
    conversation = _conversation(request)
    if request.method == "GET":
        if conversation is None:
            turn = actions.Turn(None, actions.first_prompt(lang), lang)
            return _page(request, lang, turn, campaign=_counted_visit(request.GET, lang))
        return _show(request, lang, conversation)

    try:
        nav = request.POST.get("nav")
        if nav == forms.LEAVE:
            request.session.flush()
            return _redirect(request, "webchat:left", lang, forget_key=True)
        reply = forms.reply_from_post(request.POST)
    except RequestDataTooBig:
        if conversation is not None:
            _flash(request, reask="reask.too_long")
            return _redirect(request, "webchat:chat", lang)
        turn = actions.Turn(None, actions.first_prompt(lang), lang)
        turn.reask = "reask.too_long"
        return _page(request, lang, turn, status=413)
    if conversation is None:
        if reply.action != "answer":
            return _redirect(request, "webchat:chat", lang)
        given = request.POST.get(CAMPAIGN_FIELD)
        deferred = admission.kept(request.POST.get(admission.KEPT_FIELD))
        if deferred is not None:  # "continue" on the page that kept a deferred answer
            reply, given = deferred.reply, deferred.campaign
        reask = actions.check_first_reply(lang, reply)
        if reask:
            # Nothing is stored for a first answer that does not fit (there is no session to
            # carry a re-ask either): the question again, 400, and a reload repeats nothing.
            turn = actions.Turn(None, actions.first_prompt(lang), lang, reask)
            return _page(request, lang, turn, status=400, campaign=_live_code(given))
        # Shed first: a new case waits; nothing is written (the lane may have admitted it).
        if not admission.admitted_by_lane(request) and not admission.admit_new_case():
            return _deferred(request, lang, reply, given)
        campaign = campaigns.find_active(given)
        conversation = actions.do_begin(Channel.WEBCHAT, lang, campaign)
        request.session.cycle_key()  # a session planted before the application is useless
        request.session[SESSION_CONVERSATION] = str(conversation.pk)
    token = request.POST.get(TOKEN_FIELD)
    if nav == RENEW:
        turn = actions.do_renew_credentials(conversation.pk, token)
    else:
        writes = actions.takes_messages(conversation)
        key = _ensure_browser_key(request) if writes else _browser_key(request)
        turn = actions.do_reply(
            conversation.pk, reply, Channel.WEBCHAT, token=token, browser_key=key
        )
    if turn.deleted:
        request.session.flush()
        return _redirect(request, "webchat:cleared", lang, forget_key=True)
    if turn.stale:
        _flash(request, notice="chat.stale")
    elif turn.credentials is not None:
        _keep_credentials(request, turn.conversation or conversation, turn.credentials)
    elif turn.reask or turn.notice:
        _flash(request, reask=turn.reask, notice=turn.notice)
    past_confirmation = turn.prompt is None or turn.prompt.step.effect != "submit"
    if turn.credentials is None and not turn.stale and past_confirmation:  # written down
        request.session.pop(SESSION_CREDENTIALS, None)
    return _redirect(request, "webchat:chat", turn.language)


def _closed(request: HttpRequest, lang: str, title_id: str) -> HttpResponse:
    _check_language(lang)
    context = {"lang": lang, "title_id": title_id, "hint_id": "chat.deleted_hint"}
    return render(request, "webchat/message.html", context)


@require_GET
def left(request: HttpRequest, lang: str) -> HttpResponse:
    """After "leave": a page of its own, so that a reload or Back posts nothing."""
    return _closed(request, lang, "chat.left")


@require_GET
def cleared(request: HttpRequest, lang: str) -> HttpResponse:
    """After erasing: a page of its own, so that a reload or Back posts nothing."""
    return _closed(request, lang, "delete.done")


@require_http_methods(["GET", "POST"])
def resume(request: HttpRequest, lang: str) -> HttpResponse:
    _check_language(lang)
    context: dict[str, object] = {"lang": lang}
    if request.method == "POST":
        form = forms.ResumeForm(request.POST)
        context["form"] = form
        if not form.is_valid():
            context["error_id"] = "chat.return.wrong"
            return render(request, "webchat/resume.html", context, status=400)
        try:
            case = cases.find_by_credentials(
                form.cleaned_data["reference"],
                form.cleaned_data["passphrase"],
                ratelimit.source_of(request),
            )
        except cases.TooManyAttempts:
            context["error_id"] = "chat.return.too_many"
            return render(request, "webchat/resume.html", context, status=429)
        if case is None:
            context["error_id"] = "chat.return.wrong"
            return render(request, "webchat/resume.html", context, status=400)
        conversation = actions.do_resume(case)
        request.session.cycle_key()
        request.session[SESSION_CONVERSATION] = str(conversation.pk)
        return HttpResponseRedirect(reverse("webchat:chat", args=[case.language]))
    return render(request, "webchat/resume.html", context)
