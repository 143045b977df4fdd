//! Content-addressed archive storage over any [`ObjectStore`], without HTTP.

use crate::{
    api::{object_key, parse_object_name, task_prefix},
    Error, Result,
};
use alloy_primitives::B256;
use bytes::Bytes;
use futures::TryStreamExt;
use object_store::{path::Path, GetResult, ObjectMeta, ObjectStore, PutPayload};
use poco_types::sha256_digest;
use std::{collections::HashMap, sync::Arc};
use tokio::sync::Mutex;

/// Bytes read from a spooled upload and sent to the backend at a time.
const COPY_CHUNK: usize = 4 << 20;

/// Number of lock stripes serializing writes per task, so that concurrent uploads cannot both
/// pass the per-task cap.
const WRITE_STRIPES: usize = 64;

/// Whether [`ResultStore::put`] wrote the archive or found it already there.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PutOutcome {
    /// The archive was written.
    Created,
    /// The same bytes were already stored under that key: nothing was written.
    Existing,
}

/// An archive's key parts and size.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ObjectId {
    /// The task.
    pub task_id: B256,
    /// `sha256` of the archive.
    pub sha256: B256,
    /// Size in bytes.
    pub size: u64,
}

/// Task result archives stored under `results/{taskid}/{sha256}.zip`, at most
/// `max_objects_per_task` distinct ones per task.
///
/// Writes go through one `put` of the whole archive, which object_store makes atomic (a local
/// folder writes a temporary file and renames it; S3 objects appear whole). The cap is enforced
/// within this process: two store processes sharing one bucket could each add the last object.
pub struct ResultStore {
    objects: Arc<dyn ObjectStore>,
    max_objects_per_task: usize,
    max_objects_per_worker: usize,
    by_worker: std::sync::Mutex<HashMap<(B256, alloy_primitives::Address), usize>>,
    stripes: Vec<Mutex<()>>,
}

impl std::fmt::Debug for ResultStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResultStore")
            .field("objects", &self.objects.to_string())
            .field("max_objects_per_task", &self.max_objects_per_task)
            .finish()
    }
}

impl ResultStore {
    /// A store over `objects` holding at most `max_objects_per_task` archives per task.
    pub fn new(objects: Arc<dyn ObjectStore>, max_objects_per_task: usize) -> Self {
        Self {
            objects,
            max_objects_per_task,
            max_objects_per_worker: crate::config::DEFAULT_MAX_OBJECTS_PER_WORKER,
            by_worker: Default::default(),
            stripes: (0..WRITE_STRIPES).map(|_| Mutex::new(())).collect(),
        }
    }

    /// Sets how many distinct archives one worker may store for one task.
    pub fn with_max_objects_per_worker(mut self, limit: usize) -> Self {
        self.max_objects_per_worker = limit;
        self
    }

    /// Stores the archive spooled in the file `spool` (its digest `sha256` and size computed
    /// while it was written) for `task_id`, uploaded by `worker`: like [`Self::put`], the
    /// bytes streamed to the backend in chunks, and refused with
    /// [`Error::TooManyWorkerObjects`] when `worker` already stored its share of the task.
    pub async fn put_file(
        &self,
        task_id: B256,
        worker: alloy_primitives::Address,
        sha256: B256,
        size: u64,
        spool: &std::path::Path,
    ) -> Result<(ObjectId, PutOutcome)> {
        use object_store::WriteMultipart;
        use tokio::io::AsyncReadExt;
        let id = ObjectId {
            task_id,
            sha256,
            size,
        };
        let key = Path::from(object_key(task_id, sha256));
        let Some(_guard) = self.reserve(task_id, &key).await? else {
            return Ok((id, PutOutcome::Existing));
        };
        let mine = self
            .by_worker
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&(task_id, worker))
            .copied()
            .unwrap_or(0);
        if mine >= self.max_objects_per_worker {
            return Err(Error::TooManyWorkerObjects {
                task_id,
                worker,
                limit: self.max_objects_per_worker,
            });
        }
        let mut file = tokio::fs::File::open(spool).await.map_err(Error::Spool)?;
        let upload = self
            .objects
            .put_multipart(&key)
            .await
            .map_err(Error::Backend)?;
        let mut writer = WriteMultipart::new(upload);
        let mut buf = vec![0u8; COPY_CHUNK];
        loop {
            let n = match file.read(&mut buf).await {
                Ok(n) => n,
                Err(e) => {
                    let _ = writer.abort().await;
                    return Err(Error::Spool(e));
                }
            };
            if n == 0 {
                break;
            }
            writer.wait_for_capacity(4).await.map_err(Error::Backend)?;
            writer.write(&buf[..n]);
        }
        writer.finish().await.map_err(Error::Backend)?;
        *self
            .by_worker
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry((task_id, worker))
            .or_insert(0) += 1;
        Ok((id, PutOutcome::Created))
    }

    /// Takes the task's write stripe and checks that `key` is a new archive within the task's
    /// cap: `None` when it is already stored. Hold the guard until the write is done.
    async fn reserve(
        &self,
        task_id: B256,
        key: &Path,
    ) -> Result<Option<tokio::sync::MutexGuard<'_, ()>>> {
        let stripe = usize::from(task_id[31]) % self.stripes.len();
        let guard = self.stripes[stripe].lock().await;
        if self.head_path(key).await?.is_some() {
            return Ok(None);
        }
        let stored = self.list(task_id).await?.len();
        if stored >= self.max_objects_per_task {
            return Err(Error::TooManyObjects {
                task_id,
                limit: self.max_objects_per_task,
            });
        }
        Ok(Some(guard))
    }

    /// The backend.
    pub fn objects(&self) -> &Arc<dyn ObjectStore> {
        &self.objects
    }

    /// Stores `bytes` as an archive of `task_id`. Storing the same bytes again is a no-op that
    /// returns [`PutOutcome::Existing`]; a new archive beyond the cap is refused with
    /// [`Error::TooManyObjects`] and nothing is written.
    pub async fn put(&self, task_id: B256, bytes: Bytes) -> Result<(ObjectId, PutOutcome)> {
        let id = ObjectId {
            task_id,
            sha256: sha256_digest(&bytes),
            size: bytes.len() as u64,
        };
        let key = Path::from(object_key(task_id, id.sha256));
        let Some(_guard) = self.reserve(task_id, &key).await? else {
            return Ok((id, PutOutcome::Existing));
        };
        self.objects
            .put(&key, PutPayload::from_bytes(bytes))
            .await
            .map_err(Error::Backend)?;
        Ok((id, PutOutcome::Created))
    }

    /// The archive's metadata, `None` if it is not stored.
    pub async fn head(&self, task_id: B256, sha256: B256) -> Result<Option<ObjectMeta>> {
        self.head_path(&Path::from(object_key(task_id, sha256)))
            .await
    }

    /// Opens the archive for streaming, `None` if it is not stored.
    pub async fn get(&self, task_id: B256, sha256: B256) -> Result<Option<GetResult>> {
        match self
            .objects
            .get(&Path::from(object_key(task_id, sha256)))
            .await
        {
            Ok(found) => Ok(Some(found)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(err) => Err(Error::Backend(err)),
        }
    }

    /// The archives of `task_id` with their digests, sorted by digest. Other files under the
    /// task's prefix (such as a local backend's temporary files) are ignored.
    pub async fn list(&self, task_id: B256) -> Result<Vec<(B256, ObjectMeta)>> {
        let prefix = Path::from(task_prefix(task_id));
        let metas: Vec<ObjectMeta> = self
            .objects
            .list(Some(&prefix))
            .try_collect()
            .await
            .map_err(Error::Backend)?;
        let mut found: Vec<(B256, ObjectMeta)> = metas
            .into_iter()
            .filter(|meta| {
                meta.location
                    .prefix_match(&prefix)
                    .is_some_and(|mut rest| rest.next().is_some() && rest.next().is_none())
            })
            .filter_map(|meta| {
                let sha = parse_object_name(meta.location.filename()?)?;
                Some((sha, meta))
            })
            .collect();
        found.sort_by_key(|(sha, _)| *sha);
        Ok(found)
    }

    async fn head_path(&self, key: &Path) -> Result<Option<ObjectMeta>> {
        match self.objects.head(key).await {
            Ok(meta) => Ok(Some(meta)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(err) => Err(Error::Backend(err)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use object_store::memory::InMemory;

    #[tokio::test]
    async fn put_is_content_addressed_and_capped() {
        let memory = Arc::new(InMemory::new());
        let store = ResultStore::new(memory.clone(), 2);
        let task = B256::repeat_byte(9);
        let (a, outcome) = store.put(task, Bytes::from_static(b"a")).await.unwrap();
        assert_eq!(outcome, PutOutcome::Created);
        assert_eq!(a.sha256, sha256_digest(b"a"));
        assert_eq!(a.size, 1);
        let (again, outcome) = store.put(task, Bytes::from_static(b"a")).await.unwrap();
        assert_eq!((again, outcome), (a, PutOutcome::Existing));
        store.put(task, Bytes::from_static(b"b")).await.unwrap();
        let err = store.put(task, Bytes::from_static(b"c")).await.unwrap_err();
        assert!(
            matches!(err, Error::TooManyObjects { limit: 2, .. }),
            "{err}"
        );
        // Known bytes are still fine at the cap, and other tasks are not affected.
        store.put(task, Bytes::from_static(b"b")).await.unwrap();
        store
            .put(B256::repeat_byte(8), Bytes::from_static(b"c"))
            .await
            .unwrap();

        // A stray file under the prefix is not an archive.
        memory
            .put(
                &Path::from(format!("{}/notes.txt", task_prefix(task))),
                PutPayload::from_static(b"x"),
            )
            .await
            .unwrap();
        let listed = store.list(task).await.unwrap();
        let mut expected = vec![sha256_digest(b"a"), sha256_digest(b"b")];
        expected.sort();
        assert_eq!(
            listed.iter().map(|(sha, _)| *sha).collect::<Vec<_>>(),
            expected
        );
        assert!(store
            .head(task, sha256_digest(b"c"))
            .await
            .unwrap()
            .is_none());
        let got = store.get(task, a.sha256).await.unwrap().unwrap();
        assert_eq!(&got.bytes().await.unwrap()[..], b"a");
    }
}
