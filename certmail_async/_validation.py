r"""Input checks that run before any request leaves the process: one layer for every client.

Each failure is a :class:`~certmail_async.ValidationError` naming the offending field, so
a caller (or the bulk dispatcher) can fail that one input without a round trip. The rules:

- a wrong type (``None`` included, ``bool`` for an int, a ``str`` for a list) is refused,
  never coerced: ``page="2"``, ``page=1.5`` and ``q=123`` are errors, not guesses;
- patterns match the WHOLE string with ASCII classes (``re.fullmatch``, ``re.ASCII``): a
  trailing newline or Arabic-Indic digits never pass a ``$`` or a ``\d``;
- text that becomes part of a mail header (subjects, names, file names) refuses control
  characters (C0, DEL, C1): no ``"Avviso\r\nBcc: evil@x.com"``; bodies may keep newlines.

The checks are cheap (a precompiled regex or two per value, addresses cached), so they run
on every call without showing in the SDK-overhead benchmark.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from ._exceptions import ValidationError
from ._tokens import TokenSource
from ._types import SecretStr

if TYPE_CHECKING:
    from ._models import Attachment

__all__ = [
    "CONTROL",
    "check_attachment_fields",
    "check_attachments",
    "check_bool",
    "check_choice",
    "check_domain",
    "check_email",
    "check_filename",
    "check_header_text",
    "check_hook",
    "check_instance",
    "check_int",
    "check_mime_type",
    "check_optional",
    "check_path_id",
    "check_pattern",
    "check_recipients",
    "check_secret",
    "check_sequence",
    "check_sequence_of",
    "check_str",
    "check_text",
    "check_token",
]

_T = TypeVar("_T")

#: C0 controls (CR, LF, NUL, TAB...), DEL, C1 controls and the Unicode line and paragraph
#: separators (``str.splitlines`` breaks on them too): never in header text.
CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_MIME = re.compile(
    r"[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}"
    r"(?:[ ]?;[ ]?[A-Za-z0-9!#$&^_.+-]+=(?:[A-Za-z0-9!#$&^_.+-]+|\"[^\"\\\x00-\x1f\x7f]*\"))*",
    re.ASCII,
)
_LABEL = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?", re.ASCII)
_TOKEN = re.compile(r"[\x21-\x7e]+", re.ASCII)  # printable ASCII, no blanks
#: Path separators, controls and the invisible Unicode format characters a file name can
#: use to lie about itself: bidi overrides and isolates ("fattura\u202efdp.exe" shows as
#: "fatturaexe.pdf"), bidi marks and zero-width characters.
_FILENAME_BAD = re.compile(
    r"[\x00-\x1f\x7f-\x9f\u2028\u2029/\\\u061c\u200b-\u200f\u202a-\u202e\u2066-\u2069\ufeff]"
)
#: Lone surrogates: a Python str may hold them, UTF-8 cannot encode them (the wire would
#: get ``\ud800`` escapes no provider can store, or the URL encoder a raw UnicodeEncodeError).
_SURROGATE = re.compile(r"[\ud800-\udfff]")


def _kind(value: object) -> str:
    return "None" if value is None else type(value).__name__


# -- scalars ---------------------------------------------------------------------------


def check_str(
    value: object, *, field: str, allow_empty: bool = False, max_len: int | None = None
) -> str:
    """A ``str`` (not blank unless ``allow_empty``; at most ``max_len`` characters).

    Example:
        >>> check_str("INBOX", field="mailbox")
        'INBOX'
        >>> check_str(123, field="q")
        Traceback (most recent call last):
        certmail_async._exceptions.ValidationError: q: expected a string, got int
    """
    if not isinstance(value, str):
        raise ValidationError(f"expected a string, got {_kind(value)}", field=field)
    if not allow_empty and not value.strip():
        raise ValidationError("must not be empty", field=field)
    if max_len is not None and len(value) > max_len:
        raise ValidationError(f"longer than {max_len} characters", field=field)
    if _SURROGATE.search(value):
        raise ValidationError("lone surrogates cannot be encoded as UTF-8", field=field)
    return value


def check_text(value: object, *, field: str, allow_empty: bool = False) -> str:
    r"""Body text: a non-blank ``str`` that may hold newlines (HTML, plain text).

    Example:
        >>> check_text("<p>Gentile cliente,</p>\n<p>...</p>", field="body")[:3]
        '<p>'
    """
    return check_str(value, field=field, allow_empty=allow_empty)


def check_header_text(
    value: object, *, field: str, allow_empty: bool = False, max_len: int | None = None
) -> str:
    r"""Text that ends up in a mail header: no control characters (CR, LF, NUL, C1, DEL).

    Example:
        >>> check_header_text("Avviso\r\nBcc: evil@x.com", field="subject")
        Traceback (most recent call last):
        certmail_async._exceptions.ValidationError: subject: control characters are not allowed
    """
    text = check_str(value, field=field, allow_empty=allow_empty, max_len=max_len)
    if CONTROL.search(text):
        raise ValidationError("control characters are not allowed", field=field)
    return text


def check_int(value: object, *, field: str, min: int | None = None, max: int | None = None) -> int:
    """An ``int`` (never a ``bool``, a float or a numeric string) within ``[min, max]``.

    Example:
        >>> check_int(2, field="page", min=1)
        2
        >>> check_int(1.5, field="page", min=1)
        Traceback (most recent call last):
        certmail_async._exceptions.ValidationError: page: expected an integer, got float
    """
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValidationError(f"expected an integer, got {_kind(value)}", field=field)
    if min is not None and value < min:
        raise ValidationError(f"must be at least {min}, got {value}", field=field)
    if max is not None and value > max:
        raise ValidationError(f"must be at most {max}, got {value}", field=field)
    return value


def check_bool(value: object, *, field: str) -> bool:
    """A real ``bool`` (``1`` or ``"yes"`` are refused).

    Example:
        >>> check_bool(True, field="sandbox")
        True
    """
    if not isinstance(value, bool):
        raise ValidationError(f"expected True or False, got {_kind(value)}", field=field)
    return value


def check_instance(value: object, kind: type, *, field: str, optional: bool = False) -> None:
    """An instance of ``kind`` (or ``None`` when ``optional``).

    Example:
        >>> check_instance(None, int, field="rate_limit", optional=True)
    """
    if not isinstance(value, kind) and not (optional and value is None):
        raise ValidationError(f"expected {kind.__name__}, got {_kind(value)}", field=field)


def check_choice(value: object, choices: Iterable[_T], *, field: str) -> _T:
    """One of ``choices`` (compared by equality, types included).

    Example:
        >>> check_choice("it", ("es", "en", "fr", "it"), field="language")
        'it'
    """
    options = tuple(choices)
    for option in options:
        if type(option) is type(value) and option == value:
            return option
    shown = ", ".join(repr(o) for o in options)
    raise ValidationError(f"expected one of {shown}, got {value!r}", field=field)


def check_pattern(value: object, pattern: re.Pattern[str], *, field: str, what: str) -> str:
    r"""A ``str`` the WHOLE of which matches ``pattern`` (compile it with ``re.ASCII``).

    Example:
        >>> cap = re.compile(r"[0-9]{5}", re.ASCII)
        >>> check_pattern("00042", cap, field="cap", what="a postal code")
        '00042'
        >>> check_pattern("00042\n", cap, field="cap", what="a postal code")
        Traceback (most recent call last):
        certmail_async._exceptions.ValidationError: cap: '00042\n' is not a postal code
    """
    if not isinstance(value, str):
        raise ValidationError(f"expected a string, got {_kind(value)}", field=field)
    if pattern.fullmatch(value) is None:
        raise ValidationError(f"{value!r} is not {what}", field=field)
    return value


def check_hook(value: object, *, field: str = "before_send") -> None:
    """``None`` or a callable (the per-call ``before_send`` hook of the sends).

    Example:
        >>> check_hook(None)
    """
    if value is not None and not callable(value):
        raise ValidationError(f"expected a callable or None, got {_kind(value)}", field=field)


def check_optional(value: _T | None, check: Any, **kw: Any) -> _T | None:
    """``None``, or ``value`` passed through ``check(value, **kw)``.

    Example:
        >>> check_optional(None, check_header_text, field="reply_to_name") is None
        True
    """
    return None if value is None else check(value, **kw)


# -- sequences -------------------------------------------------------------------------


def check_sequence(
    value: object, *, field: str, min_len: int = 0, max_len: int | None = None
) -> tuple[Any, ...]:
    """A list-like of items as a tuple: never ``None``, a ``str``, ``bytes`` or a mapping.

    Example:
        >>> check_sequence(["a@pec.it"], field="recipients")
        ('a@pec.it',)
        >>> check_sequence("a@pec.it", field="recipients")
        Traceback (most recent call last):
        certmail_async._exceptions.ValidationError: recipients: expected a list, got str
    """
    if type(value) is tuple:
        items: tuple[Any, ...] = value
    elif type(value) is list:
        items = tuple(value)
    elif isinstance(value, str | bytes | bytearray | memoryview | Mapping) or not isinstance(
        value, Iterable
    ):
        raise ValidationError(f"expected a list, got {_kind(value)}", field=field)
    else:
        items = tuple(value)
    if len(items) < min_len:
        raise ValidationError(f"at least {min_len} item(s) required", field=field)
    if max_len is not None and len(items) > max_len:
        raise ValidationError(f"at most {max_len} item(s), got {len(items)}", field=field)
    return items


def check_sequence_of(
    value: object,
    kind: type[_T] | tuple[type, ...],
    *,
    field: str,
    min_len: int = 0,
    max_len: int | None = None,
) -> tuple[_T, ...]:
    """:func:`check_sequence` whose items are all instances of ``kind`` (``field[i]`` named).

    Example:
        >>> check_sequence_of([b"%PDF-1.7"], bytes, field="documents")
        (b'%PDF-1.7',)
    """
    items = check_sequence(value, field=field, min_len=min_len, max_len=max_len)
    for i, item in enumerate(items):
        if not isinstance(item, kind) or (kind is int and isinstance(item, bool)):
            name = kind.__name__ if isinstance(kind, type) else "/".join(k.__name__ for k in kind)
            raise ValidationError(f"expected {name}, got {_kind(item)}", field=f"{field}[{i}]")
    return items


# -- identifiers, secrets, domains ------------------------------------------------------


def check_path_id(value: object, *, field: str) -> str:
    """An id that goes in a URL path: a non-empty ``str``, not ``.``/``..``, no controls.

    Example:
        >>> check_path_id("2020082610003492", field="code")
        '2020082610003492'
        >>> check_path_id("..", field="code")
        Traceback (most recent call last):
        certmail_async._exceptions.ValidationError: code: '..' is not an id
    """
    text = check_header_text(value, field=field)
    if text in (".", "..") or text != text.strip():
        raise ValidationError(f"{text!r} is not an id", field=field)
    return text


def check_secret(value: object, *, field: str, token: bool = False) -> SecretStr:
    """A credential as a :class:`SecretStr`: non-empty, no control characters.

    ``token=True`` also requires printable ASCII without blanks (bearer tokens). The value
    never appears in the error text.

    Example:
        >>> check_secret("p@ss è+%&", field="password")
        SecretStr('**********')
        >>> check_secret(123, field="token", token=True)
        Traceback (most recent call last):
        certmail_async._exceptions.ValidationError: token: expected a string, got int
    """
    if isinstance(value, SecretStr):
        text = value.get_secret_value()
    elif isinstance(value, str):
        text = value
    else:
        raise ValidationError(f"expected a string, got {_kind(value)}", field=field)
    if not text:
        raise ValidationError("must not be empty", field=field)
    if token and _TOKEN.fullmatch(text) is None:
        raise ValidationError("a token is printable ASCII without blanks", field=field)
    if CONTROL.search(text):
        raise ValidationError("control characters are not allowed", field=field)
    if _SURROGATE.search(text):
        raise ValidationError("lone surrogates cannot be encoded as UTF-8", field=field)
    return value if isinstance(value, SecretStr) else SecretStr(text)


def check_token(value: object, *, field: str = "token") -> None:
    """A bearer token: a :class:`TokenSource`, or a printable ASCII ``str``/``SecretStr``.

    Example:
        >>> check_token("656d1e2f8b3c2a001f7e4a12")
        >>> check_token(123)
        Traceback (most recent call last):
        certmail_async._exceptions.ValidationError: token: expected a string, got int
    """
    if not isinstance(value, TokenSource):
        check_secret(value, field=field, token=True)


def check_domain(value: object, *, field: str) -> str:
    """An ASCII domain name (IDNs as ``xn--``), lower-cased: at least two labels, TLD letters.

    Example:
        >>> check_domain("PEC.Example.it", field="domain")
        'pec.example.it'
    """
    text = check_str(value, field=field)
    domain = text.lower()
    labels = domain.split(".")
    if (
        not domain.isascii()
        or len(domain) > 253
        or len(labels) < 2
        or not all(_LABEL.fullmatch(label) for label in labels)
        or not labels[-1].isalpha()
        or len(labels[-1]) < 2
    ):
        raise ValidationError(f"{text!r} is not a domain name", field=field)
    return domain


# -- addresses --------------------------------------------------------------------------

# A fast path for the common case. email-validator costs ~90 us per address (IDNA tables,
# Unicode checks), a third of a send's client-side CPU. Plain ASCII addresses in this
# conservative subset are certainly accepted by email-validator with the same normalised
# form (local part as is, domain lower-cased); tests check that against the library.
# Everything else (Unicode, quoted local parts, odd labels, special-use domains) goes to it.
_FAST_LOCAL = re.compile(r"[A-Za-z0-9_+-]+(?:\.[A-Za-z0-9_+-]+)*\Z")
_FAST_LABEL = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\Z")


@functools.cache
def _special_use() -> tuple[frozenset[str], tuple[str, ...]]:
    """email-validator's special-use domains and their multi-label suffixes.

    Loaded on first use: email-validator (IDNA tables) stays out of ``import certmail_async``.
    Multi-label entries need a suffix match; today the list holds single labels only.
    """
    import email_validator

    special = frozenset(email_validator.SPECIAL_USE_DOMAIN_NAMES)
    return special, tuple("." + d for d in special if "." in d)


def _fast_normalize(address: str) -> str | None:
    local, at, domain = address.rpartition("@")
    if not at or len(address) > 254 or len(local) > 64 or not _FAST_LOCAL.match(local):
        return None
    domain = domain.lower()
    labels = domain.split(".")
    if len(labels) < 2 or len(domain) > 253 or not labels[-1].isalpha() or len(labels[-1]) < 2:
        return None
    if not all(_FAST_LABEL.match(label) and label[2:4] != "--" for label in labels):
        return None
    special, suffixes = _special_use()
    if labels[-1] in special or domain in special:
        return None
    if suffixes and domain.endswith(suffixes):
        return None
    return f"{local}@{domain}"


@functools.lru_cache(maxsize=8192)
def _normalize(address: str) -> str:
    """The normalised address, or an error text prefixed with NUL (cached either way)."""
    fast = _fast_normalize(address)
    if fast is not None:
        return fast
    import email_validator

    try:
        info = email_validator.validate_email(
            address, check_deliverability=False, allow_smtputf8=True
        )
    except email_validator.EmailNotValidError as error:
        return "\0" + str(error)
    return info.normalized


def check_email(address: object, *, field: str, ascii: bool = False) -> str:
    """Return the normalised address or raise ValidationError (no DNS lookup).

    Surrounding spaces are dropped; control characters anywhere (a trailing newline too)
    are refused. ``ascii=True`` refuses non-ASCII addresses (PEC mailboxes are ASCII).

    Example:
        >>> check_email(" Mario.Rossi@PEC.Example.it ", field="to")
        'Mario.Rossi@pec.example.it'
    """
    if not isinstance(address, str):
        raise ValidationError(
            f"expected an e-mail address string, got {_kind(address)}", field=field
        )
    if CONTROL.search(address):
        raise ValidationError(f"{address!r} holds control characters", field=field)
    result = _normalize(address.strip())
    if result.startswith("\0"):
        raise ValidationError(f"{address!r} is not a valid address: {result[1:]}", field=field)
    if ascii and not result.isascii():
        raise ValidationError(f"{address!r}: this provider takes ASCII addresses only", field=field)
    return result


def check_recipients(
    recipients: object,
    *,
    field: str = "recipients",
    max_count: int | None = None,
    ascii: bool = False,
) -> tuple[str, ...]:
    """A non-empty list of addresses, without duplicates, at most ``max_count``.

    A bare ``str`` is refused (it is not a list of addresses).

    Example:
        >>> check_recipients(["a@pec.example.it", "B@PEC.example.it"])
        ('a@pec.example.it', 'B@pec.example.it')
    """
    items = check_sequence(recipients, field=field)
    if not items:
        raise ValidationError("at least one recipient is required", field=field)
    if max_count is not None and len(items) > max_count:
        raise ValidationError(f"{len(items)} recipients, at most {max_count} per send", field=field)
    checked = []
    seen: set[str] = set()
    for i, address in enumerate(items):
        try:
            normal = check_email(address, field=field, ascii=ascii)
        except ValidationError as error:
            error.field = f"{field}[{i}]"
            raise
        key = normal.lower()
        if key in seen:
            raise ValidationError(f"{normal!r} appears twice", field=f"{field}[{i}]")
        seen.add(key)
        checked.append(normal)
    return tuple(checked)


# -- attachments -------------------------------------------------------------------------


def check_filename(value: object, *, field: str) -> str:
    """A plain file name: no path separators, no control characters, not ``.``/``..``.

    Example:
        >>> check_filename("fattura.pdf", field="filename")
        'fattura.pdf'
    """
    name = check_str(value, field=field, max_len=255)
    if _FILENAME_BAD.search(name) or name.strip() in (".", "..") or name != name.strip():
        raise ValidationError(f"{name!r} is not a plain file name", field=field)
    return name


def check_mime_type(value: object, *, field: str) -> str:
    """A MIME type ``type/subtype`` (optional ``; name=value`` parameters), ASCII only.

    Example:
        >>> check_mime_type("application/pdf", field="mime_type")
        'application/pdf'
    """
    return check_pattern(value, _MIME, field=field, what="a MIME type")


def check_attachment_fields(
    filename: object, content: object, mime_type: object, *, field: str
) -> None:
    """The three parts of an attachment (``field`` prefixes the names in errors).

    Example:
        >>> check_attachment_fields("a.pdf", b"%PDF", "binary", field="a.")
        Traceback (most recent call last):
        certmail_async._exceptions.ValidationError: a.mime_type: 'binary' is not a MIME type
    """
    check_filename(filename, field=f"{field}filename")
    if not isinstance(content, bytes):
        raise ValidationError(
            f"content must be bytes, got {_kind(content)}", field=f"{field}content"
        )
    check_mime_type(mime_type, field=f"{field}mime_type")


def check_attachments(
    attachments: object,
    *,
    field: str = "attachments",
    max_bytes: int | None = None,
) -> tuple[Attachment, ...]:
    """Attachments, each re-checked (a forced field is caught); total at most ``max_bytes``.

    Example:
        >>> from certmail_async import Attachment
        >>> check_attachments([Attachment(filename="a.txt", content=b"hi")])[0].size
        2
    """
    if attachments == ():  # the common case: nothing attached
        return ()
    from ._models import Attachment  # late: _models builds on this module

    checked = check_sequence(attachments, field=field)
    total = 0
    for i, att in enumerate(checked):
        where = f"{field}[{i}]"
        if not isinstance(att, Attachment):
            raise ValidationError(f"expected an Attachment, got {_kind(att)}", field=where)
        check_attachment_fields(att.filename, att.content, att.mime_type, field=f"{where}.")
        if not att.content:
            raise ValidationError("attachment is empty", field=f"{where}.content")
        total += len(att.content)
    if max_bytes is not None and total > max_bytes:
        raise ValidationError(
            f"attachments total {total} bytes, over the limit of {max_bytes}", field=field
        )
    return checked
