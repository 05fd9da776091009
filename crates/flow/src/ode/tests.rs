use super::*;
use majmin_core::objective::FnObjective;

/// θ(t) = e^{−At} θ0 for the symmetric A = [[a, b], [b, c]] (closed form by eigen-decomposition).
fn expm_flow(a: f64, b: f64, c: f64, theta0: [f64; 2], t: f64) -> [f64; 2] {
    let mean = 0.5 * (a + c);
    let r = (0.25 * (a - c) * (a - c) + b * b).sqrt();
    let (l1, l2) = (mean - r, mean + r);
    // eigenvector of l1
    let v1 = if b.abs() > 0.0 {
        [b, l1 - a]
    } else if a <= c {
        [1.0, 0.0]
    } else {
        [0.0, 1.0]
    };
    let n = (v1[0] * v1[0] + v1[1] * v1[1]).sqrt();
    let v1 = [v1[0] / n, v1[1] / n];
    let v2 = [-v1[1], v1[0]];
    let p1 = v1[0] * theta0[0] + v1[1] * theta0[1];
    let p2 = v2[0] * theta0[0] + v2[1] * theta0[1];
    let (e1, e2) = ((-l1 * t).exp() * p1, (-l2 * t).exp() * p2);
    [e1 * v1[0] + e2 * v2[0], e1 * v1[1] + e2 * v2[1]]
}

fn quadratic(a: f64, b: f64, c: f64) -> impl Objective {
    FnObjective::new(
        2,
        move |x: &[f64]| 0.5 * (a * x[0] * x[0] + 2.0 * b * x[0] * x[1] + c * x[1] * x[1]),
        move |x: &[f64], g: &mut [f64]| {
            g[0] = a * x[0] + b * x[1];
            g[1] = b * x[0] + c * x[1];
        },
    )
}

#[test]
fn dopri5_matches_the_matrix_exponential_to_tolerance() {
    let (a, b, c) = (2.0, 0.7, 0.5);
    let flow = GradientFlow(quadratic(a, b, c));
    let theta0 = [1.5, -2.0];
    for (rtol, bound) in [(1e-6, 1e-5), (1e-10, 1e-9)] {
        let cfg = IntegratorConfig {
            t_end: 5.0,
            rtol,
            atol: rtol * 1e-2,
            output_times: vec![0.37, 2.2],
            ..Default::default()
        };
        let traj = integrate(&flow, &theta0, &cfg, &[]).unwrap();
        let exact = expm_flow(a, b, c, theta0, 5.0);
        let err = ((traj.final_state[0] - exact[0]).powi(2)
            + (traj.final_state[1] - exact[1]).powi(2))
        .sqrt();
        assert!(err < bound, "rtol {rtol}: error {err}");
        assert_eq!(traj.status, Status::Finished);
        assert_eq!(traj.t_final, 5.0);
        // dense output at the requested times
        for &s in &[0.37, 2.2] {
            let k = traj
                .t
                .iter()
                .position(|&x| x == s)
                .expect("output time recorded");
            let ex = expm_flow(a, b, c, theta0, s);
            let e =
                ((traj.theta[k][0] - ex[0]).powi(2) + (traj.theta[k][1] - ex[1]).powi(2)).sqrt();
            assert!(e < 10.0 * bound, "dense output at {s}: {e}");
        }
        assert_eq!(
            traj.stats.rhs_evaluations,
            2 + 6 * (traj.stats.steps + traj.stats.rejected)
        );
    }
}

#[test]
fn rk4_is_fourth_order_and_euler_is_gradient_descent() {
    let (a, b, c) = (1.0, 0.3, 0.6);
    let flow = GradientFlow(quadratic(a, b, c));
    let theta0 = [1.0, 1.0];
    let exact = expm_flow(a, b, c, theta0, 2.0);
    let err = |h: f64| {
        let cfg = IntegratorConfig {
            method: Method::Rk4,
            t_end: 2.0,
            step: h,
            ..Default::default()
        };
        let f = integrate(&flow, &theta0, &cfg, &[]).unwrap().final_state;
        ((f[0] - exact[0]).powi(2) + (f[1] - exact[1]).powi(2)).sqrt()
    };
    let ratio = err(0.1) / err(0.05);
    assert!((ratio - 16.0).abs() < 1.0, "RK4 error ratio {ratio}");
    assert!(err(0.01) < 1e-9);
    // Euler with step η is θ_{k+1} = θ_k − η ∇L(θ_k), exactly
    let eta = 0.1;
    let cfg = IntegratorConfig {
        method: Method::Euler,
        t_end: 1.0,
        step: eta,
        ..Default::default()
    };
    let traj = integrate(&flow, &theta0, &cfg, &[]).unwrap();
    let mut x = theta0;
    for k in 0..10 {
        let g = [a * x[0] + b * x[1], b * x[0] + c * x[1]];
        x = [x[0] - eta * g[0], x[1] - eta * g[1]];
        assert!(
            (traj.theta[k + 1][0] - x[0]).abs() < 1e-15
                && (traj.theta[k + 1][1] - x[1]).abs() < 1e-15
        );
    }
    assert_eq!(traj.theta.len(), 11);
}

#[test]
fn event_times_match_analytic_ones() {
    // y' = −y, y(0) = 1: y crosses 0.5 at ln 2 and 0.25 at ln 4
    let sys = FnSystem::new(1, |_t: f64, y: &[f64], d: &mut [f64]| d[0] = -y[0]);
    let events = vec![
        Event::new("half", |_t: f64, y: &[f64]| y[0] - 0.5),
        Event::new("quarter", |_t: f64, y: &[f64]| y[0] - 0.25).terminal(),
    ];
    for method in [Method::Dopri5, Method::Rk4] {
        let cfg = IntegratorConfig {
            method,
            t_end: 10.0,
            rtol: 1e-10,
            atol: 1e-12,
            step: 0.01,
            ..Default::default()
        };
        let traj = integrate(&sys, &[1.0], &cfg, &events).unwrap();
        assert_eq!(traj.events.len(), 2);
        let tol = if method == Method::Dopri5 { 1e-9 } else { 1e-8 };
        assert!(
            (traj.events[0].t - 2f64.ln()).abs() < tol,
            "{method:?} {}",
            traj.events[0].t
        );
        assert_eq!(traj.events[0].direction, Direction::Falling);
        assert!((traj.events[1].t - 4f64.ln()).abs() < tol);
        assert_eq!(
            traj.status,
            Status::Event {
                name: "quarter".into()
            }
        );
        assert!((traj.t_final - 4f64.ln()).abs() < tol && (traj.final_state[0] - 0.25).abs() < tol);
    }
}

#[test]
fn zone_events_of_a_one_dimensional_split() {
    // L1 = x²/2, L0 = ε (x − a)²/2: ⟨∇L, ∇L1⟩ = x ((1+ε) x − ε a) changes sign at x = 0.
    // From x0 < 0 the flow x(t) = x* + (x0 − x*) e^{−(1+ε) t}, x* = ε a / (1+ε), crosses 0 at
    // t0 = ln((x* − x0) / x*) / (1+ε) and leaves the majority-training zone there for good.
    let (eps, a, x0) = (0.2, 3.0, -1.0);
    let l1 = FnObjective::new(
        1,
        |x: &[f64]| 0.5 * x[0] * x[0],
        |x: &[f64], g: &mut [f64]| g[0] = x[0],
    );
    let total = FnObjective::new(
        1,
        move |x: &[f64]| 0.5 * x[0] * x[0] + 0.5 * eps * (x[0] - a).powi(2),
        move |x: &[f64], g: &mut [f64]| g[0] = x[0] + eps * (x[0] - a),
    );
    let xs = eps * a / (1.0 + eps);
    let t0 = ((xs - x0) / xs).ln() / (1.0 + eps);
    let events = zone_events(&total, &l1);
    let traj = integrate(
        &GradientFlow(&total),
        &[x0],
        &IntegratorConfig {
            t_end: 20.0,
            ..Default::default()
        },
        &events,
    )
    .unwrap();
    assert_eq!(traj.events.len(), 1, "{:?}", traj.events);
    assert_eq!(traj.events[0].name, "leave-majority-zone");
    assert!(
        (traj.events[0].t - t0).abs() < 1e-7,
        "{} vs {t0}",
        traj.events[0].t
    );
    assert!((traj.final_state[0] - xs).abs() < 1e-6);
}

#[test]
fn bad_settings_are_errors_and_divergence_is_reported() {
    let sys = FnSystem::new(1, |_t: f64, y: &[f64], d: &mut [f64]| d[0] = y[0] * y[0]);
    assert!(matches!(
        integrate(&sys, &[1.0, 2.0], &IntegratorConfig::default(), &[]),
        Err(IntegrateError::Dimension { .. })
    ));
    let cfg = IntegratorConfig {
        t_end: 0.0,
        ..Default::default()
    };
    assert!(integrate(&sys, &[1.0], &cfg, &[]).is_err());
    // y' = y² from 1 blows up at t = 1: Euler with a large step overflows
    let cfg = IntegratorConfig {
        method: Method::Euler,
        t_end: 10.0,
        step: 0.5,
        ..Default::default()
    };
    let traj = integrate(&sys, &[1.0], &cfg, &[]).unwrap();
    assert!(
        matches!(traj.status, Status::Diverged { .. }),
        "{:?}",
        traj.status
    );
    let traj = integrate(
        &sys,
        &[1.0],
        &IntegratorConfig {
            t_end: 2.0,
            ..Default::default()
        },
        &[],
    )
    .unwrap();
    assert!(
        matches!(traj.status, Status::Diverged { t } if (t - 1.0).abs() < 1e-3),
        "{:?}",
        traj.status
    );
}

/// Dense output is computed only when output times or events read it, in buffers reused across
/// steps: many output times (several inside one step, the last ones after the others ran out)
/// all match the exact flow, and the accepted steps are the same with and without them.
#[test]
fn dense_output_in_reused_buffers_matches_the_exact_flow() {
    let (a, b, c) = (2.0, 0.7, 0.5);
    let flow = GradientFlow(quadratic(a, b, c));
    let theta0 = [1.5, -2.0];
    let times: Vec<f64> = (1..=400).map(|k| 0.011 * k as f64).collect();
    let base = IntegratorConfig {
        t_end: 5.0,
        rtol: 1e-10,
        atol: 1e-12,
        ..Default::default()
    };
    let plain = integrate(&flow, &theta0, &base, &[]).unwrap();
    let with_outputs = integrate(
        &flow,
        &theta0,
        &IntegratorConfig {
            output_times: times.clone(),
            ..base.clone()
        },
        &[],
    )
    .unwrap();
    // an event that never fires still makes every step build its dense output
    let never = [Event::new("never", |_t: f64, _y: &[f64]| 1.0)];
    let with_event = integrate(&flow, &theta0, &base, &never).unwrap();
    assert_eq!(plain.t, with_event.t);
    assert_eq!(plain.theta, with_event.theta);
    assert_eq!(plain.final_state, with_outputs.final_state);
    let steps: Vec<(f64, &Vec<f64>)> = with_outputs
        .t
        .iter()
        .copied()
        .zip(&with_outputs.theta)
        .filter(|(t, _)| !times.contains(t))
        .collect();
    assert_eq!(steps.len(), plain.t.len());
    for &s in &times {
        let k = with_outputs
            .t
            .iter()
            .position(|&x| x == s)
            .expect("output time recorded");
        let ex = expm_flow(a, b, c, theta0, s);
        let th = &with_outputs.theta[k];
        let e = ((th[0] - ex[0]).powi(2) + (th[1] - ex[1]).powi(2)).sqrt();
        assert!(e < 1e-8, "dense output at {s}: {e}");
    }
    // several output times fall inside one step (the test exercises reuse within a step)
    assert!(plain.t.len() < times.len() + 2, "{} steps", plain.t.len());
}

/// The zone-event function is ⟨∇L, ∇L1⟩ on both of its paths (stack buffers up to dimension 8,
/// heap buffers above).
#[test]
fn zone_event_function_is_the_gradient_inner_product_in_any_dimension() {
    for d in [1usize, 3, 8, 9, 12] {
        let l1 = FnObjective::new(
            d,
            |x: &[f64]| x.iter().map(|v| v.cos()).sum(),
            |x: &[f64], g: &mut [f64]| g.iter_mut().zip(x).for_each(|(g, v)| *g = -v.sin()),
        );
        let total = FnObjective::new(
            d,
            |x: &[f64]| x.iter().map(|v| v.cos() + 0.5 * v * v).sum(),
            |x: &[f64], g: &mut [f64]| g.iter_mut().zip(x).for_each(|(g, v)| *g = v - v.sin()),
        );
        let events = zone_events(&total, &l1);
        let y: Vec<f64> = (0..d).map(|i| 0.3 + 0.7 * i as f64).collect();
        let want: f64 = y.iter().map(|v| (v - v.sin()) * -v.sin()).sum();
        for e in &events {
            assert_eq!((e.function)(0.0, &y), want, "dimension {d}");
        }
    }
}
