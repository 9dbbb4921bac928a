//! F4 on PostgreSQL: the server's own connection (the non-owner `rampart_app` role
//! TestApp runs as, like a deployment) acting in one workspace gets none of another
//! workspace's rows from a query that forgot its filter, and changes none of them;
//! acting for one user, none of another user's sessions. On SQLite there is no such
//! backstop: the filters in code are the only ones (docs/design/row-level-security.md).

use super::{add_item, bearer, open_store};
use anyhow::Result;
use rampart::config::Mode;
use rampart_db::{on_tx, Db, RlsContext, Tx};
use rampart_kernel::account::Role;
use rampart_test_support::{exec, Engine, TestApp, TEST_APP_ROLE};
use serde_json::json;

async fn column(tx: &mut Tx, sql: &str) -> Result<Vec<String>> {
    Ok(on_tx!(tx, |e| sqlx::query_scalar::<_, String>(sql)
        .fetch_all(e)
        .await)?)
}

async fn affected(tx: &mut Tx, sql: &str) -> Result<u64> {
    Ok(on_tx!(tx, |e| sqlx::query(sql)
        .execute(e)
        .await
        .map(|r| r.rows_affected()))?)
}

async fn count(db: &Db, sql: &str) -> Result<i64> {
    let rampart_db::Engine::Postgres(pool) = &db.engine else {
        anyhow::bail!("PostgreSQL only");
    };
    Ok(sqlx::query_scalar(sql).fetch_one(pool).await?)
}

/// An escrow transaction of `store` with one ledger entry and one intent, written straight to the
/// database (no workspace set: the policies admit the write).
async fn escrow_row(db: &Db, id: &str, store: &str, item: &str) -> Result<()> {
    exec(
        db,
        &format!(
            "INSERT INTO escrow_transactions (id, buyer_id, store_id, item_id, quantity, \
             amount_minor, currency, fee_bps, state, version, created_at, updated_at) \
             VALUES ('{id}', 'buyer', '{store}', '{item}', 1, 100, 'EUR', 0, 'pending_payment', 1, 1, 1)"
        ),
    )
    .await?;
    exec(
        db,
        &format!(
            "INSERT INTO ledger_entries (id, effect_key, transaction_id, event, created_at) \
             VALUES ('e-{id}', 'k-{id}', '{id}', 'create', 1)"
        ),
    )
    .await?;
    exec(
        db,
        &format!(
            "INSERT INTO escrow_intents (id, transaction_id, kind, status, created_at, updated_at) \
             VALUES ('i-{id}', '{id}', 'release', 'pending', 1, 1)"
        ),
    )
    .await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unfiltered_queries_stay_in_their_workspace_on_postgres() -> Result<()> {
    let Some(app) = TestApp::spawn(Engine::Postgres).await? else {
        return Ok(());
    };
    let db = app.db();

    // The application's connection is bound by RLS: not a superuser, no BYPASSRLS,
    // owns no table — checked through pg_roles/pg_class, not only our own helper.
    let posture = db.role_posture().await?.expect("postgres");
    assert_eq!(posture.role, TEST_APP_ROLE);
    assert!(!posture.bypasses_rls(), "{posture:?}");
    let (sup, bypass): (bool, bool) = {
        let rampart_db::Engine::Postgres(pool) = &db.engine else {
            unreachable!()
        };
        sqlx::query_as("SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = current_user")
            .fetch_one(pool)
            .await?
    };
    assert!(!sup && !bypass);
    assert_eq!(
        count(
            db,
            "SELECT COUNT(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE n.nspname = current_schema() AND pg_has_role(current_user, c.relowner, 'USAGE')"
        )
        .await?,
        0,
        "the application role owns nothing"
    );
    // The owner (the migration URL) is the kind of role a production server refuses.
    let owner = Db::connect(
        app.config.migration_database_url.as_deref().expect("owner"),
        1,
    )
    .await?;
    assert!(owner.role_posture().await?.expect("pg").bypasses_rls());
    let mut prod = app.config.clone();
    prod.mode = Mode::Production;
    let refused = rampart::server::check_database_role(&prod, &owner).await;
    owner.close().await;
    let msg = format!("{:#}", refused.expect_err("production refuses the owner"));
    assert!(msg.contains("rampart_app"), "{msg}");
    rampart::server::check_database_role(&prod, db).await?;

    // Two workspaces with different owners, items, transactions and ledger entries.
    let (ua, ta) = bearer(&app, "rlsa", Role::Seller).await?;
    let (ub, tb) = bearer(&app, "rlsb", Role::Seller).await?;
    let a = open_store(&app, &ta, "A").await?;
    let b = open_store(&app, &tb, "B").await?;
    let item = json!({"title": "thing", "price_minor": 100, "stock": 5});
    let ia = add_item(&app, &ta, &a, item.clone()).await?;
    let ib1 = add_item(&app, &tb, &b, item.clone()).await?;
    add_item(&app, &tb, &b, item).await?;
    escrow_row(db, "txa", &a, &ia).await?;
    escrow_row(db, "txb", &b, &ib1).await?;
    // Without a workspace (the catalog, platform jobs) every row is visible.
    assert_eq!(count(db, "SELECT COUNT(*) FROM items").await?, 3);
    assert_eq!(
        count(db, "SELECT COUNT(*) FROM escrow_transactions").await?,
        2
    );

    // Acting in A: SELECT * with no WHERE returns A's rows only.
    let mut tx = db.begin().await?;
    tx.set_context(RlsContext {
        user_id: Some(&ua),
        workspace_id: Some(&a),
    })
    .await?;
    let only_a = |v: Vec<String>, what: &str| {
        assert!(!v.is_empty(), "{what}: A's own rows are visible");
        assert!(v.iter().all(|s| *s == a), "{what}: {v:?} leaks beyond {a}");
    };
    only_a(
        column(&mut tx, "SELECT store_id FROM (SELECT * FROM items) x").await?,
        "items",
    );
    only_a(
        column(
            &mut tx,
            "SELECT store_id FROM (SELECT * FROM store_members) x",
        )
        .await?,
        "store_members",
    );
    only_a(
        column(&mut tx, "SELECT id FROM (SELECT * FROM stores) x").await?,
        "stores",
    );
    only_a(
        column(
            &mut tx,
            "SELECT store_id FROM (SELECT * FROM escrow_transactions) x",
        )
        .await?,
        "escrow_transactions",
    );
    assert_eq!(
        column(&mut tx, "SELECT transaction_id FROM ledger_entries").await?,
        ["txa"]
    );
    assert_eq!(
        column(&mut tx, "SELECT transaction_id FROM escrow_intents").await?,
        ["txa"]
    );
    // Writes that forget their filter reach only A's rows.
    assert_eq!(affected(&mut tx, "UPDATE items SET stock = 0").await?, 1);
    assert_eq!(
        affected(&mut tx, "UPDATE stores SET name = 'renamed'").await?,
        1
    );
    assert_eq!(affected(&mut tx, "DELETE FROM ledger_entries").await?, 1);
    assert_eq!(affected(&mut tx, "DELETE FROM escrow_intents").await?, 1);
    assert_eq!(
        affected(&mut tx, "DELETE FROM escrow_transactions").await?,
        1
    );
    assert_eq!(affected(&mut tx, "DELETE FROM store_members").await?, 1);
    tx.commit().await?;
    // B is untouched.
    let b_left = |t: &str| format!("SELECT COUNT(*) FROM {t} WHERE store_id = '{b}'");
    assert_eq!(
        count(
            db,
            &format!("SELECT COUNT(*) FROM items WHERE store_id = '{b}' AND stock = 5")
        )
        .await?,
        2
    );
    assert_eq!(count(db, &b_left("escrow_transactions")).await?, 1);
    assert_eq!(count(db, &b_left("store_members")).await?, 1);
    assert_eq!(
        count(
            db,
            "SELECT COUNT(*) FROM ledger_entries WHERE transaction_id = 'txb'"
        )
        .await?,
        1
    );
    assert_eq!(
        count(
            db,
            "SELECT COUNT(*) FROM escrow_intents WHERE transaction_id = 'txb'"
        )
        .await?,
        1
    );
    assert_eq!(
        count(
            db,
            &format!("SELECT COUNT(*) FROM stores WHERE id = '{b}' AND name = 'B'")
        )
        .await?,
        1
    );
    // A row written into another workspace is refused outright.
    let mut tx = db.begin().await?;
    tx.set_context(RlsContext {
        user_id: None,
        workspace_id: Some(&a),
    })
    .await?;
    let err = affected(&mut tx, &format!("UPDATE items SET store_id = '{b}'"))
        .await
        .expect_err("moving a row out of the workspace");
    assert!(format!("{err:#}").contains("row-level security"), "{err:#}");
    drop(tx);

    // Acting for user A: none of B's sessions or refresh tokens.
    let mut tx = db.begin().await?;
    tx.set_context(RlsContext {
        user_id: Some(&ua),
        workspace_id: None,
    })
    .await?;
    let sessions = column(&mut tx, "SELECT user_id FROM (SELECT * FROM sessions) x").await?;
    assert!(
        !sessions.is_empty() && sessions.iter().all(|u| *u == ua),
        "{sessions:?}"
    );
    let n = sessions.len() as u64;
    assert_eq!(
        affected(&mut tx, "UPDATE sessions SET last_seen_at = last_seen_at").await?,
        n
    );
    let owners = column(
        &mut tx,
        "SELECT s.user_id FROM refresh_tokens r JOIN sessions s ON s.id = r.session_id",
    )
    .await?;
    assert!(owners.iter().all(|u| *u == ua), "{owners:?}");
    let all_refresh: i64 = on_tx!(&mut tx, |e| sqlx::query_scalar(
        "SELECT COUNT(*) FROM refresh_tokens"
    )
    .fetch_one(e)
    .await)?;
    assert_eq!(all_refresh as usize, owners.len());
    tx.rollback().await?;
    assert!(
        count(
            db,
            &format!("SELECT COUNT(*) FROM sessions WHERE user_id = '{ub}'")
        )
        .await?
            > 0,
        "B has sessions the scoped queries did not see"
    );
    Ok(())
}

/// The two URLs: `rampart migrate` needs only the owner (the application login may
/// not exist yet), a server given only the application role's URL starts once the
/// owner has migrated (it runs no DDL), cannot migrate by itself, and two URLs that
/// reach different schemas stop start-up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrations_run_as_the_owner_and_the_server_as_the_app_role() -> Result<()> {
    let Some(app) = TestApp::spawn(Engine::Postgres).await? else {
        return Ok(());
    };
    let owner_url = app.config.migration_database_url.clone().expect("owner");
    let schema = app.db().role_posture().await?.expect("pg").schema;
    let admin = Db::connect(&owner_url, 1).await?;
    let fresh = |n: &str| format!("{schema}_{n}");
    for n in ["m", "u"] {
        exec(&admin, &format!("CREATE SCHEMA {}", fresh(n))).await?;
    }
    let result = async {
        // Only the application URL, migrations already applied by the owner.
        let mut cfg = app.config.clone();
        cfg.migration_database_url = None;
        let db = rampart::server::open_db(&cfg).await?;
        assert_eq!(db.role_posture().await?.expect("pg").role, TEST_APP_ROLE);
        assert!(db.pending_migrations().await?.is_empty());
        db.close().await;

        // `migrate` with an application login that does not exist: only the owner is used.
        let mut cfg = app.config.clone();
        cfg.migration_database_url = Some(owner_url.replace(&schema, &fresh("m")));
        cfg.database_url = "postgres://no_such_login@127.0.0.1:1/nowhere".into();
        rampart::server::migrate_db(&cfg).await?;
        let m = Db::connect(cfg.migration_database_url.as_deref().expect("set"), 1).await?;
        let pending = m.pending_migrations().await?;
        m.close().await;
        assert!(pending.is_empty(), "{pending:?}");

        // Owner URL for one schema, application URL for another: refused.
        let mut cfg = app.config.clone();
        cfg.migration_database_url = Some(owner_url.replace(&schema, &fresh("m")));
        let err = rampart::server::open_db(&cfg)
            .await
            .expect_err("different schemas");
        assert!(
            format!("{err:#}").contains("different databases or schemas"),
            "{err:#}"
        );

        // A login that is not a member of rampart_app cannot even see the schema.
        exec(
            &admin,
            "DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'rampart_test_outsider') \
             THEN CREATE ROLE rampart_test_outsider LOGIN PASSWORD 'rampart_test_outsider'; END IF; \
             EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END $$",
        )
        .await?;
        let mut outsider = reqwest::Url::parse(&app.config.database_url)?;
        let _ = outsider.set_username("rampart_test_outsider");
        let _ = outsider.set_password(Some("rampart_test_outsider"));
        let mut cfg = app.config.clone();
        cfg.database_url = outsider.to_string();
        let err = rampart::server::open_db(&cfg)
            .await
            .expect_err("not a member");
        assert!(format!("{err:#}").contains("member of rampart_app"), "{err:#}");

        // The application role alone cannot migrate an empty schema.
        let mut cfg = app.config.clone();
        cfg.migration_database_url = None;
        cfg.database_url = app.config.database_url.replace(&schema, &fresh("u"));
        let err = rampart::server::open_db(&cfg)
            .await
            .expect_err("a non-owner cannot migrate");
        assert!(
            format!("{err:#}").contains("RAMPART_MIGRATION_DATABASE_URL"),
            "{err:#}"
        );
        anyhow::Ok(())
    }
    .await;
    for n in ["m", "u"] {
        exec(
            &admin,
            &format!("DROP SCHEMA IF EXISTS {} CASCADE", fresh(n)),
        )
        .await?;
    }
    admin.close().await;
    result
}
