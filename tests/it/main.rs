//! Integration tests against the simulator on loopback. One binary (each test binary links
//! DataFusion, about 1 GB), one module per area.

mod common;
mod cli;
mod engine;
mod sql;
