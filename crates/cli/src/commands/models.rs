//! `majmin models` — placeholder while the command is being built in this change.

use crate::context::Context;
use crate::error::CliError;

/// Options of `majmin models`.
#[derive(Debug, clap::Args, serde::Serialize)]
pub struct Args {}

/// Runs the command.
pub fn run(_args: &Args, _ctx: &Context) -> Result<(), CliError> {
    Err(CliError::run("`majmin models` is not available in this build"))
}
