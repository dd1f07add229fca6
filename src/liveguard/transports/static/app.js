// The talk page: microphone -> 16 kHz PCM16 binary frames up; 24 kHz PCM16 binary frames down
// into a playback worklet; JSON text frames for transcripts, health and control.
// State is mirrored on window.liveguard so tests (and curious people) can read it.
"use strict";

(function () {
  const MODEL_RATE = 24000;
  const UP_RATE = 16000;
  const state = {
    status: "idle", // idle | connecting | connected | closed
    health: "",
    session: "",
    transcripts: [], // {role: "caller"|"model", text}
    events: [], // last JSON messages (bounded)
    framesSent: 0,
    audioBytesReceived: 0,
    audioChunksReceived: 0,
    playedSeconds: 0,
    clears: 0,
    errors: [],
    closeCode: null,
    resume: "", // the conversation's key: a reconnect with it continues the same conversation
    reconnects: 0,
    resumed: false,
  };
  // close codes after which the page reconnects by itself (the relay went away, drained, or the
  // network dropped); the relay (any worker or node, with Redis) resumes the conversation
  const RETRY_CODES = [1001, 1006, 1011, 1012, 1013];
  const MAX_RECONNECTS = 6;
  window.liveguard = state;

  const $ = (id) => document.getElementById(id);
  let ws = null;
  let micCtx = null;
  let playCtx = null;
  let mic = null;
  let player = null;
  let stream = null;
  let lastLine = null; // the line being extended by incremental transcript fragments

  function setPill(el, text) {
    el.textContent = text || "—";
    el.className = "pill " + (text || "");
  }

  function sys(text, cls) {
    const div = document.createElement("div");
    div.className = "line sys " + (cls || "");
    div.textContent = text;
    $("log").appendChild(div);
    $("log").scrollTop = $("log").scrollHeight;
    lastLine = null;
  }

  function transcript(role, text) {
    const last = state.transcripts[state.transcripts.length - 1];
    if (last && last.role === role && lastLine) {
      last.text += text;
      lastLine.querySelector(".text").textContent = last.text;
    } else {
      state.transcripts.push({ role: role, text: text });
      const div = document.createElement("div");
      div.className = "line " + role;
      const who = document.createElement("span");
      who.className = "who";
      who.textContent = role === "caller" ? "You:" : "Model:";
      const span = document.createElement("span");
      span.className = "text";
      span.textContent = text;
      div.appendChild(who);
      div.appendChild(span);
      $("log").appendChild(div);
      lastLine = div;
    }
    $("log").scrollTop = $("log").scrollHeight;
  }

  function stats() {
    $("stats").textContent =
      "sent " + state.framesSent + " mic frames · received " +
      (state.audioBytesReceived / 2 / MODEL_RATE).toFixed(1) + " s of model audio · played " +
      state.playedSeconds.toFixed(1) + " s · clears " + state.clears;
  }

  function onJson(msg) {
    state.events.push(msg);
    if (state.events.length > 500) state.events.shift();
    switch (msg.type) {
      case "ready":
        state.session = msg.session || "";
        state.resume = msg.resume || state.resume;
        state.resumed = !!msg.resumed;
        if (msg.resumed) sys("reconnected: the conversation goes on", "sys");
        $("upstream").textContent = msg.emulator
          ? "Connected to the embedded Gemini Live emulator (no API key set)."
          : "Connected to Gemini Live (" + (msg.model || "") + ").";
        break;
      case "transcript":
        transcript(msg.role === "model" ? "model" : "caller", msg.text || "");
        break;
      case "health":
        state.health = msg.state;
        setPill($("health"), msg.state);
        if (msg.state !== "healthy") sys("session " + msg.state, "warn");
        break;
      case "verdict":
        sys("guard: " + msg.kind + (msg.turn ? " (turn " + msg.turn + ")" : ""), "warn");
        break;
      case "recovery":
        sys("recovery " + msg.rung + " " + (msg.outcome || "started"), "warn");
        break;
      case "clear":
        state.clears++;
        if (player) player.port.postMessage({ type: "clear" });
        break;
      case "turn_complete":
        lastLine = null;
        break;
      case "error":
        state.errors.push(msg.reason);
        sys("error: " + msg.reason, "bad");
        break;
      case "shutdown":
        sys("the relay is shutting down: " + (msg.reason || ""), "bad");
        break;
      case "ended":
        lastEnd = msg.reason || "";
        sys("call ended: " + (msg.reason || ""), "sys");
        break;
    }
    stats();
  }

  function onAudio(buf) {
    state.audioBytesReceived += buf.byteLength;
    state.audioChunksReceived++;
    if (player) player.port.postMessage({ type: "audio", pcm: buf }, [buf]);
    stats();
  }

  async function start() {
    $("start").disabled = true;
    setPill($("conn"), "connecting");
    state.status = "connecting";
    try {
      // ?processing=off turns the browser's echo cancellation, noise suppression and gain
      // control off (headphones, or tests that need the exact audio through)
      const processing = new URLSearchParams(location.search).get("processing") !== "off";
      stream = await navigator.mediaDevices.getUserMedia({
        audio: {
          channelCount: 1,
          echoCancellation: processing,
          noiseSuppression: processing,
          autoGainControl: processing,
        },
      });
      micCtx = new AudioContext();
      playCtx = new AudioContext({ sampleRate: MODEL_RATE });
      await micCtx.audioWorklet.addModule("/static/mic-worklet.js");
      await playCtx.audioWorklet.addModule("/static/player-worklet.js");
      player = new AudioWorkletNode(playCtx, "liveguard-player", {
        outputChannelCount: [1],
        processorOptions: { maxSeconds: 120 },
      });
      player.port.onmessage = (e) => {
        if (e.data && e.data.type === "played") {
          state.playedSeconds = e.data.seconds;
          stats();
        }
      };
      player.connect(playCtx.destination);
      await playCtx.resume();
    } catch (err) {
      state.errors.push(String(err));
      sys("cannot open audio: " + err, "bad");
      setPill($("conn"), "closed");
      state.status = "closed";
      $("start").disabled = false;
      return;
    }
    hangingUp = false;
    state.reconnects = 0;
    state.resume = "";
    connect();
  }

  let hangingUp = false; // the caller pressed stop: no reconnect
  let lastEnd = ""; // the reason in the relay's last "ended" message

  function connect() {
    const proto = location.protocol === "https:" ? "wss:" : "ws:";
    const params = new URLSearchParams();
    const token = new URLSearchParams(location.search).get("token");
    if (token) params.set("token", token);
    if (state.resume) params.set("resume", state.resume);
    const query = params.toString() ? "?" + params.toString() : "";
    lastEnd = "";
    ws = new WebSocket(proto + "//" + location.host + "/browser/stream" + query);
    ws.binaryType = "arraybuffer";
    ws.onopen = async () => {
      state.status = "connected";
      setPill($("conn"), "connected");
      ws.send(JSON.stringify({ type: "start", sample_rate: UP_RATE, client: "page" }));
      if (mic) return; // a reconnect: the microphone is already sending to `ws`
      const source = micCtx.createMediaStreamSource(stream);
      mic = new AudioWorkletNode(micCtx, "liveguard-mic", {
        processorOptions: { outRate: UP_RATE, frameSamples: UP_RATE / 50 },
      });
      mic.port.onmessage = (e) => {
        const d = e.data;
        if (!d || d.type !== "frame") return;
        const level = Math.min(100, (d.peak / 32767) * 300);
        $("meter").firstElementChild.style.width = level + "%";
        if (ws && ws.readyState === WebSocket.OPEN && ws.bufferedAmount < 1 << 20) {
          ws.send(d.pcm);
          state.framesSent++;
        }
      };
      source.connect(mic);
      await micCtx.resume();
      $("stop").disabled = false;
      $("text").disabled = false;
      $("send").disabled = false;
      stats();
    };
    ws.onmessage = (e) => {
      if (typeof e.data === "string") {
        try {
          onJson(JSON.parse(e.data));
        } catch (err) {
          state.errors.push("bad JSON from relay");
        }
      } else {
        onAudio(e.data);
      }
    };
    ws.onclose = (e) => {
      state.closeCode = e.code;
      sys("link closed (" + e.code + (e.reason ? ": " + e.reason : "") + ")");
      const retry =
        !hangingUp &&
        lastEnd !== "caller hung up" &&
        RETRY_CODES.indexOf(e.code) >= 0 &&
        state.reconnects < MAX_RECONNECTS &&
        stream !== null;
      if (retry) {
        state.status = "reconnecting";
        setPill($("conn"), "reconnecting");
        const delay = Math.min(8000, 500 * Math.pow(2, state.reconnects));
        state.reconnects++;
        setTimeout(connect, delay);
        return;
      }
      state.status = "closed";
      setPill($("conn"), "closed");
      stop(false);
    };
    ws.onerror = () => state.errors.push("websocket error");
  }

  function stop(sendHangup) {
    if (sendHangup !== false) hangingUp = true;
    if (sendHangup !== false && ws && ws.readyState === WebSocket.OPEN) {
      ws.send(JSON.stringify({ type: "hangup" }));
      ws.close(1000, "hangup");
    }
    if (stream) stream.getTracks().forEach((t) => t.stop());
    if (mic) mic.disconnect();
    if (micCtx) micCtx.close();
    stream = null;
    mic = null;
    micCtx = null;
    $("start").disabled = false;
    $("stop").disabled = true;
    $("text").disabled = true;
    $("send").disabled = true;
  }

  $("start").addEventListener("click", start);
  $("stop").addEventListener("click", () => stop(true));
  $("textform").addEventListener("submit", (e) => {
    e.preventDefault();
    const text = $("text").value.trim();
    if (!text || !ws || ws.readyState !== WebSocket.OPEN) return;
    ws.send(JSON.stringify({ type: "text", text: text }));
    transcript("caller", text);
    lastLine = null;
    $("text").value = "";
  });
})();
