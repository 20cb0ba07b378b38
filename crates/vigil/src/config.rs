//! The configuration file: one TOML file, every setting with a default.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use vigil_ingest::LogsourceRule;

/// All settings. `vigil config default` prints this with its defaults.
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub rules: RulesConfig,
    pub hunt: HuntConfig,
    pub ingest: IngestConfig,
    /// `vigil serve`: where it listens, its data directory, request limits, TLS.
    pub serve: vigil_server::ServeConfig,
    /// `vigil serve`: detection, dedup, back-pressure, syslog listeners, watched files.
    pub monitor: vigil_monitor::MonitorConfig,
}

/// How input is read.
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct IngestConfig {
    /// Logsource rules for generic JSON records, tried in order (first match wins); a rule
    /// that can never apply is an error naming its line.
    pub json_logsource: Vec<LogsourceRule>,
}

/// Where rules come from.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RulesConfig {
    /// Rule files/directories used when `--rules` is not given.
    pub paths: Vec<PathBuf>,
    /// YAML map of placeholder name → values, for rules using `|expand`.
    pub placeholders: Option<PathBuf>,
    /// Extra logsource mapping files, extending the built-in one.
    pub mappings: Vec<PathBuf>,
}

/// Defaults for `vigil hunt`.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HuntConfig {
    /// Worker threads; 0 = one per core.
    pub threads: usize,
    /// Lowest level reported.
    pub min_level: String,
}

impl Default for HuntConfig {
    fn default() -> Self {
        HuntConfig {
            threads: 0,
            min_level: "informational".into(),
        }
    }
}

impl Config {
    /// Loads `explicit`, else `$VIGIL_CONFIG`, else `./vigil.toml` if present, else defaults.
    /// Relative paths inside the file are resolved against the file's folder.
    pub fn load(explicit: Option<&Path>) -> Result<Config> {
        let path = explicit
            .map(Path::to_path_buf)
            .or_else(|| std::env::var_os("VIGIL_CONFIG").map(PathBuf::from))
            .or_else(|| {
                let p = PathBuf::from("vigil.toml");
                p.is_file().then_some(p)
            });
        let Some(path) = path else {
            return Ok(Config::default());
        };
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("reading configuration {}", path.display()))?;
        let mut config: Config = toml::from_str(&text)
            .with_context(|| format!("in configuration {}", path.display()))?;
        let base = path.parent().unwrap_or(Path::new("."));
        let resolve = |p: &mut PathBuf| {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        };
        config.rules.paths.iter_mut().for_each(resolve);
        config.rules.mappings.iter_mut().for_each(resolve);
        if let Some(p) = config.rules.placeholders.as_mut() {
            resolve(p);
        }
        Ok(config)
    }

    /// The default configuration as commented TOML.
    pub fn default_toml() -> String {
        let body = toml::to_string_pretty(&Config::default()).unwrap_or_default();
        format!(
            "# Vigil configuration. Every setting is shown with its default.\n\
             # [rules] paths: rule folders used when --rules is not given, e.g.\n\
             #   paths = [\"/opt/sigma/rules\", \"/opt/sigma/rules-emerging-threats\"]\n\
             # [rules] placeholders: YAML file of placeholder values for |expand.\n\
             # [rules] mappings: extra logsource mapping files.\n\
             # [hunt] threads: 0 = one per core. min_level: informational|low|medium|high|critical.\n\
             # [ingest] json_logsource: logsource rules for generic JSON (records no built-in\n\
             #   decoder recognises), tried in order, first match wins. Each rule has `when` =\n\
             #   {{ field = NAME, equals = VALUE | prefix = TEXT | exists = true|false }}\n\
             #   (flattened names, case-sensitive), at least one of product/service/category,\n\
             #   optionally time_field = NAME, and override = true to win over the built-in\n\
             #   CloudTrail/Okta/Azure/Auth0 recognisers. E.g.\n\
             #   [[ingest.json_logsource]]\n\
             #   when = {{ field = \"source\", equals = \"myapp\" }}\n\
             #   product = \"myapp\"\n\
             #   service = \"audit\"\n\
             #   time_field = \"ts\"\n\
             # [serve] listen, data_dir, [serve.limits], optional [serve.tls] cert/key (PEM).\n\
             # [monitor] min_level, dedup_window_secs (0 = every hit its own alert),\n\
             #   max_lag_units, max_lag_bytes (429 / slow-down beyond either), batch_units,\n\
             #   journal_max_age_hours;\n\
             #   [monitor.lake] enabled, flush_secs, flush_rows, retention_days (0 = forever),\n\
             #   retention_days_per_source = {{ \"http:edr\" = 90 }}, maintenance_secs;\n\
             #   [monitor.syslog] udp = \"127.0.0.1:5514\", tcp = \"127.0.0.1:5514\", max_message_bytes;\n\
             #   [[monitor.files]] name = \"auth\", path = \"/var/log/auth.log\", pattern, format.\n\n{body}"
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_round_trips() {
        let text = Config::default_toml();
        let parsed: Config = toml::from_str(&text).unwrap();
        assert_eq!(parsed.hunt.threads, 0);
        assert!(parsed.rules.paths.is_empty());
    }

    #[test]
    fn json_logsource_rules_load_and_bad_ones_name_their_line() {
        let text = "[[ingest.json_logsource]]\n\
                    when = { field = \"source\", equals = \"myapp\" }\n\
                    product = \"MyApp\"\n\
                    time_field = \"ts\"\n";
        let config: Config = toml::from_str(text).unwrap();
        let rule = &config.ingest.json_logsource[0];
        assert_eq!(rule.logsource.product.as_deref(), Some("myapp"));
        assert_eq!(rule.time_field.as_deref(), Some("ts"));
        let bad = "[hunt]\nthreads = 1\n\n[[ingest.json_logsource]]\n\
                   when = { field = \"source\" }\nproduct = \"x\"\n";
        let err = toml::from_str::<Config>(bad).unwrap_err().to_string();
        assert!(err.contains("line 5, column 8"), "{err}");
        assert!(
            err.contains("needs one of `equals`, `prefix` or `exists`"),
            "{err}"
        );
    }

    #[test]
    fn unknown_keys_are_errors() {
        assert!(toml::from_str::<Config>("[rules]\npaht = []\n").is_err());
    }
}
