//! majmin-metrics (being built).
