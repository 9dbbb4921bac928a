// Live updates for the inbox and conversation pages (issue 11 §2). The pages work
// without this file (reload to see new messages); with it they listen on /ws for
// `message` and `read` events. No inline script, no third-party code, no HTML built
// from event data: text goes in with textContent only.
(function () {
  'use strict';
  var list = document.getElementById('messages');
  var inbox = document.getElementById('inbox');
  if (!list && !inbox) return;
  if (list && list.dataset.live !== 'on') return;
  if (!('WebSocket' in window)) return;

  var delay = 1000;
  var stopped = false;

  function csrfToken() {
    var f = document.querySelector('input[name="csrf_token"]');
    return f ? f.value : '';
  }

  // Decodes a `text/plain` payload; any other type is shown as the placeholder.
  function textOf(m) {
    if (m.content_type !== 'text/plain' || typeof m.payload !== 'string') return null;
    return m.payload;
  }

  function appendMessage(m) {
    if (document.querySelector('[data-message="' + m.id + '"]')) return;
    var mine = m.sender_id !== list.dataset.otherId;
    var li = document.createElement('li');
    li.setAttribute('data-message', m.id);
    li.className = mine ? 'mine' : 'theirs';
    var head = document.createElement('p');
    var who = document.createElement('strong');
    who.textContent = mine ? list.dataset.you : list.dataset.otherName;
    var at = document.createElement('small');
    at.textContent = new Date(m.created_at).toISOString().replace('T', ' ').slice(0, 16) + ' UTC';
    head.appendChild(who);
    head.appendChild(document.createTextNode(' · '));
    head.appendChild(at);
    li.appendChild(head);
    var body = document.createElement('p');
    var text = textOf(m);
    if (text === null) {
      var em = document.createElement('em');
      em.textContent = list.dataset.encrypted;
      body.appendChild(em);
    } else {
      var lines = text.split('\n');
      for (var i = 0; i < lines.length; i++) {
        if (i > 0) body.appendChild(document.createElement('br'));
        body.appendChild(document.createTextNode(lines[i]));
      }
    }
    li.appendChild(body);
    list.appendChild(li);
    var seen = document.getElementById('seen');
    if (mine && seen) seen.hidden = true;
    if (!mine) markRead(m.id);
  }

  function markRead(id) {
    fetch('/v1/conversations/' + encodeURIComponent(list.dataset.conversation) + '/read', {
      method: 'POST',
      credentials: 'same-origin',
      headers: { 'Content-Type': 'application/json', 'X-CSRF-Token': csrfToken() },
      body: JSON.stringify({ up_to: id })
    }).catch(function () {});
  }

  function refreshInbox() {
    fetch(location.pathname + location.search, { credentials: 'same-origin' })
      .then(function (r) { return r.ok ? r.text() : null; })
      .then(function (html) {
        if (!html) return;
        var doc = new DOMParser().parseFromString(html, 'text/html');
        var fresh = doc.getElementById('inbox');
        if (fresh) inbox.replaceChildren.apply(inbox, Array.prototype.slice.call(fresh.childNodes));
      })
      .catch(function () {});
  }

  function showSeen(upTo) {
    var seen = document.getElementById('seen');
    var mine = list.querySelectorAll('li.mine');
    var last = mine.length ? mine[mine.length - 1].getAttribute('data-message') : null;
    if (seen && last && upTo && upTo >= last) seen.hidden = false;
  }

  // On every (re)connection: what happened while no socket was open (between the
  // page's render and the socket, or during a reconnect) is fetched once.
  function sync() {
    if (inbox) {
      refreshInbox();
      return;
    }
    fetch('/v1/conversations/' + encodeURIComponent(list.dataset.conversation) + '/messages?limit=20',
      { credentials: 'same-origin' })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (page) {
        if (!page) return;
        var ms = page.messages || [];
        for (var i = ms.length - 1; i >= 0; i--) appendMessage(ms[i]);
        showSeen(page.their_last_read);
      })
      .catch(function () {});
  }

  function onEvent(e) {
    if (inbox) {
      if (e.type === 'message' || e.type === 'read') refreshInbox();
      return;
    }
    if (e.type === 'message' && e.message && e.message.conversation_id === list.dataset.conversation) {
      if (e.message.payload_omitted) {
        location.reload();
        return;
      }
      appendMessage(e.message);
    } else if (e.type === 'read' && e.conversation_id === list.dataset.conversation &&
               e.reader_id === list.dataset.otherId) {
      showSeen(e.up_to);
    }
  }

  function connect() {
    if (stopped) return;
    var ws = new WebSocket((location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + '/ws');
    ws.onmessage = function (ev) {
      var e;
      try { e = JSON.parse(ev.data); } catch (_) { return; }
      if (e.type === 'ready') {
        delay = 1000;
        document.documentElement.setAttribute('data-live', 'connected');
        sync();
        return;
      }
      onEvent(e);
    };
    ws.onclose = function (ev) {
      document.documentElement.setAttribute('data-live', 'closed');
      // Signed out, revoked or banned: do not knock again.
      if (ev.code === 1008) { stopped = true; return; }
      setTimeout(connect, delay);
      delay = Math.min(delay * 2, 30000);
    };
  }

  connect();
})();
