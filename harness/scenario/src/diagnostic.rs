//! Errors that point into the file that caused them: `file:line:col`, the span, what was expected.

use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use miette::{Diagnostic, NamedSource, SourceSpan};
use thiserror::Error;

/// A configuration file held in memory so errors can quote it.
#[derive(Clone, Debug)]
pub struct SourceFile {
    pub path: PathBuf,
    pub text: Arc<str>,
}

impl SourceFile {
    pub fn read(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Ok(Self::new(path, text))
    }

    pub fn new(path: &Path, text: impl Into<Arc<str>>) -> Self {
        Self {
            path: path.to_path_buf(),
            text: text.into(),
        }
    }

    /// 1-based line and column (in characters) of a byte offset.
    pub fn line_col(&self, offset: usize) -> (usize, usize) {
        let before = &self.text[..offset.min(self.text.len())];
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        (line, before[line_start..].chars().count() + 1)
    }

    /// An error about the text at `span`.
    pub fn error(
        &self,
        span: Range<usize>,
        message: impl Into<String>,
        help: Option<String>,
    ) -> ConfigError {
        let (line, col) = self.line_col(span.start);
        ConfigError::File(Box::new(FileError {
            location: format!("{}:{line}:{col}", self.path.display()),
            message: message.into(),
            src: NamedSource::new(self.path.display().to_string(), self.text.to_string()),
            span: span.into(),
            help,
        }))
    }

    /// Parses the whole file as TOML into `T`, turning serde's error into a located one.
    pub fn parse<T: serde::de::DeserializeOwned>(&self) -> Result<T, ConfigError> {
        toml::from_str(&self.text).map_err(|e| {
            let span = e.span().unwrap_or(0..0);
            self.error(span, e.message().trim_end(), None)
        })
    }
}

/// A value's place in its file, kept for a check the pure model cannot make (a chip name against
/// probe-rs's target database) so that check still points at the value.
#[derive(Clone, Debug)]
pub struct Located {
    source: SourceFile,
    span: Range<usize>,
}

impl Located {
    pub fn new(source: &SourceFile, span: Range<usize>) -> Self {
        Self {
            source: source.clone(),
            span,
        }
    }

    pub fn error(&self, message: impl Into<String>, help: Option<String>) -> ConfigError {
        self.source.error(self.span.clone(), message, help)
    }
}

/// One problem in one file.
#[derive(Debug, Error, Diagnostic)]
#[error("{location}: {message}")]
#[diagnostic(code(hil::config))]
pub struct FileError {
    /// `path:line:col`, also printed when the output is not a terminal.
    pub location: String,
    pub message: String,
    #[source_code]
    src: NamedSource<String>,
    #[label("here")]
    span: SourceSpan,
    #[help]
    pub help: Option<String>,
}

#[derive(Debug, Error, Diagnostic)]
pub enum ConfigError {
    #[error("{}: cannot read: {source}", path.display())]
    #[diagnostic(code(hil::io))]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    #[diagnostic(transparent)]
    File(Box<FileError>),
}

impl ConfigError {
    /// `path:line:col` where the error is, if it is inside a file.
    pub fn location(&self) -> Option<&str> {
        match self {
            ConfigError::Io { .. } => None,
            ConfigError::File(e) => Some(&e.location),
        }
    }
}

/// Every problem found in one pass, so they can all be fixed at once.
#[derive(Debug, Error, Diagnostic)]
#[error("{} configuration error{}", errors.len(), if errors.len() == 1 { "" } else { "s" })]
pub struct ConfigErrors {
    #[related]
    pub errors: Vec<ConfigError>,
}

impl From<ConfigError> for ConfigErrors {
    fn from(e: ConfigError) -> Self {
        Self { errors: vec![e] }
    }
}

/// Collects errors and turns them into a `Result` at the end of a pass.
#[derive(Debug, Default)]
pub struct Problems(Vec<ConfigError>);

impl Problems {
    pub fn push(&mut self, e: ConfigError) {
        self.0.push(e);
    }

    pub fn finish<T>(self, value: T) -> Result<T, ConfigErrors> {
        if self.0.is_empty() {
            Ok(value)
        } else {
            Err(ConfigErrors { errors: self.0 })
        }
    }
}
