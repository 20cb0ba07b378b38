//! `vigil query`: SQL over the event lake, directly on a data directory or through a server.

use std::io::Write;
use std::process::ExitCode;

use anyhow::Result;
use serde_json::Value;
use vigil_store::lake::QueryLimits;

use crate::cli::{QueryArgs, QueryOutput};
use crate::config::Config;

pub fn run(args: QueryArgs, config: &Config) -> Result<ExitCode> {
    let answer = match &args.server {
        Some(url) => remote(url, &args)?,
        None => {
            let lake = super::open_lake(&args.data.data, config)?;
            let limits = QueryLimits {
                max_rows: args.max_rows.max(1),
                ..QueryLimits::default()
            };
            lake.query_blocking(&args.sql, &limits)?.to_json()?
        }
    };
    let mut out = std::io::stdout().lock();
    match args.output {
        QueryOutput::Json => writeln!(out, "{answer}")?,
        QueryOutput::Jsonl => {
            for row in answer["rows"].as_array().into_iter().flatten() {
                writeln!(out, "{row}")?;
            }
        }
    }
    eprintln!(
        "{} rows{}",
        answer["row_count"],
        if answer["truncated"] == true {
            " (truncated: raise --max-rows or narrow the query)"
        } else {
            ""
        }
    );
    Ok(ExitCode::SUCCESS)
}

fn remote(url: &str, args: &QueryArgs) -> Result<Value> {
    super::post_to_server(
        url,
        &args.token,
        "/api/v1/query",
        &serde_json::json!({ "sql": args.sql, "max_rows": args.max_rows }),
        // reqwest's default; the server's own query limit is 30 s.
        Some(std::time::Duration::from_secs(30)),
    )
}
