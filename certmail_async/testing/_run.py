"""`run_fake` and the fakes by provider name (re-exported by ``certmail_async.testing``)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager
from typing import TYPE_CHECKING, Any, Literal, TypeVar, overload

from ._core import FakeProvider, RunningFake, serve
from ._legallymail import FakeLegallyMail
from ._openapi_pec import FakeOpenapiPec
from ._pecmassiva import FakePecMassiva

if TYPE_CHECKING:
    from ..legallymail import LegallyMailClient
    from ..openapi_pec import OpenapiPecClient
    from ..pecmassiva import PecMassivaClient

_Fake = TypeVar("_Fake", bound=FakeProvider)

FAKES: dict[str, type[FakeProvider]] = {
    "pecmassiva": FakePecMassiva,
    "legallymail": FakeLegallyMail,
    "openapi_pec": FakeOpenapiPec,
}
"""The fake of each provider, by the name `run_fake` takes.

Examples:
    >>> from certmail_async.testing import FAKES
    >>> sorted(FAKES)
    ['legallymail', 'openapi_pec', 'pecmassiva']
    >>> FAKES["pecmassiva"]().username
    'box@pecmassiva.com'
"""

ProviderName = Literal["pecmassiva", "legallymail", "openapi_pec"]


@overload
def run_fake(
    provider: Literal["pecmassiva"],
    *,
    host: str = ...,
    port: int = ...,
    thread: bool = ...,
    **config: Any,
) -> AbstractAsyncContextManager[RunningFake[FakePecMassiva, PecMassivaClient]]: ...
@overload
def run_fake(
    provider: Literal["legallymail"],
    *,
    host: str = ...,
    port: int = ...,
    thread: bool = ...,
    **config: Any,
) -> AbstractAsyncContextManager[RunningFake[FakeLegallyMail, LegallyMailClient]]: ...
@overload
def run_fake(
    provider: Literal["openapi_pec"],
    *,
    host: str = ...,
    port: int = ...,
    thread: bool = ...,
    **config: Any,
) -> AbstractAsyncContextManager[RunningFake[FakeOpenapiPec, OpenapiPecClient]]: ...
@overload
def run_fake(
    provider: FakePecMassiva,
    *,
    host: str = ...,
    port: int = ...,
    thread: bool = ...,
) -> AbstractAsyncContextManager[RunningFake[FakePecMassiva, PecMassivaClient]]: ...
@overload
def run_fake(
    provider: FakeLegallyMail,
    *,
    host: str = ...,
    port: int = ...,
    thread: bool = ...,
) -> AbstractAsyncContextManager[RunningFake[FakeLegallyMail, LegallyMailClient]]: ...
@overload
def run_fake(
    provider: FakeOpenapiPec,
    *,
    host: str = ...,
    port: int = ...,
    thread: bool = ...,
) -> AbstractAsyncContextManager[RunningFake[FakeOpenapiPec, OpenapiPecClient]]: ...
@overload
def run_fake(
    provider: _Fake,
    *,
    host: str = ...,
    port: int = ...,
    thread: bool = ...,
) -> AbstractAsyncContextManager[RunningFake[_Fake, Any]]: ...
@overload
def run_fake(
    provider: ProviderName | FakeProvider,
    *,
    host: str = ...,
    port: int = ...,
    thread: bool = ...,
    **config: Any,
) -> AbstractAsyncContextManager[RunningFake[Any, Any]]: ...
@contextlib.asynccontextmanager
async def run_fake(
    provider: ProviderName | FakeProvider,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    thread: bool = False,
    **config: Any,
) -> AsyncIterator[RunningFake[Any, Any]]:
    """Start a fake provider on loopback; yields its URL, its state and a client factory.

    ``provider`` is a name (``"pecmassiva"``, ``"legallymail"``, ``"openapi_pec"``) with
    the fake's keyword configuration, or a fake instance you configured yourself.
    ``thread=True`` serves it from its own event loop in a background thread, so its caps
    judge arrivals even while your loop stalls (see [serve][certmail_async.testing.serve]).

    Examples:
        >>> import asyncio
        >>> from certmail_async import RateLimit
        >>> from certmail_async.testing import run_fake
        >>> fast = RateLimit(requests=1, per=0.05, margin=0)  # a scaled second
        >>> async def main() -> list[str]:
        ...     async with run_fake("pecmassiva", send_rate=fast) as fake:
        ...         async with fake.client() as client:  # paced under the cap
        ...             for subject in ("Uno", "Due"):
        ...                 await client.sends.create(
        ...                     recipients=["mario.rossi@pec.example.it"],
        ...                     subject=subject, body="Testo")
        ...         return [sent.subject for sent in fake.state.ledger]
        >>> asyncio.run(main())
        ['Uno', 'Due']
    """
    if isinstance(provider, FakeProvider):
        if config:
            raise TypeError("pass configuration to the fake's constructor, not to run_fake")
        fake: FakeProvider = provider
    else:
        try:
            fake = FAKES[provider](**config)
        except KeyError:
            raise ValueError(f"no fake for {provider!r}; known: {sorted(FAKES)}") from None
    async with serve(fake, host=host, port=port, thread=thread) as running:
        yield running
