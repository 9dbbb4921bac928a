//! Both engines' migrations define the same tables and columns.

use anyhow::Result;
use rampart_test_support::{Engine, TestApp};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_and_postgres_schemas_match() -> Result<()> {
    let Some(pg) = TestApp::spawn(Engine::Postgres).await? else {
        return Ok(());
    };
    let lite = TestApp::spawn(Engine::Sqlite).await?.unwrap();
    let a = lite.db().schema_columns().await?;
    let b = pg.db().schema_columns().await?;
    assert!(a.len() > 20);
    assert_eq!(a, b);
    Ok(())
}
