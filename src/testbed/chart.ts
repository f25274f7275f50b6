import type { RunReport } from './runner.js';

const width = 800;
const height = 420;
const margin = { top: 40, right: 160, bottom: 50, left: 70 };
const colours = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b', '#e377c2', '#7f7f7f'];

/**
 * Draws one sampled figure over time, one line per case, with the churn
 * window shaded: the picture of how the network formed and survived.
 */
export function drawChart(report: RunReport, figure: string): string {
  const lines = report.results.cases.map((result) => ({
    label: result.label,
    points: result.series.filter((point) => Number.isFinite(point.figures[figure])).map((point) => [point.seconds, point.figures[figure] as number] as const),
  }));
  const all = lines.flatMap((line) => line.points);
  const maxX = Math.max(1, ...all.map(([x]) => x));
  const maxY = niceCeiling(Math.max(0, ...all.map(([, y]) => y)));
  const plotWidth = width - margin.left - margin.right;
  const plotHeight = height - margin.top - margin.bottom;
  const x = (value: number) => margin.left + (value / maxX) * plotWidth;
  const y = (value: number) => margin.top + plotHeight - (maxY > 0 ? (value / maxY) * plotHeight : 0);

  const parts: string[] = [];
  parts.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="sans-serif" font-size="12">`);
  parts.push(`<rect width="${width}" height="${height}" fill="white"/>`);
  parts.push(`<text x="${width / 2}" y="22" text-anchor="middle" font-size="15">${escape(`${report.experiment}: ${figure}`)}</text>`);
  const churn = report.results.cases[0]?.series.filter((point) => point.phase === 'churn') ?? [];
  if (churn.length > 1) {
    const start = x((churn[0] as { seconds: number }).seconds);
    const end = x((churn[churn.length - 1] as { seconds: number }).seconds);
    parts.push(`<rect x="${start}" y="${margin.top}" width="${Math.max(1, end - start)}" height="${plotHeight}" fill="#fbe3e3"/>`);
    parts.push(`<text x="${(start + end) / 2}" y="${margin.top + 14}" text-anchor="middle" fill="#a33">churn</text>`);
  }
  for (let step = 0; step <= 5; step += 1) {
    const valueY = (maxY * step) / 5;
    const valueX = (maxX * step) / 5;
    parts.push(`<line x1="${margin.left}" x2="${margin.left + plotWidth}" y1="${y(valueY)}" y2="${y(valueY)}" stroke="#eee"/>`);
    parts.push(`<text x="${margin.left - 8}" y="${y(valueY) + 4}" text-anchor="end">${formatTick(valueY)}</text>`);
    parts.push(`<text x="${x(valueX)}" y="${margin.top + plotHeight + 18}" text-anchor="middle">${formatTick(valueX)}</text>`);
  }
  parts.push(`<text x="${margin.left + plotWidth / 2}" y="${height - 10}" text-anchor="middle">time (s)</text>`);
  parts.push(
    `<line x1="${margin.left}" y1="${margin.top + plotHeight}" x2="${margin.left + plotWidth}" y2="${margin.top + plotHeight}" stroke="black"/>`,
    `<line x1="${margin.left}" y1="${margin.top}" x2="${margin.left}" y2="${margin.top + plotHeight}" stroke="black"/>`,
  );
  lines.forEach((line, index) => {
    const colour = colours[index % colours.length] as string;
    const path = line.points.map(([px, py], pointIndex) => `${pointIndex === 0 ? 'M' : 'L'}${x(px).toFixed(1)},${y(py).toFixed(1)}`).join(' ');
    if (path) parts.push(`<path d="${path}" fill="none" stroke="${colour}" stroke-width="2"/>`);
    const legendY = margin.top + 10 + index * 18;
    parts.push(`<rect x="${width - margin.right + 14}" y="${legendY - 9}" width="12" height="12" fill="${colour}"/>`);
    parts.push(`<text x="${width - margin.right + 32}" y="${legendY + 1}">${escape(line.label)}</text>`);
  });
  parts.push('</svg>');
  return parts.join('\n') + '\n';
}

function niceCeiling(value: number): number {
  if (value <= 0) return 1;
  const magnitude = 10 ** Math.floor(Math.log10(value));
  for (const step of [1, 2, 2.5, 5, 10]) if (step * magnitude >= value) return step * magnitude;
  return 10 * magnitude;
}

function formatTick(value: number): string {
  return Number.isInteger(value) ? String(value) : value.toFixed(value < 1 ? 2 : 1);
}

function escape(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}
