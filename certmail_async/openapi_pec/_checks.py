"""Checks on openapi.it PEC input that run before any request (and before any charge)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import date

from codicefiscale import codicefiscale as cf

from .._exceptions import ValidationError
from .._validation import check_email, check_text
from ._models import (
    SUBTYPES,
    Callback,
    CommunicationRole,
    CustomerSubtype,
    CustomerType,
    MailboxRegistration,
    MailboxType,
    RegistryCommunicationRequest,
    Sex,
)
from ._wire import DEFAULT_DOMAINS, SANDBOX_DOMAINS

__all__ = [
    "check_communication",
    "check_id",
    "check_p7m_documents",
    "check_pdf_documents",
    "check_registration",
    "check_space",
]

_ID = re.compile(r"^[0-9a-f]{24}$")
_COUNTRY = re.compile(r"^[A-Za-z]{2}$")
_PROVINCE = re.compile(r"^[A-Za-z]{2}$")
_CAP = re.compile(r"^\d{5}$")
_PHONE = re.compile(r"^\+?[0-9][0-9 ./-]{4,19}$")
_RELATIVE = re.compile(r"^\+\d+$")


def check_id(value: object, *, field: str = "id") -> str:
    """A mailbox or communication id: 24 lower-case hex characters."""
    if not isinstance(value, str) or not _ID.match(value):
        raise ValidationError(f"{value!r} is not a 24-character hex id", field=field)
    return value


def _enum(value: object, cls: type, field: str) -> None:
    if not isinstance(value, cls) or not getattr(value, "known", True):
        raise ValidationError(f"expected a known {cls.__name__}, got {value!r}", field=field)


def _tax_code(code: str, *, birth_date: date | None, sex: Sex | None, field: str) -> None:
    code = code.strip().upper()
    if not cf.is_valid(code):
        raise ValidationError(f"{code!r} is not a valid Italian tax code", field=field)
    if birth_date is None or sex is None:
        return
    decoded = cf.decode(code)
    if decoded["gender"] != sex.value:
        raise ValidationError(f"the tax code says sex {decoded['gender']}", field=field)
    if decoded["birthdate"].date() != birth_date:
        raise ValidationError(
            f"the tax code says born on {decoded['birthdate']:%d/%m/%Y}", field=field
        )


def _callback(cb: Callback | None, field: str) -> None:
    if cb is None:
        return
    if not re.match(r"^https?://[^\s/]+", cb.url):
        raise ValidationError(f"{cb.url!r} is not an http(s) URL", field=f"{field}.url")
    check_text(cb.field, field=f"{field}.field")


def check_registration(reg: MailboxRegistration, *, sandbox: bool) -> None:
    """Everything the reference lets us check about ``POST /pec`` before paying for it."""
    if not isinstance(reg, MailboxRegistration):
        raise ValidationError("expected a MailboxRegistration", field="registration")
    address = check_email(reg.address, field="address").lower()
    _enum(reg.mailbox_type, MailboxType, "mailbox_type")
    _enum(reg.customer_type, CustomerType, "customer_type")
    _enum(reg.sex, Sex, "sex")
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
    allowed = SUBTYPES.get(reg.customer_type, frozenset())
    if reg.customer_subtype is not None:
        _enum(reg.customer_subtype, CustomerSubtype, "customer_subtype")
        if reg.customer_subtype not in allowed:
            raise ValidationError(
                f"{reg.customer_subtype.value} is not a subtype of {reg.customer_type.value}",
                field="customer_subtype",
            )
    for name in (
        "first_name", "last_name", "phone", "holder_address", "holder_city",
    ):  # fmt: skip
        check_text(getattr(reg, name), field=name)
    check_email(reg.email, field="email")
    for name in ("phone", "mobile"):
        value = getattr(reg, name)
        if value is not None and not _PHONE.match(value):
            raise ValidationError(f"{value!r} is not a phone number", field=name)
    if not isinstance(reg.birth_date, date) or reg.birth_date >= date.today():
        raise ValidationError("the date of birth must be a past date", field="birth_date")
    _tax_code(reg.tax_code, birth_date=reg.birth_date, sex=reg.sex, field="tax_code")
    for name in ("birth_country", "holder_country"):
        if not _COUNTRY.match(getattr(reg, name)):
            raise ValidationError("expected a two-letter country code", field=name)
    for name in ("holder_province", "birth_province"):
        value = getattr(reg, name)
        if value is not None and not _PROVINCE.match(value):
            raise ValidationError("expected a two-letter province code", field=name)
    if not isinstance(reg.holder_postal_code, str):
        raise ValidationError(
            "the postal code must be a string (leading zeros)", field="holder_postal_code"
        )
    if reg.holder_country.upper() == "IT" and not _CAP.match(reg.holder_postal_code):
        raise ValidationError("an Italian postal code has 5 digits", field="holder_postal_code")
    if reg.id_document is not None and reg.id_document.expires_on <= reg.id_document.issued_on:
        raise ValidationError("the document expires before it was issued", field="id_document")
    _callback(reg.callback, "callback")


def check_communication(req: RegistryCommunicationRequest) -> None:
    """``POST /comunica_pec`` input."""
    if not isinstance(req, RegistryCommunicationRequest):
        raise ValidationError("expected a RegistryCommunicationRequest", field="request")
    check_email(req.address, field="address")
    check_email(req.email, field="email")
    _enum(req.role, CommunicationRole, "role")
    for name in ("first_name", "last_name", "mobile", "company_name", "company_tax_id", "city"):
        check_text(getattr(req, name), field=name)
    _tax_code(req.tax_code, birth_date=None, sex=None, field="tax_code")
    if not _PROVINCE.match(req.province):
        raise ValidationError("expected a two-letter province code", field="province")
    if not re.match(r"^(\d{11}|[A-Za-z0-9]{16})$", req.company_tax_id):
        raise ValidationError(
            "expected an 11-digit VAT number or a tax code", field="company_tax_id"
        )
    _callback(req.callback, "callback")


def check_space(value: int | str | None, *, multiple: int, field: str) -> int | str | None:
    """A size in MB (sets it) or ``"+N"`` (adds N), a positive multiple of ``multiple``."""
    if value is None:
        return None
    if isinstance(value, bool):
        raise ValidationError("expected a size, got a boolean", field=field)
    if isinstance(value, str):
        if not _RELATIVE.match(value):
            raise ValidationError(
                f"{value!r}: give an int to set the size or '+N' to add N", field=field
            )
        amount = int(value[1:])
    elif isinstance(value, int):
        amount = value
    else:
        raise ValidationError(f"expected an int or '+N', got {type(value).__name__}", field=field)
    if amount <= 0 or amount % multiple:
        raise ValidationError(f"sizes go in positive multiples of {multiple} MB", field=field)
    return value


def _documents(documents: Sequence[bytes] | bytes, *, field: str) -> tuple[bytes, ...]:
    # One document may be given bare; a bytes object is also a Sequence, so test it first.
    docs = (documents,) if isinstance(documents, bytes) else tuple(documents)
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
