//! `majmin spectrum --arch A --data SPEC …`: the Hessian spectra of a network's loss parts —
//! the majority part `L1`, the minority part `L0` and the whole `L`, each divided by the total
//! `n` (docs/definitions.md) — at the seeded initialisation or at a checkpoint (issue 15).
//!
//! For each part: the `k` largest and `k` most negative eigenvalues by Lanczos with full
//! reorthogonalisation, each with its explicit residual `‖H x − θ x‖` and a converged flag;
//! `ρmin = min |λ|` by Lanczos on `H²` (with why it is not available when it is not);
//! Hutchinson's trace with its standard error; with `--density` (or `--figure`) the spectral
//! density by stochastic Lanczos quadrature (majmin_theory::spectrum).
//!
//! Hessian-vector products are exact for `mlp` (the `f64` perceptron's R-operator,
//! [`NetworkObjective::exact_when_perceptron`], which reads the layer sizes from the model's state
//! dict); other networks use central differences of gradients, with the Richardson estimate of
//! their error ([`NetworkObjective::hvp_with_error`]) reported on one random direction per part.

use std::cell::{Cell, RefCell};
use std::path::{Path, PathBuf};
use std::time::Instant;

use indicatif::ProgressBar;
use majmin_core::{Model, Rng, Zeta};
use majmin_flow::network::{LossPart, NetworkObjective};
use majmin_metrics::plot::{save, save_both, SpectrumFigure, SpectrumPanel};
use majmin_theory::spectrum::{
    extreme_eigenvalues, hutchinson_trace, rho_min, slq_density, Density, FnOperator,
};
use serde::Serialize;

use crate::commands::theory::network::{load_data, load_network, NetworkSpec, CHUNK};
use crate::context::Context;
use crate::error::CliError;

/// The most Lanczos steps (`--steps`).
pub const MAX_STEPS: usize = 10_000;
/// The most Hutchinson probes (`--trace-samples`).
pub const MAX_TRACE_SAMPLES: usize = 100_000;
/// The most stochastic Lanczos quadrature runs (`--density-runs`).
pub const MAX_DENSITY_RUNS: usize = 1_000;
/// Points of the smoothed densities drawn in the figure.
const FIGURE_GRID: usize = 600;

/// Options of `majmin spectrum`.
#[derive(Debug, clap::Args, Serialize)]
pub struct Args {
    /// The architecture (`majmin models list`).
    #[arg(long, value_name = "A")]
    pub arch: String,
    /// The data spec, e.g. `digits`, `digits,per-class=20,resize=4`.
    #[arg(long, value_name = "SPEC")]
    pub data: String,
    /// Subsample the data to the imbalance level ζ = n0/n1 in (0, 1] (seeded by --seed, as
    /// `train` does); without it, the data as loaded.
    #[arg(long, value_name = "Z")]
    pub zeta: Option<f64>,
    /// The network's width multiplier, in (0, 64].
    #[arg(long, value_name = "W", default_value_t = 1.0)]
    pub width: f64,
    /// A checkpoint (safetensors, as `majmin train --save` writes it) to take the spectra at;
    /// without it, the seeded initialisation (--seed).
    #[arg(long, value_name = "F")]
    #[serde(serialize_with = "crate::output::serialize_path_lossy")]
    pub checkpoint: Option<PathBuf>,
    /// How many of the largest and of the most negative eigenvalues, per part (1 to the number
    /// of parameters, at most --steps).
    #[arg(long, value_name = "K", default_value_t = 5)]
    pub k: usize,
    /// Lanczos steps (Hessian-vector products) per run, K to 10,000; ρmin takes two products a
    /// step.
    #[arg(long, value_name = "S", default_value_t = 60)]
    pub steps: usize,
    /// A residual counts as converged when it is at most T times the largest |eigenvalue|
    /// found (T in (0, 1)).
    #[arg(long, value_name = "T", default_value_t = 1e-3)]
    pub tol: f64,
    /// Hutchinson probes for the trace (2 to 100,000).
    #[arg(long, value_name = "N", default_value_t = 30)]
    pub trace_samples: usize,
    /// Also the spectral density by stochastic Lanczos quadrature (--density-runs runs of
    /// --steps steps).
    #[arg(long)]
    pub density: bool,
    /// Lanczos runs of the density (1 to 1,000).
    #[arg(long, value_name = "N", default_value_t = 3)]
    pub density_runs: usize,
    /// Write the densities' figure (.svg or .png; both when the name has no extension); implies
    /// --density.
    #[arg(long, value_name = "FILE")]
    #[serde(serialize_with = "crate::output::serialize_path_lossy")]
    pub figure: Option<PathBuf>,
}

/// `ρmin` of one part, or why it is not available.
#[derive(Debug, Clone, Serialize)]
pub struct RhoMinReport {
    /// `min |λ|` (None when not available). When not converged it is the square root of a
    /// Rayleigh quotient of `H²`, so an upper bound of `ρmin`.
    pub value: Option<f64>,
    /// `min ‖H x ∓ ρ x‖` for its unit Ritz vector.
    pub residual: Option<f64>,
    /// Whether the residual is within the tolerance.
    pub converged: bool,
    /// Why the value is not available or not to be trusted, if so.
    pub reason: Option<String>,
}

/// Per-eigenvalue residuals `‖H x − θ x‖`, in the order of `top` and `bottom`.
#[derive(Debug, Clone, Serialize)]
pub struct Residuals {
    /// Of the largest eigenvalues.
    pub top: Vec<f64>,
    /// Of the most negative eigenvalues.
    pub bottom: Vec<f64>,
    /// Of ρmin.
    pub rho_min: Option<f64>,
}

/// Per-eigenvalue converged flags, in the order of `top` and `bottom`.
#[derive(Debug, Clone, Serialize)]
pub struct Converged {
    /// Of the largest eigenvalues.
    pub top: Vec<bool>,
    /// Of the most negative eigenvalues.
    pub bottom: Vec<bool>,
}

/// The spectrum of one loss part.
#[derive(Debug, Clone, Serialize)]
pub struct PartSpectrum {
    /// The part's value at the point.
    pub loss: f64,
    /// `‖∇‖` of the part at the point.
    pub gradient_norm: f64,
    /// The `k` largest eigenvalues, largest first.
    pub top: Vec<f64>,
    /// The `k` most negative eigenvalues, smallest first.
    pub bottom: Vec<f64>,
    /// `ρmin = min |λ|`.
    pub rho_min: RhoMinReport,
    /// Hutchinson's estimate of the trace.
    pub trace: f64,
    /// Its standard error.
    pub trace_stderr: f64,
    /// `‖H x − θ x‖` of each value.
    pub residuals: Residuals,
    /// Whether each value converged.
    pub converged: Converged,
    /// Hessian-vector products used for this part.
    pub products: usize,
    /// Finite-difference products: the Richardson estimate of their error on a random
    /// direction, relative to `‖Hv‖` (None for exact products).
    pub hvp_relative_error: Option<f64>,
    /// The spectral density (with `--density` or `--figure`).
    pub density: Option<Density>,
    /// Wall-clock seconds for this part.
    pub seconds: f64,
}

/// What one Hessian-vector product costs against one gradient, at the point, on the whole loss.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct ProductCost {
    /// Seconds per gradient of `L` (best of 5).
    pub gradient_seconds: f64,
    /// Seconds per Hessian-vector product of `L` (best of 5).
    pub hvp_seconds: f64,
    /// `hvp_seconds / gradient_seconds`.
    pub hvp_per_gradient: f64,
}

/// The settings used.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct SpectrumSettings {
    /// Eigenvalues per end.
    pub k: usize,
    /// Lanczos steps per run.
    pub steps: usize,
    /// The convergence tolerance.
    pub tol: f64,
    /// Hutchinson probes.
    pub trace_samples: usize,
    /// Density runs (None: no density).
    pub density_runs: Option<usize>,
}

/// What `majmin spectrum` reports.
#[derive(Debug, Serialize)]
pub struct SpectrumOutput {
    /// The network.
    #[serde(flatten)]
    pub network: NetworkSpec,
    /// ζ (None: the data as loaded).
    pub zeta: Option<f64>,
    /// The seed of the initialisation, of the subsample and of the random starts.
    pub seed: u64,
    /// The parameter count.
    pub params: usize,
    /// n1.
    pub majority_samples: usize,
    /// n0.
    pub minority_samples: usize,
    /// `initialisation` or `checkpoint`.
    pub point: &'static str,
    /// The checkpoint file, if any.
    pub checkpoint: Option<String>,
    /// Whether Hessian-vector products are exact.
    pub exact_products: bool,
    /// How products are computed.
    pub products_method: &'static str,
    /// The settings.
    pub settings: SpectrumSettings,
    /// A product's cost against a gradient's.
    pub cost: ProductCost,
    /// `∇²L1`.
    pub majority: PartSpectrum,
    /// `∇²L0`.
    pub minority: PartSpectrum,
    /// `∇²L`.
    pub total: PartSpectrum,
    /// Wall-clock seconds of the whole command.
    pub seconds: f64,
    /// The figure files written.
    pub figures: Vec<String>,
}

const EXACT_METHOD: &str =
    "exact: the f64 perceptron's R-operator (Pearlmutter 1994), the Hessian PyTorch's autograd gives";
const DIFFERENCE_METHOD: &str =
    "central differences of f32 gradients (step ε^(1/3)·max(1, rms θ)); residuals include their error";

fn within(option: &str, value: usize, low: usize, high: usize, what: &str) -> Result<(), CliError> {
    if (low..=high).contains(&value) {
        Ok(())
    } else {
        Err(CliError::usage(format!(
            "--{option} {value}: expected {what}, a whole number from {low} to {high}"
        )))
    }
}

/// Checks the options that do not need the network.
fn check_args(args: &Args) -> Result<(), CliError> {
    if !(args.width.is_finite() && args.width > 0.0 && args.width <= majmin_sweep::MAX_WIDTH) {
        return Err(CliError::usage(format!(
            "--width {}: expected a multiplier in (0, {}] such as 1 or 0.125",
            crate::error::number(args.width),
            majmin_sweep::MAX_WIDTH
        )));
    }
    if let Some(z) = args.zeta {
        Zeta::new(z).map_err(|_| {
            CliError::usage(format!(
                "--zeta {}: expected {}",
                crate::error::number(z),
                Zeta::EXPECTED
            ))
        })?;
    }
    within(
        "k",
        args.k,
        1,
        MAX_STEPS,
        "how many eigenvalues at each end",
    )?;
    within("steps", args.steps, 1, MAX_STEPS, "Lanczos steps per run")?;
    if args.steps < args.k {
        return Err(CliError::usage(format!(
            "--steps {}: fewer Lanczos steps than --k {}; {} steps give at most {} eigenvalues at each end, so expected --steps ≥ {} (a few times --k converges better)",
            args.steps, args.k, args.steps, args.steps, args.k
        )));
    }
    if !(args.tol > 0.0 && args.tol < 1.0) {
        return Err(CliError::usage(format!(
            "--tol {}: expected a relative residual tolerance in (0, 1) such as 1e-3",
            crate::error::number(args.tol)
        )));
    }
    within(
        "trace-samples",
        args.trace_samples,
        2,
        MAX_TRACE_SAMPLES,
        "Hutchinson probes",
    )?;
    within(
        "density-runs",
        args.density_runs,
        1,
        MAX_DENSITY_RUNS,
        "stochastic Lanczos quadrature runs",
    )?;
    if let Some(path) = &args.figure {
        let ext = path
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase);
        if !matches!(ext.as_deref(), None | Some("svg") | Some("png")) {
            return Err(CliError::usage(format!(
                "--figure {}: expected a name ending in .svg or .png (or no extension for both)",
                path.display()
            )));
        }
        crate::output::check_output_file("--figure", path)?;
        if ext.is_none() {
            crate::output::check_output_file("--figure", &path.with_extension("svg"))?;
            crate::output::check_output_file("--figure", &path.with_extension("png"))?;
        }
    }
    if let Some(path) = &args.checkpoint {
        crate::input::regular_file(
            "--checkpoint",
            path,
            "a safetensors checkpoint of the network (majmin train --save)",
        )?;
    }
    Ok(())
}

/// The three loss parts at the point, and the point.
struct PartsAt {
    parts: [NetworkObjective; 3],
    theta: Vec<f64>,
    exact: bool,
}

fn checkpoint_error(e: majmin_models::checkpoint::CheckpointError) -> CliError {
    CliError::usage(format!("--checkpoint: {e}"))
}

/// Builds the three parts on the network's data: from the checkpoint's state (parameters and
/// BatchNorm statistics) when given, else from the seeded initialisation; with exact products
/// for `mlp`.
fn parts_at(
    ctx: &Context,
    spec: &NetworkSpec,
    args: &Args,
) -> Result<(PartsAt, (usize, usize)), CliError> {
    let data = load_data(spec)?;
    let net = load_network(ctx, spec, &data, args.zeta, ctx.seed)?;
    let sizes = net.sizes;
    let build_error =
        |e: majmin_core::ModelError| CliError::usage(format!("--arch {}: {e}", spec.arch));
    // the model whose state is the point: the checkpoint's, or the seeded initialisation
    let mut model = net.arch.build(&net.arch_config).map_err(build_error)?;
    if let Some(path) = &args.checkpoint {
        majmin_models::checkpoint::load(model.as_mut(), path).map_err(checkpoint_error)?;
    }
    let theta: Vec<f64> = model.params().into_iter().map(f64::from).collect();
    let data = net.majority.data().clone();
    let parts = if args.checkpoint.is_some() {
        let state = model
            .state_dict()
            .map_err(|e| CliError::run(format!("--checkpoint: {e}")))?;
        let copy = || -> Result<Box<dyn Model>, CliError> {
            let mut m = net.arch.build(&net.arch_config).map_err(build_error)?;
            m.load_state_dict(&state)
                .map_err(|e| CliError::run(format!("--checkpoint: {e}")))?;
            Ok(m)
        };
        let (a, b) = (copy()?, copy()?);
        [
            NetworkObjective::new(model, data.clone(), LossPart::Majority, CHUNK),
            NetworkObjective::new(a, data.clone(), LossPart::Minority, CHUNK),
            NetworkObjective::new(b, data, LossPart::Total, CHUNK),
        ]
    } else {
        [net.majority, net.minority, net.total]
    };
    // perceptrons get exact products (their state dict says so: Mlp::from_state_dict)
    let threads = ctx.thread_count();
    let parts = parts.map(|o| {
        o.exact_when_perceptron(threads)
            .map_err(|e| CliError::run(format!("--arch {}: {e}", spec.arch)))
    });
    let [a, b, c] = parts;
    let parts = [a?, b?, c?];
    let exact = parts.iter().all(NetworkObjective::is_exact);
    Ok((
        PartsAt {
            parts,
            theta,
            exact,
        },
        sizes,
    ))
}

/// Timings per cost measurement: the best of these many (a shared machine's noise only ever
/// adds time).
const COST_REPEATS: usize = 5;

/// The best of [`COST_REPEATS`] timings of `f`, in seconds.
fn best_time(mut f: impl FnMut() -> Result<(), CliError>) -> Result<f64, CliError> {
    let mut best = f64::INFINITY;
    for _ in 0..COST_REPEATS {
        let start = Instant::now();
        f()?;
        best = best.min(start.elapsed().as_secs_f64());
    }
    Ok(best)
}

fn model_error(e: majmin_core::ModelError) -> CliError {
    CliError::run(format!("evaluating the network: {e}"))
}

/// Times a gradient and a Hessian-vector product of `objective` at `theta`.
fn product_cost(
    objective: &NetworkObjective,
    theta: &[f64],
    seed: u64,
) -> Result<ProductCost, CliError> {
    let dim = theta.len();
    let mut rng = Rng::seed_from_u64(seed ^ 0xC057);
    let v: Vec<f64> = (0..dim).map(|_| rng.normal()).collect();
    let mut grad = vec![0.0; dim];
    let mut out = vec![0.0; dim];
    let gradient_seconds = best_time(|| {
        objective
            .try_value_and_gradient(theta, &mut grad)
            .map(|_| ())
            .map_err(model_error)
    })?;
    let hvp_seconds = best_time(|| objective.try_hvp(theta, &v, &mut out).map_err(model_error))?;
    Ok(ProductCost {
        gradient_seconds,
        hvp_seconds,
        hvp_per_gradient: hvp_seconds / gradient_seconds.max(f64::MIN_POSITIVE),
    })
}

/// The spectrum of one part at `theta`; every product ticks `bar`.
fn part_spectrum(
    objective: &NetworkObjective,
    theta: &[f64],
    args: &Args,
    seed: u64,
    bar: &ProgressBar,
) -> Result<PartSpectrum, CliError> {
    let start = Instant::now();
    let name = objective.part().name();
    let dim = theta.len();
    let products = Cell::new(0usize);
    let failure: RefCell<Option<majmin_core::ModelError>> = RefCell::new(None);
    let op = FnOperator::new(dim, |v: &[f64], out: &mut [f64]| {
        products.set(products.get() + 1);
        bar.inc(1);
        if failure.borrow().is_some() {
            out.iter_mut().for_each(|o| *o = f64::NAN);
            return;
        }
        if let Err(e) = objective.try_hvp(theta, v, out) {
            out.iter_mut().for_each(|o| *o = f64::NAN);
            *failure.borrow_mut() = Some(e);
        }
    });
    let check = || match failure.borrow_mut().take() {
        Some(e) => Err(model_error(e)),
        None => Ok(()),
    };
    let mut grad = vec![0.0; dim];
    let loss = objective
        .try_value_and_gradient(theta, &mut grad)
        .map_err(model_error)?;
    let gradient_norm = majmin_core::objective::norm(&grad);

    bar.set_message(format!("{name}: extreme eigenvalues"));
    let extremes = extreme_eigenvalues(&op, args.k, args.steps, args.tol, seed);
    check()?;
    bar.set_message(format!("{name}: ρmin (Lanczos on H²)"));
    let rho = rho_min(&op, args.steps, args.tol, seed ^ 0x5EED_0001);
    check()?;
    bar.set_message(format!("{name}: trace"));
    let trace = hutchinson_trace(&op, args.trace_samples, seed ^ 0x5EED_0002);
    check()?;
    let density = if args.density || args.figure.is_some() {
        bar.set_message(format!("{name}: density"));
        let d = slq_density(&op, args.density_runs, args.steps, seed ^ 0x5EED_0003);
        check()?;
        Some(d)
    } else {
        None
    };
    let hvp_relative_error = if objective.is_exact() {
        None
    } else {
        let mut rng = Rng::seed_from_u64(seed ^ 0x5EED_0004);
        let v: Vec<f64> = (0..dim).map(|_| rng.normal()).collect();
        let e = objective.hvp_with_error(theta, &v).map_err(model_error)?;
        products.set(products.get() + 2);
        Some(e.error / majmin_core::objective::norm(&e.product).max(f64::MIN_POSITIVE))
    };

    let rho_min = rho_report(&rho, args, hvp_relative_error, &extremes.top);
    Ok(PartSpectrum {
        loss,
        gradient_norm,
        top: extremes.top.iter().map(|r| r.value).collect(),
        bottom: extremes.bottom.iter().map(|r| r.value).collect(),
        residuals: Residuals {
            top: extremes.top.iter().map(|r| r.residual).collect(),
            bottom: extremes.bottom.iter().map(|r| r.residual).collect(),
            rho_min: rho_min.residual,
        },
        converged: Converged {
            top: extremes.top.iter().map(|r| r.converged).collect(),
            bottom: extremes.bottom.iter().map(|r| r.converged).collect(),
        },
        rho_min,
        trace: trace.value,
        trace_stderr: trace.stderr,
        products: products.get(),
        hvp_relative_error,
        density,
        seconds: start.elapsed().as_secs_f64(),
    })
}

/// ρmin with the reason it is missing or not to be trusted.
fn rho_report(
    rho: &majmin_theory::spectrum::RhoMin,
    args: &Args,
    hvp_relative_error: Option<f64>,
    top: &[majmin_theory::spectrum::RitzValue],
) -> RhoMinReport {
    if !(rho.value.is_finite() && rho.residual.is_finite()) {
        return RhoMinReport {
            value: None,
            residual: None,
            converged: false,
            reason: Some("the Lanczos iteration on H² produced no finite Ritz value".into()),
        };
    }
    let scale = top.first().map(|r| r.value.abs()).unwrap_or(0.0);
    let reason = match hvp_relative_error {
        // a finite-difference product is only good to about its error times ‖H‖
        Some(err) if rho.value <= err * scale => Some(format!(
            "below the finite-difference products' error (about {:.1e} × λmax = {:.1e}): not resolved",
            err,
            err * scale
        )),
        _ if !rho.converged => Some(format!(
            "not converged in {} steps on H² (residual {:.2e}): the value is an upper bound of ρmin; raise --steps",
            args.steps, rho.residual
        )),
        _ => None,
    };
    RhoMinReport {
        value: Some(rho.value),
        residual: Some(rho.residual),
        converged: rho.converged && reason.is_none(),
        reason,
    }
}

/// The densities' figure.
fn write_figure(out: &SpectrumOutput, path: &Path) -> Result<Vec<PathBuf>, CliError> {
    let panel = |label: &str, part: &PartSpectrum| {
        let density = part.density.clone().unwrap_or(Density {
            nodes: Vec::new(),
            weights: Vec::new(),
        });
        let values = density
            .nodes
            .iter()
            .chain(&part.top)
            .chain(&part.bottom)
            .copied()
            .filter(|v| v.is_finite());
        let (lo, hi) = values.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
            (lo.min(v), hi.max(v))
        });
        let (lo, hi) = if lo.is_finite() {
            (lo, hi)
        } else {
            (-1.0, 1.0)
        };
        let sigma = ((hi - lo) / 100.0).max(1e-12 * hi.abs().max(lo.abs()).max(1e-300));
        let grid: Vec<f64> = (0..FIGURE_GRID)
            .map(|i| {
                lo - 5.0 * sigma + (hi - lo + 10.0 * sigma) * i as f64 / (FIGURE_GRID - 1) as f64
            })
            .collect();
        SpectrumPanel {
            label: label.into(),
            density: density.smoothed(&grid, sigma),
            grid,
            sigma,
            top: part.top.clone(),
        }
    };
    let figure = SpectrumFigure {
        title: format!(
            "Hessian spectra of {} (width {}) on {}, ζ = {}, at {}",
            out.network.arch,
            out.network.width,
            out.network.data,
            out.zeta
                .map(|z| z.to_string())
                .unwrap_or_else(|| "as loaded".into()),
            out.checkpoint
                .as_deref()
                .map(|c| format!("checkpoint {c}"))
                .unwrap_or_else(|| format!("the initialisation (seed {})", out.seed))
        ),
        panels: vec![
            panel("majority L1", &out.majority),
            panel("minority L0", &out.minority),
            panel("total L = L1 + L0", &out.total),
        ],
    };
    let has_ext = path.extension().is_some();
    if has_ext {
        save(&figure, path).map_err(|e| CliError::run(e.to_string()))?;
        Ok(vec![path.to_path_buf()])
    } else {
        save_both(&figure, path)
            .map(|p| p.to_vec())
            .map_err(|e| CliError::run(e.to_string()))
    }
}

/// Computes the three spectra (no output).
pub fn spectra(args: &Args, ctx: &Context) -> Result<SpectrumOutput, CliError> {
    let start = Instant::now();
    check_args(args)?;
    let spec = NetworkSpec {
        arch: args.arch.clone(),
        width: args.width,
        data: args.data.clone(),
    };
    let (at, (n1, n0)) = parts_at(ctx, &spec, args)?;
    let dim = at.theta.len();
    if args.k > dim {
        return Err(CliError::usage(format!(
            "--k {}: the network has {dim} parameters, so its Hessians have {dim} eigenvalues; expected --k from 1 to {dim}",
            args.k
        )));
    }
    let cost = product_cost(&at.parts[2], &at.theta, ctx.seed)?;
    // products per part: Lanczos, the residual checks, ρmin (two a step, one check), the trace
    // probes, the density runs
    let density_runs = (args.density || args.figure.is_some()).then_some(args.density_runs);
    let steps = args.steps.min(dim);
    let per_part =
        steps + 2 * args.k + 2 * steps + 1 + args.trace_samples + density_runs.unwrap_or(0) * steps;
    let bar = ctx.progress(3 * per_part as u64, "Hessian-vector products");
    let mut spectra = Vec::with_capacity(3);
    for (i, objective) in at.parts.iter().enumerate() {
        bar.set_position((i * per_part) as u64);
        spectra.push(part_spectrum(
            objective,
            &at.theta,
            args,
            ctx.seed.wrapping_add(i as u64),
            &bar,
        )?);
    }
    bar.finish_and_clear();
    let [majority, minority, total]: [PartSpectrum; 3] = spectra
        .try_into()
        .map_err(|_| CliError::run("internal: three parts expected"))?;
    let mut out = SpectrumOutput {
        network: spec,
        zeta: args.zeta,
        seed: ctx.seed,
        params: dim,
        majority_samples: n1,
        minority_samples: n0,
        point: if args.checkpoint.is_some() {
            "checkpoint"
        } else {
            "initialisation"
        },
        checkpoint: args
            .checkpoint
            .as_ref()
            .map(|p| p.to_string_lossy().into_owned()),
        exact_products: at.exact,
        products_method: if at.exact {
            EXACT_METHOD
        } else {
            DIFFERENCE_METHOD
        },
        settings: SpectrumSettings {
            k: args.k,
            steps: args.steps,
            tol: args.tol,
            trace_samples: args.trace_samples,
            density_runs,
        },
        cost,
        majority,
        minority,
        total,
        seconds: 0.0,
        figures: Vec::new(),
    };
    if let Some(path) = &args.figure {
        out.figures = write_figure(&out, path)?
            .iter()
            .map(|p| p.display().to_string())
            .collect();
    }
    out.seconds = start.elapsed().as_secs_f64();
    Ok(out)
}

/// A number in a table cell: 4 significant digits, `*` when not converged.
fn cell(value: f64, converged: bool) -> String {
    format!("{value:.4e}{}", if converged { " " } else { "*" })
}

/// The plain-text report: one column per part, one row per quantity.
pub fn summary(out: &SpectrumOutput) -> String {
    let parts = [
        ("majority L1", &out.majority),
        ("minority L0", &out.minority),
        ("total L", &out.total),
    ];
    let mut s = format!(
        "{} (width {}, {} parameters) on {}, ζ = {} (n1 = {}, n0 = {}), at {}\nHessian-vector products: {}\none product costs {:.2} gradients ({:.3e} s against {:.3e} s)\n\n",
        out.network.arch,
        out.network.width,
        out.params,
        out.network.data,
        out.zeta.map(|z| z.to_string()).unwrap_or_else(|| "as loaded".into()),
        out.majority_samples,
        out.minority_samples,
        out.checkpoint
            .as_deref()
            .map(|c| format!("checkpoint {c}"))
            .unwrap_or_else(|| format!("the seeded initialisation (seed {})", out.seed)),
        out.products_method,
        out.cost.hvp_per_gradient,
        out.cost.hvp_seconds,
        out.cost.gradient_seconds,
    );
    let mut rows: Vec<(String, [String; 3])> = Vec::new();
    let row = |f: &dyn Fn(&PartSpectrum) -> String| -> [String; 3] {
        [f(parts[0].1), f(parts[1].1), f(parts[2].1)]
    };
    rows.push(("loss".into(), row(&|p| format!("{:.4e} ", p.loss))));
    rows.push(("‖∇‖".into(), row(&|p| format!("{:.4e} ", p.gradient_norm))));
    for i in 0..out.settings.k {
        rows.push((
            format!("λ{} (top)", i + 1),
            row(&|p| {
                p.top
                    .get(i)
                    .map(|&v| cell(v, p.converged.top[i]))
                    .unwrap_or_default()
            }),
        ));
    }
    for i in 0..out.settings.k {
        rows.push((
            format!("λ{} (bottom)", i + 1),
            row(&|p| {
                p.bottom
                    .get(i)
                    .map(|&v| cell(v, p.converged.bottom[i]))
                    .unwrap_or_default()
            }),
        ));
    }
    rows.push((
        "ρmin = min |λ|".into(),
        row(&|p| match p.rho_min.value {
            Some(v) => cell(v, p.rho_min.converged),
            None => "n/a".into(),
        }),
    ));
    rows.push((
        "trace ± stderr".into(),
        row(&|p| format!("{:.4e} ± {:.2e}", p.trace, p.trace_stderr)),
    ));
    rows.push(("products".into(), row(&|p| p.products.to_string())));
    rows.push(("seconds".into(), row(&|p| format!("{:.2}", p.seconds))));
    let label_width = rows.iter().map(|r| r.0.chars().count()).max().unwrap_or(0);
    let widths: Vec<usize> = (0..3)
        .map(|c| {
            rows.iter()
                .map(|r| r.1[c].chars().count())
                .chain([parts[c].0.chars().count()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let pad = |text: &str, width: usize| {
        format!(
            "{text}{}",
            " ".repeat(width.saturating_sub(text.chars().count()))
        )
    };
    s.push_str(&pad("", label_width));
    for (c, (name, _)) in parts.iter().enumerate() {
        s.push_str("  ");
        s.push_str(&pad(name, widths[c]));
    }
    s.truncate(s.trim_end().len());
    s.push('\n');
    for (label, cells) in &rows {
        s.push_str(&pad(label, label_width));
        for (c, text) in cells.iter().enumerate() {
            s.push_str("  ");
            s.push_str(&pad(text, widths[c]));
        }
        s.truncate(s.trim_end().len());
        s.push('\n');
    }
    s.push_str(&format!(
        "* not converged: residual ‖Hx − θx‖ above {} × the largest |eigenvalue| (raise --steps; --json has every residual)\n",
        out.settings.tol
    ));
    for (name, p) in parts {
        if let Some(reason) = &p.rho_min.reason {
            s.push_str(&format!("ρmin of {name}: {reason}\n"));
        }
        if let Some(e) = p.hvp_relative_error {
            s.push_str(&format!(
                "{name}: finite-difference products' relative error about {e:.1e} (Richardson)\n"
            ));
        }
    }
    for f in &out.figures {
        s.push_str(&format!("figure written to {f}\n"));
    }
    s
}

/// Runs `majmin spectrum`.
pub fn run(args: &Args, ctx: &Context) -> Result<(), CliError> {
    let out = spectra(args, ctx)?;
    if ctx.json {
        crate::output::print_json(&out)
    } else {
        print!("{}", summary(&out));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn perceptron_sizes_come_from_the_state_dict() {
        use majmin_flow::mlp::Mlp;
        let registry = majmin_models::Registry::builtin();
        let arch = registry.get("mlp").unwrap();
        let config = majmin_core::ArchConfig::new([1, 8, 8], 10).with_width(0.125);
        let sizes = |m: Box<dyn Model>| {
            Mlp::from_state_dict(&m.state_dict().unwrap()).map(|p| p.sizes().to_vec())
        };
        assert_eq!(
            sizes(arch.build(&config).unwrap()),
            Some(vec![64, 32, 16, 10])
        );
        let mut none = config.clone();
        none.options.insert("hidden".into(), "none".into());
        assert_eq!(sizes(arch.build(&none).unwrap()), Some(vec![64, 10]));
        // a network with convolutions and BatchNorm is no perceptron
        let cnn = registry.get("smallcnn").unwrap().build(&config).unwrap();
        assert_eq!(sizes(cnn), None);
    }
}
