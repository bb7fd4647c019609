"""The digest: the LLM's output schema and the public JSON contract are this one model.

`digestbot digest --format json` prints `Digest.model_dump()` plus a `meta` object; the keys
below are always present (lists may be empty).
"""

from __future__ import annotations

import copy
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class _Strict(BaseModel):
    model_config = ConfigDict(extra="ignore")


class Section(_Strict):
    """One sector's view: the thesis in a few short points and the stocks the post names."""

    name: str = Field(description="板块或方向名称，如 计算机、通信、传媒")
    points: list[str] = Field(description="该方向的观点，每条约60字以内，最多4条")
    stocks: list[str] = Field(description="原文点名的个股，原样照抄，没有则为空")


class Event(_Strict):
    """A dated event the post mentions, with the post's own wording of the date."""

    title: str = Field(description="事件名称，如 美国CPI、美国非农、春节休市")
    when: str = Field(description="原文中的时间说法，原样保留，如 周五、下周一、4月24日")


class Digest(_Strict):
    """A post's digest in the 小熊团队 style."""

    headline: str = Field(description="一句话核心观点")
    summary: str = Field(description="两三句概述")
    sections: list[Section] = Field(description="按板块分组，最多6组")
    risks: list[str] = Field(description="原文提到的风险")
    events: list[Event] = Field(description="原文提到的有日期的事件")


def strict_json_schema() -> dict[str, Any]:
    """Digest's JSON schema in the form OpenAI's strict structured output accepts: every
    object closed (`additionalProperties: false`) and every property required."""
    schema = copy.deepcopy(Digest.model_json_schema())

    def close(node: Any) -> None:
        if isinstance(node, dict):
            if node.get("type") == "object" and "properties" in node:
                node["additionalProperties"] = False
                node["required"] = list(node["properties"])
            for value in node.values():
                close(value)
        elif isinstance(node, list):
            for value in node:
                close(value)

    close(schema)
    return schema
