//! Gantry's own HTTP/1.1 on both sides of the proxy, driven inline by each
//! connection's task: [`server`] reads client requests and writes responses,
//! [`client`] talks to upstreams over pooled connections, [`head`] and [`chunked`] are
//! the wire format ([`raw`] an upstream response's lines as received), [`io`] the
//! transport pieces, [`date`] the cached `Date` value (each worker's recently seen header
//! names are `gantry_plugins::name_cache`, shared with the request headers' map).
//!
//! Why not hyper here: hyper's HTTP/1 server and client each run a dispatcher state
//! machine, and its client puts every upstream connection in a task of its own fed
//! through channels, so a proxied request crossed two extra task wake-ups and several
//! copies of the request between futures. Doing the exchange in one task with
//! `httparse` halved Gantry's user CPU per request (docs/benchmarks.md). hyper still
//! serves HTTP/2 (h2c prior knowledge and TLS with ALPN `h2`), and the pipeline in
//! `handler` is the same for both.

pub mod chunked;
pub mod client;
pub mod date;
pub mod head;
pub mod io;
pub mod raw;
pub mod server;
