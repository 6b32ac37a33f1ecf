//! search_runs and search_experiments.
