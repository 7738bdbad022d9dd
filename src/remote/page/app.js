// stembox remote page: shows what the box publishes (GET /api/state, then the event stream
// GET /api/events) and sends every tap as one console line (POST /api/action). Plain
// script, no build step, no library, nothing from the internet.
"use strict";

const $ = (sel) => document.querySelector(sel);
const $$ = (sel) => Array.from(document.querySelectorAll(sel));

const S = {
  song: null, // SongView
  live: null, // LiveView
  liveAt: 0, // performance.now() when `live` arrived: the play head runs from here
  locked: false,
  pinRequired: false,
  session: true,
  view: "setlist",
  songKey: "", // what the song-dependent DOM was built for
  lyricIndex: -2,
  busy: new Set(), // controls the user is moving: live events do not overwrite them
  sent: [], // [line, ms] of the last taps, for the tests and the curious
};
window.stembox = S;
// Script errors are kept where a test (or a curious musician's dev tools) can see them.
S.errors = [];
window.addEventListener("error", (e) => S.errors.push(String(e.message)));
window.addEventListener("unhandledrejection", (e) => S.errors.push(String(e.reason)));

// ---- talking to the box ----------------------------------------------------------------

let toastTimer = 0;
function toast(text, bad) {
  const t = $("#toast");
  t.textContent = text;
  t.className = bad ? "bad" : "";
  t.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => { t.hidden = true; }, bad ? 3500 : 1500);
}

async function post(path, body) {
  const r = await fetch(path, {
    method: "POST",
    headers: { "Content-Type": "text/plain", "X-Stembox": "1" },
    body: body,
    credentials: "same-origin",
  });
  return { status: r.status, text: (await r.text()).trim() };
}

/** Sends one console line; shows the box's reply. */
async function send(line) {
  // When a PIN is set, the first change asks for it once; the session cookie then covers
  // this browser.
  if (S.pinRequired && !S.session) return askPin("Enter the PIN to change things", (pin) => loginThen(pin, line));
  const t0 = performance.now();
  S.sent.push([line, Date.now()]);
  if (S.sent.length > 50) S.sent.shift();
  try {
    const r = await post("/api/action", line);
    S.lastReply = { line, status: r.status, text: r.text, ms: performance.now() - t0 };
    if (r.status === 401) {
      // The box restarted (sessions live in its RAM) or the session was dropped.
      S.session = false;
      S.pinRequired = true;
      return send(line);
    }
    toast(r.text || String(r.status), r.status !== 200);
  } catch (e) {
    toast("no connection to the box", true);
  }
}

function connect() {
  fetch("/api/state", { cache: "no-store" })
    .then((r) => r.json())
    .then((st) => {
      S.pinRequired = st.pin_required;
      S.session = st.session;
      setLocked(st.locked);
      onSong(st.song);
      onLive(st.live);
    })
    .catch(() => {});
  const es = new EventSource("/api/events");
  es.addEventListener("song", (e) => onSong(JSON.parse(e.data)));
  es.addEventListener("live", (e) => onLive(JSON.parse(e.data)));
  es.addEventListener("lock", (e) => setLocked(JSON.parse(e.data).locked));
  es.onopen = () => { $("#conn").className = "dot on"; };
  es.onerror = () => { $("#conn").className = "dot off"; };
}

// ---- time and tempo ----------------------------------------------------------------------

function fmtTime(s) {
  if (!isFinite(s) || s < 0) s = 0;
  const m = Math.floor(s / 60);
  const r = Math.floor(s % 60);
  return m + ":" + String(r).padStart(2, "0");
}

/** The play head now, in song time: the last position plus the time since, at the speed. */
function headS() {
  const l = S.live;
  if (!l) return 0;
  let p = l.pos_s;
  if (l.transport === "playing") {
    p += ((performance.now() - S.liveAt) / 1000) * (l.speed_pct || 100) / 100;
    const a = l.loop_a_s, b = l.loop_b_s;
    if (l.loop_on && a != null && b != null && b > a && p > b) p = a + ((p - b) % (b - a));
  }
  const len = S.song ? S.song.length_s : 0;
  return len > 0 ? Math.min(p, len) : p;
}

function tempoAt(t) {
  const tempo = (S.song && S.song.tempo) || [];
  let seg = null;
  for (const s of tempo) if (s.at_s <= t) seg = s;
  return seg || tempo[0] || null;
}

/** Fractional bar number (1-based) at song time t, or null without a tempo map. */
function barAt(t) {
  const seg = tempoAt(t);
  if (!seg || !(seg.bpm > 0)) return null;
  const beats = ((t - seg.at_s) * seg.bpm) / 60;
  return seg.bar + beats / (seg.beats_per_bar || 4);
}

function barBeat(t) {
  const seg = tempoAt(t);
  if (!seg || !(seg.bpm > 0)) return "";
  const bpb = seg.beats_per_bar || 4;
  const beats = Math.max(0, ((t - seg.at_s) * seg.bpm) / 60);
  return (seg.bar + Math.floor(beats / bpb)) + ":" + (Math.floor(beats % bpb) + 1);
}

/** Song time at the start of (1-based, possibly fractional) bar `bar`. */
function timeOfBar(bar) {
  const tempo = (S.song && S.song.tempo) || [];
  let seg = tempo[0];
  for (const s of tempo) if (s.bar <= bar) seg = s;
  if (!seg) return null;
  return seg.at_s + ((bar - seg.bar) * (seg.beats_per_bar || 4) * 60) / seg.bpm;
}

// ---- song: what changes with the song ------------------------------------------------------

function onSong(song) {
  S.song = song;
  const key = song.number + "|" + song.name + "|" + song.length_s + "|" + song.stems.map((s) => s.name).join(",");
  $("#song-title").textContent = song.number ? song.number + ". " + (song.title || song.name) : "no song";
  buildSections();
  drawPeaks();
  drawRuler();
  buildLyrics();
  if (key !== S.songKey) {
    S.songKey = key;
    buildMixer();
  }
  if (S.live) onLive(S.live, true);
}

function buildSections() {
  const box = $("#sections");
  box.textContent = "";
  const len = S.song.length_s || 1;
  S.song.sections.forEach((sec, i) => {
    const b = document.createElement("button");
    b.className = "section";
    b.dataset.section = String(i + 1);
    b.dataset.act = "section";
    b.textContent = sec.name;
    b.title = sec.name + " " + fmtTime(sec.start_s);
    b.style.left = (100 * sec.start_s) / len + "%";
    b.style.width = (100 * Math.max(0, sec.end_s - sec.start_s)) / len + "%";
    box.appendChild(b);
  });
}

function fitCanvas(c) {
  const dpr = window.devicePixelRatio || 1;
  const w = Math.max(1, Math.round(c.clientWidth * dpr));
  const h = Math.max(1, Math.round(c.clientHeight * dpr));
  if (c.width !== w || c.height !== h) { c.width = w; c.height = h; }
  return dpr;
}

const FALLBACK_COLOURS = ["#e8663d", "#3d9be8", "#e8c63d", "#5fd38b", "#c26be8", "#e83d7a", "#3de8d8", "#a0a8b8"];
function stemColour(stem, i) {
  return stem.colour || FALLBACK_COLOURS[i % FALLBACK_COLOURS.length];
}

function drawPeaks() {
  const c = $("#peaks");
  const stems = (S.song && S.song.stems) || [];
  c.style.height = Math.max(40, stems.length * 28) + "px";
  fitCanvas(c);
  const g = c.getContext("2d");
  g.clearRect(0, 0, c.width, c.height);
  if (!stems.length) return;
  const lane = c.height / stems.length;
  stems.forEach((st, i) => {
    g.fillStyle = stemColour(st, i);
    const peaks = st.peaks || [];
    const n = peaks.length;
    const mid = lane * i + lane / 2;
    for (let x = 0; x < c.width && n; x++) {
      const v = peaks[Math.floor((x * n) / c.width)] / 255;
      const h = Math.max(1, v * (lane - 4));
      g.fillRect(x, mid - h / 2, 1, h);
    }
  });
}

function drawRuler() {
  const c = $("#ruler");
  const dpr = fitCanvas(c);
  const g = c.getContext("2d");
  g.clearRect(0, 0, c.width, c.height);
  const len = (S.song && S.song.length_s) || 0;
  if (!len) return;
  g.fillStyle = "#8b93a3";
  g.font = 12 * dpr + "px system-ui, sans-serif";
  const lastBar = barAt(len);
  if (lastBar != null) {
    // bar numbers, thinned out so the labels do not touch
    const bars = Math.ceil(lastBar);
    const every = Math.max(1, Math.ceil(bars / (c.width / (34 * dpr))));
    for (let bar = 1; bar <= bars; bar++) {
      const t = timeOfBar(bar);
      if (t == null || t > len) break;
      const x = (t / len) * c.width;
      const major = (bar - 1) % every === 0;
      g.fillRect(x, major ? 0 : c.height * 0.6, Math.max(1, dpr), c.height);
      if (major) g.fillText(String(bar), x + 3 * dpr, 13 * dpr);
    }
  } else {
    const step = len > 300 ? 60 : len > 60 ? 15 : 5;
    for (let t = 0; t <= len; t += step) {
      const x = (t / len) * c.width;
      g.fillRect(x, 0, Math.max(1, dpr), c.height);
      g.fillText(fmtTime(t), x + 3 * dpr, 13 * dpr);
    }
  }
}

function escapeText(s) {
  const d = document.createElement("span");
  d.textContent = s;
  return d;
}

/** A lyric line with its chords above the words, at their char offsets. */
function lyricLine(line, i) {
  const div = document.createElement("div");
  div.className = "lyric";
  div.dataset.line = String(i);
  const chars = Array.from(line.text); // offsets count Unicode scalar values, as Rust's chars
  const marks = (line.chords || []).slice().sort((a, b) => a.at_char - b.at_char);
  if (!marks.length) {
    div.appendChild(escapeText(line.text || "\u00a0"));
    return div;
  }
  let from = 0;
  const cut = [{ at: 0, chord: "" }].concat(marks.map((m) => ({ at: Math.min(m.at_char, chars.length), chord: m.chord })));
  cut.forEach((m, k) => {
    const to = k + 1 < cut.length ? cut[k + 1].at : chars.length;
    if (m.at > from) from = m.at;
    const seg = document.createElement("span");
    seg.className = "seg";
    const ch = document.createElement("span");
    ch.className = "chord";
    ch.textContent = m.chord || "\u00a0";
    const w = document.createElement("span");
    w.className = "words";
    w.textContent = chars.slice(from, Math.max(from, to)).join("") || "\u00a0";
    seg.appendChild(ch);
    seg.appendChild(w);
    if (m.chord || w.textContent.trim()) div.appendChild(seg);
    from = Math.max(from, to);
  });
  return div;
}

function buildLyrics() {
  const box = $("#lyrics");
  box.textContent = "";
  S.lyricIndex = -2;
  const p = $("#lyrics-problem");
  p.hidden = !S.song.lyrics_problem;
  p.textContent = S.song.lyrics_problem || "";
  if (!S.song.lyrics.length) {
    const d = document.createElement("div");
    d.className = "meta";
    d.textContent = "No lyrics for this song.";
    box.appendChild(d);
    return;
  }
  S.song.lyrics.forEach((l, i) => box.appendChild(lyricLine(l, i)));
}

function buildMixer() {
  const box = $("#stems");
  box.textContent = "";
  S.song.stems.forEach((st, i) => {
    const row = document.createElement("div");
    row.className = "stem";
    row.dataset.stem = st.name;
    row.style.borderLeftColor = stemColour(st, i);
    const name = document.createElement("div");
    name.className = "stem-name";
    name.textContent = st.name;
    const mute = button("M", { stem: st.name, act: "mute" }, "mute " + st.name);
    const solo = button("S", { stem: st.name, act: "solo" }, "solo " + st.name);
    const gain = range(-60, 12, 0.5, { stem: st.name, act: "gain" });
    const gainOut = document.createElement("output");
    gainOut.dataset.stem = st.name;
    gainOut.dataset.out = "gain";
    const pan = range(-1, 1, 0.05, { stem: st.name, act: "pan" });
    const panOut = document.createElement("output");
    panOut.dataset.stem = st.name;
    panOut.dataset.out = "pan";
    const gainRow = labelled("gain", gain, gainOut);
    gainRow.classList.add("fader-gain");
    const panRow = labelled("pan", pan, panOut);
    panRow.classList.add("fader-pan");
    row.append(name, mute, solo, gainRow, panRow);
    box.appendChild(row);
  });
}

function button(text, data, label) {
  const b = document.createElement("button");
  b.textContent = text;
  Object.assign(b.dataset, data);
  if (label) b.setAttribute("aria-label", label);
  return b;
}

function range(min, max, step, data) {
  const r = document.createElement("input");
  r.type = "range";
  r.min = min; r.max = max; r.step = step;
  Object.assign(r.dataset, data);
  return r;
}

function labelled(text, input, out) {
  const d = document.createElement("div");
  d.className = "fader";
  const l = document.createElement("label");
  l.textContent = text;
  d.append(l, input, out);
  return d;
}

// ---- live: transport, mixer, health ------------------------------------------------------

function setValue(el, v) {
  if (el && !S.busy.has(el)) el.value = v;
}

function onLive(live, again) {
  S.live = live;
  if (!again) S.liveAt = performance.now();
  $("#transport").textContent = live.transport || "-";
  $("#btn-play").classList.toggle("on", live.transport === "playing");
  renderSetlist();
  // mixer
  for (const m of live.stems || []) {
    const q = (act) => document.querySelector('[data-stem="' + CSS.escape(m.name) + '"][data-act="' + act + '"]');
    const mute = q("mute"), solo = q("solo");
    if (mute) { mute.classList.toggle("on", m.mute); mute.setAttribute("aria-pressed", String(m.mute)); }
    if (solo) { solo.classList.toggle("on", m.solo); solo.setAttribute("aria-pressed", String(m.solo)); }
    setValue(q("gain"), m.gain_db);
    setValue(q("pan"), m.pan);
    const go = document.querySelector('output[data-stem="' + CSS.escape(m.name) + '"][data-out="gain"]');
    if (go) go.textContent = m.gain_db.toFixed(1) + " dB";
    const po = document.querySelector('output[data-stem="' + CSS.escape(m.name) + '"][data-out="pan"]');
    if (po) po.textContent = m.pan === 0 ? "C" : (m.pan < 0 ? "L" : "R") + Math.round(Math.abs(m.pan) * 100);
    const row = document.querySelector('.stem[data-stem="' + CSS.escape(m.name) + '"]');
    if (row) row.classList.toggle("muted", m.mute);
  }
  renderBuses(live.buses || []);
  setValue($("#master-volume"), live.volume_db);
  $("#master-volume-out").textContent = (live.volume_db || 0).toFixed(1) + " dB";
  const mm = $("#mix-master");
  mm.hidden = live.mix_master == null;
  mm.textContent = live.mix_master ? "Play the stems" : "Play the master";
  // practice
  setValue($("#speed"), live.speed_pct || 100);
  $("#speed-out").textContent = Math.round(live.speed_pct || 100) + " %";
  setValue($("#pitch"), live.pitch_st);
  $("#pitch-out").textContent = (live.pitch_st > 0 ? "+" : "") + live.pitch_st + " st";
  toggleText($("#click-toggle"), live.click, "Click on", "Click off");
  toggleText($("#countin-btn"), live.countin, "Count-in on", "Count-in off");
  // loop and ramp
  toggleText($("#loop-toggle"), live.loop_on, "Loop on", "Loop off");
  const a = live.loop_a_s, b = live.loop_b_s;
  $("#loop-text").textContent = a != null && b != null ? "A " + fmtTime(a) + " - B " + fmtTime(b) : "no loop set";
  const lr = $("#loop-region");
  const len = (S.song && S.song.length_s) || 0;
  lr.hidden = !(a != null && b != null && len > 0);
  if (!lr.hidden) {
    lr.style.left = (100 * a) / len + "%";
    lr.style.width = (100 * Math.max(0, b - a)) / len + "%";
    lr.classList.toggle("on", live.loop_on);
  }
  const r = live.ramp;
  $("#ramp-text").textContent = r ? "ramp " + r.start_pct + " % +" + r.step_pct + " % to " + r.end_pct + " %" + (r.countin ? ", count-in" : "") : "";
  renderHealth(live.health || {});
}

function toggleText(el, on, yes, no) {
  el.textContent = on ? yes : no;
  el.classList.toggle("on", !!on);
  el.setAttribute("aria-pressed", String(!!on));
}

let busKey = "";
function renderBuses(buses) {
  const box = $("#buses");
  const key = buses.map((b) => b.name).join(",");
  if (key !== busKey) {
    busKey = key;
    box.textContent = "";
    for (const b of buses) {
      const r = range(-60, 12, 0.5, { bus: b.name, act: "bus" });
      const o = document.createElement("output");
      o.dataset.bus = b.name;
      box.appendChild(labelled(b.name, r, o));
    }
    if (!buses.length) box.appendChild(escapeText("one output"));
  }
  for (const b of buses) {
    setValue(document.querySelector('input[data-bus="' + CSS.escape(b.name) + '"]'), b.gain_db);
    const o = document.querySelector('output[data-bus="' + CSS.escape(b.name) + '"]');
    if (o) o.textContent = b.gain_db.toFixed(1) + " dB";
  }
}

let setlistKey = "";
function renderSetlist() {
  const l = S.live;
  const list = l.setlist || [];
  const key = JSON.stringify(list) + "|" + l.song + "|" + l.next_song;
  if (key === setlistKey) return;
  setlistKey = key;
  const ol = $("#setlist");
  ol.textContent = "";
  for (const e of list) {
    const li = document.createElement("li");
    li.dataset.song = String(e.number);
    li.className = e.number === l.song ? "current" : e.number === l.next_song ? "next" : "";
    const grip = document.createElement("span");
    grip.className = "grip";
    grip.textContent = "\u2261";
    grip.setAttribute("aria-label", "drag to reorder");
    const num = document.createElement("span");
    num.className = "num";
    num.textContent = String(e.number);
    const main = document.createElement("button");
    main.className = "entry";
    main.dataset.act = "cue";
    main.dataset.song = String(e.number);
    const t = document.createElement("span");
    t.className = "t";
    t.textContent = e.title || e.name;
    const m = document.createElement("span");
    m.className = "meta";
    m.textContent = [e.bpm ? Math.round(e.bpm) + " bpm" : "", e.key || "", e.length_s ? fmtTime(e.length_s) : ""].filter(Boolean).join(" \u00b7 ");
    main.append(t, m);
    const play = button("\u25b6", { act: "play-song", song: String(e.number) }, "play " + (e.title || e.name));
    li.append(grip, num, main, play);
    ol.appendChild(li);
  }
  const cur = list.find((e) => e.number === l.song);
  const nxt = list.find((e) => e.number === l.next_song);
  $("#up-next").textContent = (cur ? "Now: " + (cur.title || cur.name) : "Nothing cued") + (nxt ? "  \u2192  Next: " + (nxt.title || nxt.name) : "");
}

function renderHealth(h) {
  const set = (id, v) => { $(id).textContent = v; };
  set("#h-ready", h.ready ? "yes" : "waiting" + (h.waiting_for ? " for " + h.waiting_for : ""));
  set("#h-xruns", String(h.xruns ?? "-"));
  set("#h-late", String(h.late ?? "-"));
  set("#h-load", h.load_pct != null ? h.load_pct.toFixed(1) + " %" : "-");
  set("#h-load-underruns", String(h.load_underruns ?? "-"));
  set("#h-stretch-underruns", String(h.stretch_underruns ?? "-"));
  set("#h-device", h.device_lost ? "LOST" : "ok" + (h.device_losses ? " (" + h.device_losses + " losses)" : ""));
  $("#h-device").classList.toggle("bad", !!h.device_lost);
  $("#h-xruns").classList.toggle("bad", (h.xruns || 0) > 0);
  const up = h.uptime_s || 0;
  set("#h-uptime", Math.floor(up / 3600) + " h " + Math.floor((up % 3600) / 60) + " min " + (up % 60) + " s");
  set("#h-temp", h.temp_c != null ? h.temp_c.toFixed(1) + " \u00b0C" : "-");
}

// ---- every frame: play head, bar:beat, next section, lyric line ----------------------------

function frame() {
  const t = headS();
  const len = (S.song && S.song.length_s) || 0;
  $("#pos").textContent = fmtTime(t) + (len ? " / " + fmtTime(len) : "");
  $("#barbeat").textContent = barBeat(t);
  if (S.view === "timeline" && len) {
    $("#playhead").style.left = (100 * t) / len + "%";
    nextSection(t);
  }
  lyricAt(t);
  chordAt(t);
  requestAnimationFrame(frame);
}

function nextSection(t) {
  const secs = (S.song && S.song.sections) || [];
  const cur = secs.filter((s) => s.start_s <= t).pop();
  const nxt = secs.find((s) => s.start_s > t + 0.05);
  let text = cur ? cur.name : "";
  if (nxt) {
    const now = barAt(t), then = barAt(nxt.start_s);
    if (now != null && then != null) {
      const bars = Math.ceil(then - now - 1e-6);
      text += (text ? "  \u2192  " : "") + nxt.name + " in " + bars + (bars === 1 ? " bar" : " bars");
    } else {
      text += (text ? "  \u2192  " : "") + nxt.name + " in " + Math.ceil(nxt.start_s - t) + " s";
    }
  }
  const el = $("#next-section");
  if (el.textContent !== text) el.textContent = text;
  $$(".section").forEach((b, i) => b.classList.toggle("on", secs[i] === cur));
}

/** The chord sounding now and the next one, from the song's chord track (song.json
 *  "chords" on the tempo map, or inline chords), in song time. */
function chordAt(t) {
  const chords = (S.song && S.song.chords) || [];
  const box = $("#chords-now");
  box.hidden = !chords.length;
  if (!chords.length) return;
  let i = -1;
  for (let k = 0; k < chords.length; k++) if (chords[k].at_s <= t) i = k; else break;
  const now = i >= 0 ? chords[i].chord : "";
  const next = i + 1 < chords.length ? chords[i + 1].chord : "";
  const a = $("#chord-now"), b = $("#chord-next");
  if (a.textContent !== now) a.textContent = now;
  if (b.textContent !== next) b.textContent = next;
}

function lyricAt(t) {
  const lines = (S.song && S.song.lyrics) || [];
  let i = -1;
  for (let k = 0; k < lines.length; k++) if (lines[k].at_s <= t) i = k; else break;
  if (i === S.lyricIndex) return;
  S.lyricIndex = i;
  S.lyricChangedAt = performance.now();
  $$(".lyric").forEach((el) => {
    const k = Number(el.dataset.line);
    el.classList.toggle("current", k === i);
    el.classList.toggle("next", k === i + 1);
    el.classList.toggle("past", k < i);
  });
  const cur = document.querySelector('.lyric[data-line="' + i + '"]');
  if (cur && S.view === "lyrics") cur.scrollIntoView({ block: "center", behavior: "smooth" });
}

// ---- input -------------------------------------------------------------------------------

function showView(name) {
  if (S.locked && (name === "mixer" || name === "practice")) name = "setlist";
  S.view = name;
  $$(".view").forEach((v) => { v.hidden = v.dataset.view !== name; });
  $$(".tab").forEach((b) => b.toggleAttribute("aria-current", b.dataset.view === name));
  if (name === "timeline") { drawPeaks(); drawRuler(); }
  if (name === "lyrics") S.lyricIndex = -2;
}

function setLocked(on) {
  S.locked = !!on;
  document.body.classList.toggle("locked", S.locked);
  $("#lock-btn").setAttribute("aria-label", S.locked ? "unlock" : "lock");
  if (S.locked) showView(S.view);
}

let pinThen = null;
function askPin(why, then) {
  pinThen = then;
  $("#pin-why").textContent = why;
  $("#pin-input").value = "";
  $("#pin-dialog").showModal();
}

async function pinSubmitted(ev) {
  ev.preventDefault();
  const pin = $("#pin-input").value;
  $("#pin-dialog").close();
  const then = pinThen;
  pinThen = null;
  if (then) await then(pin);
}

async function lockTapped() {
  if (!S.locked) {
    const r = await post("/api/lock", "");
    if (r.status === 401) return askPin("Enter the PIN to lock", async (pin) => { await login(pin); lockTapped(); });
    toast(r.text, r.status !== 200);
    if (r.status === 200) setLocked(true);
  } else if (S.pinRequired) {
    askPin("Enter the PIN to unlock", unlock);
  } else {
    unlock("");
  }
}

async function login(pin) {
  const r = await post("/api/pin", pin);
  toast(r.text, r.status !== 200);
  if (r.status === 200) S.session = true;
}

async function loginThen(pin, line) {
  await login(pin);
  if (S.session) send(line);
}

async function unlock(pin) {
  const r = await post("/api/unlock", pin);
  toast(r.text, r.status !== 200);
  if (r.status === 200) setLocked(false);
}

// The last speed or pitch a step asked for, until a live view shows it (or 2 s pass).
const stepAsked = {};
function stepBase(key, shown) {
  const a = stepAsked[key];
  if (!a || a.value === shown || performance.now() - a.at > 2000) {
    delete stepAsked[key];
    return shown;
  }
  return a.value;
}
function stepTo(key, value) {
  stepAsked[key] = { value, at: performance.now() };
  return value;
}

function num(v, digits) {
  const n = Number(v);
  return Number.isFinite(n) ? String(Math.round(n * 10 ** digits) / 10 ** digits) : "0";
}

/** What a tapped control sends. */
function lineFor(el) {
  const d = el.dataset;
  const l = S.live || {};
  switch (d.act) {
    case "mute": {
      const m = (l.stems || []).find((s) => s.name === d.stem);
      return (m && m.mute ? "unmute " : "mute ") + d.stem;
    }
    case "solo": {
      const m = (l.stems || []).find((s) => s.name === d.stem);
      return m && m.solo ? "unsolo " + d.stem : "solo " + d.stem;
    }
    case "unsolo": return "unsolo";
    case "cue": return "song " + d.song;
    case "section": return "section " + d.section;
    case "loop-toggle": return l.loop_on ? "loop off" : "loop on";
    case "ramp":
      return "loop ramp " + num($("#ramp-start").value, 0) + " " + num($("#ramp-step").value, 0) + " " +
        num($("#ramp-end").value, 0) + ($("#ramp-countin").checked ? " countin" : "");
    case "speed-step": {
      // Steps build on the last step asked for until the box shows it: a quick second tap
      // must not send the same value again.
      const base = stepBase("speed", l.speed_pct || 100);
      return "speed " + stepTo("speed", Math.round(base + Number(d.step)));
    }
    case "speed-reset": return "speed 100";
    case "pitch-step": {
      const base = stepBase("pitch", l.pitch_st || 0);
      return "pitch " + stepTo("pitch", Math.round(base + Number(d.step)));
    }
    case "pitch-reset": return "pitch 0";
    case "click": return l.click ? "click off" : "click on";
    case "countin": return "countin";
    case "mix": return l.mix_master ? "mix stems" : "mix master";
  }
  return null;
}

document.addEventListener("click", (ev) => {
  const el = ev.target.closest("button");
  if (!el) return;
  if (el.classList.contains("tab")) return showView(el.dataset.view);
  if (el.id === "lock-btn") return lockTapped();
  if (el.dataset.action) return send(el.dataset.action);
  if (el.dataset.act === "play-song") {
    send("song " + el.dataset.song).then(() => send("play"));
    return;
  }
  const line = lineFor(el);
  if (line) send(line);
});

// Sliders: sent while moving (at most every 120 ms) and once on release.
function sliderLine(el) {
  const d = el.dataset;
  switch (d.act) {
    case "gain": return "gain " + d.stem + " " + num(el.value, 1);
    case "pan": return "pan " + d.stem + " " + num(el.value, 2);
    case "bus": return "bus " + d.bus + " " + num(el.value, 1);
    case "volume": {
      // The console takes a volume with its sign (a bare number reads as a typo there).
      const v = num(el.value, 1);
      return "volume " + (v.startsWith("-") ? v : "+" + v);
    }
    case "speed": return "speed " + num(el.value, 0);
    case "pitch": return "pitch " + num(el.value, 0);
  }
  return null;
}
const lastSlide = new WeakMap();
document.addEventListener("input", (ev) => {
  const el = ev.target;
  if (el.type !== "range") return;
  S.busy.add(el);
  const now = performance.now();
  if (now - (lastSlide.get(el) || 0) < 120) return;
  lastSlide.set(el, now);
  const line = sliderLine(el);
  if (line) send(line);
});
document.addEventListener("change", (ev) => {
  const el = ev.target;
  if (el.type !== "range") return;
  const line = sliderLine(el);
  if (line) send(line);
  // the box's answer comes with the next live event; until then keep the finger's value
  setTimeout(() => S.busy.delete(el), 400);
});

// Timeline: tap the ruler to seek, drag over the waveforms for an A-B loop.
function songTimeOf(ev, el) {
  const r = el.getBoundingClientRect();
  const f = Math.min(1, Math.max(0, (ev.clientX - r.left) / r.width));
  return f * ((S.song && S.song.length_s) || 0);
}
$("#ruler").addEventListener("click", (ev) => {
  if (!S.song || !S.song.length_s) return;
  send("seek " + songTimeOf(ev, ev.currentTarget).toFixed(2));
});
let dragFrom = null;
const peaks = $("#peaks");
peaks.addEventListener("pointerdown", (ev) => {
  dragFrom = songTimeOf(ev, peaks);
  peaks.setPointerCapture(ev.pointerId);
});
peaks.addEventListener("pointermove", (ev) => {
  if (dragFrom == null || !S.song.length_s) return;
  const t = songTimeOf(ev, peaks);
  const lr = $("#loop-region");
  lr.hidden = false;
  lr.style.left = (100 * Math.min(dragFrom, t)) / S.song.length_s + "%";
  lr.style.width = (100 * Math.abs(t - dragFrom)) / S.song.length_s + "%";
});
peaks.addEventListener("pointerup", (ev) => {
  if (dragFrom == null) return;
  const t = songTimeOf(ev, peaks);
  const a = Math.min(dragFrom, t), b = Math.max(dragFrom, t);
  dragFrom = null;
  if (b - a >= 0.25) send("loop " + a.toFixed(2) + " " + b.toFixed(2));
  else send("seek " + a.toFixed(2));
});

// Setlist: drag a row by its grip to reorder.
let drag = null;
$("#setlist").addEventListener("pointerdown", (ev) => {
  const grip = ev.target.closest(".grip");
  if (!grip) return;
  const li = grip.closest("li");
  drag = { li, from: Number(li.dataset.song), to: Number(li.dataset.song) };
  li.classList.add("dragging");
  grip.setPointerCapture(ev.pointerId);
  ev.preventDefault();
});
$("#setlist").addEventListener("pointermove", (ev) => {
  if (!drag) return;
  const rows = $$("#setlist li");
  let to = drag.from;
  for (const r of rows) {
    const b = r.getBoundingClientRect();
    if (ev.clientY >= b.top && ev.clientY <= b.bottom) to = Number(r.dataset.song);
  }
  drag.to = to;
  rows.forEach((r) => r.classList.toggle("drop", Number(r.dataset.song) === to && to !== drag.from));
});
function endDrag() {
  if (!drag) return;
  const { li, from, to } = drag;
  drag = null;
  li.classList.remove("dragging");
  $$("#setlist li").forEach((r) => r.classList.remove("drop"));
  if (to !== from) send("setlist move " + from + " " + to);
}
$("#setlist").addEventListener("pointerup", endDrag);
$("#setlist").addEventListener("pointercancel", endDrag);

$("#pin-form").addEventListener("submit", pinSubmitted);
$("#pin-cancel").addEventListener("click", (ev) => { ev.preventDefault(); pinThen = null; $("#pin-dialog").close(); });
window.addEventListener("resize", () => { drawPeaks(); drawRuler(); });

showView("setlist");
connect();
requestAnimationFrame(frame);
