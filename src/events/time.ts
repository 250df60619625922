// Timestamp formats of the event record, byte-for-byte the Go layouts HUATUO writes, so
// existing parsers of HUATUO documents read ours.

const p2 = (n: number) => String(n).padStart(2, "0");
const p3 = (n: number) => String(n).padStart(3, "0");

/** Local offset of `d` in minutes east of UTC (Date gives west-positive). */
function offsetMinutes(d: Date): number {
  return -d.getTimezoneOffset();
}

function offset(mins: number, colon: boolean): string {
  const sign = mins < 0 ? "-" : "+";
  const a = Math.abs(mins);
  return sign + p2(Math.floor(a / 60)) + (colon ? ":" : "") + p2(a % 60);
}

function localParts(d: Date) {
  return {
    date: `${d.getFullYear()}-${p2(d.getMonth() + 1)}-${p2(d.getDate())}`,
    time: `${p2(d.getHours())}:${p2(d.getMinutes())}:${p2(d.getSeconds())}`,
  };
}

function utcParts(d: Date) {
  return {
    date: `${d.getUTCFullYear()}-${p2(d.getUTCMonth() + 1)}-${p2(d.getUTCDate())}`,
    time: `${p2(d.getUTCHours())}:${p2(d.getUTCMinutes())}:${p2(d.getUTCSeconds())}`,
  };
}

/**
 * Formatting a Date costs about a microsecond; events arrive in bursts within the same second,
 * so the part of a timestamp above the millisecond is cached per second.
 */
function perSecond(format: (d: Date) => [string, string]): (ms: number) => [string, string] {
  let sec = NaN;
  let tz: string | undefined;
  let parts: [string, string] = ["", ""];
  return (ms) => {
    const s = Math.floor(ms / 1000);
    if (s !== sec || process.env.TZ !== tz) {
      sec = s;
      tz = process.env.TZ;
      parts = format(new Date(s * 1000));
    }
    return parts;
  };
}

const huatuoParts = perSecond((d) => {
  const { date, time } = localParts(d);
  return [`${date} ${time}.`, ` ${offset(offsetMinutes(d), false)}`];
});

/** Go "2006-01-02 15:04:05.000 -0700" in local time (HUATUO's `time` / `tracer_time`). */
export function huatuoTime(ms: number): string {
  const [head, tail] = huatuoParts(ms);
  return head + p3(((ms % 1000) + 1000) % 1000 | 0) + tail;
}

/** Go's RFC3339Nano prints the fraction with trailing zeros removed, and no dot if it is 0. */
function fraction(digits: string): string {
  const t = digits.replace(/0+$/, "");
  return t ? "." + t : "";
}

/** ".123", ".12", ".1" or "" for each millisecond value: Go's trimmed fraction, precomputed. */
const MILLI_FRACTION = Array.from({ length: 1000 }, (_, ms) => fraction(p3(ms)));

const rfc3339LocalParts = perSecond((d) => {
  const { date, time } = localParts(d);
  const off = offsetMinutes(d);
  return [`${date}T${time}`, off === 0 ? "Z" : offset(off, true)];
});

/**
 * Go RFC3339Nano, local offset ("Z" when the offset is zero, as Go prints it).
 * `subMsNanos` (0..999999) adds precision below the millisecond when the caller has it.
 */
export function rfc3339NanoLocal(ms: number, subMsNanos = 0): string {
  const [head, tail] = rfc3339LocalParts(ms);
  const milli = ((ms % 1000) + 1000) % 1000 | 0;
  const frac = subMsNanos === 0 ? MILLI_FRACTION[milli]! : fraction(p3(milli) + String(subMsNanos).padStart(6, "0"));
  return head + frac + tail;
}

const MAX_DATE_MS = 8.64e15;

/**
 * "2006-01-02T15:04:05" in UTC of the second holding `ms`; the time zone does not matter.
 * Two cached seconds: a CloudEvent formats its upload time and its event time, which often
 * fall in different seconds, and one slot would then be refilled twice per event.
 */
const utcSecond = (() => {
  let secA = NaN;
  let headA = "";
  let secB = NaN;
  let headB = "";
  return (ms: number) => {
    const s = Math.floor(ms / 1000);
    if (s === secA) return headA;
    if (s === secB) return headB;
    const { date, time } = utcParts(new Date(s * 1000));
    // The older entry makes room.
    secB = secA;
    headB = headA;
    secA = s;
    headA = `${date}T${time}`;
    return headA;
  };
})();

/** Go RFC3339Nano in UTC (the CloudEvent `time` and `observed_timestamp`). */
export function rfc3339NanoUTC(ms: number, subMsNanos = 0): string {
  if (!(Math.abs(ms) <= MAX_DATE_MS)) {
    // Not a valid Date: format it as Date does (NaN fields), as this function always has.
    const d = new Date(ms);
    const { date, time } = utcParts(d);
    return `${date}T${time}${fraction(p3(d.getUTCMilliseconds()) + String(subMsNanos).padStart(6, "0"))}Z`;
  }
  ms = Math.trunc(ms); // what Date does with a fractional value
  const milli = ((ms % 1000) + 1000) % 1000;
  const frac = subMsNanos === 0 ? MILLI_FRACTION[milli]! : fraction(p3(milli) + String(subMsNanos).padStart(6, "0"));
  return utcSecond(ms) + frac + "Z";
}

const RFC3339 = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(Z|[+-]\d{2}:\d{2})$/;

/**
 * Re-express an RFC3339(Nano) timestamp in UTC, keeping every fractional digit
 * (Date would cut them to milliseconds). Returns the input unchanged if it does not parse.
 */
export function toUTCRfc3339Nano(s: string): string {
  const m = RFC3339.exec(s);
  if (!m) return s;
  const [, y, mo, da, h, mi, se, fr = "", tz] = m;
  let offMin = 0;
  if (tz !== "Z") {
    const sign = tz[0] === "-" ? -1 : 1;
    offMin = sign * (Number(tz.slice(1, 3)) * 60 + Number(tz.slice(4, 6)));
  }
  const secMs = Date.UTC(+y, +mo - 1, +da, +h, +mi, +se) - offMin * 60_000;
  const { date, time } = utcParts(new Date(secMs));
  return `${date}T${time}${fraction(fr)}Z`;
}

const HUATUO_TIME = /^(\d{4})-(\d{2})-(\d{2}) (\d{2}):(\d{2}):(\d{2})\.(\d{3}) ([+-])(\d{2})(\d{2})$/;

/** Milliseconds since the epoch of a huatuoTime() string, or undefined if it does not parse. */
export function parseHuatuoTime(s: string): number | undefined {
  const m = HUATUO_TIME.exec(s);
  if (!m) return undefined;
  const [, y, mo, da, h, mi, se, ms, sign, oh, om] = m;
  const offMin = (sign === "-" ? -1 : 1) * (Number(oh) * 60 + Number(om));
  return Date.UTC(+y!, +mo! - 1, +da!, +h!, +mi!, +se!, +ms!) - offMin * 60_000;
}

/** File-name timestamp of rotated local files (lumberjack's "2006-01-02T15-04-05.000", local). */
export function rotationStamp(ms: number): string {
  const d = new Date(ms);
  const { date } = localParts(d);
  return `${date}T${p2(d.getHours())}-${p2(d.getMinutes())}-${p2(d.getSeconds())}.${p3(d.getMilliseconds())}`;
}
