"""The input sweep: every public operation, every parameter, hostile values, zero requests.

For each operation of the three clients and ``OAuthClient`` (and each constructor and
request model) the probes are generated per parameter from its kind: ``None`` and wrong
types, control characters and header injection, trailing newlines, non-ASCII digits, dot
ids (``""``, ``"."``, ``".."``), out-of-range and non-integral numbers, a ``str`` where a
list is expected, models whose fields were forced past their constructor. Every probe must
raise :class:`ValidationError` naming the parameter (``recipients`` or ``recipients[0]``)
and leave the fake's request log unchanged.

The probe counts per client are printed (``pytest -s tests/test_input_sweep.py``) and
checked against a floor, so a parameter dropped from the sweep shows.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from datetime import date, datetime, timedelta
from typing import Any

import attrs
import pytest

from certmail_async import (
    Attachment,
    CommunicationRole,
    CustomerType,
    LegallyMailClient,
    MailboxRegistration,
    MailboxType,
    OAuthClient,
    OpenapiPecClient,
    OutgoingMessage,
    PecMassivaClient,
    RegistryCommunicationRequest,
    RetryPolicy,
    SecretStr,
    Sex,
    Signer,
    ValidationError,
)
from certmail_async.bulk._models import check_outgoing_message
from certmail_async.openapi_pec import (
    IdDocument,
    IdDocumentType,
    OAuthTokenSource,
    Token,
    TokenLimits,
)
from certmail_async.testing import RunningFake, run_fake
from tests.forced import forced

PDF = b"%PDF-1.4\n%fake\n"
P7M = b"\x30\x82\x01\x00fake-cms"
HEX_ID = "0123456789abcdef01234567"
COUNTS: dict[str, int] = {}

# -- probe values by kind ----------------------------------------------------------------

WRONG_TYPES: list[Any] = [123, 1.5, True, b"bytes", ["list"], object()]
CONTROLS = [
    "Avviso\r\nBcc: evil@x.com",
    "trailing newline\n",
    "nul\x00inside",
    "del\x7f",
    "c1\x85next-line",
    "tab\there",
    "line\u2028separator",
]
DOT_IDS = ["", ".", ".."]
ARABIC_DIGITS = "\u0660\u0661\u0662\u0663\u0664"  # Arabic-Indic 0-4: str.isdigit() is True


def header(optional: bool = False) -> list[Any]:
    """Text that goes in a mail header: required, single line, no control characters."""
    return ([] if optional else [None, "", "   "]) + WRONG_TYPES + CONTROLS


def body() -> list[Any]:
    """Body text: required str, may hold newlines."""
    return [None, "", "  ", *WRONG_TYPES]


def email(optional: bool = False, ascii: bool = False) -> list[Any]:
    """One address."""
    values: list[Any] = [] if optional else [None]
    values += [123, b"a@pec.example.it", ["a@pec.example.it"], "", "not-an-address"]
    values += ["a@pec.example.it\n", "a@pec.example.it\r\nBcc: evil@x.com", "a\x00@pec.example.it"]
    if ascii:
        values += ["jöe@pec.example.it", "a@exämple.it"]
    return values


def emails(ascii: bool = False) -> list[Any]:
    """A list of addresses: never one str, never empty."""
    values: list[Any] = [None, 123, "a@pec.example.it", b"a@pec.example.it", [], [None], [123]]
    values += [{"a@pec.example.it": 1}, ["not-an-address"], ["a@pec.example.it\n"]]
    values += [["a@pec.example.it", "A@pec.example.it"]]
    if ascii:
        values += [["jöe@pec.example.it"]]
    return values


def path_id() -> list[Any]:
    """An opaque id that goes in a URL path or query."""
    return [None, 123, b"id", *DOT_IDS, "id\n", "id\r\nX: y", "\x00", " padded "]


def hex_id() -> list[Any]:
    """openapi.it ids: 24 lower-case hex characters."""
    return [*path_id(), HEX_ID + "\n", "\u0660" * 24, HEX_ID[:-1], HEX_ID + "0", "not-an-id"]


def integer(low: int | None, high: int | None, optional: bool = False) -> list[Any]:
    """An int in range: never a bool, a float or a numeric string."""
    values: list[Any] = [] if optional else [None]
    values += ["2", 1.5, True, ARABIC_DIGITS[1], b"2"]
    if low is not None:
        values.append(low - 1)
    if high is not None:
        values.append(high + 1)
    return values


def phone(optional: bool = False) -> list[Any]:
    """A phone number: ASCII digits, whole string."""
    return ([] if optional else [None, ""]) + [
        123,
        "0548798569\n",
        "\u0660\u0665\u0664\u0668\u0667\u0669\u0668\u0665\u0666\u0669",
        "call me",
    ]


def hook() -> list[Any]:
    """``before_send``: a callable or None."""
    return [123, "print", b"x"]


# Models whose fields were forced past their constructor (hostile or careless code).
def att(**fields: Any) -> Attachment:
    return forced(Attachment(filename="a.pdf", content=PDF, mime_type="application/pdf"), **fields)


def attachments() -> list[tuple[Any, str]]:
    """Attachments: a list of Attachment, each re-checked; (value, expected field)."""
    plain: list[Any] = [None, "a.pdf", b"%PDF", 123, [None], ["a.pdf"], [{"filename": "a"}]]
    out: list[tuple[Any, str]] = [(v, "attachments") for v in plain]
    for name, value in [
        ("filename", "a\r\nb.pdf"),
        ("filename", None),
        ("filename", "../etc/passwd"),
        ("filename", ".."),
        ("mime_type", "application/pdf\n"),
        ("mime_type", None),
        ("mime_type", "binary"),
        ("content", "text"),
        ("content", None),
    ]:
        out.append(([att(**{name: value})], f"attachments[0].{name}"))
    return out


def signer(**fields: Any) -> Signer:
    return forced(Signer(name="Anna", email="anna@example.com"), **fields)


def signers() -> list[tuple[Any, str]]:
    """Signers: one Signer or a list of 1-5, each re-checked."""
    plain: list[Any] = [None, "Anna", 123, [], [None], [{"name": "A"}], [signer()] * 6]
    out: list[tuple[Any, str]] = [(v, "signers") for v in plain]
    for name, value in [
        ("name", "A\r\nBcc: evil@x.com"),
        ("name", None),
        ("email", None),
        ("email", "anna@example.com\n"),
        ("phone", "0548798569\n"),
        ("phone", 123),
    ]:
        out.append(([signer(**{name: value})], f"signers[0].{name}"))
    return out


def documents(kind: bytes) -> list[Any]:
    """Uploads: bytes or a list of bytes of the right kind."""
    return [None, "text", 123, [], [None], ["text"], [b""], {"a": kind}, [b"GIF89a"]]


def space() -> list[Any]:
    """Mailbox sizes: an int (sets) or '+N' (adds), multiples of 1024."""
    return ["+1024\n", "1024", "+" + ARABIC_DIGITS, 1.5, True, b"+1024", 1000, -1024, "+-1024"]


# -- the request models -----------------------------------------------------------------

REG_KW: dict[str, Any] = {
    "address": "provapec@testcert.legalmail.it",
    "mailbox_type": MailboxType.BRONZE,
    "customer_type": CustomerType.PRIVATE_INDIVIDUAL,
    "first_name": "Mario",
    "last_name": "Rossi",
    "email": "mario@example.com",
    "phone": "0548798569",
    "tax_code": "RSSMRA82D11H501D",
    "birth_date": date(1982, 4, 11),
    "sex": Sex.MALE,
    "birth_country": "IT",
    "holder_address": "via Verdi 20",
    "holder_city": "Roma",
    "holder_postal_code": "00042",
    "holder_country": "IT",
    "holder_province": "RM",
}
COMM_KW: dict[str, Any] = {
    "address": "azienda@pec.example.it",
    "first_name": "Mario",
    "last_name": "Rossi",
    "tax_code": "RSSMRA82D11H501D",
    "role": CommunicationRole.LEGAL_REPRESENTATIVE,
    "email": "mario@example.com",
    "mobile": "3401234567",
    "company_name": "Azienda Test Srl",
    "company_tax_id": "12345678910",
    "city": "Roma",
    "province": "RM",
}
ID_DOC_KW: dict[str, Any] = {
    "type": IdDocumentType.PASSPORT,
    "number": "YA1234567",
    "issued_by": "Questura di Roma",
    "issued_on": date(2020, 1, 1),
    "expires_on": date(2030, 1, 1),
}
ENUM_WRONG: list[Any] = [None, "BRONZE", 1]
COUNTRY = [None, 12, "", "IT\n", "Italy", ARABIC_DIGITS[:2], "I"]
PROVINCE = [None, 12, "RM\n", "Roma", "R"]
DATE = [None, "11/04/1982", datetime(1982, 4, 11), 19820411]
TAX = [None, 123, "", "RSSMRA82D11H501D\n", "RSSMRA82D11H501", "RSSMRA82D11H501X"]

REG_PARAMS: dict[str, list[Any]] = {
    "address": email(ascii=True),
    "mailbox_type": ENUM_WRONG,
    "customer_type": ENUM_WRONG,
    "first_name": header(),
    "last_name": header(),
    "email": email(),
    "phone": phone(),
    "tax_code": TAX,
    "birth_date": [*DATE, date.today() + timedelta(days=1)],
    "sex": ENUM_WRONG,
    "birth_country": COUNTRY,
    "holder_address": header(),
    "holder_city": header(),
    "holder_postal_code": [None, 42, "00042\n", "\u0660\u0660\u0660\u0664\u0662", "42", "000420"],
    "holder_country": COUNTRY,
    "holder_province": PROVINCE,
    "customer_subtype": ["SI", 1],
    "customer_subtype_other": header(optional=True),
    "mobile": phone(optional=True),
    "birth_city": header(optional=True),
    "birth_province": PROVINCE[1:],
    "holder_name": header(optional=True),
    "holder_tax_id": [123, "1234567891\n", "123"],
    "id_document": ["passport", 1],
    "callback": ["https://example.com/cb", 1],
    "auto_renew": [None, "yes", 1],
}
COMM_PARAMS: dict[str, list[Any]] = {
    "address": email(ascii=True),
    "first_name": header(),
    "last_name": header(),
    "tax_code": TAX,
    "role": ENUM_WRONG,
    "email": email(),
    "mobile": phone(),
    "company_name": header(),
    "company_tax_id": [None, 123, "12345678910\n", "1234567891", ARABIC_DIGITS * 2 + "0"],
    "city": header(),
    "province": PROVINCE,
    "administrator_pec": [None, "no", 0],
    "callback": ["https://example.com/cb", 1],
}
ID_DOC_PARAMS: dict[str, list[Any]] = {
    "type": ENUM_WRONG,
    "number": header(),
    "issued_by": header(),
    "issued_on": DATE,
    "expires_on": [*DATE, date(2019, 1, 1)],
}


def forced_models(base: Any, params: dict[str, list[Any]]) -> list[tuple[Any, str]]:
    """Copies of ``base`` with one field forced to each bad value: (model, field)."""
    out = []
    for name, values in params.items():
        for value in values:
            out.append((forced(attrs.evolve(base), **{name: value}), name))
    return out


# -- the operations ---------------------------------------------------------------------


@attrs.frozen
class Op:
    """One public operation: how to call it, its valid arguments, its parameters' probes."""

    name: str
    call: Callable[[Any, dict[str, Any]], Awaitable[Any]]
    base: dict[str, Any]
    probes: dict[str, list[Any]] = attrs.field(factory=dict)
    # (param, value, expected field) for probes whose field is not the parameter's name
    extra: list[tuple[str, Any, str]] = attrs.field(factory=list)
    operation: str | None = None  # the wire operation's name, when it differs

    @property
    def operation_name(self) -> str:
        return self.operation or self.name

    def cases(self) -> Iterable[tuple[str, Any, str]]:
        for param, values in {**self.probes, **PER_CALL}.items():
            for value in values:
                yield param, value, param
        yield from self.extra


#: Every operation also takes per-call ``timeout=`` and ``max_retries=`` (checked by the
#: transport before anything is sent).
PER_CALL: dict[str, list[Any]] = {
    "timeout": [-1, "5", float("nan"), b"5"],
    "max_retries": [-1, True, 1.5, "2"],
}


def positional(path: str, first: str) -> Callable[[Any, dict[str, Any]], Awaitable[Any]]:
    """Call ``client.<path>(args[first], **rest)``: path ids are positional."""

    def call(client: Any, args: dict[str, Any]) -> Awaitable[Any]:
        rest = dict(args)
        head = rest.pop(first)
        return _resolve(client, path)(head, **rest)  # type: ignore[no-any-return]

    return call


def keywords(path: str) -> Callable[[Any, dict[str, Any]], Awaitable[Any]]:
    """Call ``client.<path>(**args)``."""

    def call(client: Any, args: dict[str, Any]) -> Awaitable[Any]:
        return _resolve(client, path)(**args)  # type: ignore[no-any-return]

    return call


def _resolve(client: Any, path: str) -> Any:
    target = client
    for part in path.split("."):
        target = getattr(target, part)
    return target


async def drain(iterator: AsyncIterator[Any]) -> list[Any]:
    return [item async for item in iterator]


def with_pairs(name: str, pairs: list[tuple[Any, str]]) -> list[tuple[str, Any, str]]:
    return [(name, value, field) for value, field in pairs]


PEC_OPS = [
    Op(
        "sends.create",
        keywords("sends.create"),
        {"recipients": ["dest@pec.example.it"], "subject": "Diffida", "body": "<p>Gentile</p>"},
        {
            "recipients": emails(ascii=True),
            "subject": header(),
            "body": body(),
            "sender": [*email(optional=True, ascii=True), "other@pecmassiva.com"],
            "before_send": hook(),
            "last_check": hook(),
        },
        with_pairs("attachments", attachments()),
    ),
    Op(
        "sends.receipts",
        positional("sends.receipts", "code"),
        {"code": "2020082610003492"},
        {"code": path_id()},
    ),
    Op(
        "sends.delete",
        positional("sends.delete", "code"),
        {"code": "2020082610003492"},
        {"code": path_id()},
    ),
    Op(
        "inbox.page",
        keywords("inbox.page"),
        {"page": 1},
        {"page": integer(1, None), "q": header(optional=True)},
        operation="inbox.list",
    ),  # one page of GET /inbox
    Op(
        "inbox.list",
        lambda c, a: drain(c.inbox.list(**a)),
        {"q": None},
        {"q": header(optional=True)},
    ),
    Op("inbox.retrieve", positional("inbox.retrieve", "id"), {"id": 1}, {"id": integer(0, None)}),
    Op("inbox.delete", positional("inbox.delete", "id"), {"id": 1}, {"id": integer(0, None)}),
    Op(
        "quota.retrieve",
        positional("quota.retrieve", "mailbox"),
        {"mailbox": "INBOX"},
        {"mailbox": path_id()},
    ),
]

LM_OPS = [
    Op(
        "emails.send",
        keywords("emails.send"),
        {"recipients": ["anna@example.com"], "subject": "Contratto", "html": "<p>In allegato</p>"},
        {
            "recipients": emails(),
            "subject": header(),
            "html": body(),
            "reply_to": email(optional=True),
            "reply_to_name": header(optional=True),
            "before_send": hook(),
            "last_check": hook(),
        },
        with_pairs("attachments", attachments()),
    ),
    Op("emails.list", keywords("emails.list"), {"limit": 5}, {"limit": integer(1, 25)}),
    Op(
        "emails.retrieve",
        positional("emails.retrieve", "tracking_id"),
        {"tracking_id": "cm_abc123"},
        {"tracking_id": path_id()},
    ),
    Op("account.info", keywords("account.info"), {}),
    Op(
        "signatures.request",
        keywords("signatures.request"),
        {
            "signers": [Signer(name="Anna", email="anna@example.com")],
            "document": PDF,
            "document_name": "Contratto.pdf",
        },
        {
            "document": [None, "%PDF-1.4", 123, b"GIF89a", [PDF]],
            "document_name": [*header(), "dir/Contratto.pdf", ".."],
            "language": [123, "de", "it\n", True, b"it"],
        },
        with_pairs("signers", signers()),
    ),
    Op("signatures.list", keywords("signatures.list"), {"limit": 5}, {"limit": integer(1, 25)}),
    Op(
        "signatures.retrieve",
        positional("signatures.retrieve", "uuid"),
        {"uuid": "550e8400-e29b-41d4-a716-446655440000"},
        {
            "uuid": [
                *path_id(),
                "not-a-uuid",
                "550e8400-e29b-41d4-a716-446655440000\n",
                "{550e8400-e29b-41d4-a716-446655440000}",
                "550e8400_e29b_41d4_a716_446655440000",
                "\u0660" * 32,
                uuid.UUID(int=0),
            ]
        },
    ),
]

REG = MailboxRegistration(**REG_KW)
COMM = RegistryCommunicationRequest(**COMM_KW)
MAILBOX = {"mailbox": hex_id()}

OPENAPI_OPS = [
    Op(
        "domains.check",
        positional("domains.check", "domain"),
        {"domain": "legalmail.it"},
        {
            "domain": [
                *path_id(),
                "bad_domain.it",
                "legalmail.it\n",
                "a@legalmail.it",
                "legalmail",
                "exämple.it",
                "a..it",
                "-a.it",
                "a.i",
                "a.123",
                "a/b.it",
            ]
        },
    ),
    Op(
        "mailboxes.availability",
        positional("mailboxes.availability", "address"),
        {"address": "provapec@testcert.legalmail.it"},
        {"address": email(ascii=True)},
    ),
    Op("mailboxes.list", keywords("mailboxes.list"), {}),
    Op(
        "mailboxes.register",
        keywords("mailboxes.register"),
        {"registration": REG},
        {"registration": [None, "x", REG_KW, COMM]},
        with_pairs("registration", forced_models(REG, REG_PARAMS)),
    ),
    Op(
        "mailboxes.retrieve",
        positional("mailboxes.retrieve", "mailbox"),
        {"mailbox": HEX_ID},
        MAILBOX,
    ),
    Op("mailboxes.revoke", positional("mailboxes.revoke", "mailbox"), {"mailbox": HEX_ID}, MAILBOX),
    Op(
        "mailboxes.activate",
        positional("mailboxes.activate", "mailbox"),
        {"mailbox": HEX_ID, "documents": [PDF]},
        {**MAILBOX, "documents": documents(PDF)},
    ),
    Op(
        "mailboxes.change_space",
        positional("mailboxes.change_space", "mailbox"),
        {"mailbox": HEX_ID, "disk": 2048},
        {**MAILBOX, "disk": space(), "archive": space(), "storage": [*space()[:-3], 700]},
    ),
    Op(
        "mailboxes.activate_storage",
        positional("mailboxes.activate_storage", "mailbox"),
        {"mailbox": HEX_ID, "documents": [PDF]},
        {
            **MAILBOX,
            "documents": documents(PDF),
            "storage_mb": ["512", 512.0, True, "+512", 100, 0],
        },
    ),
    Op(
        "mailboxes.upgrade",
        positional("mailboxes.upgrade", "mailbox"),
        {"mailbox": HEX_ID, "mailbox_type": MailboxType.GOLD},
        {**MAILBOX, "mailbox_type": [None, "GOLD", 1, MailboxType.PEC_MASSIVA]},
    ),
    Op(
        "mailboxes.renew",
        positional("mailboxes.renew", "mailbox"),
        {"mailbox": HEX_ID},
        {**MAILBOX, "years": integer(1, 10)},
    ),
    Op(
        "mailboxes.add_user",
        positional("mailboxes.add_user", "mailbox"),
        {
            "mailbox": HEX_ID,
            "first_name": "Anna",
            "last_name": "Bianchi",
            "description": "Segreteria",
            "password_email": "anna@example.com",
        },
        {
            **MAILBOX,
            "first_name": header(),
            "last_name": header(),
            "description": header(),
            "password_email": email(),
        },
    ),
    Op("registry_communications.list", keywords("registry_communications.list"), {}),
    Op(
        "registry_communications.create",
        keywords("registry_communications.create"),
        {"request": COMM},
        {"request": [None, "x", COMM_KW, REG]},
        with_pairs("request", forced_models(COMM, COMM_PARAMS)),
    ),
    Op(
        "registry_communications.retrieve",
        positional("registry_communications.retrieve", "communication_id"),
        {"communication_id": HEX_ID},
        {"communication_id": hex_id()},
    ),
    Op(
        "registry_communications.upload_documents",
        positional("registry_communications.upload_documents", "communication_id"),
        {"communication_id": HEX_ID, "documents": [P7M]},
        {"communication_id": hex_id(), "documents": documents(P7M)},
    ),
    Op(
        "forms.activation",
        positional("forms.activation", "mailbox_id"),
        {"mailbox_id": HEX_ID},
        {"mailbox_id": hex_id()},
    ),
    Op(
        "forms.storage",
        positional("forms.storage", "mailbox_id"),
        {"mailbox_id": HEX_ID},
        {"mailbox_id": hex_id()},
    ),
    Op(
        "forms.power_of_attorney",
        positional("forms.power_of_attorney", "communication_id"),
        {"communication_id": HEX_ID},
        {"communication_id": hex_id()},
    ),
]

SCOPE = "GET:test.pec.openapi.it/pec"
OAUTH_OPS = [
    Op(
        "tokens.create",
        keywords("tokens.create"),
        {"scopes": [SCOPE]},
        {
            "scopes": [
                None,
                SCOPE,
                [],
                [None],
                [123],
                [SCOPE + "\n"],
                ["GET:pec.openapi.it/pèc"],
                ["FETCH:pec.openapi.it/pec"],
            ],
            "name": header(optional=True),
            "ttl": integer(1, 365 * 24 * 3600, optional=True),
            "limits": [
                "x",
                {"total_requests": 1},
                forced(TokenLimits(), total_requests=-1),
                forced(TokenLimits(), wallet_amount="10"),
                forced(TokenLimits(), ip=("10.0.0.1\n",)),
                forced(TokenLimits(), ip="10.0.0.1"),
            ],
        },
    ),
    Op(
        "tokens.list",
        keywords("tokens.list"),
        {"limit": 10},
        {"limit": integer(1, 100), "skip": integer(0, None)},
    ),
    Op(
        "tokens.retrieve",
        positional("tokens.retrieve", "token"),
        {"token": "6" * 24},
        {"token": path_id()},
    ),
    Op(
        "tokens.delete",
        positional("tokens.delete", "token"),
        {"token": "6" * 24},
        {"token": path_id()},
    ),
    Op(
        "tokens.refresh",
        positional("tokens.refresh", "token"),
        {"token": "6" * 24, "refresh_token": "r" * 24},
        {"token": path_id(), "refresh_token": [None, 123, "", "r\n", "r r", b"r"]},
    ),
    Op("scopes.list", keywords("scopes.list"), {}),
]


def _field_matches(field: str | None, expected: str) -> bool:
    return field is not None and (
        field == expected or field.startswith((f"{expected}[", f"{expected}."))
    )


async def sweep(client: Any, fake: RunningFake, ops: list[Op], provider: str) -> int:
    """Run every probe of ``ops``; return how many ran. Fails on the first bad probe."""
    count = 0
    for op in ops:
        # The baseline must pass validation (it may still fail at the fake): a probe then
        # fails because of its one bad parameter, not because of the others.
        try:
            await op.call(client, dict(op.base))
        except ValidationError as error:  # pragma: no cover - a broken baseline
            raise AssertionError(f"{op.name}: the baseline is invalid: {error}") from error
        except Exception:  # noqa: S110 - any answer from the fake is fine here
            pass
        for param, value, expected in op.cases():
            before = len(fake.state.requests)
            args = {**op.base, param: value}
            with pytest.raises(ValidationError) as info:
                await op.call(client, args)
            error = info.value
            where = f"{op.name}({param}={value!r})"
            assert _field_matches(error.field, expected), f"{where}: field {error.field!r}"
            if param not in PER_CALL:  # the transport's own checks carry no operation yet
                assert error.provider == provider, f"{where}: provider {error.provider!r}"
                assert error.operation == op.operation_name, f"{where}: {error.operation!r}"
            assert len(fake.state.requests) == before, f"{where} reached the wire"
            count += 1
    return count


def _client(fake: RunningFake) -> Any:
    """The fake's client, unpaced (probes never reach a gate), retrying without waiting."""
    return fake.client(rate_limit=None, retry_policy=RetryPolicy(base=0.0))


class TestOperationSweep:
    """Every operation of every client, every parameter: ValidationError, zero requests."""

    async def test_pecmassiva(self) -> None:
        """Every PEC Massiva operation refuses every probe before the wire, naming the field."""
        async with run_fake("pecmassiva") as fake, _client(fake) as c:
            COUNTS["PecMassivaClient"] = await sweep(c, fake, PEC_OPS, "pecmassiva")

    async def test_legallymail(self) -> None:
        """Every LegallyMail operation refuses every probe before the wire, naming the field."""
        async with run_fake("legallymail") as fake, _client(fake) as c:
            COUNTS["LegallyMailClient"] = await sweep(c, fake, LM_OPS, "legallymail")

    async def test_openapi_pec(self) -> None:
        """Every openapi.it operation refuses every probe before the wire (and any charge)."""
        async with run_fake("openapi_pec", sandbox=True) as fake, _client(fake) as c:
            COUNTS["OpenapiPecClient"] = await sweep(c, fake, OPENAPI_OPS, "openapi_pec")

    async def test_oauth(self) -> None:
        """Every OAuthClient operation refuses every probe before the wire, naming the field."""
        async with run_fake("openapi_pec", sandbox=True) as fake:
            oauth = OAuthClient(
                base_url=fake.url, retry_policy=RetryPolicy(base=0.0), **fake.state.oauth_kwargs()
            )
            async with oauth:
                COUNTS["OAuthClient"] = await sweep(oauth, fake, OAUTH_OPS, "openapi_oauth")


# -- constructors and models --------------------------------------------------------------

SECRET = [None, 123, "", b"secret", "line\r\nbreak", "nul\x00"]
TOKEN = [*SECRET, "has blank", "tab\there", "èèè"]
BOOL = [None, "yes", 1, 0.0]
COMMON_CTOR: dict[str, list[Any]] = {
    "base_url": ["ftp://x", 123, "not a url"],
    "timeout": [-1, "5", float("nan")],
    "max_retries": [-1, True, 1.5, "2"],
    "retry_policy": [None, 2, "default"],
}
CTORS: list[tuple[type, dict[str, Any], dict[str, list[Any]]]] = [
    (
        PecMassivaClient,
        {"token": "tok-1", "username": "box@pecmassiva.com", "password": 'p è"+%&'},
        {
            "token": TOKEN,
            "username": header(),
            "password": SECRET,
            "sandbox": BOOL,
            "rate_limit": ["1/s", 1],
            "max_recipients": ["10", 0, True, 1.5, -1],
            "max_message_bytes": ["1", 0, True, 1.5],
            **COMMON_CTOR,
        },
    ),
    (
        LegallyMailClient,
        {"token": "tok-1"},
        {
            "token": TOKEN,
            "rate_limit": ["10/min", 1],
            "max_recipients": [None, "10", 0, True, 1.5],
            "max_document_bytes": ["1", 0, True],
            "timezone": ["Europe/Rome", 1],
            "token_placement": [None, "cookie", "header\n", 1],
            "egress": [None, 1, "", "a\nb"],
            **COMMON_CTOR,
        },
    ),
    (
        OpenapiPecClient,
        {"token": "tok-1"},
        {"token": TOKEN, "sandbox": BOOL, "rate_limit": ["x", 1], **COMMON_CTOR},
    ),
    (
        OAuthClient,
        {"email": "me@example.com", "api_key": "key"},
        {"email": email(), "api_key": SECRET, "sandbox": BOOL, **COMMON_CTOR},
    ),
]
MODELS: list[tuple[type, dict[str, Any], dict[str, list[Any]]]] = [
    (
        Attachment,
        {"filename": "fattura.pdf", "content": PDF, "mime_type": "application/pdf"},
        {
            "filename": [*header(), "../x.pdf", "a/b", "a\\b", ".", "..", " x.pdf"],
            "content": [None, "text", 123, ["x"]],
            "mime_type": [None, 123, "", "application/pdf\n", "binary", "a/b c", "tèxt/plain"],
        },
    ),
    (
        Signer,
        {"name": "Anna", "email": "anna@example.com"},
        {"name": header(), "email": email(), "phone": phone(optional=True)},
    ),
    (
        OutgoingMessage,
        {"provider": "legallymail", "recipients": ["a@example.com"], "subject": "s", "body": "b"},
        {
            "provider": [None, "openapi_pec", "LEGALLYMAIL", 1],
            "recipients": [None, "a@example.com", b"a@example.com", 123, [], [None], [1]],
            "subject": header(),
            "body": [None, 123, b"b"],
            "attachments": [None, "a.pdf", 123, [None], ["a.pdf"]],
            "key": [123, b"k", "INV-1\n", "INV\r\n2"],
            "sender": [123, b"s", "", "1", "not an address", "box@pecmassiva.com\r\n"],
        },
    ),
    (MailboxRegistration, REG_KW, REG_PARAMS),
    (RegistryCommunicationRequest, COMM_KW, COMM_PARAMS),
    (IdDocument, ID_DOC_KW, ID_DOC_PARAMS),
]


def construct_probes(cls: type, base: dict[str, Any], params: dict[str, list[Any]]) -> int:
    """Construct ``cls`` with each bad value; each must be a ValidationError naming it."""
    count = 0
    for param, values in params.items():
        for value in values:
            with pytest.raises(ValidationError) as info:
                cls(**{**base, param: value})
            where = f"{cls.__name__}({param}={value!r})"
            assert _field_matches(info.value.field, param), f"{where}: {info.value.field!r}"
            count += 1
    return count


class TestConstructorSweep:
    """Client constructors refuse every bad parameter before anything is built or sent."""

    async def test_client_constructors(self) -> None:
        """Each client's own parameters: ValidationError naming the field, nothing sent."""
        async with run_fake("openapi_pec") as fake:
            for cls, base, params in CTORS:
                base = {**base, "base_url": fake.url}
                COUNTS[f"{cls.__name__}()"] = construct_probes(cls, base, params)
                async with cls(**base):  # the baseline itself is valid
                    pass
            assert fake.state.requests == []


class TestModelSweep:
    """Models check their fields at construction; forced fields are caught at use."""

    def test_model_constructors(self) -> None:
        """Attachment, Signer, OutgoingMessage and the openapi.it request models."""
        for cls, base, params in MODELS:
            cls(**base)  # the baseline is valid
            COUNTS[f"{cls.__name__}()"] = construct_probes(cls, base, params)

    def test_check_outgoing_message_catches_forced_fields(self) -> None:
        """A dict, a non-message or a message with a forced field fails, naming the field."""
        good = OutgoingMessage(
            provider="pecmassiva", recipients=["a@pec.example.it"], subject="s", body="b"
        )
        assert check_outgoing_message(good) is good
        cases: list[tuple[Any, str]] = [
            ({"provider": "pecmassiva"}, "message"),
            (None, "message"),
            ("message", "message"),
        ]
        for name, value in [
            ("provider", "openapi_pec"),
            ("recipients", "a@pec.example.it"),
            ("recipients", ["a@pec.example.it"]),
            ("recipients", ()),
            ("recipients", (None,)),
            ("subject", "s\r\nBcc: evil@x.com"),
            ("subject", None),
            ("body", None),
            ("attachments", [Attachment(filename="a.pdf", content=PDF)]),
            ("attachments", (att(filename="a\nb"),)),
            ("key", 12),
            ("sender", 12),
        ]:
            cases.append((forced(attrs.evolve(good), **{name: value}), name))
        for value, field in cases:
            with pytest.raises(ValidationError) as info:
                check_outgoing_message(value)
            assert _field_matches(info.value.field, field), (value, info.value.field)
        COUNTS["check_outgoing_message"] = len(cases)


class TestOtherPublicConstructors:
    """OAuthTokenSource and Attachment.from_path refuse bad parameters, naming them."""

    async def test_token_source(self) -> None:
        """The OAuth client, the token and refresh_before are type- and range-checked."""
        token = Token(token=SecretStr("656d1e2f8b3c2a001f7e4a12"))
        async with OAuthClient(email="me@example.com", api_key="key") as oauth:
            OAuthTokenSource(oauth, token)  # the baseline is valid
            cases: list[tuple[tuple[Any, ...], dict[str, Any], str]] = [
                ((None, token), {}, "oauth"),
                (("oauth", token), {}, "oauth"),
                ((oauth, None), {}, "token"),
                ((oauth, "656d1e2f8b3c2a001f7e4a12"), {}, "token"),
                ((oauth, Token(token=SecretStr("tok\n"))), {}, "token"),
                ((oauth, token), {"refresh_before": "300"}, "refresh_before"),
                ((oauth, token), {"refresh_before": True}, "refresh_before"),
                ((oauth, token), {"refresh_before": -1}, "refresh_before"),
                ((oauth, token), {"refresh_before": float("nan")}, "refresh_before"),
            ]
            for args, kwargs, field in cases:
                with pytest.raises(ValidationError) as info:
                    OAuthTokenSource(*args, **kwargs)
                assert info.value.field == field, (args, kwargs)
        COUNTS["OAuthTokenSource()"] = len(cases)

    @pytest.mark.parametrize("path", [None, 123, b"/tmp/x"])
    def test_attachment_from_path(self, path: Any) -> None:
        """A path that is not a str or os.PathLike is a ValidationError, not a TypeError."""
        with pytest.raises(ValidationError) as info:
            Attachment.from_path(path)
        assert info.value.field == "path"


class TestSweepCounts:
    """The sweep is as wide as it claims (floors per client; the counts are printed)."""

    async def test_counts(self) -> None:
        """Run the whole sweep once more and print the number of probes per client."""
        await TestOperationSweep().test_pecmassiva()
        await TestOperationSweep().test_legallymail()
        await TestOperationSweep().test_openapi_pec()
        await TestOperationSweep().test_oauth()
        await TestConstructorSweep().test_client_constructors()
        TestModelSweep().test_model_constructors()
        TestModelSweep().test_check_outgoing_message_catches_forced_fields()
        await TestOtherPublicConstructors().test_token_source()
        for name, count in sorted(COUNTS.items()):
            print(f"input sweep: {name:32} {count:5} probes")
        print(f"input sweep: {'total':32} {sum(COUNTS.values()):5} probes")
        floors = {
            "PecMassivaClient": 150,
            "LegallyMailClient": 150,
            "OpenapiPecClient": 400,
            "OAuthClient": 80,
        }
        for name, floor in floors.items():
            assert COUNTS[name] >= floor, (name, COUNTS[name])
