//! The states of uploads, tasks, leases and submissions: the lists the migration's CHECK
//! constraints allow (`migrations/0001_market.sql`, pinned by a test), as enums. They travel as
//! the same lowercase words in the JSON API and in the database; the words appear nowhere else
//! outside SQL text.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A state word that is not one of its enum's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {kind} state `{word}` (known: {known})")]
pub struct UnknownState {
    /// Which kind of state (`task`, `lease`, …).
    pub kind: &'static str,
    /// The word given.
    pub word: String,
    /// The words that kind knows.
    pub known: String,
}

macro_rules! states {
    ($(#[$meta:meta])* $name:ident, $kind:literal { $($(#[$vmeta:meta])* $variant:ident = $word:literal),+ $(,)? }) => {
        $(#[$meta])*
        // The words are the variants' names in lower case (a test checks `as_str` against serde);
        // `rename_all` rather than a rename per variant, which utoipa does not read through the
        // macro.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
        #[serde(rename_all = "lowercase")]
        pub enum $name {
            $($(#[$vmeta])* $variant),+
        }

        impl $name {
            /// Every state, in the migration's order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The word stored and sent for this state.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $word),+
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.pad(self.as_str())
            }
        }

        impl std::str::FromStr for $name {
            type Err = UnknownState;
            fn from_str(s: &str) -> Result<Self, UnknownState> {
                $name::ALL.iter().copied().find(|v| v.as_str() == s).ok_or_else(|| UnknownState {
                    kind: $kind,
                    word: s.to_string(),
                    known: $name::ALL.iter().map(|v| v.as_str()).collect::<Vec<_>>().join(", "),
                })
            }
        }

        /// Rows decode their state column through this.
        impl TryFrom<String> for $name {
            type Error = UnknownState;
            fn try_from(s: String) -> Result<Self, UnknownState> {
                s.parse()
            }
        }

        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                self.as_str() == *other
            }
        }
    };
}

states!(
    /// A resumable upload.
    UploadState, "upload" {
        /// Chunks are still arriving.
        Open = "open",
        /// Every chunk arrived and the whole file's SHA-256 matched.
        Complete = "complete",
    }
);

states!(
    /// A task in the queue.
    TaskState, "task" {
        /// Waiting for a node.
        Open = "open",
        /// A node holds a lease on it.
        Leased = "leased",
        /// A submitted model is being validated.
        Validating = "validating",
        /// A model was accepted and the node paid.
        Completed = "completed",
        /// No model was accepted (attempts spent or deadline passed); the fee went back.
        Failed = "failed",
    }
);

states!(
    /// A node's hold on a task.
    LeaseState, "lease" {
        /// Held, until it expires unless renewed.
        Active = "active",
        /// Ran out; the task went back to the queue.
        Expired = "expired",
        /// Ended with a submission.
        Submitted = "submitted",
    }
);

states!(
    /// A submitted model.
    SubmissionState, "submission" {
        /// Waiting for the validator.
        Pending = "pending",
        /// Claimed by a validator.
        Validating = "validating",
        /// Reached the task's bar; the node was paid.
        Accepted = "accepted",
        /// Refused, below the bar, or (in a contest) outranked at the deadline.
        Rejected = "rejected",
        /// A contest entry that ran and reached the bar on the public part: it waits for the
        /// deadline, when the private part ranks it.
        Scored = "scored",
    }
);

states!(
    /// How a task picks the model it pays for.
    TaskMode, "mode" {
        /// One node at a time; the first model over the bar is paid.
        First = "first",
        /// Up to `max_nodes` nodes at once until the deadline; the best private-part accuracy
        /// over the bar is paid.
        Contest = "contest",
    }
);

// The macro owns the derive list, so the default is written out.
#[allow(clippy::derivable_impls)]
impl Default for TaskMode {
    fn default() -> Self {
        TaskMode::First
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `as_str`, serde and the OpenAPI schema say the same word for every state.
    fn same_words<T: Serialize + std::str::FromStr + PartialEq + std::fmt::Debug + Copy>(
        all: &[T],
        word: impl Fn(T) -> &'static str,
    ) where
        <T as std::str::FromStr>::Err: std::fmt::Debug,
    {
        for &s in all {
            assert_eq!(word(s).parse::<T>().unwrap(), s);
            assert_eq!(
                serde_json::to_string(&s).unwrap(),
                format!("\"{}\"", word(s))
            );
        }
    }

    #[test]
    fn words_round_trip_and_unknown_ones_are_named() {
        same_words(UploadState::ALL, UploadState::as_str);
        same_words(TaskState::ALL, TaskState::as_str);
        same_words(LeaseState::ALL, LeaseState::as_str);
        same_words(SubmissionState::ALL, SubmissionState::as_str);
        same_words(TaskMode::ALL, TaskMode::as_str);
        let schema = serde_json::to_value(<TaskState as utoipa::PartialSchema>::schema()).unwrap();
        assert_eq!(
            schema["enum"],
            serde_json::json!(["open", "leased", "validating", "completed", "failed"]),
            "{schema}"
        );
        let err = "leasd".parse::<TaskState>().unwrap_err().to_string();
        assert!(err.contains("unknown task state `leasd`"), "{err}");
        assert!(err.contains("open, leased, validating"), "{err}");
        assert_eq!(format!("{:<8}|", LeaseState::Active), "active  |");
    }
}
