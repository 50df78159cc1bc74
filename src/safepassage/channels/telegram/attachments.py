"""Photos, voice messages and documents from applicants.

Intake only records the Bot API ``file_id`` (sealed under the case's key); a file the update
already shows to be too large or of a kind we do not take is refused there and then. The
sender downloads the file later (``getFile``, then a streamed read that stops past
``TELEGRAM_MAX_FILE_BYTES``, so a file whose size nobody stated is never held whole), re-encodes
images with Pillow so that no metadata (EXIF, GPS, camera serial) survives, and stores the bytes
sealed. Only then is the applicant told: received, refused, or not received (send it again).
Documents and voice messages are stored as received and never opened or parsed by the server.
"""

from __future__ import annotations

import asyncio
import base64
import io

import httpx
import structlog
from django.db import transaction
from PIL import Image
from telegram import Bot
from telegram import Message as TgMessage
from telegram.error import BadRequest, TelegramError

from safepassage import config
from safepassage.cases import services as cases
from safepassage.cases.models import Direction
from safepassage.channels.models import Attachment, TelegramChat
from safepassage.channels.telegram import outbox, render
from safepassage.channels.telegram.bots import CHANNEL
from safepassage.conversations.text import clean_text
from safepassage.privacy import fields, staff_fields
from safepassage.privacy.keyring import Keyring

DOCUMENT_TYPES = {"application/pdf", "image/jpeg", "image/png", "text/plain"}
VOICE_TYPES = {"audio/ogg", "audio/mpeg", "audio/mp4"}
PENDING, STORED, REFUSED = "pending", "stored", "refused"
MAX_PIXELS = 40_000_000  # refuse decompression bombs before decoding
CHUNK = 64 * 1024
DOWNLOAD_TIMEOUT = 30.0
RECEIVED, REFUSED_TEXT, FAILED_TEXT = (
    "chat.tg.file_received",
    "chat.tg.file_refused",
    "chat.tg.file_failed",
)
log = structlog.get_logger(__name__)


class FileRefused(ValueError):
    """Too large, or of a kind we do not take: the applicant is told so."""


def _source_field(attachment_id: int) -> str:
    return f"attachment:{attachment_id}:source"


def _file_field(attachment_id: int) -> str:
    return f"attachment:{attachment_id}:file"


def do_accept(chat: TelegramChat, message: TgMessage) -> str | None:
    """Record an attachment for download. The message id of the calm answer due now (a refusal),
    or None: the applicant hears the outcome once the sender has fetched the file."""
    if chat.conversation is None:
        return "chat.tg.unsupported"
    case = chat.conversation.case
    limit = config.get().telegram_max_file_bytes
    if message.photo:
        largest = message.photo[-1]
        kind, file_id, size, mime = "photo", largest.file_id, largest.file_size, "image/jpeg"
    elif message.voice:
        kind, file_id, size = "voice", message.voice.file_id, message.voice.file_size
        mime = message.voice.mime_type or "audio/ogg"
    elif message.document is not None:
        kind, file_id, size = "document", message.document.file_id, message.document.file_size
        mime = message.document.mime_type or ""
    else:
        return "chat.tg.unsupported"
    accepted = (kind != "document" or mime in DOCUMENT_TYPES) and (
        kind != "voice" or mime in VOICE_TYPES
    )
    if (size or 0) > limit or not accepted or clean_text(file_id) != file_id:
        return REFUSED_TEXT
    attachment = Attachment.objects.create(
        case=case, chat=chat, kind=kind, content_type=mime, size=size or 0
    )
    attachment.source_sealed = fields.seal_text(case, _source_field(attachment.pk), file_id)
    attachment.save(update_fields=["source_sealed"])
    cases.do_add_message(case, Direction.INBOUND, f"[{kind}]", CHANNEL)
    return None


def strip_image(data: bytes) -> tuple[bytes, str]:
    """Decode and re-encode: only pixels survive, no EXIF, GPS or maker notes."""
    with Image.open(io.BytesIO(data)) as image:
        if image.width * image.height > MAX_PIXELS:
            raise FileRefused("image too large")
        clean = Image.new("RGB", image.size)
        clean.paste(image.convert("RGB"))
    out = io.BytesIO()
    clean.save(out, format="JPEG", quality=85)
    return out.getvalue(), "image/jpeg"


async def download(bot: Bot, file_id: str, limit: int) -> bytes:
    """The file's bytes, read in chunks and abandoned once past ``limit`` (never more than
    ``limit`` + one chunk in memory). Raw bytes: no Content-Encoding is undone, so a compressed
    answer cannot expand past the cap inside one chunk."""
    tg_file = await bot.get_file(file_id)
    if (tg_file.file_size or 0) > limit:
        raise FileRefused("file too large")
    if not tg_file.file_path:
        raise OSError("no file path")
    data = bytearray()
    headers = {"Accept-Encoding": "identity"}
    async with (
        httpx.AsyncClient(timeout=DOWNLOAD_TIMEOUT, follow_redirects=False) as client,
        client.stream("GET", tg_file.file_path, headers=headers) as response,
    ):
        if response.status_code != 200:
            raise OSError(f"download answered {response.status_code}")
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            raise FileRefused("file too large")
        async for chunk in response.aiter_raw(CHUNK):
            data += chunk
            if len(data) > limit:
                raise FileRefused("file too large")
    return bytes(data)


def do_fetch(loop: asyncio.AbstractEventLoop, bot: Bot, attachment: Attachment) -> bool:
    """Download, store and tell the applicant the outcome. False when Telegram cannot be
    reached now (the attachment stays pending for the next sweep)."""
    limit = config.get().telegram_max_file_bytes
    try:
        data = loop.run_until_complete(download(bot, source_of(attachment), limit))
        do_store(attachment, data)
        outcome = RECEIVED
    except (FileRefused, Image.DecompressionBombError) as exc:
        do_refuse(attachment, str(exc) or type(exc).__name__)
        outcome = REFUSED_TEXT
    except (BadRequest, OSError, httpx.HTTPError, ValueError) as exc:
        # Not fetched (gone, network), or not an image Pillow can read.
        do_refuse(attachment, type(exc).__name__)
        outcome = FAILED_TEXT
    except TelegramError:
        return False
    log.info("telegram.attachment", outcome=outcome.rsplit("_", 1)[-1], kind=attachment.kind)
    _tell(attachment, outcome)
    return True


def _tell(attachment: Attachment, msgid: str) -> None:
    if attachment.chat_id is None:
        return  # the chat was forgotten
    chat = TelegramChat.objects.filter(pk=attachment.chat_id, forget=False).first()
    if chat is None:
        return  # the applicant deleted the application meanwhile
    case = attachment.case
    outbox.do_send_text(chat, render.text_for(case.language, msgid), case=case)


def pending(slug: str, limit: int = 10) -> list[Attachment]:
    return list(
        Attachment.objects.filter(status=PENDING, chat__bot=slug)
        .select_related("case")
        .order_by("id")[:limit]
    )


def source_of(attachment: Attachment) -> str:
    if attachment.source_sealed is None:
        raise ValueError("no source")
    return fields.open_text(attachment.case, _source_field(attachment.pk), attachment.source_sealed)


def do_store(attachment: Attachment, data: bytes) -> None:
    mime = attachment.content_type
    if attachment.kind == "photo" or mime in {"image/jpeg", "image/png"}:
        data, mime = strip_image(data)
    # Sealed for staff: the server stores the file but cannot open it again.
    sealed = staff_fields.seal(
        attachment.case, _file_field(attachment.pk), base64.b64encode(data).decode()
    )
    with transaction.atomic():
        Attachment.objects.filter(pk=attachment.pk).update(
            file_sealed=sealed, content_type=mime, size=len(data), status=STORED, source_sealed=None
        )


def do_refuse(attachment: Attachment, reason: str) -> None:
    Attachment.objects.filter(pk=attachment.pk).update(
        status=REFUSED, reason=reason[:120], source_sealed=None
    )


def content_of(attachment: Attachment, ring: Keyring) -> bytes:
    """The stored (safe) bytes, for a staff view that audits the read."""
    if not attachment.file_sealed:
        return b""
    opened = staff_fields.open_for_staff(
        attachment.case, _file_field(attachment.pk), attachment.file_sealed, ring
    )
    return base64.b64decode(opened.text)
