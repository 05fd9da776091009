//! `majmin train --arch A --data SPEC --zeta Z [...] --out DIR`: one training run with per-group
//! curves (docs/command-line.md).
//!
//! Writes into DIR: `curves.csv` (long format `run,t,group,loss,accuracy`, groups `majority`,
//! `minority`, `all`: the input of `majmin metrics overcost --curves`), `curves_wide.csv` (one row
//! per evaluation point, with the zone probe when `--zone`), `run.json` (the run record: settings,
//! status, points), `curves.svg`/`curves.png` and `manifest.json`. Prints one summary line (or
//! the record's summary as JSON with `--json`). A diverged run is written like any other and exits
//! with code 1; SIGINT stops the run, writes what was recorded and exits with code 130.
//!
//! `--method` trains with a method against the catch-up overcost (see `docs/methods.md`); the
//! run then also reports, at its end, each group's accuracy and mean loss and the worst group's on
//! the training set and on a held-out split (`--holdout F`, taken from the data before ζ; by
//! default 20 % of each group for a method other than erm, none for erm).
//!
//! Checkpoints (safetensors, with PyTorch's `state_dict()` keys: crates/models/README.md):
//! `--save FILE` writes the trained model at the end of a finished run; `--save-every K` writes
//! every K-th evaluation point (and the last) into `DIR/checkpoints/step-<step>.safetensors`;
//! `--init FILE` starts from a checkpoint (both of JTT's stages), and the file's SHA-256 becomes
//! part of the run's identity. A missing folder, `--save-every 0` or a checkpoint that does not
//! fit the architecture is refused with exit 2 before anything is trained.
//!
//! DIR must be new or hold no majmin output: a folder with another run (or a sweep) is refused
//! before anything is trained, unless `--force` (which overwrites a train run's files).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::context::Context;
use crate::error::CliError;
use crate::output::{print_json, write_atomic, write_json};
use crate::report;
use crate::sweep::{self, MethodParams, TrainOptions, EXIT_INTERRUPTED};
use majmin_core::{ArchConfig, Model, NamedTensor, RunStatus, Zeta};
use majmin_metrics::Criterion;
use majmin_models::checkpoint;
use majmin_sweep::{RunConfig, RunSamples};

/// Options of `majmin train`.
#[derive(Debug, clap::Args, Serialize)]
pub struct Args {
    /// Architecture name (`majmin models list`).
    #[arg(long, value_name = "A")]
    pub arch: String,
    /// Data spec, e.g. `digits`, `digits,resize=32,channels=3`, `cifar10:DIR`, `gaussian:d=2`.
    #[arg(long, value_name = "SPEC", default_value = "digits")]
    pub data: String,
    /// Imbalance level ζ = n0/n1 in (0, 1] (default: the data set as loaded).
    #[arg(long, value_name = "Z")]
    pub zeta: Option<Zeta>,
    #[command(flatten)]
    #[serde(flatten)]
    pub train: TrainOptions,
    /// One training method (erm, reweight, sqrt-reweight, resample, subsample, pcngd, group-dro,
    /// jtt, or a combination such as resample+reweight).
    #[arg(long, value_name = "M", default_value = "erm", long_help = sweep::METHODS_HELP)]
    pub method: String,
    #[command(flatten)]
    #[serde(flatten)]
    pub params: MethodParams,
    /// Output folder.
    #[arg(long, value_name = "DIR")]
    #[serde(serialize_with = "crate::output::serialize_path_lossy_required")]
    pub out: PathBuf,
    /// Write into an --out that already holds a train run (its files are replaced).
    #[arg(long)]
    pub force: bool,
    /// Save the trained model to FILE (safetensors with PyTorch's `state_dict()` keys) at the
    /// end of a finished run. Its folder must exist (or be --out).
    #[arg(long, value_name = "FILE")]
    #[serde(serialize_with = "crate::output::serialize_path_lossy")]
    pub save: Option<PathBuf>,
    /// Save a checkpoint at every K-th evaluation point (and the last) into
    /// `DIR/checkpoints/step-<step>.safetensors`.
    #[arg(long, value_name = "K")]
    pub save_every: Option<u64>,
    /// Start from the checkpoint FILE instead of the architecture's initialisation (its SHA-256
    /// becomes part of the run's identity).
    #[arg(long, value_name = "FILE")]
    #[serde(serialize_with = "crate::output::serialize_path_lossy")]
    pub init: Option<PathBuf>,
}

/// The checkpoint options, checked: what to save where, and the initial state.
struct Checkpoints {
    save: Option<PathBuf>,
    every: Option<(u64, PathBuf)>,
    init: Option<(PathBuf, Vec<NamedTensor>, String)>,
}

/// Checks `--save`, `--save-every` and `--init` before anything is trained: the folders exist,
/// K is positive, and the initial checkpoint reads and fits a model built like the run's.
fn check_checkpoints(
    args: &Args,
    arch_config: &ArchConfig,
    arch: &dyn majmin_core::Architecture,
) -> Result<Checkpoints, CliError> {
    if let Some(path) = &args.save {
        if path.is_dir() {
            return Err(CliError::usage(format!(
                "--save {}: is a folder; expected a file name such as model.safetensors",
                path.display()
            )));
        }
        let parent = path.parent().filter(|p| !p.as_os_str().is_empty());
        if let Some(dir) = parent {
            // --out itself is created before training
            if !dir.is_dir() && dir != args.out {
                return Err(CliError::usage(format!(
                    "--save {}: folder {} does not exist; create it first",
                    path.display(),
                    dir.display()
                )));
            }
        }
    }
    let every = match args.save_every {
        Some(0) => {
            return Err(CliError::usage(
                "--save-every 0: expected a positive number K (a checkpoint every K-th evaluation point)",
            ))
        }
        Some(k) => Some((k, args.out.join("checkpoints"))),
        None => None,
    };
    let init = match &args.init {
        Some(path) => {
            let flag = |e: checkpoint::CheckpointError| CliError::usage(format!("--init: {e}"));
            let (tensors, _) = checkpoint::read(path).map_err(flag)?;
            let mut probe = arch
                .build(arch_config)
                .map_err(|e| CliError::usage(format!("architecture: {e}")))?;
            checkpoint::load(probe.as_mut(), path).map_err(flag)?;
            let hash = checkpoint::sha256(path).map_err(flag)?;
            Some((path.clone(), tensors, hash))
        }
        None => None,
    };
    Ok(Checkpoints {
        save: args.save.clone(),
        every,
        init,
    })
}

/// The metadata written into each checkpoint of the run.
fn checkpoint_metadata(
    run: &RunConfig,
    arch_config: &ArchConfig,
    step: u64,
) -> BTreeMap<String, String> {
    let [c, h, w] = arch_config.input;
    let mut m = BTreeMap::from([
        ("arch".to_string(), run.arch.clone()),
        ("width".to_string(), run.width.to_string()),
        ("classes".to_string(), arch_config.classes.to_string()),
        ("input".to_string(), format!("[{c}, {h}, {w}]")),
        ("seed".to_string(), run.seed.to_string()),
        ("data".to_string(), run.data.clone()),
        ("run".to_string(), run.id().to_string()),
        ("step".to_string(), step.to_string()),
        (
            "majmin_version".to_string(),
            env!("CARGO_PKG_VERSION").to_string(),
        ),
    ]);
    if let Some(z) = run.zeta {
        m.insert("zeta".into(), z.to_string());
    }
    if let Some(h) = &run.init {
        m.insert("init_sha256".into(), h.clone());
    }
    for (k, v) in &run.arch_options {
        m.insert(format!("option.{k}"), v.clone());
    }
    m
}

fn save_checkpoint(
    path: &Path,
    model: &dyn Model,
    meta: &BTreeMap<String, String>,
) -> Result<(), String> {
    checkpoint::save(path, model, meta).map_err(|e| e.to_string())
}

/// Runs the command.
pub fn run(args: &Args, ctx: &Context) -> Result<(), CliError> {
    let config = args.train.train_config(ctx.seed)?;
    let methods = args.params.methods("--method", &args.method)?;
    let [method] = methods[..] else {
        return Err(CliError::usage(format!(
            "--method {}: `train` trains one method; compare several with `majmin overcost --methods {}`",
            args.method, args.method
        )));
    };
    let holdout = args.params.holdout(&methods)?;
    let data = majmin_sweep::load_data(&args.data, args.train.minority_classes.as_deref())
        .map_err(sweep::sweep_error)?;
    let arch = sweep::resolve_arch(ctx, &args.arch)?;
    majmin_sweep::check_arch(
        arch.as_ref(),
        &data,
        &majmin_sweep::ArchChoice::new(args.arch.clone(), args.train.width),
    )
    .map_err(sweep::sweep_error)?;
    let mut run = RunConfig {
        arch: args.arch.clone(),
        width: args.train.width,
        data: args.data.clone(),
        minority_classes: args.train.minority_classes.clone(),
        zeta: args.zeta.map(Zeta::get),
        seed_index: 0,
        seed: ctx.seed,
        train: config,
        arch_options: Default::default(),
        numerics: majmin_sweep::NUMERICS_VERSION,
        method,
        holdout,
        init: None,
    };
    // the run's samples, selected (and checked) once, before anything is written
    let samples = RunSamples::of(&data, &run).map_err(sweep::sweep_error)?;
    // the model as train_run builds it (the subsample keeps the shape and the classes)
    let arch_config = ArchConfig {
        options: Default::default(),
        ..ArchConfig::new(data.shape(), data.classes())
            .with_width(args.train.width)
            .with_seed(ctx.seed)
    };
    let checkpoints = check_checkpoints(args, &arch_config, arch.as_ref())?;
    majmin_sweep::check_train_folder(&args.out, args.force).map_err(sweep::sweep_error)?;
    crate::output::ensure_dir(&args.out)?;
    if let Some((_, dir)) = &checkpoints.every {
        crate::output::ensure_dir(dir)?;
    }
    ctx.write_manifest(
        &args.out,
        "train",
        &serde_json::json!({ "args": args, "train_config": run.train }),
    )?;

    let bar = ctx.progress(1, format!("train {}", args.arch));
    run.init = checkpoints.init.as_ref().map(|(_, _, hash)| hash.clone());
    let run = run;
    // the last evaluation point is at the run's last step
    let last_step = run.train.total_steps(samples.train().len());
    let mut point = 0u64;
    let mut on_eval = |step: u64, model: &dyn Model| -> Result<(), String> {
        let index = point;
        point += 1;
        let meta = checkpoint_metadata(&run, &arch_config, step);
        if let Some((k, dir)) = &checkpoints.every {
            if (index > 0 && index.is_multiple_of(*k)) || step == last_step {
                save_checkpoint(&dir.join(format!("step-{step}.safetensors")), model, &meta)?;
            }
        }
        if let Some(path) = &checkpoints.save {
            if step == last_step {
                save_checkpoint(path, model, &meta)?;
            }
        }
        Ok(())
    };
    let wants_hook = checkpoints.every.is_some() || checkpoints.save.is_some();
    let hooks = majmin_sweep::RunHooks {
        init: checkpoints
            .init
            .as_ref()
            .map(|(path, tensors, _)| (path.display().to_string(), tensors.as_slice())),
        on_eval: if wants_hook { Some(&mut on_eval) } else { None },
    };
    let record = majmin_sweep::train_run_on(
        &run,
        arch.as_ref(),
        &data,
        &samples,
        Some(sweep::interrupt_flag()),
        &mut |step, total| {
            bar.set_length(total);
            bar.set_position(step);
        },
        hooks,
    )
    .map_err(sweep::sweep_error)?;
    bar.finish_and_clear();

    write_json(&args.out.join("run.json"), &record)?;
    write_atomic(
        &args.out.join("curves.csv"),
        report::curves_csv(&[&record]).as_bytes(),
    )?;
    write_atomic(
        &args.out.join("curves_wide.csv"),
        sweep::wide_csv(&record).as_bytes(),
    )?;
    let figures = report::curves_figure(
        &record,
        &args.out.join("curves"),
        &report::FIGURE_KAPPAS,
        Criterion::Loss,
    )?;

    let last = record.points.last();
    let summary = Summary {
        arch: &record.config.arch,
        params: record.params,
        data: &record.config.data,
        zeta: record.config.zeta,
        majority: record.majority,
        minority: record.minority,
        status: record.status.to_string(),
        steps: record.steps,
        seconds: record.seconds,
        points: record.points.len(),
        final_loss: last.map(|p| p.loss),
        final_majority_loss: last.map(|p| p.majority_loss),
        final_minority_loss: last.map(|p| p.minority_loss),
        final_majority_accuracy: last.map(|p| p.majority_accuracy),
        final_minority_accuracy: last.map(|p| p.minority_accuracy),
        out: args.out.display().to_string(),
        figures: figures.iter().map(|p| p.display().to_string()).collect(),
        zone: majmin_metrics::zone_summary(&record.points),
        minority_drop: majmin_metrics::minority_drop(&record.points),
        method: record.config.method.name(),
        method_parameters: record.config.method.parameters(),
        holdout_fraction: record.config.holdout,
        final_metrics: record
            .final_metrics
            .as_ref()
            .map(report::final_metrics_json),
        jtt: record.jtt.clone(),
    };
    if ctx.json {
        print_json(&summary)?;
    } else {
        let f = |v: Option<f64>| v.map(|x| format!("{x:.4}")).unwrap_or_else(|| "-".into());
        println!(
            "{} ({} params) on {} ζ={} (n1={}, n0={}): {} after {} steps in {:.1}s; final loss {} (majority {}, minority {}), accuracy majority {} minority {}; curves in {}",
            summary.arch,
            summary.params,
            summary.data,
            summary.zeta.map(|z| z.to_string()).unwrap_or_else(|| "as loaded".into()),
            summary.majority,
            summary.minority,
            summary.status,
            summary.steps,
            summary.seconds,
            f(summary.final_loss),
            f(summary.final_majority_loss),
            f(summary.final_minority_loss),
            f(summary.final_majority_accuracy),
            f(summary.final_minority_accuracy),
            summary.out
        );
        if summary.method != "erm" {
            println!(
                "method {}{}{}",
                summary.method,
                if summary.method_parameters.is_empty() {
                    ""
                } else {
                    ": "
                },
                summary.method_parameters
            );
        }
        if let Some(j) = &record.jtt {
            println!(
                "jtt first stage: {} steps of ERM; {} training errors ({} of them minority) up-weighted",
                j.steps, j.errors, j.minority_errors
            );
        }
        if let Some(m) = &record.final_metrics {
            print!("{}", report::final_metrics_text(m));
        }
        if let Some(z) = &summary.zone {
            println!(
                "majority-training zone: {:.1} % of training time ({} of {} points) in the adversarial zone ⟨∇L, ∇L1⟩ ≤ 0; cos(∇L, ∇L1) min {:.3}, median {:.3}; ‖∇L0‖/‖∇L1‖ max {:.3}, median {:.3}",
                100.0 * z.adversarial_time_fraction,
                (z.adversarial_points_fraction * z.points as f64).round(),
                z.points,
                z.min_cosine,
                z.median_cosine,
                z.max_gradient_ratio,
                z.median_gradient_ratio
            );
        }
        let d = &summary.minority_drop;
        if d.detected {
            println!(
                "minority initial drop: the minority's loss rose by {:.4} ({:.1} %) while the global loss fell, peaking at t = {}{}",
                d.rise,
                100.0 * d.relative_rise,
                d.t_peak.unwrap_or(0.0),
                d.t_recovered
                    .map(|t| format!("; back below its start at t = {t}"))
                    .unwrap_or_else(|| "; not back below its start by the end".into())
            );
        }
    }
    match record.status {
        RunStatus::Finished => Ok(()),
        RunStatus::Diverged { t } => {
            Err(CliError::run(format!("the run diverged at t = {t} epochs (loss NaN or infinite); the curves up to then are in {}; try a smaller --lr", args.out.display())))
        }
        RunStatus::Interrupted { t } => Err(CliError {
            code: EXIT_INTERRUPTED,
            message: format!("interrupted at t = {t} epochs; the curves so far are in {}", args.out.display()),
        }),
    }
}

#[derive(Debug, Serialize)]
struct Summary<'a> {
    arch: &'a str,
    params: usize,
    data: &'a str,
    zeta: Option<f64>,
    majority: usize,
    minority: usize,
    status: String,
    steps: u64,
    seconds: f64,
    points: usize,
    final_loss: Option<f64>,
    final_majority_loss: Option<f64>,
    final_minority_loss: Option<f64>,
    final_majority_accuracy: Option<f64>,
    final_minority_accuracy: Option<f64>,
    out: String,
    figures: Vec<String>,
    /// Theorem 2 along training (with `--zone`).
    zone: Option<majmin_metrics::ZoneSummary>,
    minority_drop: majmin_metrics::MinorityDrop,
    /// The training method.
    method: String,
    /// Its parameters in words.
    method_parameters: String,
    /// The held-out fraction of each group.
    holdout_fraction: f64,
    /// Per-group and worst-group metrics on the training and held-out sets, with definitions.
    final_metrics: Option<serde_json::Value>,
    /// JTT's first stage.
    jtt: Option<majmin_sweep::JttStage>,
}
