//! The business rules of checkout (E4) as data, and the one engine that evaluates them.
//!
//! Rules arrive as configuration ([`RulesConfig`], deserialised from TOML or JSON) and
//! are compiled once into [`Rules`] (currencies and countries parsed, limits checked), so
//! a typo in the configuration stops start-up instead of silently waiving a rule.
//! Store settings (a store's own minimum order) travel in the draft, one
//! [`StoreOrder`] per store. [`evaluate`] then reports *every* violation of a draft,
//! each with a stable code; [`available_shipping_methods`] lists the methods that can
//! carry a draft, for offering choices.

use std::collections::{BTreeMap, BTreeSet};

use rampart_kernel::ids::StoreId;
use rampart_kernel::{Currency, Money};
use serde::Deserialize;

/// Who is buying: the rules for addresses differ.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CustomerType {
    /// A private person.
    Consumer,
    /// A company: needs a company name and a VAT ID.
    Business,
}

/// An ISO 3166-1 alpha-2 country code, upper-case.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Country([u8; 2]);

/// A country code that is not two ASCII letters.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed country code")]
pub struct BadCountry;

impl Country {
    /// Parses `EE`, `de`… (stored upper-case).
    pub fn parse(s: &str) -> Result<Self, BadCountry> {
        let b = s.trim().as_bytes();
        if b.len() != 2 || !b.iter().all(u8::is_ascii_alphabetic) {
            return Err(BadCountry);
        }
        Ok(Self([b[0].to_ascii_uppercase(), b[1].to_ascii_uppercase()]))
    }
    /// The code.
    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.0).unwrap_or("XX")
    }
}

// ---------------------------------------------------------------------------------
// Configuration (the data)
// ---------------------------------------------------------------------------------

/// The rules as written in configuration. Compile with [`Rules::compile`].
///
/// ```
/// let cfg: rampart_checkout::rules::RulesConfig = serde_json::from_str(r#"{
///   "full_billing_address_above": [{ "currency": "EUR", "minor": 100000 }],
///   "order_limits": [{ "currency": "EUR", "min_minor": 500, "max_minor": 5000000 }],
///   "shipping_methods": [{ "code": "parcel", "countries": ["EE", "FI"],
///                          "max_weight_grams": 30000, "excluded_item_types": ["battery"] }],
///   "subscription": { "customer_types": ["consumer"], "require_verified_email": true }
/// }"#).unwrap();
/// let rules = rampart_checkout::rules::Rules::compile(cfg).unwrap();
/// assert_eq!(rules.shipping_method_codes().count(), 1);
/// ```
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RulesConfig {
    /// What a business customer must give. Defaults: company name and VAT ID required.
    #[serde(default)]
    pub business: BusinessConfig,
    /// Orders whose total is *above* this amount (per currency) need a full billing
    /// address.
    #[serde(default)]
    pub full_billing_address_above: Vec<AmountConfig>,
    /// The shipping methods on offer, with their restrictions.
    #[serde(default)]
    pub shipping_methods: Vec<ShippingMethodConfig>,
    /// Who may buy subscription-only items.
    #[serde(default)]
    pub subscription: SubscriptionConfig,
    /// Minimum and maximum order totals per currency.
    #[serde(default)]
    pub order_limits: Vec<OrderLimitConfig>,
}

/// Requirements for business customers.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BusinessConfig {
    /// A company name is required.
    #[serde(default = "yes")]
    pub require_company_name: bool,
    /// A VAT ID is required (and must look like one: country prefix + 2–13 alphanumerics).
    #[serde(default = "yes")]
    pub require_vat_id: bool,
}

fn yes() -> bool {
    true
}

impl Default for BusinessConfig {
    fn default() -> Self {
        Self {
            require_company_name: true,
            require_vat_id: true,
        }
    }
}

/// An amount in minor units of a currency, as configured.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AmountConfig {
    /// ISO 4217 code.
    pub currency: String,
    /// Minor units.
    pub minor: i64,
}

/// One shipping method and where and what it may carry.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShippingMethodConfig {
    /// Stable code the client picks (`parcel`, `courier`…).
    pub code: String,
    /// Destination countries served (ISO 3166-1 alpha-2); empty means every country.
    #[serde(default)]
    pub countries: Vec<String>,
    /// Heaviest order the method carries, in grams.
    #[serde(default)]
    pub max_weight_grams: Option<u64>,
    /// Item types the method refuses (`battery`, `liquid`…).
    #[serde(default)]
    pub excluded_item_types: Vec<String>,
}

/// Who is eligible for subscription-only items.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SubscriptionConfig {
    /// Customer types that may subscribe. Default: both.
    #[serde(default = "all_customer_types")]
    pub customer_types: Vec<CustomerType>,
    /// The customer must have verified their e-mail address.
    #[serde(default = "yes")]
    pub require_verified_email: bool,
    /// Minimum account age in days.
    #[serde(default)]
    pub min_account_age_days: u32,
}

fn all_customer_types() -> Vec<CustomerType> {
    vec![CustomerType::Consumer, CustomerType::Business]
}

impl Default for SubscriptionConfig {
    fn default() -> Self {
        Self {
            customer_types: all_customer_types(),
            require_verified_email: true,
            min_account_age_days: 0,
        }
    }
}

/// Order total limits for one currency.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OrderLimitConfig {
    /// ISO 4217 code.
    pub currency: String,
    /// Smallest accepted total, minor units.
    #[serde(default)]
    pub min_minor: Option<i64>,
    /// Largest accepted total, minor units.
    #[serde(default)]
    pub max_minor: Option<i64>,
}

/// Configuration that cannot be compiled into rules.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RulesConfigError {
    /// A currency code is not three letters.
    #[error("rules: unknown currency {0:?}")]
    Currency(String),
    /// A country code is not two letters.
    #[error("rules: malformed country {0:?}")]
    Country(String),
    /// A shipping method code is empty, too long or repeated.
    #[error("rules: bad or duplicate shipping method code {0:?}")]
    ShippingCode(String),
    /// A negative amount, a minimum above the maximum, or a currency listed twice.
    #[error("rules: bad amount for {0}")]
    Amount(String),
}

// ---------------------------------------------------------------------------------
// Compiled rules
// ---------------------------------------------------------------------------------

/// The compiled rules: every code parsed, every limit checked.
#[derive(Debug, Clone)]
pub struct Rules {
    business: BusinessConfig,
    billing_threshold: BTreeMap<Currency, i64>,
    shipping: BTreeMap<String, ShippingMethod>,
    subscription: Subscription,
    limits: BTreeMap<Currency, (Option<i64>, Option<i64>)>,
}

#[derive(Debug, Clone)]
struct ShippingMethod {
    countries: BTreeSet<Country>,
    max_weight_grams: Option<u64>,
    excluded_item_types: BTreeSet<String>,
}

#[derive(Debug, Clone)]
struct Subscription {
    customer_types: BTreeSet<CustomerType>,
    require_verified_email: bool,
    min_account_age_days: u32,
}

fn currency(s: &str) -> Result<Currency, RulesConfigError> {
    Currency::parse(s).map_err(|_| RulesConfigError::Currency(s.to_owned()))
}

impl Rules {
    /// Parses and checks configuration once.
    pub fn compile(cfg: RulesConfig) -> Result<Self, RulesConfigError> {
        let mut billing_threshold = BTreeMap::new();
        for a in &cfg.full_billing_address_above {
            let c = currency(&a.currency)?;
            if a.minor < 0 || billing_threshold.insert(c, a.minor).is_some() {
                return Err(RulesConfigError::Amount(c.to_string()));
            }
        }
        let mut shipping = BTreeMap::new();
        for m in cfg.shipping_methods {
            let code = m.code.trim().to_owned();
            if code.is_empty() || code.len() > 64 || shipping.contains_key(&code) {
                return Err(RulesConfigError::ShippingCode(m.code));
            }
            let countries = m
                .countries
                .iter()
                .map(|c| Country::parse(c).map_err(|_| RulesConfigError::Country(c.clone())))
                .collect::<Result<_, _>>()?;
            let excluded_item_types = m
                .excluded_item_types
                .iter()
                .map(|t| t.trim().to_ascii_lowercase())
                .collect();
            shipping.insert(
                code,
                ShippingMethod {
                    countries,
                    max_weight_grams: m.max_weight_grams,
                    excluded_item_types,
                },
            );
        }
        let mut limits = BTreeMap::new();
        for l in &cfg.order_limits {
            let c = currency(&l.currency)?;
            let bad = l.min_minor.is_some_and(|m| m < 0)
                || l.max_minor.is_some_and(|m| m < 0)
                || matches!((l.min_minor, l.max_minor), (Some(a), Some(b)) if a > b);
            if bad || limits.insert(c, (l.min_minor, l.max_minor)).is_some() {
                return Err(RulesConfigError::Amount(c.to_string()));
            }
        }
        Ok(Self {
            business: cfg.business,
            billing_threshold,
            shipping,
            subscription: Subscription {
                customer_types: cfg.subscription.customer_types.into_iter().collect(),
                require_verified_email: cfg.subscription.require_verified_email,
                min_account_age_days: cfg.subscription.min_account_age_days,
            },
            limits,
        })
    }

    /// The configured shipping method codes, sorted.
    pub fn shipping_method_codes(&self) -> impl Iterator<Item = &str> {
        self.shipping.keys().map(String::as_str)
    }
}

// ---------------------------------------------------------------------------------
// What is evaluated
// ---------------------------------------------------------------------------------

/// A postal address as the checkout holds it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Address {
    /// Recipient or company name.
    pub name: String,
    /// Street and number.
    pub line1: String,
    /// Further line.
    pub line2: String,
    /// Postal code.
    pub postal_code: String,
    /// City.
    pub city: String,
    /// Country; `None` when not given.
    pub country: Option<Country>,
}

impl Address {
    /// Name, street, postal code, city and country all given.
    pub fn is_full(&self) -> bool {
        [&self.name, &self.line1, &self.postal_code, &self.city]
            .iter()
            .all(|s| !s.trim().is_empty())
            && self.country.is_some()
    }
}

/// The buyer as the rules see them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CustomerProfile {
    /// Consumer or business.
    pub kind: CustomerType,
    /// Company name (business customers).
    pub company_name: Option<String>,
    /// VAT ID (business customers).
    pub vat_id: Option<String>,
    /// Signed in with an account (anonymous visitors are never subscription-eligible).
    pub signed_in: bool,
    /// The account's e-mail address is verified.
    pub email_verified: bool,
    /// Whole days since the account was created.
    pub account_age_days: u32,
}

/// One line of the order, with what the rules need to know of the item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DraftLine {
    /// Item type tag (`book`, `battery`…), compared case-insensitively.
    pub item_type: String,
    /// The item can only be bought by subscription-eligible customers.
    pub subscription_only: bool,
    /// Weight of one unit in grams (0 for digital goods).
    pub unit_weight_grams: u64,
    /// Units.
    pub quantity: u32,
}

/// Everything the engine looks at for one checkout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckoutDraft {
    /// The buyer.
    pub customer: CustomerProfile,
    /// The order lines.
    pub lines: Vec<DraftLine>,
    /// The order total (the cart's, computed on the server).
    pub total: Money,
    /// Billing address, if given.
    pub billing_address: Option<Address>,
    /// Shipping address, if given.
    pub shipping_address: Option<Address>,
    /// The chosen shipping method code, if any.
    pub shipping_method: Option<String>,
    /// Each store's part of the order with that store's own settings (the cart splits
    /// into one escrow transaction per store).
    pub stores: Vec<StoreOrder>,
}

/// One store's part of an order, and the checkout rules the store set for itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreOrder {
    /// The store.
    pub store: StoreId,
    /// Sum of its lines.
    pub subtotal: Money,
    /// The store's minimum order (store settings), in its currency.
    pub min_order: Option<Money>,
}

/// Why a shipping method cannot carry this order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShippingRestriction {
    /// The destination country is not served.
    Country,
    /// The order is heavier than the method carries.
    Weight,
    /// An item type is excluded.
    ItemType,
}

impl ShippingRestriction {
    /// Stable code of the reason.
    pub fn code(self) -> &'static str {
        match self {
            Self::Country => "country",
            Self::Weight => "weight",
            Self::ItemType => "item_type",
        }
    }
}

/// One broken rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RuleViolation {
    /// A business customer gave no company name.
    CompanyNameRequired,
    /// A business customer gave no VAT ID.
    VatIdRequired,
    /// The VAT ID does not look like one.
    VatIdInvalid,
    /// The order needs a full billing address (over the threshold) and has none.
    BillingAddressRequired,
    /// The order contains physical goods but has no full shipping address.
    ShippingAddressRequired,
    /// The order contains physical goods but no shipping method was chosen.
    ShippingMethodRequired,
    /// The chosen shipping method does not exist.
    ShippingMethodUnknown,
    /// The chosen method cannot carry this order.
    ShippingMethodUnavailable(ShippingRestriction),
    /// A subscription-only item for a customer who is not eligible.
    SubscriptionNotEligible,
    /// The total is below the minimum for its currency.
    OrderBelowMinimum(Money),
    /// The total is above the maximum for its currency.
    OrderAboveMaximum(Money),
    /// One store's part is below the minimum that store set.
    StoreOrderBelowMinimum {
        /// The store.
        store: StoreId,
        /// Its minimum.
        minimum: Money,
    },
    /// The order weight overflowed (absurd quantities).
    OrderTooLarge,
}

impl RuleViolation {
    /// The stable snake_case code the web edge answers with.
    pub fn code(&self) -> &'static str {
        match self {
            Self::CompanyNameRequired => "company_name_required",
            Self::VatIdRequired => "vat_id_required",
            Self::VatIdInvalid => "vat_id_invalid",
            Self::BillingAddressRequired => "billing_address_required",
            Self::ShippingAddressRequired => "shipping_address_required",
            Self::ShippingMethodRequired => "shipping_method_required",
            Self::ShippingMethodUnknown => "shipping_method_unknown",
            Self::ShippingMethodUnavailable(_) => "shipping_method_unavailable",
            Self::SubscriptionNotEligible => "subscription_not_eligible",
            Self::OrderBelowMinimum(_) => "order_below_minimum",
            Self::OrderAboveMaximum(_) => "order_above_maximum",
            Self::StoreOrderBelowMinimum { .. } => "store_order_below_minimum",
            Self::OrderTooLarge => "order_too_large",
        }
    }
}

/// A VAT ID: two-letter country prefix and 2–13 letters or digits (spaces ignored).
pub fn vat_id_looks_valid(s: &str) -> bool {
    let s: String = s.chars().filter(|c| !c.is_whitespace()).collect();
    let b = s.as_bytes();
    b.len() >= 4
        && b.len() <= 15
        && b[..2].iter().all(u8::is_ascii_alphabetic)
        && b[2..].iter().all(u8::is_ascii_alphanumeric)
}

fn blank(s: &Option<String>) -> bool {
    s.as_deref().is_none_or(|s| s.trim().is_empty())
}

/// Evaluates every rule against `draft`; `Err` lists every violation, in rule order.
pub fn evaluate(rules: &Rules, draft: &CheckoutDraft) -> Result<(), Vec<RuleViolation>> {
    let mut v = Vec::new();
    let c = &draft.customer;

    // Addresses by customer type.
    if c.kind == CustomerType::Business {
        if rules.business.require_company_name && blank(&c.company_name) {
            v.push(RuleViolation::CompanyNameRequired);
        }
        if rules.business.require_vat_id {
            match c.vat_id.as_deref() {
                None => v.push(RuleViolation::VatIdRequired),
                Some(s) if s.trim().is_empty() => v.push(RuleViolation::VatIdRequired),
                Some(s) if !vat_id_looks_valid(s) => v.push(RuleViolation::VatIdInvalid),
                Some(_) => {}
            }
        }
    }
    // Addresses by order value.
    if let Some(&threshold) = rules.billing_threshold.get(&draft.total.currency) {
        let full = draft.billing_address.as_ref().is_some_and(Address::is_full);
        if draft.total.minor > threshold && !full {
            v.push(RuleViolation::BillingAddressRequired);
        }
    }

    // Shipping: only orders with something to ship.
    match order_weight(&draft.lines) {
        None => v.push(RuleViolation::OrderTooLarge),
        Some(weight) if weight > 0 => shipping(rules, draft, weight, &mut v),
        // Nothing to ship, but a chosen method must still serve the destination.
        Some(_) => v.extend(chosen_method_violations(rules, draft)),
    }

    // Subscription eligibility.
    if draft.lines.iter().any(|l| l.subscription_only) {
        let s = &rules.subscription;
        let eligible = c.signed_in
            && s.customer_types.contains(&c.kind)
            && (!s.require_verified_email || c.email_verified)
            && c.account_age_days >= s.min_account_age_days;
        if !eligible {
            v.push(RuleViolation::SubscriptionNotEligible);
        }
    }

    // Order minimum and maximum.
    if let Some(&(min, max)) = rules.limits.get(&draft.total.currency) {
        let cur = draft.total.currency;
        if let Some(min) = min.filter(|m| draft.total.minor < *m) {
            v.push(RuleViolation::OrderBelowMinimum(Money::new(min, cur)));
        }
        if let Some(max) = max.filter(|m| draft.total.minor > *m) {
            v.push(RuleViolation::OrderAboveMaximum(Money::new(max, cur)));
        }
    }

    // Store settings: each store's own minimum, on its part of the order. A minimum in
    // another currency than the part cannot be compared and does not apply (a store
    // prices in one currency, so this means the setting is stale).
    for part in &draft.stores {
        if let Some(min) = part.min_order {
            if min.currency == part.subtotal.currency && part.subtotal.minor < min.minor {
                v.push(RuleViolation::StoreOrderBelowMinimum {
                    store: part.store.clone(),
                    minimum: min,
                });
            }
        }
    }

    if v.is_empty() {
        Ok(())
    } else {
        Err(v)
    }
}

fn shipping(rules: &Rules, draft: &CheckoutDraft, weight: u64, v: &mut Vec<RuleViolation>) {
    let address = draft.shipping_address.as_ref().filter(|a| a.is_full());
    if address.is_none() {
        v.push(RuleViolation::ShippingAddressRequired);
    }
    let Some(code) = draft.shipping_method.as_deref() else {
        v.push(RuleViolation::ShippingMethodRequired);
        return;
    };
    let Some(method) = rules.shipping.get(code.trim()) else {
        v.push(RuleViolation::ShippingMethodUnknown);
        return;
    };
    let country = address.and_then(|a| a.country);
    for r in method.restrictions(country, weight, &draft.lines) {
        v.push(RuleViolation::ShippingMethodUnavailable(r));
    }
}

/// What is wrong with the chosen shipping method for this order (unknown, or it does
/// not serve the shipping country, weight or item types); empty when none is chosen.
pub fn chosen_method_violations(rules: &Rules, draft: &CheckoutDraft) -> Vec<RuleViolation> {
    let Some(code) = draft.shipping_method.as_deref() else {
        return Vec::new();
    };
    let Some(method) = rules.shipping.get(code.trim()) else {
        return vec![RuleViolation::ShippingMethodUnknown];
    };
    let Some(weight) = order_weight(&draft.lines) else {
        return vec![RuleViolation::OrderTooLarge];
    };
    let country = draft.shipping_address.as_ref().and_then(|a| a.country);
    method
        .restrictions(country, weight, &draft.lines)
        .into_iter()
        .map(RuleViolation::ShippingMethodUnavailable)
        .collect()
}

impl ShippingMethod {
    /// Why this method cannot carry `lines` of total `weight` to `country` (an unknown
    /// country restricts nothing yet: the address rule reports it).
    fn restrictions(
        &self,
        country: Option<Country>,
        weight: u64,
        lines: &[DraftLine],
    ) -> Vec<ShippingRestriction> {
        let mut out = Vec::new();
        if country.is_some_and(|c| !self.countries.is_empty() && !self.countries.contains(&c)) {
            out.push(ShippingRestriction::Country);
        }
        if self.max_weight_grams.is_some_and(|max| weight > max) {
            out.push(ShippingRestriction::Weight);
        }
        let excluded = lines.iter().any(|l| {
            self.excluded_item_types
                .contains(&l.item_type.trim().to_ascii_lowercase())
        });
        if excluded {
            out.push(ShippingRestriction::ItemType);
        }
        out
    }
}

/// The shipping methods that can carry `draft` (to its shipping address's country),
/// for offering choices before the customer picks one. Sorted by code; empty when the
/// order's weight overflows.
pub fn available_shipping_methods<'r>(rules: &'r Rules, draft: &CheckoutDraft) -> Vec<&'r str> {
    let Some(weight) = order_weight(&draft.lines) else {
        return Vec::new();
    };
    let country = draft.shipping_address.as_ref().and_then(|a| a.country);
    rules
        .shipping
        .iter()
        .filter(|(_, m)| m.restrictions(country, weight, &draft.lines).is_empty())
        .map(|(code, _)| code.as_str())
        .collect()
}

fn order_weight(lines: &[DraftLine]) -> Option<u64> {
    lines.iter().try_fold(0u64, |acc, l| {
        l.unit_weight_grams
            .checked_mul(u64::from(l.quantity))
            .and_then(|w| acc.checked_add(w))
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn eur(minor: i64) -> Money {
        Money::new(minor, Currency::parse("EUR").unwrap())
    }

    fn rules() -> Rules {
        let cfg: RulesConfig = toml::from_str(
            r#"
            full_billing_address_above = [{ currency = "EUR", minor = 100000 }]
            order_limits = [{ currency = "EUR", min_minor = 500, max_minor = 1000000 }]
            [[shipping_methods]]
            code = "parcel"
            countries = ["EE", "FI"]
            max_weight_grams = 20000
            excluded_item_types = ["Battery"]
            [[shipping_methods]]
            code = "courier"
            [subscription]
            customer_types = ["consumer"]
            min_account_age_days = 7
            "#,
        )
        .unwrap();
        Rules::compile(cfg).unwrap()
    }

    fn address(country: &str) -> Address {
        Address {
            name: "Mari Maasikas".into(),
            line1: "Pikk 1".into(),
            line2: String::new(),
            postal_code: "10123".into(),
            city: "Tallinn".into(),
            country: Some(Country::parse(country).unwrap()),
        }
    }

    fn consumer() -> CustomerProfile {
        CustomerProfile {
            kind: CustomerType::Consumer,
            company_name: None,
            vat_id: None,
            signed_in: true,
            email_verified: true,
            account_age_days: 30,
        }
    }

    fn book(quantity: u32) -> DraftLine {
        DraftLine {
            item_type: "book".into(),
            subscription_only: false,
            unit_weight_grams: 500,
            quantity,
        }
    }

    fn draft() -> CheckoutDraft {
        CheckoutDraft {
            customer: consumer(),
            lines: vec![book(2)],
            total: eur(4000),
            billing_address: None,
            shipping_address: Some(address("EE")),
            shipping_method: Some("parcel".into()),
            stores: vec![StoreOrder {
                store: StoreId::from_stored("store-a"),
                subtotal: eur(4000),
                min_order: Some(eur(1000)),
            }],
        }
    }

    fn codes(r: Result<(), Vec<RuleViolation>>) -> Vec<&'static str> {
        r.err()
            .unwrap_or_default()
            .iter()
            .map(RuleViolation::code)
            .collect()
    }

    #[test]
    fn a_plain_consumer_order_passes() {
        assert_eq!(evaluate(&rules(), &draft()), Ok(()));
    }

    #[test]
    fn business_customers_need_company_name_and_vat_id() {
        let mut d = draft();
        d.customer.kind = CustomerType::Business;
        assert_eq!(
            codes(evaluate(&rules(), &d)),
            ["company_name_required", "vat_id_required"]
        );
        d.customer.company_name = Some("Acme OÜ".into());
        d.customer.vat_id = Some("12-345".into());
        assert_eq!(codes(evaluate(&rules(), &d)), ["vat_id_invalid"]);
        d.customer.vat_id = Some("EE 101234567".into());
        assert_eq!(evaluate(&rules(), &d), Ok(()));
    }

    #[test]
    fn large_orders_need_a_full_billing_address() {
        let mut d = draft();
        d.total = eur(100_000);
        assert_eq!(evaluate(&rules(), &d), Ok(()), "at the threshold is fine");
        d.total = eur(100_001);
        assert_eq!(codes(evaluate(&rules(), &d)), ["billing_address_required"]);
        let mut partial = address("EE");
        partial.city = " ".into();
        d.billing_address = Some(partial);
        assert_eq!(codes(evaluate(&rules(), &d)), ["billing_address_required"]);
        d.billing_address = Some(address("LV"));
        assert_eq!(evaluate(&rules(), &d), Ok(()));
    }

    #[test]
    fn shipping_methods_are_restricted_by_country_weight_and_item_type() {
        let mut d = draft();
        d.shipping_address = Some(address("DE"));
        assert_eq!(
            evaluate(&rules(), &d),
            Err(vec![RuleViolation::ShippingMethodUnavailable(
                ShippingRestriction::Country
            )])
        );
        let mut d = draft();
        d.lines = vec![book(41)];
        assert_eq!(
            evaluate(&rules(), &d),
            Err(vec![RuleViolation::ShippingMethodUnavailable(
                ShippingRestriction::Weight
            )])
        );
        let mut d = draft();
        d.lines.push(DraftLine {
            item_type: "battery".into(),
            ..book(1)
        });
        assert_eq!(
            evaluate(&rules(), &d),
            Err(vec![RuleViolation::ShippingMethodUnavailable(
                ShippingRestriction::ItemType
            )])
        );
        // The unrestricted courier takes all three.
        d.shipping_method = Some("courier".into());
        d.shipping_address = Some(address("DE"));
        d.lines[0].quantity = 100;
        assert_eq!(evaluate(&rules(), &d), Ok(()));
    }

    #[test]
    fn available_methods_are_those_without_restrictions() {
        let r = rules();
        let mut d = draft();
        assert_eq!(available_shipping_methods(&r, &d), ["courier", "parcel"]);
        d.shipping_address = Some(address("DE"));
        assert_eq!(available_shipping_methods(&r, &d), ["courier"]);
        d.lines[0].unit_weight_grams = u64::MAX;
        assert!(available_shipping_methods(&r, &d).is_empty());
    }

    #[test]
    fn shipping_needs_a_known_method_and_an_address_unless_nothing_ships() {
        let mut d = draft();
        d.shipping_method = Some("teleport".into());
        assert_eq!(codes(evaluate(&rules(), &d)), ["shipping_method_unknown"]);
        d.shipping_method = None;
        d.shipping_address = None;
        assert_eq!(
            codes(evaluate(&rules(), &d)),
            ["shipping_address_required", "shipping_method_required"]
        );
        d.lines[0].unit_weight_grams = 0; // a download
        assert_eq!(evaluate(&rules(), &d), Ok(()));
        d.lines[0].unit_weight_grams = u64::MAX;
        assert_eq!(codes(evaluate(&rules(), &d)), ["order_too_large"]);
    }

    #[test]
    fn subscription_only_items_need_an_eligible_customer() {
        let mut d = draft();
        d.lines[0].subscription_only = true;
        assert_eq!(evaluate(&rules(), &d), Ok(()));
        for change in [
            (|c: &mut CustomerProfile| c.signed_in = false) as fn(&mut CustomerProfile),
            |c| c.email_verified = false,
            |c| c.account_age_days = 6,
            |c| {
                c.kind = CustomerType::Business;
                c.company_name = Some("Acme".into());
                c.vat_id = Some("EE101234567".into());
            },
        ] {
            let mut d = d.clone();
            change(&mut d.customer);
            assert_eq!(codes(evaluate(&rules(), &d)), ["subscription_not_eligible"]);
        }
    }

    #[test]
    fn order_minimum_and_maximum_per_currency() {
        let mut d = draft();
        d.total = eur(499);
        assert_eq!(
            evaluate(&rules(), &d),
            Err(vec![RuleViolation::OrderBelowMinimum(eur(500))])
        );
        d.total = eur(1_000_001);
        d.billing_address = Some(address("EE"));
        assert_eq!(
            evaluate(&rules(), &d),
            Err(vec![RuleViolation::OrderAboveMaximum(eur(1_000_000))])
        );
        // No limits configured for USD.
        d.total = Money::new(1, Currency::parse("USD").unwrap());
        assert_eq!(evaluate(&rules(), &d), Ok(()));
    }

    #[test]
    fn each_store_may_set_its_own_minimum() {
        let mut d = draft();
        d.stores[0].subtotal = eur(999);
        d.stores.push(StoreOrder {
            store: StoreId::from_stored("store-b"),
            subtotal: eur(3001),
            min_order: Some(eur(3000)),
        });
        assert_eq!(
            evaluate(&rules(), &d),
            Err(vec![RuleViolation::StoreOrderBelowMinimum {
                store: StoreId::from_stored("store-a"),
                minimum: eur(1000)
            }])
        );
        assert_eq!(codes(evaluate(&rules(), &d)), ["store_order_below_minimum"]);
        d.stores[0].min_order = Some(Money::new(5000, Currency::parse("USD").unwrap()));
        assert_eq!(evaluate(&rules(), &d), Ok(()));
    }

    #[test]
    fn every_violation_is_reported_at_once() {
        let mut d = draft();
        d.customer.kind = CustomerType::Business;
        d.customer.signed_in = false;
        d.lines[0].subscription_only = true;
        d.total = eur(100);
        d.shipping_method = None;
        assert_eq!(
            codes(evaluate(&rules(), &d)),
            [
                "company_name_required",
                "vat_id_required",
                "shipping_method_required",
                "subscription_not_eligible",
                "order_below_minimum"
            ]
        );
    }

    #[test]
    fn bad_configuration_is_refused_at_compile() {
        let bad = |s: &str| Rules::compile(toml::from_str::<RulesConfig>(s).unwrap()).err();
        assert_eq!(
            bad(r#"order_limits = [{ currency = "EURO", min_minor = 1 }]"#),
            Some(RulesConfigError::Currency("EURO".into()))
        );
        assert!(matches!(
            bad(r#"order_limits = [{ currency = "EUR", min_minor = 10, max_minor = 5 }]"#),
            Some(RulesConfigError::Amount(_))
        ));
        assert!(matches!(
            bad("shipping_methods = [{ code = \"a\", countries = [\"EST\"] }]"),
            Some(RulesConfigError::Country(_))
        ));
        assert!(matches!(
            bad("shipping_methods = [{ code = \"a\" }, { code = \"a\" }]"),
            Some(RulesConfigError::ShippingCode(_))
        ));
        assert!(toml::from_str::<RulesConfig>("min_order = 5").is_err());
        assert!(Rules::compile(RulesConfig::default()).is_ok());
    }
}
