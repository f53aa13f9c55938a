r"""Checks on openapi.it PEC input that run before any request (and before any charge).

Every pattern matches the whole value with ASCII classes (``re.fullmatch``, ``re.ASCII``):
a postal code ``"00042\n"``, Arabic-Indic digits or a province ``"RM\n"`` never reach a
billable call. The request models run the same field checks at construction; the calls
run them again (a field forced with ``object.__setattr__`` is caught) plus the checks that
depend on the client (sandbox domains, known mailbox types).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from typing import Any
from urllib.parse import urlsplit

from .._exceptions import ValidationError
from .._models import PHONE
from .._validation import (
    check_bool,
    check_email,
    check_header_text,
    check_optional,
    check_pattern,
    check_sequence,
    check_str,
)
from ._models import (
    SUBTYPES,
    Callback,
    CallbackMethod,
    CommunicationRole,
    CustomerSubtype,
    CustomerType,
    IdDocument,
    IdDocumentType,
    MailboxRegistration,
    MailboxType,
    RegistryCommunicationRequest,
    Sex,
    TokenLimits,
)
from ._wire import DEFAULT_DOMAINS, SANDBOX_DOMAINS

__all__ = [
    "check_callback",
    "check_communication",
    "check_communication_fields",
    "check_id",
    "check_id_document",
    "check_p7m_documents",
    "check_pdf_documents",
    "check_registration",
    "check_registration_fields",
    "check_space",
    "check_token_limits",
]

_ID = re.compile(r"[0-9a-f]{24}", re.ASCII)
_COUNTRY = re.compile(r"[A-Za-z]{2}", re.ASCII)
_PROVINCE = re.compile(r"[A-Za-z]{2}", re.ASCII)
_CAP = re.compile(r"[0-9]{5}", re.ASCII)
_POSTAL = re.compile(r"[A-Za-z0-9][A-Za-z0-9 -]{1,11}", re.ASCII)  # foreign postal codes
_TAX_CODE = re.compile(r"[A-Za-z0-9]{16}", re.ASCII)
_COMPANY_TAX_ID = re.compile(r"[0-9]{11}|[A-Za-z0-9]{16}", re.ASCII)
_RELATIVE = re.compile(r"\+[0-9]{1,9}", re.ASCII)
_TEXT_MAX = 200


def check_id(value: object, *, field: str = "id") -> str:
    """A mailbox or communication id: 24 lower-case hex characters (ASCII, whole string).

    Example:
        >>> check_id("6040e4613a716838dc4eee0e")
        '6040e4613a716838dc4eee0e'
    """
    return check_pattern(value, _ID, field=field, what="a 24-character hex id")


def _enum(value: object, cls: type, field: str) -> None:
    if not isinstance(value, cls) or not getattr(value, "known", True):
        raise ValidationError(f"expected a known {cls.__name__}, got {value!r}", field=field)


def _date(value: object, field: str) -> date:
    if isinstance(value, datetime) or not isinstance(value, date):
        raise ValidationError(f"expected a date, got {type(value).__name__}", field=field)
    return value


def _name(value: object, field: str) -> str:
    return check_header_text(value, field=field, max_len=_TEXT_MAX)


def _tax_code(code: object, *, birth_date: date | None, sex: Sex | None, field: str) -> None:
    text = check_pattern(code, _TAX_CODE, field=field, what="an Italian tax code").upper()
    from codicefiscale import codicefiscale as cf  # loaded on first use (~0.1 s)

    if not cf.is_valid(text):
        raise ValidationError(f"{text!r} is not a valid Italian tax code", field=field)
    if birth_date is None or sex is None:
        return
    decoded = cf.decode(text)
    if decoded["gender"] != sex.value:
        raise ValidationError(f"the tax code says sex {decoded['gender']}", field=field)
    if decoded["birthdate"].date() != birth_date:
        raise ValidationError(
            f"the tax code says born on {decoded['birthdate']:%d/%m/%Y}", field=field
        )


def check_callback(cb: object, *, field: str = "callback") -> None:
    """A :class:`Callback`: an absolute http(s) URL, a known method, a field name, a mapping."""
    if not isinstance(cb, Callback):
        raise ValidationError(f"expected a Callback, got {type(cb).__name__}", field=field)
    url = check_header_text(cb.url, field=f"{field}.url", max_len=2000)
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname or " " in url:
        # Not echoed: a callback URL often carries a secret (?token=...).
        raise ValidationError("expected an http(s) URL with a host", field=f"{field}.url")
    _enum(cb.method, CallbackMethod, f"{field}.method")
    check_header_text(cb.field, field=f"{field}.field", max_len=100)
    if not isinstance(cb.data, Mapping):
        raise ValidationError("expected a mapping", field=f"{field}.data")


def check_id_document(doc: object, *, prefix: str = "id_document.") -> None:
    """An :class:`IdDocument`: known type, number and issuer text, issued before it expires.

    ``prefix`` goes before the field names in errors (``""`` when the model checks itself).
    """
    if not isinstance(doc, IdDocument):
        raise ValidationError(
            f"expected an IdDocument, got {type(doc).__name__}", field=prefix.rstrip(".")
        )
    _enum(doc.type, IdDocumentType, f"{prefix}type")
    _name(doc.number, f"{prefix}number")
    _name(doc.issued_by, f"{prefix}issued_by")
    issued = _date(doc.issued_on, f"{prefix}issued_on")
    expires = _date(doc.expires_on, f"{prefix}expires_on")
    if expires <= issued:
        raise ValidationError(
            "the document expires before it was issued", field=f"{prefix}expires_on"
        )


def check_registration_fields(reg: MailboxRegistration) -> None:
    """What a :class:`MailboxRegistration` holds, field by field (the model runs it too)."""
    check_email(reg.address, field="address", ascii=True)
    _enum(reg.mailbox_type, MailboxType, "mailbox_type")
    _enum(reg.customer_type, CustomerType, "customer_type")
    _enum(reg.sex, Sex, "sex")
    if reg.customer_subtype is not None:
        _enum(reg.customer_subtype, CustomerSubtype, "customer_subtype")
        if reg.customer_subtype not in SUBTYPES.get(reg.customer_type, frozenset()):
            raise ValidationError(
                f"{reg.customer_subtype.value} is not a subtype of {reg.customer_type.value}",
                field="customer_subtype",
            )
    for name in ("first_name", "last_name", "holder_address", "holder_city"):
        _name(getattr(reg, name), name)
    for name in ("customer_subtype_other", "birth_city", "holder_name"):
        check_optional(getattr(reg, name), check_header_text, field=name, max_len=_TEXT_MAX)
    check_email(reg.email, field="email")
    check_pattern(reg.phone, PHONE, field="phone", what="a phone number")
    check_optional(reg.mobile, check_pattern, pattern=PHONE, field="mobile", what="a phone number")
    birth = _date(reg.birth_date, "birth_date")
    if birth >= date.today():
        raise ValidationError("the date of birth must be a past date", field="birth_date")
    _tax_code(reg.tax_code, birth_date=birth, sex=reg.sex, field="tax_code")
    for name in ("birth_country", "holder_country"):
        check_pattern(getattr(reg, name), _COUNTRY, field=name, what="a two-letter country code")
    check_pattern(reg.holder_province, _PROVINCE, field="holder_province", what="a province code")
    check_optional(
        reg.birth_province,
        check_pattern,
        pattern=_PROVINCE,
        field="birth_province",
        what="a province code",
    )
    if reg.holder_country.upper() == "IT":
        check_pattern(
            reg.holder_postal_code,
            _CAP,
            field="holder_postal_code",
            what="an Italian postal code (5 digits, as a string)",
        )
    else:
        check_pattern(
            reg.holder_postal_code, _POSTAL, field="holder_postal_code", what="a postal code"
        )
    if reg.holder_tax_id is not None:
        check_pattern(
            reg.holder_tax_id,
            _COMPANY_TAX_ID,
            field="holder_tax_id",
            what="a VAT number or tax code",
        )
    if reg.id_document is not None:
        check_id_document(reg.id_document)
    if reg.callback is not None:
        check_callback(reg.callback)
    check_bool(reg.auto_renew, field="auto_renew")


def check_registration(reg: MailboxRegistration, *, sandbox: bool) -> None:
    """Everything the reference lets us check about ``POST /pec`` before paying for it."""
    if not isinstance(reg, MailboxRegistration):
        raise ValidationError(
            f"expected a MailboxRegistration, got {type(reg).__name__}", field="registration"
        )
    check_registration_fields(reg)
    address = check_email(reg.address, field="address", ascii=True).lower()
    domain = address.rpartition("@")[2]
    if sandbox:
        if domain not in SANDBOX_DOMAINS:
            raise ValidationError(
                f"a sandbox mailbox must be @{' or @'.join(SANDBOX_DOMAINS)}", field="address"
            )
    elif domain in DEFAULT_DOMAINS and reg.mailbox_type.value not in DEFAULT_DOMAINS[domain]:
        raise ValidationError(
            f"@{domain} hosts {'/'.join(sorted(DEFAULT_DOMAINS[domain]))} boxes, "
            f"not {reg.mailbox_type.value}",
            field="address",
        )


def check_communication_fields(req: RegistryCommunicationRequest) -> None:
    """What a :class:`RegistryCommunicationRequest` holds (the model runs it too)."""
    check_email(req.address, field="address", ascii=True)
    check_email(req.email, field="email")
    _enum(req.role, CommunicationRole, "role")
    for name in ("first_name", "last_name", "company_name", "city"):
        _name(getattr(req, name), name)
    if req.holder is not None:
        _name(req.holder, "holder")
    check_pattern(req.mobile, PHONE, field="mobile", what="a phone number")
    _tax_code(req.tax_code, birth_date=None, sex=None, field="tax_code")
    check_pattern(req.province, _PROVINCE, field="province", what="a two-letter province code")
    check_pattern(
        req.company_tax_id,
        _COMPANY_TAX_ID,
        field="company_tax_id",
        what="an 11-digit VAT number or a tax code",
    )
    check_bool(req.administrator_pec, field="administrator_pec")
    if req.callback is not None:
        check_callback(req.callback)


def check_communication(req: RegistryCommunicationRequest) -> None:
    """``POST /comunica_pec`` input."""
    if not isinstance(req, RegistryCommunicationRequest):
        raise ValidationError(
            f"expected a RegistryCommunicationRequest, got {type(req).__name__}", field="request"
        )
    check_communication_fields(req)


def check_token_limits(limits: object, *, field: str = "limits") -> None:
    """:class:`TokenLimits`: non-negative counts, a non-negative amount, IP addresses."""
    if not isinstance(limits, TokenLimits):
        raise ValidationError(f"expected TokenLimits, got {type(limits).__name__}", field=field)
    for name in ("total_requests", "wallet_requests", "subscription_requests"):
        value: Any = getattr(limits, name)
        if value is not None and (
            isinstance(value, bool) or not isinstance(value, int) or value < 0
        ):
            raise ValidationError("expected an integer >= 0", field=f"{field}.{name}")
    amount: Any = limits.wallet_amount
    if amount is not None and (
        isinstance(amount, bool) or not isinstance(amount, int | float) or not 0 <= amount < 1e12
    ):
        raise ValidationError("expected an amount >= 0", field=f"{field}.wallet_amount")
    for i, ip in enumerate(check_sequence(limits.ip, field=f"{field}.ip")):
        where = f"{field}.ip[{i}]"
        text = check_str(ip, field=where)
        try:
            ipaddress.ip_network(text, strict=False)
        except ValueError:
            raise ValidationError(f"{text!r} is not an IP address", field=where) from None
        if not text.isascii() or text != text.strip():
            raise ValidationError(f"{text!r} is not an IP address", field=where)


def check_space(value: object, *, multiple: int, field: str) -> int | str | None:
    """A size in MB (sets it) or ``"+N"`` (adds N), a positive multiple of ``multiple``.

    Example:
        >>> check_space("+1024", multiple=1024, field="disk")
        '+1024'
    """
    if value is None:
        return None
    if isinstance(value, bool):
        raise ValidationError("expected a size, got a boolean", field=field)
    if isinstance(value, str):
        if _RELATIVE.fullmatch(value) is None:
            raise ValidationError(
                f"{value!r}: give an int to set the size or '+N' to add N", field=field
            )
        amount = int(value[1:])
    elif isinstance(value, int):
        amount = value
    else:
        raise ValidationError(f"expected an int or '+N', got {type(value).__name__}", field=field)
    if amount <= 0 or amount % multiple or amount > 10**9:
        raise ValidationError(f"sizes go in positive multiples of {multiple} MB", field=field)
    return value


def _documents(documents: Sequence[bytes] | bytes, *, field: str) -> tuple[bytes, ...]:
    # One document may be given bare; a bytes object is also a Sequence, so test it first.
    if isinstance(documents, bytes | bytearray):
        docs: tuple[Any, ...] = (bytes(documents),)
    else:
        docs = check_sequence(documents, field=field)
    if not docs:
        raise ValidationError("at least one document is required", field=field)
    for i, doc in enumerate(docs):
        if not isinstance(doc, bytes | bytearray) or not doc:
            raise ValidationError("documents are non-empty bytes", field=f"{field}[{i}]")
    return docs


def check_pdf_documents(
    documents: Sequence[bytes] | bytes, *, field: str = "documents"
) -> tuple[bytes, ...]:
    """PDF uploads (``/pec/*``): every document must be a PDF."""
    docs = _documents(documents, field=field)
    for i, doc in enumerate(docs):
        if not bytes(doc[:1024]).lstrip().startswith(b"%PDF-"):
            raise ValidationError("not a PDF (no %PDF- header)", field=f"{field}[{i}]")
    return docs


def check_p7m_documents(
    documents: Sequence[bytes] | bytes, *, field: str = "documents"
) -> tuple[bytes, ...]:
    """CAdES ``.p7m`` uploads (``/comunica_pec/{id}``): DER (ASN.1 SEQUENCE) or PEM PKCS#7."""
    docs = _documents(documents, field=field)
    for i, doc in enumerate(docs):
        if not (doc[:1] == b"\x30" or doc.lstrip().startswith(b"-----BEGIN PKCS7")):
            raise ValidationError("not a signed .p7m (CMS) file", field=f"{field}[{i}]")
    return docs
