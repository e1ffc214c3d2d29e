"""The venue drawing in an import file: a section's ``geometry`` and a venue's ``stage``
are optional, strictly checked, and a bad one is named by its JSON path."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime
from typing import Any

import pytest

from tests.unit.test_catalog import Mutation, S, V, assert_refused_at, base, drop, put
from ticketmaster.domain.catalog import CatalogError, parse_catalog
from ticketmaster.domain.layout import EventInfo, Geometry, SectionLayout, Stage, VenueLayout

G = (*S, "geometry")
ST = (*V, "stage")
GEOMETRY = {"x": 10, "y": -4.5, "rotation": 30}
STAGE = {"x": -20, "y": -40, "width": 80, "height": 12.5}


def drawn() -> dict[str, Any]:
    """``base()`` with a geometry on its first section and a stage on its venue."""
    doc = base()
    doc["venues"][0]["sections"][0]["geometry"] = dict(GEOMETRY)
    doc["venues"][0]["stage"] = dict(STAGE)
    return doc


def test_geometry_and_stage_parse_into_the_model() -> None:
    (venue,) = parse_catalog(drawn()).venues

    assert venue.stage == Stage(x=-20.0, y=-40.0, width=80.0, height=12.5)
    assert venue.sections[0].geometry == Geometry(x=10.0, y=-4.5, rotation=30.0)
    assert venue.sections[1].geometry is None  # each section may or may not be placed


def test_without_them_a_venue_has_no_drawing() -> None:
    (venue,) = parse_catalog(base()).venues
    assert venue.stage is None
    assert all(s.geometry is None for s in venue.sections)


@pytest.mark.parametrize("field", ["geometry", "stage"])
def test_null_is_the_same_as_leaving_it_out(field: str) -> None:
    doc = base()
    target = doc["venues"][0] if field == "stage" else doc["venues"][0]["sections"][0]
    target[field] = None
    assert parse_catalog(doc) == parse_catalog(base())


def test_rotation_defaults_to_zero() -> None:
    doc = drawn()
    del doc["venues"][0]["sections"][0]["geometry"]["rotation"]
    (venue,) = parse_catalog(doc).venues
    assert venue.sections[0].geometry == Geometry(x=10.0, y=-4.5, rotation=0.0)


ACCEPTED: list[Any] = [
    pytest.param(put(*G, "rotation", value=-360), id="rotation-minus-360"),
    pytest.param(put(*G, "rotation", value=360), id="rotation-360"),
    pytest.param(put(*G, "x", value=-100_000), id="x-at-the-lower-bound"),
    pytest.param(put(*G, "y", value=100_000.0), id="y-at-the-upper-bound"),
    pytest.param(put(*ST, "width", value=0.5), id="stage-half-a-seat-wide"),
]


@pytest.mark.parametrize("mutate", ACCEPTED)
def test_edge_values_are_accepted(mutate: Mutation) -> None:
    doc = drawn()
    mutate(doc)
    assert parse_catalog(doc).venues[0].stage is not None


BAD: list[Any] = [
    pytest.param(put(*G, value=[0, 0, 0]), "venues[0].sections[0].geometry", id="geometry-not-object"),
    pytest.param(put(*G, value=0), "venues[0].sections[0].geometry", id="geometry-a-number"),
    pytest.param(drop(*G, "x"), "venues[0].sections[0].geometry.x", id="x-missing"),
    pytest.param(drop(*G, "y"), "venues[0].sections[0].geometry.y", id="y-missing"),
    pytest.param(put(*G, "x", value="10"), "venues[0].sections[0].geometry.x", id="x-a-string"),
    pytest.param(put(*G, "y", value=None), "venues[0].sections[0].geometry.y", id="y-null"),
    pytest.param(
        put(*G, "rotation", value=True), "venues[0].sections[0].geometry.rotation", id="rotation-bool"
    ),
    pytest.param(put(*G, "x", value=math.nan), "venues[0].sections[0].geometry.x", id="x-nan"),
    pytest.param(put(*G, "y", value=math.inf), "venues[0].sections[0].geometry.y", id="y-infinity"),
    pytest.param(put(*G, "x", value=-math.inf), "venues[0].sections[0].geometry.x", id="x-minus-infinity"),
    pytest.param(put(*G, "x", value=100_000.5), "venues[0].sections[0].geometry.x", id="x-too-far"),
    pytest.param(put(*G, "y", value=-(10**9)), "venues[0].sections[0].geometry.y", id="y-too-far"),
    pytest.param(
        put(*G, "rotation", value=360.5), "venues[0].sections[0].geometry.rotation", id="rotation-over-360"
    ),
    pytest.param(
        put(*G, "rotation", value=-720), "venues[0].sections[0].geometry.rotation", id="rotation-under-360"
    ),
    pytest.param(
        put(*G, "scale", value=2), "venues[0].sections[0].geometry.scale", id="geometry-unknown-key"
    ),
    pytest.param(put(*G, "width", value=50), "venues[0].sections[0].geometry.width", id="geometry-stage-key"),
    pytest.param(put(*ST, value="front"), "venues[0].stage", id="stage-not-object"),
    pytest.param(drop(*ST, "width"), "venues[0].stage.width", id="stage-width-missing"),
    pytest.param(drop(*ST, "y"), "venues[0].stage.y", id="stage-y-missing"),
    pytest.param(put(*ST, "width", value=0), "venues[0].stage.width", id="stage-width-zero"),
    pytest.param(put(*ST, "height", value=-5), "venues[0].stage.height", id="stage-height-negative"),
    pytest.param(put(*ST, "height", value=math.nan), "venues[0].stage.height", id="stage-height-nan"),
    pytest.param(put(*ST, "x", value=1e300), "venues[0].stage.x", id="stage-x-too-far"),
    pytest.param(put(*ST, "width", value=[80]), "venues[0].stage.width", id="stage-width-list"),
    pytest.param(put(*ST, "rotation", value=0), "venues[0].stage.rotation", id="stage-unknown-key"),
]


@pytest.mark.parametrize(("mutate", "path"), BAD)
def test_a_bad_drawing_field_is_refused_by_its_path(mutate: Mutation, path: str) -> None:
    doc = drawn()
    mutate(doc)
    assert_refused_at(doc, path)


def test_nan_as_python_json_reads_it_is_refused() -> None:
    # json.loads (what the CLI reads files with) accepts the non-standard NaN literal.
    doc = json.loads(json.dumps(drawn()).replace('"rotation": 30', '"rotation": NaN'))
    with pytest.raises(CatalogError, match="finite"):
        parse_catalog(doc)


def test_the_message_of_an_unknown_key_lists_the_known_ones() -> None:
    doc = drawn()
    doc["venues"][0]["sections"][0]["geometry"]["angle"] = 30
    with pytest.raises(CatalogError) as caught:
        parse_catalog(doc)
    assert "x, y, rotation" in caught.value.message


def test_a_layout_keeps_its_drawing_and_revision_through_its_cached_form() -> None:
    layout = VenueLayout(
        "ven_1",
        (
            SectionLayout("A", "Floor", (("1", 3),), Geometry(1.5, -2.0, 45.0)),
            SectionLayout("B", "Box", (("1", 1),)),
        ),
        stage=Stage(0.0, -10.0, 20.0, 5.0),
        revision=4,
    )
    assert VenueLayout.from_json(json.loads(json.dumps(layout.to_json()))) == layout
    bare = VenueLayout("ven_2", (SectionLayout("A", "A", (("1", 2),)),))
    assert VenueLayout.from_json(json.loads(json.dumps(bare.to_json()))) == bare


def test_event_facts_carry_the_layout_revision() -> None:
    info = EventInfo("evt_1", "ven_1", datetime(2030, 1, 1, tzinfo=UTC), False, layout_revision=7)
    assert EventInfo.from_json(json.loads(json.dumps(info.to_json()))).layout_revision == 7
