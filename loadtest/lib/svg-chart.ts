/**
 * Hand-written SVG (no dependencies): one panel per chart, laid out in a grid. Bar panels
 * compare the engine alone with the gateway path (and show a target line when there is one);
 * line panels plot a series over time (the soak's RSS). A bar that was not measured is drawn as
 * an empty outline labelled "not measured", never as a zero-height bar.
 */
import type { ChartData } from "./results.ts";

const PANEL_WIDTH = 420;
const PANEL_HEIGHT = 260;
const COLUMNS = 2;
const PLOT = { left: 56, right: 16, top: 36, bottom: 52 };
const COLOURS = { direct: "#4e79a7", gateway: "#f28e2b", other: "#76b7b2", target: "#e15759", line: "#4e79a7" };

export function escapeXml(text: string): string {
  return text
    .replaceAll("&", "&amp;")
    .replaceAll("<", "&lt;")
    .replaceAll(">", "&gt;")
    .replaceAll('"', "&quot;")
    .replaceAll("'", "&apos;");
}

function number(value: number): string {
  return Number.isInteger(value) ? String(value) : value.toFixed(2);
}

/** A "nice" upper bound for an axis (1, 2, 2.5 or 5 times a power of ten). */
export function niceCeiling(value: number): number {
  if (!(value > 0) || !Number.isFinite(value)) return 1;
  const power = 10 ** Math.floor(Math.log10(value));
  for (const step of [1, 2, 2.5, 5, 10]) if (step * power >= value) return step * power;
  return 10 * power;
}

function label(value: number): string {
  if (value === 0) return "0";
  if (Math.abs(value) >= 100) return value.toFixed(0);
  if (Math.abs(value) >= 10) return value.toFixed(1);
  return value.toFixed(2);
}

function axes(width: number, height: number, maximum: number, unit: string): string[] {
  const parts: string[] = [];
  const plotHeight = height - PLOT.top - PLOT.bottom;
  for (let tick = 0; tick <= 4; tick++) {
    const value = (maximum * tick) / 4;
    const y = PLOT.top + plotHeight - (plotHeight * tick) / 4;
    parts.push(
      `<line x1="${PLOT.left}" y1="${number(y)}" x2="${width - PLOT.right}" y2="${number(y)}" stroke="#ddd"/>`,
      `<text x="${PLOT.left - 6}" y="${number(y + 4)}" text-anchor="end" font-size="10">${escapeXml(label(value))}</text>`,
    );
  }
  parts.push(
    `<text x="12" y="${number(PLOT.top + plotHeight / 2)}" font-size="10" transform="rotate(-90 12 ${number(PLOT.top + plotHeight / 2)})" text-anchor="middle">${escapeXml(unit)}</text>`,
  );
  return parts;
}

function barPanel(chart: Extract<ChartData, { kind: "bars" }>, width: number, height: number): string[] {
  const values = chart.bars.map((bar) => bar.value).filter((value): value is number => value !== null);
  const maximum = niceCeiling(Math.max(0, ...values, chart.target ?? 0));
  const plotWidth = width - PLOT.left - PLOT.right;
  const plotHeight = height - PLOT.top - PLOT.bottom;
  const slot = plotWidth / Math.max(1, chart.bars.length);
  const parts = axes(width, height, maximum, chart.unit);
  chart.bars.forEach((bar, index) => {
    const x = PLOT.left + slot * index + slot * 0.15;
    const barWidth = slot * 0.7;
    const baseline = PLOT.top + plotHeight;
    if (bar.value === null) {
      parts.push(
        `<rect x="${number(x)}" y="${number(PLOT.top)}" width="${number(barWidth)}" height="${number(plotHeight)}" fill="none" stroke="#999" stroke-dasharray="4 3"/>`,
        `<text x="${number(x + barWidth / 2)}" y="${number(PLOT.top + plotHeight / 2)}" text-anchor="middle" font-size="10">not measured</text>`,
      );
    } else {
      const barHeight = (Math.max(0, bar.value) / maximum) * plotHeight;
      parts.push(
        `<rect x="${number(x)}" y="${number(baseline - barHeight)}" width="${number(barWidth)}" height="${number(barHeight)}" fill="${COLOURS[bar.group]}"/>`,
        `<text x="${number(x + barWidth / 2)}" y="${number(baseline - barHeight - 4)}" text-anchor="middle" font-size="10">${escapeXml(label(bar.value))}</text>`,
      );
    }
    parts.push(
      `<text x="${number(x + barWidth / 2)}" y="${number(baseline + 14)}" text-anchor="middle" font-size="10">${escapeXml(bar.label)}</text>`,
    );
  });
  if (chart.target !== undefined) {
    const y = PLOT.top + plotHeight - (chart.target / maximum) * plotHeight;
    parts.push(
      `<line x1="${PLOT.left}" y1="${number(y)}" x2="${width - PLOT.right}" y2="${number(y)}" stroke="${COLOURS.target}" stroke-dasharray="6 3"/>`,
      `<text x="${width - PLOT.right}" y="${number(y - 4)}" text-anchor="end" font-size="10" fill="${COLOURS.target}">target ${escapeXml(label(chart.target))}</text>`,
    );
  }
  return parts;
}

function linePanel(chart: Extract<ChartData, { kind: "line" }>, width: number, height: number): string[] {
  const plotWidth = width - PLOT.left - PLOT.right;
  const plotHeight = height - PLOT.top - PLOT.bottom;
  if (chart.points.length === 0) {
    return [
      `<text x="${number(width / 2)}" y="${number(height / 2)}" text-anchor="middle" font-size="12">not measured</text>`,
    ];
  }
  const maximumY = niceCeiling(Math.max(...chart.points.map(([, y]) => y)));
  const minimumX = Math.min(...chart.points.map(([x]) => x));
  const spanX = Math.max(1e-9, Math.max(...chart.points.map(([x]) => x)) - minimumX);
  const parts = axes(width, height, maximumY, chart.unit);
  const path = chart.points
    .map(([x, y], index) => {
      const px = PLOT.left + ((x - minimumX) / spanX) * plotWidth;
      const py = PLOT.top + plotHeight - (Math.max(0, y) / maximumY) * plotHeight;
      return `${index === 0 ? "M" : "L"}${number(px)} ${number(py)}`;
    })
    .join(" ");
  parts.push(
    `<path d="${path}" fill="none" stroke="${COLOURS.line}" stroke-width="1.5"/>`,
    `<text x="${number(PLOT.left + plotWidth / 2)}" y="${number(height - 24)}" text-anchor="middle" font-size="10">${escapeXml(chart.xUnit)}</text>`,
  );
  return parts;
}

/** One SVG document holding every chart (an empty chart list gives a one-line placeholder). */
export function renderCharts(charts: readonly ChartData[]): string {
  const rows = Math.max(1, Math.ceil(charts.length / COLUMNS));
  const width = PANEL_WIDTH * (charts.length > 1 ? COLUMNS : 1);
  const height = PANEL_HEIGHT * rows;
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif">`,
    `<rect width="${width}" height="${height}" fill="#fff"/>`,
  ];
  if (charts.length === 0) parts.push(`<text x="20" y="40" font-size="14">No scenario has been run yet.</text>`);
  charts.forEach((chart, index) => {
    const x = (index % COLUMNS) * PANEL_WIDTH;
    const y = Math.floor(index / COLUMNS) * PANEL_HEIGHT;
    const body =
      chart.kind === "bars" ? barPanel(chart, PANEL_WIDTH, PANEL_HEIGHT) : linePanel(chart, PANEL_WIDTH, PANEL_HEIGHT);
    parts.push(
      `<g transform="translate(${x} ${y})">`,
      `<text x="${PANEL_WIDTH / 2}" y="20" text-anchor="middle" font-size="13" font-weight="bold">${escapeXml(chart.title)}</text>`,
      ...body,
      "</g>",
    );
  });
  parts.push("</svg>", "");
  return parts.join("\n");
}
