"""openapi.it PEC: mailbox provisioning, Business Register communications, forms; OAuth v2."""

from typing import TYPE_CHECKING, Any

from .._lazy import LazyNames
from ._client import (
    DomainsResource,
    FormsResource,
    MailboxesResource,
    OpenapiPecClient,
    RegistryCommunicationsResource,
)
from ._models import (
    SUBTYPES,
    Callback,
    CallbackMethod,
    CommunicationRole,
    CommunicationState,
    CustomerSubtype,
    CustomerType,
    DomainCheck,
    IdDocument,
    IdDocumentType,
    Mailbox,
    MailboxEvents,
    MailboxRegistration,
    MailboxState,
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
    from ._callbacks import (
        MAX_CALLBACK_SIZE,
        MIN_SECRET_LENGTH,
        SECRET_PARAM,
        CallbackEvent,
        CallbackVerificationError,
        MailboxEvent,
        RegistryCommunicationEvent,
        UnknownCallbackEvent,
        callback_handler,
        parse_callback,
    )
    from ._oauth import OAuthClient, OAuthTokenSource, ScopesResource, TokensResource

# The callback receiver and the OAuth client load on first use (PEP 562): importing the
# PEC client does not pay for them.
_LAZY_MODULES: dict[str, tuple[str, ...]] = {
    "_callbacks": (
        "MAX_CALLBACK_SIZE",
        "MIN_SECRET_LENGTH",
        "SECRET_PARAM",
        "CallbackEvent",
        "CallbackVerificationError",
        "MailboxEvent",
        "RegistryCommunicationEvent",
        "UnknownCallbackEvent",
        "callback_handler",
        "parse_callback",
    ),
    "_oauth": ("OAuthClient", "OAuthTokenSource", "ScopesResource", "TokensResource"),
}


_NAMES = LazyNames(__name__, globals(), _LAZY_MODULES)


def __getattr__(name: str) -> Any:
    """Load a public name's module on first access and cache the name here.

    Examples:
        >>> from certmail_async import openapi_pec
        >>> openapi_pec.OAuthClient.__name__
        'OAuthClient'
    """
    return _NAMES.load(name)


def __dir__() -> list[str]:
    """List the module's names, the lazily loaded public ones included."""
    return _NAMES.names()


__all__ = [
    "MAX_CALLBACK_SIZE",
    "MIN_SECRET_LENGTH",
    "SECRET_PARAM",
    "SUBTYPES",
    "Callback",
    "CallbackEvent",
    "CallbackMethod",
    "CallbackVerificationError",
    "CommunicationRole",
    "CommunicationState",
    "CustomerSubtype",
    "CustomerType",
    "DomainCheck",
    "DomainsResource",
    "FormsResource",
    "IdDocument",
    "IdDocumentType",
    "Mailbox",
    "MailboxEvent",
    "MailboxEvents",
    "MailboxRegistration",
    "MailboxState",
    "MailboxSummary",
    "MailboxType",
    "MailboxUser",
    "MailboxesResource",
    "OAuthClient",
    "OAuthTokenSource",
    "OpenapiPecClient",
    "RegistryCommunication",
    "RegistryCommunicationEvent",
    "RegistryCommunicationRequest",
    "RegistryCommunicationSummary",
    "RegistryCommunicationsResource",
    "Scope",
    "ScopesResource",
    "Sex",
    "Token",
    "TokenLimits",
    "TokensResource",
    "UnknownCallbackEvent",
    "callback_handler",
    "parse_callback",
]
