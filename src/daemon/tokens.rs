//! Counting tokens with tiktoken: the real tokenizer Walt's meter uses.
//!
//! The singletons load each encoding once per process (a fresh `o200k_base()` costs ~120 ms and
//! ~46 MB here); `encode_ordinary` treats special-token text in untrusted input as plain text.

use crate::coord::meter::Counter;
use crate::format::config::Encoding;

pub struct Tiktoken {
    bpe: &'static tiktoken_rs::CoreBPE,
}

impl Tiktoken {
    pub fn new(encoding: Encoding) -> Tiktoken {
        let bpe = match encoding {
            Encoding::O200kBase => tiktoken_rs::o200k_base_singleton(),
            Encoding::Cl100kBase => tiktoken_rs::cl100k_base_singleton(),
        };
        Tiktoken { bpe }
    }
}

impl Counter for Tiktoken {
    fn count(&self, text: &str) -> u32 {
        self.bpe.encode_ordinary(text).len() as u32
    }

    /// Large batches (the orders resumed at start-up) are shared out over the cores.
    fn count_all(&self, texts: &[&str]) -> Vec<u32> {
        crate::daemon::par::map(texts, |t| self.count(t))
    }
}
