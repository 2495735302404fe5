"""Small public reference tables used at the mining edge to turn PII into coarse attributes.

City → tier follows the common Indian classification (tier 1 metros, tier 2 large cities,
tier 3 the rest). Email domains are grouped by type so that the domain itself never leaves
the edge, only its type.
"""

from typing import Final

# city → (tier, 3-digit pincode prefix used by the synthetic world)
CITIES: Final[dict[str, tuple[int, str]]] = {
    "Mumbai": (1, "400"),
    "Delhi": (1, "110"),
    "Bengaluru": (1, "560"),
    "Hyderabad": (1, "500"),
    "Chennai": (1, "600"),
    "Kolkata": (1, "700"),
    "Pune": (1, "411"),
    "Ahmedabad": (1, "380"),
    "Jaipur": (2, "302"),
    "Lucknow": (2, "226"),
    "Kanpur": (2, "208"),
    "Nagpur": (2, "440"),
    "Indore": (2, "452"),
    "Bhopal": (2, "462"),
    "Patna": (2, "800"),
    "Vadodara": (2, "390"),
    "Coimbatore": (2, "641"),
    "Kochi": (2, "682"),
    "Visakhapatnam": (2, "530"),
    "Chandigarh": (2, "160"),
    "Guwahati": (2, "781"),
    "Bhubaneswar": (2, "751"),
    "Gorakhpur": (3, "273"),
    "Bareilly": (3, "243"),
    "Aligarh": (3, "202"),
    "Moradabad": (3, "244"),
    "Siliguri": (3, "734"),
    "Bhagalpur": (3, "812"),
    "Bikaner": (3, "334"),
    "Jhansi": (3, "284"),
    "Nanded": (3, "431"),
    "Kurnool": (3, "518"),
    "Tirunelveli": (3, "627"),
    "Udaipur": (3, "313"),
    "Muzaffarpur": (3, "842"),
    "Bilaspur": (3, "495"),
}

CITY_TIER: Final[dict[str, int]] = {city: tier for city, (tier, _) in CITIES.items()}
PINCODE_PREFIX_TIER: Final[dict[str, int]] = {prefix: tier for tier, prefix in CITIES.values()}

# email domain → type. Unknown domains are "other".
EMAIL_DOMAIN_TYPES: Final[dict[str, str]] = {
    "gmail.com": "webmail",
    "yahoo.co.in": "webmail",
    "yahoo.com": "webmail",
    "outlook.com": "webmail",
    "hotmail.com": "webmail",
    "rediffmail.com": "webmail",
    "bsnl.in": "isp",
    "airtelmail.in": "isp",
    "jiomail.in": "isp",
    "iitb.ac.in": "edu",
    "du.ac.in": "edu",
    "annauniv.edu": "edu",
    "infosys-example.com": "corporate",
    "tcs-example.com": "corporate",
    "wipro-example.com": "corporate",
    "hdfc-example.com": "corporate",
    "reliance-example.com": "corporate",
}
EMAIL_DOMAIN_TYPE_VALUES: Final = ("webmail", "isp", "edu", "corporate", "other")


def city_tier(city: str | None, pincode: str | None = None) -> int:
    """Tier of a city (1–3); falls back to the pincode prefix, then to tier 3."""
    if city and city.strip().title() in CITY_TIER:
        return CITY_TIER[city.strip().title()]
    if pincode and pincode[:3] in PINCODE_PREFIX_TIER:
        return PINCODE_PREFIX_TIER[pincode[:3]]
    return 3


def email_domain_type(email: str) -> str:
    """The type of an email's domain (webmail, isp, edu, corporate, other)."""
    domain = email.rsplit("@", 1)[-1].strip().lower()
    if domain in EMAIL_DOMAIN_TYPES:
        return EMAIL_DOMAIN_TYPES[domain]
    if domain.endswith((".ac.in", ".edu")):
        return "edu"
    return "other"
