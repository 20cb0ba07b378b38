//! Offline administration of a data directory: `vigil token …` and `vigil audit verify`.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use vigil_server::{Role, audit_log_path};

use crate::cli::{AuditCommand, DataArgs, TokenCommand};
use crate::config::Config;

fn data_dir(args: &DataArgs, config: &Config) -> PathBuf {
    args.data
        .clone()
        .unwrap_or_else(|| config.serve.data_dir.clone())
}

pub fn token(command: TokenCommand, config: &Config) -> Result<ExitCode> {
    match command {
        TokenCommand::Create {
            data,
            role,
            label,
            expires_days,
        } => {
            let role: Role = role.parse().context("--role")?;
            let expires = expires_days.map(|d| {
                jiff::Timestamp::now() + jiff::SignedDuration::from_hours(24 * i64::from(d))
            });
            let dir = data_dir(&data, config);
            std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
            let issued = vigil_server::create_token(&dir, role, &label, expires)
                .with_context(|| format!("creating a token in {}", dir.display()))?;
            eprintln!(
                "created token {} (role {}) in {}",
                issued.info.id,
                issued.info.role,
                dir.display()
            );
            println!("{}", issued.token);
        }
        TokenCommand::List { data } => {
            let dir = data_dir(&data, config);
            for t in vigil_server::list_tokens(&dir)? {
                println!("{}", serde_json::to_string(&t)?);
            }
        }
        TokenCommand::Revoke { data, id } => {
            let dir = data_dir(&data, config);
            let info = vigil_server::revoke_token(&dir, &id)?;
            eprintln!("revoked token {} (role {})", info.id, info.role);
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub fn audit(command: AuditCommand, config: &Config) -> Result<ExitCode> {
    match command {
        AuditCommand::Verify { data } => {
            let path = audit_log_path(&data_dir(&data, config));
            match vigil_server::verify(&path) {
                Ok(report) => {
                    println!(
                        "{}: intact — {} records, last seq {}, head hash {}",
                        path.display(),
                        report.records,
                        report.last_seq,
                        report.head_hash
                    );
                    Ok(ExitCode::SUCCESS)
                }
                Err(e) => {
                    println!("{}: TAMPERED or damaged: {e}", path.display());
                    Ok(ExitCode::from(1))
                }
            }
        }
    }
}
