//! A multilayer perceptron with ReLU hidden layers and a softmax cross-entropy loss, evaluated in
//! `f64` with exact gradients and exact Hessian-vector products (Pearlmutter's R-operator,
//! "Fast exact multiplication by the Hessian", Neural Computation 6(1), 1994: forward mode
//! applied to the backward pass).
//!
//! It reads the same flat parameters as the model zoo's `mlp` (and its `hidden = "none"` softmax
//! regression): for each layer in order, the weight `[out, in]` row-major, then the bias `[out]` —
//! the memory order of PyTorch's `nn.Linear`. Inputs are flattened in `C×H×W` order, as
//! `nn.Flatten` does.
//!
//! Why a second implementation: the zoo trains in `f32` on dfdx tapes, whose Hessian-vector
//! products must come from differences of gradients. For a ReLU network those differences straddle
//! the kinks where a unit switches, and they measure a smoothed Hessian (about 1 % off). The
//! R-operator differentiates the backward pass with the activation pattern held, which is exactly
//! the Hessian that `torch.autograd.functional.hessian` returns, at the cost of about two
//! gradients. ReLU's second derivative is zero away from its kink, so only the softmax and the
//! products of weights contribute second-order terms.

use majmin_core::{NamedTensor, TensorData};

/// The layer sizes `[in, hidden…, classes]` of a ReLU perceptron.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mlp {
    sizes: Vec<usize>,
}

/// Per-layer offsets of the weight and bias in the flat parameter vector.
#[derive(Debug, Clone, Copy)]
struct LayerAt {
    fan_in: usize,
    fan_out: usize,
    weight: usize,
    bias: usize,
}

impl Mlp {
    /// A perceptron with these layer sizes (at least input and output, all positive).
    pub fn new(sizes: Vec<usize>) -> Option<Self> {
        (sizes.len() >= 2 && sizes.iter().all(|&s| s > 0)).then_some(Self { sizes })
    }

    /// The perceptron whose PyTorch `state_dict()` this is, if it is one: nothing but
    /// `<k>.weight [out, in]` and `<k>.bias [out]` pairs, in order, each layer's input the previous
    /// layer's output (the zoo's `mlp`, `nn.Sequential(Flatten, Linear, ReLU, …, Linear)`).
    pub fn from_state_dict(tensors: &[NamedTensor]) -> Option<Self> {
        if tensors.is_empty() || !tensors.len().is_multiple_of(2) {
            return None;
        }
        let mut sizes = Vec::new();
        for pair in tensors.chunks(2) {
            let (w, b) = (&pair[0], &pair[1]);
            let prefix = w.name.strip_suffix(".weight")?;
            if b.name.strip_suffix(".bias")? != prefix
                || w.shape.len() != 2
                || b.shape != [w.shape[0]]
                || !matches!(w.data, TensorData::F32(_))
            {
                return None;
            }
            match sizes.last() {
                None => sizes.push(w.shape[1]),
                Some(&last) if last == w.shape[1] => {}
                Some(_) => return None,
            }
            sizes.push(w.shape[0]);
        }
        Self::new(sizes)
    }

    /// `[in, hidden…, classes]`.
    pub fn sizes(&self) -> &[usize] {
        &self.sizes
    }

    /// Number of parameters: `Σ (in + 1) · out`.
    pub fn num_params(&self) -> usize {
        self.sizes.windows(2).map(|w| (w[0] + 1) * w[1]).sum()
    }

    fn layers(&self) -> Vec<LayerAt> {
        let mut at = 0;
        self.sizes
            .windows(2)
            .map(|w| {
                let l = LayerAt {
                    fan_in: w[0],
                    fan_out: w[1],
                    weight: at,
                    bias: at + w[0] * w[1],
                };
                at += (w[0] + 1) * w[1];
                l
            })
            .collect()
    }

    /// The logits of one input.
    pub fn logits(&self, theta: &[f64], x: &[f64]) -> Vec<f64> {
        let layers = self.layers();
        let mut a = x.to_vec();
        for (k, l) in layers.iter().enumerate() {
            let mut z = affine(theta, l, &a);
            if k + 1 < layers.len() {
                z.iter_mut().for_each(|v| *v = v.max(0.0));
            }
            a = z;
        }
        a
    }

    /// Adds `scale · ∇ℓ` of one sample (input `x`, label `y`) to `grad`, and `scale · ∇²ℓ · v`
    /// to `hv` when `v` is given; returns the sample's loss `ℓ = −log softmax(z)_y`.
    ///
    /// `theta`, `grad`, `v` and `hv` have [`Mlp::num_params`] entries, `x` has `sizes[0]`.
    pub fn accumulate(
        &self,
        theta: &[f64],
        x: &[f64],
        y: usize,
        scale: f64,
        grad: &mut [f64],
        hvp: Option<(&[f64], &mut [f64])>,
    ) -> f64 {
        let layers = self.layers();
        let depth = layers.len();
        // forward: activations a_0 = x, …, pre-activations z_1 … z_L, and their R-forms
        let mut acts: Vec<Vec<f64>> = vec![x.to_vec()];
        let mut r_acts: Vec<Vec<f64>> = vec![vec![0.0; x.len()]];
        let mut pre: Vec<Vec<f64>> = Vec::with_capacity(depth);
        let v = hvp.as_ref().map(|(v, _)| *v);
        for (k, l) in layers.iter().enumerate() {
            let a = &acts[k];
            let z = affine(theta, l, a);
            let rz = v.map(|v| {
                // R(z) = V a + W R(a) + R(b)
                let mut rz = affine(v, l, a);
                let ra = &r_acts[k];
                for (o, out) in rz.iter_mut().enumerate() {
                    let row = &theta[l.weight + o * l.fan_in..l.weight + (o + 1) * l.fan_in];
                    *out += dot(row, ra);
                }
                rz
            });
            if k + 1 < depth {
                let a_next: Vec<f64> = z.iter().map(|&t| t.max(0.0)).collect();
                let ra_next: Vec<f64> = match &rz {
                    Some(rz) => rz
                        .iter()
                        .zip(&z)
                        .map(|(r, &t)| if t > 0.0 { *r } else { 0.0 })
                        .collect(),
                    None => vec![0.0; z.len()],
                };
                acts.push(a_next);
                r_acts.push(ra_next);
            }
            pre.push(z);
            if let Some(rz) = rz {
                if k + 1 == depth {
                    r_acts.push(rz);
                }
            }
        }
        // softmax cross-entropy at the top
        let logits = &pre[depth - 1];
        let max = logits.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
        let sum: f64 = logits.iter().map(|z| (z - max).exp()).sum();
        let loss = sum.ln() + max - logits[y];
        let p: Vec<f64> = logits.iter().map(|z| (z - max).exp() / sum).collect();
        let mut delta: Vec<f64> = p.clone();
        delta[y] -= 1.0;
        // R(δ_L) = (diag p − p pᵀ) R(z_L)
        let mut r_delta: Option<Vec<f64>> = v.map(|_| {
            let rz = &r_acts[depth];
            let pr = dot(&p, rz);
            p.iter().zip(rz).map(|(pi, ri)| pi * (ri - pr)).collect()
        });
        let (mut hv_out, v) = match hvp {
            Some((v, hv)) => (Some(hv), Some(v)),
            None => (None, None),
        };
        for k in (0..depth).rev() {
            let l = layers[k];
            let a = &acts[k];
            let ra = &r_acts[k];
            // gradient of this layer: δ aᵀ and δ
            for (o, d) in delta.iter().enumerate() {
                let sd = scale * d;
                if sd != 0.0 {
                    let row = &mut grad[l.weight + o * l.fan_in..l.weight + (o + 1) * l.fan_in];
                    row.iter_mut().zip(a).for_each(|(g, ai)| *g += sd * ai);
                }
                grad[l.bias + o] += sd;
            }
            if let (Some(hv), Some(rd)) = (hv_out.as_deref_mut(), r_delta.as_ref()) {
                // R(gW) = R(δ) aᵀ + δ R(a)ᵀ, R(gb) = R(δ)
                for o in 0..l.fan_out {
                    let (sd, srd) = (scale * delta[o], scale * rd[o]);
                    let row = &mut hv[l.weight + o * l.fan_in..l.weight + (o + 1) * l.fan_in];
                    for ((h, ai), rai) in row.iter_mut().zip(a).zip(ra) {
                        *h += srd * ai + sd * rai;
                    }
                    hv[l.bias + o] += srd;
                }
            }
            if k == 0 {
                break;
            }
            // δ_{k-1} = relu'(z_{k-1}) ⊙ Wᵀ δ;  R(δ_{k-1}) = relu'(z_{k-1}) ⊙ (Vᵀ δ + Wᵀ R(δ))
            let z_prev = &pre[k - 1];
            let mut next = vec![0.0; l.fan_in];
            let mut r_next = r_delta.as_ref().map(|_| vec![0.0; l.fan_in]);
            for o in 0..l.fan_out {
                let row = &theta[l.weight + o * l.fan_in..l.weight + (o + 1) * l.fan_in];
                next.iter_mut()
                    .zip(row)
                    .for_each(|(n, w)| *n += w * delta[o]);
                if let (Some(rn), Some(rd), Some(v)) = (r_next.as_mut(), r_delta.as_ref(), v) {
                    let vrow = &v[l.weight + o * l.fan_in..l.weight + (o + 1) * l.fan_in];
                    for ((r, w), vw) in rn.iter_mut().zip(row).zip(vrow) {
                        *r += w * rd[o] + vw * delta[o];
                    }
                }
            }
            for (i, z) in z_prev.iter().enumerate() {
                if *z <= 0.0 {
                    next[i] = 0.0;
                    if let Some(rn) = r_next.as_mut() {
                        rn[i] = 0.0;
                    }
                }
            }
            delta = next;
            r_delta = r_next;
        }
        loss
    }
}

fn affine(theta: &[f64], l: &LayerAt, a: &[f64]) -> Vec<f64> {
    (0..l.fan_out)
        .map(|o| {
            let row = &theta[l.weight + o * l.fan_in..l.weight + (o + 1) * l.fan_in];
            theta[l.bias + o] + dot(row, a)
        })
        .collect()
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

#[cfg(test)]
mod tests {
    use super::*;
    use majmin_core::Rng;

    fn sample(rng: &mut Rng, n: usize) -> Vec<f64> {
        (0..n).map(|_| rng.normal()).collect()
    }

    /// Loss and gradient of a few samples (`scale = 1`).
    fn loss_grad(m: &Mlp, theta: &[f64], xs: &[Vec<f64>], ys: &[usize]) -> (f64, Vec<f64>) {
        let mut g = vec![0.0; m.num_params()];
        let l = xs
            .iter()
            .zip(ys)
            .map(|(x, &y)| m.accumulate(theta, x, y, 1.0, &mut g, None))
            .sum();
        (l, g)
    }

    fn setup(seed: u64) -> (Mlp, Vec<f64>, Vec<Vec<f64>>, Vec<usize>) {
        let m = Mlp::new(vec![5, 7, 4, 3]).unwrap();
        let mut rng = Rng::seed_from_u64(seed);
        let theta = sample(&mut rng, m.num_params());
        let xs: Vec<Vec<f64>> = (0..6).map(|_| sample(&mut rng, 5)).collect();
        let ys = (0..6).map(|i| i % 3).collect();
        (m, theta, xs, ys)
    }

    #[test]
    fn gradient_matches_central_differences_of_the_loss() {
        let (m, theta, xs, ys) = setup(1);
        let (_, g) = loss_grad(&m, &theta, &xs, &ys);
        let h = 1e-6;
        for i in 0..m.num_params() {
            let mut p = theta.clone();
            p[i] += h;
            let up = loss_grad(&m, &p, &xs, &ys).0;
            p[i] -= 2.0 * h;
            let down = loss_grad(&m, &p, &xs, &ys).0;
            let fd = (up - down) / (2.0 * h);
            assert!((fd - g[i]).abs() < 1e-6, "∂ℓ/∂θ{i}: {fd} vs {}", g[i]);
        }
    }

    #[test]
    fn hessian_vector_products_match_differences_of_gradients() {
        // away from kinks (h tiny in f64), differences of exact gradients are the exact Hessian
        let (m, theta, xs, ys) = setup(2);
        let mut rng = Rng::seed_from_u64(3);
        let v = sample(&mut rng, m.num_params());
        let mut g = vec![0.0; m.num_params()];
        let mut hv = vec![0.0; m.num_params()];
        for (x, &y) in xs.iter().zip(&ys) {
            m.accumulate(&theta, x, y, 1.0, &mut g, Some((&v, &mut hv)));
        }
        let h = 1e-6;
        let shifted = |s: f64| {
            let p: Vec<f64> = theta.iter().zip(&v).map(|(t, d)| t + s * d).collect();
            loss_grad(&m, &p, &xs, &ys).1
        };
        let (up, down) = (shifted(h), shifted(-h));
        for i in 0..m.num_params() {
            let fd = (up[i] - down[i]) / (2.0 * h);
            assert!(
                (fd - hv[i]).abs() < 1e-5 * (1.0 + hv[i].abs()),
                "(Hv)_{i}: {fd} vs {}",
                hv[i]
            );
        }
    }

    #[test]
    fn hessian_is_symmetric() {
        let (m, theta, xs, ys) = setup(4);
        let n = m.num_params();
        let column = |j: usize| {
            let mut e = vec![0.0; n];
            e[j] = 1.0;
            let (mut g, mut hv) = (vec![0.0; n], vec![0.0; n]);
            for (x, &y) in xs.iter().zip(&ys) {
                m.accumulate(&theta, x, y, 1.0, &mut g, Some((&e, &mut hv)));
            }
            hv
        };
        let cols: Vec<Vec<f64>> = (0..n).map(column).collect();
        for (i, col) in cols.iter().enumerate() {
            for (j, other) in cols.iter().enumerate().take(i) {
                assert!(
                    (col[j] - other[i]).abs() < 1e-12 * (1.0 + col[j].abs()),
                    "H[{i}][{j}] = {} but H[{j}][{i}] = {}",
                    col[j],
                    other[i]
                );
            }
        }
    }

    #[test]
    fn softmax_regression_hessian_is_the_closed_form() {
        // one layer: ∇²ℓ = (diag p − p pᵀ) ⊗ [x; 1][x; 1]ᵀ
        let m = Mlp::new(vec![2, 3]).unwrap();
        let theta = [0.3, -0.2, 0.1, 0.5, -0.4, 0.2, 0.05, -0.1, 0.2];
        let x = [1.5, -0.5];
        let logits = m.logits(&theta, &x);
        let max = logits.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
        let e: Vec<f64> = logits.iter().map(|z| (z - max).exp()).collect();
        let s: f64 = e.iter().sum();
        let p: Vec<f64> = e.iter().map(|v| v / s).collect();
        // parameter index of (class c, feature f) with f = 2 the bias
        let idx = |c: usize, f: usize| if f < 2 { c * 2 + f } else { 6 + c };
        let xe = [x[0], x[1], 1.0];
        for j in 0..9 {
            let mut e = vec![0.0; 9];
            e[j] = 1.0;
            let (mut g, mut hv) = (vec![0.0; 9], vec![0.0; 9]);
            m.accumulate(&theta, &x, 1, 1.0, &mut g, Some((&e, &mut hv)));
            for c in 0..3 {
                for f in 0..3 {
                    let (cj, fj) = (0..3)
                        .flat_map(|c2| (0..3).map(move |f2| (c2, f2)))
                        .find(|&(c2, f2)| idx(c2, f2) == j)
                        .unwrap();
                    let kron = if c == cj { p[c] } else { 0.0 } - p[c] * p[cj];
                    let want = kron * xe[f] * xe[fj];
                    let got = hv[idx(c, f)];
                    assert!((want - got).abs() < 1e-12, "H[{c},{f}][{cj},{fj}]");
                }
            }
        }
    }
}
