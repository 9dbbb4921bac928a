//! The ticket and warning state machines: one transition function each, so an
//! illegal move is refused in one place.

use std::fmt;
use std::str::FromStr;

/// Where a ticket stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TicketStatus {
    /// Waiting for staff.
    Open,
    /// Waiting for the author (staff asked something).
    Pending,
    /// Staff consider it answered; the author's reply reopens it.
    Resolved,
    /// Final for the author (they open a new ticket); staff may still reopen it.
    Closed,
}

impl TicketStatus {
    /// Every status.
    pub const ALL: [TicketStatus; 4] = [
        TicketStatus::Open,
        TicketStatus::Pending,
        TicketStatus::Resolved,
        TicketStatus::Closed,
    ];

    /// The stored (and audited) name.
    pub const fn as_str(self) -> &'static str {
        match self {
            TicketStatus::Open => "open",
            TicketStatus::Pending => "pending",
            TicketStatus::Resolved => "resolved",
            TicketStatus::Closed => "closed",
        }
    }
}

impl fmt::Display for TicketStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for TicketStatus {
    type Err = rampart_kernel::account::UnknownValue;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        TicketStatus::ALL
            .into_iter()
            .find(|t| t.as_str() == s)
            .ok_or_else(|| rampart_kernel::account::UnknownValue(s.to_owned()))
    }
}

/// What happens to a ticket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TicketEvent {
    /// Staff set the status.
    StaffSets(TicketStatus),
    /// The author replied.
    AuthorReply,
    /// Staff replied.
    StaffReply,
}

/// A move the state machine refuses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TicketTransitionError {
    /// Nobody writes to a closed ticket; staff reopen it first.
    #[error("the ticket is closed")]
    Closed,
}

/// The status after `event`, or `None` when it stays as it is.
///
/// Staff may move a ticket to any status (closed → open reopens it). An author's
/// reply puts a pending or resolved ticket back in the queue (open): the question is
/// not settled for them. Nobody replies to a closed ticket.
pub fn transition(
    from: TicketStatus,
    event: TicketEvent,
) -> Result<Option<TicketStatus>, TicketTransitionError> {
    use TicketStatus::*;
    match (from, event) {
        (_, TicketEvent::StaffSets(to)) => Ok((to != from).then_some(to)),
        (Closed, TicketEvent::AuthorReply | TicketEvent::StaffReply) => {
            Err(TicketTransitionError::Closed)
        }
        (Pending | Resolved, TicketEvent::AuthorReply) => Ok(Some(Open)),
        (Open, TicketEvent::AuthorReply) => Ok(None),
        (Open | Pending | Resolved, TicketEvent::StaffReply) => Ok(None),
    }
}

/// Which side of a ticket wrote a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Side {
    /// The ticket's author.
    Author,
    /// Support staff.
    Staff,
}

impl Side {
    /// The stored name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Side::Author => "author",
            Side::Staff => "staff",
        }
    }

    pub(crate) fn parse(s: &str) -> Option<Side> {
        match s {
            "author" => Some(Side::Author),
            "staff" => Some(Side::Staff),
            _ => None,
        }
    }
}

/// Where a store warning stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WarningStatus {
    /// In force.
    Open,
    /// Resolved by staff (final).
    Resolved,
}

impl WarningStatus {
    /// The stored name.
    pub const fn as_str(self) -> &'static str {
        match self {
            WarningStatus::Open => "open",
            WarningStatus::Resolved => "resolved",
        }
    }

    pub(crate) fn parse(s: &str) -> Option<WarningStatus> {
        match s {
            "open" => Some(WarningStatus::Open),
            "resolved" => Some(WarningStatus::Resolved),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::TicketStatus::*;
    use super::*;

    #[test]
    fn staff_move_anywhere_same_status_is_no_change() {
        for from in TicketStatus::ALL {
            for to in TicketStatus::ALL {
                let next = transition(from, TicketEvent::StaffSets(to));
                assert_eq!(next, Ok((from != to).then_some(to)));
            }
        }
    }

    #[test]
    fn author_reply_reopens_except_closed() {
        assert_eq!(transition(Open, TicketEvent::AuthorReply), Ok(None));
        assert_eq!(
            transition(Pending, TicketEvent::AuthorReply),
            Ok(Some(Open))
        );
        assert_eq!(
            transition(Resolved, TicketEvent::AuthorReply),
            Ok(Some(Open))
        );
        assert_eq!(
            transition(Closed, TicketEvent::AuthorReply),
            Err(TicketTransitionError::Closed)
        );
        for s in [Open, Pending, Resolved] {
            assert_eq!(transition(s, TicketEvent::StaffReply), Ok(None));
        }
        assert_eq!(
            transition(Closed, TicketEvent::StaffReply),
            Err(TicketTransitionError::Closed)
        );
    }

    #[test]
    fn names_round_trip() {
        for s in TicketStatus::ALL {
            assert_eq!(s.as_str().parse::<TicketStatus>().ok(), Some(s));
        }
        assert!("reopened".parse::<TicketStatus>().is_err());
    }
}
