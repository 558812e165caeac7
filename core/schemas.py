"""Request and response bodies, and the field types they share."""

import re
import unicodedata
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    StringConstraints,
    model_validator,
)

from core.security import SCOPE_AAA_ADMIN, SCOPE_ITEMS_WRITE

MAX_PRICE = Decimal("1000000000.00")
MAX_ID = 2**63 - 1
_BIDI_CONTROLS = frozenset("\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
_PLAIN_DECIMAL = re.compile(r"\d+(\.\d+)?", re.ASCII)
_PLAIN_INTEGER = re.compile(r"0|[1-9]\d*", re.ASCII)


def _printable_text(value: str) -> str:
    """No control, surrogate, private-use or bidi-override characters, and something visible."""
    for char in value:
        if unicodedata.category(char) in ("Cc", "Cs", "Co", "Zl", "Zp") or char in _BIDI_CONTROLS:
            raise ValueError(f"must not contain the character U+{ord(char):04X}")
    if not any(not char.isspace() and unicodedata.category(char) != "Cf" for char in value):
        raise ValueError("must contain a visible character")
    return value


def _encodable(value: str) -> str:
    """Valid Unicode (no lone surrogates), so it can be stored and hashed."""
    try:
        value.encode()
    except UnicodeEncodeError:
        raise ValueError("must be valid Unicode") from None
    return value


def plain_decimal(value: Any) -> Any:
    """A number sent as a string must be plain ASCII digits with an optional fraction."""
    if isinstance(value, bool):
        raise ValueError("must be a number")
    if isinstance(value, str) and not _PLAIN_DECIMAL.fullmatch(value):
        raise ValueError("must be a plain decimal number such as 19.99")
    return value


def _plain_integer(value: Any) -> Any:
    """A whole number sent as a string must be plain ASCII digits: no sign, spaces, underscores or leading zeros."""
    if isinstance(value, str) and not _PLAIN_INTEGER.fullmatch(value):
        raise ValueError("must be a whole number in plain digits")
    return value


ItemName = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200), AfterValidator(_printable_text)
]
# Decimal in, JSON number out, so 19.99 round-trips exactly.
Price = Annotated[
    Decimal,
    BeforeValidator(plain_decimal),
    Field(ge=0, le=MAX_PRICE, max_digits=12, decimal_places=2, allow_inf_nan=False),
    PlainSerializer(float, return_type=float, when_used="json"),
]
PlainInt = Annotated[int, BeforeValidator(_plain_integer)]
SearchText = Annotated[
    str, StringConstraints(max_length=200, pattern=r"^[^\x00-\x1f\x7f]*$"), AfterValidator(_encodable)
]
Username = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.@-]+$", to_lower=True)]
Scope = Literal[SCOPE_ITEMS_WRITE, SCOPE_AAA_ADMIN]
Password = Annotated[str, StringConstraints(min_length=8, max_length=256), AfterValidator(_encodable)]


class ItemCreate(BaseModel):
    """A new item, or a full replacement of one."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"name": "Updated Item", "price": 19.99, "in_stock": True}]},
    )

    name: ItemName
    price: Price
    in_stock: bool = True


class PartialUpdate(BaseModel):
    """A PATCH body: fields left out stay as they are; a field sent as null is an error, not a deletion."""

    @model_validator(mode="after")
    def _no_nulls(self):
        nulls = [name for name in self.model_fields_set if getattr(self, name) is None]
        if nulls:
            raise ValueError(f"fields cannot be null: {', '.join(sorted(nulls))}")
        return self


class ItemUpdate(PartialUpdate):
    """A partial update: only the fields sent change."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"price": 17.5}]})

    name: ItemName | None = None
    price: Price | None = None
    in_stock: bool | None = None


class ItemPublic(BaseModel):
    """An item as the API returns it."""

    id: int
    name: str
    price: Price
    in_stock: bool
    version: int
    created_at: datetime
    updated_at: datetime


PriceFilter = Annotated[
    Decimal | None, BeforeValidator(plain_decimal), Field(ge=0, le=MAX_PRICE, max_digits=12, decimal_places=2)
]


class ItemQuery(BaseModel):
    """The query of `GET /items`: a page and optional filters (one model validates faster than six parameters)."""

    model_config = ConfigDict(frozen=True)  # hashable: the read cache's key

    limit: Annotated[PlainInt, Field(ge=1, le=100)] = 20
    offset: Annotated[PlainInt, Field(ge=0, le=2**31)] = 0
    q: Annotated[SearchText | None, Field(description="Name contains (case-insensitive, literal)")] = None
    in_stock: bool | None = None
    min_price: PriceFilter = None
    max_price: PriceFilter = None


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
    scope: str


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

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"username": "alice", "password": "a-long-passphrase", "scopes": ["items:write"]}]
        },
    )

    username: Username
    password: Password
    scopes: list[Scope] = []


class UserUpdate(PartialUpdate):
    """A change to a user: scopes, disabled flag, password."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"disabled": True}]})

    scopes: list[Scope] | None = None
    disabled: bool | None = None
    password: Password | None = None


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
