"""The configuration examples in docs/agent-inputs-fieldbus.md are valid configurations."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from edgewise.agent.inputs.modbus import ModbusInputConfig
from edgewise.agent.inputs.opcua import OpcuaInputConfig

DOC = Path(__file__).resolve().parents[3] / "docs" / "agent-inputs-fieldbus.md"


def test_config_examples_validate() -> None:
    blocks = re.findall(r"```yaml\n(.*?)```", DOC.read_text(), flags=re.DOTALL)
    configs = [yaml.safe_load(block) for block in blocks]
    assert [c["type"] for c in configs] == ["modbus", "opcua"]
    modbus = ModbusInputConfig.model_validate(configs[0])
    opcua = OpcuaInputConfig.model_validate(configs[1])
    assert [p.data_type for p in modbus.points] == [
        "uint16",
        "float32",
        "uint32",
        "int16",
        "bool",
        "bool",
    ]
    assert opcua.password is not None and opcua.password.env == "LINE_OPCUA_PASSWORD"
