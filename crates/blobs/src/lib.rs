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
        Blobs::open_with(location, &[])
    }

    /// [`Blobs::open`], with S3 settings given here over the environment's (`aws_endpoint`,
    /// `aws_access_key_id`, `aws_secret_access_key`, `aws_region`, … as object_store names
    /// them).
    pub fn open_with(location: &str, settings: &[(String, String)]) -> Result<Blobs, Error> {
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
        let mut endpoint = std::env::var("AWS_ENDPOINT")
            .or_else(|_| std::env::var("AWS_ENDPOINT_URL"))
            .ok();
        for (key, value) in settings {
            let k: object_store::aws::AmazonS3ConfigKey = key
                .parse()
                .map_err(|e| Error::Config(format!("'{key}' is not an S3 setting: {e}")))?;
            if matches!(k, object_store::aws::AmazonS3ConfigKey::Endpoint) {
                endpoint = Some(value.clone());
            }
            builder = builder.with_config(k, value);
        }
        if endpoint.is_some_and(|e| e.starts_with("http://")) {
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

    #[tokio::test]
    async fn an_s3_bucket_keeps_what_it_is_given() {
        let Some(s3) = s3_test_server::S3Server::start("kizuna-images") else {
            return;
        };
        let blobs = Blobs::open_with("s3://kizuna-images/node-1", &s3.settings()).unwrap();
        assert_eq!(blobs.describe(), "s3://kizuna-images");
        let big = Bytes::from(vec![7u8; 6 * 1024 * 1024]);
        blobs.put("dicom/ab/abc.dcm", big.clone()).await.unwrap();
        assert_eq!(blobs.get("dicom/ab/abc.dcm").await.unwrap(), big);
        assert!(matches!(
            blobs.get("dicom/ab/none.dcm").await,
            Err(Error::NotFound)
        ));
        blobs.delete("dicom/ab/abc.dcm").await.unwrap();
        assert!(matches!(
            blobs.get("dicom/ab/abc.dcm").await,
            Err(Error::NotFound)
        ));
        // A bucket that is not there is an error that says so, not a silent loss.
        let none = Blobs::open_with("s3://no-such-bucket", &s3.settings()).unwrap();
        let e = none.put("x", Bytes::from_static(b"x")).await.unwrap_err();
        assert!(matches!(e, Error::Storage(_) | Error::NotFound), "{e}");
    }

    #[test]
    fn bad_locations_say_how_to_fix_them() {
        let e = Blobs::open("s3://").unwrap_err().to_string();
        assert!(e.contains("s3://bucket"), "{e}");
        let e = Blobs::open_with("s3://b", &[("no_such_setting".into(), "x".into())])
            .unwrap_err()
            .to_string();
        assert!(e.contains("not an S3 setting"), "{e}");
    }
}

/// A local S3-protocol server for tests: moto's server mode, from the Python that
/// `scripts/test.sh` prepares (`KIZUNA_PYTHON`), on a free loopback port, with one bucket.
/// Stopped when dropped.
#[doc(hidden)]
pub mod s3_test_server {
    use std::process::{Child, Command, Stdio};

    pub struct S3Server {
        child: Child,
        /// `http://127.0.0.1:PORT`
        pub endpoint: String,
    }

    impl Drop for S3Server {
        fn drop(&mut self) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }

    impl S3Server {
        /// Starts moto with `bucket` made; None (with a loud message) if moto is not installed
        /// outside CI (in CI it must be).
        pub fn start(bucket: &str) -> Option<S3Server> {
            let python = std::env::var("KIZUNA_PYTHON").unwrap_or_else(|_| "python3".into());
            let has_moto = Command::new(&python)
                .args(["-c", "import moto.server"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success());
            if !has_moto {
                assert!(
                    std::env::var("CI").is_err(),
                    "moto is not installed for {python}; scripts/test.sh installs it"
                );
                eprintln!(
                    "skipped: moto (S3 server) not installed for {python}; run scripts/test.sh"
                );
                return None;
            }
            let port = std::net::TcpListener::bind("127.0.0.1:0")
                .ok()?
                .local_addr()
                .ok()?
                .port();
            let child = match Command::new(&python)
                .args([
                    "-m",
                    "moto.server",
                    "-H",
                    "127.0.0.1",
                    "-p",
                    &port.to_string(),
                ])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
            {
                Ok(c) => c,
                Err(e) => {
                    eprintln!("moto could not be started with {python}: {e}");
                    return None;
                }
            };
            let server = S3Server {
                child,
                endpoint: format!("http://127.0.0.1:{port}"),
            };
            // Ready when it answers; then the bucket (moto takes unsigned requests).
            for _ in 0..200 {
                let made = Command::new("curl")
                    .args(["-sf", "-X", "PUT", &format!("{}/{bucket}", server.endpoint)])
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .status()
                    .is_ok_and(|s| s.success());
                if made {
                    return Some(server);
                }
                std::thread::sleep(std::time::Duration::from_millis(100));
            }
            panic!("moto did not start on port {port}");
        }

        /// The settings of [`crate::Blobs::open_with`] that reach this server.
        pub fn settings(&self) -> Vec<(String, String)> {
            [
                ("aws_endpoint", self.endpoint.as_str()),
                ("aws_access_key_id", "kizuna-test"),
                ("aws_secret_access_key", "kizuna-test"),
                ("aws_region", "us-east-1"),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
        }
    }
}
