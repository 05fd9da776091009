//! Which keys of two JSON descriptions differ, for errors a person can act on.

use serde_json::Value;

/// One key whose value differs between what was expected and what was found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyDiff {
    /// Dotted path of the key, e.g. `train.lr` or `archs[1].width`.
    pub key: String,
    /// The value expected (now, from the plan), as JSON text; `(absent)` when missing.
    pub expected: String,
    /// The value found (on disk), as JSON text; `(absent)` when missing.
    pub found: String,
}

impl std::fmt::Display for KeyDiff {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "`{}`: {} now, {} on disk",
            self.key, self.expected, self.found
        )
    }
}

/// Formats differences as `` `a`: 1 now, 2 on disk; `b`: … ``.
pub fn describe(diffs: &[KeyDiff]) -> String {
    diffs
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

/// The keys (leaves) at which `expected` and `found` differ, in a stable order.
pub fn json_diff(expected: &Value, found: &Value) -> Vec<KeyDiff> {
    let mut out = Vec::new();
    walk("", expected, found, &mut out);
    out
}

fn show(v: Option<&Value>) -> String {
    match v {
        Some(v) => v.to_string(),
        None => "(absent)".into(),
    }
}

fn walk(path: &str, expected: &Value, found: &Value, out: &mut Vec<KeyDiff>) {
    let join = |k: &str| {
        if path.is_empty() {
            k.to_string()
        } else {
            format!("{path}.{k}")
        }
    };
    match (expected, found) {
        (Value::Object(a), Value::Object(b)) => {
            let mut keys: Vec<&String> = a.keys().chain(b.keys()).collect();
            keys.sort();
            keys.dedup();
            for k in keys {
                match (a.get(k), b.get(k)) {
                    (Some(x), Some(y)) => walk(&join(k), x, y, out),
                    (x, y) => out.push(KeyDiff {
                        key: join(k),
                        expected: show(x),
                        found: show(y),
                    }),
                }
            }
        }
        (Value::Array(a), Value::Array(b)) if a.len() == b.len() => {
            for (i, (x, y)) in a.iter().zip(b).enumerate() {
                walk(&format!("{path}[{i}]"), x, y, out);
            }
        }
        (a, b) if a == b => {}
        (a, b) => out.push(KeyDiff {
            key: if path.is_empty() {
                "(whole)".into()
            } else {
                path.to_string()
            },
            expected: a.to_string(),
            found: b.to_string(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn names_each_differing_leaf() {
        let a = json!({"train": {"lr": 0.05, "batch": 64}, "archs": [{"w": 1.0}], "x": 1});
        let b = json!({"train": {"lr": 0.2, "batch": 64}, "archs": [{"w": 0.5}], "y": 2});
        let d = json_diff(&a, &b);
        let keys: Vec<&str> = d.iter().map(|d| d.key.as_str()).collect();
        assert_eq!(keys, ["archs[0].w", "train.lr", "x", "y"]);
        assert_eq!(d[1].expected, "0.05");
        assert_eq!(d[1].found, "0.2");
        assert_eq!(d[2].found, "(absent)");
        assert!(json_diff(&a, &a).is_empty());
    }
}
