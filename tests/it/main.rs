//! Integration tests against the simulator on loopback. One binary (each test binary links
//! DataFusion, about 1 GB), one module per area.

mod cli;
mod cli_config;
mod cli_network;
mod cli_output;
mod cli_rest;
mod cli_simulate;
mod cli_store;
mod common;
mod conformance;
mod engine;
mod faults;
mod rest;
mod robustness;
mod scan_metrics;
mod sql;
mod toy_vendor;
