//! Custom user fields (`USER_FIELDS=phone:string?,plan:string=free,age:number?`), as Better
//! Auth's `user.additionalFields`: declared with a type, accepted on sign-up and `update-user`,
//! stored together in the user's `fields` column (JSON text, so a new field needs no migration)
//! and answered top-level on the user object.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::error::ApiError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldType {
    String,
    Number,
    Boolean,
}

impl FieldType {
    fn parse(word: &str) -> Option<Self> {
        match word {
            "string" => Some(Self::String),
            "number" => Some(Self::Number),
            "boolean" => Some(Self::Boolean),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::String => "string",
            Self::Number => "number",
            Self::Boolean => "boolean",
        }
    }

    /// `value` as this type: JSON values as they are; a form's text read as the type.
    fn accept(self, value: Value) -> Option<Value> {
        match (self, value) {
            (Self::String, v @ Value::String(_)) => Some(v),
            (Self::Number, v @ Value::Number(_)) => Some(v),
            (Self::Boolean, v @ Value::Bool(_)) => Some(v),
            _ => None,
        }
    }

    fn read_text(self, text: &str) -> Option<Value> {
        match self {
            Self::String => Some(Value::String(text.to_string())),
            Self::Number => serde_json::from_str::<serde_json::Number>(text.trim()).ok().map(Value::Number),
            Self::Boolean => match text {
                "true" => Some(Value::Bool(true)),
                "false" => Some(Value::Bool(false)),
                _ => None,
            },
        }
    }
}

/// One declared field: `name:type` (required), `name:type?` (optional), `name:type=default`;
/// `name:type!…` is set by admins only (sign-up and `update-user` refuse it).
#[derive(Debug, Clone, PartialEq)]
pub struct FieldSpec {
    pub name: String,
    pub kind: FieldType,
    pub optional: bool,
    pub default: Option<Value>,
    pub admin_only: bool,
}

/// The longest text a string field takes, in characters.
pub const MAX_TEXT: usize = 1000;

/// Who sets the fields: the user (sign-up, `update-user`) or an admin.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum By {
    User,
    Admin,
}

/// Keys of the user object and of the bodies that carry fields: no custom field takes them.
const RESERVED: &[&str] = &[
    "id",
    "name",
    "email",
    "emailVerified",
    "image",
    "createdAt",
    "updatedAt",
    "twoFactorEnabled",
    "username",
    "displayUsername",
    "appId",
    "role",
    "banned",
    "banReason",
    "banExpires",
    "password",
    "newPassword",
    "callbackURL",
    "rememberMe",
    "token",
    "fields",
    "data",
    "userId",
];

/// The fields `USER_FIELDS` declares (comma-separated).
pub fn parse_specs(raw: &str) -> Result<Vec<FieldSpec>, String> {
    let mut specs: Vec<FieldSpec> = Vec::new();
    for entry in raw.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        let (name, rest) = entry.split_once(':').ok_or(format!("{entry:?}: write name:type"))?;
        let (kind, default) = match rest.split_once('=') {
            Some((kind, default)) => (kind, Some(default)),
            None => (rest, None),
        };
        let (kind, optional) = match kind.strip_suffix('?') {
            Some(kind) => (kind, true),
            None => (kind, false),
        };
        let (kind, admin_only) = match kind.strip_suffix('!') {
            Some(kind) => (kind, true),
            None => (kind, false),
        };
        let valid_name = name.starts_with(|c: char| c.is_ascii_alphabetic())
            && name.len() <= 64
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !valid_name {
            return Err(format!("{name:?}: a field name is a letter, then up to 63 letters, digits or _"));
        }
        if RESERVED.contains(&name) || specs.iter().any(|s| s.name == name) {
            return Err(format!("{name:?} is taken (a user field, a body field, or declared twice)"));
        }
        let kind = FieldType::parse(kind)
            .ok_or(format!("{name}: type {kind:?} is not string, number or boolean"))?;
        let default = match default {
            Some(text) => Some(
                kind.read_text(text).ok_or(format!("{name}: default {text:?} is not a {}", kind.name()))?,
            ),
            None => None,
        };
        if admin_only && !optional && default.is_none() {
            return Err(format!(
                "{name}: a field only admins set needs `?` or a default (sign-up cannot give it)"
            ));
        }
        specs.push(FieldSpec { name: name.to_string(), kind, optional, default, admin_only });
    }
    Ok(specs)
}

/// A user's custom fields, as stored.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Fields(pub Map<String, Value>);

/// Read from the column: keys that would repeat the user's own are dropped, and text that is not
/// a JSON object (written by hand) reads as no fields, with a warning, rather than failing every
/// read of that user (writes merge into the column in SQL, so they fail until it is fixed).
impl From<String> for Fields {
    fn from(text: String) -> Self {
        let mut fields = serde_json::from_str::<Map<String, Value>>(&text).unwrap_or_else(|e| {
            tracing::warn!(error = %e, "a user's stored custom fields are not a JSON object; read as none");
            Map::new()
        });
        fields.retain(|key, _| !RESERVED.contains(&key.as_str()));
        Fields(fields)
    }
}

impl Fields {
    /// The fields' names.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.0.keys().map(String::as_str)
    }

    /// The stored form: JSON text.
    pub fn to_text(&self) -> String {
        Value::Object(self.0.clone()).to_string()
    }
}

/// How a body's values arrived: JSON keeps its types; a form's are text, read as the type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Json,
    Form,
}

/// The keys of `extra` that name no declared field: 400 `VALIDATION_ERROR` naming them; and a
/// field only admins set, given by the user.
fn refuse_unknown(specs: &[FieldSpec], extra: &Map<String, Value>, by: By) -> Result<(), ApiError> {
    let unknown: Vec<&str> =
        extra.keys().filter(|k| !specs.iter().any(|s| &s.name == *k)).map(String::as_str).collect();
    if !unknown.is_empty() {
        return Err(ApiError::Validation(format!("[body] unknown field(s): {}", unknown.join(", "))));
    }
    match specs.iter().find(|s| s.admin_only && by == By::User && extra.contains_key(&s.name)) {
        Some(spec) => Err(ApiError::Validation(format!("[body.{}] is set by an admin only", spec.name))),
        None => Ok(()),
    }
}

/// `value` for `spec`, or the error naming the field.
fn typed(spec: &FieldSpec, value: Value, source: Source) -> Result<Value, ApiError> {
    let read = match (&value, source) {
        (Value::String(text), Source::Form) => spec.kind.read_text(text),
        _ => spec.kind.accept(value),
    };
    let value = read.ok_or_else(|| {
        ApiError::Validation(format!("[body.{}] expected a {}", spec.name, spec.kind.name()))
    })?;
    if let Value::String(text) = &value
        && (text.chars().count() > MAX_TEXT || text.chars().any(char::is_control))
    {
        return Err(ApiError::Validation(format!(
            "[body.{}] at most {MAX_TEXT} characters, no control characters",
            spec.name
        )));
    }
    Ok(value)
}

/// A new user's fields from the body's other keys (`extra`): each declared field typed right, a
/// required one present, a missing one given its default; `null` is as missing.
pub fn for_new_user(
    specs: &[FieldSpec],
    extra: Map<String, Value>,
    source: Source,
    by: By,
) -> Result<Fields, ApiError> {
    refuse_unknown(specs, &extra, by)?;
    let mut extra = extra;
    let mut fields = Map::new();
    for spec in specs {
        match (extra.remove(&spec.name).filter(|v| !v.is_null()), &spec.default) {
            (Some(value), _) => {
                fields.insert(spec.name.clone(), typed(spec, value, source)?);
            }
            (None, Some(default)) => {
                fields.insert(spec.name.clone(), default.clone());
            }
            (None, None) if spec.optional => {}
            (None, None) => {
                return Err(ApiError::Validation(format!("[body.{}] Required", spec.name)));
            }
        }
    }
    Ok(Fields(fields))
}

/// The fields a user created without a form of theirs (by a provider, a passkey, the CLI) starts
/// with: the defaults. A required field without a default stays unset for them.
pub fn defaults(specs: &[FieldSpec]) -> Fields {
    Fields(specs.iter().filter_map(|s| Some((s.name.clone(), s.default.clone()?))).collect())
}

/// The change an update (`extra`) makes, as a merge patch (a key set to `null` is removed):
/// `None` when it names no field. `null` clears an optional field and puts one with a default
/// back to it; a required one cannot be cleared. Merged into the stored fields by the database,
/// so concurrent updates of different fields both hold.
pub fn patch(
    specs: &[FieldSpec],
    extra: Map<String, Value>,
    source: Source,
    by: By,
) -> Result<Option<Fields>, ApiError> {
    refuse_unknown(specs, &extra, by)?;
    if extra.is_empty() {
        return Ok(None);
    }
    let mut changes = Map::new();
    for (key, value) in extra {
        let Some(spec) = specs.iter().find(|s| s.name == key) else { continue };
        let change = match (value, &spec.default) {
            (Value::Null, Some(default)) => default.clone(),
            (Value::Null, None) if spec.optional => Value::Null,
            (Value::Null, None) => {
                return Err(ApiError::Validation(format!("[body.{key}] cannot be cleared")));
            }
            (value, _) => typed(spec, value, source)?,
        };
        changes.insert(key, change);
    }
    Ok(Some(Fields(changes)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn specs() -> Vec<FieldSpec> {
        parse_specs("phone:string?, plan:string=free, age:number?, beta:boolean").unwrap()
    }

    fn map(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn declarations_parse_and_bad_ones_say_why() {
        let s = specs();
        assert_eq!(s.len(), 4);
        assert_eq!((s[0].kind, s[0].optional, &s[0].default), (FieldType::String, true, &None));
        assert_eq!(s[1].default, Some(json!("free")));
        assert!(!s[3].optional);
        for bad in [
            "phone",
            "phone:text",
            "email:string",
            "a:number=ten",
            "x:boolean=yes",
            "1x:string",
            "a:string,a:number",
        ] {
            assert!(parse_specs(bad).is_err(), "{bad}");
        }
        assert_eq!(parse_specs("").unwrap(), vec![]);
    }

    #[test]
    fn new_users_get_typed_fields_and_defaults() {
        let got =
            for_new_user(&specs(), map(json!({"age": 41, "beta": true})), Source::Json, By::User).unwrap();
        assert_eq!(Value::Object(got.0), json!({"plan": "free", "age": 41, "beta": true}));
        let form =
            for_new_user(&specs(), map(json!({"age": "41.5", "beta": "false"})), Source::Form, By::User)
                .unwrap();
        assert_eq!(form.0["age"], json!(41.5));
        let err =
            |body: Value| for_new_user(&specs(), map(body), Source::Json, By::User).unwrap_err().to_string();
        assert_eq!(err(json!({"beta": true, "age": "41"})), "[body.age] expected a number");
        assert_eq!(err(json!({})), "[body.beta] Required");
        assert_eq!(err(json!({"beta": true, "nick": 1, "zip": 2})), "[body] unknown field(s): nick, zip");
    }

    #[test]
    fn updates_are_patches() {
        let s = specs();
        let patch = |v: Value, by| super::patch(&s, map(v), Source::Json, by);
        assert_eq!(patch(json!({}), By::User).unwrap(), None);
        let changed = patch(json!({"plan": null, "age": null, "phone": "1"}), By::User).unwrap().unwrap();
        assert_eq!(Value::Object(changed.0), json!({"plan": "free", "age": null, "phone": "1"}));
        assert!(patch(json!({"beta": "yes"}), By::User).is_err());
        assert!(patch(json!({"other": 1}), By::User).is_err());
        assert!(patch(json!({"phone": "x".repeat(MAX_TEXT + 1)}), By::User).is_err());
        assert!(patch(json!({"phone": "a\u{0}b"}), By::User).is_err());
        let strict = parse_specs("company:string,tier:string!=basic").unwrap();
        assert!(super::patch(&strict, map(json!({"company": null})), Source::Json, By::User).is_err());
        assert!(super::patch(&strict, map(json!({"tier": "gold"})), Source::Json, By::User).is_err());
        assert!(super::patch(&strict, map(json!({"tier": "gold"})), Source::Json, By::Admin).is_ok());
        assert!(parse_specs("tier:string!").is_err(), "an admin-only field needs ? or a default");
    }
}
