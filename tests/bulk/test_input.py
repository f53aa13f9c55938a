"""Every message is accounted for; bad input fails an item, never the job (issue 9, 5 and 6)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from certmail_async import (
    BulkDispatcher,
    ChunkOutcome,
    ChunkStatus,
    JobMismatchError,
    LegallyMailClient,
    OutgoingMessage,
    PecMassivaClient,
    ValidationError,
)
from certmail_async.testing import RunningFake
from tests.bulk.conftest import pm_msg

pytestmark = pytest.mark.timeout(60)

Clients = tuple[PecMassivaClient, LegallyMailClient]


async def collect(it: AsyncIterator[ChunkOutcome]) -> list[ChunkOutcome]:
    return [o async for o in it]


def forced(**fields: Any) -> OutgoingMessage:
    """A message whose fields were forced past the constructor's checks."""
    message = pm_msg(99)
    for name, value in fields.items():
        object.__setattr__(message, name, value)
    return message


class TestBadMessages:
    """A bad item becomes a FAILED outcome naming the field, journaled; the job goes on."""

    @pytest.mark.parametrize(
        ("item", "field"),
        [
            ({"provider": "pecmassiva", "recipients": ["a@pec.example.it"]}, "message"),
            (forced(subject=None), "subject"),
            (forced(body=None), "body"),
            (forced(recipients="a@pec.example.it"), "recipients"),
            (forced(recipients=()), "recipients"),
        ],
        ids=["dict", "subject-None", "body-None", "recipients-str", "recipients-empty"],
    )
    async def test_bad_item_fails_alone(
        self, pm: RunningFake, dispatcher: BulkDispatcher, item: object, field: str
    ) -> None:
        """The bad item is FAILED naming the field; the messages around it are sent."""
        messages: list[Any] = [pm_msg(0), item, pm_msg(1)]
        outcomes = await collect(dispatcher.run("bad", messages))
        by_seq = {o.seq: o for o in outcomes}
        assert by_seq[1].status is ChunkStatus.FAILED
        assert field in (by_seq[1].error or "")
        assert by_seq[0].status is by_seq[2].status is ChunkStatus.SENT
        assert len(pm.state.ledger) == 2  # never split "a@..." into characters
        status = await dispatcher.status("bad")
        assert status.chunks == {"sent": 2, "failed": 1}  # journaled too
        again = await collect(dispatcher.run("bad", messages))
        assert {o.status for o in again} == {ChunkStatus.SKIPPED}

    @pytest.mark.parametrize("size", [True, "2", 0, -1, 2.5, None])
    def test_chunk_sizes_must_be_positive_ints(
        self, clients: Clients, journal_path: Path, size: object
    ) -> None:
        """bool, str, 0, -1, float, None: a ValidationError at construction."""
        with pytest.raises(ValidationError, match="chunk_sizes"):
            BulkDispatcher(
                clients=list(clients), journal=journal_path,
                chunk_sizes={"pecmassiva": size},  # type: ignore[dict-item]
            )  # fmt: skip

    @pytest.mark.parametrize("messages", [None, "a@pec.example.it", 42, {"a": 1}])
    async def test_messages_of_the_wrong_type(
        self, pm: RunningFake, dispatcher: BulkDispatcher, messages: object
    ) -> None:
        """messages must be an iterable of messages: ValidationError before anything runs."""
        with pytest.raises(ValidationError, match="messages"):
            await collect(dispatcher.run("m", messages))  # type: ignore[arg-type]
        assert pm.state.requests == []
        assert await dispatcher.journal.job_meta("m") is None

    @pytest.mark.parametrize("job_id", [None, 7, "", "  "])
    async def test_job_id_of_the_wrong_type(
        self, pm: RunningFake, dispatcher: BulkDispatcher, job_id: object
    ) -> None:
        """job_id must be a non-empty str: ValidationError before anything runs."""
        with pytest.raises(ValidationError, match="job_id"):
            await collect(dispatcher.run(job_id, [pm_msg(0)]))  # type: ignore[arg-type]
        assert pm.state.requests == []


class TestFailingInput:
    """The user's own iterator raising mid-job stops the run with that error."""

    async def test_iterator_error_stops_the_run_after_journaling_what_was_read(
        self, pm: RunningFake, dispatcher: BulkDispatcher
    ) -> None:
        """The iterator's own error comes out (no ExceptionGroup); a later run finishes."""

        def broken() -> Iterator[OutgoingMessage]:
            for i in range(3):
                yield pm_msg(i)
            raise OSError("the CSV went away")

        with pytest.raises(OSError, match="the CSV went away"):
            await collect(dispatcher.run("broken", broken()))
        assert len(pm.state.ledger) <= 3  # a chunk already leaving is finished, none after
        status = await dispatcher.status("broken")
        assert sum(status.chunks.values()) == 3  # every chunk read is journaled
        outcomes = await collect(dispatcher.run("broken", [pm_msg(i) for i in range(4)]))
        assert len(outcomes) == 4
        assert sorted(pm.state.sent_to(f"p{i}@pec.example.it") for i in range(4)) == [1] * 4

    async def test_async_iterator_error_comes_out_as_itself(
        self, pm: RunningFake, dispatcher: BulkDispatcher
    ) -> None:
        """An async generator's error is raised as is, and nothing read is left in doubt."""

        async def broken() -> AsyncIterator[OutgoingMessage]:
            yield pm_msg(0)
            raise LookupError("row 2 is missing")

        with pytest.raises(LookupError, match="row 2"):
            await collect(dispatcher.run("abroken", broken()))
        status = await dispatcher.status("abroken")
        assert "in_flight" not in status.chunks
        assert "unknown" not in status.chunks


class TestChangedInput:
    """The fingerprint covers every recipient exactly as given, valid or not."""

    async def test_a_sent_recipient_replaced_by_an_invalid_one_is_a_mismatch(
        self, pm: RunningFake, dispatcher: BulkDispatcher
    ) -> None:
        """Resuming with an invalid address where a sent one was: JobMismatchError."""
        good = OutgoingMessage(
            provider="pecmassiva", recipients=["a@pec.example.it", "b@pec.example.it"],
            subject="s", body="b",
        )  # fmt: skip
        await collect(dispatcher.run("changed", [good]))
        bad = OutgoingMessage(
            provider="pecmassiva", recipients=["a@pec.example.it", "not an address"],
            subject="s", body="b",
        )  # fmt: skip
        before = len(pm.state.requests)
        with pytest.raises(JobMismatchError):
            await collect(dispatcher.run("changed", [bad]))
        assert len(pm.state.requests) == before

    async def test_a_changed_invalid_recipient_is_a_mismatch(
        self, pm: RunningFake, dispatcher: BulkDispatcher
    ) -> None:
        """Even an invalid address counts: another invalid one is other input."""
        first = OutgoingMessage(
            provider="pecmassiva", recipients=["a@pec.example.it", "bad one"],
            subject="s", body="b",
        )  # fmt: skip
        await collect(dispatcher.run("inv", [first]))
        second = attr_evolve(first, recipients=("a@pec.example.it", "bad two"))
        with pytest.raises(JobMismatchError):
            await collect(dispatcher.run("inv", [second]))


def attr_evolve(message: OutgoingMessage, **changes: Any) -> OutgoingMessage:
    import attrs

    return attrs.evolve(message, **changes)
