/**
 * Version requirements normalized the way crates.io writes them into the index. crates.io
 * `src/controllers/krate/publish.rs` (`convert_dependency`) runs every `req` through
 * `semver::VersionReq::parse(..).to_string()` and keeps the text unchanged when it does not parse.
 * This is a port of the Rust `semver` crate 1.0.x `parse.rs` (`VersionReq::from_str`, `comparator`,
 * `version_req`) and `display.rs` (`Display for Comparator`): `">= 0.2,  <0.3"` becomes
 * `">=0.2, <0.3"`, a bare `"1.0"` becomes `"^1.0"`, `"1.x"` becomes `"1.*"`.
 */
import { U64_MAX } from './semver.ts'

/** semver `version_req`: at most this many comma-separated comparators. */
const MAX_COMPARATORS = 32

interface Comparator {
  op: string
  major: string
  minor?: string
  patch?: string
  pre: string
}

class ReqSyntaxError extends Error {}

function trimSpaces (s: string): string {
  // semver trims only ' ', never tabs or other whitespace.
  let i = 0
  while (s[i] === ' ') i++
  return s.slice(i)
}

function wildcard (s: string): string | undefined {
  return s[0] === '*' || s[0] === 'x' || s[0] === 'X' ? s.slice(1) : undefined
}

function numeric (s: string): [string, string] {
  const m = /^[0-9]+/.exec(s)
  if (m === null) throw new ReqSyntaxError('expected a number')
  const digits = m[0]
  if (digits.length > 1 && digits[0] === '0') throw new ReqSyntaxError('leading zero')
  if (BigInt(digits) > U64_MAX) throw new ReqSyntaxError('overflow')
  return [digits, s.slice(digits.length)]
}

// semver `identifier()`: dot-separated non-empty segments of [0-9A-Za-z-]; numeric pre segments
// may not have a leading zero.
function identifier (s: string, pre: boolean): [string, string] {
  const m = /^[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*/.exec(s)
  if (m === null) throw new ReqSyntaxError('empty identifier')
  const rest = s.slice(m[0].length)
  if (rest.startsWith('.')) throw new ReqSyntaxError('empty identifier segment')
  if (pre && m[0].split('.').some((id) => /^0[0-9]+$/.test(id))) throw new ReqSyntaxError('leading zero')
  return [m[0], rest]
}

function operator (s: string): [string, string] {
  for (const op of ['>=', '<=', '=', '>', '<', '~', '^']) {
    if (s.startsWith(op)) return [op, s.slice(op.length)]
  }
  return ['', s]
}

function comparator (input: string): [Comparator, string] {
  let [op, text] = operator(input)
  const defaultOp = op === ''
  if (defaultOp) op = '^' // semver `Op::DEFAULT` is Caret
  text = trimSpaces(text)
  let minor: string | undefined, patch: string | undefined
  const [major, afterMajor] = numeric(text)
  text = afterMajor
  let hasWildcard = false
  if (text.startsWith('.')) {
    const rest = wildcard(text.slice(1))
    if (rest !== undefined) {
      hasWildcard = true
      if (defaultOp) op = '*'
      text = rest
    } else {
      [minor, text] = numeric(text.slice(1))
    }
  }
  if (text.startsWith('.')) {
    const rest = wildcard(text.slice(1))
    if (rest !== undefined) {
      if (defaultOp) op = '*'
      text = rest
    } else if (hasWildcard) {
      throw new ReqSyntaxError('unexpected after wildcard')
    } else {
      [patch, text] = numeric(text.slice(1))
    }
  }
  let pre = ''
  if (patch !== undefined && text.startsWith('-')) [pre, text] = identifier(text.slice(1), true)
  // Build metadata is accepted and dropped: a Comparator has no build field.
  if (patch !== undefined && text.startsWith('+')) text = identifier(text.slice(1), false)[1]
  return [{ op, major, minor, patch, pre }, trimSpaces(text)]
}

// semver `Display for Comparator`; op '*' is `Op::Wildcard`, written as a trailing `.*`.
function display (c: Comparator): string {
  let out = (c.op === '*' ? '' : c.op) + c.major
  if (c.minor !== undefined) {
    out += `.${c.minor}`
    if (c.patch !== undefined) {
      out += `.${c.patch}`
      if (c.pre !== '') out += `-${c.pre}`
    } else if (c.op === '*') {
      out += '.*'
    }
  } else if (c.op === '*') {
    out += '.*'
  }
  return out
}

function parse (input: string): string {
  let text = trimSpaces(input)
  const afterStar = wildcard(text)
  if (afterStar !== undefined) {
    if (trimSpaces(afterStar) === '') return '*' // VersionReq::STAR
    throw new ReqSyntaxError('wildcard must be the only comparator')
  }
  const out: string[] = []
  for (;;) {
    const [c, rest] = comparator(text)
    out.push(display(c))
    if (rest === '') return out.join(', ')
    if (!rest.startsWith(',')) throw new ReqSyntaxError('expected comma')
    if (out.length === MAX_COMPARATORS) throw new ReqSyntaxError('too many comparators')
    text = trimSpaces(rest.slice(1))
  }
}

/** `semver::VersionReq::parse(req).to_string()`, or undefined when the Rust crate would reject `req`. */
export function parseVersionReq (req: string): string | undefined {
  try {
    return parse(req)
  } catch (err) {
    if (err instanceof ReqSyntaxError) return undefined
    throw err
  }
}

/** The `req` crates.io writes to the index: normalized when it parses, else the text as given. */
export function normalizeVersionReq (req: string): string {
  return parseVersionReq(req) ?? req
}
