//! What an outside attacker tried on the cart around payment (second round): a
//! visitor's cart folded into a customer's paid cart at sign-in, and a payment
//! taken for more than is in stock. Both refused before any money moves.

use super::*;

/// A customer's cart paid at the provider is frozen for a sign-in merge too: the
/// visitor's lines stay in the visitor's cart, the paid cart completes as paid.
async fn a_paid_cart_is_not_merged_into(app: TestApp) -> Result<()> {
    let (_, _, lamp) = shop(&app, "frozenlamp", 1_000, 5).await?;
    let (_, _, mug) = shop(&app, "frozenmug", 500, 5).await?;
    let (_, alice) = customer(&app, "alice").await?;
    let (cart, _) = paid_cart(&app, &alice, &lamp, 1).await?;
    let planted = visit_and_login(&app, "alice", vec![(mug.clone(), 3)]).await?;
    let (_, c) = get_cart(&app, &alice, &cart).await?;
    assert_eq!(c["items"].as_array().map(Vec::len), Some(1), "{c}");
    assert_eq!(c["total"]["minor"], 1_000);
    let open = rows(
        &app,
        &format!("carts WHERE id = '{planted}' AND status = 'open'"),
    )
    .await?;
    assert_eq!(open, 1, "the visitor's cart is left as it was");
    let (st, o) = complete(&app, &alice, &cart, None).await?;
    assert_eq!(st, 201, "{o}");
    assert_eq!(o["amount"]["minor"], 1_000);
    assert_eq!(rows(&app, "order_refunds").await?, 0);
    Ok(())
}

/// More in the cart than in stock (a merge adds up, another buyer bought): the
/// payment intent is refused before anything is charged.
async fn no_payment_for_more_than_is_in_stock(app: TestApp) -> Result<()> {
    let (_, _, lamp) = shop(&app, "stocklamp", 1_000, 5).await?;
    let (_, alice) = customer(&app, "alice").await?;
    let cart = new_cart(&app, &alice).await?;
    let (st, _) = add(&app, &alice, &cart, &lamp, 4).await?;
    assert_eq!(st, 200);
    visit_and_login(&app, "alice", vec![(lamp.clone(), 4)]).await?;
    let (_, c) = get_cart(&app, &alice, &cart).await?;
    assert_eq!(c["items"][0]["quantity"], 8, "{c}");
    let (st, v) = intent(&app, &alice, &cart).await?;
    assert_eq!((st, v["code"].as_str()), (409, Some("out_of_stock")), "{v}");
    assert_eq!(rows(&app, "payment_intents").await?, 0);
    Ok(())
}

rampart_test_support::both_engines!(
    a_paid_cart_is_not_merged_into,
    no_payment_for_more_than_is_in_stock
);
