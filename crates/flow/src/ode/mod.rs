//! Gradient-flow integrators with event location (docs/definitions.md, docs/architecture.md).
//!
//! [`integrate`] solves `dy/dt = f(t, y)` for any [`OdeSystem`] — usually [`GradientFlow`], the
//! flow `dθ/dt = −∇L(θ)` of a majmin-core [`Objective`] — with one of three [`Method`]s:
//!
//! - [`Method::Dopri5`]: the explicit Runge–Kutta pair of Dormand & Prince (J. Comput. Appl.
//!   Math. 6, 1980), order 5 with an embedded order-4 error estimate, FSAL (six right-hand-side
//!   evaluations per step), PI step-size control and the continuous extension of order 4 of
//!   Hairer, Nørsett & Wanner (*Solving Ordinary Differential Equations I*, 2nd ed., §II.5–6,
//!   their `DOPRI5` code), used for dense output and event location;
//! - [`Method::Rk4`]: classical fixed-step Runge–Kutta of order 4 (events located on the cubic
//!   Hermite interpolant between steps);
//! - [`Method::Euler`]: explicit Euler with step η — exactly gradient descent
//!   `θ_{k+1} = θ_k − η ∇L(θ_k)` on a gradient flow (events located by linear interpolation).
//!
//! Events are sign changes of scalar functions `g(t, y)` ([`Event`]); [`zone_events`] gives the
//! pair of docs/definitions.md: leaving and entering the majority-training zone `⟨∇L, ∇L1⟩ > 0`. Roots are
//! located to `1e-12` relative in time by Brent's method on the interpolant; a terminal event
//! stops the integration there.

mod dopri5;

use majmin_core::objective::dot;
use majmin_core::Objective;
use serde::{Deserialize, Serialize};

/// A system `dy/dt = f(t, y)`.
pub trait OdeSystem {
    /// The dimension of `y`.
    fn dim(&self) -> usize;
    /// Writes `f(t, y)` into `dydt`.
    fn rhs(&self, t: f64, y: &[f64], dydt: &mut [f64]);
}

/// Gradient flow `dθ/dt = −∇L(θ)` of an objective.
#[derive(Debug, Clone)]
pub struct GradientFlow<O>(pub O);

impl<O: Objective> OdeSystem for GradientFlow<O> {
    fn dim(&self) -> usize {
        self.0.dim()
    }
    fn rhs(&self, _t: f64, y: &[f64], dydt: &mut [f64]) {
        self.0.gradient(y, dydt);
        dydt.iter_mut().for_each(|v| *v = -*v);
    }
}

/// An ODE system from a closure `f(t, y, dydt)`.
pub struct FnSystem<F> {
    dim: usize,
    f: F,
}

impl<F: Fn(f64, &[f64], &mut [f64])> FnSystem<F> {
    /// A system of dimension `dim`.
    pub fn new(dim: usize, f: F) -> Self {
        Self { dim, f }
    }
}

impl<F: Fn(f64, &[f64], &mut [f64])> OdeSystem for FnSystem<F> {
    fn dim(&self) -> usize {
        self.dim
    }
    fn rhs(&self, t: f64, y: &[f64], dydt: &mut [f64]) {
        (self.f)(t, y, dydt)
    }
}

/// The integration method.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Method {
    /// Adaptive Dormand–Prince 5(4) with dense output.
    #[default]
    Dopri5,
    /// Classical Runge–Kutta of order 4 with a fixed step.
    Rk4,
    /// Explicit Euler with a fixed step η (gradient descent).
    Euler,
}

impl std::str::FromStr for Method {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "dopri5" => Ok(Method::Dopri5),
            "rk4" => Ok(Method::Rk4),
            "euler" | "gd" => Ok(Method::Euler),
            _ => Err(format!(
                "unknown method `{s}`: expected dopri5, rk4 or euler"
            )),
        }
    }
}

/// Settings of [`integrate`] (serde: the `[flow]` table of a configuration file).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct IntegratorConfig {
    /// The method.
    pub method: Method,
    /// Start time.
    pub t_start: f64,
    /// End time.
    pub t_end: f64,
    /// Relative tolerance (dopri5).
    pub rtol: f64,
    /// Absolute tolerance (dopri5).
    pub atol: f64,
    /// The fixed step of rk4 and euler (η for gradient descent).
    pub step: f64,
    /// The first step of dopri5 (chosen automatically when `None`).
    pub initial_step: Option<f64>,
    /// The largest step of dopri5 (default: the whole interval).
    pub max_step: Option<f64>,
    /// Stop after this many steps.
    pub max_steps: usize,
    /// Record every accepted step in the trajectory (otherwise only `output_times` and the end).
    pub record_steps: bool,
    /// Times at which to record the solution (dense output for dopri5, nearest step otherwise).
    pub output_times: Vec<f64>,
}

impl Default for IntegratorConfig {
    fn default() -> Self {
        Self {
            method: Method::Dopri5,
            t_start: 0.0,
            t_end: 10.0,
            rtol: 1e-8,
            atol: 1e-10,
            step: 1e-2,
            initial_step: None,
            max_step: None,
            max_steps: 10_000_000,
            record_steps: true,
            output_times: Vec::new(),
        }
    }
}

/// Which sign changes of an event function count.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Direction {
    /// From negative to positive.
    Rising,
    /// From positive to negative.
    Falling,
    /// Both.
    Both,
}

/// The boxed event function `g(t, y)`.
pub type EventFn<'a> = Box<dyn Fn(f64, &[f64]) -> f64 + 'a>;

/// A scalar event function `g(t, y)` whose sign changes are located.
pub struct Event<'a> {
    /// The name reported with each hit.
    pub name: String,
    /// `g(t, y)`.
    pub function: EventFn<'a>,
    /// Which crossings count.
    pub direction: Direction,
    /// Stop the integration at the first hit.
    pub terminal: bool,
}

impl<'a> Event<'a> {
    /// A non-terminal event counting both directions.
    pub fn new(name: impl Into<String>, function: impl Fn(f64, &[f64]) -> f64 + 'a) -> Self {
        Self {
            name: name.into(),
            function: Box::new(function),
            direction: Direction::Both,
            terminal: false,
        }
    }

    /// Only crossings in `direction`.
    pub fn direction(mut self, direction: Direction) -> Self {
        self.direction = direction;
        self
    }

    /// Stop at the first hit.
    pub fn terminal(mut self) -> Self {
        self.terminal = true;
        self
    }
}

impl std::fmt::Debug for Event<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Event")
            .field("name", &self.name)
            .field("direction", &self.direction)
            .field("terminal", &self.terminal)
            .finish()
    }
}

/// The zone events of docs/definitions.md for the flow of `L = L1 + L0`, on `g = ⟨∇L, ∇L1⟩`:
/// `leave-majority-zone` (g falls through 0: a gradient step on L starts to increase L1) and
/// `enter-majority-zone` (g rises through 0).
pub fn zone_events<'a, T: Objective + 'a, M: Objective + 'a>(
    total: &'a T,
    majority: &'a M,
) -> Vec<Event<'a>> {
    let g = move |_t: f64, y: &[f64]| {
        let d = y.len();
        // small dimensions on the stack: this runs twice per step (once per event)
        if d <= 8 {
            let (mut a, mut b) = ([0.0; 8], [0.0; 8]);
            total.gradient(y, &mut a[..d]);
            majority.gradient(y, &mut b[..d]);
            return dot(&a[..d], &b[..d]);
        }
        let mut a = vec![0.0; d];
        let mut b = vec![0.0; d];
        total.gradient(y, &mut a);
        majority.gradient(y, &mut b);
        dot(&a, &b)
    };
    vec![
        Event {
            name: "leave-majority-zone".into(),
            function: Box::new(g),
            direction: Direction::Falling,
            terminal: false,
        },
        Event {
            name: "enter-majority-zone".into(),
            function: Box::new(g),
            direction: Direction::Rising,
            terminal: false,
        },
    ]
}

/// A located event.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EventHit {
    /// The event's name.
    pub name: String,
    /// The time of the sign change.
    pub t: f64,
    /// The state there.
    pub theta: Vec<f64>,
    /// `rising` or `falling`.
    pub direction: Direction,
}

/// How the integration ended.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "kebab-case", tag = "status")]
pub enum Status {
    /// `t_end` was reached.
    Finished,
    /// A terminal event stopped it.
    Event {
        /// The event's name.
        name: String,
    },
    /// The state became NaN or infinite (docs/reliability.md: "diverged at t").
    Diverged {
        /// The last finite time.
        t: f64,
    },
    /// `max_steps` was reached first.
    MaxSteps,
}

/// Counters of one integration.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Stats {
    /// Right-hand-side evaluations.
    pub rhs_evaluations: u64,
    /// Accepted steps.
    pub steps: u64,
    /// Rejected steps (dopri5).
    pub rejected: u64,
    /// Event-function evaluations.
    pub event_evaluations: u64,
}

/// The solution: recorded times and states, located events, the end state.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Trajectory {
    /// Recorded times.
    pub t: Vec<f64>,
    /// Recorded states.
    pub theta: Vec<Vec<f64>>,
    /// Located events in time order.
    pub events: Vec<EventHit>,
    /// The final time.
    pub t_final: f64,
    /// The final state.
    #[serde(rename = "final")]
    pub final_state: Vec<f64>,
    /// How it ended.
    pub status: Status,
    /// Counters.
    pub stats: Stats,
}

/// What went wrong before integrating.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum IntegrateError {
    /// A setting is out of range.
    #[error("invalid integrator setting: {0}")]
    Setting(String),
    /// The initial state's length differs from the system's dimension.
    #[error("the initial state has {got} values but the system has dimension {expected}")]
    Dimension {
        /// The system's dimension.
        expected: usize,
        /// The initial state's length.
        got: usize,
    },
}

/// Integrates `system` from `y0` over `[t_start, t_end]` with `events`.
pub fn integrate<S: OdeSystem + ?Sized>(
    system: &S,
    y0: &[f64],
    config: &IntegratorConfig,
    events: &[Event<'_>],
) -> Result<Trajectory, IntegrateError> {
    if y0.len() != system.dim() {
        return Err(IntegrateError::Dimension {
            expected: system.dim(),
            got: y0.len(),
        });
    }
    if config.t_end <= config.t_start
        || config.t_end.is_nan()
        || config.t_start.is_nan()
        || !config.t_end.is_finite()
        || !config.t_start.is_finite()
    {
        return Err(IntegrateError::Setting(format!(
            "need finite t_start < t_end, got {} and {}",
            config.t_start, config.t_end
        )));
    }
    if y0.iter().any(|v| !v.is_finite()) {
        return Err(IntegrateError::Setting(
            "the initial state must be finite".into(),
        ));
    }
    match config.method {
        Method::Dopri5 => {
            if !(config.rtol > 0.0 && config.atol >= 0.0) {
                return Err(IntegrateError::Setting(format!(
                    "need rtol > 0 and atol ≥ 0, got {} and {}",
                    config.rtol, config.atol
                )));
            }
            Ok(dopri5::integrate(system, y0, config, events))
        }
        Method::Rk4 | Method::Euler => {
            if !(config.step > 0.0 && config.step.is_finite()) {
                return Err(IntegrateError::Setting(format!(
                    "need a positive step, got {}",
                    config.step
                )));
            }
            Ok(fixed_step(system, y0, config, events))
        }
    }
}

/// Tracks the sign of each event function between steps and locates crossings.
pub(crate) struct EventTracker<'e, 'a> {
    events: &'e [Event<'a>],
    last: Vec<f64>,
    pub(crate) evaluations: u64,
}

impl<'e, 'a> EventTracker<'e, 'a> {
    pub(crate) fn new(events: &'e [Event<'a>], t: f64, y: &[f64]) -> Self {
        let last = events.iter().map(|e| (e.function)(t, y)).collect();
        Self {
            events,
            last,
            evaluations: events.len() as u64,
        }
    }

    /// Checks the step `[t0, t1]` ending in `y1`; `interp(t)` is the solution inside the step.
    /// Returns the hits in time order and whether a terminal event fired (hits after it dropped).
    pub(crate) fn check(
        &mut self,
        t0: f64,
        t1: f64,
        y1: &[f64],
        interp: &dyn Fn(f64) -> Vec<f64>,
    ) -> (Vec<EventHit>, bool) {
        let mut hits: Vec<(EventHit, bool)> = Vec::new();
        for (k, e) in self.events.iter().enumerate() {
            let g1 = (e.function)(t1, y1);
            self.evaluations += 1;
            let g0 = self.last[k];
            if g1 != 0.0 || g0 != 0.0 {
                let rising = g0 < 0.0 && g1 >= 0.0;
                let falling = g0 > 0.0 && g1 <= 0.0;
                let wanted = match e.direction {
                    Direction::Rising => rising,
                    Direction::Falling => falling,
                    Direction::Both => rising || falling,
                };
                if wanted {
                    let f = |t: f64| (e.function)(t, &interp(t));
                    let (t, n) = brent(&f, t0, t1, g0, g1);
                    self.evaluations += n;
                    hits.push((
                        EventHit {
                            name: e.name.clone(),
                            t,
                            theta: interp(t),
                            direction: if rising {
                                Direction::Rising
                            } else {
                                Direction::Falling
                            },
                        },
                        e.terminal,
                    ));
                }
            }
            // a zero at the end of the step keeps the previous sign, so the crossing counts once
            if g1 != 0.0 {
                self.last[k] = g1;
            }
        }
        hits.sort_by(|a, b| a.0.t.total_cmp(&b.0.t));
        if let Some(first_terminal) = hits.iter().position(|h| h.1) {
            hits.truncate(first_terminal + 1);
            return (hits.into_iter().map(|h| h.0).collect(), true);
        }
        (hits.into_iter().map(|h| h.0).collect(), false)
    }
}

/// Brent's root finder (Brent, *Algorithms for Minimization without Derivatives*, 1973, ch. 4)
/// on `[a, b]` with `f(a) = fa`, `f(b) = fb` of opposite signs (or `fb = 0`). Returns the root and
/// the evaluations used.
fn brent(f: &dyn Fn(f64) -> f64, a: f64, b: f64, fa: f64, fb: f64) -> (f64, u64) {
    let (mut a, mut b, mut fa, mut fb) = (a, b, fa, fb);
    if fb == 0.0 {
        return (b, 0);
    }
    let mut evals = 0;
    let (mut c, mut fc) = (a, fa);
    let mut d = b - a;
    let mut e = d;
    for _ in 0..200 {
        if fb.signum() == fc.signum() {
            c = a;
            fc = fa;
            d = b - a;
            e = d;
        }
        if fc.abs() < fb.abs() {
            a = b;
            b = c;
            c = a;
            fa = fb;
            fb = fc;
            fc = fa;
        }
        let tol = 2.0 * f64::EPSILON * b.abs() + 1e-15 * (1.0 + b.abs());
        let m = 0.5 * (c - b);
        if m.abs() <= tol || fb == 0.0 {
            return (b, evals);
        }
        if e.abs() >= tol && fa.abs() > fb.abs() {
            let s = fb / fa;
            let (mut p, mut q);
            if a == c {
                p = 2.0 * m * s;
                q = 1.0 - s;
            } else {
                let qq = fa / fc;
                let r = fb / fc;
                p = s * (2.0 * m * qq * (qq - r) - (b - a) * (r - 1.0));
                q = (qq - 1.0) * (r - 1.0) * (s - 1.0);
            }
            if p > 0.0 {
                q = -q;
            } else {
                p = -p;
            }
            if 2.0 * p < (3.0 * m * q - (tol * q).abs()).min((e * q).abs()) {
                e = d;
                d = p / q;
            } else {
                d = m;
                e = m;
            }
        } else {
            d = m;
            e = m;
        }
        a = b;
        fa = fb;
        b += if d.abs() > tol { d } else { tol.copysign(m) };
        fb = f(b);
        evals += 1;
    }
    (b, evals)
}

fn fixed_step<S: OdeSystem + ?Sized>(
    system: &S,
    y0: &[f64],
    config: &IntegratorConfig,
    events: &[Event<'_>],
) -> Trajectory {
    let n = y0.len();
    let mut stats = Stats::default();
    let mut t = config.t_start;
    let mut y = y0.to_vec();
    let mut f0 = vec![0.0; n];
    system.rhs(t, &y, &mut f0);
    stats.rhs_evaluations += 1;
    let mut traj_t = vec![t];
    let mut traj_y = vec![y.clone()];
    let mut tracker = EventTracker::new(events, t, &y);
    let mut all_hits = Vec::new();
    let (mut k2, mut k3, mut k4, mut tmp) =
        (vec![0.0; n], vec![0.0; n], vec![0.0; n], vec![0.0; n]);
    let mut y1 = vec![0.0; n];
    let mut f1 = vec![0.0; n];
    let mut outputs = config
        .output_times
        .iter()
        .copied()
        .filter(|&s| s >= config.t_start && s <= config.t_end)
        .collect::<Vec<_>>();
    outputs.sort_by(f64::total_cmp);
    let mut next_output = 0;
    let mut status = Status::Finished;
    let steps_total = ((config.t_end - config.t_start) / config.step).ceil() as u64;
    for k in 0..steps_total {
        if k as usize >= config.max_steps {
            status = Status::MaxSteps;
            break;
        }
        let t1 = (config.t_start + (k + 1) as f64 * config.step).min(config.t_end);
        let h = t1 - t;
        match config.method {
            Method::Euler => {
                y1.iter_mut()
                    .zip(y.iter().zip(&f0))
                    .for_each(|(o, (a, b))| *o = a + h * b);
            }
            _ => {
                tmp.iter_mut()
                    .zip(y.iter().zip(&f0))
                    .for_each(|(o, (a, b))| *o = a + 0.5 * h * b);
                system.rhs(t + 0.5 * h, &tmp, &mut k2);
                tmp.iter_mut()
                    .zip(y.iter().zip(&k2))
                    .for_each(|(o, (a, b))| *o = a + 0.5 * h * b);
                system.rhs(t + 0.5 * h, &tmp, &mut k3);
                tmp.iter_mut()
                    .zip(y.iter().zip(&k3))
                    .for_each(|(o, (a, b))| *o = a + h * b);
                system.rhs(t1, &tmp, &mut k4);
                stats.rhs_evaluations += 3;
                for i in 0..n {
                    y1[i] = y[i] + h / 6.0 * (f0[i] + 2.0 * k2[i] + 2.0 * k3[i] + k4[i]);
                }
            }
        }
        if y1.iter().any(|v| !v.is_finite()) {
            status = Status::Diverged { t };
            break;
        }
        system.rhs(t1, &y1, &mut f1);
        stats.rhs_evaluations += 1;
        stats.steps += 1;
        let (ya, yb, fa, fb) = (&y, &y1, &f0, &f1);
        let method = config.method;
        let interp = |s: f64| -> Vec<f64> {
            let th = ((s - t) / h).clamp(0.0, 1.0);
            if method == Method::Euler {
                (0..n).map(|i| ya[i] + th * (yb[i] - ya[i])).collect()
            } else {
                // cubic Hermite on (y, f) at both ends
                let (h00, h10, h01, h11) = (
                    2.0 * th.powi(3) - 3.0 * th * th + 1.0,
                    th.powi(3) - 2.0 * th * th + th,
                    -2.0 * th.powi(3) + 3.0 * th * th,
                    th.powi(3) - th * th,
                );
                (0..n)
                    .map(|i| h00 * ya[i] + h10 * h * fa[i] + h01 * yb[i] + h11 * h * fb[i])
                    .collect()
            }
        };
        while next_output < outputs.len() && outputs[next_output] <= t1 {
            traj_t.push(outputs[next_output]);
            traj_y.push(interp(outputs[next_output]));
            next_output += 1;
        }
        let (hits, stop) = tracker.check(t, t1, &y1, &interp);
        if stop {
            let last = hits.last().cloned().expect("a terminal hit");
            all_hits.extend(hits);
            t = last.t;
            y = last.theta.clone();
            status = Status::Event { name: last.name };
            traj_t.push(t);
            traj_y.push(y.clone());
            break;
        }
        all_hits.extend(hits);
        t = t1;
        y.copy_from_slice(&y1);
        f0.copy_from_slice(&f1);
        if config.record_steps {
            traj_t.push(t);
            traj_y.push(y.clone());
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
        events: all_hits,
        t_final: t,
        final_state: y,
        status,
        stats,
    }
}

#[cfg(test)]
mod tests;
