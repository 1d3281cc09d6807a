//! configuration (in progress)
