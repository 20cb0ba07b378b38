//! `vigil intel import|feeds|export`: threat intel on a running server, over its API.
//!
//! `import URL` fetches the URL here, with this machine's network and trust roots (plus
//! `--ca-file`), and sends the body to the server's import like a file: the server never
//! fetches URLs a client names, and the report is the same as for a file. Feeds to pull
//! again and again belong in `[[monitor.intel.taxii]]` / `[[monitor.intel.misp]]`.

use std::process::ExitCode;

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use reqwest::blocking::{Client, RequestBuilder, Response};
use url::Url;
use vigil_intel::{ClientOptions, FeedClient, FeedFormat, FetchError, ImportOptions, IntelSet};

use crate::cli::{ExportFormat, IntelCommand, ServerArgs};

/// A request to `server` with its token (else `$VIGIL_TOKEN`).
fn request(server: &ServerArgs, method: reqwest::Method, path: &str) -> Result<RequestBuilder> {
    let token = server
        .token
        .clone()
        .or_else(|| std::env::var("VIGIL_TOKEN").ok())
        .context("--server needs --token or $VIGIL_TOKEN")?;
    let url = format!("{}{path}", server.server.trim_end_matches('/'));
    Ok(Client::builder()
        .timeout(std::time::Duration::from_secs(600))
        .build()?
        .request(method, url)
        .bearer_auth(token))
}

/// The answer's body, or an error carrying the server's message.
fn checked(resp: Response, what: &str) -> Result<Vec<u8>> {
    let status = resp.status();
    let body = resp
        .bytes()
        .with_context(|| format!("{what}: reading the answer"))?;
    if !status.is_success() {
        let message = serde_json::from_slice::<serde_json::Value>(&body)
            .ok()
            .and_then(|v| v["error"]["message"].as_str().map(str::to_owned))
            .unwrap_or_else(|| String::from_utf8_lossy(&body).into_owned());
        bail!("{what}: {status}: {message}");
    }
    Ok(body.to_vec())
}

/// `source` as a URL when it is one: `http://` and `https://` are fetched; another scheme
/// is refused rather than read as a file name.
fn feed_url(source: &str) -> Result<Option<Url>> {
    let Some((scheme, _)) = source.split_once("://") else {
        return Ok(None);
    };
    if !scheme.eq_ignore_ascii_case("http") && !scheme.eq_ignore_ascii_case("https") {
        bail!("{source}: only http:// and https:// URLs can be imported");
    }
    Url::parse(source)
        .map(Some)
        .with_context(|| format!("{source}: not a valid URL"))
}

/// Fetches a feed file: 60 s per request, at most 64 MiB (the feed client's defaults), the
/// server's certificate checked against the system's roots and `ca_file`.
fn fetch(url: &Url, ca_file: Option<PathBuf>) -> Result<Vec<u8>> {
    let client = FeedClient::new(ClientOptions {
        ca_file,
        ..ClientOptions::default()
    })?;
    match client.fetch(url) {
        Ok(fetched) => Ok(fetched.bytes),
        Err(e @ FetchError::Tls { .. }) => bail!("{e} (here: --ca-file PEM)"),
        Err(e) => Err(e.into()),
    }
}

/// Refuses a MISP feed's `manifest.json`: its events are files beside it, and the server's
/// import takes one file, so the CLI says how to have the server pull the feed instead
/// (rather than sending a body the server can only reject). JSON objects only are read.
fn refuse_misp_manifest(url: &Url, bytes: &[u8]) -> Result<()> {
    if bytes.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return Ok(());
    }
    let report = IntelSet::new().import_bytes(url.as_str(), bytes, &ImportOptions::default());
    if report.format == Some(FeedFormat::MispFeedManifest) {
        let mut dir = url.clone();
        if let Ok(mut segments) = dir.path_segments_mut() {
            segments.pop().push("");
        }
        bail!(
            "{url}: a MISP feed manifest ({} events, each a file beside it): `vigil intel import` \
             sends one file; have the server pull the feed instead, with [[monitor.intel.misp]] \
             feed = \"NAME\" and url = \"{dir}\" (and ca_file for a private CA)",
            report.read
        );
    }
    Ok(())
}

/// The default feed name of a URL: its host, with characters a feed name cannot hold (an
/// IPv6 address's `:`) as `-`, at most 64.
fn feed_name_of(url: &Url) -> String {
    let host = url.host_str().unwrap_or("url").trim_matches(['[', ']']);
    host.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '-'
            }
        })
        .take(64)
        .collect()
}

/// `path?k=v&…`, form-encoded.
fn with_query(path: &str, pairs: &[(&str, String)]) -> String {
    let q = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish();
    format!("{path}?{q}")
}

pub fn run(command: IntelCommand) -> Result<ExitCode> {
    match command {
        IntelCommand::Import {
            source,
            feed,
            replace,
            ca_file,
            server,
        } => {
            let (bytes, feed) = match feed_url(&source)? {
                Some(url) => {
                    let bytes = fetch(&url, ca_file)?;
                    refuse_misp_manifest(&url, &bytes)?;
                    let feed = feed.unwrap_or_else(|| feed_name_of(&url));
                    (bytes, feed)
                }
                None => {
                    if ca_file.is_some() {
                        bail!("--ca-file is for https URLs, and {source} is a file");
                    }
                    let feed = feed.with_context(|| {
                        format!("{source}: --feed is needed for a file (a URL's feed defaults to its host)")
                    })?;
                    let bytes =
                        std::fs::read(&source).with_context(|| format!("reading {source}"))?;
                    (bytes, feed)
                }
            };
            let path = with_query(
                "/api/v1/intel/import",
                &[("feed", feed.clone()), ("replace", replace.to_string())],
            );
            let resp = request(&server, reqwest::Method::POST, &path)?
                .body(bytes)
                .send()
                .context("POST /api/v1/intel/import")?;
            let body = checked(resp, &format!("import {source}"))?;
            let v: serde_json::Value = serde_json::from_slice(&body)?;
            eprintln!(
                "vigil intel: {} into feed {}: {} indicators ({} new), {} rejected; {} in force; retro-hunt: {}",
                source,
                v["feed"].as_str().unwrap_or_default(),
                v["indicators"],
                v["new_indicators"],
                v["rejected"],
                v["indicators_in_force"],
                v["retro_hunt"].as_str().unwrap_or_default()
            );
            for r in v["rejections"].as_array().into_iter().flatten() {
                eprintln!("vigil intel:   {}", r.as_str().unwrap_or_default());
            }
            Ok(ExitCode::SUCCESS)
        }
        IntelCommand::Feeds { server } => {
            let resp = request(&server, reqwest::Method::GET, "/api/v1/intel/feeds")?
                .send()
                .context("GET /api/v1/intel/feeds")?;
            let v: serde_json::Value = serde_json::from_slice(&checked(resp, "feeds")?)?;
            println!(
                "{} indicators held, {} in force; left out: {}",
                v["indicators"], v["in_force"], v["left_out"]
            );
            println!(
                "{:<32} {:>7} {:>6} {:>9} {:>7} {:>9}  last import",
                "feed", "origin", "files", "added", "merged", "rejected"
            );
            for f in v["feeds"].as_array().into_iter().flatten() {
                println!(
                    "{:<32} {:>7} {:>6} {:>9} {:>7} {:>9}  {}",
                    f["name"].as_str().unwrap_or_default(),
                    f["origin"].as_str().unwrap_or_default(),
                    f["files"],
                    f["added"],
                    f["merged"],
                    f["rejected"],
                    f["last_import"].as_str().unwrap_or("-")
                );
            }
            for r in v["retro_hunts"].as_array().into_iter().flatten() {
                println!(
                    "retro-hunt {} ({}): {} new indicators, {} events scanned, {} alerts created{}",
                    r["feed"].as_str().unwrap_or_default(),
                    r["started"].as_str().unwrap_or_default(),
                    r["new_indicators"],
                    r["events_scanned"],
                    r["alerts_created"],
                    r["error"]
                        .as_str()
                        .map(|e| format!(" — {e}"))
                        .unwrap_or_default()
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        IntelCommand::Export {
            format,
            kind,
            min_confidence,
            table,
            output,
            server,
        } => {
            let mut query: Vec<(&str, String)> = vec![(
                "format",
                match format {
                    ExportFormat::Stix => "stix",
                    ExportFormat::Text => "text",
                    ExportFormat::Nftables => "nftables",
                }
                .to_string(),
            )];
            if let Some(k) = kind {
                query.push(("kind", k));
            }
            if let Some(c) = min_confidence {
                query.push(("min_confidence", c.to_string()));
            }
            if let Some(t) = table {
                query.push(("table", t));
            }
            let path = with_query("/api/v1/intel/export", &query);
            let resp = request(&server, reqwest::Method::GET, &path)?
                .send()
                .context("GET /api/v1/intel/export")?;
            let body = checked(resp, "export")?;
            match output {
                Some(path) => {
                    std::fs::write(&path, &body)
                        .with_context(|| format!("writing {}", path.display()))?;
                    eprintln!(
                        "vigil intel: {} bytes written to {}",
                        body.len(),
                        path.display()
                    );
                }
                None => {
                    use std::io::Write;
                    std::io::stdout().write_all(&body)?;
                }
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}
