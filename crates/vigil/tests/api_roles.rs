//! Every route of `vigil serve` × every kind of caller, on the real binary over loopback.
//!
//! [`routes`] is the table: each route the running server has (server routes and monitoring
//! routes alike), a request good enough to reach its handler, and the least role it accepts.
//! The matrix test calls every row as every caller — no token, tokens that are malformed,
//! unknown, carry a wrong secret, revoked or expired, and a token of each role — and checks 401
//! for the first kind, 403 below the least role, and success from it upwards; then it reads
//! the audit log and finds there, in order, exactly the mutating calls it made (refused ones
//! included). The OpenAPI test fails when the server gains a route the table does not list.

#[path = "common/server.rs"]
mod server;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use reqwest::blocking::RequestBuilder;
use serde_json::{Value, json};
use server::{Served, create_token, vigil_bin};
use vigil_server::Role;
use vigil_server::audit::AuditRecord;

/// The example rule the sample data fires and the rule routes are called with.
const CERTUTIL_RULE: &str = "0b6f6a1e-6a43-4c1c-9a55-3d1f0e7c2a02";

/// One route of the API.
struct Route {
    method: &'static str,
    /// The path as the OpenAPI document writes it (`{id}` for a path parameter).
    path: &'static str,
    /// What `{id}` stands for.
    id: Sample,
    /// Query string sent with it (with the `?`), or empty.
    query: &'static str,
    body: Body,
    /// The least role it accepts; `None` for the public health check.
    least: Option<Role>,
}

/// Which real object a path parameter names, so allowed calls reach their handler's happy path.
#[derive(Clone, Copy)]
enum Sample {
    None,
    Alert,
    Incident,
    Rule,
    /// A token made for this call alone (revoking it must not disturb the callers).
    FreshToken,
    /// An exception saved for this call alone (deleting it must not disturb the next caller).
    FreshException,
    /// An allowlist entry made for this call alone (its pattern, URL-encoded).
    FreshAllow,
}

enum Body {
    Empty,
    /// JSON in which `{other_incident}` and `{incident_alert}` stand for the samples' ids.
    Json(Value),
    Raw(String),
}

impl Body {
    /// The body with the samples' ids put in.
    fn with(&self, samples: &Samples) -> Body {
        match self {
            Body::Json(v) => Body::Json(
                serde_json::from_str(
                    &v.to_string()
                        .replace("{other_incident}", &samples.other_incident)
                        .replace("{incident_alert}", &samples.incident_alert),
                )
                .unwrap(),
            ),
            Body::Raw(t) => Body::Raw(t.clone()),
            Body::Empty => Body::Empty,
        }
    }
}

/// An exception that suppresses nothing (its host is nowhere), for the exception routes.
fn harmless_exception() -> Value {
    json!({"rule_id": CERTUTIL_RULE,
           "conditions": [{"field": "host", "value": "nowhere.example"}],
           "reason": "roles test"})
}

/// Every route of `vigil serve`; the OpenAPI test keeps this complete.
fn routes() -> Vec<Route> {
    use Role::{Admin, Analyst, Viewer};
    let row = |method, path, id, query, body, least| Route {
        method,
        path,
        id,
        query,
        body,
        least,
    };
    let event = r#"{"EventID":1,"Channel":"Microsoft-Windows-Sysmon/Operational","Hostname":"roles-host","Image":"C:\\Windows\\System32\\notepad.exe","CommandLine":"notepad.exe roles.txt","TimeCreated":"2026-12-02T05:00:00Z"}"#;
    vec![
        // vigil-server: the server itself and its tokens.
        row("GET", "/api/v1/health", Sample::None, "", Body::Empty, None),
        row(
            "GET",
            "/api/v1/whoami",
            Sample::None,
            "",
            Body::Empty,
            Some(Viewer),
        ),
        row(
            "GET",
            "/api/v1/metrics",
            Sample::None,
            "",
            Body::Empty,
            Some(Viewer),
        ),
        row(
            "GET",
            "/api/v1/openapi.json",
            Sample::None,
            "",
            Body::Empty,
            Some(Viewer),
        ),
        row(
            "GET",
            "/api/v1/tokens",
            Sample::None,
            "",
            Body::Empty,
            Some(Admin),
        ),
        row(
            "POST",
            "/api/v1/tokens",
            Sample::None,
            "",
            Body::Json(json!({"role": "viewer", "label": "made by the role table"})),
            Some(Admin),
        ),
        row(
            "DELETE",
            "/api/v1/tokens/{id}",
            Sample::FreshToken,
            "",
            Body::Empty,
            Some(Admin),
        ),
        // vigil-monitor: alerts, rules, sources, ingest, hunting.
        row(
            "GET",
            "/api/v1/alerts",
            Sample::None,
            "?limit=5",
            Body::Empty,
            Some(Viewer),
        ),
        row(
            "GET",
            "/api/v1/alerts/{id}",
            Sample::Alert,
            "",
            Body::Empty,
            Some(Viewer),
        ),
        row(
            "PATCH",
            "/api/v1/alerts/{id}",
            Sample::Alert,
            "",
            Body::Json(json!({"assignee": "role-table"})),
            Some(Analyst),
        ),
        row(
            "POST",
            "/api/v1/alerts/{id}/comments",
            Sample::Alert,
            "",
            Body::Json(json!({"text": "seen by the role table"})),
            Some(Analyst),
        ),
        row(
            "GET",
            "/api/v1/rules",
            Sample::None,
            "?fired=true",
            Body::Empty,
            Some(Viewer),
        ),
        row(
            "PATCH",
            "/api/v1/rules/{id}",
            Sample::Rule,
            "",
            Body::Json(json!({"enabled": true})),
            Some(Admin),
        ),
        row(
            "POST",
            "/api/v1/rules/reload",
            Sample::None,
            "",
            Body::Empty,
            Some(Admin),
        ),
        row(
            "GET",
            "/api/v1/sources",
            Sample::None,
            "",
            Body::Empty,
            Some(Viewer),
        ),
        row(
            "POST",
            "/api/v1/ingest",
            Sample::None,
            "?source=roles",
            Body::Raw(event.to_string()),
            Some(Analyst),
        ),
        row(
            "POST",
            "/api/v1/query",
            Sample::None,
            "",
            Body::Json(json!({"sql": "SELECT count(*) AS n FROM events"})),
            Some(Analyst),
        ),
        // vigil-monitor + vigil-risk: assessment.
        row(
            "GET",
            "/api/v1/incidents",
            Sample::None,
            "?limit=5",
            Body::Empty,
            Some(Viewer),
        ),
        row(
            "GET",
            "/api/v1/incidents/{id}",
            Sample::Incident,
            "",
            Body::Empty,
            Some(Viewer),
        ),
        row(
            "GET",
            "/api/v1/entities/risk",
            Sample::None,
            "?limit=5",
            Body::Empty,
            Some(Viewer),
        ),
        row(
            "POST",
            "/api/v1/retrohunt",
            Sample::None,
            "",
            Body::Json(json!({"rules": [CERTUTIL_RULE], "max_matches": 10})),
            Some(Analyst),
        ),
        // vigil-monitor + vigil-intel: threat intelligence.
        row(
            "GET",
            "/api/v1/intel/feeds",
            Sample::None,
            "",
            Body::Empty,
            Some(Viewer),
        ),
        row(
            "POST",
            "/api/v1/intel/import",
            Sample::None,
            "?feed=roles-feed",
            Body::Raw("# made for the roles test\nevil-roles.example\n".into()),
            Some(Analyst),
        ),
        row(
            "GET",
            "/api/v1/intel/indicators",
            Sample::None,
            "?value=www.evil-roles.example",
            Body::Empty,
            Some(Viewer),
        ),
        row(
            "GET",
            "/api/v1/intel/sightings",
            Sample::None,
            "",
            Body::Empty,
            Some(Viewer),
        ),
        row(
            "GET",
            "/api/v1/intel/allowlist",
            Sample::None,
            "",
            Body::Empty,
            Some(Viewer),
        ),
        row(
            "POST",
            "/api/v1/intel/allowlist",
            Sample::None,
            "",
            Body::Json(
                json!({"match": "domain-suffix", "value": "resolver.example", "reason": "roles test"}),
            ),
            Some(Analyst),
        ),
        row(
            "DELETE",
            "/api/v1/intel/allowlist",
            Sample::FreshAllow,
            "?pattern={id}",
            Body::Empty,
            Some(Analyst),
        ),
        row(
            "GET",
            "/api/v1/intel/export",
            Sample::None,
            "?format=stix",
            Body::Empty,
            Some(Viewer),
        ),
        // vigil-monitor + vigil-risk: incident response (merge and split are idempotent, so
        // each allowed caller's repeat of the same request succeeds).
        row(
            "PATCH",
            "/api/v1/incidents/{id}",
            Sample::Incident,
            "",
            Body::Json(json!({"comment": "looked at it"})),
            Some(Analyst),
        ),
        row(
            "POST",
            "/api/v1/incidents/{id}/split",
            Sample::Incident,
            "",
            Body::Json(json!({"alerts": ["{incident_alert}"]})),
            Some(Analyst),
        ),
        row(
            "POST",
            "/api/v1/incidents/{id}/merge",
            Sample::Incident,
            "",
            Body::Json(json!({"from": ["{other_incident}"]})),
            Some(Analyst),
        ),
        row(
            "POST",
            "/api/v1/exceptions/preview",
            Sample::None,
            "",
            Body::Json(harmless_exception()),
            Some(Analyst),
        ),
        row(
            "POST",
            "/api/v1/exceptions",
            Sample::None,
            "",
            Body::Json(harmless_exception()),
            Some(Analyst),
        ),
        row(
            "GET",
            "/api/v1/exceptions",
            Sample::None,
            "",
            Body::Empty,
            Some(Viewer),
        ),
        row(
            "DELETE",
            "/api/v1/exceptions/{id}",
            Sample::FreshException,
            "",
            Body::Empty,
            Some(Analyst),
        ),
        row(
            "GET",
            "/api/v1/plans",
            Sample::None,
            "",
            Body::Empty,
            Some(Viewer),
        ),
        row(
            "GET",
            "/api/v1/assets",
            Sample::None,
            "?limit=5",
            Body::Empty,
            Some(Viewer),
        ),
        row(
            "GET",
            "/api/v1/attack/coverage",
            Sample::None,
            "",
            Body::Empty,
            Some(Viewer),
        ),
        row(
            "GET",
            "/api/v1/attack/navigator",
            Sample::None,
            "?name=roles",
            Body::Empty,
            Some(Viewer),
        ),
        row(
            "GET",
            "/api/v1/reports/response",
            Sample::None,
            "",
            Body::Empty,
            Some(Viewer),
        ),
    ]
}

/// Who calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Caller {
    NoToken,
    /// Not shaped like a token at all.
    Malformed,
    /// Shaped like one, but no such id.
    UnknownId,
    /// A real admin token's id with another secret.
    WrongSecret,
    /// An admin token revoked with `vigil token revoke`.
    Revoked,
    /// An admin token past its expiry.
    Expired,
    Holder(Role),
}

const CALLERS: [Caller; 10] = [
    Caller::NoToken,
    Caller::Malformed,
    Caller::UnknownId,
    Caller::WrongSecret,
    Caller::Revoked,
    Caller::Expired,
    Caller::Holder(Role::Viewer),
    Caller::Holder(Role::Analyst),
    Caller::Holder(Role::Responder),
    Caller::Holder(Role::Admin),
];

impl Caller {
    /// The 401 message the server gives this caller.
    fn rejection(self) -> &'static str {
        match self {
            Caller::NoToken => "missing bearer token",
            Caller::Malformed | Caller::UnknownId | Caller::WrongSecret => "invalid token",
            Caller::Revoked => "token revoked",
            Caller::Expired => "token expired",
            Caller::Holder(_) => unreachable!("token holders are authenticated"),
        }
    }
}

/// A mutating call as the audit log should show it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Audited {
    method: String,
    path: String,
    status: u16,
    role: Option<Role>,
    token_id: Option<String>,
}

/// The id inside `vgl_<id>_<secret>`.
fn token_id(token: &str) -> String {
    token
        .split('_')
        .nth(1)
        .expect("vgl_<id>_<secret>")
        .to_string()
}

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// One server, its tokens, and the mutating calls made so far.
struct Harness {
    s: Served,
    data: PathBuf,
    tokens: Vec<(Caller, Option<String>)>,
    audited: Vec<Audited>,
}

struct Answer {
    status: u16,
    www_authenticate: Option<String>,
    body: Value,
}

impl Harness {
    fn token(&self, caller: Caller) -> Option<String> {
        self.tokens
            .iter()
            .find(|(c, _)| *c == caller)
            .and_then(|(_, t)| t.clone())
    }

    /// Sends one request and remembers it if the audit log must hold it.
    fn call(&mut self, method: &str, path: &str, token: Option<&str>, body: &Body) -> Answer {
        let mut req: RequestBuilder = self
            .s
            .http
            .request(method.parse().unwrap(), format!("{}{path}", self.s.url));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        req = match body {
            Body::Empty => req,
            Body::Json(v) => req.json(v),
            Body::Raw(text) => req.body(text.clone()),
        };
        let resp = req.send().unwrap();
        let status = resp.status().as_u16();
        let www_authenticate = resp
            .headers()
            .get("www-authenticate")
            .map(|v| v.to_str().unwrap().to_string());
        let text = resp.text().unwrap();
        let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
        if matches!(method, "POST" | "PUT" | "PATCH" | "DELETE") {
            // Who the log names: nobody when the token was refused, else the token's holder.
            let holder = self
                .tokens
                .iter()
                .find(|(_, t)| t.as_deref() == token && token.is_some())
                .and_then(|(c, _)| match c {
                    Caller::Holder(role) if status != 401 => Some(*role),
                    _ => None,
                });
            self.audited.push(Audited {
                method: method.to_string(),
                path: path.to_string(),
                status,
                role: holder,
                token_id: holder.map(|_| token_id(token.unwrap())),
            });
        }
        Answer {
            status,
            www_authenticate,
            body,
        }
    }
}

/// The server's configuration: the sample's events (2026-11-02) stay in the assessment's
/// look-back whatever today is, and a small ATT&CK catalogue (a test fixture) is loaded.
fn config(dir: &Path) -> PathBuf {
    let config = dir.join("vigil.toml");
    let catalog = repo().join("crates/vigil/tests/fixtures/attack-mini.json");
    std::fs::write(
        &config,
        format!(
            "[monitor.assess]\nlookback_days = 100000\nattack_catalog = {:?}\n",
            catalog.display().to_string()
        ),
    )
    .unwrap();
    config
}

/// Starts a server on the example rules with tokens for every caller, and an alert to point at.
fn start() -> (tempfile::TempDir, Harness, Samples) {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let rules = repo().join("examples/rules");
    let config = config(dir.path());
    let s = Served::start(
        &data,
        &[
            "--rules",
            rules.to_str().unwrap(),
            "--config",
            config.to_str().unwrap(),
        ],
    );
    assert!(s.admin.starts_with("vgl_"), "no bootstrap admin token");
    let admin = s.admin.clone();
    let revoked = create_token(&data, "admin");
    let out = std::process::Command::new(vigil_bin())
        .args(["token", "revoke", "--data"])
        .arg(&data)
        .arg(token_id(&revoked))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut tokens = vec![
        (Caller::NoToken, None),
        (Caller::Malformed, Some("not-a-token".to_string())),
        (
            Caller::UnknownId,
            Some("vgl_0123456789ab_not-a-real-secret".to_string()),
        ),
        (
            Caller::WrongSecret,
            Some(format!("vgl_{}_not-the-secret", token_id(&admin))),
        ),
        (Caller::Revoked, Some(revoked)),
    ];
    for role in Role::ALL {
        let token = if role == Role::Admin {
            admin.clone()
        } else {
            create_token(&data, role.as_str())
        };
        tokens.push((Caller::Holder(role), Some(token)));
    }
    let mut h = Harness {
        s,
        data,
        tokens,
        audited: Vec::new(),
    };

    // An admin token that expires two seconds from now, issued over the API.
    let expires = jiff::Timestamp::now() + jiff::SignedDuration::from_secs(2);
    let body = Body::Json(
        json!({"role": "admin", "label": "expires soon", "expires_at": expires.to_string()}),
    );
    let a = h.call("POST", "/api/v1/tokens", Some(&admin), &body);
    assert_eq!(a.status, 201, "{}", a.body);
    let expiring = a.body["token"].as_str().unwrap().to_string();
    h.tokens.push((Caller::Expired, Some(expiring)));

    // The sample Sysmon log holds a certutil download: its alert is the `{id}` of alert routes.
    let analyst = h.token(Caller::Holder(Role::Analyst)).unwrap();
    let sysmon =
        std::fs::read_to_string(repo().join("examples/windows-sample/sysmon.ndjson")).unwrap();
    let a = h.call(
        "POST",
        "/api/v1/ingest?source=sample",
        Some(&analyst),
        &Body::Raw(sysmon),
    );
    assert_eq!(a.status, 200, "{}", a.body);
    let page = h.s.wait_for(
        &format!("/api/v1/alerts?rule_id={CERTUTIL_RULE}"),
        &analyst,
        Duration::from_secs(60),
        |b| b["total"].as_u64() >= Some(1),
    );
    let alert = page["items"][0]["id"].as_str().unwrap().to_string();
    // The domain controller's events: a second incident (for the merge route).
    let security =
        std::fs::read_to_string(repo().join("examples/windows-sample/security.json")).unwrap();
    let a = h.call(
        "POST",
        "/api/v1/ingest?source=sample",
        Some(&analyst),
        &Body::Raw(security),
    );
    assert_eq!(a.status, 200, "{}", a.body);
    // Each host's alerts share it, so assessment groups them into two incidents.
    let incidents = h.s.wait_for(
        "/api/v1/incidents",
        &analyst,
        Duration::from_secs(60),
        |b| b["total"] == 2 && b["items"][1]["alerts"].as_array().map(Vec::len) == Some(2),
    );
    let incident = incidents["items"][0]["id"].as_str().unwrap().to_string();
    let other_incident = incidents["items"][1]["id"].as_str().unwrap().to_string();
    let incident_alert = incidents["items"][0]["alerts"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .as_str()
        .unwrap()
        .to_string();

    while jiff::Timestamp::now() <= expires {
        std::thread::sleep(Duration::from_millis(50));
    }
    (
        dir,
        h,
        Samples {
            alert,
            incident,
            other_incident,
            incident_alert,
        },
    )
}

/// Ids of real objects for the `{id}` of allowed calls and for request bodies.
struct Samples {
    alert: String,
    incident: String,
    /// The other incident (merged into `incident`).
    other_incident: String,
    /// One of `incident`'s alerts (split off it).
    incident_alert: String,
}

#[test]
fn every_route_for_every_caller_and_the_audit_log_holds_every_mutating_call() {
    let (_dir, mut h, samples) = start();
    let mut checked = 0;
    for route in routes() {
        for caller in CALLERS {
            let id = match route.id {
                Sample::None => String::new(),
                Sample::Alert => samples.alert.clone(),
                Sample::Incident => samples.incident.clone(),
                Sample::Rule => CERTUTIL_RULE.to_string(),
                Sample::FreshToken => token_id(&create_token(&h.data, "viewer")),
                Sample::FreshException => {
                    let admin = h.token(Caller::Holder(Role::Admin));
                    let a = h.call(
                        "POST",
                        "/api/v1/exceptions",
                        admin.as_deref(),
                        &Body::Json(harmless_exception()),
                    );
                    assert_eq!(a.status, 200, "{}", a.body);
                    a.body["exception"]["id"].as_str().unwrap().to_string()
                }
                Sample::FreshAllow => {
                    let admin = h.token(Caller::Holder(Role::Admin));
                    let value = format!("fresh-{checked}.example");
                    let a = h.call(
                        "POST",
                        "/api/v1/intel/allowlist",
                        admin.as_deref(),
                        &Body::Json(json!({"match": "domain-suffix", "value": value, "reason": "roles test"})),
                    );
                    assert_eq!(a.status, 200, "{}", a.body);
                    format!("domain-suffix%20{value}")
                }
            };
            let path = format!("{}{}", route.path, route.query).replace("{id}", &id);
            let token = h.token(caller);
            let a = h.call(
                route.method,
                &path,
                token.as_deref(),
                &route.body.with(&samples),
            );
            let what = format!("{} {path} as {caller:?}", route.method);
            let code = a.body["error"]["code"].as_str().unwrap_or_default();
            let message = a.body["error"]["message"].as_str().unwrap_or_default();
            match (route.least, caller) {
                (None, _) => assert_eq!(a.status, 200, "{what}: {}", a.body),
                (Some(least), Caller::Holder(role)) if role >= least => assert!(
                    (200..300).contains(&a.status),
                    "{what}: allowed, and the sample request is valid: {} {}",
                    a.status,
                    a.body
                ),
                (Some(least), Caller::Holder(_)) => {
                    assert_eq!(a.status, 403, "{what}: {}", a.body);
                    assert_eq!(code, "forbidden", "{what}: {}", a.body);
                    assert!(
                        message.contains(&format!("needs {least} or above")),
                        "{what}: the refusal names the least role: {message}"
                    );
                }
                (Some(_), _) => {
                    assert_eq!(a.status, 401, "{what}: {}", a.body);
                    assert_eq!(code, "unauthorized", "{what}: {}", a.body);
                    assert!(message.contains(caller.rejection()), "{what}: {message}");
                    assert!(
                        a.www_authenticate
                            .as_deref()
                            .is_some_and(|v| v.starts_with("Bearer")),
                        "{what}: 401 without WWW-Authenticate: Bearer"
                    );
                }
            }
            checked += 1;
        }
    }
    assert_eq!(checked, routes().len() * CALLERS.len());

    // The audit log: exactly the mutating calls made over HTTP, in order, each with the status
    // sent and the caller's role (none when the token was refused); CLI records aside.
    let text = std::fs::read_to_string(vigil_server::audit_log_path(&h.data)).unwrap();
    let logged: Vec<Audited> = text
        .lines()
        .map(|l| serde_json::from_str::<AuditRecord>(l).unwrap())
        .filter(|r| r.method != "CLI")
        .map(|r| Audited {
            method: r.method,
            path: r.path,
            status: r.status.unwrap(),
            role: r.role,
            token_id: r.actor_token_id,
        })
        .collect();
    let refused = h
        .audited
        .iter()
        .filter(|a| a.status == 401 || a.status == 403)
        .count();
    assert!(refused > 0 && refused < h.audited.len());
    assert_eq!(
        logged.len(),
        h.audited.len(),
        "one audit record per mutating call"
    );
    for (i, (got, want)) in logged.iter().zip(&h.audited).enumerate() {
        assert_eq!(got, want, "mutating call {i}");
    }
    let out = std::process::Command::new(vigil_bin())
        .args(["audit", "verify", "--data"])
        .arg(&h.data)
        .output()
        .unwrap();
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && report.contains("intact"),
        "{report}"
    );
}

#[test]
fn openapi_document_lists_exactly_the_routes_in_the_table() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let rules = repo().join("examples/rules");
    let config = config(dir.path());
    let s = Served::start(
        &data,
        &[
            "--rules",
            rules.to_str().unwrap(),
            "--config",
            config.to_str().unwrap(),
        ],
    );
    let (status, doc) = s.get("/api/v1/openapi.json", &s.admin);
    assert_eq!(status, 200, "{doc}");
    let table = routes();
    let mut in_doc = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let method = method.to_uppercase();
            in_doc.insert((method.clone(), path.clone()));
            let Some(row) = table.iter().find(|r| r.method == method && r.path == path) else {
                continue; // reported below with every other missing row
            };
            // The document names the same least role as the table (the matrix test checks
            // that the server enforces the table's).
            match row.least {
                None => assert!(op.get("security").is_none(), "{method} {path} is public"),
                Some(least) => {
                    assert!(
                        op.get("security").is_some(),
                        "{method} {path} needs a token"
                    );
                    let desc = op["description"].as_str().unwrap_or_default();
                    assert!(
                        desc.contains(&format!("Requires role `{least}` or above.")),
                        "{method} {path}: {desc}"
                    );
                }
            }
        }
    }
    let in_table: BTreeSet<(String, String)> = table
        .iter()
        .map(|r| (r.method.to_string(), r.path.to_string()))
        .collect();
    assert_eq!(in_table.len(), table.len(), "a route is in the table twice");
    let unlisted: Vec<_> = in_doc.difference(&in_table).collect();
    let gone: Vec<_> = in_table.difference(&in_doc).collect();
    assert!(
        unlisted.is_empty() && gone.is_empty(),
        "served without a row in routes() (add one, with its least role): {unlisted:?}; \
         rows for routes the server does not have: {gone:?}"
    );
}
