//! Quantities with units, as written in scenario files: durations (`10ms`, `1.5s`), work (`2MFLOP`),
//! speeds (`1GFLOP/s`) and rates (`20/s`). Each parses from a YAML string; an invalid one is an error
//! that says what is allowed, located by the YAML parser at the offending value.

use std::fmt;

use serde::de::{self, Deserializer, Visitor};

use crate::sim::SimTime;

const DURATION_UNITS: &[(&str, f64)] =
    &[("min", 60.0), ("ms", 1e-3), ("us", 1e-6), ("µs", 1e-6), ("ns", 1e-9), ("h", 3600.0), ("s", 1.0)];
const WORK_UNITS: &[(&str, f64)] = &[("TFLOP", 1e12), ("GFLOP", 1e9), ("MFLOP", 1e6), ("kFLOP", 1e3), ("FLOP", 1.0)];
const SPEED_UNITS: &[(&str, f64)] =
    &[("TFLOP/s", 1e12), ("GFLOP/s", 1e9), ("MFLOP/s", 1e6), ("kFLOP/s", 1e3), ("FLOP/s", 1.0)];
const SIZE_UNITS: &[(&str, f64)] =
    &[("GiB", 1073741824.0), ("MiB", 1048576.0), ("KiB", 1024.0), ("GB", 1e9), ("MB", 1e6), ("kB", 1e3), ("B", 1.0)];
const BANDWIDTH_UNITS: &[(&str, f64)] = &[
    ("GiB/s", 1073741824.0),
    ("MiB/s", 1048576.0),
    ("KiB/s", 1024.0),
    ("GB/s", 1e9),
    ("MB/s", 1e6),
    ("kB/s", 1e3),
    ("B/s", 1.0),
];
const POWER_UNITS: &[(&str, f64)] = &[("mW", 1e-3), ("kW", 1e3), ("W", 1.0)];
const RATE_UNITS: &[(&str, f64)] = &[("/min", 1.0 / 60.0), ("/ms", 1e3), ("/h", 1.0 / 3600.0), ("/s", 1.0)];

/// Parses `<number><unit>` with one of `units` (spaces allowed between), returning number × factor.
fn parse_with_units(text: &str, units: &[(&str, f64)]) -> Option<f64> {
    let text = text.trim();
    for (unit, factor) in units {
        if let Some(number) = text.strip_suffix(unit) {
            let number = number.trim();
            if number.is_empty() || number.starts_with('+') {
                return None;
            }
            let value: f64 = number.parse().ok()?;
            // The product must be finite too: `1e300TFLOP/s` overflows to infinity.
            let scaled = value * factor;
            return (value.is_finite() && scaled.is_finite()).then_some(scaled);
        }
    }
    None
}

macro_rules! unit_type {
    ($(#[$doc:meta])* $name:ident, $inner:ty, $units:expr, $what:literal, $allowed:literal, $convert:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq)]
        pub struct $name(pub $inner);

        impl $name {
            /// Parses the written form; `None` if it is not a valid quantity.
            pub fn parse(text: &str) -> Option<$name> {
                let value = parse_with_units(text, $units)?;
                if value < 0.0 {
                    return None;
                }
                Some($name(($convert)(value)))
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                struct V;
                impl<'de> Visitor<'de> for V {
                    type Value = $name;
                    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                        write!(f, "{} written as {}", $what, $allowed)
                    }
                    fn visit_str<E: de::Error>(self, text: &str) -> Result<$name, E> {
                        $name::parse(text).ok_or_else(|| E::custom(format!("invalid {} `{}`: expected {}", $what, text, $allowed)))
                    }
                }
                deserializer.deserialize_str(V)
            }
        }

        /// A string matching `<number><unit>` with the units [`Self::parse`] reads.
        impl schemars::JsonSchema for $name {
            fn schema_name() -> std::borrow::Cow<'static, str> {
                stringify!($name).into()
            }

            fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
                schemars::json_schema!({
                    "description": format!("{}: {}", $what, $allowed),
                    "type": "string",
                    "pattern": unit_pattern($units),
                })
            }
        }
    };
}

/// The pattern of work that may be negative (`-1MFLOP`), as the scenario file's normal `mean` reads it.
pub(crate) fn signed_work_pattern() -> String {
    unit_pattern(WORK_UNITS).replacen(r"^\s*", r"^\s*-?\s*", 1)
}

/// The ECMA-262 pattern of `<number><unit>` as [`parse_with_units`] reads it (a non-negative decimal
/// number, spaces around and between allowed), for the JSON Schema of scenario files.
fn unit_pattern(units: &[(&str, f64)]) -> String {
    let units: Vec<&str> = units.iter().map(|(unit, _)| *unit).collect();
    format!(r"^\s*(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?\s*(?:{})\s*$", units.join("|"))
}

unit_type!(
    /// A non-negative duration, rounded to the nanosecond.
    Duration, SimTime, DURATION_UNITS, "duration",
    "a non-negative number followed by ns, us, ms, s, min or h (e.g. `10ms`, `1.5s`)",
    SimTime::from_secs_f64
);
unit_type!(
    /// Work in FLOPs.
    Work, f64, WORK_UNITS, "work",
    "a non-negative number followed by FLOP, kFLOP, MFLOP, GFLOP or TFLOP (e.g. `2.5MFLOP`)",
    |v| v
);
unit_type!(
    /// Speed in FLOP/s.
    Speed, f64, SPEED_UNITS, "speed",
    "a non-negative number followed by FLOP/s, kFLOP/s, MFLOP/s, GFLOP/s or TFLOP/s (e.g. `200MFLOP/s`)",
    |v| v
);
unit_type!(
    /// A rate in events per second.
    Rate, f64, RATE_UNITS, "rate",
    "a non-negative number of events per unit of time: /s, /ms, /min or /h (e.g. `20/s`)",
    |v| v
);

unit_type!(
    /// A size in bytes (rounded down to a whole byte).
    Size, u64, SIZE_UNITS, "size",
    "a non-negative number followed by B, kB, MB, GB, KiB, MiB or GiB (e.g. `512KiB`)",
    |v: f64| v as u64
);
unit_type!(
    /// A bandwidth in bytes per second.
    Bandwidth, f64, BANDWIDTH_UNITS, "bandwidth",
    "a non-negative number followed by B/s, kB/s, MB/s, GB/s, KiB/s, MiB/s or GiB/s (e.g. `100MB/s`)",
    |v| v
);
unit_type!(
    /// Power in watts.
    Power, f64, POWER_UNITS, "power",
    "a non-negative number followed by mW, W or kW (e.g. `2.5W`)",
    |v| v
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_documented_forms() {
        assert_eq!(Duration::parse("10ms"), Some(Duration(SimTime(10_000_000))));
        assert_eq!(Duration::parse("1.5s"), Some(Duration(SimTime(1_500_000_000))));
        assert_eq!(Duration::parse("1250000s"), Some(Duration(SimTime(1_250_000 * 1_000_000_000))));
        assert_eq!(Duration::parse("2 min"), Some(Duration(SimTime(120_000_000_000))));
        assert_eq!(Duration::parse("250us"), Some(Duration(SimTime(250_000))));
        assert_eq!(Work::parse("2MFLOP"), Some(Work(2e6)));
        assert_eq!(Work::parse("2.5MFLOP"), Some(Work(2.5e6)));
        assert_eq!(Speed::parse("200MFLOP/s"), Some(Speed(2e8)));
        assert_eq!(Speed::parse("1GFLOP/s"), Some(Speed(1e9)));
        assert_eq!(Rate::parse("20/s"), Some(Rate(20.0)));
        assert_eq!(Rate::parse("0.8/s"), Some(Rate(0.8)));
        assert_eq!(Rate::parse("6/min"), Some(Rate(0.1)));
        assert_eq!(Power::parse("2.5W"), Some(Power(2.5)));
        assert_eq!(Power::parse("500mW"), Some(Power(0.5)));
        assert_eq!(Size::parse("512KiB"), Some(Size(524288)));
        assert_eq!(Size::parse("1.5MB"), Some(Size(1_500_000)));
        assert_eq!(Bandwidth::parse("100MB/s"), Some(Bandwidth(1e8)));
        assert_eq!(Size::parse("100MB/s"), None);
        assert_eq!(Speed::parse("1e300TFLOP/s"), None, "overflows to infinity");
        assert_eq!(Power::parse("1e308kW"), None);
    }

    #[test]
    fn rejects_bad_forms() {
        for bad in ["10", "ms", "-1s", "10 parsecs", "1e400s", "NaNs", "+1s", "10m"] {
            assert_eq!(Duration::parse(bad), None, "{bad}");
        }
        assert_eq!(Work::parse("2MFLOP/s"), None);
        assert_eq!(Speed::parse("2MFLOP"), None);
        assert_eq!(Rate::parse("20"), None);
    }
}
