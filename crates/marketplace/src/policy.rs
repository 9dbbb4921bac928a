//! Ownership, decided in one place (D1/D2): one function per resource type says what
//! a caller — platform role plus store membership — may do to it. Handlers and
//! service methods never compare roles themselves.
//!
//! A caller who is not a member (and holds no platform override) gets
//! [`Denied::NotFound`]: they may not learn the resource exists. A member whose store
//! role is too small gets [`Denied::Forbidden`]: they already know it exists.

use rampart_kernel::account::Role;
use rampart_kernel::{Permission, UserId};
use std::fmt;
use std::str::FromStr;

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

/// A member's role in one store; ordered from least to most authority.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum StoreRole {
    /// Edits stock.
    Clerk,
    /// Edits items and prices (and stock).
    Manager,
    /// Everything, including settings and members.
    Owner,
}

impl StoreRole {
    /// The stable stored name.
    pub const fn as_str(self) -> &'static str {
        match self {
            StoreRole::Clerk => "clerk",
            StoreRole::Manager => "manager",
            StoreRole::Owner => "owner",
        }
    }
}

impl fmt::Display for StoreRole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for StoreRole {
    type Err = rampart_kernel::account::UnknownValue;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s {
            "clerk" => StoreRole::Clerk,
            "manager" => StoreRole::Manager,
            "owner" => StoreRole::Owner,
            other => return Err(rampart_kernel::account::UnknownValue(other.to_owned())),
        })
    }
}

/// Why a caller may not act.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Denied {
    /// The caller may not know the resource exists (answer 404).
    NotFound,
    /// The caller knows it, but lacks the role (answer 403).
    Forbidden,
}

/// What may be done to a store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreAction {
    /// See its settings and members.
    View,
    /// Change its settings.
    EditSettings,
    /// Invite and remove members, change their roles.
    ManageMembers,
    /// Create items and edit them (title, description, price, status).
    EditItems,
    /// Adjust stock.
    AdjustStock,
}

impl StoreAction {
    /// The least store role that may do it.
    const fn min_role(self) -> StoreRole {
        match self {
            StoreAction::View | StoreAction::AdjustStock => StoreRole::Clerk,
            StoreAction::EditItems => StoreRole::Manager,
            StoreAction::EditSettings | StoreAction::ManageMembers => StoreRole::Owner,
        }
    }
}

/// Whether `caller`, whose membership in the store is `membership`, may do `action`.
pub fn store(
    caller: &Caller,
    membership: Option<StoreRole>,
    action: StoreAction,
) -> Result<(), Denied> {
    match membership {
        Some(r) if r >= action.min_role() => Ok(()),
        Some(_) => Err(Denied::Forbidden),
        // The platform override: staff adjust any store's stock (D1 "manual stock
        // edit"); everything else needs membership.
        None if action == StoreAction::AdjustStock
            && Permission::ManualStockEdit.allowed_for(caller.role) =>
        {
            Ok(())
        }
        None => Err(Denied::NotFound),
    }
}

/// Whether `caller` may look at any store, its members and disputes, and at the
/// stores of any user, as a moderator (the staff pages of issue 11 §4): holders of
/// `warn_store` (staff and up); everyone else gets [`Denied::NotFound`].
pub fn moderate(caller: &Caller) -> Result<(), Denied> {
    if Permission::WarnStore.allowed_for(caller.role) {
        Ok(())
    } else {
        Err(Denied::NotFound)
    }
}

/// What may be done to an item.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ItemAction {
    /// Read it.
    View,
    /// Edit its title, description, price or status.
    Edit,
    /// Adjust its stock.
    AdjustStock,
}

/// Whether `caller` (if any) may do `action` to an item; `public` says whether the
/// item is in the public catalog (active item of an active store).
pub fn item(
    caller: Option<&Caller>,
    membership: Option<StoreRole>,
    public: bool,
    action: ItemAction,
) -> Result<(), Denied> {
    if action == ItemAction::View && public {
        return Ok(());
    }
    let Some(caller) = caller else {
        return Err(Denied::NotFound);
    };
    let on_store = match action {
        ItemAction::View => StoreAction::View,
        ItemAction::Edit => StoreAction::EditItems,
        ItemAction::AdjustStock => StoreAction::AdjustStock,
    };
    store(caller, membership, on_store)
}

/// Whether `caller` may open a store.
pub fn create_store(caller: &Caller) -> Result<(), Denied> {
    if Permission::CreateStore.allowed_for(caller.role) {
        Ok(())
    } else {
        Err(Denied::Forbidden)
    }
}

/// Whether `caller` may remove `target` (a member of role `target_role`) from a
/// store: owners remove anyone; every member may leave. The last-owner rule is the
/// service's (it needs a count).
pub fn remove_member(
    caller: &Caller,
    membership: Option<StoreRole>,
    target: &UserId,
) -> Result<(), Denied> {
    if membership.is_some() && &caller.user == target {
        return Ok(());
    }
    store(caller, membership, StoreAction::ManageMembers)
}

/// Which side of a dispute a caller speaks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DisputeSide {
    /// The transaction's buyer.
    Buyer,
    /// A member of the selling store.
    Seller,
    /// Platform staff holding [`Permission::ResolveDispute`], party to neither side.
    Staff,
}

impl DisputeSide {
    /// The stable stored name.
    pub const fn as_str(self) -> &'static str {
        match self {
            DisputeSide::Buyer => "buyer",
            DisputeSide::Seller => "seller",
            DisputeSide::Staff => "staff",
        }
    }

    /// Parses a stored name.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "buyer" => Some(DisputeSide::Buyer),
            "seller" => Some(DisputeSide::Seller),
            "staff" => Some(DisputeSide::Staff),
            _ => None,
        }
    }
}

/// How a caller stands to one escrow transaction (and so to its dispute): whether
/// they bought it, and their membership in the selling store (read in the same query
/// as the dispute or transaction).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DisputeParty {
    /// The caller is the transaction's buyer.
    pub is_buyer: bool,
    /// The caller's role in the selling store, if a member.
    pub membership: Option<StoreRole>,
}

impl DisputeParty {
    /// The side the caller is party to, if any (the buyer side first: a member who
    /// bought from their own store speaks as the buyer).
    pub fn side(self) -> Option<DisputeSide> {
        if self.is_buyer {
            Some(DisputeSide::Buyer)
        } else if self.membership.is_some() {
            Some(DisputeSide::Seller)
        } else {
            None
        }
    }
}

/// What may be done with a dispute.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DisputeAction {
    /// Open one on a transaction (buyer or any member of the selling store).
    Open,
    /// Read it and its claims (the parties; staff holding `resolve_dispute`).
    View,
    /// Add a claim (the parties; staff holding `resolve_dispute`).
    AddClaim,
    /// Resolve it (staff holding `resolve_dispute` who are party to neither side).
    Resolve,
    /// List every store's disputes (staff holding `resolve_dispute`).
    Queue,
}

/// Whether `caller`, standing to the transaction as `party`, may do `action`; on
/// success, the side they act for.
///
/// Strangers (including other stores' members and staff without the permission) get
/// [`Denied::NotFound`]. A party asking to resolve gets [`Denied::Forbidden`]: they
/// know the dispute, and even staff may not judge a dispute they are party to
/// (conflict of interest: the buyer, or a member of the selling store).
pub fn dispute(
    caller: &Caller,
    party: DisputeParty,
    action: DisputeAction,
) -> Result<DisputeSide, Denied> {
    let staff = Permission::ResolveDispute.allowed_for(caller.role);
    let side = party.side();
    match action {
        DisputeAction::Open => side.ok_or(Denied::NotFound),
        DisputeAction::View | DisputeAction::AddClaim => match side {
            Some(s) => Ok(s),
            None if staff => Ok(DisputeSide::Staff),
            None => Err(Denied::NotFound),
        },
        DisputeAction::Resolve => match side {
            Some(_) => Err(Denied::Forbidden),
            None if staff => Ok(DisputeSide::Staff),
            None => Err(Denied::NotFound),
        },
        DisputeAction::Queue if staff => Ok(DisputeSide::Staff),
        DisputeAction::Queue => Err(Denied::NotFound),
    }
}

/// Whether `caller` may buy an item: anyone signed in, from a store they are not a
/// member of ([`Denied::Forbidden`]: members cannot buy from their own store, so
/// nobody can move the store's money in a circle), of an item in the public catalog
/// ([`Denied::NotFound`] otherwise).
pub fn purchase(membership: Option<StoreRole>, public: bool) -> Result<(), Denied> {
    match (membership, public) {
        (Some(_), _) => Err(Denied::Forbidden),
        (None, true) => Ok(()),
        (None, false) => Err(Denied::NotFound),
    }
}

/// What may be done to an escrow transaction. Whether the transaction's state admits
/// it is the ledger's state machine's question, asked after this one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TransactionAction {
    /// Read it (state, amounts, intents).
    View,
    /// Mark it funded by hand (staff, until checkout lands).
    MarkFunded,
    /// Mark it shipped (store clerks and up).
    Ship,
    /// Confirm receipt: request the release intent (the buyer).
    ConfirmReceipt,
    /// Request the cancel intent (store managers and up; staff who refund).
    Cancel,
    /// Open a dispute (the buyer; store managers and up).
    OpenDispute,
}

impl TransactionAction {
    /// Every action.
    pub const ALL: [TransactionAction; 6] = [
        TransactionAction::View,
        TransactionAction::MarkFunded,
        TransactionAction::Ship,
        TransactionAction::ConfirmReceipt,
        TransactionAction::Cancel,
        TransactionAction::OpenDispute,
    ];

    /// The stable name (wire, pages).
    pub const fn as_str(self) -> &'static str {
        match self {
            TransactionAction::View => "view",
            TransactionAction::MarkFunded => "fund",
            TransactionAction::Ship => "ship",
            TransactionAction::ConfirmReceipt => "release",
            TransactionAction::Cancel => "cancel",
            TransactionAction::OpenDispute => "dispute",
        }
    }
}

/// What the transaction policy needs to know about one transaction and the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TransactionFacts {
    /// The caller bought it.
    pub is_buyer: bool,
}

/// Whether `caller` — the buyer or not, a member of the selling store in role
/// `membership` or not — may do `action` to a transaction. The buyer sees it,
/// confirms receipt and opens disputes; store members see it and open disputes,
/// clerks ship, managers cancel; platform staff act by permission (`MarkFunded` funds,
/// `Refund` or `ResolveDispute` cancel; either lets them see it). A caller who may
/// see it but not do this gets [`Denied::Forbidden`]; anyone else
/// [`Denied::NotFound`].
pub fn transaction(
    caller: &Caller,
    facts: TransactionFacts,
    membership: Option<StoreRole>,
    action: TransactionAction,
) -> Result<(), Denied> {
    use TransactionAction as A;
    let as_buyer = facts.is_buyer && matches!(action, A::View | A::ConfirmReceipt | A::OpenDispute);
    let as_member = match (membership, action) {
        (Some(_), A::View) => true,
        (Some(r), A::Ship) => r >= StoreRole::Clerk,
        // Any member speaks for the seller in a dispute (the dispute policy agrees).
        (Some(_), A::OpenDispute) => true,
        (Some(r), A::Cancel) => r >= StoreRole::Manager,
        _ => false,
    };
    let staff = |p: Permission| p.allowed_for(caller.role);
    let refunds = staff(Permission::Refund) || staff(Permission::ResolveDispute);
    // Staff powers are used only by staff who are party to neither side: a staff
    // member never funds (or refunds) their own purchase or their own store's sale.
    let party = facts.is_buyer || membership.is_some();
    let as_staff = match action {
        A::View => staff(Permission::MarkFunded) || refunds,
        A::MarkFunded => staff(Permission::MarkFunded) && !party,
        A::Cancel => refunds && !party,
        A::Ship | A::ConfirmReceipt | A::OpenDispute => false,
    };
    if as_buyer || as_member || as_staff {
        return Ok(());
    }
    let sees = facts.is_buyer || membership.is_some() || staff(Permission::MarkFunded) || refunds;
    if sees {
        Err(Denied::Forbidden)
    } else {
        Err(Denied::NotFound)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caller(role: Role) -> Caller {
        Caller {
            user: UserId::generate(),
            role,
            request_id: None,
        }
    }

    #[test]
    fn only_moderators_look_at_any_store() {
        for role in Role::ALL {
            let allowed = matches!(role, Role::Staff | Role::Admin | Role::SuperAdmin);
            assert_eq!(moderate(&caller(role)).is_ok(), allowed, "{role:?}");
            if !allowed {
                assert_eq!(moderate(&caller(role)), Err(Denied::NotFound));
            }
        }
    }

    #[test]
    fn strangers_get_not_found_members_forbidden() {
        let c = caller(Role::Seller);
        assert_eq!(store(&c, None, StoreAction::View), Err(Denied::NotFound));
        assert_eq!(
            store(&c, Some(StoreRole::Clerk), StoreAction::EditItems),
            Err(Denied::Forbidden)
        );
        assert_eq!(
            store(&c, Some(StoreRole::Clerk), StoreAction::AdjustStock),
            Ok(())
        );
        assert_eq!(
            store(&c, Some(StoreRole::Manager), StoreAction::EditItems),
            Ok(())
        );
        assert_eq!(
            store(&c, Some(StoreRole::Manager), StoreAction::ManageMembers),
            Err(Denied::Forbidden)
        );
        assert_eq!(
            store(&c, Some(StoreRole::Owner), StoreAction::ManageMembers),
            Ok(())
        );
    }

    #[test]
    fn public_items_are_visible_to_anyone_others_only_to_members() {
        assert_eq!(item(None, None, true, ItemAction::View), Ok(()));
        assert_eq!(
            item(None, None, false, ItemAction::View),
            Err(Denied::NotFound)
        );
        assert_eq!(
            item(None, None, true, ItemAction::Edit),
            Err(Denied::NotFound)
        );
        let c = caller(Role::Customer);
        assert_eq!(
            item(Some(&c), None, true, ItemAction::Edit),
            Err(Denied::NotFound)
        );
        assert_eq!(
            item(Some(&c), Some(StoreRole::Clerk), true, ItemAction::Edit),
            Err(Denied::Forbidden)
        );
    }

    #[test]
    fn staff_override_is_stock_only() {
        let s = caller(Role::Staff);
        assert_eq!(store(&s, None, StoreAction::AdjustStock), Ok(()));
        assert_eq!(
            store(&s, None, StoreAction::EditItems),
            Err(Denied::NotFound)
        );
        assert_eq!(
            create_store(&caller(Role::Customer)),
            Err(Denied::Forbidden)
        );
        assert_eq!(create_store(&caller(Role::Seller)), Ok(()));
    }

    #[test]
    fn members_may_leave() {
        let c = caller(Role::Customer);
        assert_eq!(remove_member(&c, Some(StoreRole::Clerk), &c.user), Ok(()));
        assert_eq!(
            remove_member(&c, Some(StoreRole::Clerk), &UserId::generate()),
            Err(Denied::Forbidden)
        );
        assert_eq!(remove_member(&c, None, &c.user), Err(Denied::NotFound));
    }

    #[test]
    fn disputes_parties_see_staff_judge_strangers_learn_nothing() {
        let buyer = DisputeParty {
            is_buyer: true,
            membership: None,
        };
        let clerk = DisputeParty {
            is_buyer: false,
            membership: Some(StoreRole::Clerk),
        };
        let none = DisputeParty::default();
        let customer = caller(Role::Customer);
        let staff = caller(Role::Staff);
        let support = caller(Role::Support);
        use DisputeAction::*;
        assert_eq!(dispute(&customer, buyer, Open), Ok(DisputeSide::Buyer));
        assert_eq!(dispute(&customer, clerk, Open), Ok(DisputeSide::Seller));
        assert_eq!(dispute(&customer, none, Open), Err(Denied::NotFound));
        assert_eq!(dispute(&staff, none, Open), Err(Denied::NotFound));
        assert_eq!(dispute(&customer, none, View), Err(Denied::NotFound));
        assert_eq!(dispute(&support, none, AddClaim), Err(Denied::NotFound));
        assert_eq!(dispute(&staff, none, AddClaim), Ok(DisputeSide::Staff));
        assert_eq!(dispute(&staff, clerk, AddClaim), Ok(DisputeSide::Seller));
        assert_eq!(dispute(&staff, none, Resolve), Ok(DisputeSide::Staff));
        assert_eq!(dispute(&staff, clerk, Resolve), Err(Denied::Forbidden));
        assert_eq!(dispute(&staff, buyer, Resolve), Err(Denied::Forbidden));
        assert_eq!(dispute(&customer, buyer, Resolve), Err(Denied::Forbidden));
        assert_eq!(dispute(&customer, none, Resolve), Err(Denied::NotFound));
        assert_eq!(dispute(&support, none, Queue), Err(Denied::NotFound));
        assert_eq!(
            dispute(&caller(Role::Admin), none, Queue).is_ok(),
            Permission::ResolveDispute.allowed_for(Role::Admin)
        );
    }

    #[test]
    fn transactions_buyer_members_staff_and_strangers() {
        use TransactionAction as A;
        let buyer = TransactionFacts { is_buyer: true };
        let other = TransactionFacts { is_buyer: false };
        let c = caller(Role::Customer);
        assert_eq!(transaction(&c, buyer, None, A::View), Ok(()));
        assert_eq!(transaction(&c, buyer, None, A::ConfirmReceipt), Ok(()));
        assert_eq!(transaction(&c, buyer, None, A::OpenDispute), Ok(()));
        assert_eq!(
            transaction(&c, buyer, None, A::Ship),
            Err(Denied::Forbidden)
        );
        assert_eq!(
            transaction(&c, buyer, None, A::Cancel),
            Err(Denied::Forbidden)
        );
        assert_eq!(
            transaction(&c, buyer, None, A::MarkFunded),
            Err(Denied::Forbidden)
        );
        for a in A::ALL {
            assert_eq!(transaction(&c, other, None, a), Err(Denied::NotFound));
            // A seller of another store is a stranger too.
            assert_eq!(
                transaction(&caller(Role::Seller), other, None, a),
                Err(Denied::NotFound)
            );
            // Support answers tickets, not money.
            assert_eq!(
                transaction(&caller(Role::Support), other, None, a),
                Err(Denied::NotFound)
            );
        }
        let clerk = Some(StoreRole::Clerk);
        assert_eq!(transaction(&c, other, clerk, A::View), Ok(()));
        assert_eq!(transaction(&c, other, clerk, A::Ship), Ok(()));
        assert_eq!(
            transaction(&c, other, clerk, A::Cancel),
            Err(Denied::Forbidden)
        );
        assert_eq!(
            transaction(&c, other, clerk, A::ConfirmReceipt),
            Err(Denied::Forbidden)
        );
        let manager = Some(StoreRole::Manager);
        assert_eq!(transaction(&c, other, manager, A::Cancel), Ok(()));
        assert_eq!(
            transaction(&c, other, manager, A::MarkFunded),
            Err(Denied::Forbidden)
        );
        let staff = caller(Role::Staff);
        // Staff never fund their own purchase or their own store's sale.
        assert_eq!(
            transaction(&staff, buyer, None, A::MarkFunded),
            Err(Denied::Forbidden)
        );
        assert_eq!(
            transaction(&staff, other, Some(StoreRole::Manager), A::MarkFunded),
            Err(Denied::Forbidden)
        );
        assert_eq!(
            transaction(&staff, buyer, None, A::Cancel),
            Err(Denied::Forbidden)
        );
        assert_eq!(transaction(&staff, other, None, A::View), Ok(()));
        assert_eq!(transaction(&staff, other, None, A::MarkFunded), Ok(()));
        assert_eq!(transaction(&staff, other, None, A::Cancel), Ok(()));
        assert_eq!(
            transaction(&staff, other, None, A::Ship),
            Err(Denied::Forbidden)
        );
    }

    #[test]
    fn members_cannot_buy_from_their_store() {
        assert_eq!(
            purchase(Some(StoreRole::Clerk), true),
            Err(Denied::Forbidden)
        );
        assert_eq!(purchase(None, true), Ok(()));
        assert_eq!(purchase(None, false), Err(Denied::NotFound));
    }
}
