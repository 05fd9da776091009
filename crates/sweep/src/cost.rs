//! What a sweep will cost before it runs: the number of runs, the images each processes and the
//! time on this machine, from the measured throughput of a few training steps per network.

use std::sync::Arc;
use std::time::Instant;

use majmin_core::Architecture;
use serde::Serialize;

use crate::error::SweepError;
use crate::plan::{ArchChoice, SweepPlan};

/// Images per second of one network on this machine, measured.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Throughput {
    /// Training steps (forward, backward, update) in images/s at the plan's batch size.
    pub train_images_per_s: f64,
    /// Evaluation forward passes in images/s at the plan's evaluation batch size.
    pub eval_images_per_s: f64,
}

/// The cost of one run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunCost {
    /// The architecture.
    pub arch: ArchChoice,
    /// ζ.
    pub zeta: f64,
    /// Training-set size n = n1 + round(ζ·n1).
    pub samples: usize,
    /// Optimiser steps.
    pub steps: u64,
    /// Images through training steps.
    pub train_images: u64,
    /// Evaluation points.
    pub eval_points: usize,
    /// Images through evaluation passes (every point evaluates the whole training set; the zone
    /// probe adds two full-batch gradients per point).
    pub eval_images: u64,
    /// Estimated seconds.
    pub seconds: f64,
}

/// The cost of a plan.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PlanCost {
    /// Per architecture: its exact parameter count and measured throughput.
    pub archs: Vec<(ArchChoice, usize, Throughput)>,
    /// Every run.
    pub runs: Vec<RunCost>,
    /// Threads each run gets (the throughput was measured with them).
    pub threads_per_run: usize,
    /// Runs at a time.
    pub jobs: usize,
    /// Sum of the runs' estimated seconds.
    pub serial_seconds: f64,
    /// Estimated wall-clock seconds with `jobs` runs at a time.
    pub wall_seconds: f64,
}

/// Deterministic inputs for timing: values in [-1, 1).
fn timing_inputs(len: usize) -> Vec<f32> {
    (0..len)
        .map(|i| ((i.wrapping_mul(2_654_435_761) % 2000) as f32) / 1000.0 - 1.0)
        .collect()
}

/// Measures `arch` at `width` on inputs of `shape` with `classes` classes: at least `steps`
/// training steps of `batch` images and a quarter of a second (after one warm-up step) and two evaluation passes of `eval_batch` images.
pub fn measure_throughput(
    arch: &dyn Architecture,
    shape: [usize; 3],
    classes: usize,
    choice: &ArchChoice,
    batch: usize,
    eval_batch: usize,
    steps: usize,
) -> Result<(usize, Throughput), SweepError> {
    let config = choice.arch_config(shape, classes);
    let fail = |e: majmin_core::ModelError| SweepError::Arch {
        arch: arch.name().to_string(),
        message: e.to_string(),
    };
    let mut model = arch.build(&config).map_err(fail)?;
    let per_image: usize = shape.iter().product();
    let batch = batch.max(1);
    let inputs = timing_inputs(batch * per_image);
    let labels: Vec<u32> = (0..batch).map(|i| (i % classes.max(1)) as u32).collect();
    let mut grad = vec![0.0f32; model.num_params()];
    model.set_training(true);
    model
        .loss_and_gradient(&inputs, &labels, &mut grad)
        .map_err(fail)?;
    // at least `steps` steps and a quarter of a second, so that fast networks are timed over
    // enough steps to be stable
    let started = Instant::now();
    let mut done = 0;
    while done < steps.max(1) || (started.elapsed().as_secs_f64() < 0.25 && done < 1000) {
        model
            .loss_and_gradient(&inputs, &labels, &mut grad)
            .map_err(fail)?;
        done += 1;
    }
    let train = (done * batch) as f64 / started.elapsed().as_secs_f64().max(1e-9);
    let eval_batch = eval_batch.max(1);
    let eval_inputs = timing_inputs(eval_batch * per_image);
    model.set_training(false);
    model.logits(&eval_inputs).map_err(fail)?;
    let started = Instant::now();
    for _ in 0..2 {
        model.logits(&eval_inputs).map_err(fail)?;
    }
    let eval = (2 * eval_batch) as f64 / started.elapsed().as_secs_f64().max(1e-9);
    Ok((
        model.num_params(),
        Throughput {
            train_images_per_s: train,
            eval_images_per_s: eval,
        },
    ))
}

/// Estimates the cost of `plan` on a data set of input `shape`, `classes` classes and `majority`
/// majority samples, with the architectures `archs` (those of `plan.archs`, in order), `jobs` runs
/// at a time on `threads` threads; each network's throughput is measured with `steps` steps in a
/// pool of the threads one run gets.
#[allow(clippy::too_many_arguments)]
pub fn estimate(
    plan: &SweepPlan,
    archs: &[Arc<dyn Architecture>],
    shape: [usize; 3],
    classes: usize,
    majority: usize,
    jobs: usize,
    threads: usize,
    steps: usize,
) -> Result<PlanCost, SweepError> {
    let jobs = jobs.max(1);
    let threads_per_run = (threads / jobs).max(1);
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads_per_run)
        .build()
        .map_err(|e| SweepError::Plan {
            option: "--threads",
            message: format!("cannot start a pool of {threads_per_run} threads: {e}"),
        })?;
    let mut measured = Vec::new();
    for (choice, arch) in plan.archs.iter().zip(archs) {
        let (params, throughput) = pool.install(|| {
            measure_throughput(
                arch.as_ref(),
                shape,
                classes,
                choice,
                plan.train.batch_size,
                plan.train.eval_batch_size,
                steps,
            )
        })?;
        measured.push((choice.clone(), params, throughput));
    }
    let mut runs = Vec::new();
    // the held-out split leaves this many majority samples for training
    let majority = majority - (plan.holdout * majority as f64).round() as usize;
    for (choice, _, throughput) in &measured {
        for (method, &zeta) in plan
            .methods
            .iter()
            .flat_map(|m| plan.zetas.iter().map(move |z| (m, z)))
        {
            let samples = majority + (zeta * majority as f64).round() as usize;
            let train = choice.train_config(&plan.train);
            let total = train.total_steps(samples);
            let per_epoch = train.steps_per_epoch(samples);
            let train_images = (total as f64 * samples as f64 / per_epoch as f64).round() as u64;
            let eval_points = plan.train.eval.steps(total).len();
            let zone = if plan.train.zone { 2 } else { 0 };
            let eval_images = (eval_points * samples) as u64;
            // JTT trains a first stage before the recorded run
            let first_stage = method
                .jtt_first_stage(&plan.train, samples)
                .map(|c| c.total_steps(samples) as f64 / total as f64)
                .unwrap_or(0.0);
            let seconds = (train_images as f64 * (1.0 + first_stage) + (zone * eval_images) as f64)
                / throughput.train_images_per_s
                + eval_images as f64 / throughput.eval_images_per_s;
            for _ in 0..plan.seeds {
                runs.push(RunCost {
                    arch: choice.clone(),
                    zeta,
                    samples,
                    steps: total,
                    train_images,
                    eval_points,
                    eval_images,
                    seconds,
                });
            }
        }
    }
    let serial_seconds: f64 = runs.iter().map(|r| r.seconds).sum();
    Ok(PlanCost {
        archs: measured,
        runs,
        threads_per_run,
        jobs,
        serial_seconds,
        wall_seconds: serial_seconds / jobs as f64,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use majmin_flow::train::{Budget, TrainConfig};

    #[test]
    fn counts_follow_the_plan() {
        let registry = majmin_models::Registry::builtin();
        let mlp = registry.get("mlp").unwrap();
        let plan = SweepPlan {
            archs: vec![ArchChoice::new("mlp", 0.25)],
            data: "digits".into(),
            minority_classes: None,
            zetas: vec![0.1, 1.0],
            seeds: 3,
            seed: 0,
            train: TrainConfig {
                budget: Budget::Epochs(2.0),
                batch_size: 100,
                ..TrainConfig::default()
            },
            methods: vec![majmin_flow::train::Method::ERM],
            holdout: 0.0,
        };
        let cost = estimate(&plan, &[mlp], [1, 8, 8], 10, 1000, 1, 1, 2).unwrap();
        assert_eq!(cost.runs.len(), 6);
        let small = &cost.runs[0];
        assert_eq!(small.samples, 1100);
        assert_eq!(small.steps, 22);
        assert_eq!(small.train_images, 2200);
        let big = &cost.runs[3];
        assert_eq!((big.samples, big.train_images), (2000, 4000));
        assert!(big.seconds > small.seconds && small.seconds > 0.0);
        assert!(
            (cost.serial_seconds - cost.runs.iter().map(|r| r.seconds).sum::<f64>()).abs() < 1e-9
        );
        assert!(cost.archs[0].2.train_images_per_s > 0.0);
    }
}
