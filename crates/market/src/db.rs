//! The market's database (SQLite file by default, PostgreSQL by URL, through sqlx's `Any`
//! driver): orders of every status, deals, and the chain index the checks read (asset owners,
//! consumed volumes, presigned orders, the last block read).
//!
//! Writes go through one writer task that commits them in batches (one transaction for all the
//! writes waiting), in the order they were sent; [`Db::write`] returns once its write is
//! committed.

use alloy::primitives::{Address, B256, U256};
use poco_types::OrderKind;
use sqlx::{pool::PoolConnection, Any, AnyConnection, AnyPool, Connection, Row};
use tokio::sync::{mpsc, oneshot};
use tracing::warn;

use crate::{
    api::{AnyOrder, Deal, Status},
    book::Stored,
    Error, Result,
};

const SCHEMA: &[&str] = &[
    "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS orders (
        hash TEXT PRIMARY KEY,
        kind TEXT NOT NULL,
        body TEXT NOT NULL,
        signer TEXT NOT NULL,
        remaining BIGINT NOT NULL,
        status TEXT NOT NULL,
        published_at BIGINT NOT NULL,
        seq BIGINT NOT NULL,
        workerpool_api TEXT
    )",
    "CREATE INDEX IF NOT EXISTS orders_status ON orders (status)",
    "CREATE TABLE IF NOT EXISTS deals (
        dealid TEXT PRIMARY KEY,
        body TEXT NOT NULL,
        category BIGINT NOT NULL,
        requester TEXT NOT NULL,
        beneficiary TEXT NOT NULL,
        app TEXT NOT NULL,
        dataset TEXT NOT NULL,
        workerpool TEXT NOT NULL,
        app_owner TEXT NOT NULL,
        dataset_owner TEXT NOT NULL,
        workerpool_owner TEXT NOT NULL,
        app_hash TEXT NOT NULL,
        dataset_hash TEXT NOT NULL,
        workerpool_hash TEXT NOT NULL,
        request_hash TEXT NOT NULL,
        block_number BIGINT NOT NULL,
        position BIGINT NOT NULL
    )",
    "CREATE INDEX IF NOT EXISTS deals_category ON deals (category, block_number)",
    "CREATE TABLE IF NOT EXISTS deal_tasks (
        taskid TEXT PRIMARY KEY,
        dealid TEXT NOT NULL,
        idx BIGINT NOT NULL,
        fast BIGINT NOT NULL
    )",
    "CREATE TABLE IF NOT EXISTS consumed (hash TEXT PRIMARY KEY, amount TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS assets (address TEXT PRIMARY KEY, kind TEXT NOT NULL, owner TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS presigned (hash TEXT PRIMARY KEY)",
];

/// One write.
#[derive(Debug)]
pub(crate) enum Write {
    /// Inserts or replaces an order.
    Order(Box<Stored>),
    /// Updates an order's remaining volume and status.
    OrderState {
        hash: B256,
        remaining: u64,
        status: Status,
    },
    /// Deletes an order (unpublished).
    DeleteOrder(B256),
    /// Records a deal.
    Deal(Box<Deal>, u64),
    /// Sets an order hash's consumed volume.
    Consumed(B256, U256),
    /// Sets an asset's owner.
    Asset(Address, OrderKind, Address),
    /// Records a presigned order hash.
    Presigned(B256),
    /// Sets a `meta` value.
    Meta(&'static str, String),
}

type Job = (Vec<Write>, oneshot::Sender<Result<()>>);

/// The database handle: reads through the pool, writes through the writer task.
#[derive(Clone, Debug)]
pub(crate) struct Db {
    pool: AnyPool,
    writer: mpsc::Sender<Job>,
}

/// What the chain index holds, loaded at start.
#[derive(Debug, Default)]
pub(crate) struct Index {
    pub(crate) assets: Vec<(Address, OrderKind, Address)>,
    pub(crate) consumed: Vec<(B256, U256)>,
    pub(crate) presigned: Vec<B256>,
}

fn kind_name(kind: OrderKind) -> &'static str {
    kind.key()
}

fn parse_kind(s: &str) -> Result<OrderKind> {
    OrderKind::ALL
        .into_iter()
        .find(|k| k.key() == s)
        .ok_or_else(|| Error::Database(format!("unknown order kind {s:?} in the database")))
}

fn parse<T: std::str::FromStr>(s: &str, what: &str) -> Result<T> {
    s.parse()
        .map_err(|_| Error::Database(format!("unreadable {what} {s:?} in the database")))
}

fn stored(row: &sqlx::any::AnyRow) -> Result<Stored> {
    let kind = parse_kind(&row.try_get::<String, _>("kind")?)?;
    let body: String = row.try_get("body")?;
    let order = serde_json::from_str(&body)
        .and_then(|v| AnyOrder::from_json(kind, v))
        .map_err(|source| Error::Json {
            what: "unreadable order",
            source,
        })?;
    let status: String = row.try_get("status")?;
    Ok(Stored {
        hash: parse(&row.try_get::<String, _>("hash")?, "order hash")?,
        order,
        signer: parse(&row.try_get::<String, _>("signer")?, "address")?,
        remaining: row.try_get::<i64, _>("remaining")? as u64,
        status: Status::parse(&status)
            .ok_or_else(|| Error::Database(format!("unknown status {status:?}")))?,
        published_at: row.try_get("published_at")?,
        seq: row.try_get::<i64, _>("seq")? as u64,
        workerpool_api: row.try_get("workerpool_api")?,
    })
}

/// The filters of `GET /deals`, as column = value.
pub(crate) type DealFilter = Vec<(&'static str, String)>;

impl Db {
    /// Opens (creating it if needed) the database at `url`: `sqlite://path?mode=rwc`,
    /// `sqlite::memory:` or `postgres://...`.
    pub(crate) async fn open(url: &str) -> Result<Self> {
        let memory = url.contains(":memory:");
        // wal_autocheckpoint = 8192 pages (32 MiB rather than 4): a checkpoint copies each
        // page once however many commits changed it, and publications change the same index
        // pages again and again.
        let options = poco_service::db::DbOptions {
            sqlite_connections: 4,
            postgres_connections: 4,
            sqlite_pragmas: &["PRAGMA wal_autocheckpoint = 8192"],
            ..Default::default()
        };
        let pool = poco_service::db::open(url, &options)
            .await
            .map_err(Error::DatabaseOpen)?;
        for statement in SCHEMA {
            sqlx::query(statement).execute(&pool).await?;
        }
        let (writer, jobs) = mpsc::channel(1024);
        tokio::spawn(write_loop(pool.clone(), jobs, !memory));
        Ok(Self { pool, writer })
    }

    /// Commits `writes` (in one transaction with whatever else is waiting).
    pub(crate) async fn write(&self, writes: Vec<Write>) -> Result<()> {
        let (tx, rx) = oneshot::channel();
        self.writer
            .send((writes, tx))
            .await
            .map_err(|_| Error::Database("the database writer stopped".into()))?;
        rx.await
            .map_err(|_| Error::Database("the database writer stopped".into()))?
    }

    /// A value of the `meta` table.
    pub(crate) async fn meta(&self, key: &str) -> Result<Option<String>> {
        let row = sqlx::query("SELECT value FROM meta WHERE key = $1")
            .bind(key)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(|r| r.try_get("value")).transpose()?)
    }

    /// Every open order, in publication order.
    pub(crate) async fn open_orders(&self) -> Result<Vec<Stored>> {
        sqlx::query("SELECT * FROM orders WHERE status = 'open' ORDER BY seq")
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(stored)
            .collect()
    }

    /// An order of any status.
    pub(crate) async fn order(&self, hash: B256) -> Result<Option<Stored>> {
        sqlx::query("SELECT * FROM orders WHERE hash = $1")
            .bind(hash.to_string())
            .fetch_optional(&self.pool)
            .await?
            .as_ref()
            .map(stored)
            .transpose()
    }

    /// The highest publication sequence number used.
    pub(crate) async fn max_seq(&self) -> Result<u64> {
        let row = sqlx::query("SELECT COALESCE(MAX(seq), 0) AS m FROM orders")
            .fetch_one(&self.pool)
            .await?;
        Ok(row.try_get::<i64, _>("m")? as u64)
    }

    /// The chain index.
    pub(crate) async fn index(&self) -> Result<Index> {
        let mut index = Index::default();
        for row in sqlx::query("SELECT address, kind, owner FROM assets")
            .fetch_all(&self.pool)
            .await?
        {
            index.assets.push((
                parse(&row.try_get::<String, _>("address")?, "address")?,
                parse_kind(&row.try_get::<String, _>("kind")?)?,
                parse(&row.try_get::<String, _>("owner")?, "address")?,
            ));
        }
        for row in sqlx::query("SELECT hash, amount FROM consumed")
            .fetch_all(&self.pool)
            .await?
        {
            index.consumed.push((
                parse(&row.try_get::<String, _>("hash")?, "hash")?,
                parse(&row.try_get::<String, _>("amount")?, "amount")?,
            ));
        }
        for row in sqlx::query("SELECT hash FROM presigned")
            .fetch_all(&self.pool)
            .await?
        {
            index
                .presigned
                .push(parse(&row.try_get::<String, _>("hash")?, "hash")?);
        }
        Ok(index)
    }

    /// A deal.
    pub(crate) async fn deal(&self, dealid: B256) -> Result<Option<Deal>> {
        let row = sqlx::query("SELECT body FROM deals WHERE dealid = $1")
            .bind(dealid.to_string())
            .fetch_optional(&self.pool)
            .await?;
        row.map(|r| {
            let body: String = r.try_get("body")?;
            serde_json::from_str(&body).map_err(|source| Error::Json {
                what: "unreadable deal",
                source,
            })
        })
        .transpose()
    }

    /// Deals passing every `column = value` of `filter` (or, with `any_of`, at least one of
    /// its pairs), newest first, and how many there are.
    pub(crate) async fn deals(
        &self,
        filter: &DealFilter,
        any_of: bool,
        page: u64,
        page_size: u64,
    ) -> Result<(u64, Vec<Deal>)> {
        let mut clause = String::new();
        for (i, (column, _)) in filter.iter().enumerate() {
            clause.push_str(if i == 0 {
                " WHERE "
            } else if any_of {
                " OR "
            } else {
                " AND "
            });
            clause.push_str(&format!("{column} = ${}", i + 1));
        }
        let count_sql = format!("SELECT COUNT(*) AS n FROM deals{clause}");
        let mut count = sqlx::query(&count_sql);
        for (column, value) in filter {
            count = bind_filter(count, column, value);
        }
        let n: i64 = count.fetch_one(&self.pool).await?.try_get("n")?;
        let list_sql = format!(
            "SELECT body FROM deals{clause} ORDER BY block_number DESC, position DESC LIMIT {} \
             OFFSET {}",
            page_size,
            // SQL integers are i64: an offset past them is no row, not a type error.
            page.saturating_mul(page_size).min(i64::MAX as u64)
        );
        let mut list = sqlx::query(&list_sql);
        for (column, value) in filter {
            list = bind_filter(list, column, value);
        }
        let deals = list
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(|r| {
                let body: String = r.try_get("body")?;
                serde_json::from_str(&body).map_err(|source| Error::Json {
                    what: "unreadable deal",
                    source,
                })
            })
            .collect::<Result<Vec<Deal>>>()?;
        Ok((n as u64, deals))
    }

    /// The deal, index and path (fast or not) of a task of a known deal.
    pub(crate) async fn task_deal(&self, taskid: B256) -> Result<Option<(B256, u64, bool)>> {
        let row = sqlx::query("SELECT dealid, idx, fast FROM deal_tasks WHERE taskid = $1")
            .bind(taskid.to_string())
            .fetch_optional(&self.pool)
            .await?;
        row.map(|r| {
            Ok((
                parse(&r.try_get::<String, _>("dealid")?, "deal id")?,
                r.try_get::<i64, _>("idx")? as u64,
                r.try_get::<i64, _>("fast")? != 0,
            ))
        })
        .transpose()
    }

    /// Number of deals.
    pub(crate) async fn deal_count(&self) -> Result<u64> {
        let row = sqlx::query("SELECT COUNT(*) AS n FROM deals")
            .fetch_one(&self.pool)
            .await?;
        Ok(row.try_get::<i64, _>("n")? as u64)
    }
}

type AnyQuery<'q> = sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>;

fn bind_filter<'q>(query: AnyQuery<'q>, column: &str, value: &str) -> AnyQuery<'q> {
    if column == "category" {
        query.bind(value.parse::<i64>().unwrap_or(-1))
    } else {
        query.bind(value.to_owned())
    }
}

/// Commits the writes sent, batch after batch. With `keep`, on one connection kept from batch
/// to batch (until an error): an SQLite connection's page cache is dropped whenever another
/// connection has written, so a writer that changed connections at every batch read the
/// indexes it updates from the file again and again. (An in-memory database has one connection,
/// which the readers need between batches.)
async fn write_loop(pool: AnyPool, mut jobs: mpsc::Receiver<Job>, keep: bool) {
    let mut kept: Option<PoolConnection<Any>> = None;
    while let Some(first) = jobs.recv().await {
        let mut batch = vec![first];
        while batch.len() < 512 {
            match jobs.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        let result = match kept.take() {
            Some(conn) => Ok(conn),
            None => pool.acquire().await.map_err(Error::from),
        };
        let result = match result {
            Ok(mut conn) => {
                let result = commit(&mut conn, &batch).await;
                if keep && result.is_ok() {
                    kept = Some(conn);
                }
                result
            }
            Err(e) => Err(e),
        };
        if let Err(e) = &result {
            warn!("cannot write to the database: {e}");
        }
        let result = result.map_err(std::sync::Arc::new);
        for (_, ack) in batch {
            let _ = ack.send(match &result {
                Ok(()) => Ok(()),
                Err(e) => Err(Error::Write(e.clone())),
            });
        }
    }
}

/// Most orders one `INSERT` writes (9 parameters each: far below SQLite's and PostgreSQL's
/// limits).
const ORDER_ROWS: usize = 64;

async fn commit(conn: &mut AnyConnection, batch: &[Job]) -> Result<()> {
    let mut tx = conn.begin().await?;
    let writes: Vec<&Write> = batch.iter().flat_map(|(w, _)| w).collect();
    let mut i = 0;
    while i < writes.len() {
        // Orders that follow one another go in one statement (one round trip to the database
        // rather than one per order), as long as their hashes differ (PostgreSQL refuses an
        // `ON CONFLICT DO UPDATE` that would touch a row twice).
        let mut run: Vec<&Stored> = Vec::new();
        while let Some(Write::Order(s)) = writes.get(i) {
            if run.len() == ORDER_ROWS || run.iter().any(|r| r.hash == s.hash) {
                break;
            }
            run.push(s);
            i += 1;
        }
        if run.is_empty() {
            apply(&mut tx, writes[i]).await?;
            i += 1;
        } else {
            insert_orders(&mut tx, &run).await?;
        }
    }
    tx.commit().await?;
    Ok(())
}

/// The signed order as stored (the SDK's JSON shape).
fn order_body(order: &AnyOrder) -> String {
    match order {
        AnyOrder::App(o) => serde_json::to_string(o),
        AnyOrder::Dataset(o) => serde_json::to_string(o),
        AnyOrder::Workerpool(o) => serde_json::to_string(o),
        AnyOrder::Request(o) => serde_json::to_string(o),
    }
    .unwrap_or_default()
}

/// Inserts or replaces orders (distinct hashes) in one statement.
async fn insert_orders(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    orders: &[&Stored],
) -> Result<()> {
    let mut sql = String::from(
        "INSERT INTO orders (hash, kind, body, signer, remaining, status, published_at, seq,
            workerpool_api) VALUES ",
    );
    for row in 0..orders.len() {
        if row > 0 {
            sql.push_str(", ");
        }
        sql.push('(');
        for column in 0..9 {
            if column > 0 {
                sql.push_str(", ");
            }
            sql.push_str(&format!("${}", row * 9 + column + 1));
        }
        sql.push(')');
    }
    sql.push_str(
        " ON CONFLICT (hash) DO UPDATE SET kind = excluded.kind, body = excluded.body,
            signer = excluded.signer, remaining = excluded.remaining, status = excluded.status,
            published_at = excluded.published_at, seq = excluded.seq,
            workerpool_api = excluded.workerpool_api",
    );
    let mut query = sqlx::query(&sql);
    for s in orders {
        query = query
            .bind(s.hash.to_string())
            .bind(kind_name(s.order.kind()))
            .bind(order_body(&s.order))
            .bind(s.signer.to_string())
            .bind(s.remaining as i64)
            .bind(s.status.as_str())
            .bind(s.published_at)
            .bind(s.seq as i64)
            .bind(s.workerpool_api.clone());
    }
    query.execute(&mut **tx).await?;
    Ok(())
}

async fn apply(tx: &mut sqlx::Transaction<'_, sqlx::Any>, write: &Write) -> Result<()> {
    match write {
        Write::Order(s) => insert_orders(tx, &[&**s]).await?,
        Write::OrderState {
            hash,
            remaining,
            status,
        } => {
            sqlx::query("UPDATE orders SET remaining = $1, status = $2 WHERE hash = $3")
                .bind(*remaining as i64)
                .bind(status.as_str())
                .bind(hash.to_string())
                .execute(&mut **tx)
                .await?;
        }
        Write::DeleteOrder(hash) => {
            sqlx::query("DELETE FROM orders WHERE hash = $1")
                .bind(hash.to_string())
                .execute(&mut **tx)
                .await?;
        }
        Write::Deal(deal, position) => {
            let body = serde_json::to_string(deal).map_err(|source| Error::Json {
                what: "cannot encode a deal",
                source,
            })?;
            sqlx::query(
                "INSERT INTO deals (dealid, body, category, requester, beneficiary, app, dataset,
                    workerpool, app_owner, dataset_owner, workerpool_owner, app_hash,
                    dataset_hash, workerpool_hash, request_hash, block_number, position)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16,
                    $17)
                 ON CONFLICT (dealid) DO NOTHING",
            )
            .bind(deal.dealid.to_string())
            .bind(body)
            .bind(deal.category as i64)
            .bind(deal.requester.to_string())
            .bind(deal.beneficiary.to_string())
            .bind(deal.app.pointer.to_string())
            .bind(deal.dataset.pointer.to_string())
            .bind(deal.workerpool.pointer.to_string())
            .bind(deal.app.owner.to_string())
            .bind(deal.dataset.owner.to_string())
            .bind(deal.workerpool.owner.to_string())
            .bind(deal.app_hash.to_string())
            .bind(deal.dataset_hash.to_string())
            .bind(deal.workerpool_hash.to_string())
            .bind(deal.request_hash.to_string())
            .bind(deal.block_number as i64)
            .bind(*position as i64)
            .execute(&mut **tx)
            .await?;
            for (i, taskid) in deal.tasks.iter().enumerate() {
                sqlx::query(
                    "INSERT INTO deal_tasks (taskid, dealid, idx, fast) VALUES ($1, $2, $3, $4)
                     ON CONFLICT (taskid) DO NOTHING",
                )
                .bind(taskid.to_string())
                .bind(deal.dealid.to_string())
                .bind((deal.bot_first + i as u64) as i64)
                .bind(i64::from(deal.fast))
                .execute(&mut **tx)
                .await?;
            }
        }
        Write::Consumed(hash, amount) => {
            sqlx::query(
                "INSERT INTO consumed (hash, amount) VALUES ($1, $2)
                 ON CONFLICT (hash) DO UPDATE SET amount = excluded.amount",
            )
            .bind(hash.to_string())
            .bind(amount.to_string())
            .execute(&mut **tx)
            .await?;
        }
        Write::Asset(address, kind, owner) => {
            sqlx::query(
                "INSERT INTO assets (address, kind, owner) VALUES ($1, $2, $3)
                 ON CONFLICT (address) DO UPDATE SET owner = excluded.owner",
            )
            .bind(address.to_string())
            .bind(kind_name(*kind))
            .bind(owner.to_string())
            .execute(&mut **tx)
            .await?;
        }
        Write::Presigned(hash) => {
            sqlx::query("INSERT INTO presigned (hash) VALUES ($1) ON CONFLICT (hash) DO NOTHING")
                .bind(hash.to_string())
                .execute(&mut **tx)
                .await?;
        }
        Write::Meta(key, value) => {
            sqlx::query(
                "INSERT INTO meta (key, value) VALUES ($1, $2)
                 ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            )
            .bind(*key)
            .bind(value.clone())
            .execute(&mut **tx)
            .await?;
        }
    }
    Ok(())
}
