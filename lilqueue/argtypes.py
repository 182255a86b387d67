"""The JSON types of a task's parameters, read off its annotations once: the check ``start()``
makes and the JSON Schema that ``GET {prefix}/tasks`` and the OpenAPI document give.

    types = ArgumentTypes.of(func)        # None: no parameter has an annotation we can check
    types.check("import_rows", ["fifty"], {})
    # InvalidArguments: parameter 'count' expects int, got str

Checked: ``int``, ``float`` (ints accepted), ``str``, ``bool``, ``None``, ``list``/``list[X]``,
``dict``/``dict[str, X]``, ``X | None``/``Optional[X]``, unions of these, ``Literal[...]``,
``TypedDict`` and ``Any``, nested. Any other annotation (a class, ``datetime``, a string that does
not resolve) is left alone: its parameter takes any JSON value, as without an annotation. A bool
is not an int here, although Python says it is: JSON tells ``true`` from ``1``.
"""

from __future__ import annotations

import inspect
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .errors import InvalidArguments

Check = Callable[[Any], "tuple[str, str] | None"]  # a value -> None, or (where inside it, the type found there)


@dataclass(frozen=True)
class Type:
    """One checkable annotation: how it is spelled, its JSON Schema, and its check."""
    name: str
    schema: dict[str, Any]
    check: Check


def given(value: Any) -> str:
    """The type of a value as a message names it (``None``, not ``NoneType``)."""
    return "None" if value is None else type(value).__name__


# The scalars' checks test the value in one expression: they run on every start.
_INT = Type("int", {"type": "integer"},
            lambda v: None if isinstance(v, int) and v is not True and v is not False else ("", given(v)))
_FLOAT = Type("float", {"type": "number"},
              lambda v: None if isinstance(v, (int, float)) and v is not True and v is not False else ("", given(v)))
_STR = Type("str", {"type": "string"}, lambda v: None if isinstance(v, str) else ("", given(v)))
_BOOL = Type("bool", {"type": "boolean"}, lambda v: None if v is True or v is False else ("", given(v)))
_NONE = Type("None", {"type": "null"}, lambda v: None if v is None else ("", given(v)))
_ANY = Type("Any", {}, lambda v: None)
_SCALARS = {int: _INT, float: _FLOAT, str: _STR, bool: _BOOL, type(None): _NONE, None: _NONE,
            typing.Any: _ANY, object: _ANY}
_LIST_TYPES = (list, tuple)  # a tuple from Python is a list once it is JSON


def compile_type(annotation: Any) -> Type | None:
    """The check of ``annotation``, or None when it is not one we check."""
    try:
        known = _SCALARS.get(annotation)
    except TypeError:  # unhashable: not one of ours
        return None
    if known is not None:
        return known
    origin, params = typing.get_origin(annotation), typing.get_args(annotation)
    if annotation is list or origin is list:
        return _list(params)
    if annotation is dict or origin is dict:
        return _dict(params)
    if origin is typing.Union or origin is types.UnionType:
        return _union(params)
    if origin is typing.Literal:
        return _literal(params)
    if typing.is_typeddict(annotation):
        return _typed_dict(annotation)
    return None


def _list(params: tuple) -> Type:
    item = compile_type(params[0]) if params else None
    if item is None:  # a bare list, or a list of what we do not check: only the list itself
        name = f"list[{spell(params[0])}]" if params else "list"
        return Type(name, {"type": "array"}, lambda v: None if isinstance(v, _LIST_TYPES) else ("", given(v)))
    check_item = item.check

    def check(value: Any) -> tuple[str, str] | None:
        if not isinstance(value, _LIST_TYPES):
            return "", given(value)
        for i, element in enumerate(value):
            wrong = check_item(element)
            if wrong is not None:
                return f"[{i}]{wrong[0]}", wrong[1]
        return None

    return Type(f"list[{item.name}]", {"type": "array", "items": item.schema}, check)


def _dict(params: tuple) -> Type | None:
    if params and params[0] is not str:
        return None  # JSON's keys are strings: another key type is not one we check
    value_type = compile_type(params[1]) if params else None
    if value_type is None:
        name = f"dict[str, {spell(params[1])}]" if params else "dict"
        return Type(name, {"type": "object"}, lambda v: None if _is_object(v) else ("", given(v)))
    check_value = value_type.check

    def check(value: Any) -> tuple[str, str] | None:
        if not _is_object(value):
            return "", given(value)
        for key, element in value.items():
            wrong = check_value(element)
            if wrong is not None:
                return f"[{key!r}]{wrong[0]}", wrong[1]
        return None

    return Type(f"dict[str, {value_type.name}]", {"type": "object", "additionalProperties": value_type.schema},
                check)


def _is_object(value: Any) -> bool:
    return isinstance(value, dict) and all(isinstance(key, str) for key in value)


def _union(params: tuple) -> Type | None:
    members = [compile_type(p) for p in params]
    if any(m is None for m in members):
        return None  # one member we cannot check: we cannot say a value fits none of them
    known = [m for m in members if m is not None]
    checks = [m.check for m in known]
    others = [m.check for m in known if m is not _NONE]

    def check(value: Any) -> tuple[str, str] | None:
        for one in checks:
            if one(value) is None:
                return None
        if len(others) == 1 and value is not None:
            return others[0](value)  # X | None given something else: what is wrong inside it
        return "", given(value)

    return Type(" | ".join(m.name for m in known), {"anyOf": [m.schema for m in known]}, check)


def _literal(params: tuple) -> Type | None:
    if not all(p is None or isinstance(p, (str, int, float, bool)) for p in params):
        return None  # an enum member: not a JSON value

    def check(value: Any) -> tuple[str, str] | None:
        # Equal and of the same type: True is not 1, and 1.0 is not 1.
        return None if any(type(value) is type(p) and value == p for p in params) else ("", _shown(value))

    return Type(f"Literal[{', '.join(repr(p) for p in params)}]", {"enum": list(params)}, check)


def _shown(value: Any) -> str:
    text = repr(value)
    return f"{given(value)} {text if len(text) <= 60 else text[:60] + '...'}"


def _typed_dict(kind: type) -> Type | None:
    try:
        hints = typing.get_type_hints(kind)
    except Exception:  # a forward reference that does not resolve: not one we check
        return None
    fields = {name: compile_type(hint) or Type(spell(hint), {}, _ANY.check) for name, hint in hints.items()}
    required = frozenset(getattr(kind, "__required_keys__", hints))

    def check(value: Any) -> tuple[str, str] | None:
        if not _is_object(value):
            return "", given(value)
        for name in required:
            if name not in value:
                return "", f"dict without key {name!r}"
        for key, element in value.items():
            field = fields.get(key)
            if field is None:
                return "", f"dict with unknown key {key!r}"
            wrong = field.check(element)
            if wrong is not None:
                return f"[{key!r}]{wrong[0]}", wrong[1]
        return None

    schema = {"type": "object", "title": kind.__name__, "properties": {n: f.schema for n, f in fields.items()},
              "required": sorted(required), "additionalProperties": False}
    return Type(kind.__name__, schema, check)


def spell(annotation: Any) -> str:
    """An annotation as a person would write it (``date | None``, ``list[Path]``)."""
    if isinstance(annotation, str):
        return annotation
    if annotation is None or annotation is type(None):
        return "None"
    origin, params = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is typing.Union or origin is types.UnionType:
        return " | ".join(spell(p) for p in params)
    if origin is typing.Literal:
        return f"Literal[{', '.join(repr(p) for p in params)}]"
    if origin is not None and params:
        return f"{spell(origin)}[{', '.join(spell(p) for p in params)}]"
    if isinstance(annotation, type):
        return annotation.__qualname__
    return repr(annotation).replace("typing.", "")


class ArgumentTypes:
    """The checkable annotations of one function's parameters, found once (``of``) and then
    applied to each start's arguments, after they were bound to the signature."""

    def __init__(self, signature: inspect.Signature, hints: dict[str, Any]) -> None:
        self.names: dict[str, str] = {}     # parameter -> its annotation, spelled (any annotated parameter)
        self.types: dict[str, Type] = {}    # parameter -> its check (the checkable ones)
        for name, hint in hints.items():
            if name in signature.parameters:
                compiled = compile_type(hint)
                self.names[name] = compiled.name if compiled else spell(hint)
                if compiled is not None:
                    self.types[name] = compiled
        params = list(signature.parameters.values())
        positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
        self._positional = [(i, p.name, self.types[p.name].check) for i, p in enumerate(positional)
                            if p.name in self.types]
        self._count = len(positional)
        rest = [p for p in params if p.kind is p.VAR_POSITIONAL]
        self._rest = (rest[0].name, self.types.get(rest[0].name)) if rest else None
        self._keywords = {p.name: self.types.get(p.name) for p in params
                          if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}
        extra = [p for p in params if p.kind is p.VAR_KEYWORD]
        self._extra = (extra[0].name, self.types.get(extra[0].name)) if extra else None

    @classmethod
    def of(cls, func: Callable) -> ArgumentTypes | None:
        """The types of ``func``'s parameters; None when none has an annotation (nothing to check
        or describe). Annotations that do not resolve (a name defined nowhere) are left alone."""
        signature = inspect.signature(func)
        if all(p.annotation is p.empty for p in signature.parameters.values()):
            return None
        try:
            hints = typing.get_type_hints(func)
        except Exception:  # one name that does not resolve: take each annotation as written
            hints = {n: p.annotation for n, p in signature.parameters.items() if p.annotation is not p.empty}
        hints.pop("return", None)
        return cls(signature, hints)

    def check(self, task: str, args: list, kwargs: dict[str, Any], skip: int = 0) -> None:
        """Raise InvalidArguments for the first argument whose value does not fit its parameter;
        the first ``skip`` positions are not looked at (a pipeline step's previous result)."""
        count = len(args)
        for i, name, check in self._positional:
            if skip <= i < count and (wrong := check(args[i])) is not None:
                self._refuse(task, name, wrong)
        if self._rest is not None and self._rest[1] is not None and count > self._count:
            name, rest = self._rest[0], self._rest[1].check
            for value in args[max(self._count, skip):]:
                if (wrong := rest(value)) is not None:
                    self._refuse(task, name, wrong)
        for key, value in kwargs.items():
            if key in self._keywords:
                name, found = key, self._keywords[key]
            elif self._extra is not None:
                name, found = self._extra
            else:
                continue
            if found is not None and (wrong := found.check(value)) is not None:
                self._refuse(task, name, wrong)

    def _refuse(self, task: str, name: str, wrong: tuple[str, str]) -> None:
        where, found = wrong
        expected = self.types[name].name
        at = f" at {name}{where}" if where else ""
        raise InvalidArguments(task, f"parameter {name!r} expects {expected}, got {found}{at}",
                               parameter=name, expected=expected, given=found)

    def schema(self, name: str) -> dict[str, Any]:
        """The JSON Schema of one parameter's values ({}: any JSON value)."""
        found = self.types.get(name)
        return dict(found.schema) if found else {}


def arguments_schema(signature: inspect.Signature, types: ArgumentTypes | None) -> dict[str, Any]:
    """JSON Schemas of a start's ``args`` and ``kwargs`` for this signature: each position and
    name with its parameter's type (a parameter may come by either, so none is required here)."""
    def schema(name: str) -> dict[str, Any]:
        return types.schema(name) if types is not None else {}

    params = list(signature.parameters.values())
    positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    rest = next((p for p in params if p.kind is p.VAR_POSITIONAL), None)
    extra = next((p for p in params if p.kind is p.VAR_KEYWORD), None)
    args: dict[str, Any] = {"type": "array", "items": schema(rest.name) if rest else False}
    if positional:
        args["prefixItems"] = [schema(p.name) for p in positional]
    kwargs = {"type": "object", "additionalProperties": schema(extra.name) if extra else False,
              "properties": {p.name: schema(p.name) for p in params
                             if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}}
    return {"args": args, "kwargs": kwargs}
