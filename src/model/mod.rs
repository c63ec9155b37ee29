//! Plain data, no I/O: ids and names, work orders and reports, journal records, the ledger.

pub mod ledger;
pub mod order;
pub mod record;
pub mod state;
