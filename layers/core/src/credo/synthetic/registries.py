"""Reference data sellers buy: a business and a professional registry, and a credit bureau's file.

Some customers appear in the registries under noisy spellings and address variants, as in
real purchased lists; unrelated entries fill the rest. The true links are kept for evaluation only.
"""

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from credo.synthetic.arrays import padded
from credo.synthetic.calendar import WorldCalendar
from credo.synthetic.people import CITY_NAMES, Identity, People, sigmoid

BUSINESS_SUFFIXES = ["Traders", "Enterprises", "Stores", "Textiles", "Electronics", "& Sons", "Agencies"]
BUSINESS_CATEGORIES = ["retail", "wholesale", "manufacturing", "services", "transport", "food"]
PROFESSIONS = [("Dr.", "doctor"), ("CA", "chartered_accountant"), ("Adv.", "lawyer"), ("Ar.", "architect")]
ABBREVIATIONS = {"Road": "Rd", "Street": "St", "Nagar": "Ngr", "Main": "Mn", "Cross": "Crs", "Lane": "Ln"}
CITY_VARIANTS = {"Bengaluru": "Bangalore", "Mumbai": "Bombay", "Chennai": "Madras", "Kolkata": "Calcutta"}
DECOY_SHARE = 0.6  # unrelated registry entries per linked one


@dataclass
class RegistryRows:
    columns: dict[str, list[object]]
    links: list[tuple[str, str]]  # (record_id, customer_id), evaluation only


def registry_rows(
    rng: np.random.Generator, people: People, who: Identity, cal: WorldCalendar, *, registry: str
) -> RegistryRows:
    """Registry entries for one chunk: linked customers (noisy copies) plus decoys."""
    if registry == "business":
        chance = sigmoid(-3.3 + 0.8 * people.capacity + 0.5 * (people.age_at_start > 30))
    else:
        chance = sigmoid(-4.0 + 0.9 * people.capacity + 0.6 * (people.email_type == "corporate"))
    (linked,) = np.nonzero(rng.random(people.size) < chance)
    decoys = rng.choice(people.size, int(len(linked) * DECOY_SHARE))
    cols: dict[str, list[object]] = {k: [] for k in _COLUMNS}
    links: list[tuple[str, str]] = []
    customer_ids = people.customer_id
    for row, (i, is_decoy) in enumerate([(int(i), False) for i in linked] + [(int(i), True) for i in decoys]):
        record_id = f"{registry[:3].upper()}-{people.index[0]:08d}-{row:06d}"
        if is_decoy:  # a stranger: another first name, house and pincode than anyone we know
            name = f"{rng.choice(['Mohan', 'Sita', 'Ravi', 'Usha', 'Kiran', 'Prem'])} {who.last[i]}"
            address = f"{rng.integers(400, 999)}, {who.street[i]}, {who.locality[i]}"
            pincode = who.pincode[i][:3] + f"{rng.integers(0, 1000):03d}"
        else:
            name = _noisy_name(rng, str(who.first[i]), str(who.last[i]))
            address = _address_variant(rng, str(who.house[i]), str(who.street[i]), str(who.locality[i]))
            pincode = str(who.pincode[i])
            links.append((record_id, str(customer_ids[i])))
        city = str(CITY_NAMES[people.city[i]])
        if rng.random() < 0.3:
            city = CITY_VARIANTS.get(city, city)
        if registry == "business":
            entity = f"{who.last[i]} {rng.choice(BUSINESS_SUFFIXES)}"
            category = str(rng.choice(BUSINESS_CATEGORIES))
            turnover = ["micro", "small", "medium", "large"][int(np.clip(1.5 + people.capacity[i], 0, 3))]
        else:
            title, category = PROFESSIONS[int(rng.integers(0, len(PROFESSIONS)))]
            entity = f"{title} {name}"
            turnover = "na"
        since = cal.date_of(float(people.registered_day[i]) - rng.uniform(200, 4000))
        for key, value in zip(
            _COLUMNS,
            (
                registry,
                record_id,
                name,
                entity,
                address,
                city,
                pincode,
                since.isoformat(),
                category,
                turnover,
            ),
            strict=True,
        ):
            cols[key].append(value)
    return RegistryRows(columns=cols, links=links)


_COLUMNS = (
    "registry",
    "record_id",
    "registrant_name",
    "entity_name",
    "address",
    "city",
    "pincode",
    "registered_on",
    "category",
    "turnover_band",
)


def _noisy_name(rng: np.random.Generator, first: str, last: str) -> str:
    roll = rng.random()
    if roll < 0.25:
        first = f"{first[0]}."
    elif roll < 0.5:
        first = _typo(rng, first)
    elif roll < 0.6:
        last = _typo(rng, last)
    name = f"{first} {last}"
    return name.upper() if rng.random() < 0.2 else name


def _typo(rng: np.random.Generator, word: str) -> str:
    if len(word) < 4:
        return word
    i = int(rng.integers(1, len(word) - 1))
    kind = rng.random()
    if kind < 0.4:
        return word[:i] + word[i + 1 :]  # a dropped letter
    if kind < 0.7:
        return word[:i] + word[i + 1] + word[i] + word[i + 2 :]  # swapped neighbours
    return word[:i] + word[i] + word[i:]  # a doubled letter


def _address_variant(rng: np.random.Generator, house: str, street: str, locality: str) -> str:
    if rng.random() < 0.5:
        for long, short in ABBREVIATIONS.items():
            street = street.replace(long, short)
    parts = [f"No. {house}" if rng.random() < 0.3 else house, street, locality]
    if rng.random() < 0.15:
        parts = parts[1:]  # house number missing
    return ", ".join(parts)


BUREAU_COLUMNS = (
    "bureau_id",
    "full_name",
    "phone",
    "date_of_birth",
    "pincode",
    "bureau_score",
    "tradelines",
    "enquiries_6m",
    "max_dpd_24m",
)


def bureau_rows(rng: np.random.Generator, people: People, who: Identity) -> dict[str, NDArray[np.generic]]:
    """The bureau's own file: a score for customers with a credit history elsewhere (a 'hit')."""
    age = people.age_at_start
    hit = rng.random(people.size) < sigmoid(0.2 + 0.7 * people.capacity + 0.03 * (age - 30))
    n = int(hit.sum())
    disc, cap = people.discipline[hit], people.capacity[hit]
    score = np.clip(np.round(690 + 55 * disc + 25 * cap + 50 * rng.standard_normal(n)), 300, 900)
    worst = np.select([disc < -1.6, disc < -0.9], [90, 30], 0) * (rng.random(n) < 0.7)
    return {
        # the bureau numbers people its own way: nothing in its id points at the platform's customer id
        "bureau_id": padded(rng.integers(0, 10**10, n), 10, "BUR"),
        "full_name": who.full_name[hit],
        "phone": who.phone[hit],
        "date_of_birth": who.date_of_birth[hit],
        "pincode": who.pincode[hit],
        "bureau_score": score.astype(np.int64),
        "tradelines": rng.poisson(np.exp(0.8 + 0.4 * cap)),
        "enquiries_6m": rng.poisson(np.exp(-0.3 - 0.3 * disc)),
        "max_dpd_24m": worst.astype(np.int64),
    }
