//! gantry-proxy
#![forbid(unsafe_code)]
