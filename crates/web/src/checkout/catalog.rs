//! The checkout context's strings: the titles of its problem codes, in English and
//! Estonian.

/// The checkout catalog entries.
pub const CATALOG: &[(&str, &str, &str)] = &[
    (
        "err.cart_version_conflict",
        "The cart was changed meanwhile",
        "Ostukorvi on vahepeal muudetud",
    ),
    (
        "err.cart_closed",
        "This cart is closed",
        "See ostukorv on suletud",
    ),
    (
        "err.cart_payment_in_progress",
        "This cart has been paid; complete the order",
        "See ostukorv on makstud; vormista tellimus",
    ),
    (
        "err.payment_refunded",
        "This payment was refunded and cannot complete the order; please pay again",
        "See makse tagastati ja tellimust sellega vormistada ei saa; palun maksa uuesti",
    ),
    (
        "err.cart_prices_changed",
        "Prices have changed; please check your cart",
        "Hinnad on muutunud; palun vaata ostukorv üle",
    ),
    (
        "err.item_unavailable",
        "This item is not for sale",
        "Seda toodet ei müüda",
    ),
    (
        "err.quantity_too_small",
        "The quantity must be at least 1",
        "Kogus peab olema vähemalt 1",
    ),
    (
        "err.quantity_too_large",
        "The quantity is too large",
        "Kogus on liiga suur",
    ),
    (
        "err.cart_too_many_lines",
        "The cart has too many lines",
        "Ostukorvis on liiga palju ridu",
    ),
    (
        "err.cart_mixed_currencies",
        "A cart holds one currency",
        "Ostukorvis saab olla üks valuuta",
    ),
    (
        "err.cart_line_not_found",
        "No such line in the cart",
        "Ostukorvis pole sellist rida",
    ),
    ("err.cart_empty", "The cart is empty", "Ostukorv on tühi"),
    (
        "err.amount_out_of_range",
        "The amount is out of range",
        "Summa on lubatust väljas",
    ),
    (
        "err.company_name_required",
        "A company name is required",
        "Ettevõtte nimi on kohustuslik",
    ),
    (
        "err.vat_id_required",
        "A VAT ID is required",
        "KMKR number on kohustuslik",
    ),
    (
        "err.vat_id_invalid",
        "The VAT ID is not valid",
        "KMKR number ei ole korrektne",
    ),
    (
        "err.billing_address_required",
        "A full billing address is required",
        "Täielik arveaadress on kohustuslik",
    ),
    (
        "err.shipping_address_required",
        "A full shipping address is required",
        "Täielik tarneaadress on kohustuslik",
    ),
    (
        "err.shipping_method_required",
        "Choose a shipping method",
        "Vali tarneviis",
    ),
    (
        "err.shipping_method_unknown",
        "Unknown shipping method",
        "Tundmatu tarneviis",
    ),
    (
        "err.shipping_method_unavailable",
        "This shipping method cannot carry the order",
        "See tarneviis ei sobi tellimusele",
    ),
    (
        "err.subscription_not_eligible",
        "You are not eligible for subscription items",
        "Sa ei saa tellida ainult tellijatele mõeldud tooteid",
    ),
    (
        "err.order_below_minimum",
        "The order is below the minimum",
        "Tellimus on alla miinimumi",
    ),
    (
        "err.order_above_maximum",
        "The order is above the maximum",
        "Tellimus ületab maksimumi",
    ),
    (
        "err.store_order_below_minimum",
        "A store's part is below its minimum order",
        "Poe osa tellimusest on alla poe miinimumi",
    ),
    (
        "err.order_too_large",
        "The order is too large",
        "Tellimus on liiga suur",
    ),
    (
        "err.payment_intent_not_owned",
        "This payment is not for this cart",
        "See makse ei kuulu sellele ostukorvile",
    ),
    (
        "err.payment_amount_mismatch",
        "The payment amount differs from the cart total",
        "Makse summa erineb ostukorvi summast",
    ),
    (
        "err.payment_currency_mismatch",
        "The payment currency differs from the cart's",
        "Makse valuuta erineb ostukorvi omast",
    ),
    (
        "err.payment_not_succeeded",
        "The payment has not succeeded",
        "Makse ei ole õnnestunud",
    ),
    (
        "err.payment_intent_missing",
        "Start the payment first",
        "Alusta kõigepealt makset",
    ),
    (
        "err.payment_intent_not_found",
        "No such payment",
        "Sellist makset pole",
    ),
    (
        "err.payment_declined",
        "The payment was declined",
        "Makse lükati tagasi",
    ),
    (
        "err.payment_provider_refused",
        "The payment provider refused the request",
        "Makseteenuse pakkuja keeldus",
    ),
    (
        "err.payment_idempotency_conflict",
        "Payment conflict; try again",
        "Makse konflikt; proovi uuesti",
    ),
    (
        "err.payment_provider_unavailable",
        "The payment provider is unavailable",
        "Makseteenus ei ole kättesaadav",
    ),
    (
        "err.payment_provider_misconfigured",
        "Payments are misconfigured",
        "Maksed on valesti seadistatud",
    ),
    (
        "err.refund_not_possible",
        "This cannot be refunded",
        "Seda ei saa tagastada",
    ),
    (
        "err.refund_amount_invalid",
        "The refund amount is not valid",
        "Tagastuse summa ei ole korrektne",
    ),
    (
        "err.sign_in_required",
        "Sign in to pay",
        "Maksmiseks logi sisse",
    ),
    (
        "err.idempotency_key_reused",
        "This Idempotency-Key was used for another request",
        "Seda Idempotency-Key väärtust kasutati teise päringu jaoks",
    ),
    (
        "err.idempotency_key_in_flight",
        "A request with this key is still running",
        "Selle võtmega päring on veel pooleli",
    ),
    (
        "err.idempotency_key_invalid",
        "The Idempotency-Key header is not valid",
        "Idempotency-Key päis ei ole korrektne",
    ),
    (
        "err.webhook_signature_malformed",
        "Malformed webhook signature",
        "Vigane veebikonksu allkiri",
    ),
    (
        "err.webhook_signature_invalid",
        "Invalid webhook signature",
        "Kehtetu veebikonksu allkiri",
    ),
    (
        "err.webhook_timestamp_out_of_tolerance",
        "Webhook timestamp out of tolerance",
        "Veebikonksu ajatempel on lubatust väljas",
    ),
    (
        "err.webhook_event_malformed",
        "Malformed webhook event",
        "Vigane veebikonksu sündmus",
    ),
];
