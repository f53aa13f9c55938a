r"""PEC Massiva wire format: the only module that knows its JSON keys and date format.

Quirks handled here (``pecmassiva.md`` §8): the date key is ``data`` in receipt items and
``date`` in inbox items; senders may come as ``"\"Per conto di: x\" "``; inbox bodies
are ``x-www-form-urlencoded``; ``POST /send`` answers 201 with ``message_id`` at the top
level; attachments go as an array of ``{name, file}`` with plain base64.
"""

from __future__ import annotations

import base64
import email.utils
import functools
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote_plus

from .._converters import decode_json, make_converter, register_renames, structure, unwrap
from .._exceptions import ResponseDecodeError
from .._models import Attachment
from .._transport import Operation, Response
from .._validation import CONTROL
from ..receipts._kinds import Receipt
from ._models import InboxMessage, InboxMessageDetail, InboxPage, Quota, SendResult

if TYPE_CHECKING:
    import cattrs

__all__ = ["OPS", "PecMassivaWire"]

PROVIDER = "pecmassiva"
PRODUCTION_URL = "https://ws.pecmassiva.com"
SANDBOX_URL = "https://test.ws.pecmassiva.com"
#: Where the mailbox login goes (applied by ``PecMassivaAuth``, never by a builder here):
#: body fields of ``POST /send``, headers of every other call.
LOGIN_BODY_FIELDS = ("username", "password")
LOGIN_HEADERS = ("x-username", "x-password")


def _op(name: str, method: str, path: str, **kw: bool) -> Operation:
    return Operation(provider=PROVIDER, name=name, method=method, path=path, **kw)


class OPS:
    """The 7 operations."""

    SEND = _op("sends.create", "POST", "/send", sends=True, paced=True)
    RECEIPTS = _op("sends.receipts", "GET", "/send/{code}")
    DELETE_SEND = _op("sends.delete", "DELETE", "/send/{code}")
    INBOX_LIST = _op("inbox.list", "GET", "/inbox")
    INBOX_GET = _op("inbox.retrieve", "GET", "/inbox/{id}", document=True)
    INBOX_DELETE = _op("inbox.delete", "DELETE", "/inbox/{id}")
    QUOTA = _op("quota.retrieve", "GET", "/quota/{mailbox}")

    ALL = (SEND, RECEIPTS, DELETE_SEND, INBOX_LIST, INBOX_GET, INBOX_DELETE, QUOTA)


def parse_date(value: Any, _type: Any = None) -> datetime:
    """RFC 2822 (``Wed, 26 Aug 2020 10:00:35 +0200``) to an aware datetime."""
    if not isinstance(value, str):
        raise TypeError(f"expected an RFC 2822 date string, got {type(value).__name__}")
    parsed = email.utils.parsedate_to_datetime(value)
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def clean_sender(value: Any, _type: Any = None) -> str | None:
    """Strip the quotes and trailing blanks the provider wraps display names in."""
    if value is None:
        return None
    return str(value).strip().strip('"').strip()


def _text(value: Any, _type: Any = None) -> str:
    return "" if value is None else str(value)


def _form_decoded(value: Any, _type: Any = None) -> str:
    return unquote_plus(_text(value))


class PecMassivaWire:
    """Encoders and decoders for one converter (lenient for clients, strict for tests)."""

    def __init__(self, *, strict: bool = False) -> None:
        self.strict = strict

    @functools.cached_property
    def converter(self) -> cattrs.Converter:
        """The cattrs converter, built on first use (importing the client stays cheap)."""
        from cattrs.gen import override

        c = make_converter(strict=self.strict)
        # Type-wide hooks first: make_dict_structure_fn (register_renames) picks each field's
        # hook when the model's decoder is built, so a hook registered later never applies.
        c.register_structure_hook(int, _to_int)
        c.register_structure_hook(datetime, parse_date)
        sender = override(struct_hook=clean_sender)
        register_renames(
            c,
            Receipt,
            date=override(rename="data"),
            subject=override(rename="object"),
            body=override(rename="message", struct_hook=_text),
            sender=sender,
        )
        register_renames(c, InboxMessage, subject=override(rename="object"), sender=sender)
        register_renames(
            c,
            InboxMessageDetail,
            subject=override(rename="object"),
            body=override(struct_hook=_form_decoded),
            sender=sender,
        )
        register_renames(
            c, InboxPage, messages=override(rename="data"), pages=override(rename="n_of_pages")
        )
        register_renames(c, Quota)
        register_renames(
            c,
            SendResult,
            code=override(rename="message_id"),
            message=override(struct_hook=_text),
        )
        return c

    # -- requests ---------------------------------------------------------------------

    @staticmethod
    def send_body(
        *,
        sender: str,
        recipients: Sequence[str],
        subject: str,
        body: str,
        attachments: Sequence[Attachment],
    ) -> dict[str, Any]:
        """The ``POST /send`` JSON body; ``PecMassivaAuth`` adds ``username``/``password``."""
        payload: dict[str, Any] = {
            "sender": sender,
            "recipient": list(recipients),
            "subject": subject,
            "body": body,
        }
        if attachments:
            payload["attachments"] = [
                {"name": a.filename, "file": base64.b64encode(a.content).decode("ascii")}
                for a in attachments
            ]
        return payload

    @staticmethod
    def inbox_params(q: str | None, page: int) -> dict[str, str | int]:
        """Query string of ``GET /inbox``."""
        params: dict[str, str | int] = {"page": page}
        if q:
            params["q"] = q
        return params

    # -- responses --------------------------------------------------------------------

    @staticmethod
    def send_code_in(body: Any) -> str | None:
        """The send code a failed ``POST /send`` may still carry (legacy PHP SDK: 40012)."""
        if isinstance(body, dict) and body.get("message_id"):
            return str(body["message_id"])
        return None

    def send_result(self, response: Response, op: Operation) -> SendResult:
        """Decode ``201 {success, sent, message, message_id}``.

        The send code must be usable: a string (or a plain integer) that could go back in
        ``GET /send/{code}``. ``null``, ``""``, ``".."``, a list or a code with control
        characters would otherwise be turned into ``"None"`` or a useless id by the lenient
        converter, and a send that happened could never be looked up: that answer is
        undecodable (so the caller gets ``DeliveryUnknownError``). ``sent`` is a count.
        """
        payload = unwrap(decode_json(response, op=op), op=op, status=response.status, key=None)
        code = payload.get("message_id")
        if isinstance(code, int) and not isinstance(code, bool) and code >= 0:
            code = str(code)
        sent = payload.get("sent")
        problem = None
        if not isinstance(code, str) or code in ("", ".", "..") or code != code.strip():
            problem = f"unusable send code {code!r}"
        elif CONTROL.search(code):
            problem = "a send code with control characters"
        elif isinstance(sent, bool) or not isinstance(sent, int) or sent < 0:
            problem = f"unusable count of sent messages {sent!r}"
        if problem is not None:
            raise ResponseDecodeError(
                f"unexpected response shape: {problem}",
                provider=op.provider,
                operation=op.name,
                status=response.status,
            )
        return structure(
            self.converter, self._fields(payload, keep=("message",)), SendResult, op=op
        )

    def receipts(self, response: Response, op: Operation) -> tuple[Receipt, ...]:
        """Decode ``{data: [ResponseStatus], success, message}``."""
        data = self._data(response, op)
        return structure(self.converter, data, tuple[Receipt, ...], op=op)

    def inbox_page(self, response: Response, op: Operation) -> InboxPage:
        """Decode ``{data: [...], page, total, n_of_pages, success, message}``."""
        payload = unwrap(decode_json(response, op=op), op=op, status=response.status, key=None)
        return structure(self.converter, self._fields(payload), InboxPage, op=op)

    def inbox_detail(self, response: Response, op: Operation) -> InboxMessageDetail:
        """Decode ``{data: InboxSingle, ...}``."""
        return structure(self.converter, self._data(response, op), InboxMessageDetail, op=op)

    def quota(self, response: Response, op: Operation) -> Quota:
        """Decode ``{data: {usage, limit}, ...}``."""
        return structure(self.converter, self._data(response, op), Quota, op=op)

    def acknowledged(self, response: Response, op: Operation) -> str:
        """Check a ``{success: true, message}`` answer; return its message."""
        payload = unwrap(decode_json(response, op=op), op=op, status=response.status, key=None)
        return str(payload.get("message", ""))

    def _fields(self, payload: dict[str, Any], keep: tuple[str, ...] = ()) -> dict[str, Any]:
        """Top-level keys of a flat envelope minus success/message (strict mode checks them).

        ``keep`` names envelope keys the model itself declares (``SendResult.message``).
        """
        if not self.converter.forbid_extra_keys:
            return payload  # the lenient converter ignores keys the model does not have
        dropped = {"success", "message"} - set(keep)
        return {k: v for k, v in payload.items() if k not in dropped}

    @staticmethod
    def _data(response: Response, op: Operation) -> Any:
        return unwrap(decode_json(response, op=op), op=op, status=response.status)


def _to_int(value: Any, _type: Any) -> int:
    if isinstance(value, bool):
        raise TypeError("expected a number, got a boolean")
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value)
    raise ValueError(f"expected an integer, got {value!r}")


LENIENT = PecMassivaWire(strict=False)
