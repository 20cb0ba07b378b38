//! SigmaHQ's non-Windows rule folders load: every rule either compiles or is rejected with a
//! reason, at least 99% of the rules whose log source a Vigil decoder produces compile, and
//! every rule whose log source no decoder produces is named with why.
//!
//! `cargo test -p vigil-detect --test xdr_rule_loading -- --nocapture` prints the per-folder
//! table kept in `crates/vigil-sigma/README.md`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use vigil_core::LogSource;
use vigil_detect::{LoadedRules, load_and_compile};
use vigil_ingest::{DecodeOptions, decode_bytes, decode_file, discover};
use vigil_sigma::mapping::LogsourceMapping;
use vigil_sigma::ruleset::SigmaConfig;

/// The non-Windows folders of SigmaHQ's `rules/`.
const FOLDERS: [&str; 8] = [
    "cloud",
    "network",
    "linux",
    "identity",
    "web",
    "macos",
    "application",
    "category",
];

/// Which Vigil decoder produces events a rule with logsource `ls` applies to, or why none
/// does. This is the decoders' logsource table (see `vigil-ingest`'s README);
/// `decoder_model_matches_the_corpora` checks it against what they emit on the corpora.
fn decoder_for(ls: &LogSource) -> Result<&'static str, String> {
    let product = ls.product.as_deref();
    let service = ls.service.as_deref();
    let category = ls.category.as_deref();
    match (product, category, service) {
        (Some("aws"), None, Some("cloudtrail")) => Ok("cloudtrail"),
        (Some("azure"), None, Some("signinlogs" | "auditlogs" | "activitylogs")) => Ok("azure"),
        (Some("azure"), None, Some(s)) => Err(format!(
            "azure `{s}`: Entra ID risk detections / PIM exports have no decoder"
        )),
        (Some("okta"), None, Some("okta")) => Ok("okta"),
        // Zeek records get `service` from their `#path` / `_path`, whatever the log.
        (Some("zeek"), None, Some(_)) => Ok("zeek"),
        (Some("linux"), None, Some("auditd")) => Ok("auditd"),
        (Some("linux"), None, Some("sshd" | "sudo" | "su" | "syslog")) => Ok("syslog"),
        (Some("linux"), None, None) => Ok("syslog, auditd"),
        (Some("linux"), None, Some(s)) => Err(format!(
            "linux `{s}`: the syslog decoder names only sshd, sudo and su lines; `{s}` lines \
             get `service: syslog`"
        )),
        // Sysmon for Linux (syslog lines, Sentinel `Syslog` exports): category by EventID.
        (
            Some("linux"),
            Some(
                "process_creation"
                | "network_connection"
                | "file_event"
                | "file_delete"
                | "process_termination"
                | "sysmon_status"
                | "raw_access_read",
            ),
            None | Some("sysmon"),
        ) => Ok("sysmon (Linux)"),
        (Some("linux"), Some(c), _) => Err(format!(
            "linux `category: {c}`: Sysmon for Linux has no such event"
        )),
        (None, Some("antivirus"), None) => Ok("evtx (Defender channel, built-in mapping)"),
        // Logsource targets of the built-in mapping (`data/logsource-network.yml`).
        (None, Some("proxy" | "webserver"), None) => Ok("zeek http, suricata http (renamed)"),
        (None, Some("dns"), None) => Ok("zeek dns, suricata dns (renamed)"),
        (None, Some("firewall"), None) => Ok("zeek conn, suricata flow (renamed)"),
        (None, Some(c), _) => Err(format!(
            "`category: {c}` without a product: no decoder emits it"
        )),
        (None, None, Some(s)) => Err(format!(
            "`service: {s}` (web server access logs): no decoder"
        )),
        (Some(p), _, _) => Err(format!("product `{p}`: no decoder")),
        (None, None, None) => Ok("any"),
    }
}

fn rules(folder: &Path) -> LoadedRules {
    let config = SigmaConfig::from_file(Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../vigil-sigma/data/placeholders-sample.yml"
    )))
    .unwrap();
    load_and_compile(
        &[folder.to_path_buf()],
        &config,
        &LogsourceMapping::builtin(),
    )
}

/// Per folder: rules, loaded, rejected, with a decoder, loaded with a decoder.
#[derive(Default, Debug)]
struct Counts {
    documents: usize,
    loaded: usize,
    rejected: usize,
    with_decoder: usize,
    no_decoder: BTreeMap<String, usize>,
}

#[test]
fn non_windows_rules_load_where_a_decoder_exists() {
    let Some(sigma) = vigil_core::corpus::corpus_path("sigma/rules") else {
        return;
    };
    let mut table = Vec::new();
    for folder in FOLDERS {
        let dir = sigma.join(folder);
        if !dir.is_dir() {
            continue;
        }
        let loaded = rules(&dir);
        let mut c = Counts {
            documents: loaded.report.documents,
            loaded: loaded.loaded(),
            ..Counts::default()
        };
        for r in loaded.rejections() {
            assert!(!r.reason.to_string().trim().is_empty(), "no reason: {r}");
            c.rejected += 1;
        }
        for rule in loaded.engine.rules() {
            match decoder_for(&rule.logsource) {
                Ok(_) => c.with_decoder += 1,
                Err(why) => *c.no_decoder.entry(why).or_default() += 1,
            }
        }
        // A rejected rule counts against the fraction whatever its log source.
        // A folder with no decoder behind it and nothing rejected has nothing to measure.
        let counted = c.with_decoder + c.rejected;
        assert!(
            counted == 0 || c.with_decoder as f64 / counted as f64 >= 0.99,
            "{folder}: {c:?}"
        );
        assert_eq!(
            c.loaded + c.rejected + loaded.correlations + loaded.filters,
            c.documents
        );
        table.push((folder, c));
    }
    assert_eq!(table.len(), FOLDERS.len(), "a SigmaHQ folder is missing");

    println!("| folder | rules | loaded | rejected | log source has a decoder | loaded of those |");
    println!("|---|---:|---:|---:|---:|---:|");
    for (folder, c) in &table {
        let share = match c.with_decoder + c.rejected {
            0 => "—".to_string(),
            n => format!(
                "{} ({:.0}%)",
                c.with_decoder,
                100.0 * c.with_decoder as f64 / n as f64
            ),
        };
        println!(
            "| `rules/{folder}` | {} | {} | {} | {} | {share} |",
            c.documents, c.loaded, c.rejected, c.with_decoder
        );
    }
    println!();
    let mut reasons: BTreeMap<&str, usize> = BTreeMap::new();
    for (_, c) in &table {
        for (why, n) in &c.no_decoder {
            *reasons.entry(why).or_default() += n;
        }
    }
    println!("| rules | why no decoder applies |");
    println!("|---:|---|");
    for (why, n) in &reasons {
        println!("| {n} | {why} |");
    }

    let by: BTreeMap<&str, &Counts> = table.iter().map(|(f, c)| (*f, c)).collect();
    // The folders with decoders behind them carry real coverage; figures measured on the
    // pinned SigmaHQ copy are floors so a newer copy with more rules still passes.
    assert!(by["cloud"].with_decoder >= 150, "{:?}", by["cloud"]);
    assert!(by["network"].with_decoder >= 29, "{:?}", by["network"]);
    assert!(by["linux"].with_decoder >= 200, "{:?}", by["linux"]);
    assert!(by["web"].with_decoder >= 40, "{:?}", by["web"]);
    assert!(by["identity"].with_decoder >= 21, "{:?}", by["identity"]);
    assert!(by["category"].with_decoder >= 8, "{:?}", by["category"]);
}

/// The files `vigil hunt <dir>` reads (`.log.gz`/`.json.gz` included).
fn corpus_files(dir: &Path) -> Vec<PathBuf> {
    discover(&[dir.to_path_buf()]).unwrap()
}

/// The log sources the decoders give the XDR corpora's events (Panther's rule-test lines
/// unwrapped to the logs they carry).
fn corpus_logsources() -> Option<Vec<LogSource>> {
    let data = vigil_core::corpus::corpus_dir()?;
    let mut seen: Vec<LogSource> = Vec::new();
    let mut add = |ls: LogSource| {
        if !seen.contains(&ls) {
            seen.push(ls);
        }
    };
    for folder in ["zeek", "suricata", "cloudtrail", "identity", "linux"] {
        for path in corpus_files(&data.join(folder)) {
            let name = path.to_string_lossy().to_string();
            if name.ends_with("_rule_tests.jsonl") {
                for line in std::fs::read_to_string(&path).unwrap().lines() {
                    let case: serde_json::Value = serde_json::from_str(line).unwrap();
                    let log = serde_json::to_vec(&case["log"]).unwrap();
                    let _ = decode_bytes(
                        &name,
                        &log,
                        &DecodeOptions::default(),
                        &mut |e| add(e.logsource),
                        &mut |_| {},
                    );
                }
                continue;
            }
            let _ = decode_file(
                &path,
                &DecodeOptions::default(),
                &mut |e| add(e.logsource),
                &mut |_| {},
            );
        }
    }
    Some(seen)
}

/// `decoder_for` agrees with the decoders: every rule that routes to some event of the
/// corpora (by its own logsource or a logsource target of the built-in mapping) is one it says
/// has a decoder, and every log source the decoders emit that a SigmaHQ rule targets is
/// covered.
#[test]
fn decoder_model_matches_the_corpora() {
    let (Some(sigma), Some(seen)) = (
        vigil_core::corpus::corpus_path("sigma/rules"),
        corpus_logsources(),
    ) else {
        return;
    };
    let mapping = LogsourceMapping::builtin();
    let mut routed: BTreeMap<String, usize> = BTreeMap::new();
    for folder in FOLDERS {
        let loaded = rules(&sigma.join(folder));
        for rule in loaded.engine.rules() {
            let targets = mapping
                .resolve(&rule.logsource)
                .map(|r| r.targets)
                .unwrap_or_default();
            let reached = seen.iter().filter(|ls| {
                ls.satisfies(&rule.logsource)
                    || targets
                        .iter()
                        .filter_map(|t| t.event_logsource.as_ref())
                        .any(|target| ls.satisfies(target))
            });
            for event_ls in reached {
                assert!(
                    decoder_for(&rule.logsource).is_ok(),
                    "{}: {} routes to `{event_ls}` events but is said to have no decoder",
                    rule.location,
                    rule.logsource
                );
                *routed.entry(event_ls.to_string()).or_default() += 1;
            }
        }
    }
    eprintln!("{routed:#?}");
    for ls in [
        "product: aws, service: cloudtrail",
        "product: azure, service: auditlogs",
        "product: azure, service: signinlogs",
        "product: okta, service: okta",
        "product: zeek, service: dce_rpc",
        "product: linux, service: auditd",
        "product: linux, service: sshd",
        "product: linux, category: process_creation, service: sysmon",
        "product: linux, category: network_connection, service: sysmon",
        "product: linux, category: file_event, service: sysmon",
        "product: zeek, service: http",
        "product: zeek, service: dns",
        "product: suricata, service: http",
        "product: suricata, service: dns",
    ] {
        assert!(
            routed.contains_key(ls),
            "no rule routes to `{ls}`: {routed:?}"
        );
    }
}
