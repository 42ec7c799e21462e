//! [`ProbeError`]: why running ffprobe (or ffmpeg) for a file failed,
//! shared by the child runner (`run.rs`) and the probes (`probe.rs`).

use std::fmt;

/// Why a probe failed. Names the tool and the input.
#[derive(Debug, Clone, PartialEq)]
pub enum ProbeError {
    /// The binary could not be started (not installed, wrong path).
    Missing { tool: String, cause: String },
    /// It ran and failed; `stderr` is its last words.
    Failed {
        tool: String,
        input: String,
        stderr: String,
    },
    /// It did not finish in time and was killed.
    TimedOut { tool: String, input: String },
    /// No thread could be made to read its output (the child was killed).
    NoThread { tool: String, cause: String },
    /// Its output is not what ffprobe writes.
    BadOutput { input: String, reason: String },
}

impl fmt::Display for ProbeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProbeError::Missing { tool, cause } => {
                write!(f, "cannot run {tool} ({cause}); install ffmpeg or set the `ffprobe`/`ffmpeg` paths in the config")
            }
            ProbeError::Failed {
                tool,
                input,
                stderr,
            } => write!(f, "{tool} failed on {input}: {stderr}"),
            ProbeError::TimedOut { tool, input } => {
                write!(f, "{tool} took too long on {input} and was stopped")
            }
            ProbeError::NoThread { tool, cause } => {
                write!(f, "cannot start a thread to read {tool}'s output ({cause}); the system is out of threads or memory")
            }
            ProbeError::BadOutput { input, reason } => {
                write!(f, "ffprobe output for {input} is not usable: {reason}")
            }
        }
    }
}

impl std::error::Error for ProbeError {}
