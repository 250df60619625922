// HUATUO's filters are Go (RE2) regular expressions. Most RE2 syntax means the same in
// JavaScript; this translates the few common forms that do not, so a HUATUO config keeps
// working: a leading flag group "(?i)" / "(?s)" / "(?m)", named groups "(?P<name>",
// "\A" and "\z", and POSIX classes such as "[[:alpha:]]". Anything else is passed through.

const POSIX: Record<string, string> = {
  alnum: "0-9A-Za-z", alpha: "A-Za-z", ascii: "\\x00-\\x7F", blank: "\\t ", cntrl: "\\x00-\\x1F\\x7F",
  digit: "0-9", graph: "!-~", lower: "a-z", print: " -~", punct: "!-/:-@[-`{-~", space: "\\t\\n\\v\\f\\r ",
  upper: "A-Z", word: "0-9A-Za-z_", xdigit: "0-9A-Fa-f",
};

/** Compile a Go regular expression; throws SyntaxError with the engine's message if it is invalid. */
export function compileGoRegex(source: string): RegExp {
  let src = source;
  let flags = "";
  const lead = /^\(\?([imsU]+)\)/.exec(src);
  if (lead) {
    if (lead[1]!.includes("U")) throw new SyntaxError(`Invalid regular expression: /${source}/: ungreedy flag U is not supported`);
    flags = [...new Set(lead[1]!)].join("");
    src = src.slice(lead[0].length);
  }
  src = src
    .replace(/\(\?P</g, "(?<")
    .replace(/\[:(\^?)([a-z]+):\]/g, (m, neg: string, name: string) => {
      const cls = POSIX[name];
      if (cls === undefined) return m;
      return neg ? `^${cls}` : cls; // inside an enclosing [...], so "[[:^digit:]]" → "[^0-9]"
    })
    .replace(/(^|[^\\])((?:\\\\)*)\\A/g, "$1$2^")
    .replace(/(^|[^\\])((?:\\\\)*)\\z/g, "$1$2$$");
  return new RegExp(src, flags);
}

/** The engine's message for an invalid pattern, or undefined when it compiles. */
export function regexProblem(source: string): string | undefined {
  try {
    compileGoRegex(source);
    return undefined;
  } catch (e) {
    return e instanceof Error ? e.message : String(e);
  }
}
