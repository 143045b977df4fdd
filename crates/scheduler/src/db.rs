//! The scheduler's state: deals, tasks, replicates, workers, sessions and the chain cursor, in
//! SQLite (a file by default) or PostgreSQL, through sqlx's `Any` driver. Every statement uses
//! `$n` placeholders, which both accept.

use std::str::FromStr;

use alloy::primitives::{Address, Bytes, B256};
use poco_types::{Fault, PoolTaskState, ReplicateState};
use sqlx::{AnyPool, Row};

use crate::{Error, Result};

/// Milliseconds since the epoch, by the machine's clock (the order of reports).
fn unix_millis() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

const SCHEMA: &[&str] = &[
    "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS deals (
        dealid TEXT PRIMARY KEY,
        fast BIGINT NOT NULL,
        app TEXT NOT NULL,
        dataset TEXT NOT NULL,
        params TEXT NOT NULL,
        trust BIGINT NOT NULL,
        bot_first BIGINT NOT NULL,
        bot_size BIGINT NOT NULL,
        start_time BIGINT NOT NULL,
        timeref BIGINT NOT NULL,
        callback TEXT NOT NULL,
        fast_deal TEXT NOT NULL,
        seq BIGINT NOT NULL
    )",
    "CREATE TABLE IF NOT EXISTS tasks (
        taskid TEXT PRIMARY KEY,
        dealid TEXT NOT NULL,
        idx BIGINT NOT NULL,
        status TEXT NOT NULL,
        replicas_needed BIGINT NOT NULL,
        deadline BIGINT NOT NULL,
        failure TEXT,
        results TEXT
    )",
    "CREATE INDEX IF NOT EXISTS tasks_status ON tasks (status)",
    "CREATE TABLE IF NOT EXISTS replicates (
        taskid TEXT NOT NULL,
        worker TEXT NOT NULL,
        state TEXT NOT NULL,
        lease_until BIGINT NOT NULL,
        result_digest TEXT,
        location TEXT,
        callback_data TEXT,
        error TEXT,
        app_fault BIGINT NOT NULL,
        PRIMARY KEY (taskid, worker)
    )",
    "CREATE INDEX IF NOT EXISTS replicates_worker ON replicates (worker, state)",
    "CREATE TABLE IF NOT EXISTS workers (
        address TEXT PRIMARY KEY,
        cores BIGINT NOT NULL,
        memory_bytes BIGINT NOT NULL,
        tags TEXT NOT NULL,
        slots BIGINT NOT NULL,
        last_seen BIGINT NOT NULL
    )",
    "CREATE TABLE IF NOT EXISTS sessions (
        token TEXT PRIMARY KEY,
        worker TEXT NOT NULL,
        expires BIGINT NOT NULL
    )",
    "CREATE INDEX IF NOT EXISTS sessions_expires ON sessions (expires)",
];

/// Columns added after the first release: added to an older database on open (an error
/// because the column exists already is expected and ignored).
const ADDED_COLUMNS: &[(&str, &str)] = &[
    ("deals", "requester TEXT NOT NULL DEFAULT ''"),
    ("deals", "beneficiary TEXT NOT NULL DEFAULT ''"),
    // When the replicate was reported (unix milliseconds): the order reveal candidates are
    // tried in, which a worker cannot choose the way it chooses its address.
    ("replicates", "reported_at BIGINT NOT NULL DEFAULT 0"),
    // revealAndFinalize calls sent with this replicate's result, and why it was set aside.
    ("replicates", "reveal_attempts BIGINT NOT NULL DEFAULT 0"),
    ("replicates", "rejected TEXT"),
    // Whose fault a failed replicate is (app, deal, worker, transient), and what the app
    // printed in the run (`AppLogs` as JSON, bounded).
    ("replicates", "fault TEXT"),
    ("replicates", "logs TEXT"),
    // Failed or lost attempts of a task (bounded by --max-attempts), and the unix second
    // before which it is not handed out again (the backoff after a failure).
    ("tasks", "failures BIGINT NOT NULL DEFAULT 0"),
    ("tasks", "not_before BIGINT NOT NULL DEFAULT 0"),
];

/// A write to a task's rows, one of those a decision makes (see [`Db::apply`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Write {
    /// Sets the task's status, and its failure reason or result link when given.
    Status {
        status: PoolTaskState,
        failure: Option<String>,
        results: Option<String>,
    },
    /// Sets the replicas the task needs.
    Replicas(i64),
    /// Counts one failed or lost attempt and holds the task back until `not_before` (unix
    /// seconds).
    CountFailure { not_before: i64 },
    /// Counts one revealAndFinalize call sent with a replicate's result.
    CountRevealAttempt { worker: Address },
    /// Sets a replicate's result aside as a reveal candidate, with the reason.
    SetAside { worker: Address, reason: String },
    /// Marks the task EXPIRED with `failure` if it is still ACTIVE with its deadline at or
    /// before `now` (chain time): a task that moved on since it was read is left alone.
    Expire { now: i64, failure: String },
    /// Counts one lost attempt if one of the task's replicates is still assigned with its
    /// lease ended before `now` (the machine's clock); written before [`Write::Lose`].
    CountLoss { now: i64 },
    /// Marks `worker`'s replicate lost if it is still assigned with its lease ended before
    /// `now`: a replicate contributed or renewed since it was read is left alone.
    Lose { worker: Address, now: i64 },
}

/// The database.
#[derive(Clone, Debug)]
pub(crate) struct Db {
    pool: AnyPool,
}

/// A deal as the scheduler keeps it.
#[derive(Clone, Debug)]
pub(crate) struct DealRow {
    pub(crate) dealid: B256,
    pub(crate) fast: bool,
    pub(crate) app: Address,
    /// The dataset (zero without one).
    pub(crate) dataset: Address,
    pub(crate) params: String,
    pub(crate) trust: i64,
    pub(crate) bot_first: i64,
    pub(crate) bot_size: i64,
    pub(crate) start_time: i64,
    pub(crate) timeref: i64,
    /// The callback contract (zero without one).
    pub(crate) callback: Address,
    /// The ABI-encoded fast deal, empty for classic deals.
    pub(crate) fast_deal: Bytes,
    /// The requester (may read the results and logs); unknown in deals recorded before the
    /// column existed.
    pub(crate) requester: Option<Address>,
    /// The beneficiary (may read the results and logs); unknown as the requester.
    pub(crate) beneficiary: Option<Address>,
}

/// A task as the scheduler keeps it.
#[derive(Clone, Debug)]
pub(crate) struct TaskRow {
    pub(crate) taskid: B256,
    pub(crate) dealid: B256,
    pub(crate) idx: i64,
    pub(crate) status: PoolTaskState,
    pub(crate) replicas_needed: i64,
    pub(crate) deadline: i64,
    pub(crate) failure: Option<String>,
    pub(crate) results: Option<String>,
    /// Failed or lost attempts so far.
    pub(crate) failures: i64,
}

/// A replicate as the scheduler keeps it.
#[derive(Clone, Debug)]
pub(crate) struct ReplicateRow {
    pub(crate) taskid: B256,
    pub(crate) worker: Address,
    pub(crate) state: ReplicateState,
    pub(crate) result_digest: Option<B256>,
    pub(crate) location: Option<String>,
    pub(crate) callback_data: Option<Bytes>,
    pub(crate) error: Option<String>,
    pub(crate) app_fault: bool,
    /// revealAndFinalize calls sent with this replicate's result.
    pub(crate) reveal_attempts: i64,
    /// Why this replicate's result was set aside as a reveal candidate.
    pub(crate) rejected: Option<String>,
    /// Whose fault its failure is.
    pub(crate) fault: Option<Fault>,
    /// What the app printed (`AppLogs` as JSON).
    pub(crate) logs: Option<String>,
}

/// A replicate's lease, as lease expiry reads it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct LeaseRow {
    pub(crate) taskid: B256,
    pub(crate) worker: Address,
    pub(crate) state: ReplicateState,
    /// The end of its lease (unix seconds, the machine's clock).
    pub(crate) lease_until: i64,
}

/// One row being decoded: a text column that does not parse is [`Error::Corrupt`] naming the
/// table, the column and the value, never a default value.
struct Decode<'r> {
    row: &'r sqlx::any::AnyRow,
    table: &'static str,
}

impl Decode<'_> {
    /// A column as stored (integers, free text).
    fn get<'a, T>(&'a self, column: &'static str) -> Result<T>
    where
        T: sqlx::Decode<'a, sqlx::Any> + sqlx::Type<sqlx::Any>,
    {
        Ok(self.row.try_get(column)?)
    }

    /// A text column parsed as `T` (an id, an address, a state), `expected` naming what it
    /// should hold.
    fn parsed<T: FromStr>(&self, column: &'static str, expected: &'static str) -> Result<T> {
        let text: String = self.row.try_get(column)?;
        text.parse().map_err(|_| Error::Corrupt {
            table: self.table,
            column,
            value: text,
            expected,
        })
    }

    /// An optional text column parsed as `T` (see [`Decode::parsed`]).
    fn parsed_opt<T: FromStr>(
        &self,
        column: &'static str,
        expected: &'static str,
    ) -> Result<Option<T>> {
        match self.row.try_get::<Option<String>, _>(column)? {
            None => Ok(None),
            Some(_) => self.parsed(column, expected).map(Some),
        }
    }

    /// A text column holding an address, empty when unknown (columns added later).
    fn address_or_empty(&self, column: &'static str) -> Result<Option<Address>> {
        let text: String = self.row.try_get(column)?;
        if text.is_empty() {
            return Ok(None);
        }
        self.parsed(column, ADDRESS).map(Some)
    }

    /// An integer column holding a flag (0 or 1).
    fn flag(&self, column: &'static str) -> Result<bool> {
        Ok(self.get::<i64>(column)? != 0)
    }
}

const ID: &str = "a 32-byte hex id";
const ADDRESS: &str = "a hex address";
const HEX: &str = "hex bytes";
const STATE: &str = "a state this scheduler knows";

// Values are stored in their `Display` forms: ids and digests `0x` and 64 lowercase hex
// digits, addresses checksummed, bytes `0x`-prefixed hex; the empty fast deal of a classic deal
// and an unknown requester or beneficiary as an empty text.

fn bytes_text(bytes: &Bytes) -> String {
    if bytes.is_empty() {
        String::new()
    } else {
        bytes.to_string()
    }
}

fn deal(row: &sqlx::any::AnyRow) -> Result<DealRow> {
    let r = Decode {
        row,
        table: "deals",
    };
    let fast_deal: String = r.get("fast_deal")?;
    Ok(DealRow {
        dealid: r.parsed("dealid", ID)?,
        fast: r.flag("fast")?,
        app: r.parsed("app", ADDRESS)?,
        dataset: r.parsed("dataset", ADDRESS)?,
        params: r.get("params")?,
        trust: r.get("trust")?,
        bot_first: r.get("bot_first")?,
        bot_size: r.get("bot_size")?,
        start_time: r.get("start_time")?,
        timeref: r.get("timeref")?,
        callback: r.parsed("callback", ADDRESS)?,
        fast_deal: if fast_deal.is_empty() {
            Bytes::new()
        } else {
            r.parsed("fast_deal", HEX)?
        },
        requester: r.address_or_empty("requester")?,
        beneficiary: r.address_or_empty("beneficiary")?,
    })
}

type AnyQuery<'q> = sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>;

/// The statement of one write on the task `key`.
fn write_query<'q>(key: &'q str, write: &'q Write) -> AnyQuery<'q> {
    match write {
        Write::Status {
            status,
            failure,
            results,
        } => sqlx::query(
            "UPDATE tasks SET status = $2, failure = COALESCE($3, failure),
                results = COALESCE($4, results) WHERE taskid = $1",
        )
        .bind(key)
        .bind(status.as_str())
        .bind(failure.as_deref())
        .bind(results.as_deref()),
        Write::Replicas(replicas) => {
            sqlx::query("UPDATE tasks SET replicas_needed = $2 WHERE taskid = $1")
                .bind(key)
                .bind(*replicas)
        }
        Write::CountFailure { not_before } => sqlx::query(
            "UPDATE tasks SET failures = failures + 1, not_before = $2 WHERE taskid = $1",
        )
        .bind(key)
        .bind(*not_before),
        Write::CountRevealAttempt { worker } => sqlx::query(
            "UPDATE replicates SET reveal_attempts = reveal_attempts + 1
             WHERE taskid = $1 AND worker = $2",
        )
        .bind(key)
        .bind(worker.to_string()),
        Write::SetAside { worker, reason } => {
            sqlx::query("UPDATE replicates SET rejected = $3 WHERE taskid = $1 AND worker = $2")
                .bind(key)
                .bind(worker.to_string())
                .bind(reason.as_str())
        }
        Write::Expire { now, failure } => sqlx::query(
            "UPDATE tasks SET status = 'EXPIRED', failure = $3
             WHERE taskid = $1 AND status = 'ACTIVE' AND deadline <= $2",
        )
        .bind(key)
        .bind(*now)
        .bind(failure.as_str()),
        Write::CountLoss { now } => sqlx::query(
            "UPDATE tasks SET failures = failures + 1 WHERE taskid = $1 AND EXISTS (
                SELECT 1 FROM replicates WHERE taskid = $1 AND state = 'assigned'
                AND lease_until < $2)",
        )
        .bind(key)
        .bind(*now),
        Write::Lose { worker, now } => sqlx::query(
            "UPDATE replicates SET state = 'lost'
             WHERE taskid = $1 AND worker = $2 AND state = 'assigned' AND lease_until < $3",
        )
        .bind(key)
        .bind(worker.to_string())
        .bind(*now),
    }
}

fn task(row: &sqlx::any::AnyRow) -> Result<TaskRow> {
    let r = Decode {
        row,
        table: "tasks",
    };
    Ok(TaskRow {
        taskid: r.parsed("taskid", ID)?,
        dealid: r.parsed("dealid", ID)?,
        idx: r.get("idx")?,
        status: r.parsed("status", STATE)?,
        replicas_needed: r.get("replicas_needed")?,
        deadline: r.get("deadline")?,
        failure: r.get("failure")?,
        results: r.get("results")?,
        failures: r.get("failures")?,
    })
}

fn lease(row: &sqlx::any::AnyRow) -> Result<LeaseRow> {
    let r = Decode {
        row,
        table: "replicates",
    };
    Ok(LeaseRow {
        taskid: r.parsed("taskid", ID)?,
        worker: r.parsed("worker", ADDRESS)?,
        state: r.parsed("state", STATE)?,
        lease_until: r.get("lease_until")?,
    })
}

fn replicate(row: &sqlx::any::AnyRow) -> Result<ReplicateRow> {
    let r = Decode {
        row,
        table: "replicates",
    };
    Ok(ReplicateRow {
        taskid: r.parsed("taskid", ID)?,
        worker: r.parsed("worker", ADDRESS)?,
        state: r.parsed("state", STATE)?,
        result_digest: r.parsed_opt("result_digest", ID)?,
        location: r.get("location")?,
        callback_data: r.parsed_opt("callback_data", HEX)?,
        error: r.get("error")?,
        app_fault: r.flag("app_fault")?,
        reveal_attempts: r.get("reveal_attempts")?,
        rejected: r.get("rejected")?,
        fault: r.parsed_opt("fault", "a fault this scheduler knows")?,
        logs: r.get("logs")?,
    })
}

impl Db {
    /// Opens (creating it if needed) the database at `url`: `sqlite://path?mode=rwc`,
    /// `sqlite::memory:` or `postgres://...`.
    pub(crate) async fn open(url: &str) -> Result<Self> {
        let pool = poco_service::db::open(url, &poco_service::db::DbOptions::default())
            .await
            .map_err(|source| Error::OpenDatabase { source })?;
        for statement in SCHEMA {
            sqlx::query(statement).execute(&pool).await?;
        }
        for (table, column) in ADDED_COLUMNS {
            let _ = sqlx::query(&format!("ALTER TABLE {table} ADD COLUMN {column}"))
                .execute(&pool)
                .await;
        }
        Ok(Self { pool })
    }

    /// A value of the `meta` table.
    pub(crate) async fn meta(&self, key: &str) -> Result<Option<String>> {
        let row = sqlx::query("SELECT value FROM meta WHERE key = $1")
            .bind(key)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(|r| r.try_get("value")).transpose()?)
    }

    /// Sets a value of the `meta` table.
    pub(crate) async fn set_meta(&self, key: &str, value: &str) -> Result<()> {
        sqlx::query(
            "INSERT INTO meta (key, value) VALUES ($1, $2)
             ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        )
        .bind(key)
        .bind(value)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Records a deal and its tasks (nothing when it is already known); returns whether it
    /// was new.
    pub(crate) async fn insert_deal(
        &self,
        deal: &DealRow,
        tasks: &[(B256, i64)],
        status: PoolTaskState,
        replicas: i64,
        deadline: i64,
    ) -> Result<bool> {
        let mut tx = self.pool.begin().await?;
        let seq: i64 = sqlx::query("SELECT COUNT(*) AS n FROM deals")
            .fetch_one(&mut *tx)
            .await?
            .try_get("n")?;
        let inserted = sqlx::query(
            "INSERT INTO deals (dealid, fast, app, dataset, params, trust, bot_first, bot_size,
                start_time, timeref, callback, fast_deal, seq, requester, beneficiary)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)
             ON CONFLICT (dealid) DO NOTHING",
        )
        .bind(deal.dealid.to_string())
        .bind(i64::from(deal.fast))
        .bind(deal.app.to_string())
        .bind(deal.dataset.to_string())
        .bind(&deal.params)
        .bind(deal.trust)
        .bind(deal.bot_first)
        .bind(deal.bot_size)
        .bind(deal.start_time)
        .bind(deal.timeref)
        .bind(deal.callback.to_string())
        .bind(bytes_text(&deal.fast_deal))
        .bind(seq)
        .bind(deal.requester.map(|a| a.to_string()).unwrap_or_default())
        .bind(deal.beneficiary.map(|a| a.to_string()).unwrap_or_default())
        .execute(&mut *tx)
        .await?
        .rows_affected()
            == 1;
        if inserted {
            for (taskid, idx) in tasks {
                sqlx::query(
                    "INSERT INTO tasks (taskid, dealid, idx, status, replicas_needed, deadline)
                     VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (taskid) DO NOTHING",
                )
                .bind(taskid.to_string())
                .bind(deal.dealid.to_string())
                .bind(*idx)
                .bind(status.as_str())
                .bind(replicas)
                .bind(deadline)
                .execute(&mut *tx)
                .await?;
            }
        }
        tx.commit().await?;
        Ok(inserted)
    }

    /// A deal.
    pub(crate) async fn deal(&self, dealid: B256) -> Result<Option<DealRow>> {
        let row = sqlx::query("SELECT * FROM deals WHERE dealid = $1")
            .bind(dealid.to_string())
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(deal).transpose()
    }

    /// A task.
    pub(crate) async fn task(&self, taskid: B256) -> Result<Option<TaskRow>> {
        let row = sqlx::query("SELECT * FROM tasks WHERE taskid = $1")
            .bind(taskid.to_string())
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(task).transpose()
    }

    /// Tasks in one of `statuses`.
    pub(crate) async fn tasks_in(&self, statuses: &[PoolTaskState]) -> Result<Vec<TaskRow>> {
        let list = statuses
            .iter()
            .map(|s| format!("'{s}'"))
            .collect::<Vec<_>>()
            .join(", ");
        let rows = sqlx::query(&format!(
            "SELECT * FROM tasks WHERE status IN ({list}) ORDER BY dealid, idx"
        ))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(task).collect()
    }

    /// The tasks the engine has to look at: those revealing, and the active ones with a
    /// contributed or failed replicate (the others wait for workers).
    pub(crate) async fn tasks_to_drive(&self) -> Result<Vec<TaskRow>> {
        let rows = sqlx::query(
            "SELECT t.* FROM tasks t WHERE t.status = 'REVEALING'
             OR (t.status = 'ACTIVE' AND EXISTS (SELECT 1 FROM replicates r
                 WHERE r.taskid = t.taskid AND r.state IN ('contributed', 'failed')))
             ORDER BY t.dealid, t.idx",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(task).collect()
    }

    /// The ACTIVE tasks whose deadline is at or before `now` (chain time): the candidates of
    /// [`decide::expire_tasks`](crate::decide::expire_tasks).
    pub(crate) async fn tasks_past_deadline(&self, now: i64) -> Result<Vec<TaskRow>> {
        let rows = sqlx::query(
            "SELECT * FROM tasks WHERE status = 'ACTIVE' AND deadline <= $1
             ORDER BY dealid, idx",
        )
        .bind(now)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(task).collect()
    }

    /// Sets a task's status (and failure reason or result link when given).
    pub(crate) async fn set_task_status(
        &self,
        taskid: B256,
        status: PoolTaskState,
        failure: Option<&str>,
        results: Option<&str>,
    ) -> Result<()> {
        let write = Write::Status {
            status,
            failure: failure.map(Into::into),
            results: results.map(Into::into),
        };
        self.apply(taskid, &[write]).await
    }

    /// Applies the writes of one decision on a task in one transaction: all of them or none.
    pub(crate) async fn apply(&self, taskid: B256, writes: &[Write]) -> Result<()> {
        self.apply_all(&[(taskid, writes)]).await
    }

    /// Applies the writes of decisions on several tasks (an expiry) in one transaction.
    pub(crate) async fn apply_all<W: AsRef<[Write]>>(&self, decisions: &[(B256, W)]) -> Result<()> {
        if decisions
            .iter()
            .all(|(_, writes)| writes.as_ref().is_empty())
        {
            return Ok(());
        }
        let mut tx = self.pool.begin().await?;
        for (taskid, writes) in decisions {
            let key = taskid.to_string();
            for write in writes.as_ref() {
                write_query(&key, write).execute(&mut *tx).await?;
            }
        }
        tx.commit().await?;
        Ok(())
    }

    /// The next task `worker` may take: ACTIVE, before its deadline (`now`, chain time) and
    /// past its backoff (`unix`, the machine's clock), with fewer than `max_failures` failed
    /// attempts, needing more replicas than it has live ones, and not held by this worker
    /// already. A worker whose replicate was lost or failed for a passing reason may take the
    /// task again; not after an app or deal fault, nor after a fault of its own while another live
    /// worker (seen since `live_since`) has not tried the task yet.
    pub(crate) async fn next_task_for(
        &self,
        worker: Address,
        now: i64,
        unix: i64,
        max_failures: i64,
        live_since: i64,
    ) -> Result<Option<TaskRow>> {
        let row = sqlx::query(
            "SELECT t.* FROM tasks t JOIN deals d ON d.dealid = t.dealid
             WHERE t.status = 'ACTIVE' AND t.deadline > $2
               AND t.not_before <= $3 AND t.failures < $4
               AND (SELECT COUNT(*) FROM replicates r WHERE r.taskid = t.taskid
                    AND r.state IN ('assigned', 'contributed', 'done')) < t.replicas_needed
               AND NOT EXISTS (SELECT 1 FROM replicates r WHERE r.taskid = t.taskid
                    AND r.worker = $1 AND (r.state IN ('assigned', 'contributed', 'done')
                    OR r.app_fault = 1 OR r.fault = 'deal'
                    OR (r.state = 'failed' AND r.fault = 'worker' AND EXISTS (
                        SELECT 1 FROM workers w WHERE w.last_seen >= $5 AND w.address <> $1
                        AND NOT EXISTS (SELECT 1 FROM replicates o
                            WHERE o.taskid = t.taskid AND o.worker = w.address)))))
             ORDER BY d.seq, t.idx LIMIT 1",
        )
        .bind(worker.to_string())
        .bind(now)
        .bind(unix)
        .bind(max_failures)
        .bind(live_since)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(task).transpose()
    }

    /// The ACTIVE tasks that used up `max_failures` failed attempts and hold no live
    /// replicate: nothing will hand them out again.
    pub(crate) async fn exhausted_tasks(&self, max_failures: i64) -> Result<Vec<TaskRow>> {
        let rows = sqlx::query(
            "SELECT t.* FROM tasks t WHERE t.status = 'ACTIVE' AND t.failures >= $1
             AND NOT EXISTS (SELECT 1 FROM replicates r WHERE r.taskid = t.taskid
                 AND r.state IN ('assigned', 'contributed', 'done'))
             ORDER BY t.dealid, t.idx",
        )
        .bind(max_failures)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(task).collect()
    }

    /// Hands a replicate of `taskid` to `worker` until `lease_until`.
    pub(crate) async fn assign(
        &self,
        taskid: B256,
        worker: Address,
        lease_until: i64,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO replicates (taskid, worker, state, lease_until, app_fault)
             VALUES ($1, $2, 'assigned', $3, 0)
             ON CONFLICT (taskid, worker) DO UPDATE SET state = 'assigned',
                lease_until = excluded.lease_until, error = NULL, fault = NULL, logs = NULL",
        )
        .bind(taskid.to_string())
        .bind(worker.to_string())
        .bind(lease_until)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The replicates of a task.
    pub(crate) async fn replicates(&self, taskid: B256) -> Result<Vec<ReplicateRow>> {
        let rows =
            sqlx::query("SELECT * FROM replicates WHERE taskid = $1 ORDER BY reported_at, worker")
                .bind(taskid.to_string())
                .fetch_all(&self.pool)
                .await?;
        rows.iter().map(replicate).collect()
    }

    /// The replicates a worker holds that are not settled.
    pub(crate) async fn worker_replicates(&self, worker: Address) -> Result<Vec<ReplicateRow>> {
        let rows = sqlx::query(
            "SELECT * FROM replicates WHERE worker = $1 AND state = 'assigned' ORDER BY taskid",
        )
        .bind(worker.to_string())
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(replicate).collect()
    }

    /// Records a worker's report on its replicate (`r.taskid`, `r.worker`); false when it
    /// holds none for the task.
    pub(crate) async fn report(&self, r: &ReplicateRow) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE replicates SET state = $3, result_digest = $4, location = $5,
                callback_data = $6, error = $7, app_fault = $8, reported_at = $9, fault = $10,
                logs = $11
             WHERE taskid = $1 AND worker = $2 AND state IN ('assigned', 'lost')",
        )
        .bind(r.taskid.to_string())
        .bind(r.worker.to_string())
        .bind(r.state.as_str())
        .bind(r.result_digest.map(|d| d.to_string()))
        .bind(&r.location)
        .bind(r.callback_data.as_ref().map(|c| c.to_string()))
        .bind(&r.error)
        .bind(i64::from(r.app_fault))
        .bind(unix_millis())
        .bind(r.fault.map(Fault::as_str))
        .bind(&r.logs)
        .execute(&self.pool)
        .await?
        .rows_affected();
        Ok(done == 1)
    }

    /// Extends the leases of a worker's assigned replicates and records it as seen.
    pub(crate) async fn heartbeat(
        &self,
        worker: Address,
        now: i64,
        lease_until: i64,
    ) -> Result<()> {
        let worker = worker.to_string();
        sqlx::query(
            "UPDATE replicates SET lease_until = $2 WHERE worker = $1 AND state = 'assigned'",
        )
        .bind(&worker)
        .bind(lease_until)
        .execute(&self.pool)
        .await?;
        sqlx::query("UPDATE workers SET last_seen = $2 WHERE address = $1")
            .bind(&worker)
            .bind(now)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// The replicates still assigned whose lease ended before `now` (the machine's clock):
    /// the candidates of [`decide::expire_leases`](crate::decide::expire_leases).
    pub(crate) async fn leases_ended(&self, now: i64) -> Result<Vec<LeaseRow>> {
        let rows = sqlx::query(
            "SELECT taskid, worker, state, lease_until FROM replicates
             WHERE state = 'assigned' AND lease_until < $1 ORDER BY taskid, worker",
        )
        .bind(now)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(lease).collect()
    }

    /// Records a worker's registration.
    pub(crate) async fn register(
        &self,
        worker: Address,
        cores: i64,
        memory: i64,
        tags: &str,
        slots: i64,
        now: i64,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO workers (address, cores, memory_bytes, tags, slots, last_seen)
             VALUES ($1, $2, $3, $4, $5, $6)
             ON CONFLICT (address) DO UPDATE SET cores = excluded.cores,
                memory_bytes = excluded.memory_bytes, tags = excluded.tags,
                slots = excluded.slots, last_seen = excluded.last_seen",
        )
        .bind(worker.to_string())
        .bind(cores)
        .bind(memory)
        .bind(tags)
        .bind(slots)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The number of workers seen since `since`.
    pub(crate) async fn live_workers(&self, since: i64) -> Result<i64> {
        Ok(
            sqlx::query("SELECT COUNT(*) AS n FROM workers WHERE last_seen >= $1")
                .bind(since)
                .fetch_one(&self.pool)
                .await?
                .try_get("n")?,
        )
    }

    /// Stores a session token.
    pub(crate) async fn add_session(
        &self,
        token: &str,
        worker: Address,
        expires: i64,
    ) -> Result<()> {
        sqlx::query("INSERT INTO sessions (token, worker, expires) VALUES ($1, $2, $3)")
            .bind(token)
            .bind(worker.to_string())
            .bind(expires)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// The worker of a live session.
    pub(crate) async fn session(&self, token: &str, now: i64) -> Result<Option<Address>> {
        let row = sqlx::query("SELECT worker FROM sessions WHERE token = $1 AND expires > $2")
            .bind(token)
            .bind(now)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref()
            .map(|row| {
                Decode {
                    row,
                    table: "sessions",
                }
                .parsed("worker", ADDRESS)
            })
            .transpose()
    }

    /// Deletes the sessions that expired; returns how many.
    pub(crate) async fn purge_sessions(&self, now: i64) -> Result<u64> {
        Ok(sqlx::query("DELETE FROM sessions WHERE expires <= $1")
            .bind(now)
            .execute(&self.pool)
            .await?
            .rows_affected())
    }

    /// The replicates `worker` holds (assigned, not reported yet).
    pub(crate) async fn held_by(&self, worker: Address) -> Result<i64> {
        Ok(sqlx::query(
            "SELECT COUNT(*) AS n FROM replicates WHERE worker = $1 AND state = 'assigned'",
        )
        .bind(worker.to_string())
        .fetch_one(&self.pool)
        .await?
        .try_get("n")?)
    }

    /// The slots `worker` registered, if it registered.
    pub(crate) async fn slots(&self, worker: Address) -> Result<Option<i64>> {
        let row = sqlx::query("SELECT slots FROM workers WHERE address = $1")
            .bind(worker.to_string())
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(|r| r.try_get("slots")).transpose()?)
    }

    /// Counts tasks by status, for `/metrics`.
    pub(crate) async fn task_counts(&self) -> Result<Vec<(String, i64)>> {
        let rows = sqlx::query("SELECT status, COUNT(*) AS n FROM tasks GROUP BY status")
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| Ok((r.try_get("status")?, r.try_get("n")?)))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::{Db, DealRow, Write};
    use alloy::primitives::{Address, Bytes, B256};
    use poco_types::{Fault, PoolTaskState, ReplicateState};

    const TASK: B256 = B256::repeat_byte(0x71);
    const WORKER: Address = Address::repeat_byte(0x33);

    fn sample_deal() -> DealRow {
        DealRow {
            dealid: B256::repeat_byte(0xd1),
            fast: false,
            app: Address::repeat_byte(1),
            dataset: Address::ZERO,
            params: "{}".into(),
            trust: 1,
            bot_first: 0,
            bot_size: 1,
            start_time: 0,
            timeref: 10,
            callback: Address::ZERO,
            fast_deal: Bytes::new(),
            requester: Some(Address::repeat_byte(2)),
            beneficiary: None,
        }
    }

    /// The writes of one decision land together or not at all.
    #[tokio::test]
    async fn a_decision_s_writes_are_one_transaction() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("t.db").display());
        // Opened twice, as in `rows_are_typed_and_unknown_states_refused`.
        Db::open(&url).await.unwrap().pool.close().await;
        let db = Db::open(&url).await.unwrap();
        db.insert_deal(&sample_deal(), &[(TASK, 0)], PoolTaskState::Pending, 1, 100)
            .await
            .unwrap();
        let writes = [
            Write::Status {
                status: PoolTaskState::Active,
                failure: None,
                results: None,
            },
            Write::Replicas(3),
            Write::CountFailure { not_before: 50 },
        ];
        db.apply(TASK, &writes).await.unwrap();
        let task = db.task(TASK).await.unwrap().unwrap();
        assert_eq!(
            (task.status, task.replicas_needed, task.failures),
            (PoolTaskState::Active, 3, 1)
        );
        // The second write fails (its table is gone): the first is rolled back.
        sqlx::query("DROP TABLE replicates")
            .execute(&db.pool)
            .await
            .unwrap();
        let writes = [
            Write::Replicas(5),
            Write::SetAside {
                worker: WORKER,
                reason: "bad".into(),
            },
        ];
        assert!(db.apply(TASK, &writes).await.is_err());
        assert_eq!(db.task(TASK).await.unwrap().unwrap().replicas_needed, 3);
    }

    /// Expiry reads its candidates, decides, and writes in one transaction; a row that moved
    /// on between the read and the write (a contribution, a renewed lease, a task revealing)
    /// is left alone.
    #[tokio::test]
    async fn expiry_writes_only_what_is_still_due() {
        use crate::decide::{expire_leases, expire_tasks, DEADLINE_PASSED};
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("e.db").display());
        Db::open(&url).await.unwrap().pool.close().await;
        let db = Db::open(&url).await.unwrap();
        let other = B256::repeat_byte(0x72);
        db.insert_deal(
            &sample_deal(),
            &[(TASK, 0), (other, 1)],
            PoolTaskState::Active,
            1,
            100,
        )
        .await
        .unwrap();
        let late = Address::repeat_byte(0x44);
        db.assign(TASK, WORKER, 10).await.unwrap();
        db.assign(TASK, late, 10).await.unwrap();
        db.assign(other, WORKER, 500).await.unwrap();

        // Leases: both of TASK's ended at 50, other's did not.
        let leases = db.leases_ended(50).await.unwrap();
        assert_eq!(leases.len(), 2, "{leases:?}");
        let lost = expire_leases(&leases, 50);
        // `late` contributes between the read and the write: its replicate is kept.
        let mut row = db.replicates(TASK).await.unwrap();
        row.retain(|r| r.worker == late);
        row[0].state = ReplicateState::Contributed;
        assert!(db.report(&row[0]).await.unwrap());
        db.apply_all(&lost).await.unwrap();
        let states: Vec<_> = db
            .replicates(TASK)
            .await
            .unwrap()
            .into_iter()
            .map(|r| (r.worker, r.state))
            .collect();
        assert!(
            states.contains(&(WORKER, ReplicateState::Lost)),
            "{states:?}"
        );
        assert!(
            states.contains(&(late, ReplicateState::Contributed)),
            "{states:?}"
        );
        assert_eq!(db.task(TASK).await.unwrap().unwrap().failures, 1);
        assert_eq!(db.task(other).await.unwrap().unwrap().failures, 0);
        // Applied again (nothing still due): nothing changes.
        db.apply_all(&lost).await.unwrap();
        assert_eq!(db.task(TASK).await.unwrap().unwrap().failures, 1);

        // Tasks: both past their deadline at 100; `other` moves on before the write.
        let due = db.tasks_past_deadline(100).await.unwrap();
        assert_eq!(due.len(), 2);
        assert!(db.tasks_past_deadline(99).await.unwrap().is_empty());
        let expired = expire_tasks(&due, 100);
        db.set_task_status(other, PoolTaskState::Revealing, None, None)
            .await
            .unwrap();
        db.apply_all(&expired).await.unwrap();
        let task = db.task(TASK).await.unwrap().unwrap();
        assert_eq!(task.status, PoolTaskState::Expired);
        assert_eq!(task.failure.as_deref(), Some(DEADLINE_PASSED));
        let other = db.task(other).await.unwrap().unwrap();
        assert_eq!(
            (other.status, other.failure),
            (PoolTaskState::Revealing, None)
        );
    }

    #[tokio::test]
    async fn l6_expired_sessions_are_purged() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(&format!(
            "sqlite://{}?mode=rwc",
            dir.path().join("s.db").display()
        ))
        .await
        .unwrap();
        for i in 0..100 {
            db.add_session(&format!("old{i}"), Address::repeat_byte(1), 10)
                .await
                .unwrap();
        }
        db.add_session("live", Address::repeat_byte(2), 1_000)
            .await
            .unwrap();
        assert_eq!(db.purge_sessions(500).await.unwrap(), 100);
        assert_eq!(
            db.session("live", 500).await.unwrap(),
            Some(Address::repeat_byte(2))
        );
        assert_eq!(db.purge_sessions(500).await.unwrap(), 0);
    }

    /// States are stored as their text forms and read back as enums; a row holding a state
    /// this scheduler does not know is an error naming the column, not a default state.
    #[tokio::test]
    async fn rows_are_typed_and_unknown_states_refused() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("t.db").display());
        // Opened twice: the first open adds the later columns, which connections opened
        // before the ALTER TABLE may not see in their first prepared statements (sqlx's
        // SQLite driver then reads past the row); the second open starts from the full schema.
        Db::open(&url).await.unwrap().pool.close().await;
        let db = Db::open(&url).await.unwrap();
        let deal = sample_deal();
        let tasks = [(TASK, 0)];
        assert!(db
            .insert_deal(&deal, &tasks, PoolTaskState::Pending, 1, 100)
            .await
            .unwrap());
        let pending = db.tasks_in(&[PoolTaskState::Pending]).await.unwrap();
        assert_eq!(pending.len(), 1);
        assert_eq!(pending[0].status, PoolTaskState::Pending);
        let read = db.deal(deal.dealid).await.unwrap().unwrap();
        assert_eq!(
            (read.app, read.dataset, read.callback, read.fast_deal.len()),
            (deal.app, deal.dataset, deal.callback, 0)
        );
        assert_eq!((read.requester, read.beneficiary), (deal.requester, None));
        for status in PoolTaskState::ALL {
            db.set_task_status(TASK, *status, None, None).await.unwrap();
            assert_eq!(db.task(TASK).await.unwrap().unwrap().status, *status);
        }
        db.set_task_status(TASK, PoolTaskState::Active, None, None)
            .await
            .unwrap();
        db.assign(TASK, WORKER, 1_000).await.unwrap();
        let mut row = db.replicates(TASK).await.unwrap().remove(0);
        assert_eq!((row.state, row.fault), (ReplicateState::Assigned, None));
        assert_eq!((row.taskid, row.worker), (TASK, WORKER));
        row.state = ReplicateState::Failed;
        row.fault = Some(Fault::Deal);
        row.result_digest = Some(B256::repeat_byte(9));
        row.callback_data = Some(Bytes::from_static(&[1, 2, 3]));
        assert!(db.report(&row).await.unwrap());
        let read = db.replicates(TASK).await.unwrap().remove(0);
        assert_eq!(read.result_digest, row.result_digest);
        assert_eq!(read.callback_data, row.callback_data);
        assert_eq!(
            (read.state, read.fault),
            (ReplicateState::Failed, Some(Fault::Deal))
        );

        // Written by something else: refused with the table, the column and the value.
        let corrupt = |sql: &'static str| sqlx::query(sql).execute(&db.pool);
        let names = |err: crate::Error, parts: &[&str]| {
            let err = err.to_string();
            assert!(parts.iter().all(|p| err.contains(p)), "{err}");
        };
        corrupt("UPDATE replicates SET fault = 'cosmic-ray'")
            .await
            .unwrap();
        let err = db.replicates(TASK).await.unwrap_err();
        names(err, &["column fault", "cosmic-ray"]);
        corrupt("UPDATE replicates SET fault = NULL, state = 'vanished'")
            .await
            .unwrap();
        let err = db.replicates(TASK).await.unwrap_err();
        names(err, &["column state", "vanished"]);
        corrupt("UPDATE tasks SET status = 'active'").await.unwrap();
        names(
            db.task(TASK).await.unwrap_err(),
            &["column status", "\"active\""],
        );
        // Ids and addresses too: never read as zero.
        corrupt("UPDATE replicates SET state = 'failed', worker = 'nobody'")
            .await
            .unwrap();
        let err = db.replicates(TASK).await.unwrap_err();
        names(err, &["table replicates, column worker", "\"nobody\""]);
        corrupt("UPDATE deals SET callback = '0x12'").await.unwrap();
        let err = db.deal(deal.dealid).await.unwrap_err();
        names(err, &["table deals, column callback", "\"0x12\""]);
    }
}
