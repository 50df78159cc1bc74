"""The same flow built the way a user of python-telegram-bot would build it without us:
its webhook Application (tornado), a ConversationHandler and PicklePersistence.

    python bench/_ptb_baseline.py TOKEN API_BASE PORT SECRET PICKLE_PATH
"""

from __future__ import annotations

import sys

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.ext import (
    Application,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    ConversationHandler,
    MessageHandler,
    PicklePersistence,
    filters,
)

WHO, WHERE, READY, SECTOR = range(4)


def keyboard(step: str, values: list[str]) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        [[InlineKeyboardButton(v, callback_data=f"c|{step}|{v}")] for v in values]
    )


async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int:
    assert update.message is not None
    await update.message.reply_text(
        "Who is writing?", reply_markup=keyboard("who", ["self", "relative"])
    )
    return WHO


async def pressed(update: Update, context: ContextTypes.DEFAULT_TYPE, field: str) -> None:
    query = update.callback_query
    assert query is not None and context.user_data is not None
    await query.answer()
    context.user_data[field] = (query.data or "").split("|")[-1]


async def who(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int:
    await pressed(update, context, "who")
    assert update.effective_chat is not None
    await context.bot.send_message(
        update.effective_chat.id, "Where now?", reply_markup=keyboard("whereabouts", ["front"])
    )
    return WHERE


async def where(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int:
    await pressed(update, context, "whereabouts")
    assert update.effective_chat is not None
    await context.bot.send_message(
        update.effective_chat.id, "How soon?", reply_markup=keyboard("readiness", ["days"])
    )
    return READY


async def ready(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int:
    await pressed(update, context, "readiness")
    assert update.effective_chat is not None
    await context.bot.send_message(update.effective_chat.id, "Which area?")
    return SECTOR


async def sector(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int:
    assert update.message is not None and context.user_data is not None
    context.user_data["sector"] = update.message.text
    await update.message.reply_text("Which unit?")
    return ConversationHandler.END


def main() -> None:
    token, api_base, port, secret, pickle_path = sys.argv[1:6]
    application = (
        Application.builder()
        .token(token)
        .base_url(f"{api_base}/bot")
        .base_file_url(f"{api_base}/file/bot")
        .persistence(PicklePersistence(filepath=pickle_path))
        .build()
    )
    application.add_handler(
        ConversationHandler(
            entry_points=[CommandHandler("start", start)],
            states={
                WHO: [CallbackQueryHandler(who, pattern=r"^c\|who\|")],
                WHERE: [CallbackQueryHandler(where, pattern=r"^c\|whereabouts\|")],
                READY: [CallbackQueryHandler(ready, pattern=r"^c\|readiness\|")],
                SECTOR: [MessageHandler(filters.TEXT & ~filters.COMMAND, sector)],
            },
            fallbacks=[],
            name="application",
            persistent=True,
        )
    )
    application.run_webhook(
        listen="127.0.0.1",
        port=int(port),
        url_path="tg/main/webhook",
        secret_token=secret,
        webhook_url=f"http://127.0.0.1:{port}/tg/main/webhook",
    )


if __name__ == "__main__":
    main()
