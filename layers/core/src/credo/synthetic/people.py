"""Customers: hidden traits, the observable attributes they shape, and registration PII."""

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from credo.reference import CITIES, EMAIL_DOMAIN_TYPES
from credo.synthetic.arrays import padded, strcat
from credo.synthetic.calendar import WorldCalendar

FloatArray = NDArray[np.float64]
BoolArray = NDArray[np.bool_]

TRAITS = ("capacity", "discipline", "cod_reliability", "engagement")
# Correlations between the hidden traits: disciplined payers tend to accept their parcels,
# and income goes with both discipline and engagement — but loosely, as in life.
TRAIT_CORRELATION = np.array(
    [
        [1.00, 0.35, 0.20, 0.30],
        [0.35, 1.00, 0.45, 0.10],
        [0.20, 0.45, 1.00, 0.15],
        [0.30, 0.10, 0.15, 1.00],
    ]
)
EXISTING_CUSTOMER_SHARE = 0.55  # registered before the world starts, up to 3 years earlier

FIRST_NAMES = np.array(
    [
        "Aarav",
        "Vivaan",
        "Aditya",
        "Vihaan",
        "Arjun",
        "Sai",
        "Reyansh",
        "Ayaan",
        "Krishna",
        "Ishaan",
        "Rohan",
        "Rahul",
        "Amit",
        "Sanjay",
        "Vijay",
        "Suresh",
        "Ramesh",
        "Rajesh",
        "Manoj",
        "Anil",
        "Deepak",
        "Karthik",
        "Pranav",
        "Nikhil",
        "Harish",
        "Gaurav",
        "Abhishek",
        "Mohit",
        "Varun",
        "Naveen",
        "Imran",
        "Farhan",
        "Joseph",
        "Thomas",
        "Gurpreet",
        "Harpreet",
        "Ananya",
        "Diya",
        "Saanvi",
        "Aadhya",
        "Pari",
        "Anika",
        "Navya",
        "Myra",
        "Sara",
        "Kiara",
        "Priya",
        "Pooja",
        "Neha",
        "Sneha",
        "Kavya",
        "Divya",
        "Anjali",
        "Shreya",
        "Meera",
        "Lakshmi",
        "Sunita",
        "Rekha",
        "Geeta",
        "Nisha",
        "Swati",
        "Ritu",
        "Fatima",
        "Ayesha",
        "Mary",
        "Simran",
        "Jaspreet",
        "Bhavna",
        "Asha",
    ]
)
LAST_NAMES = np.array(
    [
        "Sharma",
        "Verma",
        "Gupta",
        "Singh",
        "Kumar",
        "Patel",
        "Shah",
        "Mehta",
        "Reddy",
        "Rao",
        "Nair",
        "Menon",
        "Iyer",
        "Iyengar",
        "Pillai",
        "Das",
        "Bose",
        "Banerjee",
        "Chatterjee",
        "Mukherjee",
        "Ghosh",
        "Sen",
        "Joshi",
        "Kulkarni",
        "Deshpande",
        "Patil",
        "Pawar",
        "Jadhav",
        "Yadav",
        "Mishra",
        "Pandey",
        "Tiwari",
        "Dubey",
        "Chauhan",
        "Rathore",
        "Thakur",
        "Agarwal",
        "Bansal",
        "Goel",
        "Jain",
        "Khan",
        "Ahmed",
        "Qureshi",
        "Siddiqui",
        "Fernandes",
        "D'Souza",
        "Gill",
        "Sandhu",
        "Dhillon",
        "Naidu",
        "Chowdary",
        "Hegde",
        "Shetty",
        "Kamath",
        "Bhat",
        "Saxena",
        "Srivastava",
        "Tripathi",
    ]
)
STREETS = np.array(
    [
        "Gandhi",
        "MG",
        "Nehru",
        "Station",
        "Temple",
        "Market",
        "Church",
        "Lake",
        "Park",
        "Hill",
        "Canal",
        "Mill",
        "College",
        "Hospital",
        "Tilak",
        "Subhash",
        "Ambedkar",
        "Shivaji",
        "Rajaji",
        "Patel",
        "Tagore",
        "Netaji",
        "Azad",
        "Bose",
    ]
)
STREET_TYPES = np.array(["Road", "Street", "Marg", "Lane", "Nagar Main Road", "Cross"])
LOCALITIES = np.array(
    [
        "Shivaji Nagar",
        "Indira Nagar",
        "Gandhi Nagar",
        "Rajendra Nagar",
        "Civil Lines",
        "Model Town",
        "Sector 12",
        "Sector 45",
        "Jayanagar",
        "Koramangala",
        "Andheri East",
        "Salt Lake",
        "Anna Nagar",
        "Banjara Hills",
        "Vastrapur",
        "Kothrud",
        "Old City",
        "Railway Colony",
        "Cantonment",
        "New Colony",
    ]
)
WEBMAIL = np.array(["gmail.com", "gmail.com", "gmail.com", "yahoo.co.in", "outlook.com", "rediffmail.com"])
DOMAINS_BY_TYPE = {
    kind: np.array([d for d, t in EMAIL_DOMAIN_TYPES.items() if t == kind])
    for kind in ("isp", "edu", "corporate")
}
CITY_NAMES = np.array(list(CITIES))
CITY_TIERS = np.array([tier for tier, _ in CITIES.values()])
CITY_PREFIX = np.array([prefix for _, prefix in CITIES.values()])


def sigmoid(x: FloatArray) -> FloatArray:
    return 1.0 / (1.0 + np.exp(-x))


@dataclass
class People:
    """One chunk of customers: hidden traits and everything observable about them."""

    index: NDArray[np.int64]  # global customer number
    capacity: FloatArray
    discipline: FloatArray
    cod_reliability: FloatArray
    engagement: FloatArray
    order_rate: FloatArray  # expected orders per month at seasonal weight 1 (hidden)
    registered_day: FloatArray
    age_at_start: FloatArray
    city: NDArray[np.int64]  # index into CITY_NAMES
    city_tier: NDArray[np.int64]
    device: NDArray[np.str_]
    email_type: NDArray[np.str_]
    phone_verified: BoolArray
    is_premium: BoolArray
    is_auto_billing: BoolArray
    is_postpaid: BoolArray
    postpaid_open_day: FloatArray  # +inf without an account
    postpaid_limit: FloatArray

    @property
    def size(self) -> int:
        return len(self.index)

    @property
    def customer_id(self) -> NDArray[np.str_]:
        return padded(self.index, 8, "CUST")


def draw_people(rng: np.random.Generator, first_index: int, n: int, cal: WorldCalendar) -> People:
    """Draw n customers: correlated hidden traits first, then observables that depend on them."""
    traits = rng.standard_normal((n, 4)) @ np.linalg.cholesky(TRAIT_CORRELATION).T
    cap, disc, codr, eng = traits.T
    existing = rng.random(n) < EXISTING_CUSTOMER_SHARE
    registered_day = np.where(existing, -rng.uniform(0, 3 * 365, n), rng.uniform(0, cal.end_day - 45, n))
    age = np.clip(30 + 8 * rng.standard_normal(n) + 3 * cap + 2 * disc, 18, 75)
    u = 0.8 * cap + rng.standard_normal(n)
    tier = np.where(u > 0.45, 1, np.where(u > -0.55, 2, 3))
    city = _city_of_tier(rng, tier)
    device = np.where(
        0.9 * cap + rng.standard_normal(n) > 1.5, "ios", np.where(rng.random(n) < 0.1, "web", "android")
    )
    email_type = np.where(
        0.8 * cap + rng.standard_normal(n) > 1.6,
        "corporate",
        np.where(
            (age < 25) & (rng.random(n) < 0.25),
            "edu",
            np.where((tier == 3) & (rng.random(n) < 0.25), "isp", "webmail"),
        ),
    )
    is_postpaid = rng.random(n) < sigmoid(-1.7 + 0.6 * cap + 0.5 * disc + 0.6 * eng)
    open_day = registered_day + rng.exponential(120, n)
    is_postpaid &= open_day < cal.end_day - 1
    limit = np.clip(
        np.round(5000 * np.exp(0.5 * cap + 0.3 * rng.standard_normal(n)) / 500) * 500, 2000, 100_000
    )
    return People(
        index=np.arange(first_index, first_index + n, dtype=np.int64),
        capacity=cap,
        discipline=disc,
        cod_reliability=codr,
        engagement=eng,
        order_rate=np.exp(-0.42 + 0.85 * eng + 0.35 * rng.standard_normal(n)),
        registered_day=registered_day,
        age_at_start=age,
        city=city,
        city_tier=tier,
        device=device,
        email_type=email_type,
        phone_verified=rng.random(n) < sigmoid(1.6 + 0.6 * disc),
        is_premium=rng.random(n) < sigmoid(-1.3 + 0.7 * cap + 0.9 * eng),
        is_auto_billing=rng.random(n) < sigmoid(-0.9 + 1.1 * disc + 0.2 * cap),
        is_postpaid=is_postpaid,
        postpaid_open_day=np.where(is_postpaid, open_day, np.inf),
        postpaid_limit=np.where(is_postpaid, limit, 0.0),
    )


def _city_of_tier(rng: np.random.Generator, tier: NDArray[np.int64]) -> NDArray[np.int64]:
    city = np.empty(len(tier), dtype=np.int64)
    for t in (1, 2, 3):
        (members,) = np.nonzero(tier == t)
        (choices,) = np.nonzero(np.equal(CITY_TIERS, t))
        city[members] = rng.choice(choices, size=len(members))
    return city


@dataclass
class Identity:
    """Registration PII of one chunk of customers."""

    first: NDArray[np.str_]
    last: NDArray[np.str_]
    full_name: NDArray[np.str_]
    email: NDArray[np.str_]
    phone: NDArray[np.str_]
    house: NDArray[np.str_]
    street: NDArray[np.str_]
    locality: NDArray[np.str_]
    street_address: NDArray[np.str_]
    pincode: NDArray[np.str_]
    date_of_birth: NDArray[np.str_]


def draw_identity(rng: np.random.Generator, people: People, cal: WorldCalendar) -> Identity:
    """Names, emails, phones, addresses and birth dates (all PII, removed at the mining edge)."""
    n = people.size
    first = rng.choice(FIRST_NAMES, n)
    last = rng.choice(LAST_NAMES, n)
    middle = np.where(rng.random(n) < 0.15, strcat(rng.choice(list("ABCDEFGHJKLMNPRSTV"), n), ". "), "")
    full_name = strcat(first, " ", middle, last)
    handle = np.char.lower(strcat(first, ".", np.char.replace(last, "'", "")))
    handle = strcat(handle, np.where(rng.random(n) < 0.6, rng.integers(1, 9999, n).astype(str), ""))
    domain = rng.choice(WEBMAIL, n).astype("<U64")  # wide enough for every domain type
    for kind, domains in DOMAINS_BY_TYPE.items():
        mask = people.email_type == kind
        domain[mask] = rng.choice(domains, int(mask.sum()))
    email = strcat(handle, "@", domain)
    phone = strcat("+91", rng.integers(6, 10, n).astype(str), _digits(rng, n, 9))
    house = rng.integers(1, 400, n).astype(str)
    street = strcat(rng.choice(STREETS, n), " ", rng.choice(STREET_TYPES, n))
    locality = rng.choice(LOCALITIES, n)
    street_address = strcat(house, ", ", street, ", ", locality)
    pincode = strcat(CITY_PREFIX[people.city], _digits(rng, n, 3))
    birth_day = -(people.age_at_start * 365.25 + rng.uniform(0, 365, n))
    return Identity(
        first=first,
        last=last,
        full_name=full_name,
        email=email,
        phone=phone,
        house=house,
        street=street,
        locality=locality,
        street_address=street_address,
        pincode=pincode,
        date_of_birth=cal.to_iso_date(birth_day),
    )


def _digits(rng: np.random.Generator, n: int, width: int) -> NDArray[np.str_]:
    return padded(rng.integers(0, 10**width, n), width)
