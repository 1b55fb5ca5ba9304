"""Templates in definitions: sandboxed Jinja2, rendered exactly once.

Definitions are written by users, so templates run in Jinja's immutable sandbox (no dunder or
internal attributes, no mutation of the context, no globals), within a budget per render
(``engine.dsl.sandbox``: sizes, loops, calls, time), with ``StrictUndefined`` (a typo
fails loudly instead of registering a contact to webinar ``""``). A rendered value is data, never
a template again: a contact whose first name is ``{{ secrets.API_KEY }}`` gets exactly that text.

The variables a template may read (checked by validation, see ``references``):

- ``contact.email``, ``contact.first_name``, ``contact.last_name``, ``contact.id``,
  ``contact.properties.<name>``, ``contact.zoom_webinar_joinlink`` (R-PROP-2: the personal join
  link of the webinar the contact registered for last)
- ``steps.<id>.<field>``: the result of an earlier step
- ``secrets.<NAME>``: only in webhook urls, headers and bodies
- ``enrollment.<field>``
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

from jinja2 import StrictUndefined, Template, TemplateError, nodes
from jinja2.meta import find_undeclared_variables

from engine.crm.segments import AndFilter, Condition, EventFilter, NotFilter, OrFilter, SegmentFilter
from engine.dsl.sandbox import MAX_OUTPUT_CHARS, DefinitionSandbox, RenderBudget, TemplateLimitExceeded, start_budget
from engine.errors import RollcallError

#: One part of a variable reference: an attribute or key name, an integer index, or None for a
#: part computed at run time (``steps[some_name]``).
ReferencePart = str | int | None
#: How much of a template a render error quotes.
_QUOTED_TEMPLATE = 200


class TemplateRenderError(RollcallError):
    """A template could not be rendered with this enrollment's data (an undefined variable, a sandbox
    refusal, a render limit)."""

    code = "TEMPLATE_RENDER_ERROR"


def _environment() -> DefinitionSandbox:
    environment = DefinitionSandbox(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=True)
    # No range, dict, lipsum, cycler…: a template reads the enrollment's data and nothing else.
    environment.globals.clear()
    return environment


ENVIRONMENT = _environment()


@functools.lru_cache(maxsize=1024)
def _compile(source: str) -> Template:
    return ENVIRONMENT.from_string(source)


def is_template(text: str) -> bool:
    """Whether ``text`` uses template syntax (fields that take a literal or a template decide with this)."""
    return "{{" in text or "{%" in text or "{#" in text


def references(source: str) -> list[tuple[ReferencePart, ...]]:
    """Every variable ``source`` reads, as paths: ``{{ contact.properties.x }}`` → ``("contact", "properties", "x")``.

    Raises ``jinja2.TemplateSyntaxError`` when the template does not parse. Names the template
    binds itself (``{% for item in … %}``, ``{% set … %}``) are not reported.
    """
    tree = ENVIRONMENT.parse(source)
    free = find_undeclared_variables(tree)
    return [reference for reference in _walk(tree) if reference[0] in free]


def secret_names(sources: Iterable[str]) -> frozenset[str]:
    """The names of the secrets the templates in ``sources`` read as ``secrets.NAME``."""
    names: set[str] = set()
    for source in sources:
        if is_template(source):
            names.update(
                reference[1]
                for reference in references(source)
                if reference[0] == "secrets" and len(reference) > 1 and isinstance(reference[1], str)
            )
    return frozenset(names)


def _walk(node: nodes.Node) -> Iterator[tuple[ReferencePart, ...]]:
    if isinstance(node, nodes.Getattr | nodes.Getitem):
        chain: list[ReferencePart] = []
        current: nodes.Node = node
        while isinstance(current, nodes.Getattr | nodes.Getitem):
            if isinstance(current, nodes.Getattr):
                chain.append(current.attr)
            elif isinstance(current.arg, nodes.Const) and isinstance(current.arg.value, str | int):
                chain.append(current.arg.value)
            else:
                chain.append(None)
                yield from _walk(current.arg)
            current = current.node
        if isinstance(current, nodes.Name) and current.ctx == "load":
            yield (current.name, *reversed(chain))
        else:
            yield from _walk(current)
        return
    if isinstance(node, nodes.Name) and node.ctx == "load":
        yield (node.name,)
        return
    for child in node.iter_child_nodes():
        yield from _walk(child)


def render(template: str, context: Mapping[str, Any]) -> str:
    """Render ``template`` once with ``context`` within the render limits (``engine.dsl.sandbox``);
    TemplateRenderError when it cannot be rendered."""
    try:
        compiled = _compile(template)
        end_budget = start_budget(RenderBudget())
        try:
            return _output(compiled, context)
        finally:
            end_budget()
    except (TemplateError, ArithmeticError, TypeError, ValueError, LookupError, RecursionError, MemoryError) as exc:
        # Expressions are user code: any error they raise is a property of the definition and
        # the enrollment's data, reported with the template it came from.
        quoted = template if len(template) <= _QUOTED_TEMPLATE else template[:_QUOTED_TEMPLATE] + "…"
        raise TemplateRenderError(
            f"template {quoted!r} cannot be rendered: {exc}", details={"template": quoted}
        ) from exc


def _output(template: Template, context: Mapping[str, Any]) -> str:
    """The template's output, refused as soon as it passes ``MAX_OUTPUT_CHARS``."""
    parts: list[str] = []
    written = 0
    for part in template.root_render_func(template.new_context(dict(context))):
        written += len(part)
        if written > MAX_OUTPUT_CHARS:
            raise TemplateLimitExceeded(f"the output is longer than {MAX_OUTPUT_CHARS} characters")
        parts.append(part)
    return "".join(parts)


def render_json(value: Any, context: Mapping[str, Any]) -> Any:
    """A copy of the JSON value ``value`` with every string rendered once (keys stay literal)."""
    return _map_strings(value, lambda text: render(text, context))


def json_strings(value: Any) -> Iterator[str]:
    """Every string of the JSON value ``value`` (not its keys: they are not rendered)."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, Mapping):
        for item in value.values():
            yield from json_strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from json_strings(item)


def _map_strings(value: Any, change: Callable[[str], str]) -> Any:
    if isinstance(value, str):
        return change(value)
    if isinstance(value, Mapping):
        return {key: _map_strings(item, change) for key, item in value.items()}
    if isinstance(value, list):
        return [_map_strings(item, change) for item in value]
    return value


def render_filter(node: SegmentFilter, context: Mapping[str, Any]) -> SegmentFilter:
    """A copy of the segment filter with every text value of its conditions rendered once.

    Lets a branch test the enrollment's own data, e.g. attendance of the webinar whose id is in
    ``{{ contact.properties.webinar_id }}`` (R-SEG-1 filters hold literals only).
    """
    if isinstance(node, AndFilter | OrFilter):
        return node.model_copy(update={"filters": [render_filter(child, context) for child in node.filters]})
    if isinstance(node, NotFilter):
        return node.model_copy(update={"filter": render_filter(node.filter, context)})
    if isinstance(node, EventFilter):
        return node.model_copy(update={"where": [_render_condition(condition, context) for condition in node.where]})
    return _render_condition(node, context)


def _render_condition(condition: Condition, context: Mapping[str, Any]) -> Condition:
    return condition.model_copy(update={"value": render_json(condition.value, context)})
