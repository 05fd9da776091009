//! majmin-models (being built).
