// The script panel: a screenplay ("name：text" lines) with a voice per name, made on the server as one
// long-form job; its progress segment by segment, then the track with its subtitles.

import { ApiError, createJob, deleteJob, getJob, jobResult, jobResultUrl, loadApiKey } from "./api.js";
import { seconds, setBusy, showError, showStatus, sleep } from "./ui.js";

const POLL_MS = 1000;
const FINISHED = new Set(["done", "failed", "cancelled"]);
// The server's rule (jobs/script.py): a name of at most 40 characters up to the first colon.
const LINE = /^\s*([^:：\n]{1,40}?)\s*[:：]\s*(.*?)\s*$/;
const MEDIA_TYPES = { mp3: "audio/mpeg", ogg: "audio/ogg", opus: "audio/ogg; codecs=opus", flac: "audio/flac", wav: "audio/wav" };

const $ = (id) => document.getElementById(id);

/** The names in a screenplay in order of first appearance (lines that do not parse are the server's to refuse). */
export function speakersOf(screenplay) {
  const names = [];
  for (const line of screenplay.split("\n")) {
    const match = LINE.exec(line);
    if (match && match[2] && !names.includes(match[1].trim())) names.push(match[1].trim());
  }
  return names;
}

function segmentItem(segment) {
  const item = document.createElement("li");
  item.className = `segment ${segment.status}`;
  item.dataset.index = segment.index;
  const who = document.createElement("span");
  who.className = "who";
  who.textContent = segment.speaker;
  const what = document.createElement("span");
  what.className = "what";
  what.textContent = segment.text;
  const state = document.createElement("span");
  state.className = "state";
  item.append(who, what, state);
  return item;
}

function describeState(segment, error) {
  if (segment.status === "done") return `done · ${seconds(segment.duration)}`;
  if (segment.status === "failed") return `failed${error ? `: ${error}` : ""}`;
  return "waiting";
}

export class ScriptPanel {
  #voices = [];
  #cast = new Map(); // name -> chosen voice id, kept while the name stays in the screenplay
  #job = null;
  #stamps = null;
  #urls = [];

  constructor() {
    this.text = $("screenplay");
    this.castList = $("cast-list");
    this.button = $("job-button");
    this.cancel = $("job-cancel");
    this.status = $("job-status");
    this.error = $("job-error");
    this.list = $("job-segments");
    this.audio = $("job-audio");
    this.text.addEventListener("input", () => this.#updateCast());
    for (const chip of document.querySelectorAll("[data-screenplay]")) {
      chip.addEventListener("click", () => {
        this.text.value = chip.dataset.screenplay;
        this.#updateCast();
        this.text.focus();
      });
    }
    document.addEventListener("voices-changed", (event) => {
      // In the order the voice picker shows them: built-in voices first.
      const ready = event.detail.filter((voice) => voice.status === "ready");
      this.#voices = [...ready.filter((v) => v.type === "builtin"), ...ready.filter((v) => v.type !== "builtin")];
      this.#updateCast();
    });
    $("job-form").addEventListener("submit", (event) => {
      event.preventDefault();
      this.#start();
    });
    this.cancel.addEventListener("click", () => this.#cancel());
    this.#hideUnplayableFormats();
    this.#setUpPlayer();
    this.#updateCast();
  }

  #hideUnplayableFormats() {
    const select = $("job-format");
    for (const option of [...select.options]) {
      if (!this.audio.canPlayType(MEDIA_TYPES[option.value] ?? "")) option.remove();
    }
  }

  /** A row per name: its voice (remembered, else the next ready voice not yet cast). */
  #updateCast() {
    const lines = this.text.value.split("\n").filter((line) => line.trim()).length;
    $("screenplay-count").textContent = `${lines} line${lines === 1 ? "" : "s"}`;
    const names = speakersOf(this.text.value);
    for (const name of [...this.#cast.keys()]) if (!names.includes(name)) this.#cast.delete(name);
    const ids = this.#voices.map((voice) => voice.id);
    for (const name of names) {
      if (ids.includes(this.#cast.get(name))) continue;
      const taken = new Set(this.#cast.values());
      this.#cast.set(name, ids.find((id) => !taken.has(id)) ?? ids[names.indexOf(name) % Math.max(ids.length, 1)]);
    }
    this.castList.replaceChildren(
      ...names.map((name, number) => {
        const row = document.createElement("div");
        row.className = "field cast-row";
        const label = document.createElement("label");
        label.htmlFor = `cast-${number}`;
        label.textContent = name;
        const select = document.createElement("select");
        select.id = `cast-${number}`;
        for (const voice of this.#voices) select.append(new Option(voice.name && voice.name !== voice.id ? `${voice.name} (${voice.id})` : voice.id, voice.id));
        select.value = this.#cast.get(name) ?? "";
        select.addEventListener("change", () => this.#cast.set(name, select.value));
        row.append(label, select);
        return row;
      }),
    );
    $("cast-empty").hidden = names.length > 0;
  }

  async #start() {
    showError(this.error, "");
    this.#clearResult();
    setBusy(this.button, true, "Sending…");
    try {
      const job = await createJob({
        screenplay: this.text.value,
        voices: Object.fromEntries(this.#cast),
        format: $("job-format").value,
        title: $("job-title").value.trim(),
      });
      this.#job = job;
      setBusy(this.button, true, "Making the track…");
      this.cancel.hidden = false;
      await this.#follow(job.id);
    } catch (failure) {
      showStatus(this.status, "");
      showError(this.error, failure.message);
    } finally {
      this.cancel.hidden = true;
      setBusy(this.button, false);
    }
  }

  async #follow(jobId) {
    $("job-progress-box").hidden = false;
    let job = await getJob(jobId);
    this.list.replaceChildren(...job.segments.map(segmentItem));
    for (;;) {
      this.#showProgress(job);
      if (FINISHED.has(job.status)) break;
      await sleep(POLL_MS);
      job = await getJob(jobId);
    }
    if (job.status === "cancelled") {
      showStatus(this.status, "Cancelled.");
      return;
    }
    if (job.status === "failed") throw new ApiError(job.error || "the job failed");
    await this.#showResult(job);
    const failed = job.segments_failed ? ` ${job.segments_failed} segment(s) could not be spoken and are left out.` : "";
    showStatus(this.status, `Done: ${seconds(job.audio_seconds)} of audio.${failed}`, "success");
  }

  #showProgress(job) {
    const bar = $("job-progress");
    bar.value = job.progress;
    const left = job.seconds_left != null ? ` · about ${Math.ceil(job.seconds_left)} s left` : "";
    const label = job.status === "queued" ? "Queued…" : `${job.segments_done} of ${job.segments_total} segments · ${seconds(job.audio_seconds)} of audio${left}`;
    $("job-progress-label").textContent = label;
    const errors = new Map(job.errors.map((error) => [error.segment, error.error]));
    for (const segment of job.segments) {
      const item = this.list.querySelector(`li[data-index="${segment.index}"]`);
      if (!item) continue;
      item.className = `segment ${segment.status}`;
      item.querySelector(".state").textContent = describeState(segment, errors.get(segment.index));
    }
  }

  async #showResult(job) {
    const [stamps, subtitles] = await Promise.all([
      jobResult(job.id, "timestamps").then((blob) => blob.text()).then(JSON.parse),
      jobResult(job.id, "subtitles.vtt"),
    ]);
    this.#stamps = stamps;
    // Without an API key the player fetches the track itself, with HTTP Range: long tracks start at once
    // and seek without being downloaded whole. With a key the track is fetched (with the header) first.
    const audioUrl = loadApiKey() ? this.#own(await jobResult(job.id, "audio")) : jobResultUrl(job.id, "audio");
    const track = $("job-track");
    track.src = this.#own(subtitles);
    track.track.mode = "hidden"; // cues load and change, the page shows them
    this.audio.src = audioUrl;
    const name = (job.title || `track-${job.id}`).replace(/[\\/:*?"<>|]+/g, "-");
    const download = $("job-download");
    download.href = audioUrl;
    download.download = `${name}.${job.format}`;
    const srt = $("job-srt");
    srt.href = this.#own(await jobResult(job.id, "subtitles.srt"));
    srt.download = `${name}.srt`;
    for (const segment of stamps.segments) {
      const item = this.list.querySelector(`li[data-index="${segment.index}"]`);
      if (!item) continue;
      item.dataset.start = segment.start;
      item.tabIndex = 0;
      item.title = `Play from ${seconds(segment.start)}`;
    }
    $("job-result").hidden = false;
  }

  /** Segments seek the player; the sentence being spoken is shown under it and its segment marked. */
  #setUpPlayer() {
    const seek = (item) => {
      if (!item?.dataset.start) return;
      this.audio.currentTime = Number(item.dataset.start);
      this.audio.play().catch(() => {}); // autoplay may be refused: the position is set anyway
    };
    this.list.addEventListener("click", (event) => seek(event.target.closest("li")));
    this.list.addEventListener("keydown", (event) => {
      if (event.key === "Enter" || event.key === " ") {
        event.preventDefault();
        seek(event.target.closest("li"));
      }
    });
    // The caption is the subtitle file's own cue (what a player shows), not the page's idea of it.
    const track = $("job-track");
    track.track.mode = "hidden";
    track.addEventListener("cuechange", () => this.#showCaption(track.track.activeCues));
    this.audio.addEventListener("timeupdate", () => this.#markSpeaking());
    this.audio.addEventListener("seeked", () => this.#markSpeaking());
  }

  #showCaption(cues) {
    const cue = cues?.length ? cues[cues.length - 1] : null;
    const voice = cue ? /^<v(?:\.[^\s>]*)?\s+([^>]*)>/.exec(cue.text) : null;
    const text = cue ? cue.getCueAsHTML().textContent.trim() : "";
    $("job-caption").textContent = cue ? (voice ? `${voice[1]}：${text}` : text) : "";
  }

  #markSpeaking() {
    const time = this.audio.currentTime;
    const speaking = this.#stamps?.segments.find((segment) => time >= segment.start && time < segment.end);
    for (const item of this.list.children) item.classList.toggle("speaking", Number(item.dataset.index) === speaking?.index);
  }

  async #cancel() {
    if (!this.#job) return;
    setBusy(this.cancel, true, "Cancelling…");
    try {
      await deleteJob(this.#job.id);
    } catch (failure) {
      showError(this.error, failure.message);
    } finally {
      setBusy(this.cancel, false);
    }
  }

  #own(blob) {
    const url = URL.createObjectURL(blob);
    this.#urls.push(url);
    return url;
  }

  #clearResult() {
    for (const url of this.#urls) URL.revokeObjectURL(url);
    this.#urls = [];
    this.#stamps = null;
    $("job-result").hidden = true;
    this.audio.removeAttribute("src");
    $("job-caption").textContent = "";
    this.list.replaceChildren();
    $("job-progress-box").hidden = true;
    showStatus(this.status, "");
  }
}
