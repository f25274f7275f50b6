import type { RunReport } from './runner.js';
import type { Spread } from './statistics.js';

/** Renders the final report as aligned text tables for people. */
export function formatReport(report: RunReport): string {
  const lines: string[] = [];
  const { params } = report;
  lines.push(
    `${report.experiment}: ${params.nodes} nodes, runtime ${params.runtime}, seed ${params.seed}` +
      (params.repeat > 1 ? ` (+${params.repeat - 1} more seeds)` : '') +
      (params.churn.chance > 0 ? `, churn ${formatNumber(params.churn.chance)}/node/s for ${params.churn.churnSeconds} s` : ''),
  );
  lines.push('');
  const cases = report.results.cases;
  const figureNames = [...new Set(cases.flatMap((result) => Object.keys(result.figures)))];
  const header = ['case', ...figureNames, 'deaths'];
  const rows = cases.map((result) => [
    result.label,
    ...figureNames.map((name) => formatSpread(result.figures[name])),
    formatSpread(result.deaths),
  ]);
  lines.push(...table(header, rows));
  lines.push('');
  const phases = ['join', 'warm-up', 'churn', 'recovery', 'measurement'] as const;
  const trafficRows = cases.flatMap((result) =>
    phases
      .filter((phase) => result.traffic[phase])
      .map((phase) => {
        const traffic = result.traffic[phase]!;
        return [result.label, phase, formatNumber(traffic.seconds), String(traffic.messages), String(traffic.bytes), formatNumber(traffic.messagesPerNodePerSecond)];
      }),
  );
  lines.push(...table(['case', 'phase', 'seconds', 'messages', 'bytes', 'msg/node/s'], trafficRows));
  // Messages per node per second by label and phase: what each protocol costs.
  const labelRows = cases.flatMap((result) => {
    const labels = [...new Set(phases.flatMap((phase) => Object.keys(result.traffic[phase]?.byLabel ?? {})))].sort();
    return labels.map((label) => [
      result.label,
      label,
      ...phases.map((phase) => {
        const traffic = result.traffic[phase];
        return traffic ? formatNumber(traffic.byLabel[label]?.messagesPerNodePerSecond ?? 0) : '-';
      }),
    ]);
  });
  if (labelRows.length > 0) {
    lines.push('');
    lines.push(...table(['case', 'msg/node/s by label', ...phases], labelRows));
  }
  return lines.join('\n');
}

function formatSpread(value: Spread | undefined): string {
  if (!value) return '-';
  if (value.runs.length <= 1 || value.sd === 0) return formatNumber(value.mean);
  return `${formatNumber(value.mean)} ± ${formatNumber(value.sd)}`;
}

export function formatNumber(value: number): string {
  if (!Number.isFinite(value)) return String(value);
  if (Number.isInteger(value)) return String(value);
  const magnitude = Math.abs(value);
  return magnitude >= 100 ? value.toFixed(1) : magnitude >= 1 ? value.toFixed(2) : value.toPrecision(3);
}

function table(header: string[], rows: string[][]): string[] {
  const widths = header.map((title, column) => Math.max(title.length, ...rows.map((row) => (row[column] ?? '').length)));
  const render = (cells: string[]) => cells.map((cell, column) => cell.padEnd(widths[column] as number)).join('  ').trimEnd();
  return [render(header), widths.map((width) => '-'.repeat(width)).join('  '), ...rows.map(render)];
}
