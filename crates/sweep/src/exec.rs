//! Training the runs of a sweep: one run ([`train_run`]) and many, shared with other processes
//! through the run store ([`execute`]).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use majmin_core::{
    ArchConfig, Architecture, Dataset, Group, Model, ModelError, NamedTensor, RunStatus,
};
use majmin_flow::train::method::misclassified;
use majmin_flow::train::{evaluate_groups, TrainError, Trainer};

use crate::claim::{ClaimInfo, ClaimState, Claimed};
use crate::error::SweepError;
use crate::plan::{PreparedSweep, RunConfig, RunId, RunSamples};
use crate::record::{FinalMetrics, JttStage, RunRecord};
use crate::store::{heartbeat_interval, RunStore};

/// What a sweep reports while it works; every method has an empty default. The CLI draws
/// progress bars with it; a library user may log or ignore it.
pub trait SweepProgress: Sync {
    /// The sweep starts: `total` runs, `finished` of them already on disk.
    fn started(&self, total: usize, finished: usize) {
        let _ = (total, finished);
    }
    /// Worker `worker` starts training `run`, of `steps` optimiser steps.
    fn run_started(&self, worker: usize, run: &RunConfig, steps: u64) {
        let _ = (worker, run, steps);
    }
    /// Worker `worker`'s run reached `step`.
    fn run_step(&self, worker: usize, step: u64) {
        let _ = (worker, step);
    }
    /// A run is finished (by this process or another one).
    fn run_finished(&self, run: &RunId) {
        let _ = run;
    }
    /// Nothing is left to take; these runs are held by other processes and awaited.
    fn waiting(&self, held: &[(RunId, ClaimInfo)]) {
        let _ = held;
    }
}

/// A [`SweepProgress`] that reports nothing.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoProgress;

impl SweepProgress for NoProgress {}

/// What [`train_run_with`] adds to a run: a state to start from and a callback at evaluation
/// points. The default adds nothing ([`train_run`]).
#[derive(Default)]
pub struct RunHooks<'a> {
    /// The state dict every trained model starts from instead of its initialisation (both of
    /// JTT's stages), with a label for messages (e.g. the checkpoint's path). Record the source
    /// in [`RunConfig::init`] so that the run's identity says where it started.
    pub init: Option<(String, &'a [NamedTensor])>,
    /// Called after every evaluation point of the recorded run (not JTT's first stage) with the
    /// step and the model ([`Trainer::with_on_eval`]); an error fails the run.
    #[allow(clippy::type_complexity)]
    pub on_eval: Option<&'a mut dyn FnMut(u64, &dyn Model) -> Result<(), String>>,
}

impl std::fmt::Debug for RunHooks<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunHooks")
            .field(
                "init",
                &self.init.as_ref().map(|(label, t)| (label, t.len())),
            )
            .field("on_eval", &self.on_eval.is_some())
            .finish()
    }
}

/// Trains one run on `base`, the data set of its spec as loaded: the run's samples are selected
/// first ([`RunSamples::of`]: the held-out split taken out, the rest subsampled to the run's
/// ζ), then the model is trained with the run's method as [`train_run_on`] does. A sweep
/// selects the samples of all its runs once ([`crate::SweepPlan::prepare`]) and trains each
/// with [`train_run_on`].
pub fn train_run(
    config: &RunConfig,
    arch: &dyn Architecture,
    base: &Dataset,
    cancel: Option<Arc<AtomicBool>>,
    on_step: &mut dyn FnMut(u64, u64),
) -> Result<RunRecord, SweepError> {
    train_run_with(config, arch, base, cancel, on_step, RunHooks::default())
}

/// [`train_run`] with [`RunHooks`]: a state dict to start from and an evaluation-point callback.
/// A state dict that does not fit the model is a bad input ([`SweepError::RunInput`], naming
/// the tensor and the hooks' label).
pub fn train_run_with(
    config: &RunConfig,
    arch: &dyn Architecture,
    base: &Dataset,
    cancel: Option<Arc<AtomicBool>>,
    on_step: &mut dyn FnMut(u64, u64),
    hooks: RunHooks<'_>,
) -> Result<RunRecord, SweepError> {
    let samples = RunSamples::of(base, config)?;
    train_run_on(config, arch, base, &samples, cancel, on_step, hooks)
}

/// Trains one run on its samples of `base`, selected already (by [`crate::SweepPlan::prepare`]
/// or [`RunSamples::of`]): the model is trained on the training set with the run's method (JTT:
/// a first ERM stage on a model of its own, then the recorded run on a fresh model of the same
/// initialisation), and at the end the per-group metrics on the training set and the held-out
/// set are recorded. Both sets are views of `base` ([`Dataset::view`]): no sample is selected
/// or copied here. `on_step(step, total)` follows JTT's first stage, then the recorded run.
///
/// Samples selected for another held-out fraction, ζ, seed or data set size than the run's are
/// a bad input ([`SweepError::RunInput`]).
pub fn train_run_on(
    config: &RunConfig,
    arch: &dyn Architecture,
    base: &Dataset,
    samples: &RunSamples,
    cancel: Option<Arc<AtomicBool>>,
    on_step: &mut dyn FnMut(u64, u64),
    hooks: RunHooks<'_>,
) -> Result<RunRecord, SweepError> {
    let RunHooks { init, on_eval } = hooks;
    let id = config.id();
    if !samples.fits(config, base.len()) {
        return Err(SweepError::RunInput {
            run: id,
            message: format!(
                "the samples given were not selected for this run in `{}` ({} samples): select them with RunSamples::of",
                config.data,
                base.len()
            ),
        });
    }
    let data = samples.train_set(base);
    let holdout = samples.holdout_set(base);
    let mut arch_config = ArchConfig::new(data.shape(), data.classes())
        .with_width(config.width)
        .with_seed(config.seed);
    arch_config.options = config.arch_options.clone();
    let build = || {
        let mut model = arch.build(&arch_config).map_err(|e| SweepError::Arch {
            arch: config.arch.clone(),
            message: e.to_string(),
        })?;
        if let Some((label, tensors)) = &init {
            model
                .load_state_dict(tensors)
                .map_err(|e| SweepError::RunInput {
                    run: id.clone(),
                    message: format!("initial state {label}: {e}"),
                })?;
        }
        Ok::<_, SweepError>(model)
    };
    let input_error = |e: TrainError| SweepError::RunInput {
        run: id.clone(),
        message: e.to_string(),
    };
    let run_error = |e: TrainError| match e {
        TrainError::Config(_) | TrainError::EmptyGroup { .. } | TrainError::Mismatch { .. } => {
            SweepError::RunInput {
                run: id.clone(),
                message: e.to_string(),
            }
        }
        // a plugin that fails (or panics) mid-run is a bad input the user supplied
        TrainError::Model {
            source: ModelError::Plugin { .. },
            ..
        } => SweepError::RunInput {
            run: id.clone(),
            message: format!("{}: {e}", config.arch),
        },
        // the evaluation-point callback (e.g. writing a checkpoint) failed
        TrainError::Hook { .. } => SweepError::RunFailed {
            run: id.clone(),
            message: e.to_string(),
        },
        other => SweepError::RunFailed {
            run: id.clone(),
            message: format!("{}: {other}", config.arch),
        },
    };
    let model_error = |source: ModelError| run_error(TrainError::Model { step: 0, source });
    let chunk = config.train.eval_batch_size;

    // JTT's first stage: ERM on a model of its own; its training errors are up-weighted next
    let mut jtt = None;
    let mut errors = None;
    if let Some(first) = config.method.jtt_first_stage(&config.train, data.len()) {
        let mut model = build()?;
        let first_total = first.total_steps(data.len());
        let mut stage = Trainer::new(first)
            .map_err(input_error)?
            .with_progress(|p| on_step(p.step, first_total));
        if let Some(flag) = cancel.clone() {
            stage = stage.with_cancel(flag);
        }
        let outcome = stage.run(model.as_mut(), &data).map_err(run_error)?;
        if outcome.status != RunStatus::Finished {
            // an interrupted or diverged first stage ends the run where it stopped
            let sizes = data.group_sizes();
            return Ok(RunRecord {
                id,
                config: config.clone(),
                params: model.num_params(),
                majority: sizes.majority,
                minority: sizes.minority,
                status: outcome.status,
                steps: 0,
                steps_per_epoch: outcome.steps_per_epoch,
                seconds: outcome.seconds,
                points: Vec::new(),
                final_metrics: None,
                jtt: None,
            });
        }
        model.set_training(false);
        let wrong = misclassified(model.as_mut(), &data, chunk).map_err(model_error)?;
        jtt = Some(JttStage {
            steps: outcome.steps,
            errors: wrong.len(),
            minority_errors: wrong
                .iter()
                .filter(|&&i| data.groups()[i] == Group::Minority)
                .count(),
            seconds: outcome.seconds,
        });
        errors = Some(wrong);
    }

    let mut model = build()?;
    let total = config.train.total_steps(data.len());
    let mut trainer = Trainer::new(config.train.clone())
        .map_err(input_error)?
        .with_progress(|p| on_step(p.step, total));
    if !config.method.is_erm() {
        trainer = trainer
            .with_method(config.method, errors)
            .map_err(input_error)?;
    }
    if let Some(flag) = cancel {
        trainer = trainer.with_cancel(flag);
    }
    if let Some(callback) = on_eval {
        trainer = trainer.with_on_eval(callback);
    }
    let outcome = trainer.run(model.as_mut(), &data).map_err(run_error)?;
    let final_metrics = if outcome.status == RunStatus::Finished {
        model.set_training(false);
        let train = evaluate_groups(model.as_mut(), &data, chunk).map_err(model_error)?;
        let held = match &holdout {
            Some(h) => Some(evaluate_groups(model.as_mut(), h, chunk).map_err(model_error)?),
            None => None,
        };
        let sizes = holdout.as_ref().map(Dataset::group_sizes);
        Some(FinalMetrics {
            train,
            holdout: held,
            holdout_majority: sizes.map_or(0, |s| s.majority),
            holdout_minority: sizes.map_or(0, |s| s.minority),
        })
    } else {
        None
    };
    let sizes = data.group_sizes();
    Ok(RunRecord {
        id,
        config: config.clone(),
        params: model.num_params(),
        majority: sizes.majority,
        minority: sizes.minority,
        status: outcome.status,
        steps: outcome.steps,
        steps_per_epoch: outcome.steps_per_epoch,
        seconds: outcome.seconds + jtt.as_ref().map_or(0.0, |j| j.seconds),
        points: outcome.points,
        final_metrics,
        jtt,
    })
}

/// How [`execute`] works.
#[derive(Debug, Clone)]
pub struct ExecOptions {
    /// Runs trained at the same time by this process.
    pub jobs: usize,
    /// Threads of this process (split between the jobs).
    pub threads: usize,
    /// Set (e.g. by SIGINT or SIGTERM) to stop: the run in progress is discarded, its claim
    /// released.
    pub cancel: Arc<AtomicBool>,
    /// Wait for runs that other processes hold (true for `overcost`; false for a Slurm task,
    /// which does its own share and leaves).
    pub wait_for_others: bool,
    /// How often to look at runs held by others.
    pub poll: Duration,
}

/// What [`execute`] did.
#[derive(Debug, Default)]
pub struct SweepOutcome {
    /// Every finished run of the list, in its order (trained now, by others, or before).
    pub records: Vec<RunRecord>,
    /// Runs this process trained and published.
    pub trained: usize,
    /// Runs that were finished when it started.
    pub finished_before: usize,
    /// Runs other processes finished meanwhile.
    pub finished_by_others: usize,
    /// Runs still held by other processes when it stopped.
    pub held_by_others: Vec<(RunId, ClaimInfo)>,
    /// Runs whose training failed here (the sweep went on): the run and the error.
    pub failed: Vec<(RunId, String)>,
    /// Whether it was cancelled.
    pub interrupted: bool,
    /// Wall-clock seconds.
    pub seconds: f64,
}

#[derive(Debug, Clone)]
enum Slot {
    Todo,
    Busy,
    Held(ClaimInfo),
    Done(Box<RunRecord>, Origin),
    Failed(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Origin {
    Before,
    Here,
    Others,
}

/// Trains every run of `runs` (runs of `prepared`'s plan) that is not finished in `store`,
/// sharing the work with any other process on the same store: each run is claimed before it is
/// trained and published only while claimed. Every existing result is verified against its run
/// first, so a mismatching file fails the sweep before any training.
pub fn execute(
    prepared: &PreparedSweep,
    store: &RunStore,
    runs: &[RunConfig],
    options: &ExecOptions,
    progress: &dyn SweepProgress,
) -> Result<SweepOutcome, SweepError> {
    let started = Instant::now();
    let mut slots = Vec::with_capacity(runs.len());
    for run in runs {
        if prepared.arch_of(run).is_none() {
            return Err(SweepError::Plan {
                option: "--archs",
                message: format!(
                    "run {} is not part of the plan: architecture {} is not among the plan's",
                    run.id(),
                    run.arch
                ),
            });
        }
        if prepared.samples_of(run).is_none() {
            let zeta = run
                .zeta
                .map_or("the data's own".to_string(), |z| format!("{z}"));
            return Err(SweepError::Plan {
                option: "--seeds",
                message: format!(
                    "run {} is not part of the plan: no samples were selected for its seed {}                      and ζ {zeta}; expected a seed and ζ of the plan",
                    run.id(),
                    run.seed
                ),
            });
        }
        slots.push(match store.finished(run)? {
            Some(record) => Slot::Done(Box::new(record), Origin::Before),
            None => Slot::Todo,
        });
    }
    let finished_before = slots.iter().filter(|s| matches!(s, Slot::Done(..))).count();
    progress.started(runs.len(), finished_before);
    let slots = Mutex::new(slots);
    let fatal = Mutex::new(None::<SweepError>);
    let interrupted = AtomicBool::new(false);
    let stop_heartbeat = AtomicBool::new(false);
    let todo = runs.len() - finished_before;
    let jobs = options.jobs.clamp(1, todo.max(1));
    let threads_per_job = (options.threads / jobs).max(1);

    let worker = |w: usize| {
        while let Some(i) = next_run(store, runs, &slots, options, progress, &interrupted) {
            let run = &runs[i];
            let id = run.id();
            let set = |slot: Slot| {
                if let Ok(mut s) = slots.lock() {
                    s[i] = slot;
                }
            };
            match store.claims().try_claim(&id) {
                Ok(Claimed::Yes) => {}
                Ok(Claimed::HeldBy(info)) => {
                    set(Slot::Held(info));
                    continue;
                }
                Err(e) => {
                    set(Slot::Todo);
                    fail(&fatal, e);
                    break;
                }
            }
            // another process may have published between the look and the claim
            match store.finished(run) {
                Ok(Some(record)) => {
                    store.claims().release(&id);
                    progress.run_finished(&id);
                    set(Slot::Done(Box::new(record), Origin::Others));
                    continue;
                }
                Ok(None) => {}
                Err(e) => {
                    store.claims().release(&id);
                    fail(&fatal, e);
                    break;
                }
            }
            let (Some(arch), Some(samples)) = (prepared.arch_of(run), prepared.samples_of(run))
            else {
                break;
            };
            let result = train_run_on(
                run,
                arch.as_ref(),
                &prepared.data,
                samples,
                Some(options.cancel.clone()),
                &mut |step, total| {
                    if step == 1 {
                        progress.run_started(w, run, total);
                    }
                    progress.run_step(w, step);
                },
                RunHooks::default(),
            );
            match result {
                Ok(record) if matches!(record.status, RunStatus::Interrupted { .. }) => {
                    tracing::info!(run = %id, "interrupted; the run in progress is discarded");
                    store.claims().release(&id);
                    interrupted.store(true, Ordering::SeqCst);
                    set(Slot::Todo);
                    break;
                }
                Ok(record) => {
                    if let RunStatus::Diverged { t } = record.status {
                        tracing::warn!(run = %id, t, "run diverged; recorded, and the sweep goes on");
                    }
                    match store.publish(&record) {
                        Ok(()) => {
                            progress.run_finished(&id);
                            set(Slot::Done(Box::new(record), Origin::Here));
                        }
                        Err(e @ SweepError::RunFailed { .. }) => {
                            tracing::warn!("{e}");
                            set(Slot::Todo);
                        }
                        Err(e) => {
                            store.claims().release(&id);
                            set(Slot::Todo);
                            fail(&fatal, e);
                            break;
                        }
                    }
                }
                Err(e) if e.is_input_error() => {
                    store.claims().release(&id);
                    set(Slot::Todo);
                    fail(&fatal, e);
                    break;
                }
                Err(e) => {
                    let message = e.to_string();
                    tracing::error!("{message}; the sweep goes on");
                    if let Err(w) = store.record_failure(&id, &message) {
                        tracing::warn!("{w}");
                    }
                    set(Slot::Failed(message));
                }
            }
            if fatal.lock().map(|f| f.is_some()).unwrap_or(true) {
                break;
            }
        }
    };

    std::thread::scope(|scope| -> Result<(), SweepError> {
        let heartbeat = scope.spawn(|| {
            let every = heartbeat_interval(store.claims().timeout());
            let mut last = Instant::now();
            while !stop_heartbeat.load(Ordering::SeqCst) {
                std::thread::sleep(Duration::from_millis(100));
                if last.elapsed() >= every {
                    store.claims().heartbeat();
                    last = Instant::now();
                }
            }
        });
        if jobs == 1 {
            worker(0);
        } else {
            let mut handles = Vec::new();
            for w in 0..jobs {
                let pool = rayon::ThreadPoolBuilder::new()
                    .num_threads(threads_per_job)
                    .build()
                    .map_err(|e| SweepError::RunFailed {
                        run: runs[0].id(),
                        message: format!("cannot start a worker pool: {e}"),
                    })?;
                let worker = &worker;
                handles.push(scope.spawn(move || pool.install(|| worker(w))));
            }
            for h in handles {
                let _ = h.join();
            }
        }
        stop_heartbeat.store(true, Ordering::SeqCst);
        let _ = heartbeat.join();
        Ok(())
    })?;
    store.claims().release_all();
    if let Some(e) = fatal.into_inner().ok().flatten() {
        return Err(e);
    }
    let slots = slots.into_inner().unwrap_or_default();
    let mut outcome = SweepOutcome {
        finished_before,
        interrupted: interrupted.load(Ordering::SeqCst) || options.cancel.load(Ordering::SeqCst),
        seconds: started.elapsed().as_secs_f64(),
        ..SweepOutcome::default()
    };
    for (slot, run) in slots.into_iter().zip(runs) {
        match slot {
            Slot::Done(record, origin) => {
                match origin {
                    Origin::Here => outcome.trained += 1,
                    Origin::Others => outcome.finished_by_others += 1,
                    Origin::Before => {}
                }
                outcome.records.push(*record);
            }
            Slot::Held(info) => outcome.held_by_others.push((run.id(), info)),
            Slot::Failed(message) => outcome.failed.push((run.id(), message)),
            Slot::Todo | Slot::Busy => {
                if let ClaimState::Live(info) = store.claims().state(&run.id()) {
                    outcome.held_by_others.push((run.id(), info));
                }
            }
        }
    }
    Ok(outcome)
}

fn fail(fatal: &Mutex<Option<SweepError>>, e: SweepError) {
    if let Ok(mut f) = fatal.lock() {
        f.get_or_insert(e);
    }
}

/// The next run to try (marked busy), waiting for runs held by others when nothing else is left;
/// `None` when the work is over (all done, cancelled, or only others' runs left and not waiting).
fn next_run(
    store: &RunStore,
    runs: &[RunConfig],
    slots: &Mutex<Vec<Slot>>,
    options: &ExecOptions,
    progress: &dyn SweepProgress,
    interrupted: &AtomicBool,
) -> Option<usize> {
    let mut announced = false;
    loop {
        if options.cancel.load(Ordering::SeqCst) {
            interrupted.store(true, Ordering::SeqCst);
            return None;
        }
        let held: Vec<usize> = {
            let mut s = slots.lock().ok()?;
            if let Some(i) = s.iter().position(|x| matches!(x, Slot::Todo)) {
                s[i] = Slot::Busy;
                return Some(i);
            }
            s.iter()
                .enumerate()
                .filter(|(_, x)| matches!(x, Slot::Held(_)))
                .map(|(i, _)| i)
                .collect()
        };
        if held.is_empty() || !options.wait_for_others {
            return None;
        }
        if !announced {
            let list: Vec<(RunId, ClaimInfo)> = {
                let s = slots.lock().ok()?;
                held.iter()
                    .filter_map(|&i| match &s[i] {
                        Slot::Held(info) => Some((runs[i].id(), info.clone())),
                        _ => None,
                    })
                    .collect()
            };
            progress.waiting(&list);
            announced = true;
        }
        std::thread::sleep(options.poll);
        for i in held {
            let next = match store.finished(&runs[i]) {
                Ok(Some(record)) => {
                    progress.run_finished(&runs[i].id());
                    Slot::Done(Box::new(record), Origin::Others)
                }
                Ok(None) => match store.claims().state(&runs[i].id()) {
                    ClaimState::Live(info) => Slot::Held(info),
                    // freed (the holder failed or stopped) or stale: try it ourselves
                    ClaimState::Free | ClaimState::Stale(..) => Slot::Todo,
                },
                Err(e) => {
                    tracing::error!("{e}");
                    Slot::Failed(e.to_string())
                }
            };
            if let Ok(mut s) = slots.lock() {
                s[i] = next;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use majmin_flow::train::{Budget, EvalSchedule};

    fn tiny_run() -> (RunConfig, Arc<dyn Architecture>, Dataset) {
        let mut run = crate::plan::tests::tiny_plan().runs().remove(0);
        run.train.budget = Budget::Steps(4);
        run.train.eval = EvalSchedule::EverySteps(2);
        let arch = majmin_models::Registry::builtin().get("mlp").unwrap();
        let data = crate::load_data("digits", None).unwrap();
        (run, arch, data)
    }

    /// A digest of what a run measured (its name, group sizes, steps, every evaluation point
    /// and the final metrics); no wall-clock time.
    fn measured_digest(record: &RunRecord) -> String {
        use sha2::{Digest, Sha256};
        let json = serde_json::json!({
            "id": record.id,
            "majority": record.majority,
            "minority": record.minority,
            "steps": record.steps,
            "points": record.points,
            "final": record.final_metrics,
        });
        let digest = Sha256::digest(json.to_string().as_bytes());
        digest.iter().take(8).map(|b| format!("{b:02x}")).collect()
    }

    /// Runs keep their names and their curves bit for bit: the digests were measured before
    /// the runs' data became index lists kept by the prepared sweep (commit eb69a49).
    #[test]
    fn runs_keep_their_ids_and_curves() {
        let (plain, arch, data) = tiny_run();
        let mut held = crate::plan::tests::tiny_plan();
        held.holdout = 0.2;
        let mut held = held.runs().remove(3); // ζ = 0.3, seed index 1
        held.train = plain.train.clone();
        held.train.seed = held.seed;
        let mut measured = Vec::new();
        for run in [&plain, &held] {
            let record = train_run(run, arch.as_ref(), &data, None, &mut |_, _| {}).unwrap();
            measured.push((record.id.to_string(), measured_digest(&record)));
        }
        for (id, digest) in &measured {
            eprintln!("(\"{id}\", \"{digest}\"),");
        }
        let stored = [
            ("mlp-w0p125_z0p1_s0_dc49d1ac", "9ddf6a6d381b5622"),
            ("mlp-w0p125_z0p3_s1_a1ca05ca", "93327bc3afe47270"),
        ];
        let stored: Vec<(String, String)> = stored
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect();
        assert_eq!(measured, stored);
    }

    /// A prepared sweep's runs train on the samples prepare selected: executing them selects
    /// nothing again (counted on this thread, which trains with one job), and each record is
    /// the one-off path's ([`train_run`], which selects its samples once).
    #[test]
    fn a_prepared_sweep_trains_without_selecting_again() {
        let mut plan = crate::plan::tests::tiny_plan();
        plan.holdout = 0.2;
        plan.train.budget = majmin_flow::train::Budget::Steps(3);
        plan.train.eval = majmin_flow::train::EvalSchedule::EverySteps(3);
        let selections = || crate::plan::SELECTIONS.with(|n| n.get());
        let before = selections();
        let prepared = plan.prepare(&majmin_models::Registry::builtin()).unwrap();
        assert_eq!(
            selections() - before,
            plan.seeds as usize,
            "one selection per seed"
        );
        let dir = tempfile::tempdir().unwrap();
        let store = RunStore::open(dir.path(), Duration::from_secs(60)).unwrap();
        let options = ExecOptions {
            jobs: 1,
            threads: 1,
            cancel: Arc::new(AtomicBool::new(false)),
            wait_for_others: false,
            poll: Duration::from_millis(10),
        };
        let runs = plan.runs();
        let before = selections();
        let outcome = execute(&prepared, &store, &runs, &options, &NoProgress).unwrap();
        assert_eq!(
            selections(),
            before,
            "a prepared run selected its samples again"
        );
        assert_eq!(outcome.trained, runs.len());
        let arch = prepared.archs[0].0.clone();
        for (run, record) in runs.iter().zip(&outcome.records) {
            let before = selections();
            let one_off =
                train_run(run, arch.as_ref(), &prepared.data, None, &mut |_, _| {}).unwrap();
            assert_eq!(selections() - before, 1);
            assert_eq!(measured_digest(record), measured_digest(&one_off));
            assert!(record.final_metrics.as_ref().unwrap().holdout.is_some());
        }
        // a run outside the plan is refused before anything is trained
        let mut other = runs[0].clone();
        other.seed += 7;
        let e = execute(&prepared, &store, &[other], &options, &NoProgress)
            .unwrap_err()
            .to_string();
        assert!(e.contains("not part of the plan"), "{e}");
        assert!(e.contains("--seeds") && e.contains("seed"), "{e}");
        // an architecture outside the plan names it
        let mut other = runs[0].clone();
        other.arch = "no-such-arch".into();
        let e = execute(&prepared, &store, &[other], &options, &NoProgress)
            .unwrap_err()
            .to_string();
        assert!(e.contains("--archs") && e.contains("no-such-arch"), "{e}");
    }

    /// Samples selected for another run are refused, naming the run.
    #[test]
    fn samples_of_another_run_are_refused() {
        let (run, arch, data) = tiny_run();
        let mut other = run.clone();
        other.seed += 1;
        let samples = RunSamples::of(&data, &other).unwrap();
        let e = train_run_on(
            &run,
            arch.as_ref(),
            &data,
            &samples,
            None,
            &mut |_, _| {},
            RunHooks::default(),
        )
        .unwrap_err();
        assert!(e.is_input_error());
        assert!(e.to_string().contains(run.id().as_str()), "{e}");
        let small = data.subset(&(0..100).collect::<Vec<_>>());
        let samples = RunSamples::of(&data, &run).unwrap();
        let e = train_run_on(
            &run,
            arch.as_ref(),
            &small,
            &samples,
            None,
            &mut |_, _| {},
            RunHooks::default(),
        )
        .unwrap_err();
        assert!(e.to_string().contains("100 samples"), "{e}");
    }

    /// The callback sees every evaluation point; a run started from the last point's state
    /// starts at the first run's last loss; a state that does not fit is a bad input naming its
    /// label; a failing callback fails the run.
    #[test]
    fn hooks_start_from_a_state_and_see_each_point() {
        let (run, arch, data) = tiny_run();
        let plain = train_run(&run, arch.as_ref(), &data, None, &mut |_, _| {}).unwrap();
        let mut states = Vec::new();
        let mut on_eval = |step: u64, m: &dyn Model| {
            states.push((step, m.state_dict().map_err(|e| e.to_string())?));
            Ok(())
        };
        let hooked = train_run_with(
            &run,
            arch.as_ref(),
            &data,
            None,
            &mut |_, _| {},
            RunHooks {
                init: None,
                on_eval: Some(&mut on_eval),
            },
        )
        .unwrap();
        assert_eq!(hooked.points, plain.points);
        let steps: Vec<u64> = states.iter().map(|(s, _)| *s).collect();
        assert_eq!(steps, [0, 2, 4]);

        let (_, last) = states.pop().unwrap();
        let mut from = run.clone();
        from.init = Some("0".repeat(64));
        let cont = train_run_with(
            &from,
            arch.as_ref(),
            &data,
            None,
            &mut |_, _| {},
            RunHooks {
                init: Some(("last.safetensors".into(), &last)),
                on_eval: None,
            },
        )
        .unwrap();
        assert_eq!(cont.points[0].loss, plain.points.last().unwrap().loss);
        assert_ne!(cont.id, plain.id);

        let mut wrong = last.clone();
        wrong.pop();
        let err = train_run_with(
            &from,
            arch.as_ref(),
            &data,
            None,
            &mut |_, _| {},
            RunHooks {
                init: Some(("short.safetensors".into(), &wrong)),
                on_eval: None,
            },
        )
        .unwrap_err();
        assert!(err.is_input_error(), "{err}");
        let text = err.to_string();
        assert!(
            text.contains("short.safetensors") && text.contains("5.bias"),
            "{text}"
        );

        let mut failing = |step: u64, _: &dyn Model| {
            if step == 2 {
                Err("cannot write step-2.safetensors".to_string())
            } else {
                Ok(())
            }
        };
        let err = train_run_with(
            &run,
            arch.as_ref(),
            &data,
            None,
            &mut |_, _| {},
            RunHooks {
                init: None,
                on_eval: Some(&mut failing),
            },
        )
        .unwrap_err();
        assert!(!err.is_input_error());
        assert!(err.to_string().contains("step-2.safetensors"), "{err}");
    }
}
