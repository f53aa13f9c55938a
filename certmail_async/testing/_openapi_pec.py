"""A fake openapi.it PEC server with the openapi.com OAuth v2 token service beside it.

One loopback server answers both hosts' routes (they do not collide), so a test points
``OpenapiPecClient`` and ``OAuthClient`` at the same URL.

* Every PEC call needs a Bearer token issued by the fake's OAuth service whose scopes
  cover it: ``METHOD:host/path`` matched by prefix (``*`` wildcards accepted), ``host``
  being the one the fake plays (``pec.openapi.it``, or ``test.pec.openapi.it`` with
  ``sandbox=True``). Unknown or expired token: 401; scope missing: 403 (both undocumented).
* The documented statuses and ``error`` codes of ``openapi-pec.md`` §11, the envelope
  ``{data, success, message, error}``, the two "404 means empty list" answers, and
  ``text/plain`` errors for the three PDF forms.
* Strict bodies: unknown fields are refused (406), missing required ones are 428 with the
  endpoint's code. Billable calls charge ``wallet``; short of credit: 402 with the balance.
* State machines: ``in_evasione`` becomes ``evasa`` after ``approve_delay`` seconds (or
  ``documenti_errati`` with ``reject_documents``); a communication gets its code after
  ``code_delay`` and is filed ``filing_delay`` after its documents.
* ``ledger`` lists every accepted state-changing call (operation, id, amount charged).
* Callbacks (``openapi-pec.md`` §12): a mailbox or communication registered with a
  ``callback`` gets one POST per state change, in the standardised delivery format:
  ``method: "POST"`` is a form whose field ``field`` (default ``data``) holds the JSON
  payload as a string, ``method: "JSON"`` posts the JSON as the raw body. The payload is
  the updated record, with the callback (and your ``data``) in it (the real payload is
  undocumented). States advance lazily, when a request reads them, or on `advance`
  (``auto_advance=`` seconds runs it in the background). Deliveries are retried
  ``callback_retries`` times on a network error, 502 or 503, and recorded in
  `FakeOpenapiPec.callback_deliveries`. Only loopback URLs are called unless
  ``remote_callbacks=True``: a test never posts to the internet by mistake.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import fnmatch
import ipaddress
import itertools
import json
import re
import secrets
import time
from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime, timedelta
from typing import Any, ClassVar, Literal
from urllib.parse import urlsplit

import aiohttp
import attrs
from aiohttp import web

from .._pacing import RateLimit
from ._core import EMAIL, FakeProvider, b64decode

__all__ = ["CallbackDelivery", "FakeOpenapiPec", "FakeToken", "LedgerEntry"]

_ID = re.compile(r"[0-9a-f]{24}\Z", re.ASCII)
_DATE = re.compile(r"[0-9]{2}/[0-9]{2}/[0-9]{4}\Z", re.ASCII)
_SCOPE = re.compile(r"(GET|POST|PUT|PATCH|DELETE|\*):[A-Za-z0-9*.-]+/[\w*./{}-]*\Z", re.ASCII)
CLASSIC = ("STANDARD", "BRONZE", "SILVER", "GOLD")
RESTRICTED = ("DOMICILIODIGITALE", "PECMASSIVA")
TYPES = CLASSIC + RESTRICTED
RESTRICTED_MESSAGE = "this service cannot be activated on these boxes: DOMICILIODIGITALE|PECMASSIVA"
SPACE_BY_TYPE = {"STANDARD": 1024, "BRONZE": 1024, "SILVER": 2048, "GOLD": 3072,
                 "DOMICILIODIGITALE": 1024, "PECMASSIVA": 1024}  # fmt: skip
_REGISTER_REQUIRED = (
    "casella_pec", "tipo_casella", "tipo_cliente", "nome_richiedente", "cognome_richiedente",
    "email", "telefono", "codice_fiscale_richiedente", "data_nascita_richiedente",
    "sesso_richiedente", "nazione_nascita_richiedente", "indirizzo_titolare", "comune_titolare",
    "cap_titolare", "nazione_titolare", "provincia_titolare",
)  # fmt: skip
_REGISTER_OPTIONAL = (
    "sottotipo_cliente", "sottotipo_cliente_altro", "cellulare", "comune_nascita_richiedente",
    "provincia_nascita_richiedente", "denominazione_titolare", "cf_piva_titolare", "callback",
    "autorinnovo", "tipo_documento", "numero_documento", "documento_rilasciato_da",
    "data_rilascio_documento", "data_scadenza_documento",
)  # fmt: skip
_COMM_REQUIRED = (
    "casella_pec", "cf", "nome", "cognome", "qualifica", "email", "cellulare", "ragione_sociale",
    "cf_piva", "comune", "provincia",
)  # fmt: skip
_COMM_OPTIONAL = ("pec_amministratore", "callback", "titolare_casella")
_ROLES = {"AMMINISTRATORE", "COMMISSARIO_GIUDIZIARIO", "CURATORE_FALLIMENTARE",
          "LEGALE_RAPPRESENTANTE", "LIQUIDATORE", "SOCIO", "TITOLARE"}  # fmt: skip
DEFAULT_PRICES = {
    "register": 5.0,
    "space_per_gb": 2.0,
    "storage": 10.0,
    "upgrade": 4.0,
    "renew_per_year": 5.0,
    "user": 3.0,
    "communication": 8.0,
    "domain_check": 0.0,
}


@attrs.define(kw_only=True)
class FakeToken:
    """A token the fake OAuth service issued.

    Examples:
        >>> import asyncio
        >>> from certmail_async import OAuthClient
        >>> from certmail_async.testing import run_fake
        >>> async def main() -> list[list[str]]:
        ...     async with run_fake("openapi_pec") as fake, OAuthClient(
        ...         **fake.state.oauth_kwargs(), base_url=fake.url
        ...     ) as oauth:
        ...         await oauth.tokens.create(scopes=["GET:pec.openapi.it/pec"],
        ...                                   name="reports")
        ...     return [t.scopes for t in fake.state.tokens.values()
        ...             if t.name == "reports"]
        >>> asyncio.run(main())
        [['GET:pec.openapi.it/pec']]
    """

    token: str
    scopes: list[str]
    name: str | None
    created: datetime
    expire: datetime
    refresh: str
    limits: dict[str, Any] | None = None

    def detail(self) -> dict[str, Any]:
        """The ``TokenDetail`` JSON."""
        return {
            "token": self.token,
            "name": self.name,
            "scopes": self.scopes,
            "createdAt": self.created.isoformat().replace("+00:00", "Z"),
            "expireAt": self.expire.isoformat().replace("+00:00", "Z"),
            "updatedAt": self.created.isoformat().replace("+00:00", "Z"),
            "refreshToken": self.refresh,
            "limits": self.limits,
        }


@attrs.frozen(kw_only=True)
class LedgerEntry:
    """One accepted state-changing call, with what it cost the wallet.

    Examples:
        >>> import asyncio
        >>> from certmail_async.testing import run_fake
        >>> async def main() -> list[tuple[str, float]]:
        ...     async with run_fake("openapi_pec") as fake, fake.client() as client:
        ...         await client.domains.check("legalmail.it")
        ...     return [(e.operation, e.amount) for e in fake.state.ledger]
        >>> asyncio.run(main())
        [('domains.check', 0.0)]
    """

    operation: str
    id: str
    amount: float
    at: float


@attrs.frozen(kw_only=True)
class CallbackDelivery:
    """One callback the fake posted (or tried to): where, how, and what came back.

    ``status`` is the receiver's HTTP status (None when it could not be reached: then
    ``error`` says why); ``attempt`` counts from 1; ``payload`` is the JSON posted.

    Examples:
        >>> from certmail_async.testing import CallbackDelivery
        >>> sent = CallbackDelivery(url="http://127.0.0.1:8080/hook", method="JSON",
        ...                         field="data", payload={"stato": "evasa"},
        ...                         attempt=1, at=0.0, status=200)
        >>> sent.status, sent.payload["stato"]
        (200, 'evasa')
    """

    url: str
    method: str
    field: str
    payload: Any
    attempt: int
    at: float
    status: int | None = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        """Whether the receiver answered 2xx."""
        return self.status is not None and 200 <= self.status < 300


def _ok(data: Any, message: str = "") -> web.Response:
    return web.json_response({"data": data, "success": True, "message": message, "error": None})


def _pdf(title: str) -> bytes:
    return (
        b"%PDF-1.4\n1 0 obj<</Type/Catalog>>endobj\n% " + title.encode() + b"\ntrailer<<>>\n%%EOF\n"
    )


class FakeOpenapiPec(FakeProvider):
    """The fake. Configure it, then serve it with [run_fake][certmail_async.testing.run_fake].

    Request bodies: up to ``max_body_size`` bytes. openapi.it documents no size limit for
    its base64 documents, so the default is a generous choice of the fake: the base64 of
    100 MiB of files plus 1 MiB (140,858,712 bytes, about 134 MiB). A larger body gets
    HTTP 413 in the openapi envelope (``success: false``, ``error: null``; the fake's
    choice: not documented).

    Examples:
        >>> fake = FakeOpenapiPec(sandbox=True, approve_delay=0.05, wallet=50.0)
        >>> fake.host
        'test.pec.openapi.it'
    """

    name: ClassVar[str] = "openapi_pec"
    client_path: ClassVar[str] = "certmail_async.openapi_pec:OpenapiPecClient"

    def __init__(
        self,
        *,
        sandbox: bool = False,
        email: str = "account@example.com",
        api_key: str = "fake-openapi-api-key",
        wallet: float = 1000.0,
        prices: dict[str, float] | None = None,
        approve_delay: float = 0.0,
        reject_documents: bool = False,
        code_delay: float = 0.0,
        filing_delay: float = 0.0,
        token_ttl: int = 365 * 24 * 3600,
        pec_domains: Iterable[str] = (
            "legalmail.it",
            "pec.it",
            "arubapec.it",
            "pecmassiva.com",
            "domiciliodigitale.com",
            "testcert.legalmail.it",
        ),
        owned_domains: Iterable[str] = (),
        taken_addresses: Iterable[str] = (),
        rate: RateLimit | None = None,
        ledger_keep: int | None = None,
        token: str | None = None,
        auto_advance: float | None = None,
        callback_retries: int = 0,
        callback_timeout: float = 5.0,
        remote_callbacks: bool = False,
        max_body_size: int | None = None,
    ) -> None:
        super().__init__(max_body_size=max_body_size)
        self.sandbox = sandbox
        self.host = "test.pec.openapi.it" if sandbox else "pec.openapi.it"
        self.email = email
        self.api_key = api_key
        self.wallet = wallet
        self.prices = {**DEFAULT_PRICES, **(prices or {})}
        self.approve_delay = approve_delay
        self.reject_documents = reject_documents
        self.code_delay = code_delay
        self.filing_delay = filing_delay
        self.token_ttl = token_ttl
        self.pec_domains = {d.lower() for d in pec_domains}
        self.owned_domains = {d.lower() for d in owned_domains}
        self.taken_addresses = {a.lower() for a in taken_addresses}
        #: ``GET /domini_pec`` answers its documented 503/402 while this is True.
        self.domain_service_down = False
        self.tokens: dict[str, FakeToken] = {}
        self.mailboxes: dict[str, dict[str, Any]] = {}
        self.communications: dict[str, dict[str, Any]] = {}
        self.ledger: list[LedgerEntry] = []
        #: Keep only about this many latest charges in `ledger` (None: every one).
        self.ledger_keep = ledger_keep
        #: Charges made (a free domain check is one), whatever ``ledger_keep`` cuts.
        self.charges = 0
        self._internal: dict[str, dict[str, Any]] = {}
        self._uids = itertools.count(178600)
        #: Every callback delivery attempt, in order.
        self.callback_deliveries: list[CallbackDelivery] = []
        #: Run `advance` every so many seconds while served (None: states advance on reads).
        self.auto_advance = auto_advance
        self.callback_retries = callback_retries
        self.callback_timeout = callback_timeout
        self.remote_callbacks = remote_callbacks
        self._watched: dict[str, tuple[str, str]] = {}  # record id -> (kind, state notified)
        self._pending: set[asyncio.Task[Any]] = set()
        self._ticker: asyncio.Task[None] | None = None
        self.add_optional_cap(rate)
        #: A ready token with every PEC scope on ``host`` (what ``fake.client()`` uses);
        #: ``token=`` fixes its value (several worker processes, a load test's client).
        self.token = self.issue_token(self.all_scopes()).token
        if token is not None:
            ready = self.tokens.pop(self.token)
            ready.token = self.token = token
            self.tokens[token] = ready

    # -- SDK glue ----------------------------------------------------------------------

    def client_kwargs(self) -> dict[str, Any]:
        """A token with every PEC scope, and the sandbox flag."""
        return {"token": self.token, "sandbox": self.sandbox}

    def oauth_kwargs(self) -> dict[str, Any]:
        """Credentials for ``OAuthClient`` (use with ``base_url=fake.url``)."""
        return {"email": self.email, "api_key": self.api_key, "sandbox": self.sandbox}

    def all_scopes(self) -> list[str]:
        """The 12 PEC scopes of the console, on this fake's host."""
        h = self.host
        return [f"{m}:{h}/pec" for m in ("GET", "POST", "PATCH", "DELETE")] + [
            f"GET:{h}/verifica_pec", f"GET:{h}/domini_pec",
            f"GET:{h}/comunica_pec", f"POST:{h}/comunica_pec", f"PATCH:{h}/comunica_pec",
            f"GET:{h}/dominio", f"POST:{h}/dominio", f"DELETE:{h}/dominio",
        ]  # fmt: skip

    def issue_token(
        self, scopes: list[str], *, ttl: int | None = None, name: str | None = None
    ) -> FakeToken:
        """Mint a token directly (as the OAuth service would)."""
        now = datetime.now(UTC).replace(microsecond=0)
        token = FakeToken(
            token=secrets.token_hex(12),
            scopes=list(scopes),
            name=name,
            created=now,
            expire=now + timedelta(seconds=ttl if ttl and ttl > 0 else self.token_ttl),
            refresh=secrets.token_hex(16),
        )
        self.tokens[token.token] = token
        return token

    def error(self, status: int, message: str, **extra: Any) -> web.Response:
        """The openapi envelope with ``success: false`` and an ``error`` code."""
        code = extra.pop("code", None)
        return web.json_response(
            {"data": None, "success": False, "message": message, "error": code, **extra},
            status=status,
        )

    def _fail(self, status: int, code: int | None, message: str) -> web.Response:
        return self.error(status, message, code=code)

    # -- auth -----------------------------------------------------------------------

    def _bearer(self, request: web.Request) -> FakeToken | None:
        header = request.headers.get("Authorization", "")
        if not header.startswith("Bearer "):
            return None
        token = self.tokens.get(header[7:])
        if token is None or token.expire <= datetime.now(UTC):
            return None
        return token

    def _scope_error(self, request: web.Request) -> web.Response | None:
        token = self._bearer(request)
        if token is None:
            return self._fail(401, None, "Unauthorized: invalid or expired token")
        needed = f"{request.method}:{self.host}{request.path}"
        if not any(fnmatch.fnmatchcase(needed, scope + "*") for scope in token.scopes):
            return self._fail(403, None, f"Forbidden: no scope for {request.method} {request.path}")
        return None

    def _basic_ok(self, request: web.Request) -> bool:
        header = request.headers.get("Authorization", "")
        if not header.startswith("Basic "):
            return False
        try:
            decoded = base64.b64decode(header[6:]).decode()
        except (binascii.Error, UnicodeDecodeError):
            return False
        return decoded == f"{self.email}:{self.api_key}"

    # -- state ------------------------------------------------------------------------

    def _charge(
        self, operation: str, record_id: str, amount: float, code: int
    ) -> web.Response | None:
        if amount > self.wallet + 1e-9:
            return self._fail(402, code, f"Insufficient Credit in Wallet: {self.wallet:.2f}")
        self.wallet -= amount
        self.ledger.append(
            LedgerEntry(operation=operation, id=record_id, amount=amount, at=self.clock())
        )
        self.charges += 1
        keep = self.ledger_keep
        if keep is not None and len(self.ledger) > keep + max(1, keep // 10):
            del self.ledger[: len(self.ledger) - keep]
        return None

    def ledger_stats(self) -> dict[str, Any]:
        """Charges, mailboxes and what the fake holds in memory (for the metrics route)."""
        return {
            "charges": self.charges,
            "ledger_kept": len(self.ledger),
            "mailboxes": len(self.mailboxes),
            "tokens": len(self.tokens),
        }

    def _advance(self, box_id: str) -> None:
        box, inner = self.mailboxes[box_id], self._internal[box_id]
        if box["stato"] == "in_evasione" and self.clock() - inner["since"] >= self.approve_delay:
            if self.reject_documents:
                box["stato"] = "documenti_errati"
            else:
                now, today = int(time.time()), date.today()
                box["stato"] = "evasa"
                box["timestamp"]["evasione"] = now
                box["timestamp"]["scadenza"] = now + 365 * 24 * 3600
                box["data_attivazione"] = today.strftime("%d/%m/%Y")
                box["data_scadenza"] = (today + timedelta(days=365)).strftime("%d/%m/%Y")
                box["spazio_disco"] = SPACE_BY_TYPE.get(box["tipo_casella"], 1024)
                box["spazio_storico"] = 1024
                box["cod_attivazione"] = str(10174594 + len(self.ledger))
                box["uid"] = f"MA{next(self._uids)}"
            box["timestamp"]["ultima_modifica"] = int(time.time())

    def _advance_comm(self, comm_id: str) -> None:
        comm, inner = self.communications[comm_id], self._internal[comm_id]
        age = self.clock() - inner["since"]
        if comm["stato"] == "codice_in_richiesta" and age >= self.code_delay:
            comm["stato"] = "in_attesa_di_documenti"
            comm["codice_registro_imprese"] = f"RI{comm_id[:8].upper()}"
        elif comm["stato"] == "documenti_caricati" and age >= self.filing_delay:
            comm["stato"] = "comunicazione_evasa"

    def _summary(self, box: dict[str, Any]) -> dict[str, Any]:
        keys = ("id", "casella_pec", "tipo_casella", "owner", "timestamp", "data_scadenza", "stato")
        return {k: box[k] for k in keys}

    async def _body(
        self, request: web.Request, allowed: Iterable[str]
    ) -> tuple[dict[str, Any] | None, str | None]:
        try:
            body = await request.json()
        except ValueError:
            return None, "the body is not JSON"
        if not isinstance(body, dict):
            return None, "the body is not a JSON object"
        unknown = sorted(set(body) - set(allowed))
        if unknown:
            return None, f"unknown field: {unknown[0]}"
        return body, None

    def _box_or_error(
        self,
        request: web.Request,
        bad: int,
        missing: int,
        *,
        bad_status: int = 400,
        bad_message: str = "Wrong id",
        missing_message: str = "no pec found",
    ) -> tuple[dict[str, Any] | None, web.Response | None]:
        box_id = request.match_info["id"]
        if not _ID.match(box_id):
            return None, self._fail(bad_status, bad, bad_message)
        if box_id not in self.mailboxes:
            return None, self._fail(404, missing, missing_message)
        self._advance(box_id)
        return self.mailboxes[box_id], None

    def _documents(self, raw: Any, *, pdf: bool) -> list[bytes] | None:
        items = [raw] if isinstance(raw, str) else raw
        if not isinstance(items, list) or not items:
            return None
        out = []
        for item in items:
            data = b64decode(item)
            if data is None or not (data.startswith(b"%PDF-") if pdf else data[:1] == b"\x30"):
                return None
            out.append(data)
        return out

    # -- callbacks --------------------------------------------------------------------

    def _watch(self, kind: str, record: dict[str, Any]) -> None:
        """Remember a record registered with a callback, and the state it starts in."""
        callback = record.get("callback")
        if isinstance(callback, dict) and callback.get("url"):
            self._watched[record["id"]] = (kind, record["stato"])

    def _sweep(self) -> int:
        """Queue a callback for every watched record whose state changed; how many."""
        queued = 0
        for record_id, (kind, notified) in list(self._watched.items()):
            store = self.mailboxes if kind == "mailbox" else self.communications
            record = store.get(record_id)
            if record is None:
                del self._watched[record_id]
                continue
            if record["stato"] != notified:
                self._watched[record_id] = (kind, record["stato"])
                callback = record["callback"]
                payload = json.loads(json.dumps(record))  # a snapshot, as the wire sends it
                self._queue(
                    str(callback["url"]),
                    payload,
                    method=str(callback.get("method") or "POST"),
                    field=str(callback.get("field") or "data"),
                )
                queued += 1
        return queued

    def _queue(self, url: str, payload: Any, *, method: str, field: str) -> None:
        task = asyncio.get_running_loop().create_task(
            self._deliver(url, payload, method=method, field=field)
        )
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def advance(self) -> int:
        """Move every record on by the time passed and post the callbacks that are due.

        Returns how many callbacks were queued (`callbacks_idle` waits for them).

        Examples:
            >>> import asyncio
            >>> asyncio.run(FakeOpenapiPec().advance())
            0
        """
        for box_id in list(self.mailboxes):
            self._advance(box_id)
        for comm_id in list(self.communications):
            self._advance_comm(comm_id)
        return self._sweep()

    async def callbacks_idle(self, timeout: float = 30.0) -> None:
        """Wait (at most ``timeout`` seconds) until no callback delivery is in progress."""
        async with asyncio.timeout(timeout):
            while self._pending:
                await asyncio.gather(*list(self._pending), return_exceptions=True)

    async def post_callback(
        self,
        url: str,
        payload: Any,
        *,
        method: Literal["POST", "JSON"] | str = "POST",
        field: str = "data",
        headers: Mapping[str, str] | None = None,
        retries: int | None = None,
    ) -> CallbackDelivery:
        """Post one callback now, as openapi.it would (any payload: unknown shapes too).

        ``method="POST"``: a form whose ``field`` holds ``payload`` as a JSON string;
        ``"JSON"``: ``payload`` as the raw JSON body. Returns the last attempt.
        """
        return await self._deliver(
            url, payload, method=method, field=field, headers=headers, retries=retries
        )

    def _allowed(self, url: str) -> str | None:
        try:
            parts = urlsplit(url)
            host = parts.hostname
        except ValueError:
            return "not a URL"
        if parts.scheme not in ("http", "https") or not host:
            return "not an http(s) URL"
        if self.remote_callbacks or host == "localhost":
            return None
        try:
            if ipaddress.ip_address(host).is_loopback:
                return None
        except ValueError:
            pass
        return "refused: not a loopback address (remote_callbacks=False)"

    async def _deliver(
        self,
        url: str,
        payload: Any,
        *,
        method: str,
        field: str,
        headers: Mapping[str, str] | None = None,
        retries: int | None = None,
    ) -> CallbackDelivery:
        tries = 1 + max(0, min(5, self.callback_retries if retries is None else retries))
        refused = self._allowed(url)
        record = CallbackDelivery(
            url=url, method=method, field=field, payload=payload, attempt=1, at=self.clock()
        )
        if refused is not None:
            record = attrs.evolve(record, error=refused)
            self.callback_deliveries.append(record)
            return record
        text = json.dumps(payload)
        timeout = aiohttp.ClientTimeout(total=min(self.callback_timeout, 30.0))
        for attempt in range(1, tries + 1):
            status: int | None = None
            error: str | None = None
            try:
                async with aiohttp.ClientSession(timeout=timeout) as session:
                    if method.upper() == "JSON":
                        kw: dict[str, Any] = {
                            "data": text.encode(),
                            "headers": {"Content-Type": "application/json", **(headers or {})},
                        }
                    else:
                        kw = {"data": {field: text}, "headers": dict(headers or {})}
                    async with session.post(url, allow_redirects=False, **kw) as answer:
                        status = answer.status
                        await answer.read()
            except Exception as failure:  # any failure is recorded, as a real sender would
                error = f"{type(failure).__name__}: {failure}"
            record = attrs.evolve(
                record, attempt=attempt, at=self.clock(), status=status, error=error
            )
            self.callback_deliveries.append(record)
            temporary = status in (502, 503) or status is None
            if not temporary or attempt == tries:
                break
            await asyncio.sleep(min(0.05 * 2 ** (attempt - 1), 1.0))
        return record

    async def _on_startup(self, app: web.Application) -> None:
        if self.auto_advance is not None:
            self._ticker = asyncio.get_running_loop().create_task(self._tick(self.auto_advance))

    async def _on_cleanup(self, app: web.Application) -> None:
        if self._ticker is not None:
            self._ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._ticker
            self._ticker = None
        for task in list(self._pending):
            task.cancel()
        await asyncio.gather(*list(self._pending), return_exceptions=True)

    async def _tick(self, every: float) -> None:
        while True:
            await asyncio.sleep(every)
            await self.advance()

    @web.middleware
    async def _callbacks_after(self, request: web.Request, handler: Any) -> web.StreamResponse:
        response: web.StreamResponse = await handler(request)
        if self._watched:
            self._sweep()
        return response

    def build_app(self) -> web.Application:
        """The shared app, plus the callback sweep after each request and the ticker."""
        app = super().build_app()
        app.middlewares.append(self._callbacks_after)
        app.on_startup.append(self._on_startup)
        app.on_cleanup.append(self._on_cleanup)
        return app

    # -- routes -----------------------------------------------------------------------

    def add_routes(self, app: web.Application) -> None:
        """The 19 PEC routes and the OAuth v2 token routes."""
        r = app.router
        r.add_get("/domini_pec/{domain}", self.domain_check)
        r.add_get("/domini_pec/", self.domain_required)
        r.add_get("/verifica_pec/{address}", self.availability)
        r.add_get("/verifica_pec/", self.address_required)
        r.add_get("/pec", self.list_boxes)
        r.add_post("/pec", self.register)
        r.add_get("/pec/{id}", self.retrieve)
        r.add_delete("/pec/{id}", self.revoke)
        r.add_patch("/pec/{id}/attivazione", self.activate)
        r.add_patch("/pec/{id}/modifica", self.change_space)
        r.add_patch("/pec/{id}/conservazione", self.storage)
        r.add_patch("/pec/{id}/trasformazione", self.upgrade)
        r.add_get("/pec/{id}/rinnovo", self.renew)
        r.add_post("/pec/{id}/multiutenza", self.add_user)
        r.add_get("/pec/{id}/modulo_attivazione", self.form_activation)
        r.add_get("/pec/{id}/modulo_conservazione", self.form_storage)
        r.add_get("/comunica_pec", self.list_comms)
        r.add_post("/comunica_pec", self.create_comm)
        r.add_get("/comunica_pec/{id}", self.retrieve_comm)
        r.add_patch("/comunica_pec/{id}", self.upload_comm)
        r.add_get("/comunica_pec/{id}/procura_registro_imprese", self.form_power_of_attorney)
        r.add_post("/tokens", self.token_create)
        r.add_get("/tokens", self.token_list)
        r.add_get("/tokens/{token}", self.token_get)
        r.add_delete("/tokens/{token}", self.token_delete)
        r.add_patch("/tokens/{token}", self.token_refresh)
        r.add_get("/scopes", self.scopes)

    # -- domains and availability -----------------------------------------------------------

    async def domain_check(self, request: web.Request) -> web.StreamResponse:
        """``GET /domini_pec/{dominio}``: 200 for a PEC domain, 204 otherwise."""
        if (denied := self._scope_error(request)) is not None:
            return denied
        if self.domain_service_down:
            return self._fail(503, 402, "service temporarily unavailable")
        domain = request.match_info["domain"].lower()
        if "." not in domain or not re.match(r"^[a-z0-9.-]+$", domain):
            return self._fail(406, 401, "domain not valid")
        if short := self._charge("domains.check", domain, self.prices["domain_check"], 403):
            return short
        if domain in self.pec_domains or domain in self.owned_domains:
            return _ok([], f"{domain} found!")
        return web.Response(status=204)

    async def domain_required(self, request: web.Request) -> web.Response:
        """``GET /domini_pec/`` without a domain: 428/400."""
        return self._scope_error(request) or self._fail(428, 400, "domain required")

    async def address_required(self, request: web.Request) -> web.Response:
        """``GET /verifica_pec/`` without an address: 428/207."""
        return self._scope_error(request) or self._fail(428, 207, "casella_pec required")

    async def availability(self, request: web.Request) -> web.Response:
        """``GET /verifica_pec/{pec}``."""
        if (denied := self._scope_error(request)) is not None:
            return denied
        address = request.match_info["address"].lower()
        if not EMAIL.match(address):
            return self._fail(406, 208, "invalid casella_pec")
        taken = address in self.taken_addresses or any(
            b["casella_pec"] == address for b in self.mailboxes.values()
        )
        return _ok({"available": not taken})

    # -- mailboxes --------------------------------------------------------------------------

    async def list_boxes(self, request: web.Request) -> web.Response:
        """``GET /pec`` (404/200 when there are none)."""
        if (denied := self._scope_error(request)) is not None:
            return denied
        for box_id in self.mailboxes:
            self._advance(box_id)
        if not self.mailboxes:
            return self._fail(404, 200, "no pec linked to this account")
        return _ok([self._summary(b) for b in self.mailboxes.values()])

    async def register(self, request: web.Request) -> web.Response:
        """``POST /pec``."""
        if (denied := self._scope_error(request)) is not None:
            return denied
        body, problem = await self._body(request, _REGISTER_REQUIRED + _REGISTER_OPTIONAL)
        if body is None:
            return self._fail(406, None, problem or "invalid body")
        for key in _REGISTER_REQUIRED:
            if body.get(key) in (None, ""):
                return self._fail(428, 224, f"{key} required")
        kind = str(body["tipo_casella"]).upper()
        if kind not in TYPES:
            return self._fail(406, 225, "tipo_casella not valid")
        for key in (
            "data_nascita_richiedente",
            "data_rilascio_documento",
            "data_scadenza_documento",
        ):
            if key in body and not _DATE.match(str(body[key])):
                return self._fail(406, 242, f"{key}: date format must be dd/mm/yyyy")
        address = str(body["casella_pec"]).lower()
        domain = address.rpartition("@")[2]
        if self.sandbox:
            domain_ok = domain in ("testcert.legalmail.it", "test.domiciliodigitale.com")
        else:
            default = {"legalmail.it": CLASSIC, "domiciliodigitale.com": ("DOMICILIODIGITALE",),
                       "pecmassiva.com": ("PECMASSIVA",)}  # fmt: skip
            domain_ok = (
                kind in default[domain] if domain in default else domain in self.owned_domains
            )
        if not domain_ok:
            return self._fail(404, 326, "the domain does not exist in the system or is not yours")
        if address in self.taken_addresses or any(
            b["casella_pec"] == address for b in self.mailboxes.values()
        ):
            return self._fail(406, 209, "casella_pec not available")
        box_id = secrets.token_hex(12)
        if short := self._charge("mailboxes.register", box_id, self.prices["register"], 262):
            return short
        box = {k: v for k, v in body.items() if k not in ("callback",)}
        box.update(
            {
                "id": box_id,
                "casella_pec": address,
                "tipo_casella": kind,
                "nazione_nascita_richiedente": str(body["nazione_nascita_richiedente"]).upper(),
                "callback": (
                    {"field": "data", "method": "POST", "data": {}, **body["callback"]}
                    if body.get("callback")
                    else False
                ),
                "dominio": domain,
                "owner": self.email,
                "timestamp": {"registrazione": int(time.time())},
                "conservazione": False,
                "storico": False,
                "sms": False,
                "spazio_disco": 0,
                "spazio_storico": 0,
                "spazio_conservazione": 0,
                "data_attivazione": "",
                "data_scadenza": "",
                "stato": "registrata",
                "documenti_attivazione": [],
                "documenti_conservazione": [],
                "multiutenza": [],
                "autorinnovo": bool(body.get("autorinnovo", False)),
            }
        )
        self.mailboxes[box_id] = box
        self._internal[box_id] = {"since": self.clock()}
        self._watch("mailbox", box)
        return _ok(box)

    async def retrieve(self, request: web.Request) -> web.Response:
        """``GET /pec/{id}``."""
        if (denied := self._scope_error(request)) is not None:
            return denied
        box, failure = self._box_or_error(request, 201, 202)
        return failure or _ok(box)

    async def revoke(self, request: web.Request) -> web.Response:
        """``DELETE /pec/{id}``."""
        if (denied := self._scope_error(request)) is not None:
            return denied
        box, failure = self._box_or_error(request, 301, 302)
        if box is None:
            return failure or self._fail(500, None, "unreachable")
        if box["stato"] == "revocata":
            return self._fail(406, 303, "the pec has already been revoked")
        if box["stato"] != "evasa":
            return self._fail(428, 304, "you can revoke a pec only if it is active")
        box["stato"] = "revocata"
        box["timestamp"]["revoca"] = int(time.time())
        self.ledger.append(
            LedgerEntry(operation="mailboxes.revoke", id=box["id"], amount=0.0, at=self.clock())
        )
        return _ok(box)

    async def activate(self, request: web.Request) -> web.Response:
        """``PATCH /pec/{id}/attivazione``."""
        if (denied := self._scope_error(request)) is not None:
            return denied
        box, failure = self._box_or_error(request, 265, 266)
        if box is None:
            return failure or self._fail(500, None, "unreachable")
        body, problem = await self._body(request, ("documenti",))
        if body is None:
            return self._fail(406, None, problem or "invalid body")
        docs = self._documents(body.get("documenti"), pdf=True)
        if docs is None:
            return self._fail(406, 296, "documenti must be base64 PDF files")
        if box["tipo_casella"] in RESTRICTED and len(docs) != 1:
            return self._fail(406, 296, "send one PDF combining the form and the ID document")
        if box["stato"] not in ("registrata", "documenti_errati"):
            return self._fail(
                428, 267, "activation is allowed only for registrata or documenti_errati"
            )
        box["stato"] = "in_evasione"
        box["documenti_attivazione"] = [
            f"{box['id']}_{i}_attivazione.pdf" for i in range(len(docs))
        ]
        box["timestamp"]["ultima_modifica"] = int(time.time())
        self._internal[box["id"]]["since"] = self.clock()
        self.ledger.append(
            LedgerEntry(operation="mailboxes.activate", id=box["id"], amount=0.0, at=self.clock())
        )
        return _ok(box)

    @staticmethod
    def _size(raw: Any, current: int, multiple: int) -> int | str:
        """New size, or an error text."""
        text = str(raw)
        relative = text.startswith("+")
        digits = text[1:] if relative else text
        if isinstance(raw, bool) or not digits.isdigit():
            return "not a size"
        amount = int(digits)
        if amount % multiple:
            return f"the system only takes into account multiples of {multiple}"
        new = current + amount if relative else amount
        return new if new > current else "only upgrades are allowed"

    async def change_space(self, request: web.Request) -> web.Response:
        """``PATCH /pec/{id}/modifica``."""
        if (denied := self._scope_error(request)) is not None:
            return denied
        box, failure = self._box_or_error(request, 265, 266)
        if box is None:
            return failure or self._fail(500, None, "unreachable")
        body, problem = await self._body(
            request, ("spazio_disco", "spazio_storico", "spazio_conservazione")
        )
        if body is None or not body:
            return self._fail(406, 325, problem or "give at least one size")
        if box["tipo_casella"] in RESTRICTED:
            return self._fail(428, 390, RESTRICTED_MESSAGE)
        if "spazio_conservazione" in body and not box["conservazione"]:
            return self._fail(428, 282, "you must first activate the 'conservazione' service")
        new: dict[str, int] = {}
        for key, multiple in (
            ("spazio_disco", 1024),
            ("spazio_storico", 1024),
            ("spazio_conservazione", 512),
        ):
            if key in body:
                size = self._size(body[key], int(box[key]), multiple)
                if isinstance(size, str):
                    return self._fail(406, 325, size)
                new[key] = size
        grown = sum(new[k] - int(box[k]) for k in new)
        price = self.prices["space_per_gb"] * grown / 1024
        if short := self._charge("mailboxes.change_space", box["id"], price, 290):
            return short
        box.update(new)
        box["timestamp"]["ultima_modifica"] = int(time.time())
        return _ok(box)

    async def storage(self, request: web.Request) -> web.Response:
        """``PATCH /pec/{id}/conservazione``."""
        if (denied := self._scope_error(request)) is not None:
            return denied
        box, failure = self._box_or_error(request, 265, 266)
        if box is None:
            return failure or self._fail(500, None, "unreachable")
        body, problem = await self._body(request, ("documenti", "spazio_conservazione"))
        if body is None:
            return self._fail(406, None, problem or "invalid body")
        if box["tipo_casella"] in RESTRICTED:
            return self._fail(428, 390, RESTRICTED_MESSAGE)
        if box["conservazione"]:
            return self._fail(406, 293, "conservazione service is already active")
        if "documenti" not in body:
            return self._fail(428, 294, "documenti required")
        docs = self._documents(body["documenti"], pdf=True)
        if docs is None:
            return self._fail(406, 296, "documenti must be base64 PDF files")
        size = self._size(body.get("spazio_conservazione", 512), 0, 512)
        if isinstance(size, str):
            return self._fail(406, 325, size)
        if short := self._charge(
            "mailboxes.activate_storage", box["id"], self.prices["storage"], 297
        ):
            return short
        box["conservazione"] = True
        box["spazio_conservazione"] = size
        box["documenti_conservazione"] = [
            f"{box['id']}_{i}_conservazione.pdf" for i in range(len(docs))
        ]
        return _ok(box)

    async def upgrade(self, request: web.Request) -> web.Response:
        """``PATCH /pec/{id}/trasformazione``."""
        if (denied := self._scope_error(request)) is not None:
            return denied
        box, failure = self._box_or_error(request, 265, 266)
        if box is None:
            return failure or self._fail(500, None, "unreachable")
        body, problem = await self._body(request, ("tipo_casella",))
        if body is None or "tipo_casella" not in body:
            return self._fail(406, 276, problem or "tipo_casella required")
        if box["tipo_casella"] in RESTRICTED:
            return self._fail(428, 390, RESTRICTED_MESSAGE)
        if box["stato"] != "evasa":
            return self._fail(
                428, 272, "you can trasform your certified mail only if it has been processed"
            )
        target = str(body["tipo_casella"]).upper()
        current = box["tipo_casella"]
        if target not in CLASSIC or CLASSIC.index(target) <= CLASSIC.index(current):
            higher = " or ".join(CLASSIC[CLASSIC.index(current) + 1 :]) or "nothing"
            return self._fail(406, 276, f"downgrade not allowed: only {higher} allowed")
        if short := self._charge("mailboxes.upgrade", box["id"], self.prices["upgrade"], 279):
            return short
        box["tipo_casella"] = target
        box["spazio_disco"] = max(int(box["spazio_disco"]), SPACE_BY_TYPE[target])
        return _ok(box)

    async def renew(self, request: web.Request) -> web.Response:
        """``GET /pec/{id}/rinnovo?anni=`` (billable, changes state)."""
        if (denied := self._scope_error(request)) is not None:
            return denied
        box, failure = self._box_or_error(request, 201, 202)
        if box is None:
            return failure or self._fail(500, None, "unreachable")
        raw = request.query.get("anni", "1")
        if not raw.isdigit() or int(raw) < 1:
            return self._fail(400, 201, "anni must be a positive integer")
        years = int(raw)
        if box["stato"] not in ("evasa", "revocata"):
            return self._fail(428, 203, "you can renew a pec only if it is evasa or revocata")
        price = self.prices["renew_per_year"] * years
        if short := self._charge("mailboxes.renew", box["id"], price, 262):
            return short
        ends = box["timestamp"].get("scadenza") or int(time.time())
        box["timestamp"]["scadenza"] = ends + years * 365 * 24 * 3600
        box["data_scadenza"] = datetime.fromtimestamp(box["timestamp"]["scadenza"], UTC).strftime(
            "%d/%m/%Y"
        )
        box["stato"] = "evasa"
        box["timestamp"].pop("revoca", None)
        return _ok(box)

    async def add_user(self, request: web.Request) -> web.Response:
        """``POST /pec/{id}/multiutenza``."""
        if (denied := self._scope_error(request)) is not None:
            return denied
        box, failure = self._box_or_error(request, 212, 213)
        if box is None:
            return failure or self._fail(500, None, "unreachable")
        fields = ("nome", "cognome", "descrizione", "email_gestione_password")
        body, problem = await self._body(request, fields)
        if body is None or any(not body.get(k) for k in fields):
            return self._fail(
                406, None, problem or "nome, cognome, descrizione, email_gestione_password required"
            )
        if box["tipo_casella"] in RESTRICTED:
            return self._fail(428, 390, RESTRICTED_MESSAGE)
        if len(box["multiutenza"]) >= 25:
            return self._fail(406, 217, "maximum number of users reached: 25")
        if short := self._charge("mailboxes.add_user", box["id"], self.prices["user"], 220):
            return short
        box["multiutenza"].append(
            {
                **body,
                "id_utenza": f"{box['id']}_{len(box['multiutenza'])}",
                "timestamp": {"attivazione": int(time.time())},
                "userid": f"MA{next(self._uids)}",
            }
        )
        return _ok(box)

    # -- communications ---------------------------------------------------------------------

    def _comm_or_error(
        self, request: web.Request, bad: int, missing: int
    ) -> tuple[dict[str, Any] | None, web.Response | None]:
        comm_id = request.match_info["id"]
        if not _ID.match(comm_id):
            return None, self._fail(400, bad, "Wrong id")
        if comm_id not in self.communications:
            return None, self._fail(404, missing, "no request found")
        self._advance_comm(comm_id)
        return self.communications[comm_id], None

    async def list_comms(self, request: web.Request) -> web.Response:
        """``GET /comunica_pec`` (404/332 when there are none)."""
        if (denied := self._scope_error(request)) is not None:
            return denied
        if not self.communications:
            return self._fail(404, 332, "no request linked to this account")
        for comm_id in self.communications:
            self._advance_comm(comm_id)
        keys = ("id", "casella_pec", "stato", "timestamp", "owner")
        return _ok([{k: c[k] for k in keys} for c in self.communications.values()])

    async def create_comm(self, request: web.Request) -> web.Response:
        """``POST /comunica_pec`` (accepts the union of the page's and the OAS's fields)."""
        if (denied := self._scope_error(request)) is not None:
            return denied
        body, problem = await self._body(request, _COMM_REQUIRED + _COMM_OPTIONAL)
        if body is None:
            return self._fail(406, 336, problem or "invalid body")
        for key in _COMM_REQUIRED:
            if body.get(key) in (None, ""):
                return self._fail(428, 344, f"{key} required")
        if body["qualifica"] not in _ROLES or not EMAIL.match(str(body["casella_pec"])):
            return self._fail(406, 336, "qualifica or casella_pec not valid")
        comm_id = secrets.token_hex(12)
        if short := self._charge(
            "registry_communications.create", comm_id, self.prices["communication"], 351
        ):
            return short
        comm = {
            **{k: v for k, v in body.items() if k not in ("callback", "pec_amministratore")},
            "id": comm_id,
            "stato": "codice_in_richiesta",
            "codice_registro_imprese": None,
            "documenti_registro_imprese": [],
            "owner": self.email,
            "timestamp": int(time.time()),
            "callback": body.get("callback") or False,
        }
        self.communications[comm_id] = comm
        self._internal[comm_id] = {"since": self.clock()}
        self._watch("communication", comm)
        return _ok(comm)

    async def retrieve_comm(self, request: web.Request) -> web.Response:
        """``GET /comunica_pec/{id}``."""
        if (denied := self._scope_error(request)) is not None:
            return denied
        comm, failure = self._comm_or_error(request, 333, 334)
        return failure or _ok(comm)

    async def upload_comm(self, request: web.Request) -> web.Response:
        """``PATCH /comunica_pec/{id}`` (base64 .p7m documents)."""
        if (denied := self._scope_error(request)) is not None:
            return denied
        comm, failure = self._comm_or_error(request, 353, 354)
        if comm is None:
            return failure or self._fail(500, None, "unreachable")
        body, problem = await self._body(request, ("documenti",))
        if body is None:
            return self._fail(406, 355, problem or "invalid body")
        if "documenti" not in body:
            return self._fail(428, 356, "documenti required")
        docs = self._documents(body["documenti"], pdf=False)
        if docs is None:
            return self._fail(406, 355, "documenti must be base64 .p7m files")
        if comm["stato"] != "in_attesa_di_documenti":
            return self._fail(
                406, 355, "documents are accepted only in stato in_attesa_di_documenti"
            )
        comm["stato"] = "documenti_caricati"
        comm["documenti_registro_imprese"] = [
            f"{comm['id']}_{i}_registro_imprese.p7m" for i in range(len(docs))
        ]
        self._internal[comm["id"]]["since"] = self.clock()
        self.ledger.append(
            LedgerEntry(
                operation="registry_communications.upload_documents",
                id=comm["id"],
                amount=0.0,
                at=self.clock(),
            )
        )
        return _ok(comm)

    # -- forms (text/plain errors) -------------------------------------------------------------

    def _text(self, status: int, message: str) -> web.Response:
        return web.Response(status=status, text=message, content_type="text/plain")

    async def _form(
        self, request: web.Request, store: dict[str, dict[str, Any]], ready: Any
    ) -> web.Response:
        if (denied := self._scope_error(request)) is not None:
            return denied
        record_id = request.match_info["id"]
        if not _ID.match(record_id):
            return self._text(400, "Invalid id")
        if record_id not in store:
            return self._text(404, f"no request matches this id: {record_id}")
        problem = ready(record_id)
        if problem:
            return self._text(406, problem)
        return web.Response(body=_pdf(f"{request.path}"), content_type="application/pdf")

    async def form_activation(self, request: web.Request) -> web.Response:
        """``GET /pec/{id}/modulo_attivazione``."""
        return await self._form(request, self.mailboxes, lambda _i: None)

    async def form_storage(self, request: web.Request) -> web.Response:
        """``GET /pec/{id}/modulo_conservazione`` (only once the box is active)."""

        def ready(box_id: str) -> str | None:
            self._advance(box_id)
            if self.mailboxes[box_id]["stato"] != "evasa":
                return "you cannot activate conservation if you do not first activate a pec"
            return None

        return await self._form(request, self.mailboxes, ready)

    async def form_power_of_attorney(self, request: web.Request) -> web.Response:
        """``GET /comunica_pec/{id}/procura_registro_imprese`` (once the code exists)."""

        def ready(comm_id: str) -> str | None:
            self._advance_comm(comm_id)
            if self.communications[comm_id]["stato"] == "codice_in_richiesta":
                return "you cannot download this module, it doesn't exist yet"
            return None

        return await self._form(request, self.communications, ready)

    # -- OAuth v2 -----------------------------------------------------------------------------

    async def token_create(self, request: web.Request) -> web.Response:
        """``POST /tokens`` (Basic auth)."""
        if not self._basic_ok(request):
            return self._fail(401, 140, "unauthorized")
        body, problem = await self._body(request, ("scopes", "name", "ttl", "limits"))
        if body is None:
            return self._fail(422, 70, problem or "invalid body")
        scopes = body.get("scopes")
        if not isinstance(scopes, list) or not scopes:
            return self._fail(422, 70, "missing scopes array")
        if not all(isinstance(s, str) and _SCOPE.match(s) for s in scopes):
            return self._fail(422, 80, "invalid scopes format")
        hosts = {
            "pec.openapi.it",
            "test.pec.openapi.it",
            "ws.pecmassiva.com",
            "test.ws.pecmassiva.com",
        }
        if not all(s.split(":", 1)[1].split("/", 1)[0] in hosts | {"*"} for s in scopes):
            return self._fail(422, 90, "invalid scopes specified, or API not enabled")
        ttl = body.get("ttl")
        if ttl is not None and (not isinstance(ttl, int) or ttl > 365 * 24 * 3600):
            return self._fail(422, 90, "ttl must be at most one year")
        token = self.issue_token(scopes, ttl=ttl, name=body.get("name"))
        token.limits = body.get("limits")
        return _ok(token.detail())

    async def token_list(self, request: web.Request) -> web.Response:
        """``GET /tokens?limit=&skip=``."""
        if not self._basic_ok(request):
            return self._fail(401, 140, "unauthorized")
        limit = int(request.query.get("limit", "100") or 100)
        skip = int(request.query.get("skip", "0") or 0)
        items = list(self.tokens.values())[skip : skip + min(limit, 100)]
        return _ok([t.detail() for t in items])

    def _token_or_error(self, request: web.Request) -> tuple[FakeToken | None, web.Response | None]:
        token = self.tokens.get(request.match_info["token"])
        return token, None if token else self._fail(404, 120, "token not found")

    async def token_get(self, request: web.Request) -> web.Response:
        """``GET /tokens/{token}``."""
        if not self._basic_ok(request):
            return self._fail(401, 140, "unauthorized")
        token, failure = self._token_or_error(request)
        return failure or _ok(token.detail() if token else None)

    async def token_delete(self, request: web.Request) -> web.Response:
        """``DELETE /tokens/{token}``."""
        if not self._basic_ok(request):
            return self._fail(401, 140, "unauthorized")
        token, failure = self._token_or_error(request)
        if token is None:
            return failure or self._fail(500, None, "unreachable")
        del self.tokens[token.token]
        return _ok(None, "token deleted")

    async def token_refresh(self, request: web.Request) -> web.Response:
        """``PATCH /tokens/{token}`` with the refresh token as Bearer: new token, old deleted."""
        token, failure = self._token_or_error(request)
        if token is None:
            return failure or self._fail(500, None, "unreachable")
        if request.headers.get("Authorization") != f"Bearer {token.refresh}":
            return self._fail(401, 130, "unauthorized: bad refresh token")
        body, problem = await self._body(request, ())
        if body is None:
            return self._fail(422, 70, problem or "invalid body")
        del self.tokens[token.token]
        ttl = int((token.expire - token.created).total_seconds())
        fresh = self.issue_token(token.scopes, ttl=ttl, name=token.name)
        return _ok(fresh.detail())

    async def scopes(self, request: web.Request) -> web.Response:
        """``GET /scopes``."""
        if not self._basic_ok(request):
            return self._fail(401, 140, "unauthorized")
        return _ok(
            [
                {"id": f"scope{i}", "scope": s, "rateLimit": False, "description": "PEC"}
                for i, s in enumerate(self.all_scopes())
            ]
        )
