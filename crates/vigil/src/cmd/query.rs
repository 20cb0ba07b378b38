//! `vigil query`: SQL over the event lake, directly on a data directory or through a server.

use std::io::Write;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use serde_json::Value;
use vigil_store::lake::{Lake, LakeConfig, QueryLimits};

use crate::cli::{QueryArgs, QueryOutput};
use crate::config::Config;

pub fn run(args: QueryArgs, config: &Config) -> Result<ExitCode> {
    let answer = match &args.server {
        Some(url) => remote(url, &args)?,
        None => {
            let data = args
                .data
                .data
                .clone()
                .unwrap_or_else(|| config.serve.data_dir.clone());
            let root = data.join("lake");
            if !root.is_dir() {
                bail!("no event lake at {} (is --data right?)", root.display());
            }
            let lake = Lake::open(root, LakeConfig::default())?;
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
    let token = args
        .token
        .clone()
        .or_else(|| std::env::var("VIGIL_TOKEN").ok())
        .context("--server needs --token or $VIGIL_TOKEN")?;
    let resp = reqwest::blocking::Client::new()
        .post(format!("{}/api/v1/query", url.trim_end_matches('/')))
        .bearer_auth(token)
        .json(&serde_json::json!({ "sql": args.sql, "max_rows": args.max_rows }))
        .send()
        .with_context(|| format!("POST {url}/api/v1/query"))?;
    let status = resp.status();
    let body: Value = resp.json().context("reading the answer")?;
    if !status.is_success() {
        bail!(
            "{status}: {}",
            body["error"]["message"].as_str().unwrap_or("(no message)")
        );
    }
    Ok(body)
}
