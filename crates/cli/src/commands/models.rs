//! `majmin models list`: the architecture registry with exact parameter counts.

use majmin_data::error::thousands;
use majmin_models::Registry;
use serde::Serialize;

use crate::context::Context;
use crate::error::CliError;
use crate::output::print_json;

/// Options of `majmin models`.
#[derive(Debug, clap::Args, serde::Serialize)]
pub struct Args {
    /// What to do.
    #[command(subcommand)]
    pub command: ModelsCommand,
}

/// Subcommands of `majmin models`.
#[derive(Debug, clap::Subcommand, serde::Serialize)]
pub enum ModelsCommand {
    /// Built-in and plugin architectures with their exact parameter counts (10 classes, 3×32×32).
    List,
}

/// One line of `models list --json`.
#[derive(Debug, Serialize)]
struct Row {
    name: String,
    params: Option<usize>,
    source: String,
    poster_size: Option<String>,
    description: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

/// The registry every command uses: the built-in architectures (plugins from `ctx.plugins` are
/// added by the plugin loader).
pub fn registry(ctx: &Context) -> Result<Registry, CliError> {
    ctx.registry()
}

/// Runs the command.
pub fn run(args: &Args, ctx: &Context) -> Result<(), CliError> {
    match args.command {
        ModelsCommand::List => list(ctx),
    }
}

fn list(ctx: &Context) -> Result<(), CliError> {
    let registry = registry(ctx)?;
    let rows: Vec<Row> = registry
        .list()
        .into_iter()
        .map(|s| Row {
            name: s.name,
            params: s.params.as_ref().ok().copied(),
            error: s.params.as_ref().err().map(|e| e.to_string()),
            source: s.source.to_string(),
            poster_size: s.poster_size,
            description: s.description,
        })
        .collect();
    if ctx.json {
        return print_json(&rows);
    }
    // Column widths fit the longest name and source (plugin sources read `plugin:NAME`).
    let name_w = rows
        .iter()
        .map(|r| r.name.chars().count())
        .fold(14, usize::max);
    let source_w = rows
        .iter()
        .map(|r| r.source.chars().count())
        .fold(10, usize::max);
    println!(
        "{:<name_w$} {:>12}  {:>6}  {:<source_w$} structure",
        "name", "params", "poster", "source"
    );
    for r in &rows {
        let params = match (r.params, &r.error) {
            (Some(p), _) => thousands(p as u64),
            (None, Some(e)) => format!("error: {e}"),
            (None, None) => "?".into(),
        };
        println!(
            "{:<name_w$} {:>12}  {:>6}  {:<source_w$} {}",
            r.name,
            params,
            r.poster_size.as_deref().unwrap_or("-"),
            r.source,
            r.description
        );
    }
    println!("(parameter counts for 10 classes and 3×32×32 input; ResNet-50 with 10 classes has 23.5M, the poster rounds to 25M)");
    Ok(())
}
