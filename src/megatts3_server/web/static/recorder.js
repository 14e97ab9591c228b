// Recording a reference voice with the microphone, delivered as a WAV file.

import { decodeAudio, encodeWav, mixToMono } from "./audio.js";

/** Why recording cannot work here, or null when it can. */
export function recordingUnavailableReason() {
  if (!window.isSecureContext) return "Recording needs a secure page (https:// or localhost).";
  if (!navigator.mediaDevices?.getUserMedia || !window.MediaRecorder) {
    return "This browser cannot record audio; upload a file instead.";
  }
  return null;
}

/** One recording at a time: start(), then stop() resolves to a WAV File. */
export class VoiceRecorder {
  #stream = null;
  #recorder = null;
  #chunks = [];

  get recording() {
    return this.#recorder?.state === "recording";
  }

  async start() {
    this.#stream = await navigator.mediaDevices.getUserMedia({ audio: { channelCount: 1 } });
    this.#chunks = [];
    this.#recorder = new MediaRecorder(this.#stream);
    this.#recorder.addEventListener("dataavailable", (event) => {
      if (event.data.size) this.#chunks.push(event.data);
    });
    this.#recorder.start();
  }

  async stop() {
    const recorder = this.#recorder;
    const stopped = new Promise((resolve) => recorder.addEventListener("stop", resolve, { once: true }));
    recorder.stop();
    await stopped;
    this.#stream.getTracks().forEach((track) => track.stop());
    this.#recorder = null;
    this.#stream = null;
    // Browsers record WebM, Ogg or MP4 depending on the vendor; WAV is what every server accepts.
    const recorded = new Blob(this.#chunks, { type: recorder.mimeType });
    const buffer = await decodeAudio(await recorded.arrayBuffer());
    const wav = encodeWav(mixToMono(buffer), buffer.sampleRate);
    const stamp = new Date().toISOString().slice(0, 19).replace(/[:T]/g, "-");
    return new File([wav], `recording-${stamp}.wav`, { type: "audio/wav" });
  }
}
