"""Address validation: the fast path agrees with email-validator."""

from __future__ import annotations

import email_validator
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from certmail_async import ValidationError
from certmail_async._validation import _fast_normalize, check_email, check_recipients

_LOCAL = st.text(alphabet="abcXYZ019._+-%!#'\"", min_size=0, max_size=70)
_LABEL = st.text(alphabet="abcXYZ019-_", min_size=0, max_size=66)
_DOMAIN = st.lists(_LABEL, min_size=1, max_size=4).map(".".join) | st.sampled_from(
    ["localhost", "pec.local", "x.invalid", "a.onion", "x.test", "b.arpa", "example.com", "y.123"]
)
# Near-valid addresses (local@domain) and arbitrary strings with the same characters.
ASCII_ADDRESSISH = st.builds(lambda local, domain: f"{local}@{domain}", _LOCAL, _DOMAIN) | st.text(
    alphabet="abcXYZ019._+-@", max_size=40
)


def _library(address: str) -> str | None:
    try:
        return email_validator.validate_email(
            address, check_deliverability=False, allow_smtputf8=True
        ).normalized
    except email_validator.EmailNotValidError:
        return None


class TestFastPath:
    @settings(max_examples=3000, deadline=None)
    @given(ASCII_ADDRESSISH)
    @example("a@b.co")
    @example("x@localhost.it")
    @example("x@foo.local")
    @example("x@ab--cd.it")
    @example("a..b@c.it")
    @example("-a@b-.it")
    @example("a@b.c")
    @example("a@123.456")
    def test_fast_path_never_disagrees_with_email_validator(self, address: str) -> None:
        """Whatever the fast path accepts, email-validator accepts with the same normal form."""
        fast = _fast_normalize(address)
        if fast is not None:
            assert _library(address) == fast

    @pytest.mark.parametrize(
        "address",
        ["mario.rossi@pec.example.it", "Mario_Rossi+tag@PEC.Example.IT", "a-b@x-y.co"],
    )
    def test_fast_path_covers_ordinary_addresses(self, address: str) -> None:
        """Ordinary PEC addresses take the fast path."""
        assert _fast_normalize(address) == _library(address)

    @pytest.mark.parametrize(
        "address", ["test@test.local", "x@invalid", "jöe@exämple.it", '"quoted"@pec.it']
    )
    def test_others_go_to_the_library(self, address: str) -> None:
        """Special-use domains, Unicode and quoted local parts are left to email-validator."""
        assert _fast_normalize(address) is None
        result = _library(address)
        if result is None:
            with pytest.raises(ValidationError):
                check_email(address, field="to")
        else:
            assert check_email(address, field="to") == result


class TestCheckRecipients:
    def test_single_string_is_refused(self) -> None:
        """A bare string is not a list of addresses (nor 16 one-character recipients)."""
        with pytest.raises(ValidationError) as info:
            check_recipients("a@pec.example.it")
        assert info.value.field == "recipients"

    def test_non_string_is_refused(self) -> None:
        """A non-string recipient names its index."""
        with pytest.raises(ValidationError) as info:
            check_recipients(["a@pec.example.it", 42])  # type: ignore[list-item]
        assert info.value.field == "recipients[1]"
