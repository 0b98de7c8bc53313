"""The value taxonomy: loading the theories, values and concepts from our YAML file, and resolving the many
spellings of theories and values that imports use."""

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from django.db import transaction

from common.exceptions import ApplicationError
from labeling.models import Concept, Theory, Value, ValueEdge

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


# --- loading the taxonomy file ------------------------------------------------------------------------------------

DEFAULT_TAXONOMY_PATH = Path(__file__).resolve().parent.parent / "data" / "taxonomy.yaml"

_KEY_PATTERN = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
_THEORY_FIELDS = {"key", "name", "description", "values"}
_VALUE_FIELDS = {"key", "name", "definition", "parents", "is_target"}
_CONCEPT_FIELDS = {"key", "name", "definition", "values"}
# Field lengths of the models, checked up front so a long name fails validation instead of the database write.
_THEORY_KEY_MAX, _VALUE_KEY_MAX, _NAME_MAX, _THEORY_NAME_MAX = 32, 64, 120, 100


@dataclass(frozen=True)
class ValueSpec:
    key: str
    name: str
    definition: str
    parents: tuple[str, ...]
    is_target: bool
    order: int
    level: int


@dataclass(frozen=True)
class TheorySpec:
    key: str
    name: str
    description: str
    order: int
    values: tuple[ValueSpec, ...]


@dataclass(frozen=True)
class ConceptSpec:
    key: str
    name: str
    definition: str
    values: tuple[tuple[str, str], ...]  # (theory key, value key)


@dataclass(frozen=True)
class TaxonomySpec:
    theories: tuple[TheorySpec, ...]
    concepts: tuple[ConceptSpec, ...]


class _Invalid:
    """Builds the ApplicationError for one place in the file, so every message says where the problem is."""

    def __init__(self, file_name: str) -> None:
        self.file_name = file_name

    def __call__(self, where: str, problem: str, **extra: Any) -> ApplicationError:
        return ApplicationError(f"{self.file_name}: {where}: {problem}", {"file": self.file_name, **extra})


def _require_text(
    node: dict, field: str, where: str, invalid: _Invalid, max_length: int | None = None, **extra: Any
) -> str:
    raw = node.get(field)
    if not isinstance(raw, str) or not raw.strip():
        raise invalid(where, f"missing {field} (every entry needs a non-empty {field})", field=field, **extra)
    text = " ".join(raw.split())
    if max_length is not None and len(text) > max_length:
        raise invalid(where, f"{field} is {len(text)} characters long; at most {max_length} fit", field=field, **extra)
    return text


def _require_key(node: dict, where: str, invalid: _Invalid, max_length: int, **extra: Any) -> str:
    key = node.get("key")
    if not isinstance(key, str) or not _KEY_PATTERN.match(key) or len(key) > max_length:
        raise invalid(
            where,
            f"key {key!r} is not a lower-case hyphenated key of at most {max_length} characters (e.g. care-harm)",
            **extra,
        )
    return key


def _reject_unknown_fields(node: dict, allowed: set[str], where: str, invalid: _Invalid, **extra: Any) -> None:
    unknown = sorted(set(node) - allowed)
    if unknown:
        raise invalid(where, f"unknown field(s) {', '.join(unknown)} (allowed: {', '.join(sorted(allowed))})", **extra)


def _levels(theory_key: str, parents: dict[str, tuple[str, ...]], invalid: _Invalid) -> dict[str, int]:
    """Level of every value (1 below the theory root, else one more than its deepest parent); rejects cycles."""
    levels: dict[str, int] = {}
    in_progress: list[str] = []

    def visit(key: str) -> int:
        if key in levels:
            return levels[key]
        if key in in_progress:
            cycle = " → ".join([*in_progress[in_progress.index(key):], key])
            raise invalid(
                f"theory {theory_key!r}, value {key!r}",
                f"the value is its own ancestor: {cycle} (each value → its parent)",
                theory=theory_key, value=key,
            )
        in_progress.append(key)
        level = 1 + max((visit(parent) for parent in parents[key]), default=0)
        in_progress.pop()
        levels[key] = level
        return level

    for key in parents:
        visit(key)
    return levels


def _parse_theory(raw: Any, position: int, invalid: _Invalid) -> TheorySpec:
    where = f"theory #{position + 1}"
    if not isinstance(raw, dict):
        raise invalid(where, "each theory must be a mapping with key, name, description and values")
    _reject_unknown_fields(raw, _THEORY_FIELDS, where, invalid)
    key = _require_key(raw, where, invalid, _THEORY_KEY_MAX)
    where = f"theory {key!r}"
    name = _require_text(raw, "name", where, invalid, _THEORY_NAME_MAX, theory=key)
    description = " ".join(str(raw.get("description") or "").split())
    raw_values = raw.get("values")
    if not isinstance(raw_values, list) or not raw_values:
        raise invalid(where, "a theory needs a non-empty list of values", theory=key)

    entries: dict[str, dict] = {}
    for value_position, node in enumerate(raw_values):
        value_where = f"{where}, value #{value_position + 1}"
        if not isinstance(node, dict):
            raise invalid(value_where, "each value must be a mapping with key, name and definition", theory=key)
        value_key = _require_key(node, value_where, invalid, _VALUE_KEY_MAX, theory=key)
        value_where = f"{where}, value {value_key!r}"
        if value_key in entries:
            raise invalid(value_where, "duplicate key (value keys must be unique within a theory)",
                          theory=key, value=value_key)
        _reject_unknown_fields(node, _VALUE_FIELDS, value_where, invalid, theory=key, value=value_key)
        parents = node.get("parents") or []
        if not isinstance(parents, list) or not all(isinstance(parent, str) for parent in parents):
            raise invalid(value_where, "parents must be a list of value keys", theory=key, value=value_key)
        if len(set(parents)) != len(parents):
            raise invalid(value_where, "a parent is listed twice", theory=key, value=value_key)
        is_target = node.get("is_target", False)
        if not isinstance(is_target, bool):
            raise invalid(value_where, f"is_target must be true or false, not {is_target!r}",
                          theory=key, value=value_key)
        entries[value_key] = {
            "name": _require_text(node, "name", value_where, invalid, _NAME_MAX, theory=key, value=value_key),
            "definition": _require_text(node, "definition", value_where, invalid, theory=key, value=value_key),
            "parents": tuple(parents),
            "is_target": is_target,
            "order": value_position,
        }

    for value_key, entry in entries.items():
        for parent in entry["parents"]:
            if parent not in entries:
                raise invalid(
                    f"{where}, value {value_key!r}",
                    f"unknown parent {parent!r} (a parent must be a value of theory {key!r} listed in this file)",
                    theory=key, value=value_key, parent=parent,
                )
    levels = _levels(key, {value_key: entry["parents"] for value_key, entry in entries.items()}, invalid)
    values = tuple(ValueSpec(key=value_key, level=levels[value_key], **entry) for value_key, entry in entries.items())
    return TheorySpec(key=key, name=name, description=description, order=position, values=values)


def _parse_concept(raw: Any, position: int, value_keys: set[tuple[str, str]], invalid: _Invalid) -> ConceptSpec:
    where = f"concept #{position + 1}"
    if not isinstance(raw, dict):
        raise invalid(where, "each concept must be a mapping with key, name, definition and values")
    _reject_unknown_fields(raw, _CONCEPT_FIELDS, where, invalid)
    key = _require_key(raw, where, invalid, _VALUE_KEY_MAX)
    where = f"concept {key!r}"
    name = _require_text(raw, "name", where, invalid, _NAME_MAX, concept=key)
    definition = _require_text(raw, "definition", where, invalid, concept=key)
    refs = raw.get("values")
    if not isinstance(refs, list) or not all(isinstance(ref, str) for ref in refs):
        raise invalid(where, "values must be a list of `theory:value` references", concept=key)
    linked: list[tuple[str, str]] = []
    for ref in refs:
        theory_key, _, value_key = ref.partition(":")
        if (theory_key, value_key) not in value_keys:
            raise invalid(where, f"links {ref!r}, which is not a value of this file (write `theory:value`)",
                          concept=key, value=ref)
        if (theory_key, value_key) in linked:
            raise invalid(where, f"links {ref!r} twice", concept=key, value=ref)
        linked.append((theory_key, value_key))
    theories = {theory_key for theory_key, _ in linked}
    if len(theories) < 2:
        raise invalid(
            where,
            f"links values of {len(theories)} theory ({', '.join(sorted(theories)) or 'none'}); "
            "a concept must link values of at least two theories",
            concept=key,
        )
    return ConceptSpec(key=key, name=name, definition=definition, values=tuple(linked))


def taxonomy_parse(*, path: Path) -> TaxonomySpec:
    """Read and validate a whole taxonomy file without touching the database.

    Raises ApplicationError naming the file, the theory/value/concept and the problem.
    """
    invalid = _Invalid(path.name)
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8-sig"))
    except FileNotFoundError:
        raise ApplicationError(f"taxonomy file {path} does not exist", {"file": str(path)}) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f"line {mark.line + 1}" if mark is not None else "somewhere"
        problem = getattr(exc, "problem", None) or str(exc)
        raise ApplicationError(f"{path.name}: {line}: not valid YAML ({problem})", {"file": path.name}) from None
    if not isinstance(document, dict) or not isinstance(document.get("theories"), list):
        raise invalid("top level", "the file must be a mapping with a `theories` list and a `concepts` list")
    _reject_unknown_fields(document, {"theories", "concepts"}, "top level", invalid)

    theories: list[TheorySpec] = []
    for position, raw in enumerate(document["theories"]):
        theory = _parse_theory(raw, position, invalid)
        if any(seen.key == theory.key for seen in theories):
            raise invalid(f"theory {theory.key!r}", "duplicate theory key", theory=theory.key)
        theories.append(theory)

    value_keys = {(theory.key, value.key) for theory in theories for value in theory.values}
    raw_concepts = document.get("concepts") or []
    if not isinstance(raw_concepts, list):
        raise invalid("top level", "concepts must be a list")
    concepts: list[ConceptSpec] = []
    for position, raw in enumerate(raw_concepts):
        concept = _parse_concept(raw, position, value_keys, invalid)
        if any(seen.key == concept.key for seen in concepts):
            raise invalid(f"concept {concept.key!r}", "duplicate concept key", concept=concept.key)
        concepts.append(concept)
    return TaxonomySpec(theories=tuple(theories), concepts=tuple(concepts))


def _changed_fields(obj: Any, wanted: dict[str, Any]) -> list[str]:
    changed = [field for field, value in wanted.items() if getattr(obj, field) != value]
    for field in changed:
        setattr(obj, field, wanted[field])
    return changed


@transaction.atomic
def _taxonomy_write(spec: TaxonomySpec) -> dict[str, int]:
    counts = dict.fromkeys(
        ["theories_created", "theories_updated", "values_created", "values_updated", "edges_created",
         "edges_removed", "concepts_created", "concepts_updated"],
        0,
    )

    theories: dict[str, Theory] = {t.key: t for t in Theory.objects.filter(key__in=[s.key for s in spec.theories])}
    for theory_spec in spec.theories:
        wanted = {"name": theory_spec.name, "description": theory_spec.description, "order": theory_spec.order}
        theory = theories.get(theory_spec.key)
        if theory is None:
            theories[theory_spec.key] = Theory.objects.create(key=theory_spec.key, **wanted)
            counts["theories_created"] += 1
        elif changed := _changed_fields(theory, wanted):
            theory.save(update_fields=changed)
            counts["theories_updated"] += 1

    value_fields = ["name", "definition", "level", "is_target", "order"]
    values: dict[tuple[str, str], Value] = {
        (value.theory.key, value.key): value
        for value in Value.objects.filter(theory__in=theories.values()).select_related("theory")
    }
    to_create: list[Value] = []
    to_update: list[Value] = []
    for theory_spec in spec.theories:
        for value_spec in theory_spec.values:
            wanted = {field: getattr(value_spec, field) for field in value_fields}
            value = values.get((theory_spec.key, value_spec.key))
            if value is None:
                value = Value(theory=theories[theory_spec.key], key=value_spec.key, **wanted)
                values[(theory_spec.key, value_spec.key)] = value
                to_create.append(value)
            elif _changed_fields(value, wanted):
                to_update.append(value)
    Value.objects.bulk_create(to_create)
    Value.objects.bulk_update(to_update, value_fields)
    counts["values_created"], counts["values_updated"] = len(to_create), len(to_update)

    # The file is the source of truth for the hierarchy of the theories it lists: edges it no longer has go.
    wanted_edges = {
        (values[(t.key, parent)].pk, values[(t.key, v.key)].pk)
        for t in spec.theories
        for v in t.values
        for parent in v.parents
    }
    existing_edges = set(
        ValueEdge.objects.filter(child__theory__in=theories.values()).values_list("parent_id", "child_id")
    )
    ValueEdge.objects.bulk_create(
        [ValueEdge(parent_id=parent, child_id=child) for parent, child in sorted(wanted_edges - existing_edges)]
    )
    for parent, child in existing_edges - wanted_edges:
        ValueEdge.objects.filter(parent_id=parent, child_id=child).delete()
    counts["edges_created"] = len(wanted_edges - existing_edges)
    counts["edges_removed"] = len(existing_edges - wanted_edges)

    concepts: dict[str, Concept] = {c.key: c for c in Concept.objects.filter(key__in=[s.key for s in spec.concepts])}
    membership = Concept.values.through
    existing_links = set(
        membership.objects.filter(concept__in=concepts.values()).values_list("concept_id", "value_id")
    )
    wanted_links: set[tuple[int, int]] = set()
    for concept_spec in spec.concepts:
        wanted = {"name": concept_spec.name, "definition": concept_spec.definition}
        concept = concepts.get(concept_spec.key)
        value_ids = {values[ref].pk for ref in concept_spec.values}
        if concept is None:
            concepts[concept_spec.key] = concept = Concept.objects.create(key=concept_spec.key, **wanted)
            counts["concepts_created"] += 1
        else:
            changed = _changed_fields(concept, wanted)
            if changed:
                concept.save(update_fields=changed)
            linked_before = {value_id for concept_id, value_id in existing_links if concept_id == concept.pk}
            if changed or value_ids != linked_before:
                counts["concepts_updated"] += 1
        wanted_links |= {(concept.pk, value_id) for value_id in value_ids}
    membership.objects.bulk_create(
        [membership(concept_id=concept, value_id=value) for concept, value in sorted(wanted_links - existing_links)]
    )
    for concept_id, value_id in existing_links - wanted_links:
        membership.objects.filter(concept_id=concept_id, value_id=value_id).delete()
    return counts


def taxonomy_load(*, path: Path | None = None) -> dict[str, int]:
    """Load the taxonomy file (ours by default) into the database, all or nothing.

    The whole file is validated first; then, in one transaction, theories, values, parent edges and concepts are
    created or updated by key. Running it again changes nothing and reports zero created; edited names and
    definitions are updated. Values and concepts missing from the file are kept, because pool items, judgments
    and embeddings may refer to them. Returns the counts created/updated/removed and the totals in the file.
    """
    spec = taxonomy_parse(path=path or DEFAULT_TAXONOMY_PATH)
    counts = _taxonomy_write(spec)
    counts["theories"] = len(spec.theories)
    counts["values"] = sum(len(theory.values) for theory in spec.theories)
    counts["concepts"] = len(spec.concepts)
    return counts
