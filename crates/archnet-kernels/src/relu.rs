//! ReLU and its gradient mask as burn-flex computes them, for the kernels that fuse a ReLU into
//! another pass (batch norm, max pooling).

/// ReLU: a NaN stays NaN.
#[inline(always)]
pub(crate) fn relu(v: f32) -> f32 {
    if passes(v) { v } else { 0.0 }
}

/// Whether the gradient passes a ReLU whose output is `out`: where it is positive or NaN.
#[inline(always)]
pub(crate) fn passes(out: f32) -> bool {
    out.is_nan() || out > 0.0
}
