"""The web chat: plain HTML forms, no JavaScript, one session cookie, nothing from third parties.

Every POST either redirects (so a reload never re-sends) or, once, renders the page that shows
new credentials: those are never stored anywhere, not even in the session.
"""

from __future__ import annotations

import uuid

from django.core.exceptions import RequestDataTooBig
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect, QueryDict
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_http_methods

from safepassage.analytics import counters
from safepassage.campaigns import services as campaigns
from safepassage.cases import services as cases
from safepassage.cases.models import Channel
from safepassage.config import APPLICANT_LANGUAGES
from safepassage.conversations import actions, catalog
from safepassage.conversations.models import Conversation
from safepassage.privacy import ratelimit
from safepassage.web import forms

SESSION_CONVERSATION = "sp_conv"
# A leaflet's campaign code rides in the first question's form (a hidden field, checked again
# on the post), so that opening the chat writes nothing: no session row, no case.
CAMPAIGN_FIELD = "c"


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


def _page(
    request: HttpRequest,
    lang: str,
    turn: actions.Turn,
    status: int = 200,
    campaign: str | None = None,
) -> HttpResponse:
    context: dict[str, object] = {
        "lang": lang,
        "turn": turn,
        "prompt": turn.prompt,
        "languages": _languages(),
        "campaign": campaign if turn.conversation is None else None,
    }
    conversation = turn.conversation
    if conversation is not None and turn.prompt is not None:
        step_type = turn.prompt.step.type
        if step_type == "thread":
            context["transcript"] = cases.applicant_thread(conversation.case)
    return render(request, "webchat/step.html", context, status=status)


def _campaign_code(data: QueryDict) -> str | None:
    """The code of an active campaign named in ``data``; anything else is dropped."""
    campaign = campaigns.find_active(data.get(CAMPAIGN_FIELD))
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


@require_http_methods(["GET", "POST"])
def chat(request: HttpRequest, lang: str) -> HttpResponse:
    _check_language(lang)
    conversation = _conversation(request)
    if request.method == "GET":
        if conversation is None:
            turn = actions.Turn(None, actions.first_prompt(lang), lang)
            return _page(request, lang, turn, campaign=_counted_visit(request.GET, lang))
        if conversation.case.language != lang:
            actions.do_set_language(conversation, lang)
        return _page(request, lang, actions.current(conversation))

    try:
        if request.POST.get("nav") == forms.LEAVE:
            request.session.flush()
            return render(
                request,
                "webchat/message.html",
                {"lang": lang, "title_id": "chat.left", "hint_id": "chat.deleted_hint"},
            )
        reply = forms.reply_from_post(request.POST)
    except RequestDataTooBig:
        turn = (
            actions.current(conversation)
            if conversation
            else actions.Turn(None, actions.first_prompt(lang), lang)
        )
        turn.reask = "reask.too_long"
        return _page(request, lang, turn, status=413)
    if conversation is None:
        if reply.action != "answer":
            return HttpResponseRedirect(reverse("webchat:chat", args=[lang]))
        code = _campaign_code(request.POST)
        reask = actions.check_first_reply(lang, reply)
        if reask:
            turn = actions.Turn(None, actions.first_prompt(lang), lang, reask)
            return _page(request, lang, turn, campaign=code)
        campaign = campaigns.find_active(code)
        conversation = actions.do_begin(Channel.WEBCHAT, lang, campaign)
        request.session.cycle_key()  # a session planted before the application is useless
        request.session[SESSION_CONVERSATION] = str(conversation.pk)
    turn = actions.do_reply(conversation.pk, reply, Channel.WEBCHAT)
    if turn.deleted:
        request.session.flush()
        return render(
            request,
            "webchat/message.html",
            {"lang": lang, "title_id": "delete.done", "hint_id": "chat.deleted_hint"},
        )
    if turn.credentials is not None or turn.reask or turn.notice:
        return _page(request, turn.language, turn)
    return HttpResponseRedirect(reverse("webchat:chat", args=[turn.language]))


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
