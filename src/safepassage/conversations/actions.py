"""Applying the engine's outcome: state, answers, messages and effects in one transaction.

Channels call :func:`do_begin`, :func:`do_reply` and :func:`do_resume`; they never touch models.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db import transaction

from safepassage import fastsave
from safepassage.campaigns.models import CampaignCode
from safepassage.cases import services as cases
from safepassage.cases.models import Case, ChannelIdentity, Direction
from safepassage.conversations import engine, flows
from safepassage.conversations.models import Conversation


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


def _flow(conversation: Conversation) -> flows.Flow:
    return flows.get(conversation.flow)


def state_of(conversation: Conversation) -> engine.DialogueState:
    return engine.DialogueState.from_json(conversation.state)


def answers_of(conversation: Conversation) -> dict[str, Any]:
    return cases.answers(conversation.case)


def current(conversation: Conversation) -> Turn:
    """What to show now. The confirmation page is shown once; coming back leads to the menu."""
    flow = _flow(conversation)
    state = state_of(conversation)
    if state.submitted and flow.step(state.step).type == "end":
        state = engine.start(flow, conversation.case.language, submitted=True)
        conversation.state = state.to_json()
        conversation.save(update_fields=["state", "updated_at"])
    prompt = engine.prompt(flow, state, answers_of(conversation))
    return Turn(conversation, prompt, conversation.case.language)


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


def do_reply(
    conversation_id: Any,
    reply: engine.Reply,
    channel: str,
    *,
    locked: Conversation | None = None,
) -> Turn:
    """Apply one applicant reply. Replies of one conversation are serialised by a row lock:
    taken here, or already held by the caller's transaction for ``locked`` (Telegram's batches
    lock every conversation they touch in one statement).

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
        flow = _flow(conversation)
        state = state_of(conversation)
        answers = cases.answers(case)
        outcome = engine.advance(flow, state, answers, reply, case.language)
        turn = Turn(conversation, None, outcome.language or case.language, reask=outcome.reask)

        if outcome.language and outcome.language != case.language:
            case.language = outcome.language
            case.save(update_fields=["language", "updated_at"])
        if outcome.changed:
            cases.do_save_answers(case, *_split(flow, outcome.answers))
        if outcome.message is not None:
            cases.do_add_message(case, Direction.INBOUND, outcome.message, channel)
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
        fastsave.update_fields(conversation, ["state", "updated_at"])
        turn.prompt = engine.prompt(flow, new_state, outcome.answers)
        return turn
