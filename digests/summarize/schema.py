"""The digest: the LLM's output schema and the public JSON contract are this one model.

`digestbot digest --format json` prints `Digest.model_dump()` plus a `meta` object; the keys
below are always present (lists may be empty).
"""

from __future__ import annotations

import copy
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from digests.summarize.document import split_sentences


class _Strict(BaseModel):
    model_config = ConfigDict(extra="ignore")


class Claim(_Strict):
    """A statement of the digest and the numbers of the post's sentences it rests on (the
    prompt shows them as "[12]"). A plain string is a claim citing nothing: older digests
    and models that leave citations out."""

    text: str = Field(description="一句话，约60字以内")
    cites: list[int] = Field(default_factory=list, description="所依据的原文句子编号，如 [12, 13]")

    @model_validator(mode="before")
    @classmethod
    def _plain(cls, value: Any) -> Any:
        return {"text": value} if isinstance(value, str) else value

    def __str__(self) -> str:
        return self.text


class Section(_Strict):
    """One sector's view: the thesis in a few short points and the stocks the post names."""

    name: str = Field(description="板块或方向名称，如 计算机、通信、传媒")
    points: list[Claim] = Field(description="该方向的观点，每条约60字以内，最多4条")
    stocks: list[str] = Field(description="原文点名的个股，原样照抄，没有则为空")


class Event(_Strict):
    """A dated event the post mentions, with the post's own wording of the date."""

    title: str = Field(description="事件名称，如 美国CPI、美国非农、春节休市")
    when: str = Field(description="原文中的时间说法，原样保留，如 周五、下周一、4月24日")


class Digest(_Strict):
    """A post's digest in the 小熊团队 style. `codes` and `sources` are the gate's, not the
    model's: each stock's code in the securities dictionary, and the text of each sentence
    a claim cites (by its number as a string), so that a reader can see it on tap."""

    headline: str = Field(description="一句话核心观点")
    summary: list[Claim] = Field(description="两三句概述，每句一条")
    sections: list[Section] = Field(description="按板块分组，最多6组")
    risks: list[Claim] = Field(description="原文提到的风险")
    events: list[Event] = Field(description="原文提到的有日期的事件")
    codes: dict[str, str] = Field(default_factory=dict)
    sources: dict[str, str] = Field(default_factory=dict)

    @field_validator("summary", mode="before")
    @classmethod
    def _sentences(cls, value: Any) -> Any:
        """A summary written as one string is its sentences, citing nothing."""
        return split_sentences(value) if isinstance(value, str) else value

    @property
    def summary_text(self) -> str:
        return "".join(claim.text for claim in self.summary)

    def claims(self) -> list[Claim]:
        """Every claim: the summary's, the sections' points, the risks."""
        points = [point for section in self.sections for point in section.points]
        return [*self.summary, *points, *self.risks]


GATES_OWN = ("codes", "sources")  # filled in by the gate: not in the schema the model sees


def strict_json_schema() -> dict[str, Any]:
    """Digest's JSON schema, without the gate's own keys, in the form OpenAI's strict
    structured output accepts: every object closed (`additionalProperties: false`) and
    every property required."""
    schema = copy.deepcopy(Digest.model_json_schema())
    for key in GATES_OWN:
        del schema["properties"][key]

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
