"""The openapi.it PEC client: mailbox provisioning, Business Register, forms (19 operations).

Every call that creates, changes or charges (register, activate, resize, storage, upgrade,
renew, add user, revoke, communications) is never retried once it may have reached the
provider: the caller gets the error and checks the record. ``GET /pec/{id}/rinnovo`` is
one of them despite being a GET: it renews, and charges the wallet.
"""

from __future__ import annotations

from collections.abc import Sequence

from .._auth import BearerAuth
from .._client_base import BaseClient, Resource, validating
from .._exceptions import APIStatusError, NotFoundError, ValidationError
from .._pacing import PacingBackend, RateLimit
from .._retry import RetryPolicy
from .._tokens import TokenSource
from .._transport import ClientSession, Operation, ProviderProfile, Response, Transport
from .._types import NOT_GIVEN, NotGiven, ResponseLimits, SecretStr, Timeout, TimeoutTypes
from .._validation import (
    check_bool,
    check_domain,
    check_email,
    check_header_text,
    check_instance,
    check_int,
    check_token,
)
from ._checks import (
    check_communication,
    check_id,
    check_p7m_documents,
    check_pdf_documents,
    check_registration,
    check_space,
)
from ._models import (
    DomainCheck,
    Mailbox,
    MailboxRegistration,
    MailboxSummary,
    MailboxType,
    RegistryCommunication,
    RegistryCommunicationRequest,
    RegistryCommunicationSummary,
)
from ._wire import LENIENT, OPS, PRODUCTION_URL, PROVIDER, SANDBOX_URL

__all__ = [
    "DomainsResource",
    "FormsResource",
    "MailboxesResource",
    "OpenapiPecClient",
    "RegistryCommunicationsResource",
]

MAX_USERS = 25
_wire = LENIENT

MailboxRef = Mailbox | MailboxSummary | str


class _Profile(ProviderProfile):
    name = PROVIDER


class _OpenapiResource(Resource):
    _client: OpenapiPecClient

    def _empty_or_raise(self, op: Operation, error: NotFoundError) -> None:
        # GET /pec and GET /comunica_pec answer 404 with a specific code for "no items".
        if error.code != _wire.empty_list_code(op):
            raise error


class DomainsResource(_OpenapiResource):
    """``client.domains``: ``GET /domini_pec/{dominio}``.

    Examples:
        >>> import asyncio
        >>> from certmail_async.testing import run_fake
        >>> async def main() -> bool:
        ...     async with run_fake("openapi_pec") as fake, fake.client() as client:
        ...         check = await client.domains.check("legalmail.it")
        ...     return check.pec_enabled
        >>> asyncio.run(main())
        True
    """

    async def check(
        self,
        domain: str,
        *,
        timeout: TimeoutTypes | NotGiven = NOT_GIVEN,
        max_retries: int | NotGiven = NOT_GIVEN,
    ) -> DomainCheck:
        """Whether a domain can send or receive PEC (may consume credit: 402 is documented).

        Examples:
            >>> import asyncio
            >>> from certmail_async.testing import run_fake
            >>> async def main() -> tuple[bool, bool]:
            ...     async with run_fake("openapi_pec") as fake, fake.client() as client:
            ...         pec = await client.domains.check("legalmail.it")
            ...         plain = await client.domains.check("example.com")
            ...     return pec.pec_enabled, plain.pec_enabled
            >>> asyncio.run(main())
            (True, False)
        """
        op = OPS.DOMAIN_CHECK
        with validating(op):
            # Syntax first: the check itself may be billable (402 is documented).
            name = check_domain(domain, field="domain")
        response = await self._call(
            op, path_params={"domain": name}, timeout=timeout, max_retries=max_retries
        )
        return _wire.domain_check(response, op, name)


class MailboxesResource(_OpenapiResource):
    """``client.mailboxes``: the mailbox lifecycle (``/verifica_pec``, ``/pec``, ``/pec/{id}``).

    Register, send back the signed activation form with an identity document, then manage
    the active box (space, type, users, renewal, revocation).

    Examples:
        >>> import asyncio
        >>> from datetime import date
        >>> from certmail_async import (CustomerType, MailboxRegistration,
        ...                             MailboxType, Sex)
        >>> registration = MailboxRegistration(
        ...     address="mario.rossi@legalmail.it", mailbox_type=MailboxType.BRONZE,
        ...     customer_type=CustomerType.PRIVATE_INDIVIDUAL, first_name="Mario",
        ...     last_name="Rossi", email="mario@example.com", phone="0548798569",
        ...     tax_code="RSSMRA82D11H501D", birth_date=date(1982, 4, 11), sex=Sex.MALE,
        ...     birth_country="IT", holder_address="via Verdi 20", holder_city="Roma",
        ...     holder_postal_code="00042", holder_country="IT", holder_province="RM")
        >>> from certmail_async.testing import run_fake
        >>> async def main() -> list[str]:
        ...     async with run_fake("openapi_pec") as fake, fake.client() as client:
        ...         box = await client.mailboxes.register(registration=registration)
        ...         form = await client.forms.activation(box.id)  # sign it, then:
        ...         await client.mailboxes.activate(
        ...             box.id, documents=[form, b"%PDF-1.4 identity card"])
        ...         active = await client.mailboxes.retrieve(box.id)
        ...     return [box.state.name, active.state.name]
        >>> asyncio.run(main())
        ['REGISTERED', 'ACTIVE']
    """

    async def availability(
        self,
        address: str,
        *,
        timeout: TimeoutTypes | NotGiven = NOT_GIVEN,
        max_retries: int | NotGiven = NOT_GIVEN,
    ) -> bool | None:
        """Whether a mailbox address is free to register (``None``: the answer did not say).

        An unavailable address may come back as an error whose message says "not
        available" (the vendor's PHP SDK maps that to ``False``); so does this method.
        A successful answer without ``data.available`` (the vendor page's own sample is
        ``"data": {}``) is ``None``: unknown, so ``if await ...availability(a):`` stays
        on the safe side.

        Examples:
            >>> import asyncio
            >>> from certmail_async.testing import run_fake
            >>> async def main() -> bool | None:
            ...     async with run_fake("openapi_pec") as fake, fake.client() as client:
            ...         address = "mario.rossi@legalmail.it"
            ...         return await client.mailboxes.availability(address)
            >>> asyncio.run(main())
            True
        """
        op = OPS.AVAILABILITY
        with validating(op):
            address = check_email(address, field="address", ascii=True)
        try:
            response = await self._call(
                op, path_params={"address": address}, timeout=timeout, max_retries=max_retries
            )
        except APIStatusError as error:
            if "not available" in error.message.lower():
                return False
            raise
        return _wire.availability(response, op)

    async def list(
        self,
        *,
        timeout: TimeoutTypes | NotGiven = NOT_GIVEN,
        max_retries: int | NotGiven = NOT_GIVEN,
    ) -> tuple[MailboxSummary, ...]:
        """Your mailboxes (404/200 "no pec linked to this account" is an empty tuple).

        Examples:
            >>> import asyncio
            >>> from certmail_async.testing import run_fake
            >>> async def main() -> int:
            ...     async with run_fake("openapi_pec") as fake, fake.client() as client:
            ...         return len(await client.mailboxes.list())
            >>> asyncio.run(main())  # a new account has none
            0
        """
        op = OPS.LIST
        try:
            response = await self._call(op, timeout=timeout, max_retries=max_retries)
        except NotFoundError as error:
            self._empty_or_raise(op, error)
            return ()
        boxes = _wire.mailboxes(response, op)
        for box in boxes:
            self._client._remember(box)
        return boxes

    async def register(
        self,
        *,
        registration: MailboxRegistration,
        timeout: TimeoutTypes | NotGiven = NOT_GIVEN,
        max_retries: int | NotGiven = NOT_GIVEN,
    ) -> Mailbox:
        """Register a mailbox (billable; state ``registrata``). Validated before the request.

        Examples:
            >>> import asyncio
            >>> from datetime import date
            >>> from certmail_async import (CustomerType, MailboxRegistration,
            ...                             MailboxType, Sex)
            >>> registration = MailboxRegistration(
            ...     address="mario.rossi@legalmail.it", mailbox_type=MailboxType.BRONZE,
            ...     customer_type=CustomerType.PRIVATE_INDIVIDUAL, first_name="Mario",
            ...     last_name="Rossi", email="mario@example.com", phone="0548798569",
            ...     tax_code="RSSMRA82D11H501D", birth_date=date(1982, 4, 11), sex=Sex.MALE,
            ...     birth_country="IT", holder_address="via Verdi 20", holder_city="Roma",
            ...     holder_postal_code="00042", holder_country="IT", holder_province="RM")
            >>> from certmail_async.testing import run_fake
            >>> async def main() -> str:
            ...     async with run_fake("openapi_pec") as fake, fake.client() as client:
            ...         box = await client.mailboxes.register(registration=registration)
            ...     return box.state.value
            >>> asyncio.run(main())
            'registrata'
        """
        op = OPS.REGISTER
        with validating(op):
            check_registration(registration, sandbox=self._client.sandbox)
        response = await self._call(
            op,
            json=_wire.registration_body(registration),
            timeout=timeout,
            max_retries=max_retries,
        )
        return self._mailbox(response, op)

    async def retrieve(
        self,
        mailbox: MailboxRef,
        *,
        timeout: TimeoutTypes | NotGiven = NOT_GIVEN,
        max_retries: int | NotGiven = NOT_GIVEN,
    ) -> Mailbox:
        """One mailbox with its state, sizes, dates, documents and users."""
        op = OPS.RETRIEVE
        mailbox_id = self._id(mailbox, op)
        response = await self._call(
            op, path_params={"id": mailbox_id}, timeout=timeout, max_retries=max_retries
        )
        return self._mailbox(response, op)

    async def revoke(
        self,
        mailbox: MailboxRef,
        *,
        timeout: TimeoutTypes | NotGiven = NOT_GIVEN,
        max_retries: int | NotGiven = NOT_GIVEN,
    ) -> Mailbox:
        """Revoke an active mailbox (state ``revocata``; ``renew`` can re-activate it)."""
        op = OPS.REVOKE
        mailbox_id = self._id(mailbox, op)
        response = await self._call(
            op, path_params={"id": mailbox_id}, timeout=timeout, max_retries=max_retries
        )
        return self._mailbox(response, op)

    async def activate(
        self,
        mailbox: MailboxRef,
        *,
        documents: Sequence[bytes] | bytes,
        timeout: TimeoutTypes | NotGiven = NOT_GIVEN,
        max_retries: int | NotGiven = NOT_GIVEN,
    ) -> Mailbox:
        """Upload the signed activation form and an identity document (PDFs).

        DOMICILIODIGITALE and PECMASSIVA boxes take ONE PDF combining both. The box moves
        to ``in_evasione`` and then, once the provider approves, to ``evasa``.
        """
        op = OPS.ACTIVATE
        mailbox_id = self._id(mailbox, op)
        with validating(op):
            docs = check_pdf_documents(documents)
            known = self._client._types.get(mailbox_id)
            if known is not None and known.restricted and len(docs) != 1:
                raise ValidationError(
                    f"a {known.value} box takes one PDF combining form and identity document",
                    field="documents",
                )
        response = await self._call(
            op,
            path_params={"id": mailbox_id},
            json=_wire.documents_body(docs),
            timeout=timeout,
            max_retries=max_retries,
        )
        return self._mailbox(response, op)

    async def change_space(
        self,
        mailbox: MailboxRef,
        *,
        disk: int | str | None = None,
        archive: int | str | None = None,
        storage: int | str | None = None,
        timeout: TimeoutTypes | NotGiven = NOT_GIVEN,
        max_retries: int | NotGiven = NOT_GIVEN,
    ) -> Mailbox:
        """Grow a mailbox (billable, upgrades only). An int sets the size in MB; ``"+N"`` adds N.

        ``disk`` and ``archive`` go in multiples of 1024, ``storage`` in multiples of 512
        (legal storage must be active). Refused for DOMICILIODIGITALE and PECMASSIVA boxes.

        Examples:
            >>> from certmail_async import OpenapiPecClient
            >>> async def grow(client: OpenapiPecClient, box_id: str) -> int:
            ...     box = await client.mailboxes.change_space(
            ...         box_id, disk=3072, archive="+1024")
            ...     return box.disk_mb
        """
        op = OPS.CHANGE_SPACE
        mailbox_id = self._id(mailbox, op)
        with validating(op):
            self._not_restricted(mailbox_id, "resized")
            disk = check_space(disk, multiple=1024, field="disk")
            archive = check_space(archive, multiple=1024, field="archive")
            storage = check_space(storage, multiple=512, field="storage")
            if disk is None and archive is None and storage is None:
                raise ValidationError("give at least one of disk, archive, storage", field="disk")
        response = await self._call(
            op,
            path_params={"id": mailbox_id},
            json=_wire.space_body(disk, archive, storage),
            timeout=timeout,
            max_retries=max_retries,
        )
        return self._mailbox(response, op)

    async def activate_storage(
        self,
        mailbox: MailboxRef,
        *,
        documents: Sequence[bytes] | bytes,
        storage_mb: int | None = None,
        timeout: TimeoutTypes | NotGiven = NOT_GIVEN,
        max_retries: int | NotGiven = NOT_GIVEN,
    ) -> Mailbox:
        """Activate legal storage (billable): signed form plus identity document (PDFs).

        ``storage_mb`` is a multiple of 512 (the provider's default is 512).
        """
        op = OPS.STORAGE
        mailbox_id = self._id(mailbox, op)
        with validating(op):
            self._not_restricted(mailbox_id, "given legal storage")
            docs = check_pdf_documents(documents)
            if storage_mb is not None:
                check_int(storage_mb, field="storage_mb", min=512)
                check_space(storage_mb, multiple=512, field="storage_mb")
        response = await self._call(
            op,
            path_params={"id": mailbox_id},
            json=_wire.storage_body(docs, storage_mb),
            timeout=timeout,
            max_retries=max_retries,
        )
        return self._mailbox(response, op)

    async def upgrade(
        self,
        mailbox: MailboxRef,
        *,
        mailbox_type: MailboxType,
        timeout: TimeoutTypes | NotGiven = NOT_GIVEN,
        max_retries: int | NotGiven = NOT_GIVEN,
    ) -> Mailbox:
        """Upgrade the mailbox type (billable; STANDARD < BRONZE < SILVER < GOLD, never down)."""
        op = OPS.UPGRADE
        mailbox_id = self._id(mailbox, op)
        with validating(op):
            if not isinstance(mailbox_type, MailboxType) or mailbox_type.rank is None:
                raise ValidationError(
                    "upgrade to STANDARD, BRONZE, SILVER or GOLD", field="mailbox_type"
                )
            self._not_restricted(mailbox_id, "upgraded")
            current = self._client._types.get(mailbox_id)
            if (
                current is not None
                and current.rank is not None
                and (mailbox_type.rank <= current.rank)
            ):
                raise ValidationError(
                    f"{current.value} -> {mailbox_type.value} is not an upgrade",
                    field="mailbox_type",
                )
        response = await self._call(
            op,
            path_params={"id": mailbox_id},
            json=_wire.upgrade_body(mailbox_type),
            timeout=timeout,
            max_retries=max_retries,
        )
        return self._mailbox(response, op)

    async def renew(
        self,
        mailbox: MailboxRef,
        *,
        years: int = 1,
        timeout: TimeoutTypes | NotGiven = NOT_GIVEN,
        max_retries: int | NotGiven = NOT_GIVEN,
    ) -> Mailbox:
        """Renew (or re-activate a revoked box) for ``years`` years. Billable; never retried."""
        op = OPS.RENEW
        mailbox_id = self._id(mailbox, op)
        with validating(op):
            check_int(years, field="years", min=1, max=10)
        response = await self._call(
            op,
            path_params={"id": mailbox_id},
            params=_wire.renew_params(years),
            timeout=timeout,
            max_retries=max_retries,
        )
        return self._mailbox(response, op)

    async def add_user(
        self,
        mailbox: MailboxRef,
        *,
        first_name: str,
        last_name: str,
        description: str,
        password_email: str,
        timeout: TimeoutTypes | NotGiven = NOT_GIVEN,
        max_retries: int | NotGiven = NOT_GIVEN,
    ) -> Mailbox:
        """Add a user to the mailbox (billable; at most 25; not on DOMICILIODIGITALE/PECMASSIVA)."""
        op = OPS.ADD_USER
        mailbox_id = self._id(mailbox, op)
        with validating(op):
            self._not_restricted(mailbox_id, "given users")
            for name, value in (
                ("first_name", first_name), ("last_name", last_name), ("description", description)
            ):  # fmt: skip
                check_header_text(value, field=name, max_len=200)
            password_email = check_email(password_email, field="password_email")
            users = self._client._users.get(mailbox_id)
            if users is not None and users >= MAX_USERS:
                raise ValidationError(f"the box already has {MAX_USERS} users", field="mailbox")
        response = await self._call(
            op,
            path_params={"id": mailbox_id},
            json=_wire.user_body(
                first_name=first_name,
                last_name=last_name,
                description=description,
                password_email=password_email,
            ),
            timeout=timeout,
            max_retries=max_retries,
        )
        return self._mailbox(response, op)

    # -- helpers ----------------------------------------------------------------------

    def _id(self, mailbox: MailboxRef, op: Operation) -> str:
        if isinstance(mailbox, Mailbox | MailboxSummary):
            self._client._remember(mailbox)
            mailbox = mailbox.id
        with validating(op):
            return check_id(mailbox, field="mailbox")

    def _not_restricted(self, mailbox_id: str, action: str) -> None:
        known = self._client._types.get(mailbox_id)
        if known is not None and known.restricted:
            raise ValidationError(f"a {known.value} box cannot be {action}", field="mailbox")

    def _mailbox(self, response: Response, op: Operation) -> Mailbox:
        box = _wire.mailbox(response, op)
        self._client._remember(box)
        return box


class RegistryCommunicationsResource(_OpenapiResource):
    """``client.registry_communications``: file a PEC address with the Business Register.

    ``/comunica_pec`` (Registro Imprese): create the request, download the power of
    attorney, upload it signed (.p7m) with an identity document.

    Examples:
        >>> import asyncio
        >>> from certmail_async import (CommunicationRole,
        ...                             RegistryCommunicationRequest)
        >>> from certmail_async.testing import run_fake
        >>> request = RegistryCommunicationRequest(
        ...     address="azienda@pec.example.it", first_name="Mario",
        ...     last_name="Rossi", tax_code="RSSMRA82D11H501D",
        ...     role=CommunicationRole.LEGAL_REPRESENTATIVE,
        ...     email="mario@example.com", mobile="3401234567",
        ...     company_name="Azienda Srl", company_tax_id="12345678910",
        ...     city="Roma", province="RM")
        >>> async def main() -> list[str]:
        ...     async with run_fake("openapi_pec") as fake, fake.client() as client:
        ...         filed = await client.registry_communications.create(
        ...             request=request)
        ...         # Your .p7m files: the power of attorney and an identity document.
        ...         signed = [b"0... signed attorney", b"0... signed identity"]
        ...         done = await client.registry_communications.upload_documents(
        ...             filed.id, documents=signed)
        ...     return [filed.state.value, done.state.value]
        >>> asyncio.run(main())
        ['codice_in_richiesta', 'documenti_caricati']
    """

    async def list(
        self,
        *,
        timeout: TimeoutTypes | NotGiven = NOT_GIVEN,
        max_retries: int | NotGiven = NOT_GIVEN,
    ) -> tuple[RegistryCommunicationSummary, ...]:
        """Your communications (404/332 "no request linked to this account" is empty).

        Examples:
            >>> import asyncio
            >>> from certmail_async.testing import run_fake
            >>> async def main() -> int:
            ...     async with run_fake("openapi_pec") as fake, fake.client() as client:
            ...         return len(await client.registry_communications.list())
            >>> asyncio.run(main())
            0
        """
        op = OPS.COMM_LIST
        try:
            response = await self._call(op, timeout=timeout, max_retries=max_retries)
        except NotFoundError as error:
            self._empty_or_raise(op, error)
            return ()
        return _wire.communications(response, op)

    async def create(
        self,
        *,
        request: RegistryCommunicationRequest,
        timeout: TimeoutTypes | NotGiven = NOT_GIVEN,
        max_retries: int | NotGiven = NOT_GIVEN,
    ) -> RegistryCommunication:
        """Start a communication (billable; state ``codice_in_richiesta``)."""
        op = OPS.COMM_CREATE
        with validating(op):
            check_communication(request)
        response = await self._call(
            op, json=_wire.communication_body(request), timeout=timeout, max_retries=max_retries
        )
        return _wire.communication(response, op)

    async def retrieve(
        self,
        communication_id: str,
        *,
        timeout: TimeoutTypes | NotGiven = NOT_GIVEN,
        max_retries: int | NotGiven = NOT_GIVEN,
    ) -> RegistryCommunication:
        """One communication."""
        op = OPS.COMM_RETRIEVE
        with validating(op):
            check_id(communication_id, field="communication_id")
        response = await self._call(
            op, path_params={"id": communication_id}, timeout=timeout, max_retries=max_retries
        )
        return _wire.communication(response, op)

    async def upload_documents(
        self,
        communication_id: str,
        *,
        documents: Sequence[bytes] | bytes,
        timeout: TimeoutTypes | NotGiven = NOT_GIVEN,
        max_retries: int | NotGiven = NOT_GIVEN,
    ) -> RegistryCommunication:
        """Upload the digitally signed (.p7m) power of attorney and identity document.

        Allowed only in state ``in_attesa_di_documenti``; moves to ``documenti_caricati``.
        """
        op = OPS.COMM_UPLOAD
        with validating(op):
            check_id(communication_id, field="communication_id")
            docs = check_p7m_documents(documents)
        response = await self._call(
            op,
            path_params={"id": communication_id},
            json=_wire.documents_body(docs),
            timeout=timeout,
            max_retries=max_retries,
        )
        return _wire.communication(response, op)


class FormsResource(_OpenapiResource):
    """``client.forms``: the three PDF forms to sign (activation, storage, power of attorney).

    Errors come as ``text/plain`` and still map to typed errors.

    Examples:
        >>> import asyncio
        >>> from datetime import date
        >>> from certmail_async import (CustomerType, MailboxRegistration,
        ...                             MailboxType, Sex)
        >>> registration = MailboxRegistration(
        ...     address="mario.rossi@legalmail.it", mailbox_type=MailboxType.BRONZE,
        ...     customer_type=CustomerType.PRIVATE_INDIVIDUAL, first_name="Mario",
        ...     last_name="Rossi", email="mario@example.com", phone="0548798569",
        ...     tax_code="RSSMRA82D11H501D", birth_date=date(1982, 4, 11), sex=Sex.MALE,
        ...     birth_country="IT", holder_address="via Verdi 20", holder_city="Roma",
        ...     holder_postal_code="00042", holder_country="IT", holder_province="RM")
        >>> from certmail_async.testing import run_fake
        >>> async def main() -> bytes:
        ...     async with run_fake("openapi_pec") as fake, fake.client() as client:
        ...         box = await client.mailboxes.register(registration=registration)
        ...         form = await client.forms.activation(box.id)
        ...     return form[:5]
        >>> asyncio.run(main())
        b'%PDF-'
    """

    async def _form(
        self,
        op: Operation,
        record_id: str,
        timeout: TimeoutTypes | NotGiven,
        retries: int | NotGiven,
        field: str = "mailbox_id",
    ) -> bytes:
        with validating(op):
            check_id(record_id, field=field)
        response = await self._call(
            op, path_params={"id": record_id}, timeout=timeout, max_retries=retries
        )
        return _wire.pdf(response, op)

    async def activation(
        self,
        mailbox_id: str,
        *,
        timeout: TimeoutTypes | NotGiven = NOT_GIVEN,
        max_retries: int | NotGiven = NOT_GIVEN,
    ) -> bytes:
        """The mailbox activation form (PDF bytes), to sign and send back with ``activate``."""
        return await self._form(OPS.FORM_ACTIVATION, mailbox_id, timeout, max_retries)

    async def storage(
        self,
        mailbox_id: str,
        *,
        timeout: TimeoutTypes | NotGiven = NOT_GIVEN,
        max_retries: int | NotGiven = NOT_GIVEN,
    ) -> bytes:
        """The legal-storage activation form (PDF bytes), for ``activate_storage``."""
        return await self._form(OPS.FORM_STORAGE, mailbox_id, timeout, max_retries)

    async def power_of_attorney(
        self,
        communication_id: str,
        *,
        timeout: TimeoutTypes | NotGiven = NOT_GIVEN,
        max_retries: int | NotGiven = NOT_GIVEN,
    ) -> bytes:
        """The Business Register power of attorney (PDF bytes), to sign as .p7m."""
        return await self._form(
            OPS.FORM_POWER_OF_ATTORNEY, communication_id, timeout, max_retries, "communication_id"
        )


class OpenapiPecClient(BaseClient):
    """Client for openapi.it PEC (``pec.openapi.it``): mailbox provisioning and more.

    ``token`` is an openapi.com bearer token whose scopes cover the calls (``METHOD:host/
    path``), or a `OAuthTokenSource` that refreshes it.
    ``sandbox=True`` targets ``test.pec.openapi.it`` (the token's scopes must name it) and
    requires new mailboxes on ``@testcert.legalmail.it`` or ``@test.domiciliodigitale.com``.

    The client remembers the type and user count of every mailbox it has seen, so actions a
    DOMICILIODIGITALE or PECMASSIVA box refuses fail before the request (and any charge).

    Examples:
        Against the fake (drop ``base_url=`` for the real service, pass ``sandbox=True``
        for the vendor's test host, and use your token):

        >>> import asyncio
        >>> from certmail_async import OpenapiPecClient
        >>> from certmail_async.testing import run_fake
        >>> async def main() -> bool | None:
        ...     async with run_fake("openapi_pec") as fake:
        ...         async with OpenapiPecClient(
        ...             token=fake.state.token, base_url=fake.url
        ...         ) as client:
        ...             address = "mario.rossi@legalmail.it"
        ...             return await client.mailboxes.availability(address)
        >>> asyncio.run(main())
        True
    """

    _ENV = (("token", "CERTMAIL_OPENAPI_TOKEN"),)

    def __init__(
        self,
        *,
        token: str | SecretStr | TokenSource,
        base_url: str | None = None,
        sandbox: bool = False,
        session: ClientSession | None = None,
        rate_limit: RateLimit | None = None,
        pacing: PacingBackend | None = None,
        timeout: TimeoutTypes = Timeout(),
        max_retries: int = 2,
        retry_policy: RetryPolicy = RetryPolicy(),
        response_limits: ResponseLimits = ResponseLimits(),
    ) -> None:
        try:  # the constructor's own parameters, before anything is built
            check_token(token)
            check_bool(sandbox, field="sandbox")
            check_instance(rate_limit, RateLimit, field="rate_limit", optional=True)
            check_instance(retry_policy, RetryPolicy, field="retry_policy")
        except ValidationError as error:
            error.provider = PROVIDER
            raise
        if not token:
            raise ValidationError("a token is required", field="token", provider=PROVIDER)
        auth = BearerAuth(token)
        self.sandbox = sandbox
        self._types: dict[str, MailboxType] = {}
        self._users: dict[str, int] = {}
        self._transport = Transport(
            profile=_Profile(),
            base_url=(SANDBOX_URL if sandbox else PRODUCTION_URL) if base_url is None else base_url,
            auth=auth,
            session=session,
            timeout=timeout,
            max_retries=max_retries,
            retry_policy=retry_policy,
            response_limits=response_limits,
            pacing=pacing,
            rate_limit=rate_limit,  # no cap is documented for this API
            scope=auth.scope_key,
        )
        self._bind_resources()

    def _bind_resources(self) -> None:
        self.domains = DomainsResource(self)
        self.mailboxes = MailboxesResource(self)
        self.registry_communications = RegistryCommunicationsResource(self)
        self.forms = FormsResource(self)

    def _remember(self, box: Mailbox | MailboxSummary) -> None:
        if box.mailbox_type is not None and box.mailbox_type.known:
            self._types[box.id] = box.mailbox_type
        if isinstance(box, Mailbox):
            self._users[box.id] = len(box.users)
