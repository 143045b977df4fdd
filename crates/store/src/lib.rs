#![doc = include_str!("../README.md")]
#![warn(missing_docs)]

pub mod api;
mod client;
pub mod config;
mod error;
mod metrics;
mod server;
mod store;

pub use api::{
    upload_hash, ErrorBody, StoredObject, TaskObjects, UploadReceipt, AUTHORIZATION_HEADER,
    SIGNATURE_HEADER, STORAGE_KIND, WORKER_HEADER,
};
pub use client::{
    StoreClient, DEFAULT_CONNECT_TIMEOUT, DEFAULT_MAX_DOWNLOAD_BYTES, DEFAULT_REQUEST_TIMEOUT,
};
pub use config::{
    Backend, S3Config, StoreConfig, DEFAULT_MAX_OBJECTS_PER_TASK, DEFAULT_MAX_UPLOAD_BYTES,
    DEFAULT_PATH,
};
pub use error::{Error, Result};
pub use server::{router, serve, serve_with_shutdown, ReadGate, ReadRefusal, StoreState};
pub use store::{ObjectId, PutOutcome, ResultStore};
