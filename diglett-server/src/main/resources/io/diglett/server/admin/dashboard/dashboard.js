// The gateway dashboard: polls /api/gateway and /api/tunnels every second and draws the last two minutes of
// traffic per tunnel (bytes/s in and out, from the byte counters). No library, no CDN: served from the jar.
(function () {
  'use strict';
  var SAMPLES = 120;
  // The admin token comes after '#' in the page address (/#token=TOKEN): a fragment never leaves the browser,
  // so it is in no request line, server log or Referer; it is sent only in the Authorization header.
  var token = new URLSearchParams(location.hash.slice(1)).get('token');
  var headers = token ? { 'Authorization': 'Bearer ' + token } : {};
  window.addEventListener('hashchange', function () { location.reload(); });
  var history = {};          // name -> { in: [], out: [], lastIn, lastOut, lastTime }
  var total = { in: [], out: [] };

  function fetchJson(path) {
    return fetch(path, { headers: headers, cache: 'no-store' }).then(function (r) {
      if (r.status === 401) {
        throw new Error(path + ': HTTP 401, ' + (token ? 'the token is wrong' : 'a token is needed')
          + ': open this page as /#token=TOKEN');
      }
      if (!r.ok) { throw new Error(path + ': HTTP ' + r.status); }
      return r.json();
    });
  }

  function bytes(n) {
    var units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
    var i = 0;
    while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
    return (i === 0 ? n : n.toFixed(1)) + ' ' + units[i];
  }

  function ago(iso) {
    if (!iso) { return ''; }
    var s = Math.max(0, Math.round((Date.now() - Date.parse(iso)) / 1000));
    if (s < 60) { return s + ' s'; }
    if (s < 3600) { return Math.floor(s / 60) + ' min'; }
    if (s < 86400) { return Math.floor(s / 3600) + ' h ' + Math.floor(s % 3600 / 60) + ' min'; }
    return Math.floor(s / 86400) + ' d';
  }

  function push(series, value) {
    series.push(value);
    if (series.length > SAMPLES) { series.shift(); }
  }

  function draw(canvas, series) {
    var ratio = window.devicePixelRatio || 1;
    var w = canvas.clientWidth || canvas.width, h = canvas.clientHeight || canvas.height;
    canvas.width = w * ratio; canvas.height = h * ratio;
    var g = canvas.getContext('2d');
    g.scale(ratio, ratio);
    g.clearRect(0, 0, w, h);
    var max = 1;
    series.forEach(function (s) { s.values.forEach(function (v) { if (v > max) { max = v; } }); });
    series.forEach(function (s) {
      g.strokeStyle = s.color; g.lineWidth = 1.5; g.beginPath();
      s.values.forEach(function (v, i) {
        var x = w - (s.values.length - 1 - i) * (w / (SAMPLES - 1));
        var y = h - 2 - (v / max) * (h - 4);
        if (i === 0) { g.moveTo(x, y); } else { g.lineTo(x, y); }
      });
      g.stroke();
    });
  }

  function cell(row, text, cls) {
    var td = document.createElement('td');
    td.textContent = text;
    if (cls) { td.className = cls; }
    row.appendChild(td);
    return td;
  }

  var colors = getComputedStyle(document.documentElement);
  var IN = colors.getPropertyValue('--in').trim() || '#2a7de1';
  var OUT = colors.getPropertyValue('--out').trim() || '#e07b12';

  /** In cluster mode: this node, the store, the nodes, and the names other nodes hold. */
  function clusterSummary(cluster) {
    if (!cluster) { return ''; }
    var elsewhere = Object.keys(cluster.holders || {}).filter(function (name) {
      return cluster.holders[name] !== cluster.node;
    }).map(function (name) { return name + ' (node ' + cluster.holders[name] + ')'; });
    return ' · node ' + cluster.node + ' of ' + (cluster.nodes || []).length
      + (cluster.storeUp ? ', etcd up' : ', etcd DOWN for ' + Math.round(cluster.storeSilentSeconds) + ' s')
      + (elsewhere.length ? ' · on other nodes: ' + elsewhere.join(', ') : '');
  }

  /** Who may reach a name: its visitor policy in a line, and what it decided. */
  function visitors(p) {
    if (!p) { return 'anyone'; }
    var parts = [];
    if (p.login === 'oidc') { parts.push('OpenID login: ' + (p.accounts || []).join(', ')); }
    if (p.login === 'jwt') { parts.push('bearer token'); }
    if (p.login === 'basic') { parts.push('basic auth: ' + (p.users || []).join(', ')); }
    if ((p.allow || []).length) { parts.push('only ' + p.allow.join(', ')); }
    if ((p.deny || []).length) { parts.push('not ' + p.deny.join(', ')); }
    if (p.rateLimit) { parts.push(p.rateLimit + '/s per client'); }
    if (!parts.length && !(p.setRequestHeaders || []).length && !(p.removeRequestHeaders || []).length
        && !(p.setResponseHeaders || []).length) { return 'anyone'; }
    return (parts.length ? parts.join(' · ') : 'anyone, with header rules') + ' (' + p.allowed + ' in, ' + p.denied + ' denied, '
      + p.limited + ' limited' + (p.login ? ', ' + p.unauthenticated + ' refused at login' : '') + ')';
  }

  function render(gateway, tunnels) {
    document.getElementById('summary').textContent = gateway.agents + ' agent(s), ' + gateway.tunnels
      + ' tunnel(s)' + (gateway.domain ? ' · *.' + gateway.domain : '') + ' · up ' + ago(gateway.started)
      + (gateway.fingerprint ? ' · ' + gateway.fingerprint : '') + clusterSummary(gateway.cluster);
    var now = Date.now();
    var sumIn = 0, sumOut = 0;
    var seen = {};
    tunnels.forEach(function (t) {
      seen[t.name] = true;
      var h = history[t.name];
      if (!h || h.since !== t.since) {
        h = history[t.name] = { in: [], out: [], lastIn: t.bytesIn, lastOut: t.bytesOut, lastTime: now, since: t.since };
      }
      var dt = Math.max(0.001, (now - h.lastTime) / 1000);
      var rin = Math.max(0, (t.bytesIn - h.lastIn) / dt), rout = Math.max(0, (t.bytesOut - h.lastOut) / dt);
      if (now !== h.lastTime) { push(h.in, rin); push(h.out, rout); }
      h.lastIn = t.bytesIn; h.lastOut = t.bytesOut; h.lastTime = now;
      sumIn += rin; sumOut += rout;
    });
    Object.keys(history).forEach(function (name) { if (!seen[name]) { delete history[name]; } });
    push(total.in, sumIn); push(total.out, sumOut);
    draw(document.getElementById('total'), [{ values: total.in, color: IN }, { values: total.out, color: OUT }]);
    document.getElementById('rate').textContent = 'now: in ' + bytes(sumIn) + '/s, out ' + bytes(sumOut) + '/s';

    var body = document.querySelector('#tunnels tbody');
    body.textContent = '';
    tunnels.forEach(function (t) {
      var row = document.createElement('tr');
      row.dataset.name = t.name;
      cell(row, t.name);
      var pub = cell(row, '', 'public');
      (t.urls || []).forEach(function (u) {
        var a = document.createElement('a'); a.href = u; a.textContent = u; pub.appendChild(a);
      });
      var raw = document.createElement('span'); raw.textContent = 'TCP port ' + t.port; pub.appendChild(raw);
      cell(row, (t.agent || '') + (t.node ? ' on node ' + t.node : ''));
      cell(row, ago(t.since));
      cell(row, visitors(t.policy), 'visitors');
      cell(row, String(t.streams), 'num streams');
      cell(row, String(t.connections), 'num connections');
      cell(row, bytes(t.bytesIn), 'num bytes-in');
      cell(row, bytes(t.bytesOut), 'num bytes-out');
      var graph = cell(row, '');
      var canvas = document.createElement('canvas');
      canvas.width = 180; canvas.height = 32;
      graph.appendChild(canvas);
      body.appendChild(row);
      var h = history[t.name];
      draw(canvas, [{ values: h.in, color: IN }, { values: h.out, color: OUT }]);
    });
    document.getElementById('empty').hidden = tunnels.length > 0;
    document.getElementById('error').hidden = true;
  }

  function tick() {
    Promise.all([fetchJson('api/gateway'), fetchJson('api/tunnels')])
      .then(function (r) { render(r[0], r[1]); })
      .catch(function (e) {
        var el = document.getElementById('error');
        el.textContent = 'cannot reach the gateway: ' + e.message;
        el.hidden = false;
      });
  }

  tick();
  setInterval(tick, 1000);
})();
