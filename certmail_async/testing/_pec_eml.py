"""PEC provider messages as raw ``.eml`` bytes, written from the reference, for the fakes.

The layout is the usual one of a signed provider message (``pec-receipts.md`` §3.1):
``multipart/signed`` > ``multipart/mixed`` > (certification text, ``daticert.xml``,
``postacert.eml`` for complete delivery receipts and envelopes), plus ``smime.p7s``. The
signature is a placeholder (these messages test parsing, not signatures); headers carry
``X-Ricevuta`` (or ``X-Trasporto`` on envelopes) and ``X-Riferimento-Message-ID``.
CRLF line ends, as IMAP delivers them.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from datetime import datetime
from email.utils import format_datetime
from xml.sax.saxutils import escape

import attrs

__all__ = ["PecMessageSpec", "pec_message_eml", "SUBJECT_PREFIXES"]

#: The subject prefix each (tipo, errore) pair gets (``pec-receipts.md`` §2).
SUBJECT_PREFIXES: dict[tuple[str, str], str] = {
    ("accettazione", "nessuno"): "ACCETTAZIONE",
    ("non-accettazione", "altro"): "AVVISO DI NON ACCETTAZIONE",
    ("non-accettazione", "virus"): "AVVISO DI NON ACCETTAZIONE PER VIRUS",
    ("presa-in-carico", "nessuno"): "PRESA IN CARICO",
    ("avvenuta-consegna", "nessuno"): "CONSEGNA",
    ("errore-consegna", "no-dest"): "AVVISO DI MANCATA CONSEGNA",
    ("errore-consegna", "virus"): "AVVISO DI MANCATA CONSEGNA PER VIRUS",
    ("errore-consegna", "altro"): "AVVISO DI MANCATA CONSEGNA PER SUP. TEMPO MASSIMO",
    ("preavviso-errore-consegna", "altro"): "AVVISO DI MANCATA CONSEGNA PER SUP. TEMPO MASSIMO",
    ("rilevazione-virus", "virus"): "PROBLEMA DI SICUREZZA",
    ("posta-certificata", "nessuno"): "POSTA CERTIFICATA",
}
_PLACEHOLDER_SIGNATURE = base64.encodebytes(b"placeholder: not a real CMS signature\n" * 4)


@attrs.frozen(kw_only=True)
class PecMessageSpec:
    """What one provider message says: kind, original message, time, concerned recipient.

    Examples:
        >>> from datetime import datetime, timezone
        >>> spec = PecMessageSpec(tipo="accettazione", subject="Avviso 4411",
        ...     sender="box@pecmassiva.com", recipients=("a@pec.example.it",),
        ...     original_id="4411@pecmassiva.com",
        ...     when=datetime(2024, 5, 21, 10, 15, 30, tzinfo=timezone.utc))
        >>> spec.subject_line
        'ACCETTAZIONE: Avviso 4411'
    """

    tipo: str
    subject: str  # the original subject
    sender: str
    recipients: tuple[str, ...]
    original_id: str  # the original's Message-ID, without <>
    when: datetime
    errore: str = "nessuno"
    delivery: str | None = None  # the recipient a per-recipient message concerns
    extended: str | None = None  # errore-esteso
    issuer: str = "Gestore Fake S.p.A."
    ident: str = "opec.fake@pec.example.it"
    variant: str | None = None  # completa / breve / sintetica on delivery receipts
    body: str = ""  # the original body (postacert.eml)
    text: str = ""  # the certification text

    @property
    def subject_line(self) -> str:
        """``<PREFIX>: <original subject>``."""
        prefix = SUBJECT_PREFIXES.get((self.tipo, self.errore)) or SUBJECT_PREFIXES.get(
            (self.tipo, "nessuno"), "ANOMALIA MESSAGGIO"
        )
        return f"{prefix}: {self.subject}"


def _daticert(spec: PecMessageSpec) -> bytes:
    when = spec.when
    zone = when.strftime("%z") or "+0000"
    lines = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        f'<postacert tipo="{escape(spec.tipo)}" errore="{escape(spec.errore)}">',
        "  <intestazione>",
        f"    <mittente>{escape(spec.sender)}</mittente>",
        *(
            f'    <destinatari tipo="certificato">{escape(a)}</destinatari>'
            for a in spec.recipients
        ),
        f"    <risposte>{escape(spec.sender)}</risposte>",
        f"    <oggetto>{escape(spec.subject)}</oggetto>",
        "  </intestazione>",
        "  <dati>",
        f"    <gestore-emittente>{escape(spec.issuer)}</gestore-emittente>",
        f'    <data zona="{zone}">',
        f"      <giorno>{when.strftime('%d/%m/%Y')}</giorno>",
        f"      <ora>{when.strftime('%H:%M:%S')}</ora>",
        "    </data>",
        f"    <identificativo>{escape(spec.ident)}</identificativo>",
        f"    <msgid>&lt;{escape(spec.original_id)}&gt;</msgid>",
    ]
    if spec.variant:
        lines.append(f'    <ricevuta tipo="{escape(spec.variant)}" />')
    if spec.delivery:
        lines.append(f"    <consegna>{escape(spec.delivery)}</consegna>")
    if spec.extended:
        lines.append(f"    <errore-esteso>{escape(spec.extended)}</errore-esteso>")
    lines += ["  </dati>", "</postacert>", ""]
    return "\n".join(lines).encode("utf-8")


def _original(spec: PecMessageSpec) -> str:
    return (
        f"Message-ID: <{spec.original_id}>\n"
        f"Date: {format_datetime(spec.when)}\n"
        f"From: {spec.sender}\n"
        f"To: {', '.join(spec.recipients)}\n"
        f"Subject: {spec.subject}\n"
        "MIME-Version: 1.0\n"
        "Content-Type: text/plain; charset=UTF-8\n"
        "Content-Transfer-Encoding: base64\n"
        "\n" + base64.encodebytes(spec.body.encode("utf-8")).decode("ascii")
    )


def pec_message_eml(spec: PecMessageSpec, *, tag: str = "1") -> bytes:
    """The raw ``.eml`` of one provider message (``parse_eml`` reads it back).

    Examples:
        >>> from datetime import datetime, timezone
        >>> from certmail_async.receipts import parse_eml
        >>> spec = PecMessageSpec(tipo="avvenuta-consegna", subject="Avviso 4411",
        ...     sender="box@pecmassiva.com", recipients=("a@pec.example.it",),
        ...     original_id="4411@pecmassiva.com", delivery="a@pec.example.it",
        ...     when=datetime(2024, 5, 21, 10, 15, 30, tzinfo=timezone.utc))
        >>> message = parse_eml(pec_message_eml(spec))
        >>> message.kind.value, message.delivery_address, message.evidence.value
        ('avvenuta-consegna', 'a@pec.example.it', 'daticert')
    """
    envelope = spec.tipo == "posta-certificata"
    header_kind = ("X-Trasporto", spec.tipo) if envelope else ("X-Ricevuta", spec.tipo)
    notary = "posta-certificata@pec.example.it"
    heads: Sequence[tuple[str, str]] = (
        ("Return-Path", f"<{notary}>"),
        ("Message-ID", f"<{spec.ident}>"),
        ("X-Riferimento-Message-ID", f"<{spec.original_id}>"),
        header_kind,
        ("Date", format_datetime(spec.when)),
        ("Subject", spec.subject_line),
        ("From", f'"Per conto di: {spec.sender}" <{notary}>' if envelope else notary),
        ("To", ", ".join(spec.recipients) if envelope else spec.sender),
    )
    text = spec.text or spec.subject_line
    parts = [
        "Content-Type: text/plain; charset=UTF-8\n"
        "Content-Transfer-Encoding: base64\n"
        "\n" + base64.encodebytes(text.encode("utf-8")).decode("ascii")
    ]
    if envelope or (spec.tipo == "avvenuta-consegna" and spec.variant in (None, "completa")):
        parts.append(
            'Content-Type: message/rfc822; name="postacert.eml"\n'
            'Content-Disposition: inline; filename="postacert.eml"\n'
            "\n" + _original(spec)
        )
    parts.append(
        'Content-Type: application/xml; name="daticert.xml"\n'
        'Content-Disposition: inline; filename="daticert.xml"\n'
        "Content-Transfer-Encoding: base64\n"
        "\n" + base64.encodebytes(_daticert(spec)).decode("ascii")
    )
    mixed = "".join(f"--mixed-{tag}\n{p}" for p in parts) + f"--mixed-{tag}--\n"
    head = "".join(f"{k}: {v}\n" for k, v in heads)
    body = (
        f"{head}"
        "MIME-Version: 1.0\n"
        'Content-Type: multipart/signed; protocol="application/pkcs7-signature";'
        f' micalg=sha-256; boundary="sig-{tag}"\n'
        "\n"
        "This is an S/MIME signed message\n"
        "\n"
        f"--sig-{tag}\n"
        f'Content-Type: multipart/mixed; boundary="mixed-{tag}"\n'
        "\n" + mixed + "\n"
        f"--sig-{tag}\n"
        'Content-Type: application/pkcs7-signature; name="smime.p7s"\n'
        "Content-Transfer-Encoding: base64\n"
        'Content-Disposition: attachment; filename="smime.p7s"\n'
        "\n" + _PLACEHOLDER_SIGNATURE.decode("ascii") + f"--sig-{tag}--\n"
    )
    return body.replace("\r\n", "\n").replace("\n", "\r\n").encode("utf-8")
