"""Flow files: the real one loads; broken ones are rejected naming the file and the step."""

from __future__ import annotations

import pytest

from safepassage.conversations import catalog, checks, flows

VALID = """
id: t
start: a
menu: m
delete: m
steps:
  a: {type: choice, prompt: apply.who.prompt, choices: [{value: x, label: apply.who.self}], next: m}
  m: {type: end, prompt: apply.done.prompt}
"""


def test_the_application_flow_loads_and_is_complete() -> None:
    flow = flows.get("application")
    assert flow.start == "language"
    assert {
        "who",
        "whereabouts",
        "readiness",
        "sector",
        "unit",
        "name",
        "birth_date",
        "company",
        "group_size",
        "wishes",
        "summary",
        "done",
        "menu",
    } <= set(flow.steps)
    assert checks.problems() == []


def test_a_valid_minimal_flow_parses() -> None:
    assert flows.parse(VALID, "mini.yaml").steps["a"].choices[0].value == "x"


@pytest.mark.parametrize(
    ("broken", "expected"),
    [
        (
            VALID.replace("next: m}", "next: nowhere}"),
            "mini.yaml, step 'a': 'next' names unknown step 'nowhere'",
        ),
        (
            VALID + "  orphan: {type: end, prompt: apply.done.prompt}\n",
            "mini.yaml, step 'orphan': unreachable",
        ),
        (VALID.replace("type: choice", "type: dance"), "mini.yaml, step 'a': unknown type"),
        (VALID.replace("prompt: apply.who.prompt, ", ""), "mini.yaml, step 'a': missing 'prompt'"),
        ("steps: [", "mini.yaml: not valid YAML"),
    ],
)
def test_broken_flows_are_rejected_with_file_and_step(broken: str, expected: str) -> None:
    with pytest.raises(flows.FlowError) as error:
        flows.parse(broken, "mini.yaml")
    assert str(error.value).startswith(expected)


def test_a_text_missing_from_a_catalog_is_named() -> None:
    flow = flows.parse(VALID.replace("apply.done.prompt", "apply.no_such_text"), "mini.yaml")
    known = {lang: set(catalog.load(lang)) for lang in catalog.languages()}
    with pytest.raises(flows.FlowError, match=r"step 'm': text 'apply\.no_such_text' has no"):
        flows.validate(flow, known)
