//! The scheduler's state: deals, tasks, replicates, workers, sessions and the chain cursor, in
//! SQLite (a file by default) or PostgreSQL, through sqlx's `Any` driver. Every statement uses
//! `$n` placeholders, which both accept.

use std::str::FromStr;

use alloy::primitives::{Address, Bytes, B256};
use poco_types::{Fault, PoolTaskState, ReplicateState, Tag};
use sqlx::{AnyPool, Row};

use crate::{
    workers::{Exclusion, Outcome, WorkerRecord},
    Error, Result,
};

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
    // Pairs of workers caught voting the same value against a task's consensus (a < b, the
    // lowercase hex addresses; the first task they were caught on and when, unix seconds).
    "CREATE TABLE IF NOT EXISTS colluders (
        a TEXT NOT NULL,
        b TEXT NOT NULL,
        task TEXT NOT NULL,
        at BIGINT NOT NULL,
        PRIMARY KEY (a, b)
    )",
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
    // Whether the task's votes were counted in its workers' records (see
    // `Db::tally`): tasks recorded before the column existed count as counted.
    ("tasks", "tallied BIGINT NOT NULL DEFAULT 1"),
    // Admission (see `crate::workers`): the operator's allowlist and marks, who admitted the
    // worker and when, its exclusion, its finalized votes, when it first signed in and from
    // which network prefix.
    ("workers", "allowed BIGINT NOT NULL DEFAULT 0"),
    ("workers", "trusted BIGINT NOT NULL DEFAULT 0"),
    ("workers", "operator_slots BIGINT"),
    ("workers", "admitted_by TEXT"),
    ("workers", "admitted_at BIGINT"),
    ("workers", "excluded_reason TEXT"),
    ("workers", "excluded_at BIGINT"),
    ("workers", "excluded_task TEXT"),
    ("workers", "streak BIGINT NOT NULL DEFAULT 0"),
    ("workers", "contributed BIGINT NOT NULL DEFAULT 0"),
    ("workers", "agreed BIGINT NOT NULL DEFAULT 0"),
    ("workers", "against BIGINT NOT NULL DEFAULT 0"),
    ("workers", "first_seen BIGINT"),
    ("workers", "ip_prefix TEXT"),
    // The deal's tag (`Tag`'s text: names or 0x hex; empty in deals recorded before the column
    // existed, read as no tag) and the task's enclave challenge, asked of the SMS once for a
    // TEE task (see `Db::set_enclave_challenge`).
    ("deals", "tag TEXT NOT NULL DEFAULT ''"),
    ("tasks", "enclave_challenge TEXT"),
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

/// What [`Db::next_tasks_for`] looks for.
#[derive(Clone, Debug)]
pub(crate) struct WorkQuery {
    /// The worker asking.
    pub(crate) worker: Address,
    /// The chain's time: tasks before their deadline.
    pub(crate) now: i64,
    /// The machine's time: tasks past their backoff.
    pub(crate) unix: i64,
    /// Failed attempts that give a task up.
    pub(crate) max_failures: i64,
    /// Workers seen since then are live.
    pub(crate) live_since: i64,
    /// Only tasks of classic deals of trust 2 or more (see [`crate::workers::may_take`]).
    pub(crate) replicated_only: bool,
    /// The most tasks returned.
    pub(crate) limit: i64,
    /// The deal tags (as stored) the worker does not serve (see
    /// [`crate::workers::serves`]): their tasks are left out, so that tasks it cannot take
    /// never fill its candidates.
    pub(crate) unserved_tags: Vec<String>,
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
    /// The deal's tag: a worker takes its tasks only when it registered every bit of it (bit
    /// 0, TEE: the task also has an enclave challenge).
    pub(crate) tag: Tag,
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
    /// The task's enclave challenge (TEE tasks, once the SMS made it).
    pub(crate) enclave_challenge: Option<Address>,
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

/// Rows of the `colluders` table as address pairs.
fn pairs(rows: &[sqlx::any::AnyRow]) -> Result<Vec<(Address, Address)>> {
    rows.iter()
        .map(|row| {
            let d = Decode {
                row,
                table: "colluders",
            };
            Ok((d.parsed("a", "an address")?, d.parsed("b", "an address")?))
        })
        .collect()
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
const TAG: &str = "a tag (names such as tee,gpu, or 0x hex)";

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
        tag: r.parsed("tag", TAG)?,
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
        enclave_challenge: r.parsed_opt("enclave_challenge", ADDRESS)?,
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

/// Adds a row for `worker` (its address as text) when the pool has none.
async fn known_worker(tx: &mut sqlx::Transaction<'_, sqlx::Any>, worker: &str) -> Result<()> {
    sqlx::query(
        "INSERT INTO workers (address, cores, memory_bytes, tags, slots, last_seen)
         VALUES ($1, 0, 0, '', 0, 0) ON CONFLICT (address) DO NOTHING",
    )
    .bind(worker)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Ends the sessions of `worker` (its address as text).
async fn end_sessions(tx: &mut sqlx::Transaction<'_, sqlx::Any>, worker: &str) -> Result<()> {
    sqlx::query("DELETE FROM sessions WHERE worker = $1")
        .bind(worker)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

fn worker_record(row: &sqlx::any::AnyRow) -> Result<WorkerRecord> {
    let r = Decode {
        row,
        table: "workers",
    };
    let count = |column: &'static str| -> Result<u64> {
        let n: i64 = r.get(column)?;
        u64::try_from(n).map_err(|_| Error::Corrupt {
            table: "workers",
            column,
            value: n.to_string(),
            expected: "a count (0 or more)",
        })
    };
    let slots = |column: &'static str, n: i64| -> Result<u32> {
        u32::try_from(n).map_err(|_| Error::Corrupt {
            table: "workers",
            column,
            value: n.to_string(),
            expected: "a number of slots",
        })
    };
    let excluded_at: Option<i64> = r.get("excluded_at")?;
    Ok(WorkerRecord {
        address: r.parsed("address", ADDRESS)?,
        allowed: r.flag("allowed")?,
        trusted: r.flag("trusted")?,
        slots: r
            .get::<Option<i64>>("operator_slots")?
            .map(|n| slots("operator_slots", n))
            .transpose()?,
        declared_slots: slots("slots", r.get("slots")?)?,
        admitted_by: r.get("admitted_by")?,
        admitted_at: r.get("admitted_at")?,
        excluded: match excluded_at {
            None => None,
            Some(at) => Some(Exclusion {
                reason: r
                    .get::<Option<String>>("excluded_reason")?
                    .unwrap_or_default(),
                at,
                task: r.parsed_opt("excluded_task", ID)?,
            }),
        },
        streak: count("streak")?,
        contributed: count("contributed")?,
        agreed: count("agreed")?,
        against: count("against")?,
        first_seen: r.get("first_seen")?,
        last_seen: r.get("last_seen")?,
        tags: r.parsed("tags", TAG)?,
        ip_prefix: r.get("ip_prefix")?,
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
                start_time, timeref, callback, fast_deal, seq, requester, beneficiary, tag)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)
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
        .bind(deal.tag.to_string())
        .execute(&mut *tx)
        .await?
        .rows_affected()
            == 1;
        if inserted {
            for (taskid, idx) in tasks {
                sqlx::query(
                    "INSERT INTO tasks (taskid, dealid, idx, status, replicas_needed, deadline,
                        tallied)
                     VALUES ($1, $2, $3, $4, $5, $6, 0) ON CONFLICT (taskid) DO NOTHING",
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

    /// The next tasks a worker may take (see [`WorkQuery`]): ACTIVE, before their deadline
    /// and past their backoff, with fewer failed attempts than the limit, needing more
    /// replicas than they have live ones, and not held by this worker already. A worker whose
    /// replicate was lost or failed for a passing reason may take the task again; not after an
    /// app or deal fault, nor after a fault of its own while another live worker has not tried
    /// the task yet (untagged deals only: whether another worker registers a tagged deal's tag
    /// is not known here, so there the worker may take the task again after its backoff). In
    /// the order they are to be handed out.
    pub(crate) async fn next_tasks_for(&self, q: &WorkQuery) -> Result<Vec<TaskRow>> {
        let unserved = (0..q.unserved_tags.len())
            .map(|i| format!("${}", i + 9))
            .collect::<Vec<_>>()
            .join(", ");
        let tags = if unserved.is_empty() {
            String::new()
        } else {
            format!("AND d.tag NOT IN ({unserved})")
        };
        let sql = format!(
            "SELECT t.* FROM tasks t JOIN deals d ON d.dealid = t.dealid
             WHERE t.status = 'ACTIVE' AND t.deadline > $2
               AND t.not_before <= $3 AND t.failures < $4
               AND (SELECT COUNT(*) FROM replicates r WHERE r.taskid = t.taskid
                    AND r.state IN ('assigned', 'contributed', 'done')) < t.replicas_needed
               AND NOT EXISTS (SELECT 1 FROM replicates r WHERE r.taskid = t.taskid
                    AND r.worker = $1 AND (r.state IN ('assigned', 'contributed', 'done')
                    OR r.app_fault = 1 OR r.fault = 'deal'
                    OR (r.state = 'failed' AND r.fault = 'worker' AND d.tag IN ('', $8)
                        AND EXISTS (
                        SELECT 1 FROM workers w WHERE w.last_seen >= $5 AND w.address <> $1
                        AND NOT EXISTS (SELECT 1 FROM replicates o
                            WHERE o.taskid = t.taskid AND o.worker = w.address)))))
               AND ($6 = 0 OR (d.fast = 0 AND d.trust >= 2)) {tags}
             ORDER BY d.seq, t.idx LIMIT $7",
        );
        let mut query = sqlx::query(&sql)
            .bind(q.worker.to_string())
            .bind(q.now)
            .bind(q.unix)
            .bind(q.max_failures)
            .bind(q.live_since)
            .bind(i64::from(q.replicated_only))
            .bind(q.limit)
            .bind(Tag::NONE.to_string());
        for tag in &q.unserved_tags {
            query = query.bind(tag.as_str());
        }
        let rows = query.fetch_all(&self.pool).await?;
        rows.iter().map(task).collect()
    }

    /// The distinct tags, as stored, of the deals that have ACTIVE tasks: the only ones whose
    /// tasks can be candidates (read through the tasks' status index, so a `/work` call does
    /// not scan every deal the pool ever had).
    pub(crate) async fn deal_tags(&self) -> Result<Vec<String>> {
        let rows = sqlx::query(
            "SELECT DISTINCT d.tag FROM tasks t JOIN deals d ON d.dealid = t.dealid
             WHERE t.status = 'ACTIVE'",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| Ok(r.try_get::<String, _>("tag")?))
            .collect()
    }

    /// The ACTIVE tasks, before their deadline (`now`, chain time) and not held back (`unix`,
    /// see [`Self::hold_back`]), of the deals tagged one of `tags` (as stored) that have no
    /// enclave challenge yet: at most `limit`, the nearest deadline first.
    pub(crate) async fn tasks_awaiting_challenge(
        &self,
        tags: &[String],
        now: i64,
        unix: i64,
        limit: i64,
    ) -> Result<Vec<TaskRow>> {
        if tags.is_empty() {
            return Ok(Vec::new());
        }
        let listed = (0..tags.len())
            .map(|i| format!("${}", i + 4))
            .collect::<Vec<_>>()
            .join(", ");
        let sql = format!(
            "SELECT t.* FROM tasks t JOIN deals d ON d.dealid = t.dealid
             WHERE t.status = 'ACTIVE' AND t.enclave_challenge IS NULL AND t.deadline > $1
               AND t.not_before <= $2 AND d.tag IN ({listed})
             ORDER BY t.deadline, t.dealid, t.idx LIMIT $3"
        );
        let mut query = sqlx::query(&sql).bind(now).bind(unix).bind(limit);
        for tag in tags {
            query = query.bind(tag.as_str());
        }
        let rows = query.fetch_all(&self.pool).await?;
        rows.iter().map(task).collect()
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

    /// Records the enclave challenge the SMS made for `taskid`, unless one is recorded
    /// already (the first one recorded is kept: a task keeps one).
    pub(crate) async fn set_enclave_challenge(
        &self,
        taskid: B256,
        challenge: Address,
    ) -> Result<()> {
        sqlx::query(
            "UPDATE tasks SET enclave_challenge = $2
             WHERE taskid = $1 AND enclave_challenge IS NULL",
        )
        .bind(taskid.to_string())
        .bind(challenge.to_string())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Holds `taskid` back until `not_before` (unix seconds) at least: neither handed out nor
    /// listed by [`Self::tasks_awaiting_challenge`] before.
    pub(crate) async fn hold_back(&self, taskid: B256, not_before: i64) -> Result<()> {
        sqlx::query(
            "UPDATE tasks SET not_before = CASE WHEN not_before < $2 THEN $2 ELSE not_before END
             WHERE taskid = $1",
        )
        .bind(taskid.to_string())
        .bind(not_before)
        .execute(&self.pool)
        .await?;
        Ok(())
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

    /// The number of workers seen since `since` that registered every bit of `tag` (all of
    /// them for no tag): those that could take a task of a deal with that tag.
    pub(crate) async fn live_workers(&self, since: i64, tag: Tag) -> Result<i64> {
        if tag.is_empty() {
            return Ok(
                sqlx::query("SELECT COUNT(*) AS n FROM workers WHERE last_seen >= $1")
                    .bind(since)
                    .fetch_one(&self.pool)
                    .await?
                    .try_get("n")?,
            );
        }
        // Only those registering the tag could take a task of it.
        let rows = sqlx::query("SELECT tags FROM workers WHERE last_seen >= $1")
            .bind(since)
            .fetch_all(&self.pool)
            .await?;
        let mut serving = 0;
        for row in &rows {
            let tags: Tag = Decode {
                row,
                table: "workers",
            }
            .parsed("tags", TAG)?;
            serving += i64::from(tags.contains(tag));
        }
        Ok(serving)
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

    /// A worker's record (see [`crate::workers`]).
    pub(crate) async fn worker_record(&self, worker: Address) -> Result<Option<WorkerRecord>> {
        let row = sqlx::query("SELECT * FROM workers WHERE address = $1")
            .bind(worker.to_string())
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(worker_record).transpose()
    }

    /// Every worker's record, by address.
    pub(crate) async fn worker_records(&self) -> Result<Vec<WorkerRecord>> {
        let rows = sqlx::query("SELECT * FROM workers ORDER BY address")
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(worker_record).collect()
    }

    /// Puts a worker on the allowlist (the operator's `workers add`): trusted or not, with the
    /// slots the operator registers; records who admitted it and when.
    pub(crate) async fn allow_worker(
        &self,
        worker: Address,
        trusted: bool,
        slots: Option<u32>,
        by: &str,
        now: i64,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO workers (address, cores, memory_bytes, tags, slots, last_seen, allowed,
                trusted, operator_slots, admitted_by, admitted_at)
             VALUES ($1, 0, 0, '', 0, 0, 1, $2, $3, $4, $5)
             ON CONFLICT (address) DO UPDATE SET allowed = 1, trusted = excluded.trusted,
                operator_slots = excluded.operator_slots, admitted_by = excluded.admitted_by,
                admitted_at = excluded.admitted_at",
        )
        .bind(worker.to_string())
        .bind(i64::from(trusted))
        .bind(slots.map(i64::from))
        .bind(by)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Takes a worker off the allowlist and ends its sessions; false when it was not on it.
    pub(crate) async fn disallow_worker(&self, worker: Address) -> Result<bool> {
        let mut tx = self.pool.begin().await?;
        let done = sqlx::query(
            "UPDATE workers SET allowed = 0, trusted = 0, operator_slots = NULL
             WHERE address = $1 AND allowed = 1",
        )
        .bind(worker.to_string())
        .execute(&mut *tx)
        .await?
        .rows_affected();
        end_sessions(&mut tx, &worker.to_string()).await?;
        tx.commit().await?;
        Ok(done == 1)
    }

    /// Lifts a worker's exclusion (its streak starts again); false when it was not excluded.
    pub(crate) async fn readmit_worker(&self, worker: Address) -> Result<bool> {
        Ok(sqlx::query(
            "UPDATE workers SET excluded_reason = NULL, excluded_at = NULL, excluded_task = NULL,
                streak = 0 WHERE address = $1 AND excluded_at IS NOT NULL",
        )
        .bind(worker.to_string())
        .execute(&self.pool)
        .await?
        .rows_affected()
            == 1)
    }

    /// Records a worker's registration from `ip_prefix` (when known): first seen now unless
    /// seen before; a worker the pool did not know is recorded as admitted by `by` (an open
    /// pool).
    pub(crate) async fn seen_from(
        &self,
        worker: Address,
        ip_prefix: Option<&str>,
        by: &str,
        now: i64,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO workers (address, cores, memory_bytes, tags, slots, last_seen,
                first_seen, ip_prefix, admitted_by, admitted_at)
             VALUES ($1, 0, 0, '', 0, $2, $2, $3, $4, $2)
             ON CONFLICT (address) DO UPDATE SET
                first_seen = COALESCE(workers.first_seen, excluded.first_seen),
                ip_prefix = COALESCE(excluded.ip_prefix, workers.ip_prefix),
                admitted_by = COALESCE(workers.admitted_by, excluded.admitted_by),
                admitted_at = COALESCE(workers.admitted_at, excluded.admitted_at)",
        )
        .bind(worker.to_string())
        .bind(now)
        .bind(ip_prefix)
        .bind(by)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Excludes a worker (the operator's hand) and ends its sessions; false when it was
    /// excluded already.
    pub(crate) async fn exclude_worker(
        &self,
        worker: Address,
        reason: &str,
        now: i64,
    ) -> Result<bool> {
        let mut tx = self.pool.begin().await?;
        known_worker(&mut tx, &worker.to_string()).await?;
        let done = sqlx::query(
            "UPDATE workers SET excluded_reason = $2, excluded_at = $3, excluded_task = NULL
             WHERE address = $1 AND excluded_at IS NULL",
        )
        .bind(worker.to_string())
        .bind(reason)
        .bind(now)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        end_sessions(&mut tx, &worker.to_string()).await?;
        tx.commit().await?;
        Ok(done == 1)
    }

    /// The completed tasks of replicated deals whose votes are not counted yet (at most 64).
    pub(crate) async fn tasks_to_tally(&self) -> Result<Vec<TaskRow>> {
        let rows = sqlx::query(
            "SELECT t.* FROM tasks t JOIN deals d ON d.dealid = t.dealid
             WHERE t.status = 'COMPLETED' AND t.tallied = 0 AND d.fast = 0 AND d.trust >= 2
             ORDER BY t.dealid, t.idx LIMIT 64",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(task).collect()
    }

    /// Counts the finalized votes of a task in its workers' records, in one transaction with
    /// the mark that they are counted (so never twice): each vote agreed or not; a worker with
    /// an exclusion is excluded and its sessions end. `pairs` are the workers that voted the
    /// same value against the consensus ([`crate::workers::colluding_pairs`]): each pair is
    /// recorded once (the first task it was caught on stays), read back by
    /// [`Db::colluders_among`].
    pub(crate) async fn tally(
        &self,
        taskid: B256,
        votes: &[(Address, Outcome)],
        pairs: &[(Address, Address)],
        now: i64,
    ) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        let done = sqlx::query("UPDATE tasks SET tallied = 1 WHERE taskid = $1 AND tallied = 0")
            .bind(taskid.to_string())
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if done == 0 {
            return Ok(());
        }
        for (worker, outcome) in votes {
            let worker = worker.to_string();
            let (agreed, against) = if outcome.agreed { (1, 0) } else { (0, 1) };
            known_worker(&mut tx, &worker).await?;
            sqlx::query(
                "UPDATE workers SET contributed = contributed + 1, agreed = agreed + $2,
                    against = against + $3, streak = CASE WHEN $2 = 1 THEN streak + 1 ELSE 0 END
                 WHERE address = $1",
            )
            .bind(&worker)
            .bind(agreed)
            .bind(against)
            .execute(&mut *tx)
            .await?;
            if let Some(exclusion) = &outcome.exclude {
                sqlx::query(
                    "UPDATE workers SET excluded_reason = $2, excluded_at = $3, excluded_task = $4
                     WHERE address = $1 AND excluded_at IS NULL",
                )
                .bind(&worker)
                .bind(&exclusion.reason)
                .bind(exclusion.at)
                .bind(exclusion.task.map(|t| t.to_string()))
                .execute(&mut *tx)
                .await?;
                end_sessions(&mut tx, &worker).await?;
            }
        }
        for (x, y) in pairs {
            let (x, y) = (x.to_string().to_lowercase(), y.to_string().to_lowercase());
            if x == y {
                continue;
            }
            let (a, b) = if x < y { (x, y) } else { (y, x) };
            sqlx::query(
                "INSERT INTO colluders (a, b, task, at) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (a, b) DO NOTHING",
            )
            .bind(a)
            .bind(b)
            .bind(taskid.to_string())
            .bind(now)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// The recorded colluding pairs among `workers` (both of a pair in the list), in one
    /// query bounded by the list.
    pub(crate) async fn colluders_among(
        &self,
        workers: &[Address],
    ) -> Result<Vec<(Address, Address)>> {
        if workers.len() < 2 {
            return Ok(Vec::new());
        }
        let list: Vec<String> = workers
            .iter()
            .map(|w| w.to_string().to_lowercase())
            .collect();
        let marks = |from: usize| {
            (from..from + list.len())
                .map(|i| format!("${i}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let sql = format!(
            "SELECT a, b FROM colluders WHERE a IN ({}) AND b IN ({}) LIMIT {}",
            marks(1),
            marks(list.len() + 1),
            list.len() * (list.len() - 1) / 2
        );
        let mut query = sqlx::query(&sql);
        for w in list.iter().chain(list.iter()) {
            query = query.bind(w);
        }
        pairs(&query.fetch_all(&self.pool).await?)
    }

    /// Every recorded colluding pair, for `poco scheduler workers list`.
    pub(crate) async fn colluders(&self) -> Result<Vec<(Address, Address)>> {
        pairs(
            &sqlx::query("SELECT a, b FROM colluders ORDER BY a, b")
                .fetch_all(&self.pool)
                .await?,
        )
    }

    /// The workers excluded, for `/metrics`.
    pub(crate) async fn excluded_workers(&self) -> Result<i64> {
        Ok(
            sqlx::query("SELECT COUNT(*) AS n FROM workers WHERE excluded_at IS NOT NULL")
                .fetch_one(&self.pool)
                .await?
                .try_get("n")?,
        )
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
    use poco_types::{Fault, PoolTaskState, ReplicateState, Tag};

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
            tag: Tag::NONE,
        }
    }

    /// A deal's tag and a task's enclave challenge round-trip; a task keeps its first
    /// challenge; a worker's registered tags are read back as a tag.
    #[tokio::test]
    async fn tags_and_enclave_challenges_are_kept() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("tag.db").display());
        // Opened twice, as in `rows_are_typed_and_unknown_states_refused`.
        Db::open(&url).await.unwrap().pool.close().await;
        let db = Db::open(&url).await.unwrap();
        let tee = DealRow {
            tag: Tag::TEE | Tag::TDX | Tag::GPU,
            ..sample_deal()
        };
        db.insert_deal(&tee, &[(TASK, 0)], PoolTaskState::Active, 1, 100)
            .await
            .unwrap();
        assert_eq!(db.deal(tee.dealid).await.unwrap().unwrap().tag, tee.tag);
        assert_eq!(
            db.task(TASK).await.unwrap().unwrap().enclave_challenge,
            None
        );
        // Awaiting its challenge: listed under its tag only, before its deadline only.
        let tag = tee.tag.to_string();
        let awaiting = |tags: Vec<String>, now| {
            let db = &db;
            async move {
                db.tasks_awaiting_challenge(&tags, now, 1_000, 10)
                    .await
                    .unwrap()
                    .iter()
                    .map(|t| t.taskid)
                    .collect::<Vec<_>>()
            }
        };
        assert_eq!(awaiting(vec![tag.clone()], 99).await, vec![TASK]);
        assert!(awaiting(vec![Tag::TEE.to_string()], 99).await.is_empty());
        assert!(awaiting(vec![tag.clone()], 100).await.is_empty());
        assert!(awaiting(vec![], 99).await.is_empty());
        // Held back (the SMS refused it): not listed until then.
        db.hold_back(TASK, 1_001).await.unwrap();
        assert!(awaiting(vec![tag.clone()], 99).await.is_empty());
        // an earlier time does not shorten it
        db.hold_back(TASK, 900).await.unwrap();
        assert!(awaiting(vec![tag.clone()], 99).await.is_empty());
        sqlx::query("UPDATE tasks SET not_before = 0")
            .execute(&db.pool)
            .await
            .unwrap();
        assert_eq!(awaiting(vec![tag.clone()], 99).await, vec![TASK]);
        let first = Address::repeat_byte(0xc1);
        db.set_enclave_challenge(TASK, first).await.unwrap();
        let kept = db.task(TASK).await.unwrap().unwrap().enclave_challenge;
        assert!(awaiting(vec![tag.clone()], 99).await.is_empty());
        assert_eq!(kept, Some(first));
        db.set_enclave_challenge(TASK, Address::repeat_byte(0xc2))
            .await
            .unwrap();
        let again = db.task(TASK).await.unwrap().unwrap().enclave_challenge;
        assert_eq!(again, Some(first));
        // Registered as the bytes32 bitmap's hex, read back as a tag.
        let tags = (Tag::TEE | Tag::GPU).0;
        db.register(WORKER, 1, 1, &tags.to_string(), 1, 1)
            .await
            .unwrap();
        let record = db.worker_record(WORKER).await.unwrap().unwrap();
        assert_eq!(record.tags, Tag::TEE | Tag::GPU);
        // Live workers able to take a task of a tag: those registering every bit of it.
        let plain = Address::repeat_byte(0x34);
        db.register(plain, 1, 1, &B256::ZERO.to_string(), 1, 1)
            .await
            .unwrap();
        for (tag, live) in [
            (Tag::NONE, 2),
            (Tag::TEE, 1),
            (Tag::TEE | Tag::GPU, 1),
            (Tag::TEE | Tag::TDX, 0),
        ] {
            assert_eq!(db.live_workers(0, tag).await.unwrap(), live, "{tag}");
        }
        assert_eq!(db.live_workers(2, Tag::NONE).await.unwrap(), 0);
        // A deal of an older database (no tag column value) has no tag.
        sqlx::query("UPDATE deals SET tag = ''")
            .execute(&db.pool)
            .await
            .unwrap();
        assert_eq!(db.deal(tee.dealid).await.unwrap().unwrap().tag, Tag::NONE);
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

    /// The operator's allowlist, the registration hints, the tally of finalized votes (once
    /// per task), exclusion (sessions end) and re-admission.
    #[tokio::test]
    async fn worker_records_follow_the_operator_and_the_votes() {
        use crate::workers::{outcome, sign_in, Admission, Workers};
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("w.db").display());
        Db::open(&url).await.unwrap().pool.close().await;
        let workers = Workers::open(&url).await.unwrap();
        let db = Db::open(&url).await.unwrap();
        let (honest, cheat) = (Address::repeat_byte(0xa1), Address::repeat_byte(0xc4));
        assert!(workers.list().await.unwrap().is_empty());
        let added = workers
            .add(honest, true, Some(2), "alice", 100)
            .await
            .unwrap();
        assert!(added.allowed && added.trusted);
        assert_eq!(
            (added.slots, added.admitted_by.as_deref(), added.admitted_at),
            (Some(2), Some("alice"), Some(100))
        );
        // Registering keeps the operator's marks; the first sighting stays the first.
        db.register(honest, 4, 0, "", 8, 150).await.unwrap();
        db.seen_from(honest, Some("203.0.113.0/24"), "open admission", 150)
            .await
            .unwrap();
        db.seen_from(honest, None, "open admission", 160)
            .await
            .unwrap();
        let read = workers.get(honest).await.unwrap().unwrap();
        assert_eq!(
            (read.declared_slots, read.slots, read.trusted),
            (8, Some(2), true)
        );
        assert_eq!(read.admitted_by.as_deref(), Some("alice"));
        assert_eq!(read.first_seen, Some(150));
        assert_eq!(read.ip_prefix.as_deref(), Some("203.0.113.0/24"));
        assert_eq!(crate::workers::slot_cap(Some(&read)), 2);
        // A stranger of an open pool.
        db.seen_from(cheat, Some("198.51.100.0/24"), "open admission", 170)
            .await
            .unwrap();
        let stranger = workers.get(cheat).await.unwrap().unwrap();
        assert!(!stranger.allowed && !stranger.trusted);
        assert_eq!(stranger.admitted_by.as_deref(), Some("open admission"));
        db.add_session("cheat-session", cheat, 10_000)
            .await
            .unwrap();

        // A replicated task finalized: one vote with the consensus, one against.
        let mut deal = sample_deal();
        deal.trust = 3;
        db.insert_deal(&deal, &[(TASK, 0)], PoolTaskState::Active, 2, 1_000)
            .await
            .unwrap();
        assert!(db.tasks_to_tally().await.unwrap().is_empty());
        db.set_task_status(TASK, PoolTaskState::Completed, None, None)
            .await
            .unwrap();
        assert_eq!(db.tasks_to_tally().await.unwrap().len(), 1);
        let (good, bad) = (B256::repeat_byte(1), B256::repeat_byte(2));
        // The trusted worker won: the consensus is confirmed, the loser excluded.
        let confirmed = crate::workers::confirmed(Admission::Open, &[Some(&read)]);
        assert!(confirmed);
        let votes = [
            (
                honest,
                outcome(Some(&read), TASK, good, good, confirmed, 200),
            ),
            (
                cheat,
                outcome(Some(&stranger), TASK, bad, good, confirmed, 200),
            ),
        ];
        db.tally(TASK, &votes, &[], 200).await.unwrap();
        // Counted once.
        db.tally(TASK, &votes, &[], 200).await.unwrap();
        assert!(db.tasks_to_tally().await.unwrap().is_empty());
        let honest_now = workers.get(honest).await.unwrap().unwrap();
        assert_eq!(
            (
                honest_now.contributed,
                honest_now.agreed,
                honest_now.against
            ),
            (1, 1, 0)
        );
        assert_eq!((honest_now.streak, honest_now.excluded.clone()), (1, None));
        let caught = workers.get(cheat).await.unwrap().unwrap();
        assert_eq!(
            (caught.contributed, caught.against, caught.streak),
            (1, 1, 0)
        );
        let exclusion = caught.excluded.clone().expect("excluded");
        assert_eq!((exclusion.at, exclusion.task), (200, Some(TASK)));
        assert!(exclusion.reason.contains("against the consensus"));
        assert_eq!(db.session("cheat-session", 0).await.unwrap(), None);
        assert_eq!(db.excluded_workers().await.unwrap(), 1);
        for mode in [Admission::Open, Admission::Unrestricted, Admission::Closed] {
            assert!(sign_in(mode, cheat, Some(&caught)).is_err());
        }

        // Only the operator lifts it; the votes stay counted.
        assert!(workers.readmit(cheat).await.unwrap());
        assert!(!workers.readmit(cheat).await.unwrap());
        let back = workers.get(cheat).await.unwrap().unwrap();
        assert_eq!((back.excluded.clone(), back.against), (None, 1));
        assert_eq!(db.excluded_workers().await.unwrap(), 0);
        assert!(sign_in(Admission::Open, cheat, Some(&back)).is_ok());

        // By the operator's hand too.
        db.add_session("cheat-again", cheat, 10_000).await.unwrap();
        assert!(workers.exclude(cheat, "seen copying", 300).await.unwrap());
        assert!(!workers.exclude(cheat, "twice", 301).await.unwrap());
        assert_eq!(db.session("cheat-again", 0).await.unwrap(), None);
        let manual = workers.get(cheat).await.unwrap().unwrap().excluded.unwrap();
        assert_eq!(
            (manual.reason.as_str(), manual.at, manual.task),
            ("seen copying", 300, None)
        );
        assert!(workers.readmit(cheat).await.unwrap());

        // Off the allowlist: its sessions end, its record stays.
        db.add_session("honest-session", honest, 10_000)
            .await
            .unwrap();
        assert!(workers.remove(honest).await.unwrap());
        assert!(!workers.remove(honest).await.unwrap());
        assert_eq!(db.session("honest-session", 0).await.unwrap(), None);
        let removed = workers.get(honest).await.unwrap().unwrap();
        assert!(!removed.allowed && !removed.trusted);
        assert_eq!(removed.agreed, 1);
        assert!(sign_in(Admission::Closed, honest, Some(&removed)).is_err());
        assert_eq!(workers.list().await.unwrap().len(), 2);
    }

    /// Two workers that voted the same wrong value are recorded as a pair once (a second
    /// tally of the task, or a later task, keeps the first record); a pair that voted with the
    /// consensus, or two losers with different values, is not recorded.
    #[tokio::test]
    async fn tally_records_colluding_pairs_once() {
        use crate::workers::{colluding_pairs, Outcome};
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("c.db").display());
        let db = Db::open(&url).await.unwrap();
        let w = |b: u8| Address::repeat_byte(b);
        let (good, bad, other) = (
            B256::repeat_byte(1),
            B256::repeat_byte(2),
            B256::repeat_byte(3),
        );
        let second = B256::repeat_byte(0x72);
        let mut deal = sample_deal();
        deal.trust = 3;
        db.insert_deal(
            &deal,
            &[(TASK, 0), (second, 1)],
            PoolTaskState::Active,
            2,
            1_000,
        )
        .await
        .unwrap();
        // 1 and 2 agree with the consensus, 4 and 3 on the same wrong value, 5 alone.
        let hashes = [
            (w(1), good),
            (w(4), bad),
            (w(2), good),
            (w(3), bad),
            (w(5), other),
        ];
        let pairs = colluding_pairs(&hashes, good);
        assert_eq!(pairs, vec![(w(3), w(4))]);
        let votes: Vec<(Address, Outcome)> = hashes
            .iter()
            .map(|(a, h)| {
                (
                    *a,
                    Outcome {
                        agreed: *h == good,
                        exclude: None,
                    },
                )
            })
            .collect();
        db.tally(TASK, &votes, &pairs, 300).await.unwrap();
        // Counted once per task: the same tally again records nothing new.
        db.tally(TASK, &votes, &[(w(1), w(2))], 301).await.unwrap();
        let all: Vec<Address> = (1..=5).map(w).collect();
        assert_eq!(db.colluders_among(&all).await.unwrap(), vec![(w(3), w(4))]);
        // Caught again on a later task (given in the other order): still one row, the first.
        db.tally(second, &votes, &[(w(4), w(3))], 400)
            .await
            .unwrap();
        let rows: Vec<(String, String, String, i64)> =
            sqlx::query_as("SELECT a, b, task, at FROM colluders")
                .fetch_all(&db.pool)
                .await
                .unwrap();
        assert_eq!(rows.len(), 1, "{rows:?}");
        assert_eq!(
            (rows[0].2.as_str(), rows[0].3),
            (TASK.to_string().as_str(), 300)
        );
        // Only pairs with both workers among those asked about.
        assert!(db.colluders_among(&[w(3), w(1)]).await.unwrap().is_empty());
        assert!(db.colluders_among(&[w(4)]).await.unwrap().is_empty());
        assert_eq!(db.colluders().await.unwrap(), vec![(w(3), w(4))]);
        // What `poco scheduler workers list` shows: each side of the pair names the other.
        let workers = crate::workers::Workers::open(&url).await.unwrap();
        let colluded = workers.colluded_with().await.unwrap();
        assert_eq!(colluded.get(&w(3)), Some(&vec![w(4)]));
        assert_eq!(colluded.get(&w(4)), Some(&vec![w(3)]));
        assert_eq!(colluded.get(&w(1)), None);
        assert_eq!(
            db.colluders_among(&[w(4), w(9), w(3)]).await.unwrap(),
            vec![(w(3), w(4))]
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
