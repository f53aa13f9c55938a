"""Shared cattrs machinery for the providers' ``_wire`` modules.

Nothing here knows a wire key: each provider's ``_wire.py`` builds its converter from
:func:`make_converter` and registers its own renames and date hooks. Clients decode
leniently (a new field from a provider never breaks a user); tests build the same converter
with ``strict=True`` so drift from the reference shows up as a failure.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from ._exceptions import APIError, ResponseDecodeError
from ._redact import redact_body
from ._transport import Operation, Response

if TYPE_CHECKING:  # cattrs loads with the first converter (importing a client stays cheap)
    import cattrs

__all__ = ["decode_json", "make_converter", "register_renames", "structure", "unwrap"]

T = TypeVar("T")


def make_converter(*, strict: bool = False) -> cattrs.Converter:
    """A converter; ``strict`` forbids keys the models do not declare."""
    import cattrs

    return cattrs.Converter(forbid_extra_keys=strict)


def register_renames(converter: cattrs.Converter, cls: type[Any], **overrides: Any) -> None:
    """Register a structure hook for ``cls`` with ``field=override(...)`` renames."""
    from cattrs.gen import make_dict_structure_fn

    fn: Callable[[Any, Any], Any] = make_dict_structure_fn(
        cls,
        converter,
        _cattrs_forbid_extra_keys=converter.forbid_extra_keys,
        **overrides,
    )
    converter.register_structure_hook(cls, fn)


def _explain(error: BaseException) -> str:
    import cattrs

    if isinstance(error, cattrs.BaseValidationError):
        return "; ".join(cattrs.transform_error(error))
    return f"{type(error).__name__}: {error}"


def structure(converter: cattrs.Converter, data: Any, cls: type[T], *, op: Operation) -> T:
    """Structure ``data`` into ``cls`` or raise one ResponseDecodeError with readable paths."""
    import cattrs  # loaded already: the converter is cattrs's

    try:
        return converter.structure(data, cls)
    except (cattrs.BaseValidationError, ValueError, TypeError, KeyError) as error:
        raise ResponseDecodeError(
            f"unexpected response shape: {_explain(error)}",
            provider=op.provider,
            operation=op.name,
        ) from error


def decode_json(response: Response, *, op: Operation) -> Any:
    """The JSON body of a success response, or ResponseDecodeError.

    A ``success: false`` envelope is the provider's "failed" (an APIError, see
    :func:`unwrap`), raised here with its words scrubbed by the client's redactor: a
    provider may echo a credential in it.
    """
    try:
        payload = response.json()
    except ValueError as error:
        raise ResponseDecodeError(
            f"expected a JSON body, got {response.content_type or 'no content type'}",
            provider=op.provider,
            operation=op.name,
            status=response.status,
        ) from error
    if isinstance(payload, dict) and payload.get("success") is False:
        redactor = response.redactor
        try:
            unwrap(payload, op=op, status=response.status, key=None)
        except APIError as failed:
            if redactor is None:
                raise
            code = failed.code
            raise APIError(
                redactor.scrub(failed.message),
                provider=failed.provider,
                operation=failed.operation,
                status=failed.status,
                code=redactor.scrub(code) if isinstance(code, str) else code,
                body=redactor.scrub_any(failed.body),
            ) from None
    return payload


def unwrap(payload: Any, *, op: Operation, status: int, key: str | None = "data") -> Any:
    """Check a ``{"success": ..., "message": ..., key: ...}`` envelope and return ``key``.

    A ``success: false`` under a 2xx status is an APIError carrying the provider's message.
    ``key=None`` returns the whole payload after the check.
    """
    if not isinstance(payload, dict):
        raise ResponseDecodeError(
            f"expected a JSON object, got {type(payload).__name__}",
            provider=op.provider,
            operation=op.name,
            status=status,
        )
    if payload.get("success") is False:
        raise APIError(
            str(payload.get("message") or "the provider reported a failure"),
            provider=op.provider,
            operation=op.name,
            status=status,
            code=payload.get("error") if isinstance(payload.get("error"), int) else None,
            body=redact_body(payload),
        )
    if key is None:
        return payload
    if key not in payload:
        raise ResponseDecodeError(
            f"the response has no {key!r} member",
            provider=op.provider,
            operation=op.name,
            status=status,
        )
    return payload[key]
