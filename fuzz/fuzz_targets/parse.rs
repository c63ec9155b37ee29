//! Fuzzes the one parser: any bytes, as an order, a report, either, and through lint's
//! renderer; and whatever parses clean must render to text that parses to the same value.
#![no_main]

use libfuzzer_sys::fuzz_target;
use walt::parse::{self, Author, Context};

fuzz_target!(|data: &[u8]| {
    let _ = parse::parse_any(data, Context::default());
    let walt_ctx = Context { agents: None, author: Author::Walt };
    let _ = parse::parse_report(data, walt_ctx);
    let order = parse::parse_order(data, Context::default());
    let linted = walt::lint::lint("fuzz.md", data, None);
    let _ = walt::lint::render("fuzz.md", &linted);
    if order.is_ok() {
        let again = parse::parse_order(parse::render_order(&order.value).as_bytes(), Context::default());
        assert!(again.is_ok());
        assert_eq!(again.value, order.value);
    }
});
