//! `--plan` of `overcost` and `reproduce`: the runs, the images each processes and the estimated
//! time on this machine (majmin-sweep's [`cost`](majmin_sweep::cost)), printed before any training;
//! nothing is written.

use std::sync::Arc;

use majmin_core::Architecture;
use majmin_data::error::thousands;
use majmin_metrics::{format_fraction_pct, format_params};
use majmin_sweep::cost::{estimate, PlanCost};

use crate::context::Context;
use crate::error::CliError;
use crate::output::print_json;
use crate::report::arch_row_name;
use crate::sweep::{sweep_error, SweepPlan};

/// Training steps timed per network (after one warm-up step).
pub const TIMED_STEPS: usize = 3;

/// A duration for a person: `45 s`, `12 min`, `3.4 h`, `2.1 days`.
pub fn human_seconds(s: f64) -> String {
    if s < 90.0 {
        format!("{s:.0} s")
    } else if s < 90.0 * 60.0 {
        format!("{:.0} min", s / 60.0)
    } else if s < 48.0 * 3600.0 {
        format!("{:.1} h", s / 3600.0)
    } else {
        format!("{:.1} days", s / 86400.0)
    }
}

/// The data a plan is estimated on: input shape, classes and majority size.
pub struct PlanData {
    /// What to call it in the printout.
    pub name: String,
    /// C×H×W.
    pub shape: [usize; 3],
    /// Classes.
    pub classes: usize,
    /// n1.
    pub majority: usize,
}

impl PlanData {
    /// The sizes of a loaded data set.
    pub fn of(spec: &str, data: &majmin_core::Dataset) -> Self {
        Self {
            name: spec.to_string(),
            shape: data.shape(),
            classes: data.classes(),
            majority: data.group_sizes().majority,
        }
    }
}

/// `--plan` of a prepared sweep: its own data set's sizes and architectures.
pub fn print_prepared(
    ctx: &Context,
    prepared: &majmin_sweep::PreparedSweep,
    jobs: usize,
) -> Result<(), CliError> {
    let archs: Vec<Arc<dyn Architecture>> = prepared.archs.iter().map(|(a, _)| a.clone()).collect();
    let data = PlanData::of(&prepared.plan.data, &prepared.data);
    print_plan(ctx, &prepared.plan, &archs, &data, jobs)
}

/// Estimates `plan` and prints it (a table, or JSON with `--json`).
pub fn print_plan(
    ctx: &Context,
    plan: &SweepPlan,
    archs: &[Arc<dyn Architecture>],
    data: &PlanData,
    jobs: usize,
) -> Result<(), CliError> {
    if !ctx.quiet && !ctx.json {
        eprintln!(
            "measuring {TIMED_STEPS} training steps of each of {} network(s)…",
            archs.len()
        );
    }
    let cost = estimate(
        plan,
        archs,
        data.shape,
        data.classes,
        data.majority,
        jobs,
        ctx.thread_count(),
        TIMED_STEPS,
    )
    .map_err(sweep_error)?;
    if ctx.json {
        return print_json(&serde_json::json!({
            "data": data.name,
            "runs": cost.runs.len(),
            "serial_seconds": cost.serial_seconds,
            "wall_seconds": cost.wall_seconds,
            "cost": cost,
        }));
    }
    print!("{}", plan_text(plan, data, &cost));
    Ok(())
}

/// The printed plan.
pub fn plan_text(plan: &SweepPlan, data: &PlanData, cost: &PlanCost) -> String {
    let t = &plan.train;
    let mut s = format!(
        "plan: {} architecture(s){} × {} ζ ({}) × {} seed(s) = {} runs on {} ({}×{}×{}, {} classes, n1 = {}); batch {}, {}\n",
        plan.archs.len(),
        if plan.methods.iter().all(|m| m.is_erm()) {
            String::new()
        } else {
            let names: Vec<String> = plan.methods.iter().map(|m| m.name()).collect();
            format!(
                " × {} method(s) ({}), {} % of each group held out",
                names.len(),
                names.join(", "),
                100.0 * plan.holdout
            )
        },
        plan.zetas.len(),
        plan.zetas.iter().map(|z| format_fraction_pct(*z)).collect::<Vec<_>>().join(", "),
        plan.seeds,
        cost.runs.len(),
        data.name,
        data.shape[0],
        data.shape[1],
        data.shape[2],
        data.classes,
        thousands(data.majority as u64),
        t.batch_size,
        match t.budget {
            majmin_flow::train::Budget::Epochs(e) => format!("{e} epochs"),
            majmin_flow::train::Budget::Steps(n) => format!("{n} steps"),
        },
    );
    for choice in &plan.archs {
        let mut own = Vec::new();
        if let Some(lr) = choice.lr {
            own.push(format!("lr {lr}"));
        }
        if let Some(e) = choice.epochs {
            own.push(format!("{e} epochs"));
        }
        own.extend(choice.options.iter().map(|(k, v)| format!("{k} = {v}")));
        if !own.is_empty() {
            s.push_str(&format!(
                "  {}: {}\n",
                arch_row_name(&choice.name, choice.width),
                own.join(", ")
            ));
        }
    }
    let rows: Vec<[String; 6]> = cost
        .archs
        .iter()
        .map(|(choice, params, throughput)| {
            let mine: Vec<_> = cost.runs.iter().filter(|r| &r.arch == choice).collect();
            let images_min = mine
                .iter()
                .map(|r| r.train_images + r.eval_images)
                .min()
                .unwrap_or(0);
            let images_max = mine
                .iter()
                .map(|r| r.train_images + r.eval_images)
                .max()
                .unwrap_or(0);
            let seconds: f64 = mine.iter().map(|r| r.seconds).sum();
            [
                arch_row_name(&choice.name, choice.width),
                format_params(*params as u64),
                format!("{:.0}", throughput.train_images_per_s),
                mine.len().to_string(),
                if images_min == images_max {
                    thousands(images_min)
                } else {
                    format!("{}–{}", thousands(images_min), thousands(images_max))
                },
                human_seconds(seconds),
            ]
        })
        .collect();
    let header = [
        "architecture",
        "params",
        "train img/s",
        "runs",
        "images per run",
        "time (serial)",
    ];
    let widths: Vec<usize> = (0..6)
        .map(|j| {
            rows.iter()
                .map(|r| r[j].chars().count())
                .chain([header[j].chars().count()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let line = |cells: &[String]| {
        let mut l = String::new();
        for (j, c) in cells.iter().enumerate() {
            let pad = " ".repeat(widths[j] - c.chars().count());
            if j == 0 {
                l.push_str(&format!("{c}{pad}"));
            } else {
                l.push_str(&format!("  {pad}{c}"));
            }
        }
        l + "\n"
    };
    s.push_str(&line(&header.map(String::from)));
    for r in &rows {
        s.push_str(&line(r));
    }
    s.push_str(&format!(
        "estimated: {} of compute, {} wall with {} run(s) at a time on {} thread(s) each (throughput measured here, at least {TIMED_STEPS} steps and 0.25 s per network; images per run count training steps and the evaluations of the whole training set). Nothing was trained.\n",
        human_seconds(cost.serial_seconds),
        human_seconds(cost.wall_seconds),
        cost.jobs,
        cost.threads_per_run
    ));
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_like_a_person_would_say_them() {
        assert_eq!(human_seconds(42.0), "42 s");
        assert_eq!(human_seconds(600.0), "10 min");
        assert_eq!(human_seconds(3.0 * 3600.0), "3.0 h");
        assert_eq!(human_seconds(40.0 * 86400.0), "40.0 days");
    }
}
