//! Smooth objectives on flat `f64` parameter vectors.
//!
//! [`Objective`] is the one trait the theory (critical points, constants, zones) and the
//! gradient-flow integrators need. Value and gradient are required; a Hessian-vector product
//! defaults to a central finite difference of gradients and an exact Hessian is optional, so that
//! an implementation can add exact second derivatives later (formula problems do, with dual
//! numbers).

/// A twice-differentiable function `R^d → R`.
pub trait Objective {
    /// The dimension `d` of the parameter vector.
    fn dim(&self) -> usize;

    /// The value at `theta` (`theta.len() == self.dim()`).
    fn value(&self, theta: &[f64]) -> f64;

    /// Writes the gradient at `theta` into `grad` (both of length `self.dim()`).
    fn gradient(&self, theta: &[f64], grad: &mut [f64]);

    /// Value and gradient together; override when they share work.
    fn value_and_gradient(&self, theta: &[f64], grad: &mut [f64]) -> f64 {
        self.gradient(theta, grad);
        self.value(theta)
    }

    /// Writes the Hessian-vector product `∇²f(θ) v` into `out`.
    ///
    /// The default is exact when [`Objective::hessian`] is available and otherwise a central
    /// finite difference of gradients, `(∇f(θ + h v̂) − ∇f(θ − h v̂)) / (2h) · ‖v‖` with
    /// `h = ε^{1/3} · max(1, ‖θ‖)`, accurate to about `1e-10` relative for smooth objectives.
    fn hessian_vector_product(&self, theta: &[f64], v: &[f64], out: &mut [f64]) {
        if let Some(h) = self.hessian(theta) {
            let d = self.dim();
            for (i, o) in out.iter_mut().enumerate() {
                *o = (0..d).map(|j| h[i * d + j] * v[j]).sum();
            }
            return;
        }
        finite_difference_hvp(self, theta, v, out);
    }

    /// The exact Hessian at `theta`, row-major `d × d`, when the implementation has one.
    fn hessian(&self, _theta: &[f64]) -> Option<Vec<f64>> {
        None
    }
}

/// Central finite difference of gradients along `v` (see [`Objective::hessian_vector_product`]).
pub fn finite_difference_hvp<O: Objective + ?Sized>(
    f: &O,
    theta: &[f64],
    v: &[f64],
    out: &mut [f64],
) {
    let d = f.dim();
    let v_norm = norm(v);
    if v_norm == 0.0 {
        out.iter_mut().for_each(|o| *o = 0.0);
        return;
    }
    let h = f64::EPSILON.cbrt() * norm(theta).max(1.0);
    let step = h / v_norm;
    let plus: Vec<f64> = theta.iter().zip(v).map(|(t, vi)| t + step * vi).collect();
    let minus: Vec<f64> = theta.iter().zip(v).map(|(t, vi)| t - step * vi).collect();
    let mut g_plus = vec![0.0; d];
    let mut g_minus = vec![0.0; d];
    f.gradient(&plus, &mut g_plus);
    f.gradient(&minus, &mut g_minus);
    for i in 0..d {
        out[i] = (g_plus[i] - g_minus[i]) / (2.0 * step);
    }
}

/// The full Hessian: exact when available, otherwise assembled column by column from
/// Hessian-vector products and symmetrised.
pub fn dense_hessian<O: Objective + ?Sized>(f: &O, theta: &[f64]) -> Vec<f64> {
    if let Some(h) = f.hessian(theta) {
        return h;
    }
    let d = f.dim();
    let mut h = vec![0.0; d * d];
    let mut e = vec![0.0; d];
    let mut col = vec![0.0; d];
    for j in 0..d {
        e[j] = 1.0;
        f.hessian_vector_product(theta, &e, &mut col);
        for i in 0..d {
            h[i * d + j] = col[i];
        }
        e[j] = 0.0;
    }
    for i in 0..d {
        for j in 0..i {
            let s = 0.5 * (h[i * d + j] + h[j * d + i]);
            h[i * d + j] = s;
            h[j * d + i] = s;
        }
    }
    h
}

/// Euclidean norm.
pub fn norm(v: &[f64]) -> f64 {
    v.iter().map(|x| x * x).sum::<f64>().sqrt()
}

/// Inner product.
pub fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

impl<O: Objective + ?Sized> Objective for &O {
    fn dim(&self) -> usize {
        (**self).dim()
    }
    fn value(&self, theta: &[f64]) -> f64 {
        (**self).value(theta)
    }
    fn gradient(&self, theta: &[f64], grad: &mut [f64]) {
        (**self).gradient(theta, grad)
    }
    fn value_and_gradient(&self, theta: &[f64], grad: &mut [f64]) -> f64 {
        (**self).value_and_gradient(theta, grad)
    }
    fn hessian_vector_product(&self, theta: &[f64], v: &[f64], out: &mut [f64]) {
        (**self).hessian_vector_product(theta, v, out)
    }
    fn hessian(&self, theta: &[f64]) -> Option<Vec<f64>> {
        (**self).hessian(theta)
    }
}

impl<O: Objective + ?Sized> Objective for Box<O> {
    fn dim(&self) -> usize {
        (**self).dim()
    }
    fn value(&self, theta: &[f64]) -> f64 {
        (**self).value(theta)
    }
    fn gradient(&self, theta: &[f64], grad: &mut [f64]) {
        (**self).gradient(theta, grad)
    }
    fn value_and_gradient(&self, theta: &[f64], grad: &mut [f64]) -> f64 {
        (**self).value_and_gradient(theta, grad)
    }
    fn hessian_vector_product(&self, theta: &[f64], v: &[f64], out: &mut [f64]) {
        (**self).hessian_vector_product(theta, v, out)
    }
    fn hessian(&self, theta: &[f64]) -> Option<Vec<f64>> {
        (**self).hessian(theta)
    }
}

/// An objective from two closures (value and gradient): handy in tests and examples.
pub struct FnObjective<V, G> {
    dim: usize,
    value: V,
    gradient: G,
}

impl<V, G> std::fmt::Debug for FnObjective<V, G> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FnObjective")
            .field("dim", &self.dim)
            .finish_non_exhaustive()
    }
}

impl<V, G> FnObjective<V, G>
where
    V: Fn(&[f64]) -> f64,
    G: Fn(&[f64], &mut [f64]),
{
    /// An objective of dimension `dim` with the given value and gradient.
    pub fn new(dim: usize, value: V, gradient: G) -> Self {
        Self {
            dim,
            value,
            gradient,
        }
    }
}

impl<V, G> Objective for FnObjective<V, G>
where
    V: Fn(&[f64]) -> f64,
    G: Fn(&[f64], &mut [f64]),
{
    fn dim(&self) -> usize {
        self.dim
    }
    fn value(&self, theta: &[f64]) -> f64 {
        (self.value)(theta)
    }
    fn gradient(&self, theta: &[f64], grad: &mut [f64]) {
        (self.gradient)(theta, grad)
    }
}

/// The sum of two objectives of the same dimension.
#[derive(Debug, Clone)]
pub struct Sum<A, B> {
    /// First term.
    pub a: A,
    /// Second term.
    pub b: B,
}

impl<A: Objective, B: Objective> Objective for Sum<A, B> {
    fn dim(&self) -> usize {
        self.a.dim()
    }
    fn value(&self, theta: &[f64]) -> f64 {
        self.a.value(theta) + self.b.value(theta)
    }
    fn gradient(&self, theta: &[f64], grad: &mut [f64]) {
        self.a.gradient(theta, grad);
        let mut other = vec![0.0; grad.len()];
        self.b.gradient(theta, &mut other);
        grad.iter_mut().zip(&other).for_each(|(g, o)| *g += o);
    }
    fn value_and_gradient(&self, theta: &[f64], grad: &mut [f64]) -> f64 {
        let va = self.a.value_and_gradient(theta, grad);
        let mut other = vec![0.0; grad.len()];
        let vb = self.b.value_and_gradient(theta, &mut other);
        grad.iter_mut().zip(&other).for_each(|(g, o)| *g += o);
        va + vb
    }
    fn hessian_vector_product(&self, theta: &[f64], v: &[f64], out: &mut [f64]) {
        self.a.hessian_vector_product(theta, v, out);
        let mut other = vec![0.0; out.len()];
        self.b.hessian_vector_product(theta, v, &mut other);
        out.iter_mut().zip(&other).for_each(|(g, o)| *g += o);
    }
    fn hessian(&self, theta: &[f64]) -> Option<Vec<f64>> {
        let mut ha = self.a.hessian(theta)?;
        let hb = self.b.hessian(theta)?;
        ha.iter_mut().zip(&hb).for_each(|(x, y)| *x += y);
        Some(ha)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// f(x, y) = x⁴ + x y + 3 y², Hessian [[12x², 1], [1, 6]].
    fn quartic() -> impl Objective {
        FnObjective::new(
            2,
            |t: &[f64]| t[0].powi(4) + t[0] * t[1] + 3.0 * t[1] * t[1],
            |t: &[f64], g: &mut [f64]| {
                g[0] = 4.0 * t[0].powi(3) + t[1];
                g[1] = t[0] + 6.0 * t[1];
            },
        )
    }

    #[test]
    fn finite_difference_hvp_matches_closed_form() {
        let f = quartic();
        let theta = [0.7, -1.3];
        let v = [0.4, 2.0];
        let mut out = [0.0; 2];
        f.hessian_vector_product(&theta, &v, &mut out);
        let exact = [12.0 * 0.49 * 0.4 + 2.0, 0.4 + 12.0];
        assert!((out[0] - exact[0]).abs() < 1e-7, "{out:?} vs {exact:?}");
        assert!((out[1] - exact[1]).abs() < 1e-7, "{out:?} vs {exact:?}");
    }

    #[test]
    fn dense_hessian_is_symmetric_and_exact() {
        let h = dense_hessian(&quartic(), &[1.0, 0.0]);
        assert!((h[0] - 12.0).abs() < 1e-6);
        assert!((h[1] - 1.0).abs() < 1e-6 && (h[2] - 1.0).abs() < 1e-6);
        assert_eq!(h[1], h[2]);
        assert!((h[3] - 6.0).abs() < 1e-6);
    }

    #[test]
    fn sum_adds_values_and_gradients() {
        let s = Sum {
            a: quartic(),
            b: quartic(),
        };
        let theta = [0.3, 0.2];
        let mut g = [0.0; 2];
        let v = s.value_and_gradient(&theta, &mut g);
        let mut g1 = [0.0; 2];
        let v1 = quartic().value_and_gradient(&theta, &mut g1);
        assert!((v - 2.0 * v1).abs() < 1e-15);
        assert!((g[0] - 2.0 * g1[0]).abs() < 1e-15 && (g[1] - 2.0 * g1[1]).abs() < 1e-15);
    }
}
