//! What a training run records at each evaluation point (docs/definitions.md "Catch-up overcost").
//!
//! The training loop (`majmin-flow`) produces [`EvalPoint`]s; the metrics (`majmin-metrics`)
//! turn them into times to threshold and overcosts. Losses here are *mean* losses: the group mean
//! `L̄_g = (n / n_g) L_g` and the global mean `L̄ = L`, evaluated in evaluation mode on the whole
//! training set.

use serde::{Deserialize, Serialize};

/// One evaluation point of a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvalPoint {
    /// Time in epochs (fractional allowed).
    pub t: f64,
    /// Optimiser steps taken so far.
    pub step: u64,
    /// Global mean loss `L̄ = L`.
    pub loss: f64,
    /// Majority mean loss `L̄_1`.
    pub majority_loss: f64,
    /// Minority mean loss `L̄_0`.
    pub minority_loss: f64,
    /// Training accuracy over all samples.
    pub accuracy: f64,
    /// Majority training accuracy.
    pub majority_accuracy: f64,
    /// Minority training accuracy.
    pub minority_accuracy: f64,
    /// Zone probe from full-batch per-group gradients, when requested.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub zone: Option<ZoneProbe>,
}

/// Where the parameters are relative to the majority-training zone.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ZoneProbe {
    /// `⟨∇L, ∇L1⟩`: positive inside the majority-training zone.
    pub inner_product: f64,
    /// `‖∇L1‖`.
    pub majority_grad_norm: f64,
    /// `‖∇L0‖`.
    pub minority_grad_norm: f64,
}

/// How a run ended.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "kebab-case")]
pub enum RunStatus {
    /// The whole budget was used.
    Finished,
    /// The loss became NaN or infinite at epoch `t`; the points before it are kept.
    Diverged {
        /// Epoch of the first non-finite loss.
        t: f64,
    },
    /// Stopped early on request (e.g. SIGINT); the points so far are kept.
    Interrupted {
        /// Epoch reached.
        t: f64,
    },
}

impl std::fmt::Display for RunStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RunStatus::Finished => f.write_str("finished"),
            RunStatus::Diverged { t } => write!(f, "diverged at t = {t}"),
            RunStatus::Interrupted { t } => write!(f, "interrupted at t = {t}"),
        }
    }
}
