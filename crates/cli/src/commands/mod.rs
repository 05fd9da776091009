//! One module per command; each exposes `Args` (clap + serde, so a run manifest can record it)
//! and `run(&Args, &Context)`.

pub mod bench;
pub mod data;
pub mod flow;
pub mod metrics;
pub mod models;
pub mod overcost;
pub mod reproduce;
pub mod spectrum;
pub mod sweep;
pub mod theory;
pub mod train;
