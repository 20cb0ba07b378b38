//! Fetching feed documents over HTTP and HTTPS: the one blocking client every intel fetch
//! uses — TAXII 2.1 pulls ([`crate::taxii`]), MISP feed pulls, and a feed file by URL
//! ([`FeedClient::fetch`]) — with timeouts, basic auth, a response size limit, and TLS that
//! trusts the system's roots plus an optional CA file.
//!
//! What this is for: getting a feed server's bytes, or saying exactly why not: every failure
//! is a [`FetchError`] naming the URL (status, timeout, size, TLS, connection). What it is
//! not for: the protocols on top, or scheduling. It is blocking (reqwest's blocking client):
//! call it from a plain thread, never from inside an async runtime.
//!
//! TLS is rustls on the ring provider, configured here: the workspace builds reqwest with
//! `rustls-no-provider` (its `rustls` feature would build aws-lc-rs, C and cmake), so this
//! client gets its own `rustls::ClientConfig` and needs nothing process-wide. Other reqwest
//! clients in the same process do: [`install_crypto_provider`] gives them ring. The server's
//! certificate is always verified, against the system's roots (rustls-platform-verifier) and
//! the certificates of [`ClientOptions::ca_file`]; there is no switch that accepts any
//! certificate.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use reqwest::StatusCode;
use reqwest::header::{ACCEPT, CONTENT_TYPE, HeaderMap};
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use serde_json::Value as J;
use url::Url;

/// How a [`FeedClient`] talks to servers: credentials, timeouts and the largest response it
/// reads.
#[derive(Clone, Debug)]
pub struct ClientOptions {
    /// HTTP basic authentication (user, password), sent with every request.
    pub basic_auth: Option<(String, String)>,
    /// How long to wait for the TCP connection.
    pub connect_timeout: Duration,
    /// How long a whole request may take, reading the body included.
    pub timeout: Duration,
    /// Responses longer than this are refused (a feed page or event, not a disk filler).
    pub max_response_bytes: u64,
    /// A PEM file of CA certificates trusted for `https://` besides the system's: a feed
    /// served with a private CA's certificate.
    pub ca_file: Option<PathBuf>,
}

impl Default for ClientOptions {
    fn default() -> Self {
        ClientOptions {
            basic_auth: None,
            connect_timeout: Duration::from_secs(10),
            timeout: Duration::from_secs(60),
            max_response_bytes: 64 << 20,
            ca_file: None,
        }
    }
}

/// Why a request to a feed server gave nothing usable. Each names the URL.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// The URL cannot be used (not `http://` or `https://`, cannot be joined).
    #[error("{url}: {reason}")]
    Url { url: String, reason: String },
    /// The HTTP client could not be built.
    #[error("HTTP client: {0}")]
    Client(String),
    /// The CA file cannot be used: unreadable, not PEM, or no certificate in it.
    #[error("CA file {}: {reason}", path.display())]
    CaFile { path: PathBuf, reason: String },
    /// The TLS handshake failed: most often a server certificate no trusted CA signed, or
    /// one issued for another name.
    #[error("{url}: TLS: {reason}")]
    Tls { url: String, reason: String },
    /// No connection, or the connection broke.
    #[error("{url}: request failed: {reason}")]
    Connect { url: String, reason: String },
    /// No complete response in time.
    #[error("{url}: no complete response within {} s", after.as_secs_f64())]
    Timeout { url: String, after: Duration },
    /// A status other than 2xx; `title` and `description` come from a TAXII error body,
    /// `body` is the start of a body that is not one.
    #[error("{url}: HTTP {status}{}", status_detail(*status, title, description, body))]
    Status {
        url: String,
        status: u16,
        title: Option<String>,
        description: Option<String>,
        body: Option<String>,
    },
    /// A content type other than the one the protocol requires.
    #[error("{url}: content type `{got}`, expected `{expected}`")]
    ContentType {
        url: String,
        got: String,
        expected: &'static str,
    },
    /// The response is longer than [`ClientOptions::max_response_bytes`].
    #[error("{url}: response longer than the limit of {limit} bytes")]
    TooLarge { url: String, limit: u64 },
    /// The body is not JSON.
    #[error("{url}: not JSON: {reason}")]
    NotJson { url: String, reason: String },
    /// JSON of the wrong shape (not an envelope, `objects` not a list, `more` without a way
    /// to get more).
    #[error("{url}: {reason}")]
    Malformed { url: String, reason: String },
    /// A page held only objects already received in this pull, after `next` token
    /// `token`: paging would never end.
    #[error(
        "{url}: the page after `next` = `{token}` repeats objects already received: a paging \
         loop, stopped"
    )]
    NextLoop { url: String, token: String },
    /// More pages than the pull allows.
    #[error("{url}: more than {pages} pages: stopped")]
    TooManyPages { url: String, pages: u32 },
}

fn status_detail(
    status: u16,
    title: &Option<String>,
    description: &Option<String>,
    body: &Option<String>,
) -> String {
    let mut s = String::new();
    if let Some(reason) = StatusCode::from_u16(status)
        .ok()
        .and_then(|c| c.canonical_reason())
    {
        s.push(' ');
        s.push_str(reason);
    }
    if let Some(t) = title {
        s.push_str(": ");
        s.push_str(t);
    }
    if let Some(d) = description {
        s.push_str(": ");
        s.push_str(d);
    }
    if let Some(b) = body {
        s.push_str(": ");
        s.push_str(b);
    }
    s
}

/// A blocking HTTP(S) client for intel feeds (TAXII 2.1 servers, MISP feeds, feed files by
/// URL): timeouts, basic auth, a response size limit and verified TLS on every request.
pub struct FeedClient {
    http: reqwest::blocking::Client,
    opts: ClientOptions,
    /// Why `https://` cannot work (no trusted root at all), said on each such request.
    tls_unusable: Option<String>,
}

/// A response body read in full, with its headers.
pub(crate) struct Body {
    pub bytes: Vec<u8>,
    pub headers: HeaderMap,
}

impl FeedClient {
    /// A client with these options. Fails when the CA file cannot be used or the HTTP stack
    /// cannot be set up; a system without any trusted root still gets a client, whose
    /// `https://` requests fail saying so.
    pub fn new(opts: ClientOptions) -> Result<Self, FetchError> {
        let (tls, tls_unusable) = tls_config(opts.ca_file.as_deref())?;
        let http = reqwest::blocking::Client::builder()
            .connect_timeout(opts.connect_timeout)
            .timeout(opts.timeout)
            .redirect(redirect_policy())
            .tls_backend_preconfigured(tls)
            .build()
            .map_err(|e| FetchError::Client(e.to_string()))?;
        Ok(FeedClient {
            http,
            opts,
            tls_unusable,
        })
    }

    /// GETs `url` (http or https) as a feed document of any format: the bytes, at most
    /// [`ClientOptions::max_response_bytes`], and the content type. Any status but 2xx is an
    /// error.
    pub fn fetch(&self, url: &Url) -> Result<Fetched, FetchError> {
        let body = self.get(url, None)?;
        let content_type = body
            .headers
            .get(CONTENT_TYPE)
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
        Ok(Fetched {
            bytes: body.bytes,
            content_type,
        })
    }

    /// GETs `url` and reads the body (at most the size limit). Non-2xx statuses are errors
    /// carrying the TAXII error body when there is one. `accept` is sent as `Accept`.
    pub(crate) fn get(&self, url: &Url, accept: Option<&str>) -> Result<Body, FetchError> {
        let u = url.as_str();
        match url.scheme() {
            "http" => {}
            "https" => {
                if let Some(why) = &self.tls_unusable {
                    return Err(FetchError::Tls {
                        url: u.to_string(),
                        reason: why.clone(),
                    });
                }
            }
            other => {
                return Err(FetchError::Url {
                    url: u.to_string(),
                    reason: format!("scheme `{other}` is not supported: http and https only"),
                });
            }
        }
        let mut req = self.http.get(url.clone());
        if let Some(a) = accept {
            req = req.header(ACCEPT, a);
        }
        if let Some((user, pass)) = &self.opts.basic_auth {
            req = req.basic_auth(user, Some(pass));
        }
        let resp = req.send().map_err(|e| self.request_error(u, &e))?;
        let status = resp.status();
        let headers = resp.headers().clone();
        let limit = self.opts.max_response_bytes;
        if resp.content_length().is_some_and(|n| n > limit) {
            return Err(FetchError::TooLarge {
                url: u.to_string(),
                limit,
            });
        }
        let mut bytes = Vec::new();
        if let Err(e) = resp.take(limit + 1).read_to_end(&mut bytes) {
            return Err(
                if e.kind() == std::io::ErrorKind::TimedOut || e.to_string().contains("timed out") {
                    FetchError::Timeout {
                        url: u.to_string(),
                        after: self.opts.timeout,
                    }
                } else {
                    FetchError::Connect {
                        url: u.to_string(),
                        reason: format!("reading the body: {e}"),
                    }
                },
            );
        }
        if bytes.len() as u64 > limit {
            return Err(FetchError::TooLarge {
                url: u.to_string(),
                limit,
            });
        }
        if !status.is_success() {
            return Err(status_error(u, status, &bytes));
        }
        Ok(Body { bytes, headers })
    }

    fn request_error(&self, url: &str, e: &reqwest::Error) -> FetchError {
        if e.is_timeout() {
            return FetchError::Timeout {
                url: url.to_string(),
                after: if e.is_connect() {
                    self.opts.connect_timeout
                } else {
                    self.opts.timeout
                },
            };
        }
        if let Some(tls) = tls_cause(e) {
            return FetchError::Tls {
                url: url.to_string(),
                reason: tls_reason(tls),
            };
        }
        // reqwest's Display is terse ("error sending request"); the cause says why.
        let mut reason = e.to_string();
        let mut source = std::error::Error::source(e);
        while let Some(s) = source {
            reason.push_str(": ");
            reason.push_str(&s.to_string());
            source = s.source();
        }
        FetchError::Connect {
            url: url.to_string(),
            reason,
        }
    }
}

/// `bytes` as JSON, or why not (line, column, the body's first bytes).
pub(crate) fn parse_json(url: &str, bytes: &[u8]) -> Result<J, FetchError> {
    serde_json::from_slice(bytes).map_err(|e| FetchError::NotJson {
        url: url.to_string(),
        reason: format!(
            "line {} column {}: {e} (body starts `{}`)",
            e.line(),
            e.column(),
            excerpt(bytes)
        ),
    })
}

/// The first bytes of a body as printable text, for error messages.
fn excerpt(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(&bytes[..bytes.len().min(120)]);
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect::<String>()
        .trim()
        .to_string()
}

fn status_error(url: &str, status: StatusCode, bytes: &[u8]) -> FetchError {
    let taxii = serde_json::from_slice::<J>(bytes).ok();
    let field = |k: &str| {
        taxii
            .as_ref()
            .and_then(|t| t.get(k))
            .and_then(J::as_str)
            .map(str::to_string)
    };
    let (title, description) = (field("title"), field("description"));
    let body =
        (title.is_none() && description.is_none() && !bytes.is_empty()).then(|| excerpt(bytes));
    FetchError::Status {
        url: url.to_string(),
        status: status.as_u16(),
        title,
        description,
        body,
    }
}

/// A feed document fetched by [`FeedClient::fetch`].
#[derive(Clone, Debug)]
pub struct Fetched {
    pub bytes: Vec<u8>,
    /// The `Content-Type` header, if the server sent one.
    pub content_type: Option<String>,
}

/// Makes rustls's ring provider the process default, unless a provider is installed already.
/// reqwest is built with `rustls-no-provider`: a reqwest client built with reqwest's own TLS
/// defaults (anything but a [`FeedClient`]) panics when no default is installed, so binaries
/// and tests that build one call this first. Calling it again does nothing.
pub fn install_crypto_provider() {
    // An `Err` means a provider is installed already, which is all this wants.
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// Redirects a feed client follows: at most five, and never from https to plain http (the
/// body would come unauthenticated while the caller asked for TLS).
fn redirect_policy() -> reqwest::redirect::Policy {
    const MAX_REDIRECTS: usize = 5;
    reqwest::redirect::Policy::custom(|attempt| {
        let downgrade = attempt
            .previous()
            .last()
            .is_some_and(|from| from.scheme() == "https")
            && attempt.url().scheme() != "https";
        if downgrade {
            let to = attempt.url().to_string();
            attempt.error(format!("redirect from https to {to} refused (not https)"))
        } else if attempt.previous().len() > MAX_REDIRECTS {
            attempt.error(format!("more than {MAX_REDIRECTS} redirects"))
        } else {
            attempt.follow()
        }
    })
}

/// The TLS configuration of a [`FeedClient`]: ring, TLS 1.2 and 1.3, the system's roots
/// plus those of `ca_file`. When the system has no root and no CA file is given, a
/// configuration that trusts nothing, with the reason `https://` will fail.
fn tls_config(
    ca_file: Option<&Path>,
) -> Result<(rustls::ClientConfig, Option<String>), FetchError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let extra = match ca_file {
        Some(path) => read_ca_file(path)?,
        None => Vec::new(),
    };
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| FetchError::Client(format!("TLS: {e}")))?;
    // The extra roots were checked above, so the verifier fails only when the system has no
    // root at all (a container without ca-certificates).
    match rustls_platform_verifier::Verifier::new_with_extra_roots(extra, provider) {
        Ok(verifier) => Ok((
            builder
                // A custom verifier is rustls's "dangerous" API by name only: this is the
                // platform's full WebPKI verification.
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(verifier))
                .with_no_client_auth(),
            None,
        )),
        Err(e) => Ok((
            builder
                .with_root_certificates(rustls::RootCertStore::empty())
                .with_no_client_auth(),
            Some(format!(
                "no trusted CA certificate: {e}; install the system's CA certificates or give \
                 the server's CA as a CA file"
            )),
        )),
    }
}

/// Checks that `path` is a PEM file of CA certificates a [`FeedClient`] can trust (what
/// [`ClientOptions::ca_file`] needs), so a configuration can be refused at start rather than
/// at the first pull; returns how many certificates it holds.
pub fn check_ca_file(path: &Path) -> Result<usize, FetchError> {
    read_ca_file(path).map(|certs| certs.len())
}

/// The certificates of a PEM file, each checked to be usable as a trust anchor.
fn read_ca_file(path: &Path) -> Result<Vec<CertificateDer<'static>>, FetchError> {
    let bad = |reason: String| FetchError::CaFile {
        path: path.to_path_buf(),
        reason,
    };
    let bytes = std::fs::read(path).map_err(|e| bad(format!("cannot read: {e}")))?;
    let certs = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| bad(format!("not PEM: {e}")))?;
    if certs.is_empty() {
        return Err(bad(
            "no `BEGIN CERTIFICATE` block (a PEM file of CA certificates is expected)".into(),
        ));
    }
    let mut check = rustls::RootCertStore::empty();
    for (n, cert) in certs.iter().enumerate() {
        check
            .add(cert.clone())
            .map_err(|e| bad(format!("certificate {}: {e}", n + 1)))?;
    }
    Ok(certs)
}

/// The rustls error under a failed request, if the TLS handshake is what failed. It sits in
/// reqwest's source chain inside `io::Error`s (two, nested, in reqwest 0.13), whose
/// `source()` skips the error they wrap: those are opened with `get_ref`.
fn tls_cause(e: &reqwest::Error) -> Option<&rustls::Error> {
    let mut next: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = next {
        if let Some(tls) = err.downcast_ref::<rustls::Error>() {
            return Some(tls);
        }
        next = match err.downcast_ref::<std::io::Error>() {
            Some(io) => match io.get_ref() {
                Some(inner) => Some(inner as &(dyn std::error::Error + 'static)),
                None => err.source(),
            },
            None => err.source(),
        };
    }
    None
}

/// A TLS failure in words, with what to do about the common one.
fn tls_reason(e: &rustls::Error) -> String {
    use rustls::CertificateError as C;
    match e {
        rustls::Error::InvalidCertificate(C::UnknownIssuer) => format!(
            "{e}: the server's certificate is not signed by a trusted CA (for a private CA, \
             give its certificate as a CA file)"
        ),
        rustls::Error::InvalidCertificate(C::NotValidForName)
        | rustls::Error::InvalidCertificate(C::NotValidForNameContext { .. }) => {
            format!("{e}: the certificate was issued for another name")
        }
        _ => e.to_string(),
    }
}
