//! The theory part of `majmin reproduce`: majmin-theory's check on a built-in problem, written as
//! JSON, as text and as the `theory` command's figure.

use std::path::{Path, PathBuf};

use majmin_theory::{builtin, check, CheckConfig};

use crate::error::CliError;
use crate::output::{ensure_dir, write_atomic, write_json};

/// What [`write()`] produced.
#[derive(Debug)]
pub struct TheoryOutput {
    /// One line: verdict, constants and the two bounds.
    pub headline: String,
    /// The report's main numbers (docs/command-line.md `theory --json` keys).
    pub summary: serde_json::Value,
    /// Files written.
    pub files: Vec<PathBuf>,
}

/// Checks the built-in problem `name` and writes `report.json`, `report.txt` and the figure into
/// `dir`.
pub fn write(dir: &Path, name: &str) -> Result<TheoryOutput, CliError> {
    ensure_dir(dir)?;
    let config =
        builtin(name).map_err(|e| CliError::run(format!("theory problem `{name}`: {e}")))?;
    let problem = config
        .build(None)
        .map_err(|e| CliError::run(format!("theory problem `{name}`: {e}")))?;
    let report = check(&problem, &CheckConfig::default())
        .map_err(|e| CliError::run(format!("theory check of `{name}`: {e}")))?;
    let json_path = dir.join("report.json");
    write_json(&json_path, &report)?;
    let text_path = dir.join("report.txt");
    write_atomic(
        &text_path,
        crate::commands::theory::summary(&report).as_bytes(),
    )?;
    let mut files = vec![json_path, text_path];
    if problem.dim() == 2 {
        // the theory command's figure: zone, critical points, balls and a flow trajectory
        files.extend(crate::commands::theory::write_figure(
            &problem,
            &report,
            &dir.join("zone"),
        )?);
    }
    let c = report.constants;
    let headline = format!(
        "verdict {}; δ = {:.3}, c = {:.3}, M = {:.3}, τ = {:.4}; 4τ/δ = {:.3}, 2τ/δ = {:.3}; adversarial fraction {:.4}",
        report.verdict.as_str(),
        c.delta,
        c.c,
        c.m,
        c.tau,
        report.bound_critical,
        report.bound_zone,
        report.zone.adversarial_fraction
    );
    let summary = serde_json::json!({
        "problem": report.problem,
        "verdict": report.verdict,
        "constants": report.constants,
        "assumptions": report.assumptions,
        "bound_critical": report.bound_critical,
        "bound_zone": report.bound_zone,
        "theorem1_confirmed": report.theorem1.confirmed,
        "zone": report.zone,
    });
    Ok(TheoryOutput {
        headline,
        summary,
        files,
    })
}
