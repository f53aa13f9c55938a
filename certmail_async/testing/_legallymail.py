"""A fake LegallyMail server, faithful to ``legallymail.md`` and strict about its input.

* All 7 endpoints with the documented envelopes (``GET /api/info`` has no ``success``).
* The token in ``Authorization: Bearer <t>``, as the raw header value, or in a ``token``
  body field; 401 otherwise. Error bodies are ``{"success": false, "message": ...}`` (the
  real shape is undocumented).
* Every endpoint capped per client IP (10 per 60 s by default, sliding window): 429.
* E-mail lifecycle per recipient: ``sent`` at once, ``delivered`` after ``deliver_delay``,
  ``read`` after ``read_delay`` (``None``: never read); ``bounce`` addresses fail at send
  time (a partial success). ``outcomes`` sets it per address (`LegallyMailBehaviour`:
  ``"read"``, ``"unread"``, ``"undelivered"``, ``"bounce"``). Certificates appear with each
  event.
* Certificate PDFs (small valid PDFs; ``file_hash`` is their SHA-256) are served at the
  documented web-application route ``GET /emails/download-certificate?id=&status=``, and
  signature records and originals at ``/dashboard/electronic-signature/download-acta|
  download-original/{uuid}``. The reference does not say whether the real routes take the
  API token: the fake accepts it (``document_access="token"``), or answers as a web
  application wanting a browser login would: a redirect to ``/login``
  (``"login-redirect"``) or an HTML login page (``"login-page"``). Their URLs point at the
  fake itself.
* Signature lifecycle: ``pending``, then ``signed`` after ``sign_delay``.
* Credits: each delivered-to recipient spends one; when they run out, 403 "No credits or
  emails remaining".
* Timestamps are naive ``YYYY-MM-DD HH:MM:SS`` in ``zone`` (UTC by default).
* Every accepted send is counted in `FakeLegallyMail.ledger_summary` (digests for the
  duplicate check); ``ledger_keep`` keeps only the latest sends in full (soak tests). An
  e-mail is found by tracking id through an index.
"""

from __future__ import annotations

import hashlib
import itertools
import secrets
import uuid as uuidlib
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any, ClassVar, Literal, get_args

import attrs
from aiohttp import web

from .._pacing import RateLimit
from ._core import EMAIL, FakeProvider, b64decode
from ._faults import CapMode
from ._load import LedgerSummary
from ._pdf import minimal_pdf

__all__ = [
    "LEGALLYMAIL_BEHAVIOURS",
    "DocumentAccess",
    "FakeLegallyMail",
    "FakeSignature",
    "LegallyMailBehaviour",
    "SentEmail",
]

#: What happens to one recipient (``fake.outcomes[address] = "read"``); unlisted addresses
#: are delivered, and read only when ``read_delay`` is set.
LegallyMailBehaviour = Literal[
    "read",  # delivered, then read after read_delay (at once when it is None)
    "unread",  # delivered, never read
    "undelivered",  # sent, never delivered
    "bounce",  # refused at send time (a partial success)
]
"""What the fake does with one recipient of a send (``outcomes=`` of the fake).

Examples:
    >>> import asyncio
    >>> from certmail_async.testing import LegallyMailBehaviour, run_fake
    >>> outcomes: dict[str, LegallyMailBehaviour] = {"anna@example.com": "read"}
    >>> async def main() -> list[str]:
    ...     async with run_fake("legallymail", outcomes=outcomes) as fake:
    ...         async with fake.client() as client:
    ...             out = await client.emails.send(
    ...                 recipients=["anna@example.com"], subject="Contratto",
    ...                 html="<p>x</p>")
    ...             detail = await client.emails.retrieve(out.tracking_id)
    ...     return [r.status.value for r in detail.recipients]
    >>> asyncio.run(main())
    ['read']
"""
LEGALLYMAIL_BEHAVIOURS: tuple[str, ...] = get_args(LegallyMailBehaviour)
"""Every `LegallyMailBehaviour`.

Examples:
    >>> LEGALLYMAIL_BEHAVIOURS
    ('read', 'unread', 'undelivered', 'bounce')
"""
DocumentAccess = Literal["token", "login-redirect", "login-page"]
"""How the fake answers certificate and signature document downloads.

``"token"``: to the API token, with the PDF; ``"login-redirect"``: a 302 to ``/login``;
``"login-page"``: an HTML login page (what a web application wanting a browser session
might do; the reference does not say which the real routes do).

Examples:
    >>> from certmail_async.testing import FakeLegallyMail
    >>> FakeLegallyMail(document_access="login-page").document_access
    'login-page'
"""
_LOGIN_PAGE = "<!DOCTYPE html><html><body><form action='/login'>Accedi</form></body></html>"

_SEND_KEYS = {
    "recipient",
    "to",
    "subject",
    "message",
    "body",
    "content",
    "reply_to",
    "reply_to_name",
    "attachments",
    "token",
}
_SIGN_KEYS = {
    "signer_name",
    "signer_email",
    "signer_phone",
    "signers",
    "document",
    "document_name",
    "language",
    "token",
}
_LANGUAGES = {"es", "en", "fr", "it"}
CERT_PATH = "/emails/download-certificate"
DASHBOARD_PATH = "/dashboard/electronic-signature"


@attrs.define(kw_only=True)
class _Recipient:
    email: str
    tracking_id: str
    failed: str | None  # error details when the send to this address failed
    behaviour: str | None = None  # a LegallyMailBehaviour, or None: the fake's defaults


@attrs.define(kw_only=True)
class SentEmail:
    """One accepted send (its ledger entry), with each recipient's tracking id.

    Examples:
        >>> import asyncio
        >>> from certmail_async.testing import run_fake
        >>> async def main() -> tuple[str, int]:
        ...     async with run_fake("legallymail") as fake, fake.client() as client:
        ...         await client.emails.send(recipients=["anna@example.com"],
        ...                                  subject="Contratto", html="<p>x</p>")
        ...     sent = fake.state.ledger[0]
        ...     return sent.subject, len(sent.recipients)
        >>> asyncio.run(main())
        ('Contratto', 1)
    """

    id: int
    tracking_id: str
    recipients: list[_Recipient]
    subject: str
    html: str
    reply_to: str | None
    attachments: tuple[tuple[str, int, str], ...]  # (filename, size, mime type)
    at: float
    at_wall: datetime
    token_via: str  # "bearer", "raw" or "body"


@attrs.define(kw_only=True)
class FakeSignature:
    """One signature request the fake holds (signers, document hash, the PDF itself).

    Examples:
        >>> import asyncio
        >>> from certmail_async import Signer
        >>> from certmail_async.testing import minimal_pdf, run_fake
        >>> async def main() -> str:
        ...     async with run_fake("legallymail") as fake, fake.client() as client:
        ...         await client.signatures.request(
        ...             signers=Signer(name="Anna Bianchi", email="anna@example.com"),
        ...             document=minimal_pdf(["Contratto"]),
        ...             document_name="Contratto.pdf")
        ...     return fake.state.signatures[0].document_name
        >>> asyncio.run(main())
        'Contratto.pdf'
    """

    uuid: str
    signers: list[dict[str, str | None]]
    document_name: str
    document_hash: str
    language: str
    at: float
    at_wall: datetime
    document: bytes = b""


class FakeLegallyMail(FakeProvider):
    """The fake. Configure it, then serve it with [run_fake][certmail_async.testing.run_fake].

    Request bodies: up to ``max_body_size`` bytes. LegallyMail documents no size limit for
    ``/api/send`` attachments, so the default is a generous choice of the fake: the base64
    of 100 MiB of files plus 1 MiB (140,858,712 bytes, about 134 MiB); signature
    documents keep their own documented limit (a PDF of at most 10 MB, refused with 400).
    A larger body gets HTTP 413 with ``{"success": false, "message": ...}`` (the fake's
    choice: not documented).

    Examples:
        >>> minute = RateLimit(requests=10, per=0.6, margin=0)  # a scaled "minute"
        >>> fake = FakeLegallyMail(rate=minute, credits=5)
        >>> fake.bounce.add("nobody@example.com")
        >>> fake.outcomes["anna@example.com"] = "read"
    """

    name: ClassVar[str] = "legallymail"
    client_path: ClassVar[str] = "certmail_async.legallymail:LegallyMailClient"

    def __init__(
        self,
        *,
        token: str = "fake-legallymail-token",
        rate: RateLimit | None = RateLimit(requests=10, per=60.0, margin=0),
        cap_mode: CapMode = "sliding",
        retry_after: bool = False,
        credits: int = 1000,
        plan_limit: int = 1000,
        deliver_delay: float = 0.0,
        read_delay: float | None = None,
        sign_delay: float = 0.0,
        bounce: Iterable[str] = (),
        outcomes: Mapping[str, LegallyMailBehaviour] | None = None,
        document_access: DocumentAccess = "token",
        max_recipients: int = 10,
        zone: tzinfo = UTC,
        ledger_keep: int | None = None,
        max_body_size: int | None = None,
    ) -> None:
        super().__init__(max_body_size=max_body_size)
        self.token = token
        self.retry_after = retry_after
        self.credits = credits
        self.plan_limit = plan_limit
        self.deliver_delay = deliver_delay
        self.read_delay = read_delay
        self.sign_delay = sign_delay
        self.bounce: set[str] = {a.lower() for a in bounce}
        #: Address -> what happens to it (`LegallyMailBehaviour`), read at send time.
        self.outcomes: dict[str, LegallyMailBehaviour] = {
            a.lower(): _check_behaviour(b) for a, b in (outcomes or {}).items()
        }
        #: How certificate and signature document downloads are answered.
        self.document_access: DocumentAccess = document_access
        #: Document downloads served (route, id) - what a test counts.
        self.downloads: list[tuple[str, str]] = []
        self.max_recipients = max_recipients
        self.zone = zone
        self.ledger: list[SentEmail] = []
        #: Every accepted send summarised (counts, digests), whatever ``ledger_keep`` cuts.
        self.ledger_summary = LedgerSummary()
        #: Keep only about this many latest sends in `ledger` (None: every one).
        self.ledger_keep = ledger_keep
        self._by_tracking: dict[str, SentEmail] = {}
        self._by_recipient: dict[str, tuple[SentEmail, _Recipient]] = {}
        self.signatures: list[FakeSignature] = []
        self._ids = itertools.count(1)
        self.cap = self.add_optional_cap(rate, mode=cap_mode)

    # -- SDK glue ----------------------------------------------------------------------

    def client_kwargs(self) -> dict[str, Any]:
        """Credentials the fake accepts."""
        return {"token": self.token}

    def sent_to(self, address: str) -> int:
        """How many accepted sends included ``address`` (failed recipients included)."""
        address = address.lower()
        return sum(1 for e in self.ledger for r in e.recipients if r.email.lower() == address)

    def ledger_stats(self) -> dict[str, Any]:
        """Sends, duplicates and what the fake holds in memory (for the metrics route)."""
        return {**self.ledger_summary.stats(), "ledger_kept": len(self.ledger)}

    def flush_ledger(self) -> None:
        """Write the summary's buffered lines out."""
        self.ledger_summary.flush()

    def rate_limited(self, retry_after: float | None) -> web.Response:
        """429 Too Many Requests; Retry-After only if configured (none is documented)."""
        return super().rate_limited(retry_after if self.retry_after else None)

    # -- helpers ----------------------------------------------------------------------

    def _stamp(self, wall: datetime | None) -> str | None:
        if wall is None:
            return None
        return wall.astimezone(self.zone).strftime("%Y-%m-%d %H:%M:%S")

    def _token_via(self, request: web.Request, body: dict[str, Any] | None) -> str | None:
        header = request.headers.get("Authorization")
        if header == f"Bearer {self.token}":
            return "bearer"
        if header == self.token:
            return "raw"
        if body is not None and body.get("token") == self.token:
            return "body"
        return None

    async def _json_body(self, request: web.Request) -> dict[str, Any] | None:
        try:
            body = await request.json()
        except ValueError:
            return None
        return body if isinstance(body, dict) else None

    def _events(self, email: SentEmail, rcpt: _Recipient) -> dict[str, datetime | None]:
        """When each event happened (None: not yet), on the fake's clock."""
        age = self.clock() - email.at
        sent = email.at_wall
        if rcpt.failed or rcpt.behaviour == "undelivered":
            return {"sent_at": sent, "delivered_at": None, "read_at": None}
        delivered = (
            sent + timedelta(seconds=self.deliver_delay) if age >= self.deliver_delay else None
        )
        read = None
        read_delay = self.read_delay
        if rcpt.behaviour == "read":
            read_delay = read_delay or 0.0
        elif rcpt.behaviour == "unread":
            read_delay = None
        ready = read_delay is not None and age >= self.deliver_delay + read_delay
        if delivered is not None and read_delay is not None and ready:
            read = delivered + timedelta(seconds=read_delay)
        return {"sent_at": sent, "delivered_at": delivered, "read_at": read}

    def _status(self, email: SentEmail, rcpt: _Recipient) -> str:
        if rcpt.failed:
            return "failed"
        ev = self._events(email, rcpt)
        return "read" if ev["read_at"] else "delivered" if ev["delivered_at"] else "sent"

    def _parent_status(self, email: SentEmail) -> str:
        # The least advanced of the recipients that did not fail; "failed" if all did.
        states = [self._status(email, r) for r in email.recipients if not r.failed]
        return min(states, key=("sent", "delivered", "read").index) if states else "failed"

    def _list_item(self, email: SentEmail) -> dict[str, Any]:
        multi = len(email.recipients) > 1
        first = email.recipients[0]
        read = [self._events(email, r)["read_at"] for r in email.recipients]
        done = [t for t in read if t is not None]
        read_at = max(done) if done and len(done) == len(read) else None
        failures = [r.failed for r in email.recipients if r.failed]
        return {
            "id": email.id,
            "tracking_id": email.tracking_id,
            "recipient": "Multiple Recipients" if multi else first.email,
            "subject": email.subject,
            "status": self._parent_status(email),
            "sent_at": self._stamp(email.at_wall),
            "read_at": self._stamp(read_at),
            "created_at": self._stamp(email.at_wall),
            "mailsender_id": f"mail_{email.tracking_id[-6:]}",
            "is_multi_recipient": multi,
            "recipient_count": len(email.recipients),
            "error_status": "Hard Bounce" if failures else None,
        }

    def _certificates(
        self, email: SentEmail, rcpt: _Recipient, events: dict[str, datetime | None], origin: str
    ) -> list[Any]:
        out = []
        for kind, key in (("delivered", "delivered_at"), ("read", "read_at")):
            when = events[key]
            if when is not None:
                pdf = self._certificate_pdf(email, rcpt, kind, when)
                out.append(
                    {
                        "certificate_type": kind,
                        "file_hash": hashlib.sha256(pdf).hexdigest(),
                        "confirmed_at": self._stamp(when),
                        "has_tsr": True,
                        "has_tsq": True,
                        "pdf_download_url": (
                            f"{origin}{CERT_PATH}?id={rcpt.tracking_id}&status={kind}"
                        ),
                    }
                )
        return out

    def _certificate_pdf(
        self, email: SentEmail, rcpt: _Recipient, kind: str, when: datetime
    ) -> bytes:
        title = "Certificado de lectura" if kind == "read" else "Certificado de entrega"
        return minimal_pdf(
            [
                f"LegallyMail (fake) - {title}",
                f"Tracking id: {rcpt.tracking_id} (parent {email.tracking_id})",
                f"Recipient: {rcpt.email}",
                f"Subject: {email.subject}",
                f"Sent at: {self._stamp(email.at_wall)}",
                f"Event: {kind} at {self._stamp(when)}",
                "Time-stamp: TSQ/TSR held by the fake (not a real RFC 3161 token)",
            ],
            title=title,
        )

    def certificate_pdf(self, tracking_id: str, kind: str) -> bytes | None:
        """The PDF the fake serves for a recipient's certificate (None: no such event yet).

        Examples:
            >>> FakeLegallyMail().certificate_pdf("cm_rec_unknown", "delivered") is None
            True
        """
        found = self._by_recipient.get(tracking_id)
        if found is None:
            return None
        email, rcpt = found
        key = {"delivered": "delivered_at", "read": "read_at"}.get(kind)
        when = self._events(email, rcpt)[key] if key else None
        return None if when is None else self._certificate_pdf(email, rcpt, kind, when)

    def signature_pdf(self, uuid: str, which: str) -> bytes | None:
        """The original (``"original"``) or the signature record (``"acta"``) of a request.

        The record exists once the request is signed; None otherwise or when unknown.

        Examples:
            >>> FakeLegallyMail().signature_pdf("nope", "acta") is None
            True
        """
        sig = next((x for x in self.signatures if x.uuid == uuid), None)
        if sig is None:
            return None
        if which == "original":
            return sig.document
        if which != "acta" or self.clock() - sig.at < self.sign_delay:
            return None
        signed_at = self._stamp(sig.at_wall + timedelta(seconds=self.sign_delay))
        return minimal_pdf(
            [
                "LegallyMail (fake) - Acta de firma electronica",
                f"Request: {sig.uuid}",
                f"Document: {sig.document_name} (SHA-256 {sig.document_hash})",
                *(f"Signed by {s['name']} <{s['email']}> at {signed_at}" for s in sig.signers),
            ],
            title="Acta de firma",
        )

    # -- routes ----------------------------------------------------------------------

    def add_routes(self, app: web.Application) -> None:
        """Register the 7 endpoints."""
        app.router.add_post("/api/send", self.send)
        app.router.add_get("/api/info", self.info)
        app.router.add_get("/api/emails", self.emails)
        app.router.add_get("/api/email", self.email)
        app.router.add_post("/api/signature/send", self.signature_send)
        app.router.add_get("/api/signatures", self.signatures_list)
        app.router.add_get("/api/signature", self.signature_get)
        app.router.add_get(CERT_PATH, self.certificate_download)
        app.router.add_get(DASHBOARD_PATH + "/download-original/{uuid}", self.signature_original)
        app.router.add_get(DASHBOARD_PATH + "/download-acta/{uuid}", self.signature_acta)

    async def send(self, request: web.Request) -> web.Response:
        """``POST /api/send``."""
        body = await self._json_body(request)
        via = self._token_via(request, body)
        if via is None:
            return self.error(401, "Unauthorized: token missing or not valid")
        if body is None or set(body) - _SEND_KEYS:
            return self.error(400, "Invalid data")
        raw_to = body.get("recipient", body.get("to"))
        subject = body.get("subject")
        html = body.get("message", body.get("body", body.get("content")))
        if not (isinstance(raw_to, str) and isinstance(subject, str) and subject.strip()):
            return self.error(400, "Invalid data: recipient and subject are required")
        if not (isinstance(html, str) and html.strip()):
            return self.error(400, "Invalid data: message is required")
        addresses = [a.strip() for a in raw_to.split(",") if a.strip()]
        if not addresses or not all(EMAIL.match(a) for a in addresses):
            return self.error(400, "Invalid data: recipient")
        if len(addresses) > self.max_recipients:
            return self.error(400, f"Too many recipients (max {self.max_recipients})")
        reply_to = body.get("reply_to")
        if reply_to is not None and not (isinstance(reply_to, str) and EMAIL.match(reply_to)):
            return self.error(400, "Invalid data: reply_to")
        attachments = _parse_attachments(body.get("attachments", []))
        if attachments is None:
            return self.error(400, "Invalid data: attachments")
        deliverable = [
            a
            for a in addresses
            if a.lower() not in self.bounce and self.outcomes.get(a.lower()) != "bounce"
        ]
        if len(deliverable) > self.credits:
            return self.error(403, "No credits or emails remaining")
        self.credits -= len(deliverable)
        now_wall = datetime.now(UTC)
        email = SentEmail(
            id=next(self._ids),
            tracking_id=f"cm_parent_{secrets.token_hex(6)}",
            recipients=[
                _Recipient(
                    email=a,
                    tracking_id=f"cm_rec_{secrets.token_hex(6)}",
                    failed="Hard bounce: mailbox does not exist"
                    if a.lower() in self.bounce or self.outcomes.get(a.lower()) == "bounce"
                    else None,
                    behaviour=self.outcomes.get(a.lower()),
                )
                for a in addresses
            ],
            subject=subject,
            html=html,
            reply_to=reply_to,
            attachments=attachments,
            at=self.clock(),
            at_wall=now_wall,
            token_via=via,
        )
        self.ledger.append(email)
        self._by_tracking[email.tracking_id] = email
        for rcpt in email.recipients:
            self._by_recipient[rcpt.tracking_id] = (email, rcpt)
        self.ledger_summary.record(addresses, subject, html, ref=email.tracking_id, at=email.at)
        keep = self.ledger_keep
        if keep is not None and len(self.ledger) > keep + max(1, keep // 10):
            for old in self.ledger[: len(self.ledger) - keep]:
                self._by_tracking.pop(old.tracking_id, None)
                for rcpt in old.recipients:
                    self._by_recipient.pop(rcpt.tracking_id, None)
            del self.ledger[: len(self.ledger) - keep]
        ok = len(deliverable)
        return web.json_response(
            {
                "success": True,
                "message": f"Email sent to {ok} of {len(addresses)} recipients",
                "data": {
                    "tracking_id": email.tracking_id,
                    "recipients": [
                        {
                            "email": r.email,
                            "status": "failed" if r.failed else "sent",
                            "tracking_id": r.tracking_id,
                            "error_details": r.failed,
                        }
                        for r in email.recipients
                    ],
                    "subject": subject,
                    "sent_at": self._stamp(now_wall),
                    "success_count": ok,
                    "fail_count": len(addresses) - ok,
                    "error_status": None if ok == len(addresses) else "Partial failure",
                },
            }
        )

    async def info(self, request: web.Request) -> web.Response:
        """``GET /api/info`` (no ``success`` key, as documented)."""
        if self._token_via(request, None) is None:
            return self.error(401, "Unauthorized: token missing or not valid")
        return web.json_response(
            {
                "name": "LegallyMail API",
                "version": "1.0.0",
                "user": {
                    "email": "account@example.com",
                    "name": "Fake Account",
                    "plan": "professional",
                    "plan_name": "Profesional",
                    "plan_limit": self.plan_limit,
                    "extra_emails": 0,
                    "remaining_emails": self.credits,
                },
            }
        )

    def _limit(self, request: web.Request) -> int | None:
        raw = request.query.get("limit", "")
        return int(raw) if raw.isdigit() and 1 <= int(raw) <= 25 else None

    async def emails(self, request: web.Request) -> web.Response:
        """``GET /api/emails?limit=`` (required, 1 to 25), newest first."""
        if self._token_via(request, None) is None:
            return self.error(401, "Unauthorized: token missing or not valid")
        limit = self._limit(request)
        if limit is None:
            return self.error(400, "limit must be between 1 and 25")
        items = [self._list_item(e) for e in reversed(self.ledger)][:limit]
        return web.json_response(
            {"success": True, "count": len(items), "limit": limit, "max_limit": 25, "emails": items}
        )

    async def email(self, request: web.Request) -> web.Response:
        """``GET /api/email?tracking_id=`` (the parent id)."""
        if self._token_via(request, None) is None:
            return self.error(401, "Unauthorized: token missing or not valid")
        wanted = request.query.get("tracking_id")
        if not wanted:
            return self.error(400, "tracking_id is required")
        found = self._by_tracking.get(wanted)
        # The ledger only grows at its end and is cut at its start (or cleared by a test):
        # an indexed e-mail is still in it when its id lies within the ledger's ids.
        if found is None or not self.ledger or found.id < self.ledger[0].id:
            return self.error(404, "Email not found")
        item = self._list_item(found)
        origin = f"{request.scheme}://{request.host}"
        recipients = []
        for r in found.recipients:
            ev = self._events(found, r)
            recipients.append(
                {
                    "email": r.email,
                    "name": r.email.split("@")[0].replace(".", " ").title(),
                    "status": self._status(found, r),
                    "tracking_id": r.tracking_id,
                    "sent_at": self._stamp(ev["sent_at"]),
                    "delivered_at": self._stamp(ev["delivered_at"]),
                    "read_at": self._stamp(ev["read_at"]),
                    "error_details": r.failed,
                    "certificates": self._certificates(found, r, ev, origin),
                }
            )
        item["certificates"] = []
        item["recipients"] = recipients
        return web.json_response({"success": True, "email": item})

    async def signature_send(self, request: web.Request) -> web.Response:
        """``POST /api/signature/send`` (single-signer fields or ``signers``, not both)."""
        body = await self._json_body(request)
        if self._token_via(request, body) is None:
            return self.error(401, "Unauthorized: token missing or not valid")
        if body is None or set(body) - _SIGN_KEYS:
            return self.error(400, "Invalid data")
        signers = _parse_signers(body)
        if signers is None:
            return self.error(400, "Invalid data: signers")
        name, language = body.get("document_name"), body.get("language", "es")
        if not (isinstance(name, str) and name.strip()) or language not in _LANGUAGES:
            return self.error(400, "Invalid data: document_name or language")
        pdf = b64decode(body.get("document"))
        if pdf is None:
            return self.error(400, "Invalid data: document is not base64")
        if not pdf.startswith(b"%PDF-"):
            return self.error(400, "Invalid data: document is not a PDF")
        if len(pdf) > 10 * 1024 * 1024:
            return self.error(400, "Invalid data: document over 10 MB")
        sig = FakeSignature(
            uuid=str(uuidlib.uuid4()),
            signers=signers,
            document_name=name,
            document_hash=hashlib.sha256(pdf).hexdigest(),
            language=language,
            at=self.clock(),
            at_wall=datetime.now(UTC),
            document=pdf,
        )
        self.signatures.append(sig)
        first = signers[0]
        return web.json_response(
            {
                "success": True,
                "message": "Signature request sent successfully",
                "data": {
                    "uuid": sig.uuid,
                    "signer_name": first["name"],
                    "signer_email": first["email"],
                    "document_name": name,
                    "status": "pending",
                    "created_at": self._stamp(sig.at_wall),
                },
            }
        )

    def _signature_item(
        self, sig: FakeSignature, *, full: bool, origin: str = "https://legallymail.com"
    ) -> dict[str, Any]:
        signed = self.clock() - sig.at >= self.sign_delay
        signed_at = sig.at_wall + timedelta(seconds=self.sign_delay) if signed else None
        item: dict[str, Any] = {
            "uuid": sig.uuid,
            "signer_name": sig.signers[0]["name"],
            "signer_email": sig.signers[0]["email"],
            "document_name": sig.document_name,
            "status": "signed" if signed else "pending",
            "created_at": self._stamp(sig.at_wall),
            "signed_at": self._stamp(signed_at),
        }
        if full:
            item.update(
                {
                    "expires_at": self._stamp(sig.at_wall + timedelta(days=7)),
                    "document_hash": sig.document_hash,
                    "signed_document_hash": (f"signed-{sig.document_hash}" if signed else None),
                    "signers": [
                        {
                            "signer_name": s["name"],
                            "signer_email": s["email"],
                            "signer_phone": s.get("phone"),
                            "status": "signed" if signed else "pending",
                            "signed_at": self._stamp(signed_at),
                        }
                        for s in sig.signers
                    ],
                    "download_original_url": f"{origin}{DASHBOARD_PATH}/download-original/"
                    f"{sig.uuid}",
                    # The record exists once signed (the reference shows it on a signed
                    # request only); before that the fake gives no URL.
                    "download_acta_url": (
                        f"{origin}{DASHBOARD_PATH}/download-acta/{sig.uuid}" if signed else None
                    ),
                }
            )
        return item

    async def signatures_list(self, request: web.Request) -> web.Response:
        """``GET /api/signatures?limit=``, newest first."""
        if self._token_via(request, None) is None:
            return self.error(401, "Unauthorized: token missing or not valid")
        limit = self._limit(request)
        if limit is None:
            return self.error(400, "limit must be between 1 and 25")
        items = [self._signature_item(s, full=False) for s in reversed(self.signatures)]
        return web.json_response({"success": True, "data": items[:limit]})

    async def signature_get(self, request: web.Request) -> web.Response:
        """``GET /api/signature?uuid=``."""
        if self._token_via(request, None) is None:
            return self.error(401, "Unauthorized: token missing or not valid")
        wanted = request.query.get("uuid")
        found = next((s for s in self.signatures if s.uuid == wanted), None)
        if found is None:
            return self.error(404, "Signature request not found")
        origin = f"{request.scheme}://{request.host}"
        item = self._signature_item(found, full=True, origin=origin)
        return web.json_response({"success": True, "data": item})

    # -- documents on the web application (not under /api/) ---------------------------

    def _document(
        self, request: web.Request, route: str, key: str, pdf: bytes | None
    ) -> web.Response:
        if self.document_access == "login-redirect":
            return web.Response(status=302, headers={"Location": "/login"})
        if self.document_access == "login-page":
            return web.Response(text=_LOGIN_PAGE, content_type="text/html")
        if self._token_via(request, None) is None:
            return self.error(401, "Unauthorized: token missing or not valid")
        if pdf is None:
            return self.error(404, "Document not found")
        self.downloads.append((route, key))
        return web.Response(
            body=pdf,
            content_type="application/pdf",
            headers={"Content-Disposition": f'attachment; filename="{key}.pdf"'},
        )

    async def certificate_download(self, request: web.Request) -> web.Response:
        """``GET /emails/download-certificate?id=<recipient tracking id>&status=<kind>``."""
        tracking_id = request.query.get("id", "")
        kind = request.query.get("status", "")
        pdf = self.certificate_pdf(tracking_id, kind)
        return self._document(request, CERT_PATH, f"{tracking_id}-{kind}", pdf)

    async def signature_original(self, request: web.Request) -> web.Response:
        """``GET /dashboard/electronic-signature/download-original/{uuid}``."""
        uuid = request.match_info["uuid"]
        pdf = self.signature_pdf(uuid, "original")
        return self._document(request, "download-original", uuid, pdf)

    async def signature_acta(self, request: web.Request) -> web.Response:
        """``GET /dashboard/electronic-signature/download-acta/{uuid}`` (once signed)."""
        uuid = request.match_info["uuid"]
        pdf = self.signature_pdf(uuid, "acta")
        return self._document(request, "download-acta", uuid, pdf)


def _parse_attachments(raw: Any) -> tuple[tuple[str, int, str], ...] | None:
    if not isinstance(raw, list):
        return None
    out = []
    for item in raw:
        if not isinstance(item, dict) or set(item) != {"filename", "content", "mime_type"}:
            return None
        content = b64decode(item["content"])
        if content is None:
            return None
        size = len(content)
        if not (isinstance(item["filename"], str) and item["filename"].strip()):
            return None
        out.append((item["filename"], size, str(item["mime_type"])))
    return tuple(out)


def _parse_signers(body: dict[str, Any]) -> list[dict[str, str | None]] | None:
    single = "signer_name" in body or "signer_email" in body
    if single == ("signers" in body):
        return None  # exactly one of the two forms
    if single:
        people = [
            {
                "name": body.get("signer_name"),
                "email": body.get("signer_email"),
                "phone": body.get("signer_phone"),
            }
        ]
    else:
        raw = body["signers"]
        if not isinstance(raw, list):
            return None
        people = []
        for item in raw:
            if not isinstance(item, dict) or set(item) - {"name", "email", "phone"}:
                return None
            people.append(
                {"name": item.get("name"), "email": item.get("email"), "phone": item.get("phone")}
            )
    if not 1 <= len(people) <= 5:
        return None
    for p in people:
        if not (isinstance(p["name"], str) and p["name"].strip()):
            return None
        if not (isinstance(p["email"], str) and EMAIL.match(p["email"])):
            return None
    return people


def _check_behaviour(value: object) -> LegallyMailBehaviour:
    if value not in LEGALLYMAIL_BEHAVIOURS:
        known = ", ".join(LEGALLYMAIL_BEHAVIOURS)
        raise ValueError(f"unknown behaviour {value!r}; known: {known}")
    return value  # type: ignore[return-value]
