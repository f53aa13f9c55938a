"""Receipt kinds from subject prefixes and per-recipient outcomes."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from certmail_async import Outcome, Receipt, ReceiptKind, ReceiptSummary
from certmail_async.receipts import classify_subject

NOW = datetime(2024, 3, 25, 10, 15, tzinfo=UTC)


def receipt(subject: str, body: str = "") -> Receipt:
    return Receipt(date=NOW, subject=subject, body=body)


class TestClassify:
    @pytest.mark.parametrize(
        ("subject", "kind"),
        [
            ("ACCETTAZIONE: Fattura 1", ReceiptKind.ACCEPTANCE),
            ("AVVISO DI NON ACCETTAZIONE: Fattura 1", ReceiptKind.NON_ACCEPTANCE),
            ("AVVISO DI NON ACCETTAZIONE PER VIRUS: Fattura 1", ReceiptKind.NON_ACCEPTANCE),
            ("POSTA CERTIFICATA: Fattura 1", ReceiptKind.TRANSPORT_ENVELOPE),
            ("CONSEGNA: Fattura 1", ReceiptKind.DELIVERY),
            ("AVVISO DI MANCATA CONSEGNA: Fattura 1", ReceiptKind.NON_DELIVERY),
            ("AVVISO DI MANCATA CONSEGNA PER VIRUS: Fattura 1", ReceiptKind.NON_DELIVERY),
            (
                "AVVISO DI MANCATA CONSEGNA PER SUP. TEMPO MASSIMO: Fattura 1",
                ReceiptKind.DELIVERY_WARNING,
            ),
            ("PRESA IN CARICO: Fattura 1", ReceiptKind.TAKEN_IN_CHARGE),
            ("PROBLEMA DI SICUREZZA: Fattura 1", ReceiptKind.VIRUS_DETECTION),
            ("ANOMALIA MESSAGGIO: Fattura 1", ReceiptKind.ANOMALY_ENVELOPE),
            ("  consegna: lower case", ReceiptKind.DELIVERY),
            ("Re: CONSEGNA: not a prefix", ReceiptKind.UNKNOWN),
            ("", ReceiptKind.UNKNOWN),
        ],
    )
    def test_prefixes(self, subject: str, kind: ReceiptKind) -> None:
        """Each documented prefix maps to its kind; longest prefix wins; others are UNKNOWN."""
        assert classify_subject(subject)[0] is kind

    def test_original_subject_is_kept(self) -> None:
        """The original subject after the prefix is kept; unknown subjects stay raw."""
        assert classify_subject("CONSEGNA: Fattura 1 2020")[1] == "Fattura 1 2020"
        assert classify_subject("Hello")[1] == "Hello"


class TestSummary:
    def test_outcomes_by_recipient(self) -> None:
        """Delivery and non-delivery receipts set final outcomes for the recipient they name."""
        summary = ReceiptSummary(
            code="1",
            receipts=(
                receipt("ACCETTAZIONE: x"),
                receipt("CONSEGNA: x", 'ed indirizzato a "a@pec.it" e\' stato consegnato'),
                receipt(
                    "AVVISO DI MANCATA CONSEGNA: x", 'ed indirizzato a "B@pec.it" si e\' verificato'
                ),
            ),
        )
        assert summary.accepted
        assert not summary.rejected
        assert summary.outcome_for("a@pec.it") is Outcome.DELIVERED
        assert summary.outcome_for("b@pec.it") is Outcome.FAILED
        assert summary.outcome_for("c@pec.it") is Outcome.PENDING

    def test_final_outcome_is_never_downgraded(self) -> None:
        """A warning that arrives after a delivery does not erase the delivery."""
        summary = ReceiptSummary(
            code="1",
            receipts=(
                receipt("CONSEGNA: x", 'indirizzato a "a@pec.it" '),
                receipt(
                    "AVVISO DI MANCATA CONSEGNA PER SUP. TEMPO MASSIMO: x",
                    'indirizzato a "a@pec.it" ',
                ),
            ),
        )
        assert summary.outcome_for("a@pec.it") is Outcome.DELIVERED

    def test_warning_then_pending(self) -> None:
        """A time-limit notice alone is a warning, not a final failure."""
        summary = ReceiptSummary(
            code="1",
            receipts=(
                receipt("ACCETTAZIONE: x"),
                receipt(
                    "AVVISO DI MANCATA CONSEGNA PER SUP. TEMPO MASSIMO: x",
                    'indirizzato a "a@pec.it" ',
                ),
            ),
        )
        assert summary.outcome_for("a@pec.it") is Outcome.WARNING

    def test_non_acceptance_fails_everyone(self) -> None:
        """A non-acceptance notice is a final failure for every recipient."""
        summary = ReceiptSummary(code="1", receipts=(receipt("AVVISO DI NON ACCETTAZIONE: x"),))
        assert summary.rejected
        assert summary.outcome_for("anyone@pec.it") is Outcome.FAILED

    def test_unknown_receipts_never_block(self) -> None:
        """Unknown messages are kept and ignored for outcomes."""
        summary = ReceiptSummary(
            code="1", receipts=(receipt("Something odd"), receipt("ACCETTAZIONE: x"))
        )
        assert len(summary.by_kind(ReceiptKind.UNKNOWN)) == 1
        assert summary.accepted
