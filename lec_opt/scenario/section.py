"""The base of every scenario section: unknown keys are errors, values are frozen, no NaN or infinity."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Section(BaseModel):
    """A ``[section]`` of a scenario file."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)
