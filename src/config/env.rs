//! Reading settings: each value by its name, its default given once (as a typed value), and a
//! value that does not parse stops start-up with an error naming the setting.

use std::time::Duration;

use anyhow::Context;

/// Where settings come from: the environment (after `.env`), or a map in tests. Blank values
/// count as unset.
pub struct Env<'a>(pub &'a dyn Fn(&str) -> Option<String>);

impl Env<'_> {
    /// The raw value, if set.
    pub fn get(&self, key: &str) -> Option<String> {
        (self.0)(key)
    }

    /// The value parsed by `parse`, or `default` when unset; an error naming `key` when it does
    /// not parse.
    pub fn or<T>(&self, key: &str, default: T, parse: impl Fn(&str) -> Option<T>) -> anyhow::Result<T> {
        match self.get(key) {
            None => Ok(default),
            Some(raw) => parse(raw.trim()).with_context(|| format!("{key}: invalid value {raw:?}")),
        }
    }

    /// An optional value parsed by `parse` (`None` when unset).
    pub fn optional<T>(&self, key: &str, parse: impl Fn(&str) -> Option<T>) -> anyhow::Result<Option<T>> {
        self.or(key, None, |v| parse(v).map(Some))
    }
}

pub fn parse_bool(v: &str) -> Option<bool> {
    match v.to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Some(true),
        "false" | "0" | "no" | "off" => Some(false),
        _ => None,
    }
}

/// `30s`, `15m`, `24h`, `7d`, `1w`, or a bare number of seconds.
pub fn parse_duration(v: &str) -> Option<Duration> {
    let v = v.trim();
    let split = v.find(|c: char| !c.is_ascii_digit()).unwrap_or(v.len());
    let (num, unit) = v.split_at(split);
    let n: u64 = num.parse().ok()?;
    let mult = match unit.trim() {
        "" | "s" => 1,
        "m" => 60,
        "h" => 3_600,
        "d" => 86_400,
        "w" => 7 * 86_400,
        _ => return None,
    };
    n.checked_mul(mult).filter(|s| *s > 0).map(Duration::from_secs)
}

/// A whole number of minutes, at least one.
pub fn parse_minutes(v: &str) -> Option<Duration> {
    v.parse::<u64>().ok().filter(|m| *m > 0).map(|m| Duration::from_secs(m * 60))
}

/// A number at least `min`.
pub fn at_least<T: std::str::FromStr + PartialOrd>(min: T) -> impl Fn(&str) -> Option<T> {
    move |v| v.parse().ok().filter(|n| *n >= min)
}
