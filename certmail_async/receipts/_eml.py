"""PEC provider messages read from raw ``.eml`` bytes (receipts, notices and envelopes).

Users who read a PEC mailbox over IMAP get these messages raw. ``parse_eml`` reads the
kind in the reference's order (``pec-receipts.md`` §7): ``daticert.xml`` ``tipo``, then the
``X-Ricevuta`` / ``X-Trasporto`` headers, then the subject prefix, else UNKNOWN, and says
which one decided (``EvidenceSource``). One documented
exception: an anomaly envelope (``X-Trasporto: errore``) stays an anomaly even when a
``daticert.xml`` disagrees, because the certification data found in one belongs to the
message it wraps.

What is tolerated and what is refused:

* a missing, malformed or oversized ``daticert.xml`` falls back to the headers and the
  subject, and the reason goes in ``problems`` (``strict=True`` raises instead);
* hostile XML (an internal DTD subset, entities, external references) always raises
  ``UnsafeXMLError``: a provider never sends one, so such a
  message is not evidence of anything;
* input over ``max_size`` (``MAX_EML_SIZE``) raises before parsing; only the top-level
  MIME tree is walked (at most ``MAX_PARTS`` parts, never into the wrapped original,
  whose own ``daticert.xml`` would otherwise be mistaken for this message's), iteratively;
  MIME nested deeper than the parser's recursion limit is a ``ReceiptParseError``;
* before the stdlib parser sees the bytes, one linear pre-scan refuses structures whose
  parsing cost is unbounded: more than ``MAX_MIME_CONTAINERS`` multipart or
  ``message/rfc822`` declarations, ``MAX_BOUNDARY_LINES`` boundary lines,
  ``MAX_HEADER_LINES`` lines in one header block (``MAX_TOTAL_HEADER_LINES`` in all),
  a header over ``MAX_HEADER_LENGTH`` bytes or with over ``MAX_ENCODED_WORDS`` RFC 2047
  encoded words (``ReceiptTooLargeError`` naming the limit).

The S/MIME signature (``smime.p7s``) is kept in ``raw`` but not verified here, and an
opaque ``application/pkcs7-mime`` message is not unpacked (noted in ``problems``).
"""

from __future__ import annotations

import email
import email.errors
import email.header
import email.message
import email.utils
import re
from collections.abc import Iterator
from datetime import datetime
from email import policy

import attrs

from ._daticert import (
    MAX_DATICERT_SIZE,
    Daticert,
    DaticertRecipient,
    DeliveryVariant,
    PecErrorClass,
    parse_daticert,
)
from ._errors import ReceiptParseError, ReceiptTooLargeError, UnsafeXMLError
from ._kinds import (
    _OUTCOMES,
    EvidenceSource,
    Outcome,
    ReceiptKind,
    addressed_to,
    classify_subject,
    is_permanent_warning,
    kind_from_wire,
    normalise_address,
    normalise_message_id,
)

__all__ = [
    "MAX_BOUNDARY_LINES",
    "MAX_EML_SIZE",
    "MAX_ENCODED_WORDS",
    "MAX_HEADER_LENGTH",
    "MAX_HEADER_LINES",
    "MAX_MIME_CONTAINERS",
    "MAX_PARTS",
    "MAX_TOTAL_HEADER_LINES",
    "OriginalMessage",
    "PecHeaders",
    "ProviderMessage",
    "parse_eml",
]

MAX_EML_SIZE = 48 * 1024 * 1024
"""Largest ``.eml`` accepted by default, in bytes (48 MiB).

RFC 6109 caps a PEC message at 30 MB; a complete delivery receipt carries the original,
and base64 makes it 4/3 larger. ``parse_eml(data, max_size=...)`` takes another limit.

Examples:
    >>> from certmail_async.receipts import MAX_EML_SIZE, parse_eml
    >>> MAX_EML_SIZE // (1024 * 1024)
    48
    >>> parse_eml(b" " * 64, max_size=32)
    Traceback (most recent call last):
    ...
    certmail_async.receipts._errors.ReceiptTooLargeError: ...
"""
MAX_PARTS = 1000
"""Most MIME parts walked in the top-level tree (a receipt has fewer than ten).

Examples:
    >>> from certmail_async.receipts import MAX_PARTS
    >>> MAX_PARTS
    1000
"""

MAX_MIME_CONTAINERS = 100
"""Most multipart or ``message/rfc822`` declarations in a message, checked before parsing.

Real receipts have 3 to 9 (the wrapped original included); this also bounds the nesting
depth, which the stdlib parser walks recursively.

Examples:
    >>> from certmail_async.receipts import MAX_MIME_CONTAINERS
    >>> MAX_MIME_CONTAINERS
    100
"""
MAX_BOUNDARY_LINES = 2000
"""Most MIME boundary lines (``--`` plus a declared boundary), checked before parsing.

Real receipts have under 25.

Examples:
    >>> from certmail_async.receipts import MAX_BOUNDARY_LINES
    >>> MAX_BOUNDARY_LINES
    2000
"""
MAX_HEADER_LINES = 1000
"""Most lines (folded continuations included) in one header block, checked before parsing.

Examples:
    >>> from certmail_async.receipts import MAX_HEADER_LINES
    >>> MAX_HEADER_LINES
    1000
"""
MAX_TOTAL_HEADER_LINES = 10000
"""Most header lines in all the header blocks of a message, checked before parsing.

Examples:
    >>> from certmail_async.receipts import MAX_TOTAL_HEADER_LINES
    >>> MAX_TOTAL_HEADER_LINES
    10000
"""
MAX_HEADER_LENGTH = 256 * 1024
"""Longest header, in bytes with its folded lines, checked before parsing (256 KiB).

Examples:
    >>> from certmail_async.receipts import MAX_HEADER_LENGTH
    >>> MAX_HEADER_LENGTH // 1024
    256
"""
MAX_ENCODED_WORDS = 500
"""Most RFC 2047 encoded words (``=?charset?B?...?=``) in one header, checked before parsing.

A long non-ASCII subject has a handful; decoding thousands is superlinear in the stdlib.

Examples:
    >>> from certmail_async.receipts import MAX_ENCODED_WORDS
    >>> MAX_ENCODED_WORDS
    500
"""

_CONTAINER = re.compile(rb"content-type:\s*(multipart/|message/rfc822)", re.ASCII | re.IGNORECASE)
_BOUNDARY = re.compile(
    rb"""boundary\s*=\s*(?:"([^"\r\n]*)"|([^\s;"]+))""", re.ASCII | re.IGNORECASE
)

_ENCODED_WORD = re.compile(rb"=\?[^?\s]+\?[bq]\?", re.ASCII | re.IGNORECASE)

_PER_CONTO_DI = "per conto di:"
# Per-recipient kinds: the ones whose delivery address matters.
_PER_RECIPIENT = frozenset(
    {
        ReceiptKind.DELIVERY,
        ReceiptKind.NON_DELIVERY,
        ReceiptKind.DELIVERY_WARNING,
        ReceiptKind.TAKEN_IN_CHARGE,
        ReceiptKind.VIRUS_DETECTION,
    }
)


@attrs.frozen(kw_only=True)
class PecHeaders:
    """The PEC headers of a provider message, decoded, raw values kept.

    ``receipt`` is ``X-Ricevuta``, ``transport`` is ``X-Trasporto``,
    ``reference_message_id`` is ``X-Riferimento-Message-ID`` without ``<>`` (the
    correlation key), ``requested_variant`` is ``X-TipoRicevuta`` and ``security_check``
    is ``X-VerificaSicurezza``.

    Examples:
        >>> PecHeaders(receipt="accettazione").receipt
        'accettazione'
    """

    receipt: str | None = None
    transport: str | None = None
    reference_message_id: str | None = None
    requested_variant: str | None = None
    security_check: str | None = None
    sender: str | None = None
    to: str | None = None
    date: str | None = None
    message_id: str | None = None
    subject: str = ""


@attrs.frozen(kw_only=True)
class OriginalMessage:
    """The original message a provider message carries (``postacert.eml``).

    ``raw`` is the attached message as bytes (for a *breve* receipt its attachments are
    replaced by hashes, so keep your own copy of what you sent).

    Examples:
        >>> original = OriginalMessage(subject="Fattura 12", to=("b@pec.example.it",))
        >>> original.subject, original.to, original.message_id
        ('Fattura 12', ('b@pec.example.it',), None)
    """

    subject: str | None = None
    sender: str | None = None
    to: tuple[str, ...] = ()
    cc: tuple[str, ...] = ()
    message_id: str | None = None
    date: datetime | None = None
    raw: bytes = attrs.field(default=b"", repr=False)


@attrs.frozen(kw_only=True)
class ProviderMessage:
    r"""A PEC provider message (receipt, notice or envelope) read from its ``.eml`` bytes.

    ``kind`` and ``evidence`` say what the message is and where that was read from;
    ``raw_kind`` keeps the ``tipo`` (or header) string as sent, standard or not. The other
    fields come from ``daticert.xml`` when it is there, else from the headers, the
    original message and the receipt text: ``sender`` and ``recipients`` of the original,
    ``subject`` (the original's), ``delivery_address`` (``consegna``: the recipient a
    per-recipient receipt is about), ``message_id`` (the original's, without ``<>``),
    ``provider_id`` (``identificativo``), ``timestamp`` (aware; ``daticert.xml`` date, else
    the ``Date`` header). ``problems`` lists what could not be read; ``raw`` keeps the
    signed bytes, which are the legal evidence.

    Examples:
        >>> raw = (b"X-Ricevuta: avvenuta-consegna\r\n"
        ...        b"Subject: CONSEGNA: Fattura 12\r\n\r\nbody\r\n")
        >>> m = parse_eml(raw)
        >>> m.kind.value, m.evidence.value
        ('avvenuta-consegna', 'headers')
        >>> m.subject, m.outcome
        ('Fattura 12', <Outcome.DELIVERED: 'delivered'>)
    """

    kind: ReceiptKind
    evidence: EvidenceSource
    raw_kind: str | None = None
    error: PecErrorClass | None = None
    sender: str | None = None
    recipients: tuple[DaticertRecipient, ...] = ()
    subject: str | None = None
    delivery_address: str | None = None
    message_id: str | None = None
    provider_id: str | None = None
    timestamp: datetime | None = None
    variant: DeliveryVariant | None = None
    extended_error: str | None = None
    issuer: str | None = None
    headers: PecHeaders = PecHeaders()
    daticert: Daticert | None = None
    original: OriginalMessage | None = None
    problems: tuple[str, ...] = ()
    raw: bytes = attrs.field(default=b"", repr=False)

    @property
    def outcome(self) -> Outcome:
        """What this message means for the recipient it concerns.

        A delay warning is ``Outcome.WARNING``, except the documented Aruba case
        (``errore-esteso`` starting ``5.4.1``), which is a final failure.
        """
        if is_permanent_warning(self.kind, self.extended_error):
            return Outcome.FAILED
        return _OUTCOMES.get(self.kind, Outcome.INFORMATIONAL)

    @property
    def concerns(self) -> str | None:
        """The recipient this message is about (``delivery_address``), if it names one."""
        return self.delivery_address

    @property
    def original_subject(self) -> str | None:
        """The original subject (same as ``subject``; named as on ``Receipt``)."""
        return self.subject


def parse_eml(
    data: bytes,
    *,
    strict: bool = False,
    max_size: int = MAX_EML_SIZE,
    max_daticert_size: int = MAX_DATICERT_SIZE,
) -> ProviderMessage:
    r"""Read a PEC provider message (receipt, notice, envelope) from its raw bytes.

    Args:
        data: the whole message as fetched over IMAP (``RFC822`` / ``BODY[]``).
        strict: raise [ReceiptParseError][certmail_async.ReceiptParseError] when
            ``daticert.xml`` is missing or malformed, instead of falling back to the
            headers and the subject.
        max_size: the largest input accepted (default
            [MAX_EML_SIZE][certmail_async.receipts.MAX_EML_SIZE], 48 MiB).
        max_daticert_size: the largest ``daticert.xml`` accepted (1 MiB).

    Raises:
        ReceiptTooLargeError: ``data`` is over ``max_size`` bytes, or over one of the
            structure limits checked before parsing (``MAX_MIME_CONTAINERS``,
            ``MAX_BOUNDARY_LINES``, ``MAX_HEADER_LINES``, ``MAX_TOTAL_HEADER_LINES``,
            ``MAX_HEADER_LENGTH``, ``MAX_ENCODED_WORDS``; the message names it).
        UnsafeXMLError: the ``daticert.xml`` is hostile (entities, DTD subset, XXE).
        ReceiptParseError: the bytes are not a message the parser can walk (and, with
            ``strict=True``, no usable ``daticert.xml``).

    Examples:
        >>> raw = (b'Subject: ACCETTAZIONE: Fattura 12\r\n'
        ...        b'Content-Type: multipart/mixed; boundary="b"\r\n\r\n--b\r\n'
        ...        b'Content-Type: application/xml; name="daticert.xml"\r\n\r\n'
        ...        b'<postacert tipo="accettazione" errore="nessuno"><dati>'
        ...        b'<msgid>&lt;m1@pec.example.it&gt;</msgid></dati></postacert>'
        ...        b'\r\n--b--\r\n')
        >>> m = parse_eml(raw)
        >>> m.kind.value, m.evidence.value
        ('accettazione', 'daticert')
        >>> m.message_id
        'm1@pec.example.it'
    """
    if not isinstance(data, bytes | bytearray | memoryview):
        raise ReceiptParseError(f"expected bytes, got {type(data).__name__}", part="message")
    data = bytes(data)
    if len(data) > max_size:
        raise ReceiptTooLargeError(
            f"the message is {len(data)} bytes, over the {max_size}-byte limit",
            part="message",
            size=len(data),
            limit=max_size,
        )
    _prescan(data)
    try:
        message = email.message_from_bytes(data, policy=policy.compat32)
        return _read(message, data, strict=strict, max_daticert_size=max_daticert_size)
    except ReceiptParseError:
        raise
    except RecursionError:
        raise ReceiptParseError("MIME structure nested too deeply", part="message") from None
    except (ValueError, TypeError, LookupError, IndexError, AttributeError) as error:
        # The stdlib parser is lenient; whatever it still trips on is one typed error.
        raise ReceiptParseError(
            f"unreadable message ({type(error).__name__})", part="message"
        ) from None


def _refuse(what: str, limit_name: str, count: int, limit: int) -> ReceiptTooLargeError:
    return ReceiptTooLargeError(
        f"{what} over the {limit_name} limit ({limit}), refused before parsing",
        part="message",
        size=count,
        limit=limit,
    )


def _prescan(data: bytes) -> None:
    """Refuse, in one linear pass over ``data``, what the stdlib parser cannot parse cheaply.

    Header blocks are read line by line (the top one, each part's after a boundary line,
    a wrapped message's); bodies are skipped with one regex search for the next line that
    starts with ``--`` and a declared boundary. Over-counting is possible (a non-header
    line before the blank line), never under-counting of what the stdlib would parse.
    """
    size = len(data)
    boundaries: set[bytes] = set()
    boundary_line: re.Pattern[bytes] | None = None
    containers = boundary_lines = total_lines = 0
    pos = 0
    in_headers = True
    while pos < size:
        if in_headers:
            block_lines = 0
            header = b""  # the Content-Type header only, unfolded
            in_content_type = False
            header_length = words = 0
            container = False
            block_boundary: bytes | None = None
            while pos < size:
                end = data.find(b"\n", pos)
                end = size if end < 0 else end
                line = data[pos:end]
                pos = end + 1
                if line in (b"", b"\r"):
                    break
                block_lines += 1
                total_lines += 1
                if block_lines > MAX_HEADER_LINES:
                    raise _refuse(
                        "a header block", "MAX_HEADER_LINES", block_lines, MAX_HEADER_LINES
                    )
                if total_lines > MAX_TOTAL_HEADER_LINES:
                    raise _refuse(
                        "the header lines",
                        "MAX_TOTAL_HEADER_LINES",
                        total_lines,
                        MAX_TOTAL_HEADER_LINES,
                    )
                if line[:1] in (b" ", b"\t"):
                    header_length += len(line)
                    words += len(_ENCODED_WORD.findall(line))
                    if in_content_type:
                        header += line
                else:
                    header_length = len(line)
                    words = len(_ENCODED_WORD.findall(line))
                    in_content_type = line[:13].lower() == b"content-type:"
                    if in_content_type:
                        header = line
                if header_length > MAX_HEADER_LENGTH:
                    raise _refuse("a header", "MAX_HEADER_LENGTH", header_length, MAX_HEADER_LENGTH)
                if words > MAX_ENCODED_WORDS:
                    raise _refuse(
                        "a header's encoded words", "MAX_ENCODED_WORDS", words, MAX_ENCODED_WORDS
                    )
            if header:
                found = _CONTAINER.match(header)
                if found is not None:
                    container = True
                    containers += 1
                    if containers > MAX_MIME_CONTAINERS:
                        raise _refuse(
                            "the multipart and message/rfc822 declarations",
                            "MAX_MIME_CONTAINERS",
                            containers,
                            MAX_MIME_CONTAINERS,
                        )
                    if found.group(1).lower() == b"multipart/":
                        param = _BOUNDARY.search(header)
                        if param is not None:
                            block_boundary = (param.group(1) or param.group(2) or b"").strip()
                    else:
                        continue  # a wrapped message: its own header block follows
            if container and block_boundary and block_boundary not in boundaries:
                boundaries.add(block_boundary)
                alternatives = b"|".join(re.escape(b) for b in sorted(boundaries))
                boundary_line = re.compile(rb"^--(?:" + alternatives + rb")", re.MULTILINE)
            in_headers = False
        if boundary_line is None:
            return
        found_line = boundary_line.search(data, pos)
        if found_line is None:
            return
        boundary_lines += 1
        if boundary_lines > MAX_BOUNDARY_LINES:
            raise _refuse(
                "the MIME boundary lines", "MAX_BOUNDARY_LINES", boundary_lines, MAX_BOUNDARY_LINES
            )
        end = data.find(b"\n", found_line.end())
        end = size if end < 0 else end
        closing = data[found_line.end() : end].startswith(b"--")
        pos = end + 1
        in_headers = not closing


def _read(
    message: email.message.Message, data: bytes, *, strict: bool, max_daticert_size: int
) -> ProviderMessage:
    problems: list[str] = []
    headers = _headers(message)
    daticert_part, original_part, text_part, opaque = _find_parts(message, problems)
    if opaque:
        problems.append("opaque S/MIME (application/pkcs7-mime) not unpacked")

    daticert: Daticert | None = None
    if daticert_part is None:
        if strict:
            raise ReceiptParseError("no daticert.xml attached", part="daticert.xml")
        problems.append("no daticert.xml")
    else:
        payload = daticert_part.get_payload(decode=True)
        try:
            if not isinstance(payload, bytes):
                raise ReceiptParseError("daticert.xml has no content", part="daticert.xml")
            daticert = parse_daticert(payload, max_size=max_daticert_size)
        except UnsafeXMLError:
            raise
        except ReceiptParseError as error:
            if strict:
                raise
            problems.append(f"daticert.xml: {error.message}")

    original = _original(original_part, problems) if original_part is not None else None
    kind, evidence, raw_kind = _classify(headers, daticert, problems)
    prefixed_kind, after_prefix = classify_subject(headers.subject)
    if prefixed_kind is ReceiptKind.UNKNOWN:
        after_prefix = ""

    d = daticert
    delivery = d.delivery_address if d else None
    if d is None and kind in _PER_RECIPIENT and text_part is not None:
        # Without certification data, the standard receipt sentence names the recipient.
        delivery = addressed_to(_text_of(text_part))
    recipients = d.recipients if d and d.recipients else _original_recipients(original)
    return ProviderMessage(
        kind=kind,
        evidence=evidence,
        raw_kind=raw_kind,
        error=d.error if d else None,
        sender=(d.sender if d else None) or _on_behalf_of(headers.sender) or _orig_sender(original),
        recipients=recipients,
        subject=(d.subject if d else None)
        or after_prefix
        or (original.subject if original else None),
        delivery_address=delivery,
        message_id=(d.message_id if d else None) or headers.reference_message_id,
        provider_id=d.provider_id if d else None,
        timestamp=(d.timestamp if d else None) or _date(headers.date),
        variant=d.variant if d else None,
        extended_error=d.extended_error if d else None,
        issuer=d.issuer if d else None,
        headers=headers,
        daticert=daticert,
        original=original,
        problems=tuple(problems),
        raw=data,
    )


def _classify(
    headers: PecHeaders, daticert: Daticert | None, problems: list[str]
) -> tuple[ReceiptKind, EvidenceSource, str | None]:
    header_raw = headers.receipt or headers.transport
    header_kind = kind_from_wire(header_raw)
    if (headers.transport or "").strip().lower() == "errore":
        # An anomaly envelope wraps a message that is not valid PEC: certification data in
        # it describe the wrapped message, never the envelope (pec-receipts.md §6).
        if daticert is not None and daticert.kind is not ReceiptKind.ANOMALY_ENVELOPE:
            problems.append(f"anomaly envelope carries daticert.xml tipo={daticert.raw_kind!r}")
        return ReceiptKind.ANOMALY_ENVELOPE, EvidenceSource.HEADERS, headers.transport
    if daticert is not None and daticert.kind is not ReceiptKind.UNKNOWN:
        if header_raw and header_kind is not daticert.kind:
            problems.append(
                f"headers say {header_raw!r}, daticert.xml says {daticert.raw_kind!r}: "
                "daticert.xml wins"
            )
        return daticert.kind, EvidenceSource.DATICERT, daticert.raw_kind
    if header_kind is not ReceiptKind.UNKNOWN:
        raw = daticert.raw_kind if daticert is not None and daticert.raw_kind else header_raw
        return header_kind, EvidenceSource.HEADERS, raw
    subject_kind = classify_subject(headers.subject)[0]
    raw_kind = (daticert.raw_kind if daticert is not None else None) or header_raw
    if subject_kind is not ReceiptKind.UNKNOWN:
        return subject_kind, EvidenceSource.SUBJECT, raw_kind
    if daticert is not None:
        return ReceiptKind.UNKNOWN, EvidenceSource.DATICERT, raw_kind
    if header_raw:
        return ReceiptKind.UNKNOWN, EvidenceSource.HEADERS, raw_kind
    return ReceiptKind.UNKNOWN, EvidenceSource.SUBJECT, raw_kind


def _decode(value: object) -> str | None:
    if value is None:
        return None
    # Bounded: the pre-scan caps header length and encoded words; cut here too for headers
    # of messages that did not come through it.
    raw = str(value)[:MAX_HEADER_LENGTH]
    if len(_ENCODED_WORD.findall(raw.encode("ascii", "replace"))) > MAX_ENCODED_WORDS:
        return " ".join(raw.split()) or None
    try:
        text = str(email.header.make_header(email.header.decode_header(raw)))
    except (ValueError, LookupError, UnicodeError, email.errors.HeaderParseError):
        text = raw
    # Unfolded, one line: header text never carries CR/LF into a model.
    return " ".join(text.split()) or None


def _header(message: email.message.Message, name: str) -> str | None:
    try:
        return _decode(message.get(name))
    except (ValueError, LookupError, TypeError, UnicodeError):
        return None


def _headers(message: email.message.Message) -> PecHeaders:
    reference = _header(message, "X-Riferimento-Message-ID")
    message_id = _header(message, "Message-ID")
    return PecHeaders(
        receipt=_header(message, "X-Ricevuta"),
        transport=_header(message, "X-Trasporto"),
        reference_message_id=normalise_message_id(reference) if reference else None,
        requested_variant=_header(message, "X-TipoRicevuta"),
        security_check=_header(message, "X-VerificaSicurezza"),
        sender=_header(message, "From"),
        to=_header(message, "To"),
        date=_header(message, "Date"),
        message_id=normalise_message_id(message_id) if message_id else None,
        subject=_header(message, "Subject") or "",
    )


def _filename(part: email.message.Message) -> str:
    try:
        name = part.get_filename() or part.get_param("name") or ""
    except (ValueError, LookupError, TypeError, UnicodeError):
        return ""
    if isinstance(name, tuple):  # an undecoded RFC 2231 triple
        name = name[2]
    return str(name).strip().strip('"').lower()


def _walk(message: email.message.Message, problems: list[str]) -> Iterator[email.message.Message]:
    # Iterative and bounded; a wrapped message (message/rfc822) is yielded, never entered.
    stack = [message]
    seen = 0
    while stack:
        part = stack.pop()
        seen += 1
        if seen > MAX_PARTS:
            problems.append(f"more than {MAX_PARTS} MIME parts: the rest were not read")
            return
        yield part
        if part.get_content_maintype() == "multipart":
            children = part.get_payload()
            if isinstance(children, list):
                stack.extend(
                    reversed([c for c in children if isinstance(c, email.message.Message)])
                )


def _find_parts(
    message: email.message.Message, problems: list[str]
) -> tuple[
    email.message.Message | None,
    email.message.Message | None,
    email.message.Message | None,
    bool,
]:
    daticert = original = text = None
    opaque = False
    for part in _walk(message, problems):
        ctype = part.get_content_type()
        name = _filename(part)
        if daticert is None and name == "daticert.xml":
            daticert = part
        elif original is None and (name == "postacert.eml" or ctype == "message/rfc822"):
            original = part
        elif text is None and ctype == "text/plain" and not name:
            text = part
        elif ctype in ("application/pkcs7-mime", "application/x-pkcs7-mime") or name == "smime.p7m":
            opaque = True
    return daticert, original, text, opaque


def _text_of(part: email.message.Message) -> str:
    payload = part.get_payload(decode=True)
    if not isinstance(payload, bytes):
        return ""
    charset = part.get_content_charset() or "utf-8"
    try:
        return payload[:65536].decode(charset, errors="replace")
    except LookupError:
        return payload[:65536].decode("utf-8", errors="replace")


def _original(part: email.message.Message, problems: list[str]) -> OriginalMessage | None:
    inner: email.message.Message | None = None
    raw = b""
    payload = part.get_payload()
    if isinstance(payload, list) and payload and isinstance(payload[0], email.message.Message):
        inner = payload[0]
        try:
            raw = inner.as_bytes()
        except (ValueError, LookupError, TypeError, UnicodeError, RecursionError):
            problems.append("postacert.eml could not be re-serialised")
    else:
        decoded = part.get_payload(decode=True)
        if isinstance(decoded, bytes):
            raw = decoded
            _prescan(decoded)
            inner = email.message_from_bytes(decoded, policy=policy.compat32)
    if inner is None:
        problems.append("postacert.eml is empty")
        return None
    message_id = _header(inner, "Message-ID")
    return OriginalMessage(
        subject=_header(inner, "Subject"),
        sender=_address(_header(inner, "From")),
        to=_addresses(inner, "To"),
        cc=_addresses(inner, "Cc"),
        message_id=normalise_message_id(message_id) if message_id else None,
        date=_date(_header(inner, "Date")),
        raw=raw,
    )


def _address(value: str | None) -> str | None:
    if not value:
        return None
    address = email.utils.parseaddr(value)[1]
    return normalise_address(address) if "@" in address else None


def _addresses(message: email.message.Message, name: str) -> tuple[str, ...]:
    values = [v for v in (_header(message, name),) if v]
    pairs = email.utils.getaddresses(values)
    return tuple(normalise_address(a) for _n, a in pairs if "@" in a)


def _original_recipients(original: OriginalMessage | None) -> tuple[DaticertRecipient, ...]:
    if original is None:
        return ()
    return tuple(DaticertRecipient(address=a) for a in (*original.to, *original.cc))


def _orig_sender(original: OriginalMessage | None) -> str | None:
    return original.sender if original is not None else None


def _on_behalf_of(sender: str | None) -> str | None:
    # Transport envelopes read: "Per conto di: mario@pec.example.it" <posta-certificata@...>
    if not sender:
        return None
    name = email.utils.parseaddr(sender)[0] or sender
    at = name.lower().find(_PER_CONTO_DI)
    if at < 0:
        return None
    candidate = name[at + len(_PER_CONTO_DI) :].split()
    return normalise_address(candidate[0]) if candidate and "@" in candidate[0] else None


def _date(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        parsed = email.utils.parsedate_to_datetime(value)
    except (ValueError, TypeError, IndexError, OverflowError):
        return None
    return parsed if parsed.tzinfo is not None else None
