"""openapi.it PEC and openapi.com OAuth wire format: the only module that knows their keys.

* The envelope ``{data, success, message, error}``; ``error`` is the provider's integer code.
* Dates: ``dd/mm/yyyy`` strings ("" before activation), Unix seconds in ``timestamp``
  objects (mailboxes) or integers (communications), ISO 8601 in OAuth tokens.
* ``callback`` is an object or ``false``.
"""

from __future__ import annotations

import base64
import functools
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any

from .._converters import decode_json, make_converter, register_renames, structure, unwrap
from .._exceptions import ResponseDecodeError
from .._transport import Operation, Response
from .._types import SecretStr
from ._models import (
    Callback,
    CustomerSubtype,
    DomainCheck,
    IdDocumentType,
    Mailbox,
    MailboxEvents,
    MailboxRegistration,
    MailboxSummary,
    MailboxType,
    MailboxUser,
    RegistryCommunication,
    RegistryCommunicationRequest,
    RegistryCommunicationSummary,
    Scope,
    Sex,
    Token,
    TokenLimits,
)

if TYPE_CHECKING:
    import cattrs

__all__ = ["OAUTH_OPS", "OPS", "OpenapiWire"]

PROVIDER = "openapi_pec"
OAUTH_PROVIDER = "openapi_oauth"
PRODUCTION_URL = "https://pec.openapi.it"
SANDBOX_URL = "https://test.pec.openapi.it"
OAUTH_URL = "https://oauth.openapi.com"
OAUTH_SANDBOX_URL = "https://test.oauth.openapi.com"
SANDBOX_DOMAINS = ("testcert.legalmail.it", "test.domiciliodigitale.com")
DEFAULT_DOMAINS = {
    "legalmail.it": {"STANDARD", "BRONZE", "SILVER", "GOLD"},
    "domiciliodigitale.com": {"DOMICILIODIGITALE"},
    "pecmassiva.com": {"PECMASSIVA"},
}
#: GET /pec and GET /comunica_pec answer 404 with these codes for an empty list.
EMPTY_LIST_CODES = {"/pec": 200, "/comunica_pec": 332}


def _op(
    name: str, method: str, path: str, *, changes: bool = False, document: bool = False
) -> Operation:
    # ``changes``: creates, changes or charges; never retried once it may have happened.
    # ``document``: the answer is a PDF form (the larger ResponseLimits.document applies).
    return Operation(
        provider=PROVIDER,
        name=name,
        method=method,
        path=path,
        idempotent=not changes,
        document=document,
    )


def _oauth(name: str, method: str, path: str, *, changes: bool = False) -> Operation:
    return Operation(
        provider=OAUTH_PROVIDER, name=name, method=method, path=path, idempotent=not changes
    )


class OPS:
    """The 19 operations of the reference's endpoint summary, in its order."""

    DOMAIN_CHECK = _op("domains.check", "GET", "/domini_pec/{domain}")
    AVAILABILITY = _op("mailboxes.availability", "GET", "/verifica_pec/{address}")
    LIST = _op("mailboxes.list", "GET", "/pec")
    REGISTER = _op("mailboxes.register", "POST", "/pec", changes=True)
    RETRIEVE = _op("mailboxes.retrieve", "GET", "/pec/{id}")
    REVOKE = _op("mailboxes.revoke", "DELETE", "/pec/{id}", changes=True)
    ACTIVATE = _op("mailboxes.activate", "PATCH", "/pec/{id}/attivazione", changes=True)
    CHANGE_SPACE = _op("mailboxes.change_space", "PATCH", "/pec/{id}/modifica", changes=True)
    STORAGE = _op("mailboxes.activate_storage", "PATCH", "/pec/{id}/conservazione", changes=True)
    UPGRADE = _op("mailboxes.upgrade", "PATCH", "/pec/{id}/trasformazione", changes=True)
    # A GET that renews (billable) and changes state: never retried, never cached.
    RENEW = _op("mailboxes.renew", "GET", "/pec/{id}/rinnovo", changes=True)
    ADD_USER = _op("mailboxes.add_user", "POST", "/pec/{id}/multiutenza", changes=True)
    COMM_LIST = _op("registry_communications.list", "GET", "/comunica_pec")
    COMM_CREATE = _op("registry_communications.create", "POST", "/comunica_pec", changes=True)
    COMM_RETRIEVE = _op("registry_communications.retrieve", "GET", "/comunica_pec/{id}")
    COMM_UPLOAD = _op(
        "registry_communications.upload_documents", "PATCH", "/comunica_pec/{id}", changes=True
    )
    FORM_ACTIVATION = _op("forms.activation", "GET", "/pec/{id}/modulo_attivazione", document=True)
    FORM_STORAGE = _op("forms.storage", "GET", "/pec/{id}/modulo_conservazione", document=True)
    FORM_POWER_OF_ATTORNEY = _op(
        "forms.power_of_attorney", "GET", "/comunica_pec/{id}/procura_registro_imprese"
    )

    ALL = (
        DOMAIN_CHECK, AVAILABILITY, LIST, REGISTER, RETRIEVE, REVOKE, ACTIVATE, CHANGE_SPACE,
        STORAGE, UPGRADE, RENEW, ADD_USER, COMM_LIST, COMM_CREATE, COMM_RETRIEVE, COMM_UPLOAD,
        FORM_ACTIVATION, FORM_STORAGE, FORM_POWER_OF_ATTORNEY,
    )  # fmt: skip


class OAUTH_OPS:
    """openapi.com OAuth v2 token calls."""

    CREATE = _oauth("tokens.create", "POST", "/tokens", changes=True)
    LIST = _oauth("tokens.list", "GET", "/tokens")
    RETRIEVE = _oauth("tokens.retrieve", "GET", "/tokens/{token}")
    DELETE = _oauth("tokens.delete", "DELETE", "/tokens/{token}")
    REFRESH = _oauth("tokens.refresh", "PATCH", "/tokens/{token}", changes=True)
    SCOPES = _oauth("scopes.list", "GET", "/scopes")

    ALL = (CREATE, LIST, RETRIEVE, DELETE, REFRESH, SCOPES)


# Every field of a Casella is modelled on Mailbox (the registration echo included), so
# strict decoding drops nothing: any new key shows as drift.
_MAILBOX_ECHO: frozenset[str] = frozenset()
# ``pec_amministratore`` is in the request schema only (reference 9.7); every other echoed
# request field is modelled on RegistryCommunication.
_COMMUNICATION_ECHO = frozenset({"pec_amministratore"})


def format_date(value: date) -> str:
    """A date as ``dd/mm/yyyy``."""
    return value.strftime("%d/%m/%Y")


def _parse_date(value: Any, _type: Any = None) -> date | None:
    if value in (None, ""):
        return None
    if not isinstance(value, str):
        raise TypeError(f"expected a dd/mm/yyyy string, got {type(value).__name__}")
    return datetime.strptime(value, "%d/%m/%Y").date()


def _parse_datetime(value: Any, _type: Any = None) -> datetime:
    if isinstance(value, bool):
        raise TypeError("expected a timestamp, got a boolean")
    if isinstance(value, int | float):
        return datetime.fromtimestamp(value, UTC)
    if isinstance(value, str):
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    raise TypeError(f"expected Unix seconds or an ISO date-time, got {type(value).__name__}")


def _optional_of(enum_type: Any) -> Callable[[Any], bool]:
    optional = enum_type | None
    return lambda t: bool(t == optional)


def _optional_code(value: Any, type_: Any) -> Any:
    if value in (None, ""):
        return None
    enum_type = next(a for a in type_.__args__ if a is not type(None))
    return enum_type(value)


def _callback_or_none(value: Any, _type: Any = None) -> Callback | None:
    if value in (None, False) or value == {}:
        return None
    if not isinstance(value, dict):
        raise TypeError("callback must be an object or false")
    return _callback_converter().structure(value, Callback)


@functools.cache
def _callback_converter() -> cattrs.Converter:
    """The converter of ``callback`` members, built on first use."""
    converter = make_converter()
    converter.register_structure_hook(dict, lambda v, _t: dict(v) if isinstance(v, dict) else {})
    return converter


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


class OpenapiWire:
    """Encoders and decoders (lenient for clients, strict for tests)."""

    def __init__(self, *, strict: bool = False) -> None:
        self.strict = strict

    @functools.cached_property
    def converter(self) -> cattrs.Converter:
        """The cattrs converter, built on first use (importing the client stays cheap)."""
        from cattrs.gen import override

        c = make_converter(strict=self.strict)
        c.register_structure_hook_func(lambda t: t == (date | None), _parse_date)
        c.register_structure_hook(datetime, _parse_datetime)
        c.register_structure_hook_func(lambda t: t == (Callback | None), _callback_or_none)
        c.register_structure_hook(SecretStr, lambda v, _t: SecretStr(str(v)))
        # Echoed optional codes: the registration sends "" for "none" (the page's sample
        # does for sottotipo_cliente), which is None here, not an unknown pseudo-member.
        for enum_type in (CustomerSubtype, Sex, IdDocumentType):
            c.register_structure_hook_func(_optional_of(enum_type), _optional_code)
        register_renames(
            c,
            MailboxEvents,
            registered=override(rename="registrazione"),
            last_modified=override(rename="ultima_modifica"),
            processed=override(rename="evasione"),
            expires=override(rename="scadenza"),
            revoked=override(rename="revoca"),
        )
        register_renames(
            c,
            MailboxUser,
            first_name=override(rename="nome"),
            last_name=override(rename="cognome"),
            description=override(rename="descrizione"),
            password_email=override(rename="email_gestione_password"),
            user_id=override(rename="id_utenza"),
            uid=override(rename="userid"),
            activated=override(rename="timestamp", struct_hook=self._activation_time),
        )
        register_renames(
            c,
            MailboxSummary,
            address=override(rename="casella_pec"),
            state=override(rename="stato"),
            mailbox_type=override(rename="tipo_casella"),
            events=override(rename="timestamp"),
            expiry_date=override(rename="data_scadenza"),
        )
        register_renames(
            c,
            Mailbox,
            address=override(rename="casella_pec"),
            state=override(rename="stato"),
            mailbox_type=override(rename="tipo_casella"),
            customer_type=override(rename="tipo_cliente"),
            domain=override(rename="dominio"),
            events=override(rename="timestamp"),
            activation_code=override(rename="cod_attivazione"),
            legal_storage=override(rename="conservazione"),
            archive=override(rename="storico"),
            disk_mb=override(rename="spazio_disco"),
            archive_mb=override(rename="spazio_storico"),
            storage_mb=override(rename="spazio_conservazione"),
            activation_date=override(rename="data_attivazione"),
            expiry_date=override(rename="data_scadenza"),
            description=override(rename="descrizione"),
            activation_documents=override(rename="documenti_attivazione"),
            storage_documents=override(rename="documenti_conservazione"),
            users=override(rename="multiutenza"),
            auto_renew=override(rename="autorinnovo"),
            applicant_first_name=override(rename="nome_richiedente"),
            applicant_last_name=override(rename="cognome_richiedente"),
            applicant_email=override(rename="email"),
            customer_subtype=override(rename="sottotipo_cliente"),
            customer_subtype_other=override(rename="sottotipo_cliente_altro"),
            phone=override(rename="telefono"),
            mobile=override(rename="cellulare"),
            applicant_tax_code=override(rename="codice_fiscale_richiedente"),
            applicant_birth_date=override(rename="data_nascita_richiedente"),
            applicant_sex=override(rename="sesso_richiedente"),
            applicant_birth_country=override(rename="nazione_nascita_richiedente"),
            applicant_birth_city=override(rename="comune_nascita_richiedente"),
            applicant_birth_province=override(rename="provincia_nascita_richiedente"),
            holder_name=override(rename="denominazione_titolare"),
            holder_tax_id=override(rename="cf_piva_titolare"),
            holder_address=override(rename="indirizzo_titolare"),
            holder_city=override(rename="comune_titolare"),
            holder_postal_code=override(rename="cap_titolare"),
            holder_country=override(rename="nazione_titolare"),
            holder_province=override(rename="provincia_titolare"),
            id_document_type=override(rename="tipo_documento"),
            id_document_number=override(rename="numero_documento"),
            id_document_issued_by=override(rename="documento_rilasciato_da"),
            id_document_issued_on=override(rename="data_rilascio_documento"),
            id_document_expires_on=override(rename="data_scadenza_documento"),
        )
        register_renames(
            c,
            RegistryCommunicationSummary,
            address=override(rename="casella_pec"),
            state=override(rename="stato"),
            created=override(rename="timestamp"),
        )
        register_renames(
            c,
            RegistryCommunication,
            address=override(rename="casella_pec"),
            state=override(rename="stato"),
            created=override(rename="timestamp"),
            registry_code=override(rename="codice_registro_imprese"),
            documents=override(rename="documenti_registro_imprese"),
            company_name=override(rename="ragione_sociale"),
            company_tax_id=override(rename="cf_piva"),
            holder=override(rename="titolare_casella"),
            first_name=override(rename="nome"),
            last_name=override(rename="cognome"),
            tax_code=override(rename="cf"),
            role=override(rename="qualifica"),
            mobile=override(rename="cellulare"),
            city=override(rename="comune"),
            province=override(rename="provincia"),
        )
        register_renames(
            c,
            TokenLimits,
            total_requests=override(rename="totalRequests"),
            wallet_requests=override(rename="walletRequests"),
            subscription_requests=override(rename="subscriptionRequests"),
            wallet_amount=override(rename="walletAmount"),
        )
        register_renames(
            c,
            Token,
            created_at=override(rename="createdAt"),
            expire_at=override(rename="expireAt"),
            updated_at=override(rename="updatedAt"),
            refresh_token=override(rename="refreshToken"),
        )
        register_renames(c, Scope, rate_limit=override(rename="rateLimit", struct_hook=_rate))
        return c

    def _activation_time(self, value: Any, _type: Any) -> datetime | None:
        if isinstance(value, dict) and "attivazione" in value:
            return _parse_datetime(value["attivazione"])
        return None

    # -- requests ---------------------------------------------------------------------

    @staticmethod
    def registration_body(reg: MailboxRegistration) -> dict[str, Any]:
        """``POST /pec`` body (optional fields left out when not given)."""
        body: dict[str, Any] = {
            "casella_pec": reg.address,
            "tipo_casella": reg.mailbox_type.value,
            "tipo_cliente": reg.customer_type.value,
            "sottotipo_cliente": reg.customer_subtype.value if reg.customer_subtype else "",
            "nome_richiedente": reg.first_name,
            "cognome_richiedente": reg.last_name,
            "email": reg.email,
            "telefono": reg.phone,
            "codice_fiscale_richiedente": reg.tax_code.upper(),
            "data_nascita_richiedente": format_date(reg.birth_date),
            "sesso_richiedente": reg.sex.value,
            "nazione_nascita_richiedente": reg.birth_country.upper(),
            "indirizzo_titolare": reg.holder_address,
            "comune_titolare": reg.holder_city,
            "cap_titolare": reg.holder_postal_code,
            "nazione_titolare": reg.holder_country.upper(),
            "provincia_titolare": reg.holder_province.upper(),
            "autorinnovo": reg.auto_renew,
        }
        optional = {
            "sottotipo_cliente_altro": reg.customer_subtype_other,
            "cellulare": reg.mobile,
            "comune_nascita_richiedente": reg.birth_city,
            "provincia_nascita_richiedente": reg.birth_province.upper()
            if reg.birth_province
            else None,
            "denominazione_titolare": reg.holder_name,
            "cf_piva_titolare": reg.holder_tax_id,
        }
        body.update({k: v for k, v in optional.items() if v is not None})
        if reg.id_document is not None:
            doc = reg.id_document
            body.update(
                {
                    "tipo_documento": doc.type.value,
                    "numero_documento": doc.number,
                    "documento_rilasciato_da": doc.issued_by,
                    "data_rilascio_documento": format_date(doc.issued_on),
                    "data_scadenza_documento": format_date(doc.expires_on),
                }
            )
        if reg.callback is not None:
            body["callback"] = OpenapiWire.callback(reg.callback)
        return body

    @staticmethod
    def callback(cb: Callback) -> dict[str, Any]:
        """The legacy callback object: url, method, field, data."""
        return {"url": cb.url, "method": cb.method.value, "field": cb.field, "data": dict(cb.data)}

    @staticmethod
    def documents_body(documents: Sequence[bytes], **extra: Any) -> dict[str, Any]:
        """``{"documenti": [base64, ...]}`` plus any extra fields."""
        return {"documenti": [_b64(d) for d in documents], **extra}

    @staticmethod
    def space_body(
        disk: int | str | None, archive: int | str | None, storage: int | str | None
    ) -> dict[str, Any]:
        """``PATCH /pec/{id}/modifica``: ints set a size, ``"+N"`` strings add to it."""
        pairs = {"spazio_disco": disk, "spazio_storico": archive, "spazio_conservazione": storage}
        return {k: v for k, v in pairs.items() if v is not None}

    @staticmethod
    def storage_body(documents: Sequence[bytes], storage_mb: int | None) -> dict[str, Any]:
        """``PATCH /pec/{id}/conservazione``."""
        extra = {} if storage_mb is None else {"spazio_conservazione": storage_mb}
        return OpenapiWire.documents_body(documents, **extra)

    @staticmethod
    def upgrade_body(mailbox_type: MailboxType) -> dict[str, Any]:
        """``PATCH /pec/{id}/trasformazione``."""
        return {"tipo_casella": mailbox_type.value}

    @staticmethod
    def renew_params(years: int) -> dict[str, str | int]:
        """``GET /pec/{id}/rinnovo?anni=``."""
        return {"anni": years}

    @staticmethod
    def user_body(
        *, first_name: str, last_name: str, description: str, password_email: str
    ) -> dict[str, Any]:
        """``POST /pec/{id}/multiutenza``."""
        return {
            "nome": first_name,
            "cognome": last_name,
            "descrizione": description,
            "email_gestione_password": password_email,
        }

    @staticmethod
    def communication_body(req: RegistryCommunicationRequest) -> dict[str, Any]:
        """``POST /comunica_pec``: the union of the page's and the OAS's fields."""
        body: dict[str, Any] = {
            "casella_pec": req.address,
            "nome": req.first_name,
            "cognome": req.last_name,
            "cf": req.tax_code.upper(),
            "qualifica": req.role.value,
            "titolare_casella": req.holder
            if req.holder is not None
            else f"{req.first_name} {req.last_name}",
            "email": req.email,
            "cellulare": req.mobile,
            "ragione_sociale": req.company_name,
            "cf_piva": req.company_tax_id,
            "comune": req.city,
            "provincia": req.province.upper(),
            "pec_amministratore": req.administrator_pec,
        }
        if req.callback is not None:
            body["callback"] = OpenapiWire.callback(req.callback)
        return body

    @staticmethod
    def token_body(
        *, scopes: Sequence[str], name: str | None, ttl: int | None, limits: TokenLimits | None
    ) -> dict[str, Any]:
        """``POST /tokens``."""
        body: dict[str, Any] = {"scopes": list(scopes)}
        if name is not None:
            body["name"] = name
        if ttl is not None:
            body["ttl"] = ttl
        if limits is not None:
            raw = {
                "totalRequests": limits.total_requests,
                "walletRequests": limits.wallet_requests,
                "subscriptionRequests": limits.subscription_requests,
                "walletAmount": limits.wallet_amount,
                "ip": list(limits.ip) or None,
            }
            body["limits"] = {k: v for k, v in raw.items() if v is not None}
        return body

    @staticmethod
    def list_params(limit: int, skip: int) -> dict[str, str | int]:
        """``GET /tokens?limit=&skip=``."""
        return {"limit": limit, "skip": skip}

    # -- responses --------------------------------------------------------------------

    def _data(self, response: Response, op: Operation) -> Any:
        return unwrap(decode_json(response, op=op), op=op, status=response.status)

    def _drop(self, data: Any, keys: frozenset[str]) -> Any:
        if self.strict and isinstance(data, dict):
            return {k: v for k, v in data.items() if k not in keys}
        return data

    def mailbox(self, response: Response, op: Operation) -> Mailbox:
        """A ``Casella``."""
        data = self._drop(self._data(response, op), _MAILBOX_ECHO)
        return structure(self.converter, data, Mailbox, op=op)

    def mailboxes(self, response: Response, op: Operation) -> tuple[MailboxSummary, ...]:
        """``Caselle[]``."""
        return structure(
            self.converter, self._data(response, op), tuple[MailboxSummary, ...], op=op
        )

    def availability(self, response: Response, op: Operation) -> bool | None:
        """``{available: bool}``; ``None`` when a successful answer does not say.

        The vendor page's own sample answers ``"data": {}``: that is a success that states
        no availability, so it is ``None`` (unknown), never a decode error and never "free".
        """
        data = self._data(response, op)
        if data is None or (isinstance(data, dict) and data.get("available") is None):
            return None
        if not isinstance(data, dict) or not isinstance(data.get("available"), bool):
            raise ResponseDecodeError(
                "expected data.available to be a boolean", provider=op.provider, operation=op.name
            )
        return bool(data["available"])

    def domain_check(self, response: Response, op: Operation, domain: str) -> DomainCheck:
        """200 ``{data: string[], message}`` or 204 (no content)."""
        if response.status == 204 or not response.content:
            return DomainCheck(domain=domain, pec_enabled=False)
        payload = unwrap(decode_json(response, op=op), op=op, status=response.status, key=None)
        data = payload.get("data") or []
        details = structure(self.converter, data, tuple[str, ...], op=op)
        return DomainCheck(
            domain=domain,
            pec_enabled=True,
            message=str(payload.get("message") or ""),
            details=details,
        )

    def communication(self, response: Response, op: Operation) -> RegistryCommunication:
        """A ``RichiestaComunicazionePec``."""
        data = self._drop(self._data(response, op), _COMMUNICATION_ECHO)
        return structure(self.converter, data, RegistryCommunication, op=op)

    def communications(
        self, response: Response, op: Operation
    ) -> tuple[RegistryCommunicationSummary, ...]:
        """``RichiesteComunicazionePec[]``."""
        data = self._data(response, op)
        return structure(self.converter, data, tuple[RegistryCommunicationSummary, ...], op=op)

    @staticmethod
    def pdf(response: Response, op: Operation) -> bytes:
        """A form: ``application/pdf`` bytes (errors come as text/plain, mapped before)."""
        if response.content_type != "application/pdf" or not response.content.startswith(b"%PDF"):
            raise ResponseDecodeError(
                f"expected a PDF, got {response.content_type or 'no content type'}",
                provider=op.provider,
                operation=op.name,
                status=response.status,
            )
        return response.content

    def token(self, response: Response, op: Operation) -> Token:
        """A ``TokenDetail``, bare or wrapped in ``{data: ...}`` (both are seen)."""
        payload = decode_json(response, op=op)
        if isinstance(payload, dict) and "data" in payload and "token" not in payload:
            payload = unwrap(payload, op=op, status=response.status)
        elif isinstance(payload, dict):
            payload = {k: v for k, v in payload.items() if k not in ("success", "message", "error")}
        return structure(self.converter, payload, Token, op=op)

    def tokens(self, response: Response, op: Operation) -> tuple[Token, ...]:
        """``{data: [TokenDetail]}``."""
        return structure(self.converter, self._data(response, op), tuple[Token, ...], op=op)

    def scopes(self, response: Response, op: Operation) -> tuple[Scope, ...]:
        """``{data: [ScopeDetail]}``."""
        return structure(self.converter, self._data(response, op), tuple[Scope, ...], op=op)

    @staticmethod
    def empty_list_code(op: Operation) -> int | None:
        """The error code that means "no items" for a list operation (404 quirk)."""
        return EMPTY_LIST_CODES.get(op.path)


def _rate(value: Any, _type: Any) -> int | None:
    if value is False or value is None:
        return None
    if isinstance(value, int | float) and not isinstance(value, bool):
        return int(value)
    raise TypeError("rateLimit must be a number or false")


LENIENT = OpenapiWire()
