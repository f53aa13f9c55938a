"""Fake provider servers for tests and load tests (no network beyond loopback).

Examples:
    >>> import asyncio
    >>> from certmail_async.testing import run_fake
    >>> async def main() -> int:
    ...     async with run_fake("pecmassiva") as fake:
    ...         async with fake.client() as client:
    ...             await client.sends.create(recipients=["a@pec.example.it"],
    ...                                       subject="Hi", body="Hello")
    ...         return len(fake.state.ledger)
    >>> asyncio.run(main())
    1
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .._lazy import LazyNames

if TYPE_CHECKING:
    from ._core import (
        FakeProvider,
        RequestRecord,
        RunningFake,
        serve,
    )
    from ._faults import (
        Fault,
        FaultPlan,
        RateCap,
    )
    from ._legallymail import (
        LEGALLYMAIL_BEHAVIOURS,
        DocumentAccess,
        FakeLegallyMail,
        FakeSignature,
        LegallyMailBehaviour,
        SentEmail,
    )
    from ._limiters import (
        LIMITER_KINDS,
        Admission,
        FixedWindowLimiter,
        LimiterKind,
        ServerLimiter,
        SlidingLogLimiter,
        StrictSpacingLimiter,
        TokenBucketLimiter,
        make_limiter,
        max_in_window,
    )
    from ._openapi_pec import (
        CallbackDelivery,
        FakeOpenapiPec,
        FakeToken,
        LedgerEntry,
    )
    from ._pdf import (
        minimal_pdf,
    )
    from ._pec_eml import (
        PecMessageSpec,
        pec_message_eml,
    )
    from ._pecmassiva import (
        PEC_BEHAVIOURS,
        FakePecMassiva,
        InboxItem,
        PecBehaviour,
        SentRecord,
    )
    from ._run import (
        FAKES,
        run_fake,
    )
    from ._run import (
        ProviderName as ProviderName,
    )

# The fakes load on first use (PEP 562), so the pytest plugin, which lives in this
# package, costs a pytest run nothing until one of its fixtures runs.
_LAZY_MODULES: dict[str, tuple[str, ...]] = {
    "_core": (
        "FakeProvider",
        "RequestRecord",
        "RunningFake",
        "serve",
    ),
    "_faults": (
        "Fault",
        "FaultPlan",
        "RateCap",
    ),
    "_legallymail": (
        "LEGALLYMAIL_BEHAVIOURS",
        "DocumentAccess",
        "FakeLegallyMail",
        "FakeSignature",
        "LegallyMailBehaviour",
        "SentEmail",
    ),
    "_limiters": (
        "LIMITER_KINDS",
        "Admission",
        "FixedWindowLimiter",
        "LimiterKind",
        "ServerLimiter",
        "SlidingLogLimiter",
        "StrictSpacingLimiter",
        "TokenBucketLimiter",
        "make_limiter",
        "max_in_window",
    ),
    "_openapi_pec": (
        "CallbackDelivery",
        "FakeOpenapiPec",
        "FakeToken",
        "LedgerEntry",
    ),
    "_pdf": ("minimal_pdf",),
    "_pec_eml": (
        "PecMessageSpec",
        "pec_message_eml",
    ),
    "_pecmassiva": (
        "PEC_BEHAVIOURS",
        "FakePecMassiva",
        "InboxItem",
        "PecBehaviour",
        "SentRecord",
    ),
    "_run": (
        "FAKES",
        "ProviderName",
        "run_fake",
    ),
}

__all__ = [
    "FAKES",
    "LEGALLYMAIL_BEHAVIOURS",
    "LIMITER_KINDS",
    "PEC_BEHAVIOURS",
    "Admission",
    "CallbackDelivery",
    "DocumentAccess",
    "FakeLegallyMail",
    "FakeOpenapiPec",
    "FakePecMassiva",
    "FakeProvider",
    "Fault",
    "FakeSignature",
    "FakeToken",
    "FaultPlan",
    "FixedWindowLimiter",
    "InboxItem",
    "LedgerEntry",
    "LegallyMailBehaviour",
    "LimiterKind",
    "PecBehaviour",
    "PecMessageSpec",
    "RateCap",
    "RequestRecord",
    "RunningFake",
    "SentEmail",
    "SentRecord",
    "ServerLimiter",
    "SlidingLogLimiter",
    "StrictSpacingLimiter",
    "TokenBucketLimiter",
    "make_limiter",
    "max_in_window",
    "minimal_pdf",
    "pec_message_eml",
    "run_fake",
    "serve",
]


_NAMES = LazyNames(__name__, globals(), _LAZY_MODULES)


def __getattr__(name: str) -> Any:
    """Load a fake's module on first access and cache the name here.

    Examples:
        >>> import certmail_async.testing
        >>> certmail_async.testing.FakePecMassiva.__name__
        'FakePecMassiva'
    """
    return _NAMES.load(name)


def __dir__() -> list[str]:
    """List the module's names, the lazily loaded public ones included."""
    return _NAMES.names()
