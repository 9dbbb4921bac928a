//! Wire types of the marketplace API: what the `/v1` store, item and catalog routes
//! accept and return. Requests refuse unknown fields; limits name the constants next
//! to the parsers in `rampart-marketplace`. Responses are built from the service's
//! view types field by field.

use rampart_kernel::Money;
use rampart_ledger::{EscrowState, IntentKind, IntentStatus, IntentView};
use rampart_marketplace::catalog::{LIMIT_MAX, TEXT_MAX};
use rampart_marketplace::items::{
    DESCRIPTION_MAX as ITEM_DESCRIPTION_MAX, ITEM_TYPE_MAX, PRICE_MAX, STOCK_MAX, TITLE_MAX,
    WEIGHT_MAX,
};
use rampart_marketplace::purchases::{LIMIT_MAX as TXN_LIMIT_MAX, QUANTITY_MAX};
use rampart_marketplace::stores::{
    AUTO_RELEASE_MAX, AUTO_RELEASE_MIN, DESCRIPTION_MAX, MIN_ORDER_MAX, NAME_MAX,
};
use rampart_marketplace::{
    ItemView, MemberView, MyStore, StoreView, TransactionAction, TransactionLine, TransactionPage,
    TransactionView,
};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

// ----- requests -----------------------------------------------------------------

/// `POST /v1/stores`.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateStoreRequest {
    /// Name.
    #[schemars(length(min = 1, max = NAME_MAX))]
    pub name: String,
    /// Description.
    #[serde(default)]
    #[schemars(length(max = DESCRIPTION_MAX))]
    pub description: Option<String>,
    /// ISO 4217 code of the store's prices.
    #[schemars(length(min = 3, max = 3), regex(pattern = r"^[A-Za-z]{3}$"))]
    pub currency: String,
    /// Days after shipping before escrow releases by itself (default 14).
    #[serde(default)]
    #[schemars(range(min = AUTO_RELEASE_MIN, max = AUTO_RELEASE_MAX))]
    pub auto_release_days: Option<i64>,
}

/// `PATCH /v1/stores/{id}`: absent fields stay.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateStoreRequest {
    /// Name.
    #[serde(default)]
    #[schemars(length(min = 1, max = NAME_MAX))]
    pub name: Option<String>,
    /// Description.
    #[serde(default)]
    #[schemars(length(max = DESCRIPTION_MAX))]
    pub description: Option<String>,
    /// ISO 4217 code (applies to items created afterwards).
    #[serde(default)]
    #[schemars(length(min = 3, max = 3), regex(pattern = r"^[A-Za-z]{3}$"))]
    pub currency: Option<String>,
    /// Auto-release period in days.
    #[serde(default)]
    #[schemars(range(min = AUTO_RELEASE_MIN, max = AUTO_RELEASE_MAX))]
    pub auto_release_days: Option<i64>,
    /// The store's minimum order in minor units of its currency (checked at checkout
    /// on the store's part of a cart); `null` removes it.
    #[serde(default, deserialize_with = "double_option::deserialize")]
    #[schemars(with = "Option<i64>", range(min = 1, max = MIN_ORDER_MAX))]
    pub min_order_minor: Option<Option<i64>>,
}

/// Absent stays absent (`None`); `null` is `Some(None)`.
mod double_option {
    use serde::{Deserialize, Deserializer};
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Option<i64>>, D::Error> {
        Option::<i64>::deserialize(d).map(Some)
    }
}

/// A store role.
#[derive(Deserialize, Serialize, JsonSchema, Clone, Copy)]
#[serde(rename_all = "snake_case")]
pub enum StoreRoleWire {
    /// Everything, including settings and members.
    Owner,
    /// Items and prices.
    Manager,
    /// Stock.
    Clerk,
}

impl From<StoreRoleWire> for rampart_marketplace::StoreRole {
    fn from(r: StoreRoleWire) -> Self {
        match r {
            StoreRoleWire::Owner => Self::Owner,
            StoreRoleWire::Manager => Self::Manager,
            StoreRoleWire::Clerk => Self::Clerk,
        }
    }
}

impl From<rampart_marketplace::StoreRole> for StoreRoleWire {
    fn from(r: rampart_marketplace::StoreRole) -> Self {
        use rampart_marketplace::StoreRole as R;
        match r {
            R::Owner => Self::Owner,
            R::Manager => Self::Manager,
            R::Clerk => Self::Clerk,
        }
    }
}

/// `POST /v1/stores/{id}/members`: add a member or change a member's role.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MemberRequest {
    /// The user's username or e-mail.
    #[schemars(length(min = 1, max = 254))]
    pub username: String,
    /// Their store role.
    pub role: StoreRoleWire,
}

/// An item status.
#[derive(Deserialize, Serialize, JsonSchema, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum ItemStatusWire {
    /// Members only.
    Draft,
    /// For sale.
    Active,
    /// Withdrawn for good.
    Archived,
}

impl ItemStatusWire {
    /// The service's name.
    pub fn as_str(self) -> &'static str {
        match self {
            ItemStatusWire::Draft => "draft",
            ItemStatusWire::Active => "active",
            ItemStatusWire::Archived => "archived",
        }
    }
}

impl From<rampart_marketplace::ItemStatus> for ItemStatusWire {
    fn from(s: rampart_marketplace::ItemStatus) -> Self {
        use rampart_marketplace::ItemStatus as S;
        match s {
            S::Draft => Self::Draft,
            S::Active => Self::Active,
            S::Archived => Self::Archived,
        }
    }
}

/// `POST /v1/stores/{id}/items`.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateItemRequest {
    /// Title.
    #[schemars(length(min = 1, max = TITLE_MAX))]
    pub title: String,
    /// Description.
    #[serde(default)]
    #[schemars(length(max = ITEM_DESCRIPTION_MAX))]
    pub description: Option<String>,
    /// Price in minor units of the store's currency.
    #[schemars(range(min = 0, max = PRICE_MAX))]
    pub price_minor: i64,
    /// Initial stock (default 0).
    #[serde(default)]
    #[schemars(range(min = 0, max = STOCK_MAX))]
    pub stock: Option<i64>,
    /// `draft` (default) or `active`.
    #[serde(default)]
    pub status: Option<ItemStatusWire>,
    /// Item type tag for the checkout's shipping rules (`battery`, `liquid`…; default
    /// none).
    #[serde(default)]
    #[schemars(length(max = ITEM_TYPE_MAX), regex(pattern = r"^[a-z0-9_-]*$"))]
    pub item_type: Option<String>,
    /// Weight of one unit in grams (default 0: nothing to ship).
    #[serde(default)]
    #[schemars(range(min = 0, max = WEIGHT_MAX))]
    pub weight_grams: Option<i64>,
    /// Only subscription-eligible customers may buy it (default false).
    #[serde(default)]
    pub subscription_only: Option<bool>,
}

/// `PATCH /v1/items/{id}`: absent fields stay; a price change is audited.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateItemRequest {
    /// Title.
    #[serde(default)]
    #[schemars(length(min = 1, max = TITLE_MAX))]
    pub title: Option<String>,
    /// Description.
    #[serde(default)]
    #[schemars(length(max = ITEM_DESCRIPTION_MAX))]
    pub description: Option<String>,
    /// Price in minor units.
    #[serde(default)]
    #[schemars(range(min = 0, max = PRICE_MAX))]
    pub price_minor: Option<i64>,
    /// Status (draft ⇄ active, either → archived).
    #[serde(default)]
    pub status: Option<ItemStatusWire>,
    /// Item type tag (`""` clears it); audited.
    #[serde(default)]
    #[schemars(length(max = ITEM_TYPE_MAX), regex(pattern = r"^[a-z0-9_-]*$"))]
    pub item_type: Option<String>,
    /// Weight of one unit in grams; audited.
    #[serde(default)]
    #[schemars(range(min = 0, max = WEIGHT_MAX))]
    pub weight_grams: Option<i64>,
    /// Subscription-only; audited.
    #[serde(default)]
    pub subscription_only: Option<bool>,
}

/// `POST /v1/items/{id}/stock`: a manual stock adjustment (audited).
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StockRequest {
    /// Units to add (negative: remove); never below zero in total.
    #[schemars(range(min = -STOCK_MAX, max = STOCK_MAX))]
    pub delta: i64,
}

/// `GET /v1/items` query parameters.
#[derive(Deserialize, JsonSchema, Default)]
pub struct CatalogParams {
    /// Only this store's items (store ID).
    #[serde(default)]
    pub store: Option<String>,
    /// Lowest price in minor units.
    #[serde(default)]
    #[schemars(range(min = 0))]
    pub min_price: Option<i64>,
    /// Highest price in minor units.
    #[serde(default)]
    #[schemars(range(min = 0))]
    pub max_price: Option<i64>,
    /// Only prices in this ISO 4217 currency.
    #[serde(default)]
    pub currency: Option<String>,
    /// Text in the title or description.
    #[serde(default)]
    #[schemars(length(max = TEXT_MAX))]
    pub q: Option<String>,
    /// Page size (default 20).
    #[serde(default)]
    #[schemars(range(min = 1, max = LIMIT_MAX))]
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page.
    #[serde(default)]
    pub cursor: Option<String>,
}

// ----- responses ----------------------------------------------------------------

/// A store.
#[derive(Serialize, JsonSchema)]
pub struct StoreResponse {
    /// Store ID.
    pub id: String,
    /// Name.
    pub name: String,
    /// Description.
    pub description: String,
    /// ISO 4217 code of new items' prices.
    pub currency: String,
    /// Auto-release period in days.
    pub auto_release_days: i64,
    /// The store's minimum order in minor units of its currency, if set.
    pub min_order_minor: Option<i64>,
    /// `active` or `suspended`.
    pub status: String,
    /// Unix milliseconds.
    pub created_at: i64,
    /// Unix milliseconds.
    pub updated_at: i64,
}

impl From<StoreView> for StoreResponse {
    fn from(s: StoreView) -> Self {
        StoreResponse {
            id: s.id.into_string(),
            name: s.name,
            description: s.description,
            currency: s.currency.as_str().to_owned(),
            auto_release_days: s.auto_release_days,
            min_order_minor: s.min_order_minor,
            status: s.status.as_str().to_owned(),
            created_at: s.created_at,
            updated_at: s.updated_at,
        }
    }
}

/// A store of the caller's, with their role.
#[derive(Serialize, JsonSchema)]
pub struct MyStoreResponse {
    /// The store.
    pub store: StoreResponse,
    /// The caller's role in it.
    pub role: StoreRoleWire,
}

impl From<MyStore> for MyStoreResponse {
    fn from(m: MyStore) -> Self {
        MyStoreResponse {
            store: m.store.into(),
            role: m.role.into(),
        }
    }
}

/// `GET /v1/stores`.
#[derive(Serialize, JsonSchema)]
pub struct StoreList {
    /// The caller's stores.
    pub stores: Vec<MyStoreResponse>,
}

/// A member of a store.
#[derive(Serialize, JsonSchema)]
pub struct MemberResponse {
    /// User ID.
    pub user_id: String,
    /// Store role.
    pub role: StoreRoleWire,
    /// Unix milliseconds.
    pub created_at: i64,
}

impl From<MemberView> for MemberResponse {
    fn from(m: MemberView) -> Self {
        MemberResponse {
            user_id: m.user_id.into_string(),
            role: m.role.into(),
            created_at: m.created_at,
        }
    }
}

/// `GET /v1/stores/{id}/members`.
#[derive(Serialize, JsonSchema)]
pub struct MemberList {
    /// Members.
    pub members: Vec<MemberResponse>,
}

/// A price: integer minor units and an ISO 4217 code.
#[derive(Serialize, JsonSchema)]
pub struct PriceResponse {
    /// Minor units (cents).
    pub minor: i64,
    /// ISO 4217 code.
    pub currency: String,
}

/// An item.
#[derive(Serialize, JsonSchema)]
pub struct ItemResponse {
    /// Item ID.
    pub id: String,
    /// Its store.
    pub store_id: String,
    /// Title.
    pub title: String,
    /// Description.
    pub description: String,
    /// Price.
    pub price: PriceResponse,
    /// Units in stock.
    pub stock: i64,
    /// Status.
    pub status: ItemStatusWire,
    /// Item type tag (`""`: none).
    pub item_type: String,
    /// Weight of one unit in grams.
    pub weight_grams: i64,
    /// Only subscription-eligible customers may buy it.
    pub subscription_only: bool,
    /// Unix milliseconds.
    pub created_at: i64,
    /// Unix milliseconds.
    pub updated_at: i64,
}

impl From<ItemView> for ItemResponse {
    fn from(i: ItemView) -> Self {
        ItemResponse {
            id: i.id.into_string(),
            store_id: i.store_id.into_string(),
            title: i.title,
            description: i.description,
            price: PriceResponse {
                minor: i.price.minor,
                currency: i.price.currency.as_str().to_owned(),
            },
            stock: i.stock,
            status: i.status.into(),
            item_type: i.item_type,
            weight_grams: i.weight_grams,
            subscription_only: i.subscription_only,
            created_at: i.created_at,
            updated_at: i.updated_at,
        }
    }
}

/// A list of items (a store's, members' view).
#[derive(Serialize, JsonSchema)]
pub struct ItemList {
    /// Items, newest first.
    pub items: Vec<ItemResponse>,
}

/// `GET /v1/items`: one page of the catalog.
#[derive(Serialize, JsonSchema)]
pub struct CatalogResponse {
    /// Items, newest first.
    pub items: Vec<ItemResponse>,
    /// Pass as `cursor` for the next page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

// ----- purchases and escrow transactions -------------------------------------------

/// `POST /v1/items/{id}/purchases`: the price is the item's, read on the server; a
/// body naming anything else (a `price`) is refused.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PurchaseRequest {
    /// Units to buy.
    #[schemars(range(min = 1, max = QUANTITY_MAX))]
    pub quantity: i64,
}

/// Whose transactions `GET /v1/transactions` lists.
#[derive(Deserialize, JsonSchema, Clone, Copy, Default)]
#[serde(rename_all = "snake_case")]
pub enum TransactionParty {
    /// The caller's purchases (the only list for now; stores list theirs under
    /// `/v1/stores/{id}/transactions`).
    #[default]
    Buyer,
}

/// `GET /v1/transactions` query parameters.
#[derive(Deserialize, JsonSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct TransactionListParams {
    /// `buyer` (default): the caller's purchases.
    #[serde(default, rename = "as")]
    pub party: Option<TransactionParty>,
    /// Page size (default 20).
    #[serde(default)]
    #[schemars(range(min = 1, max = TXN_LIMIT_MAX))]
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page.
    #[serde(default)]
    pub cursor: Option<String>,
}

/// `GET /v1/stores/{id}/transactions` query parameters.
#[derive(Deserialize, JsonSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct PageParams {
    /// Page size (default 20).
    #[serde(default)]
    #[schemars(range(min = 1, max = TXN_LIMIT_MAX))]
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page.
    #[serde(default)]
    pub cursor: Option<String>,
}

/// An escrow transaction's state.
#[derive(Serialize, JsonSchema, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum EscrowStateWire {
    /// Created; the buyer has not paid.
    PendingPayment,
    /// The buyer's money is held in escrow.
    Funded,
    /// Shipped; money still held.
    Shipped,
    /// Released to the seller.
    Completed,
    /// Cancelled before shipping.
    Cancelled,
    /// A dispute is open.
    Disputed,
    /// Refunded in full after a dispute.
    Refunded,
    /// Partly refunded after a dispute.
    PartiallyRefunded,
}

impl From<EscrowState> for EscrowStateWire {
    fn from(s: EscrowState) -> Self {
        use EscrowState as S;
        match s {
            S::PendingPayment => Self::PendingPayment,
            S::Funded => Self::Funded,
            S::Shipped => Self::Shipped,
            S::Completed => Self::Completed,
            S::Cancelled => Self::Cancelled,
            S::Disputed => Self::Disputed,
            S::Refunded => Self::Refunded,
            S::PartiallyRefunded => Self::PartiallyRefunded,
        }
    }
}

/// Something the caller may do to a transaction now.
#[derive(Serialize, JsonSchema, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum TransactionActionWire {
    /// `POST /v1/transactions/{id}/fund` (staff).
    Fund,
    /// `POST /v1/transactions/{id}/ship` (the store).
    Ship,
    /// `POST /v1/transactions/{id}/release` (the buyer confirms receipt).
    Release,
    /// `POST /v1/transactions/{id}/cancel` (the store's managers, staff).
    Cancel,
    /// Open a dispute (the buyer, the store's managers).
    Dispute,
}

impl TransactionActionWire {
    /// The wire form of a service action (`View` is not an action to offer).
    pub fn of(a: TransactionAction) -> Option<Self> {
        match a {
            TransactionAction::View => None,
            TransactionAction::MarkFunded => Some(Self::Fund),
            TransactionAction::Ship => Some(Self::Ship),
            TransactionAction::ConfirmReceipt => Some(Self::Release),
            TransactionAction::Cancel => Some(Self::Cancel),
            TransactionAction::OpenDispute => Some(Self::Dispute),
        }
    }
}

/// A transaction in a list.
#[derive(Serialize, JsonSchema)]
pub struct TransactionSummary {
    /// Transaction ID.
    pub id: String,
    /// The buyer's user ID.
    pub buyer_id: String,
    /// The selling store.
    pub store_id: String,
    /// The item bought.
    pub item_id: String,
    /// The item's title.
    pub item_title: String,
    /// Units bought (of the first line when there are several).
    pub quantity: i64,
    /// How many lines (items) the transaction holds: 1 for a single-item purchase,
    /// more for a checkout's share of one store.
    pub line_count: i64,
    /// The amount paid into escrow: the sum of price at purchase × quantity.
    pub amount: PriceResponse,
    /// Returned to the buyer so far (while money is held, the escrow holds the rest).
    pub refunded: PriceResponse,
    /// The platform fee fixed at purchase, in basis points.
    pub fee_bps: u32,
    /// State.
    pub state: EscrowStateWire,
    /// Unix milliseconds.
    pub created_at: i64,
    /// Unix milliseconds.
    pub updated_at: i64,
}

/// One item of a transaction.
#[derive(Serialize, JsonSchema)]
pub struct TransactionItemResponse {
    /// The item.
    pub item_id: String,
    /// Its title now.
    pub item_title: String,
    /// Units bought.
    pub quantity: i64,
    /// Price of one at purchase.
    pub unit_price: PriceResponse,
}

fn price(m: Money) -> PriceResponse {
    PriceResponse {
        minor: m.minor,
        currency: m.currency.as_str().to_owned(),
    }
}

impl From<TransactionLine> for TransactionSummary {
    fn from(l: TransactionLine) -> Self {
        let t = l.escrow;
        TransactionSummary {
            id: t.id.into_string(),
            buyer_id: t.buyer.into_string(),
            store_id: t.store.into_string(),
            item_id: t.item.into_string(),
            item_title: l.item_title,
            quantity: t.quantity,
            line_count: t.line_count,
            amount: price(t.amount),
            refunded: price(t.refunded),
            fee_bps: t.fee_bps,
            state: t.state.into(),
            created_at: t.created_at,
            updated_at: t.updated_at,
        }
    }
}

/// What an intent asks for.
#[derive(Serialize, JsonSchema, Clone, Copy)]
#[serde(rename_all = "snake_case")]
pub enum IntentKindWire {
    /// Release the escrow to the seller.
    Release,
    /// Cancel (refunding a funded amount).
    Cancel,
}

/// Where an intent stands.
#[derive(Serialize, JsonSchema, Clone, Copy)]
#[serde(rename_all = "snake_case")]
pub enum IntentStatusWire {
    /// Waiting for the worker.
    Pending,
    /// Carried out.
    Done,
    /// Could not be carried out; see `last_error`.
    Failed,
}

/// A release or cancel intent (D4), carried out by the worker.
#[derive(Serialize, JsonSchema)]
pub struct IntentResponse {
    /// Intent ID.
    pub id: String,
    /// The transaction it acts on.
    pub transaction_id: String,
    /// Release or cancel.
    pub kind: IntentKindWire,
    /// Pending, done or failed.
    pub status: IntentStatusWire,
    /// Who asked (absent: the system, e.g. auto-release).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub requested_by: Option<String>,
    /// Times a worker started it.
    pub attempts: i64,
    /// Why it failed, when it did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    /// Unix milliseconds.
    pub created_at: i64,
    /// Unix milliseconds, once done or failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub done_at: Option<i64>,
}

impl From<IntentView> for IntentResponse {
    fn from(i: IntentView) -> Self {
        IntentResponse {
            id: i.id,
            transaction_id: i.transaction.into_string(),
            kind: match i.kind {
                IntentKind::Release => IntentKindWire::Release,
                IntentKind::Cancel => IntentKindWire::Cancel,
            },
            status: match i.status {
                IntentStatus::Pending => IntentStatusWire::Pending,
                IntentStatus::Done => IntentStatusWire::Done,
                IntentStatus::Failed => IntentStatusWire::Failed,
            },
            requested_by: i.requested_by.map(|u| u.into_string()),
            attempts: i.attempts,
            last_error: i.last_error,
            created_at: i.created_at,
            done_at: i.done_at,
        }
    }
}

/// An escrow transaction as one caller sees it.
#[derive(Serialize, JsonSchema)]
pub struct TransactionResponse {
    /// Transaction ID.
    pub id: String,
    /// The buyer's user ID.
    pub buyer_id: String,
    /// The selling store.
    pub store_id: String,
    /// The store's name.
    pub store_name: String,
    /// The item bought.
    pub item_id: String,
    /// The item's title.
    pub item_title: String,
    /// Units bought (of the first line when there are several).
    pub quantity: i64,
    /// Every item of the transaction, in the order bought.
    pub lines: Vec<TransactionItemResponse>,
    /// The amount paid into escrow: the sum of price at purchase × quantity.
    pub amount: PriceResponse,
    /// Returned to the buyer so far (while money is held, the escrow holds the rest).
    pub refunded: PriceResponse,
    /// The platform fee on a release of what is held.
    pub fee: PriceResponse,
    /// The platform fee fixed at purchase, in basis points.
    pub fee_bps: u32,
    /// State.
    pub state: EscrowStateWire,
    /// Release and cancel intents, oldest first.
    pub intents: Vec<IntentResponse>,
    /// What the caller may do now (their role and the state both allow it).
    pub actions: Vec<TransactionActionWire>,
    /// Unix milliseconds.
    pub created_at: i64,
    /// Unix milliseconds.
    pub updated_at: i64,
}

impl From<TransactionView> for TransactionResponse {
    fn from(v: TransactionView) -> Self {
        let t = v.escrow;
        TransactionResponse {
            id: t.id.into_string(),
            buyer_id: t.buyer.into_string(),
            store_id: t.store.into_string(),
            store_name: v.store_name,
            item_id: t.item.into_string(),
            item_title: v.item_title,
            quantity: t.quantity,
            lines: v
                .lines
                .into_iter()
                .map(|(l, title)| TransactionItemResponse {
                    item_id: l.item.into_string(),
                    item_title: title,
                    quantity: l.quantity,
                    unit_price: price(l.unit_price),
                })
                .collect(),
            amount: price(t.amount),
            refunded: price(t.refunded),
            fee: price(v.fee),
            fee_bps: t.fee_bps,
            state: t.state.into(),
            intents: v.intents.into_iter().map(Into::into).collect(),
            actions: v
                .actions
                .into_iter()
                .filter_map(TransactionActionWire::of)
                .collect(),
            created_at: t.created_at,
            updated_at: t.updated_at,
        }
    }
}

/// One page of transactions.
#[derive(Serialize, JsonSchema)]
pub struct TransactionList {
    /// Newest first.
    pub transactions: Vec<TransactionSummary>,
    /// Pass as `cursor` for the next page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

impl From<TransactionPage> for TransactionList {
    fn from(p: TransactionPage) -> Self {
        TransactionList {
            transactions: p.transactions.into_iter().map(Into::into).collect(),
            next_cursor: p.next.map(|c| c.encode()),
        }
    }
}
