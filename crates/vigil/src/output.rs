//! Writing detections as a table, JSON lines or CSV.

use std::io::Write;

use anyhow::Result;
use vigil_detect::Detection;

use crate::cli::OutputFormat;

/// Streams detections in one format.
pub struct DetectionWriter {
    format: OutputFormat,
    out: Box<dyn Write>,
    csv: Option<csv::Writer<Box<dyn Write>>>,
    header_done: bool,
}

impl DetectionWriter {
    pub fn new(format: OutputFormat, out: Box<dyn Write>) -> Self {
        match format {
            OutputFormat::Csv => DetectionWriter {
                format,
                out: Box::new(std::io::sink()),
                csv: Some(csv::Writer::from_writer(out)),
                header_done: false,
            },
            _ => DetectionWriter {
                format,
                out,
                csv: None,
                header_done: false,
            },
        }
    }

    pub fn write(&mut self, d: &Detection) -> Result<()> {
        match self.format {
            OutputFormat::Jsonl => {
                serde_json::to_writer(&mut self.out, d)?;
                self.out.write_all(b"\n")?;
            }
            OutputFormat::Csv => {
                let w = self.csv.as_mut().expect("csv writer");
                if !self.header_done {
                    w.write_record([
                        "time",
                        "level",
                        "rule_id",
                        "rule_title",
                        "status",
                        "host",
                        "channel",
                        "event_id",
                        "record_id",
                        "file",
                        "tags",
                        "evidence",
                        "entities",
                    ])?;
                    self.header_done = true;
                }
                w.write_record([
                    d.time.map(|t| t.to_string()).unwrap_or_default(),
                    d.level().to_string(),
                    d.rule_id().unwrap_or_default().to_string(),
                    d.rule_title().to_string(),
                    d.status().unwrap_or_default().to_string(),
                    d.host.as_deref().unwrap_or_default().to_string(),
                    d.channel.as_deref().unwrap_or_default().to_string(),
                    d.event_id.map(|i| i.to_string()).unwrap_or_default(),
                    d.record_id.map(|i| i.to_string()).unwrap_or_default(),
                    d.file.to_string(),
                    d.tags().join(" "),
                    evidence_line(d),
                    d.entities.to_json().to_string(),
                ])?;
            }
            OutputFormat::Table => {
                if !self.header_done {
                    writeln!(
                        self.out,
                        "{:<24} {:<8} {:<15} {:>6} {:>8}  RULE / EVIDENCE",
                        "TIME", "LEVEL", "HOST", "EVENT", "RECORD"
                    )?;
                    self.header_done = true;
                }
                writeln!(
                    self.out,
                    "{:<24} {:<8} {:<15} {:>6} {:>8}  {}",
                    d.time
                        .map(|t| t.strftime("%Y-%m-%dT%H:%M:%S%.3fZ").to_string())
                        .unwrap_or_else(|| "-".into()),
                    d.level().as_str(),
                    truncate(d.host.as_deref().unwrap_or("-"), 15),
                    d.event_id
                        .map(|i| i.to_string())
                        .unwrap_or_else(|| "-".into()),
                    d.record_id
                        .map(|i| i.to_string())
                        .unwrap_or_else(|| "-".into()),
                    d.rule_title(),
                )?;
                writeln!(self.out, "{:>66}{}", "", truncate(&evidence_line(d), 200))?;
            }
        }
        Ok(())
    }

    pub fn finish(mut self) -> Result<()> {
        if let Some(mut w) = self.csv.take() {
            w.flush()?;
        }
        self.out.flush()?;
        Ok(())
    }
}

/// `selection: CommandLine='…' (contains 'x'); keywords: '…'`
fn evidence_line(d: &Detection) -> String {
    d.evidence
        .iter()
        .map(|e| match &e.field {
            Some(f) => format!("{}: {}={:?} ~ {}", e.search, f, e.value, e.pattern),
            None => format!("{}: {:?} ~ {}", e.search, e.value, e.pattern),
        })
        .collect::<Vec<_>>()
        .join("; ")
}

fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(max.saturating_sub(1)).collect();
        t.push('…');
        t
    }
}
