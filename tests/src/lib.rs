//! Shared helpers of the cross-crate test suite (see `tests/`).
