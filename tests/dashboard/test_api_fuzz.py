"""The API fuzzed from its own OpenAPI schema (schemathesis 4, in-process, every default check):
no 5xx, answers that match the schema, invalid input refused with a 4xx.

The schema is loaded inside the test (from the app over the filled database) and each operation
is driven through its Hypothesis strategy, valid and invalid data alike.
"""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.generation import GenerationMode

from .conftest import Filled


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE],
                         ids=["valid", "invalid"])
def test_every_operation_holds_its_schema(filled: Filled, mode: GenerationMode) -> None:
    from algotrader.dashboard import create_app

    app = create_app(filled.url)
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 11
    try:
        for operation in operations:
            _fuzz(operation, mode)
    finally:
        app.state.browser.close()


def _fuzz(operation: Any, mode: GenerationMode) -> None:
    if mode is GenerationMode.NEGATIVE and not list(operation.iter_parameters()):
        return  # nothing to get wrong
    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(max_examples=20, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    def run(case: Any) -> None:
        case.call_and_validate()

    run()
