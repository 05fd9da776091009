//! The constants on a region K of a network's parameter space bracket the exact values at K's
//! centre (issue 16): softmax regression (`mlp` with `hidden = "none"`) has the closed-form
//! Hessian `(1/n) Σ_i (diag p_i − p_i p_iᵀ) ⊗ x̃_i x̃_iᵀ`, so at the centre τ must be at least the
//! exact `‖∇L0‖` and `ρmax(∇²L0)`, and δ at most the exact `ρmin(∇²L1)` when `‖∇L1‖ ≤ c`.

use majmin_core::{ArchConfig, Dataset, Group};
use majmin_flow::network::{LossPart, NetworkObjective};
use majmin_theory::linalg::symmetric_eigenvalues;
use majmin_theory::{estimate_region_constants, Region, RegionConfig};

fn data() -> Dataset {
    majmin_data::load("digits,resize=4")
        .unwrap()
        .with_imbalance(0.3, 0)
        .unwrap()
}

fn softmax_regression(data: &Dataset, part: LossPart) -> NetworkObjective {
    let registry = majmin_models::Registry::builtin();
    let arch = registry.get("mlp").unwrap();
    let mut config = ArchConfig::new(data.shape(), data.classes()).with_seed(3);
    config.options.insert("hidden".into(), "none".into());
    let model = arch.build(&config).unwrap();
    NetworkObjective::new(model, data.clone(), part, 256)
}

/// The exact gradient norm and Hessian of one part (PyTorch's layout: weight `[classes,
/// inputs]` row-major, then bias).
fn exact(data: &Dataset, theta: &[f64], part: LossPart) -> (f64, Vec<f64>) {
    let c = data.classes();
    let f: usize = data.shape().iter().product();
    let d = c * (f + 1);
    let n = data.len() as f64;
    let mut grad = vec![0.0; d];
    let mut hess = vec![0.0; d * d];
    let index = |class: usize, feature: usize| {
        if feature < f {
            class * f + feature
        } else {
            c * f + class
        }
    };
    for i in 0..data.len() {
        let wanted = match part {
            LossPart::Majority => Group::Majority,
            _ => Group::Minority,
        };
        if data.groups()[i] != wanted {
            continue;
        }
        let mut x: Vec<f64> = data.features()[i * f..(i + 1) * f]
            .iter()
            .map(|&v| v as f64)
            .collect();
        x.push(1.0);
        let logits: Vec<f64> = (0..c)
            .map(|k| (0..=f).map(|j| theta[index(k, j)] * x[j]).sum())
            .collect();
        let max = logits.iter().cloned().fold(f64::MIN, f64::max);
        let z: f64 = logits.iter().map(|l| (l - max).exp()).sum();
        let p: Vec<f64> = logits.iter().map(|l| (l - max).exp() / z).collect();
        let y = data.labels()[i] as usize;
        for k in 0..c {
            let r = p[k] - if k == y { 1.0 } else { 0.0 };
            for j in 0..=f {
                grad[index(k, j)] += r * x[j] / n;
            }
            for l in 0..c {
                let s = if k == l { p[k] } else { 0.0 } - p[k] * p[l];
                for j in 0..=f {
                    for m in 0..=f {
                        hess[index(k, j) * d + index(l, m)] += s * x[j] * x[m] / n;
                    }
                }
            }
        }
    }
    (grad.iter().map(|g| g * g).sum::<f64>().sqrt(), hess)
}

#[test]
fn region_constants_bracket_the_exact_values_at_the_centre() {
    let data = data();
    let l1 = softmax_regression(&data, LossPart::Majority);
    let l0 = softmax_regression(&data, LossPart::Minority);
    let centre = l1.params().unwrap();
    let d = centre.len();
    let (grad1, hess1) = exact(&data, &centre, LossPart::Majority);
    let (grad0, hess0) = exact(&data, &centre, LossPart::Minority);
    let ev1 = symmetric_eigenvalues(&hess1, d);
    let ev0 = symmetric_eigenvalues(&hess0, d);
    let rho_min1 = ev1.iter().map(|v| v.abs()).fold(f64::INFINITY, f64::min);
    let rho_max1 = ev1.iter().map(|v| v.abs()).fold(0.0, f64::max);
    let rho_max0 = ev0.iter().map(|v| v.abs()).fold(0.0, f64::max);

    let region = Region::ball(centre.clone(), 0.5).unwrap();
    let config = RegionConfig {
        samples: 3,
        pairs: 1,
        lanczos_steps: 30,
        rho_min_steps: d,
        ascent_steps: 2,
        c: None,
        seed: 0,
    };
    let e = estimate_region_constants(&l1, &l0, &region, &config, &mut |_, _| {}).unwrap();
    // the centre's measures are those of the exact computation (f32 gradients: 1e-4)
    let at = e.at_center;
    assert!(
        (at.majority_gradient_norm - grad1).abs() <= 1e-4 * grad1,
        "{at:?} vs {grad1}"
    );
    assert!(
        (at.minority_gradient_norm - grad0).abs() <= 1e-4 * grad0,
        "{at:?} vs {grad0}"
    );
    assert!(
        (at.minority_rho_max - rho_max0).abs() <= 1e-3 * rho_max0,
        "{at:?} vs {rho_max0}"
    );
    // τ bounds both exact values at the centre from above
    assert!(
        e.tau >= grad0 * (1.0 - 1e-4),
        "τ = {} < ‖∇L0‖ = {grad0}",
        e.tau
    );
    assert!(
        e.tau >= rho_max0 * (1.0 - 1e-3),
        "τ = {} < ρmax = {rho_max0}",
        e.tau
    );
    // δ: the shift of all logits leaves the loss unchanged, so ρmin(∇²L1) = 0 exactly; the
    // estimate is at most that up to the finite-difference products' noise
    assert!(rho_min1 < 1e-9 * rho_max1, "{rho_min1}");
    if at.majority_gradient_norm <= e.c {
        assert!(
            e.delta <= rho_min1 + 1e-3 * rho_max1,
            "δ = {} vs {rho_min1}",
            e.delta
        );
    }
    assert!(e.delta_samples >= 1 && e.samples == 3);
    // a sup over more of K than the centre can only be larger
    assert!(e.tau_gradient >= at.minority_gradient_norm);
}

/// Why δ comes out 0 on networks: adding one constant to every logit leaves softmax
/// cross-entropy unchanged, so the direction "all output biases together" is flat and
/// `ρmin(∇²L1) = 0` everywhere, for every classifier with a final bias. (A1) fails in the full
/// parameter space for a structural reason, not for lack of samples.
#[test]
fn the_output_bias_shift_is_a_zero_eigenvector_of_every_part() {
    let data = majmin_data::load("digits")
        .unwrap()
        .with_imbalance(0.2, 0)
        .unwrap();
    let registry = majmin_models::Registry::builtin();
    let arch = registry.get("mlp").unwrap();
    let config = ArchConfig::new(data.shape(), data.classes())
        .with_width(0.125)
        .with_seed(1);
    let l1 = NetworkObjective::new(
        arch.build(&config).unwrap(),
        data.clone(),
        LossPart::Majority,
        512,
    );
    let theta = l1.params().unwrap();
    let d = theta.len();
    assert_eq!(d, 2778);
    // PyTorch order: the last layer's bias `5.bias` is the last 10 parameters
    let mut shift = vec![0.0; d];
    shift[d - 10..].iter_mut().for_each(|v| *v = 1.0);
    let mut random = vec![0.0; d];
    let mut rng = majmin_core::Rng::seed_from_u64(5);
    random.iter_mut().for_each(|v| *v = rng.normal());
    let scale = 10f64.sqrt() / (d as f64).sqrt();
    random.iter_mut().for_each(|v| *v *= scale); // the same norm as `shift`
    let norm = |v: &[f64]| v.iter().map(|x| x * x).sum::<f64>().sqrt();
    let mut h_shift = vec![0.0; d];
    let mut h_random = vec![0.0; d];
    l1.try_hvp(&theta, &shift, &mut h_shift).unwrap();
    l1.try_hvp(&theta, &random, &mut h_random).unwrap();
    assert!(
        norm(&h_shift) < 1e-3 * norm(&h_random),
        "‖H·shift‖ = {}, ‖H·random‖ = {}",
        norm(&h_shift),
        norm(&h_random)
    );
    // and ρmin by Lanczos on H² finds it: δ at this point is (about) 0
    let op = majmin_theory::spectrum::FnOperator::new(d, |v: &[f64], out: &mut [f64]| {
        l1.try_hvp(&theta, v, out).unwrap()
    });
    let rho = majmin_theory::spectrum::rho_min(&op, 30, 1e-3, 0);
    let top = majmin_theory::spectrum::extreme_eigenvalues(&op, 1, 20, 1e-3, 0);
    assert!(
        rho.value < 1e-2 * top.top[0].value,
        "{rho:?} vs {:?}",
        top.top
    );
}
