"""Privacy-preserving record linkage of customers to reference registries.

Each side encodes its own PII at the edge into keyed Bloom filters (cryptographic long-term keys,
Schnell et al. 2009): one filter for the normalised name, one for the normalised address, and a
keyed token of the pincode for blocking. The matcher sees only those encodings. It compares pairs
inside a block by the Dice coefficient of their filters and reconciles candidates one to one, each
match with a confidence. See docs/privacy.md for the choices and the attacks they answer.
"""

import hmac
import re
import string
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

import numpy as np
import pyarrow as pa
from numpy.typing import NDArray

from credo.privacy import MIN_KEY_BYTES

NAME_BITS: Final = 512
NAME_HASHES: Final = 12
ADDRESS_BITS: Final = 1024
ADDRESS_HASHES: Final = 12
NAME_WEIGHT: Final = 0.5  # the rest goes to the address
DEFAULT_THRESHOLD: Final = 0.75  # chosen on the synthetic world's precision and recall: docs/privacy.md
FULL_MARGIN: Final = 0.15  # a lead over the runner-up this large leaves the confidence undiminished

TITLES: Final = frozenset({"dr", "ca", "adv", "ar", "mr", "mrs", "ms", "shri", "smt"})
ADDRESS_ABBREVIATIONS: Final = {
    "rd": "road",
    "st": "street",
    "ngr": "nagar",
    "mn": "main",
    "crs": "cross",
    "ln": "lane",
}
ADDRESS_NOISE_WORDS: Final = frozenset({"no"})  # "No. 12" and "12" are the same house
REGISTRY_ATTRIBUTES: Final = ("category", "turnover_band", "registered_on")  # the only ones a match adds

_LINKAGE_KEY_LABEL: Final = b"credo/linkage/v1"
_ENCODE_CHUNK: Final = 65_536  # texts per chunk: bounds the code-point array at chunk x longest text
_PAIR_CHUNK: Final = 262_144  # pairs compared at once: bounds the gathered filter words
_CODEPOINT_BITS: Final = 21  # a Unicode code point fits in 21 bits, so a bigram fits in an int64
_ASCII_BIGRAMS: Final = 128 * 128
_ASCII_PUNCTUATION: Final = bytes.maketrans(string.punctuation.encode(), b" " * len(string.punctuation))
_APOSTROPHES = re.compile(r"['’`]")
_NOT_WORD = re.compile(r"[^\w\s]|_")

Words = NDArray[np.uint64]


@dataclass(frozen=True)
class Encodings:
    """What the matcher sees of people instead of their PII: keyed block tokens and Bloom filters."""

    blocks: NDArray[np.uint64]  # keyed token of the pincode, one per person
    name: Words  # (people, NAME_BITS // 64)
    address: Words  # (people, ADDRESS_BITS // 64)

    def __len__(self) -> int:
        return len(self.blocks)


def normalise_name(name: str) -> str:
    """Lower case, no punctuation, no leading titles (Dr, CA, Adv, Mr, Smt, …), single spaces."""
    tokens = _tokens(name)
    # leading only: a title comes first ("Dr. R. Gupta"), and a later "Ar" may be part of a name
    while tokens and tokens[0] in TITLES:
        tokens.pop(0)
    return " ".join(tokens)


def normalise_address(address: str) -> str:
    """Lower case, no punctuation, abbreviations spelt out (Rd → road), no "No.", single spaces."""
    return " ".join(
        [ADDRESS_ABBREVIATIONS.get(t, t) for t in _tokens(address) if t not in ADDRESS_NOISE_WORDS]
    )


def normalise_pincode(pincode: str | int) -> str:
    """The six digits of an Indian pincode (CSV readers turn "040001" into 40001)."""
    text = str(pincode).strip()
    if len(text) == 6 and text.isdigit():  # the common case, without a character loop
        return text
    digits = "".join(ch for ch in text if ch.isdigit())
    return digits.zfill(6) if digits else ""


def encode_people(
    names: Sequence[str], addresses: Sequence[str], pincodes: Sequence[str | int], key: bytes
) -> Encodings:
    """Encode each person's name, address and pincode under `key`; the PII itself is not kept."""
    if not len(names) == len(addresses) == len(pincodes):
        raise ValueError("names, addresses and pincodes must have one entry per person")
    linkage_key = _linkage_key(key)
    return Encodings(
        blocks=_block_tokens([normalise_pincode(p) for p in pincodes], linkage_key),
        name=_bloom_filters([normalise_name(n) for n in names], b"name", NAME_BITS, NAME_HASHES, linkage_key),
        address=_bloom_filters(
            [normalise_address(a) for a in addresses], b"address", ADDRESS_BITS, ADDRESS_HASHES, linkage_key
        ),
    )


def similarity(customers: Encodings, registry: Encodings) -> NDArray[np.float64]:
    """Row-wise similarity of two aligned sets of encodings: weighted Dice of name and address."""
    if len(customers) != len(registry):
        raise ValueError("similarity compares aligned rows: both sides need the same length")
    rows = np.arange(len(customers), dtype=np.int64)
    return _pair_similarity(
        customers, registry, rows, rows, (_Popcounts.of(customers), _Popcounts.of(registry))
    )


def match(
    customers: Encodings,
    customer_tokens: Sequence[str],
    registry: Encodings,
    record_ids: Sequence[str],
    *,
    threshold: float = DEFAULT_THRESHOLD,
) -> pa.Table:
    """One row per customer: token, matched, confidence in [0, 1], candidates, matched record id.

    Pairs are compared only inside a block. A pair's confidence is its similarity times its lead
    over the best competing pair (another record for the customer, or another customer for the
    record) relative to FULL_MARGIN, so ambiguity lowers it. A confidence at or above `threshold`
    is a match; such a pair is the strict best for both its customer and its record, so each
    customer keeps at most one record and each record goes to at most one customer. An unmatched
    customer reports its best (sub-threshold) confidence. Candidates count the records at or above
    `threshold` in similarity, before reconciliation.
    """
    if len(customer_tokens) != len(customers) or len(record_ids) != len(registry):
        raise ValueError("one token per customer and one record id per registry entry")
    if not 0 < threshold <= 1:
        raise ValueError("threshold must lie in (0, 1]")
    # a pair further than FULL_MARGIN below the threshold neither matches nor dents a match's lead
    pair_customer, pair_record, pair_score = _scored_pairs(customers, registry, floor=threshold - FULL_MARGIN)
    runner_up = np.maximum(_best_other(pair_customer, pair_score), _best_other(pair_record, pair_score))
    confidence = pair_score * np.clip((pair_score - runner_up) / FULL_MARGIN, 0.0, 1.0)

    n = len(customers)
    best_confidence = np.zeros(n)
    np.maximum.at(best_confidence, pair_customer, confidence)
    candidates = np.bincount(pair_customer[pair_score >= threshold], minlength=n).astype(np.int32)
    is_match = confidence >= threshold
    matched = np.zeros(n, dtype=bool)
    matched[pair_customer[is_match]] = True
    matched_ids = np.full(n, None, dtype=object)
    matched_ids[pair_customer[is_match]] = np.asarray(record_ids, dtype=object)[pair_record[is_match]]
    return pa.table(
        {
            "token": pa.array(np.asarray(customer_tokens, dtype=object), type=pa.string()),
            "matched": pa.array(matched),
            "confidence": pa.array(best_confidence),
            "candidates": pa.array(candidates),
            "record_id": pa.array(matched_ids, type=pa.string()),
        }
    )


def attach_attributes(
    matches: pa.Table, records: pa.Table, *, registry: str, attributes: Sequence[str] = REGISTRY_ATTRIBUTES
) -> pa.Table:
    """Matches with the matched records' non-PII attributes; the registry's record id is dropped.

    The record id points back into the registry (and so to a name and address): it stays at the edge.
    """
    unknown = set(attributes) - set(REGISTRY_ATTRIBUTES)
    if unknown:
        raise ValueError(f"not a non-PII registry attribute: {sorted(unknown)}")
    wanted = records.select(["record_id", *attributes])
    joined = matches.join(wanted, keys="record_id", join_type="left outer").sort_by("token")
    joined = joined.append_column("registry", pa.array([registry] * joined.num_rows, type=pa.string()))
    return joined.select(["token", "registry", "matched", "confidence", "candidates", *attributes])


def _tokens(text: str) -> list[str]:
    # apostrophes vanish ("D'Souza" → dsouza); other punctuation separates words ("No.12" → no 12)
    folded = text.casefold()
    if folded.isascii():  # the common case: bytes.translate is many times faster than re.sub
        return folded.encode().translate(_ASCII_PUNCTUATION, b"'`").decode().split()
    return _NOT_WORD.sub(" ", _APOSTROPHES.sub("", folded)).split()


def _linkage_key(key: bytes) -> bytes:
    """A sub-key for linkage alone, so encodings never relate to tokens made under the same key."""
    if len(key) < MIN_KEY_BYTES:
        raise ValueError(f"HMAC key must have at least {MIN_KEY_BYTES} bytes")
    return hmac.digest(key, _LINKAGE_KEY_LABEL, "sha256")


def _block_tokens(pincodes: list[str], linkage_key: bytes) -> NDArray[np.uint64]:
    token_of: dict[str, int] = {}  # a few thousand pincodes: each HMAC once
    for pincode in pincodes:
        if pincode not in token_of:
            digest = hmac.digest(linkage_key, b"pincode\x00" + pincode.encode(), "sha256")
            token_of[pincode] = int.from_bytes(digest[:8], "little")
    return np.fromiter((token_of[p] for p in pincodes), dtype=np.uint64, count=len(pincodes))


def _bloom_filters(texts: list[str], field: bytes, bits: int, hashes: int, linkage_key: bytes) -> Words:
    """One Bloom filter per text: the OR of the keyed filters of its padded bigrams."""
    out = np.zeros((len(texts), bits // 64), dtype=np.uint64)
    # ASCII bigrams, the usual case, index a table directly (c1·128 + c2): no sort, each HMAC once
    ascii_table = np.zeros((_ASCII_BIGRAMS, bits // 64), dtype=np.uint64)
    ascii_known = np.zeros(_ASCII_BIGRAMS, dtype=bool)
    ascii_known[0] = True  # id 0 stands for numpy's NUL padding: its filter stays empty
    for start in range(0, len(texts), _ENCODE_CHUNK):
        # a space marks each end, so first and last letters count as much as inner ones
        chunk = np.asarray([f" {t} " if t else "" for t in texts[start : start + _ENCODE_CHUNK]], dtype=str)
        width = chunk.dtype.itemsize // 4
        if width < 2:
            continue
        codepoints = chunk.view(np.uint32).reshape(len(chunk), width).astype(np.int64)
        first, second = codepoints[:, :-1], codepoints[:, 1:]
        is_ascii = (first | second) < 128
        ids = np.where(is_ascii & (second > 0), (first << 7) | second, 0)
        needed = np.flatnonzero((np.bincount(ids.ravel(), minlength=_ASCII_BIGRAMS) > 0) & ~ascii_known)
        codes = ((needed >> 7) << _CODEPOINT_BITS) | (needed & 127)
        ascii_table[needed] = _bigram_filters(codes, field, bits, hashes, linkage_key)
        ascii_known[needed] = True
        table = ascii_table
        other = ~is_ascii & (second > 0)
        if other.any():
            unique, inverse = np.unique(
                (first[other] << _CODEPOINT_BITS) | second[other], return_inverse=True
            )
            extra = _bigram_filters(unique, field, bits, hashes, linkage_key)
            table = np.concatenate([ascii_table, extra])
            ids[other] = _ASCII_BIGRAMS + inverse.reshape(-1)
        filters = out[start : start + len(chunk)]
        for column in range(width - 1):  # one pass per character position: memory stays O(chunk)
            filters |= table[ids[:, column]]
    return out


def _bigram_filters(
    bigrams: NDArray[np.int64], field: bytes, bits: int, hashes: int, linkage_key: bytes
) -> Words:
    """The filter words of each bigram alone: `hashes` keyed positions set."""
    positions = _bigram_positions(bigrams, field, bits, hashes, linkage_key)
    filters = np.zeros((len(bigrams), bits // 64), dtype=np.uint64)
    rows = np.repeat(np.arange(len(bigrams)), hashes)
    flat = positions.reshape(-1)
    np.bitwise_or.at(filters, (rows, flat // 64), np.left_shift(np.uint64(1), (flat % 64).astype(np.uint64)))
    return filters


def _bigram_positions(
    bigrams: NDArray[np.int64], field: bytes, bits: int, hashes: int, linkage_key: bytes
) -> NDArray[np.int64]:
    """Keyed positions of each bigram: independent 16-bit slices of HMAC-SHA256(field, bigram).

    Independent slices ("random hashing") rather than double hashing h1 + i·h2: the arithmetic
    progression of double hashing is what Kroll and Steinmetzer (2015) mined to break CLKs.
    """
    if bits > 1 << 16 or bits % 64:
        raise ValueError("a filter has a multiple of 64 bits, at most 65536")
    digests_per_bigram = -(-hashes // 16)
    mask = (1 << _CODEPOINT_BITS) - 1
    raw = bytearray()
    for code in bigrams.tolist():
        message = field + b"\x00" + (chr(code >> _CODEPOINT_BITS) + chr(code & mask)).encode()
        for counter in range(digests_per_bigram):
            raw += hmac.digest(linkage_key, message + bytes([counter]), "sha256")
    slices = np.frombuffer(bytes(raw), dtype="<u2").reshape(len(bigrams), 16 * digests_per_bigram)
    return (slices[:, :hashes] % bits).astype(np.int64)


def _popcounts(words: Words) -> NDArray[np.int64]:
    return np.bitwise_count(words).sum(axis=1, dtype=np.int64)


@dataclass(frozen=True)
class _Popcounts:
    """Set bits per person and field, counted once rather than once per pair."""

    name: NDArray[np.int64]
    address: NDArray[np.int64]

    @classmethod
    def of(cls, people: Encodings) -> "_Popcounts":
        return cls(name=_popcounts(people.name), address=_popcounts(people.address))


def _scored_pairs(
    customers: Encodings, registry: Encodings, *, floor: float
) -> tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.float64]]:
    """(customer, record, similarity) of every pair sharing a block, kept if at or above floor."""
    order = np.argsort(customers.blocks, kind="stable")
    sorted_blocks = customers.blocks[order]
    first = np.searchsorted(sorted_blocks, registry.blocks, side="left")
    per_record = np.searchsorted(sorted_blocks, registry.blocks, side="right") - first
    pair_record = np.repeat(np.arange(len(registry), dtype=np.int64), per_record)
    offset_in_block = np.arange(len(pair_record), dtype=np.int64) - np.repeat(
        np.cumsum(per_record) - per_record, per_record
    )
    pair_customer = order[first[pair_record] + offset_in_block].astype(np.int64)

    counts = (_Popcounts.of(customers), _Popcounts.of(registry))
    kept_customer, kept_record, kept_score = [np.zeros(0, np.int64)], [np.zeros(0, np.int64)], [np.zeros(0)]
    for start in range(0, len(pair_record), _PAIR_CHUNK):
        c, r = pair_customer[start : start + _PAIR_CHUNK], pair_record[start : start + _PAIR_CHUNK]
        score = _pair_similarity(customers, registry, c, r, counts)
        keep = score >= floor
        kept_customer.append(c[keep])
        kept_record.append(r[keep])
        kept_score.append(score[keep])
    return np.concatenate(kept_customer), np.concatenate(kept_record), np.concatenate(kept_score)


def _pair_similarity(
    customers: Encodings,
    registry: Encodings,
    customer_rows: NDArray[np.int64],
    record_rows: NDArray[np.int64],
    counts: tuple[_Popcounts, _Popcounts],
) -> NDArray[np.float64]:
    """Weighted Dice 2|A∩B| / (|A| + |B|) of name and address for the given pairs of rows."""
    left, right = counts
    name = _dice(
        _popcounts(customers.name[customer_rows] & registry.name[record_rows]),
        left.name[customer_rows] + right.name[record_rows],
    )
    address = _dice(
        _popcounts(customers.address[customer_rows] & registry.address[record_rows]),
        left.address[customer_rows] + right.address[record_rows],
    )
    return NAME_WEIGHT * name + (1 - NAME_WEIGHT) * address


def _dice(shared: NDArray[np.int64], total: NDArray[np.int64]) -> NDArray[np.float64]:
    # two empty filters share nothing: 0, not 0/0
    return np.divide(2.0 * shared, total, out=np.zeros(len(shared)), where=total > 0)


def _best_other(keys: NDArray[np.int64], scores: NDArray[np.float64]) -> NDArray[np.float64]:
    """For each pair, the best score among the other pairs with the same key (0 if there are none)."""
    if len(keys) == 0:
        return np.zeros(0)
    order = np.lexsort((-scores, keys))
    sorted_keys, sorted_scores = keys[order], scores[order]
    is_first = np.r_[True, sorted_keys[1:] != sorted_keys[:-1]]
    group = np.cumsum(is_first) - 1
    starts = np.flatnonzero(is_first)
    second = np.minimum(starts + 1, len(keys) - 1)
    has_second = (starts + 1 < len(keys)) & (sorted_keys[second] == sorted_keys[starts])
    top, runner_up = sorted_scores[starts], np.where(has_second, sorted_scores[second], 0.0)
    other = np.empty(len(keys))
    other[order] = np.where(is_first, runner_up[group], top[group])
    return other
