//! The marketplace pages' strings (catalog, item, stores, members, item forms) and
//! the marketplace problem titles, in English and Estonian.

/// The marketplace context's catalog entries.
pub const CATALOG: &[(&str, &str, &str)] = &[
    // Problem titles of the marketplace's own codes.
    (
        "err.last_owner",
        "A store needs an owner",
        "Poel peab olema omanik",
    ),
    (
        "err.invalid_transition",
        "That status change is not possible",
        "Sellist oleku muutust ei saa teha",
    ),
    // Catalog.
    ("market.catalog", "Catalog", "Kataloog"),
    ("market.search", "Search", "Otsi"),
    ("market.query", "Text", "Tekst"),
    (
        "market.min_price",
        "Lowest price (cents)",
        "Madalaim hind (sentides)",
    ),
    (
        "market.max_price",
        "Highest price (cents)",
        "Kõrgeim hind (sentides)",
    ),
    ("market.next_page", "Next page", "Järgmine lehekülg"),
    ("market.no_items", "No items found.", "Tooteid ei leitud."),
    ("market.price", "Price", "Hind"),
    ("market.stock", "In stock", "Laos"),
    ("market.status", "Status", "Olek"),
    ("market.title", "Title", "Pealkiri"),
    ("market.description", "Description", "Kirjeldus"),
    (
        "market.back_to_catalog",
        "Back to the catalog",
        "Tagasi kataloogi",
    ),
    // Stores.
    ("market.my_stores", "My stores", "Minu poed"),
    (
        "market.no_stores",
        "You are not a member of any store.",
        "Sa ei ole ühegi poe liige.",
    ),
    ("market.open_store", "Open a store", "Ava pood"),
    ("market.store_name", "Store name", "Poe nimi"),
    (
        "market.currency",
        "Currency (ISO 4217)",
        "Valuuta (ISO 4217)",
    ),
    (
        "market.auto_release_days",
        "Auto-release after (days)",
        "Automaatne vabastamine (päeva pärast)",
    ),
    ("market.your_role", "Your role", "Sinu roll"),
    ("market.settings", "Store settings", "Poe seaded"),
    ("market.save", "Save", "Salvesta"),
    ("market.members", "Members", "Liikmed"),
    (
        "market.member",
        "Username or e-mail",
        "Kasutajanimi või e-post",
    ),
    ("market.role", "Role", "Roll"),
    (
        "market.add_member",
        "Add or change member",
        "Lisa või muuda liiget",
    ),
    ("market.remove", "Remove", "Eemalda"),
    ("market.role.owner", "Owner", "Omanik"),
    ("market.role.manager", "Manager", "Haldur"),
    ("market.role.clerk", "Clerk", "Laotöötaja"),
    ("market.items", "Items", "Tooted"),
    ("market.add_item", "Add an item", "Lisa toode"),
    (
        "market.price_minor",
        "Price (minor units, e.g. cents)",
        "Hind (väikseimates ühikutes, nt sentides)",
    ),
    ("market.edit_item", "Edit item", "Muuda toodet"),
    ("market.edit", "Edit", "Muuda"),
    ("market.adjust_stock", "Adjust stock by", "Muuda laoseisu"),
    ("market.apply", "Apply", "Rakenda"),
    ("market.status.draft", "Draft", "Mustand"),
    ("market.status.active", "Active", "Aktiivne"),
    ("market.status.archived", "Archived", "Arhiveeritud"),
    ("market.back_to_store", "Back to the store", "Tagasi poodi"),
    (
        "notice.store_saved",
        "The store was saved.",
        "Pood salvestati.",
    ),
    (
        "notice.item_saved",
        "The item was saved.",
        "Toode salvestati.",
    ),
    (
        "notice.member_saved",
        "The member was saved.",
        "Liige salvestati.",
    ),
    (
        "notice.stock_saved",
        "The stock was adjusted.",
        "Laoseisu muudeti.",
    ),
    // Field labels of the marketplace forms.
    ("field.title", "Title", "Pealkiri"),
    ("field.description", "Description", "Kirjeldus"),
    ("field.price_minor", "Price", "Hind"),
    ("field.stock", "Stock", "Laoseis"),
    ("field.delta", "Stock change", "Laoseisu muutus"),
    ("field.currency", "Currency", "Valuuta"),
    (
        "field.auto_release_days",
        "Auto-release period",
        "Automaatse vabastamise aeg",
    ),
    ("field.cursor", "Page cursor", "Lehekülje kursor"),
    ("field.q", "Text", "Tekst"),
    (
        "fielderr.unknown_user",
        "no such user",
        "sellist kasutajat pole",
    ),
    (
        "fielderr.staff_account",
        "staff accounts cannot join a store",
        "töötajate kontosid ei saa poodi lisada",
    ),
];
