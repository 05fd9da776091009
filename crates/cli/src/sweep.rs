//! The command line's side of training runs and sweeps (the work itself is majmin-sweep's):
//!
//! - [`TrainOptions`]: the options of a training run, resolved into majmin-flow's
//!   [`TrainConfig`];
//! - [`run_sweep`]: runs a prepared sweep in a folder with progress bars, SIGINT/SIGTERM
//!   handling and the exit codes of the command line;
//! - [`sweep_error`]: majmin-sweep's errors as exit codes (2 for bad input, 1 for a failed run).
//!
//! A sweep folder's run store `DIR/runs/` is shared by every process that works on the same
//! settings: runs are claimed before they are trained, results are published atomically only
//! while claimed and never rewritten, and every existing run file is verified against the plan
//! (see majmin-sweep). SIGINT or SIGTERM stops before the next step, *discards the run in
//! progress* and releases its claim (a resumed sweep redoes it), and ends the command with exit
//! code 130 after the finished runs are on disk. A diverged run is a finished run (status
//! `diverged`, curves up to the divergence); the sweep goes on.
//!
//! Seeds: seed index `s` of a sweep uses the number `--seed + s` for the model initialisation, the
//! ζ subsample and the batch order, so the same seed index gives every architecture the same
//! imbalanced data set (a paired design).

use std::path::Path;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar};
use majmin_flow::optim::{LrSchedule, SgdConfig};
use majmin_flow::train::method::{DRO_ADJUSTMENT, DRO_ETA, JTT_LAMBDA};
use majmin_flow::train::{
    default_sgd_config, Budget, EvalSchedule, Method, Optimizer, StepRule, TrainConfig,
};
use majmin_sweep::{
    claim::ClaimInfo, ExecOptions, PreparedSweep, RunConfig, RunId, RunStore, SweepError,
    SweepProgress,
};
pub use majmin_sweep::{ArchChoice, RunRecord, SweepOutcome, SweepPlan};
use serde::Serialize;

use crate::context::Context;
use crate::error::CliError;

/// The most optimiser steps of one run (a billion: years of CPU for any network here).
pub const MAX_STEPS: u64 = 1_000_000_000;

/// The most epochs of one run.
pub const MAX_EPOCHS: f64 = 1_000_000.0;

/// Exit code of a command stopped by SIGINT or SIGTERM (128 + 2, the shell convention).
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
        config.validate().map_err(|e| {
            // name the one option the message is about
            let text = e.to_string();
            let option = [
                ("learning rate", "--lr"),
                ("momentum", "--momentum"),
                ("weight decay", "--weight-decay"),
                ("batch size", "--batch"),
                ("epochs", "--epochs"),
                ("steps =", "--steps"),
                ("evaluate every", "--eval-every"),
                ("evaluation points", "--eval-points"),
            ]
            .iter()
            .find(|(k, _)| text.contains(k))
            .map(|(_, o)| *o)
            .unwrap_or("--schedule");
            CliError::usage(format!("{option}: {text}"))
        })?;
        if !(self.width.is_finite() && self.width > 0.0 && self.width <= majmin_sweep::MAX_WIDTH) {
            return Err(CliError::usage(format!(
                "--width {}: expected a multiplier in (0, {}] such as 1 or 0.25",
                crate::error::number(self.width),
                majmin_sweep::MAX_WIDTH
            )));
        }
        if let Some(steps) = self.steps {
            if steps > MAX_STEPS {
                return Err(CliError::usage(format!(
                    "--steps {steps}: expected at most {MAX_STEPS} (MAX_STEPS)"
                )));
            }
        }
        if let Some(epochs) = self.epochs {
            if !(epochs.is_finite() && epochs > 0.0 && epochs <= MAX_EPOCHS) {
                return Err(CliError::usage(format!(
                    "--epochs {}: expected a number of epochs in (0, {MAX_EPOCHS}] (MAX_EPOCHS)",
                    crate::error::number(epochs)
                )));
            }
        }
        Ok(config)
    }
}

/// The help text of `--method`/`--methods`: each method in one line, with its formula and source
/// (`docs/methods.md` has the details).
pub const METHODS_HELP: &str = "Training method(s) against the catch-up overcost (docs/methods.md). \
erm: plain SGD/GD on the mean loss. \
reweight: loss weights w_g = n/(2 n_g) (SubpopBench; Idrissi et al. 2022). \
sqrt-reweight: w_g ∝ 1/√n_g, Σ n_g w_g = n (SubpopBench). \
resample: each draw picks a group with probability ½ (ReSample; Idrissi et al. 2022). \
subsample: the majority cut once to n0 samples (SUBG; Idrissi et al. 2022). \
pcngd: step −η Σ_g ∇L_g/‖∇L_g‖ (Francazi et al. 2023). \
group-dro: q_g ← q_g·exp(η_q(ℓ_g + C/√n_g)), loss Σ q_g ℓ_g (Sagawa et al. 2020). \
jtt: ERM for T epochs, then retrain with its training errors weighted λ_up (Liu et al. 2021). \
Combine a sampler with loss weights or a step rule with `+`, e.g. resample+reweight, pcngd+resample.";

/// The parameters of the training methods (`train`, `overcost`) and the held-out split, with the
/// defaults of the methods' reference implementations.
#[derive(Debug, Clone, Default, clap::Args, Serialize)]
pub struct MethodParams {
    /// group-dro: step size η_q of the group weights [default: 0.01, Sagawa et al. 2020].
    #[arg(long, value_name = "ETA")]
    pub dro_eta: Option<f64>,
    /// group-dro: generalisation adjustment C (the weights follow ℓ_g + C/√n_g) [default: 0].
    #[arg(long, value_name = "C")]
    pub dro_adjustment: Option<f64>,
    /// jtt: length T of the first (ERM) stage in epochs [default: half the run, SubpopBench].
    #[arg(long, value_name = "T")]
    pub jtt_epochs: Option<f64>,
    /// jtt: up-weight λ_up of the first stage's training errors [default: 10, SubpopBench].
    #[arg(long, value_name = "L")]
    pub jtt_lambda: Option<f64>,
    /// Held-out fraction of each group, taken from the data before ζ (stratified by group and
    /// class), for per-group and worst-group accuracy on data not trained on [default: 0.2 when a
    /// method other than erm is trained (the data sets here have no test split), 0 for erm alone
    /// (all the data is trained on, as before methods existed)].
    #[arg(long, value_name = "F")]
    pub holdout: Option<f64>,
}

impl MethodParams {
    /// The held-out fraction, checked: `--holdout`, or by default
    /// [`majmin_sweep::DEFAULT_HOLDOUT`] when `methods` has a method other than ERM and 0 for ERM
    /// alone, so that a plain ERM run or sweep trains on the data it trained on before methods
    /// existed, with the same run names and curves.
    pub fn holdout(&self, methods: &[Method]) -> Result<f64, CliError> {
        let default = if methods.iter().all(Method::is_erm) {
            0.0
        } else {
            majmin_sweep::DEFAULT_HOLDOUT
        };
        let f = self.holdout.unwrap_or(default);
        if !(f.is_finite() && (0.0..=majmin_sweep::MAX_HOLDOUT).contains(&f)) {
            return Err(CliError::usage(format!(
                "--holdout {}: expected a fraction of each group in [0, {}] such as 0.2 (0: no held-out split)",
                crate::error::number(f),
                majmin_sweep::MAX_HOLDOUT
            )));
        }
        Ok(f)
    }

    /// Parses the comma-separated method list of `option` and applies the parameters; a name
    /// that is unknown, a list with a method twice, or a parameter that applies to none of the
    /// methods is a usage error naming it.
    pub fn methods(&self, option: &str, text: &str) -> Result<Vec<Method>, CliError> {
        let mut methods = Vec::new();
        for name in text.split(',').map(str::trim) {
            if name.is_empty() {
                continue;
            }
            let method: Method = name
                .parse()
                .map_err(|e| CliError::usage(format!("{option} {text}: {e}")))?;
            if methods.iter().any(|m: &Method| m.name() == method.name()) {
                return Err(CliError::usage(format!(
                    "{option} {text}: `{}` is listed twice; list each method once",
                    method.name()
                )));
            }
            methods.push(method);
        }
        if methods.is_empty() {
            return Err(CliError::usage(format!(
                "{option}: expected at least one method, e.g. erm,reweight,resample"
            )));
        }
        let names = || {
            methods
                .iter()
                .map(Method::name)
                .collect::<Vec<_>>()
                .join(", ")
        };
        let dro = methods
            .iter()
            .any(|m| matches!(m.rule, StepRule::GroupDro { .. }));
        let jtt = methods
            .iter()
            .any(|m| matches!(m.rule, StepRule::Jtt { .. }));
        for (flag, given, applies, method) in [
            ("--dro-eta", self.dro_eta.is_some(), dro, "group-dro"),
            (
                "--dro-adjustment",
                self.dro_adjustment.is_some(),
                dro,
                "group-dro",
            ),
            ("--jtt-epochs", self.jtt_epochs.is_some(), jtt, "jtt"),
            ("--jtt-lambda", self.jtt_lambda.is_some(), jtt, "jtt"),
        ] {
            if given && !applies {
                return Err(CliError::usage(format!(
                    "{flag} applies to {method} only, and {option} is {}: drop {flag} or add {method} to {option}",
                    names()
                )));
            }
        }
        for m in &mut methods {
            match &mut m.rule {
                StepRule::GroupDro { eta, adjustment } => {
                    *eta = self.dro_eta.unwrap_or(DRO_ETA);
                    *adjustment = self.dro_adjustment.unwrap_or(DRO_ADJUSTMENT);
                }
                StepRule::Jtt {
                    first_stage_epochs,
                    lambda,
                } => {
                    *first_stage_epochs = self.jtt_epochs;
                    *lambda = self.jtt_lambda.unwrap_or(JTT_LAMBDA);
                }
                _ => {}
            }
            m.validate().map_err(|e| {
                let text = e.to_string();
                let flag = [
                    ("η_q", "--dro-eta"),
                    ("adjustment", "--dro-adjustment"),
                    ("λ_up", "--jtt-lambda"),
                    ("first stage", "--jtt-epochs"),
                ]
                .iter()
                .find(|(k, _)| text.contains(k))
                .map_or(option, |(_, f)| *f);
                CliError::usage(format!(
                    "{flag}: {}",
                    text.trim_start_matches("training configuration: ")
                ))
            })?;
        }
        Ok(methods)
    }
}

/// majmin-sweep's error as the command line's: bad input exits with 2, a failed run with 1.
pub fn sweep_error(e: SweepError) -> CliError {
    if e.is_input_error() {
        CliError::usage(e)
    } else {
        CliError::run(e)
    }
}

/// The architecture called `name` from the registry (built-in architectures and the plugins of
/// `--plugins`); an unknown name is a usage error listing the known ones.
pub fn resolve_arch(
    ctx: &Context,
    name: &str,
) -> Result<Arc<dyn majmin_core::Architecture>, CliError> {
    ctx.registry()?
        .get(name)
        .map_err(|e| CliError::usage(format!("architecture: {e}")))
}

/// Checks the plan, loads its data, selects its runs' samples and resolves its architectures,
/// once ([`SweepPlan::prepare`]; bad input: exit 2).
pub fn prepare(ctx: &Context, plan: &SweepPlan) -> Result<PreparedSweep, CliError> {
    let registry = ctx.registry()?;
    plan.prepare(&registry).map_err(sweep_error)
}

/// The SIGINT/SIGTERM flag, installed once per process: either signal sets it (SIGTERM is what
/// Slurm sends at a time limit or on preemption); training loops poll it.
pub fn interrupt_flag() -> Arc<AtomicBool> {
    static FLAG: OnceLock<Arc<AtomicBool>> = OnceLock::new();
    FLAG.get_or_init(|| {
        let flag = Arc::new(AtomicBool::new(false));
        let setter = flag.clone();
        if let Err(e) = ctrlc::set_handler(move || {
            setter.store(true, std::sync::atomic::Ordering::SeqCst)
        }) {
            tracing::warn!(
                "cannot install the SIGINT/SIGTERM handler ({e}); a signal will stop the sweep abruptly"
            );
        }
        flag
    })
    .clone()
}

/// Progress bars for a sweep: one for the sweep, one per worker.
struct Bars {
    multi: MultiProgress,
    sweep: ProgressBar,
    workers: Mutex<Vec<ProgressBar>>,
    quiet: bool,
}

impl Bars {
    fn new(ctx: &Context, jobs: usize) -> Self {
        let multi = MultiProgress::new();
        let sweep = multi.add(ctx.progress(1, "sweep"));
        let workers = (0..jobs).map(|_| multi.add(ctx.progress(1, ""))).collect();
        Self {
            multi,
            sweep,
            workers: Mutex::new(workers),
            quiet: !ctx.show_progress(),
        }
    }

    fn finish(&self) {
        if let Ok(w) = self.workers.lock() {
            for bar in w.iter() {
                bar.finish_and_clear();
            }
        }
        self.sweep.finish_and_clear();
        let _ = self.multi.clear();
    }
}

impl SweepProgress for Bars {
    fn started(&self, total: usize, finished: usize) {
        self.sweep.set_length(total as u64);
        self.sweep.set_position(finished as u64);
    }
    fn run_started(&self, worker: usize, run: &RunConfig, steps: u64) {
        if let Some(bar) = self
            .workers
            .lock()
            .ok()
            .and_then(|w| w.get(worker).cloned())
        {
            bar.set_message(run.label());
            bar.set_length(steps);
            bar.set_position(0);
        }
    }
    fn run_step(&self, worker: usize, step: u64) {
        if let Some(bar) = self
            .workers
            .lock()
            .ok()
            .and_then(|w| w.get(worker).cloned())
        {
            bar.set_position(step);
        }
    }
    fn run_finished(&self, _run: &RunId) {
        self.sweep.inc(1);
    }
    fn waiting(&self, held: &[(RunId, ClaimInfo)]) {
        let text = format!(
            "waiting for {} run(s) that other processes are training ({})",
            held.len(),
            held.iter()
                .map(|(id, c)| format!("{id} on {} pid {}", c.host, c.pid))
                .collect::<Vec<_>>()
                .join(", ")
        );
        if self.quiet {
            tracing::info!("{text}");
        } else {
            self.sweep.set_message("waiting for others");
            let _ = self.multi.println(text);
        }
    }
}

/// Trains (or waits for) `runs` of `prepared` in the sweep folder `dir` with `jobs` runs at a
/// time; `wait_for_others`: whether to wait for runs other processes hold.
///
/// With `jobs > 1`, each run trains in its own rayon pool of `max(1, threads / jobs)` threads
/// (small models use two cores better as two single-threaded runs than as one run on two
/// threads). Curves do not depend on the thread count.
pub fn run_sweep(
    ctx: &Context,
    prepared: &PreparedSweep,
    dir: &Path,
    runs: &[RunConfig],
    jobs: usize,
    wait_for_others: bool,
) -> Result<SweepOutcome, CliError> {
    let store = RunStore::open(dir, majmin_sweep::claim_timeout()).map_err(sweep_error)?;
    let options = ExecOptions {
        jobs,
        threads: ctx.thread_count(),
        cancel: interrupt_flag(),
        wait_for_others,
        poll: Duration::from_millis(500),
    };
    let bars = Bars::new(ctx, jobs.max(1));
    let outcome = majmin_sweep::execute(prepared, &store, runs, &options, &bars);
    bars.finish();
    outcome.map_err(sweep_error)
}

/// The error that ends an interrupted command (exit code 130), after the finished runs are saved.
pub fn interrupted_error(dir: &Path, done: usize, total: usize) -> CliError {
    CliError {
        code: EXIT_INTERRUPTED,
        message: format!(
            "interrupted: {done} of {total} runs are saved in {}; the run in progress was discarded and its claim released. Continue with the same command (or --resume)",
            dir.join("runs").display()
        ),
    }
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
/// valid range when it fails); a value listed twice is refused.
pub fn parse_list(
    option: &str,
    text: &str,
    ok: impl Fn(f64) -> Result<(), String>,
) -> Result<Vec<f64>, CliError> {
    let values: Vec<f64> = text
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            let v: f64 = s
                .parse()
                .map_err(|_| CliError::usage(format!("{option}: `{s}` is not a number")))?;
            ok(v).map_err(|m| CliError::usage(format!("{option}: {s}: {m}")))?;
            Ok(v)
        })
        .collect::<Result<_, CliError>>()?;
    for (i, v) in values.iter().enumerate() {
        if values[..i].contains(v) {
            return Err(CliError::usage(format!(
                "{option}: {v} is listed twice; list each value once"
            )));
        }
    }
    Ok(values)
}
