//! UTC timestamps with microsecond precision, written exactly as the spec shows
//! (`2026-05-27T14:30:00.123456Z`: always six fractional digits, always `Z`).
//!
//! This module owns formatting, parsing and the monotonic clock; it must not know about files.

use std::fmt;
use std::str::FromStr;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use chrono::{DateTime, NaiveDateTime};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Length in bytes of a formatted timestamp (`YYYY-MM-DDTHH:MM:SS.ffffffZ`).
pub(crate) const TIMESTAMP_LEN: usize = 27;

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

    /// What an encoded event holds where its timestamp goes until the writer, under the log's
    /// lock, knows the timestamp: [`Timestamp::MIN`]'s text, always the same width.
    pub(crate) const PLACEHOLDER: [u8; TIMESTAMP_LEN] = *b"0001-01-01T00:00:00.000000Z";

    /// The current wall-clock time.
    pub fn now() -> Timestamp {
        // `SystemTime` directly: chrono's `Utc::now` builds a calendar date on the way, which
        // is most of its cost, and every event takes this. Before the epoch the value is
        // rounded down, as chrono's `timestamp_micros` does.
        let micros = match SystemTime::now().duration_since(UNIX_EPOCH) {
            Ok(after) => i64::try_from(after.as_micros()).unwrap_or(i64::MAX),
            Err(before) => {
                let nanos = before.duration().as_nanos();
                i64::try_from(nanos.div_ceil(1000)).map_or(i64::MIN, |m| -m)
            }
        };
        Timestamp::from_micros(micros)
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
    pub(crate) fn write_to(self, out: &mut [u8; TIMESTAMP_LEN]) {
        // Counted from MIN (a midnight), which every timestamp is at or after: unsigned
        // arithmetic throughout, cheaper than flooring signed divisions, and every event is
        // stamped under the log's lock.
        let since_min = u64::try_from(self.0 - Timestamp::MIN.0).unwrap_or(0);
        let micros = (since_min % 1_000_000) as u32;
        let secs = since_min / 1_000_000;
        let of_day = (secs % 86_400) as u32;
        let (year, month, day) = civil_from_days_since_year_1(secs / 86_400);
        // Two digits at a time from a table: every event is stamped under the log's lock,
        // and a division per digit was most of the stamp's cost.
        *out = Timestamp::PLACEHOLDER;
        put_two(out, 0, year / 100);
        put_two(out, 2, year % 100);
        put_two(out, 5, month);
        put_two(out, 8, day);
        put_two(out, 11, of_day / 3600);
        put_two(out, 14, of_day / 60 % 60);
        put_two(out, 17, of_day % 60);
        put_two(out, 20, micros / 10_000);
        put_two(out, 22, micros / 100 % 100);
        put_two(out, 24, micros % 100);
    }

    /// Parses exactly the fixed-width form this crate writes, without the general parser
    /// (writers read the newest timestamp back before every event).
    pub(crate) fn parse_fixed(bytes: &[u8]) -> Option<Timestamp> {
        let b: &[u8; TIMESTAMP_LEN] = bytes.try_into().ok()?;
        if b[4] != b'-'
            || b[7] != b'-'
            || b[10] != b'T'
            || b[13] != b':'
            || b[16] != b':'
            || b[19] != b'.'
            || b[26] != b'Z'
        {
            return None;
        }
        // Every digit position checked at once, then read without further checks.
        const DIGITS: [usize; 20] = [
            0, 1, 2, 3, 5, 6, 8, 9, 11, 12, 14, 15, 17, 18, 20, 21, 22, 23, 24, 25,
        ];
        let mut not_digits = 0u8;
        for at in DIGITS {
            not_digits |= u8::from(b[at].wrapping_sub(b'0') > 9);
        }
        if not_digits != 0 {
            return None;
        }
        let two = |at: usize| i64::from(b[at] - b'0') * 10 + i64::from(b[at + 1] - b'0');
        let year = two(0) * 100 + two(2);
        let (month, day) = (two(5), two(8));
        let (hour, minute, second) = (two(11), two(14), two(17));
        let micros = two(20) * 10_000 + two(22) * 100 + two(24);
        if !(1..=12).contains(&month)
            || !(1..=31).contains(&day)
            || hour > 23
            || minute > 59
            || second > 60
        {
            return None;
        }
        let days = days_from_civil(year, month as u32, day as u32);
        let secs = days * 86_400 + hour * 3600 + minute * 60 + second;
        Some(Timestamp::from_micros(secs * 1_000_000 + micros))
    }

    /// The fixed-width form as bytes.
    pub(crate) fn to_bytes(self) -> [u8; TIMESTAMP_LEN] {
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

/// `"00"` to `"99"`, two bytes each.
const TWO_DIGITS: &[u8; 200] = b"\
    0001020304050607080910111213141516171819\
    2021222324252627282930313233343536373839\
    4041424344454647484950515253545556575859\
    6061626364656667686970717273747576777879\
    8081828384858687888990919293949596979899";

/// Writes `value` (below 100) as two digits at `out[at..at + 2]`.
#[inline]
fn put_two(out: &mut [u8; TIMESTAMP_LEN], at: usize, value: u32) {
    let i = (value % 100) as usize * 2;
    out[at] = TWO_DIGITS[i];
    out[at + 1] = TWO_DIGITS[i + 1];
}

/// Days since 0001-01-01 to (year, month, day), proleptic Gregorian (H. Hinnant's algorithm,
/// in unsigned arithmetic: the years this crate writes are all after its epoch).
fn civil_from_days_since_year_1(days: u64) -> (u32, u32, u32) {
    // Days since 0000-03-01, the start of the algorithm's 400-year eras.
    let z = days + 306;
    let era = z / 146_097;
    let doe = z % 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = (yoe + era * 400) as u32 + u32::from(month <= 2);
    (year, month, day)
}

/// Days since 1970-01-01 to (year, month, day), as Hinnant writes it: the reference the
/// unsigned version is checked against.
#[cfg(test)]
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// Days since 1970-01-01 of a (year, month, day), proleptic Gregorian (H. Hinnant's
/// algorithm).
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let yoe = year.rem_euclid(400);
    let mp = i64::from(if month > 2 { month - 3 } else { month + 9 });
    let doy = (153 * mp + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
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
        if let Some(ts) = Timestamp::parse_fixed(s.as_bytes()) {
            return Ok(ts);
        }
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
pub(crate) struct MonotonicClock {
    last: AtomicI64,
}

impl MonotonicClock {
    /// A clock that has seen nothing yet.
    pub(crate) const fn new() -> MonotonicClock {
        MonotonicClock {
            last: AtomicI64::new(i64::MIN),
        }
    }

    /// Records that `seen` exists (e.g. the newest event already in a file), so later
    /// timestamps come after it.
    pub(crate) fn observe(&self, seen: Timestamp) {
        self.last.fetch_max(seen.as_micros(), Ordering::AcqRel);
    }

    /// The next timestamp: `max(wanted, last + 1µs)`.
    pub(crate) fn next_after(&self, wanted: Timestamp) -> Timestamp {
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
    fn unsigned_civil_dates_agree_with_the_signed_algorithm() {
        let first = days_from_civil(1, 1, 1);
        for days in first..=days_from_civil(9999, 12, 31) {
            let (year, month, day) = civil_from_days(days);
            let unsigned = civil_from_days_since_year_1((days - first) as u64);
            assert_eq!(unsigned, (year as u32, month, day), "{days}");
        }
    }

    #[test]
    fn the_placeholder_is_the_earliest_timestamp() {
        assert_eq!(Timestamp::PLACEHOLDER, Timestamp::MIN.to_bytes());
    }

    proptest::proptest! {
        #[test]
        fn formatting_and_fixed_parsing_agree_with_chrono_over_the_whole_range(
            micros in Timestamp::MIN.0..=Timestamp::MAX.0,
        ) {
            let ts = Timestamp::from_micros(micros);
            let chrono = DateTime::from_timestamp_micros(micros)
                .map(|d| d.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string());
            proptest::prop_assert_eq!(Some(ts.to_string()), chrono);
            proptest::prop_assert_eq!(Timestamp::parse_fixed(&ts.to_bytes()), Some(ts));
        }
    }

    #[test]
    fn now_agrees_with_chrono() {
        let before = chrono::Utc::now().timestamp_micros();
        let now = Timestamp::now().as_micros();
        let after = chrono::Utc::now().timestamp_micros();
        assert!(before <= now && now <= after, "{before} {now} {after}");
    }

    #[test]
    fn fixed_parser_agrees_with_chrono() {
        for micros in [
            0,
            1,
            -1,
            951_782_400_000_000,
            4_102_444_799_999_999,
            1_709_164_800_654_321,
            Timestamp::MIN.0,
            Timestamp::MAX.0,
        ] {
            let text = Timestamp::from_micros(micros).to_string();
            assert_eq!(
                Timestamp::parse_fixed(text.as_bytes()),
                Some(Timestamp::from_micros(micros)),
                "{text}"
            );
            let chrono = DateTime::parse_from_rfc3339(&text)
                .unwrap()
                .timestamp_micros();
            assert_eq!(chrono, micros);
        }
        for bad in [
            "2026-13-01T00:00:00.000000Z",
            "2026-01-01T00:00:00.00000xZ",
            "2026-01-01 00:00:00.000000Z",
            "",
        ] {
            assert_eq!(Timestamp::parse_fixed(bad.as_bytes()), None, "{bad}");
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
                std::thread::spawn(move || {
                    (0..1000)
                        .map(|_| clock.next_after(Timestamp::now()))
                        .collect::<Vec<_>>()
                })
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
