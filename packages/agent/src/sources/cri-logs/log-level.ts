// Detects the level of a log message, as PodLogs' LogEntry.level carries it: ERROR, WARN, INFO or DEBUG ('' when
// none is recognisable). Structured logs say it in a field (`level`, `severity`, `lvl`, ECS `log.level`; names or
// pino/bunyan and syslog numbers); text logs in one of their first words: `ERROR ...`, `[warn] ...`,
// `2024-05-01 12:00:00 INFO ...`, `WARNING:root:...` (Python), `E0501 12:00:00.123456 ...` (klog),
// `level=error` (logfmt). Runs on every line: it looks at a bounded prefix and allocates nothing on the common path.

export type Level = 'ERROR' | 'WARN' | 'INFO' | 'DEBUG' | '';

/** Level names by length (lower case): what a word of that length may be. */
const WORDS_BY_LENGTH: [string, Level][][] = [];
for (const [word, level] of [
  ['error', 'ERROR'], ['err', 'ERROR'], ['fatal', 'ERROR'], ['critical', 'ERROR'], ['crit', 'ERROR'], ['panic', 'ERROR'],
  ['dpanic', 'ERROR'], ['alert', 'ERROR'], ['emerg', 'ERROR'], ['emergency', 'ERROR'], ['severe', 'ERROR'],
  ['warn', 'WARN'], ['warning', 'WARN'],
  ['info', 'INFO'], ['information', 'INFO'], ['informational', 'INFO'], ['notice', 'INFO'],
  ['debug', 'DEBUG'], ['trace', 'DEBUG'], ['verbose', 'DEBUG'], ['fine', 'DEBUG'], ['finer', 'DEBUG'], ['finest', 'DEBUG'],
] as [string, Level][]) {
  (WORDS_BY_LENGTH[word.length] ??= []).push([word, level]);
}

/** The level named by text[start..end) in any case ("Warning", "ERR"), or ''. Allocates nothing. */
function levelOfRange(text: string, start: number, end: number): Level {
  const candidates = WORDS_BY_LENGTH[end - start];
  if (!candidates) return '';
  next: for (const [word, level] of candidates) {
    for (let i = 0; i < word.length; i++) {
      // ASCII lower case: letters only reach here, so OR-ing 0x20 is exact
      if ((text.charCodeAt(start + i) | 0x20) !== word.charCodeAt(i)) continue next;
    }
    return level;
  }
  return '';
}

/** A level name in any case ("Warning", "ERR", "dpanic"), or '' when it is not one. */
export function levelFromWord(word: string): Level {
  for (let i = 0; i < word.length; i++) if (!isLetter(word.charCodeAt(i))) return '';
  return levelOfRange(word, 0, word.length);
}

/** pino/bunyan levels (10 trace … 60 fatal) and syslog severities (0 emerg … 7 debug). */
export function levelFromNumber(n: number): Level {
  if (n >= 10) return n >= 50 ? 'ERROR' : n >= 40 ? 'WARN' : n >= 30 ? 'INFO' : 'DEBUG';
  return n <= 3 ? 'ERROR' : n === 4 ? 'WARN' : n <= 6 ? 'INFO' : 'DEBUG';
}

const JSON_KEYS = ['"level"', '"severity"', '"lvl"', '"log.level"'];
const JSON_SCAN = 2048;

function jsonLevel(msg: string): Level {
  for (const key of JSON_KEYS) {
    const at = msg.indexOf(key);
    if (at < 0 || at > JSON_SCAN) continue;
    let i = at + key.length;
    while (msg.charCodeAt(i) === 32) i++;
    if (msg.charCodeAt(i) !== 58 /* : */) continue;
    i++;
    while (msg.charCodeAt(i) === 32) i++;
    const c = msg.charCodeAt(i);
    if (c === 34 /* " */) {
      let close = i + 1;
      while (close < msg.length && isLetter(msg.charCodeAt(close))) close++;
      if (msg.charCodeAt(close) !== 34) continue;
      const level = levelOfRange(msg, i + 1, close);
      if (level) return level;
    } else if (c >= 48 && c <= 57) {
      let n = 0;
      while (i < msg.length && msg.charCodeAt(i) >= 48 && msg.charCodeAt(i) <= 57 && n < 1000) n = n * 10 + msg.charCodeAt(i++) - 48;
      return levelFromNumber(n);
    }
  }
  return '';
}

const TEXT_SCAN = 160;
const TEXT_TOKENS = 6;

const isLetter = (c: number): boolean => (c >= 65 && c <= 90) || (c >= 97 && c <= 122);
const isUpper = (c: number): boolean => c >= 65 && c <= 90;
const isDigit = (c: number): boolean => c >= 48 && c <= 57;

/** The level of a message, from a JSON field or one of its first words; '' when not recognisable. */
export function detectLevel(msg: string): Level {
  let i = 0;
  while (msg.charCodeAt(i) === 32 || msg.charCodeAt(i) === 9) i++;
  if (msg.charCodeAt(i) === 123 /* { */) return jsonLevel(msg);
  const limit = Math.min(msg.length, TEXT_SCAN);
  for (let token = 0; token < TEXT_TOKENS && i < limit; token++) {
    // Tokens are separated by spaces (a tab ends the scan: the prefix of a log line uses spaces).
    let end = msg.indexOf(' ', i);
    if (end < 0 || end > limit) end = limit;
    if (MAY_START_LEVEL[msg.charCodeAt(i)] === 1) {
      const level = tokenLevel(msg, i, end, token === 0);
      if (level) return level;
    }
    i = end + 1;
    while (msg.charCodeAt(i) === 32) i++;
  }
  return '';
}

/** First characters a token naming a level can have: letters of level names and logfmt keys, brackets. */
const MAY_START_LEVEL = new Uint8Array(128);
for (const c of 'ewidtfcpnasvlEWIDTFCPNASVL[(<') MAY_START_LEVEL[c.charCodeAt(0)] = 1;

/** The level named by msg[start..end), one whitespace-separated token. */
function tokenLevel(msg: string, start: number, end: number, first: boolean): Level {
  let c = msg.charCodeAt(start);
  // klog: I0501, W0501, E0501, F0501 (then the time).
  if (first && end - start === 5 && (c === 73 || c === 87 || c === 69 || c === 70) && isDigit(msg.charCodeAt(start + 1)) && isDigit(msg.charCodeAt(start + 4))) {
    return c === 73 ? 'INFO' : c === 87 ? 'WARN' : 'ERROR';
  }
  let i = start;
  const bracketed = c === 91 /* [ */ || c === 40 /* ( */ || c === 60; /* < */
  if (bracketed) c = msg.charCodeAt(++i);
  if (!isLetter(c)) return '';
  const wordStart = i;
  let upper = true;
  while (i < end && isLetter(msg.charCodeAt(i))) {
    if (!isUpper(msg.charCodeAt(i))) upper = false;
    i++;
  }
  const after = i < end ? msg.charCodeAt(i) : -1;
  // logfmt: level=error, lvl="warn", severity=INFO
  if (after === 61 /* = */) {
    if (!isLevelKey(msg, wordStart, i)) return '';
    let v = i + 1;
    if (msg.charCodeAt(v) === 34) v++;
    let ve = v;
    while (ve < end && isLetter(msg.charCodeAt(ve))) ve++;
    return levelOfRange(msg, v, ve);
  }
  const wordLength = i - wordStart;
  if (wordLength < 3 || wordLength > 13 || WORDS_BY_LENGTH[wordLength] === undefined) return '';
  const closed = after === -1 || after === 58 /* : */ || after === 93 /* ] */ || after === 41 /* ) */ || after === 62 /* > */ || after === 44 /* , */ || after === 124; /* | */
  if (!closed) return '';
  // An upper-case level word anywhere in the first tokens; in another case only when it is marked as a level
  // (bracketed, or the first word followed by a colon), so prose such as "info about x" is not taken for one.
  if (!upper && !bracketed && !(first && after === 58)) return '';
  return levelOfRange(msg, wordStart, i);
}

const LEVEL_KEYS = ['level', 'lvl', 'severity', 'loglevel'];

function isLevelKey(msg: string, start: number, end: number): boolean {
  next: for (const key of LEVEL_KEYS) {
    if (key.length !== end - start) continue;
    for (let i = 0; i < key.length; i++) if ((msg.charCodeAt(start + i) | 0x20) !== key.charCodeAt(i)) continue next;
    return true;
  }
  return false;
}
