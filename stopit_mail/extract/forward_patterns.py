"""Vocabulary of forwarded mail: header labels, separator phrases and subject prefixes.

Mail clients write the forwarded message's header block in the reader's language ("Von:",
"De :", "送信元：") and introduce it with a separator line ("Begin forwarded message:",
"-------- Message transféré --------"). Detection in `forwards.py` is structural; this module
only says what a label or a phrase *means*, so that a new language is one more table row and
never a new code path. Entries come from what the clients are known to write (Gmail, Outlook,
Apple Mail, Thunderbird, Yahoo, Android and webmail clients); no entry is specific to a test file.
"""

from __future__ import annotations

import enum
import re
import unicodedata

# Fields of a forwarded message's header block, by the labels clients print for them.
FIELD_LABELS: dict[str, tuple[str, ...]] = {
    "from": (
        "From", "Od", "Fra", "Frá", "Von", "De", "De la", "Lähettäjä", "Šalje", "Feladó", "Da",
        "Van", "Expeditorul", "Отправитель", "Från", "Kimden", "Від кого", "Saatja", "Gönderen",
        "От", "Від", "Mittente", "Nadawca", "Afzender", "Absender", "Expéditeur", "Remitente",
        "Remetente", "Avsändare", "Afsender", "Avsender", "Nuo", "No", "Dari", "Từ", "Από",
        "מאת", "من", "送信元", "差出人", "发件人", "發件人", "寄件者", "寄件人", "보낸사람",
        "보낸 사람", "Шаље", "Daripada", "प्रेषक", "จาก", "از",
    ),
    "date": (
        "Date", "Sent", "Datum", "Dato", "Fecha", "Päivämäärä", "Päiväys", "Dátum", "Data",
        "Dată", "Дата", "Tarih", "Sendt", "Gesendet", "Enviado", "Enviada", "Enviado el", "Enviat el",
        "Enviada em", "Envoyé", "Envoyé le", "Lähetetty", "Elküldve", "Inviato", "Verzonden",
        "Wysłano", "Wysłane", "Trimis", "Отправлено", "Odoslané", "Odesláno", "Skickat", "Gönderilen",
        "Відправлено", "Надіслано", "Изпратено", "Poslano", "Poslato", "Datums", "Kuupäev",
        "Saadetud", "Dagsetning", "Tanggal", "Ngày", "Ημερομηνία", "Στάλθηκε", "תאריך", "נשלח",
        "التاريخ", "日付", "送信日時", "日期", "发送时间", "發送時間", "发送日期", "發送日期", "寄件日期", "时间", "時間",
        "날짜", "보낸 날짜", "Sent at", "Sent on", "Gönderildi", "تم الإرسال", "Đã gửi", "Dikirim",
        "Dihantar", "Enviat", "Išsiųsta", "Nosūtīts", "भेजा गया", "ส่ง", "วันที่", "ارسال شده", "تاریخ",
        "Local Time",  # Proton Mail's older forwards, above a "UTC Time" line
    ),
    "subject": (
        "Subject", "Předmět", "Emne", "Betreff", "Asunto", "Aihe", "Objet", "Predmet", "Tárgy",
        "Oggetto", "Onderwerp", "Temat", "Assunto", "Subiectul", "Subiect", "Тема", "Ämne",
        "Konu", "Sujet", "Naslov", "Zadeva", "Tema", "Temats", "Teema", "Efni", "Assumpte",
        "Относно", "Subjek", "Perihal", "Chủ đề", "Θέμα", "נושא", "الموضوع", "件名", "主题",
        "主旨", "主題", "제목", "Perkara", "Tēma", "विषय", "เรื่อง", "موضوع",
    ),
    "to": (
        "To", "Komu", "Til", "An", "Para", "Vastaanottaja", "À", "A", "Prima", "Címzett", "Aan",
        "Do", "Destinatarul", "Кому", "Pre", "Till", "Kime", "Pour", "Adresat", "Către", "Za",
        "Kam", "Saaja", "Per a", "Kepada", "Đến", "Tới", "Προς", "אל", "إلى", "До",
        "Destinatario", "Destinataire", "Empfänger", "送信先", "宛先", "收件人", "收件者",
        "받는사람", "받는 사람", "Adressaat", "प्रति", "ถึง", "به",
    ),
    "cc": (
        "Cc", "Kopie", "Kopio", "Másolat", "Másolatot kap", "Kopi", "Dw", "Копия", "Kopia",
        "Bilgi", "Копія", "Kópia", "Kopie (CC)", "Copie à", "Kopija", "Koopia", "Cópia",
        "Κοιν", "Κοιν.", "עותק", "نسخة", "抄送", "副本", "참조",
    ),
    "reply_to": (
        "Reply-To", "Reply To", "Odgovori na", "Odpověď na", "Svar til", "Antwoord aan", "Vastaus",
        "Répondre à", "Antwort an", "Válaszcím", "Rispondi a", "Odpowiedź-do", "Responder A",
        "Responder a", "Răspuns către", "Ответ-Кому", "Odpovedať-Pre", "Svara till",
        "Yanıt Adresi", "Кому відповісти",
    ),
    # Lines a client may print inside the block that carry nothing we keep.
    "other": (
        "Bcc", "Cci", "CCO", "Ukryta kopia", "Skrytá kopie", "Importance", "Priority",
        "Wichtigkeit", "Priorität", "Priorité", "Importancia", "Prioridad", "Priorità",
        "Attachments", "Attachment", "Anlagen", "Anhänge", "Pièces jointes", "Datos adjuntos",
        "Allegati", "Bijlagen", "Załączniki", "Bilagor", "Vedlegg", "Vedhæftede filer", "Liitteet",
        "Mellékletek", "Přílohy", "Prílohy", "Anexos", "Sender", "Organization", "Message-ID",
        "Sensitivity", "Categories", "Kategorien",
        # A message's own header fields, when a bounce or a client prints them raw below a
        # separator: kept out of the fields, never guessed at (MIME-Version's "1.0" is no subject).
        "MIME-Version", "Content-Type", "Content-Transfer-Encoding", "Content-ID",
        "Content-Description", "Content-Disposition", "Content-Language", "Return-Path",
        "In-Reply-To", "References", "Resent-Date", "Resent-From", "Resent-To", "Resent-Cc",
        "Resent-Sender", "Resent-Message-ID", "UTC Time",
    ),
}

# Separator titles that only a forward uses ("forwarded", "transféré", "転送" ...).
FORWARD_PHRASES: tuple[str, ...] = (
    "forwarded message", "forwarded e-mail", "forwarded email", "forwarded mail", "fwd.msg",
    "forwarded by",
    "begin forwarded message", "weitergeleitete nachricht", "anfang der weitergeleiteten nachricht",
    "message transféré", "message transmis", "message réexpédié", "début du message réexpédié",
    "début du message transféré", "mensaje reenviado", "inicio del mensaje reenviado",
    "messaggio inoltrato", "inizio messaggio inoltrato", "doorgestuurd bericht",
    "begin doorgestuurd bericht", "przekazana wiadomość", "treść przekazanej wiadomości",
    "początek przekazywanej wiadomości", "wiadomość przekazana dalej", "пересылаемое сообщение",
    "перенаправленное сообщение", "пересланное сообщение", "начало переадресованного сообщения",
    "переслане повідомлення", "перенаправлене повідомлення", "початок листа, що пересилається",
    "přeposlaná zpráva", "začátek přeposílané zprávy", "preposlaná správa",
    "začiatok preposlanej správy", "videresendt meddelelse", "start på videresendt besked",
    "videresendt melding", "videresendt e-post", "vidarebefordrat meddelande",
    "vidarebefordrat mejl", "edelleenlähetetty viesti", "välitetty viesti", "továbbított üzenet",
    "továbbított levél", "mensagem reencaminhada", "início da mensagem reencaminhada",
    "mensagem encaminhada", "início da mensagem encaminhada", "mesaj redirecționat",
    "mesaj redirectionat", "începe mesajul redirecționat", "iletilmiş mesaj", "iletilen ileti",
    "ileti başlangıcı", "proslijeđena poruka", "započni proslijeđenu poruku",
    "prosleđena poruka", "posredovano sporočilo", "препратено съобщение", "persiųstas laiškas",
    "pārsūtīta ziņa", "pārsūtīts ziņojums", "edasi saadetud kiri", "edastatud kiri",
    "áframsent skeyti", "missatge reenviat", "προωθημένο μήνυμα", "הודעה שהועברה",
    "رسالة مُعاد توجيهها", "رسالة معاد توجيهها", "tin nhắn đã chuyển tiếp",
    "pesan yang diteruskan", "pesan terusan", "转发的邮件", "转发邮件", "轉寄的郵件", "轉寄郵件",
    "转发的消息", "転送されたメッセージ", "メッセージを転送", "転送メッセージ", "전달된 메시지",
    "전달된 메일", "전달 메시지", "yönlendirilen ileti", "yönlendirilmiş ileti", "thư đã chuyển tiếp",
    "mesej dimajukan", "пересланий лист", "अग्रेषित संदेश", "ข้อความที่ส่งต่อ", "پیام بازارسال‌شده",
    "پیام بازارسال شده",
)

# Separator titles that replies and forwards share ("Original Message"): evidence, not proof.
ORIGINAL_PHRASES: tuple[str, ...] = (
    "original message", "original-nachricht", "originalnachricht", "ursprüngliche nachricht",
    "message d'origine", "message d’origine", "message original", "mensaje original",
    "messaggio originale", "oorspronkelijk bericht", "origineel bericht",
    "oryginalna wiadomość", "wiadomość oryginalna", "original meddelelse",
    "oprindelig meddelelse", "opprinnelig melding", "ursprungligt meddelande",
    "originalmeddelande", "alkuperäinen viesti", "původní zpráva", "pôvodná správa",
    "исходное сообщение", "оригинальное сообщение", "вихідне повідомлення",
    "оригінальне повідомлення", "mensagem original", "eredeti üzenet", "orijinal ileti",
    "orijinal mesaj", "mesaj original", "mesajul original", "αρχικό μήνυμα", "izvorna poruka",
    "izvorno sporočilo", "originalna poruka", "algne kiri", "originali žinutė",
    "sākotnējā ziņa", "原始邮件", "原始郵件", "原邮件", "원본 메시지", "元のメッセージ",
    "הודעה מקורית", "الرسالة الأصلية",
)

# Framed lines some clients print after the forwarded message ("End of forwarded message").
END_PHRASES: tuple[str, ...] = (
    "end of forwarded message", "end forwarded message", "конец пересылаемого сообщения",
    "кінець пересланого повідомлення", "ende der weitergeleiteten nachricht",
    "fin du message transféré", "fin del mensaje reenviado", "fine messaggio inoltrato",
    "einde doorgestuurd bericht", "koniec przekazywanej wiadomości",
)

# Subject prefixes ("Fwd:", "WG:", "TR:" ...) that say the mail is a forward.
FORWARD_PREFIXES: tuple[str, ...] = (
    "fwd", "fw", "tr", "trs", "wg", "rv", "i", "inoltro", "enc", "vs", "vb", "vl", "pd",
    "doorst", "videresend", "vid", "redir", "redir.", "ilt", "pf", "prosl", "továbbítás",
    "πρθ", "προώθ", "пересл", "пер", "转发", "轉寄", "转寄", "転送", "전달", "הועבר", "tov",
    "إعادة توجيه", "إعادة التوجيه",
)

# Subject prefixes ("Re:", "AW:", "SV:" ...) that say the mail is a reply.
REPLY_PREFIXES: tuple[str, ...] = (
    "re", "aw", "sv", "svar", "antw", "antwort", "odp", "r", "rif", "res", "ynt", "vá", "odg",
    "atb", "ats", "απ", "σχετ", "ответ", "отв", "відп", "回复", "答复", "回覆", "返信", "답장",
    "תגובה", "رد",
)


def fold(text: str) -> str:
    """Case- and space-insensitive form of a label or phrase, for table look-ups.

    Casefolding the Turkish dotted capital I leaves a combining dot; dropping it lets
    "İleti" match "ileti". Non-breaking and narrow spaces (French typography) become spaces.
    """
    if text.isascii():
        return " ".join(text.lower().split())
    folded = unicodedata.normalize("NFC", text).casefold().replace("\u0307", "")
    return " ".join(folded.replace("\u00a0", " ").replace("\u202f", " ").split())


_LABEL_FIELD: dict[str, str] = {
    fold(label): field for field, labels in FIELD_LABELS.items() for label in labels
}


def field_for_label(label: str) -> str | None:
    """The field a printed label stands for ("Betreff" -> "subject"), or None if unknown."""
    return _LABEL_FIELD.get(fold(label.strip(" \t*_\u00a0\u202f")))


class SeparatorKind(enum.Enum):
    """How sure a separator line makes us that a forward follows."""

    FORWARD = "forward"  # says "forwarded" in some language: a forward whatever the subject
    ORIGINAL = "original"  # "Original Message" or a rule line: replies use it too


def _alternation(phrases: tuple[str, ...]) -> re.Pattern[str]:
    return re.compile("|".join(re.escape(fold(p)) for p in sorted(phrases, key=len, reverse=True)))


_FORWARD_PHRASE_RE = _alternation(FORWARD_PHRASES)
_ORIGINAL_PHRASE_RE = _alternation(ORIGINAL_PHRASES)


def phrase_kind(title: str) -> SeparatorKind | None:
    """Classify the words of a separator line ("Forwarded message" -> FORWARD)."""
    folded = fold(title[:300])
    if not folded:
        return None
    if _FORWARD_PHRASE_RE.search(folded):
        return SeparatorKind.FORWARD
    if _ORIGINAL_PHRASE_RE.search(folded):
        return SeparatorKind.ORIGINAL
    return None


class SubjectIntent(enum.Enum):
    """What the forwarding mail's own Subject says about it."""

    UNKNOWN = "unknown"  # no subject given, or an empty one
    FORWARD = "forward"
    REPLY = "reply"
    OTHER = "other"  # a subject without prefix: perhaps edited by the reporter


# A leading "[EXT]"-style tag, then a prefix of one or two words (Outlook Arabic's "إعادة توجيه"),
# an optional "[2]" counter, then a colon.
_PREFIX_RE = re.compile(
    r"^\s*(?:\[[^\]\n]{0,40}\]\s*)?([^\s:：\[\]]{1,12}(?: [^\s:：\[\]]{1,12})?)\s*(?:\[\d{1,3}\]\s*)?[:：]\s*")


def subject_intent(subject: str | None) -> SubjectIntent:
    """Read the first prefix of the forwarding subject ("Fwd: Re: x" is a forward).

    An empty subject says nothing, like a missing one.
    """
    if subject is None or not subject.strip():
        return SubjectIntent.UNKNOWN
    match = _PREFIX_RE.match(subject[:200])
    if match:
        word = fold(match.group(1))
        if word in FORWARD_PREFIXES:
            return SubjectIntent.FORWARD
        if word in REPLY_PREFIXES:
            return SubjectIntent.REPLY
    return SubjectIntent.OTHER


def strip_forward_prefix(subject: str) -> str:
    """The forwarded message's subject as seen in the forwarding subject: one prefix less."""
    match = _PREFIX_RE.match(subject[:200])
    if match and fold(match.group(1)) in FORWARD_PREFIXES:
        return subject[match.end():].strip()
    return subject.strip()


def strip_subject_prefixes(subject: str) -> str:
    """The subject without its forward and reply prefixes ("Re: Fwd: RE: help" -> "help"): what the
    writer typed, not what their mail client added."""
    rest = subject.strip()
    for _ in range(10):
        match = _PREFIX_RE.match(rest[:200])
        if not match or fold(match.group(1)) not in FORWARD_PREFIXES + REPLY_PREFIXES:
            break
        rest = rest[match.end():].strip()
    return rest
