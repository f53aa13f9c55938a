# The input side of a bulk job: read the caller's messages, check them, cut them in chunks
# -----------------------------------------------------------------------------------------
#
# Input: any iterable or async iterable of OutgoingMessage, read lazily. Each item is
# checked as it is read: a bad item (not an OutgoingMessage, a bad field) or a bad address
# becomes a FAILED outcome naming the field, journaled, and the job goes on. Valid
# recipients are split into chunks of at most the provider's per-send limit (LegallyMail 10
# by default; PEC Massiva configurable). Every chunk gets a seq in input order.
#
# The caller's own iterator may raise: its error leaves the machinery as InputError, so the
# dispatcher can tell it from its own failures and re-raise it unwrapped.
"""Reading and checking a bulk job's input: messages in, chunks (or FAILED items) out."""

from __future__ import annotations

import math
from collections.abc import AsyncIterable, AsyncIterator, Iterable, Mapping

import anyio.lowlevel

from .._exceptions import ValidationError
from .._validation import check_email
from ._adapters import Adapter
from ._models import (
    PROVIDERS,
    Chunk,
    ChunkRecord,
    ChunkStatus,
    OutgoingMessage,
    check_outgoing_message,
    content_digest,
    digest,
    subject_digest,
)
from ._resume import Invalid

__all__ = [
    "InputError",
    "Messages",
    "check_chunk_sizes",
    "check_job_id",
    "check_messages",
    "check_positive",
    "read_chunks",
]

Messages = Iterable[OutgoingMessage] | AsyncIterable[OutgoingMessage]


class InputError(Exception):
    """The caller's own input iterator raised: carried out of the machinery, then re-raised."""

    def __init__(self, error: Exception) -> None:
        super().__init__(str(error))
        self.error = error


# -- arguments ------------------------------------------------------------------------------


def check_positive(value: object, field: str, *, integer: bool = False) -> None:
    """Raise ValidationError naming ``field`` unless ``value`` is a positive (int) number.

    Example:
        >>> check_positive(0, "queue_size", integer=True)
        Traceback (most recent call last):
        certmail_async._exceptions.ValidationError: queue_size: must be a positive integer, got 0
    """
    ok_type = type(value) is int if integer else type(value) in (int, float)
    if not ok_type or not math.isfinite(value) or value <= 0:  # type: ignore[arg-type,operator]
        kind = "a positive integer" if integer else "a positive number"
        raise ValidationError(f"must be {kind}, got {value!r}", field=field)


def check_chunk_sizes(chunk_sizes: Mapping[str, int] | None) -> dict[str, int]:
    """The chunk size per provider name, each checked (none given: an empty dict)."""
    sizes: dict[str, int] = {}
    if chunk_sizes is not None:
        if not isinstance(chunk_sizes, Mapping):
            raise ValidationError("must map provider names to sizes", field="chunk_sizes")
        for name, size in chunk_sizes.items():
            if name not in PROVIDERS:
                raise ValidationError(f"unknown provider {name!r}", field=f"chunk_sizes[{name!r}]")
            check_positive(size, f"chunk_sizes[{name!r}]", integer=True)
            sizes[name] = size
    return sizes


def check_job_id(job_id: object) -> None:
    """Raise ValidationError unless ``job_id`` is a non-empty str."""
    if not isinstance(job_id, str) or not job_id.strip():
        raise ValidationError(
            f"must be a non-empty str, got {type(job_id).__name__}"
            + (" (empty)" if isinstance(job_id, str) else ""),
            field="job_id",
        )


def check_messages(messages: object) -> None:
    """Raise ValidationError unless ``messages`` is an (async) iterable, not a str or mapping."""
    if isinstance(messages, str | bytes | Mapping) or not isinstance(
        messages, Iterable | AsyncIterable
    ):
        raise ValidationError(
            f"must be an iterable of OutgoingMessage, got {type(messages).__name__}",
            field="messages",
        )


# -- messages -------------------------------------------------------------------------------


def tag(job_id: str, seq: int) -> str:
    """The correlation tag appended to a chunk's subject (``correlation_tag=True``).

    Example:
        >>> tag("avvisi", 7).startswith(" [cm:") and tag("avvisi", 7).endswith("-7]")
        True
    """
    return f" [cm:{digest(job_id)[:4]}-{seq}]"


async def read_chunks(
    job_id: str, messages: Messages, adapters: Mapping[str, Adapter], *, correlation_tag: bool
) -> AsyncIterator[Chunk | Invalid]:
    """Check and split messages into chunks with seqs, lazily, in input order."""
    seq = 0
    async for index, value in _aiter(messages):
        message, problem = _checked(value, adapters)
        if message is None:
            yield Invalid(record=_invalid_record(job_id, seq, index, value, problem))
            seq += 1
            continue
        adapter = adapters[message.provider]
        given = digest([str(a) for a in message.recipients])  # every address, as given
        valid: list[str] = []
        bad: dict[str, str] = {}
        seen: set[str] = set()
        for address in message.recipients:
            try:
                normal = check_email(address, field="recipient")
            except ValidationError as error:
                bad[str(address)] = error.message
                continue
            if normal.lower() in seen:
                bad[normal] = "duplicate recipient in the same message"
                continue
            seen.add(normal.lower())
            valid.append(normal)
        subject = message.subject
        if bad:
            recipients = tuple(bad)
            yield Invalid(
                record=ChunkRecord(
                    job_id=job_id, seq=seq, provider=message.provider,
                    recipients=recipients,
                    digest=digest(content_digest(message.provider, recipients, message),
                                  given),
                    subject_digest=subject_digest(subject), status=ChunkStatus.FAILED,
                    key=message.key, error="invalid recipients; not sent",
                    failed_recipients=dict(bad),
                )
            )  # fmt: skip
            seq += 1
        size = adapter.max_chunk()
        for start in range(0, len(valid), size):
            part = tuple(valid[start : start + size])
            sent_subject = subject + tag(job_id, seq) if correlation_tag else subject
            yield Chunk(
                seq=seq,
                provider=message.provider,
                recipients=part,
                message=message,
                subject=sent_subject,
                digest=digest(content_digest(message.provider, part, message), given),
                subject_digest=subject_digest(sent_subject),
            )
            seq += 1


def _checked(value: object, adapters: Mapping[str, Adapter]) -> tuple[OutgoingMessage | None, str]:
    """The message, or None and what is wrong with it (naming the field)."""
    try:
        message = check_outgoing_message(value)
    except ValidationError as error:
        return None, str(error)
    if message.provider not in adapters:
        return None, f"provider: no client for provider {message.provider!r}"
    if not message.subject.strip():
        return None, "subject: empty subject"
    if not message.body.strip():
        return None, "body: empty body"
    return message, ""


def _invalid_record(job_id: str, seq: int, index: int, value: object, problem: str) -> ChunkRecord:
    """A FAILED record for an input item that is not a usable message."""
    provider = getattr(value, "provider", None)
    recipients = getattr(value, "recipients", None)
    if isinstance(recipients, list | tuple) and all(isinstance(r, str) for r in recipients):
        shown = tuple(recipients)
    elif isinstance(recipients, str):
        shown = (recipients,)
    else:
        shown = ()
    subject = getattr(value, "subject", None)
    key = getattr(value, "key", None)
    return ChunkRecord(
        job_id=job_id,
        seq=seq,
        provider=provider if isinstance(provider, str) else "?",
        recipients=shown,
        digest=digest("invalid", type(value).__name__, repr(value)),
        subject_digest=subject_digest(subject if isinstance(subject, str) else ""),
        status=ChunkStatus.FAILED,
        key=key if isinstance(key, str) else None,
        error=f"invalid message (item {index}): {problem}; not sent",
    )


async def _aiter(messages: Messages) -> AsyncIterator[tuple[int, object]]:
    """The caller's messages with their index; its own errors come out as InputError."""
    index = 0
    if isinstance(messages, AsyncIterable):
        try:
            stream = aiter(messages)
        except Exception as error:
            raise InputError(error) from error
        while True:
            try:
                m = await anext(stream)
            except StopAsyncIteration:
                return
            except Exception as error:
                raise InputError(error) from error
            yield index, m
            index += 1
    else:
        try:
            items = iter(messages)
        except Exception as error:
            raise InputError(error) from error
        while True:
            try:
                m = next(items)
            except StopIteration:
                return
            except Exception as error:
                raise InputError(error) from error
            yield index, m
            index += 1
            if index % 256 == 0:
                # A long synchronous input must not starve the lanes.
                await anyio.lowlevel.checkpoint()
