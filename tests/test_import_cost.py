"""What each first line imports: only what its first request needs (issue 14 point 8).

Each check runs the import in a fresh interpreter and reads ``sys.modules``: no timing here
(``benchmarks/import_time.py`` measures), so a regression that drags a heavy module back
into a client import fails a test on any machine.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

#: Never loaded by importing a client: the other providers' packages, the receipt parsers
#: (MIME, XML), the optional validators, the fakes, the CLI, bulk, tracing and cattrs
#: (the wire converters are built on first use).
_EVERYWHERE = (
    "certmail_async.testing",
    "certmail_async.cli",
    "certmail_async.bulk",
    "certmail_async.loadtest",
    "certmail_async.receipts._eml",
    "certmail_async.receipts._daticert",
    "certmail_async.receipts._legallymail",
    "email_validator",
    "codicefiscale",
    "defusedxml",
    "xml.etree.ElementTree",
    "opentelemetry",
    "cattrs",
)

CASES: dict[str, tuple[str, ...]] = {
    "import certmail_async.pecmassiva": (
        *_EVERYWHERE,
        "certmail_async.legallymail",
        "certmail_async.openapi_pec",
    ),
    "from certmail_async import PecMassivaClient": (
        *_EVERYWHERE,
        "certmail_async.legallymail",
        "certmail_async.openapi_pec",
    ),
    "from certmail_async import LegallyMailClient": (
        *_EVERYWHERE,
        "certmail_async.pecmassiva",
        "certmail_async.openapi_pec",
        "certmail_async.receipts._outcomes",
        "certmail_async.receipts._kinds",
    ),
    "from certmail_async import OpenapiPecClient": (
        *_EVERYWHERE,
        "certmail_async.pecmassiva",
        "certmail_async.legallymail",
        "certmail_async.receipts",
        "certmail_async.openapi_pec._callbacks",
        "certmail_async.openapi_pec._oauth",
    ),
    "from certmail_async.sync import PecMassivaClient": (
        *_EVERYWHERE,
        "certmail_async.pecmassiva",
        "certmail_async.legallymail",
        "certmail_async.openapi_pec",
    ),
    # Reading LegallyMail outcomes needs its models, not its client.
    "from certmail_async.receipts import legallymail_outcomes": (
        "certmail_async.legallymail._client",
        "certmail_async.pecmassiva",
        "certmail_async.openapi_pec",
        "cattrs",
    ),
    # Bulk reads LegallyMail's evidence models; the clients are the caller's to import.
    "from certmail_async import BulkDispatcher": (
        "certmail_async.pecmassiva",
        "certmail_async.legallymail._client",
        "certmail_async.bulk._journal_postgres",
        "certmail_async.bulk._refresh",
        *(
            m
            for m in _EVERYWHERE
            if m not in ("certmail_async.bulk", "certmail_async.receipts._legallymail")
        ),
        "certmail_async.openapi_pec",
    ),
}


def _loaded(statement: str, prefixes: tuple[str, ...]) -> list[str]:
    """The modules among ``prefixes`` (and their submodules) loaded by ``statement``."""
    code = (
        "import json, sys\n"
        f"{statement}\n"
        f"prefixes = {prefixes!r}\n"
        "print(json.dumps(sorted(m for m in sys.modules\n"
        "    if any(m == p or m.startswith(p + '.') for p in prefixes))))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    loaded: list[str] = json.loads(done.stdout)
    return loaded


@pytest.mark.parametrize("statement", list(CASES))
def test_first_line_loads_no_module_its_first_request_does_not_need(statement: str) -> None:
    """Each usual first line leaves other providers, parsers, validators, fakes and CLI unloaded."""
    assert _loaded(statement, CASES[statement]) == []


def test_pecmassiva_loads_its_receipt_parsers_on_first_report() -> None:
    """The MIME/XML parsers load when a report is first built, so laziness loses nothing."""
    statement = (
        "from certmail_async.pecmassiva import SendTracker\n"
        "from certmail_async.receipts import delivery_report\n"
        "delivery_report((), recipients=['a@pec.example.it'])"
    )
    assert _loaded(statement, ("certmail_async.receipts._eml",)) == ["certmail_async.receipts._eml"]


def test_converter_is_built_on_first_use() -> None:
    """A wire module's converter (cattrs) is built when first read, with its renames."""
    statement = (
        "from certmail_async.pecmassiva._wire import LENIENT\n"
        "assert 'cattrs' not in sys.modules\n"
        "assert LENIENT.converter is LENIENT.converter"
    )
    assert "cattrs" in _loaded(statement, ("cattrs",))


def test_every_public_name_still_imports() -> None:
    """`from certmail_async import X` works for every name in __all__ (lazy or not)."""
    statement = (
        "import certmail_async\n"
        "missing = [n for n in certmail_async.__all__ if not hasattr(certmail_async, n)]\n"
        "assert not missing, missing\n"
        "import certmail_async.receipts as r, certmail_async.openapi_pec as o\n"
        "for m in (r, o):\n"
        "    assert all(hasattr(m, n) for n in m.__all__), m\n"
        "    assert set(m.__all__) <= set(dir(m)), m"
    )
    assert _loaded(statement, ("certmail_async.testing",)) == []


def test_lazy_imports_leave_model_annotations_resolvable() -> None:
    """Fields of public models still resolve (attrs.resolve_types, cattrs unstructure)."""
    statement = (
        "import attrs, cattrs\n"
        "from certmail_async.pecmassiva import TrackedSend\n"
        "from certmail_async.receipts import RecipientOutcome, delivery_report\n"
        "attrs.resolve_types(TrackedSend)\n"
        "attrs.resolve_types(RecipientOutcome)\n"
        "cattrs.Converter().unstructure(delivery_report((), recipients=['a@pec.example.it']))"
    )
    assert _loaded(statement, ("certmail_async.pecmassiva",)) != []
