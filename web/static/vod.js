// A stored video: the browser's own player on the progressive file, which the server
// answers with byte ranges, so the seek bar works before the whole file has come.
'use strict';
(() => {
  let name = decodeURIComponent(location.pathname.replace(/^\/vod\//, ''));
  const embed = name.endsWith('/embed');
  if (embed) {
    name = name.slice(0, -'/embed'.length);
    document.body.classList.add('embed');
  }
  const file = `/vod/${name.split('/').map(encodeURIComponent).join('/')}.mp4${location.search}`;
  const video = document.getElementById('video');
  const status = document.getElementById('status');
  document.title = `${name} — relaycast`;
  document.getElementById('title').textContent = `vod/${name}`;
  document.getElementById('file-url').textContent = location.origin + file;
  document.getElementById('embed').textContent =
    `<iframe src="${location.origin}/vod/${name}/embed${location.search}" width="1280" height="720" allow="autoplay; fullscreen" allowfullscreen></iframe>`;
  video.addEventListener('error', () => {
    status.textContent = 'This video cannot be played here.';
    status.hidden = false;
  });
  video.src = file;
  window.relaycast = { video };
})();
