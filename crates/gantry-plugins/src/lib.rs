//! Kong's plugin pipeline for Gantry: plugin phases, PRIORITY ordering, scoping
//! precedence, the consumer/credential index, and the bundled plugins.
#![forbid(unsafe_code)]
