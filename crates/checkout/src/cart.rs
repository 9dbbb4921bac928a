//! The cart (E1) as a value: line items with quantity limits, one currency, merging an
//! anonymous visitor's cart into the customer's at login, and the split into one group
//! per store (each becomes one escrow transaction at checkout).
//!
//! Prices here are the catalog's, read on the server; the store layer persists a cart
//! with a version number so concurrent updates never lose a write.

use std::collections::BTreeMap;

use rampart_kernel::ids::{CartId, ItemId, StoreId};
use rampart_kernel::money::MoneyError;
use rampart_kernel::{Currency, Money, UserId};

/// Limits on a cart's size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CartLimits {
    /// Largest quantity of one line.
    pub max_quantity: u32,
    /// Most distinct lines.
    pub max_lines: usize,
}

impl Default for CartLimits {
    fn default() -> Self {
        Self {
            max_quantity: 99,
            max_lines: 100,
        }
    }
}

/// A quantity of one line, `1..=limits.max_quantity`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Quantity(u32);

impl Quantity {
    /// Parses an untrusted quantity against the limits.
    pub fn parse(n: i64, limits: &CartLimits) -> Result<Self, CartError> {
        if n < 1 {
            return Err(CartError::QuantityTooSmall);
        }
        match u32::try_from(n) {
            Ok(n) if n <= limits.max_quantity => Ok(Self(n)),
            _ => Err(CartError::QuantityTooLarge {
                max: limits.max_quantity,
            }),
        }
    }
    /// The number.
    pub fn get(self) -> u32 {
        self.0
    }
}

/// Who a cart belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CartOwner {
    /// A signed-in customer.
    Customer(UserId),
    /// An anonymous visitor, by the opaque ID of their cookie session.
    Visitor(String),
}

/// One line: an item of a store at its catalog price.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CartLine {
    /// The item.
    pub item: ItemId,
    /// The store that sells it.
    pub store: StoreId,
    /// Price of one unit, from the catalog.
    pub unit_price: Money,
    /// Units.
    pub quantity: Quantity,
}

impl CartLine {
    /// Unit price × quantity, checked.
    pub fn total(&self) -> Result<Money, CartError> {
        self.unit_price
            .checked_mul(i64::from(self.quantity.0))
            .map_err(CartError::from)
    }
}

/// What callers of the cart branch on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CartError {
    /// Quantity below 1.
    #[error("quantity must be at least 1")]
    QuantityTooSmall,
    /// Quantity above the limit.
    #[error("quantity above {max}")]
    QuantityTooLarge {
        /// The limit.
        max: u32,
    },
    /// The cart already has the most lines it may.
    #[error("too many lines")]
    TooManyLines,
    /// An item in another currency than the cart's.
    #[error("cart mixes currencies")]
    MixedCurrencies,
    /// A negative price (never valid in a cart).
    #[error("negative price")]
    NegativePrice,
    /// Totals overflowed.
    #[error("amount out of range")]
    Overflow,
    /// No line for this item.
    #[error("no such line")]
    NoSuchLine,
    /// Checking out an empty cart.
    #[error("cart is empty")]
    Empty,
}

impl CartError {
    /// The stable code the web edge answers with.
    pub fn code(&self) -> &'static str {
        match self {
            Self::QuantityTooSmall => "quantity_too_small",
            Self::QuantityTooLarge { .. } => "quantity_too_large",
            Self::TooManyLines => "cart_too_many_lines",
            Self::MixedCurrencies => "cart_mixed_currencies",
            Self::NegativePrice => "price_negative",
            Self::Overflow => "amount_out_of_range",
            Self::NoSuchLine => "cart_line_not_found",
            Self::Empty => "cart_empty",
        }
    }
}

impl From<MoneyError> for CartError {
    fn from(e: MoneyError) -> Self {
        match e {
            MoneyError::CurrencyMismatch => Self::MixedCurrencies,
            MoneyError::Overflow => Self::Overflow,
        }
    }
}

/// A cart: its owner and lines, in the order they were added.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cart {
    /// The cart.
    pub id: CartId,
    /// Who may read and change it.
    pub owner: CartOwner,
    lines: Vec<CartLine>,
}

/// What a merge could not carry over as asked.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MergeReport {
    /// Items whose summed quantity was capped at the limit.
    pub capped: Vec<ItemId>,
    /// Items left behind: the cart was full, or they were priced in another currency.
    pub dropped: Vec<ItemId>,
}

/// The part of a cart one store sells: one escrow transaction at checkout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreGroup {
    /// The store.
    pub store: StoreId,
    /// Its lines.
    pub lines: Vec<CartLine>,
    /// Sum of its lines.
    pub subtotal: Money,
}

impl Cart {
    /// An empty cart.
    pub fn new(id: CartId, owner: CartOwner) -> Self {
        Self {
            id,
            owner,
            lines: Vec::new(),
        }
    }

    /// Rebuilds a stored cart (lines as persisted; checked again by [`Cart::total`]).
    pub fn from_parts(id: CartId, owner: CartOwner, lines: Vec<CartLine>) -> Self {
        Self { id, owner, lines }
    }

    /// The lines.
    pub fn lines(&self) -> &[CartLine] {
        &self.lines
    }

    /// The cart's currency: that of its first line.
    pub fn currency(&self) -> Option<Currency> {
        self.lines.first().map(|l| l.unit_price.currency)
    }

    /// Adds `quantity` of an item; an item already in the cart gets the quantities
    /// added (over the limit is refused, not capped: the buyer asked for exactly this)
    /// and takes the current catalog price.
    pub fn add(
        &mut self,
        item: ItemId,
        store: StoreId,
        unit_price: Money,
        quantity: Quantity,
        limits: &CartLimits,
    ) -> Result<(), CartError> {
        if unit_price.minor < 0 {
            return Err(CartError::NegativePrice);
        }
        if self.currency().is_some_and(|c| c != unit_price.currency) {
            return Err(CartError::MixedCurrencies);
        }
        if let Some(line) = self.lines.iter_mut().find(|l| l.item == item) {
            let sum = line.quantity.0.saturating_add(quantity.0);
            if sum > limits.max_quantity {
                return Err(CartError::QuantityTooLarge {
                    max: limits.max_quantity,
                });
            }
            line.quantity = Quantity(sum);
            line.unit_price = unit_price;
            return Ok(());
        }
        if self.lines.len() >= limits.max_lines {
            return Err(CartError::TooManyLines);
        }
        self.lines.push(CartLine {
            item,
            store,
            unit_price,
            quantity,
        });
        Ok(())
    }

    /// Sets the quantity of a line.
    pub fn set_quantity(&mut self, item: &ItemId, quantity: Quantity) -> Result<(), CartError> {
        let line = self
            .lines
            .iter_mut()
            .find(|l| &l.item == item)
            .ok_or(CartError::NoSuchLine)?;
        line.quantity = quantity;
        Ok(())
    }

    /// Removes a line.
    pub fn remove(&mut self, item: &ItemId) -> Result<(), CartError> {
        let before = self.lines.len();
        self.lines.retain(|l| &l.item != item);
        if self.lines.len() == before {
            return Err(CartError::NoSuchLine);
        }
        Ok(())
    }

    /// Merges an anonymous visitor's cart into this (the customer's) cart at login.
    ///
    /// Quantities of the same item add up, capped at the limit (the visitor did not ask
    /// for the sum, so capping is kinder than refusing the login). Lines in another
    /// currency than this cart's, or beyond the line limit, stay behind and are reported.
    pub fn merge_from(&mut self, other: Cart, limits: &CartLimits) -> MergeReport {
        let mut report = MergeReport::default();
        for line in other.lines {
            let currency = self.currency().unwrap_or(line.unit_price.currency);
            if line.unit_price.currency != currency || line.unit_price.minor < 0 {
                report.dropped.push(line.item);
                continue;
            }
            if let Some(mine) = self.lines.iter_mut().find(|l| l.item == line.item) {
                let sum = mine.quantity.0.saturating_add(line.quantity.0);
                if sum > limits.max_quantity {
                    report.capped.push(line.item);
                }
                mine.quantity = Quantity(sum.min(limits.max_quantity));
                continue;
            }
            if self.lines.len() >= limits.max_lines {
                report.dropped.push(line.item);
                continue;
            }
            let capped = line.quantity.0.min(limits.max_quantity);
            if capped < line.quantity.0 {
                report.capped.push(line.item.clone());
            }
            self.lines.push(CartLine {
                quantity: Quantity(capped),
                ..line
            });
        }
        report
    }

    /// The total of the whole cart, checked; a cart mixing currencies is refused.
    pub fn total(&self) -> Result<Money, CartError> {
        let currency = self.currency().ok_or(CartError::Empty)?;
        self.lines.iter().try_fold(Money::zero(currency), |acc, l| {
            Ok(acc.checked_add(l.total()?)?)
        })
    }

    /// Splits the cart into one group per store, sorted by store ID, each with its
    /// checked subtotal. The subtotals add up to [`Cart::total`].
    pub fn split_by_store(&self) -> Result<Vec<StoreGroup>, CartError> {
        let currency = self.currency().ok_or(CartError::Empty)?;
        let mut groups: BTreeMap<&StoreId, StoreGroup> = BTreeMap::new();
        for line in &self.lines {
            let g = groups.entry(&line.store).or_insert_with(|| StoreGroup {
                store: line.store.clone(),
                lines: Vec::new(),
                subtotal: Money::zero(currency),
            });
            g.subtotal = g.subtotal.checked_add(line.total()?)?;
            g.lines.push(line.clone());
        }
        Ok(groups.into_values().collect())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn eur(minor: i64) -> Money {
        Money::new(minor, Currency::parse("EUR").unwrap())
    }
    fn usd(minor: i64) -> Money {
        Money::new(minor, Currency::parse("USD").unwrap())
    }
    fn limits() -> CartLimits {
        CartLimits {
            max_quantity: 10,
            max_lines: 3,
        }
    }
    fn q(n: i64) -> Quantity {
        Quantity::parse(n, &limits()).unwrap()
    }
    fn cart() -> Cart {
        Cart::new(CartId::generate(), CartOwner::Customer(UserId::generate()))
    }

    #[test]
    fn quantities_are_bounded() {
        assert_eq!(
            Quantity::parse(0, &limits()),
            Err(CartError::QuantityTooSmall)
        );
        assert_eq!(
            Quantity::parse(-3, &limits()),
            Err(CartError::QuantityTooSmall)
        );
        assert_eq!(
            Quantity::parse(11, &limits()).unwrap_err().code(),
            "quantity_too_large"
        );
        assert_eq!(
            Quantity::parse(i64::MAX, &limits()).unwrap_err().code(),
            "quantity_too_large"
        );
        assert_eq!(q(10).get(), 10);
    }

    #[test]
    fn adding_the_same_item_adds_quantities_up_to_the_limit() {
        let mut c = cart();
        let (item, store) = (ItemId::generate(), StoreId::generate());
        c.add(item.clone(), store.clone(), eur(250), q(4), &limits())
            .unwrap();
        c.add(item.clone(), store.clone(), eur(300), q(6), &limits())
            .unwrap();
        assert_eq!(c.lines().len(), 1);
        assert_eq!(c.lines()[0].quantity.get(), 10);
        assert_eq!(c.total().unwrap(), eur(3000), "the latest catalog price");
        assert_eq!(
            c.add(item.clone(), store, eur(300), q(1), &limits()),
            Err(CartError::QuantityTooLarge { max: 10 })
        );
        c.set_quantity(&item, q(2)).unwrap();
        assert_eq!(c.total().unwrap(), eur(600));
        c.remove(&item).unwrap();
        assert_eq!(c.remove(&item), Err(CartError::NoSuchLine));
        assert_eq!(c.total(), Err(CartError::Empty));
    }

    #[test]
    fn a_cart_holds_one_currency_and_a_bounded_number_of_lines() {
        let mut c = cart();
        let store = StoreId::generate();
        c.add(ItemId::generate(), store.clone(), eur(1), q(1), &limits())
            .unwrap();
        let err = c
            .add(ItemId::generate(), store.clone(), usd(1), q(1), &limits())
            .unwrap_err();
        assert_eq!(err.code(), "cart_mixed_currencies");
        assert_eq!(
            c.add(ItemId::generate(), store.clone(), eur(-1), q(1), &limits()),
            Err(CartError::NegativePrice)
        );
        for _ in 0..2 {
            c.add(ItemId::generate(), store.clone(), eur(1), q(1), &limits())
                .unwrap();
        }
        assert_eq!(
            c.add(ItemId::generate(), store, eur(1), q(1), &limits()),
            Err(CartError::TooManyLines)
        );
    }

    #[test]
    fn totals_are_checked_and_a_mixed_stored_cart_is_refused() {
        let store = StoreId::generate();
        let line = |price: Money, n: u32| CartLine {
            item: ItemId::generate(),
            store: store.clone(),
            unit_price: price,
            quantity: Quantity(n),
        };
        let owner = CartOwner::Visitor("v".into());
        let mixed = Cart::from_parts(
            CartId::generate(),
            owner.clone(),
            vec![line(eur(1), 1), line(usd(1), 1)],
        );
        assert_eq!(mixed.total(), Err(CartError::MixedCurrencies));
        assert_eq!(mixed.split_by_store(), Err(CartError::MixedCurrencies));
        let huge = Cart::from_parts(CartId::generate(), owner, vec![line(eur(i64::MAX / 2), 3)]);
        assert_eq!(huge.total().unwrap_err().code(), "amount_out_of_range");
    }

    #[test]
    fn merging_adds_quantities_caps_them_and_reports_what_stayed_behind() {
        let l = limits();
        let (shared, only_anon, dollars) =
            (ItemId::generate(), ItemId::generate(), ItemId::generate());
        let store = StoreId::generate();
        let mut mine = cart();
        mine.add(shared.clone(), store.clone(), eur(100), q(7), &l)
            .unwrap();
        let mut anon = Cart::new(CartId::generate(), CartOwner::Visitor("cookie".into()));
        anon.add(shared.clone(), store.clone(), eur(100), q(5), &l)
            .unwrap();
        anon.add(only_anon.clone(), store.clone(), eur(50), q(2), &l)
            .unwrap();
        let mut anon_usd = Cart::new(CartId::generate(), CartOwner::Visitor("c2".into()));
        anon_usd
            .add(dollars.clone(), store.clone(), usd(50), q(1), &l)
            .unwrap();

        let report = mine.merge_from(anon, &l);
        assert_eq!(report.capped, vec![shared.clone()]);
        assert!(report.dropped.is_empty());
        assert_eq!(mine.lines()[0].quantity.get(), 10);
        assert_eq!(mine.lines()[1].item, only_anon);
        assert_eq!(mine.total().unwrap(), eur(1100));

        let report = mine.merge_from(anon_usd, &l);
        assert_eq!(report.dropped, vec![dollars]);
        assert_eq!(mine.lines().len(), 2);

        // Into an empty cart, the visitor's cart comes over whole.
        let mut empty = cart();
        let mut anon = Cart::new(CartId::generate(), CartOwner::Visitor("c3".into()));
        anon.add(ItemId::generate(), store, usd(5), q(3), &l)
            .unwrap();
        assert_eq!(empty.merge_from(anon, &l), MergeReport::default());
        assert_eq!(empty.total().unwrap(), usd(15));
    }

    #[test]
    fn merging_respects_the_line_limit() {
        let l = limits();
        let store = StoreId::generate();
        let mut mine = cart();
        let mut anon = Cart::new(CartId::generate(), CartOwner::Visitor("v".into()));
        for _ in 0..2 {
            mine.add(ItemId::generate(), store.clone(), eur(1), q(1), &l)
                .unwrap();
        }
        let extra: Vec<ItemId> = (0..2).map(|_| ItemId::generate()).collect();
        for i in &extra {
            anon.add(i.clone(), store.clone(), eur(1), q(1), &l)
                .unwrap();
        }
        let report = mine.merge_from(anon, &l);
        assert_eq!(report.dropped, vec![extra[1].clone()]);
        assert_eq!(mine.lines().len(), 3);
    }

    #[test]
    fn a_cart_splits_into_one_group_per_store_summing_to_the_total() {
        let l = CartLimits::default();
        let (a, b) = (StoreId::generate(), StoreId::generate());
        let mut c = cart();
        c.add(ItemId::generate(), a.clone(), eur(1000), q(2), &l)
            .unwrap();
        c.add(ItemId::generate(), b.clone(), eur(150), q(3), &l)
            .unwrap();
        c.add(ItemId::generate(), a.clone(), eur(5), q(1), &l)
            .unwrap();
        let groups = c.split_by_store().unwrap();
        assert_eq!(groups.len(), 2);
        let ga = groups.iter().find(|g| g.store == a).unwrap();
        let gb = groups.iter().find(|g| g.store == b).unwrap();
        assert_eq!((ga.lines.len(), ga.subtotal), (2, eur(2005)));
        assert_eq!((gb.lines.len(), gb.subtotal), (1, eur(450)));
        let sum = groups
            .iter()
            .try_fold(eur(0), |acc, g| acc.checked_add(g.subtotal))
            .unwrap();
        assert_eq!(sum, c.total().unwrap());
        assert!(groups.windows(2).all(|w| w[0].store < w[1].store));
        assert_eq!(cart().split_by_store(), Err(CartError::Empty));
    }
}
