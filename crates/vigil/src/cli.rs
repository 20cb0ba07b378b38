//! Command-line interface definition.

use std::path::PathBuf;

use clap::builder::{PossibleValue, PossibleValuesParser, TypedValueParser};
use clap::{Args, Parser, Subcommand, ValueEnum};
use vigil_core::Level;
use vigil_ingest::Format;

/// Vigil — threat management in one binary.
///
/// Hunt Windows, network (Zeek, Suricata), cloud, identity and Linux logs with the whole SigmaHQ
/// rule set, test and lint rules, and measure throughput.
#[derive(Parser, Debug)]
#[command(name = "vigil", version, about, long_about = None)]
pub struct Cli {
    /// Configuration file (TOML). Default: $VIGIL_CONFIG, else ./vigil.toml when present.
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Hunt log files and directories with Sigma rules.
    ///
    /// Each file's format is sniffed (or forced with --input-format): Windows EVTX; JSON in any
    /// framing (NDJSON, single, concatenated, arrays, CloudTrail envelopes) holding Windows
    /// renderings (evtx_dump, OTRF, Winlogbeat/ECS), CloudTrail, Okta, Entra ID/Azure, Auth0 or
    /// any other records; Zeek TSV and JSON; Suricata EVE; Linux auditd; syslog (RFC 3164/5424);
    /// any of them gzip-compressed. Generic JSON gets a logsource from the configuration's
    /// [[ingest.json_logsource]] rules. Detections go to stdout (or --output); the summary (per
    /// format and per logsource) and any decode warnings go to stderr.
    Hunt(HuntArgs),
    /// Work with rule sets: regression tests and linting.
    Rules {
        #[command(subcommand)]
        command: RulesCommand,
    },
    /// Measure end-to-end throughput.
    Bench {
        #[command(subcommand)]
        command: BenchCommand,
    },
    /// Run continuously: ingest over HTTP, syslog and watched files into a durable journal,
    /// detect as events arrive, keep alerts, serve the authenticated API.
    ///
    /// Starts on the embedded default: data in ./vigil-data, API on http://127.0.0.1:8080.
    /// The first start prints a one-time admin token on stdout. Stop with Ctrl-C or SIGTERM.
    Serve(ServeArgs),
    /// Hunt with SQL over the event lake (table `events`), on a data directory or a running
    /// server.
    ///
    /// Directly: `vigil query --data DIR "SELECT …"` (works while the server runs). Remote:
    /// `vigil query --server http://HOST:PORT --token T "SELECT …"` (analyst role).
    Query(QueryArgs),
    /// Retro-hunt: run Sigma rules over events already in the event lake, on a data directory
    /// or a running server.
    ///
    /// Directly: `vigil retrohunt --data DIR --rules PATH [--rule-id ID]… [--from T] [--to T]`.
    /// Remote: `vigil retrohunt --server URL --token T` runs the server's enabled rules, or
    /// `--rule-id ID`… of them, or the rule of `--rules FILE` (analyst role). Detections go to
    /// stdout as JSON lines (not stored as alerts); per-rule counts go to stderr.
    Retrohunt(RetroHuntArgs),
    /// MITRE ATT&CK: which techniques a rule set covers, as a table, JSON or a Navigator layer.
    Attack {
        #[command(subcommand)]
        command: AttackCommand,
    },
    /// Threat intel on a running server: import feeds, list them, export indicators.
    Intel {
        #[command(subcommand)]
        command: IntelCommand,
    },
    /// The asset inventory risk scoring and incidents use (`<data>/assets.json`).
    Assets {
        #[command(subcommand)]
        command: AssetsCommand,
    },
    /// Manage API tokens (stored hashed in the data directory).
    Token {
        #[command(subcommand)]
        command: TokenCommand,
    },
    /// Check the tamper-evident audit log.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// Configuration helpers.
    Config {
        #[command(subcommand)]
        command: ConfigCommand,
    },
}

/// Where rules come from (shared by several subcommands).
#[derive(Args, Debug, Clone, Default)]
pub struct RuleArgs {
    /// Rule file or directory (repeatable). Default: the `rules.paths` of the configuration.
    #[arg(long = "rules", short = 'r', value_name = "DIR")]
    pub rules: Vec<PathBuf>,
    /// YAML file with placeholder values for `|expand` (overrides the configuration).
    #[arg(long, value_name = "FILE")]
    pub placeholders: Option<PathBuf>,
    /// Extra logsource mapping file (repeatable), extending the built-in Windows mapping.
    #[arg(long = "mapping", value_name = "FILE")]
    pub mappings: Vec<PathBuf>,
}

#[derive(Args, Debug)]
pub struct HuntArgs {
    /// Files or directories to hunt (directories are walked recursively).
    #[arg(required = true, value_name = "PATH")]
    pub paths: Vec<PathBuf>,
    #[command(flatten)]
    pub rules: RuleArgs,
    /// Threat-intel feed file or directory (repeatable): STIX 2.1 bundles, MISP events, CSV
    /// (abuse.ch presets) or one-indicator-per-line lists. Every event's hosts, IPs, domains,
    /// URLs, hashes… are matched against them; a hit is a detection `intel:<kind>:<value>`.
    #[arg(long = "intel", value_name = "PATH")]
    pub intel: Vec<PathBuf>,
    /// Report only detections at or above this level.
    #[arg(long, value_name = "LEVEL", value_parser = parse_level)]
    pub min_level: Option<Level>,
    /// Output format of the detections.
    #[arg(long, value_enum, default_value_t = OutputFormat::Table)]
    pub format: OutputFormat,
    /// Decode every input file as FORMAT instead of sniffing it. A file that cannot be FORMAT
    /// at all is reported and skipped; a record of it that FORMAT cannot read (a non-Okta
    /// record under `okta`, a line that is not auditd under `auditd`) is a counted warning.
    #[arg(long, value_name = "FORMAT", value_parser = input_format_parser())]
    pub input_format: Option<Format>,
    /// Write detections to FILE instead of stdout.
    #[arg(long, short = 'o', value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Worker threads (default: configuration, else one per core).
    #[arg(long, short = 'j', value_name = "N")]
    pub threads: Option<usize>,
    /// Print every decode warning (by default the first 20 and a count).
    #[arg(long)]
    pub all_warnings: bool,
}

#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputFormat {
    /// Aligned columns for people.
    Table,
    /// One JSON object per detection.
    Jsonl,
    /// Comma-separated values with a header.
    Csv,
}

#[derive(Subcommand, Debug)]
pub enum RulesCommand {
    /// Run SigmaHQ-style regression cases (info.yml + .evtx + .json) under DIR.
    ///
    /// A case passes when its rule fires at least `match_count` times on the EVTX and on its
    /// JSON rendering. Without --rules, the rule folders beside DIR (DIR/../rules*) are used.
    Test {
        /// Directory holding regression cases (e.g. sigma/regression_data).
        #[arg(value_name = "DIR")]
        dir: PathBuf,
        #[command(flatten)]
        rules: RuleArgs,
    },
    /// Load rules and print the load report: loaded, rejected and why.
    Lint {
        /// Rule files or directories.
        #[arg(required = true, value_name = "DIR")]
        paths: Vec<PathBuf>,
        /// YAML file with placeholder values for `|expand`.
        #[arg(long, value_name = "FILE")]
        placeholders: Option<PathBuf>,
        /// Extra logsource mapping file (repeatable).
        #[arg(long = "mapping", value_name = "FILE")]
        mappings: Vec<PathBuf>,
        /// Print every rejection (by default grouped counts and the first 50).
        #[arg(long, short = 'v')]
        verbose: bool,
    },
}

#[derive(Subcommand, Debug)]
pub enum BenchCommand {
    /// Decode-only vs decode+detect on the same input in the same run, and their ratio.
    Hunt {
        #[arg(required = true, value_name = "PATH")]
        paths: Vec<PathBuf>,
        #[command(flatten)]
        rules: RuleArgs,
        /// Worker threads (default: one per core).
        #[arg(long, short = 'j', value_name = "N")]
        threads: Option<usize>,
        /// Paired repetitions (decode-only then decode+detect); best times and the median ratio are reported.
        #[arg(long, default_value_t = 5)]
        runs: usize,
    },
    /// Sustained durable ingest and ingest→alert latency of a real `vigil serve`.
    ///
    /// Starts this binary's `serve` as a child process on a temporary data directory, then:
    /// appends the request bodies straight to a journal (the baseline); POSTs --events
    /// generated Windows events as fast as they are acknowledged and waits until detection
    /// has seen them all (events/s acknowledged and end to end); sends --rate events/s for
    /// --seconds with one marker event per body and times each marker until its alert is
    /// listed by the API (p50/p90/p99/max). Reports the server's CPU and peak memory.
    Serve(BenchServeArgs),
}

/// Options of `vigil bench serve`.
#[derive(Args, Debug)]
pub struct BenchServeArgs {
    #[command(flatten)]
    pub rules: RuleArgs,
    /// Events of the throughput phase (0 skips it and the baseline; then give --rate).
    #[arg(long, default_value_t = 2_000_000)]
    pub events: u64,
    /// Events per request body.
    #[arg(long, default_value_t = 1000)]
    pub batch: usize,
    /// Concurrent HTTP clients (and journal appenders in the baseline).
    #[arg(long, default_value_t = 4)]
    pub clients: usize,
    /// Load of the latency phase in events/s. Default: half the end-to-end rate measured in
    /// the throughput phase.
    #[arg(long, value_name = "EVENTS_PER_SEC")]
    pub rate: Option<u64>,
    /// Length of the latency phase in seconds.
    #[arg(long, default_value_t = 30)]
    pub seconds: u64,
    /// Interval between two alert listings while timing markers, in milliseconds.
    #[arg(long, default_value_t = 5)]
    pub poll_ms: u64,
    /// Where the temporary data directories go (default: the system's temporary directory);
    /// put it on the disk whose durability you want measured.
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
    /// Print the figures as one JSON document instead of lines for people.
    #[arg(long)]
    pub json: bool,
}

#[derive(Args, Debug)]
pub struct ServeArgs {
    /// Data directory (journal, state database, tokens, audit log). Default: configuration,
    /// else ./vigil-data.
    #[arg(long, value_name = "DIR")]
    pub data: Option<PathBuf>,
    /// Address to listen on (port 0 picks one). Default: configuration, else 127.0.0.1:8080.
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<std::net::SocketAddr>,
    #[command(flatten)]
    pub rules: RuleArgs,
    /// Load the project's demo data (a generated attack scenario) once the server is up.
    #[arg(long)]
    pub demo: bool,
}

#[derive(Args, Debug)]
pub struct QueryArgs {
    /// The SQL (`SELECT … FROM events …`).
    #[arg(value_name = "SQL")]
    pub sql: String,
    #[command(flatten)]
    pub data: DataArgs,
    /// Ask a running server instead of reading the data directory.
    #[arg(long, value_name = "URL")]
    pub server: Option<String>,
    /// Bearer token for --server (default: $VIGIL_TOKEN).
    #[arg(long, value_name = "TOKEN")]
    pub token: Option<String>,
    /// Rows returned at most.
    #[arg(long, default_value_t = 10_000)]
    pub max_rows: usize,
    /// Output: one JSON object per row, or the whole answer as one JSON document.
    #[arg(long, value_enum, default_value_t = QueryOutput::Jsonl)]
    pub output: QueryOutput,
}

#[derive(Subcommand, Debug)]
pub enum AssetsCommand {
    /// Check an inventory (CSV with a header row, or JSON) and make it the data directory's.
    ///
    /// Columns/fields: hostname and/or id, ips (`;`-separated), owner, business_unit,
    /// criticality (1–5, required), tags (`;`-separated: crown-jewel, internet-facing,
    /// domain-controller, …), depends_on (ids). Any problem is reported with its line and
    /// nothing is changed. A running server picks the new inventory up at once.
    Import {
        #[arg(value_name = "FILE")]
        file: PathBuf,
        #[command(flatten)]
        data: DataArgs,
    },
}

#[derive(Args, Debug)]
pub struct RetroHuntArgs {
    #[command(flatten)]
    pub rules: RuleArgs,
    /// Only these rules of the rule set, by id (or title for rules without one); repeatable.
    #[arg(long = "rule-id", value_name = "ID")]
    pub rule_ids: Vec<String>,
    /// Events with time at or after this instant (RFC 3339, e.g. 2026-12-01T00:00:00Z).
    #[arg(long, value_name = "TIME")]
    pub from: Option<String>,
    /// Events with time before this instant (RFC 3339).
    #[arg(long, value_name = "TIME")]
    pub to: Option<String>,
    /// Only events that arrived under this source tag.
    #[arg(long, value_name = "TAG")]
    pub source: Option<String>,
    /// Report only detections at or above this level.
    #[arg(long, value_name = "LEVEL", value_parser = parse_level)]
    pub min_level: Option<Level>,
    /// Detections printed at most (all are counted).
    #[arg(long, default_value_t = 1_000)]
    pub max_matches: usize,
    /// Threat-intel feed file or directory to match the stored events against too (repeatable;
    /// on a data directory).
    #[arg(long = "intel", value_name = "PATH")]
    pub intel: Vec<PathBuf>,
    /// With --server: match the stored events against the server's own intel feeds too.
    #[arg(long)]
    pub server_intel: bool,
    #[command(flatten)]
    pub data: DataArgs,
    /// Ask a running server instead of reading the data directory.
    #[arg(long, value_name = "URL")]
    pub server: Option<String>,
    /// Bearer token for --server (default: $VIGIL_TOKEN).
    #[arg(long, value_name = "TOKEN")]
    pub token: Option<String>,
}

#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueryOutput {
    /// One JSON object per row.
    Jsonl,
    /// `{columns, rows, row_count, truncated}`.
    Json,
}

#[derive(Subcommand, Debug)]
pub enum AttackCommand {
    /// Coverage of the Enterprise matrix by the rules: per tactic, covered techniques, the
    /// uncovered ones and tags naming nothing in the catalogue.
    Coverage {
        /// MITRE's Enterprise ATT&CK STIX bundle (enterprise-attack.json, gzip or not), from
        /// github.com/mitre-attack/attack-stix-data.
        #[arg(long, value_name = "FILE")]
        catalog: PathBuf,
        #[command(flatten)]
        rules: RuleArgs,
        /// Also write an ATT&CK Navigator layer (format 4.5) to this file.
        #[arg(long, value_name = "FILE")]
        layer: Option<PathBuf>,
        /// Print the whole report as JSON instead of the table.
        #[arg(long)]
        json: bool,
    },
}

/// A running server and the token to use.
#[derive(Args, Debug, Clone)]
pub struct ServerArgs {
    /// The server's URL (`http://127.0.0.1:8080`).
    #[arg(long, value_name = "URL")]
    pub server: String,
    /// Bearer token (default: $VIGIL_TOKEN).
    #[arg(long, value_name = "TOKEN")]
    pub token: Option<String>,
}

#[derive(Subcommand, Debug)]
pub enum IntelCommand {
    /// Import a feed file or URL (STIX 2.1 bundle, MISP event, CSV, plain list; format told
    /// from the content) into a named feed of the server. A URL (http or https) is fetched by
    /// this command and its body imported like a file. New indicators are searched for in
    /// the server's stored events at once.
    Import {
        /// A file, or an `http://` / `https://` URL.
        #[arg(value_name = "FILE|URL")]
        source: String,
        /// The feed's name (default for a URL: its host).
        #[arg(long)]
        feed: Option<String>,
        /// For an https URL: a PEM file of CA certificates to trust besides the system's
        /// (a feed served with a private CA's certificate).
        #[arg(long, value_name = "PEM")]
        ca_file: Option<PathBuf>,
        /// Make this file the feed's whole content (drop indicators only its earlier imports
        /// named).
        #[arg(long)]
        replace: bool,
        #[command(flatten)]
        server: ServerArgs,
    },
    /// The server's feeds: indicators, rejections, last import, automatic retro-hunts.
    Feeds {
        #[command(flatten)]
        server: ServerArgs,
    },
    /// Export the indicators in force as a STIX 2.1 bundle (with sightings), a plain
    /// blocklist of one kind, or an nftables script of address sets.
    Export {
        #[arg(long, value_enum, default_value_t = ExportFormat::Stix)]
        format: ExportFormat,
        /// For `text`: the kind listed (ipv4, domain, url, sha256, …).
        #[arg(long)]
        kind: Option<String>,
        /// Only indicators whose current confidence is at least this.
        #[arg(long)]
        min_confidence: Option<u8>,
        /// For `nftables`: the table name.
        #[arg(long)]
        table: Option<String>,
        /// Write here instead of stdout.
        #[arg(long, value_name = "FILE")]
        output: Option<PathBuf>,
        #[command(flatten)]
        server: ServerArgs,
    },
}

#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportFormat {
    Stix,
    Text,
    Nftables,
}

/// Where a data directory is, for commands that work on one offline.
#[derive(Args, Debug, Clone)]
pub struct DataArgs {
    /// Data directory. Default: configuration, else ./vigil-data.
    #[arg(long, value_name = "DIR")]
    pub data: Option<PathBuf>,
}

#[derive(Subcommand, Debug)]
pub enum TokenCommand {
    /// Create a token; prints only the token on stdout.
    Create {
        #[command(flatten)]
        data: DataArgs,
        /// viewer (read), analyst (triage, hunt, ingest), responder (act), admin (everything).
        #[arg(long, value_name = "ROLE")]
        role: String,
        /// A note saying who or what uses the token.
        #[arg(long, default_value = "")]
        label: String,
        /// Expire after this many days (default: never).
        #[arg(long, value_name = "DAYS")]
        expires_days: Option<u32>,
    },
    /// List tokens (ids, roles, labels; never the secrets).
    List {
        #[command(flatten)]
        data: DataArgs,
    },
    /// Revoke a token by id.
    Revoke {
        #[command(flatten)]
        data: DataArgs,
        #[arg(value_name = "ID")]
        id: String,
    },
}

#[derive(Subcommand, Debug)]
pub enum AuditCommand {
    /// Verify the audit log's hash chain; exits 1 naming the first tampered line.
    Verify {
        #[command(flatten)]
        data: DataArgs,
    },
}

#[derive(Subcommand, Debug)]
pub enum ConfigCommand {
    /// Print the default configuration with every setting.
    Default,
}

/// `--input-format` names: those of [`Format::SELECTABLE`], `entra` also for `azure`.
fn input_format_parser() -> impl TypedValueParser<Value = Format> {
    let names = Format::SELECTABLE.map(|f| {
        let value = PossibleValue::new(f.name());
        if f == Format::Azure {
            value.alias("entra")
        } else {
            value
        }
    });
    PossibleValuesParser::new(names).try_map(|s| s.parse::<Format>())
}

fn parse_level(s: &str) -> Result<Level, String> {
    s.parse::<Level>().map_err(|e| e.to_string())
}
