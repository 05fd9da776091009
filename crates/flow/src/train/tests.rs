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

// ---- methods (issue 18): the six tests where the answer is known, and the plumbing ----

mod methods {
    use super::*;
    use crate::train::method::{group_weights, misclassified, MethodState, DRO_ETA, JTT_LAMBDA};

    /// 40 majority and 4 minority samples of the blobs, softmax weights away from zero so that
    /// the two groups' gradients differ in size and direction.
    fn setup() -> (Dataset, Softmax) {
        let data = blobs(20, 7).with_imbalance(0.1, 1).unwrap();
        assert_eq!(
            (data.group_sizes().majority, data.group_sizes().minority),
            (40, 4)
        );
        let mut model = Softmax::new(2, 4);
        model.params = vec![
            0.3, -0.2, 0.1, 0.4, -0.5, 0.2, 0.05, -0.1, 0.1, 0.0, -0.1, 0.2,
        ];
        (data, model)
    }

    fn method(name: &str) -> Method {
        name.parse().unwrap()
    }

    /// (1/B) Σ_i w_i ∇ℓ_i from one sample at a time: the weighted loss's gradient by definition.
    fn reference(
        model: &mut Softmax,
        data: &Dataset,
        batch: &[usize],
        w: impl Fn(usize) -> f64,
    ) -> Vec<f64> {
        let mut out = vec![0.0f64; model.num_params()];
        let mut g = vec![0.0f32; model.num_params()];
        for &i in batch {
            model
                .loss_and_gradient(data.sample(i), &[data.labels()[i]], &mut g)
                .unwrap();
            out.iter_mut()
                .zip(&g)
                .for_each(|(o, g)| *o += w(i) * *g as f64 / batch.len() as f64);
        }
        out
    }

    fn group_gradient(model: &mut Softmax, data: &Dataset, group: Group) -> Vec<f64> {
        let mut g = vec![0.0f32; model.num_params()];
        mean_gradient(model, data, &data.indices_of(group), 1000, &mut g).unwrap();
        g.iter().map(|x| *x as f64).collect()
    }

    fn norm(v: &[f64]) -> f64 {
        v.iter().map(|x| x * x).sum::<f64>().sqrt()
    }

    fn close(a: &[f64], b: &[f32], tol: f64) -> bool {
        a.iter().zip(b).all(|(a, b)| (a - *b as f64).abs() < tol)
    }

    #[test]
    fn reweight_makes_the_groups_total_gradient_contributions_equal() {
        let (data, mut model) = setup();
        let m = method("reweight");
        let w = group_weights(m.weights, [4, 40]);
        // w_g = n / (2 n_g): 44/8 and 44/80, so n_g · w_g = n/2 for both groups
        assert_eq!(w, [44.0 / 8.0, 44.0 / 80.0]);
        assert_eq!(4.0 * w[0], 40.0 * w[1]);
        // on a fixed batch (the whole set) the step is ½∇L̄_0 + ½∇L̄_1: equal contributions
        let batch: Vec<usize> = (0..data.len()).collect();
        let mut state = MethodState::new(m, &data, 0, None).unwrap();
        let mut grad = vec![0.0f32; model.num_params()];
        state
            .step_direction(&mut model, &data, &batch, 1000, &mut grad)
            .unwrap();
        let g0 = group_gradient(&mut model, &data, Group::Minority);
        let g1 = group_gradient(&mut model, &data, Group::Majority);
        let half: Vec<f64> = g0.iter().zip(&g1).map(|(a, b)| 0.5 * (a + b)).collect();
        assert!(close(&half, &grad, 1e-6), "{half:?} vs {grad:?}");
        // and it is the definition (1/B) Σ w_i ∇ℓ_i on any batch, here a mixed mini-batch
        let mini: Vec<usize> = vec![0, 3, 41, 7, 43, 12, 40];
        state
            .step_direction(&mut model, &data, &mini, 1000, &mut grad)
            .unwrap();
        let want = reference(&mut model, &data, &mini, |i| {
            w[data.groups()[i].a() as usize]
        });
        assert!(close(&want, &grad, 1e-6), "{want:?} vs {grad:?}");
        // ERM's plain gradient is not balanced: the test above can fail
        let mut plain = vec![0.0f32; model.num_params()];
        mean_gradient(&mut model, &data, &batch, 1000, &mut plain).unwrap();
        assert!(!close(&half, &plain, 1e-3));
    }

    #[test]
    fn pcngd_step_has_group_components_of_equal_norm() {
        let (data, mut model) = setup();
        let g0 = group_gradient(&mut model, &data, Group::Minority);
        let g1 = group_gradient(&mut model, &data, Group::Majority);
        // in ERM's step ∇L = ∇L_1 + ∇L_0 the parts ∇L_g = (n_g/n) ∇L̄_g differ several-fold
        let ratio = (4.0 * norm(&g0)) / (40.0 * norm(&g1));
        assert!(
            ratio < 0.5,
            "the minority's part is small under ERM: {ratio}"
        );
        let batch: Vec<usize> = (0..data.len()).collect();
        let mut state = MethodState::new(method("pcngd"), &data, 0, None).unwrap();
        let mut step = vec![0.0f32; model.num_params()];
        state
            .step_direction(&mut model, &data, &batch, 1000, &mut step)
            .unwrap();
        // step = u0 + u1 with u_g ∝ ∇L̄_g: take away one unit component, the other is left
        let (n0, n1) = (norm(&g0), norm(&g1));
        let minority_part: Vec<f64> = step
            .iter()
            .zip(&g1)
            .map(|(s, g)| *s as f64 - g / n1)
            .collect();
        let majority_part: Vec<f64> = step
            .iter()
            .zip(&g0)
            .map(|(s, g)| *s as f64 - g / n0)
            .collect();
        assert!((norm(&minority_part) - 1.0).abs() < 1e-5);
        assert!((norm(&majority_part) - 1.0).abs() < 1e-5);
        assert!(minority_part
            .iter()
            .zip(&g0)
            .all(|(p, g)| (p - g / n0).abs() < 1e-5));
    }

    #[test]
    fn pcngd_with_gd_uses_the_zone_probes_group_gradients() {
        let (data, mut model) = setup();
        model.set_training(false);
        let probe = zone_probe(&mut model, &data, 16).unwrap();
        let g0 = group_gradient(&mut model, &data, Group::Minority);
        let g1 = group_gradient(&mut model, &data, Group::Majority);
        // the probe's norms are of ∇L_g = (n_g/n) ∇L̄_g
        assert!((probe.minority_grad_norm - norm(&g0) * 4.0 / 44.0).abs() < 1e-6);
        assert!((probe.majority_grad_norm - norm(&g1) * 40.0 / 44.0).abs() < 1e-6);
        let config = TrainConfig {
            optimizer: Optimizer::Gd,
            ..TrainConfig::default()
        };
        let state = MethodState::new(method("pcngd"), &data, 0, None).unwrap();
        let batches = state.epoch_batches(&data, &config, 0);
        assert_eq!(batches, vec![(0..data.len()).collect::<Vec<_>>()]);
    }

    #[test]
    fn group_dro_weights_move_toward_the_worse_group() {
        let data = conflict(); // the minority's label is the one the majority pushes against
        let mut model = Softmax::new(1, 2);
        model.params = vec![1.0, -1.0, 0.0, 0.0]; // majority right, minority wrong
        let mut state = MethodState::new(method("group-dro"), &data, 0, None).unwrap();
        assert_eq!(state.q, [0.5, 0.5]);
        let batch: Vec<usize> = (0..data.len()).collect();
        let mut grad = vec![0.0f32; 4];
        state
            .step_direction(&mut model, &data, &batch, 1000, &mut grad)
            .unwrap();
        // q_0 / q_1 = exp(η (ℓ_0 − ℓ_1)) after one step
        let (l0, l1) = ((1.0 + 2f64.exp()).ln(), (1.0 + (-2f64).exp()).ln());
        assert!(l0 > l1);
        let ratio = state.q[0] / state.q[1];
        assert!(
            (ratio - (DRO_ETA * (l0 - l1)).exp()).abs() < 1e-6,
            "{ratio}"
        );
        let before = state.q[0];
        state
            .step_direction(&mut model, &data, &batch, 1000, &mut grad)
            .unwrap();
        assert!(state.q[0] > before && before > 0.5, "{:?}", state.q);
        // the step is q_0 ∇L̄_0 + q_1 ∇L̄_1
        let mut g0 = vec![0.0f32; 4];
        let mut g1 = vec![0.0f32; 4];
        mean_gradient(
            &mut model,
            &data,
            &data.indices_of(Group::Minority),
            99,
            &mut g0,
        )
        .unwrap();
        mean_gradient(
            &mut model,
            &data,
            &data.indices_of(Group::Majority),
            99,
            &mut g1,
        )
        .unwrap();
        let want: Vec<f64> = g0
            .iter()
            .zip(&g1)
            .map(|(a, b)| state.q[0] * *a as f64 + state.q[1] * *b as f64)
            .collect();
        assert!(close(&want, &grad, 1e-6));
    }

    #[test]
    fn resample_draws_groups_in_equal_expected_proportion() {
        let (data, _) = setup();
        let state = MethodState::new(method("resample"), &data, 3, None).unwrap();
        let (mut minority, mut total) = (0usize, 0usize);
        let mut seen = vec![0usize; data.len()];
        for epoch in 0..300 {
            let draws = state.epoch_indices(&data, 3, epoch);
            assert_eq!(draws.len(), data.len(), "n draws per epoch");
            for &i in &draws {
                minority += (data.groups()[i] == Group::Minority) as usize;
                seen[i] += 1;
            }
            total += draws.len();
        }
        // 13,200 draws: the minority share is ½ within 4 standard deviations (0.0174)
        let share = minority as f64 / total as f64;
        assert!((share - 0.5).abs() < 0.0174, "minority share {share}");
        // (shuffling draws the minority 4/44 ≈ 9 % of the time)
        // each minority sample drawn about total/(2·4) times
        for i in data.indices_of(Group::Minority) {
            let expected = total as f64 / 8.0;
            assert!(
                (seen[i] as f64 - expected).abs() < 0.1 * expected,
                "{i}: {}",
                seen[i]
            );
        }
        // seeded: the same epoch twice is the same draw
        assert_eq!(
            state.epoch_indices(&data, 3, 5),
            state.epoch_indices(&data, 3, 5)
        );
    }

    #[test]
    fn subsample_reduces_the_majority_to_the_minoritys_size() {
        let (data, _) = setup();
        let state = MethodState::new(method("subsample"), &data, 2, None).unwrap();
        let mut used = std::collections::BTreeSet::new();
        for epoch in 0..20 {
            let draws = state.epoch_indices(&data, 2, epoch);
            assert_eq!(draws.len(), data.len());
            used.extend(draws);
        }
        let count = |g| used.iter().filter(|&&i| data.groups()[i] == g).count();
        assert_eq!(count(Group::Minority), 4, "every minority sample is kept");
        assert_eq!(count(Group::Majority), 4, "the majority is cut to n0 = 4");
        // another seed keeps other majority samples
        let other = MethodState::new(method("subsample"), &data, 5, None).unwrap();
        let kept_other: std::collections::BTreeSet<usize> =
            other.epoch_indices(&data, 5, 0).into_iter().collect();
        assert_ne!(kept_other, used);
    }

    #[test]
    fn jtt_second_stage_upweights_exactly_the_first_stages_errors() {
        let data = blobs(20, 9).with_imbalance(0.2, 1).unwrap();
        let jtt = method("jtt");
        let run = config(0.05, 2.0);
        let first = jtt.jtt_first_stage(&run, data.len()).unwrap();
        assert_eq!(
            first.budget,
            Budget::Steps((run.total_steps(data.len()) as f64 / 2.0).round() as u64)
        );
        let mut model = Softmax::new(2, 4);
        train(&mut model, &data, &first).unwrap();
        model.set_training(false);
        let errors = misclassified(&mut model, &data, 7).unwrap();
        assert!(
            !errors.is_empty() && errors.len() < data.len(),
            "{errors:?}"
        );
        // the error set is what the first-stage model gets wrong, by definition
        for i in 0..data.len() {
            let predicted = model.predict(data.sample(i)).unwrap()[0];
            assert_eq!(errors.contains(&i), predicted != data.labels()[i], "{i}");
        }
        let state = MethodState::new(jtt, &data, 0, Some(&errors)).unwrap();
        for i in 0..data.len() {
            let w = state.sample_weight(&data, i);
            let want = if errors.contains(&i) { JTT_LAMBDA } else { 1.0 };
            assert_eq!(w, want, "sample {i}");
        }
        // the second stage's step is (1/B) Σ w_i ∇ℓ_i with those weights
        let mut fresh = Softmax::new(2, 4);
        fresh.params = vec![0.1; 12];
        fresh.params[1] = -0.3;
        let mut state = state;
        let batch: Vec<usize> = (0..data.len()).rev().collect();
        let mut grad = vec![0.0f32; 12];
        state
            .step_direction(&mut fresh, &data, &batch, 1000, &mut grad)
            .unwrap();
        let want = reference(&mut fresh, &data, &batch, |i| {
            if errors.contains(&i) {
                JTT_LAMBDA
            } else {
                1.0
            }
        });
        assert!(close(&want, &grad, 1e-6), "{want:?} vs {grad:?}");
        // jtt without its error set, or an error set for another method, is refused
        assert!(MethodState::new(jtt, &data, 0, None).is_err());
        assert!(MethodState::new(Method::ERM, &data, 0, Some(&errors)).is_err());
    }

    #[test]
    fn erm_through_with_method_is_the_plain_loop_bit_for_bit() {
        let data = blobs(20, 4).with_imbalance(0.3, 2).unwrap();
        let c = config(0.1, 3.0);
        let plain = train(&mut Softmax::new(2, 4), &data, &c).unwrap();
        let with = Trainer::new(c.clone())
            .unwrap()
            .with_method(Method::ERM, None)
            .unwrap()
            .run(&mut Softmax::new(2, 4), &data)
            .unwrap();
        assert_eq!(plain.points, with.points);
        // and every method trains to a finished run whose curves differ from ERM's
        for name in [
            "reweight",
            "sqrt-reweight",
            "resample",
            "subsample",
            "pcngd",
            "group-dro",
            "resample+reweight",
            "pcngd+resample",
        ] {
            let out = Trainer::new(c.clone())
                .unwrap()
                .with_method(method(name), None)
                .unwrap()
                .run(&mut Softmax::new(2, 4), &data)
                .unwrap();
            assert_eq!(out.status, RunStatus::Finished, "{name}");
            assert_eq!(out.points.len(), plain.points.len(), "{name}");
            assert_ne!(out.points, plain.points, "{name}");
            let last = out.points.last().unwrap();
            assert!(last.minority_loss < out.points[0].minority_loss, "{name}");
        }
    }

    #[test]
    fn a_method_run_is_deterministic_for_its_seed() {
        let data = blobs(20, 4).with_imbalance(0.3, 2).unwrap();
        for name in ["resample+reweight", "subsample", "group-dro", "pcngd"] {
            let run = |seed: u64| {
                let c = TrainConfig {
                    seed,
                    ..config(0.1, 2.0)
                };
                Trainer::new(c)
                    .unwrap()
                    .with_method(method(name), None)
                    .unwrap()
                    .run(&mut Softmax::new(2, 4), &data)
                    .unwrap()
                    .points
            };
            assert_eq!(run(3), run(3), "{name}");
            assert_ne!(
                run(3),
                run(4),
                "{name}: the seed drives the sampler or the order"
            );
        }
    }

    #[test]
    fn method_names_parse_combine_and_refuse() {
        for name in METHOD_NAMES_ROUND_TRIP {
            let m: Method = name.parse().unwrap();
            assert_eq!(m.name(), name);
        }
        assert!("erm".parse::<Method>().unwrap().is_erm());
        assert_eq!(
            "reweight+resample".parse::<Method>().unwrap().name(),
            "resample+reweight"
        );
        let e = "reweigth".parse::<Method>().unwrap_err().to_string();
        assert!(
            e.contains("unknown method `reweigth`") && e.contains("sqrt-reweight"),
            "{e}"
        );
        let e = "resample+subsample"
            .parse::<Method>()
            .unwrap_err()
            .to_string();
        assert!(e.contains("two samplers"), "{e}");
        let e = "pcngd+reweight".parse::<Method>().unwrap_err().to_string();
        assert!(e.contains("pcngd normalises"), "{e}");
        let e = "group-dro+jtt".parse::<Method>().unwrap_err().to_string();
        assert!(e.contains("two step rules"), "{e}");
        let bad = Method {
            rule: StepRule::GroupDro {
                eta: -1.0,
                adjustment: 0.0,
            },
            ..Method::ERM
        };
        assert!(bad.validate().unwrap_err().to_string().contains("η_q = -1"));
        // serde: ERM's fields are the defaults, so `{}` is ERM
        assert_eq!(serde_json::from_str::<Method>("{}").unwrap(), Method::ERM);
        let jtt: Method = "jtt".parse().unwrap();
        let text = serde_json::to_string(&jtt).unwrap();
        assert_eq!(serde_json::from_str::<Method>(&text).unwrap(), jtt);
    }

    const METHOD_NAMES_ROUND_TRIP: [&str; 10] = [
        "erm",
        "reweight",
        "sqrt-reweight",
        "resample",
        "subsample",
        "pcngd",
        "group-dro",
        "jtt",
        "resample+reweight",
        "pcngd+resample",
    ];

    #[test]
    fn misclassified_lists_the_wrong_predictions() {
        let data = conflict();
        let mut model = Softmax::new(1, 2);
        model.params = vec![1.0, -1.0, 0.0, 0.0];
        let errors = misclassified(&mut model, &data, 3).unwrap();
        assert_eq!(errors, (40..50).collect::<Vec<_>>());
    }
}

/// The evaluation-point callback sees every recorded point's step and the parameters the model
/// has there; its error ends the run with `TrainError::Hook`.
#[test]
fn on_eval_sees_each_point_and_its_error_ends_the_run() {
    let data = blobs(20, 1);
    let mut seen: Vec<(u64, Vec<f32>)> = Vec::new();
    let mut model = Softmax::new(2, 4);
    let out = Trainer::new(config(0.05, 3.0))
        .unwrap()
        .with_on_eval(|step, m| {
            seen.push((step, m.params()));
            Ok(())
        })
        .run(&mut model, &data)
        .unwrap();
    let steps: Vec<u64> = seen.iter().map(|(s, _)| *s).collect();
    assert_eq!(steps, out.points.iter().map(|p| p.step).collect::<Vec<_>>());
    assert_eq!(steps.first(), Some(&0));
    assert_eq!(seen[0].1, vec![0.0; 12]);
    assert_eq!(seen.last().unwrap().1, model.params());
    assert_ne!(seen[1].1, seen[0].1);

    let err = Trainer::new(config(0.05, 3.0))
        .unwrap()
        .with_on_eval(|step, _| {
            if step == 10 {
                Err("disk full".to_string())
            } else {
                Ok(())
            }
        })
        .run(&mut Softmax::new(2, 4), &data)
        .unwrap_err();
    assert_eq!(
        err,
        TrainError::Hook {
            step: 10,
            message: "disk full".into()
        }
    );
}
