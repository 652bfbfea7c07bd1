#!/usr/bin/env python3
"""Reference epsilons for archnet's RDP accountant, computed by Opacus's own RDP analysis.

Run once by hand (needs numpy and scipy, and Opacus's `opacus/accountants/analysis/rdp.py`,
e.g. unpacked from `pip download --no-deps opacus==1.6.0`):

    PYTHONPATH=<folder holding opacus/accountants/analysis> python3 rdp_reference.py

The printed lines are pasted into `crates/archnet-model/src/dp.rs`'s tests. Orders: the
integers 2..=255, the set archnet's accountant uses.
"""
import rdp  # opacus/accountants/analysis/rdp.py

ORDERS = list(range(2, 256))
CASES = [
    # (sampling rate q, noise multiplier, steps, delta)
    (256 / 60000, 1.1, 60 * 60000 // 256, 1e-5),  # TF Privacy's MNIST tutorial setting
    (0.01, 1.0, 1000, 1e-5),
    (0.001, 4.0, 10000, 1e-6),
    (0.1, 0.8, 100, 1e-5),
    (0.02, 2.0, 5000, 1e-5),
]
for q, sigma, steps, delta in CASES:
    r = rdp.compute_rdp(q=q, noise_multiplier=sigma, steps=steps, orders=ORDERS)
    eps, order = rdp.get_privacy_spent(orders=ORDERS, rdp=r, delta=delta)
    print(f"({q!r}, {sigma!r}, {steps}, {delta!r}, {float(eps)!r}, {int(order)}),")
