//! The exact split `L = L1 + L0` of docs/definitions.md.
//!
//! Both parts are divided by the **total** sample count `n`, never by the group sizes:
//! `L1 = (1/n) Σ_{a_i = 1} ℓ_i`, `L0 = (1/n) Σ_{a_i = 0} ℓ_i`, so `L = L1 + L0` is the plain mean
//! loss. The group *mean* losses that curves show are `(n / n_g) · L_g`; see
//! [`group_mean_from_part`].

use crate::dataset::Group;
use crate::error::DataError;
use crate::objective::{Objective, Sum};

/// A problem split into its majority part `L1` and its minority part `L0`.
#[derive(Debug, Clone)]
pub struct Split<M, N> {
    majority: M,
    minority: N,
}

impl<M: Objective, N: Objective> Split<M, N> {
    /// Pairs a majority part and a minority part of the same dimension.
    pub fn new(majority: M, minority: N) -> Result<Self, DataError> {
        if majority.dim() != minority.dim() {
            return Err(DataError::Invalid(format!(
                "the majority part has dimension {} but the minority part has dimension {}; both must act on the same parameters",
                majority.dim(),
                minority.dim()
            )));
        }
        Ok(Self { majority, minority })
    }

    /// The majority part `L1`.
    pub fn majority(&self) -> &M {
        &self.majority
    }

    /// The minority part `L0`.
    pub fn minority(&self) -> &N {
        &self.minority
    }

    /// The total `L = L1 + L0`.
    pub fn total(&self) -> Sum<&M, &N> {
        Sum {
            a: &self.majority,
            b: &self.minority,
        }
    }

    /// The dimension of the parameters.
    pub fn dim(&self) -> usize {
        self.majority.dim()
    }

    /// Takes the two parts back.
    pub fn into_parts(self) -> (M, N) {
        (self.majority, self.minority)
    }
}

impl<O: Objective> Split<GroupPart<O>, GroupPart<O>> {
    /// Builds the split from per-sample objectives `ℓ_i` and their groups: each part is the sum
    /// over its group divided by the total count `n` (docs/definitions.md).
    pub fn from_samples(samples: Vec<(Group, O)>) -> Result<Self, DataError> {
        let n = samples.len();
        if n == 0 {
            return Err(DataError::Invalid(
                "no samples: the split needs at least one".into(),
            ));
        }
        let dim = samples[0].1.dim();
        if let Some((i, _)) = samples
            .iter()
            .enumerate()
            .find(|(_, (_, o))| o.dim() != dim)
        {
            return Err(DataError::Invalid(format!(
                "sample {i} has dimension {} but sample 0 has dimension {dim}",
                samples[i].1.dim()
            )));
        }
        let (mut maj, mut min) = (Vec::new(), Vec::new());
        for (g, o) in samples {
            match g {
                Group::Majority => maj.push(o),
                Group::Minority => min.push(o),
            }
        }
        let majority = GroupPart {
            dim,
            total: n,
            samples: maj,
        };
        let minority = GroupPart {
            dim,
            total: n,
            samples: min,
        };
        Split::new(majority, minority)
    }
}

/// One group's part: `(1/n) Σ_{i ∈ group} ℓ_i` with `n` the total count of both groups.
#[derive(Debug, Clone)]
pub struct GroupPart<O> {
    dim: usize,
    total: usize,
    samples: Vec<O>,
}

impl<O> GroupPart<O> {
    /// Number of samples in this group (`n_g`).
    pub fn len(&self) -> usize {
        self.samples.len()
    }

    /// Whether the group is empty (its part is then identically zero).
    pub fn is_empty(&self) -> bool {
        self.samples.is_empty()
    }

    /// The total count `n` both parts divide by.
    pub fn total(&self) -> usize {
        self.total
    }
}

impl<O: Objective> Objective for GroupPart<O> {
    fn dim(&self) -> usize {
        self.dim
    }
    fn value(&self, theta: &[f64]) -> f64 {
        self.samples.iter().map(|s| s.value(theta)).sum::<f64>() / self.total as f64
    }
    fn gradient(&self, theta: &[f64], grad: &mut [f64]) {
        grad.iter_mut().for_each(|g| *g = 0.0);
        let mut gi = vec![0.0; self.dim];
        for s in &self.samples {
            s.gradient(theta, &mut gi);
            grad.iter_mut().zip(&gi).for_each(|(g, x)| *g += x);
        }
        let inv = 1.0 / self.total as f64;
        grad.iter_mut().for_each(|g| *g *= inv);
    }
    fn hessian_vector_product(&self, theta: &[f64], v: &[f64], out: &mut [f64]) {
        out.iter_mut().for_each(|g| *g = 0.0);
        let mut oi = vec![0.0; self.dim];
        for s in &self.samples {
            s.hessian_vector_product(theta, v, &mut oi);
            out.iter_mut().zip(&oi).for_each(|(g, x)| *g += x);
        }
        let inv = 1.0 / self.total as f64;
        out.iter_mut().for_each(|g| *g *= inv);
    }
    fn hessian(&self, theta: &[f64]) -> Option<Vec<f64>> {
        let mut h = vec![0.0; self.dim * self.dim];
        for s in &self.samples {
            let hi = s.hessian(theta)?;
            h.iter_mut().zip(&hi).for_each(|(a, b)| *a += b);
        }
        let inv = 1.0 / self.total as f64;
        h.iter_mut().for_each(|x| *x *= inv);
        Some(h)
    }
}

/// The group mean loss `L̄_g = (n / n_g) · L_g` from a part `L_g` (docs/definitions.md).
pub fn group_mean_from_part(part: f64, total: usize, group_size: usize) -> f64 {
    part * total as f64 / group_size as f64
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::objective::FnObjective;

    fn sample(center: f64) -> impl Objective {
        let c = center;
        FnObjective::new(
            1,
            move |x: &[f64]| (x[0] - c).powi(2),
            move |x: &[f64], g: &mut [f64]| g[0] = 2.0 * (x[0] - c),
        )
    }

    #[test]
    fn parts_divide_by_total_count_and_add_up() {
        // three majority samples centred at 0, one minority sample centred at 4: n = 4.
        let split = Split::from_samples(vec![
            (Group::Majority, sample(0.0)),
            (Group::Majority, sample(0.0)),
            (Group::Majority, sample(0.0)),
            (Group::Minority, sample(4.0)),
        ])
        .unwrap();
        let x = [1.0];
        // L1 = 3 · 1 / 4, L0 = 9 / 4, L = 3.
        assert!((split.majority().value(&x) - 0.75).abs() < 1e-15);
        assert!((split.minority().value(&x) - 2.25).abs() < 1e-15);
        assert!((split.total().value(&x) - 3.0).abs() < 1e-15);
        let (mut g1, mut g0, mut g) = ([0.0], [0.0], [0.0]);
        split.majority().gradient(&x, &mut g1);
        split.minority().gradient(&x, &mut g0);
        split.total().gradient(&x, &mut g);
        assert!((g1[0] - 1.5).abs() < 1e-15 && (g0[0] + 1.5).abs() < 1e-15 && g[0].abs() < 1e-15);
        // group means: L̄1 = 1, L̄0 = 9.
        assert!((group_mean_from_part(0.75, 4, 3) - 1.0).abs() < 1e-15);
        assert!((group_mean_from_part(2.25, 4, 1) - 9.0).abs() < 1e-15);
    }

    #[test]
    fn mismatched_dimensions_are_refused() {
        let a = FnObjective::new(1, |_: &[f64]| 0.0, |_: &[f64], _: &mut [f64]| {});
        let b = FnObjective::new(2, |_: &[f64]| 0.0, |_: &[f64], _: &mut [f64]| {});
        let err = Split::new(a, b).unwrap_err();
        assert!(err.to_string().contains("dimension 1") && err.to_string().contains("dimension 2"));
    }
}
