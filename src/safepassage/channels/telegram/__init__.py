"""The Telegram channel: webhook and long polling in, a rate-limited outbox out.

How an update flows is described in docs/architecture.md ("Telegram"). Modules:
``bots`` (configured bots, Bot API clients), ``render`` (Prompt → message and buttons),
``dialogue`` (an update → the conversation engine), ``intake`` (dedupe and commit),
``outbox`` (queue rows, states for the console), ``sender`` (the worker), ``polling``,
``attachments``, ``views`` (the webhook).
"""
