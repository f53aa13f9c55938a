"""LegallyMail evidence as files: certificate PDFs and signature documents, with SHA-256.

What the reference (``legallymail.md`` §5.4, §6.3) shows, and what this module does:

* A recipient's certificate (``delivered``, ``read``) has a ``pdf_download_url`` on the web
  application, ``https://legallymail.com/emails/download-certificate?id=<recipient
  tracking id>&status=<type>``, **not** under ``/api/``. Whether it accepts the API token or
  wants a logged-in browser is not documented. The SDK requests it with the token, but
  only on the host of the client's configured base URL; a URL on any other host is a
  [DocumentUnavailableError][certmail_async.DocumentUnavailableError] before any request
  (the token is never sent there). A redirect (to a login page, say) is not followed and is
  a DocumentUnavailableError; a 2xx that is not a PDF is a
  [NotPDFError][certmail_async.NotPDFError].
* Signature requests carry ``download_original_url`` and ``download_acta_url`` (the
  signature record) under ``/dashboard/``, with the same uncertainty and the same rules.
  **The signed document itself has no URL** in the reference (only its hash,
  ``signed_document_hash``), and **the TSQ/TSR time-stamp files have no endpoint** (only
  ``has_tsq`` / ``has_tsr``): neither can be fetched.
* Downloads are LegallyMail calls like any other: paced by the client's gate (10 per
  minute per egress IP), read with the document body limit of
  [ResponseLimits][certmail_async.ResponseLimits], retried as reads.
* Saved files get their SHA-256; a certificate's ``file_hash`` (SHA-256, the reference
  suggests) is compared with it (``hash_matches``). Files are written atomically and never
  overwritten with different bytes: a differing second copy is kept beside the first.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import re
import tempfile
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl, urlsplit

import attrs

from .._exceptions import APIStatusError, ValidationError
from .._transport import Operation
from .._types import NOT_GIVEN, NotGiven, TimeoutTypes
from ..receipts._errors import DocumentUnavailableError, NotPDFError
from ._wire import PROVIDER

if TYPE_CHECKING:
    from ._client import LegallyMailClient

__all__ = [
    "CERTIFICATE_PATH",
    "EvidenceFile",
    "check_pdf_answer",
    "download_document",
    "save_pdf",
]

#: The documented web-application route of certificate PDFs (relative to the base URL).
CERTIFICATE_PATH = "/emails/download-certificate"
_KIND = re.compile(r"[a-z][a-z0-9_-]{0,31}\Z", re.ASCII)
_SAFE = re.compile(r"[^A-Za-z0-9_.-]", re.ASCII)
_SHA256 = re.compile(r"[0-9a-fA-F]{64}\Z", re.ASCII)


@attrs.frozen(kw_only=True)
class EvidenceFile:
    """A LegallyMail document saved to disk, with its SHA-256.

    ``kind`` is the certificate type (``"delivered"``, ``"read"``) or, for a signature
    request, ``"original"`` or ``"record"``. ``provider_hash`` is the hash LegallyMail
    reports (a certificate's ``file_hash``, a signature's ``document_hash``);
    ``hash_matches`` compares it with the bytes received when it looks like a SHA-256.

    Examples:
        >>> from pathlib import Path
        >>> f = EvidenceFile(kind="read", path=Path("cm_rec_1-read.pdf"),
        ...                  sha256="ab" * 32, size=812, provider_hash="AB" * 32)
        >>> f.hash_matches
        True
    """

    kind: str
    path: Path
    sha256: str
    size: int
    tracking_id: str | None = None  # the recipient's (certificates)
    parent_tracking_id: str | None = None
    address: str | None = None
    signature_uuid: str | None = None
    provider_hash: str | None = None
    confirmed_at: datetime | None = None
    has_tsq: bool | None = None
    has_tsr: bool | None = None

    @property
    def hash_matches(self) -> bool | None:
        """Whether ``provider_hash`` equals ``sha256`` (None when it is not a SHA-256)."""
        if self.provider_hash is None or not _SHA256.match(self.provider_hash.strip()):
            return None
        return self.provider_hash.strip().lower() == self.sha256


def check_kind(kind: object, field: str = "kind") -> str:
    """A certificate type: a short lower-case word (``delivered``, ``read``)."""
    if not isinstance(kind, str) or not _KIND.match(kind):
        raise ValidationError(
            f"expected a certificate type such as 'delivered' or 'read', got {kind!r}",
            field=field,
        )
    return kind


def check_pdf_answer(content: bytes, content_type: str, operation: str) -> bytes:
    """The bytes when they are a PDF (``%PDF-`` within the first KiB), else NotPDFError.

    Examples:
        >>> check_pdf_answer(b"%PDF-1.4 ...", "application/pdf", "x")[:5]
        b'%PDF-'
        >>> check_pdf_answer(b"<html>login</html>", "text/html", "emails.certificate")
        Traceback (most recent call last):
        ...
        certmail_async.receipts._errors.NotPDFError: legallymail emails.certificate: ...
    """
    if content[:1024].lstrip().startswith(b"%PDF-"):
        return content
    what = content_type or "no content type"
    raise NotPDFError(
        f"the answer is not a PDF ({what}, {len(content)} bytes): the route may want a "
        "browser login rather than the API token",
        provider=PROVIDER,
        operation=operation,
        content_type=content_type or None,
        size=len(content),
        body=content[:200].decode("utf-8", "replace"),
    )


def _relative(client: LegallyMailClient, url: str, operation: str) -> tuple[str, dict[str, str]]:
    """The path (under the base URL) and query of ``url``, if it is on the base URL's host."""
    base = urlsplit(client.base_url)
    try:
        target = urlsplit(url)
        same = (
            target.scheme == base.scheme
            and (target.hostname or "").lower() == (base.hostname or "").lower()
            and target.port == base.port
            and not target.username
            and not target.password
        )
    except ValueError:
        same = False
    prefix = base.path.rstrip("/")
    if not same or not (target.path == prefix or target.path.startswith(prefix + "/")):
        raise DocumentUnavailableError(
            f"the document URL is not on the configured host {base.hostname!r}: the API "
            "token is never sent to another host",
            provider=PROVIDER,
            operation=operation,
        )
    path = target.path[len(prefix) :] or "/"
    return path, dict(parse_qsl(target.query, keep_blank_values=True))


async def download_document(
    client: LegallyMailClient,
    *,
    operation: str,
    url: str | None = None,
    path: str | None = None,
    params: dict[str, str] | None = None,
    timeout: TimeoutTypes | NotGiven = NOT_GIVEN,
    max_retries: int | NotGiven = NOT_GIVEN,
) -> bytes:
    """GET a PDF on the client's own host (``url`` absolute, or ``path`` + ``params``).

    Paced like every LegallyMail call, read with the document body limit, checked to be
    a PDF. A redirect is a DocumentUnavailableError (never followed).
    """
    if url is not None:
        path, params = _relative(client, url, operation)
    if path is None:
        raise DocumentUnavailableError(
            "the provider gave no URL for this document", provider=PROVIDER, operation=operation
        )
    op = Operation(
        provider=PROVIDER, name=operation, method="GET", path=path, paced=True, document=True
    )
    try:
        response = await client._transport.request(
            op, params=params, timeout=timeout, max_retries=max_retries
        )
    except APIStatusError as error:
        if error.status is not None and 300 <= error.status < 400:
            raise DocumentUnavailableError(
                f"the document route answered a redirect (HTTP {error.status}), not followed: "
                "it likely wants a browser login rather than the API token",
                provider=PROVIDER,
                operation=operation,
            ) from error
        raise
    return check_pdf_answer(response.content, response.content_type, operation)


def safe_name(text: str) -> str:
    """A file-name fragment: ASCII letters, digits, ``_.-`` only (others become ``_``)."""
    cleaned = _SAFE.sub("_", text).strip(".") or "_"
    return cleaned[:120]


def _write(directory: Path, name: str, content: bytes) -> tuple[Path, str]:
    digest = hashlib.sha256(content).hexdigest()
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / name
    if target.exists():
        if hashlib.sha256(target.read_bytes()).hexdigest() == digest:
            return target, digest
        target = target.with_name(f"{target.stem}.{digest[:12]}{target.suffix}")
        if target.exists():
            return target, digest
    handle, temporary = tempfile.mkstemp(dir=directory, prefix=".part-", suffix=".pdf")
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(content)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return target, digest


async def save_pdf(
    directory: str | os.PathLike[str], name: str, content: bytes
) -> tuple[Path, str]:
    """Write ``content`` as ``directory/name`` atomically (fsync'd); its path and SHA-256.

    An existing file with the same bytes is kept; one with other bytes is never replaced:
    the new bytes go beside it, named with the first 12 hex digits of their SHA-256.
    """
    return await asyncio.to_thread(_write, Path(directory), name, content)


def check_directory(directory: object) -> Path:
    """A directory path given as ``str`` or ``os.PathLike`` (ValidationError otherwise)."""
    if not isinstance(directory, str | os.PathLike) or not str(directory):
        raise ValidationError("expected a directory path", field="directory")
    path = Path(directory)
    if path.exists() and not path.is_dir():
        raise ValidationError(f"{str(path)!r} is not a directory", field="directory")
    return path


def check_kinds(kinds: Iterable[str] | None) -> frozenset[str] | None:
    """The certificate types asked for (None: every one)."""
    if kinds is None:
        return None
    if isinstance(kinds, str):
        raise ValidationError("expected a list of certificate types, not a str", field="kinds")
    return frozenset(check_kind(k, "kinds") for k in kinds)
