//! gantry-config
#![forbid(unsafe_code)]
