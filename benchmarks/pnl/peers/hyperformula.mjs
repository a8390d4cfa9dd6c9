// HyperFormula driver for the P&L benchmark (GPL-3 licence key; benchmark only, never shipped).
//
//   node --expose-gc hyperformula.mjs JOB.json OUT.json
//
// Reads the workbook's cells from the JSON export beside the .xlsx (same values and formulas),
// then measures, like the LibreOffice driver: load (sheets added and filled with evaluation
// suspended: parsing and dependency graph), full recalc (resumeEvaluation: every formula
// evaluated), the report read cold and warm (getRangeValues), single Units writes
// (setCellContents) each followed by reading EBIT[Total,Total,FY] and RevYTD[p,r,Dec]
// (getCellValue), and a bulk replace of every Units value (one setCellContents of the whole block)
// followed by the report read. Memory is the RSS delta of this node process from before the load
// to after the recalc, after a forced GC. Writes the raw result to OUT.json.
import { readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { performance } from 'node:perf_hooks';

const require = createRequire(import.meta.url);
const { HyperFormula } = require('hyperformula');

const log = (msg) => process.stderr.write(`[hyperformula] ${msg}\n`);
const gc = () => { if (global.gc) { global.gc(); global.gc(); } };
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const n = s.length;
  return n % 2 ? s[(n - 1) / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
};
const num = (v) => (typeof v === 'number' ? v : v === null ? 0 : String(v.value ?? v));

const [jobPath, outPath] = process.argv.slice(2);
const job = JSON.parse(readFileSync(jobPath, 'utf8'));
const { sheets } = JSON.parse(readFileSync(job.json, 'utf8'));
const out = { version: HyperFormula.version, note: '' };
const notes = [];

gc();
const before = process.memoryUsage().rss;
let t = performance.now();
// smartRounding off: by default HyperFormula rounds the numbers it returns (to ~10 digits).
const hf = HyperFormula.buildEmpty({ licenseKey: 'gpl-v3', smartRounding: false });
hf.suspendEvaluation();
const ids = {};
for (const name of Object.keys(sheets)) ids[name] = hf.getSheetId(hf.addSheet(name));
for (const [name, rows] of Object.entries(sheets)) hf.setSheetContent(ids[name], rows);
out.load_s = (performance.now() - t) / 1e3;
log(`load ${out.load_s.toFixed(3)} s`);

t = performance.now();
hf.resumeEvaluation();
out.full_recalc_s = (performance.now() - t) / 1e3;
log(`full recalc ${out.full_recalc_s.toFixed(3)} s`);
gc();
out.bytes_per_cell = (process.memoryUsage().rss - before) / job.leaf_cells;
out.bytes_method = 'RSS delta of the node process (forced GC), before load to after recalc';

const units = ids[job.sheets.units];
const ytd = ids[job.sheets.revytd];
const report = ids[job.sheets.report];
const [r0, c0, r1, c1] = job.report_range;
const reportRange = {
  start: { sheet: report, row: r0, col: c0 },
  end: { sheet: report, row: r1, col: c1 },
};
const readReport = () => hf.getRangeValues(reportRange).map((row) => row.map(num));

t = performance.now();
out.report = readReport();
out.slice_cold_ms = performance.now() - t;
const warm = [];
let start = performance.now();
let data = null;
for (let i = 0; i < job.samples; i++) {
  t = performance.now();
  data = readReport();
  warm.push(performance.now() - t);
  if (warm.length >= job.min_samples && (performance.now() - start) / 1e3 > job.budget_s) {
    notes.push(`${warm.length} warm slice samples (time cap)`);
    break;
  }
}
out.slice_warm_ms = median(warm);
out.report_warm = data;
log(`slice cold ${out.slice_cold_ms.toFixed(3)} ms, warm ${out.slice_warm_ms.toFixed(3)} ms`);

const [totalRow, totalCol] = job.ebit_total;
const totalAddr = { sheet: report, row: totalRow, col: totalCol };
out.write_ms = [];
out.write_readings = [];
start = performance.now();
for (const w of job.writes) {
  t = performance.now();
  hf.setCellContents({ sheet: units, row: w.row, col: w.col }, [[w.value]]);
  const total = num(hf.getCellValue(totalAddr));
  const dec = num(hf.getCellValue({ sheet: ytd, row: w.ytd_row, col: w.ytd_col }));
  out.write_ms.push(performance.now() - t);
  out.write_readings.push([total, dec]);
  if (out.write_ms.length >= job.min_samples && (performance.now() - start) / 1e3 > job.budget_s) {
    notes.push(`${out.write_ms.length} write samples (time cap)`);
    break;
  }
}
log(`writes: ${out.write_ms.length}, median ${median(out.write_ms).toFixed(3)} ms`);

const [br0, bc0] = job.bulk_range;
t = performance.now();
hf.setCellContents({ sheet: units, row: br0, col: bc0 }, job.bulk_values);
out.report_bulk = readReport();
out.bulk_s = (performance.now() - t) / 1e3;
log(`bulk ${out.bulk_s.toFixed(3)} s`);

out.note = notes.join('; ');
writeFileSync(outPath, JSON.stringify(out));
