//! A validator for the subset of JSON Schema that `docs/report.schema.json` uses: `type`
//! (with unions), `enum`, `required`, `properties`, `additionalProperties` (false or a schema),
//! `items`, `oneOf` and local `$ref`s.

use serde_json::Value;

/// Every violation of `docs/report.schema.json` by `report`.
pub fn validate_report(report: &Value) -> Vec<String> {
    let schema: Value = serde_json::from_str(include_str!("../../docs/report.schema.json")).expect("the schema is JSON");
    validate(&schema, report)
}

/// Every violation of `schema` by `value`, as `path: problem` lines.
pub fn validate(schema: &Value, value: &Value) -> Vec<String> {
    let mut errors = Vec::new();
    check(schema, schema, value, "$", &mut errors);
    errors
}

fn resolve<'a>(root: &'a Value, schema: &'a Value) -> &'a Value {
    match schema.get("$ref").and_then(Value::as_str) {
        Some(r) => r.trim_start_matches("#/").split('/').fold(root, |node, key| &node[key]),
        None => schema,
    }
}

fn type_matches(name: &str, value: &Value) -> bool {
    match name {
        "object" => value.is_object(),
        "array" => value.is_array(),
        "string" => value.is_string(),
        "integer" => value.is_i64() || value.is_u64(),
        "number" => value.is_number(),
        "boolean" => value.is_boolean(),
        "null" => value.is_null(),
        _ => false,
    }
}

fn check(root: &Value, schema: &Value, value: &Value, at: &str, errors: &mut Vec<String>) {
    let schema = resolve(root, schema);
    if let Some(options) = schema.get("oneOf").and_then(Value::as_array) {
        let passing = options.iter().filter(|o| validate_one(root, o, value)).count();
        if passing != 1 {
            errors.push(format!("{at}: matches {passing} of the oneOf choices"));
        }
    }
    if let Some(t) = schema.get("type") {
        let names: Vec<&str> = match t {
            Value::String(s) => vec![s.as_str()],
            Value::Array(a) => a.iter().filter_map(Value::as_str).collect(),
            _ => Vec::new(),
        };
        if !names.iter().any(|n| type_matches(n, value)) {
            errors.push(format!("{at}: expected {names:?}, got {value}"));
            return;
        }
    }
    if let Some(allowed) = schema.get("enum").and_then(Value::as_array) {
        if !allowed.contains(value) {
            errors.push(format!("{at}: {value} is not one of {allowed:?}"));
        }
    }
    if let Some(object) = value.as_object() {
        for key in schema.get("required").and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str) {
            if !object.contains_key(key) {
                errors.push(format!("{at}: missing {key}"));
            }
        }
        let properties = schema.get("properties").and_then(Value::as_object);
        for (key, item) in object {
            let path = format!("{at}.{key}");
            match (properties.and_then(|p| p.get(key)), schema.get("additionalProperties")) {
                (Some(sub), _) => check(root, sub, item, &path, errors),
                (None, Some(Value::Bool(false))) => errors.push(format!("{path}: not in the schema")),
                (None, Some(sub)) if sub.is_object() => check(root, sub, item, &path, errors),
                _ => {}
            }
        }
    }
    if let (Some(items), Some(array)) = (schema.get("items"), value.as_array()) {
        for (i, item) in array.iter().enumerate() {
            check(root, items, item, &format!("{at}[{i}]"), errors);
        }
    }
}

fn validate_one(root: &Value, schema: &Value, value: &Value) -> bool {
    let mut errors = Vec::new();
    check(root, schema, value, "", &mut errors);
    errors.is_empty()
}

#[test]
fn the_validator_catches_violations() {
    let bad = serde_json::json!({"schema": 2, "version": 1, "extra": true});
    let errors = validate_report(&bad);
    assert!(errors.iter().any(|e| e.contains("$.schema")), "{errors:?}");
    assert!(errors.iter().any(|e| e.contains("$.version")), "{errors:?}");
    assert!(errors.iter().any(|e| e.contains("$.extra")), "{errors:?}");
    assert!(errors.iter().any(|e| e.contains("missing outcome")), "{errors:?}");
}
