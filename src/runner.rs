//! runner (in progress)
