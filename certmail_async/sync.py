"""The same clients, blocking: for Django views, Celery tasks, scripts and trio programs.

The async clients need asyncio (aiohttp is asyncio-only). This facade runs them on one
event loop in a background thread, shared by every sync client in the process (so they
share its pacing gates), through anyio's blocking portal. One client may serve many
threads; use it as a plain ``with`` block or call ``close()``.

Examples:
    >>> from certmail_async import sync
    >>> def notify(client: sync.PecMassivaClient, address: str) -> str:
    ...     sent = client.sends.create(recipients=[address], subject="Avviso",
    ...                                body="Testo")
    ...     for message in client.inbox.list(q="ACCETTAZIONE"):
    ...         print(message.subject)
    ...     return sent.code
"""

from ._sync import (
    BlockingIterator,
    LegallyMailClient,
    OAuthClient,
    OAuthTokenSource,
    OpenapiPecClient,
    PecMassivaClient,
    SyncClient,
    SyncResource,
    shutdown,
)

__all__ = [
    "BlockingIterator",
    "LegallyMailClient",
    "OAuthClient",
    "OAuthTokenSource",
    "OpenapiPecClient",
    "PecMassivaClient",
    "SyncClient",
    "SyncResource",
    "shutdown",
]
