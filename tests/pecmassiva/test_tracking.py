"""Tracking PEC Massiva sends: per-recipient outcomes, waits with a deadline, few calls."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from certmail_async import (
    DeliveryPendingError,
    DeliveryState,
    PecMassivaClient,
    ReceiptKind,
    RetryPolicy,
    SendTracker,
    ValidationError,
)
from certmail_async._polling import check_wait, wait_rounds
from certmail_async.testing import FakePecMassiva, RunningFake, run_fake
from tests.conftest import run_virtual

pytestmark = pytest.mark.timeout(60)

RCPT = "anna@pec.example.it"


class Clock:
    """The fake's clock, moved by hand: receipts appear when the test says so."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def world() -> AsyncIterator[tuple[RunningFake, Clock, PecMassivaClient]]:
    """A fake without a send cap whose receipts come 10 s (fake time) after a send."""
    clock = Clock()
    fake = FakePecMassiva(send_rate=None, deliver_delay=10.0, warning_delay=100.0)
    fake.clock = clock
    async with (
        run_fake(fake) as running,
        running.client(rate_limit=None, retry_policy=RetryPolicy(base=0.0)) as c,
    ):
        yield running, clock, c


async def send(client: PecMassivaClient, *to: str, subject: str = "Avviso") -> str:
    result = await client.sends.create(recipients=list(to), subject=subject, body="Testo")
    return result.code


def reads(fake: RunningFake) -> tuple[int, int]:
    """(INBOX pages, GET /send/{code}) the fake answered."""
    return fake.state.count("GET", "/inbox"), fake.state.count("GET", "/send/{code}")


class TestTrack:
    async def test_per_recipient_outcomes(self, world: Any) -> None:
        """track() names every recipient, those without a receipt yet as pending."""
        fake, clock, client = world
        fake.state.outcomes["ghost@pec.example.it"] = "not-delivered"
        fake.state.outcomes["late@pec.example.it"] = "silent"
        to = [RCPT, "ghost@pec.example.it", "late@pec.example.it"]
        code = await send(client, *to)
        clock.now += 10
        report = await client.sends.track(code, recipients=to)
        assert report.states == {
            RCPT: DeliveryState.DELIVERED,
            "ghost@pec.example.it": DeliveryState.NOT_DELIVERED,
            "late@pec.example.it": DeliveryState.PENDING,
        }
        assert not report.final

    async def test_recipients_are_validated_before_the_call(self, world: Any) -> None:
        """A bare string or an empty list is a ValidationError, and nothing is requested."""
        fake, _clock, client = world
        for bad in ("a@pec.example.it", []):
            with pytest.raises(ValidationError) as info:
                await client.sends.track("123", recipients=bad)
            assert info.value.field == "recipients"
        assert reads(fake) == (0, 0)


class TestWaitDelivered:
    async def test_returns_once_final(self, world: Any) -> None:
        """It polls until the delivery receipt exists and returns the final report."""
        fake, clock, client = world
        code = await send(client, RCPT)

        async def later() -> None:
            await asyncio.sleep(0.05)
            clock.now += 10

        mover = asyncio.create_task(later())
        report = await client.sends.wait_delivered(
            code, recipients=[RCPT], timeout=5, interval=0.01, max_interval=0.02
        )
        await mover
        assert report[RCPT].state is DeliveryState.DELIVERED
        assert reads(fake)[1] >= 2  # polled before and after the receipt came

    async def test_deadline_raises_with_the_last_report(self, world: Any) -> None:
        """A recipient that never gets a receipt: DeliveryPendingError with what is known."""
        fake, clock, client = world
        fake.state.outcomes[RCPT] = "delayed"
        code = await send(client, RCPT)
        clock.now += 10  # the warning is there, the delivery is not
        with pytest.raises(DeliveryPendingError) as info:
            await client.sends.wait_delivered(
                code, recipients=[RCPT], timeout=0.1, interval=0.02, max_interval=0.04
            )
        assert info.value.report[RCPT].state is DeliveryState.DELAYED
        assert info.value.operation == "sends.wait_delivered"

    @pytest.mark.parametrize(
        ("kw", "field"),
        [
            ({"timeout": 0}, "timeout"),
            ({"timeout": 5, "interval": -1}, "interval"),
            ({"timeout": 5, "interval": 5, "max_interval": 1}, "max_interval"),
            ({"timeout": float("inf")}, "timeout"),
        ],
    )
    async def test_bad_waits_are_refused(self, world: Any, kw: dict[str, Any], field: str) -> None:
        """Non-positive, infinite or inverted waits are ValidationErrors naming the field."""
        _fake, _clock, client = world
        with pytest.raises(ValidationError) as info:
            await client.sends.wait_delivered("123", recipients=[RCPT], **kw)
        assert info.value.field == field


class TestWaitRounds:
    def test_backoff_doubles_and_the_last_poll_is_at_the_deadline(self) -> None:
        """Polls at 0, 1, 3, 7, 11, 15, then exactly at the 17 s deadline (virtual clock)."""

        async def scenario() -> list[tuple[float, bool]]:
            loop = asyncio.get_running_loop()
            start = loop.time()
            return [
                (round(loop.time() - start, 6), last)
                async for last in wait_rounds(17.0, interval=1.0, max_interval=4.0)
            ]

        polls = run_virtual(scenario())
        assert [t for t, _ in polls] == [0, 1, 3, 7, 11, 15, 17]
        assert [last for _, last in polls] == [False] * 6 + [True]

    def test_without_deadline_it_never_ends_by_itself(self) -> None:
        """timeout=None: rounds keep coming (the caller stops when done)."""

        async def scenario() -> int:
            count = 0
            async for last in wait_rounds(None, interval=1.0, max_interval=2.0):
                assert not last
                count += 1
                if count == 50:
                    break
            return count

        assert run_virtual(scenario()) == 50

    def test_check_wait_accepts_none_timeout(self) -> None:
        """timeout=None means no deadline and is valid."""
        check_wait(None, 1.0, 1.0)


class TestTracker:
    async def test_single_recipient_sends_cost_inbox_pages_only(self, world: Any) -> None:
        """60 one-recipient sends to a final state: 120 receipts read as 5 pages, no GET /send."""
        fake, clock, client = world
        tracker = client.sends.tracker()
        for n in range(60):
            tracker.add(
                await send(client, f"u{n}@pec.example.it"), recipients=[f"u{n}@pec.example.it"]
            )
        await tracker.poll()  # acceptances only
        assert len(tracker.pending) == 60
        clock.now += 10
        changed = await tracker.poll()
        assert len(changed) == 60
        assert tracker.pending == ()
        assert {r.recipients[0].rule for r in tracker.reports.values()} == {"only recipient"}
        assert reads(fake) == (tracker.pages, 0)
        assert tracker.calls == tracker.pages == 3 + 3  # 60 messages, then 120: pages 3, 3..5
        assert tracker.full_scans == 1

    async def test_multi_recipient_send_is_fetched_once_per_change(self, world: Any) -> None:
        """The list cannot say whom a delivery concerns: one GET /send when receipts come."""
        fake, clock, client = world
        fake.state.outcomes["ghost@pec.example.it"] = "not-delivered"
        to = [RCPT, "ghost@pec.example.it"]
        tracker = client.sends.tracker()
        code = await send(client, *to)
        tracker.add(code, recipients=to)
        await tracker.poll()
        assert reads(fake)[1] == 0  # an acceptance needs no fetch
        clock.now += 10
        await tracker.poll()
        await tracker.poll()  # nothing new: no fetch
        assert reads(fake)[1] == 1
        report = tracker.reports[code]
        assert report.states == {
            RCPT: DeliveryState.DELIVERED,
            "ghost@pec.example.it": DeliveryState.NOT_DELIVERED,
        }

    async def test_warning_then_delivery_refetches(self, world: Any) -> None:
        """Pending with a warning, then delivered: a fetch for each new per-recipient receipt."""
        fake, clock, client = world
        fake.state.outcomes["late@pec.example.it"] = "delayed"
        to = [RCPT, "late@pec.example.it"]
        tracker = client.sends.tracker()
        code = await send(client, *to)
        tracker.add(code, recipients=to)
        clock.now += 10
        await tracker.poll()
        assert tracker.reports[code]["late@pec.example.it"].state is DeliveryState.DELAYED
        clock.now += 100
        changed = await tracker.poll()
        assert changed[code]["late@pec.example.it"].state is DeliveryState.DELIVERED
        assert reads(fake)[1] == 2

    async def test_incremental_reads_start_at_the_last_page_seen(self, world: Any) -> None:
        """With 100 messages seen, a round reads page 4 (and 5 once it exists), not 1 to 4."""
        _fake, clock, client = world
        tracker = client.sends.tracker()
        for n in range(50):
            to = [f"u{n}@pec.example.it"]
            tracker.add(await send(client, *to), recipients=to)
        clock.now += 10
        await tracker.poll()  # full scan: 100 messages, 4 pages
        before = tracker.pages
        await tracker.poll()
        assert tracker.pages - before == 1
        to = ["new@pec.example.it"]
        tracker.add(await send(client, *to), recipients=to)
        clock.now += 10
        before = tracker.pages
        await tracker.poll()
        assert tracker.pages - before == 2  # page 4 (full, unchanged) and page 5 (new)
        assert tracker.pending == ()

    async def test_a_deletion_makes_it_read_every_page_again(self, world: Any) -> None:
        """Deleting earlier receipts shifts the listing: detected, and a full scan follows."""
        _fake, clock, client = world
        tracker = client.sends.tracker()
        other = await send(client, "other@pec.example.it")
        for n in range(30):
            to = [f"u{n}@pec.example.it"]
            tracker.add(await send(client, *to), recipients=to)
        await tracker.poll()
        clock.now += 10
        await client.sends.delete(other)  # two messages gone from the start of the INBOX
        await tracker.poll()
        assert tracker.full_scans == 2
        assert tracker.pending == ()

    async def test_sequence_number_ids_that_shift_are_detected(self, world: Any) -> None:
        """Ids renumbered after a delete (IMAP sequence numbers) and as many new messages:
        the same ids on the checked page hold other messages, and a full scan follows."""
        fake, clock, client = world
        tracker = client.sends.tracker()
        others = [await send(client, f"o{n}@pec.example.it") for n in range(3)]
        for n in range(12):
            to = [f"u{n}@pec.example.it"]
            tracker.add(await send(client, *to), recipients=to)
        await tracker.poll()  # 15 acceptances, one page
        for code in others:
            await client.sends.delete(code)
        for n in range(3):  # three new acceptances: the total is 15 again
            to = [f"w{n}@pec.example.it"]
            tracker.add(await send(client, *to), recipients=to)
        for position, item in enumerate(sorted(fake.state.inbox, key=lambda m: m.id), start=1):
            item.id = position
        clock.now += 10
        await tracker.poll()
        assert tracker.full_scans == 2
        assert tracker.pending == ()

    async def test_periodic_full_scan(self, world: Any) -> None:
        """Every full_scan_every rounds the whole INBOX is read, whatever the check says."""
        fake, _clock, client = world
        tracker = client.sends.tracker(full_scan_every=3)
        to = [RCPT]
        tracker.add(await send(client, *to, subject="Lungo"), recipients=to)
        fake.state.outcomes[RCPT] = "silent"
        for _ in range(6):
            await tracker.poll()
        assert tracker.full_scans == 3  # rounds 1, 3 and 6

    async def test_direct_read_when_subjects_lack_the_code(self, world: Any) -> None:
        """Receipts whose subject does not end with the code are found by a direct read."""
        fake, clock, client = world
        tracker = client.sends.tracker(direct_every=2)
        code = await send(client, RCPT)
        tracker.add(code, recipients=[RCPT])
        clock.now += 10
        for item in fake.state.inbox:
            item.subject = item.subject.replace(f" {code}", "")
        await tracker.poll()
        assert tracker.pending == (code,)
        await tracker.poll()
        assert tracker.pending == ()
        assert reads(fake)[1] == 1

    async def test_bodies_fetches_final_single_recipient_sends_once(self, world: Any) -> None:
        """bodies=True: the final receipts carry their text (what a journal archives)."""
        fake, clock, client = world
        tracker = client.sends.tracker(bodies=True)
        code = await send(client, RCPT)
        tracker.add(code, recipients=[RCPT])
        clock.now += 10
        await tracker.poll()
        await tracker.poll()
        report = tracker.reports[code]
        delivery = [r for r in report.receipts if r.kind is ReceiptKind.DELIVERY]
        assert RCPT in delivery[0].body  # type: ignore[attr-defined]
        assert report[RCPT].rule is None  # named by the text, not by the only-recipient rule
        assert reads(fake)[1] == 1

    async def test_non_acceptance_is_final_without_a_fetch(self, world: Any) -> None:
        """A refused multi-recipient send is final for everyone from the list alone."""
        fake, _clock, client = world
        fake.state.outcomes["bad@pec.example.it"] = "non-acceptance"
        to = [RCPT, "bad@pec.example.it"]
        tracker = client.sends.tracker()
        code = await send(client, *to)
        tracker.add(code, recipients=to)
        await tracker.poll()
        assert set(tracker.reports[code].states.values()) == {DeliveryState.NEVER_SENT}
        assert reads(fake)[1] == 0

    async def test_wait_yields_each_send_once_and_raises_at_the_deadline(self, world: Any) -> None:
        """Finished sends are yielded as they finish; the silent one ends in the error."""
        fake, clock, client = world
        fake.state.outcomes["quiet@pec.example.it"] = "silent"
        tracker = client.sends.tracker()
        codes = {}
        for to in (RCPT, "quiet@pec.example.it"):
            codes[to] = await send(client, to)
            tracker.add(codes[to], recipients=[to])
        clock.now += 10
        seen = []

        async def follow() -> None:
            async for code, report in tracker.wait(timeout=0.1, interval=0.02, max_interval=0.02):
                seen.append(code)
                assert report.final

        with pytest.raises(DeliveryPendingError) as info:
            await follow()
        assert seen == [codes[RCPT]]
        assert list(info.value.reports) == [codes["quiet@pec.example.it"]]

    async def test_add_validates(self, world: Any) -> None:
        """Codes and recipients are checked when added; a code cannot be added twice."""
        _fake, _clock, client = world
        tracker = SendTracker(client)
        tracker.add("1", recipients=[RCPT])
        with pytest.raises(ValidationError):
            tracker.add("1", recipients=[RCPT])
        with pytest.raises(ValidationError):
            tracker.add("..", recipients=[RCPT])
        with pytest.raises(ValidationError):
            tracker.add("2", recipients="x@pec.example.it")
        with pytest.raises(ValidationError):
            SendTracker(client, concurrency=0)
        tracker.discard("1")
        assert len(tracker) == 0

    async def test_far_fewer_calls_than_polling_each_send(self, world: Any) -> None:
        """200 mixed sends to a final state: under a fifth of the calls of per-send polling."""
        fake, clock, client = world
        tracker = client.sends.tracker()
        plans: dict[str, list[str]] = {}
        for n in range(200):
            to = [f"u{n}@pec.example.it"] + ([f"v{n}@pec.example.it"] if n % 4 == 0 else [])
            if n % 10 == 0:
                fake.state.outcomes[to[0]] = "delayed"
            code = await send(client, *to)
            tracker.add(code, recipients=to)
            plans[code] = to
        naive = 0
        pending = set(plans)
        rounds = 0
        while tracker.pending or pending:
            rounds += 1
            await tracker.poll()
            for code in list(pending):
                naive += 1
                if (await client.sends.track(code, recipients=plans[code])).final:
                    pending.discard(code)
            clock.now += 30
            assert rounds < 20
        assert tracker.calls * 5 < naive
