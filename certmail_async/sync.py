"""The same clients, blocking: for Django views, Celery tasks, scripts and trio programs.

The async clients need asyncio (aiohttp is asyncio-only). This facade runs them on one
event loop in a background thread, shared by every sync client in the process (so they
share its pacing gates), through anyio's blocking portal. One client may serve many
threads; use it as a plain ``with`` block or call ``close()``.

Examples:
    >>> from certmail_async import sync
    >>> with sync.PecMassivaClient(  # doctest: +SKIP
    ...     token="...", username="box@pecmassiva.com", password="..."
    ... ) as client:
    ...     sent = client.sends.create(recipients=["a@pec.example.it"], subject="s", body="b")
    ...     for message in client.inbox.list(q="ACCETTAZIONE"):
    ...         print(message.subject)
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
