//! `majmin metrics` — placeholder while the command is being built in this change.

use crate::context::Context;
use crate::error::CliError;

/// Options of `majmin metrics`.
#[derive(Debug, clap::Args, serde::Serialize)]
pub struct Args {}

/// Runs the command.
pub fn run(_args: &Args, _ctx: &Context) -> Result<(), CliError> {
    Err(CliError::run("`majmin metrics` is not available in this build"))
}
