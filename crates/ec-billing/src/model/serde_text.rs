//! How results are written with serde (feature `serde`): money as decimal strings with
//! every digit, read back exactly; instants are RFC 3339 UTC by jiff's own impls.

/// A `Decimal` as a string (`"0.1301"`), read back exactly from a string or a number.
#[cfg(feature = "serde")]
pub(crate) mod money {
    use rust_decimal::Decimal;
    use serde::{Deserializer, Serializer};

    pub(crate) fn serialize<S: Serializer>(
        value: &Decimal,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        serializer.collect_str(value)
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Decimal, D::Error> {
        // A string or a number, by its own digits.
        ec_billing_api::decimal_from_text_or_number(deserializer)
    }
}
