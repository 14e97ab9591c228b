// The service's HTTP API as the page uses it. Paths are relative so the page also works behind a
// reverse proxy that serves it under a prefix.

const API_KEY_STORAGE = "megatts3.apiKey";

/** An error the server reported ({"error": {"code", "message"}}) or a failed connection. */
export class ApiError extends Error {
  constructor(message, { status = 0, code = "network_error" } = {}) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.code = code;
  }
}

export function loadApiKey() {
  try {
    return localStorage.getItem(API_KEY_STORAGE) ?? "";
  } catch {
    return ""; // storage blocked (private mode, policy): the key simply is not remembered
  }
}

export function saveApiKey(key) {
  try {
    if (key) localStorage.setItem(API_KEY_STORAGE, key);
    else localStorage.removeItem(API_KEY_STORAGE);
    return true;
  } catch {
    return false;
  }
}

async function errorFrom(response) {
  let body = null;
  try {
    body = await response.json();
  } catch {
    // not JSON (a proxy's error page): fall back to the status line
  }
  const error = body?.error ?? {};
  let message = error.message || `${response.status} ${response.statusText}`.trim();
  const retryAfter = response.headers.get("Retry-After");
  if (retryAfter) message += ` (try again in ${retryAfter} s)`;
  const failure = new ApiError(message, { status: response.status, code: error.code ?? "http_error" });
  failure.body = body;
  return failure;
}

async function request(path, init = {}) {
  const headers = new Headers(init.headers);
  const key = loadApiKey();
  if (key) headers.set("Authorization", `Bearer ${key}`);
  let response;
  try {
    response = await fetch(new URL(path, document.baseURI), { ...init, headers });
  } catch (error) {
    throw new ApiError(`The server could not be reached (${error.message}).`);
  }
  if (!response.ok) throw await errorFrom(response);
  return response;
}

/** The /health body: 200 when the engine can synthesize, 503 with the same body while it loads. */
export async function fetchHealth() {
  try {
    return (await request("health")).json();
  } catch (error) {
    if (error instanceof ApiError && error.status === 503 && error.body?.status) return error.body;
    throw error;
  }
}

export async function listVoices() {
  return (await (await request("api/v1/voices")).json()).voices;
}

export async function getVoice(voiceId) {
  return (await request(`api/v1/voices/${encodeURIComponent(voiceId)}`)).json();
}

/** Upload a reference recording; resolves to the stored voice (its status may still be pending). */
export async function uploadVoice({ file, voiceId, description }) {
  const form = new FormData();
  form.append("voice_file", file, file.name);
  form.append("voice_id", voiceId);
  form.append("description", description);
  return (await request("api/v1/voices/upload", { method: "POST", body: form })).json();
}

function header(response, name) {
  const value = response.headers.get(name);
  if (value === null) return null;
  try {
    return decodeURIComponent(value); // the server percent-encodes non-ASCII header values
  } catch {
    return value;
  }
}

/** Synthesize WAV audio; resolves to the bytes and what the server said about them. */
export async function synthesize({ text, voiceId, speed, pitch, emotion }) {
  const response = await request("api/v1/tts/synthesize", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ text, voice_id: voiceId, parameters: { speed, pitch, emotion }, format: "wav" }),
  });
  return {
    blob: await response.blob(),
    voiceUsed: header(response, "X-Voice-Used"),
    duration: Number(response.headers.get("X-Audio-Duration")) || null,
    synthesisTime: Number(response.headers.get("X-Synthesis-Time")) || null,
    cache: response.headers.get("X-Cache"),
    emotionWarning: header(response, "X-Emotion-Warning"),
  };
}

/** Start a long-form job: a screenplay ("name：text" lines) with each name's voice, made into one track. */
export async function createJob({ screenplay, voices, format, title }) {
  const response = await request("api/v1/tts/jobs", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ screenplay, voices, format, title }),
  });
  return response.json();
}

/** A job's state, with every segment's status. */
export async function getJob(jobId) {
  return (await request(`api/v1/tts/jobs/${encodeURIComponent(jobId)}`)).json();
}

/** Cancel a running job (or delete a finished one). */
export async function deleteJob(jobId) {
  return (await request(`api/v1/tts/jobs/${encodeURIComponent(jobId)}`, { method: "DELETE" })).json();
}

/** A finished job's result as a Blob: "audio", "timestamps", "subtitles.vtt" or "subtitles.srt". */
export async function jobResult(jobId, name) {
  return (await request(`api/v1/tts/jobs/${encodeURIComponent(jobId)}/${name}`)).blob();
}

/** The URL of a job's result, for a player that fetches it itself (only when no API key is needed). */
export function jobResultUrl(jobId, name) {
  return new URL(`api/v1/tts/jobs/${encodeURIComponent(jobId)}/${name}`, document.baseURI).href;
}
