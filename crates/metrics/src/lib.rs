//! Curves, catch-up overcost, tables and figures for majmin (SPEC §1, §2).
#![deny(missing_docs)]

pub mod plot;
