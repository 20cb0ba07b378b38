//! `vigil hunt`.

use std::fs::File;
use std::io::{BufWriter, IsTerminal, Write};
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use indicatif::{ProgressBar, ProgressStyle};
use vigil_core::Level;
use vigil_detect::Detection;
use vigil_detect::hunt::{HuntOptions, HuntSink, HuntSummary, hunt_with};
use vigil_ingest::{DecodeError, IngestError, InputSpec, LogsourceMap, discover};

use crate::cli::HuntArgs;
use crate::config::Config;
use crate::output::DetectionWriter;

const WARNINGS_SHOWN: u64 = 20;

struct Sink {
    writer: DetectionWriter,
    write_error: Option<anyhow::Error>,
    progress: ProgressBar,
    all_warnings: bool,
    warnings: u64,
}

impl Sink {
    fn warn(&mut self, msg: String) {
        self.warnings += 1;
        if self.all_warnings || self.warnings <= WARNINGS_SHOWN {
            self.progress.suspend(|| eprintln!("warning: {msg}"));
        }
    }
}

impl HuntSink for Sink {
    fn detection(&mut self, d: &Detection) {
        if self.write_error.is_none()
            && let Err(e) = self.writer.write(d)
        {
            self.write_error = Some(e);
        }
    }
    fn decode_error(&mut self, e: &DecodeError) {
        self.warn(e.to_string());
    }
    fn file_failed(&mut self, e: &IngestError) {
        self.warn(e.to_string());
    }
    fn file_done(&mut self) {
        self.progress.inc(1);
    }
}

pub fn run(args: HuntArgs, config: &Config) -> Result<ExitCode> {
    let files = discover(&args.paths).context("listing input files")?;
    if files.is_empty() {
        bail!("no log files found under the given paths");
    }
    let rules = super::load_rules(&args.rules, config, &[])?;
    eprintln!("{}", super::load_summary(&rules));
    if rules.loaded() == 0 {
        bail!("no usable rule was loaded (see the rejections above)");
    }
    let min_level = match args.min_level {
        Some(l) => l,
        None => config
            .hunt
            .min_level
            .parse::<Level>()
            .context("hunt.min_level in the configuration")?,
    };
    let out: Box<dyn Write> = match &args.output {
        Some(p) => Box::new(BufWriter::new(
            File::create(p).with_context(|| format!("creating {}", p.display()))?,
        )),
        None => Box::new(BufWriter::new(std::io::stdout().lock())),
    };
    let progress = if std::io::stderr().is_terminal() {
        let pb = ProgressBar::new(files.len() as u64);
        pb.set_style(
            ProgressStyle::with_template("{bar:40} {pos}/{len} files {elapsed_precise} ETA {eta}")
                .expect("static template"),
        );
        pb
    } else {
        ProgressBar::hidden()
    };
    let mut sink = Sink {
        writer: DetectionWriter::new(args.format, out),
        write_error: None,
        progress,
        all_warnings: args.all_warnings,
        warnings: 0,
    };
    let intel = load_intel(&args.intel)?;
    let opts = HuntOptions {
        threads: args.threads.unwrap_or(config.hunt.threads),
        min_level,
        decode_only: false,
        intel,
    };
    let input = InputSpec {
        format: args.input_format,
        json_logsource: LogsourceMap::new(config.ingest.json_logsource.clone()),
    };
    let summary = hunt_with(&files, &rules.engine, &opts, &input, &mut sink)?;
    sink.progress.finish_and_clear();
    if let Some(e) = sink.write_error {
        return Err(e.context("writing detections"));
    }
    sink.writer.finish().context("writing detections")?;
    if sink.warnings > WARNINGS_SHOWN && !args.all_warnings {
        eprintln!(
            "… {} more warnings (use --all-warnings to see them)",
            sink.warnings - WARNINGS_SHOWN
        );
    }
    eprintln!(
        "{}\nrules: {} loaded, {} rejected",
        summary_text(&summary),
        rules.loaded(),
        rules.rejections().count()
    );
    Ok(ExitCode::SUCCESS)
}

/// The end-of-run summary: one line of totals, then a line per detected format (files,
/// events, decode errors) and per logsource (events).
pub fn summary_text(s: &HuntSummary) -> String {
    let mut text = totals_line(s);
    for (format, c) in &s.formats {
        text.push_str(&format!(
            "\n  format {format}: {} files, {} events, {} errors",
            c.files, c.events, c.errors
        ));
    }
    for (logsource, n) in &s.events_by_logsource {
        text.push_str(&format!("\n  logsource {logsource}: {n} events"));
    }
    text
}

fn totals_line(s: &HuntSummary) -> String {
    let formats: Vec<String> = s
        .events_by_format
        .iter()
        .map(|(f, n)| format!("{f}: {n}"))
        .collect();
    let levels: Vec<String> = Level::ALL
        .iter()
        .rev()
        .map(|l| {
            format!(
                "{l}: {}",
                s.detections_by_level.get(l).copied().unwrap_or(0)
            )
        })
        .collect();
    format!(
        "summary: {} files ({} failed), {} events ({}), {} decode errors, {} detections ({}) in {:.2}s, {:.0} events/s",
        s.files,
        s.files_failed,
        s.events,
        formats.join(", "),
        s.decode_errors,
        s.detections,
        levels.join(", "),
        s.elapsed.as_secs_f64(),
        s.events_per_sec()
    )
}

/// Imports the `--intel` feeds (STIX, MISP, CSV, lists) into one matcher, reporting what each
/// file gave and every rejected object on stderr. `None` without `--intel`.
pub(crate) fn load_intel(
    paths: &[std::path::PathBuf],
) -> Result<Option<std::sync::Arc<vigil_intel::Matcher>>> {
    if paths.is_empty() {
        return Ok(None);
    }
    let mut set = vigil_intel::IntelSet::new();
    for p in paths {
        let report = set
            .import_path(p)
            .with_context(|| format!("reading intel {}", p.display()))?;
        let rejected = report.rejections().count();
        eprintln!(
            "intel: {}: {} indicators added, {} merged, {rejected} rejected",
            p.display(),
            report.added(),
            report.merged()
        );
        for (file, r) in report.rejections().take(20) {
            eprintln!("intel:   {}: {}: {}", file.display(), r.location, r.reason);
        }
        if rejected > 20 {
            eprintln!("intel:   … and {} more rejections", rejected - 20);
        }
    }
    let matcher = vigil_intel::Matcher::build(&set, jiff::Timestamp::now());
    let stats = matcher.stats();
    eprintln!(
        "intel: {} live indicators ({} expired, {} revoked, {} not yet valid left out)",
        stats.live, stats.expired, stats.revoked, stats.not_yet_valid
    );
    Ok(Some(std::sync::Arc::new(matcher)))
}
