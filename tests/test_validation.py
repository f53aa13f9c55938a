"""The validation layer: addresses (the fast path agrees with email-validator), the
reusable checks, and the models that check themselves at construction."""

from __future__ import annotations

import re
from typing import ClassVar

import email_validator
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from certmail_async import Attachment, OutgoingMessage, SecretStr, Signer, ValidationError
from certmail_async._validation import (
    _fast_normalize,
    check_attachments,
    check_bool,
    check_choice,
    check_domain,
    check_email,
    check_header_text,
    check_int,
    check_mime_type,
    check_path_id,
    check_pattern,
    check_recipients,
    check_secret,
    check_sequence,
    check_sequence_of,
    check_str,
    check_token,
)
from certmail_async.bulk._models import check_outgoing_message
from tests.forced import forced

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

    def test_empty_list_is_refused(self) -> None:
        """An empty recipient list is a ValidationError naming the list."""
        with pytest.raises(ValidationError) as info:
            check_recipients([])
        assert info.value.field == "recipients"

    def test_count_is_checked_before_the_addresses(self) -> None:
        """Over ``max_count`` fails on the list, whatever the addresses hold."""
        with pytest.raises(ValidationError) as info:
            check_recipients(["a@x.it", "b@x.it", "bad"], max_count=2)
        assert info.value.field == "recipients"

    def test_ascii_only_refuses_unicode_addresses(self) -> None:
        """``ascii=True`` (PEC) refuses an internationalised address that is otherwise valid."""
        assert check_recipients(["jöe@example.it"]) == ("jöe@example.it",)
        with pytest.raises(ValidationError) as info:
            check_recipients(["a@pec.example.it", "jöe@example.it"], ascii=True)
        assert info.value.field == "recipients[1]"


class TestCheckEmail:
    @pytest.mark.parametrize(
        "address",
        ["a@pec.example.it\n", "a@pec.example.it\r\nBcc: x@y.it", "a\x00@b.it", "\ta@b.it"],
    )
    def test_control_characters_are_refused_not_stripped(self, address: str) -> None:
        """A trailing newline or an injected header is an error, never silently stripped."""
        with pytest.raises(ValidationError) as info:
            check_email(address, field="to")
        assert info.value.field == "to"

    @pytest.mark.parametrize("value", [None, 123, b"a@b.it", ["a@b.it"]])
    def test_wrong_types_are_refused(self, value: object) -> None:
        """None and non-str values are ValidationErrors, not TypeErrors."""
        with pytest.raises(ValidationError, match="expected an e-mail address"):
            check_email(value, field="to")


class TestScalars:
    @pytest.mark.parametrize("value", [None, 1.5, True, "2", "\u0662", b"2"])
    def test_int_refuses_other_kinds(self, value: object) -> None:
        """1.5 is not a page, True is not an int, "2" and Arabic-Indic digits are not ints."""
        with pytest.raises(ValidationError, match="expected an integer"):
            check_int(value, field="page", min=1)

    def test_int_range(self) -> None:
        """Bounds are inclusive and named in the message."""
        assert check_int(25, field="limit", min=1, max=25) == 25
        with pytest.raises(ValidationError, match="at most 25"):
            check_int(26, field="limit", min=1, max=25)
        with pytest.raises(ValidationError, match="at least 1"):
            check_int(0, field="limit", min=1, max=25)

    @pytest.mark.parametrize("value", [None, 1, 0, "True"])
    def test_bool_is_a_bool(self, value: object) -> None:
        """1 and "True" are not booleans."""
        with pytest.raises(ValidationError):
            check_bool(value, field="sandbox")

    def test_str_refuses_non_strings_and_blanks(self) -> None:
        """q=123 is not a str (never sent as "123"); blank is refused unless allowed."""
        with pytest.raises(ValidationError, match="expected a string, got int"):
            check_str(123, field="q")
        with pytest.raises(ValidationError, match="empty"):
            check_str("  ", field="q")
        assert check_str("", field="q", allow_empty=True) == ""

    def test_choice_compares_types(self) -> None:
        """A choice matches on type and value: True is not 1, "it\\n" is not "it"."""
        assert check_choice("it", ("es", "it"), field="language") == "it"
        for bad in ("it\n", "IT", 1):
            with pytest.raises(ValidationError):
                check_choice(bad, ("es", "it"), field="language")


class TestHeaderText:
    @pytest.mark.parametrize(
        "value",
        [
            "Avviso\r\nBcc: evil@x.com",
            "Avviso\n",
            "a\x00b",
            "a\x7fb",
            "a\x85b",
            "a\tb",
            "\x1b[31m",
            "a\u2028b",
        ],
    )
    def test_control_characters_are_refused(self, value: str) -> None:
        """CR, LF, NUL, TAB, ESC, DEL and C1 controls never reach a mail header."""
        with pytest.raises(ValidationError, match="control characters"):
            check_header_text(value, field="subject")

    def test_ordinary_text_passes(self) -> None:
        """Accents, quotes and symbols are fine in a header."""
        text = 'Avviso: è "urgente" — 100% & più'
        assert check_header_text(text, field="subject") == text


class TestPatterns:
    @pytest.mark.parametrize(
        "value", ["00042\n", "\u0660\u0660\u0660\u0664\u0662", "0004", " 00042"]
    )
    def test_whole_string_ascii(self, value: str) -> None:
        """A trailing newline or non-ASCII digits never match (fullmatch, not $ and \\d)."""
        cap = re.compile(r"[0-9]{5}", re.ASCII)
        with pytest.raises(ValidationError):
            check_pattern(value, cap, field="cap", what="a postal code")

    @pytest.mark.parametrize(
        "value", ["application/pdf\n", "binary", "application/pdf; charset=\x00", "tèxt/plain", ""]
    )
    def test_mime_type(self, value: str) -> None:
        """MIME types are ASCII type/subtype with optional parameters, nothing else."""
        with pytest.raises(ValidationError):
            check_mime_type(value, field="mime_type")

    def test_mime_type_with_parameters(self) -> None:
        """A charset parameter is allowed."""
        assert (
            check_mime_type("text/plain; charset=utf-8", field="m") == "text/plain; charset=utf-8"
        )

    @pytest.mark.parametrize("value", ["", ".", "..", "a\n", " a", "a ", "\x00", None, 12])
    def test_path_ids(self, value: object) -> None:
        """Empty, dot, padded and control-character ids are refused."""
        with pytest.raises(ValidationError):
            check_path_id(value, field="code")

    @pytest.mark.parametrize(
        "value",
        ["bad_domain.it", "legalmail.it\n", "a@b.it", "it", "exämple.it", "a..it", "-a.it", "a.1"],
    )
    def test_domains(self, value: str) -> None:
        """Domain syntax is checked locally (before the billable check)."""
        with pytest.raises(ValidationError):
            check_domain(value, field="domain")
        assert check_domain("XN--Exmple-cua.IT", field="domain") == "xn--exmple-cua.it"


class TestSequences:
    @pytest.mark.parametrize("value", [None, "abc", b"abc", {"a": 1}, 12])
    def test_not_a_list(self, value: object) -> None:
        """None, a str, bytes, a mapping or a scalar is not a list."""
        with pytest.raises(ValidationError, match="expected a list"):
            check_sequence(value, field="documents")

    def test_generators_and_item_types(self) -> None:
        """Any other iterable is read once into a tuple; items are type-checked by index."""
        assert check_sequence((x for x in "ab"), field="x") == ("a", "b")
        with pytest.raises(ValidationError) as info:
            check_sequence_of([b"a", "b"], bytes, field="documents")
        assert info.value.field == "documents[1]"


class TestSecrets:
    def test_password_may_hold_odd_characters(self) -> None:
        """Quotes, backslashes, accents, + % & and spaces are fine in a password."""
        odd = 'p"a\\s è+%& w'
        assert check_secret(odd, field="password").get_secret_value() == odd

    @pytest.mark.parametrize("value", [None, 123, "", "pw\r\n", "pw\x00"])
    def test_bad_secrets(self, value: object) -> None:
        """Wrong types, empty and control characters are refused; the value is not shown."""
        with pytest.raises(ValidationError) as info:
            check_secret(value, field="password")
        assert info.value.field == "password"
        if isinstance(value, str) and value:
            assert value not in str(info.value)

    @pytest.mark.parametrize("value", [123, None, "tok en", "tok\n", "tòk", SecretStr("")])
    def test_tokens(self, value: object) -> None:
        """token=123 and tokens with blanks or non-ASCII are refused."""
        with pytest.raises(ValidationError) as info:
            check_token(value)
        assert info.value.field == "token"


class TestAttachment:
    @pytest.mark.parametrize(
        ("kwargs", "field"),
        [
            ({"filename": None}, "filename"),
            ({"filename": "a\r\nb.pdf"}, "filename"),
            ({"filename": "../x.pdf"}, "filename"),
            ({"content": "text"}, "content"),
            ({"content": None}, "content"),
            ({"mime_type": None}, "mime_type"),
            ({"mime_type": "application/pdf\n"}, "mime_type"),
        ],
    )
    def test_constructor_checks(self, kwargs: dict[str, object], field: str) -> None:
        """Wrong types and unsafe names fail at construction with the field named."""
        args: dict[str, object] = {"filename": "a.pdf", "content": b"%PDF", **kwargs}
        with pytest.raises(ValidationError) as info:
            Attachment(**args)  # type: ignore[arg-type]
        assert info.value.field == field

    def test_bytearray_is_frozen(self) -> None:
        """A bytearray is copied into bytes (the model is frozen)."""
        content = bytearray(b"abc")
        a = Attachment(filename="a.bin", content=content)  # type: ignore[arg-type]
        content[0] = 0
        assert a.content == b"abc"

    def test_forced_fields_are_caught_at_use(self) -> None:
        """check_attachments re-checks every field (object.__setattr__ bypasses __init__)."""
        bad = forced(Attachment(filename="a.pdf", content=b"x"), filename="a\nb")
        with pytest.raises(ValidationError) as info:
            check_attachments([bad])
        assert info.value.field == "attachments[0].filename"


class TestSigner:
    @pytest.mark.parametrize(
        ("kwargs", "field"),
        [
            ({"name": "A\r\nB"}, "name"),
            ({"name": None}, "name"),
            ({"email": "a@example.com\n"}, "email"),
            ({"phone": "0548798569\n"}, "phone"),
            ({"phone": "\u0660\u0665\u0664\u0668\u0667\u0669"}, "phone"),
        ],
    )
    def test_constructor_checks(self, kwargs: dict[str, object], field: str) -> None:
        """Names without control characters, real addresses, ASCII phone digits."""
        args: dict[str, object] = {"name": "Anna", "email": "anna@example.com", **kwargs}
        with pytest.raises(ValidationError) as info:
            Signer(**args)  # type: ignore[arg-type]
        assert info.value.field == field


class TestOutgoingMessage:
    BASE: ClassVar[dict[str, object]] = {
        "provider": "pecmassiva",
        "recipients": ["a@pec.example.it"],
        "subject": "Avviso",
        "body": "<p>...</p>",
    }

    @pytest.mark.parametrize(
        ("kwargs", "field"),
        [
            ({"provider": "openapi_pec"}, "provider"),
            ({"recipients": "a@pec.example.it"}, "recipients"),
            ({"recipients": []}, "recipients"),
            ({"recipients": None}, "recipients"),
            ({"recipients": ["a@pec.example.it", 3]}, "recipients[1]"),
            ({"subject": "Avviso\r\nBcc: evil@x.com"}, "subject"),
            ({"body": None}, "body"),
            ({"attachments": "a.pdf"}, "attachments"),
            ({"attachments": [b"%PDF"]}, "attachments[0]"),
            ({"key": 12}, "key"),
            ({"sender": 12}, "sender"),
        ],
    )
    def test_constructor_checks(self, kwargs: dict[str, object], field: str) -> None:
        """The constructor type-checks every field and names the bad one."""
        with pytest.raises(ValidationError) as info:
            OutgoingMessage(**{**self.BASE, **kwargs})  # type: ignore[arg-type]
        assert info.value.field == field

    def test_lists_become_tuples(self) -> None:
        """Recipients and attachments given as lists or generators are kept as tuples."""
        m = OutgoingMessage(
            provider="legallymail",
            recipients=(r for r in ["a@x.it", "b@x.it"]),  # type: ignore[arg-type]
            subject="s",
            body="b",
            attachments=[Attachment(filename="a.txt", content=b"x")],  # type: ignore[arg-type]
        )
        assert m.recipients == ("a@x.it", "b@x.it")
        assert isinstance(m.attachments, tuple)

    def test_check_outgoing_message(self) -> None:
        """A dict or a forced field fails with the field named; a good message passes."""
        good = OutgoingMessage(**self.BASE)  # type: ignore[arg-type]
        assert check_outgoing_message(good) is good
        with pytest.raises(ValidationError) as info:
            check_outgoing_message(dict(self.BASE))
        assert info.value.field == "message"
        with pytest.raises(ValidationError) as info:
            check_outgoing_message(forced(good, recipients="a@pec.example.it"))
        assert info.value.field == "recipients"
