//! The messaging pages' strings (inbox, conversation, compose, reports, blocked users,
//! navigation) and the messaging problem titles, in English and Estonian.

/// The messaging context's catalog entries.
pub const CATALOG: &[(&str, &str, &str)] = &[
    // Problem titles of the messaging codes.
    (
        "err.recipient_unavailable",
        "This user cannot receive your messages",
        "See kasutaja ei saa sinu sõnumeid vastu võtta",
    ),
    (
        "err.blocked_by_you",
        "You have blocked this user; unblock them to write",
        "Oled selle kasutaja blokeerinud; kirjutamiseks eemalda blokeering",
    ),
    // Field names and codes of the messaging forms.
    ("field.payload", "Message", "Sõnum"),
    ("field.to", "To", "Saaja"),
    ("field.target", "Recipient", "Saaja"),
    (
        "fielderr.self",
        "cannot be yourself",
        "ei saa olla sina ise",
    ),
    (
        "fielderr.invalid_utf8",
        "is not valid text",
        "ei ole korrektne tekst",
    ),
    (
        "fielderr.unsupported",
        "is not supported",
        "ei ole toetatud",
    ),
    ("fielderr.too_large", "is too large", "on liiga suur"),
    (
        "fielderr.invalid_base64",
        "is not valid base64",
        "ei ole korrektne base64",
    ),
    // Pages.
    ("msg.nav", "Messages", "Sõnumid"),
    ("msg.inbox", "Messages", "Sõnumid"),
    ("msg.empty", "No conversations yet.", "Vestlusi veel pole."),
    ("msg.new", "New message", "Uus sõnum"),
    ("msg.to", "To (username)", "Saaja (kasutajanimi)"),
    ("msg.body", "Message", "Sõnum"),
    ("msg.send", "Send", "Saada"),
    ("msg.unread", "unread", "lugemata"),
    ("msg.with", "Conversation with", "Vestlus kasutajaga"),
    ("msg.you", "You", "Sina"),
    ("msg.older", "Older messages", "Vanemad sõnumid"),
    ("msg.newest", "Newest messages", "Uusimad sõnumid"),
    ("msg.more", "More conversations", "Veel vestlusi"),
    (
        "msg.encrypted",
        "Encrypted message (open it in an app that holds your keys)",
        "Krüpteeritud sõnum (ava see rakenduses, kus on sinu võtmed)",
    ),
    ("msg.seen", "Seen", "Nähtud"),
    ("msg.report", "Report", "Teata"),
    (
        "msg.report_reason",
        "Why are you reporting this message?",
        "Miks sa sellest sõnumist teatad?",
    ),
    ("msg.block", "Block this user", "Blokeeri see kasutaja"),
    (
        "msg.block_hint",
        "A blocked user cannot message you, and you cannot message them.",
        "Blokeeritud kasutaja ei saa sulle kirjutada ega sina talle.",
    ),
    ("msg.blocked", "Blocked users", "Blokeeritud kasutajad"),
    (
        "msg.blocked_none",
        "You have not blocked anyone.",
        "Sa pole kedagi blokeerinud.",
    ),
    ("msg.blocked_since", "Blocked since", "Blokeeritud alates"),
    ("msg.unblock", "Unblock", "Eemalda blokeering"),
    (
        "msg.unknown_user",
        "No such user.",
        "Sellist kasutajat pole.",
    ),
    ("notice.message_sent", "Message sent.", "Sõnum saadetud."),
    (
        "notice.message_reported",
        "Thank you. Staff will look at the message.",
        "Aitäh. Töötajad vaatavad sõnumi üle.",
    ),
    (
        "notice.user_blocked",
        "User blocked.",
        "Kasutaja blokeeritud.",
    ),
    (
        "notice.user_unblocked",
        "Block removed.",
        "Blokeering eemaldatud.",
    ),
];
