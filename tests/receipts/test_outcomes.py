"""Per-recipient outcomes: the reference's final-outcome table, by address, in any order."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from certmail_async import EmailStatus
from certmail_async._transport import Response
from certmail_async.legallymail._wire import OPS, LegallyMailWire
from certmail_async.receipts import (
    DeliveryState,
    EvidenceSource,
    LegallyMailState,
    Outcome,
    PecRecipientType,
    ProviderMessage,
    Receipt,
    ReceiptEvidence,
    ReceiptKind,
    ReceiptSummary,
    delivery_report,
    legallymail_outcomes,
    parse_eml,
)

from .conftest import sample

A = "protocollo@pec.comune.example.it"
B = "amministrazione@pec.fornitore.example.it"
EXTERNAL = "info@example.com"
T0 = datetime(2024, 5, 21, 10, 15, tzinfo=UTC)
S = DeliveryState


def eml(name: str) -> ProviderMessage:
    return parse_eml(sample(name))


def subj(prefix: str, who: str | None = None, minutes: int = 0) -> Receipt:
    """A PEC Massiva item: subject-derived, the recipient named in the receipt text."""
    body = f'Il messaggio ed indirizzato a "{who}" ...' if who else ""
    return Receipt(
        date=T0 + timedelta(minutes=minutes), subject=f"{prefix}: Avviso 4411 123", body=body
    )


class TestFinalOutcomeTable:
    """One test per row of pec-receipts.md §2.1, on the sample .eml files."""

    def test_delivery_receipt_naming_the_recipient_is_delivered(self) -> None:
        """avvenuta-consegna whose consegna names A: A delivered (final), B still pending."""
        report = delivery_report(
            [eml("accettazione.eml"), eml("avvenuta-consegna-completa.eml")], recipients=[A, B]
        )
        assert report[A].state is S.DELIVERED
        assert report[A].final
        assert report[A].evidence is EvidenceSource.DATICERT
        assert report[A].delivered_at == datetime(2024, 5, 21, 8, 15, 32, tzinfo=UTC)
        assert report[A].accepted_at == datetime(2024, 5, 21, 8, 15, 30, tzinfo=UTC)
        assert report[B].state is S.PENDING
        assert not report.final

    def test_non_delivery_naming_the_recipient(self) -> None:
        """errore-consegna naming B: B not delivered (final); the notice is the proof."""
        notice = eml("errore-consegna.eml")
        report = delivery_report([eml("accettazione.eml"), notice], recipients=[A, B])
        assert report[B].state is S.NOT_DELIVERED
        assert report[B].decided_by == notice
        assert report[B].failed_at == notice.timestamp
        assert report[A].state is S.PENDING

    def test_virus_detection_is_failed(self) -> None:
        """rilevazione-virus concerning A: failed (final)."""
        report = delivery_report([eml("rilevazione-virus.eml")], recipients=[A, B])
        assert report[A].state is S.FAILED
        assert report[B].state is S.PENDING

    @pytest.mark.parametrize("name", ["non-accettazione.eml", "non-accettazione-virus.eml"])
    def test_non_acceptance_fails_every_recipient(self, name: str) -> None:
        """non-accettazione: failed, never sent, for every recipient (final)."""
        report = delivery_report([eml(name)], recipients=[A, B])
        assert report.states == {A: S.NEVER_SENT, B: S.NEVER_SENT}
        assert report.final

    def test_only_acceptance_is_pending(self) -> None:
        """Only an acceptance so far: pending, and never delivered."""
        report = delivery_report([eml("accettazione.eml")], recipients=[A])
        assert report[A].state is S.PENDING
        assert report[A].state.outcome is Outcome.PENDING
        assert not report[A].final

    def test_delay_warning_is_pending_with_a_warning(self) -> None:
        """preavviso-errore-consegna: pending with a warning, not final."""
        report = delivery_report([eml("preavviso-errore-consegna.eml")], recipients=[B])
        assert report[B].state is S.DELAYED
        assert report[B].warned_at == datetime(2024, 5, 21, 20, 15, 30, tzinfo=UTC)
        assert not report[B].final

    def test_aruba_541_warning_is_final_failure(self) -> None:
        """The documented Aruba quirk: a 5.4.1 warning is not delivered, rule named."""
        report = delivery_report([eml("preavviso-errore-consegna-aruba-541.eml")], recipients=[B])
        assert report[B].state is S.NOT_DELIVERED
        assert report[B].rule == "aruba-5.4.1"
        assert report[B].decided_by is not None
        assert report[B].decided_by.kind is ReceiptKind.DELIVERY_WARNING  # raw kind kept

    def test_external_recipient_after_acceptance(self) -> None:
        """destinatari tipo=esterno: accepted, no PEC delivery receipt expected."""
        report = delivery_report([eml("accettazione.eml")], recipients=[A, B, EXTERNAL])
        assert report[EXTERNAL].state is S.ACCEPTED_EXTERNAL
        assert report[EXTERNAL].recipient_type is PecRecipientType.EXTERNAL
        assert report[EXTERNAL].rule == "external recipient"
        assert report[A].recipient_type is PecRecipientType.CERTIFIED

    def test_recipients_listed_by_the_acceptance_are_reported(self) -> None:
        """Without a recipient list, the acceptance's destinatari name them."""
        report = delivery_report([eml("accettazione.eml")])
        assert set(report.states) == {A, B, EXTERNAL}

    def test_nothing_yet_is_pending_without_proof(self) -> None:
        """A recipient no receipt mentions: pending, decided by nothing."""
        outcome = delivery_report([], recipients=["X@Pec.Example.it"])["x@pec.example.it"]
        assert (outcome.state, outcome.decided_by, outcome.receipts) == (S.PENDING, None, ())


class TestPrecedence:
    @pytest.mark.parametrize("warning_first", [True, False])
    def test_delivery_wins_over_an_earlier_or_later_warning(self, warning_first: bool) -> None:
        """Warning then delivery, or delivery then warning: delivered either way."""
        warning = subj("AVVISO DI MANCATA CONSEGNA PER SUP. TEMPO MASSIMO", A, minutes=720)
        delivery = subj("CONSEGNA", A, minutes=721 if warning_first else 5)
        report = delivery_report([warning, delivery], recipients=[A])
        assert report[A].state is S.DELIVERED
        assert report[A].decided_by == delivery
        assert report[A].receipts == tuple(sorted([warning, delivery], key=lambda r: r.timestamp))

    def test_delivery_and_non_delivery_conflict_is_recorded(self) -> None:
        """A contradicting notice never hides a delivery receipt, and is kept as a conflict."""
        delivery, notice = subj("CONSEGNA", A, 1), subj("AVVISO DI MANCATA CONSEGNA", A, 2)
        outcome = delivery_report([notice, delivery])[A]
        assert outcome.state is S.DELIVERED
        assert outcome.conflicts == (notice,)

    def test_second_subject_only_time_limit_notice_is_final(self) -> None:
        """Two distinct subject-only time-limit notices: the second is the final one."""
        first = subj("AVVISO DI MANCATA CONSEGNA PER SUP. TEMPO MASSIMO", A, 720)
        second = subj("AVVISO DI MANCATA CONSEGNA PER SUP. TEMPO MASSIMO", A, 1440)
        assert delivery_report([first])[A].state is S.DELAYED
        outcome = delivery_report([second, first])[A]
        assert outcome.state is S.NOT_DELIVERED
        assert outcome.rule == "second time-limit notice"
        assert outcome.decided_by == second

    def test_the_same_notice_twice_is_one_notice(self) -> None:
        """A receipt polled twice (equal content) counts once: still a warning."""
        warning = subj("AVVISO DI MANCATA CONSEGNA PER SUP. TEMPO MASSIMO", A, 720)
        copy = subj("AVVISO DI MANCATA CONSEGNA PER SUP. TEMPO MASSIMO", A, 720)
        report = delivery_report([warning, copy])
        assert report[A].state is S.DELAYED
        assert len(report.receipts) == 1

    def test_daticert_warnings_never_use_the_subject_rule(self) -> None:
        """Two daticert warnings stay a warning: daticert tells warning from final notice."""
        w1 = eml("preavviso-errore-consegna.eml")
        w2 = ProviderMessage(
            kind=ReceiptKind.DELIVERY_WARNING,
            evidence=EvidenceSource.DATICERT,
            delivery_address=B,
            timestamp=T0 + timedelta(hours=13),
        )
        assert delivery_report([w1, w2])[B].state is S.DELAYED

    def test_final_time_limit_notice_after_warning(self) -> None:
        """The 12-hour warning then the 24-hour errore-consegna: not delivered."""
        report = delivery_report(
            [eml("errore-consegna-tempo-massimo.eml"), eml("preavviso-errore-consegna.eml")]
        )
        assert report[B].state is S.NOT_DELIVERED
        assert report[B].rule is None


class TestAssignment:
    def test_only_recipient_takes_nameless_receipts(self) -> None:
        """A per-recipient receipt naming nobody concerns the only recipient, rule named."""
        nameless = subj("CONSEGNA")
        outcome = delivery_report([nameless], recipients=[A])[A]
        assert outcome.state is S.DELIVERED
        assert outcome.rule == "only recipient"

    def test_nameless_receipts_with_several_recipients_are_kept_unassigned(self) -> None:
        """With two recipients, a nameless delivery proves nothing for either; it is kept."""
        nameless = subj("CONSEGNA")
        report = delivery_report([nameless], recipients=[A, B])
        assert report.states == {A: S.PENDING, B: S.PENDING}
        assert report.unassigned == (nameless,)

    def test_envelopes_and_unknown_messages_are_kept_apart(self) -> None:
        """Envelopes and unknown items never set a state and are never dropped."""
        odd = Receipt(date=T0, subject="Re: hello")
        report = delivery_report([eml("posta-certificata.eml"), odd], recipients=[A])
        assert report[A].state is S.PENDING  # the envelope's acceptance is not implied
        assert {r.kind for r in report.other} == {
            ReceiptKind.TRANSPORT_ENVELOPE,
            ReceiptKind.UNKNOWN,
        }

    def test_mixed_sources_for_one_send(self) -> None:
        """A PEC Massiva subject item and a parsed .eml for the same send aggregate together."""
        report = delivery_report(
            [subj("ACCETTAZIONE"), eml("errore-consegna.eml"), subj("CONSEGNA", A, 1)],
            recipients=[A, B],
        )
        assert report.states == {A: S.DELIVERED, B: S.NOT_DELIVERED}
        assert report[A].evidence is EvidenceSource.SUBJECT
        assert report[B].evidence is EvidenceSource.DATICERT
        assert report.count(S.DELIVERED) == 1

    def test_addresses_match_case_insensitively(self) -> None:
        """Addresses are compared lower-cased without blanks or angle brackets."""
        report = delivery_report([subj("CONSEGNA", "Protocollo@PEC.comune.example.it")])
        assert f" <{A.upper()}> " in report
        assert report[A.upper()].state is S.DELIVERED


class TestReceiptSummary:
    def test_outcomes_no_longer_depend_on_arrival_order(self) -> None:
        """ReceiptSummary.outcomes: delivery then notice and notice then delivery agree."""
        d, n = subj("CONSEGNA", A, 1), subj("AVVISO DI MANCATA CONSEGNA", A, 2)
        one = ReceiptSummary(code="1", receipts=(d, n)).outcomes
        two = ReceiptSummary(code="1", receipts=(n, d)).outcomes
        assert one == two == {A: Outcome.DELIVERED}

    def test_report_with_recipients(self) -> None:
        """summary.report(recipients=...) gives every recipient a state."""
        summary = ReceiptSummary(code="1", receipts=(subj("AVVISO DI NON ACCETTAZIONE"),))
        assert summary.report(recipients=[A, B]).states == {A: S.NEVER_SENT, B: S.NEVER_SENT}
        assert summary.outcome_for(A) is Outcome.FAILED


# -- properties ---------------------------------------------------------------------------

ADDRESSES = ["a@pec.example.it", "b@pec.example.it", "c@pec.example.it"]
PREFIXES = {
    ReceiptKind.ACCEPTANCE: "ACCETTAZIONE",
    ReceiptKind.NON_ACCEPTANCE: "AVVISO DI NON ACCETTAZIONE",
    ReceiptKind.DELIVERY: "CONSEGNA",
    ReceiptKind.NON_DELIVERY: "AVVISO DI MANCATA CONSEGNA",
    ReceiptKind.DELIVERY_WARNING: "AVVISO DI MANCATA CONSEGNA PER SUP. TEMPO MASSIMO",
    ReceiptKind.TAKEN_IN_CHARGE: "PRESA IN CARICO",
    ReceiptKind.VIRUS_DETECTION: "PROBLEMA DI SICUREZZA",
    ReceiptKind.TRANSPORT_ENVELOPE: "POSTA CERTIFICATA",
}

subject_items = st.builds(
    subj,
    st.sampled_from(sorted(PREFIXES.values())),
    st.one_of(st.none(), st.sampled_from(ADDRESSES)),
    st.integers(0, 2000),
)
eml_items = st.builds(
    lambda kind, who, minutes, extended: ProviderMessage(
        kind=kind,
        evidence=EvidenceSource.DATICERT,
        raw_kind=kind.value,
        delivery_address=who,
        timestamp=T0 + timedelta(minutes=minutes),
        extended_error=extended,
    ),
    st.sampled_from(sorted(PREFIXES, key=lambda k: k.value)),
    st.one_of(st.none(), st.sampled_from(ADDRESSES)),
    st.integers(0, 2000),
    st.sampled_from([None, "5.4.1 - rejected", "4.4.7 - timeout"]),
)
receipt_sets = st.lists(st.one_of(subject_items, eml_items), max_size=10)


class TestProperties:
    @settings(max_examples=500)
    @given(receipt_sets, st.randoms(use_true_random=False), st.integers(0, 3))
    def test_arrival_order_never_changes_the_report(
        self, receipts: list[ReceiptEvidence], rng: Any, listed: int
    ) -> None:
        """Any permutation of the same receipts (with duplicates) gives an equal report."""
        recipients = ADDRESSES[:listed]
        expected = delivery_report(receipts, recipients=recipients)
        shuffled = list(receipts) + receipts[: len(receipts) // 2]  # some arrive twice
        rng.shuffle(shuffled)
        assert delivery_report(shuffled, recipients=reversed(recipients)) == expected

    @settings(max_examples=500)
    @given(receipt_sets, st.sampled_from(ADDRESSES), st.integers(0, 2000), st.booleans())
    def test_a_delivery_always_wins(
        self, receipts: list[ReceiptEvidence], who: str, minutes: int, as_eml: bool
    ) -> None:
        """Whatever else arrived, before or after, a delivery naming a recipient delivers it."""
        delivery: ReceiptEvidence = (
            ProviderMessage(
                kind=ReceiptKind.DELIVERY,
                evidence=EvidenceSource.DATICERT,
                delivery_address=who,
                timestamp=T0 + timedelta(minutes=minutes),
            )
            if as_eml
            else subj("CONSEGNA", who, minutes)
        )
        report = delivery_report([*receipts, delivery], recipients=ADDRESSES)
        assert report[who].state is DeliveryState.DELIVERED
        assert report[who].final

    @settings(max_examples=300)
    @given(receipt_sets)
    def test_every_receipt_is_kept_somewhere(self, receipts: list[ReceiptEvidence]) -> None:
        """No receipt is ever dropped: each is in a recipient's proof, other or unassigned."""
        report = delivery_report(receipts, recipients=ADDRESSES[:2])
        kept = {id(r) for o in report.recipients for r in o.receipts}
        kept |= {id(r) for r in (*report.other, *report.unassigned)}
        assert all(id(r) in kept for r in report.receipts)
        assert len(report.receipts) <= len(receipts)


# -- LegallyMail --------------------------------------------------------------------------


def email_detail(body: dict[str, Any]) -> Any:
    response = Response(
        status=200,
        headers={"content-type": "application/json"},
        content=json.dumps(body).encode(),
    )
    return LegallyMailWire().email(response, OPS.EMAIL)


# legallymail.md §5.4, verbatim, plus a failed recipient and an unknown status.
DETAIL = {
    "success": True,
    "email": {
        "id": 123,
        "tracking_id": "cm_abc123",
        "recipient": "Multiple Recipients",
        "subject": "Group Email",
        "status": "pending",
        "sent_at": "2024-01-15 10:30:00",
        "read_at": None,
        "created_at": "2024-01-15 10:30:00",
        "mailsender_id": "mail_xyz789",
        "is_multi_recipient": True,
        "recipient_count": 2,
        "error_status": None,
        "certificates": [],
        "recipients": [
            {
                "email": "recipient1@example.com",
                "name": "Recipient One",
                "status": "read",
                "tracking_id": "cm_rec1_xyz",
                "sent_at": "2024-01-15 10:30:05",
                "delivered_at": "2024-01-15 10:30:10",
                "read_at": "2024-01-15 11:00:00",
                "error_details": None,
                "certificates": [
                    {
                        "certificate_type": "read",
                        "file_hash": "sha256_hash_read_1",
                        "confirmed_at": "2024-01-15 11:00:00",
                        "has_tsr": True,
                        "has_tsq": True,
                        "pdf_download_url": "https://legallymail.com/emails/download-certificate?id=cm_rec1_xyz&status=read",
                    }
                ],
            },
            {
                "email": "recipient2@example.com",
                "name": "Recipient Two",
                "status": "delivered",
                "tracking_id": "cm_rec2_abc",
                "sent_at": "2024-01-15 10:30:05",
                "delivered_at": "2024-01-15 10:30:12",
                "read_at": None,
                "error_details": "Recipient inbox full",
                "certificates": [
                    {
                        "certificate_type": "delivered",
                        "file_hash": "sha256_hash_del_2",
                        "confirmed_at": "2024-01-15 10:30:12",
                        "has_tsr": True,
                        "has_tsq": False,
                        "pdf_download_url": "https://legallymail.com/emails/download-certificate?id=cm_rec2_abc&status=delivered",
                    }
                ],
            },
            {
                "email": "recipient3@example.com",
                "status": "failed",
                "tracking_id": "cm_rec3",
                "sent_at": "2024-01-15 10:30:05",
                "delivered_at": None,
                "read_at": None,
                "error_details": "Hard Bounce",
                "certificates": [],
            },
            {
                "email": "Recipient4@Example.com",
                "status": "deferred",
                "tracking_id": "cm_rec4",
                "sent_at": "2024-01-15 10:30:05",
                "delivered_at": None,
                "read_at": None,
                "error_details": None,
                "certificates": [],
            },
        ],
    },
}


class TestLegallyMail:
    def test_reference_example_per_recipient(self) -> None:
        """The reference's email detail: read, delivered (despite error text), failed, raw."""
        outcomes = {o.address: o for o in legallymail_outcomes(email_detail(DETAIL))}
        one, two = outcomes["recipient1@example.com"], outcomes["recipient2@example.com"]
        assert one.state is LegallyMailState.READ
        assert one.read_certificate is not None
        assert one.read_certificate.confirmed_at == datetime(2024, 1, 15, 11, 0)
        assert one.read_certificate.has_tsq
        assert one.read_certificate.has_tsr
        assert one.timestamped
        assert one.tracking_id == "cm_rec1_xyz"
        assert one.parent_tracking_id == "cm_abc123"
        assert two.state is LegallyMailState.DELIVERED
        assert two.error_details == "Recipient inbox full"
        assert two.delivery_certificate is not None
        assert not two.timestamped  # has_tsq is false
        assert outcomes["recipient3@example.com"].state is LegallyMailState.FAILED
        assert outcomes["recipient3@example.com"].final

    def test_unknown_status_is_kept_raw(self) -> None:
        """An undocumented status stays as written; the state comes from the proven events."""
        four = {o.address: o for o in legallymail_outcomes(email_detail(DETAIL))}[
            "recipient4@example.com"
        ]
        assert four.status.value == "deferred"
        assert not four.status.known
        assert four.state is LegallyMailState.SENT  # sent_at is all it proves
        assert not four.final

    def test_never_mapped_to_pec_kinds(self) -> None:
        """LegallyMail outcomes carry LegallyMail states, not PEC kinds or delivery states."""
        for outcome in legallymail_outcomes(email_detail(DETAIL)):
            assert isinstance(outcome.state, LegallyMailState)
            assert not isinstance(outcome.state, DeliveryState | ReceiptKind)

    def test_certificate_proves_more_than_a_lagging_status(self) -> None:
        """status 'sent' with a delivered certificate: delivered (the evidence decides)."""
        body = json.loads(json.dumps(DETAIL))
        body["email"]["recipients"][1]["status"] = "sent"
        two = {o.address: o for o in legallymail_outcomes(email_detail(body))}[
            "recipient2@example.com"
        ]
        assert two.state is LegallyMailState.DELIVERED
        assert two.status is EmailStatus.SENT

    def test_single_recipient_without_detail(self) -> None:
        """A single-recipient e-mail without per-recipient detail uses the e-mail fields."""
        body = json.loads(json.dumps(DETAIL))
        email = body["email"]
        email.update(
            recipient="solo@example.com",
            is_multi_recipient=False,
            recipient_count=1,
            status="read",
            read_at="2024-01-15 11:00:00",
            recipients=[],
        )
        (only,) = legallymail_outcomes(email_detail(body))
        assert (only.address, only.state, only.delivered_at) == (
            "solo@example.com",
            LegallyMailState.READ,
            None,
        )

    def test_multi_recipient_without_detail_names_nobody(self) -> None:
        """'Multiple Recipients' without per-recipient detail gives no invented outcome."""
        body = json.loads(json.dumps(DETAIL))
        body["email"]["recipients"] = []
        assert legallymail_outcomes(email_detail(body)) == ()
