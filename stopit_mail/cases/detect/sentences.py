"""Clean a report down to the writer's own words and cut it into sentences for the model.

The model compares *sentences* with reviewed example sentences, so what it reads must be what a
person wrote about the incident: quoted replies ("> ..." and "On Monday, X wrote:"), signatures
("-- "), legal disclaimers, and forwarding headers (From:/Sent:/To:/Subject: blocks, "Forwarded
message" lines) are stripped first. The evidence extraction (``stopit_mail.extract``) has already
taken forwarded and attached messages apart; this is the last tidy-up of each text it produced.

A sentence's *cache key* folds case, spacing and punctuation, so a flood of near-identical reports
(a viral threat forwarded a thousand times) is embedded once.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from stopit_mail.extract.forward_headers import read_block, split_quote
from stopit_mail.extract.forward_patterns import phrase_kind, strip_subject_prefixes

# Bound the model's work on a pathological report; the rules still read every character. The
# model's CPU grows with the tokens it reads (about a millisecond each on a busy core), and a
# 200,000-character report in Chinese with no full stop was one "word" of 184,000 tokens: minutes
# of CPU, past the worker's time budget. A piece is cut at MAX_WORDS words or MAX_CHARS characters
# (about 250 tokens in Chinese, so a sentence and its neighbour fit the model's 512-token window);
# the longest sentence of the dev set is 211 characters.
MAX_SENTENCES = 60
MAX_WORDS = 40
MAX_CHARS = 250
# What the model reads of one report, in UTF-8 bytes of its sentences and joined pairs (about a
# quarter to a third of a token each: 2,000-2,700 tokens, two or three seconds of a busy core).
# The dev set's largest report (2,372 bytes, wrapped as mail) is under a third of this; a longer
# one is read in part and raised to at least urgent (see ``Detector.assess``).
MODEL_BUDGET_BYTES = 8_000

# "On <date>, <name> wrote:" as mail clients write it in the bank's languages; a real one always
# carries a date or an address, so "and he wrote:" before the writer's own quote stays.
_ATTRIBUTION = re.compile(
    r"^\s*(?=.*(?:@|\d))(?:on\b.{0,200}\bwrote|el\b.{0,200}\bescribió|le\b.{0,200}\ba écrit"
    r"|am\b.{0,200}\bschrieb\b.{0,200}|em\b.{0,200}\bescreveu|il\b.{0,200}\bha scritto"
    r"|w dniu\b.{0,200}\bnapisał\(?a?\)?|.{0,200}\b(?:пишет|написал\(?а?\)?|пише|написав\(?ла\)?)"
    r"|vào\b.{0,200}\bđã viết|.{0,200}\bşunu yazdı|.{0,200}(?:写道|寫道|のメッセージ|님이 작성|كتب)"
    r"|.{0,200}\d.{0,200}<[^\s<>@]+@[^\s<>]+>)\s*[:：]\s*$",
    re.IGNORECASE)
# A signature's or a mobile client's line: what follows it is the sender's machinery, not words.
_SIGNATURE = re.compile(
    r"^(--|__+)\s*$|^\s*(?:sent from (?:my|outlook|yahoo|mail for)\b|get outlook for\b|enviado (?:desde|do|de) m"
    r"|envoyé de mon\b|von meinem .{0,30}gesendet|inviato da\b|wysłane z\b|отправлено (?:с|из)\b"
    r"|надіслано з\b|从我的|從我的|\S*(?:から送信|에서 보냄))", re.IGNORECASE)
# A mailing list's or newsletter's footer: the unsubscribe line and what follows it. The words
# alone are not enough ("she wants to unsubscribe from life", "sich für immer abmelden" are how
# teens write of suicide): the line must also speak of mail, a link or a list.
_LIST_FOOTER = re.compile(
    r"\b(?:unsubscribe|you are receiving this|you received this (?:e-?mail|message) because|to stop receiving"
    r"|manage (?:your )?(?:e-?mail )?(?:preferences|subscription)|update your (?:e-?mail )?preferences"
    r"|darse de baja|cancelar (?:a )?(?:sua )?inscrição|descadastr|se désabonner|se désinscrire|désabonnement"
    r"|abmelden|abbestellen|annulla l'iscrizione|wypisz się|отписаться|відписатися|hủy đăng ký"
    r"|退订|取消订阅|配信停止|수신 ?거부)", re.IGNORECASE)
_MAIL_MACHINERY = re.compile(
    r"https?://|www\.|@|\b(?:click|here|aquí|ici|hier|qui|tutaj|здесь|тут|link|e-?mails?|newsletter|mailing"
    r"|list[ae]?|preferences|preferencias|préférences|einstellungen|correo|courriel|boletín|bulletin"
    r"|рассылк\w*|розсилк\w*)\b|邮件|メール|메일", re.IGNORECASE)


def is_list_footer(line: str) -> bool:
    """Whether ``line`` is a mailing list's unsubscribe footer (not a writer's "log off forever")."""
    return bool(_LIST_FOOTER.search(line)) and bool(_MAIL_MACHINERY.search(line))


_DISCLAIMER = re.compile(
    r"^\s*(confidentiality notice|disclaimer|this (e-?mail|message)(?: and any attachments?)? (is|are|may be) "
    r"(confidential|intended)|the information (contained )?in this (e-?mail|message)|este (correo|mensaje) "
    r"(es|y sus anexos son) confidencial|if you are not the intended recipient)", re.IGNORECASE)
# A line that is only an email's closing or opening formula ("Best regards,", "Dear families,").
# e5 puts a bare "Best regards," at 0.88 from reviewed goodbyes ("take care of my cat, thanks for
# everything, bye"): every signed email reached the reviewer. Only formal formulas, whole lines,
# and only that line is dropped (what follows is read: "thanks\ni took them all" keeps its second
# line). Goodbyes a person in crisis writes ("bye", "take care", "see you in another life") are
# never in these lists; the rules read every line regardless.
_VALEDICTIONS = frozenset("""
best regards|kind regards|warm regards|warmest regards|regards|best wishes|sincerely|yours sincerely|
sincerely yours|yours truly|respectfully|cheers|best|all the best|many thanks|thanks in advance|
thank you|thanks|thx|ty|
saludos|saludos cordiales|un saludo|atentamente|cordialmente|muchas gracias|gracias|
cordialement|bien cordialement|bien à vous|salutations|sincères salutations|merci|merci beaucoup|
mit freundlichen grüßen|mit freundlichen grüssen|freundliche grüße|viele grüße|beste grüße|liebe grüße|mfg|lg|danke|
atenciosamente|cumprimentos|melhores cumprimentos|obrigado|obrigada|
cordiali saluti|distinti saluti|saluti|grazie|
z poważaniem|pozdrawiam|dziękuję|
saygılarımla|teşekkürler|teşekkür ederim|
с уважением|спасибо|з повагою|дякую|
trân trọng|cảm ơn|xin cảm ơn|salamat|salamat po|maraming salamat po|
此致敬礼|此致|敬礼|谢谢|谢谢您|よろしくお願いします|よろしくお願いいたします|감사합니다|
مع التحية|تحياتي|مع خالص التحية|شكرا|شكرا لكم|با احترام|با تشکر|ممنون|شکریہ|
dhanyavaad|धन्यवाद|सादर|mèsi|mahadsanid
""".replace("\n", "").split("|"))
# Opening formulas: a formal one with up to three words after it and a closing comma or colon
# ("Dear Ms. Smith,", "Kính gửi thầy cô,", "尊敬的王老师："), an informal one alone or with one word
# ("Hi all,", "Hello po,", "السلام عليكم،", "안녕하세요"). "dear mom im sorry" and "hi i'm dying" are the
# writer's words and stay. Words that also say goodbye ("ciao", "salut", "cześć", "chào") are left
# out: "ciao tutti" may be the last thing someone writes.
_SALUTATION = re.compile(
    r"^\s*(?:(?:dear|good (?:morning|afternoon|evening)|buenos días|buenas tardes|estimad[oa]s?|querid[oa]s?|"
    r"cher|chère|chers|madame|monsieur|sehr geehrte[rs]?|liebe[rs]?|guten tag|prezad[oa]s?|car[oaie]|gentil[ei]|"
    r"egregi[oa]|dzień dobry|szanown[iya]|sayın|değerli|здравствуйте|добрый день|доброго дня|уважаем\w*|шановн\w*|"
    r"xin chào|kính gửi|thưa|عزيز\w*|السيد\w*|尊敬的|亲爱的|親愛的|magandang (?:umaga|hapon|gabi))"
    r"(?:\s*[^\s!?,:;،，：]+){0,3}\s*[,:،，：]"
    r"|(?:hi|hello|hey|hola|bonjour|bonsoir|hallo|olá|oi|buongiorno|buonasera|witam|merhaba|selam|"
    r"привет|привіт|вітаю|kumusta|bonjou|bonswa|salaan|salam|salaam|assalamu ?alaikum|as-salamu alaykum|"
    r"سلام|السلام عليكم|السلام علیکم|مرحبا|أهلا|नमस्ते|नमस्कार|namaste|你好|您好|老师好|老师您好|大家好|"
    r"こんにちは|お疲れさまです|お疲れ様です|お世話になっております|안녕하세요)"
    r"(?:\s+[^\s!?,:;.،，。]+)?\s*[,!:،，、。！]?)\s*$",
    re.IGNORECASE)


# Capitalised words a writer in crisis may put on their own line under "Thanks": never a name.
_NOT_NAMES = frozenset("i i'm im sorry bye goodbye love help please pls forever always miss xoxo".split())


def is_name_line(line: str) -> bool:
    """Whether ``line`` reads as a sender's name or title signed under a closing formula ("Best
    regards,\nMaria Lopez\nFront Office"): one to three capitalised words, no digits, no sentence
    end, no word in capitals ("HELP")."""
    words = line.split()
    if any(w.casefold().strip(",.!?") in _NOT_NAMES for w in words):
        return False
    return 1 <= len(words) <= 3 and len(line) <= 40 and all(w[0].isupper() for w in words) \
        and not any(len(w) > 1 and w.isupper() or any(c.isdigit() for c in w) for w in words) \
        and not line.rstrip().endswith((".", "!", "?"))


def is_closing(line: str) -> bool:
    """Whether ``line`` is only a closing formula ("Best regards,", "Mit freundlichen Grüßen")."""
    return " ".join(line.casefold().replace("’", "'").split()).strip(" ,.!:;-–—،，。") in _VALEDICTIONS


# Sentence ends: Latin, CJK, Arabic, Devanagari and Burmese marks; line breaks always end one.
# A title's full stop ("Ms. R", "Dr. Lee", "Sra. Gómez") ends no sentence: cut there, the person
# would be read apart from what they did.
_TITLE_STOP = (r"(?<!\b[Mm]r\.)(?<!\b[Mm]rs\.)(?<!\b[Mm]s\.)(?<!\b[Dd]r\.)(?<!\bProf\.)(?<!\bSt\.)"
               r"(?<!\bMme\.)(?<!\bMlle\.)(?<!\bSra\.)(?<!\bSr\.)(?<!\bHr\.)(?<!\bFr\.)")
_SENTENCE_END = re.compile(r"(?<=[.!?…。！？؟।။])" + _TITLE_STOP + r"[\"'”’)\]]*\s+|(?<=[。！？])|\n+")
# Punctuation and spacing fold away in a cache key; pictographs and emoji do not. They are words in
# a teen's report: "💊💊 bye" and "bye", or "he sent 🔫🏫" and "he sent", are not the same sentence,
# and folding them together let whichever came first decide the other's vote (and dropped the
# second as a repeat within one report).
_PICTOGRAPHS = "\u2190-\u2bff\U0001f000-\U0001faff"
_FOLD = re.compile(rf"(?:(?![{_PICTOGRAPHS}])[\W_])+", re.UNICODE)
# Emoji that carry the danger in a report of one line ("🪦🔪🩸 gn forever", "🔫🏫 tmrw"), glossed in
# words for the model: e5 reads them as noise (alone, "🪦🔪🩸" and "he sent 🔫🏫" came out routine),
# while "grave knife blood" sits among the reviewed self-harm examples. Only unambiguous pictures of
# a means or a place: 💀, ☠️ and 😭 are how teens laugh, 🔥 and 💥 how they cheer, 💣 and 🧨 how they
# praise food ("the bomb 💣😂", glossed it reached the reviewer), and stay as written.
_EMOJI_WORDS = {
    "🔫": "gun", "🔪": "knife", "🗡": "dagger", "💊": "pills",
    "🩸": "blood", "🪦": "grave", "⚰": "coffin", "⚱": "funeral urn", "🪢": "rope", "🏫": "school",
}
_EMOJI_RUN = re.compile("(?:[" + "".join(_EMOJI_WORDS) + "][\ufe0f\u200d]*)+")


# A line holding only this ends one message's text and begins another's: the reporter's own words,
# then a forwarded message (``processing.rules.report_text`` joins them with it, ``clean_text`` puts
# it where it drops a forward's header block). Two sentences either side of it are never joined into
# one pair for the model: "she acts like she doesn't care" and a newsletter's "Picture day is moved
# to Thursday" are not one thought.
PART_BREAK = "\f"


@dataclass(frozen=True)
class Sentence:
    """One sentence of a report: its text as written, where it came from (body or subject), and
    which message of the report it belongs to (``part``: 0, then one more after each PART_BREAK)."""

    text: str
    field: str = "body"
    part: int = 0

    @property
    def key(self) -> str:
        """The normalised form used by the per-process caches."""
        return cache_key(self.text)


def cache_key(text: str) -> str:
    """Case, spacing and punctuation folded: "I'll do it TONIGHT!!" == "ill do it tonight"."""
    folded = unicodedata.normalize("NFKC", text).casefold().replace("'", "").replace("’", "")
    return _FOLD.sub(" ", folded).strip()


def gloss_emoji(text: str) -> str:
    """``text`` with each run of danger emoji followed by its words: "sent 🪦🔪 and" -> "sent 🪦🔪 (grave
    knife) and". What the model reads and staff see quoted; the rules read the report as written."""
    def words(run: re.Match[str]) -> str:
        glossed = [_EMOJI_WORDS[ch] for ch in run.group() if ch in _EMOJI_WORDS]
        return f"{run.group()} ({' '.join(dict.fromkeys(glossed))})"
    return _EMOJI_RUN.sub(words, text)


def clean_text(text: str) -> str:
    """The writer's own words: quoted replies, signatures, disclaimers, forwarding headers removed."""
    lines = (text or "").replace("\r\n", "\n").replace("\r", "\n").split("\n")
    kept: list[str] = []
    boilerplate = False
    signed = 0  # lines under a closing formula that may still be the sender's name and title
    index = 0
    while index < len(lines):
        line = lines[index]
        block = read_block(lines, index) if ":" in line[:40] else None
        if block is not None and len(block.fields) >= 2:
            # A forwarded message's header block: its body that follows is the writer's again.
            index, boilerplate, signed = max(block.end_line, index + 1), False, 0
            _break(kept)
            continue
        index += 1
        if _SIGNATURE.match(line) or _DISCLAIMER.match(line) or is_list_footer(line):
            boilerplate = True
        elif boilerplate and len(line.split()) >= 12:
            # A long line after a sign-off is a new message (a forward), not part of it.
            boilerplate = False
        if PART_BREAK in line and not line.strip():
            # The next message's text (a forwarded original is evidence): the sign-off above was not its.
            boilerplate, signed = False, 0
            _break(kept)
            continue
        if not line.strip():
            continue
        if signed and is_name_line(line):
            signed -= 1
            continue
        closing = is_closing(line)  # only a closing or opening formula: no words of the writer's own
        signed = 2 if closing else 0
        if _is_separator(line):
            _break(kept)
            continue
        if boilerplate or closing or split_quote(line)[0] or _ATTRIBUTION.match(line) or _SALUTATION.match(line):
            continue
        kept.append(line)
    return "\n".join(kept).strip()


def _break(kept: list[str]) -> None:
    """Mark where one message's text ends (once, and not before any text)."""
    if kept and kept[-1] != PART_BREAK:
        kept.append(PART_BREAK)


def _is_separator(line: str) -> bool:
    """"---- Forwarded message ----", "Begin forwarded message:", "-----Original Message-----"."""
    stripped = line.strip()
    if not stripped or len(stripped) > 80 or not (stripped[0] in "-_=*<" or stripped.endswith(":")):
        return False
    return phrase_kind(stripped.strip("-_=*<>: ")) is not None


def split_sentences(text: str, field: str = "body") -> list[Sentence]:
    """Sentences of ``text`` (already cleaned), long ones cut into pieces of at most MAX_WORDS
    words and MAX_CHARS characters."""
    found: list[Sentence] = []
    # Cut at the part breaks first: after a full stop, "\s+" would swallow one as a mere space.
    for part, chunk in enumerate((text or "").split(PART_BREAK)):
        for piece in _SENTENCE_END.split(chunk):
            words = piece.split()
            if not words or not any(ch.isalnum() or ord(ch) > 0x2000 for ch in piece):
                continue
            for cut in _pieces(words):
                found.append(Sentence(gloss_emoji(cut), field, part))
                if len(found) >= MAX_SENTENCES:
                    return found
    return found


def _pieces(words: list[str]) -> list[str]:
    """``words`` joined into pieces of at most MAX_WORDS words and MAX_CHARS characters; a word
    longer than MAX_CHARS (a script written without spaces) is itself cut."""
    if len(words) <= MAX_WORDS and sum(map(len, words)) + len(words) - 1 <= MAX_CHARS:
        return [" ".join(words)]  # the usual sentence: within both limits, one piece
    pieces: list[str] = []
    current: list[str] = []
    size = 0
    for word in words:
        for start in range(0, len(word), MAX_CHARS):
            part = word[start:start + MAX_CHARS]
            if current and (len(current) >= MAX_WORDS or size + 1 + len(part) > MAX_CHARS):
                pieces.append(" ".join(current))
                current, size = [], 0
            size += len(part) + (1 if current else 0)
            current.append(part)
    if current:
        pieces.append(" ".join(current))
    return pieces


def report_sentences(text: str, subject: str = "") -> list[Sentence]:
    """The subject's and the cleaned body's sentences, in order, without repeats."""
    sentences = split_sentences(strip_subject_prefixes(subject or ""), "subject") + split_sentences(clean_text(text), "body")
    seen: set[str] = set()
    unique = []
    for sentence in sentences:
        key = sentence.key
        if key and key not in seen:
            seen.add(key)
            unique.append(sentence)
    return unique[:MAX_SENTENCES]


# Han, kana and hangul: a word is about 2.5 of these characters (zh/ja write no spaces between words).
_DENSE_SCRIPT = re.compile(r"[\u3040-\u30ff\u3400-\u9fff\uac00-\ud7af]")
_WORD = re.compile(r"\w+")


def word_count(text: str) -> float:
    """About how many words ``text`` holds, in any script: words between spaces and punctuation, or
    for text mostly in Han, kana or hangul its characters over 2.5."""
    dense = len(_DENSE_SCRIPT.findall(text))
    return dense / 2.5 if dense >= 3 else float(len(_WORD.findall(text)))
