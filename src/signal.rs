//! signal (in progress)
