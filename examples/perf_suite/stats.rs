//! Latency distributions in bounded memory, and the medians the table reports.

/// Linear buckets below this value; above it, each power of two is split into `SUB` buckets.
const LINEAR: u64 = 256;
/// Buckets per power of two above `LINEAR`: every recorded value is within 1/128 (0.8%) of
/// the value reported for its bucket, which is finer than any ratio the suite quotes.
const SUB: u64 = 128;
/// Up to 2^41 ns (36 minutes); anything longer lands in the last bucket (the exact maximum
/// is kept apart).
const BUCKETS: usize = (LINEAR + 33 * SUB) as usize;

/// A log-linear histogram of nanoseconds (the idea of HdrHistogram, in 40 KiB): every event's
/// latency is recorded, yet memory does not grow with the number of events, so a fill to
/// 10M events can be measured without its own allocations disturbing the peak RSS.
#[derive(Clone)]
pub struct Histogram {
    counts: Vec<u64>,
    count: u64,
    max: u64,
    /// The 0-based index of the slowest value recorded (the event number, for a fill).
    max_at: u64,
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram {
            counts: vec![0; BUCKETS],
            count: 0,
            max: 0,
            max_at: 0,
        }
    }
}

fn bucket_of(v: u64) -> usize {
    if v < LINEAR {
        return v as usize;
    }
    // `v >> shift` lies in [SUB, 2 * SUB): its low bits choose the bucket within the octave.
    let shift = (64 - v.leading_zeros()) - (SUB.trailing_zeros() + 1);
    let index = LINEAR + (u64::from(shift) - 1) * SUB + ((v >> shift) - SUB);
    (index as usize).min(BUCKETS - 1)
}

/// The middle of the values that fall into bucket `i`.
fn value_of(i: usize) -> u64 {
    let i = i as u64;
    if i < LINEAR {
        return i;
    }
    let shift = (i - LINEAR) / SUB + 1;
    let mantissa = (i - LINEAR) % SUB + SUB;
    (mantissa << shift) + ((1 << shift) >> 1)
}

impl Histogram {
    pub fn record(&mut self, nanos: u64) {
        self.counts[bucket_of(nanos)] += 1;
        if nanos > self.max || self.count == 0 {
            self.max = nanos;
            self.max_at = self.count;
        }
        self.count += 1;
    }

    /// Adds `other`'s values, as if recorded after this one's (so `max_at` of a merged
    /// histogram is only meaningful for one recorder).
    pub fn merge(&mut self, other: &Histogram) {
        for (mine, theirs) in self.counts.iter_mut().zip(&other.counts) {
            *mine += theirs;
        }
        if other.max > self.max {
            self.max = other.max;
            self.max_at = self.count + other.max_at;
        }
        self.count += other.count;
    }

    pub fn count(&self) -> u64 {
        self.count
    }

    pub fn max(&self) -> u64 {
        self.max
    }

    pub fn max_at(&self) -> u64 {
        self.max_at
    }

    /// How many values were above `nanos` (to bucket precision).
    pub fn count_above(&self, nanos: u64) -> u64 {
        self.counts[bucket_of(nanos) + 1..].iter().sum()
    }

    /// The smallest value at least a fraction `q` of the values are at or below (to bucket
    /// precision); the maximum itself for `q = 1`.
    pub fn quantile(&self, q: f64) -> u64 {
        if self.count == 0 {
            return 0;
        }
        let rank = ((q * self.count as f64).ceil() as u64).clamp(1, self.count);
        if rank == self.count {
            return self.max;
        }
        let mut seen = 0;
        for (i, &n) in self.counts.iter().enumerate() {
            seen += n;
            if seen >= rank {
                return value_of(i).min(self.max);
            }
        }
        self.max
    }
}

/// The median of `values` (the mean of the middle two for an even count); 0 when empty.
pub fn median(values: impl IntoIterator<Item = f64>) -> f64 {
    let mut v: Vec<f64> = values.into_iter().filter(|x| x.is_finite()).collect();
    if v.is_empty() {
        return 0.0;
    }
    v.sort_by(f64::total_cmp);
    let mid = v.len() / 2;
    if v.len() % 2 == 1 {
        v[mid]
    } else {
        (v[mid - 1] + v[mid]) / 2.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_monotonic_and_precise() {
        let mut last = 0;
        for v in (0..5_000_000u64).step_by(7).chain([1 << 30, 1 << 40]) {
            let b = bucket_of(v);
            assert!(b >= last);
            last = b;
            let back = value_of(b);
            assert!(
                back.abs_diff(v) as f64 <= v as f64 / 128.0 + 1.0,
                "{v} -> {back}"
            );
        }
    }
}
