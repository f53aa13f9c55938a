"""LegallyMail wire format: the only module that knows its JSON keys and timestamp format.

Timestamps are naive ``YYYY-MM-DD HH:MM:SS`` strings whose zone is not documented. They stay
naive unless the client is given ``timezone=``, which is then attached explicitly.
"""

from __future__ import annotations

import base64
import functools
from collections.abc import Sequence
from datetime import datetime, tzinfo
from typing import TYPE_CHECKING, Any, TypeVar

import attrs

from .._converters import decode_json, make_converter, register_renames, structure, unwrap
from .._exceptions import ResponseDecodeError
from .._models import Attachment, Signer
from .._transport import Operation, Response
from ._models import (
    AccountInfo,
    Certificate,
    Email,
    EmailDetail,
    EmailList,
    RecipientDetail,
    RecipientResult,
    SendOutcome,
    SignatureRequest,
    SignerStatus,
)

if TYPE_CHECKING:
    import cattrs

__all__ = ["OPS", "LegallyMailWire"]

PROVIDER = "legallymail"
PRODUCTION_URL = "https://legallymail.com"
#: The body field of the "body" token placement (applied by ``LegallyMailAuth``).
TOKEN_FIELD = "token"  # noqa: S105 - a key name, not a secret
TIMESTAMP_FORMAT = "%Y-%m-%d %H:%M:%S"


def _op(name: str, method: str, path: str, **kw: bool) -> Operation:
    # Every LegallyMail endpoint counts against the 10 requests/min per IP cap.
    return Operation(provider=PROVIDER, name=name, method=method, path=path, paced=True, **kw)


class OPS:
    """The 7 operations."""

    SEND = _op("emails.send", "POST", "/api/send", sends=True)
    INFO = _op("account.info", "GET", "/api/info")
    EMAILS = _op("emails.list", "GET", "/api/emails")
    EMAIL = _op("emails.retrieve", "GET", "/api/email")
    SIGN = _op("signatures.request", "POST", "/api/signature/send", sends=True)
    SIGNATURES = _op("signatures.list", "GET", "/api/signatures")
    SIGNATURE = _op("signatures.retrieve", "GET", "/api/signature")

    ALL = (SEND, INFO, EMAILS, EMAIL, SIGN, SIGNATURES, SIGNATURE)


class LegallyMailWire:
    """Encoders and decoders (lenient for clients, strict for tests); ``tz`` for timestamps."""

    def __init__(self, *, strict: bool = False, tz: tzinfo | None = None) -> None:
        self.tz = tz
        self.strict = strict

    @functools.cached_property
    def converter(self) -> cattrs.Converter:
        """The cattrs converter, built on first use (importing the client stays cheap)."""
        from cattrs.gen import override

        c = make_converter(strict=self.strict)
        c.register_structure_hook(datetime, self._timestamp)
        register_renames(c, RecipientResult)
        register_renames(c, Certificate)
        register_renames(c, RecipientDetail)
        register_renames(c, Email)
        register_renames(c, EmailDetail)
        register_renames(c, EmailList)
        register_renames(c, SendOutcome)
        register_renames(c, SignatureRequest)
        register_renames(
            c,
            SignerStatus,
            name=override(rename="signer_name"),
            email=override(rename="signer_email"),
            phone=override(rename="signer_phone"),
        )
        return c

    def _timestamp(self, value: Any, _type: Any) -> datetime:
        if not isinstance(value, str):
            raise TypeError(f"expected a 'YYYY-MM-DD HH:MM:SS' string, got {type(value).__name__}")
        parsed = datetime.strptime(value, TIMESTAMP_FORMAT)
        return parsed if self.tz is None else parsed.replace(tzinfo=self.tz)

    # -- requests ---------------------------------------------------------------------

    @staticmethod
    def send_body(
        *,
        recipients: Sequence[str],
        subject: str,
        html: str,
        reply_to: str | None,
        reply_to_name: str | None,
        attachments: Sequence[Attachment],
    ) -> dict[str, Any]:
        """``POST /api/send``: recipients joined into one comma-separated string."""
        body: dict[str, Any] = {
            "recipient": ", ".join(recipients),
            "subject": subject,
            "message": html,
        }
        if reply_to is not None:
            body["reply_to"] = reply_to
        if reply_to_name is not None:
            body["reply_to_name"] = reply_to_name
        if attachments:
            body["attachments"] = [
                {
                    "filename": a.filename,
                    "content": base64.b64encode(a.content).decode("ascii"),
                    "mime_type": a.mime_type,
                }
                for a in attachments
            ]
        return body

    @staticmethod
    def signature_body(
        *, signers: Sequence[Signer], document: bytes, document_name: str, language: str | None
    ) -> dict[str, Any]:
        """``POST /api/signature/send``: the single-signer form for one, ``signers`` for more."""
        body: dict[str, Any] = {}
        if len(signers) == 1:
            only = signers[0]
            body["signer_name"] = only.name
            body["signer_email"] = only.email
            if only.phone:
                body["signer_phone"] = only.phone
        else:
            body["signers"] = [
                {"name": s.name, "email": s.email, **({"phone": s.phone} if s.phone else {})}
                for s in signers
            ]
        body["document"] = base64.b64encode(document).decode("ascii")
        body["document_name"] = document_name
        if language is not None:
            body["language"] = language
        return body

    @staticmethod
    def limit_params(limit: int) -> dict[str, str | int]:
        """``?limit=`` of the list endpoints."""
        return {"limit": limit}

    @staticmethod
    def tracking_params(tracking_id: str) -> dict[str, str | int]:
        """``?tracking_id=`` of ``GET /api/email``."""
        return {"tracking_id": tracking_id}

    @staticmethod
    def uuid_params(uuid: str) -> dict[str, str | int]:
        """``?uuid=`` of ``GET /api/signature``."""
        return {"uuid": uuid}

    # -- responses --------------------------------------------------------------------

    def _check_envelope(self, payload: dict[str, Any], allowed: set[str], op: Operation) -> None:
        """Strict mode only: refuse top-level keys the reference does not list."""
        extra = set(payload) - allowed
        if extra and self.converter.forbid_extra_keys:
            raise ResponseDecodeError(
                f"unexpected response keys: {sorted(extra)}",
                provider=op.provider,
                operation=op.name,
            )

    def send_outcome(self, response: Response, op: Operation) -> SendOutcome:
        """Decode ``{success, message, data: {...}}``."""
        payload = unwrap(decode_json(response, op=op), op=op, status=response.status, key=None)
        data = unwrap(payload, op=op, status=response.status)
        outcome = structure(self.converter, data, SendOutcome, op=op)
        return _with_message(outcome, payload)

    def account(self, response: Response, op: Operation) -> AccountInfo:
        """Decode ``{name, version, user: {...}}`` (no ``success`` key here)."""
        payload = unwrap(decode_json(response, op=op), op=op, status=response.status, key=None)
        user = unwrap(payload, op=op, status=response.status, key="user")
        flat = {"api_name": payload.get("name"), "api_version": payload.get("version")}
        if isinstance(user, dict):
            flat.update(user)
        self._check_envelope(payload, {"name", "version", "user"}, op)
        return structure(self.converter, flat, AccountInfo, op=op)

    def emails(self, response: Response, op: Operation) -> EmailList:
        """Decode ``{success, count, limit, max_limit, emails: [...]}`` (every key kept)."""
        payload = unwrap(decode_json(response, op=op), op=op, status=response.status, key=None)
        self._check_envelope(payload, {"success", "count", "limit", "max_limit", "emails"}, op)
        items = unwrap(payload, op=op, status=response.status, key="emails")
        fields = {k: payload.get(k) for k in ("count", "limit", "max_limit")}
        return structure(self.converter, {"emails": items, **fields}, EmailList, op=op)

    def email(self, response: Response, op: Operation) -> EmailDetail:
        """Decode ``{success, email: {...}}``."""
        item = unwrap(decode_json(response, op=op), op=op, status=response.status, key="email")
        return structure(self.converter, item, EmailDetail, op=op)

    def signature(self, response: Response, op: Operation) -> SignatureRequest:
        """Decode ``{success, [message,] data: {...}}``."""
        payload = unwrap(decode_json(response, op=op), op=op, status=response.status, key=None)
        data = unwrap(payload, op=op, status=response.status)
        return _with_message(structure(self.converter, data, SignatureRequest, op=op), payload)

    def signatures(self, response: Response, op: Operation) -> tuple[SignatureRequest, ...]:
        """Decode ``{success, data: [...]}``."""
        data = unwrap(decode_json(response, op=op), op=op, status=response.status)
        return structure(self.converter, data, tuple[SignatureRequest, ...], op=op)


_M = TypeVar("_M", SendOutcome, SignatureRequest)


def _with_message(model: _M, payload: dict[str, Any]) -> _M:
    message = payload.get("message")
    return attrs.evolve(model, message=message) if isinstance(message, str) else model


LENIENT = LegallyMailWire()
