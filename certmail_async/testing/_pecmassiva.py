"""A fake PEC Massiva server, faithful to ``pecmassiva.md`` and strict about its input.

* All 7 operations with the documented envelopes, status codes and messages (typos
  included: "Operation succefull", "An error occured").
* Bearer token on every call; mailbox credentials in the body of ``POST /send`` and in
  ``x-username``/``x-password`` elsewhere; 401 "Authorization is not valid or empty".
* Each accepted send gets a code (``yyyyMMddHHmmss`` + a counter) appended to the subject,
  and a receipt lifecycle in the INBOX: ``ACCETTAZIONE`` after ``accept_delay``, then per
  recipient, after ``deliver_delay``, what `FakePecMassiva.outcomes` says for its address
  (`PEC_BEHAVIOURS`: ``CONSEGNA`` by default; non-delivery, virus, a time-limit warning
  followed ``warning_delay`` later by a delivery or by the final notice, taken in charge,
  silence, or an ``AVVISO DI NON ACCETTAZIONE`` for the whole message; ``undeliverable``
  addresses get ``AVVISO DI MANCATA CONSEGNA``); ``POSTA CERTIFICATA`` when a send goes to
  the mailbox itself. The real receipt texts are not exemplified by the vendor; the fake
  writes the standard PEC certification sentence, which names the recipient.
* Every INBOX message also exists as the signed ``.eml`` a PEC mailbox would hold over IMAP
  (`FakePecMassiva.eml`), with ``daticert.xml``, for tests of ``parse_eml``.
* The INBOX lists messages in the order they arrived (a mailbox's sequence order).
* ``POST /send`` is capped (1 request per second by default, sliding window, per token).
  The real answer over the cap is undocumented; the fake answers 429.
* Every accepted send lands in `FakePecMassiva.ledger` and is counted in
  `FakePecMassiva.ledger_summary` (digests for the duplicate check). For soak tests,
  ``ledger_keep`` keeps only the latest sends in full and ``inbox_limit`` the latest
  messages (the oldest are dropped, as a mailbox being cleaned); receipts and messages are
  found through indexes by send code and id, not by scanning the inbox.
"""

from __future__ import annotations

import email.utils
import itertools
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any, ClassVar, Literal, get_args
from urllib.parse import quote_plus

import attrs
from aiohttp import web

from .._pacing import RateLimit
from ._core import EMAIL, FakeProvider, b64decode, base64_size
from ._faults import CapMode
from ._load import LedgerSummary
from ._pec_eml import PecMessageSpec, pec_message_eml

__all__ = ["PEC_BEHAVIOURS", "FakePecMassiva", "InboxItem", "PecBehaviour", "SentRecord"]

AUTH_ERROR = "Authorization is not valid or empty"
_SEND_KEYS = frozenset(
    {"sender", "recipient", "subject", "body", "attachments", "username", "password"}
)
_REQUIRED_SEND_KEYS = _SEND_KEYS - {"attachments"}
PAGE_SIZE = 25

#: What happens to one recipient of a send (``fake.outcomes[address] = "virus"``).
PecBehaviour = Literal[
    "delivered",  # CONSEGNA
    "not-delivered",  # AVVISO DI MANCATA CONSEGNA (5.1.1 utente inesistente)
    "virus",  # AVVISO DI MANCATA CONSEGNA PER VIRUS
    "virus-detected",  # PROBLEMA DI SICUREZZA (rilevazione-virus)
    "delayed",  # ... PER SUP. TEMPO MASSIMO (warning), then CONSEGNA after warning_delay
    "timed-out",  # the warning, then a second time-limit notice (final) after warning_delay
    "taken-in-charge",  # PRESA IN CARICO, then CONSEGNA
    "silent",  # nothing after the acceptance: pending for ever
    "non-acceptance",  # AVVISO DI NON ACCETTAZIONE for the whole message, nothing else
    "non-acceptance-virus",  # AVVISO DI NON ACCETTAZIONE PER VIRUS, nothing else
]
"""What the fake does after accepting a send to one address (``outcomes=`` of the fake).

Examples:
    >>> import asyncio
    >>> from certmail_async.testing import PecBehaviour, run_fake
    >>> outcomes: dict[str, PecBehaviour] = {"gone@pec.example.it": "not-delivered"}
    >>> async def main() -> list[str]:
    ...     async with run_fake("pecmassiva", outcomes=outcomes) as fake:
    ...         async with fake.client() as client:
    ...             sent = await client.sends.create(
    ...                 recipients=["gone@pec.example.it"], subject="Avviso",
    ...                 body="Testo")
    ...             summary = await client.sends.receipts(sent.code)
    ...     return [r.kind.value for r in summary.receipts]
    >>> asyncio.run(main())
    ['accettazione', 'errore-consegna']
"""
PEC_BEHAVIOURS: tuple[str, ...] = get_args(PecBehaviour)
"""Every `PecBehaviour`, in the order the docs list them.

Examples:
    >>> from certmail_async.testing import PEC_BEHAVIOURS
    >>> PEC_BEHAVIOURS[:3]
    ('delivered', 'not-delivered', 'virus')
"""
_NOTARY = "posta-certificata@pecmassiva.com"


def _rome_now() -> datetime:
    try:
        from zoneinfo import ZoneInfo

        return datetime.now(ZoneInfo("Europe/Rome"))
    except Exception:  # pragma: no cover - no tz database on the machine
        return datetime.now().astimezone()


@attrs.frozen(kw_only=True)
class SentRecord:
    """One send the fake accepted (its ledger entry).

    Examples:
        >>> import asyncio
        >>> from certmail_async import Attachment
        >>> from certmail_async.testing import run_fake
        >>> pdf = Attachment(filename="avviso.pdf", content=b"%PDF-1.4 ...",
        ...                  mime_type="application/pdf")
        >>> async def main() -> tuple[tuple[str, ...], tuple[tuple[str, int], ...]]:
        ...     async with run_fake("pecmassiva") as fake, fake.client() as client:
        ...         await client.sends.create(
        ...             recipients=["mario.rossi@pec.example.it"],
        ...             subject="Avviso", body="Testo", attachments=[pdf])
        ...     record = fake.state.ledger[0]
        ...     return record.recipients, record.attachments
        >>> asyncio.run(main())
        (('mario.rossi@pec.example.it',), (('avviso.pdf', 12),))
    """

    code: str
    sender: str
    recipients: tuple[str, ...]
    subject: str
    body: str
    attachments: tuple[tuple[str, int], ...]  # (name, size in bytes)
    at: float


@attrs.define(kw_only=True)
class InboxItem:
    """A message in the fake mailbox (receipts and envelopes).

    Examples:
        >>> import asyncio
        >>> from certmail_async.testing import run_fake
        >>> async def main() -> list[str | None]:
        ...     async with run_fake("pecmassiva") as fake, fake.client() as client:
        ...         await client.sends.create(
        ...             recipients=["mario.rossi@pec.example.it"],
        ...             subject="Avviso", body="Testo")
        ...     return [item.tipo for item in fake.state.inbox]
        >>> asyncio.run(main())
        ['accettazione', 'avvenuta-consegna']
    """

    id: int
    code: str | None
    date: datetime
    subject: str
    body: str
    sender: str
    recipient: str
    visible_at: float
    #: The ``daticert.xml`` view of the message (for `FakePecMassiva.eml`).
    tipo: str | None = None
    errore: str = "nessuno"
    concerns: str | None = None  # the recipient a per-recipient message is about
    original_subject: str = ""
    original_sender: str = ""
    original_recipients: tuple[str, ...] = ()
    original_body: str = ""
    extended: str | None = None

    @property
    def size(self) -> int:
        """Approximate stored size in bytes (for the quota)."""
        return len(self.body) + len(self.subject) + 512


class FakePecMassiva(FakeProvider):
    """The fake. Configure it, then serve it with [run_fake][certmail_async.testing.run_fake].

    ``outcomes`` maps a recipient address to a `PecBehaviour` (``"virus"``, ``"delayed"``
    ...); other addresses are delivered, except ``undeliverable`` ones.

    Request bodies: up to ``max_body_size`` bytes, by default the JSON of a 100 MB message
    (PEC Massiva's documented per-message limit, FLAT plan), taken as 100 MiB: its base64
    plus 1 MiB for the other fields, 140,858,712 bytes (about 134 MiB).
    A larger body gets HTTP 413 with ``{"success": false, "message": ...}``: the provider
    documents no such answer, so this one is the fake's choice.

    Examples:
        >>> fake = FakePecMassiva(send_rate=RateLimit(requests=1, per=0.05, margin=0))
        >>> fake.undeliverable.add("nobody@pec.example.it")
        >>> fake.outcomes["late@pec.example.it"] = "delayed"
        >>> fake.username
        'box@pecmassiva.com'
    """

    name: ClassVar[str] = "pecmassiva"
    client_path: ClassVar[str] = "certmail_async.pecmassiva:PecMassivaClient"
    #: The JSON of a 100 MB message: its base64 plus 1 MiB for the other fields.
    default_max_body_size: ClassVar[int] = base64_size(100 * 1024 * 1024) + 1024 * 1024

    def __init__(
        self,
        *,
        token: str = "fake-pecmassiva-token",
        username: str = "box@pecmassiva.com",
        password: str = "fake-mailbox-password",
        send_rate: RateLimit | None = RateLimit(requests=1, per=1.0, margin=0),
        cap_mode: CapMode = "sliding",
        accept_delay: float = 0.0,
        deliver_delay: float = 0.0,
        undeliverable: Iterable[str] = (),
        outcomes: Mapping[str, PecBehaviour] | None = None,
        warning_delay: float = 0.0,
        quota_limit: int = 1_048_576,
        ledger_keep: int | None = None,
        inbox_limit: int | None = None,
        max_body_size: int | None = None,
    ) -> None:
        super().__init__(max_body_size=max_body_size)
        self.token = token
        self.username = username
        self.password = password
        self.accept_delay = accept_delay
        self.deliver_delay = deliver_delay
        self.undeliverable: set[str] = {a.lower() for a in undeliverable}
        #: Address -> what happens to it (`PecBehaviour`); checked on each send.
        self.outcomes: dict[str, PecBehaviour] = {
            a.lower(): _check_behaviour(b) for a, b in (outcomes or {}).items()
        }
        #: Seconds from a time-limit warning to what follows it.
        self.warning_delay = warning_delay
        self.quota_limit = quota_limit
        self.ledger: list[SentRecord] = []
        #: Every accepted send summarised (counts, digests), whatever ``ledger_keep`` cuts.
        self.ledger_summary = LedgerSummary()
        #: Keep only about this many latest sends in `ledger` (None: every one).
        self.ledger_keep = ledger_keep
        self.inbox: list[InboxItem] = []
        #: Keep only this many latest messages in the INBOX (None: every one).
        self.inbox_limit = inbox_limit
        self.inbox_evicted = 0
        self._by_code: dict[str, list[InboxItem]] = {}
        self._by_id: dict[int, InboxItem] = {}
        self._stored = 0  # bytes held in the inbox, kept up to date for the quota
        self._ids = itertools.count(1)
        self._codes = itertools.count(1)
        self.send_cap = self.add_optional_cap(
            send_rate,
            mode=cap_mode,
            routes={("POST", "/send")},
            key=lambda r: r.headers.get("Authorization", ""),
        )

    # -- SDK glue ----------------------------------------------------------------------

    def client_kwargs(self) -> dict[str, Any]:
        """Credentials the fake accepts."""
        return {"token": self.token, "username": self.username, "password": self.password}

    # -- ledger helpers -----------------------------------------------------------------

    def sent_to(self, address: str) -> int:
        """How many accepted sends included ``address``."""
        address = address.lower()
        return sum(1 for s in self.ledger if address in (r.lower() for r in s.recipients))

    def add_inbox_message(
        self, *, subject: str, body: str = "", sender: str = "someone@pec.example.it"
    ) -> InboxItem:
        """Drop an ordinary message in the INBOX (e.g. to test pagination or odd subjects)."""
        item = InboxItem(
            id=next(self._ids),
            code=None,
            date=_rome_now(),
            subject=subject,
            body=body,
            sender=sender,
            recipient=self.username,
            visible_at=self.clock(),
        )
        self._store(item)
        return item

    def ledger_stats(self) -> dict[str, Any]:
        """Sends, duplicates and what the fake holds in memory (for the metrics route)."""
        return {
            **self.ledger_summary.stats(),
            "ledger_kept": len(self.ledger),
            "inbox": len(self.inbox),
            "inbox_evicted": self.inbox_evicted,
        }

    def flush_ledger(self) -> None:
        """Write the summary's buffered lines out."""
        self.ledger_summary.flush()

    def _store(self, item: InboxItem) -> None:
        self.inbox.append(item)
        self._by_id[item.id] = item
        if item.code is not None:
            self._by_code.setdefault(item.code, []).append(item)
        self._stored += item.size
        limit = self.inbox_limit
        if limit is not None and len(self.inbox) > limit + max(1, limit // 10):
            # Amortised: cut a tenth of the limit at a time.
            self._unindex(self.inbox[: len(self.inbox) - limit])
            del self.inbox[: len(self.inbox) - limit]

    def _unindex(self, items: list[InboxItem]) -> None:
        for m in items:
            self._by_id.pop(m.id, None)
            if m.code is not None:
                same = self._by_code.get(m.code)
                if same is not None:
                    same[:] = [x for x in same if x.id != m.id]
                    if not same:
                        del self._by_code[m.code]
            self._stored -= m.size
            self.inbox_evicted += 1

    def _discard(self, ids: set[int]) -> None:
        gone = [m for m in self.inbox if m.id in ids]
        kept = [m for m in self.inbox if m.id not in ids]
        self._unindex(gone)
        self.inbox_evicted -= len(gone)  # deleted on request, not evicted
        self._stored = sum(m.size for m in kept)
        self.inbox = kept

    # -- routes --------------------------------------------------------------------------

    def add_routes(self, app: web.Application) -> None:
        """Register the 7 operations."""
        app.router.add_post("/send", self.send)
        app.router.add_get("/send/{code}", self.receipts)
        app.router.add_delete("/send/{code}", self.delete_send)
        app.router.add_get("/inbox", self.inbox_list)
        app.router.add_get("/inbox/{id}", self.inbox_get)
        app.router.add_delete("/inbox/{id}", self.inbox_delete)
        app.router.add_get("/quota/{mailbox}", self.quota)

    def _bearer_ok(self, request: web.Request) -> bool:
        return request.headers.get("Authorization") == f"Bearer {self.token}"

    def _headers_ok(self, request: web.Request) -> bool:
        return (
            self._bearer_ok(request)
            and request.headers.get("x-username") == self.username
            and request.headers.get("x-password") == self.password
        )

    def _visible(self) -> list[InboxItem]:
        # In arrival order, as a mailbox lists them: a receipt scheduled earlier but due
        # later (a delayed delivery) comes after the ones that arrived before it.
        now = self.clock()
        return sorted(
            (m for m in self.inbox if m.visible_at <= now), key=lambda m: (m.visible_at, m.id)
        )

    def _visible_of(self, code: str) -> list[InboxItem]:
        """The visible messages of one send, through the index by code."""
        now = self.clock()
        return [m for m in self._by_code.get(code, ()) if m.visible_at <= now]

    async def send(self, request: web.Request) -> web.Response:
        """``POST /send``."""
        if not self._bearer_ok(request):
            return self.error(401, AUTH_ERROR)
        try:
            payload = await request.json()
        except ValueError:
            return self.error(400, "Post parameter is not valid")
        if not isinstance(payload, dict):
            return self.error(400, "Post parameter is not valid")
        if payload.get("username") != self.username or payload.get("password") != self.password:
            return self.error(401, AUTH_ERROR)
        parsed = self._parse_send(payload)
        if parsed is None:
            return self.error(400, "Post parameter is not valid")
        sender, recipients, subject, body, attachments = parsed
        code = self._new_code()
        self.ledger.append(
            SentRecord(
                code=code,
                sender=sender,
                recipients=recipients,
                subject=subject,
                body=body,
                attachments=attachments,
                at=self.clock(),
            )
        )
        self.ledger_summary.record(recipients, subject, body, ref=code, at=self.clock())
        keep = self.ledger_keep
        if keep is not None and len(self.ledger) > keep + max(1, keep // 10):
            del self.ledger[: len(self.ledger) - keep]
        self._schedule_receipts(code, sender, recipients, f"{subject} {code}", body)
        return web.json_response(
            {"success": True, "sent": len(recipients), "message": "", "message_id": code},
            status=201,
        )

    def _parse_send(
        self, payload: dict[str, Any]
    ) -> tuple[str, tuple[str, ...], str, str, tuple[tuple[str, int], ...]] | None:
        if set(payload) - _SEND_KEYS or _REQUIRED_SEND_KEYS - set(payload):
            return None
        sender, recipient = payload["sender"], payload["recipient"]
        subject, body = payload["subject"], payload["body"]
        if not (isinstance(sender, str) and sender.lower() == self.username.lower()):
            return None
        recipients = [recipient] if isinstance(recipient, str) else recipient
        if not isinstance(recipients, list) or not recipients:
            return None
        if not all(isinstance(r, str) and EMAIL.match(r) for r in recipients):
            return None
        if not (isinstance(subject, str) and subject.strip()):
            return None
        if not (isinstance(body, str) and body.strip()):
            return None
        attachments = self._parse_attachments(payload.get("attachments", []))
        if attachments is None:
            return None
        return sender, tuple(recipients), subject, body, attachments

    @staticmethod
    def _parse_attachments(raw: Any) -> tuple[tuple[str, int], ...] | None:
        items = [raw] if isinstance(raw, dict) else raw  # the OAS says object, vendors send []
        if not isinstance(items, list):
            return None
        out = []
        for item in items:
            if not isinstance(item, dict) or set(item) != {"name", "file"}:
                return None
            name, data = item["name"], item["file"]
            if not (isinstance(name, str) and name.strip() and isinstance(data, str)):
                return None
            content = b64decode(data, data_uri=True)  # the OAS example is a data URI
            if content is None:
                return None
            out.append((name, len(content)))
        return tuple(out)

    def _new_code(self) -> str:
        return _rome_now().strftime("%Y%m%d%H%M%S") + str(next(self._codes))

    def behaviour(self, address: str) -> PecBehaviour:
        """What happens to ``address`` on the next send (`outcomes`, then `undeliverable`)."""
        address = address.lower()
        if address in self.outcomes:
            return self.outcomes[address]
        return "not-delivered" if address in self.undeliverable else "delivered"

    def _schedule_receipts(
        self, code: str, sender: str, recipients: tuple[str, ...], subject: str, body: str
    ) -> None:
        now = self.clock()
        base = _rome_now()
        original = subject

        def stamp(delay: float) -> str:
            return (base + timedelta(seconds=delay)).strftime("%d/%m/%Y alle ore %H:%M:%S (%z)")

        def add(
            prefix: str,
            text: str,
            delay: float,
            who: str,
            *,
            tipo: str,
            errore: str = "nessuno",
            concerns: str | None = None,
            extended: str | None = None,
        ) -> None:
            self._store(
                InboxItem(
                    id=next(self._ids),
                    code=code,
                    date=base + timedelta(seconds=delay),
                    subject=f"{prefix}: {subject}",
                    body=text,
                    sender=who,
                    recipient=self.username,
                    visible_at=now + delay,
                    tipo=tipo,
                    errore=errore,
                    concerns=concerns,
                    original_subject=original,
                    original_sender=sender,
                    original_recipients=recipients,
                    original_body=body,
                    extended=extended,
                )
            )

        def said(delay: float, rcpt: str, what: str) -> str:
            return (
                f'Il giorno {stamp(delay)} il messaggio "{subject}" proveniente da "{sender}" '
                f'ed indirizzato a "{rcpt}" {what}'
            )

        behaviours = {r: self.behaviour(r) for r in recipients}
        refused = [b for b in behaviours.values() if b.startswith("non-acceptance")]
        first = self.accept_delay
        if refused:
            virus = "non-acceptance-virus" in refused
            reason = "contiene un virus" if virus else "destinatario non valido"
            add(
                "AVVISO DI NON ACCETTAZIONE PER VIRUS" if virus else "AVVISO DI NON ACCETTAZIONE",
                f'Il giorno {stamp(first)} nel messaggio "{subject}" proveniente da "{sender}" '
                f"e' stato rilevato un problema che ne impedisce l'accettazione: {reason}.",
                first,
                _NOTARY,
                tipo="non-accettazione",
                errore="virus" if virus else "altro",
                extended=reason,
            )
            return
        add(
            "ACCETTAZIONE",
            "",
            first,
            _NOTARY,
            tipo="accettazione",
        )
        later = first + self.deliver_delay
        after = later + self.warning_delay
        delivered = f"e' stato consegnato nella casella di destinazione.\n{body}"
        time_limit = "AVVISO DI MANCATA CONSEGNA PER SUP. TEMPO MASSIMO"
        for rcpt in recipients:
            if rcpt.lower() == self.username.lower():
                add(
                    "POSTA CERTIFICATA",
                    body,
                    later,
                    f'"Per conto di: {sender}" ',
                    tipo="posta-certificata",
                )
            what = behaviours[rcpt]
            if what == "delivered":
                add(
                    "CONSEGNA",
                    said(later, rcpt, delivered),
                    later,
                    _NOTARY,
                    tipo="avvenuta-consegna",
                    concerns=rcpt,
                )
            elif what == "not-delivered":
                text = said(later, rcpt, "si e' verificato un errore: 5.1.1 - utente inesistente.")
                add(
                    "AVVISO DI MANCATA CONSEGNA",
                    text,
                    later,
                    _NOTARY,
                    tipo="errore-consegna",
                    errore="no-dest",
                    concerns=rcpt,
                    extended="5.1.1 - utente inesistente",
                )
            elif what == "virus":
                text = said(later, rcpt, "non e' stato consegnato: rilevato un virus.")
                add(
                    "AVVISO DI MANCATA CONSEGNA PER VIRUS",
                    text,
                    later,
                    _NOTARY,
                    tipo="errore-consegna",
                    errore="virus",
                    concerns=rcpt,
                )
            elif what == "virus-detected":
                text = said(later, rcpt, "contiene un virus rilevato dal gestore di destinazione.")
                add(
                    "PROBLEMA DI SICUREZZA",
                    text,
                    later,
                    _NOTARY,
                    tipo="rilevazione-virus",
                    errore="virus",
                    concerns=rcpt,
                )
            elif what in ("delayed", "timed-out"):
                text = said(later, rcpt, "non e' stato consegnato entro le prime 12 ore.")
                add(
                    time_limit,
                    text,
                    later,
                    _NOTARY,
                    tipo="preavviso-errore-consegna",
                    errore="altro",
                    concerns=rcpt,
                )
                if what == "delayed":
                    add(
                        "CONSEGNA",
                        said(after, rcpt, delivered),
                        after,
                        _NOTARY,
                        tipo="avvenuta-consegna",
                        concerns=rcpt,
                    )
                else:
                    text = said(after, rcpt, "non e' stato consegnato entro 24 ore.")
                    add(
                        time_limit,
                        text,
                        after,
                        _NOTARY,
                        tipo="errore-consegna",
                        errore="altro",
                        concerns=rcpt,
                    )
            elif what == "taken-in-charge":
                text = said(later, rcpt, "e' stato preso in carico dal gestore di destinazione.")
                add("PRESA IN CARICO", text, later, _NOTARY, tipo="presa-in-carico", concerns=rcpt)
                add(
                    "CONSEGNA",
                    said(after, rcpt, delivered),
                    after,
                    _NOTARY,
                    tipo="avvenuta-consegna",
                    concerns=rcpt,
                )
            # "silent": nothing after the acceptance

    def eml(self, id: int) -> bytes:
        """The INBOX message ``id`` as the signed ``.eml`` a PEC mailbox holds (KeyError).

        Receipts of sends carry ``daticert.xml`` (kind, recipients, the concerned address,
        error class); ordinary messages added with `add_inbox_message` carry none.

        Examples:
            >>> fake = FakePecMassiva()
            >>> item = fake.add_inbox_message(subject="ANOMALIA MESSAGGIO: ciao")
            >>> fake.eml(item.id).startswith(b"Return-Path:")
            True
        """
        item = self._by_id[id]
        spec = PecMessageSpec(
            tipo=item.tipo or "errore",
            subject=item.original_subject or classify_tail(item.subject),
            sender=item.original_sender or item.sender,
            recipients=item.original_recipients or (self.username,),
            original_id=f"{item.code or item.id}@{self.username.partition('@')[2]}",
            when=item.date,
            errore=item.errore,
            delivery=item.concerns,
            extended=item.extended,
            ident=f"opec.fake.{item.id}@pecmassiva.com",
            variant="completa" if item.tipo == "avvenuta-consegna" else None,
            body=item.original_body,
            text=item.body or item.subject,
        )
        return pec_message_eml(spec, tag=str(item.id))

    async def receipts(self, request: web.Request) -> web.Response:
        """``GET /send/{code}``."""
        if not self._headers_ok(request):
            return self.error(401, AUTH_ERROR)
        code = request.match_info["code"]
        items = self._visible_of(code)
        if not items:
            return self.error(404, "Result empty")
        data = [
            {
                "sender": m.sender,
                "recipient": m.recipient,
                "data": email.utils.format_datetime(m.date),
                "object": m.subject,
                "message": m.body,
            }
            for m in items
        ]
        return web.json_response({"data": data, "success": True, "message": ""})

    async def delete_send(self, request: web.Request) -> web.Response:
        """``DELETE /send/{code}``."""
        if not self._headers_ok(request):
            return self.error(401, AUTH_ERROR)
        code = request.match_info["code"]
        visible = {m.id for m in self._visible_of(code)}
        if not visible:
            return self.error(404, "Email not found")
        self._discard(visible)
        return web.json_response({"success": True, "message": "Operation succefull"})

    async def inbox_list(self, request: web.Request) -> web.Response:
        """``GET /inbox?q=&page=`` (q: case-insensitive substring of the subject)."""
        if not self._headers_ok(request):
            return self.error(401, AUTH_ERROR)
        raw_page = request.query.get("page", "1")
        if not raw_page.isdigit() or int(raw_page) < 1:
            return self.error(400, "Query parameter is not valid")
        page = int(raw_page)
        q = request.query.get("q", "").lower()
        items = [m for m in self._visible() if q in m.subject.lower()]
        pages = -(-len(items) // PAGE_SIZE)
        chunk = items[(page - 1) * PAGE_SIZE : page * PAGE_SIZE]
        data = [
            {
                "sender": m.sender,
                "recipient": m.recipient,
                "date": email.utils.format_datetime(m.date),
                "object": m.subject,
                "id": m.id,
            }
            for m in chunk
        ]
        return web.json_response(
            {
                "data": data,
                "success": True,
                "message": "",
                "total": len(items),
                "page": page,
                "n_of_pages": pages,
            }
        )

    def _find(self, request: web.Request) -> InboxItem | None:
        raw = request.match_info["id"]
        if not raw.isdigit():
            return None
        item = self._by_id.get(int(raw))
        return item if item is not None and item.visible_at <= self.clock() else None

    async def inbox_get(self, request: web.Request) -> web.Response:
        """``GET /inbox/{id}`` (the body goes URL-encoded, as documented)."""
        if not self._headers_ok(request):
            return self.error(401, AUTH_ERROR)
        item = self._find(request)
        if item is None:
            return self.error(404, "Message not found")
        data = {
            "sender": item.sender,
            "recipient": item.recipient,
            "date": email.utils.format_datetime(item.date),
            "object": item.subject,
            "body": quote_plus(item.body),
        }
        return web.json_response({"data": data, "success": True, "message": ""})

    async def inbox_delete(self, request: web.Request) -> web.Response:
        """``DELETE /inbox/{id}``. The OAS documents no 404; the fake answers one anyway."""
        if not self._headers_ok(request):
            return self.error(401, AUTH_ERROR)
        item = self._find(request)
        if item is None:
            return self.error(404, "Message not found")
        self._discard({item.id})
        return web.json_response({"success": True, "message": "Message deleted"})

    async def quota(self, request: web.Request) -> web.Response:
        """``GET /quota/{mailbox}``: usage in KB of the stored messages."""
        if not self._headers_ok(request):
            return self.error(401, AUTH_ERROR)
        if request.match_info["mailbox"].upper() != "INBOX":
            return self.error(400, "An error occured: the requested mailbox might be unavailable")
        usage = self._stored // 1024
        return web.json_response(
            {"data": {"usage": usage, "limit": self.quota_limit}, "success": True, "message": ""}
        )


def classify_tail(subject: str) -> str:
    """The subject after a ``PREFIX:`` (the whole subject when there is none)."""
    head, sep, tail = subject.partition(": ")
    return tail if sep and head.isupper() else subject


def _check_behaviour(value: object) -> PecBehaviour:
    if value not in PEC_BEHAVIOURS:
        raise ValueError(f"unknown behaviour {value!r}; known: {', '.join(PEC_BEHAVIOURS)}")
    return value  # type: ignore[return-value]
