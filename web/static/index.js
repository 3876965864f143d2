// The stream list: polls /api/v1/streams and redraws the table.
'use strict';
(() => {
  const table = document.getElementById('streams');
  const body = table.querySelector('tbody');
  const empty = document.getElementById('empty');
  const error = document.getElementById('error');
  for (const el of document.querySelectorAll('.host')) el.textContent = location.hostname;

  const uptime = (s) => {
    s = Math.floor(s);
    const h = Math.floor(s / 3600), m = Math.floor(s / 60) % 60;
    return (h ? h + 'h ' : '') + (h || m ? m + 'm ' : '') + (s % 60) + 's';
  };
  const cell = (text) => { const td = document.createElement('td'); td.textContent = text; return td; };

  // Each live stream's picture (its latest keyframe, made by the server at most once a
  // second), fetched again every 10 s; the img elements are kept so a refresh does not blink.
  const pictures = new Map();
  function picture(s) {
    const td = document.createElement('td');
    td.className = 'thumb';
    if (!s.urls.snapshot || !s.publishing) return td;
    let img = pictures.get(s.path);
    if (!img) {
      img = document.createElement('img');
      img.className = 'thumb';
      img.alt = '';
      img.addEventListener('error', () => { img.hidden = true; });
      img.addEventListener('load', () => { img.hidden = false; });
      pictures.set(s.path, img);
    }
    const q = new URLSearchParams(location.search);
    q.set('width', '160');
    q.set('t', String(Math.floor(Date.now() / 10000)));
    const src = `${s.urls.snapshot}?${q}`;
    if (img.dataset.src !== src) img.src = img.dataset.src = src;
    td.append(img);
    return td;
  }

  // renditionsOf names a stream's other renditions: " + 480p, 360p".
  function renditionsOf(s) {
    const r = (s.renditions || []).map((x) => (x.height ? `${x.height}p` : x.label));
    return r.length ? ` + ${r.reverse().join(', ')}` : '';
  }

  function render(all) {
    const streams = all.filter((s) => !s.rendition_of); // a stream's renditions show on its row
    body.replaceChildren();
    for (const s of streams) {
      const tr = document.createElement('tr');
      tr.className = s.publishing ? 'live' : 'waiting';
      tr.dataset.path = s.path;
      const name = document.createElement('td');
      const a = document.createElement('a');
      a.href = s.urls.page;
      a.textContent = s.path;
      const dot = document.createElement('span');
      dot.className = 'live-dot';
      name.append(dot, a);
      const v = s.tracks.find((t) => t.kind === 'video');
      const au = s.tracks.find((t) => t.kind === 'audio');
      const viewers = Object.values(s.viewers).reduce((a, b) => a + b, 0);
      tr.append(picture(s), name,
        cell(s.protocol ? s.protocol.toUpperCase() : '—'),
        cell(v ? `${v.codec} ${v.width}×${v.height}` + renditionsOf(s) : '—'),
        cell(au ? `${au.codec} ${au.sample_rate / 1000} kHz` : '—'),
        cell(s.bitrate_kbps ? `${s.bitrate_kbps} kbit/s` : '—'),
        cell(String(viewers)),
        cell(s.publishing ? uptime(s.uptime_seconds) : 'reconnecting…'));
      tr.addEventListener('click', (e) => { if (e.target.tagName !== 'A') location.href = s.urls.page; });
      body.append(tr);
    }
    table.hidden = streams.length === 0;
    empty.hidden = streams.length !== 0;
  }

  async function refresh() {
    try {
      const res = await fetch('/api/v1/streams', { cache: 'no-store' });
      if (!res.ok) throw new Error(`server answered ${res.status}`);
      render((await res.json()).streams);
      error.hidden = true;
    } catch (e) {
      error.textContent = `Cannot reach the server (${e.message}); retrying.`;
      error.hidden = false;
    }
  }
  const mediaTable = document.getElementById('media');
  const mediaTitle = document.getElementById('media-title');
  const size = (b) => b >= 1 << 30 ? `${(b / (1 << 30)).toFixed(1)} GiB` : `${(b / (1 << 20)).toFixed(1)} MiB`;

  // Thumbnails are the files' own pictures, decoded by the browser: a muted video element
  // that loads the index and one keyframe (#t=) and stays paused. Each is made once per
  // version of a file, so the list's refresh does not fetch them again.
  const thumbs = new Map();
  function thumb(m, page) {
    const td = document.createElement('td');
    td.className = 'thumb';
    if (!(m.tracks || []).some((t) => t.kind === 'video')) return td;
    const key = `${m.name} ${m.size} ${m.created}`;
    let v = thumbs.get(key);
    if (!v) {
      v = document.createElement('video');
      v.className = 'thumb';
      v.muted = true;
      v.playsInline = true;
      v.preload = 'metadata';
      v.src = `${page}.mp4${location.search}#t=${Math.min(1, (m.duration_seconds || 0) / 2)}`;
      thumbs.set(key, v);
    }
    td.append(v);
    return td;
  }

  function renderMedia(media) {
    const tbody = mediaTable.querySelector('tbody');
    tbody.replaceChildren();
    for (const m of media) {
      const tr = document.createElement('tr');
      const page = '/vod/' + m.name.split('/').map(encodeURIComponent).join('/');
      const name = document.createElement('td');
      const a = document.createElement('a');
      a.href = page;
      a.textContent = m.name;
      name.append(a);
      const v = (m.tracks || []).find((t) => t.kind === 'video');
      const au = (m.tracks || []).find((t) => t.kind === 'audio');
      tr.append(thumb(m, page), name,
        cell(v ? `${v.codec} ${v.width}×${v.height}` : '—'),
        cell(au ? `${au.codec} ${au.sample_rate / 1000} kHz` : '—'),
        cell(uptime(m.duration_seconds)),
        cell(size(m.size)));
      tr.addEventListener('click', (e) => { if (e.target.tagName !== 'A') location.href = page; });
      tbody.append(tr);
    }
    const shown = new Set(media.map((m) => `${m.name} ${m.size} ${m.created}`));
    for (const k of thumbs.keys()) if (!shown.has(k)) thumbs.delete(k);
    mediaTable.hidden = mediaTitle.hidden = media.length === 0;
  }

  async function refreshMedia() {
    try {
      const res = await fetch('/api/v1/media', { cache: 'no-store' });
      if (res.ok) renderMedia((await res.json()).media);
    } catch (e) { /* the stream list reports an unreachable server */ }
  }
  refresh();
  refreshMedia();
  setInterval(refresh, 2000);
  setInterval(refreshMedia, 10000);
})();
