//! Training-loop tests on a hand-written softmax regression (no dfdx).

use super::*;
use majmin_core::model::{check_batch, Evaluation};
use majmin_core::{Dataset, GroupRule, Rng};

/// Softmax regression: logits = W x + b, parameters `[W (k×d) | b (k)]`.
struct Softmax {
    d: usize,
    k: usize,
    params: Vec<f32>,
    training: bool,
}

impl Softmax {
    fn new(d: usize, k: usize) -> Self {
        Self {
            d,
            k,
            params: vec![0.0; k * d + k],
            training: true,
        }
    }
}

impl Model for Softmax {
    fn num_params(&self) -> usize {
        self.params.len()
    }
    fn input_shape(&self) -> [usize; 3] {
        [1, 1, self.d]
    }
    fn classes(&self) -> usize {
        self.k
    }
    fn get_params(&self, out: &mut [f32]) -> Result<(), ModelError> {
        out.copy_from_slice(&self.params);
        Ok(())
    }
    fn set_params(&mut self, params: &[f32]) -> Result<(), ModelError> {
        self.params.copy_from_slice(params);
        Ok(())
    }
    fn set_training(&mut self, training: bool) {
        self.training = training;
    }
    fn is_training(&self) -> bool {
        self.training
    }
    fn logits(&mut self, inputs: &[f32]) -> Result<Vec<f32>, ModelError> {
        let (d, k) = (self.d, self.k);
        let mut out = Vec::with_capacity(inputs.len() / d * k);
        for x in inputs.chunks(d) {
            for c in 0..k {
                let w = &self.params[c * d..(c + 1) * d];
                out.push(w.iter().zip(x).map(|(a, b)| a * b).sum::<f32>() + self.params[k * d + c]);
            }
        }
        Ok(out)
    }
    fn loss_and_gradient(
        &mut self,
        inputs: &[f32],
        labels: &[u32],
        grad: &mut [f32],
    ) -> Result<f32, ModelError> {
        let batch = check_batch(self.input_shape(), self.k, inputs, labels)?;
        let (d, k) = (self.d, self.k);
        let logits = self.logits(inputs)?;
        grad.iter_mut().for_each(|g| *g = 0.0);
        let mut loss = 0.0f64;
        for ((z, x), &y) in logits.chunks(k).zip(inputs.chunks(d)).zip(labels) {
            let m = z.iter().cloned().fold(f32::NEG_INFINITY, f32::max);
            let e: Vec<f64> = z.iter().map(|v| ((v - m) as f64).exp()).collect();
            let s: f64 = e.iter().sum();
            loss += s.ln() - (z[y as usize] - m) as f64;
            for c in 0..k {
                let delta = (e[c] / s - (c == y as usize) as u8 as f64) as f32 / batch as f32;
                for j in 0..d {
                    grad[c * d + j] += delta * x[j];
                }
                grad[k * d + c] += delta;
            }
        }
        Ok((loss / batch as f64) as f32)
    }
}

/// Two Gaussian blobs per group in 2-D, four classes: majority classes 0, 1; minority 2, 3.
fn blobs(n_per_class: usize, seed: u64) -> Dataset {
    let centres = [(2.0, 0.0), (-2.0, 0.0), (0.0, 2.0), (0.0, -2.0)];
    let mut rng = Rng::seed_from_u64(seed);
    let (mut features, mut labels) = (Vec::new(), Vec::new());
    for (c, (x, y)) in centres.iter().enumerate() {
        for _ in 0..n_per_class {
            features.push((x + 0.5 * rng.normal()) as f32);
            features.push((y + 0.5 * rng.normal()) as f32);
            labels.push(c as u32);
        }
    }
    Dataset::new("blobs", [1, 1, 2], features, labels, 4).unwrap()
}

fn config(lr: f64, epochs: f64) -> TrainConfig {
    TrainConfig {
        lr,
        batch_size: 16,
        budget: Budget::Epochs(epochs),
        eval: EvalSchedule::EverySteps(5),
        ..TrainConfig::default()
    }
}

#[test]
fn loss_falls_for_both_groups() {
    let data = blobs(50, 1).with_imbalance(0.2, 3).unwrap();
    let mut model = Softmax::new(2, 4);
    let out = train(&mut model, &data, &config(0.1, 5.0)).unwrap();
    assert_eq!(out.status, RunStatus::Finished);
    let (first, last) = (&out.points[0], out.points.last().unwrap());
    assert!(
        (first.loss - 4f64.ln()).abs() < 1e-6,
        "zero weights give ln 4, got {}",
        first.loss
    );
    assert!(last.majority_loss < 0.3 * first.majority_loss, "{last:?}");
    assert!(last.minority_loss < first.minority_loss);
    assert!(last.majority_accuracy > 0.95);
    // the global mean is the n_g-weighted mean of the group means (docs/definitions.md)
    let s = data.group_sizes();
    let weighted = (s.majority as f64 * last.majority_loss
        + s.minority as f64 * last.minority_loss)
        / s.total() as f64;
    assert!((weighted - last.loss).abs() < 1e-9);
}

#[test]
fn group_means_match_a_hand_computation() {
    let data = blobs(10, 2).with_imbalance(0.5, 0).unwrap();
    let mut model = Softmax::new(2, 4);
    model.params = vec![
        0.3, -0.2, 0.1, 0.4, -0.5, 0.2, 0.0, 0.1, 0.05, -0.05, 0.0, 0.1,
    ];
    let m = evaluate_groups(&mut model, &data, 3).unwrap();
    let eval: Evaluation = model.evaluate(data.features(), data.labels()).unwrap();
    let mean = |g: Group| {
        let idx = data.indices_of(g);
        idx.iter().map(|&i| eval.losses[i] as f64).sum::<f64>() / idx.len() as f64
    };
    assert!((m.majority_loss - mean(Group::Majority)).abs() < 1e-12);
    assert!((m.minority_loss - mean(Group::Minority)).abs() < 1e-12);
    let all = eval.losses.iter().map(|&l| l as f64).sum::<f64>() / data.len() as f64;
    assert!((m.loss - all).abs() < 1e-12);
}

#[test]
fn huge_learning_rate_diverges_at_a_time() {
    let data = blobs(50, 1).with_imbalance(0.5, 3).unwrap();
    let mut model = Softmax::new(2, 4);
    let out = train(&mut model, &data, &config(1e38, 3.0)).unwrap();
    let RunStatus::Diverged { t } = out.status else {
        panic!("expected divergence, got {}", out.status)
    };
    assert!(t > 0.0 && t < 3.0, "t = {t}");
    assert!(out.points.iter().all(|p| p.loss.is_finite()));
    assert!(out.points.last().unwrap().t <= t);
    assert_eq!(out.status.to_string(), format!("diverged at t = {t}"));
}

#[test]
fn evaluation_points_sit_where_asked() {
    let data = blobs(20, 1); // 80 samples, batch 16 → 5 steps per epoch
    let mut model = Softmax::new(2, 4);
    let out = train(&mut model, &data, &config(0.05, 3.0)).unwrap();
    let steps: Vec<u64> = out.points.iter().map(|p| p.step).collect();
    assert_eq!(steps, vec![0, 5, 10, 15]);
    let ts: Vec<f64> = out.points.iter().map(|p| p.t).collect();
    assert_eq!(ts, vec![0.0, 1.0, 2.0, 3.0]);
    assert_eq!(
        (out.steps_per_epoch, out.total_steps, out.steps),
        (5, 15, 15)
    );

    let c = TrainConfig {
        eval: EvalSchedule::LogSpaced(4),
        budget: Budget::Steps(100),
        ..config(0.05, 1.0)
    };
    let out = train(&mut Softmax::new(2, 4), &data, &c).unwrap();
    let steps: Vec<u64> = out.points.iter().map(|p| p.step).collect();
    assert_eq!(steps, vec![0, 1, 10, 100]);
    assert!((out.points[2].t - 2.0).abs() < 1e-12);
}

#[test]
fn gd_takes_one_full_batch_step_per_epoch() {
    let data = blobs(20, 1);
    let c = TrainConfig {
        optimizer: Optimizer::Gd,
        sgd: default_sgd_config(Optimizer::Gd),
        eval_batch_size: 7, // chunked full batch equals one pass
        budget: Budget::Epochs(4.0),
        eval: EvalSchedule::EverySteps(1),
        ..config(0.5, 1.0)
    };
    let mut model = Softmax::new(2, 4);
    let out = train(&mut model, &data, &c).unwrap();
    assert_eq!(out.points.len(), 5);
    // replay by hand: θ ← θ − η ∇L(θ) on the full batch
    let mut reference = Softmax::new(2, 4);
    let mut grad = vec![0.0; reference.num_params()];
    for _ in 0..4 {
        reference
            .loss_and_gradient(data.features(), data.labels(), &mut grad)
            .unwrap();
        let p: Vec<f32> = reference
            .params
            .iter()
            .zip(&grad)
            .map(|(p, g)| p - 0.5 * g)
            .collect();
        reference.params = p;
    }
    for (a, b) in model.params.iter().zip(&reference.params) {
        assert!((a - b).abs() < 1e-5, "{a} vs {b}");
    }
}

#[test]
fn same_seed_same_curves_and_other_seed_other_curves() {
    let data = blobs(30, 4).with_imbalance(0.3, 1).unwrap();
    let run = |seed| {
        train(
            &mut Softmax::new(2, 4),
            &data,
            &TrainConfig {
                seed,
                ..config(0.1, 2.0)
            },
        )
        .unwrap()
        .points
    };
    assert_eq!(run(7), run(7));
    assert_ne!(run(7), run(8));
}

#[test]
fn cancellation_interrupts_and_keeps_points() {
    let data = blobs(20, 1);
    let flag = Arc::new(AtomicBool::new(false));
    let setter = flag.clone();
    let mut seen = 0;
    let out = Trainer::new(config(0.05, 10.0))
        .unwrap()
        .with_cancel(flag)
        .with_progress(|p| {
            seen = p.step;
            if p.step == 12 {
                setter.store(true, Ordering::SeqCst);
            }
        })
        .run(&mut Softmax::new(2, 4), &data)
        .unwrap();
    assert_eq!(out.status, RunStatus::Interrupted { t: 12.0 / 5.0 });
    assert_eq!(out.steps, 12);
    assert_eq!(seen, 12);
    assert_eq!(
        out.points.iter().map(|p| p.step).collect::<Vec<_>>(),
        vec![0, 5, 10]
    );
}

#[test]
fn step_schedule_changes_the_update() {
    // one sample, GD: with a step schedule the second epoch's update is gamma times smaller
    let data = blobs(5, 3);
    let base = TrainConfig {
        optimizer: Optimizer::Gd,
        sgd: default_sgd_config(Optimizer::Gd),
        budget: Budget::Epochs(1.0),
        ..config(0.1, 1.0)
    };
    let mut a = Softmax::new(2, 4);
    train(&mut a, &data, &base).unwrap();
    let scheduled = TrainConfig {
        schedule: crate::optim::LrSchedule::Step {
            every: 1.0,
            gamma: 0.0001,
        },
        budget: Budget::Epochs(2.0),
        ..base.clone()
    };
    let mut b = Softmax::new(2, 4);
    train(&mut b, &data, &scheduled).unwrap();
    for (x, y) in a.params.iter().zip(&b.params) {
        assert!(
            (x - y).abs() < 1e-3 * x.abs().max(1e-3),
            "second step should be tiny: {x} vs {y}"
        );
    }
}

/// Majority: class 0 at x = 1; minority: class 1 at the same x. L1 wants class 0 forever; L is
/// minimal where p(class 1) = n0 / n.
fn conflict() -> Dataset {
    let n1 = 40;
    let n0 = 10;
    let features = vec![1.0f32; n1 + n0];
    let labels: Vec<u32> = (0..n1 + n0).map(|i| (i >= n1) as u32).collect();
    Dataset::new("conflict", [1, 1, 1], features, labels, 2)
        .unwrap()
        .with_group_rule(&GroupRule::MinorityClasses(vec![1]))
        .unwrap()
}

#[test]
fn zone_probe_sign_and_split() {
    let data = conflict();
    let mut model = Softmax::new(1, 2);
    model.set_training(false);
    // θ = 0: p(1) = 1/2 > n0/n = 0.2, so both ∇L and ∇L1 push towards class 0: inside the zone
    let inside = zone_probe(&mut model, &data, 16).unwrap();
    assert!(inside.inner_product > 0.0, "{inside:?}");
    // hand values: ∂ℓ/∂(z1 − z0) for a class-0 sample is p1 = 1/2. L1 = (n1/n)·mean, so
    // ∇L1 = 0.8 · (1/2) · (±1 on the 2 weights and 2 biases) → ‖∇L1‖ = 0.8 · 0.5 · 2 = 0.8
    assert!((inside.majority_grad_norm - 0.8).abs() < 1e-6, "{inside:?}");
    assert!((inside.minority_grad_norm - 0.2).abs() < 1e-6, "{inside:?}");
    // ⟨∇L, ∇L1⟩ = ‖∇L1‖² + ⟨∇L0, ∇L1⟩ = 0.64 − 0.16 (opposite directions)
    assert!((inside.inner_product - 0.48).abs() < 1e-6, "{inside:?}");
    // past the minimum of L (p(1) ≈ 0.018 < 0.2): ∇L points towards class 1, ∇L1 towards class 0
    model.params = vec![2.0, -2.0, 0.0, 0.0];
    let outside = zone_probe(&mut model, &data, 16).unwrap();
    assert!(outside.inner_product < 0.0, "{outside:?}");
}

#[test]
fn zone_probe_is_recorded_when_asked() {
    let data = conflict();
    let c = TrainConfig {
        zone: true,
        ..config(0.5, 2.0)
    };
    let out = train(&mut Softmax::new(1, 2), &data, &c).unwrap();
    assert!(out.points.iter().all(|p| p.zone.is_some()));
    assert!(out.points[0].zone.unwrap().inner_product > 0.0);
    let out = train(&mut Softmax::new(1, 2), &data, &config(0.5, 1.0)).unwrap();
    assert!(out.points.iter().all(|p| p.zone.is_none()));
}

#[test]
fn empty_group_and_shape_mismatch_are_errors() {
    let data = blobs(5, 1)
        .with_group_rule(&GroupRule::MinorityClasses(vec![]))
        .unwrap();
    let e = train(&mut Softmax::new(2, 4), &data, &config(0.1, 1.0)).unwrap_err();
    assert!(
        matches!(
            e,
            TrainError::EmptyGroup {
                group: Group::Minority,
                ..
            }
        ),
        "{e}"
    );
    let e = train(&mut Softmax::new(3, 4), &blobs(5, 1), &config(0.1, 1.0)).unwrap_err();
    assert!(e.to_string().contains("does not fit the model"), "{e}");
}
