//! The formal privacy guarantee an encrypted dataset carries when its key adds noise (the
//! `private` key family): plain numbers, written by the key's accountant and read by anyone.

use serde::{Deserialize, Serialize};

/// The noise mechanism a guarantee is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PrivacyMechanism {
    /// Each image's code is scaled to L2 norm at most `clip_norm`, then independent Gaussian
    /// noise of standard deviation `sigma` is added to every value: any two images' codes differ
    /// by at most `sensitivity = 2 · clip_norm`.
    Gaussian,
}

/// A per-image (ε, δ) local differential-privacy guarantee: for *any* two images x and x' and
/// any set S of outputs, P[E1(x) ∈ S] ≤ e^ε · P[E1(x') ∈ S] + δ, over the encryption noise, for
/// all `releases` ciphertexts of one image taken together. It holds against every attacker,
/// whatever they know (the key's weights included), because it follows from the clipping and the
/// noise alone. It says nothing about data the key was *trained* on beyond its ciphertexts: the
/// key's weights themselves are not covered, which is one reason they never leave the publisher.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PrivacyGuarantee {
    /// Which mechanism.
    pub mechanism: PrivacyMechanism,
    /// L2 norm every code is scaled to (at most).
    pub clip_norm: f64,
    /// Standard deviation of the noise added to every code value.
    pub sigma: f64,
    /// L2 sensitivity of the code between any two images (`2 · clip_norm`).
    pub sensitivity: f64,
    /// ε of the guarantee.
    pub epsilon: f64,
    /// δ of the guarantee.
    pub delta: f64,
    /// How many encryptions of each image the (ε, δ) covers together (1 for one dataset; more
    /// encryptions of the same image compose and need a larger ε).
    pub releases: u64,
}
