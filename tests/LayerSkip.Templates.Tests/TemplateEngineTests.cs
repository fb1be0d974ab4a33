using System.Text.Json;
using System.Text.Json.Nodes;
using LayerSkip.Templates;

namespace LayerSkip.Templates.Tests;

public class TemplateEngineTests
{
    private static string Render(string template, Dictionary<string, object?>? ctx = null, TemplateOptions? options = null) =>
        ChatTemplate.Parse(template, options ?? TemplateOptions.HuggingFace).Render(ctx ?? new Dictionary<string, object?>());

    private static Dictionary<string, object?> Ctx(params (string Key, object? Value)[] items) =>
        items.ToDictionary(i => i.Key, i => i.Value);

    // ---------------- text, comments, whitespace control ----------------

    [Fact]
    public void PlainTextAndComments()
    {
        Assert.Equal("Hello world", Render("Hello {# a comment #}world"));
        Assert.Equal("a{b}c", Render("a{b}c"));
        Assert.Equal("", Render(""));
    }

    [Fact]
    public void DashStripsAllAdjacentWhitespace()
    {
        Assert.Equal("a|b", Render("a  \n {{- '|' -}} \n\t b"));
        Assert.Equal("ab", Render("a\n  {%- if true -%}\n  b\n{%- endif %}"));
        Assert.Equal("xy", Render("x \n{#- comment -#}\n y"));
    }

    [Fact]
    public void PlainJinjaKeepsWhitespaceAroundBlocks()
    {
        var src = "<ul>\n  {% for x in xs %}\n  <li>{{ x }}</li>\n  {% endfor %}\n</ul>";
        Assert.Equal("<ul>\n  \n  <li>1</li>\n  \n  <li>2</li>\n  \n</ul>",
            Render(src, Ctx(("xs", new[] { 1, 2 })), TemplateOptions.Jinja));
    }

    [Fact]
    public void HuggingFaceDefaultsTrimAndLstripBlocks()
    {
        // transformers renders chat templates with trim_blocks=True, lstrip_blocks=True.
        var src = "<ul>\n  {% for x in xs %}\n  <li>{{ x }}</li>\n  {% endfor %}\n</ul>";
        Assert.Equal("<ul>\n  <li>1</li>\n  <li>2</li>\n</ul>", Render(src, Ctx(("xs", new[] { 1, 2 }))));
        // lstrip only applies when the tag starts the line; '+' disables it; variables are never trimmed.
        Assert.Equal("a {% x", Render("a {% if true %}{{ '{% x' }}{% endif %}"));
        Assert.Equal("  X\n", Render("  {%+ if true %}X\n{% endif %}"));
        Assert.Equal("  1\n2", Render("  {{ 1 }}\n{% if true %}\n2{% endif %}"));
    }

    [Fact]
    public void SingleTrailingNewlineIsDropped()
    {
        Assert.Equal("a", Render("a\n"));
        Assert.Equal("a\n", Render("a\n\n"));
        Assert.Equal("a\n", Render("a\n", options: TemplateOptions.Jinja with { KeepTrailingNewline = true }));
        Assert.Equal("a\nb", Render("a\r\nb"));
    }

    [Fact]
    public void RawBlockIsVerbatim()
    {
        Assert.Equal("{{ not evaluated }} {% if %}", Render("{% raw %}{{ not evaluated }} {% if %}{% endraw %}"));
    }

    // ---------------- literals and expressions ----------------

    [Theory]
    [InlineData("{{ 'a\\nb' }}", "a\nb")]
    [InlineData("{{ \"it's\" }}", "it's")]
    [InlineData("{{ 'tab\\there' }}", "tab\there")]
    [InlineData("{{ '\\u00e9\\x41' }}", "éA")]
    [InlineData("{{ 'a' 'b' }}", "ab")]
    [InlineData("{{ 42 }}", "42")]
    [InlineData("{{ 1.5 }}", "1.5")]
    [InlineData("{{ 2.0 }}", "2.0")]
    [InlineData("{{ 1e3 }}", "1000.0")]
    [InlineData("{{ 1_000 }}", "1000")]
    [InlineData("{{ true }}{{ False }}{{ none }}{{ None }}", "TrueFalseNoneNone")]
    [InlineData("{{ [1, 'a', none, true] }}", "[1, 'a', None, True]")]
    [InlineData("{{ {'a': 1, 'b': [2]} }}", "{'a': 1, 'b': [2]}")]
    [InlineData("{{ (1, 2) }}", "(1, 2)")]
    [InlineData("{{ 7 // 2 }} {{ -7 // 2 }} {{ 7 % 3 }} {{ -7 % 3 }} {{ 7 / 2 }} {{ 2 ** 10 }}", "3 -4 1 2 3.5 1024")]
    [InlineData("{{ 1 + 2 * 3 }} {{ (1 + 2) * 3 }} {{ -2 + 5 }} {{ 1 - 0.5 }}", "7 9 3 0.5")]
    [InlineData("{{ 'a' ~ 1 ~ none ~ undefined_thing }}", "a1None")]
    [InlineData("{{ 'ab' + 'cd' }} {{ 'ab' * 3 }} {{ [1] + [2] }}", "abcd ababab [1, 2]")]
    [InlineData("{{ 1 < 2 < 3 }} {{ 3 > 2 > 2 }} {{ 2 >= 2 }} {{ 'a' < 'b' }} {{ 1 == 1.0 }} {{ 1 != 2 }}", "True False True True True True")]
    [InlineData("{{ 'b' in 'abc' }} {{ 2 in [1, 2] }} {{ 'k' in {'k': 1} }} {{ 3 not in [1] }} {{ 'x' in missing }}", "True True True True False")]
    [InlineData("{{ true and 'x' }} {{ false or 'y' }} {{ not 0 }} {{ not (1 and 0) }} {{ 0 or '' }}|", "x y True True |")]
    [InlineData("{{ 'yes' if 1 > 0 else 'no' }} {{ 'yes' if 0 else 'no' }} [{{ 'only' if false }}]", "yes no []")]
    [InlineData("{{ 'a' if x else 'b' if y else 'c' }}", "c")]
    [InlineData("{{ 0.1 + 0.2 }} {{ 1e20 * 1.0 }} {{ 1 / 3 }} {{ 0.0001 }} {{ 0.00001 }}", "0.30000000000000004 1e+20 0.3333333333333333 0.0001 1e-05")]
    public void Expressions(string template, string expected) => Assert.Equal(expected, Render(template));

    [Fact]
    public void AttributeItemAndSliceAccess()
    {
        var ctx = Ctx(
            ("m", new Dictionary<string, object?> { ["role"] = "user", ["content"] = "hi", ["items"] = "shadowed" }),
            ("xs", new List<object?> { 1, 2, 3, 4, 5 }),
            ("s", "hello"));
        Assert.Equal("user user hi", Render("{{ m.role }} {{ m['role'] }} {{ m.content }}", ctx));
        Assert.Equal("1 5 4 |", Render("{{ xs[0] }} {{ xs[-1] }} {{ xs.3 }} {{ xs[10] }}|", ctx));
        Assert.Equal("[5, 4, 3, 2, 1] [2, 3, 4, 5] [1, 2] [1, 3, 5] [4, 3] []",
            Render("{{ xs[::-1] }} {{ xs[1:] }} {{ xs[:2] }} {{ xs[::2] }} {{ xs[-2:1:-1] }} {{ xs[3:1] }}", ctx));
        Assert.Equal("olleh ell h o", Render("{{ s[::-1] }} {{ s[1:4] }} {{ s[0] }} {{ s[-1] }}", ctx));
        // dict methods win over keys for attribute syntax, keys win for subscripts (like Jinja's getattr/getitem order)
        Assert.Equal("shadowed 3", Render("{{ m['items'] }} {{ m.items() | length }}", ctx));
    }

    // ---------------- undefined ----------------

    [Fact]
    public void UndefinedBehavesLikeJinjaDefaultUndefined()
    {
        var ctx = Ctx(("d", new Dictionary<string, object?> { ["n"] = null }));
        Assert.Equal("[]", Render("[{{ missing }}]"));
        Assert.Equal("[]", Render("[{{ missing.attr.deeper }}{{ missing['k'] }}{{ d.nope }}]", ctx));
        Assert.Equal("falsy", Render("{% if missing %}truthy{% else %}falsy{% endif %}"));
        Assert.Equal("False True True", Render("{{ missing is defined }} {{ missing is undefined }} {{ d.nope is not defined }}", ctx));
        Assert.Equal("True True False", Render("{{ d.n is defined }} {{ d.n is none }} {{ d.n is not none }}", ctx));
        Assert.Equal("none", Render("{% for x in missing %}{{ x }}{% else %}none{% endfor %}"));
        Assert.Equal("0", Render("{{ missing | length }}"));
        Assert.Equal("fallback None", Render("{{ missing | default('fallback') }} {{ d.n | default('x') }}", ctx));
        Assert.Equal("x", Render("{{ d.n | default('x', true) }}", ctx));
        var ex = Assert.Throws<TemplateException>(() => Render("{{ missing + 1 }}"));
        Assert.Contains("missing", ex.Message);
        Assert.Throws<TemplateException>(() => Render("{{ nothing() }}"));
    }

    // ---------------- statements ----------------

    [Fact]
    public void IfElifElse()
    {
        const string t = "{% if n == 1 %}one{% elif n == 2 %}two{% elif n > 2 %}many{% else %}none{% endif %}";
        Assert.Equal("one", Render(t, Ctx(("n", 1))));
        Assert.Equal("two", Render(t, Ctx(("n", 2))));
        Assert.Equal("many", Render(t, Ctx(("n", 7))));
        Assert.Equal("none", Render(t, Ctx(("n", 0))));
    }

    [Fact]
    public void ForLoopVariables()
    {
        var ctx = Ctx(("xs", new[] { "a", "b", "c" }));
        Assert.Equal("1.0.3.2.T.F.3|2.1.2.1.F.F.3|3.2.1.0.F.T.3|",
            Render("{% for x in xs %}{{ loop.index }}.{{ loop.index0 }}.{{ loop.revindex }}.{{ loop.revindex0 }}." +
                   "{{ loop.first and 'T' or 'F' }}.{{ loop.last and 'T' or 'F' }}.{{ loop.length }}|{% endfor %}", ctx));
        Assert.Equal("-a|a-b|b-c|", Render("{% for x in xs %}{{ loop.previtem }}-{{ x }}|{% endfor %}", ctx));
        Assert.Equal("odd even odd ", Render("{% for x in xs %}{{ loop.cycle('odd', 'even') }} {% endfor %}", ctx));
    }

    [Fact]
    public void ForLoopElseFilterAndUnpacking()
    {
        Assert.Equal("empty", Render("{% for x in [] %}{{ x }}{% else %}empty{% endfor %}"));
        Assert.Equal("2/2 4/2 ", Render("{% for x in range(1, 5) if x % 2 == 0 %}{{ x }}/{{ loop.length }} {% endfor %}"));
        var d = new Dictionary<string, object?> { ["b"] = 2, ["a"] = 1 };
        Assert.Equal("b=2;a=1;", Render("{% for k, v in d.items() %}{{ k }}={{ v }};{% endfor %}", Ctx(("d", d))));
        Assert.Equal("b=2;a=1;", Render("{% for k, v in d | items %}{{ k }}={{ v }};{% endfor %}", Ctx(("d", d))));
        Assert.Equal("ba", Render("{% for k in d %}{{ k }}{% endfor %}", Ctx(("d", d))));
        Assert.Equal("1:2 3:4 ", Render("{% for (a, b) in [[1, 2], [3, 4]] %}{{ a }}:{{ b }} {% endfor %}"));
    }

    [Fact]
    public void NestedLoopsShadowLoopVariable()
    {
        Assert.Equal("0:0 0:1 1:0 1:1 ",
            Render("{% for i in range(2) %}{% set outer = loop.index0 %}{% for j in range(2) %}{{ outer }}:{{ loop.index0 }} {% endfor %}{% endfor %}"));
    }

    [Fact]
    public void BreakAndContinue()
    {
        Assert.Equal("013", Render("{% for i in range(10) %}{% if i == 2 %}{% continue %}{% endif %}{% if i == 4 %}{% break %}{% endif %}{{ i }}{% endfor %}"));
    }

    [Fact]
    public void SetScopingAndNamespace()
    {
        // a plain set inside a loop does not leak; a namespace attribute does
        Assert.Equal("0 3", Render("{% set n = 0 %}{% set ns = namespace(n=0) %}{% for i in range(3) %}{% set n = n + 1 %}{% set ns.n = ns.n + 1 %}{% endfor %}{{ n }} {{ ns.n }}"));
        Assert.Equal("1-2", Render("{% set a, b = 1, 2 %}{{ a }}-{{ b }}"));
        Assert.Equal("HELLO", Render("{% set x | upper %}hello{% endset %}{{ x }}"));
        Assert.Equal("True 5", Render("{% set ns = namespace(found=false, count=5) %}{% for x in [1] %}{% set ns.found = true %}{% endfor %}{{ ns.found }} {{ ns.count }}"));
        Assert.Throws<TemplateException>(() => Render("{% set d = {} %}{% set d.x = 1 %}"));
    }

    [Fact]
    public void IfDoesNotOpenAScope()
    {
        Assert.Equal("set", Render("{% if true %}{% set v = 'set' %}{% endif %}{{ v }}"));
    }

    [Fact]
    public void Macros()
    {
        const string t = "{% macro greet(name, punct='!') %}Hi {{ name }}{{ punct }}{% endmacro %}{{ greet('Ann') }} {{ greet('Bob', punct='?') }}";
        Assert.Equal("Hi Ann! Hi Bob?", Render(t));
    }

    [Fact]
    public void RecursiveMacroOverJsonSchema()
    {
        // in the style of the Hermes/Qwen2.5 tool templates' json_to_python_type macro
        const string t = "{%- macro py(spec) -%}" +
                         "{%- if spec.type == 'array' -%}list[{{ py(spec['items']) }}]" +
                         "{%- elif spec.type == 'object' -%}dict[str, {{ py(spec.additionalProperties) if spec.additionalProperties is defined else 'Any' }}]" +
                         "{%- else -%}{{ {'string': 'str', 'integer': 'int'}[spec.type] }}{%- endif -%}" +
                         "{%- endmacro -%}{{ py(schema) }}";
        var schema = JsonDocument.Parse("""{"type": "array", "items": {"type": "object", "additionalProperties": {"type": "integer"}}}""").RootElement;
        Assert.Equal("list[dict[str, int]]", Render(t, Ctx(("schema", schema))));
    }

    [Fact]
    public void NestedDictLiteralInsideOutputTag()
    {
        Assert.Equal("{'a': {'b': 1}}", Render("{{ {'a': {'b': 1}} }}"));
        Assert.Equal("1", Render("{{ {'a': {'b': 1}}['a']['b']}}"));
    }

    [Fact]
    public void GenerationBlockRendersItsBody()
    {
        Assert.Equal("<a>x</a>", Render("<a>{% generation %}{{ 'x' }}{% endgeneration %}</a>"));
    }

    [Fact]
    public void FilterBlock()
    {
        Assert.Equal("AB", Render("{% filter upper %}a{{ 'b' }}{% endfilter %}"));
    }

    // ---------------- filters ----------------

    [Theory]
    [InlineData("{{ '  hi  ' | trim }}|", "hi|")]
    [InlineData("{{ 'xxhixx' | trim('x') }}", "hi")]
    [InlineData("{{ [1, 2, 3] | length }} {{ 'héllo' | length }} {{ {'a': 1} | length }} {{ [1] | count }}", "3 5 1 1")]
    [InlineData("{{ [3, 1, 2] | first }} {{ [3, 1, 2] | last }} {{ 'abc' | first }}", "3 2 a")]
    [InlineData("{{ [1, 2, 3] | join(', ') }} {{ ['a', 'b'] | join }}", "1, 2, 3 ab")]
    [InlineData("{{ 'Hello' | upper }} {{ 'Hello' | lower }} {{ 'hELLO wORLD' | capitalize }} {{ 'hello world' | title }}", "HELLO hello Hello world Hello World")]
    [InlineData("{{ 42 | string }} {{ (42 | string) ~ '!' }} {{ none | string }}", "42 42! None")]
    [InlineData("{{ '42' | int + 1 }} {{ 3.9 | int }} {{ 'x' | int }} {{ 'x' | int(7) }} {{ '2.5' | float }}", "43 3 0 7 2.5")]
    [InlineData("{{ [1, 2, 3] | reverse | list }} {{ 'abc' | reverse }}", "[3, 2, 1] cba")]
    [InlineData("{{ 'abc' | list }} {{ {'a': 1, 'b': 2} | list }}", "['a', 'b', 'c'] ['a', 'b']")]
    [InlineData("{{ 'a-b-c' | replace('-', '+') }} {{ 'a-b-c' | replace('-', '', 1) }}", "a+b+c ab-c")]
    [InlineData("{{ {'a': 1} | items | list }}", "[('a', 1)]")]
    [InlineData("{{ [3, 1, 2] | sort }} {{ [3, 1, 2] | sort(reverse=true) }} {{ [1, 1, 2] | unique | list }}", "[1, 2, 3] [3, 2, 1] [1, 2]")]
    [InlineData("{{ [3, 1, 2] | min }} {{ [3, 1, 2] | max }} {{ [3, 1, 2] | sum }} {{ -3 | abs }}", "1 3 6 3")]
    [InlineData("{{ ['a', 'b'] | map('upper') | join }}", "AB")]
    [InlineData("{{ [1, 0, 2, none] | select | list }} {{ [1, 2, 3, 4] | reject('odd') | list }} {{ [1, 2, 3] | select('gt', 1) | list }}", "[1, 2] [2, 4] [2, 3]")]
    [InlineData("{{ 'a\nb' | indent(2) }}|{{ 'a\nb' | indent(2, true) }}", "a\n  b|  a\n  b")]
    [InlineData("{{ 3.14159 | round(2) }} {{ 2.5 | round }} {{ 3.5 | round }}", "3.14 2.0 4.0")]
    public void Filters(string template, string expected) => Assert.Equal(expected, Render(template));

    [Fact]
    public void AttributeFilters()
    {
        var msgs = new List<object?>
        {
            new Dictionary<string, object?> { ["role"] = "system", ["content"] = "s" },
            new Dictionary<string, object?> { ["role"] = "user", ["content"] = "u1" },
            new Dictionary<string, object?> { ["role"] = "assistant", ["content"] = "a", ["tool_calls"] = new[] { 1 } },
            new Dictionary<string, object?> { ["role"] = "user", ["content"] = "u2" },
        };
        var ctx = Ctx(("messages", msgs));
        Assert.Equal("u1,u2", Render("{{ messages | selectattr('role', 'equalto', 'user') | map(attribute='content') | join(',') }}", ctx));
        Assert.Equal("3", Render("{{ messages | rejectattr('role', 'eq', 'system') | list | length }}", ctx));
        Assert.Equal("a", Render("{{ (messages | selectattr('tool_calls') | first).content }}", ctx));
        Assert.Equal("s|u1|a|u2", Render("{{ messages | map(attribute='content') | join('|') }}", ctx));
        Assert.Equal("x,x,a,x", Render("{{ messages | map(attribute='tool_calls', default='x') | map('string') | join(',') | replace('[1]', 'a') }}", ctx));
        Assert.Equal("2", Render("{{ messages | selectattr('role', 'in', ['user']) | list | length }}", ctx));
    }

    [Fact]
    public void ToJsonFollowsPythonJsonDumps()
    {
        var ctx = Ctx(("v", new Dictionary<string, object?>
        {
            ["z"] = "é \"quoted\" <tag> & \\ \n\t\u0001",
            ["a"] = new object?[] { 1, 2.5, 3.0, true, null },
            ["e"] = new Dictionary<string, object?>(),
            ["l"] = Array.Empty<object>(),
        }));
        Assert.Equal("{\"z\": \"é \\\"quoted\\\" <tag> & \\\\ \\n\\t\\u0001\", \"a\": [1, 2.5, 3.0, true, null], \"e\": {}, \"l\": []}",
            Render("{{ v | tojson }}", ctx));
        Assert.Equal("{\n  \"z\": \"é \\\"quoted\\\" <tag> & \\\\ \\n\\t\\u0001\",\n  \"a\": [\n    1,\n    2.5,\n    3.0,\n    true,\n    null\n  ],\n  \"e\": {},\n  \"l\": []\n}",
            Render("{{ v | tojson(indent=2) }}", ctx));
        Assert.Equal("{\"b\":1,\"a\":2}", Render("{{ {'b': 1, 'a': 2} | tojson(separators=(',', ':')) }}"));
        Assert.Equal("{\"a\": 2, \"b\": 1}", Render("{{ {'b': 1, 'a': 2} | tojson(sort_keys=true) }}"));
        Assert.Equal("\"x\" 1 null", Render("{{ 'x' | tojson }} {{ 1 | tojson }} {{ none | tojson }}"));
    }

    [Fact]
    public void JsonInputsKeepKeyOrderAndNumberKinds()
    {
        var element = JsonDocument.Parse("""{"b": {"y": [1, 2.0, "s", null, false]}, "a": 1.5}""").RootElement;
        var node = JsonNode.Parse("""{"k": [1, {"n": true}], "f": 2.0}""");
        var ctx = Ctx(("e", element), ("n", node));
        Assert.Equal("{\"b\": {\"y\": [1, 2.0, \"s\", null, false]}, \"a\": 1.5}", Render("{{ e | tojson }}", ctx));
        Assert.Equal("{\"k\": [1, {\"n\": true}], \"f\": 2.0}", Render("{{ n | tojson }}", ctx));
        Assert.Equal("True True 2 s", Render("{{ e is mapping }} {{ n.k[1].n }} {{ e.b.y | length - 3 }} {{ e['b']['y'][2] }}", ctx));
    }

    [Fact]
    public void PocoAndAnonymousObjectsBecomeDicts()
    {
        var ctx = Ctx(("m", new { role = "user", content = "hey" }));
        Assert.Equal("user: hey", Render("{{ m.role }}: {{ m['content'] }}", ctx));
    }

    // ---------------- tests ----------------

    [Theory]
    [InlineData("{{ 'x' is string }} {{ 1 is string }}", "True False")]
    [InlineData("{{ {} is mapping }} {{ [] is mapping }}", "True False")]
    [InlineData("{{ [] is iterable }} {{ 'x' is iterable }} {{ 1 is iterable }}", "True True False")]
    [InlineData("{{ [] is sequence }} {{ 'x' is sequence }} {{ 1 is sequence }}", "True True False")]
    [InlineData("{{ 1 is number }} {{ 1.5 is number }} {{ 'x' is number }} {{ 1 is integer }} {{ 1.5 is float }}", "True True False True True")]
    [InlineData("{{ true is true }} {{ 1 is true }} {{ false is false }} {{ true is boolean }}", "True False True True")]
    [InlineData("{{ none is none }} {{ 0 is none }} {{ 0 is not none }}", "True False True")]
    [InlineData("{{ 3 is odd }} {{ 4 is even }} {{ 9 is divisibleby 3 }} {{ 9 is divisibleby(4) }}", "True True True False")]
    [InlineData("{{ 2 is eq 2 }} {{ 'a' is in ['a'] }} {{ range is callable }}", "True True True")]
    [InlineData("{{ not 1 is none }} {{ 1 is not none and 2 is number }}", "True True")]
    public void Tests(string template, string expected) => Assert.Equal(expected, Render(template));

    // ---------------- methods ----------------

    [Theory]
    [InlineData("{{ 'hello'.startswith('he') }} {{ 'hello'.endswith('lo') }} {{ 'hello'.startswith(('x', 'h')) }}", "True True True")]
    [InlineData("{{ '  a  '.strip() }}|{{ '\\n\\na\\n'.lstrip('\\n') }}|{{ 'a\\n\\n'.rstrip('\\n') }}|{{ 'xxaxx'.strip('x') }}", "a|a\n|a|a")]
    [InlineData("{{ 'a,b,,c'.split(',') }} {{ ' a  b '.split() }} {{ 'a,b,c'.split(',', 1) }} {{ 'a,b,c'.rsplit(',', 1) }}", "['a', 'b', '', 'c'] ['a', 'b'] ['a', 'b,c'] ['a,b', 'c']")]
    [InlineData("{{ 'x</think>y</think>z'.split('</think>')[-1] }} {{ 'no tag'.split('</think>')[0] }}", "z no tag")]
    [InlineData("{{ 'aaa'.replace('a', 'b') }} {{ 'aaa'.replace('a', 'b', 2) }}", "bbb bba")]
    [InlineData("{{ 'Ab'.upper() }} {{ 'Ab'.lower() }} {{ 'hello'.find('l') }} {{ 'hello'.find('z') }} {{ 'hello'.count('l') }}", "AB ab 2 -1 2")]
    [InlineData("{{ ', '.join(['a', 'b']) }} {{ 'abc'.title() }} {{ 'abc'.capitalize() }}", "a, b Abc Abc")]
    [InlineData("{{ {'a': 1}.get('a') }} {{ {'a': 1}.get('b') }} {{ {'a': 1}.get('b', 2) }}", "1 None 2")]
    [InlineData("{{ {'a': 1, 'b': 2}.keys() | list }} {{ {'a': 1, 'b': 2}.values() | list }} {{ {'a': 1}.items() | list }}", "['a', 'b'] [1, 2] [('a', 1)]")]
    public void Methods(string template, string expected) => Assert.Equal(expected, Render(template));

    // ---------------- globals ----------------

    [Fact]
    public void RangeAndNamespace()
    {
        Assert.Equal("[0, 1, 2] [2, 3] [5, 3, 1]", Render("{{ range(3) | list }} {{ range(2, 4) | list }} {{ range(5, 0, -2) | list }}"));
        Assert.Equal("1 x", Render("{% set ns = namespace(a=1, b='x') %}{{ ns.a }} {{ ns.b }}"));
    }

    [Fact]
    public void RaiseExceptionThrowsWithTheTemplateMessage()
    {
        const string t = "{% if messages[0].role != 'user' %}{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}ok";
        var ctx = Ctx(("messages", new[] { new Dictionary<string, object?> { ["role"] = "assistant" } }));
        var ex = Assert.Throws<TemplateRaisedException>(() => Render(t, ctx));
        Assert.Equal("Conversation roles must alternate user/assistant/user/assistant/...", ex.Message);
        Assert.Equal(1, ex.Line);
        var ok = Ctx(("messages", new[] { new Dictionary<string, object?> { ["role"] = "user" } }));
        Assert.Equal("ok", Render(t, ok));
    }

    [Fact]
    public void StrftimeNowUsesTheConfiguredClock()
    {
        var options = TemplateOptions.HuggingFace with { Clock = () => new DateTimeOffset(2024, 7, 5, 14, 3, 9, TimeSpan.Zero) };
        Assert.Equal("05 Jul 2024 | 2024-07-05 14:03:09 | 5 July, Friday | 02PM",
            Render("{{ strftime_now('%d %b %Y') }} | {{ strftime_now('%Y-%m-%d %H:%M:%S') }} | {{ strftime_now('%-d %B, %A') }} | {{ strftime_now('%I%p') }}", options: options));
    }

    [Fact]
    public void HostFunctionsCanBePassedIn()
    {
        TemplateFunction add = (args, _) => (long)args[0]! + (long)args[1]!;
        Assert.Equal("5", Render("{{ add(2, 3) }}", Ctx(("add", add))));
    }

    // ---------------- errors ----------------

    [Theory]
    [InlineData("hello\n{% if x %}never closed", 2, "endif")]
    [InlineData("{{ 1 + }}", 1, "Expected an expression")]
    [InlineData("line1\nline2 {% frobnicate %}", 2, "frobnicate")]
    [InlineData("{{ 'unterminated }}", 1, "Unterminated string")]
    [InlineData("{% for x in xs %}{% endif %}", 1, "endif")]
    [InlineData("ok\n\n  {{ a.b( }}", 3, "expected ')'")]
    public void ParseErrorsCarryLineAndColumn(string template, int line, string fragment)
    {
        var ex = Assert.Throws<TemplateException>(() => ChatTemplate.Parse(template));
        Assert.Equal(line, ex.Line);
        Assert.True(ex.Column > 0);
        Assert.Contains(fragment, ex.Message);
        Assert.Contains($"line {line}", ex.Message);
    }

    [Fact]
    public void RuntimeErrorsCarryLocation()
    {
        var ex = Assert.Throws<TemplateException>(() => Render("a\n{{ 'x' | nosuchfilter }}"));
        Assert.Equal(2, ex.Line);
        Assert.Contains("nosuchfilter", ex.Message);
        Assert.Throws<TemplateException>(() => Render("{{ 'a' + 1 }}"));
        Assert.Throws<TemplateException>(() => Render("{{ missing | tojson }}"));
    }

    [Fact]
    public void ParsedTemplateRendersManyTimes()
    {
        var t = ChatTemplate.Parse("{% for m in messages %}[{{ m }}]{% endfor %}");
        Assert.Equal("[a]", t.Render(Ctx(("messages", new[] { "a" }))));
        Assert.Equal("[b][c]", t.Render(Ctx(("messages", new[] { "b", "c" }))));
    }
}
