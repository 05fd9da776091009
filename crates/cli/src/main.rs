//! `majmin`: the command line of the majority–minority toolkit.
//!
//! Commands (SPEC §7): `theory`, `flow`, `train`, `overcost`, `metrics overcost`, `models list`,
//! `bench`, `data info`, `reproduce`. This crate alone decides formats, files and exit codes:
//! 0 success, 1 a run failed, 2 bad input or usage. User errors print one readable paragraph,
//! never a panic or a backtrace.

mod commands;
mod config;
mod context;
mod error;
mod output;
mod plan;
mod report;
mod sweep;
mod theory_report;

use std::path::PathBuf;

use clap::{ArgAction, CommandFactory, FromArgMatches, Parser, Subcommand};

use crate::context::Context;
use crate::error::{CliError, EXIT_USAGE};

/// Majority–minority model of learning with gradient methods: theory checks, gradient flow,
/// training curves per group and the catch-up overcost.
#[derive(Debug, Parser)]
#[command(
    name = "majmin",
    version,
    propagate_version = true,
    max_term_width = 100
)]
struct Cli {
    #[command(flatten)]
    global: GlobalArgs,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, clap::Args)]
struct GlobalArgs {
    /// Read options from a TOML file (keys are option names; `[train]` tables per command).
    #[arg(long, global = true, value_name = "FILE.toml")]
    config: Option<PathBuf>,
    /// Master seed of every random choice.
    #[arg(long, global = true, default_value_t = 0)]
    seed: u64,
    /// Worker threads (default: all cores).
    #[arg(long, global = true, value_name = "N", value_parser = clap::value_parser!(u64).range(1..=1024))]
    threads: Option<u64>,
    /// More log output on stderr (-v info, -vv debug, -vvv trace); RUST_LOG overrides.
    #[arg(short, long, global = true, action = ArgAction::Count)]
    verbose: u8,
    /// Only errors on stderr; no progress bars.
    #[arg(short, long, global = true)]
    quiet: bool,
    /// Machine-readable JSON on stdout where the command has it.
    #[arg(long, global = true)]
    json: bool,
    /// Plugin manifest (TOML) listing architecture libraries.
    #[arg(long, global = true, env = "MAJMIN_PLUGINS", value_name = "FILE")]
    plugins: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// The main job: the theory report and figure, then the catch-up overcost table.
    Reproduce(commands::reproduce::Args),
    /// Check the perturbation theorems on a problem: constants, assumptions, critical points, zones.
    Theory(commands::theory::Args),
    /// Integrate gradient flow on a problem and report when it leaves the majority-training zone.
    Flow(commands::flow::Args),
    /// Train one architecture at one imbalance level and record per-group curves.
    Train(commands::train::Args),
    /// Sweep architectures × ζ × seeds and tabulate the catch-up overcost.
    Overcost(commands::overcost::Args),
    /// Metrics computed from curves made anywhere.
    Metrics(commands::metrics::Args),
    /// The architecture registry (built-in and plugin architectures).
    Models(commands::models::Args),
    /// Time a training step (images/s) or the convolution kernel.
    Bench(commands::bench::Args),
    /// Inspect a data set: sizes, classes, groups and ζ.
    Data(commands::data::Args),
    /// A sweep folder shared by processes or a Slurm cluster: status, merge, one array task.
    Sweep(commands::sweep::Args),
}

fn main() {
    keep_freed_memory();
    std::process::exit(real_main());
}

/// Keeps freed blocks of up to 32 MiB in the process instead of returning them to the kernel.
///
/// A training step frees and reallocates activations and gradients of tens of megabytes at every
/// layer. With glibc's defaults each such block is unmapped (or trimmed off the heap) when freed
/// and faulted back in, page by page and zeroed by the kernel, when the next layer allocates it.
/// `majmin bench --arch resnet18` (batch 64, five steps) took 1.7 million page faults; with
/// these two settings it takes 0.4 million and runs about 25 % faster.
fn keep_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: `mallopt` only changes allocator parameters; it is called before any other thread
    // exists and the values are within glibc's documented ranges.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 32 << 20);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 1 << 30);
    }
}

fn real_main() -> i32 {
    std::panic::set_hook(Box::new(|info| {
        eprintln!(
            "majmin: internal error (this is a bug, not a problem with your input): {info}\n\
             Please report it with the command line you ran."
        );
    }));
    let raw: Vec<String> = std::env::args().collect();
    let mut command = Cli::command();
    command = override_self_everywhere(command);
    command.build();

    let first = match command.clone().try_get_matches_from(&raw) {
        Ok(m) => m,
        Err(e) => return clap_exit(e),
    };
    let argv = match with_config(&raw, &first, &command) {
        Ok(argv) => argv,
        Err(e) => return report(e),
    };
    let matches = match command.try_get_matches_from(&argv) {
        Ok(m) => m,
        Err(e) => return clap_exit(e),
    };
    let cli = match Cli::from_arg_matches(&matches) {
        Ok(c) => c,
        Err(e) => return clap_exit(e),
    };
    init_logging(cli.global.verbose, cli.global.quiet);
    if let Some(n) = cli.global.threads {
        // Ignored when a pool exists already (only in tests).
        let _ = rayon::ThreadPoolBuilder::new()
            .num_threads(n as usize)
            .build_global();
    }
    let ctx = Context {
        seed: cli.global.seed,
        threads: cli.global.threads.map(|n| n as usize),
        json: cli.global.json,
        quiet: cli.global.quiet,
        verbose: cli.global.verbose,
        plugins: cli.global.plugins.clone(),
        config: cli.global.config.clone(),
        command_line: raw,
    };
    let result = match &cli.command {
        Command::Reproduce(a) => commands::reproduce::run(a, &ctx),
        Command::Theory(a) => commands::theory::run(a, &ctx),
        Command::Flow(a) => commands::flow::run(a, &ctx),
        Command::Train(a) => commands::train::run(a, &ctx),
        Command::Overcost(a) => commands::overcost::run(a, &ctx),
        Command::Metrics(a) => commands::metrics::run(a, &ctx),
        Command::Models(a) => commands::models::run(a, &ctx),
        Command::Bench(a) => commands::bench::run(a, &ctx),
        Command::Data(a) => commands::data::run(a, &ctx),
        Command::Sweep(a) => commands::sweep::run(a, &ctx),
    };
    match result {
        Ok(()) => 0,
        Err(e) => report(e),
    }
}

fn report(e: CliError) -> i32 {
    eprintln!("error: {}", e.message);
    e.code
}

fn clap_exit(e: clap::Error) -> i32 {
    let _ = e.print();
    match e.kind() {
        clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion => 0,
        clap::error::ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => EXIT_USAGE,
        _ => EXIT_USAGE,
    }
}

/// Repeating an option keeps the last value, so the command line overrides `--config`.
fn override_self_everywhere(cmd: clap::Command) -> clap::Command {
    let cmd = cmd.args_override_self(true);
    let names: Vec<String> = cmd
        .get_subcommands()
        .map(|s| s.get_name().to_string())
        .collect();
    names.into_iter().fold(cmd, |cmd, name| {
        cmd.mut_subcommand(name, override_self_everywhere)
    })
}

/// The argument list with the `--config` file's options placed right after the subcommand, before
/// the command line's own options (which therefore win).
fn with_config(
    raw: &[String],
    matches: &clap::ArgMatches,
    command: &clap::Command,
) -> Result<Vec<String>, CliError> {
    let Some(file) = matches.get_one::<PathBuf>("config") else {
        return Ok(raw.to_vec());
    };
    let text = std::fs::read_to_string(file).map_err(|e| error::read_error(file, e))?;
    let mut path = Vec::new();
    let mut m = matches;
    while let Some((name, sub)) = m.subcommand() {
        path.push(name.to_string());
        m = sub;
    }
    let extra = config::config_args(file, &text, command, &path)?;
    let mut rest: Vec<String> = Vec::with_capacity(raw.len());
    let mut pending = path.iter().peekable();
    for arg in &raw[1..] {
        if pending.peek().is_some_and(|p| *p == arg) {
            pending.next();
            continue;
        }
        rest.push(arg.clone());
    }
    let mut argv = vec![raw[0].clone()];
    argv.extend(path);
    argv.extend(extra);
    argv.extend(rest);
    Ok(argv)
}

fn init_logging(verbose: u8, quiet: bool) {
    use tracing_subscriber::EnvFilter;
    let level = match (quiet, verbose) {
        (true, _) => "error",
        (false, 0) => "warn",
        (false, 1) => "info",
        (false, 2) => "debug",
        _ => "trace",
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(level));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .without_time()
        .try_init();
}
