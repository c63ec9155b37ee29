//! Sharing one large, independent batch out over the cores (start-up's hundred thousand order
//! files to read and parse, and their lines to count), in order, with scoped threads.

/// `items.iter().map(f).collect()`, computed by up to one thread per core (at most 8) when the
/// batch is large enough to pay for the threads.
pub fn map<T: Sync, R: Send>(items: &[T], f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get().min(8));
    if threads < 2 || items.len() < 1024 {
        return items.iter().map(f).collect();
    }
    let f = &f;
    let chunk = items.len().div_ceil(threads);
    std::thread::scope(|s| {
        let parts: Vec<_> = items
            .chunks(chunk)
            .map(|part| s.spawn(move || part.iter().map(f).collect::<Vec<R>>()))
            .collect();
        parts
            .into_iter()
            .flat_map(|p| match p.join() {
                Ok(v) => v,
                Err(panic) => std::panic::resume_unwind(panic),
            })
            .collect()
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn keeps_the_order_of_a_large_batch() {
        let items: Vec<u32> = (0..10_000).collect();
        assert_eq!(
            super::map(&items, |i| i * 2),
            (0..10_000).map(|i| i * 2).collect::<Vec<_>>()
        );
    }
}
