"""One Telegram update → the conversation engine → outbox rows. Runs inside intake's transaction.

Only private chats are served. Group chats, channel posts and other bots' traffic are ignored;
edits, stickers and anything the current step cannot take get a calm reply, never an error.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta

from django.utils import timezone
from telegram import Message as TgMessage
from telegram import Update, User

from safepassage import config, fastsave
from safepassage.analytics import counters
from safepassage.campaigns import services as campaigns
from safepassage.campaigns.models import CampaignCode
from safepassage.cases import suspicion
from safepassage.cases.models import Case, ChannelIdentity
from safepassage.channels.models import OutboxMessage, OutboxStatus, TelegramChat
from safepassage.channels.telegram import attachments, outbox, render
from safepassage.channels.telegram.bots import CHANNEL
from safepassage.conversations import actions, catalog, engine
from safepassage.conversations.models import Conversation
from safepassage.conversations.text import clean_text
from safepassage.privacy import flood
from safepassage.privacy.fields import channel_pseudonym

TEXT_STEPS = {"text", "number", "thread"}
COMMANDS = {"/start", "/lang", "/restart", "/delete", "/help"}

# Flood defence (docs/threat-model.md, "Flooding"): (limit, window in seconds) per scope.
SENDER_LIMIT = (20, 10)  # updates of one sender: more parks it for PARK
NOTICE_LIMIT = (3, 60)  # texts where a button is wanted ("use the buttons"): more parks it
PARK = timedelta(seconds=60)
CHANNEL_FIRST_CONTACTS = (30, 10)  # new conversations on Telegram: beyond, unattributed ones
CAMPAIGN_FIRST_CONTACTS = (10, 10)  # new conversations from one code: beyond, a signal
SAME_TEXT = (50, 60)  # one text (near-identical) from anyone: beyond, a signal
SAME_TEXT_LETTERS = 20  # shorter texts ("yes", a town, a date) are common among the genuine


@dataclass
class _Loaded:
    """What a batch loaded once for all its updates (:func:`batch`)."""

    chats: dict[tuple[str, str], TelegramChat]  # (bot slug, pseudonym) → chat
    locked: dict[uuid.UUID, Conversation]  # held by this transaction: one object each
    identities: dict[str, ChannelIdentity]  # of ``unplaced``, as the batch began
    unplaced: set[str]  # pseudonyms whose identity the batch looked up
    begun: set[str] = field(default_factory=set)  # identities the batch wrote since

    def identity(self, pseudonym: str) -> tuple[bool, ChannelIdentity | None]:
        """(told, identity): told is False where the batch cannot say (look it up)."""
        if pseudonym in self.unplaced and pseudonym not in self.begun:
            return True, self.identities.get(pseudonym)
        return False, None


_local = threading.local()


def _loaded() -> _Loaded | None:
    loaded: _Loaded | None = getattr(_local, "loaded", None)
    return loaded


@contextmanager
def batch(updates: Sequence[tuple[str, Update]]) -> Iterator[None]:
    """Handle a batch of updates (inside one transaction) with their chats, conversations and
    identities loaded in a few queries for all, instead of several queries per update."""
    wanted: dict[str, set[str]] = {}
    for slug, update in updates:
        user = update.effective_user
        if user is not None:
            wanted.setdefault(slug, set()).add(channel_pseudonym(CHANNEL, str(user.id)))
    chats: dict[tuple[str, str], TelegramChat] = {}
    for slug, pseudonyms in wanted.items():
        for chat in TelegramChat.objects.filter(pseudonym__in=pseudonyms, bot=slug):
            chats[(slug, chat.pseudonym)] = chat
    ids = sorted({chat.conversation_id for chat in chats.values() if chat.conversation_id})
    # In id order, so that two batches sharing a conversation cannot deadlock on each other.
    found = Conversation.objects.select_for_update().select_related("case").filter(pk__in=ids)
    locked = {conversation.pk: conversation for conversation in found.order_by("pk")}
    if locked:
        # Read the chats again now that their conversations are ours: a batch in another
        # process may have changed them (a selection) while this one waited for the locks.
        fresh = TelegramChat.objects.filter(pk__in=[chat.pk for chat in chats.values()])
        chats = {(chat.bot, chat.pseudonym): chat for chat in fresh}
    for chat in chats.values():
        if chat.conversation_id in locked:
            chat.conversation = locked[chat.conversation_id]
    # Applicants without a conversation here may be known from another bot (one query for all).
    unplaced = {p for slug, ps in wanted.items() for p in ps if (slug, p) not in chats}
    unplaced |= {chat.pseudonym for chat in chats.values() if chat.conversation_id is None}
    found_identities = ChannelIdentity.objects.filter(channel=CHANNEL, pseudonym__in=unplaced)
    identities = {identity.pseudonym: identity for identity in found_identities}
    _local.loaded = _Loaded(chats, locked, identities, unplaced)
    outbox.preload({chat.pk for chat in chats.values()})
    try:
        yield
    finally:
        _local.loaded = None


def _held(conversation: Conversation) -> Conversation:
    """Within a batch, the one object of this conversation (locked, or created by this
    transaction) that every later update of the batch reads and changes; outside, itself."""
    loaded = _loaded()
    if loaded is None:
        return conversation
    return loaded.locked.setdefault(conversation.pk, conversation)


def _reply(chat: TelegramChat, conversation: Conversation, reply: engine.Reply) -> None:
    loaded = _loaded()
    locked = loaded.locked.get(conversation.pk) if loaded is not None else None
    turn = actions.do_reply(conversation.pk, reply, CHANNEL, locked=locked)
    if turn.conversation is not None:
        # do_reply may have locked and read the row itself: later updates use that object.
        chat.conversation = _held(turn.conversation)
    _after(chat, turn)


def handle(slug: str, update: Update) -> None:
    if update.my_chat_member is not None:
        _membership(slug, update)
        return
    tg_chat = update.effective_chat
    user = update.effective_user
    if tg_chat is None or user is None or tg_chat.type != "private" or user.is_bot:
        return  # groups, channel posts, other bots: not a conversation we hold
    chat = _chat(slug, user, tg_chat.id)
    _watch(chat)
    if update.callback_query is not None:
        _pressed(chat, user, update)
    elif update.message is not None:
        _message(chat, user, update.message)
    elif update.edited_message is not None:
        outbox.do_send_text(chat, _text(chat, "chat.tg.edit_ignored"))


def _case(chat: TelegramChat) -> Case | None:
    return chat.conversation.case if chat.conversation is not None else None


def _watch(chat: TelegramChat) -> None:
    if flood.hit("telegram.sender", chat.pseudonym, *SENDER_LIMIT):
        _park(chat)


def _park(chat: TelegramChat) -> None:
    """Park a sender over its limits: its automatic replies wait behind everyone else's for
    PARK (what it writes is still applied), and its case gets the "flooding" signal once."""
    now = timezone.now()
    if chat.parked_until is not None and chat.parked_until > now + PARK / 2:
        return  # parked already; extended when half of it has passed
    first = chat.parked_until is None or chat.parked_until <= now
    chat.parked_until = now + PARK
    fastsave.update_fields(chat, ["parked_until"])
    if first:
        OutboxMessage.objects.filter(
            chat=chat,
            status__in=(OutboxStatus.QUEUED, OutboxStatus.BEHIND),
            message__isnull=True,
            priority__lt=outbox.SUSPECT,
            repeat_key__gt="",
        ).update(priority=outbox.SUSPECT)
        case = _case(chat)
        if case is not None:
            suspicion.do_raise(case, "flooding")


def _near_identical(text: str) -> str:
    """Letters only, case folded: "Hello!!" and "hello 2" count as the same text."""
    return "".join(ch for ch in text.casefold() if ch.isalpha())[:200]


def _membership(slug: str, update: Update) -> None:
    member = update.my_chat_member
    if member is None:
        return
    pseudonym = channel_pseudonym(CHANNEL, str(member.from_user.id))
    blocked = member.new_chat_member.status in {"kicked", "left"}
    TelegramChat.objects.filter(bot=slug, pseudonym=pseudonym).update(
        blocked_at=timezone.now() if blocked else None
    )


def _chat(slug: str, user: User, chat_id: int) -> TelegramChat:
    pseudonym = channel_pseudonym(CHANNEL, str(user.id))
    loaded = _loaded()
    chat = loaded.chats.get((slug, pseudonym)) if loaded is not None else None
    if chat is None and loaded is None:  # a batch loaded every chat of its updates already
        chat = (
            TelegramChat.objects.select_related("conversation__case")
            .filter(bot=slug, pseudonym=pseudonym)
            .first()
        )
    if chat is None:
        chat = TelegramChat(bot=slug, pseudonym=pseudonym, chat_sealed=outbox.seal_chat_id(chat_id))
        fastsave.insert(chat)
        outbox.fresh_chat(chat)
        if loaded is not None:
            loaded.chats[(slug, pseudonym)] = chat
    elif chat.blocked_at is not None or chat.forget:
        chat.blocked_at, chat.forget = None, False
        chat.save(update_fields=["blocked_at", "forget"])
        # What waited while the chat had blocked the bot goes out now, in its order.
        chat.outbox.filter(status=OutboxStatus.HELD).update(status=OutboxStatus.QUEUED, reason="")
    if chat.conversation_id is None:
        # A spare bot, or a new chat of a known applicant: the same case, found by pseudonym.
        told, identity = loaded.identity(pseudonym) if loaded is not None else (False, None)
        if not told:
            identity = ChannelIdentity.objects.filter(channel=CHANNEL, pseudonym=pseudonym).first()
        if identity is not None:
            # A contact has one case today; updated_at is stored to the hour, so the id keeps
            # the choice stable should it ever have several.
            found = (
                Conversation.objects.filter(case__contact_id=identity.contact_id)
                .order_by("-updated_at", "-id")
                .first()
            )
            if found is not None:
                if loaded is not None and found.pk not in loaded.locked:
                    found = _lock(found)
                chat.conversation = _held(found)
                chat.save(update_fields=["conversation"])
    return chat


def _lock(conversation: Conversation) -> Conversation:
    return Conversation.objects.select_for_update().select_related("case").get(pk=conversation.pk)


def _language(user: User) -> str:
    code = (user.language_code or "")[:2].lower()
    return code if catalog.is_language(code) else ""


def _lang(chat: TelegramChat) -> str:
    conversation = chat.conversation
    return conversation.case.language if conversation is not None else ""


def _text(chat: TelegramChat, msgid: str) -> str:
    return render.text_for(_lang(chat), msgid)


def _begin(chat: TelegramChat, language: str, campaign: CampaignCode | None = None) -> Conversation:
    loaded = _loaded()
    told, identity = loaded.identity(chat.pseudonym) if loaded is not None else (False, None)
    # Looked up before the new case takes the identity over (the operator's mark feeds back).
    known = identity is not None or not told
    marked = known and suspicion.marked_fake_before(chat.pseudonym, CHANNEL)
    conversation = actions.do_begin(
        CHANNEL,
        language,
        campaign,
        identity=chat.pseudonym,
        identity_known=(identity is not None) if told else None,
    )
    if loaded is not None:
        loaded.begun.add(chat.pseudonym)
    case = conversation.case
    if flood.hit("telegram.first_contacts", CHANNEL, *CHANNEL_FIRST_CONTACTS) and campaign is None:
        outbox.shed(chat)  # overloaded: an unattributed first contact's reply waits its turn
    if campaign is not None and flood.hit(
        "telegram.campaign", campaign.code, *CAMPAIGN_FIRST_CONTACTS
    ):
        suspicion.do_raise(case, "campaign_burst")
    if marked:
        suspicion.do_raise(case, "marked_sender")
    conversation = _held(conversation)  # new in this transaction: no one else sees it
    chat.conversation = conversation
    chat.selection = []
    fastsave.update_fields(chat, ["conversation", "selection"])
    return conversation


def _send_current(chat: TelegramChat, notice: str | None = None) -> None:
    if chat.conversation is None:
        return
    turn = actions.current(chat.conversation)
    _send_prompt(chat, turn, notice=notice)


def _send_prompt(chat: TelegramChat, turn: actions.Turn, notice: str | None = None) -> None:
    prompt = turn.prompt
    if prompt is None:
        return
    if prompt.step.type == "multi":
        chat.selection = list(prompt.selected)
        fastsave.update_fields(chat, ["selection"])
    text, markup = render.message(
        prompt,
        turn.language,
        reask=turn.reask,
        notice=notice or turn.notice,
        selection=chat.selection,
    )
    case = chat.conversation.case if chat.conversation is not None else None
    # A question repeated with a notice ("use the buttons") moves nothing forward: it waits
    # behind replies that do (outbox.NOTICE).
    outbox.do_send_text(chat, text, markup, case=case, notice=notice is not None)


def _start_payload(payload: str) -> tuple[str, CampaignCode | None]:
    """``/start CODE`` or ``/start ko_CODE``: a campaign code, optionally preselecting a
    language. An unknown or revoked code starts normally and is counted as "unknown_code"."""
    language = ""
    prefix, sep, rest = payload.partition("_")
    if sep and catalog.is_language(prefix.lower()):
        language, payload = prefix.lower(), rest
    elif catalog.is_language(payload.lower()):
        return payload.lower(), None
    code = campaigns.find_active(payload)
    if payload and code is None:
        counters.count("unknown_code", CHANNEL, language or "", "")
    return language, code


def _command(chat: TelegramChat, user: User, command: str, argument: str) -> None:
    conversation = chat.conversation
    if command == "/start" and conversation is None:
        language, campaign = _start_payload(argument.strip()[:64])
        language = language or campaigns.chat_language(campaign, _language(user))
        if campaign is not None:  # the deep link opened: the campaign's visit, as on the web
            counters.count("visit", CHANNEL, language, campaign.code)
        _begin(chat, language, campaign)
        _send_current(chat)
        return
    if conversation is None:
        _begin(chat, _language(user))
        _send_current(chat)
        return
    if command == "/lang":
        text, markup = render.language_prompt()
        outbox.do_send_text(chat, text, markup, case=conversation.case)
    elif command in {"/restart", "/delete"}:
        reply = engine.Reply(action="restart" if command == "/restart" else "delete")
        _reply(chat, conversation, reply)
    else:
        _send_current(chat)


def _message(chat: TelegramChat, user: User, message: TgMessage) -> None:
    # What the applicant sends leaves the chat later too (bots may delete incoming messages in
    # private chats for 48 hours); a shared location at once.
    due = timezone.now() if message.location is not None else None
    outbox.do_remember_trace(chat, message.message_id, due=due)
    # Cleaned as the web chat's answers are (no NUL, no lone surrogate, no bidi override, NFC).
    text = clean_text(message.text or "")
    if text.startswith("/"):
        command, _, argument = text.partition(" ")
        command = command.split("@", 1)[0].lower()
        if command in COMMANDS:
            _command(chat, user, command, argument)
            return
    if chat.conversation is None:
        _begin(chat, _language(user))
        _send_current(chat)
        return
    conversation = chat.conversation
    turn = actions.current(conversation)
    if turn.prompt is None:
        return
    step = turn.prompt.step
    if message.location is not None and step.field == "sector":
        # Only a coarse point is kept, sealed with the other sector answers.
        decimals = config.get().telegram_location_decimals
        lat, lon = message.location.latitude, message.location.longitude
        answer = f"{lat:.{decimals}f}, {lon:.{decimals}f}"
        _reply(chat, conversation, engine.Reply(text=answer))
        return
    if message.photo or message.voice or message.document:
        refusal = attachments.do_accept(chat, message)
        if refusal is not None:
            outbox.do_send_text(chat, _text(chat, refusal))
        return
    letters = _near_identical(text)
    if len(letters) >= SAME_TEXT_LETTERS and flood.hit("telegram.text", letters, *SAME_TEXT):
        case = _case(chat)
        if case is not None:
            suspicion.do_raise(case, "repeated_text")
    if message.text is None or step.type not in TEXT_STEPS:
        notice = "chat.tg.use_buttons" if message.text is not None else "chat.tg.unsupported"
        # Writing again and again where a button is wanted is how a flood of texts looks,
        # however slowly each sender writes.
        if flood.hit("telegram.notices", chat.pseudonym, *NOTICE_LIMIT):
            _park(chat)
        _send_current(chat, notice=notice)
        return
    if not text.strip():
        # Nothing readable was left (a lone surrogate, controls, invisible characters only):
        # ask again rather than take it as a skipped answer the applicant did not mean.
        _send_current(chat, notice="reask.required")
        return
    _reply(chat, conversation, engine.Reply(text=text))


def _pressed(chat: TelegramChat, user: User, update: Update) -> None:
    query = update.callback_query
    if query is None:
        return
    pressed = render.parse_callback(query.data)
    conversation = chat.conversation
    if pressed is None:
        outbox.do_answer_callback(chat, query.id)
        return
    if conversation is None:
        outbox.do_answer_callback(chat, query.id)
        language = pressed.value if pressed.kind == render.LANGUAGE else _language(user)
        _begin(chat, language if catalog.is_language(language) else "")
        _send_current(chat)
        return
    turn = actions.current(conversation)
    if turn.prompt is None:
        return
    step = turn.prompt.step
    if pressed.kind == render.LANGUAGE and step.type != "language":
        outbox.do_answer_callback(chat, query.id)
        if catalog.is_language(pressed.value):
            actions.do_set_language(conversation, pressed.value)
        _send_current(chat)
        return
    if pressed.step != step.id:
        outbox.do_answer_callback(chat, query.id, _text(chat, "chat.tg.use_buttons"))
        return
    outbox.do_answer_callback(chat, query.id)
    if pressed.kind == render.TOGGLE:
        _toggle(chat, turn, pressed.value, query.message.message_id if query.message else None)
        return
    if pressed.kind == render.CONTINUE:
        reply = engine.Reply(multi=tuple(chat.selection))
        chat.selection = []
        fastsave.update_fields(chat, ["selection"])
    elif pressed.kind == render.NAV and pressed.value in {"back", "skip"}:
        reply = engine.Reply(action="back" if pressed.value == "back" else "skip")
    else:
        reply = engine.Reply(choice=pressed.value)
    _reply(chat, conversation, reply)


def _toggle(chat: TelegramChat, turn: actions.Turn, value: str, message_id: int | None) -> None:
    if turn.prompt is None or value not in turn.prompt.step.choice_values():
        return
    selection = [v for v in chat.selection if v != value]
    if len(selection) == len(chat.selection):
        selection.append(value)
    chat.selection = selection
    fastsave.update_fields(chat, ["selection"])
    if message_id is not None:
        markup = render.keyboard(turn.prompt, turn.language, chat.selection)
        outbox.do_edit_markup(chat, message_id, markup)


def _after(chat: TelegramChat, turn: actions.Turn) -> None:
    """What the applicant sees after a reply was applied."""
    if turn.deleted:
        outbox.flush()
        OutboxMessage.objects.filter(
            chat=chat, status__in=(OutboxStatus.QUEUED, OutboxStatus.BEHIND), method=outbox.SEND
        ).delete()
        outbox.fresh_chat(chat)  # what this transaction knew of the chat's line is gone
        outbox.do_erase_traces(chat)
        text = render.text_for(turn.language, "chat.tg.deleted")
        chat.conversation, chat.forget, chat.selection = None, True, []
        chat.save(update_fields=["conversation", "forget", "selection"])
        outbox.do_send_text(chat, text)
        return
    if turn.credentials is not None and turn.conversation is not None:
        # Confirmed: our questions and the applicant's answers leave the chat now.
        outbox.do_erase_traces(chat)
        case = turn.conversation.case
        creds = turn.credentials
        text = render.done_message(turn.language, creds.reference, creds.passphrase)
        outbox.do_send_text(chat, text, case=case, urgent=True)
        _send_prompt(chat, actions.current(turn.conversation))
        return
    _send_prompt(chat, turn)
