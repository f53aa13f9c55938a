"""Short load tests end to end, their counts checked against the fake's own ledger."""

from __future__ import annotations

import json
import subprocess
import sys

from certmail_async import RateLimit
from certmail_async.loadtest import (
    ClosedUsers,
    ConstantRate,
    LoadTest,
    OpContext,
    run,
    trace_config,
)
from certmail_async.testing import run_fake


class TestAgainstTheFake:
    async def test_open_model_counts_match_the_ledger(self) -> None:
        """60 sends at 60/s: every one confirmed is in the fake's ledger, once, and one lost
        answer (recorded, then 500) is an unknown send the ledger explains."""
        async with run_fake("pecmassiva", send_rate=None) as fake:
            fake.state.faults.inject("POST", "/send", status=500, after_record=True, times=1)
            result = await run(
                LoadTest(
                    base_url=fake.url, load=ConstantRate(rate=60), count=60, pacing=False,
                    timeout=5,
                )
            )  # fmt: skip
            ledger = fake.state.ledger
            assert result.offered == 60
            assert result.ok == 59
            assert result.errors == {"unknown_send": 1}
            assert len(ledger) == 60
            # every successful send's subject is in the ledger exactly once
            subjects = [s.subject for s in ledger]
            assert len(set(subjects)) == len(subjects)
            assert result.ledger is not None
            assert result.ledger.accepted_by_fake == 60
            assert result.ledger.confirmed_by_client == 59
            assert result.ledger.unknown == 1
            assert result.ledger.consistent
            assert result.latency["total"].count == 59
            assert result.latency["server"].count == 59
            assert result.fake is not None
            assert result.fake["requests"] == 60
            assert sum(p.offered for p in result.series) == 60

    async def test_a_duplicate_in_the_ledger_is_caught(self) -> None:
        """A send the fake accepted twice makes the ledger check inconsistent."""
        async with run_fake("pecmassiva", send_rate=None) as fake:

            async def twice(ctx: OpContext) -> None:
                import aiohttp

                async with (
                    aiohttp.ClientSession(trace_configs=[trace_config()]) as session,
                    fake.client(session=session, rate_limit=None) as client,
                ):
                    for _ in range(1 if ctx.seq else 2):  # the first one goes twice
                        await client.sends.create(
                            recipients=["a@pec.example.it"], subject=ctx.subject(), body="b"
                        )

            result = await run(
                LoadTest(base_url=fake.url, custom=twice, load=ConstantRate(rate=50), count=5)
            )
            assert result.ok == 5
            assert fake.state.ledger_summary.duplicates == 1
            assert result.ledger is None  # a custom operation: the client's counts are its own
            assert result.latency["server"].count == 5  # the traced session was measured

    async def test_pacing_queues_at_the_gate_not_at_the_server(self) -> None:
        """Pacing on against a capped fake: no 429 from the server; calls that cannot get a
        slot in time are refused by the gate; the wait shows as gate wait, not server time."""
        # PEC Massiva's 1/s cap becomes 1 per 500 ms; the default slack (5% of it, 25 ms)
        # stays above a busy machine's scheduling noise, and the fake runs on its own loop.
        scale = 0.5
        async with run_fake(
            "pecmassiva", send_rate=RateLimit(requests=1, per=scale, margin=0), thread=True
        ) as fake:
            result = await run(
                LoadTest(
                    base_url=fake.url, load=ConstantRate(rate=50), count=40, pacing=True,
                    time_scale=scale, timeout=1.0,
                )
            )  # fmt: skip
        assert result.errors.get("rate_limited", 0) == 0
        assert fake.state.send_cap is not None
        assert fake.state.send_cap.rejected == 0
        assert result.errors.get("gate_refused", 0) > 0
        # No call departs in the last quarter of its 1 s budget (EXCHANGE_SHARE): none
        # times out after its write, so no send is left unknown.
        assert result.ok + result.errors["gate_refused"] == 40, result.errors
        gate, server = result.latency["gate_wait"], result.latency["server"]
        assert gate.p90 is not None
        assert server.p90 is not None
        assert gate.p90 > server.p90
        assert result.ledger is not None
        assert result.ledger.consistent

    async def test_webapp_shape_and_closed_model(self) -> None:
        """A client per operation, 4 users, 40 operations: 40 sends, all in the ledger."""
        async with run_fake("pecmassiva", send_rate=None) as fake:
            result = await run(
                LoadTest(
                    base_url=fake.url, shape="webapp", load=ClosedUsers(users=4), count=40,
                    pacing=False,
                )
            )  # fmt: skip
            assert result.ok == 40
            assert len(fake.state.ledger) == 40
            assert result.ledger is not None
            assert result.ledger.consistent

    async def test_bulk_shape_sends_through_one_dispatcher(self) -> None:
        """The bulk shape sends every arrival once through a BulkDispatcher."""
        async with run_fake("pecmassiva", send_rate=None) as fake:
            result = await run(
                LoadTest(
                    base_url=fake.url, shape="bulk", load=ConstantRate(rate=50), count=10,
                    pacing=False,
                )
            )  # fmt: skip
            assert result.ok == 10
            assert len(fake.state.ledger) == 10
            assert result.ledger is not None
            assert result.ledger.consistent
            assert result.latency["server"].count >= 10  # every HTTP request of the lane

    async def test_reads_of_each_provider(self) -> None:
        """Receipts/inbox/quota, LegallyMail list/retrieve/info and openapi.it reads all run."""
        async with run_fake("pecmassiva", send_rate=None) as fake:
            pm = await run(
                LoadTest(
                    base_url=fake.url, operations={"receipts": 1, "inbox": 1, "quota": 1},
                    load=ConstantRate(rate=60), count=30, pacing=False, time_scale=0.01,
                )
            )  # fmt: skip
        assert pm.ok == 30
        assert set(pm.per_operation) == {"receipts", "inbox", "quota"}
        async with run_fake("legallymail", rate=None) as fake:
            lm = await run(
                LoadTest(
                    provider="legallymail", base_url=fake.url,
                    operations={"list": 1, "retrieve": 1, "info": 1},
                    load=ConstantRate(rate=60), count=30, pacing=False, time_scale=0.01,
                )
            )  # fmt: skip
        assert lm.ok == 30
        async with run_fake("openapi_pec", token="fake-openapi-token") as fake:
            oa = await run(
                LoadTest(
                    provider="openapi_pec", base_url=fake.url,
                    operations={"domain_check": 1, "availability": 1, "list": 1},
                    load=ConstantRate(rate=60), count=30, pacing=False,
                )
            )  # fmt: skip
        assert oa.ok == 30


class TestCommandLine:
    def test_cli_run_against_the_embedded_fake(self, tmp_path) -> None:
        """`certmail loadtest run` starts its own fake, writes JSON and CSV, and its counts
        match the fake's ledger (exit 0)."""
        out, series = tmp_path / "r.json", tmp_path / "s.csv"
        proc = subprocess.run(
            [
                sys.executable, "-m", "certmail_async", "loadtest", "run", "--rate", "40",
                "--duration", "1s", "--no-pacing", "--json", str(out), "--csv", str(series),
                "--no-live",
            ],
            capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
        assert proc.returncode == 0, proc.stdout + proc.stderr
        data = json.loads(out.read_text())
        assert data["valid"] is True
        assert data["ok"] == data["offered"] == 40
        assert data["ledger"]["accepted_by_fake"] == 40
        assert data["ledger"]["consistent"] is True
        assert data["fake"]["workers"] == 1
        assert series.read_text().startswith("t,target_rate,offered")
        assert "Latency of successful operations" in proc.stdout
