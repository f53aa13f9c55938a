# Progress of a run: counts of outcomes, lane states, an ETA from the caps
# -------------------------------------------------------------------------
#
# Every outcome of a run goes through one Tracker on its way to the caller: it is counted,
# a fresh Progress is published (the dispatcher keeps it as ``progress`` and calls
# ``on_progress``), then the outcome is handed on. Lanes report their state ("sending",
# "paused: provider unreachable, retry in 20 s", "stopped: ...", "done") through it too; a
# pause or a stop becomes the progress notice until that lane moves on. The ETA is the
# slowest lane's remaining chunks times its pacing interval.
"""Progress tracking of a bulk run (counts, lane states, ETA from the providers' caps)."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

from ._adapters import Adapter
from ._models import ChunkOutcome, Estimate, Progress

if TYPE_CHECKING:  # annotations only: anyio loads its streams with the first run
    from anyio.streams.memory import MemoryObjectSendStream

__all__ = ["Tracker"]


class Tracker:
    """Counts outcomes, computes progress (ETA from the caps) and publishes it.

    ``lanes`` is the run's lane states (name: text), updated in place; ``publish`` receives
    every new :class:`Progress`.
    """

    def __init__(
        self,
        adapters: Mapping[str, Adapter],
        estimate: Estimate | None,
        lanes: dict[str, str],
        publish: Callable[[Progress], None],
    ) -> None:
        self.adapters = adapters
        self.estimate = estimate
        self.lanes = lanes
        self.publish = publish
        self.started = time.perf_counter()
        self.counts: Counter[str] = Counter()
        self.chunks_done: Counter[str] = Counter()
        self.recipients_done = 0
        self.notice: str | None = None

    def lane(self, name: str, text: str, *, notice: bool = False) -> None:
        """A lane changed state: say so in the progress."""
        self.lanes[name] = text
        if notice or text.startswith("stopped"):
            self.notice = f"{name}: {text.removeprefix('paused: ')}"
        elif self.notice is not None and self.notice.startswith(f"{name}:"):
            self.notice = None
        self._publish()

    def _publish(self) -> None:
        self.publish(self.snapshot())

    async def emit(self, out: MemoryObjectSendStream[ChunkOutcome], outcome: ChunkOutcome) -> None:
        """Count one outcome, publish progress, hand the outcome to the caller."""
        self.counts[outcome.status.value] += 1
        self.chunks_done[outcome.provider] += 1
        self.recipients_done += len(outcome.recipients)
        self._publish()
        await out.send(outcome)

    def snapshot(self) -> Progress:
        """The progress now."""
        elapsed = time.perf_counter() - self.started
        est = self.estimate
        adapters = self.adapters
        eta = None
        if est is not None:
            eta = max(
                (
                    max(n - self.chunks_done[p], 0) * adapters[p].interval
                    for p, n in est.chunks.items()
                    if p in adapters
                ),
                default=0.0,
            )
        return Progress(
            done_chunks=sum(self.chunks_done.values()),
            done_recipients=self.recipients_done,
            total_chunks=sum(est.chunks.values()) if est else None,
            total_recipients=est.recipients if est else None,
            counts=dict(self.counts),
            elapsed=elapsed,
            rate=self.recipients_done / elapsed if elapsed > 0 else 0.0,
            eta=eta,
            notice=self.notice,
            lanes=dict(self.lanes),
        )
