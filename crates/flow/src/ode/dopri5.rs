//! The Dormand–Prince 5(4) pair (Dormand & Prince, J. Comput. Appl. Math. 6, 1980) with PI step
//! control and the order-4 continuous extension, following Hairer, Nørsett & Wanner, *Solving
//! Ordinary Differential Equations I* (2nd ed., §II.4–6) and their `DOPRI5` code.

use super::{EventTracker, IntegratorConfig, OdeSystem, Stats, Status, Trajectory};
use crate::ode::Event;

const C2: f64 = 1.0 / 5.0;
const C3: f64 = 3.0 / 10.0;
const C4: f64 = 4.0 / 5.0;
const C5: f64 = 8.0 / 9.0;
const A21: f64 = 1.0 / 5.0;
const A31: f64 = 3.0 / 40.0;
const A32: f64 = 9.0 / 40.0;
const A41: f64 = 44.0 / 45.0;
const A42: f64 = -56.0 / 15.0;
const A43: f64 = 32.0 / 9.0;
const A51: f64 = 19372.0 / 6561.0;
const A52: f64 = -25360.0 / 2187.0;
const A53: f64 = 64448.0 / 6561.0;
const A54: f64 = -212.0 / 729.0;
const A61: f64 = 9017.0 / 3168.0;
const A62: f64 = -355.0 / 33.0;
const A63: f64 = 46732.0 / 5247.0;
const A64: f64 = 49.0 / 176.0;
const A65: f64 = -5103.0 / 18656.0;
const A71: f64 = 35.0 / 384.0;
const A73: f64 = 500.0 / 1113.0;
const A74: f64 = 125.0 / 192.0;
const A75: f64 = -2187.0 / 6784.0;
const A76: f64 = 11.0 / 84.0;
const E1: f64 = 71.0 / 57600.0;
const E3: f64 = -71.0 / 16695.0;
const E4: f64 = 71.0 / 1920.0;
const E5: f64 = -17253.0 / 339200.0;
const E6: f64 = 22.0 / 525.0;
const E7: f64 = -1.0 / 40.0;
const D1: f64 = -12715105075.0 / 11282082432.0;
const D3: f64 = 87487479700.0 / 32700410799.0;
const D4: f64 = -10690763975.0 / 1880347072.0;
const D5: f64 = 701980252875.0 / 199316789632.0;
const D6: f64 = -1453857185.0 / 822651844.0;
const D7: f64 = 69997945.0 / 29380423.0;

/// The continuous extension of one step: `y(t0 + θh) = r1 + θ(r2 + (1−θ)(r3 + θ(r4 + (1−θ) r5)))`.
pub(crate) struct Dense {
    t0: f64,
    h: f64,
    r: [Vec<f64>; 5],
}

impl Dense {
    pub(crate) fn eval(&self, t: f64) -> Vec<f64> {
        let th = (t - self.t0) / self.h;
        let th1 = 1.0 - th;
        let [r1, r2, r3, r4, r5] = &self.r;
        (0..r1.len())
            .map(|i| r1[i] + th * (r2[i] + th1 * (r3[i] + th * (r4[i] + th1 * r5[i]))))
            .collect()
    }
}

fn error_norm(err: &[f64], y0: &[f64], y1: &[f64], rtol: f64, atol: f64) -> f64 {
    let n = err.len();
    let s: f64 = (0..n)
        .map(|i| {
            let sk = atol + rtol * y0[i].abs().max(y1[i].abs());
            (err[i] / sk).powi(2)
        })
        .sum();
    (s / n as f64).sqrt()
}

/// The starting step of Hairer, Nørsett & Wanner (§II.4, "Starting step size").
fn initial_step<S: OdeSystem + ?Sized>(
    system: &S,
    t0: f64,
    y0: &[f64],
    f0: &[f64],
    config: &IntegratorConfig,
    stats: &mut Stats,
) -> f64 {
    let n = y0.len();
    let scale: Vec<f64> = y0
        .iter()
        .map(|y| config.atol + config.rtol * y.abs())
        .collect();
    let rms =
        |v: &[f64]| ((0..n).map(|i| (v[i] / scale[i]).powi(2)).sum::<f64>() / n as f64).sqrt();
    let (d0, d1) = (rms(y0), rms(f0));
    let h0 = if d0 < 1e-5 || d1 < 1e-5 {
        1e-6
    } else {
        0.01 * d0 / d1
    };
    let span = config.t_end - t0;
    let h0 = h0.min(span);
    let y1: Vec<f64> = (0..n).map(|i| y0[i] + h0 * f0[i]).collect();
    let mut f1 = vec![0.0; n];
    system.rhs(t0 + h0, &y1, &mut f1);
    stats.rhs_evaluations += 1;
    let diff: Vec<f64> = (0..n).map(|i| f1[i] - f0[i]).collect();
    let d2 = rms(&diff) / h0;
    let h1 = if d1.max(d2) <= 1e-15 {
        (h0 * 1e-3).max(1e-6)
    } else {
        (0.01 / d1.max(d2)).powf(1.0 / 5.0)
    };
    (100.0 * h0).min(h1).min(span)
}

pub(crate) fn integrate<S: OdeSystem + ?Sized>(
    system: &S,
    y0: &[f64],
    config: &IntegratorConfig,
    events: &[Event<'_>],
) -> Trajectory {
    let n = y0.len();
    let (rtol, atol) = (config.rtol, config.atol);
    let mut stats = Stats::default();
    let mut t = config.t_start;
    let mut y = y0.to_vec();
    let mut k1 = vec![0.0; n];
    system.rhs(t, &y, &mut k1);
    stats.rhs_evaluations += 1;
    let max_step = config
        .max_step
        .unwrap_or(config.t_end - config.t_start)
        .abs();
    let mut h = config
        .initial_step
        .unwrap_or_else(|| initial_step(system, t, &y, &k1, config, &mut stats))
        .min(max_step);
    let mut k = [
        vec![0.0; n],
        vec![0.0; n],
        vec![0.0; n],
        vec![0.0; n],
        vec![0.0; n],
        vec![0.0; n],
    ];
    let mut tmp = vec![0.0; n];
    let mut y1 = vec![0.0; n];
    let mut err = vec![0.0; n];
    let mut dense = Dense {
        t0: t,
        h: 0.0,
        r: std::array::from_fn(|_| vec![0.0; n]),
    };
    let mut traj_t = vec![t];
    let mut traj_y = vec![y.clone()];
    let mut tracker = EventTracker::new(events, t, &y);
    let mut hits_all = Vec::new();
    let mut outputs: Vec<f64> = config
        .output_times
        .iter()
        .copied()
        .filter(|&s| s > config.t_start && s <= config.t_end)
        .collect();
    outputs.sort_by(f64::total_cmp);
    let mut next_output = 0;
    let mut status = Status::Finished;
    let (beta, safe, facc1, facc2) = (0.04, 0.9, 1.0 / 0.2, 1.0 / 10.0);
    let expo1 = 0.2 - beta * 0.75;
    let mut facold: f64 = 1e-4;
    let mut last_rejected = false;
    let uround = f64::EPSILON;
    loop {
        if stats.steps as usize >= config.max_steps {
            status = Status::MaxSteps;
            break;
        }
        let remaining = config.t_end - t;
        if remaining <= 1e-14 * config.t_end.abs().max(1.0) {
            break;
        }
        if h >= remaining || 1.01 * h >= remaining {
            h = remaining;
        }
        if h.abs() <= 10.0 * uround * t.abs().max(1e-300) {
            status = Status::Diverged { t };
            break;
        }
        let [k2, k3, k4, k5, k6, k7] = &mut k;
        for i in 0..n {
            tmp[i] = y[i] + h * A21 * k1[i];
        }
        system.rhs(t + C2 * h, &tmp, k2);
        for i in 0..n {
            tmp[i] = y[i] + h * (A31 * k1[i] + A32 * k2[i]);
        }
        system.rhs(t + C3 * h, &tmp, k3);
        for i in 0..n {
            tmp[i] = y[i] + h * (A41 * k1[i] + A42 * k2[i] + A43 * k3[i]);
        }
        system.rhs(t + C4 * h, &tmp, k4);
        for i in 0..n {
            tmp[i] = y[i] + h * (A51 * k1[i] + A52 * k2[i] + A53 * k3[i] + A54 * k4[i]);
        }
        system.rhs(t + C5 * h, &tmp, k5);
        for i in 0..n {
            tmp[i] =
                y[i] + h * (A61 * k1[i] + A62 * k2[i] + A63 * k3[i] + A64 * k4[i] + A65 * k5[i]);
        }
        let t1 = t + h;
        system.rhs(t1, &tmp, k6);
        for i in 0..n {
            y1[i] =
                y[i] + h * (A71 * k1[i] + A73 * k3[i] + A74 * k4[i] + A75 * k5[i] + A76 * k6[i]);
        }
        system.rhs(t1, &y1, k7);
        stats.rhs_evaluations += 6;
        for i in 0..n {
            err[i] =
                h * (E1 * k1[i] + E3 * k3[i] + E4 * k4[i] + E5 * k5[i] + E6 * k6[i] + E7 * k7[i]);
        }
        let e = error_norm(&err, &y, &y1, rtol, atol);
        if !e.is_finite() || y1.iter().any(|v| !v.is_finite()) {
            if y.iter().all(|v| v.is_finite()) && h > 1e-12 * max_step {
                h *= 0.1;
                stats.rejected += 1;
                last_rejected = true;
                continue;
            }
            status = Status::Diverged { t };
            break;
        }
        let fac11 = e.powf(expo1);
        if e <= 1.0 {
            // accepted
            let fac = (fac11 / facold.powf(beta)).clamp(facc2 * safe, facc1 * safe) / safe;
            let fac = fac.clamp(facc2, facc1);
            facold = e.max(1e-4);
            let mut h_new = (h / fac).min(max_step);
            if last_rejected {
                h_new = h_new.min(h);
            }
            last_rejected = false;
            stats.steps += 1;
            // dense output, only where something reads it (output times, events); its buffers
            // are reused from step to step
            if next_output < outputs.len() || !events.is_empty() {
                dense.t0 = t;
                dense.h = h;
                let [r1, r2, r3, r4, r5] = &mut dense.r;
                r1.copy_from_slice(&y);
                for i in 0..n {
                    let ydiff = y1[i] - y[i];
                    let bspl = h * k1[i] - ydiff;
                    r2[i] = ydiff;
                    r3[i] = bspl;
                    r4[i] = ydiff - h * k7[i] - bspl;
                    r5[i] = h
                        * (D1 * k1[i]
                            + D3 * k3[i]
                            + D4 * k4[i]
                            + D5 * k5[i]
                            + D6 * k6[i]
                            + D7 * k7[i]);
                }
            }
            while next_output < outputs.len() && outputs[next_output] <= t1 {
                traj_t.push(outputs[next_output]);
                traj_y.push(dense.eval(outputs[next_output]));
                next_output += 1;
            }
            if !events.is_empty() {
                let interp = |s: f64| dense.eval(s);
                let (hits, stop) = tracker.check(t, t1, &y1, &interp);
                if stop {
                    let last = hits.last().cloned().expect("a terminal hit");
                    hits_all.extend(hits);
                    t = last.t;
                    y = last.theta.clone();
                    traj_t.push(t);
                    traj_y.push(y.clone());
                    status = Status::Event { name: last.name };
                    break;
                }
                hits_all.extend(hits);
            }
            t = t1;
            y.copy_from_slice(&y1);
            k1.copy_from_slice(k7);
            if config.record_steps {
                traj_t.push(t);
                traj_y.push(y.clone());
            }
            h = h_new;
        } else {
            h /= facc1.min(fac11 / safe);
            stats.rejected += 1;
            last_rejected = true;
        }
    }
    if traj_t.last() != Some(&t) {
        traj_t.push(t);
        traj_y.push(y.clone());
    }
    stats.event_evaluations = tracker.evaluations;
    Trajectory {
        t: traj_t,
        theta: traj_y,
        events: hits_all,
        t_final: t,
        final_state: y,
        status,
        stats,
    }
}
