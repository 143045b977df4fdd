//! One way to open a service's database (an SQLite file or a PostgreSQL URL, through sqlx's
//! `Any` driver) and one chain-history check: a database remembers the chain it follows (chain
//! id, hub and genesis hash) and refuses another. The callers run their own schema.

use std::time::Duration;

use sqlx::{any::AnyPoolOptions, AnyPool};

/// Why a database cannot be opened or used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DbError {
    /// The database cannot be opened.
    #[error("cannot open {url}: {source}")]
    Open {
        /// The database URL.
        url: String,
        /// sqlx's error.
        #[source]
        source: sqlx::Error,
    },
    /// The database follows another chain than the service's.
    #[error(
        "the database {url} {role} {known} (chain id:hub:genesis), not {current}; the chain was \
         reset or is another one: give it its own database (--database) or remove this one"
    )]
    OtherChain {
        /// The database URL.
        url: String,
        /// What the database holds of its chain ("holds the book of", "follows").
        role: &'static str,
        /// The chain the database remembers.
        known: String,
        /// The chain the service runs on.
        current: String,
    },
}

/// How a database is opened.
#[derive(Clone, Debug)]
pub struct DbOptions {
    /// Connections in the pool for an SQLite file.
    pub sqlite_connections: u32,
    /// Connections in the pool for PostgreSQL.
    pub postgres_connections: u32,
    /// Statements run on every new SQLite connection, after WAL mode, `synchronous = NORMAL`
    /// and a 5 s busy timeout (for example `PRAGMA wal_autocheckpoint = 8192`).
    pub sqlite_pragmas: &'static [&'static str],
    /// How long to wait for a free connection.
    pub acquire_timeout: Duration,
}

impl Default for DbOptions {
    /// 4 SQLite connections, 8 PostgreSQL connections, no extra pragma, sqlx's 30 s wait.
    fn default() -> Self {
        Self {
            sqlite_connections: 4,
            postgres_connections: 8,
            sqlite_pragmas: &[],
            acquire_timeout: Duration::from_secs(30),
        }
    }
}

/// The pragmas of every SQLite connection. WAL: readers do not wait for the writer.
/// `synchronous = NORMAL`: no fsync per commit (a power cut may lose the last commits; the
/// chain is the source of truth and a restart reads it again from the service's cursor).
const SQLITE_PRAGMAS: [&str; 3] = [
    "PRAGMA journal_mode = WAL",
    "PRAGMA synchronous = NORMAL",
    "PRAGMA busy_timeout = 5000",
];

/// Opens `url`: `sqlite://PATH?mode=rwc`, `sqlite::memory:` (one connection: an in-memory
/// database exists once per connection) or `postgres://...`. The caller creates its schema.
pub async fn open(url: &str, options: &DbOptions) -> Result<AnyPool, DbError> {
    sqlx::any::install_default_drivers();
    let sqlite = url.starts_with("sqlite");
    let connections = if url.contains(":memory:") {
        1
    } else if sqlite {
        options.sqlite_connections
    } else {
        options.postgres_connections
    };
    let extra = options.sqlite_pragmas;
    AnyPoolOptions::new()
        .max_connections(connections.max(1))
        .acquire_timeout(options.acquire_timeout)
        .after_connect(move |conn, _| {
            Box::pin(async move {
                if sqlite {
                    for pragma in SQLITE_PRAGMAS.iter().chain(extra) {
                        sqlx::query(pragma).execute(&mut *conn).await?;
                    }
                }
                Ok(())
            })
        })
        .connect(url)
        .await
        .map_err(|source| DbError::Open {
            url: url.to_owned(),
            source,
        })
}

/// The chain-history check: `known` is the chain the database at `url` remembers (`None` on a
/// fresh database), `current` the one the service runs on (`PocoClient::history_key`:
/// chain id, hub and genesis hash, so that a chain restarted from scratch with the same id
/// and addresses is told apart). `Ok(true)` when the database is fresh and the caller must
/// remember `current`; `Ok(false)` when it already follows `current`.
pub fn check_chain(
    url: &str,
    role: &'static str,
    known: Option<&str>,
    current: &str,
) -> Result<bool, DbError> {
    match known {
        None => Ok(true),
        Some(known) if known == current => Ok(false),
        Some(known) => Err(DbError::OtherChain {
            url: url.to_owned(),
            role,
            known: known.to_owned(),
            current: current.to_owned(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_database_follows_one_chain() {
        assert!(check_chain("db", "follows", None, "1:0xa:0xg").unwrap());
        assert!(!check_chain("db", "follows", Some("1:0xa:0xg"), "1:0xa:0xg").unwrap());
        let err = check_chain("db", "follows", Some("1:0xa:0xg"), "1:0xa:0xh").unwrap_err();
        assert_eq!(
            err.to_string(),
            "the database db follows 1:0xa:0xg (chain id:hub:genesis), not 1:0xa:0xh; the chain \
             was reset or is another one: give it its own database (--database) or remove this \
             one"
        );
    }

    #[tokio::test]
    async fn opens_an_sqlite_file_in_wal_mode() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("t.db").display());
        let pool = open(&url, &DbOptions::default()).await.unwrap();
        let row: (String,) = sqlx::query_as("PRAGMA journal_mode")
            .fetch_one(&pool)
            .await
            .unwrap();
        assert_eq!(row.0.to_lowercase(), "wal");
        let err = open("sqlite:///nonexistent/dir/x.db", &DbOptions::default())
            .await
            .unwrap_err();
        assert!(err.to_string().starts_with("cannot open"), "{err}");
    }
}
