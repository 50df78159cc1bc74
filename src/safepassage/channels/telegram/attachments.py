"""Photos, voice messages and documents from applicants.

Intake only records the Bot API ``file_id`` (sealed under the case's key) and answers calmly;
the sender downloads the file later (``getFile``), re-encodes images with Pillow so that no
metadata (EXIF, GPS, camera serial) survives, and stores the bytes sealed. Documents and voice
messages are stored as received and never opened or parsed by the server.
"""

from __future__ import annotations

import base64
import io

from django.db import transaction
from PIL import Image
from telegram import Bot
from telegram import Message as TgMessage

from safepassage import config
from safepassage.cases import services as cases
from safepassage.cases.models import Direction
from safepassage.channels.models import Attachment, TelegramChat
from safepassage.channels.telegram.bots import CHANNEL
from safepassage.privacy import fields, staff_fields
from safepassage.privacy.keyring import Keyring

DOCUMENT_TYPES = {"application/pdf", "image/jpeg", "image/png", "text/plain"}
VOICE_TYPES = {"audio/ogg", "audio/mpeg", "audio/mp4"}
PENDING, STORED, REFUSED = "pending", "stored", "refused"
MAX_PIXELS = 40_000_000  # refuse decompression bombs before decoding


def _source_field(attachment_id: int) -> str:
    return f"attachment:{attachment_id}:source"


def _file_field(attachment_id: int) -> str:
    return f"attachment:{attachment_id}:file"


def do_accept(chat: TelegramChat, message: TgMessage) -> str:
    """Record an attachment for download; return the message id of the calm answer."""
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
    if (size or 0) > limit or not accepted:
        return "chat.tg.file_refused"
    attachment = Attachment.objects.create(
        case=case, chat=chat, kind=kind, content_type=mime, size=size or 0
    )
    attachment.source_sealed = fields.seal_text(case, _source_field(attachment.pk), file_id)
    attachment.save(update_fields=["source_sealed"])
    cases.do_add_message(case, Direction.INBOUND, f"[{kind}]", CHANNEL)
    return "chat.tg.file_received"


def strip_image(data: bytes) -> tuple[bytes, str]:
    """Decode and re-encode: only pixels survive, no EXIF, GPS or maker notes."""
    with Image.open(io.BytesIO(data)) as image:
        if image.width * image.height > MAX_PIXELS:
            raise ValueError("image too large")
        clean = Image.new("RGB", image.size)
        clean.paste(image.convert("RGB"))
    out = io.BytesIO()
    clean.save(out, format="JPEG", quality=85)
    return out.getvalue(), "image/jpeg"


async def download(bot: Bot, file_id: str, limit: int) -> bytes:
    tg_file = await bot.get_file(file_id)
    if (tg_file.file_size or 0) > limit:
        raise ValueError("file too large")
    data = bytes(await tg_file.download_as_bytearray())
    if len(data) > limit:
        raise ValueError("file too large")
    return data


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
