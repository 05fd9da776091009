//! `majmin theory --arch A --data SPEC …`: the theorems on a network (SPEC §7).
//!
//! - `--critical-pair`: the Theorem 1 experiment ([`critical_pairs`]) for each ζ of `--zeta` and
//!   each of `--seeds` seeds, from the seeded initialisation: θ̂1 by full-batch descent on L1,
//!   θ̂ from θ̂1 on L, the constants on a ball around θ̂1 holding both, 4τ/δ and the verdict, and
//!   Theorem 2 along both descents; `--figure` draws the plane of the first run.
//! - `--radius R`: the constants on K = B(centre, R) ([`region_check`]). The centre is θ̂1 of
//!   the first seed and ζ (descent on L1), or the parameters of `--checkpoint F`.
//! - `--segment G` (with `--checkpoint F`): K is the segment between the two checkpoints.
//!
//! Checkpoints are read by [`checkpoint_parameters`] with `majmin_models::checkpoint::load`.

use std::path::{Path, PathBuf};

use majmin_core::{ArchConfig, Dataset};
use majmin_flow::network::{LossPart, NetworkObjective};
use majmin_metrics::plot::{save, save_both, NetworkZoneFigure};
use majmin_metrics::{zone_distances, ProbeAtDistance, ZoneDistances};
use majmin_theory::critical_pair::{PlaneConfig, Stage};
use majmin_theory::{
    check_region, critical_pair, gradient_descent, plane_section, CriticalPairConfig,
    CriticalPairReport, DescentConfig, Parts, Region, RegionConfig, RegionError, RegionReport,
};
use serde::Serialize;

use crate::context::Context;
use crate::error::CliError;

/// Mini-batch size of the network objectives' evaluations.
pub(crate) const CHUNK: usize = 512;

/// Which network, on which data.
#[derive(Debug, Clone, Serialize)]
pub struct NetworkSpec {
    /// Architecture name.
    pub arch: String,
    /// Width multiplier.
    pub width: f64,
    /// Data spec.
    pub data: String,
}

/// A network's three loss parts on one imbalanced data set, and its seeded initialisation.
pub struct LoadedNetwork {
    /// L1.
    pub majority: NetworkObjective,
    /// L0.
    pub minority: NetworkObjective,
    /// L.
    pub total: NetworkObjective,
    /// The initial parameters (seeded).
    pub init: Vec<f64>,
    /// n1 and n0.
    pub sizes: (usize, usize),
    /// The architecture, to build more models (e.g. to read a checkpoint into).
    pub arch: std::sync::Arc<dyn majmin_core::Architecture>,
    /// The configuration the three models were built with.
    pub arch_config: ArchConfig,
}

impl LoadedNetwork {
    /// The three parts as the theory's [`Parts`].
    pub fn parts(&self) -> Parts<'_> {
        Parts {
            majority: &self.majority,
            minority: &self.minority,
            total: &self.total,
        }
    }

    /// The parameter count.
    pub fn dim(&self) -> usize {
        self.init.len()
    }
}

/// Loads the data of `spec` (once per command).
pub fn load_data(spec: &NetworkSpec) -> Result<Dataset, CliError> {
    majmin_sweep::load_data(&spec.data, None).map_err(crate::sweep::sweep_error)
}

/// Builds the network of `spec` on `data` subsampled to `zeta` (with `seed`, as `train` does)
/// and initialised with `seed`.
pub fn load_network(
    ctx: &Context,
    spec: &NetworkSpec,
    data: &Dataset,
    zeta: Option<f64>,
    seed: u64,
) -> Result<LoadedNetwork, CliError> {
    let arch = crate::sweep::resolve_arch(ctx, &spec.arch)?;
    majmin_sweep::check_arch(
        arch.as_ref(),
        data,
        &majmin_sweep::ArchChoice::new(spec.arch.clone(), spec.width),
    )
    .map_err(crate::sweep::sweep_error)?;
    let data = match zeta {
        Some(z) => majmin_sweep::imbalanced(data, &spec.data, z, seed)
            .map_err(crate::sweep::sweep_error)?,
        None => data.clone(),
    };
    let sizes = data.group_sizes();
    if sizes.majority == 0 || sizes.minority == 0 {
        return Err(CliError::usage(format!(
            "--data {}: the set has {} majority and {} minority samples; both groups are needed for L1 and L0",
            spec.data, sizes.majority, sizes.minority
        )));
    }
    let config = ArchConfig::new(data.shape(), data.classes())
        .with_width(spec.width)
        .with_seed(seed);
    let build = |part| -> Result<NetworkObjective, CliError> {
        let model = arch
            .build(&config)
            .map_err(|e| CliError::usage(format!("--arch {}: {e}", spec.arch)))?;
        // perceptrons get exact f64 Hessian-vector products (R-operator); others differences
        NetworkObjective::new(model, data.clone(), part, CHUNK)
            .exact_when_perceptron(rayon::current_num_threads())
            .map_err(|e| CliError::run(format!("--arch {}: {e}", spec.arch)))
    };
    let majority = build(LossPart::Majority)?;
    let init = majority
        .params()
        .map_err(|e| CliError::run(format!("--arch {}: {e}", spec.arch)))?;
    Ok(LoadedNetwork {
        minority: build(LossPart::Minority)?,
        total: build(LossPart::Total)?,
        majority,
        init,
        sizes: (sizes.majority, sizes.minority),
        arch,
        arch_config: config,
    })
}

/// The parameters stored in the checkpoint `path`, for the network `net`, as `f64` in the
/// model's flat order.
///
/// The checkpoint (`majmin train --save`, or PyTorch's `save_file(module.state_dict())`) is
/// loaded with [`majmin_models::checkpoint::load`] into a model built like the network's, which
/// refuses (exit 2, naming `option`, the file and the tensor) a file that is not safetensors, is
/// truncated or corrupt, or does not fit the architecture. Only the trainable parameters are
/// used: the loss parts evaluate their own models, so BatchNorm running statistics in the file
/// do not enter K's constants.
pub fn checkpoint_parameters(
    option: &str,
    net: &LoadedNetwork,
    path: &Path,
) -> Result<Vec<f64>, CliError> {
    crate::input::regular_file(option, path, "a safetensors checkpoint of the network")?;
    // the model the checkpoint is read into
    let mut model = net
        .arch
        .build(&net.arch_config)
        .map_err(|e| CliError::usage(format!("{option} {}: {e}", path.display())))?;
    majmin_models::checkpoint::load(model.as_mut(), path)
        .map_err(|e| CliError::usage(format!("{option}: {e}")))?;
    let mut params = vec![0.0f32; model.num_params()];
    model
        .get_params(&mut params)
        .map_err(|e| CliError::run(format!("{option} {}: {e}", path.display())))?;
    Ok(params.into_iter().map(f64::from).collect())
}

fn region_error(e: RegionError) -> CliError {
    match e {
        RegionError::NotFinite { .. } => CliError::run(e),
        _ => CliError::usage(e),
    }
}

/// One Theorem 1 run of [`critical_pairs`].
#[derive(Debug, Serialize)]
pub struct PairRun {
    /// ζ (None: the data as loaded).
    pub zeta: Option<f64>,
    /// The seed of the initialisation and of the subsample.
    pub seed: u64,
    /// n1.
    pub majority: usize,
    /// n0.
    pub minority: usize,
    /// The experiment.
    #[serde(flatten)]
    pub report: CriticalPairReport,
    /// Theorem 2 along the descents, with cosines and gradient ratios.
    pub zone_distances: Option<ZoneDistances>,
}

/// What `theory --critical-pair` reports.
#[derive(Debug, Serialize)]
pub struct PairsOutput {
    /// The network.
    #[serde(flatten)]
    pub network: NetworkSpec,
    /// Its parameter count.
    pub params: usize,
    /// The settings.
    pub settings: CriticalPairConfig,
    /// One per (ζ, seed).
    pub runs: Vec<PairRun>,
    /// The figure files written.
    pub figures: Vec<String>,
    /// What the constants are.
    pub note: &'static str,
}

/// The figure asked for.
#[derive(Debug, Clone)]
pub struct FigureRequest {
    /// `.svg`, `.png`, or a stem for both.
    pub path: PathBuf,
    /// Grid points per axis of the plane.
    pub grid: usize,
    /// Lanczos steps for the top eigenvector of ∇²L1(θ̂1).
    pub lanczos_steps: usize,
}

/// The Theorem 1 experiment for every ζ of `zetas` (an empty list: the data as loaded) and
/// `seeds` seeds from `ctx.seed`, with a progress bar per run; with `figure`, the plane figure of
/// the first run.
pub fn critical_pairs(
    ctx: &Context,
    spec: &NetworkSpec,
    zetas: &[f64],
    seeds: usize,
    config: &CriticalPairConfig,
    figure: Option<&FigureRequest>,
) -> Result<PairsOutput, CliError> {
    let data = load_data(spec)?;
    let zeta_list: Vec<Option<f64>> = if zetas.is_empty() {
        vec![None]
    } else {
        zetas.iter().map(|&z| Some(z)).collect()
    };
    let mut runs = Vec::new();
    let mut figures = Vec::new();
    let mut params = 0;
    for zeta in &zeta_list {
        for i in 0..seeds {
            let seed = ctx.seed.wrapping_add(i as u64);
            let net = load_network(ctx, spec, &data, *zeta, seed)?;
            params = net.dim();
            let label = format!(
                "ζ={} seed {seed}",
                zeta.map(|z| z.to_string()).unwrap_or_else(|| "-".into())
            );
            let bar = ctx.progress(config.descent.max_steps as u64, format!("θ̂1 {label}"));
            let mut current = Stage::Majority;
            let report =
                critical_pair(net.parts(), &net.init, config, &mut |stage, done, total| {
                    if stage != current {
                        current = stage;
                        bar.set_message(match stage {
                            Stage::Majority => format!("θ̂1 {label}"),
                            Stage::Total => format!("θ̂ {label}"),
                            Stage::Constants => format!("constants {label}"),
                        });
                    }
                    bar.set_length(total);
                    bar.set_position(done);
                })
                .map_err(region_error)?;
            bar.finish_and_clear();
            if let (Some(request), true) = (figure, runs.is_empty()) {
                figures.extend(write_plane_figure(
                    ctx, spec, &net, &report, *zeta, request,
                )?);
            }
            let probes: Vec<ProbeAtDistance> = report
                .probes
                .iter()
                .map(|p| ProbeAtDistance {
                    t: p.t as f64,
                    probe: majmin_core::ZoneProbe {
                        inner_product: p.inner_product,
                        majority_grad_norm: p.majority_grad_norm,
                        minority_grad_norm: p.minority_grad_norm,
                    },
                    distance: p.distance_to_majority_critical,
                })
                .collect();
            runs.push(PairRun {
                zeta: *zeta,
                seed,
                majority: net.sizes.0,
                minority: net.sizes.1,
                zone_distances: zone_distances(&probes, report.bound_zone),
                report,
            });
        }
    }
    Ok(PairsOutput {
        network: spec.clone(),
        params,
        settings: *config,
        runs,
        figures: figures.iter().map(|p| p.display().to_string()).collect(),
        note: majmin_theory::region::REGION_NOTE,
    })
}

/// Draws the plane through θ̂1, θ̂ and the top eigenvector of ∇²L1(θ̂1) (`.svg`, `.png`, or
/// both when the request's path has no extension).
pub fn write_plane_figure(
    ctx: &Context,
    spec: &NetworkSpec,
    net: &LoadedNetwork,
    report: &CriticalPairReport,
    zeta: Option<f64>,
    request: &FigureRequest,
) -> Result<Vec<PathBuf>, CliError> {
    let (path, grid) = (request.path.as_path(), request.grid);
    let theta1 = report.majority_critical();
    let theta = report.total_critical();
    let scale = (majmin_core::objective::norm(theta1) / (net.dim() as f64).sqrt()).max(1.0);
    let extent = report.distance.max(1e-3 * scale);
    let bar = ctx.progress(grid as u64, "figure plane");
    let plane = plane_section(
        net.parts(),
        theta1,
        theta,
        &PlaneConfig {
            extent,
            points: grid,
            lanczos_steps: request.lanczos_steps,
            seed: ctx.seed,
        },
        &mut |done, total| {
            bar.set_length(total);
            bar.set_position(done);
        },
    )
    .map_err(region_error)?;
    bar.finish_and_clear();
    let mut trajectory = vec![plane.project(theta1)];
    trajectory.extend(
        report
            .probes
            .iter()
            .filter(|p| p.phase == "total")
            .map(|p| plane.project(&p.point)),
    );
    let figure = NetworkZoneFigure {
        title: format!(
            "{} (width {}) on {}, ζ = {}: verdict {}",
            spec.arch,
            spec.width,
            spec.data,
            zeta.map(|z| z.to_string())
                .unwrap_or_else(|| "as loaded".into()),
            report.verdict.as_str()
        ),
        x: plane.x.clone(),
        y: plane.y.clone(),
        values: plane.values.clone(),
        adversarial: plane.adversarial.clone(),
        majority_critical: plane.project(theta1),
        total_critical: plane.project(theta),
        top_eigenvalue: plane.top_eigenvalue,
        ball_radius: report.bound_zone,
        trajectory,
    };
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    match ext.as_deref() {
        None => save_both(&figure, path)
            .map(|p| p.to_vec())
            .map_err(|e| CliError::run(e.to_string())),
        Some(_) => {
            save(&figure, path).map_err(|e| CliError::run(e.to_string()))?;
            Ok(vec![path.to_path_buf()])
        }
    }
}

/// Where K's centre comes from.
#[derive(Debug, Serialize)]
pub struct CentreSource {
    /// `critical-point-of-L1` or `checkpoint`.
    pub kind: &'static str,
    /// The checkpoint file, if any.
    pub checkpoint: Option<String>,
    /// For θ̂1: the descent that reached it.
    pub descent: Option<majmin_theory::critical_pair::Descent>,
}

/// What `theory --radius` / `--segment` reports.
#[derive(Debug, Serialize)]
pub struct RegionOutput {
    /// The network.
    #[serde(flatten)]
    pub network: NetworkSpec,
    /// ζ.
    pub zeta: Option<f64>,
    /// The seed.
    pub seed: u64,
    /// n1.
    pub majority: usize,
    /// n0.
    pub minority: usize,
    /// Where the centre came from.
    pub centre: CentreSource,
    /// The region check.
    #[serde(flatten)]
    pub report: RegionReport,
}

/// How K is given on the command line.
#[derive(Debug, Clone)]
pub enum RegionChoice {
    /// B(centre, R); the centre is `checkpoint`'s parameters, or θ̂1 when None.
    Ball {
        /// The radius.
        radius: f64,
        /// The centre's checkpoint.
        checkpoint: Option<PathBuf>,
    },
    /// The segment between two checkpoints.
    Segment {
        /// The first end.
        from: PathBuf,
        /// The second end.
        to: PathBuf,
    },
}

/// The constants on K for the network of `spec` at `zeta` and `ctx.seed`.
pub fn region_check(
    ctx: &Context,
    spec: &NetworkSpec,
    zeta: Option<f64>,
    choice: &RegionChoice,
    descent: &DescentConfig,
    config: &RegionConfig,
) -> Result<RegionOutput, CliError> {
    let data = load_data(spec)?;
    let net = load_network(ctx, spec, &data, zeta, ctx.seed)?;
    let (region, centre) = match choice {
        RegionChoice::Ball {
            radius,
            checkpoint: Some(file),
        } => {
            let centre = checkpoint_parameters("--checkpoint", &net, file)?;
            (
                Region::ball(centre, *radius)
                    .map_err(|e| CliError::usage(format!("--radius: {e}")))?,
                CentreSource {
                    kind: "checkpoint",
                    checkpoint: Some(file.display().to_string()),
                    descent: None,
                },
            )
        }
        RegionChoice::Ball {
            radius,
            checkpoint: None,
        } => {
            let bar = ctx.progress(descent.max_steps as u64, "θ̂1 (descent on L1)");
            let d = gradient_descent(&net.majority, &net.init, descent, &mut |s| {
                bar.set_position(s.step as u64)
            })
            .map_err(region_error)?;
            bar.finish_and_clear();
            (
                Region::ball(d.point.clone(), *radius)
                    .map_err(|e| CliError::usage(format!("--radius: {e}")))?,
                CentreSource {
                    kind: "critical-point-of-L1",
                    checkpoint: None,
                    descent: Some(d),
                },
            )
        }
        RegionChoice::Segment { from, to } => {
            let a = checkpoint_parameters("--checkpoint", &net, from)?;
            let b = checkpoint_parameters("--segment", &net, to)?;
            (
                Region::segment(a, b).map_err(|e| CliError::usage(format!("--segment: {e}")))?,
                CentreSource {
                    kind: "checkpoint",
                    checkpoint: Some(from.display().to_string()),
                    descent: None,
                },
            )
        }
    };
    let total = (config.samples + config.pairs + 2) as u64;
    let bar = ctx.progress(total, "constants on K");
    let report = check_region(
        &net.majority,
        &net.minority,
        &region,
        config,
        &mut |done, _| bar.set_position(done),
    )
    .map_err(region_error)?;
    bar.finish_and_clear();
    Ok(RegionOutput {
        network: spec.clone(),
        zeta,
        seed: ctx.seed,
        majority: net.sizes.0,
        minority: net.sizes.1,
        centre,
        report,
    })
}

/// The human report of `--critical-pair`.
pub fn pairs_summary(out: &PairsOutput) -> String {
    let mut s = format!(
        "{} (width {}, {} parameters) on {}; constants are estimates ({})\n",
        out.network.arch, out.network.width, out.params, out.network.data, out.note
    );
    for r in &out.runs {
        let p = &r.report;
        let descent = |d: &majmin_theory::critical_pair::Descent| {
            format!(
                "‖∇‖ = {:.3e} after {} steps{}",
                d.gradient_norm,
                d.steps,
                if d.reached {
                    String::new()
                } else {
                    format!(
                        " (tolerance {:.1e} NOT reached: stopped by {})",
                        d.tol, d.stopped_by
                    )
                }
            )
        };
        s.push_str(&format!(
            "ζ = {}, seed {} (n1 = {}, n0 = {})\n  θ̂1 (descent on L1): {}\n  θ̂  (descent on L from θ̂1): {}\n",
            r.zeta.map(|z| z.to_string()).unwrap_or_else(|| "as loaded".into()),
            r.seed,
            r.majority,
            r.minority,
            descent(&p.majority_descent),
            descent(&p.total_descent),
        ));
        let c = p.constants;
        let a = p.assumptions;
        let mark = |b: bool| if b { "ok" } else { "FAILS" };
        s.push_str(&format!(
            "  K = B(θ̂1, {:.3e}): δ = {:.3e} ({} of {} samples with ‖∇L1‖ ≤ c{}), c = {:.3e}, M = {:.3e} ({} pairs), τ = {:.3e}\n",
            p.radius,
            c.delta,
            p.estimates.delta_samples,
            p.estimates.samples,
            if p.estimates.delta_converged { "" } else { "; Lanczos not converged" },
            c.c,
            c.m,
            p.estimates.m_pairs,
            c.tau
        ));
        s.push_str(&format!(
            "  A1 {}  A2 {}  A3 {}  A4 {} (τ must be < {:.3e})\n  Theorem 1: ‖θ̂1 − θ̂‖ = {:.4e} vs 4τ/δ = {:.4e} -> {}\n",
            mark(a.a1),
            mark(a.a2),
            mark(a.a3),
            mark(a.a4),
            p.a4_bound,
            p.distance,
            p.bound_critical,
            if p.within_bound { "within" } else { "NOT within" }
        ));
        if let Some(z) = &r.zone_distances {
            s.push_str(&format!(
                "  Theorem 2 along the descents: {} of {} probes adversarial, farthest {:.3e} from θ̂1 vs 2τ/δ = {:.3e}; min cos(∇L, ∇L1) {:.3}, max ‖∇L0‖/‖∇L1‖ {:.3e}\n",
                z.adversarial_points,
                z.points,
                z.max_adversarial_distance,
                z.bound_zone,
                z.min_cosine,
                z.max_gradient_ratio
            ));
        }
        s.push_str(&format!("  verdict: {}\n", p.verdict.as_str()));
    }
    for f in &out.figures {
        s.push_str(&format!("figure written to {f}\n"));
    }
    s
}

/// The human report of `--radius` / `--segment`.
pub fn region_summary(out: &RegionOutput) -> String {
    let r = &out.report;
    let c = r.constants;
    let a = r.assumptions;
    let mark = |b: bool| if b { "ok" } else { "FAILS" };
    let centre = match (&out.centre.descent, &out.centre.checkpoint) {
        (Some(d), _) => format!(
            "θ̂1 (descent on L1 from seed {}: ‖∇L1‖ = {:.3e} after {} steps{})",
            out.seed,
            d.gradient_norm,
            d.steps,
            if d.reached {
                ""
            } else {
                ", tolerance NOT reached"
            }
        ),
        (None, Some(f)) => format!("checkpoint {f}"),
        _ => "the given point".into(),
    };
    format!(
        "{} (width {}, {} parameters) on {}, ζ = {}\nK = {} around {centre}\nδ = {:.3e} ({} of {} samples with ‖∇L1‖ ≤ c), c = {:.3e}, M = {:.3e} ({} pairs), τ = {:.3e} (‖∇L0‖ {:.3e}, ρmax(∇²L0) {:.3e})\nat the centre: ‖∇L1‖ = {:.3e}, ρmin(∇²L1) = {:.3e}, ‖∇L0‖ = {:.3e}, ρmax(∇²L0) = {:.3e}\nA1 {}  A2 {}  A3 {}  A4 {} (τ must be < {:.3e}); 4τ/δ = {:.3e}, 2τ/δ = {:.3e}\n{}\nverdict: {}\n",
        out.network.arch,
        out.network.width,
        r.dim,
        out.network.data,
        out.zeta.map(|z| z.to_string()).unwrap_or_else(|| "as loaded".into()),
        match &r.region {
            Region::Ball { radius, .. } => format!("B(centre, {radius})"),
            Region::Segment { length, .. } => format!("the segment of length {length:.4e}"),
        },
        c.delta,
        r.estimates.delta_samples,
        r.estimates.samples,
        c.c,
        c.m,
        r.estimates.m_pairs,
        c.tau,
        r.estimates.tau_gradient,
        r.estimates.tau_hessian,
        r.estimates.at_center.majority_gradient_norm,
        r.estimates.at_center.majority_rho_min,
        r.estimates.at_center.minority_gradient_norm,
        r.estimates.at_center.minority_rho_max,
        mark(a.a1),
        mark(a.a2),
        mark(a.a3),
        mark(a.a4),
        r.a4_bound,
        r.bound_critical,
        r.bound_zone,
        r.estimates.note,
        r.verdict.as_str()
    )
}

/// The options of `majmin theory` for a network.
#[derive(Debug, clap::Args, Serialize)]
pub struct NetworkArgs {
    /// Check the theorems on a network of this architecture (`majmin models list`) instead of a
    /// problem.
    #[arg(long, value_name = "A")]
    pub arch: Option<String>,
    /// The network's width multiplier, in (0, 64].
    #[arg(long, value_name = "W", default_value_t = 1.0)]
    pub width: f64,
    /// The network's data spec, e.g. `digits`, `digits,resize=4`.
    #[arg(long, value_name = "SPEC", default_value = "digits")]
    pub data: String,
    /// Theorem 1: θ̂1 by full-batch descent on L1 from the seeded initialisation, θ̂ from θ̂1 on
    /// L, their distance against 4τ/δ with the constants on a ball holding both.
    #[arg(long, requires = "arch")]
    pub critical_pair: bool,
    /// K = B(centre, R): the centre is --checkpoint's parameters, or θ̂1 without --checkpoint.
    #[arg(long, value_name = "R", requires = "arch")]
    pub radius: Option<f64>,
    /// K = the segment between --checkpoint and this checkpoint.
    #[arg(long, value_name = "G", requires = "arch")]
    #[serde(serialize_with = "crate::output::serialize_path_lossy")]
    pub segment: Option<PathBuf>,
    /// A checkpoint (safetensors) of the network: the centre of K.
    #[arg(long, value_name = "F", requires = "arch")]
    #[serde(serialize_with = "crate::output::serialize_path_lossy")]
    pub checkpoint: Option<PathBuf>,
    /// Gradient-norm tolerance of the descents.
    #[arg(long, value_name = "T", default_value_t = 1e-3)]
    pub tol: f64,
    /// Step budget of each descent (1 to 1,000,000).
    #[arg(long, value_name = "N", default_value_t = 2000)]
    pub max_steps: usize,
    /// Seeds per ζ for --critical-pair (1 to 100), from --seed on.
    #[arg(long, value_name = "N", default_value_t = 1)]
    pub seeds: usize,
    /// Points of K for c, δ and τ, the centre included (1 to 10,000).
    #[arg(long, value_name = "N", default_value_t = 8)]
    pub region_samples: usize,
    /// Pairs of points of K for M (0 to 10,000).
    #[arg(long, value_name = "N", default_value_t = 4)]
    pub pairs: usize,
    /// Lanczos steps for the extreme eigenvalues (1 to 1,000).
    #[arg(long, value_name = "N", default_value_t = 20)]
    pub lanczos_steps: usize,
    /// Lanczos steps on H² for ρmin(∇²L1) (1 to 1,000).
    #[arg(long, value_name = "N", default_value_t = 30)]
    pub rho_min_steps: usize,
    /// Local ascent steps refining each part of τ (0 to 1,000).
    #[arg(long, value_name = "N", default_value_t = 3)]
    pub ascent_steps: usize,
    /// Grid points per axis of the network figure's plane (2 to 401).
    #[arg(long, value_name = "N", default_value_t = 25)]
    pub figure_grid: usize,
}

fn within(option: &str, value: usize, low: usize, high: usize, what: &str) -> Result<(), CliError> {
    if (low..=high).contains(&value) {
        Ok(())
    } else {
        Err(CliError::usage(format!(
            "{option} {value}: expected {what}, a whole number from {low} to {high}"
        )))
    }
}

/// The settings of the network options, checked.
pub fn settings(args: &NetworkArgs, seed: u64) -> Result<(DescentConfig, RegionConfig), CliError> {
    let n = &args;
    if !(n.width.is_finite() && n.width > 0.0 && n.width <= majmin_sweep::MAX_WIDTH) {
        return Err(CliError::usage(format!(
            "--width {}: expected a multiplier in (0, {}] such as 1 or 0.125",
            crate::error::number(n.width),
            majmin_sweep::MAX_WIDTH
        )));
    }
    if !(n.tol.is_finite() && n.tol > 0.0) {
        return Err(CliError::usage(format!(
            "--tol {}: expected a gradient-norm tolerance > 0 such as 1e-3",
            crate::error::number(n.tol)
        )));
    }
    within(
        "--max-steps",
        n.max_steps,
        1,
        1_000_000,
        "the step budget of each descent",
    )?;
    within("--seeds", n.seeds, 1, 100, "the seeds per ζ")?;
    within(
        "--region-samples",
        n.region_samples,
        1,
        10_000,
        "the points of K",
    )?;
    within("--pairs", n.pairs, 0, 10_000, "the pairs of points for M")?;
    within("--lanczos-steps", n.lanczos_steps, 1, 1000, "Lanczos steps")?;
    within("--rho-min-steps", n.rho_min_steps, 1, 1000, "Lanczos steps")?;
    within("--ascent-steps", n.ascent_steps, 0, 1000, "ascent steps")?;
    within(
        "--figure-grid",
        n.figure_grid,
        2,
        401,
        "grid points per axis",
    )?;
    Ok((
        DescentConfig {
            tol: n.tol,
            max_steps: n.max_steps,
            ..DescentConfig::default()
        },
        RegionConfig {
            samples: n.region_samples,
            pairs: n.pairs,
            lanczos_steps: n.lanczos_steps,
            rho_min_steps: n.rho_min_steps,
            ascent_steps: n.ascent_steps,
            c: None,
            seed,
        },
    ))
}

/// Runs `majmin theory --arch …`.
pub fn run(args: &super::Args, ctx: &Context) -> Result<(), CliError> {
    let n = &args.network;
    let arch = n.arch.clone().unwrap_or_default();
    let (descent, region) = settings(n, ctx.seed)?;
    let zetas: Vec<f64> = args.zeta.iter().map(|z| z.get()).collect();
    let modes = [n.critical_pair, n.radius.is_some(), n.segment.is_some()]
        .iter()
        .filter(|m| **m)
        .count();
    if modes != 1 {
        return Err(CliError::usage(format!(
            "--arch {arch}: expected exactly one of --critical-pair, --radius R or --segment G (got {modes})"
        )));
    }
    if n.segment.is_some() && n.checkpoint.is_none() {
        return Err(CliError::usage(
            "--segment G: the segment runs from --checkpoint F to G; --checkpoint is missing",
        ));
    }
    if n.critical_pair && n.checkpoint.is_some() {
        return Err(CliError::usage(
            "--checkpoint with --critical-pair: the experiment starts from the seeded initialisation; use --checkpoint with --radius or --segment",
        ));
    }
    if args.figure.is_some() && !n.critical_pair {
        return Err(CliError::usage(
            "--figure with --arch draws the critical pair's plane: add --critical-pair",
        ));
    }
    if let Some(path) = &args.figure {
        let ext = path
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase);
        if !matches!(ext.as_deref(), None | Some("svg") | Some("png")) {
            return Err(CliError::usage(format!(
                "--figure {}: expected a name ending in .svg or .png",
                path.display()
            )));
        }
        crate::output::check_output_file("--figure", path)?;
        if ext.is_none() {
            crate::output::check_output_file("--figure", &path.with_extension("svg"))?;
            crate::output::check_output_file("--figure", &path.with_extension("png"))?;
        }
    }
    let spec = NetworkSpec {
        arch,
        width: n.width,
        data: n.data.clone(),
    };
    if n.critical_pair {
        let config = CriticalPairConfig {
            descent,
            region,
            ..CriticalPairConfig::default()
        };
        let figure = args.figure.as_ref().map(|path| FigureRequest {
            path: path.clone(),
            grid: n.figure_grid,
            lanczos_steps: n.lanczos_steps,
        });
        let out = critical_pairs(ctx, &spec, &zetas, n.seeds, &config, figure.as_ref())?;
        return if ctx.json {
            crate::output::print_json(&out)
        } else {
            print!("{}", pairs_summary(&out));
            Ok(())
        };
    }
    if args.zeta.len() > 1 {
        return Err(CliError::usage(format!(
            "--zeta: {} values given; --radius and --segment take one ζ",
            args.zeta.len()
        )));
    }
    let choice = match (&n.radius, &n.segment) {
        (Some(r), _) => {
            if !(r.is_finite() && *r > 0.0) {
                return Err(CliError::usage(format!(
                    "--radius {}: expected the radius of K, a finite number > 0",
                    crate::error::number(*r)
                )));
            }
            RegionChoice::Ball {
                radius: *r,
                checkpoint: n.checkpoint.clone(),
            }
        }
        (None, Some(g)) => RegionChoice::Segment {
            from: n.checkpoint.clone().unwrap_or_default(),
            to: g.clone(),
        },
        (None, None) => {
            return Err(CliError::usage(
                "--arch: expected --critical-pair, --radius R or --segment G",
            ))
        }
    };
    let out = region_check(
        ctx,
        &spec,
        zetas.first().copied(),
        &choice,
        &descent,
        &region,
    )?;
    if ctx.json {
        crate::output::print_json(&out)
    } else {
        print!("{}", region_summary(&out));
        Ok(())
    }
}
