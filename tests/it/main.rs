//! Integration tests against the simulator on loopback. One binary (each test binary links
//! DataFusion, about 1 GB), one module per area.

mod adaptive;
mod cli;
mod cli_config;
mod cli_errors;
mod cli_flags;
mod cli_network;
mod cli_output;
#[cfg(unix)]
mod cli_prompt;
mod cli_rest;
mod cli_simulate;
mod cli_store;
mod common;
mod conformance;
mod distributed;
mod distributed_codec;
mod engine;
mod faults;
#[cfg(unix)]
mod pty;
mod rest;
mod robustness;
mod scan_metrics;
mod sql;
mod toy_vendor;
