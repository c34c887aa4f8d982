//! Label values: Kubernetes labels are strings, but YAML users write `rack: 7`; any scalar is
//! taken as its text.

use std::collections::BTreeMap;
use std::fmt;

use serde::de::{self, Deserializer, MapAccess, Visitor};

/// Deserializes a map whose values may be strings, numbers or booleans, as strings.
pub fn labels<'de, D: Deserializer<'de>>(de: D) -> Result<BTreeMap<String, String>, D::Error> {
    struct LabelMap;

    impl<'de> Visitor<'de> for LabelMap {
        type Value = BTreeMap<String, String>;

        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a map of label names to values")
        }

        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            let mut out = BTreeMap::new();
            while let Some(key) = map.next_key::<String>()? {
                let value = map.next_value::<LabelValue>()?;
                if out.insert(key.clone(), value.0).is_some() {
                    return Err(de::Error::custom(format!("duplicate label '{key}'")));
                }
            }
            Ok(out)
        }
    }

    de.deserialize_map(LabelMap)
}

/// Like [`labels`], for an optional field.
pub fn opt_labels<'de, D: Deserializer<'de>>(de: D) -> Result<Option<BTreeMap<String, String>>, D::Error> {
    labels(de).map(Some)
}

struct LabelValue(String);

impl<'de> de::Deserialize<'de> for LabelValue {
    fn deserialize<D: Deserializer<'de>>(de: D) -> Result<Self, D::Error> {
        struct ScalarText;

        impl Visitor<'_> for ScalarText {
            type Value = LabelValue;

            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a label value (string, number or boolean)")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<LabelValue, E> {
                Ok(LabelValue(v.to_string()))
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<LabelValue, E> {
                Ok(LabelValue(v.to_string()))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<LabelValue, E> {
                Ok(LabelValue(v.to_string()))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<LabelValue, E> {
                Ok(LabelValue(v.to_string()))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<LabelValue, E> {
                Ok(LabelValue(v.to_string()))
            }
        }

        // YAML hands a plain scalar over as written, so `ver: 1.10` keeps "1.10" (not 1.1) and
        // `rack: 007` keeps its zeros; a JSON number has no text past its value.
        if std::any::type_name::<D>().contains("serde_yaml") {
            de.deserialize_str(ScalarText)
        } else {
            de.deserialize_any(ScalarText)
        }
    }
}

/// The JSON Schema of a label map: names to strings, numbers or booleans (taken as text).
pub fn labels_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({
        "type": "object",
        "description": "Label names to values; a number or boolean is taken as its text (YAML keeps it as written: 1.10 stays \"1.10\").",
        "additionalProperties": {"type": ["string", "number", "boolean"]}
    })
}
