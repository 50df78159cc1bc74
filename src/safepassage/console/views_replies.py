"""Supervisors manage vetted replies: titles, audience, a text per applicant language, and the
review of each text by a supervisor who reads it. Thin: the rules are in replies.services."""

from __future__ import annotations

from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_POST

from safepassage.config import APPLICANT_LANGUAGES
from safepassage.console import access, forms_replies, presenters
from safepassage.console.guard import staff_view
from safepassage.replies import services as replies
from safepassage.replies.models import VettedReply, VettedText


def _user(request: HttpRequest) -> User:
    if not isinstance(request.user, User):  # staff_view lets only staff through
        raise PermissionDenied
    return request.user


def _reply(reply_id: int) -> VettedReply:
    reply = VettedReply.objects.filter(pk=reply_id).first()
    if reply is None:
        raise Http404("no such reply")
    return reply


@staff_view("replies")
def reply_list(request: HttpRequest) -> HttpResponse:
    lang = presenters.operator_language()
    rows = []
    for reply in VettedReply.objects.prefetch_related("texts"):
        texts = {t.language: t for t in reply.texts.all()}
        rows.append(
            (reply, reply.title(lang), [(code, texts.get(code)) for code in APPLICANT_LANGUAGES])
        )
    return render(
        request,
        "console/replies.html",
        {"rows": rows, "languages": list(APPLICANT_LANGUAGES.items())},
    )


def _initial(reply: VettedReply) -> dict[str, object]:
    initial: dict[str, object] = {
        "key": reply.key,
        "audience": reply.audience,
        "position": reply.position,
        "active": reply.active,
    }
    for lang, name in forms_replies.TITLE_FIELDS.items():
        initial[name] = getattr(reply, f"title_{lang}")
    for text in reply.texts.all():
        initial[forms_replies.TEXT_FIELDS[text.language]] = text.text
    return initial


def _edit_page(
    request: HttpRequest,
    reply: VettedReply | None,
    form: forms_replies.VettedReplyForm,
    status: int = 200,
    review_error: str = "",
) -> HttpResponse:
    reads = access.reads_of(request.user)
    texts: dict[str, VettedText] = {t.language: t for t in reply.texts.all()} if reply else {}
    languages = [
        (code, name, form[forms_replies.TEXT_FIELDS[code]], texts.get(code), code in reads)
        for code, name in APPLICANT_LANGUAGES.items()
    ]
    return render(
        request,
        "console/reply_edit.html",
        {
            "reply": reply,
            "form": form,
            "languages": languages,
            "review_error": review_error,
        },
        status=status,
    )


@staff_view("replies")
def reply_new(request: HttpRequest) -> HttpResponse:
    if request.method != "POST":
        form = forms_replies.VettedReplyForm(initial={"active": True, "position": 100})
        return _edit_page(request, None, form)
    form = forms_replies.VettedReplyForm(request.POST)
    if not form.is_valid():
        return _edit_page(request, None, form, 400)
    try:
        reply = replies.do_save(None, _user(request), form.reply_data())
    except replies.Refused as exc:
        form.add_error(None, str(exc))
        return _edit_page(request, None, form, 400)
    return HttpResponseRedirect(reverse("console:reply_edit", args=[reply.pk]))


@staff_view("replies")
def reply_edit(request: HttpRequest, reply_id: int) -> HttpResponse:
    reply = _reply(reply_id)
    if request.method != "POST":
        return _edit_page(request, reply, forms_replies.VettedReplyForm(initial=_initial(reply)))
    post = request.POST.copy()
    post["key"] = reply.key  # the name stays what it is
    form = forms_replies.VettedReplyForm(post)
    if not form.is_valid():
        return _edit_page(request, reply, form, 400)
    try:
        replies.do_save(reply, _user(request), form.reply_data())
    except replies.Refused as exc:
        form.add_error(None, str(exc))
        return _edit_page(request, reply, form, 400)
    return HttpResponseRedirect(reverse("console:reply_edit", args=[reply.pk]))


@require_POST
@staff_view("replies")
def reply_review(request: HttpRequest, reply_id: int) -> HttpResponse:
    reply = _reply(reply_id)
    user = _user(request)
    form = forms_replies.ReviewForm(request.POST)
    page_form = forms_replies.VettedReplyForm(initial=_initial(reply))
    if not form.is_valid() or not reply.texts.filter(pk=form.cleaned_data["text"]).exists():
        return _edit_page(request, reply, page_form, 400, review_error=str(replies.NO_TEXT))
    try:
        replies.do_review(
            form.cleaned_data["text"],
            user,
            form.cleaned_data["version"],
            reads=access.reads_of(user),
            supervisor=access.is_supervisor(user),
        )
    except replies.Refused as exc:
        return _edit_page(request, reply, page_form, 400, review_error=str(exc))
    return HttpResponseRedirect(reverse("console:reply_edit", args=[reply.pk]))
