"""openapi.it PEC models: mailboxes, Business Register communications, OAuth tokens.

Enums carry the wire strings as values (``MailboxState.ACTIVE.value == "evasa"``); the
state enums are open, so an undocumented state is kept rather than refused.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from typing import Any

import attrs

from .._models import OpenEnum
from .._types import SecretStr

__all__ = [
    "Callback",
    "CallbackMethod",
    "CommunicationRole",
    "CommunicationState",
    "CustomerSubtype",
    "CustomerType",
    "DomainCheck",
    "IdDocument",
    "IdDocumentType",
    "Mailbox",
    "MailboxEvents",
    "MailboxRegistration",
    "MailboxState",
    "MailboxSummary",
    "MailboxType",
    "MailboxUser",
    "RegistryCommunication",
    "RegistryCommunicationRequest",
    "RegistryCommunicationSummary",
    "Scope",
    "Sex",
    "Token",
    "TokenLimits",
]


class MailboxState(OpenEnum):
    """``Casella.stato``; the state machine is in ``docs/providers/openapi-pec.md``.

    Examples:
        >>> MailboxState("evasa")
        <MailboxState.ACTIVE: 'evasa'>
    """

    REGISTERED = "registrata"
    PROCESSING = "in_evasione"
    ACTIVE = "evasa"
    REVOKED = "revocata"
    CLOSED = "chiusa"
    DOCUMENTS_REJECTED = "documenti_errati"
    REGISTRATION_CANCELLED = "registrazione_annullata"


class MailboxType(OpenEnum):
    """``tipo_casella``. STANDARD < BRONZE < SILVER < GOLD may be upgraded (never down).

    Examples:
        >>> MailboxType("bronze")  # the vendor's sample is lower case
        <MailboxType.BRONZE: 'BRONZE'>
        >>> MailboxType.SILVER.rank > MailboxType.BRONZE.rank
        True
        >>> MailboxType.PEC_MASSIVA.restricted  # no resize, upgrade, storage or users
        True
    """

    STANDARD = "STANDARD"
    BRONZE = "BRONZE"
    SILVER = "SILVER"
    GOLD = "GOLD"
    DIGITAL_DOMICILE = "DOMICILIODIGITALE"
    PEC_MASSIVA = "PECMASSIVA"

    @property
    def rank(self) -> int | None:
        """Upgrade order for the four classic types; None for the others."""
        order = ("STANDARD", "BRONZE", "SILVER", "GOLD")
        return order.index(self.value) if self.value in order else None

    @property
    def restricted(self) -> bool:
        """DOMICILIODIGITALE and PECMASSIVA boxes refuse resize, upgrade, storage, users."""
        return self in (MailboxType.DIGITAL_DOMICILE, MailboxType.PEC_MASSIVA)

    @classmethod
    def _missing_(cls, value: object) -> Any:
        # The vendor sample sends lower case ("bronze"); the service upper-cases it.
        if isinstance(value, str) and value.upper() in cls._value2member_map_:
            return cls._value2member_map_[value.upper()]
        return super()._missing_(value)


class CustomerType(OpenEnum):
    """``tipo_cliente``: who holds the mailbox (business, professional, citizen...).

    Examples:
        >>> CustomerType("PV")
        <CustomerType.PRIVATE_INDIVIDUAL: 'PV'>
        >>> CustomerType.BUSINESS.value
        'IM'
    """

    BUSINESS = "IM"
    PROFESSIONAL = "PS"
    LOCAL_PUBLIC_ADMINISTRATION = "PL"
    CENTRAL_PUBLIC_ADMINISTRATION = "PC"
    ASSOCIATION = "A"
    PRIVATE_INDIVIDUAL = "PV"
    OTHER = "X"


class CustomerSubtype(OpenEnum):
    """``sottotipo_cliente``.

    Which fit which [CustomerType][certmail_async.CustomerType] is in ``SUBTYPES``.

    Examples:
        >>> CustomerSubtype("PA")
        <CustomerSubtype.LAWYER: 'PA'>
    """

    BUSINESS_SERVICES = "SI"
    INFORMATION_TECHNOLOGY = "IN"
    COMMERCE = "CM"
    TELECOMMUNICATIONS = "TE"
    PUBLISHING = "ES"
    MECHANICAL_ELECTRICAL = "ME"
    FOOD = "AL"
    CHEMICAL_PHARMACEUTICAL = "CF"
    CONSTRUCTION = "ED"
    TEXTILES_FASHION = "TM"
    FURNITURE = "MA"
    HOTELS_RESTAURANTS = "AR"
    TRANSPORT_LOGISTICS = "TL"
    FINANCE = "FI"
    OTHER = "X"
    ACCOUNTANT = "PC"
    BOOKKEEPER = "PR"
    NOTARY = "PN"
    TAX_ADVISER = "PT"
    LAWYER = "PA"
    LABOUR_CONSULTANT = "PL"
    REGION = "LR"
    PROVINCE = "LP"
    MUNICIPALITY = "LC"
    MOUNTAIN_COMMUNITY = "LM"
    HEALTH_AUTHORITY = "LA"
    CHAMBER_OF_COMMERCE = "LI"


_S = CustomerSubtype
SUBTYPES: Mapping[CustomerType, frozenset[CustomerSubtype]] = {
    CustomerType.BUSINESS: frozenset(
        {
            _S.BUSINESS_SERVICES,
            _S.INFORMATION_TECHNOLOGY,
            _S.COMMERCE,
            _S.TELECOMMUNICATIONS,
            _S.PUBLISHING,
            _S.MECHANICAL_ELECTRICAL,
            _S.FOOD,
            _S.CHEMICAL_PHARMACEUTICAL,
            _S.CONSTRUCTION,
            _S.TEXTILES_FASHION,
            _S.FURNITURE,
            _S.HOTELS_RESTAURANTS,
            _S.TRANSPORT_LOGISTICS,
            _S.FINANCE,
            _S.OTHER,
        }
    ),
    CustomerType.PROFESSIONAL: frozenset(
        {
            _S.ACCOUNTANT,
            _S.BOOKKEEPER,
            _S.NOTARY,
            _S.TAX_ADVISER,
            _S.LAWYER,
            _S.LABOUR_CONSULTANT,
            _S.OTHER,
        }
    ),
    CustomerType.LOCAL_PUBLIC_ADMINISTRATION: frozenset(
        {
            _S.REGION,
            _S.PROVINCE,
            _S.MUNICIPALITY,
            _S.MOUNTAIN_COMMUNITY,
            _S.HEALTH_AUTHORITY,
            _S.CHAMBER_OF_COMMERCE,
            _S.OTHER,
        }
    ),
}
"""The subtypes each customer type admits (only IM, PS and PL have any).

Examples:
    >>> from certmail_async import CustomerSubtype, CustomerType
    >>> CustomerSubtype.LAWYER in SUBTYPES[CustomerType.PROFESSIONAL]
    True
    >>> CustomerType.PRIVATE_INDIVIDUAL in SUBTYPES
    False
"""


class Sex(OpenEnum):
    """``sesso_richiedente``: the applicant's sex, as the tax code encodes it.

    Examples:
        >>> Sex("F")
        <Sex.FEMALE: 'F'>
    """

    MALE = "M"
    FEMALE = "F"


class IdDocumentType(OpenEnum):
    """``tipo_documento``: the kind of identity document.

    Examples:
        >>> IdDocumentType("PATENTE")
        <IdDocumentType.DRIVING_LICENCE: 'PATENTE'>
    """

    IDENTITY_CARD = "CARTA_D_IDENTITA"
    DRIVING_LICENCE = "PATENTE"
    PASSPORT = "PASSAPORTO"


class CallbackMethod(OpenEnum):
    """How openapi.it delivers a callback: form POST (this API's default) or raw JSON.

    Examples:
        >>> CallbackMethod.JSON.value
        'JSON'
    """

    POST = "POST"
    JSON = "JSON"


class CommunicationState(OpenEnum):
    """``RichiestaComunicazionePec.stato``: where a Business Register filing is.

    Examples:
        >>> CommunicationState("documenti_caricati")
        <CommunicationState.DOCUMENTS_UPLOADED: 'documenti_caricati'>
        >>> CommunicationState("sospesa").known  # an undocumented state is kept
        False
    """

    CODE_REQUESTED = "codice_in_richiesta"
    AWAITING_DOCUMENTS = "in_attesa_di_documenti"
    DOCUMENTS_UPLOADED = "documenti_caricati"
    COMPLETED = "comunicazione_evasa"


class CommunicationRole(OpenEnum):
    """``qualifica``: the signer's role in the company.

    Examples:
        >>> CommunicationRole.LEGAL_REPRESENTATIVE.value
        'LEGALE_RAPPRESENTANTE'
    """

    ADMINISTRATOR = "AMMINISTRATORE"
    JUDICIAL_COMMISSIONER = "COMMISSARIO_GIUDIZIARIO"
    BANKRUPTCY_TRUSTEE = "CURATORE_FALLIMENTARE"
    LEGAL_REPRESENTATIVE = "LEGALE_RAPPRESENTANTE"
    LIQUIDATOR = "LIQUIDATORE"
    PARTNER = "SOCIO"
    OWNER = "TITOLARE"


@attrs.frozen(kw_only=True)
class Callback:
    """Where openapi.it notifies state changes (legacy form: url, method, field, data).

    Put a hard-to-guess secret in the URL or in ``data``: callbacks are not signed.

    Examples:
        >>> import secrets
        >>> secret = secrets.token_urlsafe(32)
        >>> hook = Callback(url=f"https://example.com/pec-events?secret={secret}",
        ...                 method=CallbackMethod.JSON)
        >>> hook.method.value, hook.field
        ('JSON', 'data')
    """

    url: str
    method: CallbackMethod = CallbackMethod.POST
    field: str = "data"
    data: Mapping[str, Any] = attrs.field(factory=dict)


@attrs.frozen(kw_only=True)
class IdDocument:
    """The applicant's identity document (OAS-only fields of the registration).

    Checked at construction: a known type, number and issuer without control characters,
    ``issued_on`` before ``expires_on`` (both ``date``).

    Examples:
        >>> from datetime import date
        >>> passport = IdDocument(
        ...     type=IdDocumentType.PASSPORT, number="YA1234567",
        ...     issued_by="Questura di Roma",
        ...     issued_on=date(2020, 1, 1), expires_on=date(2030, 1, 1))
        >>> passport.type.value
        'PASSAPORTO'
    """

    type: IdDocumentType
    number: str
    issued_by: str
    issued_on: date
    expires_on: date

    def __attrs_post_init__(self) -> None:
        from ._checks import check_id_document  # late: the checks build on these models

        check_id_document(self, prefix="")


@attrs.frozen(kw_only=True)
class MailboxRegistration:
    """Everything ``mailboxes.register`` needs; validated before the request.

    The constructor checks every field (a [ValidationError][certmail_async.ValidationError] naming
    it): types, whole-string ASCII patterns (postal code ``"00042"`` as a string, province
    and country codes, phone numbers), no control characters in names and addresses, the
    tax code against the birth date and sex. ``register`` checks again, plus the domain
    rules of the target (sandbox or production).

    Examples:
        >>> from datetime import date
        >>> reg = MailboxRegistration(
        ...     address="provapec@testcert.legalmail.it",
        ...     mailbox_type=MailboxType.BRONZE,
        ...     customer_type=CustomerType.PRIVATE_INDIVIDUAL, first_name="Mario",
        ...     last_name="Rossi", email="mario@example.com", phone="0548798569",
        ...     tax_code="RSSMRA82D11H501D", birth_date=date(1982, 4, 11), sex=Sex.MALE,
        ...     birth_country="IT", holder_address="via Verdi 20", holder_city="Roma",
        ...     holder_postal_code="00042", holder_country="IT", holder_province="RM")
        >>> reg.mailbox_type.value
        'BRONZE'
        >>> import attrs
        >>> attrs.evolve(reg, holder_postal_code="42")  # checked again
        Traceback (most recent call last):
        ...
        certmail_async._exceptions.ValidationError: holder_postal_code: ...
    """

    address: str
    mailbox_type: MailboxType
    customer_type: CustomerType
    first_name: str
    last_name: str
    email: str
    phone: str
    tax_code: str
    birth_date: date
    sex: Sex
    birth_country: str
    holder_address: str
    holder_city: str
    holder_postal_code: str
    holder_country: str
    holder_province: str
    customer_subtype: CustomerSubtype | None = None
    customer_subtype_other: str | None = None
    mobile: str | None = None
    birth_city: str | None = None
    birth_province: str | None = None
    holder_name: str | None = None
    holder_tax_id: str | None = None
    id_document: IdDocument | None = None
    callback: Callback | None = None
    auto_renew: bool = False

    def __attrs_post_init__(self) -> None:
        from ._checks import check_registration_fields  # late: the checks build on the models

        check_registration_fields(self)


@attrs.frozen(kw_only=True)
class MailboxEvents:
    """When things happened to a mailbox (each present once it happened).

    Examples:
        >>> from datetime import datetime, timezone
        >>> events = MailboxEvents(
        ...     registered=datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc))
        >>> events.processed is None  # not activated yet
        True
    """

    registered: datetime | None = None
    last_modified: datetime | None = None
    processed: datetime | None = None
    expires: datetime | None = None
    revoked: datetime | None = None


@attrs.frozen(kw_only=True)
class MailboxUser:
    """A user added with ``mailboxes.add_user`` (``multiutenza``).

    Examples:
        >>> user = MailboxUser(first_name="Anna", last_name="Bianchi",
        ...                    description="segreteria",
        ...                    password_email="anna@example.com")
        >>> user.description
        'segreteria'
    """

    first_name: str
    last_name: str
    description: str
    password_email: str
    user_id: str | None = None
    uid: str | None = None
    activated: datetime | None = None


@attrs.frozen(kw_only=True)
class MailboxSummary:
    """One item of ``mailboxes.list``.

    Examples:
        >>> box = MailboxSummary(id="bf16eca0", address="mario.rossi@legalmail.it",
        ...                      state=MailboxState.ACTIVE)
        >>> box.state.value
        'evasa'
    """

    id: str
    address: str
    state: MailboxState
    mailbox_type: MailboxType | None = None
    owner: str | None = None
    events: MailboxEvents = MailboxEvents()
    expiry_date: date | None = None


@attrs.frozen(kw_only=True)
class Mailbox:
    """A full mailbox record (``Casella``). Sizes are in MB as the provider reports them.

    The record echoes the registration too (the applicant, the holder and the identity
    document, named as in [MailboxRegistration][certmail_async.MailboxRegistration]); each
    echoed field is ``None`` when the provider leaves it out, and text fields keep the
    provider's ``""``.

    Examples:
        >>> box = Mailbox(id="bf16eca0", address="mario.rossi@legalmail.it",
        ...               state=MailboxState("in_evasione"),
        ...               mailbox_type=MailboxType.BRONZE, disk_mb=1024)
        >>> box.state.name, box.disk_mb, box.users
        ('PROCESSING', 1024, ())
    """

    id: str
    address: str
    state: MailboxState
    mailbox_type: MailboxType | None = None
    customer_type: CustomerType | None = None
    owner: str | None = None
    domain: str | None = None
    events: MailboxEvents = MailboxEvents()
    activation_code: str | None = None
    uid: str | None = None
    legal_storage: bool = False
    archive: bool = False
    sms: bool = False
    disk_mb: int = 0
    archive_mb: int = 0
    storage_mb: int = 0
    activation_date: date | None = None
    expiry_date: date | None = None
    description: str | None = None
    activation_documents: tuple[str, ...] = ()
    storage_documents: tuple[str, ...] = ()
    users: tuple[MailboxUser, ...] = ()
    auto_renew: bool = False
    callback: Callback | None = None
    applicant_first_name: str | None = None
    applicant_last_name: str | None = None
    applicant_email: str | None = None
    customer_subtype: CustomerSubtype | None = None
    customer_subtype_other: str | None = None
    phone: str | None = None
    mobile: str | None = None
    applicant_tax_code: str | None = None
    applicant_birth_date: date | None = None
    applicant_sex: Sex | None = None
    applicant_birth_country: str | None = None
    applicant_birth_city: str | None = None
    applicant_birth_province: str | None = None
    holder_name: str | None = None
    holder_tax_id: str | None = None
    holder_address: str | None = None
    holder_city: str | None = None
    holder_postal_code: str | None = None
    holder_country: str | None = None
    holder_province: str | None = None
    id_document_type: IdDocumentType | None = None
    id_document_number: str | None = None
    id_document_issued_by: str | None = None
    id_document_issued_on: date | None = None
    id_document_expires_on: date | None = None


@attrs.frozen(kw_only=True)
class DomainCheck:
    """``domains.check``: whether a domain can send or receive PEC.

    The provider answers 200 with a message such as "legalmail.it found!" for a PEC domain,
    and 204 (no content) otherwise; ``details`` keeps the ``data`` array verbatim.

    Examples:
        >>> check = DomainCheck(domain="legalmail.it", pec_enabled=True,
        ...                     message="legalmail.it found!")
        >>> check.pec_enabled
        True
    """

    domain: str
    pec_enabled: bool
    message: str = ""
    details: tuple[str, ...] = ()


@attrs.frozen(kw_only=True)
class RegistryCommunicationRequest:
    """What ``registry_communications.create`` needs (union of the page's and the OAS's fields).

    Checked at construction like [MailboxRegistration][certmail_async.MailboxRegistration]
    (types, ASCII patterns, tax code, no control characters), and again by ``create``.

    Examples:
        >>> req = RegistryCommunicationRequest(
        ...     address="azienda@pec.example.it", first_name="Mario",
        ...     last_name="Rossi", tax_code="RSSMRA82D11H501D",
        ...     role=CommunicationRole.LEGAL_REPRESENTATIVE,
        ...     email="mario@example.com", mobile="3401234567",
        ...     company_name="Azienda Srl", company_tax_id="12345678910",
        ...     city="Roma", province="RM")
        >>> req.province
        'RM'
    """

    address: str
    first_name: str
    last_name: str
    tax_code: str
    role: CommunicationRole
    email: str
    mobile: str
    company_name: str
    company_tax_id: str
    city: str
    province: str
    administrator_pec: bool = False
    callback: Callback | None = None
    #: The mailbox holder's full name: the documentation page's required
    #: ``titolare_casella``. ``None`` sends ``"first_name last_name"``.
    holder: str | None = None

    def __attrs_post_init__(self) -> None:
        from ._checks import check_communication_fields  # late: the checks build on the models

        check_communication_fields(self)


@attrs.frozen(kw_only=True)
class RegistryCommunicationSummary:
    """One item of ``registry_communications.list``.

    Examples:
        >>> item = RegistryCommunicationSummary(
        ...     id="3e61ad41", address="azienda@pec.example.it",
        ...     state=CommunicationState.COMPLETED)
        >>> item.state.value
        'comunicazione_evasa'
    """

    id: str
    address: str
    state: CommunicationState
    created: datetime | None = None
    owner: str | None = None


@attrs.frozen(kw_only=True)
class RegistryCommunication:
    """A Business Register communication (``RichiestaComunicazionePec``).

    Besides its state and documents it echoes the request: ``holder``
    (``titolare_casella``), the signer (``first_name``, ``last_name``, ``tax_code``,
    ``role``), the owner's ``email`` and ``mobile``, and the company's ``city`` and
    ``province``; each is ``None`` when the provider leaves it out.

    Examples:
        >>> filed = RegistryCommunication(
        ...     id="3e61ad41", address="azienda@pec.example.it",
        ...     state=CommunicationState.DOCUMENTS_UPLOADED,
        ...     registry_code="RI3E61AD41", holder="Mario Rossi")
        >>> filed.registry_code, filed.holder
        ('RI3E61AD41', 'Mario Rossi')
    """

    id: str
    address: str
    state: CommunicationState
    created: datetime | None = None
    owner: str | None = None
    registry_code: str | None = None
    documents: tuple[str, ...] = ()
    company_name: str | None = None
    company_tax_id: str | None = None
    callback: Callback | None = None
    holder: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    tax_code: str | None = None
    role: CommunicationRole | None = None
    email: str | None = None
    mobile: str | None = None
    city: str | None = None
    province: str | None = None


@attrs.frozen(kw_only=True)
class TokenLimits:
    """Usage limits of an openapi.com token.

    Examples:
        >>> limits = TokenLimits(total_requests=1000, ip=("203.0.113.7",))
        >>> limits.total_requests, limits.ip
        (1000, ('203.0.113.7',))
    """

    total_requests: int | None = None
    wallet_requests: int | None = None
    subscription_requests: int | None = None
    wallet_amount: float | None = None
    ip: tuple[str, ...] = ()


@attrs.frozen(kw_only=True)
class Token:
    """An openapi.com OAuth v2 token.

    The token and refresh token are [SecretStr][certmail_async.SecretStr].

    Examples:
        >>> t = Token(token=SecretStr("656d1e2f8b3c2a001f7e4a12"))
        >>> "656d1e" in repr(t)
        False
    """

    token: SecretStr
    scopes: tuple[str, ...] = ()
    name: str | None = None
    created_at: datetime | None = None
    expire_at: datetime | None = None
    updated_at: datetime | None = None
    refresh_token: SecretStr | None = None
    limits: TokenLimits | None = None


@attrs.frozen(kw_only=True)
class Scope:
    """One scope the account can grant (``METHOD:host/path``); ``rate_limit`` None = none.

    Examples:
        >>> scope = Scope(scope="GET:pec.openapi.it/pec")
        >>> scope.scope.split(":", 1)
        ['GET', 'pec.openapi.it/pec']
    """

    scope: str
    id: str | None = None
    rate_limit: int | None = None
    description: str | None = None
