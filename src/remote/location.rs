//! Where a remote is: its URL, parsed into one of the schemes `object_store` serves,
//! with the secrets it may carry kept out of every message.
//!
//! `s3://bucket/prefix`, `gs://bucket/prefix`, `az://container/prefix` (and the
//! `https://` forms `object_store` recognises: `*.blob.core.windows.net`, `*.amazonaws.com`,
//! ...), `http(s)://host/path` (WebDAV or any server taking plain PUT and GET) and
//! `file:///path` (a mounted disk). Credentials come from each cloud's standard
//! environment variables (`AWS_*`, `GOOGLE_*`, `AZURE_*`), read by the library.

use std::sync::Arc;
use std::time::Duration;

use object_store::aws::AmazonS3Builder;
use object_store::azure::MicrosoftAzureBuilder;
use object_store::gcp::GoogleCloudStorageBuilder;
use object_store::http::HttpBuilder;
use object_store::local::LocalFileSystem;
use object_store::path::Path as StorePath;
use object_store::prefix::PrefixStore;
use object_store::{BackoffConfig, ClientOptions, ObjectStore, ObjectStoreScheme, RetryConfig};
use url::Url;

use super::RemoteError;
use crate::suggest;

/// The schemes pipe documents, each with the form a remote URL takes.
const SCHEMES: [(&str, &str); 6] = [
    ("s3", "s3://bucket/prefix"),
    ("gs", "gs://bucket/prefix"),
    ("az", "az://container/prefix"),
    ("http", "http(s)://host/path"),
    ("https", "http(s)://host/path"),
    ("file", "file:///absolute/path"),
];

const FORMS: &str =
    "s3://bucket/prefix, gs://bucket/prefix, az://container/prefix, http(s)://host/path or file:///absolute/path";

/// Environment variables whose values are secrets: masked wherever they would appear.
const SECRET_VARS: [&str; 9] = [
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "GOOGLE_SERVICE_ACCOUNT_KEY",
    "AZURE_STORAGE_ACCOUNT_KEY",
    "AZURE_STORAGE_ACCESS_KEY",
    "AZURE_STORAGE_SAS_KEY",
    "AZURE_STORAGE_TOKEN",
    "AZURE_CLIENT_SECRET",
    "AZURE_STORAGE_CLIENT_SECRET",
];

/// Which library backend serves a remote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    S3,
    Gcs,
    Azure,
    Http,
    File,
}

/// A parsed remote URL. Its `Display` is the URL with credentials masked.
#[derive(Debug, Clone)]
pub struct Location {
    url: Url,
    pub kind: Kind,
    /// The path inside the bucket, container or server under which pipe keeps its objects.
    pub prefix: StorePath,
    secrets: Vec<String>,
}

impl Location {
    /// Parses a remote URL; `origin` says where it was written (`--remote`, `PIPE_REMOTE`,
    /// `.pipe.yaml:2: remote.url`) and leads every message.
    pub fn parse(text: &str, origin: &str) -> Result<Location, RemoteError> {
        let refuse = |problem: String| RemoteError::Config(format!("{origin} `{}`: {problem}", mask_url_text(text)));
        let written = text.split_once(':').map_or("", |(s, _)| s);
        let mut url = Url::parse(text).map_err(|e| refuse(format!("not a URL ({e}){}", way(written))))?;
        let scheme = url.scheme().to_string();
        if let Some(problem) = missing_part(&url, text) {
            return Err(refuse(format!("{problem}; write {}", form(&scheme).unwrap_or(FORMS))));
        }
        // `a//b` is `a/b` on a disk and on most servers; object_store refuses the empty segment.
        let segments: Vec<&str> = url.path().split('/').filter(|s| !s.is_empty()).collect();
        let path = format!("/{}", segments.join("/"));
        url.set_path(&path);
        let (parsed, prefix) = ObjectStoreScheme::parse(&url).map_err(|e| match form(&scheme) {
            Some(_) => refuse(e.to_string()),
            None => refuse(format!("unsupported scheme `{scheme}`{}", way(&scheme))),
        })?;
        // object_store's scheme parser reads `az://account/container/path`, but its Azure
        // builder (which connects) reads `az://container/path`: the prefix follows the builder.
        let prefix = match scheme.as_str() {
            "az" | "adl" | "azure" | "abfs" | "abfss" => {
                StorePath::from_url_path(url.path()).map_err(|e| refuse(e.to_string()))?
            }
            _ => prefix,
        };
        let kind = match parsed {
            ObjectStoreScheme::AmazonS3 => Kind::S3,
            ObjectStoreScheme::GoogleCloudStorage => Kind::Gcs,
            ObjectStoreScheme::MicrosoftAzure => Kind::Azure,
            ObjectStoreScheme::Http => Kind::Http,
            ObjectStoreScheme::Local => Kind::File,
            _ => return Err(refuse(format!("unsupported scheme `{scheme}`; use {FORMS}"))),
        };
        let mut secrets: Vec<String> = SECRET_VARS.iter().filter_map(|v| std::env::var(v).ok()).collect();
        secrets.extend(url.password().map(str::to_string));
        secrets.extend(url.query().map(str::to_string));
        secrets.retain(|s| s.len() >= 4);
        Ok(Location { url, kind, prefix, secrets })
    }

    /// http(s) remotes are read-only unless the configuration says otherwise (a CI
    /// machine that only has the URL must not write to the team's cache).
    pub fn read_only_by_default(&self) -> bool {
        self.kind == Kind::Http
    }

    /// `text` with every secret of this location replaced by `***`.
    pub fn mask(&self, text: &str) -> String {
        let mut text = text.to_string();
        for secret in &self.secrets {
            text = text.replace(secret.as_str(), "***");
        }
        // The library may quote the URL re-encoded; its password is masked there too.
        if let Some(password) = self.url.password() {
            text = text.replace(&format!(":{password}@"), ":***@");
        }
        text
    }

    /// The directory of a `file://` remote; None for the others.
    pub fn dir(&self) -> Option<std::path::PathBuf> {
        (self.kind == Kind::File).then(|| self.local_dir())
    }

    fn local_dir(&self) -> std::path::PathBuf {
        std::path::PathBuf::from("/").join(self.prefix.as_ref())
    }

    /// The object store for this location, rooted at its prefix. `create` makes a
    /// missing `file://` directory (for writing); reading one that is missing is an error.
    pub fn open(&self, create: bool) -> Result<Arc<dyn ObjectStore>, RemoteError> {
        // A server that is down should fail in seconds, not after the library's 3-minute default.
        let retry =
            RetryConfig { backoff: BackoffConfig::default(), max_retries: 2, retry_timeout: Duration::from_secs(15) };
        let url = self.url.as_str();
        let failed =
            |e: object_store::Error| RemoteError::Config(format!("remote {self}: {}", self.mask(&e.to_string())));
        let store: Arc<dyn ObjectStore> = match self.kind {
            Kind::File => {
                let dir = self.local_dir();
                if create {
                    std::fs::create_dir_all(&dir).map_err(|e| RemoteError::Config(format!("remote {self}: {e}")))?;
                }
                if !dir.is_dir() {
                    return Err(RemoteError::Config(format!("remote {self}: no such directory")));
                }
                return Ok(Arc::new(LocalFileSystem::new_with_prefix(&dir).map_err(failed)?));
            }
            Kind::S3 => Arc::new(AmazonS3Builder::from_env().with_url(url).with_retry(retry).build().map_err(failed)?),
            Kind::Gcs => {
                Arc::new(GoogleCloudStorageBuilder::from_env().with_url(url).with_retry(retry).build().map_err(failed)?)
            }
            Kind::Azure => {
                Arc::new(MicrosoftAzureBuilder::from_env().with_url(url).with_retry(retry).build().map_err(failed)?)
            }
            Kind::Http => Arc::new(
                // The cloud builders take their client options from the environment; this one from the URL.
                HttpBuilder::new()
                    .with_url(&self.url[..url::Position::BeforePath])
                    .with_client_options(ClientOptions::new().with_allow_http(self.url.scheme() == "http"))
                    .with_retry(retry)
                    .build()
                    .map_err(failed)?,
            ),
        };
        Ok(Arc::new(PrefixStore::new(store, self.prefix.clone())))
    }
}

/// The form a URL of this scheme takes; None for a scheme pipe does not document.
fn form(scheme: &str) -> Option<&'static str> {
    SCHEMES.iter().find(|(s, _)| s.eq_ignore_ascii_case(scheme)).map(|(_, form)| *form)
}

/// How to write a URL whose scheme was `scheme` (as written): its form when pipe knows
/// it, else the nearest known scheme, if any, and the forms pipe takes.
fn way(scheme: &str) -> String {
    match form(scheme) {
        Some(form) => format!("; write {form}"),
        None if scheme.is_empty() => format!("; write {FORMS}"),
        None => format!("{}; use {FORMS}", suggest::hint(scheme, SCHEMES.map(|(s, _)| s))),
    }
}

/// What a parsed URL of a known scheme lacks: a bucket or host, or for `file:` an
/// absolute path (`file:x` and `file://x/y` parse, as `/x` and host `x`).
fn missing_part(url: &Url, text: &str) -> Option<String> {
    let absolute = text.split_once(':').is_some_and(|(_, rest)| rest.starts_with('/'));
    match (url.scheme(), url.host_str().filter(|h| !h.is_empty())) {
        ("file", Some(host)) => Some(format!("a file URL takes no host, yet this one names `{host}`")),
        ("file", None) if !absolute => Some("not an absolute path".into()),
        ("file", None) if url.path().split('/').all(str::is_empty) => {
            Some("names no directory (it would be the filesystem root)".into())
        }
        ("s3" | "gs", None) => Some("no bucket".into()),
        ("az", None) => Some("no container".into()),
        ("http" | "https", None) => Some("no host".into()),
        _ => None,
    }
}

impl std::fmt::Display for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&mask(&self.url))
    }
}

/// The URL with its password and query (SAS tokens, signatures) replaced by `***`.
fn mask(url: &Url) -> String {
    let mut shown = url.clone();
    if shown.password().is_some() {
        let _ = shown.set_password(Some("***"));
    }
    if shown.query().is_some() {
        shown.set_query(Some("***"));
    }
    shown.to_string()
}

/// For text that did not parse as a URL: drops anything between `://` and `@`, and the query.
fn mask_url_text(text: &str) -> String {
    let text = text.split_once('?').map_or(text, |(t, _)| t);
    match (text.find("://"), text.rfind('@')) {
        (Some(s), Some(at)) if at > s => format!("{}***{}", &text[..s + 3], &text[at..]),
        _ => text.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schemes_map_to_backends_and_the_path_becomes_the_prefix() {
        let cases = [
            ("s3://bucket/team/cache", Kind::S3, "team/cache"),
            ("gs://bucket/cache", Kind::Gcs, "cache"),
            ("az://container/cache", Kind::Azure, "cache"),
            ("https://acct.blob.core.windows.net/container/cache", Kind::Azure, "cache"),
            ("https://bucket.s3.amazonaws.com/cache", Kind::S3, "cache"),
            ("http://127.0.0.1:8080/pipe/cache/", Kind::Http, "pipe/cache"),
            ("file:///mnt/usb/cache", Kind::File, "mnt/usb/cache"),
        ];
        for (url, kind, prefix) in cases {
            let loc = Location::parse(url, "remote").unwrap();
            assert_eq!((loc.kind, loc.prefix.as_ref()), (kind, prefix), "{url}");
        }
        assert!(Location::parse("http://h/x", "remote").unwrap().read_only_by_default());
        assert!(!Location::parse("s3://b/x", "remote").unwrap().read_only_by_default());
    }

    #[test]
    fn unknown_schemes_and_non_urls_are_config_errors_with_a_hint() {
        let err = Location::parse("s4://bucket/x", "--remote").unwrap_err().to_string();
        assert!(err.starts_with("--remote `s4://bucket/x`: unsupported scheme `s4` (did you mean `s3`?)"), "{err}");
        let err = Location::parse("cache-dir", "PIPE_REMOTE").unwrap_err().to_string();
        assert!(
            err.starts_with("PIPE_REMOTE `cache-dir`: not a URL") && err.contains("file:///absolute/path"),
            "{err}"
        );
    }

    #[test]
    fn a_url_of_a_known_scheme_is_refused_for_what_it_lacks_with_no_scheme_suggested() {
        let cases = [
            ("file://", "names no directory (it would be the filesystem root); write file:///absolute/path"),
            ("file:///", "names no directory"),
            ("file:relative", "not an absolute path; write file:///absolute/path"),
            ("file://relative/path", "a file URL takes no host, yet this one names `relative`; write file:///"),
            ("s3://", "no bucket; write s3://bucket/prefix"),
            ("gs://", "no bucket; write gs://bucket/prefix"),
            ("http://", "not a URL (empty host); write http(s)://host/path"),
        ];
        for (url, problem) in cases {
            let err = Location::parse(url, "remote").unwrap_err().to_string();
            assert!(err.contains(problem) && !err.contains("did you mean"), "{url}: {err}");
        }
    }

    #[test]
    fn empty_path_segments_are_dropped_and_a_file_url_may_have_one_slash() {
        let cases = [
            ("file:///tmp/a//r1", "tmp/a/r1", "file:///tmp/a/r1"),
            ("http://127.0.0.1:29244//c1", "c1", "http://127.0.0.1:29244/c1"),
            ("file:/mnt/usb", "mnt/usb", "file:///mnt/usb"),
        ];
        for (url, prefix, shown) in cases {
            let loc = Location::parse(url, "remote").unwrap();
            assert_eq!((loc.prefix.as_ref(), loc.to_string().as_str()), (prefix, shown), "{url}");
        }
    }

    #[test]
    fn credentials_in_the_url_never_show() {
        let loc = Location::parse("https://alice:hunter22@cache.example/p?sig=s3cr3tsig", "remote").unwrap();
        let shown = loc.to_string();
        assert_eq!(shown, "https://alice:***@cache.example/p?***");
        let quoted = "error sending request for url (https://alice:hunter22@cache.example/p/ac/k.json?sig=s3cr3tsig)";
        let masked = loc.mask(quoted);
        assert!(!masked.contains("hunter22") && !masked.contains("s3cr3tsig"), "{masked}");
        assert_eq!(mask_url_text("https://bob:pw@host/x?token=abc"), "https://***@host/x");
    }
}
