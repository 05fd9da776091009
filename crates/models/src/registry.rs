//! The architecture registry shared by the command line and the plugin loader.

use std::fmt;
use std::sync::Arc;

use majmin_core::{Architecture, ModelError};

use crate::zoo::builtin_architectures;

/// Where a registered architecture comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// Compiled into majmin-models.
    Builtin,
    /// Loaded from the named plugin.
    Plugin(String),
}

impl fmt::Display for Source {
    /// `builtin` or `plugin:NAME`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Builtin => f.write_str("builtin"),
            Source::Plugin(name) => write!(f, "plugin:{name}"),
        }
    }
}

/// One registry entry.
#[derive(Clone)]
pub struct Entry {
    /// The architecture.
    pub architecture: Arc<dyn Architecture>,
    /// Where it comes from.
    pub source: Source,
}

impl fmt::Debug for Entry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Entry")
            .field("name", &self.architecture.name())
            .field("source", &self.source)
            .finish()
    }
}

/// Architectures by name, in registration order. Names are unique.
#[derive(Debug, Clone, Default)]
pub struct Registry {
    entries: Vec<Entry>,
}

impl Registry {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// A registry holding every built-in architecture (`mlp`, `smallcnn` and the poster's seven).
    pub fn builtin() -> Self {
        let mut r = Self::new();
        for a in builtin_architectures() {
            r.register(Arc::new(a), Source::Builtin)
                .expect("built-in names are unique");
        }
        r
    }

    /// Adds an architecture; refuses a name that is already registered (naming both sources).
    pub fn register(
        &mut self,
        architecture: Arc<dyn Architecture>,
        source: Source,
    ) -> Result<(), ModelError> {
        let name = architecture.name().to_string();
        if let Some(existing) = self.entries.iter().find(|e| e.architecture.name() == name) {
            let message = format!(
                "architecture `{name}` is already registered (source {}); names must be unique",
                existing.source
            );
            return Err(match &source {
                Source::Plugin(plugin) => ModelError::Plugin {
                    plugin: plugin.clone(),
                    message,
                },
                Source::Builtin => ModelError::Other(message),
            });
        }
        self.entries.push(Entry {
            architecture,
            source,
        });
        Ok(())
    }

    /// The architecture called `name`, or [`ModelError::UnknownArchitecture`] listing the known names.
    pub fn get(&self, name: &str) -> Result<Arc<dyn Architecture>, ModelError> {
        self.entry(name).map(|e| e.architecture.clone())
    }

    /// The entry called `name` (architecture and source).
    pub fn entry(&self, name: &str) -> Result<&Entry, ModelError> {
        self.entries
            .iter()
            .find(|e| e.architecture.name() == name)
            .ok_or_else(|| ModelError::UnknownArchitecture {
                name: name.into(),
                known: self.names().join(", "),
            })
    }

    /// Whether `name` is registered.
    pub fn contains(&self, name: &str) -> bool {
        self.entries.iter().any(|e| e.architecture.name() == name)
    }

    /// Registered names, in registration order.
    pub fn names(&self) -> Vec<String> {
        self.entries
            .iter()
            .map(|e| e.architecture.name().to_string())
            .collect()
    }

    /// The entries, in registration order.
    pub fn iter(&self) -> impl Iterator<Item = &Entry> {
        self.entries.iter()
    }

    /// Number of registered architectures.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether nothing is registered.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Name, exact parameter count for the architecture's default configuration, poster size and
    /// source of every entry.
    pub fn list(&self) -> Vec<ArchSummary> {
        self.entries
            .iter()
            .map(|e| {
                let a = &e.architecture;
                ArchSummary {
                    name: a.name().to_string(),
                    params: a.param_count(&a.default_config()),
                    poster_size: a.poster_size().map(str::to_string),
                    description: a.description().to_string(),
                    source: e.source.clone(),
                }
            })
            .collect()
    }
}

/// One line of [`Registry::list`].
#[derive(Debug, Clone, PartialEq)]
pub struct ArchSummary {
    /// Registry name.
    pub name: String,
    /// Exact parameter count for the default configuration (or why it could not be counted).
    pub params: Result<usize, ModelError>,
    /// The poster's rounded size, if any.
    pub poster_size: Option<String>,
    /// One line on the structure.
    pub description: String,
    /// Where it comes from.
    pub source: Source,
}
