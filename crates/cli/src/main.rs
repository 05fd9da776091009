//! `majmin`: the command line of the majority–minority toolkit.
//!
//! Commands (docs/command-line.md): `theory`, `spectrum`, `flow`, `train`, `overcost`, `metrics overcost`, `models list`,
//! `bench`, `data info`, `reproduce`. This crate alone decides formats, files and exit codes:
//! 0 success, 1 a run failed, 2 bad input or usage. User errors print one readable paragraph,
//! never a panic or a backtrace.

mod commands;
mod config;
mod context;
mod error;
mod input;
mod output;
mod plan;
mod report;
mod sweep;
mod theory_report;

use std::ffi::{OsStr, OsString};
use std::io::IsTerminal;
use std::path::PathBuf;

use clap::parser::ValueSource;
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
    /// Hessian spectra of a network's majority, minority and total loss: extreme eigenvalues,
    /// ρmin, trace and density.
    Spectrum(commands::spectrum::Args),
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

/// Freed blocks of 32 MiB and more (glibc's largest `mmap` threshold; [`keep_freed_memory`] keeps
/// the smaller ones on its heap): up to this many bytes are kept for the next request of the same
/// size, so a training step reuses the pages of the step before instead of faulting in and
/// clearing fresh ones (activations of a ResNet-50 at batch 64 are 64 MiB).
static BLOCKS: majmin_models::BlockCache = majmin_models::BlockCache::new(32 << 20, CACHED_BYTES);

/// The most memory [`BLOCKS`] holds beyond what is in use. A step frees its large blocks during
/// its backward pass and the next forward pass takes them back, so the cache is near empty when
/// a step's memory peaks: at 1 GiB a ResNet-101 step at batch 64 faults in no fresh pages after
/// the first steps (256 MiB left it 0.6 million page faults in 3 steps; `majmin bench --arch
/// resnet50` +2.5 %, resnet101 +3.6 %, 3 alternating rounds); its peak resident memory read
/// 3,726–3,813 MiB in four runs against 3,703–3,722 with 256 MiB (PyTorch's: 3,915).
const CACHED_BYTES: usize = 1 << 30;

/// The system allocator (through [`BLOCKS`]), except that an allocation the system refuses ends the process with one
/// line and exit code 2 instead of an abort. Sizes from input are checked before allocating
/// (docs/reliability.md); this is the net under those checks, for what they cannot foresee (the activations
/// of a plugin network, a data set larger than memory).
struct ExitOnOutOfMemory;

// SAFETY: every method forwards to `BLOCKS` with the caller's arguments; only a null result
// (a refused allocation) is handled differently, by ending the process.
unsafe impl std::alloc::GlobalAlloc for ExitOnOutOfMemory {
    unsafe fn alloc(&self, layout: std::alloc::Layout) -> *mut u8 {
        // SAFETY: forwarded with the caller's guarantees.
        let p = unsafe { BLOCKS.alloc(layout) };
        if p.is_null() {
            out_of_memory(layout.size());
        }
        p
    }
    unsafe fn alloc_zeroed(&self, layout: std::alloc::Layout) -> *mut u8 {
        // SAFETY: forwarded with the caller's guarantees.
        let p = unsafe { BLOCKS.alloc_zeroed(layout) };
        if p.is_null() {
            out_of_memory(layout.size());
        }
        p
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: std::alloc::Layout) {
        // SAFETY: forwarded with the caller's guarantees.
        unsafe { BLOCKS.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: std::alloc::Layout, new_size: usize) -> *mut u8 {
        // SAFETY: forwarded with the caller's guarantees.
        let p = unsafe { BLOCKS.realloc(ptr, layout, new_size) };
        if p.is_null() {
            out_of_memory(new_size);
        }
        p
    }
}

#[global_allocator]
static ALLOCATOR: ExitOnOutOfMemory = ExitOnOutOfMemory;

/// Writes one line without allocating and exits with code 2.
fn out_of_memory(size: usize) -> ! {
    use std::io::Write as _;
    let mut buffer = [0u8; 400];
    let capacity = buffer.len();
    let mut rest = &mut buffer[..];
    let _ = writeln!(
        rest,
        "error: out of memory: the system refused {size} bytes; the sizes asked for (batch, \
         input size, width, grid, samples, data set) need more memory than this machine or \
         `ulimit -v` allows; reduce them"
    );
    let len = capacity - rest.len();
    let _ = std::io::stderr().write_all(&buffer[..len]);
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: `_exit` ends the process at once, running no destructors or handlers that could
    // allocate again.
    unsafe {
        libc::_exit(EXIT_USAGE)
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    std::process::abort()
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
        use std::io::Write as _;
        let payload = info
            .payload()
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| info.payload().downcast_ref::<&str>().copied())
            .unwrap_or_default();
        // `println!` panics when stdout cannot be written: a reader that went away (`| head`)
        // ends the output quietly, as in other command-line tools; a full disk is a failed run.
        if let Some(cause) = payload.strip_prefix("failed printing to stdout: ") {
            if cause.contains("Broken pipe") {
                std::process::exit(0);
            }
            let _ = writeln!(
                std::io::stderr(),
                "error: cannot write the output to standard output: {cause}"
            );
            std::process::exit(error::EXIT_RUN);
        }
        if payload.starts_with("failed printing to stderr") {
            std::process::exit(error::EXIT_RUN);
        }
        // `writeln!`, not `eprintln!`: a closed stderr must not panic again inside the hook
        let _ = writeln!(
            std::io::stderr(),
            "majmin: internal error (this is a bug, not a problem with your input): {info}\n\
             Please report it with the command line you ran."
        );
    }));
    // `args_os`: a path argument may be any bytes the operating system accepts.
    let raw: Vec<OsString> = std::env::args_os().collect();
    let command = cli_command();
    let raw = join_negative_values(&raw, &command);

    let argv = match with_config(&raw, &command) {
        Ok(argv) => argv,
        Err(e) => return report(e),
    };
    let matches = match command.clone().try_get_matches_from(&argv) {
        Ok(m) => m,
        Err(e) => return clap_exit(e, &argv, &command),
    };
    let cli = match Cli::from_arg_matches(&matches) {
        Ok(c) => c,
        Err(e) => return clap_exit(e, &argv, &command),
    };
    init_logging(cli.global.verbose, cli.global.quiet);
    // Ignored when a pool exists already (only in tests). `num_threads(0)`: rayon's default,
    // one thread per core.
    let _ = rayon::ThreadPoolBuilder::new()
        .num_threads(cli.global.threads.map_or(0, |n| n as usize))
        .stack_size(WORKER_STACK)
        .build_global();
    let ctx = Context {
        seed: cli.global.seed,
        threads: cli.global.threads.map(|n| n as usize),
        json: cli.global.json,
        quiet: cli.global.quiet,
        verbose: cli.global.verbose,
        plugins: cli.global.plugins.clone(),
        config: cli.global.config.clone(),
        command_line: raw
            .iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect(),
    };
    // The command runs on a worker of the pool, not on the main thread: a parallel loop started
    // from a worker pushes its tasks onto that worker's own queue and runs one itself, while one
    // started from outside the pool is handed over to it and the caller sleeps until it is done —
    // two thread wake-ups per loop, which on the small layers of a network cost more than the loop
    // (SqueezeNet at batch 64 starts a few hundred loops per step).
    let result = rayon::scope(|_| run_command(&cli, &ctx));
    match result {
        Ok(()) => 0,
        Err(e) => report(e),
    }
}

/// Stack of the pool's threads, which run the commands: the main thread's usual 8 MiB.
const WORKER_STACK: usize = 8 << 20;

/// Runs the command `cli` asks for.
fn run_command(cli: &Cli, ctx: &Context) -> Result<(), CliError> {
    match &cli.command {
        Command::Reproduce(a) => commands::reproduce::run(a, ctx),
        Command::Theory(a) => commands::theory::run(a, ctx),
        Command::Spectrum(a) => commands::spectrum::run(a, ctx),
        Command::Flow(a) => commands::flow::run(a, ctx),
        Command::Train(a) => commands::train::run(a, ctx),
        Command::Overcost(a) => commands::overcost::run(a, ctx),
        Command::Metrics(a) => commands::metrics::run(a, ctx),
        Command::Models(a) => commands::models::run(a, ctx),
        Command::Bench(a) => commands::bench::run(a, ctx),
        Command::Data(a) => commands::data::run(a, ctx),
        Command::Sweep(a) => commands::sweep::run(a, ctx),
    }
}

/// The command tree with the settings every command shares, built.
fn cli_command() -> clap::Command {
    let mut command = every_command(Cli::command(), &|cmd| {
        // Repeating an option keeps the last value, so a later occurrence overrides an earlier
        // one; negative numbers (`--kappas -0.5`) reach the value parser, whose message says
        // what the option expects, instead of reading as an unknown flag.
        cmd.args_override_self(true).mut_args(|arg| {
            if arg.get_action().takes_values() {
                arg.allow_negative_numbers(true)
            } else {
                arg
            }
        })
    });
    command.build();
    command
}

/// Applies `f` to `cmd` and to every subcommand below it.
fn every_command(cmd: clap::Command, f: &dyn Fn(clap::Command) -> clap::Command) -> clap::Command {
    let cmd = f(cmd);
    let names: Vec<String> = cmd
        .get_subcommands()
        .map(|s| s.get_name().to_string())
        .collect();
    names.into_iter().fold(cmd, |cmd, name| {
        cmd.mut_subcommand(name, |sub| every_command(sub, f))
    })
}

/// Whether `value` reads as a number or a list of numbers with a leading minus sign (`-0.5`,
/// `-1,2`, `-inf`, `-NaN`, `-.5`): never a flag of majmin's.
fn is_negative_number_list(value: &OsStr) -> bool {
    let Some(rest) = value.to_str().and_then(|v| v.strip_prefix('-')) else {
        return false;
    };
    let lower = rest.to_ascii_lowercase();
    rest.starts_with(|c: char| c.is_ascii_digit())
        || (rest.starts_with('.') && rest[1..].starts_with(|c: char| c.is_ascii_digit()))
        || lower.starts_with("inf")
        || lower.starts_with("nan")
}

/// `--kappas -0.5,0.9` becomes `--kappas=-0.5,0.9`: clap takes a lone negative number as an
/// option's value, but not a list of them or `-inf`; written with `=` they reach the value
/// parser, whose message names the option and says what it expects.
fn join_negative_values(raw: &[OsString], command: &clap::Command) -> Vec<OsString> {
    let mut takes_value = std::collections::BTreeSet::new();
    collect_value_longs(command, &mut takes_value);
    let mut out: Vec<OsString> = Vec::with_capacity(raw.len());
    let mut iter = raw.iter().peekable();
    while let Some(arg) = iter.next() {
        if arg == "--" {
            out.push(arg.clone());
            out.extend(iter.cloned());
            break;
        }
        let long = arg
            .to_str()
            .and_then(|a| a.strip_prefix("--"))
            .filter(|a| !a.contains('='));
        if let (Some(long), Some(next)) = (long, iter.peek()) {
            if takes_value.contains(long) && is_negative_number_list(next) {
                let mut joined = arg.clone();
                joined.push("=");
                joined.push(next);
                out.push(joined);
                iter.next();
                continue;
            }
        }
        out.push(arg.clone());
    }
    out
}

fn collect_value_longs(cmd: &clap::Command, out: &mut std::collections::BTreeSet<String>) {
    for arg in cmd.get_arguments() {
        if let (Some(long), true) = (arg.get_long(), arg.get_action().takes_values()) {
            out.insert(long.to_string());
        }
    }
    for sub in cmd.get_subcommands() {
        collect_value_longs(sub, out);
    }
}

fn report(e: CliError) -> i32 {
    use std::io::Write as _;
    // the exit code says it even when stderr cannot be written
    let _ = writeln!(std::io::stderr(), "error: {}", e.message);
    e.code
}

/// Prints clap's error (with a clearer message for a few kinds) and returns the exit code.
fn clap_exit(e: clap::Error, argv: &[OsString], command: &clap::Command) -> i32 {
    use clap::error::ErrorKind;
    match e.kind() {
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => {
            let _ = e.print();
            0
        }
        ErrorKind::InvalidUtf8 => report(CliError::usage(invalid_utf8_message(argv, command))),
        ErrorKind::ValueValidation => {
            let first = e.to_string();
            let first = first.lines().next().unwrap_or_default();
            let first = first.strip_prefix("error: ").unwrap_or(first);
            match expected_of_clap_error(&e, command) {
                Some(expected) => report(CliError::usage(format!(
                    "{first}; expected {expected}\n\nFor more information, try '--help'."
                ))),
                None => {
                    let _ = e.print();
                    EXIT_USAGE
                }
            }
        }
        _ => {
            let _ = e.print();
            EXIT_USAGE
        }
    }
}

/// What the option of a value-validation error expects, from its type (`--threads <N>` → "a
/// whole number"), so the message says what would have been accepted.
fn expected_of_clap_error(e: &clap::Error, command: &clap::Command) -> Option<String> {
    use clap::error::{ContextKind, ContextValue};
    let Some(ContextValue::String(shown)) = e.get(ContextKind::InvalidArg) else {
        return None;
    };
    let long = shown.strip_prefix("--")?.split([' ', '=']).next()?;
    let arg = find_long(command, long)?;
    // a text option's own parser says what it expects
    Some(config::expected_value(arg)).filter(|e| !e.starts_with("text"))
}

fn find_long<'a>(cmd: &'a clap::Command, long: &str) -> Option<&'a clap::Arg> {
    cmd.get_arguments()
        .find(|a| a.get_long() == Some(long))
        .or_else(|| cmd.get_subcommands().find_map(|s| find_long(s, long)))
}

/// The message for a command-line value that is not UTF-8 where the option needs text (a data
/// spec, an architecture name): the option and the value, shown lossily.
fn invalid_utf8_message(argv: &[OsString], command: &clap::Command) -> String {
    let Some(i) = argv.iter().position(|a| a.to_str().is_none()) else {
        return "an argument is not valid UTF-8".into();
    };
    let value = argv[i].to_string_lossy();
    let option = argv[i]
        .as_encoded_bytes()
        .starts_with(b"--")
        .then(|| {
            let bytes = argv[i].as_encoded_bytes();
            let end = bytes.iter().position(|&b| b == b'=').unwrap_or(bytes.len());
            String::from_utf8_lossy(&bytes[..end]).into_owned()
        })
        .or_else(|| {
            i.checked_sub(1)
                .and_then(|j| argv[j].to_str())
                .filter(|p| p.starts_with("--"))
                .map(str::to_string)
        });
    let what = match option.as_deref().and_then(|o| find_long(command, &o[2..])) {
        Some(arg) => format!(
            "the value of --{} ({})",
            arg.get_long().unwrap_or_default(),
            arg.get_value_names()
                .and_then(|n| n.first())
                .map(|n| n.to_string())
                .unwrap_or_default()
        ),
        None => {
            // a positional value: the first positional of the command it follows
            let mut cmd = command;
            for a in argv[1..i].iter().filter_map(|a| a.to_str()) {
                if let Some(sub) = cmd.find_subcommand(a) {
                    cmd = sub;
                }
            }
            match cmd.get_positionals().next() {
                Some(arg) => format!(
                    "the argument {} of `{}`",
                    arg.get_value_names()
                        .and_then(|n| n.first())
                        .map(|n| n.to_string())
                        .unwrap_or_else(|| arg.get_id().to_string()),
                    cmd.get_bin_name().unwrap_or(cmd.get_name())
                ),
                None => format!("argument {i}"),
            }
        }
    };
    format!(
        "{what} is not valid UTF-8: `{value}` (invalid bytes shown as \u{FFFD}); expected text — \
         only file and folder options (--out, --config, --plugins, --curves, --figure, …) take \
         any bytes"
    )
}

/// The argument list with the options of the `--config` file added right after the subcommand,
/// for every option the command line (or its environment variable) does not give: the command
/// line wins over the file, the file over the defaults, and a list on the command line replaces
/// the file's list. Options that the command requires may come from the file.
fn with_config(raw: &[OsString], command: &clap::Command) -> Result<Vec<OsString>, CliError> {
    // A lenient parse finds `--config`, the subcommand and what the command line gives, even
    // when a required option is missing (the file may give it).
    // (set on every command: a setting given to the built root reaches only its children)
    let lenient = every_command(command.clone(), &|cmd| cmd.ignore_errors(true));
    let Ok(first) = lenient.try_get_matches_from(raw) else {
        // --help, --version or an error: the strict parse reports it
        return Ok(raw.to_vec());
    };
    let Some(file) = first.get_one::<PathBuf>("config") else {
        return Ok(raw.to_vec());
    };
    let text = config::read_config_file(file)?;
    let mut path = Vec::new();
    let mut m = &first;
    while let Some((name, sub)) = m.subcommand() {
        path.push(name.to_string());
        m = sub;
    }
    let Some(insert_at) = after_subcommands(raw, command, &path) else {
        return Ok(raw.to_vec());
    };
    let from_file = config::config_args(file, &text, command, &path)?;
    let given = |id: &str| {
        matches!(
            m.value_source(id),
            Some(ValueSource::CommandLine | ValueSource::EnvVariable)
        )
    };
    let extra: Vec<OsString> = from_file
        .into_iter()
        .filter(|o| !given(&o.id))
        .flat_map(|o| o.args)
        .map(OsString::from)
        .collect();
    let mut argv = raw[..insert_at].to_vec();
    argv.extend(extra);
    argv.extend_from_slice(&raw[insert_at..]);
    Ok(argv)
}

/// The index in `raw` right after the name of the last subcommand of `path`, found by walking
/// the arguments as clap does (an option's separate value is skipped, so a value that happens to
/// be a command name is not taken for one).
fn after_subcommands(raw: &[OsString], command: &clap::Command, path: &[String]) -> Option<usize> {
    let mut cmd = command;
    let mut depth = 0;
    let mut i = 1;
    while i < raw.len() && depth < path.len() {
        let arg = &raw[i];
        i += 1;
        if arg == "--" {
            return None;
        }
        let Some(text) = arg.to_str() else { continue };
        if let Some(long) = text.strip_prefix("--") {
            if !long.contains('=')
                && cmd
                    .get_arguments()
                    .any(|a| a.get_long() == Some(long) && a.get_action().takes_values())
            {
                i += 1;
            }
            continue;
        }
        if text.starts_with('-') {
            continue;
        }
        if text == path[depth] {
            cmd = cmd.find_subcommand(text)?;
            depth += 1;
        }
    }
    (depth == path.len()).then_some(i)
}

/// Whether log lines may carry ANSI colours: stderr is a terminal and `NO_COLOR` is not set.
fn colour_on_stderr() -> bool {
    std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
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
        .with_ansi(colour_on_stderr())
        .without_time()
        .try_init();
}

#[cfg(test)]
mod tests {
    use super::*;

    fn os(args: &[&str]) -> Vec<OsString> {
        args.iter().map(OsString::from).collect()
    }

    #[test]
    fn negative_numbers_after_a_value_option_are_joined_to_it() {
        let command = cli_command();
        let joined = join_negative_values(
            &os(&[
                "majmin", "overcost", "--kappas", "-0.5,0.9", "--zetas", "-inf", "--out", "-x",
                "--json", "-1", "--", "--seeds", "-2",
            ]),
            &command,
        );
        assert_eq!(
            joined,
            os(&[
                "majmin",
                "overcost",
                "--kappas=-0.5,0.9",
                "--zetas=-inf",
                "--out",
                "-x",
                "--json",
                "-1",
                "--",
                "--seeds",
                "-2"
            ])
        );
        for yes in ["-1", "-.5", "-0.5,1", "-NaN", "-Infinity"] {
            assert!(is_negative_number_list(OsStr::new(yes)), "{yes}");
        }
        for no in ["-", "-x", "--1", "-.", "1", ""] {
            assert!(!is_negative_number_list(OsStr::new(no)), "{no}");
        }
    }

    #[test]
    fn the_config_file_goes_right_after_the_last_subcommand() {
        let command = cli_command();
        let path = |p: &[&str]| p.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        // `--config metrics`: an option's value that looks like a command is skipped
        let raw = os(&[
            "majmin", "--config", "metrics", "-v", "metrics", "overcost", "--curves", "c",
        ]);
        assert_eq!(
            after_subcommands(&raw, &command, &path(&["metrics", "overcost"])),
            Some(6)
        );
        let raw = os(&["majmin", "--seed=3", "flow", "--init", "1,1"]);
        assert_eq!(after_subcommands(&raw, &command, &path(&["flow"])), Some(3));
        let raw = os(&["majmin", "--", "flow"]);
        assert_eq!(after_subcommands(&raw, &command, &path(&["flow"])), None);
    }
}
