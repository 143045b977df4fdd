//! The scheduler's state: deals, tasks, replicates, workers, sessions and the chain cursor, in
//! SQLite (a file by default) or PostgreSQL, through sqlx's `Any` driver. Every statement uses
//! `$n` placeholders, which both accept.

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

/// The database.
#[derive(Clone, Debug)]
pub(crate) struct Db {
    pool: AnyPool,
}

/// A deal as the scheduler keeps it.
#[derive(Clone, Debug)]
pub(crate) struct DealRow {
    pub(crate) dealid: String,
    pub(crate) fast: bool,
    pub(crate) app: String,
    pub(crate) dataset: String,
    pub(crate) params: String,
    pub(crate) trust: i64,
    pub(crate) bot_first: i64,
    pub(crate) bot_size: i64,
    pub(crate) start_time: i64,
    pub(crate) timeref: i64,
    pub(crate) callback: String,
    /// The ABI-encoded fast deal (hex), empty for classic deals.
    pub(crate) fast_deal: String,
    /// The requester (may read the results and logs).
    pub(crate) requester: String,
    /// The beneficiary (may read the results and logs).
    pub(crate) beneficiary: String,
}

/// A task as the scheduler keeps it.
#[derive(Clone, Debug)]
pub(crate) struct TaskRow {
    pub(crate) taskid: String,
    pub(crate) dealid: String,
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
    pub(crate) taskid: String,
    pub(crate) worker: String,
    pub(crate) state: ReplicateState,
    pub(crate) result_digest: Option<String>,
    pub(crate) location: Option<String>,
    pub(crate) callback_data: Option<String>,
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

/// A text column read as one of the lifecycle enums; an unknown value is an error naming the
/// column (the database was written by another program or a newer version).
fn parsed<T>(row: &sqlx::any::AnyRow, column: &str) -> Result<T>
where
    T: std::str::FromStr<Err = poco_types::UnknownName>,
{
    let text: String = row.try_get(column)?;
    text.parse().map_err(|e| {
        Error::Database(format!(
            "column {column} holds {e}; the database was written by another version of the \
             scheduler: run the version that wrote it or start from an empty database"
        ))
    })
}

/// An optional text column read as one of the lifecycle enums (see [`parsed`]).
fn parsed_opt<T>(row: &sqlx::any::AnyRow, column: &str) -> Result<Option<T>>
where
    T: std::str::FromStr<Err = poco_types::UnknownName>,
{
    match row.try_get::<Option<String>, _>(column)? {
        None => Ok(None),
        Some(_) => parsed(row, column).map(Some),
    }
}

fn task(row: &sqlx::any::AnyRow) -> Result<TaskRow> {
    Ok(TaskRow {
        taskid: row.try_get("taskid")?,
        dealid: row.try_get("dealid")?,
        idx: row.try_get("idx")?,
        status: parsed(row, "status")?,
        replicas_needed: row.try_get("replicas_needed")?,
        deadline: row.try_get("deadline")?,
        failure: row.try_get("failure")?,
        results: row.try_get("results")?,
        failures: row.try_get("failures")?,
    })
}

fn replicate(row: &sqlx::any::AnyRow) -> Result<ReplicateRow> {
    Ok(ReplicateRow {
        taskid: row.try_get("taskid")?,
        worker: row.try_get("worker")?,
        state: parsed(row, "state")?,
        result_digest: row.try_get("result_digest")?,
        location: row.try_get("location")?,
        callback_data: row.try_get("callback_data")?,
        error: row.try_get("error")?,
        app_fault: row.try_get::<i64, _>("app_fault")? != 0,
        reveal_attempts: row.try_get("reveal_attempts")?,
        rejected: row.try_get("rejected")?,
        fault: parsed_opt(row, "fault")?,
        logs: row.try_get("logs")?,
    })
}

impl Db {
    /// Opens (creating it if needed) the database at `url`: `sqlite://path?mode=rwc`,
    /// `sqlite::memory:` or `postgres://...`.
    pub(crate) async fn open(url: &str) -> Result<Self> {
        let pool = poco_service::db::open(url, &poco_service::db::DbOptions::default())
            .await
            .map_err(|e| Error::Database(e.to_string()))?;
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
        tasks: &[(String, i64)],
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
        .bind(&deal.dealid)
        .bind(i64::from(deal.fast))
        .bind(&deal.app)
        .bind(&deal.dataset)
        .bind(&deal.params)
        .bind(deal.trust)
        .bind(deal.bot_first)
        .bind(deal.bot_size)
        .bind(deal.start_time)
        .bind(deal.timeref)
        .bind(&deal.callback)
        .bind(&deal.fast_deal)
        .bind(seq)
        .bind(&deal.requester)
        .bind(&deal.beneficiary)
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
                .bind(taskid)
                .bind(&deal.dealid)
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
    pub(crate) async fn deal(&self, dealid: &str) -> Result<Option<DealRow>> {
        let row = sqlx::query("SELECT * FROM deals WHERE dealid = $1")
            .bind(dealid)
            .fetch_optional(&self.pool)
            .await?;
        row.map(|r| -> Result<DealRow> {
            Ok(DealRow {
                dealid: r.try_get("dealid")?,
                fast: r.try_get::<i64, _>("fast")? != 0,
                app: r.try_get("app")?,
                dataset: r.try_get("dataset")?,
                params: r.try_get("params")?,
                trust: r.try_get("trust")?,
                bot_first: r.try_get("bot_first")?,
                bot_size: r.try_get("bot_size")?,
                start_time: r.try_get("start_time")?,
                timeref: r.try_get("timeref")?,
                callback: r.try_get("callback")?,
                fast_deal: r.try_get("fast_deal")?,
                requester: r.try_get("requester")?,
                beneficiary: r.try_get("beneficiary")?,
            })
        })
        .transpose()
    }

    /// A task.
    pub(crate) async fn task(&self, taskid: &str) -> Result<Option<TaskRow>> {
        let row = sqlx::query("SELECT * FROM tasks WHERE taskid = $1")
            .bind(taskid)
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

    /// Marks the active tasks whose deadline passed as expired; returns how many.
    pub(crate) async fn expire_tasks(&self, now: i64) -> Result<u64> {
        Ok(sqlx::query(
            "UPDATE tasks SET status = 'EXPIRED', failure = 'the contribution deadline passed'
             WHERE status = 'ACTIVE' AND deadline <= $1",
        )
        .bind(now)
        .execute(&self.pool)
        .await?
        .rows_affected())
    }

    /// Sets a task's status (and failure reason or result link when given).
    pub(crate) async fn set_task_status(
        &self,
        taskid: &str,
        status: PoolTaskState,
        failure: Option<&str>,
        results: Option<&str>,
    ) -> Result<()> {
        sqlx::query(
            "UPDATE tasks SET status = $2, failure = COALESCE($3, failure),
                results = COALESCE($4, results) WHERE taskid = $1",
        )
        .bind(taskid)
        .bind(status.as_str())
        .bind(failure)
        .bind(results)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Raises the replicas a task needs.
    pub(crate) async fn set_replicas_needed(&self, taskid: &str, replicas: i64) -> Result<()> {
        sqlx::query("UPDATE tasks SET replicas_needed = $2 WHERE taskid = $1")
            .bind(taskid)
            .bind(replicas)
            .execute(&self.pool)
            .await?;
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
        worker: &str,
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
        .bind(worker)
        .bind(now)
        .bind(unix)
        .bind(max_failures)
        .bind(live_since)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(task).transpose()
    }

    /// Counts one failed or lost attempt of a task and holds it back until `not_before`;
    /// returns the failures so far.
    pub(crate) async fn count_failure(&self, taskid: &str, not_before: i64) -> Result<i64> {
        sqlx::query("UPDATE tasks SET failures = failures + 1, not_before = $2 WHERE taskid = $1")
            .bind(taskid)
            .bind(not_before)
            .execute(&self.pool)
            .await?;
        Ok(sqlx::query("SELECT failures FROM tasks WHERE taskid = $1")
            .bind(taskid)
            .fetch_optional(&self.pool)
            .await?
            .map(|r| r.try_get("failures"))
            .transpose()?
            .unwrap_or(0))
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
    pub(crate) async fn assign(&self, taskid: &str, worker: &str, lease_until: i64) -> Result<()> {
        sqlx::query(
            "INSERT INTO replicates (taskid, worker, state, lease_until, app_fault)
             VALUES ($1, $2, 'assigned', $3, 0)
             ON CONFLICT (taskid, worker) DO UPDATE SET state = 'assigned',
                lease_until = excluded.lease_until, error = NULL, fault = NULL, logs = NULL",
        )
        .bind(taskid)
        .bind(worker)
        .bind(lease_until)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The replicates of a task.
    pub(crate) async fn replicates(&self, taskid: &str) -> Result<Vec<ReplicateRow>> {
        let rows =
            sqlx::query("SELECT * FROM replicates WHERE taskid = $1 ORDER BY reported_at, worker")
                .bind(taskid)
                .fetch_all(&self.pool)
                .await?;
        rows.iter().map(replicate).collect()
    }

    /// The replicates a worker holds that are not settled.
    pub(crate) async fn worker_replicates(&self, worker: &str) -> Result<Vec<ReplicateRow>> {
        let rows = sqlx::query(
            "SELECT * FROM replicates WHERE worker = $1 AND state = 'assigned' ORDER BY taskid",
        )
        .bind(worker)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(replicate).collect()
    }

    /// Records a worker's report on its replicate; false when it holds none for the task.
    pub(crate) async fn report(
        &self,
        taskid: &str,
        worker: &str,
        r: &ReplicateRow,
    ) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE replicates SET state = $3, result_digest = $4, location = $5,
                callback_data = $6, error = $7, app_fault = $8, reported_at = $9, fault = $10,
                logs = $11
             WHERE taskid = $1 AND worker = $2 AND state IN ('assigned', 'lost')",
        )
        .bind(taskid)
        .bind(worker)
        .bind(r.state.as_str())
        .bind(&r.result_digest)
        .bind(&r.location)
        .bind(&r.callback_data)
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
    pub(crate) async fn heartbeat(&self, worker: &str, now: i64, lease_until: i64) -> Result<()> {
        sqlx::query(
            "UPDATE replicates SET lease_until = $2 WHERE worker = $1 AND state = 'assigned'",
        )
        .bind(worker)
        .bind(lease_until)
        .execute(&self.pool)
        .await?;
        sqlx::query("UPDATE workers SET last_seen = $2 WHERE address = $1")
            .bind(worker)
            .bind(now)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Marks the replicates whose lease ended as lost; returns how many.
    pub(crate) async fn expire_leases(&self, now: i64) -> Result<u64> {
        // A lost replicate is a failed attempt of its task.
        sqlx::query(
            "UPDATE tasks SET failures = failures + 1 WHERE taskid IN (SELECT taskid
                FROM replicates WHERE state = 'assigned' AND lease_until < $1)",
        )
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(sqlx::query(
            "UPDATE replicates SET state = 'lost' WHERE state = 'assigned' AND lease_until < $1",
        )
        .bind(now)
        .execute(&self.pool)
        .await?
        .rows_affected())
    }

    /// Records a worker's registration.
    pub(crate) async fn register(
        &self,
        worker: &str,
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
        .bind(worker)
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
    pub(crate) async fn add_session(&self, token: &str, worker: &str, expires: i64) -> Result<()> {
        sqlx::query("INSERT INTO sessions (token, worker, expires) VALUES ($1, $2, $3)")
            .bind(token)
            .bind(worker)
            .bind(expires)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// The worker of a live session.
    pub(crate) async fn session(&self, token: &str, now: i64) -> Result<Option<String>> {
        let row = sqlx::query("SELECT worker FROM sessions WHERE token = $1 AND expires > $2")
            .bind(token)
            .bind(now)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(|r| r.try_get("worker")).transpose()?)
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
    pub(crate) async fn held_by(&self, worker: &str) -> Result<i64> {
        Ok(sqlx::query(
            "SELECT COUNT(*) AS n FROM replicates WHERE worker = $1 AND state = 'assigned'",
        )
        .bind(worker)
        .fetch_one(&self.pool)
        .await?
        .try_get("n")?)
    }

    /// The slots `worker` registered, if it registered.
    pub(crate) async fn slots(&self, worker: &str) -> Result<Option<i64>> {
        let row = sqlx::query("SELECT slots FROM workers WHERE address = $1")
            .bind(worker)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(|r| r.try_get("slots")).transpose()?)
    }

    /// Counts one revealAndFinalize call sent with a replicate's result.
    pub(crate) async fn count_reveal_attempt(&self, taskid: &str, worker: &str) -> Result<()> {
        sqlx::query(
            "UPDATE replicates SET reveal_attempts = reveal_attempts + 1
             WHERE taskid = $1 AND worker = $2",
        )
        .bind(taskid)
        .bind(worker)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Sets a replicate's result aside as a reveal candidate, with the reason.
    pub(crate) async fn reject_candidate(
        &self,
        taskid: &str,
        worker: &str,
        reason: &str,
    ) -> Result<()> {
        sqlx::query("UPDATE replicates SET rejected = $3 WHERE taskid = $1 AND worker = $2")
            .bind(taskid)
            .bind(worker)
            .bind(reason)
            .execute(&self.pool)
            .await?;
        Ok(())
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
    use super::{Db, DealRow};
    use poco_types::{Fault, PoolTaskState, ReplicateState};

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
            db.add_session(&format!("old{i}"), "0x01", 10)
                .await
                .unwrap();
        }
        db.add_session("live", "0x02", 1_000).await.unwrap();
        assert_eq!(db.purge_sessions(500).await.unwrap(), 100);
        assert_eq!(
            db.session("live", 500).await.unwrap().as_deref(),
            Some("0x02")
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
        let deal = DealRow {
            dealid: "0xd1".into(),
            fast: false,
            app: "0x01".into(),
            dataset: "0x00".into(),
            params: "{}".into(),
            trust: 1,
            bot_first: 0,
            bot_size: 1,
            start_time: 0,
            timeref: 10,
            callback: "0x00".into(),
            fast_deal: String::new(),
            requester: String::new(),
            beneficiary: String::new(),
        };
        let tasks = [("0xt1".to_string(), 0)];
        assert!(db
            .insert_deal(&deal, &tasks, PoolTaskState::Pending, 1, 100)
            .await
            .unwrap());
        let pending = db.tasks_in(&[PoolTaskState::Pending]).await.unwrap();
        assert_eq!(pending.len(), 1);
        assert_eq!(pending[0].status, PoolTaskState::Pending);
        for status in PoolTaskState::ALL {
            db.set_task_status("0xt1", *status, None, None)
                .await
                .unwrap();
            assert_eq!(db.task("0xt1").await.unwrap().unwrap().status, *status);
        }
        db.set_task_status("0xt1", PoolTaskState::Active, None, None)
            .await
            .unwrap();
        db.assign("0xt1", "0xw1", 1_000).await.unwrap();
        let mut row = db.replicates("0xt1").await.unwrap().remove(0);
        assert_eq!((row.state, row.fault), (ReplicateState::Assigned, None));
        row.state = ReplicateState::Failed;
        row.fault = Some(Fault::Deal);
        assert!(db.report("0xt1", "0xw1", &row).await.unwrap());
        let read = db.replicates("0xt1").await.unwrap().remove(0);
        assert_eq!(
            (read.state, read.fault),
            (ReplicateState::Failed, Some(Fault::Deal))
        );

        // Written by something else: refused with the column and the value.
        sqlx::query("UPDATE replicates SET fault = 'cosmic-ray'")
            .execute(&db.pool)
            .await
            .unwrap();
        let err = db.replicates("0xt1").await.unwrap_err().to_string();
        assert!(
            err.contains("column fault") && err.contains("cosmic-ray"),
            "{err}"
        );
        sqlx::query("UPDATE replicates SET fault = NULL, state = 'vanished'")
            .execute(&db.pool)
            .await
            .unwrap();
        let err = db.replicates("0xt1").await.unwrap_err().to_string();
        assert!(
            err.contains("column state") && err.contains("vanished"),
            "{err}"
        );
        sqlx::query("UPDATE tasks SET status = 'active'")
            .execute(&db.pool)
            .await
            .unwrap();
        let err = db.task("0xt1").await.unwrap_err().to_string();
        assert!(
            err.contains("column status") && err.contains("\"active\""),
            "{err}"
        );
    }
}
