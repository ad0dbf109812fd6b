//! gantry-router
#![forbid(unsafe_code)]
