//! UTC timestamps with microsecond precision, written exactly as the spec shows
//! (`2026-05-27T14:30:00.123456Z`: always six fractional digits, always `Z`).
//!
//! This module owns formatting, parsing and the monotonic clock; it must not know about files.

use std::fmt;
use std::str::FromStr;
use std::sync::atomic::{AtomicI64, Ordering};

use chrono::{DateTime, Datelike, NaiveDateTime, Timelike, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Length in bytes of a formatted timestamp (`YYYY-MM-DDTHH:MM:SS.ffffffZ`).
pub const TIMESTAMP_LEN: usize = 27;

/// A point in time as microseconds since the Unix epoch, UTC.
///
/// ```
/// use audit_runtime::Timestamp;
/// let t: Timestamp = "2026-05-27T14:30:00.123456Z".parse().unwrap();
/// assert_eq!(t.to_string(), "2026-05-27T14:30:00.123456Z");
/// assert_eq!(t.next().to_string(), "2026-05-27T14:30:00.123457Z");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(i64);

impl Timestamp {
    /// The earliest timestamp this crate writes (year 0000 would not fit the fixed width).
    pub const MIN: Timestamp = Timestamp(-62_135_596_800_000_000); // 0001-01-01T00:00:00Z
    /// The latest timestamp with a four-digit year.
    pub const MAX: Timestamp = Timestamp(253_402_300_799_999_999); // 9999-12-31T23:59:59.999999Z

    /// The current wall-clock time.
    pub fn now() -> Timestamp {
        Timestamp::from_micros(Utc::now().timestamp_micros())
    }

    /// From microseconds since the epoch, clamped to the range with a four-digit year.
    pub fn from_micros(micros: i64) -> Timestamp {
        Timestamp(micros.clamp(Self::MIN.0, Self::MAX.0))
    }

    /// Microseconds since the Unix epoch.
    pub fn as_micros(self) -> i64 {
        self.0
    }

    /// One microsecond later (saturating at [`Timestamp::MAX`]).
    #[must_use]
    pub fn next(self) -> Timestamp {
        Timestamp::from_micros(self.0.saturating_add(1))
    }

    /// Writes the fixed-width form into `out` (exactly [`TIMESTAMP_LEN`] bytes).
    pub fn write_to(self, out: &mut [u8; TIMESTAMP_LEN]) {
        let secs = self.0.div_euclid(1_000_000);
        let micros = self.0.rem_euclid(1_000_000) as u32;
        let dt = DateTime::from_timestamp(secs, 0)
            .map(|d| d.naive_utc())
            .unwrap_or(NaiveDateTime::MIN);
        let fields: [(usize, u32, usize); 7] = [
            (0, dt.year() as u32, 4),
            (5, dt.month(), 2),
            (8, dt.day(), 2),
            (11, dt.hour(), 2),
            (14, dt.minute(), 2),
            (17, dt.second(), 2),
            (20, micros, 6),
        ];
        *out = *b"0000-00-00T00:00:00.000000Z";
        for (start, mut value, width) in fields {
            for i in (start..start + width).rev() {
                out[i] = b'0' + (value % 10) as u8;
                value /= 10;
            }
        }
    }

    /// The fixed-width form as bytes.
    pub fn to_bytes(self) -> [u8; TIMESTAMP_LEN] {
        let mut out = [0u8; TIMESTAMP_LEN];
        self.write_to(&mut out);
        out
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let bytes = self.to_bytes();
        // The buffer holds only ASCII digits and separators.
        f.write_str(std::str::from_utf8(&bytes).map_err(|_| fmt::Error)?)
    }
}

/// A timestamp string that is not RFC 3339 / ISO 8601.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid timestamp {0:?}: expected ISO 8601 such as 2026-05-27T14:30:00.123456Z")]
pub struct ParseTimestampError(String);

impl FromStr for Timestamp {
    type Err = ParseTimestampError;

    /// Accepts RFC 3339 with any offset, and also the offset-less form Python's
    /// `datetime.isoformat()` gives (which drops the fraction when it is zero), read as UTC.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let text = s.trim();
        if let Ok(dt) = DateTime::parse_from_rfc3339(text) {
            return Ok(Timestamp::from_micros(dt.timestamp_micros()));
        }
        for pattern in ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f"] {
            if let Ok(naive) = NaiveDateTime::parse_from_str(text, pattern) {
                return Ok(Timestamp::from_micros(naive.and_utc().timestamp_micros()));
            }
        }
        Err(ParseTimestampError(s.to_owned()))
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let bytes = self.to_bytes();
        let text = std::str::from_utf8(&bytes).map_err(serde::ser::Error::custom)?;
        serializer.serialize_str(text)
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// Hands out strictly increasing timestamps: the wall clock, but never at or before the
/// last one handed out or observed (a clock that steps back, or two events in the same
/// microsecond, get bumped by 1 µs).
#[derive(Debug, Default)]
pub struct MonotonicClock {
    last: AtomicI64,
}

impl MonotonicClock {
    /// A clock that has seen nothing yet.
    pub const fn new() -> MonotonicClock {
        MonotonicClock {
            last: AtomicI64::new(i64::MIN),
        }
    }

    /// Records that `seen` exists (e.g. the newest event already in a file), so later
    /// timestamps come after it.
    pub fn observe(&self, seen: Timestamp) {
        self.last.fetch_max(seen.as_micros(), Ordering::AcqRel);
    }

    /// The next timestamp: `max(wanted, last + 1µs)`.
    pub fn next_after(&self, wanted: Timestamp) -> Timestamp {
        let mut last = self.last.load(Ordering::Acquire);
        loop {
            let candidate = if last == i64::MIN {
                wanted
            } else {
                wanted.max(Timestamp::from_micros(last).next())
            };
            match self.last.compare_exchange_weak(
                last,
                candidate.as_micros(),
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => return candidate,
                Err(actual) => last = actual,
            }
        }
    }

    /// The next timestamp from the wall clock.
    pub fn tick(&self) -> Timestamp {
        self.next_after(Timestamp::now())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_with_six_fraction_digits_and_z() {
        let t = Timestamp::from_micros(1_779_892_200_123_456);
        assert_eq!(t.to_string(), "2026-05-27T14:30:00.123456Z");
        assert_eq!(
            Timestamp::from_micros(0).to_string(),
            "1970-01-01T00:00:00.000000Z"
        );
        assert_eq!(
            Timestamp::from_micros(-1).to_string(),
            "1969-12-31T23:59:59.999999Z"
        );
        assert_eq!(Timestamp::MIN.to_string(), "0001-01-01T00:00:00.000000Z");
        assert_eq!(Timestamp::MAX.to_string(), "9999-12-31T23:59:59.999999Z");
    }

    #[test]
    fn matches_chrono_formatting_across_dates() {
        for micros in [
            1,
            951_782_400_000_000,
            4_102_444_799_999_999,
            1_709_164_800_654_321,
        ] {
            let ours = Timestamp::from_micros(micros).to_string();
            let chrono = DateTime::from_timestamp_micros(micros)
                .map(|d| d.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string());
            assert_eq!(Some(ours), chrono);
        }
    }

    #[test]
    fn parses_what_it_writes_and_what_python_writes() {
        let t: Timestamp = "2026-05-27T14:30:00.123456Z".parse().unwrap();
        assert_eq!(t.as_micros(), 1_779_892_200_123_456);
        let no_fraction: Timestamp = "2026-05-27T14:30:00".parse().unwrap();
        assert_eq!(no_fraction.as_micros(), 1_779_892_200_000_000);
        let offset: Timestamp = "2026-05-27T16:30:00.123456+02:00".parse().unwrap();
        assert_eq!(offset, t);
        assert!("yesterday".parse::<Timestamp>().is_err());
    }

    #[test]
    fn clock_never_repeats_or_goes_back() {
        let clock = MonotonicClock::new();
        let fixed = Timestamp::from_micros(1_000);
        let a = clock.next_after(fixed);
        let b = clock.next_after(fixed);
        let c = clock.next_after(Timestamp::from_micros(10));
        assert_eq!(a.as_micros(), 1_000);
        assert_eq!(b.as_micros(), 1_001);
        assert_eq!(c.as_micros(), 1_002);
        clock.observe(Timestamp::from_micros(5_000));
        assert_eq!(clock.next_after(fixed).as_micros(), 5_001);
    }

    #[test]
    fn clock_is_strictly_increasing_across_threads() {
        let clock = std::sync::Arc::new(MonotonicClock::new());
        let handles: Vec<_> = (0..4)
            .map(|_| {
                let clock = clock.clone();
                std::thread::spawn(move || (0..1000).map(|_| clock.tick()).collect::<Vec<_>>())
            })
            .collect();
        let mut all: Vec<Timestamp> = handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect();
        let n = all.len();
        all.sort();
        all.dedup();
        assert_eq!(all.len(), n, "two threads got the same timestamp");
    }
}
