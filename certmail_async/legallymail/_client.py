"""The LegallyMail client: certified-evidence e-mail and e-signature (7 operations).

LegallyMail is not PEC: its e-mails are ordinary e-mail with evidence of sending, delivery
and reading, and its statuses are its own ([EmailStatus][certmail_async.EmailStatus]).
"""

from __future__ import annotations

import os
import re
import uuid as uuidlib
from collections.abc import Iterable, Mapping, Sequence
from datetime import tzinfo
from typing import TYPE_CHECKING, Any, Literal

from .._client_base import BaseClient, Resource, validating
from .._exceptions import APIStatusError, OutOfCreditsError, ValidationError
from .._models import Attachment, Signer, check_signer_fields
from .._pacing import PacingBackend, RateLimit
from .._polling import check_wait, wait_rounds
from .._retry import RetryPolicy
from .._transport import (
    BeforeSend,
    ClientSession,
    ErrorInfo,
    LastCheck,
    Operation,
    ProviderProfile,
    Response,
    Transport,
)
from .._types import NOT_GIVEN, NotGiven, ResponseLimits, SecretStr, Timeout, TimeoutTypes
from .._validation import (
    check_attachments,
    check_bool,
    check_choice,
    check_email,
    check_filename,
    check_header_text,
    check_hook,
    check_instance,
    check_int,
    check_optional,
    check_path_id,
    check_pattern,
    check_recipients,
    check_secret,
    check_sequence,
    check_text,
)
from ..receipts._errors import DeliveryPendingError
from ._auth import LegallyMailAuth, TokenPlacement
from ._evidence import (
    CERTIFICATE_PATH,
    EvidenceFile,
    check_directory,
    check_kind,
    check_kinds,
    download_document,
    safe_name,
    save_pdf,
)
from ._models import AccountInfo, EmailDetail, EmailList, SendOutcome, SignatureRequest
from ._wire import OPS, PRODUCTION_URL, PROVIDER, LegallyMailWire

if TYPE_CHECKING:  # receipts reads this package's models: imported where used, no cycle
    from ..receipts._legallymail import LegallyMailOutcome

__all__ = ["AccountResource", "EmailsResource", "LegallyMailClient", "SignaturesResource"]

#: 10 requests per minute per IP address, every endpoint (LegallyMail API page).
DEFAULT_RATE_LIMIT = RateLimit(requests=10, per=60.0)
#: Recipients per send unless support raised the account's limit.
DEFAULT_MAX_RECIPIENTS = 10
#: Signature documents: a PDF of at most 10 MB (whether of the file or its base64 text is
#: not documented; the check applies to the file).
DEFAULT_MAX_DOCUMENT_BYTES = 10 * 1024 * 1024
MAX_SIGNERS = 5
LANGUAGES = frozenset({"es", "en", "fr", "it"})

_UUID = re.compile(
    r"[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}", re.ASCII
)
# 403 means "forbidden" or "out of credits"; the text tells them apart where it can.
_NO_CREDITS = re.compile(
    r"credit|cr[eé]dit|saldo|no (?:more )?e-?mails|emails? (?:left|remaining)|remaining", re.I
)


class _Profile(ProviderProfile):
    name = PROVIDER

    def error_class(self, status: int, info: ErrorInfo) -> type[APIStatusError]:
        if status == 403 and _NO_CREDITS.search(info.message or ""):
            return OutOfCreditsError
        return super().error_class(status, info)


_WIRES: dict[tuple[tzinfo | None], LegallyMailWire] = {}


def _wire_for(tz: tzinfo | None) -> LegallyMailWire:
    key = (tz,)
    if key not in _WIRES:
        _WIRES[key] = LegallyMailWire(tz=tz)
    return _WIRES[key]


def _check_limit(limit: int, op: Operation) -> int:
    with validating(op):
        return check_int(limit, field="limit", min=1, max=25)


class _LegallyMailResource(Resource):
    _client: LegallyMailClient

    async def _lm_call(
        self,
        op: Operation,
        *,
        timeout: TimeoutTypes | NotGiven,
        max_retries: int | NotGiven,
        params: Mapping[str, str | int] | None = None,
        json: dict[str, Any] | None = None,
        before_send: BeforeSend | None = None,
        last_check: LastCheck | None = None,
    ) -> Response:
        return await self._call(
            op,
            params=params,
            json=json,
            timeout=timeout,
            max_retries=max_retries,
            before_send=before_send,
            last_check=last_check,
        )

    @property
    def _wire(self) -> LegallyMailWire:
        return self._client._wire


class EmailsResource(_LegallyMailResource):
    """``client.emails``: ``POST /api/send``, ``GET /api/emails``, ``GET /api/email``.

    Examples:
        >>> import asyncio
        >>> from certmail_async import RateLimit
        >>> from certmail_async.testing import run_fake
        >>> minute = RateLimit(requests=10, per=0.6)  # a scaled "minute"
        >>> async def main() -> str:
        ...     async with run_fake("legallymail", rate=minute) as fake:
        ...         async with fake.client() as client:
        ...             out = await client.emails.send(
        ...                 recipients=["anna@example.com"], subject="Contratto",
        ...                 html="<p>In allegato il contratto.</p>")
        ...             detail = await client.emails.retrieve(out.tracking_id)
        ...     return detail.status.value
        >>> asyncio.run(main())
        'delivered'
    """

    async def send(
        self,
        *,
        recipients: Iterable[str],  # a list of addresses; one str is refused
        subject: str,
        html: str,
        reply_to: str | None = None,
        reply_to_name: str | None = None,
        attachments: Sequence[Attachment] = (),
        timeout: TimeoutTypes | NotGiven = NOT_GIVEN,
        max_retries: int | NotGiven = NOT_GIVEN,
        before_send: BeforeSend | None = None,
        last_check: LastCheck | None = None,
    ) -> SendOutcome:
        """Send one certified-evidence e-mail to up to 10 recipients (account default).

        Some recipients may fail while others succeed: that is a normal
        [SendOutcome][certmail_async.SendOutcome] (see ``failed_recipients``), not an
        exception. Never retried after a 5xx, a timeout or a reset
        ([DeliveryUnknownError][certmail_async.DeliveryUnknownError]).
        ``before_send``, when given, is awaited after the pacing slot is granted and right
        before the request is written (the bulk dispatcher journals the chunk there).
        ``last_check``, when given, is called (synchronously) right before each attempt's
        request is handed to the HTTP session, after the slot and the credentials; what it
        raises propagates and nothing is written (the bulk dispatcher checks its lease).

        Examples:
            >>> import asyncio
            >>> from certmail_async.testing import run_fake
            >>> async def main() -> tuple[int, int]:
            ...     async with run_fake("legallymail") as fake, fake.client() as client:
            ...         out = await client.emails.send(
            ...             recipients=["anna@example.com", "luca@example.com"],
            ...             subject="Contratto",
            ...             html="<p>In allegato il contratto.</p>")
            ...     return out.success_count, len(out.failed_recipients)
            >>> asyncio.run(main())
            (2, 0)
        """
        op = OPS.SEND
        with validating(op):
            rcpts = check_recipients(recipients, max_count=self._client.max_recipients)
            check_header_text(subject, field="subject")
            check_text(html, field="html")
            reply = check_email(reply_to, field="reply_to") if reply_to is not None else None
            if reply_to_name is not None:
                check_header_text(reply_to_name, field="reply_to_name", max_len=200)
            atts = check_attachments(attachments)  # file names and MIME types included
            check_hook(before_send)
            check_hook(last_check, field="last_check")
        body = self._wire.send_body(
            recipients=rcpts,
            subject=subject,
            html=html,
            reply_to=reply,
            reply_to_name=reply_to_name,
            attachments=atts,
        )
        response = await self._lm_call(
            op,
            json=body,
            timeout=timeout,
            max_retries=max_retries,
            before_send=before_send,
            last_check=last_check,
        )
        # Through the transport: an undecodable success answer is DeliveryUnknownError.
        return self._client._transport.decode(
            op, response, lambda r: self._wire.send_outcome(r, op)
        )

    async def list(
        self,
        *,
        limit: int = 25,
        timeout: TimeoutTypes | NotGiven = NOT_GIVEN,
        max_retries: int | NotGiven = NOT_GIVEN,
    ) -> EmailList:
        """The latest ``limit`` (1 to 25) sent e-mails; the API offers no paging beyond that.

        The result iterates like a tuple of [Email][certmail_async.Email] and keeps the provider's
        ``count``, ``limit`` and ``max_limit``.

        Examples:
            >>> import asyncio
            >>> from certmail_async import RateLimit
            >>> from certmail_async.testing import run_fake
            >>> minute = RateLimit(requests=10, per=0.6)  # a scaled "minute"
            >>> async def main() -> list[str]:
            ...     async with run_fake("legallymail", rate=minute) as fake:
            ...         async with fake.client() as client:
            ...             await client.emails.send(
            ...                 recipients=["anna@example.com"], subject="Contratto",
            ...                 html="<p>In allegato il contratto.</p>")
            ...             emails = await client.emails.list(limit=5)
            ...     return [email.subject for email in emails]
            >>> asyncio.run(main())
            ['Contratto']
        """
        op = OPS.EMAILS
        response = await self._lm_call(
            op,
            params=self._wire.limit_params(_check_limit(limit, op)),
            timeout=timeout,
            max_retries=max_retries,
        )
        return self._wire.emails(response, op)

    async def retrieve(
        self,
        tracking_id: str,
        *,
        timeout: TimeoutTypes | NotGiven = NOT_GIVEN,
        max_retries: int | NotGiven = NOT_GIVEN,
    ) -> EmailDetail:
        """One e-mail by its (parent) tracking id, with per-recipient status and certificates.

        Examples:
            >>> import asyncio
            >>> from certmail_async import RateLimit
            >>> from certmail_async.testing import run_fake
            >>> minute = RateLimit(requests=10, per=0.6)  # a scaled "minute"
            >>> async def main() -> list[tuple[str, str]]:
            ...     async with run_fake("legallymail", rate=minute) as fake:
            ...         async with fake.client() as client:
            ...             out = await client.emails.send(
            ...                 recipients=["anna@example.com"], subject="Contratto",
            ...                 html="<p>In allegato il contratto.</p>")
            ...             detail = await client.emails.retrieve(out.tracking_id)
            ...     return [(r.email, r.status.value) for r in detail.recipients]
            >>> asyncio.run(main())
            [('anna@example.com', 'delivered')]
        """
        op = OPS.EMAIL
        with validating(op):
            check_path_id(tracking_id, field="tracking_id")
        response = await self._lm_call(
            op,
            params=self._wire.tracking_params(tracking_id),
            timeout=timeout,
            max_retries=max_retries,
        )
        return self._wire.email(response, op)

    async def track(
        self,
        tracking_id: str,
        *,
        timeout: TimeoutTypes | NotGiven = NOT_GIVEN,
        max_retries: int | NotGiven = NOT_GIVEN,
    ) -> tuple[LegallyMailOutcome, ...]:
        """Per-recipient outcomes of one e-mail (one ``GET /api/email``), by address.

        LegallyMail's own states (sent, delivered, read, failed), never PEC kinds; each
        [LegallyMailOutcome][certmail_async.LegallyMailOutcome] carries its certificates.

        Examples:
            >>> import asyncio
            >>> from certmail_async import RateLimit
            >>> from certmail_async.testing import run_fake
            >>> minute = RateLimit(requests=10, per=0.6)  # a scaled "minute"
            >>> async def main() -> list[tuple[str, str]]:
            ...     async with run_fake("legallymail", rate=minute) as fake:
            ...         fake.state.outcomes["anna@example.com"] = "read"
            ...         async with fake.client() as client:
            ...             out = await client.emails.send(
            ...                 recipients=["anna@example.com", "luca@example.com"],
            ...                 subject="Contratto", html="<p>In allegato.</p>")
            ...             outcomes = await client.emails.track(out.tracking_id)
            ...     return [(o.address, o.state.value) for o in outcomes]
            >>> asyncio.run(main())
            [('anna@example.com', 'read'), ('luca@example.com', 'delivered')]
        """
        from ..receipts._legallymail import legallymail_outcomes

        detail = await self.retrieve(tracking_id, timeout=timeout, max_retries=max_retries)
        return legallymail_outcomes(detail)

    async def wait_delivered(
        self,
        tracking_id: str,
        *,
        timeout: float | None,
        interval: float = 60.0,
        max_interval: float = 900.0,
        read: bool = False,
    ) -> tuple[LegallyMailOutcome, ...]:
        """Poll one e-mail until every recipient is delivered or failed (``read=True``: read).

        Each poll is one call through the client's gate (10 per minute per egress IP, shared
        with your other LegallyMail calls); the waits between polls start at ``interval``
        seconds and double up to ``max_interval``. At the deadline (``timeout`` seconds;
        None: none) a [DeliveryPendingError][certmail_async.DeliveryPendingError] carries the
        last outcomes. A recipient may never read: wait for ``read`` with a deadline.

        Examples:
            >>> import asyncio
            >>> from certmail_async import RateLimit
            >>> from certmail_async.testing import run_fake
            >>> minute = RateLimit(requests=10, per=0.6)  # a scaled "minute"
            >>> async def main() -> str:
            ...     async with run_fake("legallymail", rate=minute) as fake:
            ...         async with fake.client() as client:
            ...             out = await client.emails.send(
            ...                 recipients=["anna@example.com"], subject="Contratto",
            ...                 html="<p>In allegato.</p>")
            ...             (outcome,) = await client.emails.wait_delivered(
            ...                 out.tracking_id, timeout=30, interval=0.1)
            ...     return outcome.state.value
            >>> asyncio.run(main())
            'delivered'
        """
        op = OPS.EMAIL
        with validating(op):
            check_path_id(tracking_id, field="tracking_id")
            check_wait(timeout, interval, max_interval)
            check_bool(read, field="read")
        from ..receipts._legallymail import LegallyMailState

        outcomes: tuple[LegallyMailOutcome, ...] = ()
        async for last in wait_rounds(timeout, interval, max_interval):
            outcomes = await self.track(tracking_id)
            done = (
                all(o.state in (LegallyMailState.READ, LegallyMailState.FAILED) for o in outcomes)
                if read
                else all(o.final for o in outcomes)
            )
            if outcomes and done:
                return outcomes
            if last:
                break
        raise DeliveryPendingError(
            f"e-mail {tracking_id}: not every recipient is "
            f"{'read' if read else 'delivered'} or failed after {timeout} s",
            reports={tracking_id: outcomes},
            provider=PROVIDER,
            operation="emails.wait_delivered",
        )

    async def certificate(
        self,
        tracking_id: str,
        kind: str,
        *,
        timeout: TimeoutTypes | NotGiven = NOT_GIVEN,
        max_retries: int | NotGiven = NOT_GIVEN,
    ) -> bytes:
        """One recipient's certificate PDF (``kind``: ``"delivered"`` or ``"read"``) as bytes.

        ``tracking_id`` is the **recipient's** tracking id (``RecipientResult.tracking_id``,
        ``LegallyMailOutcome.tracking_id``). The documented route is on the web application
        (``/emails/download-certificate``), not under ``/api/``, and the reference does not
        say it takes the API token: it is requested with it, on the configured host only,
        paced, with the document size limit. A 2xx that is not a PDF is
        [NotPDFError][certmail_async.NotPDFError]; a redirect (a login page) is
        [DocumentUnavailableError][certmail_async.DocumentUnavailableError].

        Examples:
            >>> import asyncio, hashlib
            >>> from certmail_async import RateLimit
            >>> from certmail_async.testing import run_fake
            >>> minute = RateLimit(requests=10, per=0.6)  # a scaled "minute"
            >>> async def main() -> bool:
            ...     async with run_fake("legallymail", rate=minute) as fake:
            ...         async with fake.client() as client:
            ...             out = await client.emails.send(
            ...                 recipients=["anna@example.com"], subject="Contratto",
            ...                 html="<p>In allegato.</p>")
            ...             rcpt = out.recipients[0].tracking_id
            ...             pdf = await client.emails.certificate(rcpt, "delivered")
            ...             (o,) = await client.emails.track(out.tracking_id)
            ...     cert = o.delivery_certificate
            ...     return hashlib.sha256(pdf).hexdigest() == cert.file_hash
            >>> asyncio.run(main())
            True
        """
        operation = "emails.certificate"
        with validating(OPS.EMAIL):
            check_path_id(tracking_id, field="tracking_id")
            check_kind(kind)
        return await download_document(
            self._client,
            operation=operation,
            path=CERTIFICATE_PATH,
            params={"id": tracking_id, "status": kind},
            timeout=timeout,
            max_retries=max_retries,
        )

    async def save_certificates(
        self,
        tracking_id: str,
        directory: str | os.PathLike[str],
        *,
        kinds: Iterable[str] | None = None,
        outcomes: Iterable[LegallyMailOutcome] | None = None,
    ) -> tuple[EvidenceFile, ...]:
        """Download every certificate of one e-mail into ``directory``, with SHA-256.

        ``tracking_id`` is the e-mail's (parent) id; ``outcomes`` (from
        [track][certmail_async.legallymail.EmailsResource.track]) saves the retrieval call.
        Each PDF is saved as ``<recipient tracking id>-<kind>.pdf`` (atomically, never
        replacing different bytes) and described by an
        [EvidenceFile][certmail_async.EvidenceFile] with the provider's hash and whether it
        matches. ``kinds`` limits the types (``["read"]``). One paced call per certificate.

        Examples:
            >>> import asyncio, tempfile
            >>> from certmail_async import RateLimit
            >>> from certmail_async.testing import run_fake
            >>> minute = RateLimit(requests=10, per=0.6)  # a scaled "minute"
            >>> async def main(folder: str) -> list[tuple[str, bool | None]]:
            ...     async with run_fake("legallymail", rate=minute) as fake:
            ...         fake.state.outcomes["anna@example.com"] = "read"
            ...         async with fake.client() as client:
            ...             out = await client.emails.send(
            ...                 recipients=["anna@example.com"], subject="Contratto",
            ...                 html="<p>In allegato.</p>")
            ...             files = await client.emails.save_certificates(
            ...                 out.tracking_id, folder)
            ...     return [(f.kind, f.hash_matches) for f in files]
            >>> with tempfile.TemporaryDirectory() as folder:
            ...     asyncio.run(main(folder))
            [('delivered', True), ('read', True)]
        """
        with validating(OPS.EMAIL):
            check_path_id(tracking_id, field="tracking_id")
            folder = check_directory(directory)
            wanted = check_kinds(kinds)
        found = tuple(outcomes) if outcomes is not None else await self.track(tracking_id)
        saved: list[EvidenceFile] = []
        for outcome in found:
            for cert in outcome.certificates:
                kind = cert.certificate_type.strip().lower()
                if wanted is not None and kind not in wanted:
                    continue
                rcpt = outcome.tracking_id
                if cert.pdf_download_url:
                    content = await download_document(
                        self._client, operation="emails.certificate", url=cert.pdf_download_url
                    )
                elif rcpt:
                    content = await self.certificate(rcpt, check_kind(kind))
                else:
                    continue  # neither a URL nor a recipient id: nothing to ask for
                stem = safe_name(f"{rcpt or outcome.address}-{kind}")
                path, digest = await save_pdf(folder, f"{stem}.pdf", content)
                saved.append(
                    EvidenceFile(
                        kind=kind,
                        path=path,
                        sha256=digest,
                        size=len(content),
                        tracking_id=rcpt,
                        parent_tracking_id=outcome.parent_tracking_id or tracking_id,
                        address=outcome.address,
                        provider_hash=cert.file_hash,
                        confirmed_at=cert.confirmed_at,
                        has_tsq=cert.has_tsq,
                        has_tsr=cert.has_tsr,
                    )
                )
        return tuple(saved)


class AccountResource(_LegallyMailResource):
    """``client.account``: ``GET /api/info``.

    Examples:
        >>> import asyncio
        >>> from certmail_async.testing import run_fake
        >>> async def main() -> str | None:
        ...     async with run_fake("legallymail") as fake, fake.client() as client:
        ...         info = await client.account.info()
        ...     return info.plan
        >>> asyncio.run(main())
        'professional'
    """

    async def info(
        self,
        *,
        timeout: TimeoutTypes | NotGiven = NOT_GIVEN,
        max_retries: int | NotGiven = NOT_GIVEN,
    ) -> AccountInfo:
        """The account's plan and remaining e-mails (tells "out of credits" from "forbidden").

        Examples:
            >>> import asyncio
            >>> from certmail_async.testing import run_fake
            >>> async def main() -> int | None:
            ...     async with run_fake("legallymail", credits=40) as fake:
            ...         async with fake.client() as client:
            ...             info = await client.account.info()
            ...     return info.remaining_emails
            >>> asyncio.run(main())
            40
        """
        op = OPS.INFO
        response = await self._lm_call(op, timeout=timeout, max_retries=max_retries)
        return self._wire.account(response, op)


class SignaturesResource(_LegallyMailResource):
    """``client.signatures``: requests for e-signatures of a PDF.

    ``POST /api/signature/send``, ``GET /api/signatures`` and ``GET /api/signature``.

    Examples:
        >>> import asyncio
        >>> from certmail_async import RateLimit
        >>> from certmail_async.testing import run_fake
        >>> minute = RateLimit(requests=10, per=0.6)  # a scaled "minute"
        >>> from certmail_async import Signer
        >>> async def main() -> str:
        ...     async with run_fake("legallymail", rate=minute) as fake:
        ...         async with fake.client() as client:
        ...             asked = await client.signatures.request(
        ...                 signers=Signer(name="Anna Bianchi",
        ...                                email="anna@example.com"),
        ...                 document=b"%PDF-1.4 ...", document_name="Contratto.pdf")
        ...             later = await client.signatures.retrieve(asked.uuid)
        ...     return later.status.value
        >>> asyncio.run(main())  # the fake signs at once
        'signed'
    """

    async def request(
        self,
        *,
        signers: Sequence[Signer] | Signer,
        document: bytes,
        document_name: str,
        language: str | None = None,
        timeout: TimeoutTypes | NotGiven = NOT_GIVEN,
        max_retries: int | NotGiven = NOT_GIVEN,
    ) -> SignatureRequest:
        """Ask 1 to 5 people to sign a PDF (at most 10 MB). Never retried after a 5xx.

        ``language`` is one of ``es`` (the provider's default), ``en``, ``fr``, ``it``.

        Examples:
            >>> import asyncio
            >>> from certmail_async import Signer
            >>> from certmail_async.testing import run_fake
            >>> pdf = b"%PDF-1.4 ..."  # your document's bytes
            >>> async def main() -> str:
            ...     async with run_fake("legallymail") as fake, fake.client() as client:
            ...         req = await client.signatures.request(
            ...             signers=[Signer(name="Anna Bianchi",
            ...                             email="anna@example.com")],
            ...             document=pdf, document_name="Contratto.pdf", language="it")
            ...     return req.status.value
            >>> asyncio.run(main())
            'pending'
        """
        op = OPS.SIGN
        with validating(op):
            if isinstance(signers, Signer):
                people: tuple[Any, ...] = (signers,)
            else:
                people = check_sequence(signers, field="signers")
            _check_signers(people)
            _check_pdf(document, self._client.max_document_bytes)
            check_filename(document_name, field="document_name")
            if language is not None:
                check_choice(language, sorted(LANGUAGES), field="language")
        body = self._wire.signature_body(
            signers=people, document=document, document_name=document_name, language=language
        )
        response = await self._lm_call(op, json=body, timeout=timeout, max_retries=max_retries)
        # A request for signatures is a send: an undecodable success is DeliveryUnknownError.
        return self._client._transport.decode(op, response, lambda r: self._wire.signature(r, op))

    async def list(
        self,
        *,
        limit: int = 25,
        timeout: TimeoutTypes | NotGiven = NOT_GIVEN,
        max_retries: int | NotGiven = NOT_GIVEN,
    ) -> tuple[SignatureRequest, ...]:
        """The latest ``limit`` (1 to 25) signature requests.

        Examples:
            >>> import asyncio
            >>> from certmail_async import RateLimit, Signer
            >>> from certmail_async.testing import run_fake
            >>> minute = RateLimit(requests=10, per=0.6)  # a scaled "minute"
            >>> async def main() -> list[str]:
            ...     async with run_fake("legallymail", rate=minute) as fake:
            ...         async with fake.client() as client:
            ...             await client.signatures.request(
            ...                 signers=Signer(name="Anna Bianchi",
            ...                                email="anna@example.com"),
            ...                 document=b"%PDF-1.4 ...", document_name="Contratto.pdf")
            ...             requests = await client.signatures.list(limit=5)
            ...     return [r.document_name for r in requests]
            >>> asyncio.run(main())
            ['Contratto.pdf']
        """
        op = OPS.SIGNATURES
        response = await self._lm_call(
            op,
            params=self._wire.limit_params(_check_limit(limit, op)),
            timeout=timeout,
            max_retries=max_retries,
        )
        return self._wire.signatures(response, op)

    async def retrieve(
        self,
        uuid: str,
        *,
        timeout: TimeoutTypes | NotGiven = NOT_GIVEN,
        max_retries: int | NotGiven = NOT_GIVEN,
    ) -> SignatureRequest:
        """One signature request with its signers, hashes and download URLs.

        Examples:
            >>> import asyncio
            >>> from certmail_async import RateLimit, Signer
            >>> from certmail_async.testing import run_fake
            >>> minute = RateLimit(requests=10, per=0.6)  # a scaled "minute"
            >>> async def main() -> list[str]:
            ...     async with run_fake("legallymail", rate=minute) as fake:
            ...         async with fake.client() as client:
            ...             asked = await client.signatures.request(
            ...                 signers=Signer(name="Anna Bianchi",
            ...                                email="anna@example.com"),
            ...                 document=b"%PDF-1.4 ...", document_name="Contratto.pdf")
            ...             full = await client.signatures.retrieve(asked.uuid)
            ...     return [signer.status.value for signer in full.signers]
            >>> asyncio.run(main())
            ['signed']
        """
        op = OPS.SIGNATURE
        with validating(op):
            canonical = str(uuidlib.UUID(check_pattern(uuid, _UUID, field="uuid", what="a UUID")))
        response = await self._lm_call(
            op,
            params=self._wire.uuid_params(canonical),
            timeout=timeout,
            max_retries=max_retries,
        )
        return self._wire.signature(response, op)

    async def document(
        self,
        uuid: str,
        which: Literal["original", "record"],
        *,
        request: SignatureRequest | None = None,
    ) -> bytes:
        """The original PDF or the signature record (``acta``) of a request, as bytes.

        Fetched from the request's ``download_original_url`` / ``download_acta_url``
        (``request=`` from [retrieve][certmail_async.legallymail.SignaturesResource.retrieve]
        saves that call). Those URLs are dashboard routes whose use with the API token the
        reference does not document: they are requested with it on the configured host
        only ([DocumentUnavailableError][certmail_async.DocumentUnavailableError] for any
        other host, a missing URL or a redirect; [NotPDFError][certmail_async.NotPDFError]
        for a page that is not a PDF). The **signed** document has no URL at all in the
        reference (only ``signed_document_hash``): it cannot be fetched.

        Examples:
            >>> import asyncio
            >>> from certmail_async import RateLimit, Signer
            >>> from certmail_async.testing import minimal_pdf, run_fake
            >>> minute = RateLimit(requests=10, per=0.6)  # a scaled "minute"
            >>> async def main() -> bool:
            ...     async with run_fake("legallymail", rate=minute) as fake:
            ...         async with fake.client() as client:
            ...             asked = await client.signatures.request(
            ...                 signers=Signer(name="Anna Bianchi",
            ...                                email="anna@example.com"),
            ...                 document=minimal_pdf(["Contratto"]),
            ...                 document_name="Contratto.pdf")
            ...             record = await client.signatures.document(asked.uuid, "record")
            ...     return record.startswith(b"%PDF-")
            >>> asyncio.run(main())
            True
        """
        operation = "signatures.document"
        with validating(OPS.SIGNATURE):
            check_choice(which, ["original", "record"], field="which")
            if request is not None:
                check_instance(request, SignatureRequest, field="request")
        found = request if request is not None else await self.retrieve(uuid)
        url = found.download_original_url if which == "original" else found.download_acta_url
        return await download_document(self._client, operation=operation, url=url)

    async def save_documents(
        self,
        uuid: str,
        directory: str | os.PathLike[str],
    ) -> tuple[EvidenceFile, ...]:
        """Save the original and the signature record of a request into ``directory``.

        Files are ``<uuid>-original.pdf`` and ``<uuid>-record.pdf`` with their SHA-256
        (the original's is compared with ``document_hash``); a document the request has
        no URL for yet (the record before signing) is skipped. Three paced calls at most.

        Examples:
            >>> import asyncio, tempfile
            >>> from certmail_async import RateLimit, Signer
            >>> from certmail_async.testing import minimal_pdf, run_fake
            >>> minute = RateLimit(requests=10, per=0.6)  # a scaled "minute"
            >>> async def main(folder: str) -> list[tuple[str, bool | None]]:
            ...     async with run_fake("legallymail", rate=minute) as fake:
            ...         async with fake.client() as client:
            ...             asked = await client.signatures.request(
            ...                 signers=Signer(name="Anna Bianchi",
            ...                                email="anna@example.com"),
            ...                 document=minimal_pdf(["Contratto"]),
            ...                 document_name="Contratto.pdf")
            ...             files = await client.signatures.save_documents(
            ...                 asked.uuid, folder)
            ...     return [(f.kind, f.hash_matches) for f in files]
            >>> with tempfile.TemporaryDirectory() as folder:
            ...     asyncio.run(main(folder))
            [('original', True), ('record', None)]
        """
        with validating(OPS.SIGNATURE):
            folder = check_directory(directory)
        found = await self.retrieve(uuid)
        saved: list[EvidenceFile] = []
        for which, url, provider_hash in (
            ("original", found.download_original_url, found.document_hash),
            ("record", found.download_acta_url, None),
        ):
            if not url:
                continue
            content = await download_document(
                self._client, operation="signatures.document", url=url
            )
            path, digest = await save_pdf(folder, f"{safe_name(found.uuid)}-{which}.pdf", content)
            saved.append(
                EvidenceFile(
                    kind=which,
                    path=path,
                    sha256=digest,
                    size=len(content),
                    signature_uuid=found.uuid,
                    provider_hash=provider_hash,
                )
            )
        return tuple(saved)


def _check_signers(signers: tuple[Signer, ...]) -> None:
    if not 1 <= len(signers) <= MAX_SIGNERS:
        raise ValidationError(f"1 to {MAX_SIGNERS} signers, got {len(signers)}", field="signers")
    seen: set[str] = set()
    for i, signer in enumerate(signers):
        if not isinstance(signer, Signer):
            raise ValidationError(
                f"expected a Signer, got {type(signer).__name__}", field=f"signers[{i}]"
            )
        # Re-checked: a Signer whose fields were forced past its constructor is caught here.
        check_signer_fields(signer.name, signer.email, signer.phone, field=f"signers[{i}].")
        address = check_email(signer.email, field=f"signers[{i}].email").lower()
        if address in seen:
            raise ValidationError(f"{signer.email!r} signs twice", field=f"signers[{i}].email")
        seen.add(address)


def _check_pdf(document: object, max_bytes: int | None) -> None:
    if not isinstance(document, bytes | bytearray):
        raise ValidationError(
            f"the document must be PDF bytes, got {type(document).__name__}", field="document"
        )
    if not bytes(document[:1024]).lstrip().startswith(b"%PDF-"):
        raise ValidationError("the document is not a PDF (no %PDF- header)", field="document")
    if max_bytes is not None and len(document) > max_bytes:
        raise ValidationError(
            f"the document has {len(document)} bytes, over the limit of {max_bytes}",
            field="document",
        )


def _check_options(
    *,
    token: object,
    rate_limit: object,
    retry_policy: object,
    max_recipients: object,
    max_document_bytes: object,
    timezone: object,
    token_placement: object,
    egress: object,
) -> None:
    # The constructor's own parameters, checked before anything is built: token=123 or
    # max_recipients="10" is a ValidationError naming the field, not a TypeError later.
    try:
        check_secret(token, field="token", token=True)  # may go as the raw header value
        check_instance(rate_limit, RateLimit, field="rate_limit", optional=True)
        check_instance(retry_policy, RetryPolicy, field="retry_policy")
        check_int(max_recipients, field="max_recipients", min=1)
        check_optional(max_document_bytes, check_int, field="max_document_bytes", min=1)
        check_instance(timezone, tzinfo, field="timezone", optional=True)
        check_choice(token_placement, ("header", "raw_header", "body"), field="token_placement")
        check_header_text(egress, field="egress", max_len=200)
    except ValidationError as error:
        error.provider = PROVIDER
        raise


class LegallyMailClient(BaseClient):
    """Client for LegallyMail (``legallymail.com/api``): certified-evidence e-mail, e-signature.

    Every endpoint is paced at 10 requests per minute per egress IP (one every 6.3 s), with
    ONE gate shared by every LegallyMailClient in the process; pass ``egress=`` to name
    another egress address if your process sends from several. Processes that share an
    egress IP share the cap only through ``pacing=RedisPacing(url)`` (or
    ``CERTMAIL_PACING_URL``).

    Timestamps are naive (the provider does not state its zone): they stay naive unless you
    pass ``timezone=`` (e.g. ``zoneinfo.ZoneInfo("Europe/Madrid")``), which is then attached.

    Examples:
        Against the fake (drop ``base_url=`` for the real service, and use your token):

        >>> import asyncio
        >>> from certmail_async import LegallyMailClient
        >>> from certmail_async.testing import run_fake
        >>> async def main() -> int | None:
        ...     async with run_fake("legallymail") as fake:
        ...         async with LegallyMailClient(
        ...             token="fake-legallymail-token", base_url=fake.url
        ...         ) as client:
        ...             info = await client.account.info()
        ...     return info.remaining_emails
        >>> asyncio.run(main())
        1000
    """

    _ENV = (("token", "CERTMAIL_LEGALLYMAIL_TOKEN"),)

    def __init__(
        self,
        *,
        token: str | SecretStr,
        base_url: str | None = None,
        session: ClientSession | None = None,
        rate_limit: RateLimit | None = DEFAULT_RATE_LIMIT,
        pacing: PacingBackend | None = None,
        timeout: TimeoutTypes = Timeout(),
        max_retries: int = 2,
        retry_policy: RetryPolicy = RetryPolicy(),
        response_limits: ResponseLimits = ResponseLimits(),
        max_recipients: int = DEFAULT_MAX_RECIPIENTS,
        max_document_bytes: int | None = DEFAULT_MAX_DOCUMENT_BYTES,
        timezone: tzinfo | None = None,
        token_placement: TokenPlacement = "header",  # noqa: S107 - a mode name, not a secret
        egress: str = "default",
    ) -> None:
        _check_options(
            token=token,
            rate_limit=rate_limit,
            retry_policy=retry_policy,
            max_recipients=max_recipients,
            max_document_bytes=max_document_bytes,
            timezone=timezone,
            token_placement=token_placement,
            egress=egress,
        )
        token = SecretStr(token)
        if not token:
            raise ValidationError("a token is required", field="token", provider=PROVIDER)
        if token_placement not in ("header", "raw_header", "body"):
            raise ValidationError(
                "token_placement must be 'header', 'raw_header' or 'body'",
                field="token_placement",
                provider=PROVIDER,
            )
        if max_recipients < 1:
            raise ValidationError("max_recipients must be >= 1", field="max_recipients")
        self.max_recipients = max_recipients
        self.max_document_bytes = max_document_bytes
        self.token_placement: TokenPlacement = token_placement
        self._wire = _wire_for(timezone)
        self._transport = Transport(
            profile=_Profile(),
            base_url=PRODUCTION_URL if base_url is None else base_url,
            auth=LegallyMailAuth(token, token_placement),
            session=session,
            timeout=timeout,
            max_retries=max_retries,
            retry_policy=retry_policy,
            response_limits=response_limits,
            pacing=pacing,
            rate_limit=rate_limit,
            scope=("egress", egress),
        )
        self._bind_resources()

    def _bind_resources(self) -> None:
        self.emails = EmailsResource(self)
        self.account = AccountResource(self)
        self.signatures = SignaturesResource(self)
