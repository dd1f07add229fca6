// Model audio playback in the audio thread. The page posts PCM16 chunks at the context's rate
// (the playback context is created at 24 kHz, the model's rate, so no resampling is needed);
// they queue in a bounded ring buffer and play back to back. "clear" drops what is queued (a real
// barge-in). The processor reports how much has actually been played, so the page knows what the
// listener heard.

class PlayerProcessor extends AudioWorkletProcessor {
  constructor(options) {
    super();
    const opts = (options && options.processorOptions) || {};
    this.capacity = Math.floor(sampleRate * (opts.maxSeconds || 120));
    this.ring = new Float32Array(this.capacity);
    this.read = 0;
    this.size = 0;
    this.played = 0; // samples played since start
    this.dropped = 0; // samples dropped by clear or overflow
    this.sinceReport = 0;
    this.port.onmessage = (e) => {
      const msg = e.data || {};
      if (msg.type === "audio") this.push(new Int16Array(msg.pcm));
      else if (msg.type === "clear") {
        this.dropped += this.size;
        this.size = 0;
        this.report();
      }
    };
  }

  push(pcm) {
    for (let i = 0; i < pcm.length; i++) {
      if (this.size === this.capacity) {
        this.dropped++;
        continue; // bounded: overflow drops the newest audio
      }
      this.ring[(this.read + this.size) % this.capacity] = pcm[i] / 32768;
      this.size++;
    }
  }

  report() {
    this.port.postMessage({
      type: "played",
      seconds: this.played / sampleRate,
      queued: this.size / sampleRate,
      dropped: this.dropped / sampleRate,
    });
    this.sinceReport = 0;
  }

  process(_inputs, outputs) {
    const out = outputs[0];
    const ch0 = out[0];
    const n = ch0.length;
    let wrote = 0;
    for (let i = 0; i < n; i++) {
      if (this.size > 0) {
        ch0[i] = this.ring[this.read];
        this.read = (this.read + 1) % this.capacity;
        this.size--;
        wrote++;
      } else {
        ch0[i] = 0;
      }
    }
    for (let c = 1; c < out.length; c++) out[c].set(ch0);
    this.played += wrote;
    this.sinceReport += n;
    if (this.sinceReport >= sampleRate / 5) this.report();
    return true;
  }
}

registerProcessor("liveguard-player", PlayerProcessor);
