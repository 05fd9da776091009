//! majmin-flow (being built).
