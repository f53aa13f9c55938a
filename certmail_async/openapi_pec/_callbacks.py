"""Receiving openapi.it callbacks: mailbox and Business Register state changes.

What the reference says (``openapi-pec.md`` §12) and what this module does about it:

* Delivery: ``method: "POST"`` (this API's default) is a form POST whose field ``field``
  (default ``data``) holds the JSON payload as a *string*; ``method: "JSON"`` posts the
  JSON as the raw body. ``parse_callback`` accepts both, whatever the content type
  says, and any field name.
* Payload: **not documented**. It is probably the updated ``Casella`` (mailbox) or
  ``RichiestaComunicazionePec`` (communication) with your ``data`` echoed (unconfirmed).
  The payload (or any object directly inside it, such as an envelope's ``data``) is
  decoded with the client's own lenient converter; a mailbox state or a communication
  state decides which. Anything else is an ``UnknownCallbackEvent`` carrying the raw
  body: a callback is never lost to an exception.
* Authentication: **no signature is documented** (an ``X-Webhook-Signature`` appears only as
  sample data in the OAuth delivery records). The only way to recognise genuine calls is a
  hard-to-guess secret you put in the callback URL's query (``?secret=...``) or in the
  callback's ``data`` (``Callback(data={"secret": ...})``), which openapi.it echoes back.
  With ``secret=`` given, a call that carries neither the right value is a
  ``CallbackVerificationError`` (the one exception), compared in constant time. The
  secret never appears in an event: it is removed from ``data`` and masked in ``raw`` and
  ``payload``.

Bounds: the body is capped (``MAX_CALLBACK_SIZE``), form fields are capped, JSON that
nests too deeply is an unknown shape, and the aiohttp handler reads with that cap and runs
your ``on_event`` under a deadline below the sender's 30-second timeout.
"""

from __future__ import annotations

import asyncio
import hmac
import inspect
import json
import logging
from collections.abc import Awaitable, Callable, Iterator, Mapping
from typing import Any
from urllib.parse import parse_qs

import attrs

from .._exceptions import CertmailError, ValidationError
from .._redact import MASK, Redactor
from .._types import SecretStr
from ._models import CommunicationState, Mailbox, MailboxState, RegistryCommunication
from ._wire import LENIENT

__all__ = [
    "MAX_CALLBACK_SIZE",
    "MIN_SECRET_LENGTH",
    "SECRET_PARAM",
    "CallbackEvent",
    "CallbackVerificationError",
    "MailboxEvent",
    "RegistryCommunicationEvent",
    "UnknownCallbackEvent",
    "callback_handler",
    "parse_callback",
]

logger = logging.getLogger("certmail_async.callbacks")

MAX_CALLBACK_SIZE = 1024 * 1024
"""Largest callback body accepted, in bytes (1 MiB): a mailbox record is a few kilobytes.

Examples:
    >>> from certmail_async.openapi_pec import MAX_CALLBACK_SIZE, parse_callback
    >>> event = parse_callback(b"x" * (MAX_CALLBACK_SIZE + 1), {})
    >>> type(event).__name__, event.reason
    ('UnknownCallbackEvent', 'the body is over the 1048576-byte limit')
"""
SECRET_PARAM = "secret"  # noqa: S105 (a parameter name, not a credential)
"""Where the secret travels by default: ``?secret=...`` or ``{"secret": ...}`` in ``data``.

Examples:
    >>> import secrets
    >>> from certmail_async import Callback
    >>> from certmail_async.openapi_pec import SECRET_PARAM
    >>> secret = secrets.token_urlsafe(32)
    >>> hook = Callback(url="https://example.com/pec-events",
    ...                 data={SECRET_PARAM: secret})
    >>> list(hook.data)
    ['secret']
"""
MIN_SECRET_LENGTH = 8
"""Shortest secret accepted: it is the only thing telling a genuine call from a forged one.

Examples:
    >>> from certmail_async.openapi_pec import MIN_SECRET_LENGTH, parse_callback
    >>> MIN_SECRET_LENGTH
    8
    >>> parse_callback(b"{}", {}, secret="short")
    Traceback (most recent call last):
    ...
    certmail_async._exceptions.ValidationError: ...
"""
_MAX_FIELDS = 100
_MAX_DEPTH = 4  # how deep the echoed data is looked for a secret
_TOO_DEEP = "the JSON nests too deeply"


class CallbackVerificationError(CertmailError):
    """A callback that failed the secret check (wrong or missing secret).

    The message says which check failed, never the value received or expected.

    Examples:
        >>> try:
        ...     parse_callback(b"{}", {}, secret="s3cret-9f2c", query="secret=guess")
        ... except CallbackVerificationError as err:
        ...     print(err.message)
        the secret in the callback URL does not match
    """

    def __init__(self, message: str) -> None:
        super().__init__(message, provider="openapi_pec", operation="callbacks.parse")


@attrs.frozen(kw_only=True)
class CallbackEvent:
    """A callback openapi.it delivered: see the subclasses for the decoded record.

    ``verified`` says whether a secret was checked and matched; ``data`` is your own
    echoed data (the secret removed); ``payload`` the decoded JSON and ``raw`` the body,
    both with the secret masked.

    Examples:
        >>> from certmail_async import CallbackEvent, MailboxEvent
        >>> from certmail_async.openapi_pec import parse_callback
        >>> import json  # the callback as openapi.it posts it (Italian keys)
        >>> box, state = "casella" + "_pec", "st" + "ato"
        >>> wire = {box: "a@legalmail.it", state: "evasa", "id": "1"}
        >>> body = json.dumps(wire).encode()
        >>> event = parse_callback(body, {"Content-Type": "application/json"})
        >>> isinstance(event, CallbackEvent), event.verified
        (True, False)
        >>> if isinstance(event, MailboxEvent):
        ...     print(event.state.value)
        evasa
    """

    verified: bool
    data: Mapping[str, Any] = attrs.field(factory=dict)
    content_type: str = ""
    payload: Any = None
    raw: bytes = attrs.field(default=b"", repr=False)


@attrs.frozen(kw_only=True)
class MailboxEvent(CallbackEvent):
    """A mailbox (``Casella``) changed state; ``mailbox`` is the updated record.

    Examples:
        >>> box = Mailbox(id="1", address="a@legalmail.it", state=MailboxState("evasa"))
        >>> MailboxEvent(verified=True, mailbox=box).state
        <MailboxState.ACTIVE: 'evasa'>
    """

    mailbox: Mailbox

    @property
    def state(self) -> MailboxState:
        """The mailbox's new state (an unknown one keeps its raw value)."""
        return self.mailbox.state


@attrs.frozen(kw_only=True)
class RegistryCommunicationEvent(CallbackEvent):
    """A Business Register communication changed state; ``communication`` is the record.

    Examples:
        >>> comm = RegistryCommunication(
        ...     id="2", address="a@legalmail.it",
        ...     state=CommunicationState("comunicazione_evasa"))
        >>> RegistryCommunicationEvent(verified=False, communication=comm).state
        <CommunicationState.COMPLETED: 'comunicazione_evasa'>
    """

    communication: RegistryCommunication

    @property
    def state(self) -> CommunicationState:
        """The communication's new state."""
        return self.communication.state


@attrs.frozen(kw_only=True)
class UnknownCallbackEvent(CallbackEvent):
    """A callback whose shape is not recognised: kept whole, never an exception.

    Examples:
        >>> parse_callback(b"not json", {}).reason
        'the body is neither JSON nor a form carrying JSON'
    """

    reason: str


def _header(headers: Mapping[str, str] | None, name: str) -> str:
    if not headers:
        return ""
    for key, value in headers.items():
        if isinstance(key, str) and key.lower() == name:
            return str(value)
    return ""


def _query(query: str | Mapping[str, Any] | None) -> dict[str, list[str]]:
    if query is None:
        return {}
    if isinstance(query, str):
        try:
            return parse_qs(query.lstrip("?"), keep_blank_values=True, max_num_fields=_MAX_FIELDS)
        except ValueError:
            return {}
    out: dict[str, list[str]] = {}
    for key, value in query.items():
        values = value if isinstance(value, list | tuple) else [value]
        out[str(key)] = [str(v) for v in values]
    return out


def _json(text: str) -> tuple[Any, str | None]:
    try:
        return json.loads(text), None
    except RecursionError:
        return None, _TOO_DEEP
    except ValueError:
        return None, "not JSON"


def _decode_body(
    text: str, content_type: str, field: str | None
) -> tuple[Any, str | None, dict[str, str]]:
    """The JSON payload, a reason when there is none, and the other form fields."""
    stripped = text.lstrip()
    form_type = content_type.startswith("application/x-www-form-urlencoded")
    if not form_type and stripped[:1] in ("{", "["):
        payload, problem = _json(text)
        if problem is None:
            return payload, None, {}
        if problem == _TOO_DEEP:
            return None, problem, {}
    try:
        form = parse_qs(text, keep_blank_values=True, max_num_fields=_MAX_FIELDS)
    except ValueError:
        return None, f"more than {_MAX_FIELDS} form fields", {}
    fields = {k: v[0] for k, v in form.items() if v}
    names = [field] if field else ["data", *sorted(fields)]
    for name in names:
        if name in fields:
            payload, problem = _json(fields[name])
            if problem is None and isinstance(payload, dict | list):
                others = {k: v for k, v in fields.items() if k != name}
                return payload, None, others
            if problem == _TOO_DEEP:
                return None, problem, {}
    if field and field not in fields and fields:
        return None, f"no form field {field!r}", {}
    return None, "the body is neither JSON nor a form carrying JSON", {}


def _candidates(payload: Any) -> Iterator[dict[str, Any]]:
    # The payload itself, then any object directly inside it (an envelope's member).
    if isinstance(payload, dict):
        yield payload
        for value in payload.values():
            if isinstance(value, dict):
                yield value


def _try(record: dict[str, Any], cls: type[Any]) -> Any:
    import cattrs  # loads with the converter (LENIENT builds it on first use)

    try:
        return LENIENT.converter.structure(record, cls)
    except (cattrs.BaseValidationError, ValueError, TypeError, KeyError, AttributeError):
        return None


def _classify(payload: Any) -> tuple[Mailbox | None, RegistryCommunication | None, str]:
    for record in _candidates(payload):
        mailbox = _try(record, Mailbox)
        communication = _try(record, RegistryCommunication)
        if mailbox is not None and mailbox.state.known:
            return mailbox, None, ""
        if communication is not None and communication.state.known:
            return None, communication, ""
        # A state neither enum knows: decide by the fields only one record type has.
        if mailbox is not None and (
            mailbox.mailbox_type is not None or mailbox.domain or mailbox.activation_code
        ):
            return mailbox, None, ""
        if communication is not None and (
            communication.registry_code or communication.documents or communication.company_name
        ):
            return None, communication, ""
        if mailbox is not None:
            return None, None, f"unknown state {mailbox.state.value!r} on an unknown record"
    return None, None, "neither a mailbox nor a Business Register communication"


def _secret_values(payload: Any, key: str) -> list[str]:
    """Every value under ``key`` in the payload's objects, breadth first, bounded depth."""
    found: list[str] = []
    level = [payload]
    for _depth in range(_MAX_DEPTH):
        following: list[Any] = []
        for item in level:
            if isinstance(item, dict):
                if key in item and isinstance(item[key], str | int):
                    found.append(str(item[key]))
                following.extend(v for v in item.values() if isinstance(v, dict | list))
            elif isinstance(item, list):
                following.extend(v for v in item[:_MAX_FIELDS] if isinstance(v, dict | list))
        level = following
    return found


def _matches(candidate: str, secret: str) -> bool:
    return hmac.compare_digest(candidate.encode("utf-8", "surrogatepass"), secret.encode("utf-8"))


def _verify(
    secret: str, key: str, query: dict[str, list[str]], payload: Any, form: dict[str, str]
) -> None:
    in_url = query.get(key)
    if in_url:
        if not all(_matches(v, secret) for v in in_url):
            raise CallbackVerificationError("the secret in the callback URL does not match")
        return
    echoed = _secret_values(payload, key) + ([form[key]] if key in form else [])
    if not echoed:
        raise CallbackVerificationError("no secret in the callback URL nor in its data")
    if not all(_matches(v, secret) for v in echoed):
        raise CallbackVerificationError("the secret in the callback data does not match")


def _echoed_data(
    payload: Any, mailbox: Mailbox | None, comm: RegistryCommunication | None, key: str
) -> dict[str, Any]:
    data: dict[str, Any] = {}
    record = mailbox or comm
    if record is not None and record.callback is not None:
        data.update(record.callback.data)
    elif isinstance(payload, dict):
        for value in payload.values():
            if isinstance(value, dict) and key in value:
                data.update(value)
    data.pop(key, None)
    return data


def parse_callback(
    body: bytes | str,
    headers: Mapping[str, str] | None = None,
    *,
    secret: str | SecretStr | None = None,
    query: str | Mapping[str, Any] | None = None,
    secret_param: str = SECRET_PARAM,
    field: str | None = None,
    max_size: int = MAX_CALLBACK_SIZE,
) -> CallbackEvent:
    """Decode one openapi.it callback request, framework-neutral.

    Args:
        body: the request body as received.
        headers: the request headers (any mapping; only ``Content-Type`` is read).
        secret: when given, the call must carry it as ``secret_param`` in ``query`` (the
            callback URL's query string or a mapping of it) or in the echoed ``data``.
        query: the request's query string (``"secret=..."``) or its mapping.
        secret_param: the name under which the secret travels (``"secret"``).
        field: the form field holding the JSON (the callback's ``field``; by default
            ``data``, else the one field that holds a JSON object).
        max_size: the largest body decoded; past it the event is unknown (raw cut there).

    Returns:
        A [MailboxEvent][certmail_async.MailboxEvent], a
        [RegistryCommunicationEvent][certmail_async.RegistryCommunicationEvent] or an
        [UnknownCallbackEvent][certmail_async.UnknownCallbackEvent]; never raises for a
        shape it does not know.

    Raises:
        CallbackVerificationError: ``secret`` was given and the call does not carry it.
        ValidationError: ``secret`` is not a string of at least 8 characters.

    The payload shapes are in ``docs/receipts.md``.

    Examples:
        >>> event = parse_callback(b"data=%7B%22odd%22%3A+1%7D", {},
        ...                        secret="s3cret-9f2c", query="secret=s3cret-9f2c")
        >>> type(event).__name__, event.verified, event.payload
        ('UnknownCallbackEvent', True, {'odd': 1})
    """
    plain = _check_secret(secret)
    body = _as_bytes(body)
    content_type = _header(headers, "content-type").split(";")[0].strip().lower()
    redactor = Redactor([plain] if plain else [])

    def scrubbed(raw: bytes) -> bytes:
        if not plain:
            return raw
        return redactor.scrub(raw.decode("utf-8", "surrogateescape")).encode(
            "utf-8", "surrogateescape"
        )

    params = _query(query)
    if len(body) > max_size:
        if plain:
            _verify(plain, secret_param, params, None, {})
        return UnknownCallbackEvent(
            verified=plain is not None,
            content_type=content_type,
            raw=scrubbed(body[:max_size]),
            reason=f"the body is over the {max_size}-byte limit",
        )
    text = body.decode("utf-8", "replace")
    payload, problem, form = _decode_body(text, content_type, field)
    if plain:
        _verify(plain, secret_param, params, payload, form)
    safe_payload = _mask(redactor.scrub_any(payload), secret_param) if plain else payload
    common: dict[str, Any] = {
        "verified": plain is not None,
        "content_type": content_type,
        "payload": safe_payload,
        "raw": scrubbed(body),
    }
    if problem is not None:
        return UnknownCallbackEvent(reason=problem, **common)
    mailbox, communication, reason = _classify(payload)
    data = _echoed_data(payload, mailbox, communication, secret_param)
    if mailbox is not None:
        if plain:
            mailbox = _without_secret(mailbox, secret_param)
        return MailboxEvent(mailbox=mailbox, data=data, **common)
    if communication is not None:
        if plain:
            communication = _without_secret(communication, secret_param)
        return RegistryCommunicationEvent(communication=communication, data=data, **common)
    return UnknownCallbackEvent(reason=reason, data=data, **common)


def _check_secret(secret: object) -> str | None:
    # An empty or trivial secret (an unset environment variable, say) must never switch
    # verification off silently, so it is refused before anything is read.
    if secret is None:
        return None
    plain = secret.get_secret_value() if isinstance(secret, SecretStr) else secret
    if not isinstance(plain, str):
        raise ValidationError(
            f"expected a str or SecretStr, got {type(secret).__name__}", field="secret"
        )
    if len(plain) < MIN_SECRET_LENGTH:
        raise ValidationError(
            f"a callback secret needs at least {MIN_SECRET_LENGTH} characters", field="secret"
        )
    return plain


def _as_bytes(body: object) -> bytes:
    if isinstance(body, str):
        return body.encode("utf-8", "surrogatepass")
    if isinstance(body, bytes | bytearray | memoryview):
        return bytes(body)
    return b""


def _mask(value: Any, key: str) -> Any:
    # The key by name too: a secret shorter than the redactor's minimum is still hidden.
    if isinstance(value, dict):
        return {k: (MASK if k == key else _mask(v, key)) for k, v in value.items()}
    if isinstance(value, list):
        return [_mask(v, key) for v in value]
    return value


def _without_secret(record: Any, key: str) -> Any:
    if record.callback is None or key not in record.callback.data:
        return record
    data = {k: v for k, v in record.callback.data.items() if k != key}
    return attrs.evolve(record, callback=attrs.evolve(record.callback, data=data))


OnEvent = Callable[[CallbackEvent], Awaitable[None] | None]


def callback_handler(
    on_event: OnEvent,
    *,
    secret: str | SecretStr | None = None,
    secret_param: str = SECRET_PARAM,
    field: str | None = None,
    max_size: int = MAX_CALLBACK_SIZE,
    timeout: float = 20.0,
) -> Callable[[Any], Awaitable[Any]]:
    """An ``aiohttp.web`` handler that verifies, decodes and hands each callback to you.

    ``on_event`` (sync or async) receives every
    [CallbackEvent][certmail_async.CallbackEvent], unknown shapes included. Answers: 200
    once ``on_event`` returned; 403 for a failed secret check (``on_event`` is not
    called); 413 past ``max_size``; 405 for a method other than POST; 500 when
    ``on_event`` raised and 503 when it took longer than ``timeout`` seconds (openapi.it
    gives up after 30 s and retries only when asked to: keep ``on_event`` short, queue
    the work). A bad ``secret``, ``max_size`` or ``timeout`` is a
    [ValidationError][certmail_async.ValidationError] here, at start-up.

    Examples:
        >>> from aiohttp import web
        >>> async def on_event(event: CallbackEvent) -> None:
        ...     print(type(event).__name__)
        >>> app = web.Application()
        >>> _ = app.router.add_post("/openapi/callback",
        ...                         callback_handler(on_event, secret="s3cret-9f2c"))
    """
    _check_secret(secret)  # a misconfigured receiver fails at start-up, not per call
    if not isinstance(max_size, int) or isinstance(max_size, bool) or max_size < 1:
        raise ValidationError("expected a positive int", field="max_size")
    if not isinstance(timeout, int | float) or isinstance(timeout, bool) or not timeout > 0:
        raise ValidationError("expected a positive number of seconds", field="timeout")
    # The one aiohttp import of a provider package, and only inside this factory: the
    # client side never needs it (tests/test_public_api.py keeps it that way).
    from aiohttp import web

    async def handler(request: web.Request) -> web.StreamResponse:
        if request.method != "POST":
            return web.Response(status=405, text="method not allowed")
        length = request.content_length
        if length is not None and length > max_size:
            return web.Response(status=413, text="too large")
        try:
            async with asyncio.timeout(timeout):
                body = await _read_bounded(request.content, max_size)
        except TimeoutError:
            return web.Response(status=408, text="request timeout")
        if body is None:
            return web.Response(status=413, text="too large")
        try:
            event = parse_callback(
                body,
                request.headers,
                secret=secret,
                query=request.query_string,
                secret_param=secret_param,
                field=field,
                max_size=max_size,
            )
        except CallbackVerificationError as error:
            logger.warning(
                "openapi.it callback refused: %s",
                error.message,
                extra={"provider": "openapi_pec", "operation": "callbacks.receive"},
            )
            return web.Response(status=403, text="forbidden")
        try:
            async with asyncio.timeout(timeout):
                result = on_event(event)
                if inspect.isawaitable(result):
                    await result
        except TimeoutError:
            logger.warning(
                "openapi.it callback handler took longer than %s s",
                timeout,
                extra={"provider": "openapi_pec", "operation": "callbacks.receive"},
            )
            return web.Response(status=503, text="handler timeout")
        except Exception:
            logger.exception(
                "openapi.it callback handler failed",
                extra={"provider": "openapi_pec", "operation": "callbacks.receive"},
            )
            return web.Response(status=500, text="handler error")
        return web.Response(text="OK")

    return handler


async def _read_bounded(stream: Any, limit: int) -> bytes | None:
    """Read a request body up to ``limit`` bytes; None when it is longer."""
    chunks: list[bytes] = []
    size = 0
    while True:
        chunk = await stream.read(65536)
        if not chunk:
            return b"".join(chunks)
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
