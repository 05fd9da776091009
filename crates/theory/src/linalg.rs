//! Small dense linear algebra for symmetric matrices of the problem's dimension: eigenvalues by
//! the cyclic Jacobi method (Golub & Van Loan, *Matrix Computations*, §8.5) with a closed form in
//! 2-D, and a linear solve with partial pivoting. Matrices are row-major `d × d` slices.

/// Eigenvalues of the symmetric matrix `a` (row-major `d × d`), in increasing order.
pub fn symmetric_eigenvalues(a: &[f64], d: usize) -> Vec<f64> {
    match d {
        0 => Vec::new(),
        1 => vec![a[0]],
        2 => {
            let (p, q, r) = (a[0], 0.5 * (a[1] + a[2]), a[3]);
            let mean = 0.5 * (p + r);
            let radius = (0.25 * (p - r) * (p - r) + q * q).sqrt();
            vec![mean - radius, mean + radius]
        }
        _ => {
            let mut m = a.to_vec();
            jacobi(&mut m, d, None);
            let mut ev: Vec<f64> = (0..d).map(|i| m[i * d + i]).collect();
            ev.sort_by(f64::total_cmp);
            ev
        }
    }
}

/// Eigenvalues (increasing) and unit eigenvectors (`vectors[k]` belongs to `values[k]`).
pub fn symmetric_eigen(a: &[f64], d: usize) -> (Vec<f64>, Vec<Vec<f64>>) {
    let mut m = a.to_vec();
    let mut v = vec![0.0; d * d];
    (0..d).for_each(|i| v[i * d + i] = 1.0);
    jacobi(&mut m, d, Some(&mut v));
    let mut order: Vec<usize> = (0..d).collect();
    order.sort_by(|&i, &j| m[i * d + i].total_cmp(&m[j * d + j]));
    let values = order.iter().map(|&i| m[i * d + i]).collect();
    let vectors = order
        .iter()
        .map(|&k| (0..d).map(|i| v[i * d + k]).collect())
        .collect();
    (values, vectors)
}

fn jacobi(m: &mut [f64], d: usize, mut v: Option<&mut [f64]>) {
    for i in 0..d {
        for j in 0..i {
            let s = 0.5 * (m[i * d + j] + m[j * d + i]);
            m[i * d + j] = s;
            m[j * d + i] = s;
        }
    }
    let scale: f64 = m.iter().map(|x| x * x).sum::<f64>().sqrt();
    for _sweep in 0..60 {
        let off: f64 = (0..d)
            .flat_map(|i| (0..d).filter(move |&j| j != i).map(move |j| (i, j)))
            .map(|(i, j)| m[i * d + j].powi(2))
            .sum();
        if off.sqrt() <= 1e-15 * scale.max(f64::MIN_POSITIVE) {
            break;
        }
        for p in 0..d {
            for q in p + 1..d {
                let apq = m[p * d + q];
                if apq.abs() < f64::MIN_POSITIVE {
                    continue;
                }
                let theta = (m[q * d + q] - m[p * d + p]) / (2.0 * apq);
                let t = theta.signum() / (theta.abs() + (theta * theta + 1.0).sqrt());
                let t = if theta == 0.0 { 1.0 } else { t };
                let c = 1.0 / (t * t + 1.0).sqrt();
                let s = t * c;
                for k in 0..d {
                    let (akp, akq) = (m[k * d + p], m[k * d + q]);
                    m[k * d + p] = c * akp - s * akq;
                    m[k * d + q] = s * akp + c * akq;
                }
                for k in 0..d {
                    let (apk, aqk) = (m[p * d + k], m[q * d + k]);
                    m[p * d + k] = c * apk - s * aqk;
                    m[q * d + k] = s * apk + c * aqk;
                }
                if let Some(v) = v.as_deref_mut() {
                    for k in 0..d {
                        let (vkp, vkq) = (v[k * d + p], v[k * d + q]);
                        v[k * d + p] = c * vkp - s * vkq;
                        v[k * d + q] = s * vkp + c * vkq;
                    }
                }
            }
        }
    }
}

/// ρmin and ρmax of docs/definitions.md: the smallest and the largest absolute eigenvalue.
pub fn rho_min_max(a: &[f64], d: usize) -> (f64, f64) {
    let ev = symmetric_eigenvalues(a, d);
    let min = ev.iter().map(|x| x.abs()).fold(f64::INFINITY, f64::min);
    let max = ev.iter().map(|x| x.abs()).fold(0.0, f64::max);
    (min, max)
}

/// Solves `a x = b` (row-major `d × d`) by Gaussian elimination with partial pivoting; `None`
/// when a pivot is below `1e-300` (numerically singular).
pub fn solve(a: &[f64], b: &[f64], d: usize) -> Option<Vec<f64>> {
    let mut m = a.to_vec();
    let mut x = b.to_vec();
    for col in 0..d {
        let pivot =
            (col..d).max_by(|&i, &j| m[i * d + col].abs().total_cmp(&m[j * d + col].abs()))?;
        if m[pivot * d + col].abs() < 1e-300 {
            return None;
        }
        if pivot != col {
            for k in 0..d {
                m.swap(pivot * d + k, col * d + k);
            }
            x.swap(pivot, col);
        }
        for row in col + 1..d {
            let f = m[row * d + col] / m[col * d + col];
            if f != 0.0 {
                for k in col..d {
                    m[row * d + k] -= f * m[col * d + k];
                }
                x[row] -= f * x[col];
            }
        }
    }
    for col in (0..d).rev() {
        let s: f64 = (col + 1..d).map(|k| m[col * d + k] * x[k]).sum();
        x[col] = (x[col] - s) / m[col * d + col];
    }
    x.iter().all(|v| v.is_finite()).then_some(x)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eigenvalues_of_known_matrices() {
        let ev = symmetric_eigenvalues(&[2.0, 1.0, 1.0, 2.0], 2);
        assert!((ev[0] - 1.0).abs() < 1e-14 && (ev[1] - 3.0).abs() < 1e-14);
        // tridiagonal [2 -1 0; -1 2 -1; 0 -1 2]: 2 - √2, 2, 2 + √2
        let a = [2.0, -1.0, 0.0, -1.0, 2.0, -1.0, 0.0, -1.0, 2.0];
        let ev = symmetric_eigenvalues(&a, 3);
        let s = 2f64.sqrt();
        assert!(
            (ev[0] - (2.0 - s)).abs() < 1e-13
                && (ev[1] - 2.0).abs() < 1e-13
                && (ev[2] - (2.0 + s)).abs() < 1e-13
        );
        let (values, vectors) = symmetric_eigen(&a, 3);
        for (lambda, v) in values.iter().zip(&vectors) {
            for i in 0..3 {
                let av: f64 = (0..3).map(|j| a[i * 3 + j] * v[j]).sum();
                assert!((av - lambda * v[i]).abs() < 1e-12);
            }
        }
        let (rmin, rmax) = rho_min_max(&[-3.0, 0.0, 0.0, 0.5], 2);
        assert_eq!((rmin, rmax), (0.5, 3.0));
    }

    #[test]
    fn solve_with_pivoting() {
        let x = solve(&[0.0, 1.0, 1.0, 1.0], &[2.0, 3.0], 2).unwrap();
        assert!((x[0] - 1.0).abs() < 1e-15 && (x[1] - 2.0).abs() < 1e-15);
        assert!(solve(&[1.0, 2.0, 2.0, 4.0], &[1.0, 1.0], 2).is_none());
    }
}
