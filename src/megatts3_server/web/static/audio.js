// Decoding and WAV encoding in the browser (Web Audio API), shared by the waveform and the recorder.

/**
 * Decode compressed or PCM audio bytes to an AudioBuffer. An OfflineAudioContext needs no user
 * gesture and plays nothing, so decoding works before the visitor has clicked anything.
 */
export async function decodeAudio(bytes, sampleRate = 48000) {
  const context = new OfflineAudioContext(1, 1, sampleRate);
  return context.decodeAudioData(bytes.slice(0)); // decodeAudioData detaches the buffer it is given
}

/** The buffer's channels averaged into one. */
export function mixToMono(buffer) {
  if (buffer.numberOfChannels === 1) return buffer.getChannelData(0);
  const mono = new Float32Array(buffer.length);
  for (let channel = 0; channel < buffer.numberOfChannels; channel += 1) {
    const data = buffer.getChannelData(channel);
    for (let i = 0; i < data.length; i += 1) mono[i] += data[i] / buffer.numberOfChannels;
  }
  return mono;
}

/** Mono float samples as a 16-bit PCM WAV file: a format every server-side decoder accepts. */
export function encodeWav(samples, sampleRate) {
  const bytes = new ArrayBuffer(44 + samples.length * 2);
  const view = new DataView(bytes);
  const text = (offset, value) => [...value].forEach((c, i) => view.setUint8(offset + i, c.charCodeAt(0)));
  text(0, "RIFF");
  view.setUint32(4, 36 + samples.length * 2, true);
  text(8, "WAVE");
  text(12, "fmt ");
  view.setUint32(16, 16, true); // fmt chunk size
  view.setUint16(20, 1, true); // PCM
  view.setUint16(22, 1, true); // mono
  view.setUint32(24, sampleRate, true);
  view.setUint32(28, sampleRate * 2, true); // byte rate
  view.setUint16(32, 2, true); // block align
  view.setUint16(34, 16, true); // bits per sample
  text(36, "data");
  view.setUint32(40, samples.length * 2, true);
  for (let i = 0; i < samples.length; i += 1) {
    const clipped = Math.max(-1, Math.min(1, samples[i]));
    view.setInt16(44 + i * 2, clipped < 0 ? clipped * 0x8000 : clipped * 0x7fff, true);
  }
  return new Blob([bytes], { type: "audio/wav" });
}
