// The markdown table and JSON a run leaves under bench/results/<timestamp>/.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Row, Unit, EngineResult } from './bench';

export interface RunInfo {
  date: string;
  command: string;
  mode: string;
  durationS: number;
  machine: string;
  engines: { key: string; title: string; version: string; error?: string }[];
}

export function machineInfo(): string {
  const cpu = os.cpus()[0]?.model.trim() ?? 'unknown cpu';
  const mem = (os.totalmem() / 2 ** 30).toFixed(1);
  return `${os.cpus().length} × ${cpu}, ${mem} GiB RAM, Linux ${os.release()}, Node ${process.version}`;
}

function fmt(v: number, unit: Unit): string {
  if (!Number.isFinite(v)) return '?';
  if (unit === 'ms') return v >= 100 ? v.toFixed(0) : v.toFixed(1);
  if (unit === 's') return v.toFixed(2);
  return v >= 10 ? v.toFixed(1) : v.toFixed(2);
}

function cell(r: EngineResult | undefined, unit: Unit): string {
  if (!r) return '—';
  const s = r.summary;
  if (!s) return `failed: ${(r.error ?? 'no samples').replace(/\|/g, '\\|')}`;
  const spread = s.n > 1 ? ` (${fmt(s.min, unit)}–${fmt(s.max, unit)})` : '';
  const partial = r.error ? ` ⚠ then failed: ${r.error.replace(/\|/g, '\\|')}` : '';
  return `**${fmt(s.median, unit)}**${spread}${partial}`;
}

export function ratio(row: Row): number | undefined {
  const d = row.results.docker?.summary?.median;
  const b = row.results.berth?.summary?.median;
  if (d === undefined || b === undefined || b === 0) return undefined;
  return d / b;
}

function targetCell(row: Row): string {
  const t = row.target;
  if (!t) return '';
  if (t.minRatio !== undefined) {
    const r = ratio(row);
    const want = `≥ ${t.minRatio}×`;
    return r === undefined ? want : `${want}: ${r >= t.minRatio ? 'met' : 'not met'}`;
  }
  if (t.maxBerth !== undefined) {
    const b = row.results.berth?.summary?.median;
    const want = `Berth ≤ ${t.maxBerth} ${row.unit}`;
    return b === undefined ? want : `${want}: ${b <= t.maxBerth ? 'met' : 'not met'}`;
  }
  return '';
}

export function markdown(info: RunInfo, rows: Row[]): string {
  const lines: string[] = [];
  lines.push(`# Berth vs Docker — benchmark run ${info.date}`, '');
  lines.push(`- Machine: ${info.machine}`);
  for (const e of info.engines) lines.push(`- ${e.title}: ${e.version || '?'}${e.error ? ` — **${e.error}**` : ''}`);
  lines.push(`- Command: \`${info.command}\` (${info.mode}), ${info.durationS.toFixed(0)} s`);
  lines.push('- Both engines are driven by the same official `docker` CLI, interleaved run by run; times are wall time of the CLI process.');
  lines.push('- Cells: **median** (min–max); the JSON beside this file also has the quartiles and every sample. Ratio > 1 means Berth is faster/lighter.', '');
  lines.push('| Workload | Unit | Docker | Berth | Docker/Berth | Target | n |');
  lines.push('|---|---|---|---|---|---|---|');
  for (const row of rows) {
    const r = ratio(row);
    const n = Object.values(row.results).map((x) => x.summary?.n ?? 0).join('/');
    lines.push(`| ${row.title} | ${row.unit} | ${cell(row.results.docker, row.unit)} | ${cell(row.results.berth, row.unit)} | ${r === undefined ? '—' : `${r.toFixed(2)}×`} | ${targetCell(row)} | ${n} |`);
  }
  const notes = rows.filter((r) => r.note);
  if (notes.length) {
    lines.push('', 'Notes:');
    for (const r of notes) lines.push(`- ${r.title}: ${r.note}`);
  }
  return lines.join('\n') + '\n';
}

export function writeResults(dir: string, info: RunInfo, rows: Row[]): string {
  fs.mkdirSync(dir, { recursive: true });
  const md = markdown(info, rows);
  fs.writeFileSync(path.join(dir, 'report.md'), md);
  const json = { ...info, rows: rows.map((r) => ({ ...r, ratio: ratio(r) })) };
  fs.writeFileSync(path.join(dir, 'results.json'), JSON.stringify(json, null, 2) + '\n');
  return md;
}
