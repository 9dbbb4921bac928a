//! Who may do what in trust and safety, decided here and nowhere else: the service
//! asks this module before every read and write, and never compares roles itself.
//!
//! Tickets: the author and callers whose platform role holds
//! [`Permission::ManageTickets`] see a ticket; everyone else gets
//! [`Denied::NotFound`] — they may not learn it exists. Status changes and
//! assignment are staff work; an author asking for them gets [`Denied::Forbidden`]
//! (they already know the ticket), as does a staff member on their own ticket (no
//! one moves their own case through the queue). Store warnings need
//! [`Permission::WarnStore`]; without it they do not exist ([`Denied::NotFound`]).

use rampart_kernel::account::Role;
use rampart_kernel::{Permission, UserId};

/// Who is asking: the signed-in user and their platform role.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// The user.
    pub user: UserId,
    /// Their platform role.
    pub role: Role,
    /// The request's correlation ID, for the audit rows the action writes (C4).
    pub request_id: Option<String>,
}

impl Caller {
    /// A caller without a request ID.
    pub fn new(user: UserId, role: Role) -> Caller {
        Caller {
            user,
            role,
            request_id: None,
        }
    }
}

/// A staff member a ticket is to be assigned to, with their platform role as the
/// identity context reports it (the web layer looks it up; this crate does not read
/// `users`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assignee {
    /// The user.
    pub user: UserId,
    /// Their platform role.
    pub role: Role,
}

/// Why a caller may not act.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Denied {
    /// The caller may not know the resource exists (answer 404).
    NotFound,
    /// The caller knows it, but may not do this (answer 403).
    Forbidden,
}

/// What may be done to a ticket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TicketAction {
    /// Read it and its thread.
    View,
    /// Add a message to its thread.
    Reply,
    /// Change its status.
    ChangeStatus,
    /// Assign it to a staff member (or unassign it).
    Assign,
}

/// In which capacity an allowed caller acts on a ticket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Capacity {
    /// As the ticket's author (their messages are on the author's side).
    Author,
    /// As support staff.
    Staff,
}

/// Which tickets a caller's transaction may touch at all — the PostgreSQL
/// row-level-security context the service sets before it reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TicketScope {
    /// Every ticket (staff work; no user context).
    All,
    /// Only this user's own tickets (`app.user_id`).
    AuthorOnly(UserId),
}

fn is_support(caller: &Caller) -> bool {
    Permission::ManageTickets.allowed_for(caller.role)
}

/// The scope a caller reads tickets in; anonymous callers see none.
pub fn ticket_scope(caller: Option<&Caller>) -> Result<TicketScope, Denied> {
    match caller {
        None => Err(Denied::NotFound),
        Some(c) if is_support(c) => Ok(TicketScope::All),
        Some(c) => Ok(TicketScope::AuthorOnly(c.user.clone())),
    }
}

/// Whether `caller` may do `action` to a ticket written by `author`, and as whom.
pub fn ticket(
    caller: Option<&Caller>,
    author: &UserId,
    action: TicketAction,
) -> Result<Capacity, Denied> {
    let Some(c) = caller else {
        return Err(Denied::NotFound);
    };
    let is_author = &c.user == author;
    match action {
        TicketAction::View | TicketAction::Reply if is_author => Ok(Capacity::Author),
        TicketAction::View | TicketAction::Reply if is_support(c) => Ok(Capacity::Staff),
        TicketAction::ChangeStatus | TicketAction::Assign if is_author => Err(Denied::Forbidden),
        TicketAction::ChangeStatus | TicketAction::Assign if is_support(c) => Ok(Capacity::Staff),
        _ => Err(Denied::NotFound),
    }
}

/// Whether `caller` may read the staff queue (like a route with a permission: 404
/// without it).
pub fn queue(caller: &Caller) -> Result<(), Denied> {
    if is_support(caller) {
        Ok(())
    } else {
        Err(Denied::NotFound)
    }
}

/// Whether a user with `role` may be assigned tickets.
pub fn may_be_assigned(role: Role) -> bool {
    Permission::ManageTickets.allowed_for(role)
}

/// Whether `caller` may issue, resolve or read store warnings.
pub fn warnings(caller: &Caller) -> Result<(), Denied> {
    if Permission::WarnStore.allowed_for(caller.role) {
        Ok(())
    } else {
        Err(Denied::NotFound)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caller(role: Role) -> Caller {
        Caller::new(UserId::generate(), role)
    }

    #[test]
    fn only_author_and_support_see_a_ticket() {
        let author = caller(Role::Customer);
        let a = &author.user;
        assert_eq!(
            ticket(Some(&author), a, TicketAction::View),
            Ok(Capacity::Author)
        );
        for r in [Role::Support, Role::Staff, Role::Admin, Role::SuperAdmin] {
            assert_eq!(
                ticket(Some(&caller(r)), a, TicketAction::View),
                Ok(Capacity::Staff)
            );
        }
        for r in [Role::Customer, Role::Seller] {
            for act in [
                TicketAction::View,
                TicketAction::Reply,
                TicketAction::ChangeStatus,
                TicketAction::Assign,
            ] {
                assert_eq!(ticket(Some(&caller(r)), a, act), Err(Denied::NotFound));
            }
        }
        assert_eq!(ticket(None, a, TicketAction::View), Err(Denied::NotFound));
        assert_eq!(ticket_scope(None), Err(Denied::NotFound));
    }

    #[test]
    fn status_and_assignment_are_staff_work_but_not_on_ones_own_ticket() {
        let author = caller(Role::Customer);
        for act in [TicketAction::ChangeStatus, TicketAction::Assign] {
            assert_eq!(
                ticket(Some(&author), &author.user, act),
                Err(Denied::Forbidden)
            );
            assert_eq!(
                ticket(Some(&caller(Role::Support)), &author.user, act),
                Ok(Capacity::Staff)
            );
        }
        let staff = caller(Role::Staff);
        assert_eq!(
            ticket(Some(&staff), &staff.user, TicketAction::ChangeStatus),
            Err(Denied::Forbidden)
        );
        assert_eq!(
            ticket(Some(&staff), &staff.user, TicketAction::Reply),
            Ok(Capacity::Author)
        );
    }

    #[test]
    fn queue_assignees_and_warnings() {
        assert_eq!(queue(&caller(Role::Seller)), Err(Denied::NotFound));
        assert_eq!(queue(&caller(Role::Support)), Ok(()));
        assert!(may_be_assigned(Role::Support));
        assert!(!may_be_assigned(Role::Seller));
        assert_eq!(warnings(&caller(Role::Support)), Err(Denied::NotFound));
        assert_eq!(warnings(&caller(Role::Staff)), Ok(()));
        assert_eq!(warnings(&caller(Role::SuperAdmin)), Ok(()));
    }
}
