//! mirror (in progress)
