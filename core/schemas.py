"""Request and response bodies."""

from datetime import datetime
from decimal import Decimal
from typing import Annotated

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    StringConstraints,
    model_validator,
)

MAX_PRICE = Decimal("1000000000.00")

ItemName = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True,
        min_length=1,
        max_length=200,
        pattern=r"^[^\x00-\x1f\x7f]*$",
    ),
]
# Decimal in, JSON number out, so 19.99 round-trips exactly.
Price = Annotated[
    Decimal,
    Field(ge=0, le=MAX_PRICE, max_digits=12, decimal_places=2, allow_inf_nan=False),
    PlainSerializer(float, return_type=float, when_used="json"),
]
Username = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.@-]+$")]
Scope = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^[a-z][a-z0-9_.:-]*$")]


class ItemCreate(BaseModel):
    """A new item, or a full replacement of one."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"name": "Updated Item", "price": 19.99, "in_stock": True}]},
    )

    name: ItemName
    price: Price
    in_stock: bool = True


class ItemUpdate(BaseModel):
    """A partial update: only the fields sent change."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"price": 17.5}]})

    name: ItemName | None = None
    price: Price | None = None
    in_stock: bool | None = None

    @model_validator(mode="after")
    def _no_nulls(self):
        nulls = [name for name in self.model_fields_set if getattr(self, name) is None]
        if nulls:
            raise ValueError(f"fields cannot be null: {', '.join(sorted(nulls))}")
        return self


class ItemPublic(BaseModel):
    """An item as the API returns it."""

    id: int
    name: str
    price: Price
    in_stock: bool
    version: int
    created_at: datetime
    updated_at: datetime


class ItemPage(BaseModel):
    """One page of items."""

    items: list[ItemPublic]
    total: int
    limit: int
    offset: int


class Token(BaseModel):
    """An OAuth2 bearer token."""

    access_token: str
    token_type: str = "bearer"
    expires_in: int


class UserPublic(BaseModel):
    """A user as the API returns it."""

    username: str
    scopes: list[str]
    disabled: bool
    created_at: datetime


class Me(BaseModel):
    """The caller, as the presented token identifies them."""

    username: str
    scopes: list[str]
    token_scopes: list[str]
    expires_at: datetime


class UserCreate(BaseModel):
    """A new user."""

    model_config = ConfigDict(extra="forbid")

    username: Username
    password: Annotated[str, StringConstraints(min_length=8, max_length=256)]
    scopes: list[Scope] = []


class UserUpdate(BaseModel):
    """A change to a user: scopes, disabled flag, password."""

    model_config = ConfigDict(extra="forbid")

    scopes: list[Scope] | None = None
    disabled: bool | None = None
    password: Annotated[str, StringConstraints(min_length=8, max_length=256)] | None = None


class AuditRecord(BaseModel):
    """One accounting record."""

    id: int
    at: datetime
    actor: str | None
    action: str
    target: str | None
    result: str
    status_code: int
    instance: str
    request_id: str | None
    client: str | None


class AuditPage(BaseModel):
    """One page of the audit trail, newest first."""

    records: list[AuditRecord]
    limit: int
    offset: int
