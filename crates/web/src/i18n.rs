//! Message catalogs (F1): every UI string and error message in English and Estonian.
//! Language comes from the user's setting, else `Accept-Language`, else English.

use std::collections::HashMap;
use std::sync::OnceLock;

/// A supported language.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Lang {
    /// English (default).
    #[default]
    En,
    /// Estonian.
    Et,
}

impl Lang {
    /// BCP 47 tag.
    pub fn tag(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::Et => "et",
        }
    }
    /// Parses a stored setting.
    pub fn from_tag(tag: &str) -> Option<Lang> {
        match tag.trim().to_ascii_lowercase().split(['-', '_']).next() {
            Some("en") => Some(Lang::En),
            Some("et") => Some(Lang::Et),
            _ => None,
        }
    }
    /// Picks the best supported language from an `Accept-Language` header, honouring
    /// q-values; malformed parts are skipped.
    pub fn negotiate(header: Option<&str>) -> Lang {
        let Some(h) = header else { return Lang::En };
        let mut best: Option<(f32, Lang)> = None;
        for part in h.split(',').take(16) {
            let mut it = part.split(';');
            let tag = it.next().unwrap_or("").trim();
            let q = it
                .find_map(|p| p.trim().strip_prefix("q="))
                .and_then(|q| q.parse::<f32>().ok())
                .unwrap_or(1.0);
            if let Some(l) = Lang::from_tag(tag) {
                if q > 0.0 && best.is_none_or(|(bq, _)| q > bq) {
                    best = Some((q, l));
                }
            }
        }
        best.map(|(_, l)| l).unwrap_or_default()
    }
}

/// One catalog entry: (key, English, Estonian).
pub type Entry = (&'static str, &'static str, &'static str);

/// The shared entries (layout, field and error codes); each context keeps its own
/// pages' entries next to its pages, and `crate::CATALOGS` lists them all.
pub const SHARED: &[Entry] = &[
    // Layout and pages.
    ("app.name", "Rampart", "Rampart"),
    ("nav.home", "Home", "Avaleht"),
    ("nav.login", "Log in", "Logi sisse"),
    ("nav.register", "Register", "Registreeru"),
    ("nav.logout", "Log out", "Logi välja"),
    ("nav.settings", "Settings", "Seaded"),
    ("nav.skip", "Skip to content", "Liigu sisu juurde"),
    ("home.title", "A marketplace that is secure by default", "Turvaline turuplats vaikimisi"),
    (
        "home.lead",
        "Sellers run stores, buyers check out or buy with escrow, and every security baseline is built in.",
        "Müüjad peavad poode, ostjad maksavad või ostavad deposiidiga ning kõik turvanõuded on sisse ehitatud.",
    ),
    ("home.welcome", "Signed in as", "Sisse logitud kasutajana"),
    ("footer.text", "Rampart — secure marketplace backend", "Rampart — turvaline turuplatsi taustsüsteem"),
    ("error.page_title", "Something went wrong", "Midagi läks valesti"),
    ("error.request_id", "Request ID", "Päringu ID"),
    ("error.back_home", "Back to the home page", "Tagasi avalehele"),
    // Form field names and field error codes.
    ("field.username", "Username", "Kasutajanimi"),
    ("field.email", "E-mail", "E-post"),
    ("field.password", "Password", "Parool"),
    ("field.current_password", "Current password", "Praegune parool"),
    ("field.new_password", "New password", "Uus parool"),
    ("field.invite_code", "Invite code", "Kutsekood"),
    ("field.referral_code", "Referral code", "Soovituskood"),
    ("field.name", "Name", "Nimi"),
    ("field.scopes", "Scopes", "Õigused"),
    ("field.expires_in_days", "Expiry", "Aegumine"),
    ("field.language", "Language", "Keel"),
    ("fielderr.required", "is required", "on nõutud"),
    ("fielderr.too_short", "is too short", "on liiga lühike"),
    ("fielderr.too_long", "is too long", "on liiga pikk"),
    ("fielderr.too_weak", "is too easy to guess", "on liiga kergesti äraarvatav"),
    ("fielderr.invalid_format", "has an invalid format", "on vigase vorminguga"),
    ("fielderr.invalid_characters", "contains characters that are not allowed", "sisaldab lubamatuid märke"),
    ("fielderr.mixed_script", "mixes letters of different alphabets (look-alike characters)", "segab eri tähestike tähti (sarnase välimusega märgid)"),
    ("fielderr.invalid_value", "has an invalid value", "on vigase väärtusega"),
    ("fielderr.out_of_range", "is out of range", "on lubatud vahemikust väljas"),
    ("fielderr.taken", "is already taken", "on juba kasutusel"),
    ("fielderr.token_expired", "cannot be changed: the token has expired", "ei saa muuta: tõend on aegunud"),
    ("fielderr.unknown", "is unknown", "on tundmatu"),
    ("fielderr.unknown_scope", "contains an unknown scope", "sisaldab tundmatut õigust"),
    ("fielderr.incorrect", "is incorrect", "on vale"),
    // Error titles, by stable code.
    ("err.not_found", "Not found", "Ei leitud"),
    ("err.method_not_allowed", "Method not allowed", "Meetod pole lubatud"),
    ("err.payload_too_large", "Request body too large", "Päringu sisu on liiga suur"),
    ("err.malformed_json", "Malformed JSON", "Vigane JSON"),
    ("err.invalid_body", "The request body does not match the expected shape", "Päringu sisu ei vasta oodatud kujule"),
    ("err.unsupported_media_type", "Unsupported content type", "Sisutüüpi ei toetata"),
    ("err.validation_failed", "Some fields are invalid", "Mõned väljad on vigased"),
    ("err.request_timeout", "The request took too long", "Päring võttis liiga kaua aega"),
    ("err.internal", "Internal server error", "Serveri sisemine viga"),
    ("err.unavailable", "Service unavailable", "Teenus pole saadaval"),
    ("err.bad_request", "Bad request", "Vigane päring"),
    ("err.rate_limited", "Too many requests", "Liiga palju päringuid"),
    ("err.csrf_token_missing", "CSRF token missing", "CSRF-tõend puudub"),
    ("err.csrf_token_invalid", "CSRF token invalid", "CSRF-tõend on vigane"),
    ("err.csrf_origin_mismatch", "Cross-origin request refused", "Päritoluülene päring keelatud"),
    ("err.unauthorized", "Authentication required", "Autentimine on nõutud"),
    ("err.forbidden", "Forbidden", "Keelatud"),
    ("err.invalid_credentials", "Invalid credentials", "Vigased sisselogimisandmed"),
    ("err.token_expired", "Token expired", "Tõend on aegunud"),
    ("err.refresh_token_expired", "Session expired; log in again", "Seanss on aegunud; logi uuesti sisse"),
    ("err.token_invalid", "Token invalid", "Tõend on vigane"),
    ("err.token_revoked", "Token revoked", "Tõend on tühistatud"),
    ("err.refresh_reused", "Refresh token reused; the session was ended", "Värskendustõendit kasutati uuesti; seanss lõpetati"),
    ("err.insufficient_scope", "Token lacks the required scope", "Tõendil puudub nõutud õigus"),
    ("err.conflict", "Already exists", "On juba olemas"),
    ("err.invite_required", "An invite code is required", "Kutsekood on nõutud"),
    ("err.invite_invalid", "Invite code invalid or used up", "Kutsekood on vigane või ära kasutatud"),
    ("err.logout_not_applicable", "This credential has no session to end", "Sellel volitusel pole lõpetatavat seanssi"),
    ("err.verify_token_invalid", "Confirmation link invalid, used or expired", "Kinnituslink on vigane, kasutatud või aegunud"),
    ("err.reset_token_invalid", "Reset link invalid or expired", "Lähtestuslink on vigane või aegunud"),
    ("err.totp_required", "Two-factor code required", "Kaheastmelise kinnituse kood on nõutud"),
    ("err.totp_invalid", "Two-factor code invalid", "Kaheastmelise kinnituse kood on vigane"),
    ("err.totp_enrolment_required", "Two-factor enrolment required", "Kaheastmeline kinnitus tuleb seadistada"),
    ("err.busy", "Server busy, try again", "Server on hõivatud, proovi uuesti"),
    ("reset.generic", "If that account exists, a link was sent.", "Kui selline konto on olemas, saadeti sellele link."),
    // Details.
    ("detail.rate_limited", "Retry after the number of seconds in Retry-After.", "Proovi uuesti pärast Retry-After päises toodud sekundeid."),
    ("detail.csrf", "Reload the page and submit the form again.", "Laadi leht uuesti ja saada vorm uuesti."),
    ("detail.validation_failed", "See the errors list for each field.", "Iga välja vead on loendis errors."),
];

fn index() -> &'static HashMap<&'static str, (&'static str, &'static str)> {
    static IDX: OnceLock<HashMap<&'static str, (&'static str, &'static str)>> = OnceLock::new();
    IDX.get_or_init(|| all().map(|(k, en, et)| (*k, (*en, *et))).collect())
}

fn all() -> impl Iterator<Item = &'static Entry> {
    crate::CATALOGS.iter().flat_map(|c| c.iter())
}

/// Looks a key up; an unknown key returns itself so a missing string is visible, not
/// fatal (a test keeps the catalog complete).
pub fn t(lang: Lang, key: &'static str) -> &'static str {
    match index().get(key) {
        Some((en, et)) => match lang {
            Lang::En => en,
            Lang::Et => et,
        },
        None => key,
    }
}

/// Looks up by a runtime key (error codes); `None` when unknown.
pub fn lookup(lang: Lang, key: &str) -> Option<&'static str> {
    index().get(key).map(|(en, et)| match lang {
        Lang::En => *en,
        Lang::Et => *et,
    })
}

/// All keys, for completeness tests.
pub fn keys() -> impl Iterator<Item = &'static str> {
    all().map(|(k, _, _)| *k)
}

/// A translator handed to templates.
#[derive(Debug, Clone, Copy)]
pub struct Tr(pub Lang);

impl Tr {
    /// The string for `key` in this language.
    pub fn t(&self, key: &'static str) -> &'static str {
        t(self.0, key)
    }
    /// The language tag for `<html lang>`.
    pub fn tag(&self) -> &'static str {
        self.0.tag()
    }
}

/// The caller's language from `Accept-Language`.
pub fn lang_of(headers: &axum::http::HeaderMap) -> Lang {
    Lang::negotiate(
        headers
            .get(axum::http::header::ACCEPT_LANGUAGE)
            .and_then(|v| v.to_str().ok()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn negotiation() {
        assert_eq!(Lang::negotiate(None), Lang::En);
        assert_eq!(Lang::negotiate(Some("et-EE,et;q=0.9,en;q=0.8")), Lang::Et);
        assert_eq!(Lang::negotiate(Some("en;q=0.5, et;q=0.9")), Lang::Et);
        assert_eq!(Lang::negotiate(Some("fr, de")), Lang::En);
        assert_eq!(Lang::negotiate(Some(";;;,,q=")), Lang::En);
    }

    #[test]
    fn catalog_is_complete_and_unique() {
        let mut seen = std::collections::HashSet::new();
        for (k, en, et) in all() {
            assert!(seen.insert(*k), "duplicate key {k}");
            assert!(!en.is_empty() && !et.is_empty(), "{k}");
        }
    }
}
