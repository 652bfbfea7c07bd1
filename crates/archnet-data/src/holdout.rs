//! A contest's cut of a validation split into a **public** part, scored on the leaderboard as
//! soon as a model is validated, and a **private** part, scored at the same time but shown (and
//! decisive) only at the deadline, so that a node cannot tune its model to the score that pays.
//!
//! The cut is fixed by a seed and a count chosen when the task is created: samples are ranked by
//! a keyed hash of their index (in the order [`Samples::for_each_batch`] visits them unshuffled)
//! and the first `public_samples` of the ranking are public. The hash is SplitMix64's finaliser,
//! written out here rather than borrowed from an RNG crate so that a stored cut means the same
//! samples after any dependency upgrade.
//!
//! [`Samples::for_each_batch`]: crate::samples::Samples::for_each_batch

/// Which validation samples are private.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Holdout {
    private: Vec<bool>,
}

/// Which part of a [`Holdout`] a sample is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    /// Scored on the leaderboard at once.
    Public,
    /// Scored at the deadline.
    Private,
}

impl Holdout {
    /// The public share of a contest's validation split when the publisher does not choose one.
    pub const DEFAULT_PUBLIC_SHARE: f64 = 0.5;

    /// The cut of `samples` validation samples under `seed`, with `public_samples` of them
    /// public (at most `samples`).
    pub fn new(seed: u64, samples: usize, public_samples: usize) -> Holdout {
        let mut ranked: Vec<(u64, usize)> = (0..samples)
            .map(|i| (mix(seed ^ mix(i as u64)), i))
            .collect();
        ranked.sort_unstable();
        let mut private = vec![true; samples];
        for &(_, i) in ranked.iter().take(public_samples.min(samples)) {
            private[i] = false;
        }
        Holdout { private }
    }

    /// How many of `samples` are public at `share` (0–1), keeping at least one sample in each
    /// part when there are two or more.
    pub fn public_count(samples: usize, share: f64) -> usize {
        let n = (samples as f64 * share.clamp(0.0, 1.0)).round() as usize;
        if samples >= 2 {
            n.clamp(1, samples - 1)
        } else {
            n.min(samples)
        }
    }

    /// The part sample `index` is in; samples past the cut's end count as private.
    pub fn part(&self, index: usize) -> Part {
        if self.private.get(index).copied().unwrap_or(true) {
            Part::Private
        } else {
            Part::Public
        }
    }

    /// Samples in the public part.
    pub fn public_samples(&self) -> usize {
        self.private.iter().filter(|p| !**p).count()
    }

    /// Samples in the private part.
    pub fn private_samples(&self) -> usize {
        self.private.len() - self.public_samples()
    }
}

/// SplitMix64's output function: a bijection on `u64` that scatters nearby inputs.
fn mix(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cut_has_the_asked_size_is_fixed_by_its_seed_and_differs_between_seeds() {
        let a = Holdout::new(7, 1000, 500);
        assert_eq!(a.public_samples(), 500);
        assert_eq!(a.private_samples(), 500);
        assert_eq!(a, Holdout::new(7, 1000, 500));
        let b = Holdout::new(8, 1000, 500);
        let same = (0..1000).filter(|&i| a.part(i) == b.part(i)).count();
        assert!((400..600).contains(&same), "{same} of 1000 agree");
        // Not a prefix or an alternation: both parts reach across the whole index range.
        let public_in_first_half = (0..500).filter(|&i| a.part(i) == Part::Public).count();
        assert!((200..300).contains(&public_in_first_half));
        assert_eq!(a.part(5000), Part::Private);
        // A stored cut keeps meaning the same samples: this is the hash's value, pinned.
        assert_eq!(mix(0), 0xE220_A839_7B1D_CDAF);
    }

    #[test]
    fn both_parts_keep_a_sample() {
        assert_eq!(Holdout::public_count(10, 0.5), 5);
        assert_eq!(Holdout::public_count(10, 0.0), 1);
        assert_eq!(Holdout::public_count(10, 1.0), 9);
        assert_eq!(Holdout::public_count(1, 0.5), 1);
        assert_eq!(Holdout::public_count(0, 0.5), 0);
    }
}
