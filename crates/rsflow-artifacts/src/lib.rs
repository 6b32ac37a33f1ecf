//! rsflow-artifacts
