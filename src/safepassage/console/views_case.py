"""The case page and everything done on it. Thin: access in console.access, writes in cases."""

from __future__ import annotations

import uuid

from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import Exists, OuterRef, Prefetch, prefetch_related_objects
from django.forms import Form
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from safepassage.cases import casework, delivery, handover_cards, suspicion, workflow
from safepassage.cases import services as cases
from safepassage.cases.models import (
    CallDirection,
    Caller,
    CallOutcome,
    Case,
    CloseReason,
    Handover,
    ReachBy,
    Status,
)
from safepassage.config import APPLICANT_LANGUAGES
from safepassage.console import access, forms, history, presence, presenters, translation
from safepassage.console.guard import staff_view
from safepassage.console.models import Role
from safepassage.privacy import audit, references
from safepassage.privacy.keyring import Keyring
from safepassage.privacy.models import AuditEvent
from safepassage.privacy.session import keyring_of
from safepassage.replies import services as replies

# What the case page's template reads through the case: joined into its one read of the case.
# (Not what is rarely set, as the case it was merged into: a join costs more than its read.)
PAGE_RELATED = ("assigned_to", "contact__campaign")


def _merged_into_it() -> Exists:
    return Exists(Case.objects.filter(merged_into=OuterRef("pk")))


def visible_case(request: HttpRequest, case_id: uuid.UUID, *, page: bool = False) -> Case:
    """``page``: for the case page, with what its template reads through the case, and whether
    any case is merged into it (almost never: then the page does not ask for them)."""
    cases = access.visible_cases(request.user)
    if page:
        cases = cases.select_related(*PAGE_RELATED).annotate(has_merged=_merged_into_it())
    case = cases.filter(pk=case_id).first()
    if case is None:
        # Same answer whether the case does not exist or is someone else's.
        raise Http404("no such case")
    return case


def _staff_user(request: HttpRequest) -> User:
    if not isinstance(request.user, User):  # staff_view lets only staff through
        raise PermissionDenied
    return request.user


def _with_delivery(
    case: Case, entries: list[cases.TranscriptEntry], ring: Keyring
) -> list[tuple[cases.TranscriptEntry, str]]:
    """Each message with, for a reply, how far it got (queued, delivered, failed and why); a
    vetted reply also in the operator's language (presenters.VettedEntry)."""
    entries = presenters.with_vetted(case, entries, ring)
    states = delivery.states(case, {e.channel for e in entries if e.direction == "out"})
    shown = {e.message_id for e in entries if e.shown and e.case_id == case.pk}
    return [
        (
            entry,
            presenters.reply_delivery(
                entry.channel, states.get(entry.message_id or 0), entry.message_id in shown
            )
            if entry.direction == "out"
            else "",
        )
        for entry in entries
    ]


def presence_text(others: list[presence.Present]) -> str:
    """Who else has this case open, in one sentence ('' when nobody)."""
    writing = [p.name for p in others if p.writing]
    viewing = [p.name for p in others if not p.writing]
    parts = []
    if writing:
        many = len(writing) > 1
        text = _("%(names)s are writing replies.") if many else _("%(names)s is writing a reply.")
        parts.append(text % {"names": ", ".join(writing)})
    if viewing:
        many = len(viewing) > 1
        text = (
            _("%(names)s also have this case open.")
            if many
            else _("%(names)s also has this case open.")
        )
        parts.append(text % {"names": ", ".join(viewing)})
    return " ".join(parts)


def _prefetch_merged(case: Case) -> None:
    """The transcript, its vetted replies and the page all list the cases merged into this one:
    read once, or not at all when the case's read said there are none."""
    merged = Case.objects.all() if getattr(case, "has_merged", True) else Case.objects.none()
    prefetch_related_objects([case], Prefetch("merged_cases", queryset=merged))


def _newest(entries: list[cases.TranscriptEntry]) -> int:
    """The id of the newest message shown (0: none): the read mark, and the live poll's start."""
    return max((e.message_id or 0 for e in entries), default=0)


def _last_channel(case: Case, entries: list[cases.TranscriptEntry]) -> str:
    """Where the applicant last wrote in this case itself (not in one merged into it)."""
    inbound = [e.channel for e in entries if e.direction == "in" and e.case_id == case.pk]
    return inbound[-1] if inbound else case.channel


def _record_view(
    case: Case, user: User, newest: int, *, detail: str = "", present: bool = False
) -> None:
    """A view's writes: the presence (``present``) and the read mark in one transaction, then
    the audit record in its own. Not all in one: PostgreSQL checks the new rows' references to
    the case at COMMIT, so that transaction would wait for the case row while holding the audit
    chain's lock, which a write holding the case row waits for (a deadlock). Two transactions
    cost the same statements as a savepoint in one."""
    with transaction.atomic():
        if present:
            presence.do_report(case.pk, user, writing=False)
        casework.do_mark_read(case, user, newest)
    audit.record(user, "case.view", case.pk, detail)


def _callbacks(case: Case, ring: Keyring) -> list[tuple[object, str]]:
    return [
        (cb, casework.reach_of(cb, ring))
        for cb in case.callbacks.filter(done_at__isnull=True).order_by("window_start")
    ]


def case_context(request: HttpRequest, case: Case) -> dict[str, object]:
    user = _staff_user(request)
    ring = keyring_of(request)
    _prefetch_merged(case)
    transcript = cases.transcript(case, ring)
    presence.do_sweep()
    _record_view(case, user, _newest(transcript), present=True)
    head_count, head_count_applied = casework.head_count_of(case)
    answers = cases.answers_for_staff(case, ring)
    row = presenters.row(case)
    supervisor = access.is_supervisor(user)
    handover = case.handovers.filter(active=True).first()
    last_channel = _last_channel(case, transcript)
    return {
        "case": case,
        "row": row,
        "short_id": row.short_id,
        "urgency": row.urgency,
        "urgency_label": row.urgency_label,
        "language": row.language,
        "reference": cases.reference_of(case, ring),
        "answers": presenters.answer_lines(answers, case.language),
        "wishes": presenters.wish_badges(answers),
        "transcript": _with_delivery(case, transcript, ring),
        "last_message": _newest(transcript),
        "presence_text": presence_text(presence.others(case.pk, user)),
        "can_take": case.assigned_to_id != user.pk and (case.assigned_to_id is None or supervisor),
        "unassigned": case.assigned_to_id is None,
        "head_count": head_count,
        "head_count_applied": head_count_applied,
        "notes": casework.notes(case, ring),
        "calls": casework.calls(case, ring),
        "callbacks": _callbacks(case, ring),
        "reach_choices": ReachBy.choices,
        "events": history.case_history(case.events.select_related("actor")),
        "handover": handover,
        "meeting": casework.meeting_of(handover, ring) if handover else "",
        "locked": not ring,
        "targets": [
            (t, Status(t).label) for t in workflow.targets(case.status, is_supervisor=supervisor)
        ],
        "close_reasons": CloseReason.choices,
        "supervisor": supervisor,
        "assignees": User.objects.filter(
            staff_profile__role__in=[Role.OPERATOR, Role.SUPERVISOR], is_active=True
        ).order_by("username")
        if supervisor
        else [],
        "merged_cases": case.merged_cases.all(),
        "vetted": replies.offers(case, presenters.operator_language()),
        "korean": case.language == "ko",
        # Machine translation of what the applicant wrote, when the deployment has a server.
        "machine_translation": translation.enabled()
        and case.language != presenters.operator_language(),
        "needs_reader_choices": list(APPLICANT_LANGUAGES.items()),
        "reply_channel": last_channel,
        "delivery_state": presenters.delivery_state(last_channel),
        "call_directions": CallDirection.choices,
        "callers": Caller.choices,
        "call_outcomes": CallOutcome.choices,
        "languages": list(APPLICANT_LANGUAGES.items()),
        "sectors": _sectors() if supervisor else [],
        **_handover_context(handover, ring),
        "can_handover": bool(
            workflow.targets(case.status, is_supervisor=supervisor, via=workflow.Via.HANDOVER)
        ),
    }


def _forms(case: Case) -> dict[str, Form]:
    """Each form of the case page, unbound; a view that refuses a post swaps in its bound one."""
    return {
        "reply_form": forms.ReplyForm(),
        "transition_form": forms.TransitionForm(),
        "head_count_form": forms.HeadCountForm(
            initial={"head_count": casework.head_count_of(case)[0]}
        ),
        "fake_mark_form": forms.FakeMarkForm(initial={"mark": case.fake_mark}),
        "assign_form": forms.AssignForm(initial={"assignee": case.assigned_to_id}),
        "merge_form": forms.MergeForm(),
        "handover_form": forms.HandoverForm(),
        "call_form": forms.CallForm(initial={"language": case.language, "duration_minutes": 0}),
        "callback_form": forms.CallbackForm(),
        "note_form": forms.NoteForm(),
        "needs_reader_form": forms.NeedsReaderForm(initial={"language": case.needs_reader}),
    }


def _sectors() -> list[tuple[str, int]]:
    """Each sector by name, with how many of its liaisons a handover can be sealed to now."""
    return [
        (name, sum(handover_cards.can_receive(u) for u in handover_cards.liaisons_of(index)))
        for index, name in access.sector_choices()
    ]


def _handover_context(handover: Handover | None, ring: Keyring) -> dict[str, object]:
    if handover is None:
        return {}
    waiting = handover_cards.waiting(handover)
    return {
        "plan": handover_cards.plan_of(handover, ring),
        "card_holders": [u.get_username() for u in handover_cards.holders(handover)],
        "share_waiting": [u.get_username() for u in waiting],
        # Only a liaison who has logged in (a member key) can be sealed to.
        "share_ready": any(handover_cards.can_receive(u) for u in waiting),
    }


def _page(request: HttpRequest, case: Case, status: int = 200, **extra: object) -> HttpResponse:
    context = case_context(request, case)
    context.update(_forms(case))
    context.update(extra)
    return render(request, "console/case.html", context, status=status)


def _refused(
    request: HttpRequest, case: Case, name: str, form: Form, message: str = ""
) -> HttpResponse:
    """The case page again with ``form`` as posted and its errors: 400, nothing typed lost."""
    if message:
        form.add_error(None, message)
    return _page(request, case, 400, **{name: form})


def _back(case: Case, anchor: str = "") -> HttpResponse:
    return HttpResponseRedirect(reverse("console:case", args=[case.pk]) + anchor)


@staff_view("case.read")
def case_detail(request: HttpRequest, case_id: uuid.UUID) -> HttpResponse:
    return _page(request, visible_case(request, case_id, page=True))


@require_POST
@staff_view("case.work")
def reply(request: HttpRequest, case_id: uuid.UUID) -> HttpResponse:
    case = visible_case(request, case_id)
    form = forms.ReplyForm(request.POST)
    if not form.is_valid():
        return _refused(request, case, "reply_form", form)
    vetted = form.cleaned_data["vetted"]
    user = _staff_user(request)
    supervisor = access.is_supervisor(user)
    try:
        if vetted:
            if form.cleaned_data["take"]:  # asked for in the form: never assigned silently
                casework.do_take(case, user, supervisor=supervisor)
                case.refresh_from_db()
            replies.do_send(case, user, vetted)
        else:
            casework.do_reply(
                case,
                user,
                form.cleaned_data["text"],
                take=form.cleaned_data["take"],
                supervisor=supervisor,
            )
    except workflow.Refused as exc:
        if vetted:
            form.add_error("vetted", str(exc))
            return _refused(request, case, "reply_form", form)
        return _refused(request, case, "reply_form", form, str(exc))
    return _back(case, "#conversation")


@require_POST
@staff_view("case.work")
def take(request: HttpRequest, case_id: uuid.UUID) -> HttpResponse:
    """ "Take": assign the case to me (an unassigned case; a supervisor, any case)."""
    case = visible_case(request, case_id)
    user = _staff_user(request)
    form = forms.TakeForm(request.POST)
    if not form.is_valid():  # it has no fields: only for the rule that every post binds a form
        return _page(request, case, 400)
    try:
        casework.do_take(case, user, supervisor=access.is_supervisor(user))
    except workflow.Refused as exc:
        case.refresh_from_db()
        return _page(request, case, 409, take_error=str(exc))
    return _back(case)


@require_GET
@staff_view("case.read", background=True)
def live(request: HttpRequest, case_id: uuid.UUID) -> HttpResponse:
    """What console.js asks every 2 s on an open case page: the newest message's id (when it
    changes, the script fetches the conversation) and who else has the case open. Reports this
    member's own presence (``?writing=1`` while they type a reply). No personal data."""
    user = _staff_user(request)
    # The case's id and whether a case is merged into it, no more: the poll opens nothing.
    merged = (
        access.visible_cases(user)
        .filter(pk=case_id)
        .annotate(merged=_merged_into_it())
        .values_list("merged", flat=True)
        .first()
    )
    if merged is None:
        raise Http404("no such case")
    presence.do_report(case_id, user, writing=request.GET.get("writing") == "1")
    newest = cases.newest_message_id(case_id, merged=merged)
    return JsonResponse({"last": newest, "presence": presence_text(presence.others(case_id, user))})


@require_GET
@staff_view("case.read", background=True)
def conversation(request: HttpRequest, case_id: uuid.UUID) -> HttpResponse:
    """The conversation alone, for console.js to swap in when a message arrives: a read of the
    case's messages, audited like the case page."""
    case = visible_case(request, case_id)
    user = _staff_user(request)
    ring = keyring_of(request)
    _prefetch_merged(case)
    transcript = cases.transcript(case, ring)
    _record_view(case, user, _newest(transcript), detail="conversation")
    context = {
        "case": case,
        "transcript": _with_delivery(case, transcript, ring),
        "last_message": _newest(transcript),
        "machine_translation": translation.enabled()
        and case.language != presenters.operator_language(),
    }
    return render(request, "console/transcript.html", context)


@require_POST
@staff_view("case.work")
def transition(request: HttpRequest, case_id: uuid.UUID) -> HttpResponse:
    case = visible_case(request, case_id)
    user = _staff_user(request)
    form = forms.TransitionForm(request.POST)
    if not form.is_valid():
        return _refused(request, case, "transition_form", form)
    data = form.cleaned_data
    move = workflow.Move(
        target=data["target"],
        next_check_in=data["next_check_in"],
        close_reason=data["close_reason"],
    )
    try:
        casework.do_transition(
            case, user, move, data["version"], supervisor=access.is_supervisor(user)
        )
    except casework.Conflict:
        return _conflict(request, case)
    except workflow.Refused as exc:
        return _refused(request, case, "transition_form", form, str(exc))
    return _back(case)


def _conflict(request: HttpRequest, case: Case) -> HttpResponse:
    case.refresh_from_db()
    message = _(
        "Someone else changed this case while you had it open. Nothing was saved: "
        "check the case as it is now and try again."
    )
    return _page(request, case, 409, conflict=message)


@require_POST
@staff_view("case.work")
def head_count(request: HttpRequest, case_id: uuid.UUID) -> HttpResponse:
    case = visible_case(request, case_id)
    form = forms.HeadCountForm(request.POST)
    if not form.is_valid():
        return _refused(request, case, "head_count_form", form)
    data = form.cleaned_data
    try:
        casework.do_set_head_count(case, _staff_user(request), data["head_count"], data["version"])
    except casework.Conflict:
        return _conflict(request, case)
    except workflow.Refused as exc:
        return _refused(request, case, "head_count_form", form, str(exc))
    return _back(case)


@require_POST
@staff_view("case.work")
def fake_mark(request: HttpRequest, case_id: uuid.UUID) -> HttpResponse:
    case = visible_case(request, case_id)
    form = forms.FakeMarkForm(request.POST)
    if not form.is_valid():
        return _refused(request, case, "fake_mark_form", form)
    data = form.cleaned_data
    try:
        suspicion.do_mark(case, _staff_user(request), data["mark"], data["version"])
    except casework.Conflict:
        return _conflict(request, case)
    return _back(case)


@require_POST
@staff_view("case.assign")
def assign(request: HttpRequest, case_id: uuid.UUID) -> HttpResponse:
    case = visible_case(request, case_id)
    form = forms.AssignForm(request.POST)
    if not form.is_valid():
        return _refused(request, case, "assign_form", form)
    data = form.cleaned_data
    try:
        casework.do_assign(case, _staff_user(request), data["assignee"], data["version"])
    except casework.Conflict:
        return _conflict(request, case)
    return _back(case)


@require_POST
@staff_view("case.work")
def note(request: HttpRequest, case_id: uuid.UUID) -> HttpResponse:
    case = visible_case(request, case_id)
    form = forms.NoteForm(request.POST)
    if not form.is_valid():
        return _refused(request, case, "note_form", form)
    try:
        casework.do_add_note(case, _staff_user(request), form.cleaned_data["note"])
    except workflow.Refused as exc:
        return _refused(request, case, "note_form", form, str(exc))
    return _back(case, "#notes")


@require_POST
@staff_view("case.merge")
def merge(request: HttpRequest, case_id: uuid.UUID) -> HttpResponse:
    """Merge the case with the given reference (the same person's other case) into this one."""
    case = visible_case(request, case_id)
    form = forms.MergeForm(request.POST)
    if not form.is_valid():
        return _refused(request, case, "merge_form", form)
    digest = references.reference_digest(form.cleaned_data["reference"])
    other = access.visible_cases(request.user).filter(reference_digest=digest).first()
    if other is None:
        form.add_error("reference", _("No case has that reference."))
        return _refused(request, case, "merge_form", form)
    try:
        casework.do_merge(other, case, _staff_user(request))
    except workflow.Refused as exc:
        return _refused(request, case, "merge_form", form, str(exc))
    return _back(case)


@require_POST
@staff_view("case.merge")
def unmerge(request: HttpRequest, case_id: uuid.UUID) -> HttpResponse:
    case = visible_case(request, case_id)
    target = case.merged_into
    try:
        casework.do_unmerge(case, _staff_user(request))
    except workflow.Refused as exc:
        return _page(request, case, 400, merge_error=str(exc))
    return _back(target or case)


@require_POST
@staff_view("case.handover")
def handover(request: HttpRequest, case_id: uuid.UUID) -> HttpResponse:
    case = visible_case(request, case_id)
    form = forms.HandoverForm(request.POST)
    if not form.is_valid():
        return _refused(request, case, "handover_form", form)
    data = form.cleaned_data
    plan = casework.HandoverPlan(
        sector=data["sector"],
        window_start=data["window_start"],
        window_end=data["window_end"],
        meeting=data["meeting"],
    )
    try:
        casework.do_handover(
            case, _staff_user(request), plan, data["version"], ring=keyring_of(request)
        )
    except casework.Conflict:
        return _conflict(request, case)
    except workflow.Refused as exc:
        return _refused(request, case, "handover_form", form, str(exc))
    return _back(case)


@require_POST
@staff_view("case.handover")
def share_handover(request: HttpRequest, case_id: uuid.UUID) -> HttpResponse:
    """Seal the current handover's card for the sector's liaisons who hold none yet."""
    case = visible_case(request, case_id)
    handover = case.handovers.filter(active=True).first()
    if handover is None:
        return _page(request, case, 400, handover_error=_("This case has no current handover."))
    try:
        handover_cards.do_reshare(handover, _staff_user(request), keyring_of(request))
    except workflow.Refused as exc:
        return _page(request, case, 400, handover_error=str(exc))
    return _back(case)


@require_POST
@staff_view("hotline")
def log_call(request: HttpRequest, case_id: uuid.UUID) -> HttpResponse:
    case = visible_case(request, case_id)
    form = forms.CallForm(request.POST)
    if not form.is_valid():
        return _refused(request, case, "call_form", form)
    data = form.cleaned_data
    details = casework.CallDetails(
        direction=data["direction"],
        caller=data["caller"],
        started_at=data["started_at"],
        duration_seconds=data["duration_minutes"] * 60,
        language=data["language"],
        outcome=data["outcome"],
        summary=data["summary"],
    )
    try:
        casework.do_log_call(case, _staff_user(request), details, form.callback())
    except workflow.Refused as exc:
        return _refused(request, case, "call_form", form, str(exc))
    return _back(case, "#calls")


@require_POST
@staff_view("hotline")
def request_callback(request: HttpRequest, case_id: uuid.UUID) -> HttpResponse:
    case = visible_case(request, case_id)
    form = forms.CallbackForm(request.POST)
    if not form.is_valid():
        return _refused(request, case, "callback_form", form)
    try:
        casework.do_request_callback(case, _staff_user(request), form.request(case.language))
    except workflow.Refused as exc:
        return _refused(request, case, "callback_form", form, str(exc))
    return _back(case, "#calls")


@staff_view("case.audit")
def case_audit(request: HttpRequest, case_id: uuid.UUID) -> HttpResponse:
    case = visible_case(request, case_id)
    audit.record(request.user, "case.audit_view", case.pk)
    events = AuditEvent.objects.filter(case_id=case.pk).select_related("actor").order_by("id")
    return render(
        request,
        "console/audit.html",
        {
            "case": case,
            "short_id": presenters.short_id(case),
            "events": history.audit_trail(events),
        },
    )
