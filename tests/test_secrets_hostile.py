"""Hostile-review regressions: secrets in encoded echoes, header names, frames, URLs."""

from __future__ import annotations

import base64

import pytest

from certmail_async import PecMassivaClient, ValidationError
from certmail_async._auth import MAX_SECRET_LEN
from certmail_async._redact import MASK, Redactor

TOKEN = "tok-SECRET-abcdef123456"
USER = "box@pecmassiva.com"
PASSWORD = "pw-SECRET-Zq9!x/y+z"


def _b64(data: bytes) -> list[str]:
    std = base64.b64encode(data).decode()
    url = base64.urlsafe_b64encode(data).decode()
    return [std, std.rstrip("="), url, url.rstrip("=")]


class TestBase64Echoes:
    """F1: base64 forms of a secret are scrubbed."""

    @pytest.mark.parametrize("secret", [TOKEN, PASSWORD, "è-unicode-secret/+?"])
    def test_whole_base64_forms_scrubbed(self, secret: str) -> None:
        """Standard and URL-safe base64, padded or not, of a secret become the mask."""
        redactor = Redactor([secret])
        for form in _b64(secret.encode()):
            assert redactor.scrub(f"echo={form};") == f"echo={MASK};"

    @pytest.mark.parametrize("prefix", [b"", b"a", b"ab", b"abc", b"abcd"])
    @pytest.mark.parametrize("suffix", [b"", b"x", b"xy"])
    def test_base64_of_secret_inside_a_larger_blob(self, prefix: bytes, suffix: bytes) -> None:
        """A secret at any alignment inside a base64 blob has its characters masked."""
        redactor = Redactor([PASSWORD])
        for blob in _b64(prefix + PASSWORD.encode() + suffix):
            out = redactor.scrub(blob)
            assert MASK in out
            # At most two edge characters (mixed with the neighbours' bits) stay visible.
            assert len(out.replace(MASK, "")) <= len(blob) - len(PASSWORD) * 4 // 3 + 4

    def test_pecmassiva_login_pair_base64_scrubbed(self) -> None:
        """base64("username:password") of the PEC Massiva login is scrubbed (Basic echo)."""
        client = PecMassivaClient(token=TOKEN, username=USER, password=PASSWORD)
        basic = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
        assert basic not in client._transport.redactor.scrub(f"Basic {basic}")

    def test_hex_form_scrubbed(self) -> None:
        """The hex of a secret's UTF-8 bytes, either case, is scrubbed."""
        redactor = Redactor([TOKEN])
        hexed = TOKEN.encode().hex()
        assert redactor.scrub(hexed + " " + hexed.upper()) == f"{MASK} {MASK}"


class TestLongCredentials:
    """F9: huge credentials are refused and long ones stay cheap to register."""

    @pytest.mark.parametrize("field", ["token", "password"])
    def test_credential_over_the_bound_refused_naming_field(self, field: str) -> None:
        """A credential over MAX_SECRET_LEN is a ValidationError naming the field only."""
        kwargs = {"token": TOKEN, "username": USER, "password": PASSWORD}
        kwargs[field] = "Q" * (MAX_SECRET_LEN + 1)
        with pytest.raises(ValidationError) as info:
            PecMassivaClient(**kwargs)
        assert info.value.field == field
        assert "Q" * 32 not in str(info.value) + repr(info.value)

    def test_long_secret_still_scrubbed(self) -> None:
        """A secret at the bound is still scrubbed raw, percent-encoded and in base64."""
        secret = "Zk9/" * (MAX_SECRET_LEN // 4)
        redactor = Redactor([secret])
        encoded = base64.b64encode(secret.encode()).decode()
        text = f"a {secret} b {secret.replace('/', '%2F')} c {encoded}"
        assert redactor.scrub(text) == f"a {MASK} b {MASK} c {MASK}"


class TestResponseInfoFromTheAnswer:
    """F2: every ResponseInfo field that comes from the answer is scrubbed."""

    def test_secret_in_header_name_scrubbed(self) -> None:
        """A secret sent as a header name (and in request id, URL) is masked everywhere."""
        from multidict import CIMultiDict

        from certmail_async._response import build_info

        headers = CIMultiDict([(TOKEN, "1"), ("X-Request-Id", TOKEN), ("X-Echo", PASSWORD)])
        info = build_info(
            status=503,
            headers=headers,
            redactor=Redactor([TOKEN, PASSWORD]),
            provider="pecmassiva",
            operation="quota.retrieve",
            method="GET",
            url=f"https://host/quota?t={TOKEN}",
            elapsed=0.1,
            attempts=1,
        )
        shown = repr(info) + str(list(info.headers.items())) + str(info.request_id)
        assert TOKEN not in shown
        assert PASSWORD not in shown
        assert TOKEN[::-1] not in shown
        assert next(iter(info.headers)) == MASK
        assert info.request_id == MASK


class TestBaseUrl:
    """F4/F10: base_url never echoes its userinfo and refuses what would misroute."""

    @pytest.mark.parametrize(
        "url",
        [
            "ftp://user:S3cretPass@host",
            "https://user:S3cretPass@host",
            "https://user:S3cret#Pass@host",
            "https://user:S3cret/Pass@host",
            "https://user:S3cret?Pass@host",
            "https://:S3cretPass@",
            "https://host:S3cretPass",
            "https://@host",
            "https://:@host",
            "https://host?",
            "https://host#",
            "https://host?#",
            "https://host/a?b=1",
            "https://ho\u2028st",
            "https://hóst",
            "https://host/p\r\nX: 1",
            "https://host/%0d%0aX:1",
            "https://host/..",
            "https://host:99999",
            "http://[::1",
            "javascript:alert(1)",
            "https:///host",
        ],
    )
    def test_refused_without_echo(self, url: str) -> None:
        """A bad base_url is a ValidationError naming base_url, never repeating the URL."""
        with pytest.raises(ValidationError) as info:
            PecMassivaClient(token=TOKEN, username=USER, password=PASSWORD, base_url=url)
        assert info.value.field == "base_url"
        assert "S3cret" not in str(info.value) + repr(info.value)
        assert url not in str(info.value)

    @pytest.mark.parametrize(
        ("url", "kept"),
        [
            ("https://xn--hst-7ma", "https://xn--hst-7ma"),
            ("https://127.0.0.1:1/", "https://127.0.0.1:1"),
            ("http://[::1]:8400/api/", "http://[::1]:8400/api"),
            ("https://host:443/p/", "https://host:443/p"),
        ],
    )
    def test_good_urls_accepted(self, url: str, kept: str) -> None:
        """Plain http(s) URLs with a host, port and path are accepted, trailing / dropped."""
        client = PecMassivaClient(token=TOKEN, username=USER, password=PASSWORD, base_url=url)
        assert client.base_url == kept

    def test_with_options_refuses_userinfo(self) -> None:
        """with_options(base_url=) applies the same rule, naming base_url."""
        client = PecMassivaClient(token=TOKEN, username=USER, password=PASSWORD)
        with pytest.raises(ValidationError) as info:
            client.with_options(base_url="https://u:S3cretPass@host")
        assert info.value.field == "base_url"
        assert "S3cret" not in str(info.value)


class TestFromEnvFields:
    """F10: a bad value read from the environment is reported under the variable's name."""

    @pytest.mark.parametrize(
        ("variable", "value"),
        [
            ("CERTMAIL_PECMASSIVA_TOKEN", "Zz-SECRET-value\nX-Injected: 1"),
            ("CERTMAIL_PECMASSIVA_TOKEN", "Q" * (MAX_SECRET_LEN + 1)),
            ("CERTMAIL_PECMASSIVA_PASSWORD", "Zz-SECRET-value\r\nX: 1"),
        ],
    )
    @pytest.mark.parametrize("sync_facade", [False, True])
    def test_bad_variable_named(
        self, monkeypatch: pytest.MonkeyPatch, variable: str, value: str, sync_facade: bool
    ) -> None:
        """field is the CERTMAIL_* variable, and the value is never in the message."""
        from certmail_async import sync

        monkeypatch.setenv("CERTMAIL_PECMASSIVA_TOKEN", TOKEN)
        monkeypatch.setenv("CERTMAIL_PECMASSIVA_USERNAME", USER)
        monkeypatch.setenv("CERTMAIL_PECMASSIVA_PASSWORD", PASSWORD)
        monkeypatch.setenv(variable, value)
        cls = sync.PecMassivaClient if sync_facade else PecMassivaClient
        with pytest.raises(ValidationError) as info:
            cls.from_env()
        assert info.value.field == variable
        assert value[:12] not in str(info.value) + repr(info.value)

    def test_bad_override_keeps_argument_name(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """A bad keyword argument (not from the environment) keeps its argument's name."""
        monkeypatch.setenv("CERTMAIL_LEGALLYMAIL_TOKEN", TOKEN)
        from certmail_async import LegallyMailClient

        with pytest.raises(ValidationError) as info:
            LegallyMailClient.from_env(token="bad token")
        assert info.value.field == "token"


def _frames_holding(err: BaseException, secret: str, *, where: tuple[str, ...]) -> list[str]:
    """The frames (file, function, local) of ``err``'s chain whose locals show ``secret``."""
    hits = []
    seen: set[int] = set()
    pending: list[BaseException | None] = [err]
    while pending:
        error = pending.pop()
        if error is None or id(error) in seen:
            continue
        seen.add(id(error))
        tb = error.__traceback__
        while tb is not None:
            code = tb.tb_frame.f_code
            if any(part in code.co_filename for part in where):
                for name, value in tb.tb_frame.f_locals.items():
                    try:
                        shown = repr(value)
                    except Exception:  # a half-built object's repr may raise
                        shown = ""
                    if secret in shown:
                        hits.append(f"{code.co_filename}:{code.co_name}:{name}")
            tb = tb.tb_next
        pending += [error.__cause__, error.__context__]
    return hits


class TestSyncFrames:
    """F3: the sync facade's frames and anyio's portal frames hold no call argument."""

    @pytest.mark.parametrize("raw", [False, True])
    def test_token_passed_as_id_not_in_wrapper_frames(self, raw: bool) -> None:
        """A token passed as an id to a failing sync call is in no _sync/anyio frame."""
        from anyio.from_thread import start_blocking_portal

        from certmail_async import CertmailError, sync
        from certmail_async.testing import run_fake

        secret = "tok-SYNC-" + "FRAME-998877"  # built here: in no module global
        with (
            start_blocking_portal() as portal,
            portal.wrap_async_context_manager(run_fake("pecmassiva", send_rate=None)) as fake,
        ):
            fake.state.faults.inject("GET", "/send/" + secret, times=None, status=503)
            kwargs = {**fake.state.client_kwargs(), "base_url": fake.url, "max_retries": 0}
            with sync.PecMassivaClient(**kwargs) as client:
                sends = client.with_raw_response.sends if raw else client.sends
                with pytest.raises(CertmailError) as info:
                    sends.receipts(secret)
        assert _frames_holding(info.value, secret, where=("_sync.py", "anyio")) == []

    def test_constructor_error_keeps_credentials_out_of_wrapper_frames(self) -> None:
        """A sync constructor that fails holds the credentials in no _sync/anyio frame."""
        from certmail_async import sync

        secret = "tok-SYNC-" + "CTOR-445566"
        with pytest.raises(ValidationError) as info:
            sync.PecMassivaClient(token=secret, username=USER, password="pw\x01bad")
        assert _frames_holding(info.value, secret, where=("_sync.py", "anyio")) == []


def test_bad_callback_url_is_not_echoed() -> None:
    """A callback URL is refused without repeating it: it carries the hook's secret."""
    from certmail_async.openapi_pec import Callback
    from certmail_async.openapi_pec._checks import check_callback

    with pytest.raises(ValidationError) as caught:
        check_callback(Callback(url="ftp://example.com/hook?secret=Hook-S3cret-991"))
    assert caught.value.field == "callback.url"
    assert "Hook-S3cret-991" not in str(caught.value)
    assert "Hook-S3cret-991" not in repr(caught.value)
