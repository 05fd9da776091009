//! Shared helpers of the cross-crate test suite (see `tests/`), above all the architecture
//! conformance suite: every architecture — built-in or plugin — must pass [`check_conformance`]
//! (crates/models/README.md, plugins/README.md; STYLE "one shared test suite every implementation must pass").
//!
//! Everything is written over `&dyn Architecture`, so a plugin test calls the same functions:
//!
//! ```no_run
//! use majmin_core::ArchConfig;
//! let registry = majmin_models::Registry::builtin();
//! let arch = registry.get("smallcnn").unwrap();
//! majmin_tests::check_conformance(arch.as_ref(), &majmin_tests::tiny_config(arch.as_ref())).unwrap();
//! ```
#![deny(missing_docs)]

use majmin_core::{ArchConfig, Architecture, Model, Rng};

/// A tiny configuration for tests: width 1/8 (at least 1 channel), 3 classes, the smallest
/// square input the architecture accepts that is at least 8×8 (tried up to 40×40), 1 channel.
pub fn tiny_config(arch: &dyn Architecture) -> ArchConfig {
    let base = ArchConfig::new([1, 8, 8], 3)
        .with_width(0.125)
        .with_seed(11);
    for side in 8..=40 {
        let c = ArchConfig {
            input: [1, side, side],
            ..base.clone()
        };
        if arch.param_count(&c).is_ok() {
            return c;
        }
    }
    base
}

/// A seeded batch of `n` inputs (standard normal) and labels (`i mod classes`).
pub fn batch(config: &ArchConfig, n: usize, seed: u64) -> (Vec<f32>, Vec<u32>) {
    let mut rng = Rng::seed_from_u64(seed);
    let x = (0..n * config.feature_len())
        .map(|_| rng.normal() as f32)
        .collect();
    let y = (0..n).map(|i| (i % config.classes) as u32).collect();
    (x, y)
}

/// Directional-derivative check in evaluation mode: `⟨∇L, v⟩` against the central difference
/// `(L(θ + hv) − L(θ − hv)) / 2h` of the mean per-sample loss (f32 forward passes summed in f64),
/// for four unit directions `v`:
/// - along the gradient itself, which catches a gradient of the wrong scale or sign;
/// - three random directions, which catch a gradient that is wrong or missing in some of its
///   components (the along-gradient direction is blind to those: `⟨g, ĝ⟩ = |g|` whatever `g`
///   lacks).
///
/// A direction passes when the two agree within 10 % of `max(|⟨∇L, v⟩|, |∇L| / √n)` — the
/// second term is the typical size of a random projection, so a direction nearly orthogonal to
/// the gradient is not judged on rounding noise.
///
/// Two things make a finite difference of a ReLU network disagree with a correct gradient, and
/// the check guards against both without hiding a wrong gradient:
/// - BatchNorm at initialisation normalises with running statistics 0 and 1, so in a deep, narrow
///   network the activations shrink layer by layer until most pre-activations sit within 1e-6 of
///   a ReLU kink. [`warm_running_statistics`] first runs training-mode forward passes on `x` so
///   evaluation mode normalises with statistics of the data.
/// - A kink inside `[θ − hv, θ + hv]` spoils a large step, f32 rounding a small one; so the
///   difference is taken at `h` = 1e-2, 3e-3, 1e-3 and 3e-4, and one agreeing step suffices. A
///   wrong gradient disagrees at every step.
pub fn check_gradient(model: &mut dyn Model, x: &[f32], y: &[u32]) -> Result<(), String> {
    warm_running_statistics(model, x, y)?;
    let theta = model.params();
    let n = theta.len();
    let mut grad = vec![0.0; n];
    model
        .loss_and_gradient(x, y, &mut grad)
        .map_err(|e| e.to_string())?;
    let grad: Vec<f64> = grad.into_iter().map(f64::from).collect();
    let grad_norm = norm(&grad);
    let mean_loss = |m: &mut dyn Model, p: &[f32]| -> Result<f64, String> {
        m.set_params(p).map_err(|e| e.to_string())?;
        let l = m.per_sample_losses(x, y).map_err(|e| e.to_string())?;
        Ok(l.iter().map(|&v| v as f64).sum::<f64>() / l.len() as f64)
    };
    let mut rng = Rng::seed_from_u64(5);
    let mut directions = vec![("along the gradient", grad.clone())];
    for _ in 0..3 {
        directions.push(("random", (0..n).map(|_| rng.normal()).collect()));
    }
    for (trial, (kind, mut v)) in directions.into_iter().enumerate() {
        let length = norm(&v).max(1e-30);
        v.iter_mut().for_each(|a| *a /= length);
        let analytic: f64 = grad.iter().zip(&v).map(|(g, d)| g * d).sum();
        let tolerance = 0.10 * analytic.abs().max(grad_norm / (n as f64).sqrt());
        let steps = [1e-2, 3e-3, 1e-3, 3e-4];
        let mut differences = Vec::new();
        for (k, h) in steps.into_iter().enumerate() {
            let step = |sign: f64| -> Vec<f32> {
                theta
                    .iter()
                    .zip(&v)
                    .map(|(t, d)| (*t as f64 + sign * h * d) as f32)
                    .collect()
            };
            let fd = (mean_loss(model, &step(1.0))? - mean_loss(model, &step(-1.0))?) / (2.0 * h);
            differences.push(format!("{fd:.6} (h = {h:e})"));
            if (fd - analytic).abs() <= tolerance {
                break;
            }
            if k + 1 == steps.len() {
                return Err(format!(
                    "direction {trial} ({kind}): gradient gives {analytic:.6}, finite differences {} (tolerance {tolerance:.2e})",
                    differences.join(", ")
                ));
            }
        }
    }
    model.set_params(&theta).map_err(|e| e.to_string())
}

fn norm(v: &[f64]) -> f64 {
    v.iter().map(|a| a * a).sum::<f64>().sqrt()
}

/// Runs 30 training-mode forward passes on `x` (so BatchNorm running statistics
/// approach those of the data; no parameter changes) and leaves the model in evaluation mode.
pub fn warm_running_statistics(model: &mut dyn Model, x: &[f32], y: &[u32]) -> Result<(), String> {
    model.set_training(true);
    for _ in 0..30 {
        model.per_sample_losses(x, y).map_err(|e| e.to_string())?;
    }
    model.set_training(false);
    Ok(())
}

/// L = L1 + L0 on a grouped batch in evaluation mode (docs/definitions.md): the mean loss of the whole batch
/// equals the majority part plus the minority part, both divided by the total `n`, and equals
/// the loss returned by `loss_and_gradient`.
pub fn check_loss_split(model: &mut dyn Model, x: &[f32], y: &[u32]) -> Result<(), String> {
    model.set_training(false);
    let losses = model.per_sample_losses(x, y).map_err(|e| e.to_string())?;
    let n = losses.len() as f64;
    // Groups: every third sample is minority (a = 0).
    let (mut l1, mut l0) = (0.0f64, 0.0f64);
    for (i, &l) in losses.iter().enumerate() {
        if i % 3 == 2 {
            l0 += l as f64 / n;
        } else {
            l1 += l as f64 / n;
        }
    }
    let mut grad = vec![0.0; model.num_params()];
    let total = model
        .loss_and_gradient(x, y, &mut grad)
        .map_err(|e| e.to_string())? as f64;
    if (total - (l1 + l0)).abs() > 1e-4 * total.abs().max(1.0) {
        return Err(format!(
            "L = {total} but L1 + L0 = {l1} + {l0} = {}",
            l1 + l0
        ));
    }
    if !(l0 > 0.0 && l1 > 0.0) {
        return Err(format!(
            "group parts should be positive: L1 = {l1}, L0 = {l0}"
        ));
    }
    Ok(())
}

/// Same seed → same parameters, same logits, same training-mode gradient (for the current
/// thread count); another seed → other parameters.
pub fn check_determinism(
    arch: &dyn Architecture,
    config: &ArchConfig,
    x: &[f32],
    y: &[u32],
) -> Result<(), String> {
    // (parameters, logits, gradient) of a freshly built model
    type Fingerprint = (Vec<f32>, Vec<f32>, Vec<f32>);
    let run = |c: &ArchConfig| -> Result<Fingerprint, String> {
        let mut m = arch.build(c).map_err(|e| e.to_string())?;
        m.set_training(true);
        let mut g = vec![0.0; m.num_params()];
        m.loss_and_gradient(x, y, &mut g)
            .map_err(|e| e.to_string())?;
        m.set_training(false);
        Ok((m.params(), m.logits(x).map_err(|e| e.to_string())?, g))
    };
    let a = run(config)?;
    let b = run(config)?;
    if a != b {
        return Err("two builds with the same seed differ (parameters, logits or gradient)".into());
    }
    let other = run(&config.clone().with_seed(config.seed + 1))?;
    if other.0 == a.0 {
        return Err("a different seed gives the same initial parameters".into());
    }
    Ok(())
}

/// `set_params(get_params())` changes nothing; new parameters are read back exactly and change
/// the logits; a buffer of the wrong length is refused.
pub fn check_param_round_trip(model: &mut dyn Model, x: &[f32]) -> Result<(), String> {
    model.set_training(false);
    let p = model.params();
    if p.len() != model.num_params() {
        return Err(format!(
            "params() has {} values, num_params() says {}",
            p.len(),
            model.num_params()
        ));
    }
    let before = model.logits(x).map_err(|e| e.to_string())?;
    model.set_params(&p).map_err(|e| e.to_string())?;
    if model.logits(x).map_err(|e| e.to_string())? != before {
        return Err("set_params(get_params()) changed the logits".into());
    }
    let q: Vec<f32> = p
        .iter()
        .enumerate()
        .map(|(i, v)| v * 0.5 + (i % 7) as f32 * 1e-3)
        .collect();
    model.set_params(&q).map_err(|e| e.to_string())?;
    if model.params() != q {
        return Err("parameters read back differ from those set".into());
    }
    if model.logits(x).map_err(|e| e.to_string())? == before {
        return Err("new parameters did not change the logits".into());
    }
    if model.set_params(&q[1..]).is_ok() {
        return Err("a parameter buffer one value short was accepted".into());
    }
    model.set_params(&p).map_err(|e| e.to_string())
}

/// A few gradient-descent steps on a tiny batch lower its loss by at least 1 % (evaluation mode,
/// so that dropout noise cannot hide the fall).
pub fn check_loss_falls(
    model: &mut dyn Model,
    x: &[f32],
    y: &[u32],
    steps: usize,
    lr: f32,
) -> Result<(), String> {
    model.set_training(false);
    let mut p = model.params();
    let mut g = vec![0.0; p.len()];
    let first = model
        .loss_and_gradient(x, y, &mut g)
        .map_err(|e| e.to_string())?;
    let mut last = first;
    for _ in 0..steps {
        p.iter_mut().zip(&g).for_each(|(a, b)| *a -= lr * b);
        model.set_params(&p).map_err(|e| e.to_string())?;
        last = model
            .loss_and_gradient(x, y, &mut g)
            .map_err(|e| e.to_string())?;
    }
    if !(last.is_finite() && last < 0.99 * first) {
        return Err(format!("loss went from {first} to {last} in {steps} steps of size {lr}; expected a fall of at least 1 %"));
    }
    Ok(())
}

/// The whole suite on `arch` at `config`; the error names the architecture and the failed check.
pub fn check_conformance(arch: &dyn Architecture, config: &ArchConfig) -> Result<(), String> {
    let name = arch.name().to_string();
    let fail = |check: &str, e: String| {
        format!("architecture `{name}` at {:?}: {check}: {e}", config.input)
    };
    let (x, y) = batch(config, 6, 1);
    let mut model = arch
        .build(config)
        .map_err(|e| fail("build", e.to_string()))?;
    if model.input_shape() != config.input || model.classes() != config.classes {
        return Err(fail(
            "shape",
            "input shape or class count differ from the configuration".into(),
        ));
    }
    check_param_round_trip(model.as_mut(), &x).map_err(|e| fail("parameter round trip", e))?;
    check_gradient(model.as_mut(), &x, &y).map_err(|e| fail("gradient check", e))?;
    check_loss_split(model.as_mut(), &x, &y).map_err(|e| fail("L = L1 + L0", e))?;
    check_determinism(arch, config, &x, &y).map_err(|e| fail("determinism", e))?;
    // A fresh model: gradient descent in evaluation mode at the initial running statistics.
    let mut model = arch
        .build(config)
        .map_err(|e| fail("build", e.to_string()))?;
    let (xs, ys) = batch(config, 4, 2);
    check_loss_falls(model.as_mut(), &xs, &ys, 20, 0.1).map_err(|e| fail("loss falls", e))?;
    Ok(())
}
