//! The secrets database (SQLite or PostgreSQL through sqlx's `Any` driver): one row per secret,
//! its value sealed by the [`Vault`] (hex text, so both databases store it alike), and the
//! challenges already used. A check row sealed at creation tells at start whether the key file
//! is the one the database was written with.
//!
//! Each TEE task also has one enclave challenge: a secp256k1 key made once per task
//! ([`Store::enclave_challenge`]), its private key sealed by the vault like a secret.
//!
//! Secrets are kept by kind and identity so that a route releasing a task's secrets to an
//! attested enclave can read them by [`SecretId`] ([`Store::value`]); no HTTP route returns a
//! value today.

use alloy_primitives::{Address, B256};
use sqlx::{AnyPool, Row};
use zeroize::Zeroizing;

use crate::{vault::Vault, Error};

/// What a secret belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SecretKind {
    /// A dataset's encryption key (iExec's "web3 secret"), set by the dataset's owner.
    Dataset,
    /// An app developer's secret, set by the app's owner.
    App,
    /// A named secret of an address (iExec's "web2 secret": requester secrets, the result
    /// encryption key, storage tokens), set by that address.
    Named,
}

impl SecretKind {
    fn tag(self) -> &'static str {
        match self {
            Self::Dataset => "dataset",
            Self::App => "app",
            Self::Named => "named",
        }
    }
}

/// The identity of one secret.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SecretId {
    /// Its kind.
    pub kind: SecretKind,
    /// The dataset, the app, or the owner of a named secret.
    pub address: Address,
    /// The name of a named secret; `""` for datasets, `"1"` for apps (the SDK's index).
    pub name: String,
}

impl SecretId {
    /// A dataset's key.
    pub fn dataset(dataset: Address) -> Self {
        Self {
            kind: SecretKind::Dataset,
            address: dataset,
            name: String::new(),
        }
    }

    /// An app's developer secret.
    pub fn app(app: Address) -> Self {
        Self {
            kind: SecretKind::App,
            address: app,
            name: "1".into(),
        }
    }

    /// The secret `name` of `owner`.
    pub fn named(owner: Address, name: &str) -> Self {
        Self {
            kind: SecretKind::Named,
            address: owner,
            name: name.into(),
        }
    }

    /// The associated data its sealed value is bound to.
    fn identity(&self) -> String {
        format!("{}|{:#x}|{}", self.kind.tag(), self.address, self.name)
    }
}

/// What a write did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Written {
    /// The secret was stored.
    Done,
    /// A secret with this identity exists already (a create) or does not exist (an update).
    Conflict,
    /// The authorization's challenge was used before and the request would change the value:
    /// a replay of an older request (which would put back an older value).
    Replay,
}

/// The value of the key check row.
const CHECK_VALUE: &[u8] = b"poco-sms key check";
/// The identity of the key check row.
const CHECK_IDENTITY: &str = "check";

const SCHEMA: [&str; 4] = [
    "CREATE TABLE IF NOT EXISTS sms_meta (name TEXT PRIMARY KEY, value TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS secrets (kind TEXT NOT NULL, address TEXT NOT NULL, \
     name TEXT NOT NULL, sealed TEXT NOT NULL, PRIMARY KEY (kind, address, name))",
    "CREATE TABLE IF NOT EXISTS used_challenges (challenge TEXT PRIMARY KEY)",
    "CREATE TABLE IF NOT EXISTS tee_challenges (taskid TEXT PRIMARY KEY, address TEXT NOT NULL, \
     sealed TEXT NOT NULL)",
];

/// The secrets database and the vault that seals its values.
#[derive(Debug)]
pub struct Store {
    pool: AnyPool,
    vault: Vault,
    url: String,
}

impl Store {
    /// Opens (and creates) the database at `url` and checks that `vault` is the key it was
    /// written with: [`Error::WrongKey`] otherwise.
    pub async fn open(url: &str, vault: Vault) -> Result<Self, Error> {
        let pool = poco_service::db::open(url, &poco_service::db::DbOptions::default())
            .await
            .map_err(|e| Error::Database(e.to_string()))?;
        for statement in SCHEMA {
            sqlx::query(statement).execute(&pool).await.map_err(db)?;
        }
        let store = Self {
            pool,
            vault,
            url: url.to_owned(),
        };
        match store.meta("key_check").await? {
            Some(check) => {
                let sealed = hex::decode(&check)
                    .map_err(|_| Error::Database(format!("the key check of {url} is not hex")))?;
                let opened = store.vault.open(CHECK_IDENTITY, &sealed)?;
                if opened.as_slice() != CHECK_VALUE {
                    return Err(Error::WrongKey {
                        path: store.vault.path().to_path_buf(),
                    });
                }
            }
            None => {
                let sealed = hex::encode(store.vault.seal(CHECK_IDENTITY, CHECK_VALUE));
                sqlx::query("INSERT INTO sms_meta (name, value) VALUES ($1, $2)")
                    .bind("key_check")
                    .bind(sealed)
                    .execute(&store.pool)
                    .await
                    .map_err(db)?;
            }
        }
        Ok(store)
    }

    /// The database URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// A metadata value.
    pub async fn meta(&self, name: &str) -> Result<Option<String>, Error> {
        let row = sqlx::query("SELECT value FROM sms_meta WHERE name = $1")
            .bind(name)
            .fetch_optional(&self.pool)
            .await
            .map_err(db)?;
        row.map(|r| r.try_get::<String, _>(0).map_err(db))
            .transpose()
    }

    /// Sets a metadata value.
    pub async fn set_meta(&self, name: &str, value: &str) -> Result<(), Error> {
        sqlx::query(
            "INSERT INTO sms_meta (name, value) VALUES ($1, $2) \
             ON CONFLICT (name) DO UPDATE SET value = excluded.value",
        )
        .bind(name)
        .bind(value)
        .execute(&self.pool)
        .await
        .map_err(db)?;
        Ok(())
    }

    /// Whether the secret `id` exists.
    pub async fn exists(&self, id: &SecretId) -> Result<bool, Error> {
        Ok(self.sealed(id).await?.is_some())
    }

    /// The value of the secret `id`, for the service's own use (a release to an attested
    /// enclave); never sent over the API as it is.
    pub async fn value(&self, id: &SecretId) -> Result<Option<Zeroizing<Vec<u8>>>, Error> {
        let Some(sealed) = self.sealed(id).await? else {
            return Ok(None);
        };
        let sealed = hex::decode(sealed)
            .map_err(|_| Error::Database(format!("the sealed value of {} is not hex", id.name)))?;
        self.vault.open(&id.identity(), &sealed).map(Some)
    }

    async fn sealed(&self, id: &SecretId) -> Result<Option<String>, Error> {
        let row = sqlx::query(
            "SELECT sealed FROM secrets WHERE kind = $1 AND address = $2 AND name = $3",
        )
        .bind(id.kind.tag())
        .bind(format!("{:#x}", id.address))
        .bind(&id.name)
        .fetch_optional(&self.pool)
        .await
        .map_err(db)?;
        row.map(|r| r.try_get::<String, _>(0).map_err(db))
            .transpose()
    }

    /// Stores `value` as the secret `id` authorized by `challenge`: creates it when `update` is
    /// false (and refuses an existing one), replaces it when `update` is true (and refuses a
    /// missing one). A challenge already used is refused unless the secret holds this value
    /// already (then nothing changes), so an older request cannot be replayed to put back an
    /// older value. The challenge binds only owner, name and value (the SDK's format has no
    /// nonce), so a value replaced once cannot be set again by the same owner either.
    pub async fn write(
        &self,
        id: &SecretId,
        value: &[u8],
        challenge: &B256,
        update: bool,
    ) -> Result<Written, Error> {
        let sealed = hex::encode(self.vault.seal(&id.identity(), value));
        let mut tx = self.pool.begin().await.map_err(db)?;
        let used = sqlx::query(
            "INSERT INTO used_challenges (challenge) VALUES ($1) ON CONFLICT (challenge) DO NOTHING",
        )
        .bind(format!("{challenge:#x}"))
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        if used.rows_affected() == 0 {
            drop(tx);
            // The same request again is harmless when it changes nothing (the SDK's
            // `--force-update` with the same value); otherwise it would put back an older value.
            return Ok(match self.value(id).await? {
                Some(current) if update && current.as_slice() == value => Written::Done,
                Some(_) if !update => Written::Conflict,
                _ => Written::Replay,
            });
        }
        let done = if update {
            sqlx::query(
                "UPDATE secrets SET sealed = $1 WHERE kind = $2 AND address = $3 AND name = $4",
            )
        } else {
            sqlx::query(
                "INSERT INTO secrets (sealed, kind, address, name) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (kind, address, name) DO NOTHING",
            )
        }
        .bind(sealed)
        .bind(id.kind.tag())
        .bind(format!("{:#x}", id.address))
        .bind(&id.name)
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        if done.rows_affected() == 0 {
            // the challenge stays unused: the same request may be sent again once it can apply
            return Ok(Written::Conflict);
        }
        tx.commit().await.map_err(db)?;
        Ok(Written::Done)
    }

    /// The address of task `taskid`'s enclave challenge, made (a fresh secp256k1 key, sealed by
    /// the vault) on the first call; every later or concurrent call answers the same address
    /// (insert if absent, then read).
    pub async fn enclave_challenge(&self, taskid: &B256) -> Result<Address, Error> {
        let key = alloy_signer_local::PrivateKeySigner::random();
        let address = key.address();
        let secret = Zeroizing::new(key.to_bytes().0);
        let sealed = hex::encode(
            self.vault
                .seal(&challenge_identity(taskid, &address), &*secret),
        );
        sqlx::query(
            "INSERT INTO tee_challenges (taskid, address, sealed) VALUES ($1, $2, $3) \
             ON CONFLICT (taskid) DO NOTHING",
        )
        .bind(format!("{taskid:#x}"))
        .bind(format!("{address:#x}"))
        .bind(sealed)
        .execute(&self.pool)
        .await
        .map_err(db)?;
        match self.challenge_row(taskid).await? {
            Some((address, _)) => Ok(address),
            None => Err(Error::Database(format!(
                "the enclave challenge of task {taskid} was stored but cannot be read back"
            ))),
        }
    }

    /// Task `taskid`'s enclave challenge: its address and its 32-byte private key, `None` when
    /// none was made.
    pub async fn enclave_challenge_key(
        &self,
        taskid: &B256,
    ) -> Result<Option<(Address, Zeroizing<Vec<u8>>)>, Error> {
        let Some((address, sealed)) = self.challenge_row(taskid).await? else {
            return Ok(None);
        };
        let sealed = hex::decode(sealed).map_err(|_| {
            Error::Database(format!(
                "the sealed challenge key of task {taskid} is not hex"
            ))
        })?;
        let key = self
            .vault
            .open(&challenge_identity(taskid, &address), &sealed)?;
        Ok(Some((address, key)))
    }

    async fn challenge_row(&self, taskid: &B256) -> Result<Option<(Address, String)>, Error> {
        let row = sqlx::query("SELECT address, sealed FROM tee_challenges WHERE taskid = $1")
            .bind(format!("{taskid:#x}"))
            .fetch_optional(&self.pool)
            .await
            .map_err(db)?;
        let Some(row) = row else { return Ok(None) };
        let address: String = row.try_get(0).map_err(db)?;
        let address = address.parse().map_err(|_| {
            Error::Database(format!(
                "the enclave challenge address of task {taskid} is not an address"
            ))
        })?;
        Ok(Some((address, row.try_get(1).map_err(db)?)))
    }

    /// The sealed value of `id` as stored (tests: it is not the value).
    #[doc(hidden)]
    pub async fn raw(&self, id: &SecretId) -> Result<Option<String>, Error> {
        self.sealed(id).await
    }
}

/// The associated data of a task's sealed challenge key: the task and the key's address, so a
/// sealed key copied onto another row does not open.
fn challenge_identity(taskid: &B256, address: &Address) -> String {
    format!("tee-challenge|{taskid:#x}|{address:#x}")
}

fn db(e: sqlx::Error) -> Error {
    Error::Database(e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn store(dir: &std::path::Path, key: &str) -> Result<Store, Error> {
        let url = format!("sqlite://{}?mode=rwc", dir.join("sms.db").display());
        Store::open(&url, Vault::open_or_create(&dir.join(key))?).await
    }

    #[tokio::test]
    async fn values_are_sealed_and_the_key_is_checked() {
        let dir = tempfile::tempdir().unwrap();
        let s = store(dir.path(), "sms.key").await.unwrap();
        let id = SecretId::named(Address::repeat_byte(1), "token");
        let value = b"a very secret token value";
        let w = s.write(&id, value, &B256::repeat_byte(1), false).await;
        assert_eq!(w.unwrap(), Written::Done);
        let raw = s.raw(&id).await.unwrap().unwrap();
        assert!(
            !raw.contains(&hex::encode(value)),
            "the stored text is not the value"
        );
        assert!(!raw.as_bytes().windows(value.len()).any(|w| w == value));
        assert_eq!(s.value(&id).await.unwrap().unwrap().as_slice(), value);
        drop(s);

        // the same database under another key file is refused, naming the file and the fix
        let err = store(dir.path(), "other.key").await.unwrap_err();
        assert!(matches!(err, Error::WrongKey { .. }), "{err}");
        let text = err.to_string();
        assert!(
            text.contains("other.key") && text.contains("key file"),
            "{text}"
        );
        // and the right one opens it again
        let s = store(dir.path(), "sms.key").await.unwrap();
        assert_eq!(s.value(&id).await.unwrap().unwrap().as_slice(), value);
    }

    #[tokio::test]
    async fn create_update_and_replay() {
        let dir = tempfile::tempdir().unwrap();
        let s = store(dir.path(), "sms.key").await.unwrap();
        let id = SecretId::dataset(Address::repeat_byte(2));
        let (c1, c2, c3) = (
            B256::repeat_byte(1),
            B256::repeat_byte(2),
            B256::repeat_byte(3),
        );
        assert!(!s.exists(&id).await.unwrap());
        assert_eq!(
            s.write(&id, b"k1", &c1, true).await.unwrap(),
            Written::Conflict
        );
        assert_eq!(
            s.write(&id, b"k1", &c1, false).await.unwrap(),
            Written::Done
        );
        assert!(s.exists(&id).await.unwrap());
        assert_eq!(
            s.write(&id, b"k2", &c2, false).await.unwrap(),
            Written::Conflict
        );
        assert_eq!(s.write(&id, b"k3", &c3, true).await.unwrap(), Written::Done);
        // the first request sent again (an observed signature) does not put k1 back
        assert_eq!(
            s.write(&id, b"k1", &c1, true).await.unwrap(),
            Written::Replay
        );
        assert_eq!(s.value(&id).await.unwrap().unwrap().as_slice(), b"k3");
        // another kind with the same address is another secret
        assert!(!s
            .exists(&SecretId::app(Address::repeat_byte(2)))
            .await
            .unwrap());
    }

    #[tokio::test]
    async fn one_enclave_challenge_per_task_its_key_sealed() {
        let dir = tempfile::tempdir().unwrap();
        challenges_once(store(dir.path(), "sms.key").await.unwrap()).await;
    }

    /// The same on PostgreSQL: a fresh database on the server at `POCO_TEST_POSTGRES_URL`
    /// (skipped without it, except in CI).
    #[tokio::test]
    async fn one_enclave_challenge_per_task_on_postgresql() {
        use sqlx::Connection;
        let Ok(server) = std::env::var("POCO_TEST_POSTGRES_URL") else {
            assert!(
                std::env::var_os("CI").is_none(),
                "CI must provide PostgreSQL in POCO_TEST_POSTGRES_URL"
            );
            return;
        };
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let name = format!("poco_sms_{}_{nanos}", std::process::id());
        let mut admin = sqlx::PgConnection::connect(&server).await.unwrap();
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut admin)
            .await
            .unwrap();
        let (base, _) = server.rsplit_once('/').expect("a database in the URL");
        let dir = tempfile::tempdir().unwrap();
        let vault = Vault::open_or_create(&dir.path().join("sms.key")).unwrap();
        let s = Store::open(&format!("{base}/{name}"), vault).await.unwrap();
        challenges_once(s).await;
        sqlx::query(&format!("DROP DATABASE {name} WITH (FORCE)"))
            .execute(&mut admin)
            .await
            .unwrap();
    }

    async fn challenges_once(s: Store) {
        let s = std::sync::Arc::new(s);
        let task = B256::repeat_byte(9);
        assert!(s.enclave_challenge_key(&task).await.unwrap().is_none());
        let calls = (0..8).map(|_| {
            let s = s.clone();
            tokio::spawn(async move { s.enclave_challenge(&task).await.unwrap() })
        });
        let mut addresses = Vec::new();
        for call in calls {
            addresses.push(call.await.unwrap());
        }
        assert!(
            addresses.iter().all(|a| *a == addresses[0]),
            "{addresses:?}"
        );
        let (address, key) = s.enclave_challenge_key(&task).await.unwrap().unwrap();
        assert_eq!(address, addresses[0]);
        let signer = alloy_signer_local::PrivateKeySigner::from_slice(&key).unwrap();
        assert_eq!(signer.address(), address, "the key is the challenge's");
        // another task has another challenge
        let other = s.enclave_challenge(&B256::repeat_byte(8)).await.unwrap();
        assert_ne!(other, address);
        // the key is not stored in clear
        let sql = "SELECT sealed FROM tee_challenges";
        let rows = sqlx::query(sql).fetch_all(&s.pool).await.unwrap();
        for row in rows {
            let sealed: String = row.try_get(0).unwrap();
            assert!(!sealed.contains(&hex::encode(&*key)));
        }
    }
}
