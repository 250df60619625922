// HUATUO's filters are Go regular expressions (package regexp, RE2 syntax). They are compiled
// with re2js, a port of Go's/RE2's engine: the same syntax ((?i), (?P<name>…), \A, \z,
// [[:alpha:]], \pL, \Q…\E, …), the same errors for what Go rejects (backreferences,
// lookarounds, `a**`, counts over 1000), and matching in time linear in the input, so a client's
// filter such as `(.*)*(.*)*X` cannot stall the agent the way a backtracking RegExp can.
//
// Matching is still O(input length × program size), so the program size is bounded as well:
// MAX_PATTERN_LENGTH characters of source and MAX_PROGRAM_SIZE instructions once compiled
// (a pattern without counted repetitions never comes near the latter; `x{1000}` is 1002).
import { RE2JS } from "re2js";

/** A compiled Go regular expression. */
export interface GoRegex {
  readonly source: string;
  /** Unanchored search, like Go's regexp.MatchString. */
  test(s: string): boolean;
}

/** Longest accepted pattern, in UTF-16 code units. */
export const MAX_PATTERN_LENGTH = 4096;
/** Most compiled instructions accepted (re2js programSize()). */
export const MAX_PROGRAM_SIZE = 10_000;

/** Compile a Go regular expression; throws SyntaxError with the engine's message if it is invalid. */
export function compileGoRegex(source: string): GoRegex {
  if (typeof source !== "string") throw new SyntaxError("regular expression must be a string");
  if (source.length > MAX_PATTERN_LENGTH) {
    throw new SyntaxError(`regular expression too long: ${source.length} characters, the limit is ${MAX_PATTERN_LENGTH}`);
  }
  // re2js only rejects programs over ~1.4 million instructions, and building one that size takes
  // a good fraction of a second; estimate the size from the source first (the way RE2's parser
  // does) so such patterns are refused before any of that work.
  if (estimateProgramSize(source) > 2 * MAX_PROGRAM_SIZE) throw tooComplex(undefined);
  let re: RE2JS;
  try {
    re = RE2JS.compile(source);
  } catch (e) {
    throw new SyntaxError(e instanceof Error ? e.message : String(e));
  }
  const size = re.programSize();
  if (size > MAX_PROGRAM_SIZE) throw tooComplex(size);
  const fast = literalMatcher(source);
  if (fast) return { source, test: fast };
  return { source, test: (s: string) => re.test(s) };
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

function tooComplex(size: number | undefined): SyntaxError {
  const what = size === undefined ? `more than ${2 * MAX_PROGRAM_SIZE}` : `${size}`;
  return new SyntaxError(
    `regular expression too complex: it compiles to ${what} instructions, the limit is ${MAX_PROGRAM_SIZE} ` +
      "(a counted repetition such as x{100} multiplies the size of what it repeats)",
  );
}

// ---------------------------------------------------------------------------------------------
// Literal fast path: `lit`, `^lit`, `lit$`, `^lit$` (and \A, \z) where lit has no metacharacters
// other than backslash-escaped ASCII punctuation. Without a flag group `^`/`\A` only match at the
// start of the text and `$`/`\z` only at its end (Go's `$` is not multi-line by default), so
// these are exactly includes / startsWith / endsWith / ===. About 20x cheaper than re2js.

const META = "\\.+*?()|[]{}^$";
const PUNCT = /^[!-/:-@[-`{-~]$/;

function literalMatcher(source: string): ((s: string) => boolean) | undefined {
  let i = 0;
  let end = source.length;
  let start = false;
  let finish = false;
  if (source.startsWith("^")) (start = true), (i = 1);
  else if (source.startsWith("\\A")) (start = true), (i = 2);
  if (end - i >= 1 && source.endsWith("$") && !escapedAt(source, end - 1, i)) (finish = true), (end -= 1);
  else if (end - i >= 2 && source.endsWith("\\z") && !escapedAt(source, end - 2, i)) (finish = true), (end -= 2);
  let lit = "";
  for (; i < end; i++) {
    const c = source[i]!;
    if (c === "\\") {
      const n = source[++i];
      if (n === undefined || i >= end || !PUNCT.test(n)) return undefined;
      lit += n;
    } else if (META.includes(c)) {
      return undefined;
    } else {
      lit += c;
    }
  }
  // Keep clear of how invalid UTF-16 in the input decodes (to U+FFFD, as Go does for bad UTF-8).
  if (!lit.isWellFormed() || lit.includes("\uFFFD")) return undefined;
  if (start && finish) return (s) => s === lit;
  if (start) return (s) => s.startsWith(lit);
  if (finish) return (s) => s.endsWith(lit);
  return (s) => s.includes(lit);
}

/** Is source[at] preceded by an odd number of backslashes (counting no further back than `from`)? */
function escapedAt(source: string, at: number, from: number): boolean {
  let n = 0;
  for (let j = at - 1; j >= from && source[j] === "\\"; j--) n++;
  return n % 2 === 1;
}

// ---------------------------------------------------------------------------------------------
// Size estimate. Mirrors RE2's parser-side size check (Parser.calcSize): a literal rune or a
// class is 1, a capture or star adds 2, plus/quest 1, alternation adds one per extra branch and
// x{n,m} is m·size(x) + (m − n). It only needs to be close on valid patterns (re2js validates
// afterwards and the compiled size is checked exactly); it must terminate in linear time on any
// string and never throw.

const REPEAT = /\{(\d+)(?:(,)(\d*))?\}/y;

interface Frame {
  branches: number; // sizes of finished alternatives plus separators
  concat: number; // size of the current alternative
  last: number; // size of the last atom in it (what a repetition applies to)
  lastRepeat: number; // product of the counted repetitions nested in that atom
  maxRepeat: number; // the largest such product in the group so far
  capture: boolean;
}

const frame = (capture: boolean): Frame => ({ branches: 0, concat: 0, last: 0, lastRepeat: 1, maxRepeat: 1, capture });

export function estimateProgramSize(src: string): number {
  const n = src.length;
  const stack: Frame[] = [];
  let f = frame(false);
  const atom = (size: number, repeats = 1) => {
    f.concat += size;
    f.last = size;
    f.lastRepeat = repeats;
    f.maxRepeat = Math.max(f.maxRepeat, repeats);
  };
  const repeat = (size: number) => {
    f.concat += size - f.last;
    f.last = size;
  };
  const skipBraces = (at: number) => {
    // at points at "{": skip to the matching "}" (or the end)
    const close = src.indexOf("}", at);
    return close < 0 ? n : close + 1;
  };
  // Skip one escape starting at src[i] === "\\"; returns the next index.
  const skipEscape = (i: number): number => {
    const c = src[i + 1];
    if (c === undefined) return n;
    if ((c === "p" || c === "P" || c === "x") && src[i + 2] === "{") return skipBraces(i + 2);
    if (c === "p" || c === "P") return i + 3;
    if (c === "x") return i + 4;
    return i + 2;
  };
  let i = 0;
  while (i < n) {
    const c = src[i]!;
    if (c === "\\") {
      if (src[i + 1] === "Q") {
        const e = src.indexOf("\\E", i + 2);
        const stop = e < 0 ? n : e;
        for (let j = i + 2; j < stop; j++) atom(1);
        i = e < 0 ? n : e + 2;
      } else {
        i = skipEscape(i);
        atom(1);
      }
    } else if (c === "[") {
      i++;
      if (src[i] === "^") i++;
      if (src[i] === "]") i++;
      while (i < n && src[i] !== "]") {
        if (src[i] === "\\") i = skipEscape(i);
        else if (src[i] === "[" && src[i + 1] === ":") {
          const e = src.indexOf(":]", i + 2);
          i = e < 0 ? i + 1 : e + 2;
        } else i++;
      }
      i++;
      atom(1);
    } else if (c === "(") {
      i++;
      let capture = true;
      if (src[i] === "?") {
        if (src[i + 1] === "<" || (src[i + 1] === "P" && src[i + 2] === "<")) {
          const e = src.indexOf(">", i);
          i = e < 0 ? n : e + 1;
        } else {
          let j = i + 1;
          while (j < n && src[j] !== ":" && src[j] !== ")" && src[j] !== "(") j++;
          if (src[j] === ")") {
            i = j + 1; // (?flags): no group
            continue;
          }
          capture = false;
          i = src[j] === ":" ? j + 1 : j;
        }
      }
      stack.push(f);
      f = frame(capture);
    } else if (c === ")") {
      i++;
      const inner = f.branches + f.concat;
      const { capture, maxRepeat } = f;
      f = stack.pop() ?? frame(false);
      atom(Math.max(1, inner) + (capture ? 2 : 0), maxRepeat);
    } else if (c === "|") {
      i++;
      f.branches += f.concat + 1;
      f.concat = 0;
      f.last = 0;
      f.lastRepeat = 1;
    } else if (c === "*") {
      i++;
      repeat(f.last + 2);
    } else if (c === "+" || c === "?") {
      i++;
      repeat(f.last + 1);
    } else if (c === "{") {
      REPEAT.lastIndex = i;
      const m = REPEAT.exec(src);
      if (!m) {
        i++;
        atom(1);
        continue;
      }
      i = REPEAT.lastIndex;
      const min = Number(m[1]);
      const max = m[2] === undefined ? min : m[3] === "" ? -1 : Number(m[3]);
      const count = max === -1 ? min : max;
      // Go rejects a count over 1000, or nested counts whose product is over 1000 ("invalid
      // repeat count"), while parsing: leave those to re2js, which says so without expanding.
      const product = Math.max(1, count) * f.lastRepeat;
      if (min > 1000 || max > 1000 || (max !== -1 && min > max) || product > 1000) continue;
      const sub = Math.max(1, f.last);
      if (max === -1) repeat(min === 0 ? sub + 2 : 1 + min * sub);
      else repeat(max * sub + (max - min));
      f.lastRepeat = product;
      f.maxRepeat = Math.max(f.maxRepeat, product);
    } else {
      i++;
      atom(1);
    }
  }
  // Unclosed groups (invalid anyway): fold them into their parents.
  while (stack.length > 0) {
    const inner = f.branches + f.concat;
    const maxRepeat = f.maxRepeat;
    f = stack.pop()!;
    atom(inner + 2, maxRepeat);
  }
  return f.branches + f.concat;
}
