//! A scheduled feed's `ca_file` is checked when the monitor opens: a missing file or one that
//! is not PEM certificates is refused by feed and file, not found at the first pull.

use std::path::Path;
use std::sync::Arc;

use vigil_detect::load_and_compile;
use vigil_ingest::LogsourceMap;
use vigil_monitor::intel::{MispFeed, TaxiiFeed};
use vigil_monitor::{Monitor, MonitorConfig, RuleLoader};
use vigil_sigma::mapping::LogsourceMapping;
use vigil_sigma::ruleset::SigmaConfig;

fn no_rules() -> RuleLoader {
    Arc::new(|| {
        Ok(load_and_compile(
            &[],
            &SigmaConfig::default(),
            &LogsourceMapping::builtin(),
        ))
    })
}

/// Opens a monitor on `dir` with `config`; only whether (and why) it was refused matters.
fn open(dir: &Path, config: MonitorConfig) -> Result<(), String> {
    Monitor::open(dir, config, LogsourceMap::default(), no_rules(), 16 << 20)
        .map(drop)
        .map_err(|e| e.to_string())
}

#[test]
fn a_feed_ca_file_that_is_not_certificates_is_refused_at_open() {
    let dir = tempfile::tempdir().unwrap();
    let not_pem = dir.path().join("ca.pem");
    std::fs::write(&not_pem, "this is not a certificate\n").unwrap();

    let mut config = MonitorConfig::default();
    config.intel.taxii.push(TaxiiFeed {
        feed: "partner".into(),
        root: "https://127.0.0.1:1/api1/".into(),
        collection: "c".into(),
        username: None,
        password_env: None,
        interval_minutes: 60,
        page_size: None,
        ca_file: Some(not_pem.clone()),
    });
    let err = open(&dir.path().join("a"), config).expect_err("refused");
    assert!(
        err.contains("[[monitor.intel.taxii]] feed partner"),
        "{err}"
    );
    assert!(err.contains("ca.pem"), "{err}");
    assert!(err.contains("BEGIN CERTIFICATE"), "{err}");

    let mut config = MonitorConfig::default();
    config.intel.misp.push(MispFeed {
        feed: "circl".into(),
        url: "https://127.0.0.1:1/feed/".into(),
        interval_minutes: 60,
        ca_file: Some(dir.path().join("missing.pem")),
    });
    let err = open(&dir.path().join("b"), config).expect_err("refused");
    assert!(err.contains("[[monitor.intel.misp]] feed circl"), "{err}");
    assert!(
        err.contains("missing.pem") && err.contains("cannot read"),
        "{err}"
    );
}
