//! `kizuna-blobs`: where the bytes of kept files live (DICOM objects, as received).
//!
//! Owns the one interface to object storage, [`Blobs`], over the `object_store` crate: a local
//! directory by default (each file written whole, then it and its directory fsynced, so an
//! acknowledged file survives a crash), or an S3-compatible bucket for a national hub
//! (`s3://bucket`, configured from the usual `AWS_*` environment variables). Keys are chosen
//! by the caller; files are written once and read back whole.
//!
//! Must never: interpret what it keeps, log keys' or files' contents (keys may name studies),
//! or download anything but the files it was asked for.

use bytes::Bytes;
use object_store::path::Path as Key;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use std::sync::Arc;

/// Why object storage failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The location given could not be used (what was wrong, and how to fix it).
    #[error("{0}")]
    Config(String),
    /// No file under that key.
    #[error("no file is kept under that key")]
    NotFound,
    /// The storage failed (its own words, which name no content).
    #[error("object storage failed: {0}")]
    Storage(String),
}

impl From<object_store::Error> for Error {
    fn from(e: object_store::Error) -> Error {
        match e {
            object_store::Error::NotFound { .. } => Error::NotFound,
            e => Error::Storage(e.to_string()),
        }
    }
}

/// Object storage: a local directory or an S3-compatible bucket. Cloning shares it.
#[derive(Clone)]
pub struct Blobs {
    store: Arc<dyn ObjectStore>,
    /// What it is, for people (a directory's path, or `s3://bucket`).
    describe: String,
}

impl std::fmt::Debug for Blobs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Blobs").field("at", &self.describe).finish()
    }
}

impl Blobs {
    /// Files in the directory `dir` (made if missing), fsynced on write.
    pub fn local(dir: &std::path::Path) -> Result<Blobs, Error> {
        std::fs::create_dir_all(dir).map_err(|e| {
            Error::Config(format!(
                "the image directory {} cannot be made ({e}); give a writable directory",
                dir.display()
            ))
        })?;
        let store = object_store::local::LocalFileSystem::new_with_prefix(dir)
            .map_err(|e| {
                Error::Config(format!(
                    "the image directory {} cannot be used: {e}",
                    dir.display()
                ))
            })?
            .with_fsync(true);
        Ok(Blobs {
            store: Arc::new(store),
            describe: dir.display().to_string(),
        })
    }

    /// `s3://bucket[/prefix]` (an S3-compatible bucket; endpoint, region and keys from
    /// `AWS_ENDPOINT`, `AWS_REGION`, `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`; an `http://`
    /// endpoint is allowed for a server on the same machine or network), or a directory path.
    pub fn open(location: &str) -> Result<Blobs, Error> {
        if !location.starts_with("s3://") {
            return Blobs::local(std::path::Path::new(location));
        }
        let url = url::Url::parse(location).map_err(|e| {
            Error::Config(format!(
                "'{location}' is not an s3://bucket URL ({e}); write it as s3://bucket"
            ))
        })?;
        let Some(bucket) = url.host_str().filter(|b| !b.is_empty()) else {
            return Err(Error::Config(format!(
                "'{location}' names no bucket; write it as s3://bucket"
            )));
        };
        let mut builder = object_store::aws::AmazonS3Builder::from_env().with_bucket_name(bucket);
        if std::env::var("AWS_ENDPOINT")
            .or_else(|_| std::env::var("AWS_ENDPOINT_URL"))
            .is_ok_and(|e| e.starts_with("http://"))
        {
            builder = builder.with_allow_http(true);
        }
        let store = builder.build().map_err(|e| {
            Error::Config(format!(
                "the bucket '{bucket}' cannot be used: {e}; set AWS_ENDPOINT, AWS_REGION, AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"
            ))
        })?;
        let prefix = url.path().trim_matches('/').to_string();
        let store: Arc<dyn ObjectStore> = if prefix.is_empty() {
            Arc::new(store)
        } else {
            Arc::new(object_store::prefix::PrefixStore::new(store, prefix))
        };
        Ok(Blobs {
            store,
            describe: format!("s3://{bucket}"),
        })
    }

    /// What it is, for people and logs (a directory, or `s3://bucket`).
    pub fn describe(&self) -> &str {
        &self.describe
    }

    /// Keeps `bytes` under `key`, durably once this returns (the same bytes again are a no-op
    /// in effect: keys name their content).
    pub async fn put(&self, key: &str, bytes: Bytes) -> Result<(), Error> {
        self.store
            .put(&Key::from(key), PutPayload::from_bytes(bytes))
            .await?;
        Ok(())
    }

    /// The bytes kept under `key`.
    pub async fn get(&self, key: &str) -> Result<Bytes, Error> {
        Ok(self.store.get(&Key::from(key)).await?.bytes().await?)
    }

    /// Removes what is kept under `key` (nothing there is not an error).
    pub async fn delete(&self, key: &str) -> Result<(), Error> {
        match self.store.delete(&Key::from(key)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_directory_keeps_what_it_is_given() {
        let dir = std::env::temp_dir().join(format!("kizuna-blobs-{}", std::process::id()));
        let blobs = Blobs::local(&dir).unwrap();
        blobs
            .put("ab/cdef.dcm", Bytes::from_static(b"DICM"))
            .await
            .unwrap();
        assert_eq!(&blobs.get("ab/cdef.dcm").await.unwrap()[..], b"DICM");
        assert!(dir.join("ab/cdef.dcm").is_file());
        assert!(matches!(blobs.get("nothing").await, Err(Error::NotFound)));
        blobs.delete("ab/cdef.dcm").await.unwrap();
        blobs.delete("ab/cdef.dcm").await.unwrap();
        assert!(matches!(
            blobs.get("ab/cdef.dcm").await,
            Err(Error::NotFound)
        ));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn bad_locations_say_how_to_fix_them() {
        let e = Blobs::open("s3://").unwrap_err().to_string();
        assert!(e.contains("s3://bucket"), "{e}");
    }
}
