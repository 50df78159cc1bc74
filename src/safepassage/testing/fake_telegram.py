"""A local fake of the Telegram Bot API for tests and benchmarks (127.0.0.1, any free port).

It speaks the real protocol: ``/bot<token>/<method>`` with form, query or JSON parameters,
``/file/bot<token>/<path>`` for downloads, answers ``{"ok": true, "result": …}`` or Telegram's
error objects (``{"ok": false, "error_code": 429, "description": "Too Many Requests: retry after
N", "parameters": {"retry_after": N}}``), enforces 30 messages per second per bot and one per
second per chat, queues updates for ``getUpdates`` or pushes them to a webhook with the secret
header (redelivering until it gets a 200), and records every call it received.
"""

from __future__ import annotations

import itertools
import json
import threading
import time
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, unquote, urlparse

from safepassage.testing.fake_telegram_applicant import ApplicantSide
from safepassage.testing.fake_telegram_state import (
    BOT_LIMIT_PER_SECOND,
    CHAT_GAP_SECONDS,
    CONFLICT,
    NOT_MODIFIED,
    POLL_CONFLICT,
    QUERY_TOO_OLD,
    ApiError,
    BotState,
    Call,
    chat_of,
    parse_value,
)


class _QuietServer(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        return  # a client hanging up mid long-poll is normal, not worth a traceback


class FakeTelegram(ApplicantSide):
    """Use as a context manager; ``base_url`` goes into ``TELEGRAM_API_BASE``."""

    def __init__(
        self,
        tokens: list[str],
        *,
        port: int = 0,
        enforce_limits: bool = True,
        strict_callbacks: bool = True,
    ) -> None:
        self.bots = {
            t: BotState(t, int(t.split(":")[0]), f"help_desk_{i}_bot") for i, t in enumerate(tokens)
        }
        self.enforce_limits = enforce_limits
        self.strict_callbacks = strict_callbacks  # off: benchmarks send made-up callback ids
        self.lock = threading.Condition()
        self.port = port
        self.server: ThreadingHTTPServer | None = None
        self._threads: list[threading.Thread] = []
        self._stop = threading.Event()
        self._ids = itertools.count(1)

    # -- lifecycle --------------------------------------------------------------------------
    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> FakeTelegram:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # no 40 ms delayed-ACK stalls on keep-alive

            def log_message(self, *args: Any) -> None:
                return

            def do_GET(self) -> None:
                fake._handle(self)

            def do_POST(self) -> None:
                fake._handle(self)

        self.server = _QuietServer(("127.0.0.1", self.port), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        thread.start()
        if not self._threads:
            self._stop.clear()
            for bot in self.bots.values():
                for _ in range(bot.webhook_connections):
                    pusher = threading.Thread(target=self._pusher, args=(bot,), daemon=True)
                    pusher.start()
                    self._threads.append(pusher)
        return self

    def down(self) -> None:
        """The Bot API becomes unreachable (connections refused); state is kept."""
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None

    def up(self) -> None:
        self.start()

    def stop(self) -> None:
        self._stop.set()
        with self.lock:
            self.lock.notify_all()
        self.down()

    def __enter__(self) -> FakeTelegram:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- HTTP -------------------------------------------------------------------------------
    def _params(self, request: BaseHTTPRequestHandler) -> dict[str, Any]:
        parsed = urlparse(request.path)
        params: dict[str, Any] = {k: parse_value(v) for k, v in parse_qsl(parsed.query)}
        length = int(request.headers.get("Content-Length") or 0)
        raw = request.rfile.read(length) if length else b""
        ctype = request.headers.get("Content-Type", "")
        if raw and "json" in ctype:
            params.update(json.loads(raw))
        elif raw and "form-urlencoded" in ctype:
            params.update({k: parse_value(v) for k, v in parse_qsl(raw.decode())})
        elif raw and "multipart" in ctype:
            raise ApiError(400, "Bad Request: multipart uploads are not supported by the fake")
        return params

    def _reply(
        self, request: BaseHTTPRequestHandler, status: int, body: Any, raw: bytes | None = None
    ) -> None:
        data = raw if raw is not None else json.dumps(body).encode()
        request.send_response(status)
        request.send_header(
            "Content-Type", "application/octet-stream" if raw else "application/json"
        )
        request.send_header("Content-Length", str(len(data)))
        request.end_headers()
        request.wfile.write(data)

    def _stream(self, request: BaseHTTPRequestHandler, bot: BotState, data: bytes) -> None:
        """A download without Content-Length (read until the connection closes), counting what
        was written before the client hung up."""
        request.close_connection = True
        request.send_response(200)
        request.send_header("Content-Type", "application/octet-stream")
        request.send_header("Connection", "close")
        request.end_headers()
        chunk = 64 * 1024
        try:
            for start in range(0, len(data), chunk):
                request.wfile.write(data[start : start + chunk])
                with self.lock:
                    bot.file_bytes_sent += len(data[start : start + chunk])
        except OSError:
            return  # the client stopped reading

    def _handle(self, request: BaseHTTPRequestHandler) -> None:
        path = unquote(urlparse(request.path).path)
        try:
            if path.startswith("/file/bot"):
                token, _, file_path = path[len("/file/bot") :].partition("/")
                bot = self._bot(token)
                for file_id, (stored_path, data) in list(bot.files.items()):
                    if stored_path == file_path:
                        if file_id in bot.sizeless:
                            self._stream(request, bot, data)
                        else:
                            self._reply(request, 200, None, raw=data)
                        return
                raise ApiError(404, "Not Found")
            if path.startswith("/_fake/stats/"):  # not Bot API: figures for benchmarks
                bot = self._bot(path.rsplit("/", 1)[1])
                with self.lock:
                    counts: dict[str, int] = {}
                    for call in bot.calls:
                        key = f"{call.method}:{call.status}"
                        counts[key] = counts.get(key, 0) + 1
                    body = {"rate_limited": bot.rate_limited, "calls": counts}
                self._reply(request, 200, body)
                return
            if not path.startswith("/bot"):
                raise ApiError(404, "Not Found")
            token, _, method = path[len("/bot") :].partition("/")
            bot = self._bot(token)
            params = self._params(request)
            handler = getattr(self, f"_m_{method}", None)
            if handler is None:
                raise ApiError(404, "Not Found: method not found")
            try:
                result = handler(bot, params)
            except ApiError as error:
                with self.lock:
                    bot.calls.append(Call(method, params, time.time(), error.code))
                raise
            with self.lock:
                bot.calls.append(Call(method, params, time.time(), 200))
            self._reply(request, 200, {"ok": True, "result": result})
        except ApiError as error:
            self._reply(request, error.code, error.body())

    def _bot(self, token: str) -> BotState:
        if token not in self.bots:
            raise ApiError(401, "Unauthorized")
        return self.bots[token]

    # -- Bot API methods --------------------------------------------------------------------
    def _user(self, bot: BotState) -> dict[str, Any]:
        return {"id": bot.id, "is_bot": True, "first_name": "Help desk", "username": bot.username}

    def _m_getMe(self, bot: BotState, params: dict[str, Any]) -> Any:
        return {
            **self._user(bot),
            "can_join_groups": False,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
            "can_connect_to_business": False,
            "has_main_web_app": False,
        }

    def _m_setWebhook(self, bot: BotState, params: dict[str, Any]) -> Any:
        url = str(params.get("url") or "")
        if url and not url.startswith(("http://", "https://")):
            raise ApiError(
                400, "Bad Request: bad webhook: An HTTPS URL must be provided for webhook"
            )
        with self.lock:
            bot.webhook_url = url
            bot.webhook_secret = str(params.get("secret_token") or "")
            if url:  # updates waiting for getUpdates are now pushed
                bot.pending_push.extend(bot.updates)
                bot.updates.clear()
            self.lock.notify_all()
        return True

    def _m_deleteWebhook(self, bot: BotState, params: dict[str, Any]) -> Any:
        with self.lock:
            bot.webhook_url = ""
            bot.updates.extend(bot.pending_push)
            bot.pending_push.clear()
        return True

    def _m_getWebhookInfo(self, bot: BotState, params: dict[str, Any]) -> Any:
        return {
            "url": bot.webhook_url,
            "has_custom_certificate": False,
            "pending_update_count": len(bot.pending_push),
        }

    def _m_setMyDescription(self, bot: BotState, params: dict[str, Any]) -> Any:
        bot.description[str(params.get("language_code") or "")] = str(params.get("description"))
        return True

    def _m_setMyShortDescription(self, bot: BotState, params: dict[str, Any]) -> Any:
        text = str(params.get("short_description") or "")
        bot.description["short:" + str(params.get("language_code") or "")] = text
        return True

    def _m_getUpdates(self, bot: BotState, params: dict[str, Any]) -> Any:
        if bot.webhook_url:
            raise ApiError(
                409,
                CONFLICT,
            )
        offset = int(params.get("offset") or 0)
        limit = int(params.get("limit") or 100)
        deadline = time.monotonic() + min(float(params.get("timeout") or 0), 5.0)
        with self.lock:
            bot.polls += 1
            mine = bot.polls
            self.lock.notify_all()  # a getUpdates still waiting is ended by this one
            if offset:
                bot.updates = [u for u in bot.updates if u["update_id"] >= offset]
            while not bot.updates and time.monotonic() < deadline and not self._stop.is_set():
                self.lock.wait(deadline - time.monotonic())
                if bot.polls != mine:
                    raise ApiError(409, POLL_CONFLICT)
            return bot.updates[:limit]

    def _limit(self, bot: BotState, chat_id: int) -> None:
        now = time.monotonic()
        while bot.sends and now - bot.sends[0] >= 1.0:
            bot.sends.popleft()
        if self.enforce_limits:
            if len(bot.sends) >= BOT_LIMIT_PER_SECOND:
                bot.rate_limited += 1
                raise ApiError(429, "Too Many Requests: retry after 1", retry_after=1)
            last = bot.chat_last_send.get(chat_id)
            if last is not None and now - last < CHAT_GAP_SECONDS:
                bot.rate_limited += 1
                raise ApiError(429, "Too Many Requests: retry after 1", retry_after=1)
        bot.sends.append(now)
        bot.chat_last_send[chat_id] = now

    def _chat_id(self, bot: BotState, params: dict[str, Any]) -> int:
        try:
            chat_id = int(params["chat_id"])
        except (KeyError, ValueError) as exc:
            raise ApiError(400, "Bad Request: chat not found") from exc
        if chat_id in bot.blocked:
            raise ApiError(403, "Forbidden: bot was blocked by the user")
        return chat_id

    def _m_sendMessage(self, bot: BotState, params: dict[str, Any]) -> Any:
        text = str(params.get("text") or "")
        if not text:
            raise ApiError(400, "Bad Request: message text is empty")
        if len(text) > 4096:
            raise ApiError(400, "Bad Request: message is too long")
        with self.lock:
            chat_id = self._chat_id(bot, params)
            self._limit(bot, chat_id)
            message = self._new_message(bot, chat_id, self._user(bot), text=text)
            if params.get("reply_markup"):
                message["reply_markup"] = params["reply_markup"]
            self.lock.notify_all()
            return message

    def _find(self, bot: BotState, params: dict[str, Any]) -> dict[str, Any]:
        chat_id = self._chat_id(bot, params)
        message = bot.messages.get(chat_id, {}).get(int(params.get("message_id") or 0))
        if message is None:
            raise ApiError(400, "Bad Request: message to edit not found")
        return message

    def _m_editMessageReplyMarkup(self, bot: BotState, params: dict[str, Any]) -> Any:
        with self.lock:
            message = self._find(bot, params)
            markup = params.get("reply_markup") or {}
            if message.get("reply_markup") == markup:
                raise ApiError(
                    400,
                    NOT_MODIFIED,
                )
            message["reply_markup"] = markup
            message["edit_date"] = int(time.time())
            return message

    def _m_editMessageText(self, bot: BotState, params: dict[str, Any]) -> Any:
        with self.lock:
            message = self._find(bot, params)
            self._limit(bot, message["chat"]["id"])
            message["text"] = str(params.get("text") or "")
            if "reply_markup" in params:
                message["reply_markup"] = params["reply_markup"]
            return message

    def _m_deleteMessage(self, bot: BotState, params: dict[str, Any]) -> Any:
        with self.lock:
            chat_id = self._chat_id(bot, params)
            message_id = int(params.get("message_id") or 0)
            if bot.messages.get(chat_id, {}).pop(message_id, None) is None:
                raise ApiError(400, "Bad Request: message to delete not found")
            bot.deleted.append((chat_id, message_id))
            return True

    def _m_answerCallbackQuery(self, bot: BotState, params: dict[str, Any]) -> Any:
        with self.lock:
            query_id = str(params.get("callback_query_id") or "")
            known = query_id in bot.callbacks or not self.strict_callbacks
            if not known or query_id in bot.answered:
                raise ApiError(
                    400,
                    QUERY_TOO_OLD,
                )
            bot.answered.append(query_id)
            return True

    def _m_getFile(self, bot: BotState, params: dict[str, Any]) -> Any:
        file_id = str(params.get("file_id") or "")
        if file_id not in bot.files:
            raise ApiError(400, "Bad Request: invalid file_id")
        path, data = bot.files[file_id]
        answer: dict[str, Any] = {
            "file_id": file_id,
            "file_unique_id": "u" + file_id[:15],
            "file_path": path,
        }
        if file_id not in bot.sizeless:
            answer["file_size"] = len(data)
        return answer

    # -- webhook delivery ---------------------------------------------------------------------
    def _pusher(self, bot: BotState) -> None:
        while not self._stop.is_set():
            with self.lock:
                update = None
                if bot.webhook_url:
                    for candidate in bot.pending_push:
                        chat = chat_of(candidate)
                        if chat is None or chat not in bot.in_flight_chats:
                            update = candidate
                            break
                if update is None:
                    self.lock.wait(0.05)
                    continue
                bot.pending_push.remove(update)
                chat = chat_of(update)
                if chat is not None:
                    bot.in_flight_chats.add(chat)
                url, secret = bot.webhook_url, bot.webhook_secret
                bot.push_attempts += 1
            ok = False
            reply = b""
            try:
                request = urllib.request.Request(  # noqa: S310 (127.0.0.1 only)
                    url,
                    data=json.dumps(update).encode(),
                    method="POST",
                    headers={
                        "Content-Type": "application/json",
                        "X-Telegram-Bot-Api-Secret-Token": secret,
                    },
                )
                with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
                    ok = response.status == 200
                    reply = response.read()
            except Exception:
                ok = False
            if ok and reply:
                self._webhook_reply(bot, reply)
            with self.lock:
                if chat is not None:
                    bot.in_flight_chats.discard(chat)
                if ok:
                    bot.acked.append(int(update["update_id"]))
                    bot.acked_at[int(update["update_id"])] = time.time()
                else:  # redeliver, in order, after a pause
                    bot.pending_push.appendleft(update)
                self.lock.notify_all()
            if not ok:
                self._stop.wait(0.2)

    def _webhook_reply(self, bot: BotState, body: bytes) -> None:
        """The Bot API call a webhook's 200 may carry, made as Telegram makes it: recorded like
        any call, its result (or error) told to nobody."""
        try:
            params = json.loads(body)
            method = str(params.pop("method"))
        except (ValueError, KeyError, TypeError, AttributeError):
            return  # Telegram ignores a body it cannot read
        handler = getattr(self, f"_m_{method}", None)
        if handler is None:
            return
        status = 200
        try:
            handler(bot, params)
        except ApiError as error:
            status = error.code
        with self.lock:
            bot.calls.append(Call(method, params, time.time(), status))


def main() -> None:
    """Run the fake alone (benchmarks keep it in its own process, off the measured one's GIL):
    ``python -m safepassage.testing.fake_telegram --port P --token T [--no-limits]``."""
    import argparse

    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--token", action="append", required=True)
    parser.add_argument("--no-limits", action="store_true")
    args = parser.parse_args()
    fake = FakeTelegram(
        args.token, port=args.port, enforce_limits=not args.no_limits, strict_callbacks=False
    ).start()
    print(fake.base_url, flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        fake.stop()


if __name__ == "__main__":
    main()
