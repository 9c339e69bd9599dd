//! Where a store lives, from the text a user gives (`--store`, `Datastream(path_or_url)`): a
//! local directory, or segments on S3 with the SQLite metadata in a local directory.
//!
//! An `s3://bucket/prefix` store keeps its Parquet segments under `prefix` in `bucket`, reached
//! with object_store's S3 client configured from the usual `AWS_*` variables
//! (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_REGION`, `AWS_ENDPOINT`,
//! `AWS_ALLOW_HTTP`, ...). SQLite cannot live on S3, and the segments are only visible through
//! the SQLite listing, so the metadata directory is named explicitly (`meta_dir`, the CLI's
//! `--store-meta`): one writer host owns the store; readers of the raw segments (DuckDB, Spark)
//! need only S3.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use object_store::ObjectStore;

use super::{Datastream, StoreError, StoreOptions, StoreResult};

/// A parsed store location.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreLocation {
    /// A local directory holding `datastream.sqlite` and `segments/`.
    Local(PathBuf),
    /// Segments on S3 under `prefix` of `bucket`; metadata in a local directory.
    S3 {
        /// The bucket.
        bucket: String,
        /// The key prefix of the segments (no leading or trailing `/`; may be empty).
        prefix: String,
    },
}

impl StoreLocation {
    /// Parses a path or an `s3://bucket/prefix` URL; other URL schemes are refused.
    pub fn parse(text: &str) -> StoreResult<StoreLocation> {
        let text = text.trim();
        if text.is_empty() {
            return Err(StoreError::InvalidArgument(
                "the store location is empty; give a directory or s3://bucket/prefix".into(),
            ));
        }
        match text.split_once("://") {
            None => Ok(StoreLocation::Local(PathBuf::from(text))),
            Some(("file", path)) => Ok(StoreLocation::Local(PathBuf::from(path))),
            Some(("s3", rest)) => {
                let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
                if bucket.is_empty() {
                    return Err(StoreError::InvalidArgument(format!(
                        "the store URL '{text}' has no bucket; write s3://BUCKET/PREFIX"
                    )));
                }
                Ok(StoreLocation::S3 {
                    bucket: bucket.to_string(),
                    prefix: prefix.trim_matches('/').to_string(),
                })
            }
            Some((scheme, _)) => Err(StoreError::InvalidArgument(format!(
                "store URLs of scheme '{scheme}' are not supported; use a local directory or \
                 s3://bucket/prefix"
            ))),
        }
    }

    /// Opens (creating if needed) the store. `meta_dir` is where an S3 store keeps its SQLite
    /// metadata (required for S3, refused for a local store).
    pub async fn open(
        &self,
        meta_dir: Option<&Path>,
        mut options: StoreOptions,
    ) -> StoreResult<Datastream> {
        match self {
            StoreLocation::Local(dir) => match meta_dir {
                None => Datastream::open_with(dir, options).await,
                Some(_) => Err(StoreError::InvalidArgument(format!(
                    "a local store keeps its metadata in its own directory ({}); a separate \
                     metadata directory is only for s3:// stores",
                    dir.display()
                ))),
            },
            StoreLocation::S3 { bucket, prefix } => {
                let meta_dir = meta_dir.ok_or_else(|| {
                    StoreError::InvalidArgument(format!(
                        "an s3:// store keeps its metadata in a local SQLite file: give the \
                         directory for it (--store-meta DIR) along with s3://{bucket}/{prefix}"
                    ))
                })?;
                options.segments = Some(s3_segments(bucket, prefix)?);
                Datastream::open_with(meta_dir, options).await
            }
        }
    }
}

fn s3_segments(bucket: &str, prefix: &str) -> StoreResult<Arc<dyn ObjectStore>> {
    let s3 = object_store::aws::AmazonS3Builder::from_env()
        .with_bucket_name(bucket)
        .build()
        .map_err(|e| StoreError::storage(format!("configuring S3 for bucket '{bucket}'"), e))?;
    Ok(if prefix.is_empty() {
        Arc::new(s3)
    } else {
        Arc::new(object_store::prefix::PrefixStore::new(s3, prefix))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations_parse_paths_and_s3_urls() {
        assert_eq!(
            StoreLocation::parse("/tmp/metrics").unwrap(),
            StoreLocation::Local("/tmp/metrics".into())
        );
        assert_eq!(
            StoreLocation::parse("file:///tmp/m").unwrap(),
            StoreLocation::Local("/tmp/m".into())
        );
        assert_eq!(
            StoreLocation::parse("s3://lake/ddstream/prod/").unwrap(),
            StoreLocation::S3 {
                bucket: "lake".into(),
                prefix: "ddstream/prod".into()
            }
        );
        assert_eq!(
            StoreLocation::parse("s3://lake").unwrap(),
            StoreLocation::S3 {
                bucket: "lake".into(),
                prefix: String::new()
            }
        );
        for (bad, expected) in [
            ("", "empty"),
            ("s3:///x", "no bucket"),
            ("gs://b/p", "scheme 'gs'"),
        ] {
            let err = StoreLocation::parse(bad).unwrap_err().to_string();
            assert!(err.contains(expected), "{bad}: {err}");
        }
    }

    #[tokio::test]
    async fn an_s3_store_without_a_metadata_directory_says_which_flag_to_give() {
        let err = StoreLocation::parse("s3://lake/p")
            .unwrap()
            .open(None, StoreOptions::default())
            .await
            .unwrap_err()
            .to_string();
        assert!(err.contains("--store-meta"), "{err}");
    }
}
