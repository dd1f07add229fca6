// Microphone capture in the audio thread: resample the context's rate (44.1/48 kHz or anything
// else) to 16 kHz PCM16 and post 20 ms frames (320 samples) to the page, which sends them as
// binary WebSocket messages. Anti-aliased: a windowed-sinc low-pass (cutoff 0.45 x 16 kHz) runs
// at the input rate with its history carried across blocks, then a fractional decimator picks
// output samples by linear interpolation between filtered samples. No extra latency beyond the
// filter's group delay (about 0.5 ms at 48 kHz).

class MicProcessor extends AudioWorkletProcessor {
  constructor(options) {
    super();
    const opts = (options && options.processorOptions) || {};
    this.outRate = opts.outRate || 16000;
    this.frame = opts.frameSamples || 320;
    this.step = sampleRate / this.outRate; // input samples per output sample
    const cutoff = Math.min(0.5, (0.45 * this.outRate) / sampleRate); // cycles per input sample
    const half = this.step > 1 ? Math.ceil(8 * this.step) : 0;
    const taps = 2 * half + 1;
    const h = new Float32Array(taps);
    let sum = 0;
    for (let i = 0; i < taps; i++) {
      const n = i - half;
      const sinc = n === 0 ? 2 * cutoff : Math.sin(2 * Math.PI * cutoff * n) / (Math.PI * n);
      const w = 0.42 - 0.5 * Math.cos((2 * Math.PI * i) / (taps - 1 || 1)) +
        0.08 * Math.cos((4 * Math.PI * i) / (taps - 1 || 1)); // Blackman
      h[i] = taps === 1 ? 1 : sinc * w;
      sum += h[i];
    }
    for (let i = 0; i < taps; i++) h[i] /= sum;
    this.h = h;
    this.hist = new Float32Array(taps - 1); // last taps-1 input samples
    this.prev = 0; // last filtered sample of the previous block (index -1)
    this.t = 0; // position of the next output sample, in input samples from block start
    this.out = new Int16Array(this.frame);
    this.outLen = 0;
    this.peak = 0;
    this.port.onmessage = (e) => {
      if (e.data && e.data.type === "flush") this.outLen = 0;
    };
  }

  process(inputs) {
    const input = inputs[0];
    if (!input || input.length === 0 || !input[0]) return true;
    const x = input[0];
    const n = x.length;
    const h = this.h;
    const taps = h.length;
    const hl = this.hist.length;
    // buf = hist ++ x; filtered[k] = sum_j h[j] * buf[k + taps - 1 - j]
    const buf = new Float32Array(hl + n);
    buf.set(this.hist, 0);
    buf.set(x, hl);
    const f = new Float32Array(n);
    for (let k = 0; k < n; k++) {
      let acc = 0;
      for (let j = 0; j < taps; j++) acc += h[j] * buf[k + taps - 1 - j];
      f[k] = acc;
    }
    this.hist = buf.slice(n);
    let t = this.t;
    while (t < n - 1) {
      const i = Math.floor(t);
      const frac = t - i;
      const a = i < 0 ? this.prev : f[i];
      const b = f[i + 1];
      let v = a + (b - a) * frac;
      if (v > 1) v = 1;
      else if (v < -1) v = -1;
      const s = Math.round(v * 32767);
      this.out[this.outLen++] = s;
      const mag = s < 0 ? -s : s;
      if (mag > this.peak) this.peak = mag;
      if (this.outLen === this.frame) {
        const frame = this.out.slice(0);
        this.port.postMessage({ type: "frame", pcm: frame.buffer, peak: this.peak }, [frame.buffer]);
        this.outLen = 0;
        this.peak = 0;
      }
      t += this.step;
    }
    this.t = t - n;
    this.prev = f[n - 1];
    return true;
  }
}

registerProcessor("liveguard-mic", MicProcessor);
