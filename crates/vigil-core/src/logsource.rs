//! Where an event belongs in Sigma's logsource taxonomy.

use serde::{Deserialize, Serialize};

/// Sigma's `logsource` triple. Decoders fill what they know (`product: windows` plus the
/// channel for Windows logs; `product: zeek, service: dns` for a Zeek DNS log); rules carry the
/// one they target. All names are lowercase.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct LogSource {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub product: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
}

impl LogSource {
    /// A logsource with only `product` set.
    pub fn product(product: &str) -> Self {
        LogSource {
            product: Some(product.to_ascii_lowercase()),
            ..Default::default()
        }
    }

    /// Builder: sets `service`.
    pub fn with_service(mut self, service: &str) -> Self {
        self.service = Some(service.to_ascii_lowercase());
        self
    }

    /// Builder: sets `category`.
    pub fn with_category(mut self, category: &str) -> Self {
        self.category = Some(category.to_ascii_lowercase());
        self
    }

    /// True when every part set in `rule` equals this event's part (Sigma's logsource
    /// semantics: an unset rule part matches anything).
    pub fn satisfies(&self, rule: &LogSource) -> bool {
        fn part(event: &Option<String>, rule: &Option<String>) -> bool {
            match rule {
                None => true,
                Some(r) => event.as_deref() == Some(r.as_str()),
            }
        }
        part(&self.product, &rule.product)
            && part(&self.category, &rule.category)
            && part(&self.service, &rule.service)
    }
}

impl std::fmt::Display for LogSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut first = true;
        for (k, v) in [
            ("product", &self.product),
            ("category", &self.category),
            ("service", &self.service),
        ] {
            if let Some(v) = v {
                if !first {
                    f.write_str(", ")?;
                }
                write!(f, "{k}: {v}")?;
                first = false;
            }
        }
        if first {
            f.write_str("(any)")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unset_rule_parts_match_anything() {
        let event = LogSource::product("windows").with_service("security");
        assert!(event.satisfies(&LogSource::product("windows")));
        assert!(event.satisfies(&LogSource::default()));
        assert!(!event.satisfies(&LogSource::product("linux")));
        assert!(!event.satisfies(&LogSource::product("windows").with_category("process_creation")));
        assert_eq!(event.to_string(), "product: windows, service: security");
    }
}
