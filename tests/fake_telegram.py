"""A fake Telegram Bot API for the tests: its HTTP protocol on loopback.

A Starlette app that uvicorn serves in the test's event loop. ``POST /bot<token>/sendMessage``
and ``getMe``, with parameters as JSON, as a form or in the query string, as the real API takes
them, answered in its envelope: ``{"ok": true, "result": ...}``, or ``{"ok": false,
"error_code", "description"}`` with ``parameters.retry_after`` on a 429. As the real API does it
answers 401 for a wrong token, 400 "chat not found" for a chat it does not know, 403 for a chat
that blocked the bot, 400 for a text its ``parse_mode`` cannot parse (MarkdownV2's reserved
characters left unescaped, HTML tags it does not support or that are not closed), and 429 when
more than ``max_per_second`` messages come within ``window`` seconds (a sliding window), or
when a test scripted one with ``plan``."""

from __future__ import annotations

import asyncio
import contextlib
import math
import re
import socket
import time
import zlib
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs

import orjson
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

BOT_TOKEN = "7000000001:AAFakeTokenOfThePricealertTestBot-xyz"
MAX_TEXT = 4096  # characters in one message
WAIT = 10.0  # seconds wait_for waits before it fails the test


@dataclass(frozen=True)
class ApiError:
    """One answer in the API's error envelope."""

    error_code: int
    description: str
    retry_after: int | None = None  # parameters.retry_after, seconds


def too_many_requests(retry_after: int) -> ApiError:
    """The 429 Telegram answers to a bot that sends too fast."""
    return ApiError(429, f"Too Many Requests: retry after {retry_after}", retry_after)


@dataclass(frozen=True)
class Message:
    """One message the fake accepted."""

    chat_id: int | str  # an integer, or '@channelname' in lower case
    text: str
    parse_mode: str | None
    disable_web_page_preview: bool | None
    message_id: int
    perf: float  # time.perf_counter() when accepted


@dataclass(frozen=True)
class Call:
    """One call of any method, accepted or not."""

    method: str
    params: dict[str, Any]
    status: int
    perf: float  # time.perf_counter() when answered


class _Server(uvicorn.Server):
    """uvicorn inside the test's event loop: signals stay the test runner's."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class FakeTelegram:
    """``chats``: the chats the bot can write to (integers and '@channelname'); ``blocked``:
    chats that blocked the bot; ``max_per_second`` (None: no limit) over ``window`` seconds."""

    def __init__(
        self,
        *,
        token: str = BOT_TOKEN,
        chats: Iterable[int | str] = (),
        blocked: Iterable[int | str] = (),
        max_per_second: int | None = 30,
        window: float = 1.0,
    ) -> None:
        self.token = token
        self.blocked = {_chat_key(chat) for chat in blocked}
        self.chats = {_chat_key(chat) for chat in chats} | self.blocked
        self.max_per_second = max_per_second
        self.window = window
        self.messages: list[Message] = []
        self.calls: list[Call] = []
        self.rate_limited = 0  # 429s answered because the rate limit was exceeded
        self._planned: deque[ApiError] = deque()
        self._recent: deque[float] = deque()  # when the messages of the last window came
        self._changed = asyncio.Condition()  # notified on every call
        self._socket: socket.socket | None = None
        self._server: _Server | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> str:
        """Listen on an ephemeral port of 127.0.0.1; returns the base URL (TELEGRAM_API_URL).
        The socket listens before uvicorn serves it: early connections wait in the backlog."""
        self._socket = socket.socket()
        self._socket.bind(("127.0.0.1", 0))
        self._socket.listen()
        app = Starlette(routes=[Route("/bot{token}/{method}", self._call, methods=["GET", "POST"])])
        config = uvicorn.Config(app, log_config=None, access_log=False, lifespan="off")
        self._server = _Server(config)
        self._task = asyncio.create_task(self._server.serve(sockets=[self._socket]))
        return self.url

    @property
    def url(self) -> str:
        assert self._socket is not None, "start() the fake first"
        return f"http://127.0.0.1:{self._socket.getsockname()[1]}"

    async def close(self) -> None:
        if self._server is not None and self._task is not None:
            self._server.should_exit = True
            await self._task
        if self._socket is not None:
            self._socket.close()
        self._server = self._task = None

    async def __aenter__(self) -> FakeTelegram:
        await self.start()
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    def plan(self, errors: Iterable[ApiError]) -> None:
        """Answer the next sendMessage calls with ``errors``, in order, before any check."""
        self._planned.extend(errors)

    async def wait_for(self, count: int, *, timeout: float = WAIT) -> list[Message]:  # noqa: ASYNC109
        """Until ``count`` messages were accepted; those messages. Fails the test after
        ``timeout`` seconds, saying what came."""
        try:
            async with asyncio.timeout(timeout), self._changed:
                await self._changed.wait_for(lambda: len(self.messages) >= count)
        except TimeoutError:
            calls = [(c.method, c.params.get("chat_id"), c.status) for c in self.calls]
            raise AssertionError(
                f"waited {timeout} s for {count} messages; {len(self.messages)} came, "
                f"calls: {calls}"
            ) from None
        return list(self.messages)

    async def _call(self, request: Request) -> Response:
        method = request.path_params["method"]
        params: dict[str, Any] = {}
        if request.path_params["token"] != self.token:
            answer: Any = ApiError(401, "Unauthorized")
        else:
            try:
                params = await _params(request)
            except ValueError:
                answer = ApiError(400, "Bad Request: can't parse request parameters")
            else:
                if method.lower() == "getme":
                    answer = self._me()
                elif method.lower() == "sendmessage":
                    answer = self._send_message(params)
                else:
                    answer = ApiError(404, "Not Found")
        if isinstance(answer, ApiError):
            status, body = answer.error_code, _error_body(answer)
        else:
            status, body = 200, {"ok": True, "result": answer}
        async with self._changed:
            self.calls.append(Call(method, params, status, time.perf_counter()))
            self._changed.notify_all()
        return Response(orjson.dumps(body), status, media_type="application/json")

    def _me(self) -> dict[str, Any]:
        return {
            "id": int(self.token.split(":")[0]),
            "is_bot": True,
            "first_name": "Pricealert test bot",
            "username": "pricealert_test_bot",
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
        }

    def _send_message(self, params: dict[str, Any]) -> dict[str, Any] | ApiError:
        chat = _chat_key(params.get("chat_id"))
        text = params.get("text")
        parse_mode = params.get("parse_mode") or None
        if chat is None:
            return ApiError(400, "Bad Request: chat_id is empty")
        if not isinstance(text, str) or not text.strip():
            return ApiError(400, "Bad Request: message text is empty")
        if self._planned:
            return self._planned.popleft()
        if (limited := self._over_limit()) is not None:
            return limited
        if chat not in self.chats:
            return ApiError(400, "Bad Request: chat not found")
        if chat in self.blocked:
            if isinstance(chat, str):
                return ApiError(403, "Forbidden: bot is not a member of the channel chat")
            return ApiError(403, "Forbidden: bot was blocked by the user")
        if len(text) > MAX_TEXT:
            return ApiError(400, "Bad Request: message is too long")
        if parse_mode is not None and (problem := _parse_problem(text, parse_mode)):
            return ApiError(400, f"Bad Request: {problem}")
        preview = params.get("disable_web_page_preview")
        message = Message(
            chat_id=chat,
            text=text,
            parse_mode=parse_mode,
            disable_web_page_preview=None if preview is None else _boolean(preview),
            message_id=len(self.messages) + 1,
            perf=time.perf_counter(),
        )
        self.messages.append(message)
        self._recent.append(time.monotonic())
        return {
            "message_id": message.message_id,
            "from": {key: self._me()[key] for key in ("id", "is_bot", "first_name", "username")},
            "chat": _chat(chat),
            "date": int(time.time()),
            "text": text,
        }

    def _over_limit(self) -> ApiError | None:
        """A 429 if accepting one more message would exceed the limit within the window."""
        if self.max_per_second is None:
            return None
        now = time.monotonic()
        while self._recent and self._recent[0] <= now - self.window:
            self._recent.popleft()
        if len(self._recent) < self.max_per_second:
            return None
        self.rate_limited += 1
        return too_many_requests(max(1, math.ceil(self._recent[0] + self.window - now)))


async def _params(request: Request) -> dict[str, Any]:
    """The call's parameters: query string, then a JSON or form body over it."""
    params: dict[str, Any] = dict(request.query_params)
    body = await request.body()
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind == "application/json" and body:
        parsed = orjson.loads(body)  # orjson.JSONDecodeError is a ValueError
        if not isinstance(parsed, dict):
            raise ValueError("not a JSON object")
        params.update(parsed)
    elif kind == "application/x-www-form-urlencoded":
        form = parse_qs(body.decode(), keep_blank_values=True)
        params.update((name, values[-1]) for name, values in form.items())
    return params


def _error_body(error: ApiError) -> dict[str, Any]:
    body: dict[str, Any] = {
        "ok": False,
        "error_code": error.error_code,
        "description": error.description,
    }
    if error.retry_after is not None:
        body["parameters"] = {"retry_after": error.retry_after}
    return body


def _chat_key(value: Any) -> int | str | None:
    """A chat as the API names it: an integer (also given as a string) or '@channelname'."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and re.fullmatch(r"-?[0-9]+", value.strip()):
        return int(value)
    if isinstance(value, str) and re.fullmatch(r"@[A-Za-z][A-Za-z0-9_]{3,}", value.strip()):
        return value.strip().lower()
    return None


def _chat(chat: int | str) -> dict[str, Any]:
    if isinstance(chat, str):  # a public channel: the API answers with its numeric id
        number = -1_000_000_000_000 - zlib.crc32(chat.encode())
        return {"id": number, "title": chat[1:], "username": chat[1:], "type": "channel"}
    if chat > 0:
        return {"id": chat, "first_name": "Test", "type": "private"}
    return {"id": chat, "title": "Test group", "type": "supergroup"}


def _boolean(value: Any) -> bool:
    return value is True or (isinstance(value, str) and value.lower() in ("true", "1"))


_MARKDOWN_V2_RESERVED = set("#+-=|{}.!>")  # not markup where they stand: always escaped
_HTML_TAGS = {"b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "span", "tg-spoiler"}
_HTML_TAGS |= {"a", "code", "pre", "blockquote", "tg-emoji"}
_HTML_TAG = re.compile(r"<(/?)([a-zA-Z][a-zA-Z0-9-]*)[^<>]*>")


def _parse_problem(text: str, parse_mode: str) -> str | None:
    """Why Telegram would refuse ``text`` in ``parse_mode``, in its words; None if it would not.
    A subset of its parser: the mistakes a sender of prices makes (a '.' unescaped in
    MarkdownV2, a '<' unescaped in HTML)."""
    mode = parse_mode.lower()
    if mode not in ("markdownv2", "html", "markdown"):
        return "unsupported parse_mode"
    problem = {"markdownv2": _markdown_v2_problem, "html": _html_problem}.get(mode)
    entities = problem(text) if problem else None  # legacy Markdown: taken as it is
    return None if entities is None else f"can't parse entities: {entities}"


def _markdown_v2_problem(text: str) -> str | None:
    index, in_code = 0, False
    while index < len(text):
        char = text[index]
        if char == "\\":
            index += 1  # whatever follows is escaped
        elif char == "`":
            in_code = not in_code
        elif not in_code and char in _MARKDOWN_V2_RESERVED:
            quotation = char == ">" and (index == 0 or text[index - 1] == "\n")
            if not quotation:
                return f"Character '{char}' is reserved and must be escaped with the preceding '\\'"
        index += 1
    return None


def _html_problem(text: str) -> str | None:
    opened: list[str] = []
    for index, char in enumerate(text):
        if char != "<":
            continue
        offset = len(text[:index].encode())
        tag = _HTML_TAG.match(text, index)
        if tag is None or tag[2].lower() not in _HTML_TAGS:
            name = tag[2] if tag else text[index + 1 : index + 2]
            return f'Unsupported start tag "{name}" at byte offset {offset}'
        if not tag[1]:
            opened.append(tag[2].lower())
        elif not opened or opened.pop() != tag[2].lower():
            return f"Unmatched end tag at byte offset {offset}"
    if opened:
        return f'Can\'t find end tag corresponding to start tag "{opened[-1]}"'
    return None
