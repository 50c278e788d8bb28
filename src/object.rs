//! Typed Kubernetes objects that keep every field they do not name.
//!
//! The webhook patches what users wrote; it must never drop or rewrite a field because
//! its model did not know it. Each model struct is declared with [`object!`]: its named
//! fields are typed `Option`s (absent and `null` are both "not set", as in Kubernetes),
//! and every other key lands in [`Extra`] and is written back unchanged.
//!
//! Unknown fields are kept as their raw JSON text, not decoded into a `serde_json::Value`
//! tree: a `managedFields` list costs one allocation instead of hundreds, and re-encoding
//! writes back exactly what was read. `#[serde(flatten)]` would also keep them, but it
//! buffers every object into serde's private content tree first; the macro decodes keys
//! directly.

use std::fmt;

use serde::de::{self, Deserialize, DeserializeOwned, Deserializer, Visitor};
use serde::{Serialize, Serializer};
use serde_json::Value;
use serde_json::value::RawValue;

use crate::field::{FieldError, Path};

/// A JSON value kept as the text it was read from.
///
/// Two are equal when their texts are, or else when they mean the same JSON (so that key
/// order or spacing never reads as a change).
#[derive(Debug, Clone)]
pub struct RawJson(pub Box<RawValue>);

impl RawJson {
    /// The JSON text.
    pub fn get(&self) -> &str {
        self.0.get()
    }

    /// Encodes a value.
    pub fn from_value(value: &impl Serialize) -> Result<Self, serde_json::Error> {
        serde_json::value::to_raw_value(value).map(RawJson)
    }

    /// Decodes the text as `T`; a malformed field is reported at its path below `at`.
    pub fn decode<T: DeserializeOwned>(&self, at: &str) -> Result<T, FieldError> {
        let mut de = serde_json::Deserializer::from_str(self.get());
        serde_path_to_error::deserialize(&mut de).map_err(|e| {
            let mut err = crate::ibgu::decode_error(e);
            let inner = err.field.as_str().to_owned();
            err.field = match (at, inner.as_str()) {
                (a, "") => Path::from(a),
                (a, i) if i.starts_with('[') => Path::from(format!("{a}{i}").as_str()),
                (a, i) => Path::from(format!("{a}.{i}").as_str()),
            };
            err
        })
    }

    fn value(&self) -> Option<Value> {
        serde_json::from_str(self.get()).ok()
    }
}

impl PartialEq for RawJson {
    fn eq(&self, other: &Self) -> bool {
        self.get() == other.get() || (self.value().is_some() && self.value() == other.value())
    }
}

impl Serialize for RawJson {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(s)
    }
}

impl<'de> Deserialize<'de> for RawJson {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Box::<RawValue>::deserialize(d).map(RawJson)
    }
}

/// Fields of an object that the model does not name, kept as written, in input order.
#[derive(Debug, Clone, Default)]
pub struct Extra(pub Vec<(String, RawJson)>);

impl Extra {
    /// The raw value of an unknown field.
    pub fn get(&self, key: &str) -> Option<&RawJson> {
        self.0.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    /// Sets an unknown field, replacing an earlier value of the same key.
    pub fn insert(&mut self, key: String, value: RawJson) {
        match self.0.iter_mut().find(|(k, _)| *k == key) {
            Some(slot) => slot.1 = value,
            None => self.0.push((key, value)),
        }
    }

    /// True when there are no unknown fields.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl PartialEq for Extra {
    fn eq(&self, other: &Self) -> bool {
        self.0.len() == other.0.len() && self.0.iter().all(|(k, v)| other.get(k) == Some(v))
    }
}

/// An object key, borrowed from the input when the format allows it.
#[doc(hidden)]
pub enum Key<'de> {
    Borrowed(&'de str),
    Owned(String),
}

impl Key<'_> {
    /// The key as text.
    pub fn as_str(&self) -> &str {
        match self {
            Key::Borrowed(s) => s,
            Key::Owned(s) => s,
        }
    }

    /// The key as an owned string.
    pub fn into_string(self) -> String {
        match self {
            Key::Borrowed(s) => s.to_owned(),
            Key::Owned(s) => s,
        }
    }
}

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl<'de> Visitor<'de> for KeyVisitor {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string key")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Key<'de>, E> {
                Ok(Key::Borrowed(v))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Key<'de>, E> {
                Ok(Key::Owned(v.to_owned()))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Key<'de>, E> {
                Ok(Key::Owned(v))
            }
        }
        d.deserialize_str(KeyVisitor)
    }
}

/// Declares a model struct whose fields are `Option`s keyed by their JSON names, plus
/// an [`Extra`] for everything else, with the matching `Serialize` and `Deserialize`.
///
/// Fields after `stored_only:` matter only in the stored object (an update cannot change
/// them, like `status`): they are read by `Deserialize`, skipped by
/// `deserialize_fields(d, false)` (for the incoming object), and never written back.
macro_rules! object {
    (
        $(#[$meta:meta])*
        pub struct $name:ident {
            $( $(#[$fmeta:meta])* $json:literal => $field:ident : $ty:ty, )*
            $( stored_only: $( $(#[$smeta:meta])* $sjson:literal => $sfield:ident : $sty:ty, )* )?
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Default, PartialEq)]
        pub struct $name {
            $( $(#[$fmeta])* pub $field: Option<$ty>, )*
            $( $( $(#[$smeta])* pub $sfield: Option<$sty>, )* )?
            /// Fields this model does not name, kept as written.
            pub extra: $crate::object::Extra,
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                use serde::ser::SerializeMap;
                let mut map = serializer.serialize_map(None)?;
                $( if let Some(v) = &self.$field { map.serialize_entry($json, v)?; } )*
                for (k, v) in &self.extra.0 {
                    map.serialize_entry(k, v)?;
                }
                map.end()
            }
        }

        impl $name {
            /// Decodes the object; `stored_only` fields are read only when `stored`.
            #[allow(dead_code)]
            pub(crate) fn deserialize_fields<'de, D: serde::Deserializer<'de>>(
                d: D,
                stored: bool,
            ) -> Result<Self, D::Error> {
                struct ObjectVisitor {
                    #[allow(dead_code)]
                    stored: bool,
                }
                impl<'de> serde::de::Visitor<'de> for ObjectVisitor {
                    type Value = $name;
                    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                        f.write_str("an object")
                    }
                    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<$name, A::Error> {
                        let mut out = $name::default();
                        while let Some(key) = map.next_key::<$crate::object::Key<'de>>()? {
                            match key.as_str() {
                                $( $json => out.$field = map.next_value()?, )*
                                $( $( $sjson if self.stored => out.$sfield = map.next_value()?,
                                      $sjson => { map.next_value::<serde::de::IgnoredAny>()?; } )* )?
                                _ => {
                                    let v: $crate::object::RawJson = map.next_value()?;
                                    out.extra.insert(key.into_string(), v);
                                }
                            }
                        }
                        Ok(out)
                    }
                }
                d.deserialize_map(ObjectVisitor { stored })
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                Self::deserialize_fields(d, true)
            }
        }
    };
}

pub(crate) use object;
