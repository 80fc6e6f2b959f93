// A small syntax highlighter: comments, strings, numbers, keywords and literals, per language
// family. Snippets are fragments (they may start inside a string or a comment), so it only aims
// to be right most of the time. It builds text nodes and spans, never markup from the code.
"use strict";

(() => {
  const words = (s) => new Set(s.split(" "));

  const C_KEYWORDS =
    "if else for while do switch case default break continue return goto sizeof typedef struct union enum " +
    "static const extern volatile inline void int char short long float double signed unsigned auto register";
  const FAMILIES = {
    python: {
      comments: ["#[^\\n]*"],
      strings: ['"""[\\s\\S]*?(?:"""|$)', "'''[\\s\\S]*?(?:'''|$)"],
      keywords: words(
        "and as assert async await break class continue def del elif else except finally for from global " +
          "if import in is lambda match case nonlocal not or pass raise return try while with yield self cls",
      ),
      literals: words("True False None"),
    },
    js: {
      comments: ["//[^\\n]*", "/\\*[\\s\\S]*?(?:\\*/|$)"],
      strings: ["`(?:[^`\\\\]|\\\\[\\s\\S])*`?"],
      keywords: words(
        "async await break case catch class const continue debugger default delete do else export extends " +
          "finally for from function if import in instanceof let new of return static super switch this throw " +
          "try typeof var void while with yield interface type enum implements private protected public " +
          "readonly abstract declare namespace as keyof",
      ),
      literals: words("true false null undefined NaN Infinity"),
    },
    c: {
      comments: ["//[^\\n]*", "/\\*[\\s\\S]*?(?:\\*/|$)"],
      strings: [],
      keywords: words(
        C_KEYWORDS +
          " class public private protected virtual override template typename namespace using new delete this" +
          " throw try catch final abstract extends implements interface package import throws synchronized" +
          " boolean byte var val fun object when is in as data sealed companion open internal lateinit" +
          " func go defer chan map range select fallthrough package type interface struct" +
          " fn let mut pub impl trait mod use crate self Self match loop where move ref dyn unsafe async await" +
          " string bool",
      ),
      literals: words("true false null nil nullptr NULL None Some Ok Err"),
    },
    hash: {
      comments: ["#[^\\n]*"],
      strings: [],
      keywords: words(
        "if then else elif fi for while until do done case esac function in return local export " +
          "def end class module begin rescue ensure unless require yield self nil",
      ),
      literals: words("true false nil null yes no"),
    },
    sql: {
      comments: ["--[^\\n]*", "/\\*[\\s\\S]*?(?:\\*/|$)"],
      strings: [],
      keywords: words(
        "select from where and or not insert into values update set delete create table index view drop " +
          "alter join left right inner outer on group by order having limit offset as distinct union all " +
          "primary key foreign references null is in exists between like case when then else end",
      ),
      ignoreCase: true,
      literals: words("true false"),
    },
    dashdash: {
      comments: ["--[^\\n]*"],
      strings: [],
      keywords: words(
        "local function end if then else elseif for while do repeat until return in and or not break " +
          "module where import data type class instance let case of deriving",
      ),
      literals: words("true false nil"),
    },
    markup: {
      comments: ["<!--[\\s\\S]*?(?:-->|$)"],
      strings: [],
      keywords: new Set(),
      literals: new Set(),
    },
  };

  const LANGUAGE_FAMILY = {
    python: "python",
    javascript: "js", typescript: "js", tsx: "js", jsx: "js", vue: "js", svelte: "js", json: "js",
    c: "c", cpp: "c", objc: "c", csharp: "c", java: "c", kotlin: "c", scala: "c", groovy: "c", go: "c",
    rust: "c", swift: "c", dart: "c", php: "c", zig: "c", css: "c", scss: "c", less: "c",
    protobuf: "c", graphql: "c", verilog: "c", fsharp: "c",
    bash: "hash", ruby: "hash", perl: "hash", r: "hash", yaml: "hash", toml: "hash", make: "hash",
    cmake: "hash", elixir: "hash", nim: "hash", julia: "hash", powershell: "hash", terraform: "hash",
    ini: "hash",
    sql: "sql", lua: "dashdash", haskell: "dashdash", vhdl: "dashdash",
    html: "markup", xml: "markup", svg: "markup",
  };

  const QUOTED = ['"(?:[^"\\\\\\n]|\\\\.)*"?', "'(?:[^'\\\\\\n]|\\\\.)*'?"];
  const NUMBER = "\\b\\d[\\w.]*";
  const WORD = "[A-Za-z_$][\\w$]*";
  const compiled = {};

  function pattern(name) {
    if (!compiled[name]) {
      const f = FAMILIES[name];
      const strings = name === "markup" ? QUOTED : f.strings.concat(QUOTED);
      const alt = (list) => "(" + (list.length ? list.join("|") : "(?!)") + ")";
      compiled[name] = new RegExp(
        [alt(f.comments), alt(strings), "(" + NUMBER + ")", "(" + WORD + ")"].join("|"),
        "g",
      );
    }
    return compiled[name];
  }

  // [class or "", text] pairs covering the whole input
  function tokens(code, language) {
    const name = LANGUAGE_FAMILY[(language || "").toLowerCase()];
    if (!name) return [["", code]];
    const f = FAMILIES[name];
    const re = pattern(name);
    re.lastIndex = 0;
    const out = [];
    let at = 0;
    let m;
    while ((m = re.exec(code)) !== null) {
      if (m[0] === "") {
        re.lastIndex++;
        continue;
      }
      if (m.index > at) out.push(["", code.slice(at, m.index)]);
      let cls = "";
      if (m[1] !== undefined) cls = "tok-com";
      else if (m[2] !== undefined) cls = "tok-str";
      else if (m[3] !== undefined) cls = "tok-num";
      else {
        const w = f.ignoreCase ? m[4].toLowerCase() : m[4];
        if (f.keywords.has(w)) cls = "tok-kw";
        else if (f.literals.has(m[4])) cls = "tok-lit";
        else if (code[re.lastIndex] === "(") cls = "tok-fn";
      }
      out.push([cls, m[0]]);
      at = re.lastIndex;
    }
    if (at < code.length) out.push(["", code.slice(at)]);
    return out;
  }

  // One DocumentFragment per line of `code`.
  function highlight(code, language) {
    const lines = [document.createDocumentFragment()];
    for (const [cls, text] of tokens(code, language)) {
      text.split("\n").forEach((part, i) => {
        if (i > 0) lines.push(document.createDocumentFragment());
        if (!part) return;
        const node = cls ? document.createElement("span") : document.createTextNode(part);
        if (cls) {
          node.className = cls;
          node.textContent = part;
        }
        lines[lines.length - 1].appendChild(node);
      });
    }
    return lines;
  }

  window.omnivecHighlight = highlight;
})();
