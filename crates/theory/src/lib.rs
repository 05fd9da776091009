//! majmin-theory (being built).
