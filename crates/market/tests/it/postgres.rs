//! The market on PostgreSQL: a fresh database on the server at `POCO_TEST_POSTGRES_URL` (a user
//! allowed to create databases, e.g. `postgres://poco:poco@127.0.0.1/poco`). Without it the test
//! is skipped, except in CI (`CI` set), where it must run.

use poco_types::OrderKind;
use sqlx::Connection;

use crate::fixture::*;

#[tokio::test]
async fn the_market_runs_on_postgresql() -> R {
    let Ok(server) = std::env::var("POCO_TEST_POSTGRES_URL") else {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must provide PostgreSQL in POCO_TEST_POSTGRES_URL"
        );
        eprintln!("skipped: set POCO_TEST_POSTGRES_URL to run the market on PostgreSQL");
        return Ok(());
    };
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_nanos();
    let name = format!("poco_market_{}_{nanos}", std::process::id());
    let mut admin = sqlx::PgConnection::connect(&server).await?;
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut admin)
        .await?;
    let (base, _) = server.rsplit_once('/').expect("a database in the URL");
    let url = format!("{base}/{name}");

    let outcome: R = async {
        let mut env = Env::chain().await?;
        let mut config = env.market_config("unused.db");
        config.database_url = url.clone();
        env.start_market(config.clone()).await?;
        let requester = env.chain_client(REQUESTER).await?;
        let (app, app_entry) = env.publish(APP_OWNER, env.app_order(2, 10)).await?;
        let (pool, pool_entry) = env.publish(SCHEDULER, env.pool_order(10, 6, 3)).await?;
        let (request, _) = env
            .publish(REQUESTER, env.request_order(2, 10, 2, 3))
            .await?;
        let deal = requester.match_orders(&app, None, &pool, &request).await?;
        env.wait_remaining(OrderKind::Workerpool, pool_entry.order_hash, 4)
            .await?;
        let deals = env
            .get_ok(&format!("/deals?workerpool={}", env.pool))
            .await?;
        assert_eq!(deals["count"], 1, "{deals}");

        // A restart reads the book and the deal back from PostgreSQL.
        env.stop_market().await;
        env.start_market(config).await?;
        let listed = env
            .listed(OrderKind::Workerpool, &format!("workerpool={}", env.pool))
            .await?;
        assert_eq!(listed, [pool_entry.order_hash]);
        assert_eq!(
            env.entry(OrderKind::Workerpool, pool_entry.order_hash)
                .await?["remaining"],
            4
        );
        assert_eq!(
            env.listed(OrderKind::App, &format!("app={}", env.app))
                .await?,
            [app_entry.order_hash]
        );
        let shown = env.get_ok(&format!("/deals/{}", deal.dealid)).await?;
        assert_eq!(shown["volume"], 2, "{shown}");

        // The rows are in PostgreSQL indeed.
        let mut db = sqlx::PgConnection::connect(&url).await?;
        let (open,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM orders WHERE status = 'open'")
            .fetch_one(&mut db)
            .await?;
        assert_eq!(open, 2);
        db.close().await?;
        env.stop_market().await;
        Ok(())
    }
    .await;
    sqlx::query(&format!("DROP DATABASE {name} WITH (FORCE)"))
        .execute(&mut admin)
        .await?;
    outcome
}
