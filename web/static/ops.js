// Refresh the numbers every 2 s without reloading the page.
function cell(text, cls) {
  const td = document.createElement("td");
  td.textContent = text;
  if (cls) td.className = cls;
  return td;
}
function emptyRow(text, columns) {
  const tr = document.createElement("tr");
  const td = cell(text);
  td.colSpan = columns;
  tr.className = "empty";
  tr.append(td);
  return tr;
}
async function refresh() {
  const response = await fetch("/ops/data.json", {credentials: "same-origin"});
  if (response.status === 401) { location.reload(); return; }
  const data = await response.json();
  const trunks = document.querySelector("#trunks tbody");
  trunks.replaceChildren(...data.trunks.map(t => {
    const tr = document.createElement("tr");
    const limit = t.limit === null || t.limit === undefined ? "" : ` (limit ${t.limit})`;
    const lines = cell(` ${t.in_use} / ${t.total}${limit}`);
    const meter = document.createElement("meter");
    meter.min = 0; meter.max = t.total; meter.value = t.in_use;
    lines.prepend(meter);
    const notes = (t.paused ? " (paused)" : "") +
      (t.watched ? "" : " (paused: no event consumer sees its PBX)");
    tr.append(cell(t.name + notes), lines, cell(t.waiting), cell(t.ami, `ami-${t.ami}`));
    return tr;
  }));
  const calls = document.querySelector("#calls tbody");
  calls.replaceChildren(...data.calls.map(c => {
    const tr = document.createElement("tr");
    tr.append(cell(c.to), cell(c.status, `status-${c.status}`), cell(c.trunk), cell(c.seconds));
    return tr;
  }));
  const campaigns = document.querySelector("#campaigns tbody");
  campaigns.replaceChildren(...data.campaigns.map(c => {
    const tr = document.createElement("tr");
    const progress = cell(` ${c.progress}% of ${c.total}`);
    const meter = document.createElement("meter");
    meter.min = 0; meter.max = 100; meter.value = c.progress;
    progress.prepend(meter);
    const status = cell(c.shown_status || c.status, `campaign-${c.status}`);
    status.dataset.activity = c.activity_state || "";
    tr.append(cell(c.name), status, progress, cell(c.dialing),
              cell(c.pending), cell(c.answered), cell(c.rate), cell(c.eta));
    return tr;
  }));
  if (!data.campaigns.length) campaigns.append(emptyRow("No running campaigns.", 8));
  const alerts = document.querySelector("#alerts");
  alerts.replaceChildren(...(data.alerts.length ? data.alerts.map(a => {
    const li = document.createElement("li");
    li.className = `alert alert-${a.level}`;
    li.dataset.subject = a.subject;
    li.textContent = a.text;
    return li;
  }) : [Object.assign(document.createElement("li"),
                      {className: "ok", textContent: "Nothing needs attention."})]));
  // The charts are drawn by the server (web/charts.py, every text escaped there).
  document.querySelector("#lines-chart-box").innerHTML = data.charts.lines;
  document.querySelector("#outcomes-chart-box").innerHTML = data.charts.outcomes;
  const quality = document.querySelector("#quality tbody");
  quality.replaceChildren(...data.quality.map(q => {
    const tr = document.createElement("tr");
    tr.dataset.kind = q.kind;
    tr.append(cell(`${q.kind} ${q.name}`), cell(q.attempts), cell(q.answered),
              cell(`${q.asr === null ? "-" : q.asr.toFixed(1)}%`),
              cell(`${q.acd === null ? "-" : q.acd.toFixed(1)} s`));
    return tr;
  }));
  if (!data.quality.length) quality.append(emptyRow("No call ended in the last hour.", 5));
  document.querySelector("#active-count").textContent = data.calls.length;
  document.querySelector("#updated").textContent = `updated ${data.generated_at}`;
}
setInterval(() => refresh().catch(() => {}), 2000);
