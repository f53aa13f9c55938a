"""Write the sample PEC provider messages in this folder (``python make_samples.py``).

Every sample is written from the reference (``pec-receipts.md``: §2 kinds and subject
prefixes, §3 headers and parts, §4 ``daticert.xml``, §6 quirks), not copied from a real
mailbox: addresses are ``example`` domains and ``smime.p7s`` is a placeholder (these
samples test parsing, not signatures). The layout is the usual one of a signed provider
message: ``multipart/signed`` > ``multipart/mixed`` > (text and HTML certification text,
``daticert.xml``, optionally ``postacert.eml``), plus ``smime.p7s``. CRLF line ends, as
IMAP delivers them. ``tests/receipts/test_samples.py`` checks that the committed files are
exactly what this script writes.
"""

from __future__ import annotations

import base64
import quopri
import sys
from pathlib import Path

HERE = Path(__file__).parent

SENDER = "mario.rossi@pec.example.it"
RCPT_A = "protocollo@pec.comune.example.it"
RCPT_B = "amministrazione@pec.fornitore.example.it"
EXTERNAL = "info@example.com"
SUBJECT = "Avviso 4411 - Fattura 2024/118"
ORIGINAL_ID = "20240521101529.4411@client.example.it"
SENDER_PROVIDER = "Gestore Mittente Esempio S.p.A."
RCPT_PROVIDER = "Gestore Destinatario Esempio S.p.A."
SENDER_PEC = "posta-certificata@pec.example.it"
RCPT_PEC = "posta-certificata@pec.comune.example.it"
FAKE_SIGNATURE = base64.encodebytes(b"placeholder: not a real CMS signature\n" * 4).decode()


def crlf(text: str) -> bytes:
    return text.replace("\r\n", "\n").replace("\n", "\r\n").encode("utf-8")


def b64_lines(data: bytes) -> str:
    return base64.encodebytes(data).decode("ascii")


def daticert(
    tipo: str,
    *,
    errore: str = "nessuno",
    recipients: tuple[tuple[str, str], ...] = ((RCPT_A, "certificato"), (RCPT_B, "certificato")),
    issuer: str = SENDER_PROVIDER,
    day: str = "21/05/2024",
    time: str = "10:15:30",
    zone: str = "+0200",
    ident: str = "opec210.20240521101530.04411.101.1.1@pec.example.it",
    variant: str | None = None,
    delivery: str | None = None,
    extended: str | None = None,
    doctype: bool = False,
    sender: str = SENDER,
    subject: str = SUBJECT,
) -> bytes:
    lines = ['<?xml version="1.0" encoding="UTF-8"?>']
    if doctype:
        # The form real provider files carry: an external DTD named, never fetched.
        lines.append('<!DOCTYPE postacert SYSTEM "Postacert.dtd">')
    lines.append(f'<postacert tipo="{tipo}" errore="{errore}">')
    lines.append("  <intestazione>")
    lines.append(f"    <mittente>{sender}</mittente>")
    lines.extend(f'    <destinatari tipo="{t}">{a}</destinatari>' for a, t in recipients)
    lines.append(f"    <risposte>{sender}</risposte>")
    lines.append(f"    <oggetto>{subject}</oggetto>")
    lines.append("  </intestazione>")
    lines.append("  <dati>")
    lines.append(f"    <gestore-emittente>{issuer}</gestore-emittente>")
    lines.append(f'    <data zona="{zone}">')
    lines.append(f"      <giorno>{day}</giorno>")
    lines.append(f"      <ora>{time}</ora>")
    lines.append("    </data>")
    lines.append(f"    <identificativo>{ident}</identificativo>")
    lines.append(f"    <msgid>&lt;{ORIGINAL_ID}&gt;</msgid>")
    if variant:
        lines.append(f'    <ricevuta tipo="{variant}" />')
    if delivery:
        lines.append(f"    <consegna>{delivery}</consegna>")
    if extended:
        lines.append(f"    <errore-esteso>{extended}</errore-esteso>")
    lines.append("  </dati>")
    lines.append("</postacert>")
    return ("\n".join(lines) + "\n").encode("utf-8")


def original(*, breve: bool = False) -> str:
    """The message Mario sent (what postacert.eml carries)."""
    pdf = b"%PDF-1.4\n% Fattura 2024/118 (sample)\n%%EOF\n"
    if breve:
        # A short receipt replaces each attachment with its hash (pec-receipts.md 3.1).
        attachment = (
            'Content-Type: text/plain; charset=US-ASCII; name="fattura-2024-118.pdf"\n'
            'Content-Disposition: attachment; filename="fattura-2024-118.pdf"\n'
            "\n"
            "SHA-256: 5d9e0f4c1b9a7e3d2c8b6a4f0e1d3c5b7a9f8e6d4c2b0a1f3e5d7c9b1a3f5e7d\n"
        )
    else:
        attachment = (
            'Content-Type: application/pdf; name="fattura-2024-118.pdf"\n'
            'Content-Disposition: attachment; filename="fattura-2024-118.pdf"\n'
            "Content-Transfer-Encoding: base64\n"
            "\n" + b64_lines(pdf)
        )
    return (
        f"Message-ID: <{ORIGINAL_ID}>\n"
        "Date: Tue, 21 May 2024 10:15:29 +0200\n"
        f"From: Mario Rossi <{SENDER}>\n"
        f"To: {RCPT_A}, {RCPT_B}\n"
        f"Cc: {EXTERNAL}\n"
        f"Subject: {SUBJECT}\n"
        "X-TipoRicevuta: completa\n"
        "MIME-Version: 1.0\n"
        'Content-Type: multipart/mixed; boundary="orig-1"\n'
        "\n"
        "--orig-1\n"
        "Content-Type: text/plain; charset=UTF-8\n"
        "Content-Transfer-Encoding: 8bit\n"
        "\n"
        "Gentile ufficio, in allegato la fattura 2024/118 relativa all'avviso 4411.\n"
        "--orig-1\n" + attachment + "--orig-1--\n"
    )


def provider_message(
    *,
    headers: list[tuple[str, str]],
    text: str,
    xml: bytes | None,
    attached_original: str | None = None,
    tag: str = "1",
) -> bytes:
    """A signed provider message: certification text, daticert.xml, postacert.eml, smime.p7s."""
    head = "".join(f"{k}: {v}\n" for k, v in headers)
    html = "<html><body><p>" + text.replace("\n", "<br/>\n") + "</p></body></html>\n"
    parts = [
        f'Content-Type: multipart/alternative; boundary="alt-{tag}"\n'
        "\n"
        f"--alt-{tag}\n"
        "Content-Type: text/plain; charset=UTF-8\n"
        "Content-Transfer-Encoding: quoted-printable\n"
        "\n" + quopri.encodestring(text.encode("utf-8")).decode("ascii") + "\n"
        f"--alt-{tag}\n"
        "Content-Type: text/html; charset=UTF-8\n"
        "Content-Transfer-Encoding: quoted-printable\n"
        "\n" + quopri.encodestring(html.encode("utf-8")).decode("ascii") + "\n"
        f"--alt-{tag}--\n"
    ]
    if attached_original is not None:
        parts.append(
            'Content-Type: message/rfc822; name="postacert.eml"\n'
            'Content-Disposition: inline; filename="postacert.eml"\n'
            "\n" + attached_original
        )
    if xml is not None:
        parts.append(
            'Content-Type: application/xml; name="daticert.xml"\n'
            'Content-Disposition: inline; filename="daticert.xml"\n'
            "Content-Transfer-Encoding: base64\n"
            "\n" + b64_lines(xml)
        )
    mixed = "".join(f"--mixed-{tag}\n{p}" for p in parts) + f"--mixed-{tag}--\n"
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
        "\n" + FAKE_SIGNATURE + f"--sig-{tag}--\n"
    )
    return crlf(body)


def common(
    kind_header: tuple[str, str] | None,
    subject: str,
    *,
    sender: str = SENDER_PEC,
    to: str = SENDER,
    date: str = "Tue, 21 May 2024 10:15:30 +0200",
    message_id: str = "opec210.20240521101530.04411.101.1.1@pec.example.it",
) -> list[tuple[str, str]]:
    envelope_from = sender.rsplit("<", 1)[-1].rstrip(">")
    headers = [
        ("Return-Path", f"<{envelope_from}>"),
        ("Message-ID", f"<{message_id}>"),
        ("X-Riferimento-Message-ID", f"<{ORIGINAL_ID}>"),
    ]
    if kind_header is not None:
        headers.append(kind_header)
    headers += [("Date", date), ("Subject", subject), ("From", sender), ("To", to)]
    return headers


def text(title: str, what: str, when: str = "21/05/2024 alle ore 10:15:30 (+0200)") -> str:
    return (
        f'{title}\n\nIl giorno {when} il messaggio\n"{SUBJECT}" proveniente da "{SENDER}"\n{what}\n'
    )


ADDRESSED_ALL = (
    "ed indirizzato a:\n"
    f'{RCPT_A} ("posta certificata")\n'
    f'{RCPT_B} ("posta certificata")\n'
    f'{EXTERNAL} ("posta ordinaria")\n'
)
ALL_RECIPIENTS = ((RCPT_A, "certificato"), (RCPT_B, "certificato"), (EXTERNAL, "esterno"))


def samples() -> dict[str, bytes]:
    s: dict[str, bytes] = {}
    s["accettazione.eml"] = provider_message(
        headers=common(("X-Ricevuta", "accettazione"), f"ACCETTAZIONE: {SUBJECT}"),
        text=text(
            "Ricevuta di accettazione",
            ADDRESSED_ALL + "Il messaggio e' stato accettato dal sistema ed inoltrato.",
        ),
        xml=daticert("accettazione", recipients=ALL_RECIPIENTS),
    )
    s["non-accettazione.eml"] = provider_message(
        headers=common(
            ("X-Ricevuta", "non-accettazione"), f"AVVISO DI NON ACCETTAZIONE: {SUBJECT}"
        ),
        text=text(
            "Avviso di non accettazione",
            "non e' stato accettato per il seguente errore formale: destinatario non valido.",
        ),
        xml=daticert(
            "non-accettazione",
            errore="altro",
            extended="Destinatario non valido: indirizzo malformato",
        ),
    )
    s["non-accettazione-virus.eml"] = provider_message(
        headers=common(
            ("X-Ricevuta", "non-accettazione"), f"AVVISO DI NON ACCETTAZIONE PER VIRUS: {SUBJECT}"
        ),
        text=text(
            "Avviso di non accettazione per virus", "contiene un virus e non e' stato accettato."
        ),
        xml=daticert(
            "non-accettazione", errore="virus", extended="Virus rilevato: EICAR-Test-File"
        ),
    )
    s["presa-in-carico.eml"] = provider_message(
        headers=common(
            ("X-Ricevuta", "presa-in-carico"),
            f"PRESA IN CARICO: {SUBJECT}",
            sender=RCPT_PEC,
            to=SENDER_PEC,
            date="Tue, 21 May 2024 10:15:31 +0200",
            message_id="opec300.20240521101531.7001.1.1@pec.comune.example.it",
        ),
        text=text(
            "Ricevuta di presa in carico",
            f'ed indirizzato a "{RCPT_A}" e\' stato preso in carico dal gestore di destinazione.',
        ),
        xml=daticert(
            "presa-in-carico",
            issuer=RCPT_PROVIDER,
            time="10:15:31",
            ident="opec300.20240521101531.7001.1.1@pec.comune.example.it",
        ),
    )
    delivered = f'ed indirizzato a "{RCPT_A}" e\' stato consegnato nella casella di destinazione.'
    for variant, attached in (
        ("completa", original()),
        ("breve", original(breve=True)),
        ("sintetica", None),
    ):
        s[f"avvenuta-consegna-{variant}.eml"] = provider_message(
            headers=common(
                ("X-Ricevuta", "avvenuta-consegna"),
                f"CONSEGNA: {SUBJECT}",
                sender=RCPT_PEC,
                date="Tue, 21 May 2024 10:15:32 +0200",
                message_id=f"opec300.20240521101532.7002.{variant}@pec.comune.example.it",
            ),
            text=text(
                "Ricevuta di avvenuta consegna", delivered, "21/05/2024 alle ore 10:15:32 (+0200)"
            ),
            xml=daticert(
                "avvenuta-consegna",
                issuer=RCPT_PROVIDER,
                time="10:15:32",
                ident=f"opec300.20240521101532.7002.{variant}@pec.comune.example.it",
                variant=variant,
                delivery=RCPT_A,
                doctype=True,
            ),
            attached_original=attached,
        )
    s["errore-consegna.eml"] = provider_message(
        headers=common(
            ("X-Ricevuta", "errore-consegna"),
            f"AVVISO DI MANCATA CONSEGNA: {SUBJECT}",
            date="Tue, 21 May 2024 10:15:40 +0200",
        ),
        text=text(
            "Avviso di mancata consegna",
            f'ed indirizzato a "{RCPT_B}" non e\' stato consegnato: utente inesistente.',
        ),
        xml=daticert(
            "errore-consegna",
            errore="no-dest",
            time="10:15:40",
            delivery=RCPT_B,
            extended="5.1.1 - Utente inesistente",
            variant="completa",
        ),
    )
    s["errore-consegna-virus.eml"] = provider_message(
        headers=common(
            ("X-Ricevuta", "errore-consegna"),
            f"AVVISO DI MANCATA CONSEGNA PER VIRUS: {SUBJECT}",
            sender=RCPT_PEC,
            date="Tue, 21 May 2024 10:15:41 +0200",
        ),
        text=text(
            "Avviso di mancata consegna per virus",
            f'ed indirizzato a "{RCPT_A}" non e\' stato consegnato: contiene un virus.',
        ),
        xml=daticert(
            "errore-consegna",
            errore="virus",
            issuer=RCPT_PROVIDER,
            time="10:15:41",
            delivery=RCPT_A,
            extended="Virus rilevato nel messaggio",
        ),
    )
    s["errore-consegna-tempo-massimo.eml"] = provider_message(
        headers=common(
            ("X-Ricevuta", "errore-consegna"),
            f"AVVISO DI MANCATA CONSEGNA PER SUP. TEMPO MASSIMO: {SUBJECT}",
            date="Wed, 22 May 2024 10:15:30 +0200",
        ),
        text=text(
            "Avviso di mancata consegna per superamento dei tempi massimi",
            f'ed indirizzato a "{RCPT_B}" non e\' stato consegnato entro 24 ore.',
            "22/05/2024 alle ore 10:15:30 (+0200)",
        ),
        xml=daticert(
            "errore-consegna",
            errore="altro",
            day="22/05/2024",
            delivery=RCPT_B,
            extended="Superamento dei tempi massimi di consegna (24 ore)",
        ),
    )
    s["preavviso-errore-consegna.eml"] = provider_message(
        headers=common(
            ("X-Ricevuta", "preavviso-errore-consegna"),
            f"AVVISO DI MANCATA CONSEGNA PER SUP. TEMPO MASSIMO: {SUBJECT}",
            date="Tue, 21 May 2024 22:15:30 +0200",
        ),
        text=text(
            "Preavviso di mancata consegna",
            f'ed indirizzato a "{RCPT_B}" non ha ricevuto ricevuta di consegna entro 12 ore.',
            "21/05/2024 alle ore 22:15:30 (+0200)",
        ),
        xml=daticert(
            "preavviso-errore-consegna",
            errore="altro",
            time="22:15:30",
            delivery=RCPT_B,
            extended="4.4.7 - Nessuna ricevuta di consegna entro 12 ore",
        ),
    )
    s["preavviso-errore-consegna-aruba-541.eml"] = provider_message(
        headers=common(
            ("X-Ricevuta", "preavviso-errore-consegna"),
            f"AVVISO DI MANCATA CONSEGNA PER SUP. TEMPO MASSIMO: {SUBJECT}",
            sender="posta-certificata@pec.aruba.example.it",
            date="Tue, 21 May 2024 22:15:30 +0200",
        ),
        text=text(
            "Preavviso di mancata consegna",
            f'ed indirizzato a "{RCPT_B}" non e\' stato consegnato.',
            "21/05/2024 alle ore 22:15:30 (+0200)",
        ),
        xml=daticert(
            "preavviso-errore-consegna",
            errore="altro",
            issuer="ArubaPEC S.p.A. (esempio)",
            time="22:15:30",
            delivery=RCPT_B,
            extended="5.4.1 - Recipient address rejected: Access denied",
        ),
    )
    s["rilevazione-virus.eml"] = provider_message(
        headers=common(
            ("X-Ricevuta", "rilevazione-virus"),
            f"PROBLEMA DI SICUREZZA: {SUBJECT}",
            sender=RCPT_PEC,
            date="Tue, 21 May 2024 10:15:33 +0200",
        ),
        text=text("Avviso di rilevazione virus", f'ed indirizzato a "{RCPT_A}" contiene un virus.'),
        xml=daticert(
            "rilevazione-virus",
            errore="virus",
            issuer=RCPT_PROVIDER,
            time="10:15:33",
            delivery=RCPT_A,
            extended="Virus rilevato: EICAR-Test-File",
        ),
    )
    s["posta-certificata.eml"] = provider_message(
        headers=[
            *common(
                ("X-Trasporto", "posta-certificata"),
                f"POSTA CERTIFICATA: {SUBJECT}",
                sender=f'"Per conto di: {SENDER}" <{SENDER_PEC}>',
                to=f"{RCPT_A}, {RCPT_B}",
            ),
            ("Reply-To", SENDER),
        ],
        text=text("Messaggio di posta certificata", ADDRESSED_ALL),
        xml=daticert("posta-certificata", recipients=ALL_RECIPIENTS),
        attached_original=original(),
    )
    ordinary = (
        "Message-ID: <offerta-77@mail.example.com>\n"
        "Date: Tue, 21 May 2024 09:00:00 +0200\n"
        "From: Offerte <offerte@mail.example.com>\n"
        f"To: {RCPT_A}\n"
        "Subject: Offerta speciale\n"
        "Content-Type: text/plain; charset=UTF-8\n"
        "\n"
        "Un messaggio ordinario, non PEC.\n"
    )
    s["anomalia.eml"] = provider_message(
        headers=common(
            ("X-Trasporto", "errore"),
            "ANOMALIA MESSAGGIO: Offerta speciale",
            sender=f'"Per conto di: offerte@mail.example.com" <{RCPT_PEC}>',
            to=RCPT_A,
            message_id="opec300.20240521090001.7100.1.1@pec.comune.example.it",
        ),
        text="Anomalia nel messaggio\n\nIl messaggio originale non e' un messaggio di posta certificata.\n",
        xml=None,
        attached_original=ordinary,
    )
    # An anomaly envelope that wraps a PEC message carrying its own daticert.xml (§6 quirk):
    # the inner tipo describes the wrapped message, never the envelope.
    inner_pec = (
        provider_message(
            headers=common(("X-Trasporto", "posta-certificata"), f"POSTA CERTIFICATA: {SUBJECT}"),
            text="Messaggio di posta certificata\n",
            xml=daticert("posta-certificata"),
            attached_original=original(),
            tag="inner",
        )
        .decode("utf-8")
        .replace("\r\n", "\n")
    )
    s["anomalia-daticert-annidato.eml"] = provider_message(
        headers=common(
            ("X-Trasporto", "errore"),
            f"ANOMALIA MESSAGGIO: POSTA CERTIFICATA: {SUBJECT}",
            sender=f'"Per conto di: {SENDER}" <{RCPT_PEC}>',
            to=RCPT_A,
        ),
        text="Anomalia nel messaggio\n\nIl messaggio non ha superato i controlli.\n",
        xml=None,
        attached_original=inner_pec,
    )
    # Non-standard values kept raw (pec-receipts.md §2 notes, §6): tipo mancata-consegna,
    # errore superamento-tempi-massimi.
    s["mancata-consegna-non-standard.eml"] = provider_message(
        headers=common(
            ("X-Ricevuta", "mancata-consegna"),
            f"AVVISO DI MANCATA CONSEGNA: {SUBJECT}",
            date="Wed, 22 May 2024 10:15:30 +0200",
        ),
        text=text(
            "Avviso di mancata consegna", f'ed indirizzato a "{RCPT_B}" non e\' stato consegnato.'
        ),
        xml=daticert(
            "mancata-consegna",
            errore="superamento-tempi-massimi",
            day="22/05/2024",
            delivery=RCPT_B,
        ),
    )
    # Receipts without certification data exist (java-pec-parser issue #18): headers only.
    s["accettazione-senza-daticert.eml"] = provider_message(
        headers=common(("X-Ricevuta", "accettazione"), f"ACCETTAZIONE: {SUBJECT}"),
        text=text("Ricevuta di accettazione", ADDRESSED_ALL),
        xml=None,
    )
    # Neither daticert.xml nor PEC headers (a receipt forwarded by an ordinary client):
    # only the subject prefix is left.
    s["consegna-solo-oggetto.eml"] = crlf(
        "Message-ID: <fwd-1@client.example.it>\n"
        "Date: Tue, 21 May 2024 11:00:00 +0200\n"
        f"From: {SENDER}\n"
        "To: archivio@example.com\n"
        f"Subject: CONSEGNA: {SUBJECT}\n"
        "Content-Type: text/plain; charset=UTF-8\n"
        "\n" + delivered + "\n"
    )
    s["daticert-malformato.eml"] = provider_message(
        headers=common(
            ("X-Ricevuta", "avvenuta-consegna"),
            f"CONSEGNA: {SUBJECT}",
            sender=RCPT_PEC,
            date="Tue, 21 May 2024 10:15:32 +0200",
        ),
        text=text("Ricevuta di avvenuta consegna", delivered),
        xml=b'<?xml version="1.0"?>\n<postacert tipo="avvenuta-consegna"><intestazione>\n',
    )
    s["billion-laughs.eml"] = provider_message(
        headers=common(("X-Ricevuta", "avvenuta-consegna"), f"CONSEGNA: {SUBJECT}"),
        text=text("Ricevuta di avvenuta consegna", delivered),
        xml=(HERE / "attacks" / "billion-laughs.xml").read_bytes(),
    )
    return s


def main(target: Path = HERE) -> None:
    for name, data in samples().items():
        (target / name).write_bytes(data)


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else HERE)
