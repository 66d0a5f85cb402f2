// Splits a command line from the cloud into argv, without a shell. The cloud's agents write command lines for bash,
// so the rule is: accept a line only when bash would split it into exactly these words with no expansion, no
// redirection and no second command. Quotes and backslashes work as in bash (single quotes literal; in double
// quotes a backslash escapes only $ ` " \); anything else bash treats specially is refused with its name, rather
// than taken literally, so the agent learns why its pipeline did not run instead of getting a confusing answer.
import { refuse, type Refusal } from './refusal.js';

export const MAX_COMMAND_LENGTH = 4096;
export const MAX_ARGS = 128;

function special(line: string, i: number, wordStart: boolean): string | undefined {
  const c = line[i]!;
  const next = line[i + 1];
  switch (c) {
    case '|':
      return next === '|' ? '"||" (a second command)' : 'a pipe (|)';
    case '&':
      return next === '&' ? '"&&" (a second command)' : next === '>' ? 'a redirection (&>)' : '"&" (a background command)';
    case ';':
      return '";" (a second command)';
    case '<':
      return next === '(' ? 'process substitution <(...)' : 'a redirection (<)';
    case '>':
      return next === '(' ? 'process substitution >(...)' : 'a redirection (>)';
    case '$':
      return next === '(' ? 'command substitution $(...)' : next === '{' ? 'parameter expansion ${...}' : next === "'" ? "ANSI-C quoting $'...'" : 'variable expansion ($)';
    case '`':
      return 'command substitution `...`';
    case '(':
    case ')':
      return 'parentheses (a subshell); quote them';
    case '*':
    case '?':
    case '[':
      return `a glob pattern (${c}); quote it`;
    case '{':
    case '}':
      return `brace expansion (${c}); quote it`;
    case '~':
      return 'tilde expansion (~); quote it';
    case '#':
      return wordStart ? 'a comment (#)' : undefined;
    default:
      return undefined;
  }
}

/** The words of a command line, or why it is refused. */
export function splitCommandLine(line: string): string[] | Refusal {
  if (typeof line !== 'string' || line.trim() === '') return refuse('shell_syntax', 'an empty command line');
  if (line.length > MAX_COMMAND_LENGTH) return refuse('too_large', `a command line longer than ${MAX_COMMAND_LENGTH} characters`);
  if (/[\n\r]/.test(line)) return refuse('shell_syntax', 'a newline (a second command); send one command per entry');
  if (/[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/.test(line)) return refuse('shell_syntax', 'control characters in the command line');

  const words: string[] = [];
  let word = '';
  let inWord = false;
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!;
    if (c === ' ' || c === '\t') {
      if (inWord) words.push(word);
      word = '';
      inWord = false;
      continue;
    }
    if (c === "'") {
      const end = line.indexOf("'", i + 1);
      if (end === -1) return refuse('shell_syntax', 'an unterminated single quote');
      word += line.slice(i + 1, end);
      inWord = true;
      i = end;
      continue;
    }
    if (c === '"') {
      let j = i + 1;
      for (; j < line.length && line[j] !== '"'; j++) {
        const d = line[j]!;
        if (d === '$') return refuse('shell_syntax', 'variable expansion ($) inside double quotes; use single quotes for a literal $');
        if (d === '`') return refuse('shell_syntax', 'command substitution `...` inside double quotes');
        if (d === '\\') {
          const e = line[j + 1];
          if (e === '$' || e === '`' || e === '"' || e === '\\') {
            word += e;
            j++;
            continue;
          }
        }
        word += d;
      }
      if (j >= line.length) return refuse('shell_syntax', 'an unterminated double quote');
      inWord = true;
      i = j;
      continue;
    }
    if (c === '\\') {
      if (i + 1 >= line.length) return refuse('shell_syntax', 'a backslash at the end of the line');
      word += line[i + 1];
      inWord = true;
      i++;
      continue;
    }
    const what = special(line, i, !inWord);
    if (what) return refuse('shell_syntax', `${what} is shell syntax, and command lines are not run by a shell`);
    word += c;
    inWord = true;
  }
  if (inWord) words.push(word);
  if (words.length === 0) return refuse('shell_syntax', 'an empty command line');
  if (words.length > MAX_ARGS) return refuse('too_large', `more than ${MAX_ARGS} arguments`);
  return words;
}
