//! A network's loss parts as objectives, checked against closed forms: softmax regression (`mlp`
//! with `hidden = "none"`) has the Hessian `(1/n) Σ_i (diag p_i − p_i p_iᵀ) ⊗ x̃_i x̃_iᵀ`, so the
//! finite-difference Hessian-vector products, the Lanczos extremes and the Hutchinson trace of
//! `∇²L1`, `∇²L0` and `∇²L` can be compared with exact numbers.

use majmin_core::{ArchConfig, Dataset, Group, Objective};
use majmin_flow::network::{LossPart, NetworkObjective};
use majmin_theory::linalg::symmetric_eigenvalues;
use majmin_theory::spectrum::{extreme_eigenvalues, hutchinson_trace, FnOperator};

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

/// Exact gradient and Hessian of the part's loss for softmax regression with PyTorch's layout
/// (weight `[classes, inputs]` row-major, then bias `[classes]`).
fn exact(data: &Dataset, theta: &[f64], part: LossPart) -> (Vec<f64>, Vec<f64>) {
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
        let counted = match part {
            LossPart::Majority => data.groups()[i] == Group::Majority,
            LossPart::Minority => data.groups()[i] == Group::Minority,
            LossPart::Total => true,
        };
        if !counted {
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
    (grad, hess)
}

fn mat_vec(m: &[f64], v: &[f64]) -> Vec<f64> {
    let d = v.len();
    (0..d)
        .map(|i| {
            m[i * d..(i + 1) * d]
                .iter()
                .zip(v)
                .map(|(a, b)| a * b)
                .sum()
        })
        .collect()
}

fn rel(a: &[f64], b: &[f64]) -> f64 {
    let diff: f64 = a
        .iter()
        .zip(b)
        .map(|(x, y)| (x - y).powi(2))
        .sum::<f64>()
        .sqrt();
    let size: f64 = b.iter().map(|y| y * y).sum::<f64>().sqrt();
    diff / size.max(1e-300)
}

#[test]
fn parts_add_up_and_gradients_and_hessians_match_the_closed_form() {
    let data = data();
    let total = softmax_regression(&data, LossPart::Total);
    let theta = total.params().unwrap();
    let d = theta.len();
    assert_eq!(d, 10 * 17);
    let mut g = vec![0.0; d];
    let l = total.value_and_gradient(&theta, &mut g);
    let l1 = softmax_regression(&data, LossPart::Majority).value(&theta);
    let l0 = softmax_regression(&data, LossPart::Minority).value(&theta);
    assert!(
        (l - (l1 + l0)).abs() < 1e-6 * l,
        "L = {l}, L1 + L0 = {}",
        l1 + l0
    );
    assert!(
        l0 < l1,
        "the minority part is the smaller (divided by the total n)"
    );

    for part in [LossPart::Majority, LossPart::Minority, LossPart::Total] {
        let objective = softmax_regression(&data, part);
        let (grad, hess) = exact(&data, &theta, part);
        let mut g = vec![0.0; d];
        objective.gradient(&theta, &mut g);
        assert!(
            rel(&g, &grad) < 1e-5,
            "{part:?} gradient: {}",
            rel(&g, &grad)
        );
        // Hessian-vector products along random directions
        let v: Vec<f64> = (0..d).map(|i| ((i * 7919) % 13) as f64 - 6.0).collect();
        let est = objective.hvp_with_error(&theta, &v).unwrap();
        let want = mat_vec(&hess, &v);
        let err = rel(&est.product, &want);
        assert!(err < 2e-3, "{part:?} HVP relative error {err}");
        let mut hv = vec![0.0; d];
        objective.hessian_vector_product(&theta, &v, &mut hv);
        assert_eq!(hv, est.product, "hvp and hvp_with_error share the step");
        assert!(est.error.is_finite() && est.step > 0.0);

        // Lanczos on the finite-difference operator against the dense eigenvalues
        let op = FnOperator::new(d, |x: &[f64], out: &mut [f64]| {
            objective.hessian_vector_product(&theta, x, out)
        });
        let top = extreme_eigenvalues(&op, 5, 60, 1e-3, 11).top;
        let mut exact_eigen = symmetric_eigenvalues(&hess, d);
        exact_eigen.sort_by(|a, b| b.total_cmp(a));
        for (i, r) in top.iter().enumerate() {
            let e = exact_eigen[i];
            assert!(
                (r.value - e).abs() <= 0.01 * e.abs() + 1e-6,
                "{part:?} λ{i}: {} vs {e}",
                r.value
            );
        }
        // Hutchinson's trace within three standard errors of the exact trace
        let trace: f64 = (0..d).map(|i| hess[i * d + i]).sum();
        let t = hutchinson_trace(&op, 40, 5);
        assert!(
            (t.value - trace).abs() <= 3.0 * t.stderr,
            "{part:?}: {t:?} vs {trace}"
        );
    }
}

#[test]
fn hessian_vector_products_of_a_relu_network_agree_with_gradient_differences() {
    let data = data();
    let registry = majmin_models::Registry::builtin();
    let arch = registry.get("mlp").unwrap();
    let config = ArchConfig::new(data.shape(), data.classes())
        .with_width(0.125)
        .with_seed(1);
    let objective = NetworkObjective::new(arch.build(&config).unwrap(), data, LossPart::Total, 512);
    let theta = objective.params().unwrap();
    let d = theta.len();
    let u: Vec<f64> = (0..d)
        .map(|i| (((i * 31) % 17) as f64 - 8.0) / 8.0)
        .collect();
    let v: Vec<f64> = (0..d)
        .map(|i| (((i * 17) % 11) as f64 - 5.0) / 5.0)
        .collect();
    let mut hu = vec![0.0; d];
    let mut hv = vec![0.0; d];
    objective.hessian_vector_product(&theta, &u, &mut hu);
    objective.hessian_vector_product(&theta, &v, &mut hv);
    // symmetry: vᵀ H u = uᵀ H v
    let a: f64 = v.iter().zip(&hu).map(|(x, y)| x * y).sum();
    let b: f64 = u.iter().zip(&hv).map(|(x, y)| x * y).sum();
    let norm = |x: &[f64]| x.iter().map(|y| y * y).sum::<f64>().sqrt();
    let scale = (norm(&hu) * norm(&v)).max(norm(&hv) * norm(&u));
    // a ReLU network's gradient jumps where a unit's pre-activation crosses 0, so a difference of
    // gradients is symmetric only up to those crossings: about 1 % of ‖Hu‖‖v‖ here
    assert!((a - b).abs() <= 0.02 * scale, "{a} vs {b} (scale {scale})");
    // Lanczos on that operator reports its residuals honestly (explicit ‖Hx − θx‖)
    let op = FnOperator::new(d, |x: &[f64], out: &mut [f64]| {
        objective.hessian_vector_product(&theta, x, out)
    });
    let e = extreme_eigenvalues(&op, 2, 30, 1e-3, 11);
    for r in e.top.iter().chain(&e.bottom) {
        let x_residual_positive = r.residual > 0.0 && r.residual.is_finite();
        assert!(x_residual_positive, "{r:?}");
        assert_eq!(
            r.converged,
            r.residual
                <= 1e-3
                    * r.value
                        .abs()
                        .max(e.top[0].value.abs().max(e.bottom[0].value.abs()))
        );
    }
}

#[test]
fn exact_products_of_the_zoo_perceptron_are_symmetric_and_match_the_model() {
    // the zoo's mlp is recognised from its state dict; its exact f64 loss and gradient agree with
    // the f32 model's, and the R-operator's products are symmetric to rounding (no kinks)
    let data = data();
    let registry = majmin_models::Registry::builtin();
    let arch = registry.get("mlp").unwrap();
    let config = ArchConfig::new(data.shape(), data.classes())
        .with_width(0.125)
        .with_seed(1);
    let build = || {
        NetworkObjective::new(
            arch.build(&config).unwrap(),
            data.clone(),
            LossPart::Total,
            512,
        )
    };
    let approximate = build();
    let exact = build().exact_when_perceptron(2).unwrap();
    assert!(exact.is_exact() && !approximate.is_exact());
    let theta = exact.params().unwrap();
    let d = theta.len();
    let (mut g_exact, mut g_model) = (vec![0.0; d], vec![0.0; d]);
    let l_exact = exact.value_and_gradient(&theta, &mut g_exact);
    let l_model = approximate.value_and_gradient(&theta, &mut g_model);
    assert!(
        (l_exact - l_model).abs() < 1e-5 * l_exact,
        "{l_exact} vs {l_model}"
    );
    assert!(
        rel(&g_model, &g_exact) < 1e-4,
        "gradient {}",
        rel(&g_model, &g_exact)
    );
    let u: Vec<f64> = (0..d)
        .map(|i| (((i * 31) % 17) as f64 - 8.0) / 8.0)
        .collect();
    let v: Vec<f64> = (0..d)
        .map(|i| (((i * 17) % 11) as f64 - 5.0) / 5.0)
        .collect();
    let (mut hu, mut hv) = (vec![0.0; d], vec![0.0; d]);
    exact.hessian_vector_product(&theta, &u, &mut hu);
    exact.hessian_vector_product(&theta, &v, &mut hv);
    let a: f64 = v.iter().zip(&hu).map(|(x, y)| x * y).sum();
    let b: f64 = u.iter().zip(&hv).map(|(x, y)| x * y).sum();
    assert!((a - b).abs() <= 1e-10 * a.abs().max(1.0), "{a} vs {b}");
    // and it is the derivative of the exact gradient: an f64 central difference with a step far
    // below the distance to the nearest kink agrees (the f32 model's differences cannot resolve
    // this: their rounding error alone is of the order of ‖Hv‖ at this initialisation)
    let h = 1e-6;
    let shifted = |s: f64| {
        let p: Vec<f64> = theta.iter().zip(&v).map(|(t, x)| t + s * x).collect();
        let mut g = vec![0.0; d];
        exact.value_and_gradient(&p, &mut g);
        g
    };
    let (up, down) = (shifted(h), shifted(-h));
    let fd: Vec<f64> = up
        .iter()
        .zip(&down)
        .map(|(a, b)| (a - b) / (2.0 * h))
        .collect();
    assert!(rel(&fd, &hv) < 1e-5, "f64 differences {}", rel(&fd, &hv));
    // a convolutional network is not a perceptron and keeps the model's products
    let cnn = registry.get("smallcnn").unwrap();
    let digits = majmin_data::load("digits").unwrap();
    let c = ArchConfig::new(digits.shape(), digits.classes()).with_seed(1);
    let other = NetworkObjective::new(cnn.build(&c).unwrap(), digits, LossPart::Total, 512)
        .exact_when_perceptron(2)
        .unwrap();
    assert!(!other.is_exact());
}
