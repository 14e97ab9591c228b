// The page's entry point: text and delivery controls, synthesis, the result player, the script panel
// and settings.

import { fetchHealth, loadApiKey, saveApiKey, synthesize } from "./api.js";
import { decodeAudio, mixToMono } from "./audio.js";
import { ScriptPanel } from "./jobs.js";
import { seconds, setBusy, showError, showStatus } from "./ui.js";
import { VoicePanel } from "./voices.js";
import { computePeaks, drawWaveform } from "./waveform.js";

const $ = (id) => document.getElementById(id);
const HEALTH_RETRY_MS = 2000;

const voices = new VoicePanel();
new ScriptPanel(); // listens for the voice list before its first load
const result = { url: null, peaks: null };

async function watchEngine() {
  const pill = $("engine-state");
  try {
    const health = await fetchHealth();
    if (health.model_loaded) {
      pill.textContent = `Ready · v${health.version}`;
      pill.className = "pill ok";
      return;
    }
    if (health.status === "failed") {
      pill.textContent = "The model failed to load";
      pill.className = "pill bad";
      return;
    }
    pill.textContent = "Loading the model…";
    pill.className = "pill";
  } catch {
    pill.textContent = "Server unreachable";
    pill.className = "pill bad";
  }
  setTimeout(watchEngine, HEALTH_RETRY_MS);
}

function setUpText() {
  const text = $("text");
  const count = $("text-count");
  const update = () => {
    const length = [...text.value].length;
    count.textContent = `${length} character${length === 1 ? "" : "s"}`;
  };
  text.addEventListener("input", update);
  for (const chip of document.querySelectorAll("[data-example]")) {
    chip.addEventListener("click", () => {
      text.value = chip.dataset.example;
      update();
      text.focus();
    });
  }
  update();
}

function setUpSliders() {
  for (const id of ["speed", "pitch"]) {
    const slider = $(id);
    const output = $(`${id}-value`);
    const update = () => {
      output.textContent = `${Number(slider.value).toFixed(2)}×`;
      slider.setAttribute("aria-valuetext", `${Number(slider.value).toFixed(2)} times`);
    };
    slider.addEventListener("input", update);
    update();
  }
}

function setUpSettings() {
  const form = $("settings-form");
  const input = $("api-key");
  const status = $("settings-status");
  input.value = loadApiKey();
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const key = input.value.trim();
    const saved = saveApiKey(key);
    showStatus(status, saved ? (key ? "Key saved in this browser." : "No key will be sent.") : "This browser blocks storage; the key is not kept.");
    voices.reload();
  });
  $("clear-key").addEventListener("click", () => {
    input.value = "";
    saveApiKey("");
    showStatus(status, "Key forgotten.");
  });
}

function redrawWaveform() {
  const audio = $("result-audio");
  if (!result.peaks) return;
  const progress = audio.duration ? audio.currentTime / audio.duration : 0;
  drawWaveform($("waveform"), result.peaks, progress);
}

function setUpPlayer() {
  const audio = $("result-audio");
  const canvas = $("waveform");
  let frame = 0;
  const follow = () => {
    redrawWaveform();
    frame = audio.paused ? 0 : requestAnimationFrame(follow);
  };
  audio.addEventListener("play", () => {
    cancelAnimationFrame(frame);
    follow();
  });
  for (const event of ["pause", "seeked", "ended", "loadedmetadata"]) audio.addEventListener(event, redrawWaveform);
  canvas.addEventListener("click", (event) => {
    if (!audio.duration) return;
    const box = canvas.getBoundingClientRect();
    audio.currentTime = ((event.clientX - box.left) / box.width) * audio.duration;
  });
  new ResizeObserver(redrawWaveform).observe(canvas);
}

function showFacts(spoken, voiceId) {
  const facts = [
    ["Voice", spoken.voiceUsed && spoken.voiceUsed !== voiceId ? `${voiceId} → ${spoken.voiceUsed}` : voiceId],
    ["Length", seconds(spoken.duration)],
    ["Made in", spoken.cache === "hit" ? "cached" : seconds(spoken.synthesisTime)],
  ];
  $("result-facts").replaceChildren(
    ...facts
      .filter(([, value]) => value)
      .map(([term, value]) => {
        const row = document.createElement("div");
        const dt = document.createElement("dt");
        const dd = document.createElement("dd");
        dt.textContent = term;
        dd.textContent = value;
        row.append(dt, dd);
        return row;
      }),
  );
  const note = $("result-note");
  note.textContent = spoken.emotionWarning ?? "";
  note.hidden = !spoken.emotionWarning;
}

async function showResult(spoken, voiceId) {
  if (result.url) URL.revokeObjectURL(result.url);
  result.url = URL.createObjectURL(spoken.blob);
  result.peaks = null;
  const audio = $("result-audio");
  audio.src = result.url;
  const link = $("download-link");
  link.href = result.url;
  link.download = `speech-${voiceId ?? "default"}-${Date.now()}.wav`;
  showFacts(spoken, voiceId ?? "default");
  const section = $("result");
  section.hidden = false;
  section.scrollIntoView({ block: "nearest", behavior: "smooth" });
  try {
    const buffer = await decodeAudio(await spoken.blob.arrayBuffer());
    result.peaks = computePeaks(mixToMono(buffer));
  } catch {
    result.peaks = new Float32Array(0); // this browser cannot decode it: the player still can
  }
  redrawWaveform();
}

function setUpSynthesis() {
  const form = $("synthesize-form");
  const button = $("synthesize-button");
  const status = $("synth-status");
  const error = $("synth-error");
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    showError(error, "");
    setBusy(button, true, "Synthesizing…");
    showStatus(status, "Synthesizing…");
    const voiceId = voices.selectedId;
    try {
      const spoken = await synthesize({
        text: $("text").value,
        voiceId,
        speed: Number($("speed").value),
        pitch: Number($("pitch").value),
        emotion: $("emotion").value,
      });
      showStatus(status, "");
      await showResult(spoken, voiceId);
      showStatus(status, "Done. Press play, or download the WAV.", "success");
    } catch (failure) {
      showStatus(status, "");
      showError(error, failure.message);
      if (failure.status === 401) {
        $("settings-title").closest("details").open = true;
        $("api-key").focus();
      }
    } finally {
      setBusy(button, false);
    }
  });
}

setUpText();
setUpSliders();
setUpSettings();
setUpPlayer();
setUpSynthesis();
watchEngine();
voices.reload();
