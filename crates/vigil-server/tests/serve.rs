//! `serve` itself: opens the data directory, issues the bootstrap admin on the first start
//! only, binds, and returns when the shutdown future resolves.

use vigil_server::{ServeConfig, audit_log_path, list_tokens, serve, verify};

#[tokio::test]
async fn serve_bootstraps_once_and_stops_on_the_shutdown_future() {
    let dir = tempfile::tempdir().unwrap();
    let config = ServeConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        data_dir: dir.path().join("data"),
        ..ServeConfig::default()
    };
    serve(config.clone(), async {}).await.unwrap();
    let tokens = list_tokens(&config.data_dir).unwrap();
    assert_eq!(tokens.len(), 1);
    assert_eq!(tokens[0].role, vigil_server::Role::Admin);
    serve(config.clone(), async {}).await.unwrap();
    assert_eq!(
        list_tokens(&config.data_dir).unwrap().len(),
        1,
        "second start issues none"
    );
    let report = verify(&audit_log_path(&config.data_dir)).unwrap();
    assert_eq!(report.records, 1, "the bootstrap is audited once");
}

#[tokio::test]
async fn serve_reports_a_taken_address() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let config = ServeConfig {
        listen: taken.local_addr().unwrap(),
        data_dir: dir.path().to_path_buf(),
        ..ServeConfig::default()
    };
    let err = serve(config, async {}).await.unwrap_err();
    assert!(matches!(err, vigil_server::Error::Bind { .. }), "{err}");
    assert!(
        err.to_string().contains("cannot listen on 127.0.0.1:"),
        "{err}"
    );
}

#[test]
fn default_config_is_loopback_8080_and_round_trips() {
    let c = ServeConfig::default();
    assert_eq!(c.listen.to_string(), "127.0.0.1:8080");
    assert_eq!(c.data_dir, std::path::PathBuf::from("./vigil-data"));
    assert_eq!(c.limits.max_body_bytes, 16 * 1024 * 1024);
    let json = serde_json::to_string(&c).unwrap();
    let back: ServeConfig = serde_json::from_str(&json).unwrap();
    assert_eq!(back, c);
    let partial: ServeConfig = serde_json::from_str(r#"{"listen": "0.0.0.0:9000"}"#).unwrap();
    assert_eq!(partial.limits, c.limits);
    assert!(serde_json::from_str::<ServeConfig>(r#"{"lisen": "x"}"#).is_err());
}
