//! Money: integer minor units with an ISO 4217 currency. Never floating point.

use std::fmt;

/// An ISO 4217 currency code (three upper-case ASCII letters) and its minor-unit
/// exponent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Currency([u8; 3]);

/// A currency code that is not three letters.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown currency")]
pub struct BadCurrency;

impl Currency {
    /// Parses `EUR`, `usd`… (case-insensitive; stored upper-case).
    pub fn parse(s: &str) -> Result<Self, BadCurrency> {
        let b = s.trim().as_bytes();
        if b.len() != 3 || !b.iter().all(u8::is_ascii_alphabetic) {
            return Err(BadCurrency);
        }
        Ok(Self([
            b[0].to_ascii_uppercase(),
            b[1].to_ascii_uppercase(),
            b[2].to_ascii_uppercase(),
        ]))
    }
    /// The code.
    pub fn as_str(&self) -> &str {
        // Always ASCII letters by construction.
        std::str::from_utf8(&self.0).unwrap_or("XXX")
    }
    /// Digits after the decimal point (ISO 4217): 0 for JPY/KRW/ISK…, 3 for the
    /// dinars, 2 otherwise.
    pub fn exponent(&self) -> u32 {
        match &self.0 {
            b"JPY" | b"KRW" | b"ISK" | b"CLP" | b"VND" | b"XAF" | b"XOF" | b"UGX" => 0,
            b"BHD" | b"KWD" | b"OMR" | b"JOD" | b"TND" | b"LYD" | b"IQD" => 3,
            _ => 2,
        }
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An amount of money in minor units (cents) of one currency.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Money {
    /// Minor units; negative only for ledger movements, never for prices.
    pub minor: i64,
    /// The currency.
    pub currency: Currency,
}

/// Arithmetic between different currencies, or an overflow.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MoneyError {
    /// The currencies differ.
    #[error("currency mismatch")]
    CurrencyMismatch,
    /// The result does not fit.
    #[error("amount out of range")]
    Overflow,
}

impl Money {
    /// An amount.
    pub fn new(minor: i64, currency: Currency) -> Self {
        Self { minor, currency }
    }
    /// Zero of a currency.
    pub fn zero(currency: Currency) -> Self {
        Self { minor: 0, currency }
    }
    /// Checked addition in one currency.
    pub fn checked_add(self, other: Money) -> Result<Money, MoneyError> {
        if self.currency != other.currency {
            return Err(MoneyError::CurrencyMismatch);
        }
        let minor = self
            .minor
            .checked_add(other.minor)
            .ok_or(MoneyError::Overflow)?;
        Ok(Money {
            minor,
            currency: self.currency,
        })
    }
    /// Checked subtraction in one currency.
    pub fn checked_sub(self, other: Money) -> Result<Money, MoneyError> {
        if self.currency != other.currency {
            return Err(MoneyError::CurrencyMismatch);
        }
        let minor = self
            .minor
            .checked_sub(other.minor)
            .ok_or(MoneyError::Overflow)?;
        Ok(Money {
            minor,
            currency: self.currency,
        })
    }
    /// Checked multiplication by a quantity.
    pub fn checked_mul(self, n: i64) -> Result<Money, MoneyError> {
        let minor = self.minor.checked_mul(n).ok_or(MoneyError::Overflow)?;
        Ok(Money {
            minor,
            currency: self.currency,
        })
    }
    /// `bps` basis points of this amount, rounded down (fees).
    pub fn basis_points(self, bps: u32) -> Result<Money, MoneyError> {
        let minor = (i128::from(self.minor) * i128::from(bps)) / 10_000;
        let minor = i64::try_from(minor).map_err(|_| MoneyError::Overflow)?;
        Ok(Money {
            minor,
            currency: self.currency,
        })
    }
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let exp = self.currency.exponent();
        if exp == 0 {
            return write!(f, "{} {}", self.minor, self.currency);
        }
        let div = 10i64.pow(exp);
        let sign = if self.minor < 0 { "-" } else { "" };
        let abs = self.minor.unsigned_abs();
        let div = div.unsigned_abs();
        write!(
            f,
            "{sign}{}.{:0width$} {}",
            abs / div,
            abs % div,
            self.currency,
            width = exp as usize
        )
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn money_is_checked_and_single_currency() {
        let eur = Currency::parse("eur").unwrap();
        let usd = Currency::parse("USD").unwrap();
        let a = Money::new(1050, eur);
        assert_eq!(a.to_string(), "10.50 EUR");
        assert_eq!(
            a.checked_add(Money::new(1, usd)),
            Err(MoneyError::CurrencyMismatch)
        );
        assert_eq!(
            Money::new(i64::MAX, eur).checked_add(Money::new(1, eur)),
            Err(MoneyError::Overflow)
        );
        assert_eq!(
            Money::new(10_000, eur).basis_points(250).unwrap().minor,
            250
        );
        assert_eq!(Money::new(-5, eur).to_string(), "-0.05 EUR");
        assert!(Currency::parse("EURO").is_err());
        assert_eq!(
            Money::new(500, Currency::parse("JPY").unwrap()).to_string(),
            "500 JPY"
        );
    }
}
