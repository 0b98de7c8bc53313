"""The value taxonomy: resolving the many spellings of theories and values that imports use."""

import re

from labeling.models import Theory, Value

# Every spelling of a theory seen in imports and file names → our theory key.
THEORY_ALIASES: dict[str, str] = {
    "svt": "svt", "pvq": "svt", "schwartz": "svt", "refined-svt": "svt", "basic-values": "svt",
    "mft": "mft", "moral-foundations": "mft", "moral-foundations-theory": "mft", "mfq": "mft",
    "duties": "duties", "duty": "duties", "ross": "duties", "prima-facie-duties": "duties",
    "rights": "rights", "right": "rights", "vasak": "rights", "human-rights": "rights",
}


def normalise_key(raw: str) -> str:
    """`Care/Harm`, `care_harm`, `care-harm`, `Care harm` → `care-harm`."""
    key = raw.strip().lower().replace("\ufeff", "")
    key = re.sub(r"[\s/_:]+", "-", key)
    key = re.sub(r"[^a-z0-9-]", "", key)
    return re.sub(r"-+", "-", key).strip("-")


def theory_resolve(*, theory: str) -> Theory:
    key = THEORY_ALIASES.get(normalise_key(theory))
    if key is None:
        known = ", ".join(sorted(set(THEORY_ALIASES.values())))
        raise LookupError(f"unknown theory {theory!r} (known: {known}; aliases such as pvq, duty, right work too)")
    try:
        return Theory.objects.get(key=key)
    except Theory.DoesNotExist:
        raise LookupError(f"theory {key!r} is not loaded; run `python manage.py load_taxonomy`") from None


def value_resolve(*, theory: str, value: str) -> Value:
    """Find a value by theory and any accepted spelling of its key or name.

    Raises LookupError with a message that names what was asked for; importers put it next to the file line.
    """
    theory_obj = theory_resolve(theory=theory)
    wanted = normalise_key(value)
    candidates = {wanted}
    # Rights categories appear as `civil`, `civil-rights`, `civil_rights`.
    if theory_obj.key == "rights":
        candidates |= {f"{wanted}-rights", wanted.removesuffix("-rights")}
    values = list(Value.objects.filter(theory=theory_obj))
    for candidate in candidates:
        for node in values:
            if node.key == candidate or normalise_key(node.name) == candidate:
                return node
    raise LookupError(f"unknown value {value!r} in theory {theory_obj.key!r}")
