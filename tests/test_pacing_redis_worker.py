"""A worker process for the Redis gate's multi-process tests (run as a module; no tests here).

``python -m tests.test_pacing_redis_worker FAKE_URL REDIS_URL PER SENDS LABEL [SKEW RATE]``
sends SENDS PEC Massiva messages to the fake at FAKE_URL, one after the other (subjects
``LABEL-0``, ``LABEL-1``...), paced at 1 per PER seconds through the Redis gate at
REDIS_URL. It prints ``ready`` once set up, waits for ``go`` on stdin (so that every
worker starts at once), then prints one JSON line: ``{"sent": n, "errors": [...]}``.

SKEW (seconds) and RATE shift this process's clocks: ``time.time()`` is SKEW seconds off
and the event loop's clock reads ``SKEW + RATE x`` the monotonic clock, so the process
sees a wall clock hours away and a monotonic clock running RATE times too fast. The gate
must not care: every decision is taken on the Redis server's clock.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time

from certmail_async import CertmailError, PecMassivaClient, RateLimit, RedisPacing

#: A slack far above event-loop noise (the tests run on a busy 2-core box).
SLACK = 0.04


class SkewedLoop(asyncio.SelectorEventLoop):
    """An event loop whose clock is offset and runs at another rate."""

    def __init__(self, skew: float, rate: float) -> None:
        super().__init__()
        self._skew, self._rate = skew, rate
        self._origin = time.monotonic()

    def time(self) -> float:
        return self._skew + self._origin + (time.monotonic() - self._origin) * self._rate


async def work(fake_url: str, redis_url: str, per: float, sends: int, label: str) -> dict:
    pacing = RedisPacing(redis_url, max_outage=5.0)
    errors: list[str] = []
    sent = 0
    async with PecMassivaClient(
        token="fake-pecmassiva-token",
        username="box@pecmassiva.com",
        password="fake-mailbox-password",
        base_url=fake_url,
        rate_limit=RateLimit(requests=1, per=per, slack=SLACK),
        pacing=pacing,
        max_retries=0,
    ) as client:
        client = client.with_options(max_wait=None)
        print("ready", flush=True)
        line = await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
        if line.strip() != "go":
            return {"sent": 0, "errors": ["no go"]}
        for i in range(sends):
            try:
                await client.sends.create(
                    recipients=[f"{label}.{i}@pec.example.it"], subject=f"{label}-{i}", body="b"
                )
                sent += 1
            except CertmailError as error:
                errors.append(f"{type(error).__name__}: {error}")
    await pacing.aclose()
    return {"sent": sent, "errors": errors}


def main(argv: list[str]) -> None:
    fake_url, redis_url, per, sends, label = argv[:5]
    skew = float(argv[5]) if len(argv) > 5 else 0.0
    rate = float(argv[6]) if len(argv) > 6 else 1.0
    if skew:
        real = time.time
        time.time = lambda: real() + skew  # type: ignore[assignment]
    with asyncio.Runner(loop_factory=lambda: SkewedLoop(skew, rate)) as runner:
        result = runner.run(work(fake_url, redis_url, float(per), int(sends), label))
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
