//! The spec's two open enums, `ItemKind` and `DimensionType`: the values upstream
//! documents as variants, any other kept as its text, so that a value Elastic adds later
//! does not make a whole answer undecodable. The generator maps the spec's schemas to
//! these (`cargo xtask codegen`); a documented value decodes without an allocation.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer, de};

/// Declares an open enum: documented variants with their wire names, and `Other`.
macro_rules! open_enum {
    (
        $(#[$meta:meta])*
        $name:ident, $what:literal {
            $($(#[$variant_meta:meta])* $variant:ident = $wire:literal,)*
        }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[non_exhaustive]
        pub enum $name {
            $($(#[$variant_meta])* $variant,)*
            /// A value upstream does not document, kept as its text.
            Other(String),
        }

        impl From<&str> for $name {
            /// Reads a wire name; never fails.
            fn from(name: &str) -> Self {
                match name {
                    $($wire => Self::$variant,)*
                    other => Self::Other(other.to_string()),
                }
            }
        }

        impl $name {
            /// The wire name.
            pub fn as_str(&self) -> &str {
                match self {
                    $(Self::$variant => $wire,)*
                    Self::Other(name) => name,
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.as_str())
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                struct Name;

                impl de::Visitor<'_> for Name {
                    type Value = $name;

                    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                        f.write_str($what)
                    }

                    fn visit_str<E: de::Error>(self, name: &str) -> Result<$name, E> {
                        Ok($name::from(name))
                    }
                }

                deserializer.deserialize_str(Name)
            }
        }
    };
}

open_enum! {
    /// The kind of a resource (`ItemCosts.kind`).
    ///
    /// ```
    /// use ec_billing_api::ResourceKind;
    ///
    /// assert_eq!(ResourceKind::from("kibana"), ResourceKind::Kibana);
    /// assert_eq!(ResourceKind::from("new_thing").as_str(), "new_thing");
    /// ```
    ResourceKind, "a resource kind" {
        /// `elasticsearch`.
        Elasticsearch = "elasticsearch",
        /// `kibana`.
        Kibana = "kibana",
        /// `apm`.
        Apm = "apm",
        /// `integrations_server`.
        IntegrationsServer = "integrations_server",
        /// `appsearch`.
        Appsearch = "appsearch",
        /// `enterprise_search`.
        EnterpriseSearch = "enterprise_search",
    }
}

open_enum! {
    /// A billing dimension (`Dimension.type`).
    ///
    /// ```
    /// use ec_billing_api::Dimension;
    ///
    /// assert_eq!(Dimension::from("data_out"), Dimension::DataOut);
    /// assert_eq!(Dimension::from("data_new").to_string(), "data_new");
    /// ```
    Dimension, "a billing dimension" {
        /// `capacity`: the resources' running hours.
        Capacity = "capacity",
        /// `data_in`.
        DataIn = "data_in",
        /// `data_internode`.
        DataInternode = "data_internode",
        /// `data_out`.
        DataOut = "data_out",
        /// `storage_api`: snapshot API requests.
        StorageApi = "storage_api",
        /// `storage_bytes`: snapshot storage.
        StorageBytes = "storage_bytes",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_documented_value_and_an_unknown_one_round_trip_through_json() {
        for name in [
            "elasticsearch",
            "kibana",
            "apm",
            "integrations_server",
            "appsearch",
            "enterprise_search",
            "brand_new",
        ] {
            let kind: ResourceKind = serde_json::from_str(&format!("\"{name}\"")).unwrap();
            assert_eq!(kind.as_str(), name);
            assert_eq!(matches!(kind, ResourceKind::Other(_)), name == "brand_new");
            assert_eq!(serde_json::to_string(&kind).unwrap(), format!("\"{name}\""));
            assert_eq!(ResourceKind::from(kind.as_str()), kind);
        }
        for name in [
            "capacity",
            "data_in",
            "data_internode",
            "data_out",
            "storage_api",
            "storage_bytes",
            "brand_new",
        ] {
            let dimension: Dimension = serde_json::from_str(&format!("\"{name}\"")).unwrap();
            assert_eq!(dimension.as_str(), name);
            assert_eq!(
                matches!(dimension, Dimension::Other(_)),
                name == "brand_new"
            );
            assert_eq!(Dimension::from(dimension.as_str()), dimension);
        }
    }
}
