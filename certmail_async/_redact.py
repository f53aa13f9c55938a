r"""Redaction of secrets from headers, bodies and free text.

Two layers keep a secret out of logs, reprs, errors and journals:

1. *By name*: headers such as ``Authorization`` or ``x-password`` and body fields such as
   ``password`` or ``token`` are replaced wholesale, whatever their value.
2. *By value*: a :class:`Redactor` knows the secret values a client holds and scrubs them
   from any text (a provider may echo a token back in an error message), in every
   encoding a secret takes in text: raw, JSON-escaped (``\"``, ``\\``, ``\u00e8``,
   ``\/``), URL-encoded (``%20`` or ``+``, upper or lower hex), hex (either case) and
   base64 (standard and URL-safe, padded or not, see :func:`secret_forms` for its limits).
   Credential pairs the client sends (Basic, PEC Massiva's mailbox login) are registered
   as ``username:password`` by the Auth object, so their base64 is covered too.

Values that must travel to the wire are held as :class:`Masked` strings between the
moment an ``Auth`` object builds a request and the moment aiohttp serialises it: a real
``str`` (aiohttp and ``json`` use it as is) whose ``repr`` is the mask, so a traceback
captured with ``capture_locals=True`` shows no credential.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import json
import re
import unicodedata
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import quote, quote_plus

__all__ = [
    "MASK",
    "SENSITIVE_FIELDS",
    "SENSITIVE_HEADERS",
    "Masked",
    "Redactor",
    "log_summary",
    "redact_body",
    "secret_forms",
]

MASK = "**********"

SENSITIVE_HEADERS = frozenset(
    {"authorization", "x-password", "proxy-authorization", "cookie", "set-cookie"}
)
SENSITIVE_FIELDS = frozenset(
    {"password", "token", "api_key", "apikey", "refresh_token", "refreshtoken", "secret"}
)


def redact_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """Return a copy of ``headers`` with credential headers masked."""
    return {k: (MASK if k.lower() in SENSITIVE_HEADERS else v) for k, v in headers.items()}


def redact_body(body: Any) -> Any:
    """Return a copy of a JSON-like body with credential fields masked, recursively."""
    if isinstance(body, Mapping):
        return {
            k: (MASK if str(k).lower() in SENSITIVE_FIELDS else redact_body(v))
            for k, v in body.items()
        }
    if isinstance(body, list | tuple):
        return [redact_body(v) for v in body]
    return body


class Masked(str):
    """A ``str`` that goes on the wire as itself but shows the mask in every ``repr``.

    Example:
        >>> m = Masked("Bearer s3cret")
        >>> m == "Bearer s3cret", repr(m), repr({"Authorization": m})
        (True, "'**********'", "{'Authorization': '**********'}")
    """

    __slots__ = ()

    def __repr__(self) -> str:
        return repr(MASK)


_HEX = re.compile(r"%[0-9A-F]{2}")


def _json_forms(secret: str) -> set[str]:
    forms = set()
    for ascii_only in (True, False):
        escaped = json.dumps(secret, ensure_ascii=ascii_only)[1:-1]
        forms.add(escaped)
        forms.add(escaped.replace("/", "\\/"))  # PHP's json_encode escapes slashes
        if ascii_only:
            # \u00e8 and \u00E8 are both valid JSON
            forms.add(re.sub(r"\\u([0-9a-f]{4})", lambda m: "\\u" + m[1].upper(), escaped))
    return forms


#: Base64 fragments shorter than this are not registered (they would mask ordinary words).
_MIN_B64_FRAGMENT = 6


def _base64_forms(secret: str) -> set[str]:
    """The secret's base64, standard and URL-safe, whole and as a fragment of a larger blob.

    Whole: padded and unpadded. Inside a larger base64 blob the secret's bytes start at
    one of three alignments (offset 0, 1 or 2 in a 3-byte group): for each, the characters
    that encode only the secret's bits are registered (the edge characters mixed with the
    neighbouring bytes are trimmed), so an echoed ``base64(prefix + secret + suffix)`` has
    its middle masked. Limits: the one or two characters at each edge of the fragment
    stay visible (they carry neighbouring bits too), and a secret re-encoded in another
    charset first (UTF-16, Latin-1) or encoded twice is not covered.
    """
    data = secret.encode("utf-8", "surrogatepass")
    forms: set[str] = set()
    for offset in (0, 1, 2):
        encoded = base64.b64encode(b"\0" * offset + data).decode("ascii")
        if offset == 0:
            forms.add(encoded)
            forms.add(encoded.rstrip("="))
        bits = 8 * (offset + len(data))
        # Characters whose 6 bits all belong to the secret: after the pad, before the edge.
        start, end = -(-8 * offset // 6), bits // 6
        fragment = encoded[start:end]
        if len(fragment) >= _MIN_B64_FRAGMENT:
            forms.add(fragment)
    forms |= {f.replace("+", "-").replace("/", "_") for f in forms}
    return forms


def secret_forms(secret: str) -> set[str]:
    """Every form ``secret`` takes in text the SDK may emit or a provider may echo.

    Raw, reversed, JSON-escaped, percent-encoded, hex (UTF-8 bytes, either case), base64
    (standard and URL-safe, padded or not, and the three alignments of the secret inside
    a larger base64 blob; see ``_base64_forms`` for what stays visible).

    Example:
        >>> {'p%22%C3%A8%2B%20%25', 'p%22%C3%A8%2B+%25'} <= secret_forms('p"è+ %')
        True
        >>> import base64
        >>> base64.b64encode(b"user:s3cret-pw").decode() in secret_forms("user:s3cret-pw")
        True
    """
    forms = {secret, secret[::-1]}  # reversed: one more form, cheap to cover
    hexed = secret.encode("utf-8", "surrogatepass").hex()
    forms |= {hexed, hexed.upper()}
    forms |= _base64_forms(secret)
    forms |= _json_forms(secret)
    for encoded in (quote(secret, safe=""), quote(secret), quote_plus(secret, safe="")):
        forms.add(encoded)
        forms.add(_HEX.sub(lambda m: m[0].lower(), encoded))
    # Latin-1 percent-encoding (some PHP stacks).
    with contextlib.suppress(UnicodeEncodeError):
        forms.add(quote(secret, safe="", encoding="latin-1"))
    return forms


def _hex_any_case(code: int, width: int = 4) -> str:
    return "".join(f"[{d}{d.upper()}]" if d.isalpha() else d for d in f"{code:0{width}x}")


_NAMED_ENTITIES = {"&": "amp", '"': "quot", "'": "apos", "<": "lt", ">": "gt"}


def escape_pattern(secret: str) -> str:
    r"""A regex matching ``secret`` with any of its characters escaped, in any mix.

    A server may echo each character of a secret raw or escaped in many ways, and a fixed
    list of whole-string forms cannot cover the mixes (``p\u0061ss``, ``p%61ss``,
    ``p&#97;ss``, JSON inside JSON). Each character here may be: raw; JSON-escaped
    (``\uXXXX`` in either hex case, astral characters as a surrogate pair, ``\"`` ``\\``
    ``\/``, with the backslash doubled by a second JSON layer); percent-encoded (UTF-8
    bytes, either hex case; ``+`` for a blank); an HTML entity (named, decimal or hex);
    a Python bytes escape (``\xc3\xa8``); or Unicode-decomposed (NFD).

    Example:
        >>> import re
        >>> pattern = escape_pattern('pè"s &')
        >>> all(re.fullmatch(pattern, t) for t in
        ...     [r'\u0070\u00E8\"s &', "p%C3%A8%22s+%26", "p&#232;&quot;s &amp;", 'pe\u0300"s &'])
        True
    """
    parts = []
    for ch in secret:
        code = ord(ch)
        alts = [re.escape(ch)]
        if ch in "\"\\/'":  # JSON's \" \\ \/ and a Python repr's \'
            alts.append(r"\\{1,3}" + re.escape(ch))
        if code <= 0xFFFF:
            alts.append(r"\\{1,3}u" + _hex_any_case(code))
        else:
            high, low = 0xD800 + ((code - 0x10000) >> 10), 0xDC00 + ((code - 0x10000) & 0x3FF)
            alts.append(r"\\{1,3}u" + _hex_any_case(high) + r"\\{1,3}u" + _hex_any_case(low))
        utf8 = ch.encode("utf-8", "surrogatepass")
        alts.append("".join("%" + _hex_any_case(b, 2) for b in utf8))
        if ch == " ":
            alts.append(r"\+")
        if code > 0x7F:
            alts.append("".join(r"\\x" + _hex_any_case(b, 2) for b in utf8))
            decomposed = unicodedata.normalize("NFD", ch)
            if decomposed != ch:
                alts.append(re.escape(decomposed))
        alts.append(f"&#0{{0,4}}{code};")
        alts.append(f"&#[xX]0{{0,4}}{_hex_any_case(code, 1)};")
        if ch in _NAMED_ENTITIES:
            alts.append(f"&{_NAMED_ENTITIES[ch]};")
        parts.append("(?:" + "|".join(alts) + ")")
    return "".join(parts)


#: Secrets holding more backslashes than this get no per-character escape pattern.
_MAX_BACKSLASHES = 4
#: Secrets longer than this get no per-character escape pattern (its size grows with the
#: secret and a long one would make compiling slow): their whole-string forms are kept.
_MAX_ESCAPED_LEN = 256


class _HiddenPattern:
    """A compiled pattern whose repr does not show its source (the secrets' forms)."""

    __slots__ = ("search", "sub")

    def __init__(self, pattern: re.Pattern[str]) -> None:
        self.search = pattern.search
        self.sub = pattern.sub

    def __repr__(self) -> str:
        return f"<pattern {MASK}>"


class Redactor:
    r"""Scrubs known secret values out of text, in every encoding they take.

    Adding a secret is cheap: the one alternation of every form is compiled once, on the
    first scrub after a change.

    Example:
        >>> r = Redactor(['s3cret"tok'])
        >>> r.scrub('bad token s3cret"tok, echoed as "s3cret\\"tok" or s3cret%22tok')
        'bad token **********, echoed as "**********" or **********'
    """

    __slots__ = ("_compiled", "_forms", "_secrets")

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._secrets: frozenset[str] = frozenset()
        self._forms: frozenset[str] = frozenset()
        self._compiled: _HiddenPattern | None = None
        for secret in secrets:
            self.add(secret)

    def add(self, secret: str) -> None:
        """Also scrub ``secret`` from now on (a refreshed token, a token passed as an id).

        Very short values would mask ordinary words: a secret under 4 characters is ignored.
        """
        secret = str.__str__(secret)  # a Masked value is stored as a plain str
        if len(secret) < 4 or secret in self._secrets:
            return
        # Held as Masked strings and behind a masked pattern: a debugger or ``vars()`` walk
        # of a client shows no plaintext secret through its redactor.
        self._secrets = self._secrets | {Masked(secret)}
        self._forms = self._forms | {Masked(f) for f in secret_forms(secret) if len(f) >= 4}
        self._compiled = None  # rebuilt on the next scrub

    @property
    def _pattern(self) -> _HiddenPattern | None:
        """The one pattern of every form (None: no secret), compiled once per change."""
        compiled = self._compiled
        if compiled is not None or not self._secrets:
            return compiled
        # Every literal form, then each secret with its characters escaped in any mix;
        # longest first, so a form that contains another is replaced whole.
        literal = [(len(f), re.escape(f)) for f in self._forms]
        # Runs of backslashes are the one ambiguity of the per-character pattern (a
        # backslash may be raw or an escape's prefix): past a few, a hostile run of them
        # would make the regex backtrack exponentially, so such secrets (and long ones)
        # keep their whole-string forms only.
        escaped = [
            (len(x), escape_pattern(x))
            for x in self._secrets
            if x.count("\\") <= _MAX_BACKSLASHES and len(x) <= _MAX_ESCAPED_LEN
        ]
        alternatives = sorted(literal + escaped, key=lambda item: item[0], reverse=True)
        compiled = _HiddenPattern(re.compile("|".join(p for _, p in alternatives)))
        self._compiled = compiled
        return compiled

    @property
    def longest(self) -> int:
        """An upper bound of the length of any text one secret form can take (0: none).

        A caller that scrubs a prefix of a long text and then cuts it keeps only what lies
        this far before the prefix's scrubbed end: past it, a secret may have been cut.
        """
        if not self._secrets:
            return 0
        # Three backslashes twice over a surrogate pair: the longest escape of a character.
        return max(max(len(f) for f in self._forms), 16 * max(len(x) for x in self._secrets))

    def scrub_prefix(self, text: str, keep: int) -> str:
        """The first ``keep`` characters of ``scrub(text)``, scrubbing no more than needed.

        Example:
            >>> Redactor(["s3cret-tok"]).scrub_prefix("x" * 5 + "s3cret-tok" + "y" * 99, 12)
            'xxxxx*******'
        """
        window = max(4096, 2 * keep)
        while True:
            out = self.scrub(text[:window])
            # A secret cut by the window starts within ``longest`` of its scrubbed end.
            if window >= len(text) or len(out) >= keep + self.longest:
                return out[:keep]
            window *= 2

    def scrub(self, text: str) -> str:
        """Replace every known secret, in any of its forms, in ``text`` with the mask."""
        pattern = self._pattern
        if pattern is None or not text:
            return text
        return pattern.sub(MASK, text)

    def scrub_any(self, value: Any) -> Any:
        """:meth:`scrub` every string inside a JSON-like value (keys included), iteratively.

        Example:
            >>> Redactor(["s3cret"]).scrub_any({"echo": ["s3cret"]})
            {'echo': ['**********']}
        """
        if self._pattern is None:
            return value
        if isinstance(value, str):
            return self.scrub(value)
        if not isinstance(value, dict | list | tuple):
            return value
        # An explicit stack: a hostile, deeply nested body must not hit the recursion limit.
        root: list[Any] = [None]
        stack: list[tuple[Any, Any, Any]] = [(value, root, 0)]
        while stack:
            item, parent, key = stack.pop()
            if isinstance(item, str):
                parent[key] = self.scrub(item)
            elif isinstance(item, dict):
                copy: dict[Any, Any] = {}
                parent[key] = copy
                for k, v in item.items():
                    k2 = self.scrub(k) if isinstance(k, str) else k
                    copy[k2] = None
                    stack.append((v, copy, k2))
            elif isinstance(item, list | tuple):
                seq: list[Any] = [None] * len(item)
                parent[key] = seq
                for i, v in enumerate(item):
                    stack.append((v, seq, i))
            else:
                parent[key] = item
        return root[0]

    def __contains__(self, text: object) -> bool:
        if not isinstance(text, str):
            return False
        pattern = self._pattern
        return pattern is not None and bool(pattern.search(text))

    def __repr__(self) -> str:
        return f"Redactor(<{len(self._secrets)} secrets>)"


# -- log lines ---------------------------------------------------------------------------

#: Characters of a body kept in a DEBUG line.
LOG_BODY_PREFIX = 300
#: Keys whose values are personal data (tax codes, phones, birth data), masked in logs.
PERSONAL_FIELDS = frozenset(
    {
        "codice_fiscale",
        "codicefiscale",
        "cf",
        "tax_code",
        "fiscal_code",
        "partita_iva",
        "vat_number",
        "phone",
        "telefono",
        "cellulare",
        "mobile",
        "signer_phone",
        "birth_date",
        "data_nascita",
        "date_of_birth",
        "birth_place",
        "luogo_nascita",
        "birth_city",
    }
)
_TAX_CODE = re.compile(
    r"\b[A-Z]{6}[0-9LMNPQRSTUV]{2}[A-Z][0-9LMNPQRSTUV]{2}[A-Z][0-9LMNPQRSTUV]{3}[A-Z]\b", re.I
)
_PHONE = re.compile(r"(?<![\w+])\+?[0-9][0-9 ().-]{7,18}[0-9](?!\w)")
#: Calendar dates in free text ("nato il 11/04/1982", "1982-04-11"): a birth date in a
#: subject or a note is personal data even without a ``birth_date`` key.
_DATE = re.compile(
    r"(?<!\w)(?:[0-3]?[0-9][/.-][01]?[0-9][/.-](?:1[89]|20)[0-9]{2}"
    r"|(?:1[89]|20)[0-9]{2}-[01][0-9]-[0-3][0-9])(?!\w)"
)
_BASE64 = re.compile(r"(?:data:[\w/+.-]+;base64,)?[A-Za-z0-9+/\r\n]+={0,2}\Z", re.ASCII)
_PDF_LEN = 256  # strings longer than this that decode as base64 are shown as a digest


def _digest_of(text: str) -> str | None:
    """``<N bytes sha256:abcd1234>`` when ``text`` is long base64, else None."""
    if len(text) <= _PDF_LEN or not _BASE64.match(text):
        return None
    payload = text.split(";base64,", 1)[-1]
    try:
        raw = base64.b64decode(payload, validate=False)
    except (binascii.Error, ValueError):
        return None
    return f"<{len(raw)} bytes sha256:{hashlib.sha256(raw).hexdigest()[:12]}>"


def _mask_text(text: str) -> str:
    digest = _digest_of(text)
    if digest is not None:
        return digest
    text = _TAX_CODE.sub("<tax code>", text)
    text = _DATE.sub("<date>", text)
    return _PHONE.sub("<phone>", text)


def _for_log(value: Any, depth: int = 0) -> Any:
    if depth > 16:
        return "..."
    if isinstance(value, Mapping):
        out = {}
        for k, v in value.items():
            key = str(k).lower()
            if key in SENSITIVE_FIELDS:
                out[k] = MASK
            elif key in PERSONAL_FIELDS or "birth" in key or "nascita" in key:
                out[k] = "<personal>"
            else:
                out[k] = _for_log(v, depth + 1)
        return out
    if isinstance(value, list | tuple):
        return [_for_log(v, depth + 1) for v in value]
    if isinstance(value, str):
        return _mask_text(value)
    if isinstance(value, bytes | bytearray):
        return f"<{len(value)} bytes sha256:{hashlib.sha256(value).hexdigest()[:12]}>"
    return value


def log_summary(body: Any, redactor: Redactor | None = None, limit: int = LOG_BODY_PREFIX) -> str:
    """A short, safe rendering of a request body for a DEBUG line.

    Credential fields are masked, personal data (tax codes, phone numbers, birth data)
    hidden, attachments and documents (long base64) shown as size and digest, known
    secrets scrubbed in any encoding, and the result cut to ``limit`` characters.

    Example:
        >>> log_summary({"codice_fiscale": "RSSMRA80A01H501U", "file": "QUJD" * 100,
        ...              "password": "x", "note": "call +39 333 1234567"})
        '{"codice_fiscale": "<personal>", "file": "<300 bytes sha256:...>", ...'
    """
    if body is None:
        return "-"
    text = json.dumps(_for_log(body), ensure_ascii=False, default=lambda o: type(o).__name__)
    if redactor is not None:
        text = redactor.scrub(text)
    if len(text) > limit:
        text = f"{text[:limit]}... ({len(text)} chars)"
    return text
