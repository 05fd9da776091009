//! `majmin theory`: constants, assumptions, critical points, Theorems 1 and 2 and a verdict on a
//! problem (docs/definitions.md, docs/problems.md, docs/command-line.md), with the poster's figure; with `--arch`, the same on a network
//! ([`network`]).

pub mod network;

use std::path::{Path, PathBuf};
use std::time::Instant;

use majmin_flow::ode::{integrate, zone_events, GradientFlow, IntegratorConfig};
use majmin_metrics::plot::zone::ZoneFigure;
use majmin_metrics::plot::{save, save_both};
use majmin_theory::{
    builtin, check, zone_grid_2d, CheckConfig, Problem, ProblemConfig, TheoryReport, Verdict,
    BUILTINS,
};

use crate::context::Context;
use crate::error::CliError;
use crate::output::{check_output_file, print_json};

/// Options of `majmin theory`.
#[derive(Debug, clap::Args, serde::Serialize)]
pub struct Args {
    /// A built-in problem (see --list) or a problem file (TOML, docs/problems.md).
    #[arg(
        long,
        value_name = "NAME|FILE",
        required_unless_present_any = ["list", "arch"],
        conflicts_with = "arch"
    )]
    #[serde(serialize_with = "crate::output::serialize_path_lossy")]
    pub problem: Option<PathBuf>,
    /// List the built-in problems.
    #[arg(long)]
    pub list: bool,
    /// Write the figure (.svg or .png; both when the name has no extension). 2-D problems, or a
    /// network with --critical-pair (the plane through θ̂1, θ̂ and the top eigenvector of ∇²L1).
    #[arg(long, value_name = "FILE")]
    #[serde(serialize_with = "crate::output::serialize_path_lossy")]
    pub figure: Option<PathBuf>,
    /// Zone grid points per axis (d ≤ 3; random samples when d > 3); at most 4,000,000 points
    /// in all.
    #[arg(long, value_name = "N", default_value_t = 201)]
    pub grid: usize,
    /// Random zone samples when d > 3 (1 to 4,000,000).
    #[arg(long, value_name = "N", default_value_t = 100_000)]
    pub samples: usize,
    /// Newton starts per axis; at most 100,000 starts in all.
    #[arg(long, value_name = "N", default_value_t = 12)]
    pub starts: usize,
    /// ζ of a data-driven problem (overrides the file's `zeta`), or of the network: with
    /// --critical-pair a comma-separated list, e.g. `0.1,0.3`.
    #[arg(long, value_name = "Z[,Z...]", value_delimiter = ',')]
    pub zeta: Vec<majmin_core::Zeta>,
    /// Start of the figure's gradient-flow trajectory, e.g. `2.5,-2` (default: near a corner).
    #[arg(
        long,
        value_name = "x,y",
        value_delimiter = ',',
        allow_hyphen_values = true,
        conflicts_with = "arch"
    )]
    pub init: Option<Vec<f64>>,
    /// Time the whole check N times (1 to 1,000) and report the best (a benchmark, docs/performance.md).
    #[arg(long, value_name = "N", conflicts_with = "arch")]
    pub bench: Option<usize>,
    #[command(flatten)]
    #[serde(flatten)]
    pub network: network::NetworkArgs,
}

/// The most uniform zone points (`--grid` to the power min(d, 3), or `--samples`): 4 million, a
/// few seconds and a few hundred MiB.
pub const ZONE_POINTS_MAX: u64 = 4_000_000;
/// The most Newton starts (`--starts` to the power min(d, 3), or its cube when d > 3).
pub const NEWTON_STARTS_MAX: u64 = 100_000;
/// The most repetitions of `--bench`.
pub const BENCH_MAX: usize = 1000;

/// Resolves `--problem`: a file when one exists at that path (or the name ends in `.toml`),
/// otherwise a built-in name. Loads the data set of a data-driven problem with majmin-data.
pub fn load_problem(path: &Path, zeta: Option<f64>) -> Result<Problem, CliError> {
    let spec = path.display();
    let is_toml = path.extension().is_some_and(|e| e == "toml");
    let mut config = if path.exists() || is_toml || path.to_str().is_none() {
        // never a folder, a FIFO or a device such as /dev/zero
        crate::input::regular_file(
            "--problem",
            path,
            "a problem file (TOML) or a built-in name",
        )?;
        ProblemConfig::from_file(path).map_err(CliError::usage)?
    } else {
        builtin(path.to_str().unwrap_or_default()).map_err(CliError::usage)?
    };
    if let Some(z) = zeta {
        if !config.is_data_driven() {
            return Err(CliError::usage(format!(
                "--zeta applies to data-driven problems (kind = \"linear-regression\" or \"logistic-regression\"); `{spec}` is a formula problem"
            )));
        }
        config.zeta = Some(z);
    }
    let data = match (&config.data, config.is_data_driven()) {
        (Some(spec_str), true) => {
            if let Ok(spec) = majmin_data::DataSpec::parse(spec_str) {
                if let majmin_data::Source::Csv(options) = &spec.source {
                    // never a folder, a FIFO or a device such as /dev/zero
                    crate::input::regular_file(
                        &format!("{}: data csv:", config.origin().display()),
                        &options.path,
                        "a CSV file",
                    )?;
                }
            }
            let data = majmin_data::load(spec_str).map_err(|e| {
                CliError::usage(format!(
                    "{}: data `{spec_str}`: {e}",
                    config.origin().display()
                ))
            })?;
            Some(data)
        }
        _ => None,
    };
    config.build(data.as_ref()).map_err(CliError::usage)
}

fn settings(args: &Args, ctx: &Context, dim: usize) -> Result<CheckConfig, CliError> {
    // points per axis: d = 3 caps the grid at 129 (majmin-theory's check)
    let axes = dim.min(3) as u32;
    let per_axis = if dim == 3 {
        args.grid.min(129)
    } else {
        args.grid
    };
    let zone_points = (per_axis as u64).checked_pow(axes).unwrap_or(u64::MAX);
    // the check visits the 2^d corners of K and costs about d³ (majmin-theory's `check`)
    let max_dim = majmin_theory::check::MAX_CHECK_DIM;
    if dim > max_dim {
        return Err(CliError::usage(format!(
            "--problem: the problem has {dim} variables; `majmin theory` checks problems of at most {max_dim} variables (MAX_CHECK_DIM: its check visits the 2^d corners of K)"
        )));
    }
    if args.grid < 2 {
        return Err(CliError::usage(format!(
            "--grid {}: expected at least 2 points per axis",
            args.grid
        )));
    }
    if dim <= 3 && zone_points > ZONE_POINTS_MAX {
        return Err(CliError::usage(format!(
            "--grid {}: {} points per axis in {dim} dimensions is {zone_points} zone points; the limit is {ZONE_POINTS_MAX} (at most {} per axis here)",
            args.grid,
            per_axis,
            max_per_axis(ZONE_POINTS_MAX, axes)
        )));
    }
    if args.samples < 1 || args.samples as u64 > ZONE_POINTS_MAX {
        return Err(CliError::usage(format!(
            "--samples {}: expected the random zone samples, a whole number from 1 to {ZONE_POINTS_MAX}",
            args.samples
        )));
    }
    let start_axes = if dim <= 3 { axes } else { 3 };
    let starts = (args.starts as u64)
        .checked_pow(start_axes)
        .unwrap_or(u64::MAX);
    if args.starts < 1 || starts > NEWTON_STARTS_MAX {
        return Err(CliError::usage(format!(
            "--starts {}: expected Newton starts per axis, from 1 to {} for a problem of dimension {dim} (--starts to the power {start_axes} is at most {NEWTON_STARTS_MAX})",
            args.starts,
            max_per_axis(NEWTON_STARTS_MAX, start_axes)
        )));
    }
    if let Some(n) = args.bench {
        if n == 0 || n > BENCH_MAX {
            return Err(CliError::usage(format!(
                "--bench {n}: expected the number of timed checks, a whole number from 1 to {BENCH_MAX}"
            )));
        }
    }
    Ok(CheckConfig {
        grid: args.grid,
        zone_samples: args.samples,
        starts: args.starts,
        seed: ctx.seed,
        ..CheckConfig::default()
    })
}

/// The largest n with n^axes ≤ limit.
fn max_per_axis(limit: u64, axes: u32) -> u64 {
    let mut n = (limit as f64).powf(1.0 / f64::from(axes.max(1))).round() as u64 + 1;
    while n > 1 && n.checked_pow(axes).is_none_or(|p| p > limit) {
        n -= 1;
    }
    n
}

/// Runs the command.
pub fn run(args: &Args, ctx: &Context) -> Result<(), CliError> {
    if args.list {
        return list(ctx);
    }
    if args.network.arch.is_some() {
        return network::run(args, ctx);
    }
    let spec = args
        .problem
        .as_deref()
        .ok_or_else(|| CliError::usage("--problem NAME|FILE is required (or --list, or --arch)"))?;
    if args.zeta.len() > 1 {
        return Err(CliError::usage(format!(
            "--zeta: {} values given; a problem takes one ζ (lists are for --arch … --critical-pair)",
            args.zeta.len()
        )));
    }
    let problem = load_problem(spec, args.zeta.first().map(|z| z.get()))?;
    let config = settings(args, ctx, problem.dim())?;
    if let Some(figure) = &args.figure {
        if problem.dim() != 2 {
            return Err(CliError::usage(format!(
                "--figure draws 2-D problems; `{}` has dimension {}",
                problem.name,
                problem.dim()
            )));
        }
        let ext = figure
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase);
        if !matches!(ext.as_deref(), None | Some("svg") | Some("png")) {
            return Err(CliError::usage(format!(
                "--figure {}: expected a name ending in .svg or .png",
                figure.display()
            )));
        }
        check_output_file("--figure", figure)?;
        if ext.is_none() {
            check_output_file("--figure", &figure.with_extension("svg"))?;
            check_output_file("--figure", &figure.with_extension("png"))?;
        }
    }
    if let Some(init) = &args.init {
        if let Some((i, v)) = init.iter().enumerate().find(|(_, v)| !v.is_finite()) {
            return Err(CliError::usage(format!(
                "--init: value {} is {v}; expected finite numbers",
                i + 1
            )));
        }
        if init.len() != problem.dim() {
            return Err(CliError::usage(format!(
                "--init has {} values but `{}` has {} variables",
                init.len(),
                problem.name,
                problem.dim()
            )));
        }
    }
    if let Some(n) = args.bench {
        return bench(&problem, &config, n, ctx);
    }
    let bar = ctx.progress(1, format!("theory {}", problem.name));
    let report =
        check(&problem, &config).map_err(|e| CliError::usage(format!("{}: {e}", problem.name)))?;
    bar.finish_and_clear();
    if let Some(figure) = &args.figure {
        let files = write_figure_from(&problem, &report, figure, args.init.as_deref())?;
        if !ctx.quiet && !ctx.json {
            for f in files {
                eprintln!("figure written to {}", f.display());
            }
        }
    }
    if report.verdict == Verdict::Violated {
        eprintln!(
            "WARNING: the assumptions (A1)–(A4) hold on `{}` but a conclusion fails — this is a bug in majmin or a counterexample to the theorem. Please report it with the problem file.",
            problem.name
        );
    }
    if ctx.json {
        print_json(&report)
    } else {
        print!("{}", summary(&report));
        Ok(())
    }
}

fn list(ctx: &Context) -> Result<(), CliError> {
    if ctx.json {
        let rows: Vec<_> = BUILTINS
            .iter()
            .map(|b| serde_json::json!({"name": b.name, "summary": b.summary}))
            .collect();
        return print_json(&rows);
    }
    for b in BUILTINS {
        println!("{:<22} {}", b.name, b.summary);
    }
    Ok(())
}

fn bench(problem: &Problem, config: &CheckConfig, n: usize, ctx: &Context) -> Result<(), CliError> {
    let mut times = Vec::with_capacity(n);
    let mut verdict = Verdict::Holds;
    for _ in 0..n {
        let t = Instant::now();
        let r = check(problem, config)
            .map_err(|e| CliError::usage(format!("{}: {e}", problem.name)))?;
        times.push(t.elapsed().as_secs_f64());
        verdict = r.verdict;
    }
    times.sort_by(f64::total_cmp);
    let (best, median) = (times[0], times[times.len() / 2]);
    if ctx.json {
        print_json(&serde_json::json!({
            "problem": problem.name, "runs": n, "best_seconds": best, "median_seconds": median,
            "threads": ctx.thread_count(), "grid": config.grid, "verdict": verdict,
        }))
    } else {
        println!(
            "theory check of `{}`: best {:.1} ms, median {:.1} ms over {n} run(s) (grid {}, {} thread(s)); verdict {}",
            problem.name,
            best * 1e3,
            median * 1e3,
            config.grid,
            ctx.thread_count(),
            verdict.as_str()
        );
        Ok(())
    }
}

fn fmt_point(p: &[f64]) -> String {
    format!(
        "({})",
        p.iter()
            .map(|v| format!("{:.6}", v + 0.0))
            .collect::<Vec<_>>()
            .join(", ")
    )
}

/// The short human report.
pub fn summary(r: &TheoryReport) -> String {
    let c = r.constants;
    let a = r.assumptions;
    let mark = |b: bool| if b { "ok" } else { "FAILS" };
    let mut s = String::new();
    s.push_str(&format!(
        "problem {} (d = {}, K = {:?} to {:?})\n",
        r.problem, r.dim, r.domain.lower, r.domain.upper
    ));
    s.push_str(&format!(
        "constants  δ = {:.6}  c = {:.6}{}  M = {:.6}  τ = {:.6}   (estimates from {} + {} sampled points and local refinement{})\n",
        c.delta,
        c.c,
        if r.estimates.c_chosen { " (chosen)" } else { "" },
        c.m,
        c.tau,
        r.estimates.samples,
        r.estimates.third_derivative_samples,
        if r.constants_given.is_empty() { String::new() } else { format!("; given: {}", r.constants_given.join(", ")) }
    ));
    s.push_str(&format!(
        "assumptions  A1 {}  A2 {}  A3 {}  A4 {}  (τ = {:.4e} must be < min(c/2, δ/8, δ²/32M) = {:.4e})\n",
        mark(a.a1),
        mark(a.a2),
        mark(a.a3),
        mark(a.a4),
        c.tau,
        r.a4_bound
    ));
    s.push_str(&format!(
        "critical points of L1 in K: {}\n",
        r.critical_details.majority.len()
    ));
    for cp in &r.critical_details.majority {
        s.push_str(&format!(
            "  {:<10} {}\n",
            format!("{:?}", cp.kind).to_lowercase(),
            fmt_point(&cp.point)
        ));
    }
    s.push_str(&format!(
        "critical points of L in K: {}\n",
        r.critical_details.total.len()
    ));
    s.push_str(&format!(
        "Theorem 1  bound 4τ/δ = {:.4e}; pair distances: {}; bijection {}  -> {}\n",
        r.bound_critical,
        r.pairs
            .iter()
            .map(|p| format!("{:.3e}", p.distance))
            .collect::<Vec<_>>()
            .join(", "),
        r.theorem1.bijection,
        if r.theorem1.confirmed {
            "confirmed"
        } else {
            "NOT confirmed"
        }
    ));
    s.push_str(&format!(
        "Theorem 2  bound 2τ/δ = {:.4e}; adversarial fraction of K {:.4e} ({} {} points); farthest adversarial point {:.4e} from crit L1  -> {}\n",
        r.bound_zone,
        r.zone.adversarial_fraction,
        r.zone.points,
        r.zone.sampling,
        r.zone.max_distance_to_critical,
        if r.zone.inside_balls { "inside the balls" } else { "NOT inside the balls" }
    ));
    let verdict = match r.verdict {
        Verdict::Violated => {
            "VIOLATED (assumptions hold but a conclusion fails: a bug or a counterexample)"
                .to_string()
        }
        v => v.as_str().to_string(),
    };
    s.push_str(&format!("verdict: {verdict}   ({:.0} ms)\n", r.elapsed_ms));
    s
}

/// Writes the theory figure of a 2-D problem to `path` (`.svg` or `.png`; both `path.svg` and
/// `path.png` when it has no extension) with a flow trajectory from a default start.
pub fn write_figure(
    problem: &Problem,
    report: &TheoryReport,
    path: &Path,
) -> Result<Vec<PathBuf>, CliError> {
    write_figure_from(problem, report, path, None)
}

fn default_init(problem: &Problem) -> Vec<f64> {
    let (lo, hi) = (&problem.domain.lower, &problem.domain.upper);
    vec![
        lo[0] + 0.92 * (hi[0] - lo[0]),
        lo[1] + 0.55 * (hi[1] - lo[1]),
    ]
}

fn write_figure_from(
    problem: &Problem,
    report: &TheoryReport,
    path: &Path,
    init: Option<&[f64]>,
) -> Result<Vec<PathBuf>, CliError> {
    if problem.dim() != 2 {
        return Err(CliError::usage(format!(
            "the figure needs a 2-D problem; `{}` has dimension {}",
            problem.name,
            problem.dim()
        )));
    }
    let n = 301;
    let (x, y, values, adversarial) = zone_grid_2d(problem, n);
    let init = init
        .map(<[f64]>::to_vec)
        .unwrap_or_else(|| default_init(problem));
    let total = problem.total();
    let majority = problem.majority.as_ref();
    let events = zone_events(&total, &majority);
    let cfg = IntegratorConfig {
        t_end: 200.0,
        rtol: 1e-8,
        atol: 1e-10,
        ..IntegratorConfig::default()
    };
    let trajectory = integrate(&GradientFlow(&total), &init, &cfg, &events)
        .map_err(|e| CliError::usage(format!("figure trajectory: {e}")))?;
    // keep the part inside K
    let inside = |p: &Vec<f64>| problem.domain.contains(p, 0.0);
    let path_points: Vec<(f64, f64)> = trajectory
        .theta
        .iter()
        .take_while(|p| inside(p))
        .map(|p| (p[0], p[1]))
        .collect();
    let point = |p: &Vec<f64>| (p[0], p[1]);
    let figure = ZoneFigure {
        title: format!("{}: verdict {}", report.problem, report.verdict.as_str()),
        x_label: problem.vars.first().cloned().unwrap_or_else(|| "θ1".into()),
        y_label: problem.vars.get(1).cloned().unwrap_or_else(|| "θ2".into()),
        x,
        y,
        values,
        adversarial,
        levels: 18,
        majority_points: report.critical_points.majority.iter().map(point).collect(),
        total_points: report.critical_points.total.iter().map(point).collect(),
        ball_radius: report.bound_zone,
        trajectory: path_points,
        trajectory_label: "gradient flow of L".into(),
        events: trajectory
            .events
            .iter()
            .filter(|e| inside(&e.theta))
            .map(|e| point(&e.theta))
            .collect(),
    };
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    match ext.as_deref() {
        Some("svg") | Some("png") => {
            save(&figure, path).map_err(|e| CliError::run(e.to_string()))?;
            Ok(vec![path.to_path_buf()])
        }
        None => save_both(&figure, path)
            .map(|p| p.to_vec())
            .map_err(|e| CliError::run(e.to_string())),
        Some(_) => Err(CliError::usage(format!(
            "{}: expected a figure name ending in .svg or .png",
            path.display()
        ))),
    }
}
