"""The sandbox definitions' templates render in, and the budget of one render (#12.4).

Jinja's immutable sandbox keeps templates away from Python's internals, but not from the
worker's memory and CPU: ``{{ 'x'|center(300000000) }}``, ``((10**1000)**1000)**10`` or two
nested loops over a long string each hold a worker thread for seconds and take hundreds of MB.
A thread cannot be stopped from outside (a local activity's timeout only stops waiting for it),
so every limit is enforced from inside the evaluation, before the expensive value is built:

- every operation that builds a value checks its size first (operators ``*``, ``**``, ``+``,
  ``%``, ``~``; every filter; the methods of strings, bytes and integers that pad, repeat, join
  or replace; ``str.format`` widths) — no value over ``MAX_VALUE_SIZE`` characters, no integer
  over ``MAX_INTEGER_BITS`` bits;
- what one render builds in total is counted (``MAX_WORK``), and so is its output
  (``MAX_OUTPUT_CHARS``, captured blocks included);
- loop iterations (``MAX_LOOP_ITERATIONS``, every loop of the render together) and the depth of
  macro and recursive-loop calls (``MAX_CALL_DEPTH``) are bounded;
- the time (``RENDER_SECONDS`` of the thread's CPU time) is checked as operations, loop turns and
  calls go.

A refusal raises ``TemplateLimitExceeded`` (a Jinja ``SecurityError``), which
``engine.dsl.templates.render`` reports as a ``TemplateRenderError``: a step failure that the
step's ``on_error`` handles. Filters run only at render time (never folded into constants at
compile time), so validating a definition never runs them.
"""

from __future__ import annotations

import operator
import re
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field
from functools import update_wrapper, wraps
from typing import Any, TypeVar

from jinja2 import nodes, pass_context, pass_environment
from jinja2.compiler import CodeGenerator, Frame
from jinja2.environment import Environment
from jinja2.exceptions import SecurityError
from jinja2.filters import make_attrgetter
from jinja2.runtime import Context, LoopContext
from jinja2.sandbox import ImmutableSandboxedEnvironment, SandboxedFormatter
from jinja2.utils import _PassArg
from markupsafe import EscapeFormatter, Markup

#: The rendered text of one template (a webhook URL, header or body string, a property value).
MAX_OUTPUT_CHARS = 64 * 1024
#: Any one value a template builds, or turns into text, measured as the text it would print as.
MAX_VALUE_SIZE = 64 * 1024
#: Everything one render builds, together (values, captured blocks, output).
MAX_WORK = 2 * 1024 * 1024
#: Python's own limit for turning integers into text is 4,300 digits (about 14,300 bits).
MAX_INTEGER_BITS = 14_300
MAX_LOOP_ITERATIONS = 10_000
MAX_CALL_DEPTH = 20
#: CPU time of the rendering thread, not wall time: on a busy worker a thread waits for the GIL
#: behind dozens of others, and an ordinary template must not fail for that.
RENDER_SECONDS = 0.05
#: Reading a thread's CPU clock costs a system call: it is read every this many operations.
_CLOCK_EVERY = 16
#: Filters whose work grows faster than their input (text wrapping, URL detection) read at most this.
MAX_WRAP_INPUT = 16 * 1024
MAX_JSON_INDENT = 16


_V = TypeVar("_V")


class TemplateLimitExceeded(SecurityError):
    """A template went over one of its render limits; the message says which."""


# --- the budget of one render --------------------------------------------------------------------


@dataclass
class RenderBudget:
    """What one render has spent so far."""

    seconds: float = RENDER_SECONDS
    started: float = field(default_factory=time.thread_time)
    work: int = 0
    emitted: int = 0
    iterations: int = 0
    depth: int = 0
    operations: int = 0

    def tick(self) -> None:
        self.operations += 1
        if self.operations % _CLOCK_EVERY == 0 and time.thread_time() - self.started > self.seconds:
            raise TemplateLimitExceeded(f"rendering took longer than {self.seconds * 1000:g} ms of CPU time")

    def produced(self, value: _V) -> _V:
        """Account for a value an operation built (refused when it is too large)."""
        self.work += checked_size(value)
        if self.work > MAX_WORK:
            raise TemplateLimitExceeded(f"the template builds more than {MAX_WORK} characters in all")
        self.tick()
        return value

    def emit(self, value: _V) -> _V:
        """Account for a value written to the output (of the template or of a captured block)."""
        self.emitted += checked_size(value)
        if self.emitted > MAX_WORK:
            raise TemplateLimitExceeded(f"the template writes more than {MAX_WORK} characters in all")
        self.tick()
        return value

    def iterate(self) -> None:
        self.iterations += 1
        if self.iterations > MAX_LOOP_ITERATIONS:
            raise TemplateLimitExceeded(f"loops run more than {MAX_LOOP_ITERATIONS} times in one render")
        self.tick()


_BUDGET: ContextVar[RenderBudget | None] = ContextVar("rollcall_render_budget", default=None)


def current_budget() -> RenderBudget:
    """The budget of the render running in this thread (a fresh one outside a render: the size
    limits still hold)."""
    return _BUDGET.get() or RenderBudget()


def start_budget(budget: RenderBudget) -> Callable[[], None]:
    """Make ``budget`` the current one; returns the function that ends it."""
    token = _BUDGET.set(budget)
    return lambda: _BUDGET.reset(token)


# --- sizes ---------------------------------------------------------------------------------------


def text_size(value: Any, limit: int = MAX_VALUE_SIZE) -> int:
    """An upper bound of the length of ``str(value)``, counted until it passes ``limit``.

    Containers are counted item by item, shared items each time they appear (``str`` would print
    them each time): ``[s, s, s]`` is three times ``s``. Stops as soon as the count passes
    ``limit``, so measuring costs at most ``limit`` steps whatever the value.
    """
    if isinstance(value, str | bytes):
        return len(value)
    total = 0
    pending = [value]
    while pending and total <= limit:
        item = pending.pop()
        if isinstance(item, str | bytes):
            total += len(item) + 3
        elif isinstance(item, bool) or item is None:
            total += 5
        elif isinstance(item, int):
            total += item.bit_length() * 3 // 10 + 2
        elif isinstance(item, float):
            total += 24
        elif isinstance(item, Mapping):
            total += 2 + 4 * len(item)
            pending.extend(item.keys())
            pending.extend(item.values())
        elif isinstance(item, list | tuple | set | frozenset):
            total += 2 + 2 * len(item)
            pending.extend(item)
        else:
            # Other objects print as a short description (a macro, a loop, a generator).
            total += 100
    return total


def checked_size(value: Any, what: str = "a value") -> int:
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > MAX_INTEGER_BITS:
        raise TemplateLimitExceeded(f"an integer larger than {MAX_INTEGER_BITS} bits")
    size = text_size(value)
    if size > MAX_VALUE_SIZE:
        raise TemplateLimitExceeded(f"{what} larger than {MAX_VALUE_SIZE} characters")
    return size


def _estimate(size: int, what: str) -> None:
    if size > MAX_VALUE_SIZE:
        raise TemplateLimitExceeded(f"{what} would be larger than {MAX_VALUE_SIZE} characters")


def _width(value: Any, what: str) -> int:
    """A width, padding, count or indent argument: refused above the largest value size."""
    if isinstance(value, int) and not isinstance(value, bool) and value > MAX_VALUE_SIZE:
        raise TemplateLimitExceeded(f"{what} {value} is larger than {MAX_VALUE_SIZE}")
    return value if isinstance(value, int) else 0


def _argument(args: Sequence[Any], kwargs: Mapping[str, Any], index: int, name: str, default: Any) -> Any:
    if len(args) > index:
        return args[index]
    return kwargs.get(name, default)


# --- operators ---------------------------------------------------------------------------------------


def _check_multiply(left: Any, right: Any) -> None:
    if isinstance(left, int) and isinstance(right, int):
        if left.bit_length() + right.bit_length() > MAX_INTEGER_BITS:
            raise TemplateLimitExceeded(f"a product larger than {MAX_INTEGER_BITS} bits")
        return
    for sequence, times in ((left, right), (right, left)):
        if isinstance(times, int) and not isinstance(sequence, int | float):
            _estimate(text_size(sequence) * max(times, 0), "a repeated value")


def _check_power(base: Any, exponent: Any) -> None:
    growing = isinstance(base, int) and isinstance(exponent, int) and exponent > 0
    if growing and base.bit_length() * exponent > MAX_INTEGER_BITS:
        raise TemplateLimitExceeded(f"a power larger than {MAX_INTEGER_BITS} bits")


def _check_add(left: Any, right: Any) -> None:
    if not (isinstance(left, int | float) and isinstance(right, int | float)):
        _estimate(text_size(left) + text_size(right), "a sum of sequences")


#: One ``%`` conversion: ``%(key)-08.3f``, ``%s``, ``%%``.
_PERCENT_SPEC = re.compile(
    r"%(?:\((?P<key>[^()]*)\))?[-#0 +]*(?P<width>\*|\d+)?(?:\.(?P<precision>\*|\d+))?[hlL]?"
    r"(?P<kind>[diouxXeEfFgGcrsa%])"
)


def check_percent_format(template: str | bytes, values: Any) -> None:
    """Refuse a ``%``-format whose result would be too large, before formatting.

    Each conversion is measured with the value it formats (named conversions each time they
    appear); ``*`` widths and conversions this does not recognise are refused.
    """
    text = template.decode("latin-1") if isinstance(template, bytes) else template
    positional = values if isinstance(values, tuple) else (values,)
    estimate = len(text)
    rest = _PERCENT_SPEC.sub("", text)
    if "%" in rest:
        raise TemplateLimitExceeded("a %-format that templates do not support")
    number = 0
    for spec in _PERCENT_SPEC.finditer(text):
        if spec["kind"] == "%":
            continue
        width, precision = spec["width"], spec["precision"]
        if "*" in (width, precision):
            raise TemplateLimitExceeded("'*' widths are not supported in templates")
        padding = max(_width(int(width or 0), "a %-format width"), _width(int(precision or 0), "a %-format precision"))
        if spec["key"] is not None:
            value = values.get(spec["key"]) if isinstance(values, Mapping) else None
        else:
            value = positional[number] if number < len(positional) else None
            number += 1
        estimate += padding + text_size(value)
        _estimate(estimate, "a %-formatted text")


def _percent(left: Any, right: Any) -> Any:
    if isinstance(left, str | bytes):
        check_percent_format(left, right)
    return operator.mod(left, right)


# --- methods of strings, bytes and integers -------------------------------------------------------


def _text_method_arguments(
    owner: str | bytes, name: str, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> tuple[Any, ...]:
    """Refuse a call of a str/bytes method that would build too large a value; the arguments to
    call it with (``join`` reads its items once, here)."""
    if name in ("center", "ljust", "rjust", "zfill"):
        _width(_argument(args, kwargs, 0, "width", 0), f"the width of {name}()")
    elif name == "expandtabs":
        tabsize = _width(_argument(args, kwargs, 0, "tabsize", 8), "the tab size of expandtabs()")
        tabs = owner.count("\t") if isinstance(owner, str) else owner.count(b"\t")
        _estimate(len(owner) + tabs * tabsize, "expandtabs()")
    elif name == "replace" and len(args) >= 2:
        old, new = args[0], args[1]
        count = _argument(args, kwargs, 2, "count", -1)
        occurrences = owner.count(old) if old else len(owner) + 1
        if isinstance(count, int) and count >= 0:
            occurrences = min(occurrences, count)
        _estimate(len(owner) + occurrences * max(0, len(new) - len(old)), "replace()")
    elif name == "join" and args:
        items = list(args[0])
        _estimate(sum(text_size(item) for item in items) + len(owner) * len(items), "join()")
        return (items, *args[1:])
    elif name == "translate" and args:
        table = args[0]
        replacements: Iterable[Any] = table.values() if isinstance(table, Mapping) else ()
        longest = max((text_size(item) for item in replacements), default=1)
        _estimate(len(owner) * longest, "translate()")
    return args


def _method_arguments(method: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[Any, ...]:
    owner = getattr(method, "__self__", None)
    name = getattr(method, "__name__", "")
    if isinstance(owner, str | bytes):
        return _text_method_arguments(owner, name, args, kwargs)
    if isinstance(owner, int) and name == "to_bytes":
        _width(_argument(args, kwargs, 0, "length", 1), "the length of to_bytes()")
    return args


# --- str.format ------------------------------------------------------------------------------------

_SPEC_NUMBERS = re.compile(r"\d+")


class _BoundedFormatter(SandboxedFormatter):
    """``str.format`` in the sandbox, refusing large widths and precisions and large results."""

    def __init__(self, env: Environment, **kwargs: Any) -> None:
        super().__init__(env, **kwargs)
        self._written = 0

    def vformat(self, format_string: str, args: Sequence[Any], kwargs: Mapping[str, Any]) -> str:
        self._written = 0
        return super().vformat(format_string, args, kwargs)

    def convert_field(self, value: Any, conversion: str | None) -> Any:
        checked_size(value, "a formatted value")
        return super().convert_field(value, conversion)

    def format_field(self, value: Any, format_spec: str) -> Any:
        for number in _SPEC_NUMBERS.findall(format_spec):
            _width(int(number), "a format width or precision")
        checked_size(value, "a formatted value")
        result = super().format_field(value, format_spec)
        self._written += len(result)
        _estimate(self._written, "a formatted text")
        current_budget().tick()
        return result


class _BoundedEscapeFormatter(_BoundedFormatter, EscapeFormatter):
    """The same for ``format`` of a safe (Markup) string, which escapes what it inserts."""


# --- filters -----------------------------------------------------------------------------------------

FilterGuard = Callable[..., None]


def _guard_center(value: Any, width: Any = 80) -> None:
    _width(width, "the width of center")


def _guard_indent(value: Any, width: Any = 4, first: bool = False, blank: bool = False) -> None:
    text = str(value)
    pad = len(width) if isinstance(width, str) else _width(width, "the indent")
    _estimate(len(text) + (text.count("\n") + 2) * pad, "the indented text")


def _guard_wordwrap(
    value: Any, width: Any = 79, break_long_words: bool = True, wrapstring: Any = None, **_: Any
) -> None:
    text = str(value)
    if len(text) > MAX_WRAP_INPUT:
        raise TemplateLimitExceeded(f"wordwrap reads at most {MAX_WRAP_INPUT} characters")
    _width(width, "the width of wordwrap")
    separator = len(str(wrapstring)) if wrapstring is not None else 1
    _estimate(len(text) + (len(text) + 1) * separator, "the wrapped text")


def _guard_urlize(value: Any, *args: Any, **kwargs: Any) -> None:
    if len(str(value)) > MAX_WRAP_INPUT:
        raise TemplateLimitExceeded(f"urlize reads at most {MAX_WRAP_INPUT} characters")


def _guard_format(value: Any, *args: Any, **kwargs: Any) -> None:
    check_percent_format(str(value), kwargs or args)


def _guard_replace(value: Any, old: Any, new: Any, count: Any = None) -> None:
    _text_method_arguments(str(value), "replace", (str(old), str(new), -1 if count is None else count), {})


def _guard_batch(value: Any, linecount: Any, fill_with: Any = None) -> None:
    _width(linecount, "the batch size")


def _guard_slice(value: Any, slices: Any, fill_with: Any = None) -> None:
    _width(slices, "the number of slices")


def _children(item: Any) -> Iterable[Any]:
    if isinstance(item, Mapping):
        return item.values()
    return item if isinstance(item, list | tuple) else ()


def _nesting(value: Any) -> int:
    """How deeply ``value`` nests (measured values only: their expanded size is bounded)."""
    depth, level = 0, [value]
    while level:
        depth += 1
        level = [child for item in level for child in _children(item)]
    return depth


def _guard_tojson(value: Any, indent: Any = None) -> None:
    if indent is None:
        return
    if not isinstance(indent, int) or indent > MAX_JSON_INDENT:
        raise TemplateLimitExceeded(f"tojson indents by at most {MAX_JSON_INDENT}")
    _estimate(text_size(value) * (1 + indent * _nesting(value)), "the indented JSON")


def _guard_pprint(value: Any) -> None:
    _estimate(text_size(value) * (2 + _nesting(value)), "the pretty-printed value")


_FILTER_GUARDS: dict[str, FilterGuard] = {
    "center": _guard_center,
    "indent": _guard_indent,
    "wordwrap": _guard_wordwrap,
    "urlize": _guard_urlize,
    "format": _guard_format,
    "replace": _guard_replace,
    "batch": _guard_batch,
    "slice": _guard_slice,
    "tojson": _guard_tojson,
    "pprint": _guard_pprint,
}


@pass_environment
def _join(environment: Environment, value: Iterable[Any], d: str = "", attribute: str | int | None = None) -> str:
    """``join``: the items are read once and measured before any is turned into text."""
    if attribute is not None:
        value = map(make_attrgetter(environment, attribute), value)
    items = list(value)
    separator = str(d)
    _estimate(sum(text_size(item) for item in items) + len(separator) * len(items), "the joined text")
    return separator.join(map(str, items))


@pass_environment
def _sum(environment: Environment, iterable: Iterable[Any], attribute: str | int | None = None, start: Any = 0) -> Any:
    """``sum``: each addition is checked like ``+`` (a sum of lists would grow quadratically)."""
    if attribute is not None:
        iterable = map(make_attrgetter(environment, attribute), iterable)
    budget = current_budget()
    total = start
    for item in iterable:
        _check_add(total, item)
        total = budget.produced(total + item)
    return total


def _call_filter(original: Callable[..., Any], context: Context, value: Any, *args: Any, **kwargs: Any) -> Any:
    passes = _PassArg.from_obj(original)
    if passes is _PassArg.context:
        return original(context, value, *args, **kwargs)
    if passes is _PassArg.eval_context:
        return original(context.eval_ctx, value, *args, **kwargs)
    if passes is _PassArg.environment:
        return original(context.environment, value, *args, **kwargs)
    return original(value, *args, **kwargs)


def bounded_filter(name: str, original: Callable[..., Any]) -> Callable[..., Any]:
    """``original`` with the render budget around it: its value and arguments are measured before
    it runs (filters turn them into text), its guard (if any) refuses an amplifying argument, and
    what it returns is accounted for."""
    guard = _FILTER_GUARDS.get(name)

    @pass_context
    @wraps(original)
    def bounded(context: Context, value: Any, *args: Any, **kwargs: Any) -> Any:
        budget = current_budget()
        budget.tick()
        for argument in (value, *args, *kwargs.values()):
            checked_size(argument, f"the input of {name}")
        if guard is not None:
            guard(value, *args, **kwargs)
        return budget.produced(_call_filter(original, context, value, *args, **kwargs))

    return bounded


# --- code generation: loops and ~ -----------------------------------------------------------------


class _BudgetedCodeGenerator(CodeGenerator):
    def visit_Template(self, node: nodes.Template, frame: Frame | None = None) -> None:
        # Every loop iterates ``environment.loop_items(<iterable>)``, which counts the items.
        for loop in node.find_all(nodes.For):
            counted = nodes.Call(nodes.EnvironmentAttribute("loop_items"), [loop.iter], [], None, None)
            loop.iter = counted.set_lineno(loop.iter.lineno).set_environment(self.environment)
        super().visit_Template(node, frame)

    def visit_Concat(self, node: nodes.Concat, frame: Frame) -> None:
        self.write("environment.concat_values((")
        for argument in node.nodes:
            self.visit(argument, frame)
            self.write(", ")
        self.write("))")


# --- the environment -----------------------------------------------------------------------------


class DefinitionSandbox(ImmutableSandboxedEnvironment):
    """Jinja's immutable sandbox with the render budget enforced at every operation."""

    code_generator_class = _BudgetedCodeGenerator
    intercepted_binops = frozenset({"*", "**", "+", "%"})

    def __init__(self, **options: Any) -> None:
        super().__init__(finalize=self._written, **options)
        self.filters = {name: bounded_filter(name, original) for name, original in self.filters.items()}
        self.filters["join"] = bounded_filter("join", _join)
        self.filters["sum"] = bounded_filter("sum", _sum)

    @staticmethod
    def _written(value: Any) -> Any:
        return current_budget().emit(value)

    def call_binop(self, context: Context, operator_name: str, left: Any, right: Any) -> Any:
        budget = current_budget()
        budget.tick()
        if operator_name == "*":
            _check_multiply(left, right)
        elif operator_name == "**":
            _check_power(left, right)
        elif operator_name == "+":
            _check_add(left, right)
        elif operator_name == "%":
            return budget.produced(_percent(left, right))
        return budget.produced(self.binop_table[operator_name](left, right))

    def call(__self, __context: Context, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        budget = current_budget()
        budget.tick()
        args = _method_arguments(__obj, args, kwargs)
        if isinstance(__obj, LoopContext) and args:
            # loop(items) of a recursive loop iterates items directly: count them too.
            args = (__self.loop_items(args[0]), *args[1:])
        budget.depth += 1
        try:
            if budget.depth > MAX_CALL_DEPTH:
                raise TemplateLimitExceeded(f"calls nested more than {MAX_CALL_DEPTH} deep")
            return budget.produced(super().call(__context, __obj, *args, **kwargs))
        finally:
            budget.depth -= 1

    def getattr(self, obj: Any, attribute: str) -> Any:
        current_budget().tick()
        return super().getattr(obj, attribute)

    def getitem(self, obj: Any, argument: Any) -> Any:
        current_budget().tick()
        return super().getitem(obj, argument)

    def wrap_str_format(self, value: Any) -> Callable[..., str] | None:
        if super().wrap_str_format(value) is None:
            return None
        owner: str = value.__self__
        formatter = (
            _BoundedEscapeFormatter(self, escape=owner.escape) if isinstance(owner, Markup) else _BoundedFormatter(self)
        )
        is_format_map = value.__name__ == "format_map"

        def bounded_format(*args: Any, **kwargs: Any) -> str:
            positional: Sequence[Any] = args
            named: Mapping[str, Any] = kwargs
            if is_format_map:
                if kwargs or len(args) != 1:
                    raise TypeError("format_map() takes exactly one argument")
                positional, named = (), args[0]
            return type(owner)(formatter.vformat(owner, positional, named))

        return update_wrapper(bounded_format, value)

    def loop_items(self, iterable: Iterable[Any]) -> Iterator[Any]:
        budget = current_budget()
        for item in iterable:
            budget.iterate()
            yield item

    def concat(self, parts: Iterable[str]) -> str:
        """Joins captured output (``{% set %}…{% endset %}``, macros, ``{% filter %}``)."""
        pieces = list(parts)
        _estimate(sum(len(piece) for piece in pieces), "a captured block")
        return current_budget().produced("".join(pieces))

    def concat_values(self, values: tuple[Any, ...]) -> str:
        """``a ~ b``: measured before the parts are turned into text."""
        _estimate(sum(text_size(value) for value in values), "a joined text")
        return current_budget().produced("".join(map(str, values)))
