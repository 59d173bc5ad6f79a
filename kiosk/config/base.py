"""The base of every config section: strict types, unknown keys refused, immutable."""

from pydantic import BaseModel, ConfigDict


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)
