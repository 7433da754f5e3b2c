/**
 * The `/admin` page: one HTML document with its style and script inline (the package ships
 * no other files for it). It connects to the server's own WebSocket with the admin's token,
 * sends `admin.watch` and redraws on every `admin.stats` frame; it reconnects by itself.
 * The token is embedded as JSON (with `<` escaped, so it cannot end the script) and removed
 * from the address bar at once.
 */
export function adminPage(token: string, nonce: string, wsPath: string): string {
  const data = JSON.stringify({ token, wsPath }).replace(/</g, '\\u003c');
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>nest-bindings · admin</title>
<link rel="icon" href="data:,">
<style nonce="${nonce}">
  :root { --bg: #0f1420; --panel: #171e2e; --line: #263049; --text: #e6eaf2; --muted: #8b96ad; --accent: #5b9dff; --green: #3ecf8e; --amber: #f5b84b; --pink: #ef6fa0; }
  * { box-sizing: border-box; }
  body { margin: 0; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; background: var(--bg); color: var(--text); }
  header { display: flex; align-items: center; gap: 12px; padding: 18px 28px; border-bottom: 1px solid var(--line); }
  header h1 { font-size: 17px; font-weight: 600; margin: 0; letter-spacing: .2px; }
  header h1 span { color: var(--muted); font-weight: 400; }
  #status { margin-left: auto; display: flex; align-items: center; gap: 8px; color: var(--muted); font-size: 13px; }
  #status i { width: 9px; height: 9px; border-radius: 50%; background: var(--amber); display: inline-block; }
  #status.live i { background: var(--green); box-shadow: 0 0 0 4px rgba(62, 207, 142, .15); }
  main { padding: 22px 28px 32px; display: grid; gap: 18px; }
  .cards { display: grid; grid-template-columns: repeat(4, minmax(0, 1fr)); gap: 14px; }
  .card, .panel { background: var(--panel); border: 1px solid var(--line); border-radius: 12px; }
  .card { padding: 14px 16px; }
  .card .label { color: var(--muted); font-size: 12px; text-transform: uppercase; letter-spacing: .6px; }
  .card .value { font-size: 28px; font-weight: 650; margin-top: 4px; font-variant-numeric: tabular-nums; }
  .card .sub { color: var(--muted); font-size: 12px; }
  .panel { padding: 14px 16px; }
  .panel h2 { font-size: 13px; color: var(--muted); font-weight: 600; text-transform: uppercase; letter-spacing: .6px; margin: 0 0 10px; display: flex; gap: 16px; }
  .legend { margin-left: auto; display: flex; gap: 14px; text-transform: none; letter-spacing: 0; font-weight: 400; }
  .legend b { display: inline-block; width: 10px; height: 3px; border-radius: 2px; vertical-align: middle; margin-right: 6px; }
  svg { width: 100%; height: 150px; display: block; }
  .axis { display: flex; justify-content: space-between; color: var(--muted); font-size: 11px; margin-top: 4px; }
  table { width: 100%; border-collapse: collapse; font-variant-numeric: tabular-nums; }
  th { text-align: left; color: var(--muted); font-weight: 500; font-size: 12px; padding: 6px 8px; border-bottom: 1px solid var(--line); }
  td { padding: 8px; border-bottom: 1px solid rgba(38, 48, 73, .6); }
  td.num, th.num { text-align: right; width: 90px; }
  td.name { font-family: ui-monospace, SFMono-Regular, Menlo, monospace; font-size: 13px; }
  .bar { height: 6px; background: #222b40; border-radius: 3px; overflow: hidden; width: 160px; }
  .bar b { display: block; height: 100%; background: linear-gradient(90deg, var(--accent), #8f7bff); border-radius: 3px; }
  .tag { font-size: 11px; color: var(--muted); border: 1px solid var(--line); border-radius: 10px; padding: 1px 7px; }
  .empty { color: var(--muted); padding: 16px 8px; }
  footer { color: var(--muted); font-size: 12px; padding: 0 28px 24px; }
</style>
</head>
<body>
<header><h1>nest-bindings <span>· standalone server</span></h1><div id="status"><i></i><span>connecting…</span></div></header>
<main>
  <section class="cards">
    <div class="card"><div class="label">Connections</div><div class="value" id="connections">–</div><div class="sub" id="connections-sub">&nbsp;</div></div>
    <div class="card"><div class="label">Channels</div><div class="value" id="channels">–</div><div class="sub">with members here</div></div>
    <div class="card"><div class="label">Messages / min</div><div class="value" id="messages">–</div><div class="sub">posted in channels</div></div>
    <div class="card"><div class="label">Frames / s</div><div class="value" id="frames">–</div><div class="sub" id="requests">&nbsp;</div></div>
  </section>
  <section class="panel">
    <h2>Last 5 minutes <span class="legend"><span><b style="background:var(--pink)"></b>messages</span><span><b style="background:var(--accent)"></b>frames sent</span><span><b style="background:var(--green)"></b>requests</span></span></h2>
    <svg id="chart" viewBox="0 0 600 150" preserveAspectRatio="none"></svg>
    <div class="axis"><span>5 min ago</span><span>now</span></div>
  </section>
  <section class="panel">
    <h2>Channels</h2>
    <table><thead><tr><th>Channel</th><th class="num">Users</th><th class="num">Sockets</th><th></th><th class="num">History</th></tr></thead><tbody id="rows"></tbody></table>
  </section>
</main>
<footer id="footer">&nbsp;</footer>
<script nonce="${nonce}">
(() => {
  const { token, wsPath } = ${data};
  history.replaceState(null, '', location.pathname);
  const $ = (id) => document.getElementById(id);
  const fmt = (n) => (n >= 1000 ? (n / 1000).toFixed(n >= 10000 ? 0 : 1) + 'k' : String(n));
  const esc = (s) => String(s).replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]);
  function line(values, max, color) {
    if (values.length < 2) return '';
    const step = 600 / (values.length - 1);
    const points = values.map((v, i) => (i * step).toFixed(1) + ',' + (145 - (v / max) * 135).toFixed(1));
    return '<polygon fill="' + color + '" fill-opacity=".10" points="0,150 ' + points.join(' ') + ' 600,150"/>' +
      '<polyline fill="none" stroke="' + color + '" stroke-width="2" vector-effect="non-scaling-stroke" points="' + points.join(' ') + '"/>';
  }
  function draw(s) {
    $('connections').textContent = fmt(s.connections.sockets + s.connections.streams);
    $('connections-sub').textContent = s.connections.sockets + ' WebSocket · ' + s.connections.streams + ' event stream';
    $('channels').textContent = fmt(s.channelCount);
    $('messages').textContent = fmt(s.now.messagesPerMinute);
    $('frames').textContent = fmt(s.now.framesPerSecond);
    $('requests').textContent = s.now.requestsPerSecond + ' requests / s';
    const h = s.history;
    const max = Math.max(1, ...h.messages, ...h.frames, ...h.requests);
    let grid = '';
    for (let i = 1; i < 4; i++) grid += '<line x1="0" x2="600" y1="' + (150 - i * 36) + '" y2="' + (150 - i * 36) + '" stroke="#263049" stroke-width="1" vector-effect="non-scaling-stroke"/>';
    $('chart').innerHTML = grid + line(h.requests, max, '#3ecf8e') + line(h.frames, max, '#5b9dff') + line(h.messages, max, '#ef6fa0');
    const top = Math.max(1, ...s.channels.map((c) => c.sockets));
    $('rows').innerHTML = s.channels.length
      ? s.channels.map((c) => '<tr><td class="name">' + esc(c.channel) + (c.presence ? '' : ' <span class="tag">no presence</span>') + '</td><td class="num">' + (c.presence ? c.users : '–') +
          '</td><td class="num">' + c.sockets + '</td><td><div class="bar"><b style="width:' + Math.round((c.sockets / top) * 100) + '%"></b></div></td><td class="num">' + c.history + '</td></tr>').join('')
      : '<tr><td class="empty" colspan="5">No channel has members on this instance.</td></tr>';
    $('footer').textContent = 'This instance, up ' + Math.floor(s.uptime / 60) + ' min · updated ' + new Date(s.at).toLocaleTimeString() + ' · ' + h.bucketSeconds + ' s per point';
  }
  function status(live, text) {
    $('status').className = live ? 'live' : '';
    $('status').lastChild.textContent = text;
  }
  let delay = 500;
  function connect() {
    const ws = new WebSocket((location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + wsPath + '?token=' + encodeURIComponent(token));
    ws.onopen = () => { delay = 500; ws.send(JSON.stringify({ event: 'admin.watch', id: 1 })); };
    ws.onmessage = (e) => {
      const frame = JSON.parse(e.data);
      if (frame.error) return status(false, frame.error.message);
      if (frame.event === 'admin.watch' || frame.event === 'admin.stats') { status(true, 'live'); draw(frame.data); }
    };
    ws.onclose = () => { status(false, 'reconnecting…'); setTimeout(connect, delay); delay = Math.min(delay * 2, 10000); };
  }
  connect();
})();
</script>
</body>
</html>
`;
}
