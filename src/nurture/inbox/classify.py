"""What an incoming message is: a person's reply, an automatic answer, a delivery report
(hard or soft bounce) or a complaint report, with what names our send. Pure: bytes in, a
``Classified`` out; no database, no clock.

Order matters: reports first (a DSN or an ARF report carries ``Auto-Submitted`` too), then
non-standard bounces (only for messages that look like they come from a mail system, so a
person who writes "user unknown" is not a bounce), then the auto-reply signals, and what is
left is a person's reply.
"""

from __future__ import annotations

import contextlib
import hashlib
import html
import re
from dataclasses import dataclass, field
from email.header import decode_header, make_header
from email.message import Message
from email.parser import BytesParser, HeaderParser
from email.policy import compat32
from email.utils import getaddresses, parseaddr
from enum import StrEnum

from flufl.bounce import all_failures

from nurture.feedback.service import FeedbackKind
from nurture.leads.events import EventType


class Kind(StrEnum):
    """What a message is, in the words of what it becomes (the event, the feedback kind)."""

    REPLY = EventType.REPLIED  # a person answered
    AUTO_REPLY = EventType.AUTO_REPLY  # out of office, ticket systems, ...
    HARD_BOUNCE = FeedbackKind.HARD_BOUNCE
    SOFT_BOUNCE = FeedbackKind.SOFT_BOUNCE
    COMPLAINT = FeedbackKind.COMPLAINT
    # Nothing to record: a delivery report without a failure (delayed, delivered, relayed),
    # a read receipt, a message no parser could read.
    NOTICE = "notice"


@dataclass
class Classified:
    kind: Kind
    key: str  # what the message is claimed by in receipts: its Message-ID, else a hash
    sender: str = ""  # the From address (a reply's or an auto-reply's author)
    subject: str = ""
    # Message-IDs (bare) that may name our send, best first: In-Reply-To, then References
    # newest first; for reports the original message's.
    refs: list[str] = field(default_factory=list)
    recipient: str = ""  # for reports: the address that bounced or complained
    detail: str = ""  # for reports: status and diagnostic, or the feedback type
    snippet: str = ""  # for replies: the new text, without quotes and signature
    text: str = ""  # for replies: the whole text, to forward (never stored as an event)
    signal: str = ""  # for auto-replies and reports: what gave it away
    sender_name: str = ""  # the From display name
    # The receiving server's Authentication-Results say the From domain is genuine (DMARC
    # pass, or a DKIM pass signed by the From domain): only then does an address-only
    # match count as the lead's reply.
    authenticated: bool = False
    readable: bool = True  # False: no parser could read it (see ``unreadable``)

    def __post_init__(self) -> None:
        # Everything here ends up in a column: PostgreSQL refuses NUL in text and JSONB, and
        # no driver encodes a lone surrogate.
        for name in ("key", "sender", "subject", "recipient", "detail", "snippet", "text"):
            setattr(self, name, clean(getattr(self, name)))
        self.sender_name = clean(self.sender_name)
        self.signal = clean(self.signal)
        self.refs = [c for c in (clean(r) for r in self.refs) if c]


_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def clean(text: str) -> str:
    """``text`` without NUL and lone surrogates (what no database column takes)."""
    return _UNSTORABLE.sub("", text)


_PARSER = BytesParser(policy=compat32)
_ID = re.compile(r"<([^<>\s]+)>")
_KEY_LENGTH = 200  # receipts.key is 255 wide: longer Message-IDs are hashed


def parse(raw: bytes) -> Message:
    return _PARSER.parsebytes(raw)


def header_text(value: object) -> str:
    """A header value as text: raw 8-bit bytes read as UTF-8 (else latin-1), RFC 2047 words
    decoded, whitespace folded."""
    if value is None:
        return ""
    text = str(value)
    if not text.isascii():
        # The parser keeps raw 8-bit bytes as surrogate escapes (in the raw value only:
        # ``msg.get`` would wrap them in a Header that reads as U+FFFD).
        raw = text.encode("utf-8", "surrogateescape")
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            text = raw.decode("latin-1")
    if "=?" in text:
        with contextlib.suppress(ValueError, LookupError, UnicodeError):
            text = str(make_header(decode_header(text)))
    return " ".join(text.split())


def header(msg: Message, name: str) -> str:
    """The first ``name`` header of ``msg`` as text (see ``header_text``), '' when absent."""
    wanted = name.lower()
    for key, value in msg.raw_items():
        if key.lower() == wanted:
            return header_text(value)
    return ""


def message_key(msg: Message, raw: bytes) -> str:
    ids = _ID.findall(header(msg, "Message-ID"))
    if ids and len(ids[0]) <= _KEY_LENGTH:
        return ids[0]
    return "sha256:" + hashlib.sha256(raw).hexdigest()


def message_ids(value: object) -> list[str]:
    """The bare Message-IDs in a header (In-Reply-To, References), in order."""
    return _ID.findall(str(value or ""))


def _address(value: object) -> str:
    return parseaddr(header_text(value))[1].strip().lower()


# --- delivery and feedback reports -------------------------------------------------------


def _report_type(msg: Message) -> str:
    if msg.get_content_type() != "multipart/report":
        return ""
    return str(msg.get_param("report-type") or "").lower()


def _original(msg: Message) -> Message | None:
    """The original message's headers from a report: the message/rfc822 or
    text/rfc822-headers part."""
    for part in msg.walk():
        kind = part.get_content_type()
        if kind in ("message/rfc822", "message/rfc822-headers"):
            payload = part.get_payload()
            if isinstance(payload, list) and payload:
                return payload[0]
            if isinstance(payload, str):
                return HeaderParser(policy=compat32).parsestr(payload)
        if kind == "text/rfc822-headers":
            payload = part.get_payload(decode=True)
            if isinstance(payload, bytes):
                text = payload.decode("utf-8", "replace")
                return HeaderParser(policy=compat32).parsestr(text)
    return None


def _original_refs(msg: Message) -> list[str]:
    original = _original(msg)
    if original is not None and (ids := message_ids(header(original, "Message-ID"))):
        return ids[:1]
    # Reports that quote the original only in their text.
    quoted = re.search(r"^\s*Message-ID:\s*(<[^<>\s]+>)", _all_text(msg), re.I | re.M)
    return message_ids(quoted.group(1)) if quoted else []


def _fields(part: Message) -> list[Message]:
    """The field blocks of a message/delivery-status or message/feedback-report part."""
    payload = part.get_payload()
    if isinstance(payload, list):
        return [p for p in payload if isinstance(p, Message)]
    if isinstance(payload, str):
        return [HeaderParser(policy=compat32).parsestr(b) for b in re.split(r"\n\s*\n", payload)]
    return []


def _rcpt(value: object) -> str:
    """'rfc822; someone@example.com' -> the address."""
    text = header_text(value)
    return parseaddr(text.split(";", 1)[-1])[1].strip().lower()


def _delivery_status(msg: Message, key: str) -> Classified:
    blocks: list[Message] = []
    for part in msg.walk():
        if part.get_content_type() in ("message/delivery-status", "message/global-delivery-status"):
            blocks = _fields(part)
            break
    worst: tuple[int, str, str, str] | None = None  # (rank, status, recipient, diagnostic)
    for block in blocks[1:] or blocks:  # the first block is about the message
        status = header(block, "Status")
        action = header(block, "Action").lower()
        if not status and not action:
            continue
        # "delayed" is a warning, not a failure: MTAs send several before the final
        # "failed" report, which alone counts.
        failed = action == "failed" or (not action and status[:1] in "45")
        rank = 2 if failed and status.startswith("5") else 1 if failed else 0
        recipient = _rcpt(header(block, "Final-Recipient") or header(block, "Original-Recipient"))
        diagnostic = header(block, "Diagnostic-Code")
        if worst is None or rank > worst[0]:
            worst = (rank, status, recipient, diagnostic)
    rank, status, recipient, diagnostic = worst or (0, "", "", "")
    kind = {2: Kind.HARD_BOUNCE, 1: Kind.SOFT_BOUNCE}.get(rank, Kind.NOTICE)
    return Classified(
        kind,
        key,
        subject=header(msg, "Subject"),
        refs=_original_refs(msg),
        recipient=recipient,
        detail=f"{status} {diagnostic}".strip()[:500],
        signal="delivery-status report",
    )


def _feedback_report(msg: Message, key: str) -> Classified:
    feedback_type, recipient = "", ""
    for part in msg.walk():
        if part.get_content_type() == "message/feedback-report":
            for block in _fields(part):
                feedback_type = feedback_type or header(block, "Feedback-Type")
                recipient = recipient or _rcpt(header(block, "Original-Rcpt-To"))
            break
    original = _original(msg)
    if not recipient and original is not None:
        recipient = next((a.lower() for _, a in getaddresses([header(original, "To")])), "")
    return Classified(
        Kind.COMPLAINT,
        key,
        subject=header(msg, "Subject"),
        refs=_original_refs(msg),
        recipient=recipient,
        detail=f"feedback-type {feedback_type or 'unknown'}",
        signal="feedback report",
    )


# Who and what a mail system's bounce comes from; only these go through flufl.bounce's
# heuristics, which would read "user unknown" in a person's text as a bounce.
_DAEMON = re.compile(r"^(mailer-daemon|postmaster|mail-daemon|mailer|mdaemon|bounce)", re.I)
_BOUNCE_SUBJECT = re.compile(
    r"undeliver|undelivered|delivery (status|failure|has failed|notification)|failure notice|"
    r"returned mail|mail delivery|could not be delivered|nicht zustellbar|unzustellbar|"
    r"olevererbar|kunde inte levereras",
    re.I,
)


def _looks_like_bounce(msg: Message) -> bool:
    if _DAEMON.match(_address(header(msg, "From"))):
        return True
    if str(msg.get("Return-Path", "")).strip() == "<>":
        return True
    return bool(_BOUNCE_SUBJECT.search(header(msg, "Subject")))


def _nonstandard_bounce(msg: Message, key: str) -> Classified | None:
    temporary, permanent = all_failures(msg)
    if not temporary and not permanent:
        return None
    hard = bool(permanent)
    addresses = sorted(permanent or temporary)
    return Classified(
        Kind.HARD_BOUNCE if hard else Kind.SOFT_BOUNCE,
        key,
        subject=header(msg, "Subject"),
        refs=_original_refs(msg),
        recipient=addresses[0].decode("ascii", "replace").lower(),
        detail=("permanent" if hard else "temporary") + " failure (non-standard bounce)",
        signal="bounce",
    )


# --- automatic answers --------------------------------------------------------------------

_AUTO_SUBJECT = re.compile(
    r"^\s*(?:(?:re|aw|sv|wg|fw|fwd)\s*:\s*)*(?:"
    r"abwesenheitsnotiz|abwesenheitsassistent|automatische antwort|"
    r"ich bin (?:derzeit )?nicht im büro|"
    r"out of (?:the )?office|automatic reply|auto[- ]?reply|auto[- ]?response|"
    r"autoreply|vacation reply|"
    r"frånvaro|frånvarande|autosvar|automatiskt svar"
    r")\b",
    re.I,
)


def auto_reply_signal(msg: Message) -> str:
    """Why ``msg`` is an automatic answer (the header or subject), or '' when it is not."""
    submitted = header(msg, "Auto-Submitted").split(";", 1)[0].strip().lower()
    if submitted and submitted != "no":
        return f"Auto-Submitted: {submitted}"
    for name in ("X-Autoreply", "X-Autorespond"):
        if msg.get(name) is not None:
            return name
    precedence = header(msg, "Precedence").lower()
    if precedence in ("auto_reply", "bulk", "junk"):
        return f"Precedence: {precedence}"
    if _AUTO_SUBJECT.match(header(msg, "Subject")):
        return "subject"
    return ""


# --- a person's text ---------------------------------------------------------------------

# Where the quoted original starts in the common mail clients (English, German, Swedish).
_QUOTE_HEAD = re.compile(
    r"^\s*(?:"
    r"on\b.{0,200}\bwrote:|am\b.{0,200}\bschrieb\b.{0,200}:|den\b.{0,200}\bskrev\b.{0,200}:|"
    r"-{2,}\s*(?:original message|ursprüngliche nachricht|ursprungligt meddelande|"
    r"forwarded message|weitergeleitete nachricht|vidarebefordrat meddelande)\s*-{2,}|"
    r"_{10,}|"
    r"(?:from|von|från):\s.+"
    r")\s*$",
    re.I,
)
# Where a signature or a sign-off starts.
_SIGNATURE = re.compile(
    r"^\s*(?:--\s*|"
    r"(?:mit )?(?:freundlichen|besten|herzlichen|viele|liebe|beste) grü(?:ß|ss)en?\b.*|"
    r"(?:best|kind|warm)(?: regards)?,?|regards,?|cheers,?|thanks,?|"
    r"med vänliga hälsningar\b.*|vänliga hälsningar\b.*|mvh\b.*|hälsningar\b.*|"
    r"sent from my \w+.*|von meinem \w+ gesendet.*|skickat från min \w+.*"
    r")\s*$",
    re.I,
)
# HTML to text in linear time whatever the input (mail is hostile): a tag cannot contain
# "<" or ">", so a match attempt stops at the next one of them and no character is scanned
# by more than two attempts; script and style blocks are cut by searching their end tag (a
# fixed string) from where the block starts, and the next search starts after it.
_TAG = re.compile(r"<[^<>]*>")
_BLOCK = re.compile(r"<(?:br|/p|/div|/li|/tr|/h\d)\b[^<>]*>", re.I)
_HIDDEN = re.compile(r"<(script|style)\b", re.I)
_HIDDEN_END = {"script": re.compile(r"</script", re.I), "style": re.compile(r"</style", re.I)}
SNIPPET = 300


def html_text(markup: str) -> str:
    """The text of an HTML body: script and style blocks dropped (an unclosed one runs to
    the end, as in a browser), a line break for a block's end, other tags removed."""
    kept: list[str] = []
    pos = 0
    while (start := _HIDDEN.search(markup, pos)) is not None:
        kept.append(markup[pos : start.start()])
        end = _HIDDEN_END[start.group(1).lower()].search(markup, start.end())
        close = markup.find(">", end.end()) if end is not None else -1
        if close < 0:
            pos = len(markup)
            break
        pos = close + 1
    kept.append(markup[pos:])
    return html.unescape(_TAG.sub("", _BLOCK.sub("\n", "".join(kept))))


def _decoded(part: Message) -> str:
    payload = part.get_payload(decode=True)
    if not isinstance(payload, bytes):
        return ""
    charset = part.get_content_charset() or "utf-8"
    try:
        return payload.decode(charset, "replace")
    except LookupError:
        return payload.decode("utf-8", "replace")


def body_text(msg: Message) -> str:
    """The message's text: its first text/plain part, else its HTML as text."""
    html_part = None
    for part in msg.walk():
        if part.is_multipart() or part.get_filename():
            continue
        kind = part.get_content_type()
        if kind == "text/plain":
            return _decoded(part).replace("\r\n", "\n")
        if kind == "text/html" and html_part is None:
            html_part = part
    if html_part is None:
        return ""
    return html_text(_decoded(html_part)).replace("\r\n", "\n")


def _all_text(msg: Message) -> str:
    return "\n".join(
        _decoded(p)
        for p in msg.walk()
        if p.get_content_maintype() == "text" and not p.is_multipart()
    )


def snippet(text: str, limit: int = SNIPPET) -> str:
    """What the person wrote: up to the quoted original or the signature, without quoted
    lines, whitespace folded, at most ``limit`` characters."""
    kept: list[str] = []
    for line in text.split("\n"):
        if _QUOTE_HEAD.match(line):
            break
        # A sign-off ends the text, unless nothing came before it ("Thanks," alone).
        if _SIGNATURE.match(line) and any(k.strip() for k in kept):
            break
        if line.lstrip().startswith(">"):
            continue
        kept.append(line)
    folded = " ".join(" ".join(kept).split())
    if len(folded) <= limit:
        return folded
    return folded[: limit - 1].rsplit(" ", 1)[0] + "…"


def _refs(msg: Message) -> list[str]:
    direct = message_ids(header(msg, "In-Reply-To"))
    earlier = list(reversed(message_ids(header(msg, "References"))))
    return list(dict.fromkeys(direct + earlier))


# --- is the sender who the From says? -------------------------------------------------------

_COMMENT = re.compile(r"\([^()]*\)")


def _aligned(domain: str, from_domain: str) -> bool:
    """Relaxed alignment (RFC 7489): the same domain, or one is a subdomain of the other."""
    domain, from_domain = domain.lower().strip("."), from_domain.lower().strip(".")
    return bool(domain) and (
        domain == from_domain
        or from_domain.endswith("." + domain)
        or domain.endswith("." + from_domain)
    )


def authenticated(msg: Message, sender: str) -> bool:
    """Whether our receiving server vouches for the From domain: ``dmarc=pass`` for it, or
    ``dkim=pass`` with a signing domain aligned with it, in the topmost
    ``Authentication-Results`` (RFC 8601; the one our server added last, above anything the
    sender wrote)."""
    results = header(msg, "Authentication-Results")
    from_domain = sender.rpartition("@")[2]
    if not results or not from_domain:
        return False
    for resinfo in _COMMENT.sub("", results).split(";")[1:]:  # the first is the server's id
        words = resinfo.split()
        if not words or "=" not in words[0]:
            continue
        method, _, result = words[0].lower().partition("=")
        props = dict(w.lower().split("=", 1) for w in words[1:] if "=" in w)
        if result != "pass":
            continue
        if method == "dmarc" and _aligned(props.get("header.from", from_domain), from_domain):
            return True
        signer = props.get("header.d") or props.get("header.i", "").rpartition("@")[2]
        if method == "dkim" and _aligned(signer, from_domain):
            return True
    return False


# --- all together ------------------------------------------------------------------------


def classify(msg: Message, raw: bytes) -> Classified:
    key = message_key(msg, raw)
    report = _report_type(msg)
    if report == "delivery-status":
        return _delivery_status(msg, key)
    if report == "feedback-report":
        return _feedback_report(msg, key)
    if report == "disposition-notification":  # a read receipt (MDN, RFC 8098): no answer
        return Classified(Kind.NOTICE, key, signal="read receipt")
    if _looks_like_bounce(msg) and (bounce := _nonstandard_bounce(msg, key)):
        return bounce
    name, sender = parseaddr(header(msg, "From"))
    sender = sender.strip().lower()
    subject = header(msg, "Subject")
    who = {"sender_name": name, "authenticated": authenticated(msg, sender)}
    if signal := auto_reply_signal(msg):
        return Classified(Kind.AUTO_REPLY, key, sender, subject, _refs(msg), signal=signal, **who)
    text = body_text(msg)
    return Classified(
        Kind.REPLY, key, sender, subject, _refs(msg), snippet=snippet(text), text=text, **who
    )


def classify_bytes(raw: bytes) -> Classified:
    return classify(parse(raw), raw)


def unreadable(raw: bytes, exc: BaseException) -> Classified:
    """A message no parser could read: claimed (so it is not read forever) and counted."""
    return Classified(
        Kind.NOTICE,
        "sha256:" + hashlib.sha256(raw).hexdigest(),
        signal=f"unreadable: {exc}"[:500],
        readable=False,
    )
