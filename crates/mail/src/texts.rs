//! Mail texts: every message Rampart sends, in English and Estonian, as a pure function
//! from a [`MailKind`] and the recipient's [`Lang`] to a subject and a plain-text body.

/// A language mail can be written in.
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

    /// Parses a stored setting (`et`, `et-EE`, `EN`…); unknown tags are `None`.
    ///
    /// ```
    /// use rampart_mail::Lang;
    /// assert_eq!(Lang::from_tag("et-EE"), Some(Lang::Et));
    /// assert_eq!(Lang::from_tag("fr"), None);
    /// ```
    pub fn from_tag(tag: &str) -> Option<Lang> {
        match tag.trim().to_ascii_lowercase().split(['-', '_']).next() {
            Some("en") => Some(Lang::En),
            Some("et") => Some(Lang::Et),
            _ => None,
        }
    }

    /// The user's stored language, English when unset or unknown.
    pub fn from_setting(setting: Option<&str>) -> Lang {
        setting.and_then(Lang::from_tag).unwrap_or_default()
    }
}

/// What to tell the recipient; each variant carries the facts its text needs.
///
/// Links are complete URLs built by the caller (the public origin is not known here).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MailKind {
    /// A password-reset link (the token is in `link`).
    PasswordReset {
        /// Account name.
        username: String,
        /// `…/reset?token=…`.
        link: String,
        /// How long the link works.
        valid_minutes: i64,
    },
    /// A sign-in from a device this account has not used before.
    NewDevice {
        /// Account name.
        username: String,
        /// Device description (browser family).
        device: String,
        /// Truncated network (IP prefix).
        network: String,
        /// Where sessions can be ended.
        sessions_link: String,
    },
    /// A link that confirms the address belongs to the account.
    EmailVerification {
        /// Account name.
        username: String,
        /// `…/verify?token=…`.
        link: String,
        /// How long the link works.
        valid_minutes: i64,
    },
    /// Someone tried to register with an address that already has an account. Sent
    /// instead of an error page, so registration does not reveal which addresses exist.
    RegistrationAttempt {
        /// Sign-in page.
        login_link: String,
        /// Password-reset page.
        reset_link: String,
    },
    /// The account's address was changed; sent to the old address.
    AddressChanged {
        /// Account name.
        username: String,
        /// The new address, masked (see [`mask_email`]).
        new_address_masked: String,
        /// Where sessions can be ended.
        sessions_link: String,
    },
    /// Support staff replied to the user's ticket (sent only when the user's
    /// notification preference for ticket replies is on).
    TicketReply {
        /// Account name.
        username: String,
        /// The ticket's subject (one line, the user's own text).
        subject: String,
        /// `…/tickets/{id}`.
        link: String,
        /// `…/settings/notifications`, where these mails are turned off.
        settings_link: String,
    },
    /// Someone sent the user a private message (sent only when the user turned the
    /// preference on). Never carries the message: it may be end-to-end encrypted, and
    /// mail is not the place for it.
    NewMessage {
        /// Account name.
        username: String,
        /// The sender's username.
        from: String,
        /// `…/messages/{conversation}`.
        link: String,
        /// `…/settings/notifications`.
        settings_link: String,
    },
    /// A purchase of the user's was shipped (preference `purchase`).
    PurchaseShipped {
        /// Account name.
        username: String,
        /// The item's title.
        item: String,
        /// `…/transactions/{id}`.
        link: String,
        /// `…/settings/notifications`.
        settings_link: String,
    },
    /// A dispute the user is party to was resolved by staff (preference `dispute`).
    DisputeResolved {
        /// Account name.
        username: String,
        /// `…/disputes/{id}`.
        link: String,
        /// `…/settings/notifications`.
        settings_link: String,
    },
}

impl MailKind {
    /// The stable code stored in `outbox.kind`.
    pub fn code(&self) -> &'static str {
        match self {
            MailKind::PasswordReset { .. } => "password_reset",
            MailKind::NewDevice { .. } => "new_device",
            MailKind::EmailVerification { .. } => "email_verification",
            MailKind::RegistrationAttempt { .. } => "registration_attempt",
            MailKind::AddressChanged { .. } => "address_changed",
            MailKind::TicketReply { .. } => "ticket_reply",
            MailKind::NewMessage { .. } => "new_message",
            MailKind::PurchaseShipped { .. } => "purchase_shipped",
            MailKind::DisputeResolved { .. } => "dispute_resolved",
        }
    }
}

/// A message ready for the outbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    /// [`MailKind::code`].
    pub kind: &'static str,
    /// Subject line.
    pub subject: String,
    /// Plain-text body, `\n` line ends.
    pub body: String,
}

/// Renders `kind` in `lang`.
///
/// ```
/// use rampart_mail::{render, Lang, MailKind};
/// let m = render(
///     &MailKind::RegistrationAttempt {
///         login_link: "https://example.org/login".into(),
///         reset_link: "https://example.org/reset".into(),
///     },
///     Lang::Et,
/// );
/// assert_eq!(m.kind, "registration_attempt");
/// assert!(m.body.contains("https://example.org/reset"));
/// ```
pub fn render(kind: &MailKind, lang: Lang) -> Rendered {
    let (subject, body) = match (kind, lang) {
        (
            MailKind::PasswordReset {
                username,
                link,
                valid_minutes,
            },
            Lang::En,
        ) => (
            "Reset your Rampart password".to_owned(),
            format!(
                "Someone asked to reset the password of {username}.\n\
                 Open {link} within {valid_minutes} minutes to choose a new one.\n\
                 If it was not you, ignore this message."
            ),
        ),
        (
            MailKind::PasswordReset {
                username,
                link,
                valid_minutes,
            },
            Lang::Et,
        ) => (
            "Ramparti parooli lähtestamine".to_owned(),
            format!(
                "Keegi palus lähtestada konto {username} parooli.\n\
                 Uue parooli valimiseks ava {valid_minutes} minuti jooksul {link}\n\
                 Kui see polnud sina, jäta see kiri tähelepanuta."
            ),
        ),
        (
            MailKind::NewDevice {
                username,
                device,
                network,
                sessions_link,
            },
            Lang::En,
        ) => (
            "New sign-in to your account".to_owned(),
            format!(
                "A new sign-in to your Rampart account {username} from {device} ({network}).\n\
                 If this was not you, change your password and end your other sessions at {sessions_link}."
            ),
        ),
        (
            MailKind::NewDevice {
                username,
                device,
                network,
                sessions_link,
            },
            Lang::Et,
        ) => (
            "Uus sisselogimine sinu kontole".to_owned(),
            format!(
                "Sinu Ramparti kontole {username} logiti sisse uuest seadmest: {device} ({network}).\n\
                 Kui see polnud sina, muuda parool ja lõpeta teised seansid aadressil {sessions_link}."
            ),
        ),
        (
            MailKind::EmailVerification {
                username,
                link,
                valid_minutes,
            },
            Lang::En,
        ) => (
            "Confirm your e-mail address".to_owned(),
            format!(
                "Confirm that this address belongs to the Rampart account {username}:\n\
                 {link}\n\
                 The link works for {valid_minutes} minutes. If you did not ask for this, ignore this message."
            ),
        ),
        (
            MailKind::EmailVerification {
                username,
                link,
                valid_minutes,
            },
            Lang::Et,
        ) => (
            "Kinnita oma e-posti aadress".to_owned(),
            format!(
                "Kinnita, et see aadress kuulub Ramparti kontole {username}:\n\
                 {link}\n\
                 Link kehtib {valid_minutes} minutit. Kui sa seda ei palunud, jäta see kiri tähelepanuta."
            ),
        ),
        (
            MailKind::RegistrationAttempt {
                login_link,
                reset_link,
            },
            Lang::En,
        ) => (
            "Someone tried to register with your address".to_owned(),
            format!(
                "Someone tried to create a Rampart account with this e-mail address. \
                 It already belongs to an account, so no new account was created.\n\
                 If it was you, sign in at {login_link} or reset your password at {reset_link}.\n\
                 If it was not you, you can ignore this message."
            ),
        ),
        (
            MailKind::RegistrationAttempt {
                login_link,
                reset_link,
            },
            Lang::Et,
        ) => (
            "Keegi proovis sinu aadressiga registreeruda".to_owned(),
            format!(
                "Keegi proovis selle e-posti aadressiga Ramparti kontot luua. \
                 Aadress kuulub juba olemasolevale kontole, seega uut kontot ei loodud.\n\
                 Kui see olid sina, logi sisse aadressil {login_link} või lähtesta parool aadressil {reset_link}.\n\
                 Kui see polnud sina, võid selle kirja tähelepanuta jätta."
            ),
        ),
        (
            MailKind::AddressChanged {
                username,
                new_address_masked,
                sessions_link,
            },
            Lang::En,
        ) => (
            "Your e-mail address was changed".to_owned(),
            format!(
                "The e-mail address of the Rampart account {username} was changed to {new_address_masked}.\n\
                 If this was not you, reset your password, end your other sessions at {sessions_link} \
                 and contact support."
            ),
        ),
        (
            MailKind::AddressChanged {
                username,
                new_address_masked,
                sessions_link,
            },
            Lang::Et,
        ) => (
            "Sinu e-posti aadress muudeti".to_owned(),
            format!(
                "Ramparti konto {username} e-posti aadressiks määrati {new_address_masked}.\n\
                 Kui see polnud sina, lähtesta parool, lõpeta teised seansid aadressil {sessions_link} \
                 ja võta ühendust kasutajatoega."
            ),
        ),
        (
            MailKind::TicketReply {
                username,
                subject,
                link,
                settings_link,
            },
            Lang::En,
        ) => (
            "Support replied to your ticket".to_owned(),
            format!(
                "Hello {username},\n\
                 support replied to your ticket \"{subject}\". Read and answer it at {link}\n\
                 You can turn these e-mails off at {settings_link}."
            ),
        ),
        (
            MailKind::TicketReply {
                username,
                subject,
                link,
                settings_link,
            },
            Lang::Et,
        ) => (
            "Tugi vastas sinu pöördumisele".to_owned(),
            format!(
                "Tere, {username}!\n\
                 Tugi vastas sinu pöördumisele „{subject}“. Loe ja vasta aadressil {link}\n\
                 Nende kirjade saatmise saad välja lülitada aadressil {settings_link}."
            ),
        ),
        (
            MailKind::NewMessage {
                username,
                from,
                link,
                settings_link,
            },
            Lang::En,
        ) => (
            "You have a new private message".to_owned(),
            format!(
                "Hello {username},\n\
                 {from} sent you a private message. Read it at {link}\n\
                 You can turn these e-mails off at {settings_link}."
            ),
        ),
        (
            MailKind::NewMessage {
                username,
                from,
                link,
                settings_link,
            },
            Lang::Et,
        ) => (
            "Sulle saabus uus privaatsõnum".to_owned(),
            format!(
                "Tere, {username}!\n\
                 {from} saatis sulle privaatsõnumi. Loe seda aadressil {link}\n\
                 Nende kirjade saatmise saad välja lülitada aadressil {settings_link}."
            ),
        ),
        (
            MailKind::PurchaseShipped {
                username,
                item,
                link,
                settings_link,
            },
            Lang::En,
        ) => (
            "Your purchase was shipped".to_owned(),
            format!(
                "Hello {username},\n\
                 the seller marked \"{item}\" as shipped. Follow it, confirm receipt or open a dispute at {link}\n\
                 You can turn these e-mails off at {settings_link}."
            ),
        ),
        (
            MailKind::PurchaseShipped {
                username,
                item,
                link,
                settings_link,
            },
            Lang::Et,
        ) => (
            "Sinu ost saadeti teele".to_owned(),
            format!(
                "Tere, {username}!\n\
                 Müüja märkis „{item}“ saadetuks. Jälgi ostu, kinnita kättesaamine või ava vaidlus aadressil {link}\n\
                 Nende kirjade saatmise saad välja lülitada aadressil {settings_link}."
            ),
        ),
        (
            MailKind::DisputeResolved {
                username,
                link,
                settings_link,
            },
            Lang::En,
        ) => (
            "Your dispute was resolved".to_owned(),
            format!(
                "Hello {username},\n\
                 staff resolved a dispute you are part of. See the outcome at {link}\n\
                 You can turn these e-mails off at {settings_link}."
            ),
        ),
        (
            MailKind::DisputeResolved {
                username,
                link,
                settings_link,
            },
            Lang::Et,
        ) => (
            "Sinu vaidlus lahendati".to_owned(),
            format!(
                "Tere, {username}!\n\
                 Töötajad lahendasid vaidluse, milles sa osaled. Vaata tulemust aadressil {link}\n\
                 Nende kirjade saatmise saad välja lülitada aadressil {settings_link}."
            ),
        ),
    };
    Rendered {
        kind: kind.code(),
        subject,
        body,
    }
}

/// Masks an address for a notice sent elsewhere: the first character of the local part
/// and the domain stay (`b***@example.org`), so the owner recognises it and a reader of
/// the old mailbox does not learn the new one.
///
/// ```
/// assert_eq!(rampart_mail::mask_email("bob@example.org"), "b***@example.org");
/// assert_eq!(rampart_mail::mask_email("nonsense"), "***");
/// ```
pub fn mask_email(addr: &str) -> String {
    match addr.rsplit_once('@') {
        Some((local, domain)) if !local.is_empty() && !domain.is_empty() => {
            let first: String = local.chars().take(1).collect();
            format!("{first}***@{domain}")
        }
        _ => "***".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all_kinds() -> Vec<MailKind> {
        vec![
            MailKind::PasswordReset {
                username: "alice".into(),
                link: "https://m.example/reset?token=rrt_secret".into(),
                valid_minutes: 30,
            },
            MailKind::NewDevice {
                username: "alice".into(),
                device: "Firefox on Linux".into(),
                network: "203.0.113.0/24".into(),
                sessions_link: "https://m.example/settings/sessions".into(),
            },
            MailKind::EmailVerification {
                username: "alice".into(),
                link: "https://m.example/verify?token=vt_secret".into(),
                valid_minutes: 1440,
            },
            MailKind::RegistrationAttempt {
                login_link: "https://m.example/login".into(),
                reset_link: "https://m.example/reset".into(),
            },
            MailKind::AddressChanged {
                username: "alice".into(),
                new_address_masked: "n***@new.example".into(),
                sessions_link: "https://m.example/settings/sessions".into(),
            },
            MailKind::TicketReply {
                username: "alice".into(),
                subject: "Broken lamp".into(),
                link: "https://m.example/tickets/t1".into(),
                settings_link: "https://m.example/settings/notifications".into(),
            },
            MailKind::NewMessage {
                username: "alice".into(),
                from: "bob".into(),
                link: "https://m.example/messages/c1".into(),
                settings_link: "https://m.example/settings/notifications".into(),
            },
            MailKind::PurchaseShipped {
                username: "alice".into(),
                item: "Lamp".into(),
                link: "https://m.example/transactions/x1".into(),
                settings_link: "https://m.example/settings/notifications".into(),
            },
            MailKind::DisputeResolved {
                username: "alice".into(),
                link: "https://m.example/disputes/d1".into(),
                settings_link: "https://m.example/settings/notifications".into(),
            },
        ]
    }

    #[test]
    fn every_kind_renders_in_both_languages_with_its_facts() {
        for kind in all_kinds() {
            let en = render(&kind, Lang::En);
            let et = render(&kind, Lang::Et);
            assert_eq!(en.kind, kind.code());
            assert_eq!(et.kind, kind.code());
            assert_ne!(en.subject, et.subject, "{}", kind.code());
            assert_ne!(en.body, et.body, "{}", kind.code());
            for m in [&en, &et] {
                assert!(!m.subject.contains('\n'), "one-line subject");
                assert!(!m.subject.is_empty() && !m.body.is_empty());
                // Every link and fact the variant carries reaches the body.
                let facts: Vec<String> = match &kind {
                    MailKind::PasswordReset {
                        username,
                        link,
                        valid_minutes,
                    }
                    | MailKind::EmailVerification {
                        username,
                        link,
                        valid_minutes,
                    } => vec![username.clone(), link.clone(), valid_minutes.to_string()],
                    MailKind::NewDevice {
                        username,
                        device,
                        network,
                        sessions_link,
                    } => vec![
                        username.clone(),
                        device.clone(),
                        network.clone(),
                        sessions_link.clone(),
                    ],
                    MailKind::RegistrationAttempt {
                        login_link,
                        reset_link,
                    } => vec![login_link.clone(), reset_link.clone()],
                    MailKind::AddressChanged {
                        username,
                        new_address_masked,
                        sessions_link,
                    } => vec![
                        username.clone(),
                        new_address_masked.clone(),
                        sessions_link.clone(),
                    ],
                    MailKind::TicketReply {
                        username,
                        subject,
                        link,
                        settings_link,
                    } => vec![
                        username.clone(),
                        subject.clone(),
                        link.clone(),
                        settings_link.clone(),
                    ],
                    MailKind::NewMessage {
                        username,
                        from,
                        link,
                        settings_link,
                    } => vec![
                        username.clone(),
                        from.clone(),
                        link.clone(),
                        settings_link.clone(),
                    ],
                    MailKind::PurchaseShipped {
                        username,
                        item,
                        link,
                        settings_link,
                    } => vec![
                        username.clone(),
                        item.clone(),
                        link.clone(),
                        settings_link.clone(),
                    ],
                    MailKind::DisputeResolved {
                        username,
                        link,
                        settings_link,
                    } => vec![username.clone(), link.clone(), settings_link.clone()],
                };
                for f in facts {
                    assert!(m.body.contains(&f), "{}: {f} missing", kind.code());
                }
            }
        }
    }

    #[test]
    fn codes_are_distinct_and_match_todays_outbox_kinds() {
        let codes: Vec<_> = all_kinds().iter().map(MailKind::code).collect();
        let mut unique = codes.clone();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(unique.len(), codes.len());
        // The identity service already stores these two codes.
        assert!(codes.contains(&"password_reset") && codes.contains(&"new_device"));
    }

    #[test]
    fn english_reset_text_is_todays_text() {
        let m = render(
            &MailKind::PasswordReset {
                username: "bob".into(),
                link: "http://x/reset?token=t".into(),
                valid_minutes: 60,
            },
            Lang::En,
        );
        assert_eq!(m.subject, "Reset your Rampart password");
        assert_eq!(
            m.body,
            "Someone asked to reset the password of bob.\nOpen http://x/reset?token=t within 60 minutes to choose a new one.\nIf it was not you, ignore this message."
        );
    }

    #[test]
    fn estonian_texts_are_estonian() {
        let m = render(&all_kinds()[0], Lang::Et);
        assert!(m.body.contains("parooli") && m.body.contains("minuti"));
        let m = render(&all_kinds()[4], Lang::Et);
        assert!(m.subject.contains("aadress"));
    }

    #[test]
    fn language_tags() {
        assert_eq!(Lang::from_tag("ET"), Some(Lang::Et));
        assert_eq!(Lang::from_tag("en_GB"), Some(Lang::En));
        assert_eq!(Lang::from_setting(None), Lang::En);
        assert_eq!(Lang::from_setting(Some("de")), Lang::En);
        assert_eq!(Lang::Et.tag(), "et");
    }

    #[test]
    fn masking() {
        assert_eq!(mask_email("élise@näide.ee"), "é***@näide.ee");
        assert_eq!(mask_email("@x"), "***");
        assert_eq!(mask_email("a@"), "***");
    }
}
