/* silo sign-in: the script of www/signin.html.
   It posts {"user","password"} (plus "totp" once the API asked for a
   code) as JSON to POST /api/auth/login, which sets the session cookie,
   then goes where ?next= says if that is a path on this site, else to
   the dashboard.  The form never submits itself (form-action 'none' in
   the CSP would stop it anyway): the password only ever travels in the
   JSON body.  All text from the API goes through textContent. */
'use strict';
(() => {
  /* ---------- theme: follow the OS, live, no manual toggle ---------- */
  const lightQuery = matchMedia('(prefers-color-scheme: light)');
  const applyTheme = () => document.body.classList.toggle('light-mode', lightQuery.matches);
  applyTheme();
  lightQuery.addEventListener('change', applyTheme);

  const $ = (id) => document.getElementById(id);
  $('home').href = location.hostname === 'silo.aesthetic.computer' ? 'https://aesthetic.computer' : '/';

  const TIMEOUT_MS = 15000;

  /* Where to go after signing in: ?next= when it is a path on this site
     (one leading '/', not '//' or '/\', which browsers read as another
     host), checked again after the browser resolves it; else '/'. */
  function nextPath() {
    const next = new URLSearchParams(location.search).get('next');
    if (!next || next[0] !== '/' || next[1] === '/' || next[1] === '\\') return '/';
    let url;
    try { url = new URL(next, location.origin); } catch (e) { return '/'; }
    if (url.origin !== location.origin) return '/';
    return url.pathname + url.search + url.hash;
  }

  function say(text, note) {
    const box = $('message');
    box.textContent = text;
    box.classList.toggle('note', !!note);
    box.hidden = !text;
  }

  /* ---------- throttled: count the Retry-After seconds down ---------- */
  let waitTimer = 0;

  function waitFor(seconds) {
    clearInterval(waitTimer);
    let left = Math.max(1, Math.ceil(seconds));
    const button = $('submit');
    const tick = () => {
      if (left <= 0) {
        clearInterval(waitTimer);
        button.disabled = false;
        button.textContent = 'sign in';
        say('');
        return;
      }
      button.disabled = true;
      button.textContent = `wait ${left} s`;
      say(`too many attempts: try again in ${left} s`);
      left--;
    };
    tick();
    waitTimer = setInterval(tick, 1000);
  }

  function askForCode(message) {
    $('totp-field').hidden = false;
    $('totp').required = true;
    say(message || 'enter the code from your authenticator app', true);
    $('totp').focus();
  }

  /* ---------- the request ---------- */
  async function post(body) {
    const ctl = new AbortController();
    const timer = setTimeout(() => ctl.abort(), TIMEOUT_MS);
    try {
      const res = await fetch('/api/auth/login', {
        method: 'POST',
        cache: 'no-store',
        credentials: 'same-origin',
        signal: ctl.signal,
        headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
        body: JSON.stringify(body),
      });
      let data = null;
      try { data = await res.json(); } catch (e) { data = null; }
      return { res, data };
    } finally {
      clearTimeout(timer);
    }
  }

  async function signIn(event) {
    event.preventDefault();
    const button = $('submit');
    if (button.disabled) return;
    const user = $('user').value.trim();
    const password = $('password').value;
    const code = $('totp').value.trim();
    if (!user || !password) {
      say('enter your user name and password');
      $(user ? 'password' : 'user').focus();
      return;
    }
    const body = { user, password };
    if (!$('totp-field').hidden) {
      if (!/^[0-9]{6}$/.test(code)) {
        askForCode('the code is the 6 digits your authenticator app shows');
        return;
      }
      body.totp = code;
    }
    button.disabled = true;
    button.textContent = 'signing in…';
    let done = false;
    try {
      const { res, data } = await post(body);
      const err = data && typeof data === 'object' && data.error && typeof data.error === 'object'
        ? data.error : {};
      if (res.ok) {
        done = true;
        location.replace(nextPath());
        return;
      }
      if (res.status === 429) {
        const after = Number(res.headers.get('Retry-After'));
        done = true;
        waitFor(Number.isFinite(after) && after > 0 ? after : 60);
        return;
      }
      if (res.status === 401 && err.code === 'totp_required') {
        askForCode(typeof err.message === 'string' ? err.message : '');
        return;
      }
      $('password').value = '';
      $('totp').value = '';
      say(typeof err.message === 'string' && err.message ? err.message : `${res.status} ${res.statusText || 'error'}`.trim());
      $('password').focus();
    } catch (e) {
      say(e && e.name === 'AbortError' ? `no answer within ${TIMEOUT_MS / 1000} s` : 'silo did not answer');
    } finally {
      if (!done) {
        button.disabled = false;
        button.textContent = 'sign in';
      }
    }
  }

  $('signin').addEventListener('submit', signIn);
  $('user').focus();
})();
