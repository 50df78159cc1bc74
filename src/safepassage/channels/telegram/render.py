"""A channel-neutral :class:`~safepassage.conversations.engine.Prompt` as a Telegram message.

Choices become inline buttons whose ``callback_data`` is ``kind|step|value`` (at most 64 bytes):
the step id lets a press on an old message be recognised and answered calmly instead of being
applied to whatever step the applicant is on now.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from safepassage.config import APPLICANT_LANGUAGES
from safepassage.conversations import catalog
from safepassage.conversations.engine import Prompt

CHOICE, TOGGLE, CONTINUE, NAV, LANGUAGE = "c", "m", "k", "n", "l"
TICKED, UNTICKED = "☑ ", "☐ "
FALLBACK_LANGUAGE = "en"

Markup = dict[str, Any]


@dataclass(frozen=True)
class Pressed:
    kind: str
    step: str
    value: str


def callback(kind: str, step: str, value: str = "") -> str:
    data = f"{kind}|{step}|{value}"
    if len(data.encode()) > 64:
        raise ValueError("callback data over 64 bytes")  # flow ids are short; checked in tests
    return data


def parse_callback(data: str | None) -> Pressed | None:
    parts = (data or "").split("|")
    if len(parts) != 3 or parts[0] not in {CHOICE, TOGGLE, CONTINUE, NAV, LANGUAGE}:
        return None
    return Pressed(*parts)


def _button(text: str, data: str) -> dict[str, str]:
    return {"text": text[:120], "callback_data": data}


def text_for(lang: str, msgid: str) -> str:
    return catalog.text(lang if catalog.is_language(lang) else FALLBACK_LANGUAGE, msgid)


def language_prompt() -> tuple[str, Markup]:
    """Asked before we know the language: the question in every language we speak."""
    text = "\n".join(catalog.text(code, "apply.language.prompt") for code in catalog.languages())
    rows = [
        [_button(APPLICANT_LANGUAGES.get(code, code), callback(LANGUAGE, "language", code))]
        for code in catalog.languages()
    ]
    return text, {"inline_keyboard": rows}


def keyboard(prompt: Prompt, lang: str, selection: list[str] | None = None) -> Markup:
    step = prompt.step
    rows: list[list[dict[str, str]]] = []
    if step.type == "language":
        return language_prompt()[1]
    if step.type == "multi":
        ticked = set(selection or ())
        for c in step.choices:
            mark = TICKED if c.value in ticked else UNTICKED
            rows.append(
                [_button(mark + text_for(lang, c.label), callback(TOGGLE, step.id, c.value))]
            )
        rows.append([_button(text_for(lang, "chat.continue"), callback(CONTINUE, step.id))])
    elif step.type in {"choice", "summary", "info", "thread"}:
        for c in step.choices:
            label = text_for(lang, c.label)
            rows.append([_button(label, callback(CHOICE, step.id, c.value))])
    elif step.type == "text" and step.optional:
        rows.append([_button(text_for(lang, "nav.skip"), callback(NAV, step.id, "skip"))])
    if prompt.can_go_back and step.type not in {"end", "thread"}:
        rows.append([_button(text_for(lang, "nav.back"), callback(NAV, step.id, "back"))])
    return {"inline_keyboard": rows}


def message(
    prompt: Prompt,
    lang: str,
    *,
    reask: str | None = None,
    notice: str | None = None,
    selection: list[str] | None = None,
) -> tuple[str, Markup]:
    step = prompt.step
    if step.type == "language":
        return language_prompt()
    parts: list[str] = []
    if notice:
        parts.append(text_for(lang, notice))
    if reask:
        parts.append(text_for(lang, reask))
    parts.append(text_for(lang, step.prompt))
    lines: list[str] = []
    for line in prompt.summary:
        if line.value_text is not None:
            value = line.value_text
        else:
            value = "; ".join(text_for(lang, v) for v in line.value_ids)
        lines.append(f"• {text_for(lang, line.label)}: {value}")
    if lines:
        parts.append("\n".join(lines))
    return "\n\n".join(parts)[:4096], keyboard(prompt, lang, selection)


def done_message(lang: str, reference: str, passphrase: str | None) -> str:
    """The confirmation: credentials once, then how to leave no trace on the phone."""
    parts = [text_for(lang, "apply.done.prompt")]
    parts.append(f"{text_for(lang, 'chat.reference_label')}: {reference}")
    if passphrase:
        parts.append(f"{text_for(lang, 'chat.passphrase_label')}: {passphrase}")
        parts.append(text_for(lang, "chat.passphrase_once"))
    parts.append(text_for(lang, "chat.tg.erase_hint"))
    return "\n\n".join(parts)
