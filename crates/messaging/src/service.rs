//! The `Messaging` service: each write is one database transaction acting for one
//! user (PostgreSQL row-level security context set first); reads filter by
//! participant in SQL.

use crate::content::{Body, ContentType};
use crate::prekeys::{NewBundle, OneTimePrekey, PrekeyBundle, SignedPrekey};
use crate::store::{self, BundleRow, ConvRow, MessageRow, ReportRow};
use crate::views::{
    BlockedUser, ConversationPage, ConversationRef, ConversationSummary, Delivery, InboxPage,
    MarkedRead, MessageView, ReadReceipt, ReportStatus, ReportView, Sent,
};
use rampart_audit::{self as audit, ActionType, NewAuditEntry, Target, TargetKind};
use rampart_db::{Db, DbError, RlsContext, Tx};
use rampart_kernel::fields::multiline_text;
use rampart_kernel::ids::{ConversationId, MessageId, MessageReportId};
use rampart_kernel::{Clock, FieldError, FieldErrors, UserId};
use std::sync::Arc;

/// Most items on one page of the inbox or a conversation.
pub const PAGE_MAX: u32 = 100;
/// Longest report reason, in characters.
pub const REASON_MAX: usize = 1_000;

/// What callers branch on.
#[derive(Debug, thiserror::Error)]
pub enum MessagingError {
    /// No such conversation, message or user, or the caller is not a participant
    /// (the same answer, so nobody learns what exists).
    #[error("not found")]
    NotFound,
    /// The recipient does not accept messages from the caller. Says nothing more.
    #[error("blocked")]
    Blocked,
    /// The caller has blocked the recipient (unblock to write to them).
    #[error("you blocked this user")]
    BlockedByYou,
    /// The action names the caller as its other party (message, block, report or
    /// claim the keys of oneself).
    #[error("cannot target yourself")]
    SelfTarget,
    /// Input failed validation (content type, payload, reason, key sizes).
    #[error("validation failed: {0}")]
    Validation(FieldErrors),
    /// Storing the one-time prekeys would exceed [`crate::ONE_TIME_PREKEYS_MAX`].
    #[error("too many one-time prekeys")]
    TooManyPrekeys,
    /// A one-time prekey ID is already stored for this user.
    #[error("duplicate one-time prekey id")]
    DuplicatePrekey,
    /// The user has published no prekey bundle.
    #[error("no prekey bundle")]
    NoBundle,
    /// Stored data does not parse (a bug or tampering).
    #[error("corrupt messaging data: {0}")]
    Corrupt(String),
    /// The database failed.
    #[error(transparent)]
    Db(DbError),
}

impl From<DbError> for MessagingError {
    fn from(e: DbError) -> Self {
        match e {
            // A user ID that does not exist fails the users(id) foreign key.
            DbError::Db(sqlx::Error::Database(d)) if d.is_foreign_key_violation() => {
                MessagingError::NotFound
            }
            DbError::NotFound => MessagingError::NotFound,
            e => MessagingError::Db(e),
        }
    }
}

impl From<FieldError> for MessagingError {
    fn from(e: FieldError) -> Self {
        MessagingError::Validation(FieldErrors(vec![e]))
    }
}

/// The messaging service.
#[derive(Debug, Clone)]
pub struct Messaging {
    db: Db,
    clock: Arc<dyn Clock>,
}

/// The pair sorted as stored.
fn sorted<'a>(a: &'a UserId, b: &'a UserId) -> (&'a str, &'a str) {
    if a.as_str() < b.as_str() {
        (a.as_str(), b.as_str())
    } else {
        (b.as_str(), a.as_str())
    }
}

/// The other participant, or `None` when `user` is not one.
fn other_of(c: &ConvRow, user: &UserId) -> Option<UserId> {
    if c.user_low == user.as_str() {
        Some(UserId::from_stored(c.user_high.clone()))
    } else if c.user_high == user.as_str() {
        Some(UserId::from_stored(c.user_low.clone()))
    } else {
        None
    }
}

fn view(r: MessageRow, low: &str, high: &str) -> Result<MessageView, MessagingError> {
    let content_type = ContentType::parse(&r.content_type)
        .ok_or_else(|| MessagingError::Corrupt(format!("content type of {}", r.id)))?;
    let recipient = if r.sender_id == low { high } else { low };
    Ok(MessageView {
        id: MessageId::from_stored(r.id),
        conversation: ConversationId::from_stored(r.conversation_id),
        recipient: UserId::from_stored(recipient),
        sender: UserId::from_stored(r.sender_id),
        content_type,
        payload: r.payload,
        created_at: r.created_at,
    })
}

fn report_view(r: ReportRow) -> Result<ReportView, MessagingError> {
    let status = ReportStatus::parse(&r.status)
        .ok_or_else(|| MessagingError::Corrupt(format!("status of report {}", r.id)))?;
    Ok(ReportView {
        id: MessageReportId::from_stored(r.id),
        message: MessageId::from_stored(r.message_id),
        reporter: UserId::from_stored(r.reporter_id),
        reason: r.reason,
        status,
        created_at: r.created_at,
    })
}

/// Page size within 1..=PAGE_MAX, plus one row to learn whether another page exists.
fn fetch_limit(limit: u32) -> i64 {
    i64::from(limit.clamp(1, PAGE_MAX)) + 1
}

impl Messaging {
    /// The service over `db`, reading time from `clock`.
    pub fn new(db: Db, clock: Arc<dyn Clock>) -> Messaging {
        Messaging { db, clock }
    }

    /// A transaction acting for `user` (PostgreSQL RLS sees only their rows).
    async fn begin_as(&self, user: &UserId) -> Result<Tx, MessagingError> {
        let mut tx = self.db.begin().await?;
        tx.set_context(RlsContext {
            user_id: Some(user.as_str()),
            workspace_id: None,
        })
        .await?;
        Ok(tx)
    }

    /// Refuses when either of the pair has blocked the other: [`MessagingError::Blocked`]
    /// when `other` blocked `user` (whatever else is true), else
    /// [`MessagingError::BlockedByYou`].
    async fn check_blocks(
        tx: &mut Tx,
        user: &UserId,
        other: &UserId,
    ) -> Result<(), MessagingError> {
        let blockers = store::blockers_between(&mut *tx, user.as_str(), other.as_str()).await?;
        if blockers.iter().any(|b| b == other.as_str()) {
            return Err(MessagingError::Blocked);
        }
        if !blockers.is_empty() {
            return Err(MessagingError::BlockedByYou);
        }
        Ok(())
    }

    /// Sends `body` from `sender` to `recipient`, creating their conversation on the
    /// first message. Refused for oneself ([`MessagingError::SelfTarget`]), when the
    /// recipient blocked the sender ([`MessagingError::Blocked`]) or the sender
    /// blocked the recipient ([`MessagingError::BlockedByYou`]), and for an unknown
    /// recipient ([`MessagingError::NotFound`]); nothing is stored then. The rate
    /// limit (B2: 10 per minute per user) is the web layer's.
    pub async fn send(
        &self,
        sender: &UserId,
        recipient: &UserId,
        body: Body,
    ) -> Result<Sent, MessagingError> {
        if sender == recipient {
            return Err(MessagingError::SelfTarget);
        }
        let mut tx = self.begin_as(sender).await?;
        Self::check_blocks(&mut tx, sender, recipient).await?;
        let now = self.clock.now_ms();
        let (low, high) = sorted(sender, recipient);
        let fresh = ConversationId::generate();
        let conversation_id =
            store::conversation_id_for_pair(&mut tx, fresh.as_str(), low, high, now).await?;
        let (content_type, payload) = body.into_parts();
        let row = MessageRow {
            id: MessageId::generate().into_string(),
            conversation_id,
            sender_id: sender.as_str().to_owned(),
            content_type: content_type.as_str().to_owned(),
            payload,
            created_at: now,
        };
        store::insert_message(&mut tx, &row).await?;
        store::advance_last_message(&mut tx, &row.conversation_id, &row.id).await?;
        tx.commit().await?;
        let message = view(row, low, high)?;
        Ok(Sent {
            delivery: Delivery::Message {
                to: vec![recipient.clone(), sender.clone()],
                message: message.clone(),
            },
            message,
        })
    }

    /// `user`'s conversations, newest last message first, each with its last message
    /// and unread count; `cursor` is the previous page's `next`. `limit` is clamped
    /// to 1..=[`PAGE_MAX`].
    pub async fn inbox(
        &self,
        user: &UserId,
        cursor: Option<&MessageId>,
        limit: u32,
    ) -> Result<InboxPage, MessagingError> {
        let want = fetch_limit(limit);
        let mut rows =
            store::inbox(&self.db, user.as_str(), cursor.map(MessageId::as_str), want).await?;
        let more = rows.len() as i64 == want;
        if more {
            rows.pop();
        }
        let mut conversations = Vec::with_capacity(rows.len());
        for r in rows {
            let conv = ConvRow {
                id: r.conversation_id.clone(),
                user_low: r.user_low,
                user_high: r.user_high,
            };
            let other = other_of(&conv, user)
                .ok_or_else(|| MessagingError::Corrupt(format!("inbox row {}", conv.id)))?;
            let last_message = view(
                MessageRow {
                    id: r.id,
                    conversation_id: r.conversation_id,
                    sender_id: r.sender_id,
                    content_type: r.content_type,
                    payload: r.payload,
                    created_at: r.created_at,
                },
                &conv.user_low,
                &conv.user_high,
            )?;
            conversations.push(ConversationSummary {
                id: ConversationId::from_stored(conv.id),
                other,
                last_message,
                unread: r.unread,
            });
        }
        let next = if more {
            conversations.last().map(|c| c.last_message.id.clone())
        } else {
            None
        };
        Ok(InboxPage {
            conversations,
            next,
        })
    }

    /// The conversation `which` as `user` sees it, newest message first, older than
    /// `before` when given; [`MessagingError::NotFound`] unless `user` takes part.
    pub async fn conversation(
        &self,
        user: &UserId,
        which: &ConversationRef,
        before: Option<&MessageId>,
        limit: u32,
    ) -> Result<ConversationPage, MessagingError> {
        let conv = match which {
            ConversationRef::Id(id) => store::conversation(&self.db, id.as_str()).await?,
            ConversationRef::With(other) => {
                let (low, high) = sorted(user, other);
                store::conversation_of_pair(&self.db, low, high).await?
            }
        }
        .ok_or(MessagingError::NotFound)?;
        let other = other_of(&conv, user).ok_or(MessagingError::NotFound)?;
        let want = fetch_limit(limit);
        let mut rows =
            store::messages_page(&self.db, &conv.id, before.map(MessageId::as_str), want).await?;
        let more = rows.len() as i64 == want;
        if more {
            rows.pop();
        }
        let messages = rows
            .into_iter()
            .map(|r| view(r, &conv.user_low, &conv.user_high))
            .collect::<Result<Vec<_>, _>>()?;
        let next_before = if more {
            messages.last().map(|m| m.id.clone())
        } else {
            None
        };
        let (mut mine, mut theirs) = (None, None);
        for (u, last, _) in store::reads(&self.db, &conv.id).await? {
            if u == user.as_str() {
                mine = Some(MessageId::from_stored(last));
            } else if u == other.as_str() {
                theirs = Some(MessageId::from_stored(last));
            }
        }
        Ok(ConversationPage {
            id: ConversationId::from_stored(conv.id),
            other,
            messages,
            next_before,
            my_last_read: mine,
            their_last_read: theirs,
        })
    }

    /// Marks `conversation` read by `user` up to and including `up_to` (a message of
    /// that conversation). The pointer only moves forward: an older `up_to` changes
    /// nothing and answers the current state with `moved: false` and no delivery.
    pub async fn mark_read(
        &self,
        user: &UserId,
        conversation: &ConversationId,
        up_to: &MessageId,
    ) -> Result<MarkedRead, MessagingError> {
        let mut tx = self.begin_as(user).await?;
        let conv = store::conversation(&mut tx, conversation.as_str())
            .await?
            .ok_or(MessagingError::NotFound)?;
        let other = other_of(&conv, user).ok_or(MessagingError::NotFound)?;
        store::message_in(&mut tx, up_to.as_str(), &conv.id)
            .await?
            .ok_or(MessagingError::NotFound)?;
        let now = self.clock.now_ms();
        let moved =
            store::advance_read(&mut tx, &conv.id, user.as_str(), up_to.as_str(), now).await?;
        let (last, read_at) = store::reads(&mut tx, &conv.id)
            .await?
            .into_iter()
            .find(|(u, _, _)| u == user.as_str())
            .map(|(_, last, at)| (last, at))
            .ok_or_else(|| MessagingError::Corrupt(format!("read state of {}", conv.id)))?;
        tx.commit().await?;
        let receipt = ReadReceipt {
            conversation: ConversationId::from_stored(conv.id),
            reader: user.clone(),
            up_to: MessageId::from_stored(last),
            read_at,
        };
        let delivery = moved.then(|| Delivery::Read {
            to: vec![other, user.clone()],
            receipt: receipt.clone(),
        });
        Ok(MarkedRead {
            receipt,
            moved,
            delivery,
        })
    }

    /// `user` blocks `other`: no messages either way, no prekey claims either way.
    /// Blocking twice is a no-op. True when a block was added.
    pub async fn block(&self, user: &UserId, other: &UserId) -> Result<bool, MessagingError> {
        if user == other {
            return Err(MessagingError::SelfTarget);
        }
        let mut tx = self.begin_as(user).await?;
        let added =
            store::insert_block(&mut tx, user.as_str(), other.as_str(), self.clock.now_ms())
                .await?;
        tx.commit().await?;
        Ok(added)
    }

    /// Lifts `user`'s block of `other`. True when there was one.
    pub async fn unblock(&self, user: &UserId, other: &UserId) -> Result<bool, MessagingError> {
        let mut tx = self.begin_as(user).await?;
        let removed = store::delete_block(&mut tx, user.as_str(), other.as_str()).await?;
        tx.commit().await?;
        Ok(removed)
    }

    /// Everyone `user` has blocked, oldest block first.
    pub async fn blocked_users(&self, user: &UserId) -> Result<Vec<BlockedUser>, MessagingError> {
        Ok(store::blocked_by(&self.db, user.as_str())
            .await?
            .into_iter()
            .map(|(u, since)| BlockedUser {
                user: UserId::from_stored(u),
                since,
            })
            .collect())
    }

    /// `user` reports `message` to staff with `reason` (1..=[`REASON_MAX`]
    /// characters of multi-line text). Only a participant of the message's
    /// conversation may report it, and not their own message; others get
    /// [`MessagingError::NotFound`]. Reporting the same message again answers the
    /// first report and writes nothing. A new report is audited (`message_report`)
    /// in its transaction; the reason stays out of the audit row.
    pub async fn report(
        &self,
        user: &UserId,
        message: &MessageId,
        reason: &str,
        request_id: Option<&str>,
    ) -> Result<ReportView, MessagingError> {
        let reason = multiline_text("reason", reason, 1, REASON_MAX)?;
        let mut tx = self.begin_as(user).await?;
        let msg = store::message(&mut tx, message.as_str())
            .await?
            .ok_or(MessagingError::NotFound)?;
        let conv = store::conversation(&mut tx, &msg.conversation_id)
            .await?
            .ok_or(MessagingError::NotFound)?;
        other_of(&conv, user).ok_or(MessagingError::NotFound)?;
        if msg.sender_id == user.as_str() {
            return Err(MessagingError::SelfTarget);
        }
        let now = self.clock.now_ms();
        let row = ReportRow {
            id: MessageReportId::generate().into_string(),
            message_id: msg.id.clone(),
            reporter_id: user.as_str().to_owned(),
            reason,
            status: ReportStatus::Open.as_str().to_owned(),
            created_at: now,
        };
        if !store::insert_report(&mut tx, &row).await? {
            let existing = store::report_of(&mut tx, &msg.id, user.as_str())
                .await?
                .ok_or_else(|| MessagingError::Corrupt(format!("report of {}", msg.id)))?;
            tx.rollback().await?;
            return report_view(existing);
        }
        audit::record(
            &mut tx,
            NewAuditEntry {
                actor_user_uuid: Some(user.as_str()),
                action: ActionType::MessageReport,
                target: Target::new(TargetKind::Message, &msg.id),
                metadata: serde_json::json!({
                    "report": row.id,
                    "conversation": msg.conversation_id,
                    "sender": msg.sender_id,
                    "content_type": msg.content_type,
                }),
                request_id,
                created_at: now,
            },
        )
        .await?;
        tx.commit().await?;
        report_view(row)
    }

    /// Publishes `user`'s prekey bundle: the identity key and signed prekey replace
    /// the stored ones, the one-time prekeys are added (all earlier ones are dropped
    /// first when the identity key changes). Refused when sizes are out of bounds or
    /// IDs repeat ([`MessagingError::Validation`]), when the user would then hold
    /// more than [`crate::ONE_TIME_PREKEYS_MAX`] ([`MessagingError::TooManyPrekeys`])
    /// or an ID is already stored ([`MessagingError::DuplicatePrekey`]); nothing is
    /// written then. Answers how many one-time prekeys are now stored.
    pub async fn publish_bundle(
        &self,
        user: &UserId,
        bundle: NewBundle,
    ) -> Result<u32, MessagingError> {
        bundle.check().map_err(MessagingError::Validation)?;
        let mut tx = self.begin_as(user).await?;
        let now = self.clock.now_ms();
        let old = store::bundle(&mut tx, user.as_str(), true).await?;
        if old.is_some_and(|o| o.identity_key != bundle.identity_key) {
            store::delete_one_time_prekeys(&mut tx, user.as_str()).await?;
        }
        let row = BundleRow {
            identity_key: bundle.identity_key,
            signed_prekey_id: i64::from(bundle.signed_prekey.id),
            signed_prekey: bundle.signed_prekey.public_key,
            signed_prekey_signature: bundle.signed_prekey.signature,
        };
        // The upsert holds the bundle row, so publishes of one user run one at a time
        // from here and the count below is not raced.
        store::upsert_bundle(&mut tx, user.as_str(), &row, now).await?;
        let stored = store::count_one_time_prekeys(&mut tx, user.as_str()).await?;
        let total = stored + bundle.one_time_prekeys.len() as i64;
        if total > crate::prekeys::ONE_TIME_PREKEYS_MAX as i64 {
            return Err(MessagingError::TooManyPrekeys);
        }
        for k in &bundle.one_time_prekeys {
            match store::insert_one_time_prekey(
                &mut tx,
                user.as_str(),
                i64::from(k.id),
                &k.public_key,
                now,
            )
            .await
            {
                Ok(()) => {}
                Err(DbError::Conflict(_)) => return Err(MessagingError::DuplicatePrekey),
                Err(e) => return Err(e.into()),
            }
        }
        tx.commit().await?;
        u32::try_from(total).map_err(|_| MessagingError::Corrupt("prekey count".into()))
    }

    /// Hands `requester` the prekey bundle of `target` with at most one one-time
    /// prekey, which is deleted in the same statement that returns it: each one-time
    /// prekey is handed out exactly once, however many claims run at once. Refused
    /// for oneself, across a block either way, and with
    /// [`MessagingError::NoBundle`] when `target` has published none.
    pub async fn claim_bundle(
        &self,
        requester: &UserId,
        target: &UserId,
    ) -> Result<PrekeyBundle, MessagingError> {
        if requester == target {
            return Err(MessagingError::SelfTarget);
        }
        let mut tx = self.begin_as(requester).await?;
        Self::check_blocks(&mut tx, requester, target).await?;
        let b = store::bundle(&mut tx, target.as_str(), false)
            .await?
            .ok_or(MessagingError::NoBundle)?;
        let one_time = store::take_one_time_prekey(&mut tx, target.as_str()).await?;
        tx.commit().await?;
        let id = |n: i64| u32::try_from(n).map_err(|_| MessagingError::Corrupt("prekey id".into()));
        Ok(PrekeyBundle {
            user: target.clone(),
            identity_key: b.identity_key,
            signed_prekey: SignedPrekey {
                id: id(b.signed_prekey_id)?,
                public_key: b.signed_prekey,
                signature: b.signed_prekey_signature,
            },
            one_time_prekey: one_time
                .map(|(k, public_key)| {
                    Ok::<_, MessagingError>(OneTimePrekey {
                        id: id(k)?,
                        public_key,
                    })
                })
                .transpose()?,
        })
    }

    /// How many one-time prekeys `user` has left (clients top up when it runs low).
    pub async fn prekey_count(&self, user: &UserId) -> Result<u32, MessagingError> {
        let n = store::count_one_time_prekeys(&self.db, user.as_str()).await?;
        u32::try_from(n).map_err(|_| MessagingError::Corrupt("prekey count".into()))
    }
}
