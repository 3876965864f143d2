// The live player. It plays over WebRTC (WHEP) where it can: the least delay. Where it
// cannot (no WebRTC in the browser, a stream WebRTC does not carry, UDP and TCP to the ICE
// port blocked), one HTTP response carries fragmented MP4 (init segment, then fragments as
// the server makes them); MediaSource plays it, and a small loop keeps playback close to the
// live edge. ?transport=mse skips WebRTC. A stream with renditions (other sizes) gets a
// quality menu: Auto starts at the stream itself and, over fMP4, steps down while the bytes
// come in slower than the rendition's bitrate, and up again after playing well a while; over
// WebRTC the server chooses by the connection's feedback. No library, no build step.
'use strict';
(() => {
  const [app, name, mode] = location.pathname.split('/').filter(Boolean).map(decodeURIComponent);
  const path = `${app}/${name}`;
  const base = `/${encodeURIComponent(app)}/${encodeURIComponent(name)}`;
  const video = document.getElementById('video');
  const statusEl = document.getElementById('status');
  const unmute = document.getElementById('unmute');
  const stats = document.getElementById('stats');
  const MS = window.ManagedMediaSource || window.MediaSource;

  document.title = `${name} — relaycast`;
  if (mode === 'embed') document.body.classList.add('embed');
  document.getElementById('title').textContent = path;
  const origin = location.origin;
  document.getElementById('embed').textContent =
    `<iframe src="${origin}${base}/embed${location.search}" width="1280" height="720" allow="autoplay; fullscreen" allowfullscreen></iframe>`;

  // What the page shows about itself; tests read it too.
  const live = { latency: 0, bitrate: 0, dropped: 0, state: 'connecting', sessions: 0, transport: '', shown: '',
    rendition: '', switches: [] };
  let whep = ''; // the stream's WHEP URL, when the server has WebRTC and this page may use it
  const tryWebRTC = window.RTCPeerConnection && new URLSearchParams(location.search).get('transport') !== 'mse';
  window.relaycast = live;

  // Renditions: the stream and its others, smallest first, as the stream list gives them;
  // current is the one playing, choice 'auto' or a path.
  const quality = document.getElementById('quality');
  let renditions = [];
  let current = -1;
  let choice = 'auto';
  let switching = false;
  const abr = { since: 0, poor: 0, upAfter: 8000, tried: -1 };
  const baseOf = (p) => '/' + p.split('/').map(encodeURIComponent).join('/');

  function setRenditions(s) {
    const video0 = (s.tracks || []).find((t) => t.kind === 'video');
    const own = { path: s.path, label: video0 && video0.height ? `${video0.height}p` : 'source',
      height: video0 ? video0.height || 0 : 0, bitrate_kbps: s.bitrate_kbps, running: true };
    const list = [...(s.renditions || []), own].sort((a, b) => a.height - b.height || a.bitrate_kbps - b.bitrate_kbps);
    if (list.map((r) => r.path).join() === renditions.map((r) => r.path).join()) {
      renditions = list; // bitrates move
      return;
    }
    const playing = current >= 0 ? renditions[current].path : s.path;
    renditions = list;
    current = Math.max(0, list.findIndex((r) => r.path === playing));
    quality.replaceChildren(new Option('Auto', 'auto'), ...list.map((r) => new Option(r.height ? `${r.height}p` : r.label, r.path)));
    quality.value = choice;
    quality.hidden = list.length < 2;
  }

  quality.addEventListener('change', () => {
    choice = quality.value;
    const i = renditions.findIndex((r) => r.path === choice);
    if (i >= 0 && i !== current) switchTo(i);
  });

  // switchTo ends the connection of the rendition playing; the loop connects to renditions[i].
  function switchTo(i) {
    current = i;
    abr.since = performance.now();
    abr.poor = 0;
    live.switches.push(renditions[i].path);
    switching = true;
    liveAbort.abort();
    liveAbort = new AbortController();
  }

  // adapt is Auto over fMP4, each tick: a rendition whose bytes come in under 3/4 of its
  // bitrate for 1.5 s (the server skips what a slow link cannot take) does not fit: one
  // down. One that has played well for upAfter: try one up; an up that had to come back
  // doubles the wait before the next try.
  function adapt() {
    if (choice !== 'auto' || renditions.length < 2 || live.transport !== 'fMP4' || current < 0) return;
    const now = performance.now();
    const r = renditions[current];
    if (now - abr.since < 3000 || !r.bitrate_kbps) return;
    abr.poor = live.bitrate < 0.75 * r.bitrate_kbps ? abr.poor + 250 : 0;
    if (abr.poor >= 1500 && current > 0) {
      if (abr.tried === current) abr.upAfter = Math.min(abr.upAfter * 2, 120000);
      switchTo(current - 1);
    } else if (abr.poor === 0 && now - abr.since > abr.upAfter && current < renditions.length - 1) {
      abr.tried = current + 1;
      switchTo(current + 1);
    }
  }

  const LIVE_TARGET = 0.3; // seconds of buffer to keep ahead of playback
  const JUMP_AHEAD = 0.9;  // further behind than this: jump to the live edge

  const show = (text) => { statusEl.textContent = text; statusEl.hidden = !text; };
  const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

  // Rewinding (a path with a DVR window): the bar seeks back into the window, which plays as
  // one MP4 from the server's recordings; LIVE comes back. liveAbort ends the live loop's
  // connection while the window plays.
  const dvrBar = document.getElementById('dvr');
  const seek = document.getElementById('seek');
  const goLive = document.getElementById('golive');
  const clock = document.getElementById('clock');
  let liveAbort = new AbortController();
  let rewound = null; // { start: Date of the MP4's first picture } while the window plays
  let backToLive = () => {};
  const keyQuery = location.search ? `&${location.search.slice(1)}` : '';

  seek.addEventListener('change', async () => {
    const back = -Number(seek.value);
    if (back <= 0) return leaveWindow();
    const start = new Date(Date.now() - back * 1000).toISOString();
    let res;
    try {
      // the server fixes the range by a redirect; HEAD learns it and the first picture's time
      res = await fetch(`${base}/dvr.mp4?start=${encodeURIComponent(start)}${keyQuery}`, { method: 'HEAD' });
    } catch (_) {
      return show('The server is unreachable');
    }
    if (!res.ok) return show(`Nothing recorded then (${res.status})`);
    rewound = { start: new Date(res.headers.get('X-Relaycast-Start')) };
    liveAbort.abort();
    live.transport = 'DVR';
    live.state = 'rewound';
    goLive.disabled = false;
    video.srcObject = null;
    video.src = res.url;
    video.play().catch(() => show('Click to play'));
  });
  goLive.addEventListener('click', () => leaveWindow());

  function leaveWindow() {
    if (!rewound) return;
    rewound = null;
    liveAbort = new AbortController();
    goLive.disabled = true;
    seek.value = 0;
    video.removeAttribute('src');
    video.load();
    backToLive();
  }

  setInterval(() => {
    if (dvrBar.hidden) return;
    if (!rewound) {
      live.shown = '';
      clock.textContent = 'live';
      return;
    }
    const at = new Date(rewound.start.getTime() + video.currentTime * 1000);
    live.shown = at.toISOString();
    clock.textContent = at.toLocaleString();
    if (document.activeElement !== seek) seek.value = Math.min(0, -(Date.now() - at.getTime()) / 1000);
  }, 250);

  unmute.hidden = !video.muted;
  unmute.addEventListener('click', () => { video.muted = false; video.play(); });
  video.addEventListener('volumechange', () => { unmute.hidden = !video.muted; });
  video.addEventListener('playing', () => show(''));

  // Keep close to the live edge: jump when far behind (or stuck before a gap), speed up a
  // little when somewhat behind, and drop what has been played.
  function chase(sb) {
    const b = video.buffered;
    if (!b.length) return;
    const start = b.start(b.length - 1), end = b.end(b.length - 1);
    const ahead = end - video.currentTime;
    if (video.currentTime < start || ahead > JUMP_AHEAD) {
      video.currentTime = Math.max(start, end - LIVE_TARGET);
    } else {
      video.playbackRate = ahead > 2 * LIVE_TARGET ? 1.1 : 1;
    }
    live.latency = Math.max(0, end - video.currentTime);
    if (video.paused && video.readyState >= 2) video.play().catch(() => show('Click to play'));
    if (sb && !sb.updating && video.currentTime - b.start(0) > 20) {
      try { sb.remove(0, video.currentTime - 10); } catch (_) { /* the source closed */ }
    }
  }

  // report shows the bitrate over the last two seconds: a tick's bytes alone come in bursts
  // of whole fragments and cover only a quarter of a second.
  const window2s = [];
  function report(received) {
    const q = video.getVideoPlaybackQuality ? video.getVideoPlaybackQuality() : null;
    live.dropped = q ? q.droppedVideoFrames : 0;
    const now = performance.now();
    window2s.push({ at: now, bytes: received });
    while (window2s.length > 1 && now - window2s[0].at > 2000) window2s.shift();
    const span = window2s.length > 1 ? (now - window2s[0].at) / 1000 : 0;
    const bytes = window2s.slice(1).reduce((n, s) => n + s.bytes, 0); // sent after the first mark
    live.bitrate = span > 0 ? bytes * 8 / 1000 / span : 0;
    stats.textContent = `${live.transport} · latency ${(live.latency * 1000).toFixed(0)} ms · ` +
      `${live.bitrate.toFixed(0)} kbit/s · dropped ${live.dropped}`;
  }

  // cannotDecode says which of a stream's codecs this browser cannot decode, rather than
  // showing a black box.
  function cannotDecode(mime) {
    if (!MS) return 'This browser has no Media Source Extensions: play the stream in VLC or ffplay at the addresses below';
    const names = { avc1: 'H.264', hvc1: 'H.265', hev1: 'H.265', av01: 'AV1', vp09: 'VP9', mp4a: 'AAC', opus: 'Opus' };
    const m = /codecs="([^"]*)"/.exec(mime);
    const codecs = m ? m[1].split(',') : [];
    const missing = codecs.filter((c) => !MS.isTypeSupported(`video/mp4; codecs="${c}"`))
      .map((c) => names[c.split('.')[0]] || c);
    const what = missing.length ? missing.join(' and ') : mime;
    return `This browser cannot decode this stream's ${what}: play it in a browser that can, or in VLC or ffplay at the addresses below`;
  }

  // playWebRTC plays over WHEP until the connection ends. It returns what play returns, or
  // null when WebRTC cannot play this stream here: the caller falls back to fMP4.
  async function playWebRTC() {
    const pc = new RTCPeerConnection();
    const session = { location: '' };
    try {
      return await runWebRTC(pc, session);
    } catch (_) {
      return null;
    } finally {
      pc.close();
      if (session.location) fetch(session.location, { method: 'DELETE' }).catch(() => {});
    }
  }

  async function runWebRTC(pc, session) {
    pc.addTransceiver('video', { direction: 'recvonly' });
    pc.addTransceiver('audio', { direction: 'recvonly' });
    const ms = new MediaStream();
    pc.ontrack = (e) => { ms.addTrack(e.track); video.srcObject = ms; };
    await pc.setLocalDescription(await pc.createOffer());
    await until(() => pc.iceGatheringState === 'complete', (f) => { pc.onicegatheringstatechange = f; }, 2000);
    const target = current >= 0 && renditions[current] ? renditions[current].path : path;
    const url = target === path ? whep : `${baseOf(target)}/whep`;
    const res = await fetch(`${url}${location.search}`, {
      method: 'POST', headers: { 'Content-Type': 'application/sdp' }, body: pc.localDescription.sdp,
    });
    if (res.status === 404) return 'Offline — playback starts by itself when the stream goes live';
    if (res.status === 401) return 'This stream needs a key: open the page with ?key=… in its address';
    if (res.status !== 201) return null; // 422: a codec or B-frames WebRTC does not carry
    session.location = new URL(res.headers.get('Location'), whep.startsWith('http') ? whep : location.href).href;
    await pc.setRemoteDescription({ type: 'answer', sdp: await res.text() });
    if (!await until(() => pc.connectionState === 'connected', (f) => { pc.onconnectionstatechange = f; }, 5000)) {
      return null; // the ICE port is out of reach from here
    }
    live.transport = 'WebRTC';
    live.state = 'playing';
    live.sessions++;
    window2s.length = 0;
    const started = performance.now();
    let bytes = 0;
    for (;;) {
      await sleep(250);
      if (pc.connectionState === 'failed' || pc.connectionState === 'closed' || liveAbort.signal.aborted) break;
      if (video.paused && video.readyState >= 2) video.play().catch(() => show('Click to play'));
      let received = 0, rtt = 0;
      (await pc.getStats()).forEach((r) => {
        if (r.type === 'inbound-rtp') received += r.bytesReceived || 0;
        if (r.type === 'inbound-rtp' && r.kind === 'video' && r.jitterBufferEmittedCount) {
          live.latency = r.jitterBufferDelay / r.jitterBufferEmittedCount; // the player's share
        }
        if (r.type === 'candidate-pair' && r.nominated && r.currentRoundTripTime) rtt = r.currentRoundTripTime;
      });
      live.latency += rtt / 2; // and the network's
      report(received - bytes);
      bytes = received;
    }
    live.state = 'reconnecting';
    return performance.now() - started > 5000 ? '' : 'The stream stopped; reconnecting…';
  }

  // until waits for cond, checked at each event watch hooks up, at most ms; it says whether
  // cond came true.
  function until(cond, watch, ms) {
    return new Promise((resolve) => {
      if (cond()) return resolve(true);
      const timer = setTimeout(() => resolve(cond()), ms);
      watch(() => { if (cond()) { clearTimeout(timer); resolve(true); } });
    });
  }

  // play runs one connection until the stream ends or fails.
  async function play() {
    const target = current >= 0 && renditions[current] ? renditions[current].path : path;
    const rbase = target === path ? base : baseOf(target);
    live.rendition = target;
    if (whep && tryWebRTC) {
      const why = await playWebRTC();
      if (why !== null) return why;
      whep = ''; // not for this stream: fMP4 from now on
    }
    if (video.srcObject) video.srcObject = null; // (null again reloads src, a revoked blob)
    live.transport = 'fMP4';
    let res;
    try {
      res = await fetch(`${rbase}/stream.mp4${location.search}`, { cache: 'no-store', signal: liveAbort.signal });
    } catch (_) {
      return 'The server is unreachable; retrying…';
    }
    if (res.status === 404) return 'Offline — playback starts by itself when the stream goes live';
    if (res.status === 401) return 'This stream needs a key: open the page with ?key=… in its address';
    if (!res.ok) return `The server answered ${res.status}; retrying…`;
    const mime = res.headers.get('Content-Type');
    if (!MS || !MS.isTypeSupported(mime)) {
      res.body.cancel();
      live.state = 'unsupported';
      return cannotDecode(mime);
    }
    const ms = new MS();
    video.disableRemotePlayback = true; // ManagedMediaSource (Safari) needs it
    const url = URL.createObjectURL(ms);
    video.src = url;
    await new Promise((r) => ms.addEventListener('sourceopen', r, { once: true }));
    const sb = ms.addSourceBuffer(mime);
    sb.mode = 'segments';
    live.state = 'playing';
    live.sessions++;
    const queue = [];
    const pump = () => {
      if (sb.updating || !queue.length || ms.readyState !== 'open') return;
      const size = queue.reduce((n, c) => n + c.length, 0);
      const data = new Uint8Array(size);
      let off = 0;
      for (const c of queue) { data.set(c, off); off += c.length; }
      queue.length = 0;
      try { sb.appendBuffer(data); } catch (e) { reader.cancel(); }
    };
    sb.addEventListener('updateend', () => { chase(sb); pump(); });
    const reader = res.body.getReader();
    let received = 0;
    window2s.length = 0;
    abr.since = performance.now();
    const tick = setInterval(() => { chase(sb); report(received); received = 0; adapt(); }, 250);
    const started = performance.now();
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        received += value.length;
        queue.push(value);
        pump();
      }
    } catch (_) {
      // the connection dropped
    } finally {
      clearInterval(tick);
      URL.revokeObjectURL(url);
    }
    live.state = 'reconnecting';
    return performance.now() - started > 5000 ? '' : 'The stream stopped; reconnecting…';
  }

  // waitLive polls the stream list until this stream is published, so an offline stream
  // costs no failing requests (which browsers log as errors).
  async function waitLive() {
    for (let backoff = 500; ; backoff = Math.min(backoff * 2, 4000)) {
      try {
        const res = await fetch('/api/v1/streams', { cache: 'no-store' });
        const s = (await res.json()).streams.find((x) => x.path === path);
        if (s) {
          document.getElementById('rtmp-url').textContent = s.urls.rtmp;
          document.getElementById('rtsp-url').textContent = s.urls.rtsp;
          if (live.transport === '') whep = s.urls.whep || '';
          setRenditions(s);
          if (s.dvr_seconds) {
            seek.min = -Math.floor(s.dvr_seconds);
            dvrBar.hidden = false;
          }
          if (s.publishing || s.standby) return; // the offline slate plays like the stream
        }
        show('Offline — playback starts by itself when the stream goes live');
      } catch (_) {
        show('The server is unreachable; retrying…');
      }
      live.state = 'offline';
      await sleep(backoff);
    }
  }

  (async () => {
    let backoff = 500;
    for (;;) {
      if (rewound) await new Promise((r) => { backToLive = r; });
      await waitLive();
      show('Connecting…');
      const why = await play();
      if (switching) {
        switching = false;
        show('');
        continue;
      }
      if (rewound) {
        live.state = 'rewound';
        continue;
      }
      if (why === '') {
        backoff = 500; // it played a while: reconnect at once
        show('Reconnecting…');
        continue;
      }
      if (live.state !== 'unsupported') live.state = 'offline';
      show(why);
      await sleep(backoff);
      backoff = Math.min(backoff * 2, 4000);
    }
  })();
})();
