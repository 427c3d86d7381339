//! Time as Unix milliseconds, rendered as ISO-8601 UTC with exactly three fractional digits
//! (`2026-11-22T04:29:55.227Z`), and a clock that tests can move.

use std::{
    sync::{
        Arc,
        atomic::{AtomicI64, Ordering},
    },
    time::Duration,
};

use ::time::{OffsetDateTime, format_description::BorrowedFormatItem, macros::format_description};

const ISO_MS: &[BorrowedFormatItem<'static>] =
    format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z");

/// Unix milliseconds as the contract's timestamp string.
pub fn format_ms(ms: i64) -> String {
    let dt = OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH);
    dt.format(ISO_MS).unwrap_or_default()
}

/// Parses an RFC 3339 timestamp into Unix milliseconds.
pub fn parse_ms(s: &str) -> Option<i64> {
    let dt = OffsetDateTime::parse(s, &::time::format_description::well_known::Rfc3339).ok()?;
    i64::try_from(dt.unix_timestamp_nanos() / 1_000_000).ok()
}

pub fn duration_ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// The server's clock. Handlers read time only through it, so tests move time instead of
/// sleeping; in production the offset stays zero.
#[derive(Debug, Clone, Default)]
pub struct Clock {
    offset_ms: Arc<AtomicI64>,
}

impl Clock {
    // The one real-time read (clippy.toml forbids it elsewhere).
    #[allow(clippy::disallowed_methods)]
    pub fn now_ms(&self) -> i64 {
        let real = OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000;
        i64::try_from(real).unwrap_or(i64::MAX) + self.offset_ms.load(Ordering::Relaxed)
    }

    pub fn now(&self) -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp_nanos(i128::from(self.now_ms()) * 1_000_000)
            .unwrap_or(OffsetDateTime::UNIX_EPOCH)
    }

    /// Moves this clock (and every clone of it) forward.
    pub fn advance(&self, by: Duration) {
        self.offset_ms.fetch_add(duration_ms(by), Ordering::Relaxed);
    }
}

/// `#[serde(with = "crate::domain::time::iso")]` for `i64` millisecond fields.
pub mod iso {
    use serde::{Deserialize, Deserializer, Serializer, de::Error};

    pub fn serialize<S: Serializer>(ms: &i64, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&super::format_ms(*ms))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
        let s = String::deserialize(d)?;
        super::parse_ms(&s).ok_or_else(|| D::Error::custom("invalid timestamp"))
    }
}

/// `#[serde(with = "crate::domain::time::iso_opt")]` for optional millisecond fields (`null`
/// when absent).
pub mod iso_opt {
    use serde::{Deserialize, Deserializer, Serializer, de::Error};

    pub fn serialize<S: Serializer>(ms: &Option<i64>, s: S) -> Result<S::Ok, S::Error> {
        match ms {
            Some(ms) => s.serialize_str(&super::format_ms(*ms)),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
        match Option::<String>::deserialize(d)? {
            Some(s) => super::parse_ms(&s).map(Some).ok_or_else(|| D::Error::custom("invalid timestamp")),
            None => Ok(None),
        }
    }
}

/// Elapsed real time, for measurements (`/metrics`): how long something took, not the time of
/// day, so not the injected [`Clock`]'s business.
pub struct Stopwatch(std::time::Instant);

impl Stopwatch {
    #[allow(clippy::disallowed_methods)]
    pub fn start() -> Self {
        Self(std::time::Instant::now())
    }

    pub fn elapsed(&self) -> Duration {
        self.0.elapsed()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn three_fraction_digits_always() {
        assert_eq!(format_ms(1_795_321_795_200), "2026-11-22T04:29:55.200Z");
        assert_eq!(format_ms(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(parse_ms("2026-11-22T04:29:55.227Z"), Some(1_795_321_795_227));
    }

    #[test]
    fn clock_moves() {
        let c = Clock::default();
        let before = c.now_ms();
        c.clone().advance(Duration::from_secs(86_400));
        assert!(c.now_ms() - before >= 86_400_000);
    }
}
