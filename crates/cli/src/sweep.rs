//! Training runs and sweeps shared by `train`, `overcost` and `reproduce`.
//!
//! - [`TrainOptions`]: the command-line options of a training run, resolved into majmin-flow's
//!   [`TrainConfig`];
//! - [`run_one`]: one (architecture, ζ, seed) run, giving a [`RunRecord`] (curves and status);
//! - [`execute`]: a sweep over architectures × ζ × seeds with its *run store* `DIR/runs/`: each
//!   finished run is one JSON file `<arch>_z<zeta>_s<seed>.json`, written atomically (temporary
//!   file, then rename), so a SIGKILL loses only the run in progress; `--resume` skips runs whose
//!   file exists and never rewrites them; SIGINT stops before the next step, *discards the run in
//!   progress* (a resumed sweep redoes it from the start) and ends the command with exit code 130
//!   after the finished runs are on disk. A diverged run is a finished run (status
//!   `diverged`, curves up to the divergence); the sweep goes on.
//!
//! Seeds: seed index `s` of a sweep uses the number `--seed + s` for the model initialisation, the
//! ζ subsample and the batch order, so the same seed index gives every architecture the same
//! imbalanced data set (a paired design).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};

use indicatif::{MultiProgress, ProgressBar};
use majmin_core::{ArchConfig, Architecture, Dataset, EvalPoint, GroupRule, ModelError, RunStatus};
use majmin_flow::optim::{LrSchedule, SgdConfig};
use majmin_flow::train::{
    default_sgd_config, Budget, EvalSchedule, Optimizer, TrainConfig, TrainError, Trainer,
};
use serde::{Deserialize, Serialize};

use crate::context::Context;
use crate::error::{write_error, CliError};
use crate::output::{ensure_dir, write_atomic, write_json};

/// Exit code of a command stopped by SIGINT (128 + 2, the shell convention).
pub const EXIT_INTERRUPTED: i32 = 130;

/// The optimiser on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum OptimizerArg {
    /// Mini-batch SGD with momentum and weight decay.
    Sgd,
    /// Full-batch gradient descent (the discrete gradient flow).
    Gd,
}

/// Options of one training run (shared by `train`, `overcost`).
#[derive(Debug, Clone, clap::Args, Serialize)]
pub struct TrainOptions {
    /// Budget in epochs (fractional allowed) [default: 10].
    #[arg(long, value_name = "E", conflicts_with = "steps")]
    pub epochs: Option<f64>,
    /// Budget in optimiser steps (instead of --epochs).
    #[arg(long, value_name = "N")]
    pub steps: Option<u64>,
    /// Base learning rate.
    #[arg(long, value_name = "ETA", default_value_t = 0.05)]
    pub lr: f64,
    /// Mini-batch size (SGD).
    #[arg(long, value_name = "B", default_value_t = 64)]
    pub batch: usize,
    /// Momentum [default: 0.9 for sgd, 0 for gd].
    #[arg(long, value_name = "MU")]
    pub momentum: Option<f64>,
    /// L2 weight decay [default: 5e-4 for sgd, 0 for gd].
    #[arg(long, value_name = "LAMBDA")]
    pub weight_decay: Option<f64>,
    /// `sgd` (mini-batches) or `gd` (full batch, one step per epoch).
    #[arg(long, value_enum, default_value_t = OptimizerArg::Sgd)]
    pub optimizer: OptimizerArg,
    /// Learning-rate schedule: `constant`, `step:EVERY:GAMMA` (epochs, factor) or `cosine[:FINAL]`.
    #[arg(long, value_name = "S", default_value = "constant")]
    pub schedule: String,
    /// Evaluate every K optimiser steps (instead of log-spaced points).
    #[arg(long, value_name = "K", conflicts_with = "eval_points")]
    pub eval_every: Option<u64>,
    /// About N evaluation points, log-spaced in steps (dense early) [default: 40].
    #[arg(long, value_name = "N")]
    pub eval_points: Option<usize>,
    /// Width multiplier of the architecture.
    #[arg(long, value_name = "W", default_value_t = 1.0)]
    pub width: f64,
    /// Also record ⟨∇L, ∇L1⟩, ‖∇L1‖, ‖∇L0‖ at each evaluation point (majority-training zone).
    #[arg(long)]
    pub zone: bool,
    /// The minority classes (default: the upper half of the classes, or the spec's `minority=`).
    #[arg(long, value_name = "K,K,…", value_delimiter = ',')]
    pub minority_classes: Option<Vec<u32>>,
}

impl TrainOptions {
    /// The [`TrainConfig`] these options describe, with `seed` for the batch order; bad values are
    /// usage errors naming the option.
    pub fn train_config(&self, seed: u64) -> Result<TrainConfig, CliError> {
        let optimizer = match self.optimizer {
            OptimizerArg::Sgd => Optimizer::Sgd,
            OptimizerArg::Gd => Optimizer::Gd,
        };
        let defaults = default_sgd_config(optimizer);
        let schedule: LrSchedule = self
            .schedule
            .parse()
            .map_err(|e| CliError::usage(format!("--schedule: {e}")))?;
        let budget = match (self.epochs, self.steps) {
            (_, Some(steps)) => Budget::Steps(steps),
            (Some(epochs), None) => Budget::Epochs(epochs),
            (None, None) => Budget::Epochs(10.0),
        };
        let eval = match (self.eval_every, self.eval_points) {
            (Some(k), _) => EvalSchedule::EverySteps(k),
            (None, Some(n)) => EvalSchedule::LogSpaced(n),
            (None, None) => EvalSchedule::LogSpaced(40),
        };
        let config = TrainConfig {
            optimizer,
            lr: self.lr,
            sgd: SgdConfig {
                momentum: self.momentum.unwrap_or(defaults.momentum),
                weight_decay: self.weight_decay.unwrap_or(defaults.weight_decay),
            },
            batch_size: self.batch,
            budget,
            schedule,
            eval,
            zone: self.zone,
            eval_batch_size: 512,
            seed,
        };
        config.validate().map_err(|e| CliError::usage(format!("{e} (options --lr, --momentum, --weight-decay, --batch, --epochs, --steps, --eval-every, --eval-points)")))?;
        if !(self.width.is_finite() && self.width > 0.0) {
            return Err(CliError::usage(format!(
                "--width {}: expected a positive multiplier such as 1 or 0.25",
                self.width
            )));
        }
        Ok(config)
    }
}

/// Loads a data spec and applies `--minority-classes`; errors are usage errors (exit 2).
pub fn load_data(spec: &str, minority_classes: Option<&[u32]>) -> Result<Dataset, CliError> {
    let data =
        majmin_data::load(spec).map_err(|e| CliError::usage(format!("--data {spec}: {e}")))?;
    match minority_classes {
        Some(classes) => data
            .with_group_rule(&GroupRule::MinorityClasses(classes.to_vec()))
            .map_err(|e| CliError::usage(format!("--minority-classes: {e}"))),
        None => Ok(data),
    }
}

/// The architecture called `name` from the registry (built-in architectures and the plugins of
/// `--plugins`); an unknown name is a usage error listing the known ones.
pub fn resolve_arch(ctx: &Context, name: &str) -> Result<Arc<dyn Architecture>, CliError> {
    ctx.registry()?
        .get(name)
        .map_err(|e| CliError::usage(format!("architecture: {e}")))
}

/// Checks that `arch` can be built for `data` at `width` (so a sweep fails before it starts) and
/// returns the exact parameter count.
pub fn check_arch(arch: &dyn Architecture, data: &Dataset, width: f64) -> Result<usize, CliError> {
    let config = ArchConfig::new(data.shape(), data.classes()).with_width(width);
    arch.param_count(&config)
        .map_err(|e| CliError::usage(format!("architecture `{}` on this data: {e}", arch.name())))
}

/// The imbalanced training set of a run, or a usage error with the numbers.
pub fn imbalanced(data: &Dataset, zeta: f64, seed: u64) -> Result<Dataset, CliError> {
    data.with_imbalance(zeta, seed)
        .map_err(|e| CliError::usage(format!("ζ = {zeta}: {e}")))
}

/// One finished run: what was trained, how it ended and its curves. The JSON form is the run file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunRecord {
    /// Architecture name.
    pub arch: String,
    /// Exact parameter count.
    pub params: usize,
    /// Width multiplier.
    pub width: f64,
    /// The data spec.
    pub data: String,
    /// The imbalance level asked for (None: the data set as loaded).
    pub zeta: Option<f64>,
    /// Seed index inside the sweep (0 for a single run).
    pub seed_index: u32,
    /// The seed used for initialisation, subsample and batch order.
    pub seed: u64,
    /// n1.
    pub majority: usize,
    /// n0.
    pub minority: usize,
    /// The training configuration.
    pub config: TrainConfig,
    /// Finished, diverged at t, or interrupted at t.
    pub status: RunStatus,
    /// Optimiser steps taken.
    pub steps: u64,
    /// Steps per epoch.
    pub steps_per_epoch: u64,
    /// Wall-clock seconds.
    pub seconds: f64,
    /// The evaluation points.
    pub points: Vec<EvalPoint>,
}

impl RunRecord {
    /// A short label such as `resnet18 ζ=0.1 seed 0`.
    pub fn label(&self) -> String {
        match self.zeta {
            Some(z) => format!("{} ζ={} seed {}", self.arch, z, self.seed_index),
            None => format!("{} seed {}", self.arch, self.seed_index),
        }
    }
}

/// What a run needs besides the data.
pub struct RunSpec<'a> {
    /// The architecture.
    pub arch: &'a dyn Architecture,
    /// Width multiplier.
    pub width: f64,
    /// The data spec (recorded).
    pub data_spec: &'a str,
    /// ζ (None: the data set as loaded).
    pub zeta: Option<f64>,
    /// Seed index in the sweep.
    pub seed_index: u32,
    /// Seed.
    pub seed: u64,
    /// Training settings (its `seed` is replaced by `seed`).
    pub config: &'a TrainConfig,
}

/// Trains one run on `base` (subsampled to ζ when given), drawing progress on `bar`.
pub fn run_one(
    spec: &RunSpec<'_>,
    base: &Dataset,
    cancel: Option<Arc<AtomicBool>>,
    bar: &ProgressBar,
) -> Result<RunRecord, CliError> {
    let data = match spec.zeta {
        Some(z) => imbalanced(base, z, spec.seed)?,
        None => base.clone(),
    };
    let arch_config = ArchConfig::new(data.shape(), data.classes())
        .with_width(spec.width)
        .with_seed(spec.seed);
    let mut model = spec
        .arch
        .build(&arch_config)
        .map_err(|e| CliError::usage(format!("architecture `{}`: {e}", spec.arch.name())))?;
    let config = TrainConfig {
        seed: spec.seed,
        ..spec.config.clone()
    };
    let total = config.total_steps(data.len());
    bar.set_length(total);
    bar.set_position(0);
    let mut trainer = Trainer::new(config.clone())
        .map_err(|e| CliError::usage(e.to_string()))?
        .with_progress(|p| bar.set_position(p.step));
    if let Some(flag) = cancel {
        trainer = trainer.with_cancel(flag);
    }
    let outcome = trainer.run(model.as_mut(), &data).map_err(|e| match e {
        TrainError::Config(_) | TrainError::EmptyGroup { .. } | TrainError::Mismatch { .. } => {
            CliError::usage(e.to_string())
        }
        // A plugin that fails (or panics) mid-run is a bad input the user supplied: exit 2.
        TrainError::Model {
            source: ModelError::Plugin { .. },
            ..
        } => CliError::usage(format!("{}: {e}", spec.arch.name())),
        other => CliError::run(format!("{}: {other}", spec.arch.name())),
    })?;
    let sizes = data.group_sizes();
    Ok(RunRecord {
        arch: spec.arch.name().to_string(),
        params: model.num_params(),
        width: spec.width,
        data: spec.data_spec.to_string(),
        zeta: spec.zeta,
        seed_index: spec.seed_index,
        seed: spec.seed,
        majority: sizes.majority,
        minority: sizes.minority,
        config,
        status: outcome.status,
        steps: outcome.steps,
        steps_per_epoch: outcome.steps_per_epoch,
        seconds: outcome.seconds,
        points: outcome.points,
    })
}

/// The SIGINT flag, installed once per process: SIGINT sets it; training loops poll it.
pub fn interrupt_flag() -> Arc<AtomicBool> {
    static FLAG: OnceLock<Arc<AtomicBool>> = OnceLock::new();
    FLAG.get_or_init(|| {
        let flag = Arc::new(AtomicBool::new(false));
        let setter = flag.clone();
        if let Err(e) = ctrlc::set_handler(move || setter.store(true, Ordering::SeqCst)) {
            tracing::warn!(
                "cannot install the SIGINT handler ({e}); Ctrl-C will stop the sweep abruptly"
            );
        }
        flag
    })
    .clone()
}

/// An architecture in a sweep with its width multiplier.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ArchChoice {
    /// Registry name.
    pub name: String,
    /// Width multiplier.
    pub width: f64,
}

/// Everything a sweep runs: architectures × ζ × seed indices, with one training configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SweepPlan {
    /// The architectures, in table order.
    pub archs: Vec<ArchChoice>,
    /// The data spec.
    pub data: String,
    /// `--minority-classes`.
    pub minority_classes: Option<Vec<u32>>,
    /// The imbalance levels, in table order.
    pub zetas: Vec<f64>,
    /// Number of seeds (indices 0..seeds).
    pub seeds: u32,
    /// The master seed; seed index s uses `seed + s`.
    pub seed: u64,
    /// Training settings of every run.
    pub train: TrainConfig,
}

/// One cell of a sweep.
#[derive(Debug, Clone, PartialEq)]
pub struct RunKey {
    /// Architecture (and width).
    pub arch: ArchChoice,
    /// ζ.
    pub zeta: f64,
    /// Seed index.
    pub seed_index: u32,
}

impl RunKey {
    /// `<arch>_z<zeta>_s<seed>.json`, e.g. `resnet18_z0.01_s0.json`.
    pub fn file_name(&self) -> String {
        format!(
            "{}_z{}_s{}.json",
            self.arch.name, self.zeta, self.seed_index
        )
    }
}

impl SweepPlan {
    /// Every run, architecture-major then ζ then seed.
    pub fn keys(&self) -> Vec<RunKey> {
        let mut keys = Vec::new();
        for arch in &self.archs {
            for &zeta in &self.zetas {
                for seed_index in 0..self.seeds {
                    keys.push(RunKey {
                        arch: arch.clone(),
                        zeta,
                        seed_index,
                    });
                }
            }
        }
        keys
    }

    /// The settings a resumed sweep must share with the one that wrote the run files (the lists
    /// of architectures, ζ and seeds may grow).
    fn settings(&self) -> serde_json::Value {
        serde_json::json!({
            "data": self.data,
            "minority_classes": self.minority_classes,
            "seed": self.seed,
            "train": self.train,
        })
    }
}

/// The outcome of [`execute`].
#[derive(Debug)]
pub struct SweepOutcome {
    /// Every run that is on disk for the plan, in plan order (those run now and those resumed).
    pub records: Vec<RunRecord>,
    /// Runs trained by this invocation.
    pub trained: usize,
    /// Runs found on disk and skipped (`--resume`).
    pub skipped: usize,
    /// Whether SIGINT stopped the sweep (the run in progress was discarded).
    pub interrupted: bool,
    /// Wall-clock seconds of this invocation's training.
    pub seconds: f64,
}

/// The folder of run files.
pub fn runs_dir(dir: &Path) -> PathBuf {
    dir.join("runs")
}

/// Validates the plan up front (architectures build on the data, every ζ is reachable) so that bad
/// input fails before any training, with exit code 2.
pub fn validate_plan(
    ctx: &Context,
    plan: &SweepPlan,
) -> Result<(Dataset, Vec<Arc<dyn Architecture>>), CliError> {
    if plan.archs.is_empty() {
        return Err(CliError::usage(
            "--archs: expected at least one architecture",
        ));
    }
    if plan.zetas.is_empty() {
        return Err(CliError::usage(
            "--zetas: expected at least one imbalance level",
        ));
    }
    if plan.seeds == 0 {
        return Err(CliError::usage("--seeds 0: expected at least 1"));
    }
    for &z in &plan.zetas {
        if !(z > 0.0 && z <= 1.0) {
            return Err(CliError::usage(format!(
                "--zetas: ζ = {z} is out of range; expected n0/n1 in (0, 1], e.g. 0.01,0.1,0.3,0.8"
            )));
        }
    }
    let data = load_data(&plan.data, plan.minority_classes.as_deref())?;
    for &z in &plan.zetas {
        imbalanced(&data, z, plan.seed)?;
    }
    let registry = ctx.registry()?;
    let mut archs = Vec::new();
    for choice in &plan.archs {
        let arch = registry
            .get(&choice.name)
            .map_err(|e| CliError::usage(format!("--archs: {e}")))?;
        if !(choice.width.is_finite() && choice.width > 0.0) {
            return Err(CliError::usage(format!(
                "width {} of `{}`: expected a positive multiplier",
                choice.width, choice.name
            )));
        }
        check_arch(arch.as_ref(), &data, choice.width)?;
        archs.push(arch);
    }
    Ok((data, archs))
}

/// Runs (or resumes) a sweep into `dir` with `jobs` runs at a time; see the [module docs](self)
/// for the run store.
///
/// With `jobs > 1`, each run trains in its own rayon pool of `max(1, threads / jobs)` threads (small
/// models use two cores better as two single-threaded runs than as one run on two threads). A run's
/// curves depend on the threads it gets, so the same `--threads` and `--jobs` give the same files.
pub fn execute(
    ctx: &Context,
    plan: &SweepPlan,
    dir: &Path,
    resume: bool,
    jobs: usize,
) -> Result<SweepOutcome, CliError> {
    let (data, archs) = validate_plan(ctx, plan)?;
    let runs = runs_dir(dir);
    let non_empty = std::fs::read_dir(&runs)
        .map(|mut d| d.next().is_some())
        .unwrap_or(false);
    if non_empty && !resume {
        return Err(CliError::usage(format!(
            "{} already holds run files; pass --resume to continue that sweep (finished runs are kept), or choose another --out",
            runs.display()
        )));
    }
    let settings_path = dir.join("sweep.json");
    if resume && settings_path.exists() {
        let text = std::fs::read_to_string(&settings_path)
            .map_err(|e| crate::error::read_error(&settings_path, e))?;
        let stored: serde_json::Value = serde_json::from_str(&text).map_err(|e| {
            CliError::usage(format!(
                "{}: not a sweep description ({e})",
                settings_path.display()
            ))
        })?;
        if stored.get("settings") != Some(&plan.settings()) {
            return Err(CliError::usage(format!(
                "--resume: the sweep in {} used other settings (data, seed or training options): {}\nexpected the same as now: {}",
                dir.display(),
                stored.get("settings").map(|s| s.to_string()).unwrap_or_default(),
                plan.settings()
            )));
        }
    }
    ensure_dir(&runs)?;
    remove_stale_temporaries(&runs);
    write_json(
        &settings_path,
        &serde_json::json!({ "settings": plan.settings(), "plan": plan }),
    )?;

    let keys = plan.keys();
    let mut slots: Vec<Option<RunRecord>> = vec![None; keys.len()];
    let mut todo = std::collections::VecDeque::new();
    for (i, key) in keys.iter().enumerate() {
        let path = runs.join(key.file_name());
        if path.exists() {
            slots[i] = Some(read_run(&path)?);
        } else {
            todo.push_back(i);
        }
    }
    let skipped = keys.len() - todo.len();
    let multi = MultiProgress::new();
    let sweep_bar = multi.add(ctx.progress(keys.len() as u64, "sweep"));
    sweep_bar.set_position(skipped as u64);
    let cancel = interrupt_flag();
    let started = std::time::Instant::now();
    let jobs = jobs.clamp(1, todo.len().max(1));
    let threads_per_job = (ctx.thread_count() / jobs).max(1);
    let queue = std::sync::Mutex::new(todo);
    let done = std::sync::Mutex::new(Vec::<(usize, RunRecord)>::new());
    let failure = std::sync::Mutex::new(None::<CliError>);
    let interrupted = AtomicBool::new(false);

    let worker = |bar: ProgressBar| {
        loop {
            if cancel.load(Ordering::SeqCst) {
                interrupted.store(true, Ordering::SeqCst);
                break;
            }
            if failure.lock().map(|f| f.is_some()).unwrap_or(true) {
                break;
            }
            let Some(i) = queue.lock().ok().and_then(|mut q| q.pop_front()) else {
                break;
            };
            let key = &keys[i];
            let arch = &archs[plan.archs.iter().position(|a| a == &key.arch).unwrap_or(0)];
            bar.set_message(format!(
                "{} ζ={} s{}",
                key.arch.name, key.zeta, key.seed_index
            ));
            let spec = RunSpec {
                arch: arch.as_ref(),
                width: key.arch.width,
                data_spec: &plan.data,
                zeta: Some(key.zeta),
                seed_index: key.seed_index,
                seed: plan.seed + key.seed_index as u64,
                config: &plan.train,
            };
            let result = run_one(&spec, &data, Some(cancel.clone()), &bar).and_then(|record| {
                if matches!(record.status, RunStatus::Interrupted { .. }) {
                    tracing::info!(run = %key.file_name(), "interrupted; the run in progress is discarded");
                    interrupted.store(true, Ordering::SeqCst);
                    return Ok(None);
                }
                if let RunStatus::Diverged { t } = record.status {
                    tracing::warn!(run = %key.file_name(), t, "run diverged; recorded, and the sweep goes on");
                }
                let path = runs.join(key.file_name());
                let text = serde_json::to_string_pretty(&record).map_err(|e| write_error(&path, e))?;
                write_atomic(&path, (text + "\n").as_bytes())?;
                Ok(Some(record))
            });
            match result {
                Ok(Some(record)) => {
                    sweep_bar.inc(1);
                    if let Ok(mut d) = done.lock() {
                        d.push((i, record));
                    }
                }
                Ok(None) => break,
                Err(e) => {
                    if let Ok(mut f) = failure.lock() {
                        f.get_or_insert(e.context(format!("run {}", key.file_name())));
                    }
                    break;
                }
            }
        }
        bar.finish_and_clear();
    };
    if jobs == 1 {
        worker(multi.add(ctx.progress(1, "")));
    } else {
        std::thread::scope(|scope| -> Result<(), CliError> {
            for _ in 0..jobs {
                let pool = rayon::ThreadPoolBuilder::new()
                    .num_threads(threads_per_job)
                    .build()
                    .map_err(|e| CliError::run(format!("cannot start a worker pool: {e}")))?;
                let bar = multi.add(ctx.progress(1, ""));
                let worker = &worker;
                scope.spawn(move || pool.install(|| worker(bar)));
            }
            Ok(())
        })?;
    }
    sweep_bar.finish_and_clear();
    if let Some(e) = failure.into_inner().ok().flatten() {
        return Err(e);
    }
    let trained = done.lock().map(|d| d.len()).unwrap_or(0);
    for (i, record) in done.into_inner().unwrap_or_default() {
        slots[i] = Some(record);
    }
    Ok(SweepOutcome {
        records: slots.into_iter().flatten().collect(),
        trained,
        skipped,
        interrupted: interrupted.load(Ordering::SeqCst),
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// Removes the temporary files a killed process may have left in `runs` (`.NAME.tmp-PID`, see
/// [`write_atomic`]); they were never renamed, so no finished run is lost.
fn remove_stale_temporaries(runs: &Path) {
    let Ok(entries) = std::fs::read_dir(runs) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') && name.contains(".tmp-") {
            match std::fs::remove_file(entry.path()) {
                Ok(()) => {
                    tracing::info!(file = %name, "removed a temporary file left by an interrupted sweep")
                }
                Err(e) => tracing::warn!(file = %name, "cannot remove a stale temporary file: {e}"),
            }
        }
    }
}

/// Reads a run file; a damaged one is a usage error naming the file (delete it to rerun).
pub fn read_run(path: &Path) -> Result<RunRecord, CliError> {
    let text = std::fs::read_to_string(path).map_err(|e| crate::error::read_error(path, e))?;
    serde_json::from_str(&text).map_err(|e| {
        CliError::usage(format!(
            "{}: not a majmin run file ({e}); delete it to train that run again",
            path.display()
        ))
    })
}

/// The error that ends an interrupted command (exit code 130), after the finished runs are saved.
pub fn interrupted_error(dir: &Path, done: usize, total: usize) -> CliError {
    CliError {
        code: EXIT_INTERRUPTED,
        message: format!(
            "interrupted: {done} of {total} runs are saved in {}; the run in progress was discarded. Continue with the same command and --resume",
            runs_dir(dir).display()
        ),
    }
}

/// Curves in long format: `run,t,group,loss,accuracy` (group `majority`, `minority` or `all`), the
/// input of `majmin metrics overcost --curves`. `run` is omitted when `with_run` is false.
pub fn long_csv(records: &[&RunRecord], with_run: bool) -> String {
    let mut s = String::from(if with_run {
        "run,t,group,loss,accuracy\n"
    } else {
        "t,group,loss,accuracy\n"
    });
    for r in records {
        let run = format!(
            "{}_z{}_s{}",
            r.arch,
            r.zeta.map(|z| z.to_string()).unwrap_or_else(|| "-".into()),
            r.seed_index
        );
        for p in &r.points {
            for (group, loss, acc) in [
                ("majority", p.majority_loss, p.majority_accuracy),
                ("minority", p.minority_loss, p.minority_accuracy),
                ("all", p.loss, p.accuracy),
            ] {
                if with_run {
                    s.push_str(&format!("{run},"));
                }
                s.push_str(&format!("{},{group},{loss},{acc}\n", p.t));
            }
        }
    }
    s
}

/// Curves in wide format: one row per evaluation point with every recorded quantity.
pub fn wide_csv(record: &RunRecord) -> String {
    let zone = record.points.iter().any(|p| p.zone.is_some());
    let mut s = String::from(
        "t,step,loss,majority_loss,minority_loss,accuracy,majority_accuracy,minority_accuracy",
    );
    if zone {
        s.push_str(",inner_product,majority_grad_norm,minority_grad_norm");
    }
    s.push('\n');
    for p in &record.points {
        s.push_str(&format!(
            "{},{},{},{},{},{},{},{}",
            p.t,
            p.step,
            p.loss,
            p.majority_loss,
            p.minority_loss,
            p.accuracy,
            p.majority_accuracy,
            p.minority_accuracy
        ));
        if zone {
            match p.zone {
                Some(z) => s.push_str(&format!(
                    ",{},{},{}",
                    z.inner_product, z.majority_grad_norm, z.minority_grad_norm
                )),
                None => s.push_str(",,,"),
            }
        }
        s.push('\n');
    }
    s
}

/// Parses a comma-separated list of numbers for `option`, each checked by `ok` (which describes the
/// valid range when it fails).
pub fn parse_list(
    option: &str,
    text: &str,
    ok: impl Fn(f64) -> Result<(), String>,
) -> Result<Vec<f64>, CliError> {
    text.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            let v: f64 = s
                .parse()
                .map_err(|_| CliError::usage(format!("{option}: `{s}` is not a number")))?;
            ok(v).map_err(|m| CliError::usage(format!("{option}: {s}: {m}")))?;
            Ok(v)
        })
        .collect()
}
