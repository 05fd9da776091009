//! majmin-flow (being built).

pub mod optim;
pub mod train;
