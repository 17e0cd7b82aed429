"""The agent loads pymodbus and asyncua only when an input of theirs starts."""

from __future__ import annotations

import subprocess
import sys

import pytest

PROBE = """
import sys
import edgewise.agent
from edgewise.agent.inputs.modbus import ModbusInput, ModbusInputConfig
from edgewise.agent.inputs.opcua import OpcuaInput, OpcuaInputConfig
{then}
print(sorted(m for m in sys.modules if m.split(".")[0] in ("pymodbus", "asyncua")))
"""


def loaded(then: str = "") -> str:
    done = subprocess.run(
        [sys.executable, "-c", PROBE.format(then=then)], capture_output=True, text=True, check=True
    )
    return done.stdout.strip()


def test_configuring_inputs_loads_neither_library() -> None:
    assert loaded() == "[]"


@pytest.mark.parametrize(
    ("then", "library"),
    [
        (
            "ModbusInput(ModbusInputConfig(type='modbus', name='m', host='127.0.0.1', port=9,"
            " stream='s', points=[{'name': 'x', 'address': 0}])).start(print)",
            "'pymodbus'",
        ),
        (
            "OpcuaInput(OpcuaInputConfig(type='opcua', name='o', endpoint='opc.tcp://127.0.0.1:9',"
            " stream='s', nodes=[{'node_id': 'ns=1;i=1', 'name': 'x'}])).start(print)",
            "'asyncua'",
        ),
    ],
    ids=["modbus", "opcua"],
)
def test_starting_an_input_loads_its_library(then: str, library: str) -> None:
    # The probe itself can fail: starting an input does load its library.
    assert library in loaded(then)
