// The voice panel: the list to pick from, uploading a reference, recording one, and following a
// voice's enrollment until it is ready.

import { getVoice, listVoices, uploadVoice } from "./api.js";
import { VoiceRecorder, recordingUnavailableReason } from "./recorder.js";
import { setBusy, showError, showStatus, sleep } from "./ui.js";

const POLL_MS = 1000;
const MAX_RECORDING_SECONDS = 60;
const FINISHED = new Set(["ready", "failed", "error"]);

const $ = (id) => document.getElementById(id);

function optionLabel(voice) {
  const name = voice.name && voice.name !== voice.id ? `${voice.name} (${voice.id})` : voice.id;
  if (voice.status === "ready") return name;
  const progress = Number.isFinite(voice.progress) ? ` ${Math.round(voice.progress)}%` : "";
  return `${name} — ${voice.status}${progress}`;
}

function describe(voice) {
  if (!voice) return "";
  const kind = voice.type === "builtin" ? "Built-in voice" : "Your voice";
  const parts = [kind, voice.description, voice.summary].filter(Boolean);
  if (voice.duration) parts.push(`reference ${voice.duration.toFixed(1)} s`);
  return parts.join(" · ");
}

/** A voice id derived from a file name: "My Voice (2).m4a" → "My-Voice-2". */
function idFromFileName(fileName) {
  const stem = fileName.replace(/\.[^.]*$/, "");
  return stem.replace(/[^A-Za-z0-9_-]+/g, "-").replace(/^[^A-Za-z0-9]+|-+$/g, "").slice(0, 64);
}

export class VoicePanel {
  #voices = new Map();
  #listPoll = null;
  #recorder = new VoiceRecorder();
  #recordTimer = null;
  #previewUrl = null;

  constructor() {
    this.select = $("voice");
    this.details = $("voice-details");
    this.listError = $("voices-error");
    this.form = $("upload-form");
    this.fileInput = $("voice-file");
    this.idInput = $("voice-id");
    this.status = $("voice-status");
    this.error = $("voice-error");
    this.select.addEventListener("change", () => this.#showDetails());
    $("refresh-voices").addEventListener("click", () => this.reload());
    this.fileInput.addEventListener("change", () => this.#suggestId());
    this.idInput.addEventListener("input", () => delete this.idInput.dataset.suggested);
    this.form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.#upload();
    });
    this.#setUpRecorder();
  }

  /** The chosen voice id, or null to let the server use its default voice. */
  get selectedId() {
    return this.select.value || null;
  }

  /** Reload the list, keeping the current choice (or choosing `selectId`). */
  async reload(selectId = this.selectedId) {
    let voices;
    try {
      voices = await listVoices();
    } catch (error) {
      showError(this.listError, `Could not load the voices: ${error.message}`);
      return;
    }
    showError(this.listError, "");
    this.#voices = new Map(voices.map((voice) => [voice.id, voice]));
    const groups = [
      ["Built-in voices", voices.filter((voice) => voice.type === "builtin")],
      ["Your voices", voices.filter((voice) => voice.type !== "builtin")],
    ];
    this.select.replaceChildren();
    for (const [label, members] of groups) {
      if (!members.length) continue;
      const group = document.createElement("optgroup");
      group.label = label;
      for (const voice of members) {
        const option = new Option(optionLabel(voice), voice.id);
        option.disabled = voice.status !== "ready";
        group.append(option);
      }
      this.select.append(group);
    }
    document.dispatchEvent(new CustomEvent("voices-changed", { detail: voices }));
    const wanted = this.#voices.get(selectId);
    if (wanted?.status === "ready") this.select.value = selectId;
    this.#showDetails();
    // Voices still being prepared become selectable on their own: look again shortly.
    clearTimeout(this.#listPoll);
    if (voices.some((voice) => !FINISHED.has(voice.status))) {
      this.#listPoll = setTimeout(() => this.reload(), POLL_MS * 2);
    }
  }

  #showDetails() {
    this.details.textContent = describe(this.#voices.get(this.selectedId));
  }

  #suggestId() {
    const file = this.fileInput.files[0];
    if (!file || (this.idInput.value && !this.idInput.dataset.suggested)) return;
    this.idInput.value = idFromFileName(file.name);
    this.idInput.dataset.suggested = "true";
  }

  async #upload() {
    showError(this.error, "");
    if (!this.form.reportValidity()) return;
    const button = $("upload-button");
    const voiceId = this.idInput.value.trim();
    setBusy(button, true, "Uploading…");
    this.#showProgress("Uploading and analysing the recording…", null);
    try {
      let voice = await uploadVoice({
        file: this.fileInput.files[0],
        voiceId,
        description: $("voice-description").value.trim(),
      });
      while (!FINISHED.has(voice.status)) {
        this.#showProgress(`Preparing voice “${voiceId}”: ${voice.status}`, voice.progress);
        await sleep(POLL_MS);
        voice = await getVoice(voiceId);
      }
      if (voice.status !== "ready") {
        throw new Error(voice.error || voice.message || `voice “${voiceId}” could not be prepared`);
      }
      await this.reload(voiceId);
      this.form.reset();
      this.#clearPreview();
      const likeness = Number.isFinite(voice.similarity) ? ` (similarity to the reference ${voice.similarity.toFixed(2)})` : "";
      showStatus(this.status, `Voice “${voiceId}” is ready and selected${likeness}.`, "success");
    } catch (error) {
      showStatus(this.status, "");
      showError(this.error, error.message);
    } finally {
      $("enroll").hidden = true;
      setBusy(button, false);
    }
  }

  /** Show the enrollment bar: `percent` 0–100, or null while the server has not said. */
  #showProgress(label, percent) {
    $("enroll").hidden = false;
    $("enroll-label").textContent = label;
    const bar = $("enroll-progress");
    if (Number.isFinite(percent)) bar.value = percent;
    else bar.removeAttribute("value"); // indeterminate
    showStatus(this.status, "");
  }

  #setUpRecorder() {
    const button = $("record-button");
    const note = $("record-note");
    const reason = recordingUnavailableReason();
    if (reason) {
      button.disabled = true;
      note.textContent = reason;
      note.hidden = false;
      return;
    }
    button.addEventListener("click", () => (this.#recorder.recording ? this.#stopRecording() : this.#startRecording()));
  }

  async #startRecording() {
    const button = $("record-button");
    showError(this.error, "");
    try {
      await this.#recorder.start();
    } catch (error) {
      const refused = error.name === "NotAllowedError" || error.name === "SecurityError";
      showError(this.error, refused ? "Microphone access was refused." : `Cannot record: ${error.message}`);
      return;
    }
    button.textContent = "■ Stop";
    button.setAttribute("aria-pressed", "true");
    const started = performance.now();
    const clock = $("record-time");
    this.#recordTimer = setInterval(() => {
      const elapsed = Math.floor((performance.now() - started) / 1000);
      clock.textContent = `${Math.floor(elapsed / 60)}:${String(elapsed % 60).padStart(2, "0")}`;
      if (elapsed >= MAX_RECORDING_SECONDS) this.#stopRecording();
    }, 250);
    showStatus(this.status, "Recording… speak clearly, then press Stop.");
  }

  async #stopRecording() {
    clearInterval(this.#recordTimer);
    const button = $("record-button");
    button.setAttribute("aria-pressed", "false");
    setBusy(button, true, "Processing…");
    try {
      const file = await this.#recorder.stop();
      const files = new DataTransfer();
      files.items.add(file);
      this.fileInput.files = files.files;
      this.#suggestId();
      this.#clearPreview();
      this.#previewUrl = URL.createObjectURL(file);
      const preview = $("record-preview");
      preview.src = this.#previewUrl;
      preview.hidden = false;
      showStatus(this.status, "Recording ready: listen to it, give it an id, then upload it.");
    } catch (error) {
      showError(this.error, `The recording could not be used: ${error.message}`);
    } finally {
      setBusy(button, false);
      button.textContent = "● Record again";
    }
  }

  #clearPreview() {
    if (this.#previewUrl) URL.revokeObjectURL(this.#previewUrl);
    this.#previewUrl = null;
    const preview = $("record-preview");
    preview.removeAttribute("src");
    preview.hidden = true;
  }
}
