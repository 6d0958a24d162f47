// The dashboard's charts: uPlot (window.uPlot, from /ui/assets/uPlot.iife.min.js) over a
// history the page keeps itself, the last few minutes of samples.

/** A time-series chart in `container` with one line per series ({label, color, unit}). Returns
 * {update(times, ...values), destroy()}; without uPlot (it failed to load) it draws nothing. */
export function lineChart(container, title, series) {
  const uPlot = window.uPlot;
  if (!uPlot) return {update() {}, destroy() {}};
  const width = () => Math.max(260, container.clientWidth - 8);
  // The axes in the page's colours (light or dark).
  const style = getComputedStyle(document.documentElement);
  const fg = style.getPropertyValue('--muted').trim() || '#57606a';
  const line = style.getPropertyValue('--line').trim() || '#d0d7de';
  const axis = (more = {}) => ({stroke: fg, grid: {stroke: line, width: 1}, ticks: {stroke: line, width: 1}, ...more});
  const options = {
    title,
    width: width(),
    height: 200,
    cursor: {drag: {x: false, y: false}},
    scales: {x: {time: true}},
    axes: [axis(), axis({size: 56})],
    series: [{}, ...series.map((s) => ({
      label: s.label, stroke: s.color, width: 2, scale: s.scale || 'y',
      value: (u, v) => (v == null ? '–' : `${round(v)}${s.unit || ''}`),
    }))],
  };
  const scales = new Set(series.map((s) => s.scale).filter(Boolean));
  for (const scale of scales) {
    options.scales[scale] = {};
    options.axes.push(axis({scale, side: 1, size: 56, grid: {show: false}}));
  }
  const empty = [[], ...series.map(() => [])];
  const chart = new uPlot(options, empty, container);
  const resize = () => chart.setSize({width: width(), height: 200});
  window.addEventListener('resize', resize);
  return {
    update(data) {
      chart.setData(data);
    },
    destroy() {
      window.removeEventListener('resize', resize);
      chart.destroy();
    },
  };
}

function round(v) {
  if (Math.abs(v) >= 100) return v.toFixed(0);
  if (Math.abs(v) >= 1) return v.toFixed(1);
  return v.toFixed(3);
}
