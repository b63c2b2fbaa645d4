/**
 * Line charts as standalone SVG, from plain data: what the simulations draw into `docs/figures/`.
 * Linear or log axes, several series (line and/or markers, dashed or not), a legend. No
 * dependencies: the output is deterministic text, reviewable in a diff.
 */

/** One series. */
export interface Series {
  name: string
  points: Array<[number, number]>
  color?: string
  dashed?: boolean
  /** Draw markers (dots) instead of / as well as the line. */
  markers?: boolean
  line?: boolean
  /** A step function (for CDFs). */
  step?: boolean
}

/** A chart. */
export interface Chart {
  title: string
  xLabel: string
  yLabel: string
  xLog?: boolean
  yLog?: boolean
  series: Series[]
  /** Force axis ranges. */
  xMin?: number
  xMax?: number
  yMin?: number
  yMax?: number
}

const PALETTE = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b', '#7f7f7f']
const W = 720
const H = 440
const M = { left: 70, right: 20, top: 40, bottom: 110 }

const esc = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;')

/** "Nice" tick values for an axis. */
function ticks (min: number, max: number, log: boolean): number[] {
  if (log) {
    const out: number[] = []
    for (let e = Math.floor(Math.log10(min)); e <= Math.ceil(Math.log10(max)); e++) out.push(10 ** e)
    return out.filter(t => t >= min * 0.999 && t <= max * 1.001)
  }
  const span = max - min || 1
  const step0 = 10 ** Math.floor(Math.log10(span / 5))
  const step = [1, 2, 5, 10].map(k => k * step0).find(s => span / s <= 8) ?? step0 * 10
  const out: number[] = []
  for (let t = Math.ceil(min / step) * step; t <= max + step * 1e-9; t += step) out.push(Math.round(t / step) * step)
  return out
}

function label (v: number): string {
  if (v === 0) return '0'
  if (Math.abs(v) >= 1e4 || Math.abs(v) < 1e-2) return v.toExponential(0).replace('e+', 'e')
  return Number(v.toPrecision(3)).toString()
}

/** Render a chart as an SVG document. */
export function lineChart (c: Chart): string {
  const pts = c.series.flatMap(s => s.points).filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y) && (!c.xLog || x > 0) && (!c.yLog || y > 0))
  const xs = pts.map(p => p[0])
  const ys = pts.map(p => p[1])
  let [x0, x1] = [c.xMin ?? Math.min(...xs), c.xMax ?? Math.max(...xs)]
  let [y0, y1] = [c.yMin ?? Math.min(...ys, c.yLog === true ? Infinity : 0), c.yMax ?? Math.max(...ys)]
  if (c.xLog === true) { x0 = 10 ** Math.floor(Math.log10(x0)); x1 = 10 ** Math.ceil(Math.log10(x1)) }
  if (c.yLog === true) { y0 = 10 ** Math.floor(Math.log10(y0)); y1 = 10 ** Math.ceil(Math.log10(y1)) } else if (c.yMax === undefined) y1 = y1 * 1.05
  if (x1 === x0) x1 = x0 + 1
  if (y1 === y0) y1 = y0 + 1
  const pw = W - M.left - M.right
  const ph = H - M.top - M.bottom
  const sx = (x: number): number => M.left + (c.xLog === true ? Math.log10(x / x0) / Math.log10(x1 / x0) : (x - x0) / (x1 - x0)) * pw
  const sy = (y: number): number => M.top + ph - (c.yLog === true ? Math.log10(y / y0) / Math.log10(y1 / y0) : (y - y0) / (y1 - y0)) * ph
  const out: string[] = []
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`)
  out.push(`<rect width="${W}" height="${H}" fill="white"/>`)
  out.push(`<text x="${W / 2}" y="22" text-anchor="middle" font-size="15" font-weight="bold">${esc(c.title)}</text>`)
  for (const t of ticks(x0, x1, c.xLog === true)) {
    out.push(`<line x1="${sx(t).toFixed(1)}" y1="${M.top}" x2="${sx(t).toFixed(1)}" y2="${M.top + ph}" stroke="#e5e5e5"/>`)
    out.push(`<text x="${sx(t).toFixed(1)}" y="${M.top + ph + 16}" text-anchor="middle">${label(t)}</text>`)
  }
  for (const t of ticks(y0, y1, c.yLog === true)) {
    out.push(`<line x1="${M.left}" y1="${sy(t).toFixed(1)}" x2="${M.left + pw}" y2="${sy(t).toFixed(1)}" stroke="#e5e5e5"/>`)
    out.push(`<text x="${M.left - 6}" y="${(sy(t) + 4).toFixed(1)}" text-anchor="end">${label(t)}</text>`)
  }
  out.push(`<rect x="${M.left}" y="${M.top}" width="${pw}" height="${ph}" fill="none" stroke="#333"/>`)
  out.push(`<text x="${M.left + pw / 2}" y="${M.top + ph + 36}" text-anchor="middle">${esc(c.xLabel)}</text>`)
  out.push(`<text transform="translate(18 ${M.top + ph / 2}) rotate(-90)" text-anchor="middle">${esc(c.yLabel)}</text>`)
  c.series.forEach((s, i) => {
    const color = s.color ?? PALETTE[i % PALETTE.length] as string
    const p = s.points.filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y) && (!c.xLog || x > 0) && (!c.yLog || y > 0))
    if (s.line !== false && p.length > 1) {
      const path: string[] = []
      p.forEach(([x, y], k) => {
        if (k > 0 && s.step === true) path.push(`L${sx(x).toFixed(1)},${sy((p[k - 1] as [number, number])[1]).toFixed(1)}`)
        path.push(`${k === 0 ? 'M' : 'L'}${sx(x).toFixed(1)},${sy(y).toFixed(1)}`)
      })
      out.push(`<path d="${path.join(' ')}" fill="none" stroke="${color}" stroke-width="2"${s.dashed === true ? ' stroke-dasharray="6 4"' : ''}/>`)
    }
    if (s.markers === true) for (const [x, y] of p) out.push(`<circle cx="${sx(x).toFixed(1)}" cy="${sy(y).toFixed(1)}" r="4" fill="${color}"/>`)
    // Legend, below the plot, two columns.
    const lx = M.left + (i % 2) * (pw / 2)
    const ly = M.top + ph + 58 + Math.floor(i / 2) * 18
    out.push(`<line x1="${lx}" y1="${ly - 4}" x2="${lx + 24}" y2="${ly - 4}" stroke="${color}" stroke-width="2"${s.dashed === true ? ' stroke-dasharray="6 4"' : ''}/>`)
    if (s.markers === true) out.push(`<circle cx="${lx + 12}" cy="${ly - 4}" r="4" fill="${color}"/>`)
    out.push(`<text x="${lx + 30}" y="${ly}">${esc(s.name)}</text>`)
  })
  out.push('</svg>')
  return out.join('\n') + '\n'
}

/** Points of an empirical CDF (step) of some values, from (first, 0) to (last, 1). */
export function cdf (values: number[]): Array<[number, number]> {
  const sorted = values.filter(Number.isFinite).sort((a, b) => a - b)
  const out: Array<[number, number]> = sorted.length === 0 ? [] : [[sorted[0] as number, 0]]
  sorted.forEach((v, i) => out.push([v, (i + 1) / sorted.length]))
  return out
}
