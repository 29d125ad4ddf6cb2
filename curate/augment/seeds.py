"""Seeds derived from names, never from worker ids or call order.

Every random draw curate makes is seeded by a hash of what it is for (the
policy's seed, the parent sample, the copy number, ...). So a result depends
only on its own recipe: the same with 1 worker or 16, and replayable alone.
"""

from __future__ import annotations

import hashlib

SEED_BITS = 32  # albumentations seeds numpy and `random`; 32 bits keep recipes readable
_SEED_MASK = (1 << SEED_BITS) - 1


def derive_seed(*parts: object) -> int:
    """A 32-bit seed from the parts' text: stable across processes, platforms and versions."""
    text = "\x1f".join(map(str, parts))
    digest = hashlib.blake2b(text.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") & _SEED_MASK  # == % 2**SEED_BITS, without a division


def sample_seed(policy_seed: int, parent_id: str, copy: int, attempt: int = 0) -> int:
    """The seed of augmented copy ``copy`` of ``parent_id`` (``attempt`` > 0 after a no-op draw)."""
    return derive_seed("augment", policy_seed, parent_id, copy, attempt)


def worker_seed(seed: int, epoch: int, worker_id: int, num_workers: int) -> int:
    """The online stream of one DataLoader worker in one epoch."""
    return derive_seed("online", seed, epoch, worker_id, num_workers)
