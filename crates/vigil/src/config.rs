//! The configuration file: one TOML file, every setting with a default.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

/// All settings. `vigil config default` prints this with its defaults.
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub rules: RulesConfig,
    pub hunt: HuntConfig,
}

/// Where rules come from.
#[derive(Debug, Default, Serialize, Deserialize)]
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
             # [hunt] threads: 0 = one per core. min_level: informational|low|medium|high|critical.\n\n{body}"
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
    fn unknown_keys_are_errors() {
        assert!(toml::from_str::<Config>("[rules]\npaht = []\n").is_err());
    }
}
