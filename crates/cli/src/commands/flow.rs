//! `majmin flow`: a gradient-flow (or gradient-descent) trajectory on a problem, with the times it
//! leaves and re-enters the majority-training zone (docs/definitions.md, docs/command-line.md).

use std::path::PathBuf;
use std::time::Instant;

use majmin_flow::ode::{
    integrate, zone_events, GradientFlow, IntegratorConfig, Method, Status, Trajectory,
};
use serde::Serialize;

use crate::commands::theory::load_problem;
use crate::context::Context;
use crate::error::{number, CliError};
use crate::output::{check_output_file, print_json, write_atomic};

/// Options of `majmin flow`.
#[derive(Debug, clap::Args, serde::Serialize)]
pub struct Args {
    /// A built-in problem (`majmin theory --list`) or a problem file (TOML).
    #[arg(long, value_name = "NAME|FILE")]
    #[serde(serialize_with = "crate::output::serialize_path_lossy_required")]
    pub problem: PathBuf,
    /// The initial point, one value per variable: `--init 2.5,-1`.
    #[arg(
        long,
        value_name = "x,y,…",
        value_delimiter = ',',
        allow_hyphen_values = true,
        required = true
    )]
    pub init: Vec<f64>,
    /// End time T.
    #[arg(long, value_name = "T", default_value_t = 10.0)]
    pub t_end: f64,
    /// dopri5 (adaptive), rk4 or euler (gradient descent with step η).
    #[arg(long, value_name = "METHOD", default_value = "dopri5", value_parser = parse_method)]
    #[serde(serialize_with = "serialize_method")]
    pub method: Method,
    /// The step η of rk4 and euler.
    #[arg(long, value_name = "η", default_value_t = 0.01)]
    pub step: f64,
    /// Relative tolerance of dopri5.
    #[arg(long, default_value_t = 1e-8)]
    pub rtol: f64,
    /// Absolute tolerance of dopri5.
    #[arg(long, default_value_t = 1e-10)]
    pub atol: f64,
    /// Write the trajectory as CSV (`t,<vars>`).
    #[arg(long, value_name = "FILE")]
    #[serde(serialize_with = "crate::output::serialize_path_lossy")]
    pub csv: Option<PathBuf>,
    /// ζ of a data-driven problem.
    #[arg(long, value_name = "Z")]
    pub zeta: Option<f64>,
    /// Stop at the first zone event.
    #[arg(long)]
    pub stop_at_event: bool,
    /// Do not locate zone events (as in a plain ODE solve; used by the SciPy comparison).
    #[arg(long)]
    pub no_events: bool,
    /// Repeat the integration N times (1 to 1,000) and report the best time and RHS evaluations
    /// per second.
    #[arg(long, value_name = "N")]
    pub bench: Option<usize>,
}

/// The most repetitions of `--bench`.
pub const BENCH_MAX: usize = 1000;

/// The smallest `--rtol`: below f64's precision a relative tolerance cannot be met.
pub const RTOL_MIN: f64 = 1e-14;

impl Args {
    fn method_name(&self) -> &'static str {
        match self.method {
            Method::Dopri5 => "dopri5",
            Method::Rk4 => "rk4",
            Method::Euler => "euler",
        }
    }
}

/// Each number option on its own: one message per option, with its value and what it expects.
fn check_numbers(args: &Args) -> Result<(), CliError> {
    let bad = |option: &str, value: f64, expected: &str| {
        Err(CliError::usage(format!(
            "{option} {}: expected {expected}",
            number(value)
        )))
    };
    if let Some((i, v)) = args.init.iter().enumerate().find(|(_, v)| !v.is_finite()) {
        return Err(CliError::usage(format!(
            "--init: value {} is {v}; expected finite numbers",
            i + 1
        )));
    }
    if !(args.t_end > 0.0 && args.t_end.is_finite()) {
        return bad("--t-end", args.t_end, "a positive finite end time");
    }
    if !(args.step > 0.0 && args.step.is_finite()) {
        return bad("--step", args.step, "a positive finite step η");
    }
    if !(args.rtol >= RTOL_MIN && args.rtol.is_finite()) {
        return bad(
            "--rtol",
            args.rtol,
            &format!("a finite relative tolerance of at least {RTOL_MIN:e}"),
        );
    }
    if !(args.atol >= 0.0 && args.atol.is_finite()) {
        return bad("--atol", args.atol, "a finite absolute tolerance ≥ 0");
    }
    if let Some(n) = args.bench {
        if n == 0 || n > BENCH_MAX {
            return Err(CliError::usage(format!(
                "--bench {n}: expected the number of repetitions, a whole number from 1 to {BENCH_MAX}"
            )));
        }
    }
    Ok(())
}

fn parse_method(s: &str) -> Result<Method, String> {
    s.parse()
}

fn serialize_method<S: serde::Serializer>(m: &Method, s: S) -> Result<S::Ok, S::Error> {
    m.serialize(s)
}

#[derive(Serialize)]
struct Output<'a> {
    problem: &'a str,
    vars: &'a [String],
    method: Method,
    t: &'a [f64],
    theta: &'a [Vec<f64>],
    #[serde(rename = "final")]
    final_state: &'a [f64],
    t_final: f64,
    events: &'a [majmin_flow::ode::EventHit],
    status: &'a Status,
    stats: majmin_flow::ode::Stats,
    elapsed_seconds: f64,
    rhs_evaluations_per_second: f64,
}

/// Runs the command.
pub fn run(args: &Args, ctx: &Context) -> Result<(), CliError> {
    let problem = load_problem(&args.problem, args.zeta)?;
    if args.init.len() != problem.dim() {
        return Err(CliError::usage(format!(
            "--init has {} values but `{}` has {} variables ({})",
            args.init.len(),
            problem.name,
            problem.dim(),
            problem.vars.join(", ")
        )));
    }
    check_numbers(args)?;
    let config = IntegratorConfig {
        method: args.method,
        t_end: args.t_end,
        rtol: args.rtol,
        atol: args.atol,
        step: args.step,
        ..IntegratorConfig::default()
    };
    if matches!(args.method, Method::Rk4 | Method::Euler) {
        let steps = args.t_end / args.step;
        if steps > config.max_steps as f64 {
            return Err(CliError::usage(format!(
                "--step {}: {} would need {steps:.3e} steps to reach --t-end {}; the limit is {} steps (raise --step or lower --t-end)",
                number(args.step),
                args.method_name(),
                number(args.t_end),
                config.max_steps
            )));
        }
    }
    if let Some(path) = &args.csv {
        check_output_file("--csv", path)?;
    }
    let total = problem.total();
    let majority = problem.majority.as_ref();
    let mut events = zone_events(&total, &majority);
    if args.no_events {
        events.clear();
    }
    if args.stop_at_event {
        events = events.into_iter().map(|e| e.terminal()).collect();
    }
    let system = GradientFlow(&total);
    let runs = args.bench.unwrap_or(1);
    let mut best = f64::INFINITY;
    let mut trajectory: Option<Trajectory> = None;
    for _ in 0..runs {
        let t = Instant::now();
        let tr = integrate(&system, &args.init, &config, &events).map_err(CliError::usage)?;
        best = best.min(t.elapsed().as_secs_f64());
        trajectory = Some(tr);
    }
    let tr = trajectory.expect("at least one run");
    let rate = tr.stats.rhs_evaluations as f64 / best.max(1e-12);
    if let Some(path) = &args.csv {
        let mut text = format!("t,{}\n", problem.vars.join(","));
        for (t, th) in tr.t.iter().zip(&tr.theta) {
            text.push_str(&format!("{t}"));
            for v in th {
                text.push_str(&format!(",{v}"));
            }
            text.push('\n');
        }
        write_atomic(path, text.as_bytes())?;
    }
    if let Status::Diverged { t } = tr.status {
        eprintln!("warning: diverged at t = {t}");
    }
    if ctx.json {
        return print_json(&Output {
            problem: &problem.name,
            vars: &problem.vars,
            method: args.method,
            t: &tr.t,
            theta: &tr.theta,
            final_state: &tr.final_state,
            t_final: tr.t_final,
            events: &tr.events,
            status: &tr.status,
            stats: tr.stats,
            elapsed_seconds: best,
            rhs_evaluations_per_second: rate,
        });
    }
    let point = |p: &[f64]| {
        format!(
            "({})",
            p.iter()
                .map(|v| format!("{v:.9}"))
                .collect::<Vec<_>>()
                .join(", ")
        )
    };
    println!(
        "{} on `{}` from {} to t = {}: {}",
        match args.method {
            Method::Dopri5 => "gradient flow (dopri5)".to_string(),
            Method::Rk4 => format!("gradient flow (rk4, step {})", args.step),
            Method::Euler => format!("gradient descent (euler, η = {})", args.step),
        },
        problem.name,
        point(&args.init),
        tr.t_final,
        match &tr.status {
            Status::Finished => "finished".to_string(),
            Status::Event { name } => format!("stopped at event {name}"),
            Status::Diverged { t } => format!("diverged at t = {t}"),
            Status::MaxSteps => "step limit reached".to_string(),
        }
    );
    println!("final θ = {}", point(&tr.final_state));
    if tr.events.is_empty() {
        println!("zone events: none (the flow never crossed ⟨∇L, ∇L1⟩ = 0)");
    } else {
        println!("zone events:");
        for e in &tr.events {
            println!("  t = {:<14.9} {:<22} at {}", e.t, e.name, point(&e.theta));
        }
    }
    println!(
        "{} steps ({} rejected), {} RHS evaluations in {:.3} ms ({:.2} M evaluations/s)",
        tr.stats.steps,
        tr.stats.rejected,
        tr.stats.rhs_evaluations,
        best * 1e3,
        rate / 1e6
    );
    Ok(())
}
