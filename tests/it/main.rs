//! The one integration test binary: every module drives the real `walt` executable on a
//! temporary studio, or the library's pure parts with plain values.

mod agents;
mod answers;
mod brain;
mod cli_lint;
mod commits;
mod common;
mod confinement;
mod daemon;
mod desk;
#[cfg(feature = "failpoints")]
mod failpoints;
mod faults;
mod fixture;
mod guide;
mod hostile;
mod mcp;
mod meter;
mod operating;
mod parse_rules;
mod plan_ledger;
mod plans;
mod plans_run;
mod profiles;
mod purity;
mod real_agents;
mod reservations;
mod routing;
mod service;
mod top;
