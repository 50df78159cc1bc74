"""Applying the engine's outcome: state, answers, messages and effects in one transaction.

Channels call :func:`do_begin`, :func:`do_reply` and :func:`do_resume`; they never touch models.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from typing import Any

from django.db import transaction

from safepassage import fastsave
from safepassage.campaigns.models import CampaignCode
from safepassage.cases import services as cases
from safepassage.cases import suspicion
from safepassage.cases.models import Case, ChannelIdentity, Direction
from safepassage.conversations import engine, flows
from safepassage.conversations.models import Conversation
from safepassage.privacy import crypto


@dataclass
class Turn:
    """What a channel needs to show after one reply."""

    conversation: Conversation | None
    prompt: engine.Prompt | None
    language: str
    reask: str | None = None
    notice: str | None = None
    credentials: cases.Credentials | None = None
    deleted: bool = False
    # The form was drawn for an earlier turn (sent twice, or an old page): nothing applied.
    stale: bool = False


def form_token(conversation: Conversation) -> str:
    """What the forms drawn now for ``conversation`` carry (the web chat's hidden field)."""
    return crypto.form_token(str(conversation.pk), conversation.turn)


def _form_is_current(conversation: Conversation, token: str | None) -> bool:
    """None: a channel without form tokens (Telegram recognises old buttons by step id)."""
    return token is None or hmac.compare_digest(token.encode(), form_token(conversation).encode())


def _flow(conversation: Conversation) -> flows.Flow:
    return flows.get(conversation.flow)


def state_of(conversation: Conversation) -> engine.DialogueState:
    return engine.DialogueState.from_json(conversation.state)


def answers_of(conversation: Conversation) -> dict[str, Any]:
    return cases.answers(conversation.case)


def current(conversation: Conversation, *, hold_end: bool = False) -> Turn:
    """What to show now. The confirmation page is shown once, or until the applicant says they
    wrote the credentials down (``hold_end``: the web chat, while the browser can show them
    again); coming back leads to the menu."""
    flow = _flow(conversation)
    state = state_of(conversation)
    if state.submitted and flow.step(state.step).type == "end" and not hold_end:
        state = engine.start(flow, conversation.case.language, submitted=True)
        conversation.state = state.to_json()
        conversation.turn += 1
        conversation.save(update_fields=["state", "turn", "updated_at"])
    prompt = engine.prompt(flow, state, answers_of(conversation))
    return Turn(conversation, prompt, conversation.case.language)


def takes_messages(conversation: Conversation) -> bool:
    """Whether the applicant's step takes free messages for the operators (the menu)."""
    return _flow(conversation).step(state_of(conversation).step).type == "thread"


def first_prompt(language: str) -> engine.Prompt:
    """The opening prompt, rendered without creating a case: a visit writes no row at all (its
    only cookie is the CSRF token's; docs/threat-model.md)."""
    flow = flows.get()
    return engine.prompt(flow, engine.start(flow, language), {})


def check_first_reply(language: str, reply: engine.Reply) -> str | None:
    """The re-ask for a first reply that does not fit, computed without storing anything, so
    that malformed or hostile first posts leave no row behind."""
    if reply.action != "answer":
        return None
    flow = flows.get()
    return engine.advance(flow, engine.start(flow, language), {}, reply, language).reask


def do_begin(
    channel: str,
    language: str,
    campaign: CampaignCode | None,
    identity: str | None = None,
    *,
    identity_known: bool | None = None,
) -> Conversation:
    """Start a draft. ``identity`` is a channel pseudonym (privacy.fields.channel_pseudonym)
    for channels that recognise a returning applicant (Telegram), never a raw user id.
    ``identity_known`` is what the caller already found out in this transaction (whether that
    pseudonym has a row), so that the row is written without being looked up again."""
    flow = flows.get()
    with transaction.atomic(savepoint=False):  # see do_reply
        case = cases.do_create_case(channel, language, campaign)
        if identity is not None:
            _attach_identity(channel, identity, case, identity_known)
        state = engine.start(flow, language)
        conversation = Conversation(case=case, flow=flow.id, state=state.to_json())
        fastsave.insert(conversation)
        return conversation


def _attach_identity(channel: str, pseudonym: str, case: Case, known: bool | None) -> None:
    if known is None:
        ChannelIdentity.objects.update_or_create(
            channel=channel, pseudonym=pseudonym, defaults={"contact": case.contact}
        )
        return
    found = ChannelIdentity.objects.filter(channel=channel, pseudonym=pseudonym)
    if known and found.update(contact=case.contact):
        return  # (none updated: a purge earlier in this transaction took the row with it)
    # Unique on (channel, pseudonym): a row created meanwhile elsewhere fails the caller's
    # transaction, which Telegram's batches then retry update by update (known=None).
    fastsave.insert(ChannelIdentity(channel=channel, pseudonym=pseudonym, contact=case.contact))


def do_set_language(conversation: Conversation, language: str) -> None:
    case = conversation.case
    case.language = language
    case.save(update_fields=["language", "updated_at"])


def do_resume(case: Case) -> Conversation:
    """A returning applicant, identified by credentials, lands on the menu."""
    flow = flows.get()
    with transaction.atomic():
        state = engine.start(flow, case.language, submitted=True)
        conversation, _ = Conversation.objects.update_or_create(
            case=case, defaults={"flow": flow.id, "state": state.to_json()}
        )
        return conversation


def _split(flow: flows.Flow, answers: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    stores = {s.field: s.store for s in flow.answer_steps()}
    triage = {k: v for k, v in answers.items() if stores.get(k) == "triage"}
    sealed = {k: v for k, v in answers.items() if stores.get(k) == "sealed"}
    return triage, sealed


def do_renew_credentials(conversation_id: Any, token: str | None) -> Turn:
    """New credentials for an applicant who lost them before writing them down: only while the
    confirmation is still their step (the web chat holds it until "I have written them down"),
    only with the form of the current turn, so a reload or a second press issues nothing more."""
    with transaction.atomic():
        conversation = (
            Conversation.objects.select_for_update().select_related("case").get(pk=conversation_id)
        )
        flow = _flow(conversation)
        state = state_of(conversation)
        step = flow.step(state.step)
        turn = Turn(conversation, None, conversation.case.language)
        if not _form_is_current(conversation, token) or not (
            state.submitted and step.effect == "submit"
        ):
            turn.stale = True
            return turn
        turn.credentials = cases.do_reissue_credentials(conversation.case)
        conversation.turn += 1
        conversation.save(update_fields=["turn", "updated_at"])
        return turn


def do_reply(
    conversation_id: Any,
    reply: engine.Reply,
    channel: str,
    *,
    locked: Conversation | None = None,
    token: str | None = None,
    browser_key: bytes | None = None,
) -> Turn:
    """Apply one applicant reply. Replies of one conversation are serialised by a row lock:
    taken here, or already held by the caller's transaction for ``locked`` (Telegram's batches
    lock every conversation they touch in one statement).

    ``token``: the web chat form's (:func:`form_token`); a form of an earlier turn (the same
    form sent again, a page from before Back) is recognised under the lock and not applied.
    ``browser_key``: the applicant's browser's key, for their own copy of a message they send.

    No savepoint: inside a caller's transaction (a batch of Telegram updates) a failure here
    fails the whole transaction, which the caller retries update by update; a savepoint per
    reply would cost two round trips to the database for nothing."""
    with transaction.atomic(savepoint=False):
        if locked is not None and locked.pk == conversation_id:
            conversation = locked
        else:
            conversation = (
                Conversation.objects.select_for_update()
                .select_related("case")
                .get(pk=conversation_id)
            )
        case = conversation.case
        if not _form_is_current(conversation, token):
            return Turn(conversation, None, case.language, stale=True)
        flow = _flow(conversation)
        state = state_of(conversation)
        answers = cases.answers(case)
        outcome = engine.advance(flow, state, answers, reply, case.language)
        turn = Turn(conversation, None, outcome.language or case.language, reask=outcome.reask)

        if outcome.language and outcome.language != case.language:
            case.language = outcome.language
            case.save(update_fields=["language", "updated_at"])
        if outcome.changed:
            before = dict(case.triage or {})
            triage_answers, sealed_answers = _split(flow, outcome.answers)
            suspicion.note_answers(case, before, triage_answers)
            cases.do_save_answers(case, triage_answers, sealed_answers)
        if outcome.message is not None:
            cases.do_add_message(
                case, Direction.INBOUND, outcome.message, channel, browser_key=browser_key
            )
            turn.notice = "thread.sent"

        new_state = outcome.state
        for effect in outcome.effects:
            if effect == "submit":
                turn.credentials = cases.do_submit(case)
                new_state = engine.DialogueState(new_state.step, (), False, True)
                if turn.credentials is None:
                    # An update of an application already submitted: straight back to the menu.
                    new_state = engine.start(flow, case.language, submitted=True)
                    turn.notice = "apply.updated"
            elif effect == "ready_now":
                cases.do_mark_ready_now(case)
            elif effect == "purge":
                cases.do_purge_case(case)
                turn.conversation = None
                turn.deleted = True
                turn.prompt = engine.prompt(flow, new_state, {})
                return turn

        conversation.state = new_state.to_json()
        if not outcome.reask:
            conversation.turn += 1
        fastsave.update_fields(conversation, ["state", "turn", "updated_at"])
        turn.prompt = engine.prompt(flow, new_state, outcome.answers)
        return turn
