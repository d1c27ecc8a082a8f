// The report page's fixed parts: its one script (hands the embedded chart JSON to Chart.js, or says
// in a visible banner why it cannot) and its style sheet.

/** Runs in the page: builds every chart from the embedded JSON, or says why it cannot. */
export const PAGE_SCRIPT = `(function () {
  var specs = JSON.parse(document.getElementById('chart-specs').textContent);
  var banner = document.getElementById('chart-error');
  function fail(message) {
    banner.textContent = message;
    banner.hidden = false;
    document.body.setAttribute('data-charts', 'failed');
  }
  function build() {
    if (typeof window.Chart !== 'function') {
      fail('Charts unavailable: Chart.js did not load (' + specs.reason + '). The ' + specs.charts.length +
        ' chart areas below stay empty; the tables still hold the numbers.');
      return;
    }
    Chart.defaults.font.family = getComputedStyle(document.body).fontFamily;
    Chart.defaults.color = '#475467';
    var failed = [];
    specs.charts.forEach(function (s) {
      try { new Chart(document.querySelector('canvas[data-testid="' + s.id + '"]'), s.config); }
      catch (e) { failed.push(s.title + ': ' + e.message); }
    });
    if (failed.length) fail('Some charts could not be drawn: ' + failed.join('; '));
    else document.body.setAttribute('data-charts', 'ready');
  }
  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', build);
  else build();
})();`;

export const CSS = `:root{--bg:#f4f6f9;--card:#fff;--text:#1d2939;--muted:#667085;--border:#e4e7ec}
*{box-sizing:border-box}
body{margin:0;background:var(--bg);color:var(--text);font:14px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif}
header{max-width:1280px;margin:0 auto;padding:28px 24px 8px}
h1{margin:0 0 6px;font-size:24px;letter-spacing:-.01em}
.chips{display:flex;flex-wrap:wrap;gap:8px;margin:0;padding:0;list-style:none}
.chips li{background:#fff;border:1px solid var(--border);border-radius:999px;padding:2px 12px;color:var(--muted)}
.chips b{color:var(--text);font-weight:600}
main{max-width:1280px;margin:0 auto;padding:12px 24px 40px;display:grid;gap:16px}
.card{background:var(--card);border:1px solid var(--border);border-radius:12px;padding:16px 20px;box-shadow:0 1px 2px rgba(16,24,40,.05)}
.card h2{margin:0 0 12px;font-size:16px}
.muted{color:var(--muted)}
.error{background:#fef3f2;border:1px solid #fda29b;color:#b42318;border-radius:10px;padding:10px 14px;font-weight:600}
.charts{display:grid;grid-template-columns:repeat(auto-fill,minmax(360px,1fr));gap:14px}
.charts.one{grid-template-columns:1fr}
.chart{border:1px solid var(--border);border-radius:10px;padding:10px 12px}
.chart h3{margin:0 0 6px;font-size:13px;font-weight:600;color:var(--muted)}
.chart-box{position:relative;height:240px}
table{border-collapse:collapse}
th,td{padding:5px 12px;border-bottom:1px solid var(--border);text-align:left;vertical-align:top}
thead th{font-size:12px;color:var(--muted);font-weight:600}
.kv th{width:1%;font-weight:500;color:var(--muted);font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:12.5px;white-space:nowrap}
.kv td{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:12.5px;word-break:break-word}
.kv-columns{display:grid;grid-template-columns:repeat(auto-fit,minmax(320px,1fr));gap:0 24px}
.kv-columns table{width:100%}
.adapter{margin:0 0 10px}
.split{display:grid;grid-template-columns:minmax(0,1.4fr) minmax(0,1fr);gap:20px;align-items:start}
@media (max-width:800px){.split{grid-template-columns:1fr}}
.counts td,.counts th{text-align:right}.counts th:first-child{text-align:left}
.confusion th,.confusion td{text-align:center;vertical-align:middle;border:1px solid var(--border)}
.confusion td{min-width:150px;padding:12px}
.confusion .count{font-size:22px;font-weight:700}
.confusion .rate{font-size:12px;color:#344054}
.gallery{display:grid;grid-template-columns:repeat(auto-fill,minmax(170px,1fr));gap:14px}
figure{margin:0}
figure img{display:block;width:100%;height:auto;border-radius:8px;background:#000}
img.pixelated{image-rendering:pixelated}
figcaption{margin-top:4px;font-size:12px;color:var(--muted);text-align:center}
.legend{margin:0 0 10px;color:var(--muted)}
.swatch{display:inline-block;width:12px;height:12px;border-radius:3px;margin:0 4px 0 12px;vertical-align:-1px}
.swatch:first-child{margin-left:0}
.pairs{display:grid;grid-template-columns:repeat(auto-fill,minmax(320px,1fr));gap:16px}
.pair{display:grid;grid-template-columns:1fr 1fr;gap:8px}`;
