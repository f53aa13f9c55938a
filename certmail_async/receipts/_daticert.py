"""``daticert.xml``: the certification data a PEC provider attaches to its messages.

The structure is the one several independent parsers agree on (``pec-receipts.md`` §4):
``/postacert/@tipo`` and ``@errore``, ``intestazione`` (sender, recipients with their type,
reply-to, subject) and ``dati`` (issuing provider, date in three parts, provider id,
original Message-ID, receipt variant, delivery address, extended error).

Safety. The XML is parsed with defusedxml's parser (the pure-Python expat front end)
with entity declarations and external references forbidden, plus one rule of ours: a
DOCTYPE may name an external DTD (real receipts carry ``<!DOCTYPE postacert SYSTEM
"Postacert.dtd">`` or a provider URL) but that DTD is never fetched nor read, and an
*internal* subset (``<!DOCTYPE p [ ... ]>``) is refused: a provider never needs one, and
it is where billion-laughs, quadratic blow-up and XXE documents live (an ``ATTLIST``
there could also inject a default ``tipo``). Input is capped (``MAX_DATICERT_SIZE``)
before the parser sees it, element text is read without recursion, so a hostile
document costs at most one linear pass over a megabyte.

Non-standard values are kept: ``raw_kind`` holds the ``tipo`` string, and the enums here
are open (``PecErrorClass("superamento-tempi-massimi").known is False``).
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from typing import Any
from xml.etree.ElementTree import Element, ParseError, TreeBuilder

import attrs
from defusedxml import DefusedXmlException
from defusedxml.ElementTree import DefusedXMLParser

from .._models import OpenEnum
from ._errors import ReceiptParseError, ReceiptTooLargeError, UnsafeXMLError
from ._kinds import (
    PecRecipientType,  # defined with the kinds: outcomes read it without the XML parser
    ReceiptKind,
    kind_from_wire,
    normalise_address,
    normalise_message_id,
)

__all__ = [
    "MAX_DATICERT_SIZE",
    "Daticert",
    "DaticertRecipient",
    "DeliveryVariant",
    "PecErrorClass",
    "PecRecipientType",
    "parse_daticert",
]

MAX_DATICERT_SIZE = 1024 * 1024
"""Largest ``daticert.xml`` accepted, in bytes (1 MiB).

A real one is a few kilobytes; even a message to a thousand recipients stays under
100 KiB. ``parse_daticert(data, max_size=...)`` takes another limit.

Examples:
    >>> from certmail_async.receipts import MAX_DATICERT_SIZE, parse_daticert
    >>> parse_daticert(b" " * (MAX_DATICERT_SIZE + 1))
    Traceback (most recent call last):
    ...
    certmail_async.receipts._errors.ReceiptTooLargeError: ...
"""

_DAY = re.compile(r"([0-9]{1,2})/([0-9]{1,2})/([0-9]{4})\Z", re.ASCII)
_TIME = re.compile(r"([0-9]{1,2}):([0-9]{2})(?::([0-9]{2}))?\Z", re.ASCII)
_ZONE = re.compile(r"([+-])([0-9]{2}):?([0-9]{2})\Z", re.ASCII)


class PecErrorClass(OpenEnum):
    """``postacert/@errore``; non-standard values are kept raw (``known is False``).

    Examples:
        >>> PecErrorClass("no-dest"), PecErrorClass("superamento-tempi-massimi").known
        (<PecErrorClass.NO_RECIPIENT: 'no-dest'>, False)
    """

    NONE = "nessuno"
    NO_RECIPIENT = "no-dest"
    NO_DOMAIN = "no-dominio"
    VIRUS = "virus"
    OTHER = "altro"


class DeliveryVariant(OpenEnum):
    """``dati/ricevuta/@tipo``: which delivery-receipt variant this is (open enum).

    Examples:
        >>> DeliveryVariant("breve")
        <DeliveryVariant.SHORT: 'breve'>
    """

    COMPLETE = "completa"
    SHORT = "breve"
    SUMMARY = "sintetica"


@attrs.frozen(kw_only=True)
class DaticertRecipient:
    """One ``destinatari`` entry: an original recipient and its type.

    Examples:
        >>> r = DaticertRecipient(address="rcpt@pec.example.it",
        ...                       type=PecRecipientType.EXTERNAL)
        >>> r.type.value
        'esterno'
    """

    address: str
    type: PecRecipientType | None = None


@attrs.frozen(kw_only=True)
class Daticert:
    """The parsed ``daticert.xml`` of a PEC provider message.

    ``timestamp`` combines ``giorno``, ``ora`` and ``zona`` into an aware datetime; it is
    None when a part is missing or malformed (the raw ``day``, ``time`` and ``zone`` are
    kept, and no Italian time zone is ever assumed). ``message_id`` is the original's
    Message-ID without angle brackets; ``delivery_address`` is ``consegna``, the recipient a
    per-recipient receipt is about.

    Examples:
        >>> xml = b'''<postacert tipo="avvenuta-consegna" errore="nessuno">
        ...   <intestazione><mittente>a@pec.example.it</mittente>
        ...     <destinatari tipo="certificato">b@pec.example.it</destinatari>
        ...     <oggetto>Fattura 12</oggetto></intestazione>
        ...   <dati><data zona="+0200"><giorno>21/05/2024</giorno>
        ...     <ora>10:15:32</ora></data>
        ...     <msgid>&lt;x1@pec.example.it&gt;</msgid>
        ...     <consegna>b@pec.example.it</consegna>
        ...   </dati></postacert>'''
        >>> d = parse_daticert(xml)
        >>> d.kind, d.delivery_address
        (<ReceiptKind.DELIVERY: 'avvenuta-consegna'>, 'b@pec.example.it')
        >>> d.message_id, d.timestamp.isoformat()
        ('x1@pec.example.it', '2024-05-21T10:15:32+02:00')
    """

    kind: ReceiptKind
    raw_kind: str | None
    error: PecErrorClass | None = None
    sender: str | None = None
    recipients: tuple[DaticertRecipient, ...] = ()
    reply_to: str | None = None
    subject: str | None = None
    issuer: str | None = None
    day: str | None = None
    time: str | None = None
    zone: str | None = None
    timestamp: datetime | None = None
    provider_id: str | None = None
    message_id: str | None = None
    variant: DeliveryVariant | None = None
    delivery_address: str | None = None
    receiving_address: str | None = None
    extended_error: str | None = None


class _InternalSubset(Exception):
    pass


class _SafeParser(DefusedXMLParser):
    # defusedxml refuses entity declarations and external references; on top of that any
    # internal DTD subset is refused at its start, before its first declaration is read.
    # (The handler is not called ``_doctype``: ElementTree's XMLParser owns that name.)
    def __init__(self) -> None:
        super().__init__(
            target=TreeBuilder(), forbid_dtd=False, forbid_entities=True, forbid_external=True
        )
        self.parser.StartDoctypeDeclHandler = self._refuse_internal_subset

    @staticmethod
    def _refuse_internal_subset(
        _name: Any, _sysid: Any, _pubid: Any, has_internal_subset: Any
    ) -> None:
        if has_internal_subset:
            raise _InternalSubset


def _text(root: Element, path: str) -> str | None:
    # Only the element's own text: no itertext() recursion over a hostile subtree.
    found = root.find(path)
    if found is None or found.text is None:
        return None
    text = found.text.strip()
    return text or None


def _attr(root: Element, path: str | None, name: str) -> str | None:
    found = root if path is None else root.find(path)
    if found is None:
        return None
    value = found.get(name)
    return value.strip() if isinstance(value, str) and value.strip() else None


def combine_timestamp(day: str | None, time: str | None, zone: str | None) -> datetime | None:
    """``giorno`` (dd/MM/yyyy), ``ora`` (HH:mm:ss) and ``zona`` (+HHMM) as an aware datetime.

    None when any part is missing or malformed: the zone is never guessed.

    Examples:
        >>> combine_timestamp("21/05/2024", "10:15:32", "+0200").isoformat()
        '2024-05-21T10:15:32+02:00'
        >>> combine_timestamp("21/05/2024", "10:15:32", None) is None
        True
    """
    if not day or not time or not zone:
        return None
    d, t, z = _DAY.match(day.strip()), _TIME.match(time.strip()), _ZONE.match(zone.strip())
    if d is None or t is None or z is None:
        return None
    hours, minutes = int(z.group(2)), int(z.group(3))
    if hours > 23 or minutes > 59:
        return None
    offset = timedelta(hours=hours, minutes=minutes) * (-1 if z.group(1) == "-" else 1)
    try:
        return datetime(
            int(d.group(3)),
            int(d.group(2)),
            int(d.group(1)),
            int(t.group(1)),
            int(t.group(2)),
            int(t.group(3) or 0),
            tzinfo=timezone(offset),
        )
    except ValueError:
        return None


def parse_daticert(data: bytes, *, max_size: int = MAX_DATICERT_SIZE) -> Daticert:
    """Parse a ``daticert.xml`` document safely.

    Raises:
        ReceiptTooLargeError: ``data`` is longer than ``max_size`` bytes.
        UnsafeXMLError: an internal DTD subset, an entity declaration or an external
            reference (a DOCTYPE that only names an external DTD is accepted, never read).
        ReceiptParseError: not well-formed XML, or the root element is not ``postacert``.

    Examples:
        >>> xml = b'<postacert tipo="mancata-consegna" errore="altro"/>'
        >>> parse_daticert(xml).raw_kind
        'mancata-consegna'
    """
    if not isinstance(data, bytes | bytearray | memoryview):
        raise ReceiptParseError(f"expected bytes, got {type(data).__name__}", part="daticert.xml")
    if len(data) > max_size:
        raise ReceiptTooLargeError(
            f"daticert.xml is {len(data)} bytes, over the {max_size}-byte limit",
            part="daticert.xml",
            size=len(data),
            limit=max_size,
        )
    parser = _SafeParser()
    try:
        parser.feed(bytes(data))
        root = parser.close()
    except _InternalSubset:
        raise UnsafeXMLError(
            "refused: the XML has an internal DTD subset", part="daticert.xml"
        ) from None
    except DefusedXmlException as error:
        raise UnsafeXMLError(
            f"refused: the XML declares entities or references outside data "
            f"({type(error).__name__})",
            part="daticert.xml",
        ) from None
    except (ParseError, ValueError, LookupError, RecursionError) as error:
        raise ReceiptParseError(
            f"not well-formed XML ({type(error).__name__}: {str(error)[:200]})",
            part="daticert.xml",
        ) from None
    return _daticert(root)


def _recipient_type(el: Element) -> PecRecipientType | None:
    value = _attr(el, None, "tipo")
    return PecRecipientType(value) if value else None


def _daticert(root: Element) -> Daticert:
    if not isinstance(root, Element) or root.tag != "postacert":
        tag = root.tag if isinstance(root, Element) else type(root).__name__
        raise ReceiptParseError(
            f"the root element is <{str(tag)[:60]}>, not <postacert>", part="daticert.xml"
        )
    raw_kind = _attr(root, None, "tipo")
    error = _attr(root, None, "errore")
    variant = _attr(root, "dati/ricevuta", "tipo")
    recipients = tuple(
        DaticertRecipient(address=normalise_address(el.text or ""), type=_recipient_type(el))
        for el in root.findall("intestazione/destinatari")
        if (el.text or "").strip()
    )
    day = _text(root, "dati/data/giorno")
    time = _text(root, "dati/data/ora")
    zone = _attr(root, "dati/data", "zona")
    msgid = _text(root, "dati/msgid")
    delivery = _text(root, "dati/consegna")
    receiving = _text(root, "dati/ricezione")
    sender = _text(root, "intestazione/mittente")
    return Daticert(
        kind=kind_from_wire(raw_kind),
        raw_kind=raw_kind,
        error=PecErrorClass(error) if error else None,
        sender=normalise_address(sender) if sender else None,
        recipients=recipients,
        reply_to=_text(root, "intestazione/risposte"),
        subject=_text(root, "intestazione/oggetto"),
        issuer=_text(root, "dati/gestore-emittente"),
        day=day,
        time=time,
        zone=zone,
        timestamp=combine_timestamp(day, time, zone),
        provider_id=_text(root, "dati/identificativo"),
        message_id=normalise_message_id(msgid) if msgid else None,
        variant=DeliveryVariant(variant) if variant else None,
        delivery_address=normalise_address(delivery) if delivery else None,
        receiving_address=normalise_address(receiving) if receiving else None,
        extended_error=_text(root, "dati/errore-esteso"),
    )
