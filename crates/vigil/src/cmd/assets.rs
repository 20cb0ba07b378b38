//! `vigil assets import`: check an inventory file and install it in the data directory.

use std::io::Write;
use std::process::ExitCode;

use anyhow::{Context, Result};
use vigil_risk::AssetInventory;

use crate::cli::AssetsCommand;
use crate::config::Config;

pub fn run(command: AssetsCommand, config: &Config) -> Result<ExitCode> {
    match command {
        AssetsCommand::Import { file, data } => {
            let data = data.data.unwrap_or_else(|| config.serve.data_dir.clone());
            let inventory = match AssetInventory::import_path(&file) {
                Ok(i) => i,
                Err(errors) => {
                    for e in &errors {
                        eprintln!("vigil assets import: {e}");
                    }
                    eprintln!(
                        "vigil assets import: {} problem(s); nothing was imported",
                        errors.len()
                    );
                    return Ok(ExitCode::FAILURE);
                }
            };
            let assets: Vec<_> = inventory.assets().collect();
            let json = serde_json::to_vec_pretty(&assets)?;
            std::fs::create_dir_all(&data)
                .with_context(|| format!("creating {}", data.display()))?;
            // Written whole, then renamed over the old one: a reader never sees half a file.
            let target = data.join(vigil_monitor::assess::ASSETS_FILE);
            let temp = data.join(".assets.json.tmp");
            let mut f = std::fs::File::create(&temp)
                .with_context(|| format!("writing {}", temp.display()))?;
            f.write_all(&json)?;
            f.sync_all()?;
            std::fs::rename(&temp, &target)
                .with_context(|| format!("installing {}", target.display()))?;
            let critical = assets.iter().filter(|a| a.criticality >= 4).count();
            eprintln!(
                "vigil assets import: {} assets ({critical} of criticality 4–5) installed in {}",
                assets.len(),
                target.display()
            );
            Ok(ExitCode::SUCCESS)
        }
    }
}
