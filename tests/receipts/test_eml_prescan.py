"""Hostile MIME structure: refused by the pre-scan, typed, before the stdlib parser runs."""

from __future__ import annotations

import pytest

from certmail_async.receipts import (
    MAX_BOUNDARY_LINES,
    MAX_ENCODED_WORDS,
    MAX_HEADER_LENGTH,
    MAX_HEADER_LINES,
    MAX_MIME_CONTAINERS,
    MAX_TOTAL_HEADER_LINES,
    ReceiptParseError,
    ReceiptTooLargeError,
    parse_eml,
)

from .conftest import SAMPLES


def deep_multipart(depth: int) -> bytes:
    """``depth`` nested multipart/mixed parts around one text part."""
    head = b""
    tail = b""
    for i in range(depth):
        head += b'Content-Type: multipart/mixed; boundary="b%d"\r\n\r\n--b%d\r\n' % (i, i)
        tail = b"\r\n--b%d--\r\n" % i + tail
    return b"Subject: x\r\n" + head + b"Content-Type: text/plain\r\n\r\nhi" + tail


def deep_rfc822(depth: int) -> bytes:
    """``depth`` nested message/rfc822 wrappers."""
    inner = b"Subject: inner\r\n\r\nbody"
    for _ in range(depth):
        inner = b"Content-Type: message/rfc822\r\n\r\n" + inner
    return b"Subject: x\r\n" + inner


def many_parts(count: int) -> bytes:
    """One multipart/mixed with ``count`` text parts."""
    parts = b"".join(b"--b\r\nContent-Type: text/plain\r\n\r\nx\r\n" for _ in range(count))
    return (
        b'Subject: x\r\nContent-Type: multipart/mixed; boundary="b"\r\n\r\n' + parts + b"--b--\r\n"
    )


def refusal(data: bytes) -> ReceiptTooLargeError:
    """The pre-scan's error for ``data``."""
    with pytest.raises(ReceiptTooLargeError) as caught:
        parse_eml(data)
    assert caught.value.part == "message"
    assert "refused before parsing" in caught.value.message
    return caught.value


class TestPrescan:
    def test_deep_multipart_refused_by_container_limit(self) -> None:
        """5000 nested multiparts are refused naming MAX_MIME_CONTAINERS."""
        error = refusal(deep_multipart(5000))
        assert "MAX_MIME_CONTAINERS" in error.message
        assert error.limit == MAX_MIME_CONTAINERS

    def test_deep_rfc822_refused_by_container_limit(self) -> None:
        """5000 nested message/rfc822 wrappers are refused naming MAX_MIME_CONTAINERS."""
        assert "MAX_MIME_CONTAINERS" in refusal(deep_rfc822(5000)).message

    def test_nesting_at_limit_still_parses(self) -> None:
        """Nesting up to MAX_MIME_CONTAINERS levels is parsed, not refused."""
        assert parse_eml(deep_multipart(MAX_MIME_CONTAINERS)).subject is None

    def test_many_parts_refused_by_boundary_limit(self) -> None:
        """200,000 parts are refused naming MAX_BOUNDARY_LINES."""
        error = refusal(many_parts(200_000))
        assert "MAX_BOUNDARY_LINES" in error.message
        assert error.limit == MAX_BOUNDARY_LINES

    def test_parts_under_boundary_limit_parse(self) -> None:
        """A message just under MAX_BOUNDARY_LINES boundary lines parses (walk capped)."""
        message = parse_eml(many_parts(MAX_BOUNDARY_LINES - 1))
        assert any("MIME parts" in p for p in message.problems)

    def test_many_top_level_headers_refused(self) -> None:
        """500,000 header lines are refused naming MAX_HEADER_LINES."""
        data = b"".join(b"X-H%d: v\r\n" % i for i in range(500_000)) + b"\r\nx"
        error = refusal(data)
        assert "MAX_HEADER_LINES" in error.message
        assert error.limit == MAX_HEADER_LINES

    def test_many_part_headers_refused(self) -> None:
        """A part header block over MAX_HEADER_LINES lines is refused."""
        block = b"".join(b"X-H%d: v\r\n" % i for i in range(MAX_HEADER_LINES + 1))
        data = (
            b'Content-Type: multipart/mixed; boundary="b"\r\n\r\n--b\r\n'
            + block
            + b"\r\nx\r\n--b--\r\n"
        )
        assert "MAX_HEADER_LINES" in refusal(data).message

    def test_header_lines_in_all_blocks_refused(self) -> None:
        """Header lines spread over many parts are capped by MAX_TOTAL_HEADER_LINES."""
        block = b"".join(b"X-H%d: v\r\n" % i for i in range(500))
        parts = b"".join(b"--b\r\n" + block + b"\r\nx\r\n" for _ in range(30))
        data = b'Content-Type: multipart/mixed; boundary="b"\r\n\r\n' + parts + b"--b--\r\n"
        error = refusal(data)
        assert "MAX_TOTAL_HEADER_LINES" in error.message
        assert error.limit == MAX_TOTAL_HEADER_LINES

    def test_wrapped_message_headers_counted(self) -> None:
        """The header block of a wrapped message/rfc822 is scanned too."""
        block = b"".join(b"X-H%d: v\r\n" % i for i in range(MAX_HEADER_LINES + 1))
        data = b"Subject: x\r\nContent-Type: message/rfc822\r\n\r\n" + block + b"\r\nbody"
        assert "MAX_HEADER_LINES" in refusal(data).message

    def test_encoded_word_bomb_refused(self) -> None:
        """A Subject with more than MAX_ENCODED_WORDS encoded words is refused by count."""
        words = b" ".join(b"=?utf-8?B?QUFBQQ==?=" for _ in range(MAX_ENCODED_WORDS + 1))
        error = refusal(b"Subject: " + words + b"\r\n\r\nx")
        assert "MAX_ENCODED_WORDS" in error.message
        assert error.limit == MAX_ENCODED_WORDS

    def test_folded_encoded_words_counted_per_header(self) -> None:
        """Encoded words on folded continuation lines count toward the same header."""
        line = b" ".join(b"=?utf-8?Q?a?=" for _ in range(100))
        folded = b"\r\n ".join(line for _ in range(6))
        assert "MAX_ENCODED_WORDS" in refusal(b"Subject: " + folded + b"\r\n\r\nx").message

    def test_large_encoded_word_subject_refused_by_length(self) -> None:
        """300,000 encoded words (6 MB) are refused by MAX_HEADER_LENGTH first."""
        words = b" ".join(b"=?utf-8?B?QUFBQQ==?=" for _ in range(300_000))
        error = refusal(b"Subject: " + words + b"\r\n\r\nx")
        assert "MAX_HEADER_LENGTH" in error.message
        assert error.limit == MAX_HEADER_LENGTH

    def test_encoded_words_under_limit_decode(self) -> None:
        """A subject with MAX_ENCODED_WORDS encoded words still decodes."""
        words = b" ".join(b"=?utf-8?B?QUFBQQ==?=" for _ in range(MAX_ENCODED_WORDS))
        message = parse_eml(b"X-Ricevuta: accettazione\r\nSubject: " + words + b"\r\n\r\nx")
        assert message.headers.subject.startswith("AAAA")

    def test_refusal_is_a_parse_error(self) -> None:
        """Pre-scan refusals are ReceiptParseError, the documented parent."""
        with pytest.raises(ReceiptParseError):
            parse_eml(deep_multipart(MAX_MIME_CONTAINERS + 1))

    @pytest.mark.parametrize("path", sorted(SAMPLES.glob("*.eml")), ids=lambda p: p.name)
    def test_real_samples_pass_prescan(self, path: object) -> None:
        """Every sample receipt passes the pre-scan and parses."""
        from pathlib import Path

        assert isinstance(path, Path)
        try:
            parse_eml(path.read_bytes())
        except ReceiptTooLargeError as error:  # pragma: no cover - the failure branch
            pytest.fail(f"pre-scan refused a real sample: {error.message}")
        except ReceiptParseError:
            pass  # some samples are deliberately malformed in other ways
