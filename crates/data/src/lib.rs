//! majmin-data (being built).
