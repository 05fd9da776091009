//! Domain values with a rule, checked once: the imbalance level [`Zeta`] and the threshold
//! fraction [`Kappa`]. Each is built by `new` (from a number) or [`FromStr`] (from text, e.g. a
//! command-line argument), and each rule has one message ([`ValueError`]).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A value that broke its rule; the message names the value, what was given and what is
/// expected.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum ValueError {
    /// The text is not a number.
    NotANumber {
        /// The value's name, e.g. `ζ`.
        name: &'static str,
        /// The text given.
        text: String,
        /// What is expected, with an example.
        expected: &'static str,
    },
    /// The number is outside the value's range.
    OutOfRange {
        /// The value's name, e.g. `ζ`.
        name: &'static str,
        /// The number given.
        value: f64,
        /// What is expected, with an example.
        expected: &'static str,
    },
}

impl fmt::Display for ValueError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotANumber {
                name,
                text,
                expected,
            } => write!(f, "{name} = `{text}` is not a number; expected {expected}"),
            Self::OutOfRange {
                name,
                value,
                expected,
            } => {
                write!(f, "{name} = {value} is out of range; expected {expected}")?;
                // κ given as a percentage.
                if *name == Kappa::NAME && *value > 1.0 && *value < 100.0 {
                    write!(f, " (did you mean {}?)", value / 100.0)?;
                }
                Ok(())
            }
        }
    }
}

impl std::error::Error for ValueError {}

fn parse_number(name: &'static str, text: &str, expected: &'static str) -> Result<f64, ValueError> {
    let text = text.trim();
    text.parse().map_err(|_| ValueError::NotANumber {
        name,
        text: text.to_string(),
        expected,
    })
}

/// The imbalance level ζ = n0 / n1 (minority size over majority size), in (0, 1].
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd, Serialize, Deserialize)]
#[serde(try_from = "f64", into = "f64")]
pub struct Zeta(f64);

impl Zeta {
    /// The value's name in messages.
    pub const NAME: &'static str = "ζ";
    /// What a ζ must be.
    pub const EXPECTED: &'static str =
        "n0/n1 in (0, 1], e.g. 0.1 for one minority sample per ten majority samples";

    /// `zeta` if it lies in (0, 1].
    pub fn new(zeta: f64) -> Result<Self, ValueError> {
        if zeta > 0.0 && zeta <= 1.0 {
            Ok(Self(zeta))
        } else {
            Err(ValueError::OutOfRange {
                name: Self::NAME,
                value: zeta,
                expected: Self::EXPECTED,
            })
        }
    }

    /// The number.
    pub fn get(self) -> f64 {
        self.0
    }
}

impl FromStr for Zeta {
    type Err = ValueError;

    /// A number in (0, 1], e.g. `0.1`.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Self::new(parse_number(Self::NAME, text, Self::EXPECTED)?)
    }
}

impl TryFrom<f64> for Zeta {
    type Error = ValueError;
    fn try_from(zeta: f64) -> Result<Self, Self::Error> {
        Self::new(zeta)
    }
}

impl From<Zeta> for f64 {
    fn from(zeta: Zeta) -> f64 {
        zeta.0
    }
}

impl fmt::Display for Zeta {
    /// The number as written by Rust's shortest round-trip formatting.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

/// The threshold fraction κ of a time-to-threshold criterion, in (0, 1): the run has reached
/// the threshold when it has covered the fraction κ of the way (see the metrics crate).
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd, Serialize, Deserialize)]
#[serde(try_from = "f64", into = "f64")]
pub struct Kappa(f64);

impl Kappa {
    /// The value's name in messages.
    pub const NAME: &'static str = "κ";
    /// What a κ must be.
    pub const EXPECTED: &'static str = "a fraction in (0, 1), e.g. 0.9 or 0.99";

    /// `kappa` if it lies in (0, 1).
    pub fn new(kappa: f64) -> Result<Self, ValueError> {
        if kappa > 0.0 && kappa < 1.0 {
            Ok(Self(kappa))
        } else {
            Err(ValueError::OutOfRange {
                name: Self::NAME,
                value: kappa,
                expected: Self::EXPECTED,
            })
        }
    }

    /// The number.
    pub fn get(self) -> f64 {
        self.0
    }
}

impl FromStr for Kappa {
    type Err = ValueError;

    /// A number in (0, 1), e.g. `0.9`.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Self::new(parse_number(Self::NAME, text, Self::EXPECTED)?)
    }
}

impl TryFrom<f64> for Kappa {
    type Error = ValueError;
    fn try_from(kappa: f64) -> Result<Self, Self::Error> {
        Self::new(kappa)
    }
}

impl From<Kappa> for f64 {
    fn from(kappa: Kappa) -> f64 {
        kappa.0
    }
}

impl fmt::Display for Kappa {
    /// The number as written by Rust's shortest round-trip formatting.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zeta_has_one_message_per_rule() {
        assert_eq!("0.1".parse::<Zeta>().unwrap().get(), 0.1);
        assert_eq!(" 1 ".parse::<Zeta>().unwrap().get(), 1.0);
        for bad in ["0", "-0.5", "1.5", "NaN", "inf"] {
            let e = bad.parse::<Zeta>().unwrap_err().to_string();
            assert!(
                e.starts_with("ζ = ") && e.contains("is out of range; expected n0/n1 in (0, 1]"),
                "{bad}: {e}"
            );
        }
        let e = "ten".parse::<Zeta>().unwrap_err().to_string();
        assert_eq!(
            e,
            "ζ = `ten` is not a number; expected n0/n1 in (0, 1], e.g. 0.1 for one minority sample per ten majority samples"
        );
        assert_eq!(
            Zeta::new(2.0).unwrap_err(),
            "2".parse::<Zeta>().unwrap_err()
        );
    }

    #[test]
    fn kappa_excludes_both_ends_and_spots_percentages() {
        assert_eq!("0.99".parse::<Kappa>().unwrap().get(), 0.99);
        for bad in ["0", "1", "-0.1"] {
            let e = bad.parse::<Kappa>().unwrap_err().to_string();
            assert!(
                e.contains("is out of range; expected a fraction in (0, 1)"),
                "{e}"
            );
        }
        let e = "90".parse::<Kappa>().unwrap_err().to_string();
        assert!(e.ends_with("(did you mean 0.9?)"), "{e}");
        assert!("x"
            .parse::<Kappa>()
            .unwrap_err()
            .to_string()
            .contains("`x` is not a number"));
    }
}
